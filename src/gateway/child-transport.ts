/**
 * An MCP transport over the stdio pipes of a process the orchestrator spawned and owns (the SDK's
 * own stdio transport would spawn it). Lines on stdout that are not JSON-RPC are the server's
 * output, handed to `onOutput`, never fatal.
 */
import type { Readable, Writable } from 'node:stream';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { isMessage } from './jsonrpc.js';

/**
 * Messages written to a stream in one tick (every line of a chunk just read) leave together, in one
 * write when the tick ends: under load the peer reads several per wake-up and both processes make
 * fewer system calls, and a lone message waits only for the end of the tick.
 */
export class LineWriter {
  private pending: string[] = [];

  constructor(private readonly stream: Writable) {}

  /** Queue one message (without its newline); false once the stream has ended. */
  write(json: string): boolean {
    if (this.stream.writableEnded || this.stream.destroyed) return false;
    if (this.pending.push(json) === 1) process.nextTick(this.flush);
    return true;
  }

  /** Bytes the stream holds that its reader has not taken yet. */
  get unread(): number {
    return this.stream.writableLength;
  }

  private readonly flush = () => {
    const lines = this.pending;
    this.pending = [];
    if (this.stream.writableEnded || this.stream.destroyed) return;
    this.stream.write(lines.length === 1 ? `${lines[0]}\n` : `${lines.join('\n')}\n`);
  };
}

/** A message larger than this is not JSON-RPC we can use; the line is dropped as output. */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export class ChildStdioTransport implements Transport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  /** Offered each line before it is parsed; true when it was taken whole (and is not delivered). */
  takeLine: ((line: string) => boolean) | undefined = undefined;
  private buffer = '';
  private closed = false;
  private readonly writer: LineWriter;

  constructor(
    private readonly stdin: Writable,
    private readonly stdout: Readable,
    private readonly onOutput: (line: string) => void = () => {},
  ) {
    this.writer = new LineWriter(stdin);
  }

  async start(): Promise<void> {
    this.stdout.setEncoding('utf8');
    this.stdout.on('data', this.onData);
    this.stdout.once('close', this.onEnd);
    this.stdin.on('error', this.onStdinError);
  }

  private readonly onData = (chunk: string) => {
    let start = 0;
    let newline = chunk.indexOf('\n');
    if (newline !== -1 && this.buffer !== '') {
      // The rest of a line begun in an earlier chunk.
      this.deliver(this.buffer + chunk.slice(0, newline));
      this.buffer = '';
      start = newline + 1;
      newline = chunk.indexOf('\n', start);
    }
    while (newline !== -1) {
      this.deliver(chunk.slice(start, newline));
      start = newline + 1;
      newline = chunk.indexOf('\n', start);
    }
    if (start < chunk.length) this.buffer += start === 0 ? chunk : chunk.slice(start);
    if (this.buffer.length > MAX_MESSAGE_BYTES) {
      this.onOutput(`${this.buffer.slice(0, 200)}… (${this.buffer.length} bytes without a newline, dropped)`);
      this.buffer = '';
    }
  };

  private deliver(raw: string): void {
    const line = raw.charCodeAt(raw.length - 1) === 13 /* \r */ ? raw.slice(0, -1) : raw;
    let parsed: unknown;
    if (line.charCodeAt(0) === 123 /* { */) {
      if (this.takeLine?.(line)) return;
      try {
        parsed = JSON.parse(line);
      } catch {
        parsed = undefined;
      }
    }
    if (isMessage(parsed)) this.onmessage?.(parsed as JSONRPCMessage);
    else if (line.trim() !== '') this.onOutput(line);
  }

  private readonly onEnd = () => {
    if (this.buffer.trim() !== '') this.deliver(this.buffer);
    this.buffer = '';
    void this.close();
  };

  private readonly onStdinError = (error: Error) => {
    // EPIPE when the process died: its exit is reported elsewhere; this only ends the transport.
    if ((error as NodeJS.ErrnoException).code !== 'EPIPE') this.onerror?.(error);
    void this.close();
  };

  send(message: JSONRPCMessage): Promise<void> {
    try {
      this.write(message);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  /** Queue a message for this tick's write; throws when the process is gone or has stopped reading. */
  write(message: JSONRPCMessage): void {
    // A server that stopped reading its stdin must not make us hold an ever larger buffer.
    if (this.writer.unread > MAX_MESSAGE_BYTES) throw new Error('the server is not reading its stdin');
    if (this.closed || !this.writer.write(JSON.stringify(message))) throw new Error('the server process is gone');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stdout.off('data', this.onData);
    this.stdout.off('close', this.onEnd);
    // The stdin error listener stays: an EPIPE after close must not become an uncaught error.
    this.onclose?.();
  }
}
