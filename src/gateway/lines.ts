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

/** Splits a byte stream into lines, without the `\n` or a `\r` before it. */
export class LineReader {
  private pieces: Buffer[] = [];
  private held = 0;

  constructor(
    private readonly onLine: (line: Buffer) => void,
    /** Told the start of a line dropped for being longer than `MAX_LINE_BYTES`, and its length so far. */
    private readonly onOverflow: (start: Buffer, bytes: number) => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    let newline = chunk.indexOf(10);
    while (newline !== -1) {
      const end = chunk.subarray(start, newline);
      if (this.held === 0) this.emit(end);
      else {
        this.pieces.push(end);
        const line = Buffer.concat(this.pieces);
        this.pieces = [];
        this.held = 0;
        this.emit(line);
      }
      start = newline + 1;
      newline = chunk.indexOf(10, start);
    }
    if (start === chunk.length) return;
    this.pieces.push(start === 0 ? chunk : chunk.subarray(start));
    this.held += chunk.length - start;
    if (this.held > MAX_LINE_BYTES) {
      this.onOverflow(this.pieces[0] ?? Buffer.alloc(0), this.held);
      this.pieces = [];
      this.held = 0;
    }
  }

  /** The stream ended: a last line without its newline still counts. */
  end(): void {
    if (this.held === 0) return;
    const line = Buffer.concat(this.pieces);
    this.pieces = [];
    this.held = 0;
    this.emit(line);
  }

  private emit(line: Buffer): void {
    this.onLine(line.length > 0 && line[line.length - 1] === 13 /* \r */ ? line.subarray(0, -1) : line);
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
