/**
 * An MCP transport over the stdio pipes of a process the orchestrator spawned and owns (the SDK's
 * own stdio transport would spawn it). Lines on stdout that are not JSON-RPC are the server's
 * output, handed to `onOutput`, never fatal.
 */
import type { Readable, Writable } from 'node:stream';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { isMessage } from './jsonrpc.js';

const writtenThisTick = new WeakSet<Writable>();

/**
 * Call before each write: the first write of a tick goes straight out (no added latency when calls
 * come one at a time); further writes in the same tick are held and flushed as one, so under load
 * the peer reads several messages per wake-up and both processes make fewer system calls.
 */
export function coalesceWrites(stream: Writable): void {
  if (stream.writableCorked > 0) return;
  if (!writtenThisTick.has(stream)) {
    writtenThisTick.add(stream);
    process.nextTick(() => writtenThisTick.delete(stream));
    return;
  }
  stream.cork();
  process.nextTick(() => stream.uncork());
}

/** A message larger than this is not JSON-RPC we can use; the line is dropped as output. */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export class ChildStdioTransport implements Transport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  private buffer = '';
  private closed = false;

  constructor(
    private readonly stdin: Writable,
    private readonly stdout: Readable,
    private readonly onOutput: (line: string) => void = () => {},
  ) {}

  async start(): Promise<void> {
    this.stdout.setEncoding('utf8');
    this.stdout.on('data', this.onData);
    this.stdout.once('close', this.onEnd);
    this.stdin.on('error', this.onStdinError);
  }

  private readonly onData = (chunk: string) => {
    this.buffer += chunk;
    let newline = this.buffer.indexOf('\n');
    while (newline !== -1) {
      const line = this.buffer.slice(0, newline).replace(/\r$/, '');
      this.buffer = this.buffer.slice(newline + 1);
      this.deliver(line);
      newline = this.buffer.indexOf('\n');
    }
    if (this.buffer.length > MAX_MESSAGE_BYTES) {
      this.onOutput(`${this.buffer.slice(0, 200)}… (${this.buffer.length} bytes without a newline, dropped)`);
      this.buffer = '';
    }
  };

  private deliver(line: string): void {
    if (line.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = line.charCodeAt(0) === 123 /* { */ ? JSON.parse(line) : undefined;
    } catch {
      parsed = undefined;
    }
    if (isMessage(parsed)) this.onmessage?.(parsed as JSONRPCMessage);
    else this.onOutput(line);
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
    if (this.closed || this.stdin.destroyed) return Promise.reject(new Error('the server process is gone'));
    // A server that stopped reading its stdin must not make us hold an ever larger buffer.
    if (this.stdin.writableLength > MAX_MESSAGE_BYTES) return Promise.reject(new Error('the server is not reading its stdin'));
    coalesceWrites(this.stdin);
    const ok = this.stdin.write(`${JSON.stringify(message)}\n`);
    if (ok) return Promise.resolve();
    return new Promise((resolve) => this.stdin.once('drain', () => resolve()));
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
