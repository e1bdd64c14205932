/**
 * Newline-delimited JSON-RPC on byte streams, both ways: a reader that splits bytes into lines
 * without decoding them (a server's large answer crosses as bytes), and a writer that sends every
 * message of a tick in one write.
 */
import type { Writable } from 'node:stream';

/** A line longer than this is not JSON-RPC anyone can use: it is dropped, not held. */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

/** Below this size an answer's bytes are decoded and joined with the tick's other messages. */
const SMALL_BYTES = 16 * 1024;

/** How much of each end of a dropped line is kept, to tell what it was (a call's id, say). */
export const DROPPED_END_BYTES = 128;

/** What is known of a line dropped for being longer than `MAX_LINE_BYTES`. */
export interface DroppedLine {
  /** Its first and last bytes (at most `DROPPED_END_BYTES` each). */
  first: Buffer;
  last: Buffer;
  bytes: number;
}

/**
 * Splits a byte stream into lines, without the `\n` or a `\r` before it. A line that grows past
 * `MAX_LINE_BYTES` is skipped to its end and reported once, with its two ends, never held whole.
 */
export class LineReader {
  private pieces: Buffer[] = [];
  private held = 0;
  /** Set while the rest of an overlong line is skipped. */
  private dropping: DroppedLine | undefined;

  constructor(
    /** A line; `complete` is false for a last one the stream ended without a newline after. */
    private readonly onLine: (line: Buffer, complete: boolean) => void,
    private readonly onDropped: (line: DroppedLine) => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    let newline = chunk.indexOf(10);
    while (newline !== -1) {
      const end = chunk.subarray(start, newline);
      if (this.dropping) this.finishDropping(end);
      else if (this.held === 0) this.emit(end, true);
      else {
        this.pieces.push(end);
        const line = Buffer.concat(this.pieces);
        this.pieces = [];
        this.held = 0;
        this.emit(line, true);
      }
      start = newline + 1;
      newline = chunk.indexOf(10, start);
    }
    if (start === chunk.length) return;
    const rest = start === 0 ? chunk : chunk.subarray(start);
    if (this.dropping) {
      this.skip(this.dropping, rest);
      return;
    }
    this.pieces.push(rest);
    this.held += rest.length;
    if (this.held > MAX_LINE_BYTES) {
      const held = Buffer.concat(this.pieces);
      this.pieces = [];
      this.held = 0;
      this.dropping = { first: Buffer.from(held.subarray(0, DROPPED_END_BYTES)), last: Buffer.alloc(0), bytes: 0 };
      this.skip(this.dropping, held);
    }
  }

  /** The stream ended: a last line without its newline is still handed on, marked incomplete. */
  end(): void {
    if (this.dropping) {
      this.finishDropping(Buffer.alloc(0));
      return;
    }
    if (this.held === 0) return;
    const line = Buffer.concat(this.pieces);
    this.pieces = [];
    this.held = 0;
    this.emit(line, false);
  }

  private skip(dropping: DroppedLine, bytes: Buffer): void {
    dropping.bytes += bytes.length;
    dropping.last = Buffer.from(Buffer.concat([dropping.last, bytes.subarray(-DROPPED_END_BYTES)]).subarray(-DROPPED_END_BYTES));
  }

  private finishDropping(end: Buffer): void {
    const dropping = this.dropping as DroppedLine;
    this.dropping = undefined;
    this.skip(dropping, end.length > 0 && end[end.length - 1] === 13 /* \r */ ? end.subarray(0, -1) : end);
    this.onDropped(dropping);
  }

  private emit(line: Buffer, complete: boolean): void {
    this.onLine(line.length > 0 && line[line.length - 1] === 13 /* \r */ ? line.subarray(0, -1) : line, complete);
  }
}

/**
 * Messages written to a stream in one tick (every line of a chunk just read) leave together when
 * the tick ends: under load the peer reads several per wake-up and both processes make fewer
 * system calls, and a lone message waits only for the end of the tick.
 */
export class LineWriter {
  private pending: (string | Buffer)[] = [];
  private onlyText = true;

  constructor(private readonly stream: Writable) {}

  /** Queue one message's JSON text; false once the stream has ended. */
  write(json: string): boolean {
    if (this.stream.writableEnded || this.stream.destroyed) return false;
    if (this.pending.push(`${json}\n`) === 1) process.nextTick(this.flush);
    return true;
  }

  /**
   * Queue one message given as pieces of its JSON text, bytes left undecoded (a large answer is
   * written as it was read); false once the stream has ended.
   */
  writePieces(pieces: readonly (string | Buffer)[], bytes: number): boolean {
    if (bytes < SMALL_BYTES) {
      let json = '';
      for (const piece of pieces) json += typeof piece === 'string' ? piece : piece.toString('utf8');
      return this.write(json);
    }
    if (this.stream.writableEnded || this.stream.destroyed) return false;
    if (this.pending.length === 0) process.nextTick(this.flush);
    this.pending.push(...pieces, '\n');
    this.onlyText = false;
    return true;
  }

  /** Bytes the stream holds that its reader has not taken yet. */
  get unread(): number {
    return this.stream.writableLength;
  }

  private readonly flush = () => {
    const pending = this.pending;
    const onlyText = this.onlyText;
    this.pending = [];
    this.onlyText = true;
    if (this.stream.writableEnded || this.stream.destroyed) return;
    if (onlyText) {
      this.stream.write(pending.length === 1 ? (pending[0] as string) : pending.join(''));
      return;
    }
    this.stream.cork();
    for (const piece of pending) this.stream.write(piece);
    this.stream.uncork();
  };
}
