/**
 * An MCP transport over the stdio pipes of a process the orchestrator spawned and owns (the SDK's
 * own stdio transport would spawn it). Lines on stdout that are not JSON-RPC are the server's
 * output, handed to `onOutput`, never fatal.
 */
import type { Readable, Writable } from 'node:stream';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { isMessage } from './jsonrpc.js';
import { LineReader, MAX_LINE_BYTES, type DroppedLine } from '../runtime/lines.js';
import { LineWriter } from './lines.js';

/** Lines up to this size are decoded whole before anything looks at them; longer ones stay bytes. */
const DECODE_WHOLE_BYTES = 4096;

export class ChildStdioTransport implements Transport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  /**
   * Offered each complete line that may be JSON before it is parsed, with its text when it is
   * short enough to have been decoded whole (a long one stays bytes); true when it was taken (a
   * forwarded call's answer) and is not delivered.
   */
  takeLine: ((line: Buffer, text: string | undefined) => boolean) | undefined = undefined;
  /** Told of a line dropped for being too long (after it was reported as output). */
  lineDropped: ((line: DroppedLine) => void) | undefined = undefined;
  private closed = false;
  private readonly reader: LineReader;
  private readonly writer: LineWriter;

  constructor(
    private readonly stdin: Writable,
    private readonly stdout: Readable,
    private readonly onOutput: (line: string) => void = () => {},
  ) {
    this.writer = new LineWriter(stdin);
    this.reader = new LineReader(
      (line, complete) => this.deliver(line, complete),
      (dropped) => {
        this.onOutput(`${dropped.first.toString('utf8')}… (a line of ${dropped.bytes} bytes, over the ${MAX_LINE_BYTES}-byte limit, dropped)`);
        this.lineDropped?.(dropped);
      },
    );
  }

  async start(): Promise<void> {
    this.stdout.on('data', this.onData);
    this.stdout.once('close', this.onEnd);
    this.stdin.on('error', this.onStdinError);
  }

  private readonly onData = (chunk: Buffer) => this.reader.push(chunk);

  /** `complete` is false for a last line the server never ended: it may be cut short. */
  private deliver(line: Buffer, complete: boolean): void {
    const short = line.length <= DECODE_WHOLE_BYTES ? line.toString('utf8') : undefined;
    if (line[0] === 123 /* { */) {
      if (complete && this.takeLine?.(line, short)) return;
      const text = short ?? line.toString('utf8');
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      if (isMessage(parsed)) this.onmessage?.(parsed as JSONRPCMessage);
      else this.onOutput(text);
      return;
    }
    const text = short ?? line.toString('utf8');
    if (text.trim() !== '') this.onOutput(text);
  }

  private readonly onEnd = () => {
    this.reader.end();
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
    if (this.writer.unread > MAX_LINE_BYTES) throw new Error('the server is not reading its stdin');
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
