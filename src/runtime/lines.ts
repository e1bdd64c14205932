/**
 * Splitting byte streams into lines: undecoded for the MCP protocol (a server's large answer
 * crosses as bytes), and as capped text lines for the logs.
 */
import { StringDecoder } from 'node:string_decoder';

/** By default a line longer than this is not JSON-RPC anyone can use: it is dropped, not held. */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

/** Longest log line passed on; the rest of a longer line is dropped, so one runaway line cannot eat memory. */
export const MAX_LOG_LINE_BYTES = 16 * 1024;

/** How much of each end of a dropped line is kept by default, to tell what it was (a call's id, say). */
export const DROPPED_END_BYTES = 128;

/** What is known of a line dropped for being longer than `MAX_LINE_BYTES`. */
export interface DroppedLine {
  /** Its first and last bytes (at most `keepBytes` each). */
  first: Buffer;
  last: Buffer;
  bytes: number;
}

export interface LineReaderOptions {
  /** A line longer than this is skipped to its end and reported; default `MAX_LINE_BYTES`. */
  maxBytes?: number;
  /** How much of each end of such a line is kept; default `DROPPED_END_BYTES`. */
  keepBytes?: number;
  /**
   * Report such a line as soon as it passes `maxBytes`, with its first bytes only (`last` empty,
   * `bytes` the count so far), instead of once its end comes: for logs, where what can be shown
   * should be shown now, not when (if ever) the writer ends the line.
   */
  reportEarly?: boolean;
}

/**
 * Splits a byte stream into lines, without the `\n` or a `\r` before it, leaving them undecoded.
 * A line that grows past `maxBytes` is skipped to its end and reported once, with its two ends,
 * never held whole (nor copied whole to find them).
 */
export class LineReader {
  private pieces: Buffer[] = [];
  private held = 0;
  /** Set while the rest of an overlong line is skipped. */
  private dropping: DroppedLine | undefined;
  private readonly maxBytes: number;
  private readonly keepBytes: number;
  private readonly reportEarly: boolean;

  constructor(
    /** A line; `complete` is false for a last one the stream ended without a newline after. */
    private readonly onLine: (line: Buffer, complete: boolean) => void,
    private readonly onDropped: (line: DroppedLine) => void,
    options: LineReaderOptions = {},
  ) {
    this.maxBytes = options.maxBytes ?? MAX_LINE_BYTES;
    this.keepBytes = options.keepBytes ?? DROPPED_END_BYTES;
    this.reportEarly = options.reportEarly ?? false;
  }

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
    if (this.held > this.maxBytes) {
      const dropping: DroppedLine = { first: Buffer.concat(this.pieces, Math.min(this.keepBytes, this.held)), last: Buffer.alloc(0), bytes: this.held };
      if (this.reportEarly) this.onDropped({ ...dropping });
      else dropping.last = lastBytes(this.pieces, this.keepBytes);
      this.pieces = [];
      this.held = 0;
      this.dropping = dropping;
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
    // Reported already: nothing more of it is wanted.
    if (!this.reportEarly) dropping.last = lastBytes([dropping.last, bytes], this.keepBytes);
  }

  private finishDropping(end: Buffer): void {
    const dropping = this.dropping as DroppedLine;
    this.dropping = undefined;
    this.skip(dropping, end.length > 0 && end[end.length - 1] === 13 /* \r */ ? end.subarray(0, -1) : end);
    if (!this.reportEarly) this.onDropped(dropping);
  }

  private emit(raw: Buffer, complete: boolean): void {
    const line = raw.length > 0 && raw[raw.length - 1] === 13 /* \r */ ? raw.subarray(0, -1) : raw;
    // Too long though it came whole (in one chunk, or the chunk that completed it).
    if (line.length > this.maxBytes) {
      this.onDropped({ first: Buffer.from(line.subarray(0, this.keepBytes)), last: Buffer.from(line.subarray(-this.keepBytes)), bytes: line.length });
      return;
    }
    this.onLine(line, complete);
  }
}

/** A copy of the last `n` bytes of `pieces` taken together, copying nothing else. */
function lastBytes(pieces: readonly Buffer[], n: number): Buffer {
  const tail: Buffer[] = [];
  let bytes = 0;
  for (let i = pieces.length - 1; i >= 0 && bytes < n; i--) {
    const piece = pieces[i] as Buffer;
    const part = piece.length > n - bytes ? piece.subarray(piece.length - (n - bytes)) : piece;
    tail.unshift(part);
    bytes += part.length;
  }
  return Buffer.concat(tail, bytes);
}

/** Incremental splitter of a byte stream into text lines (`\n` or `\r\n`, UTF-8). */
export interface LineSplitter {
  push(chunk: Buffer | string): void;
  /** Emit a final line that had no newline. */
  end(): void;
}

/**
 * Calls `onLine` once per line of output, each at most `maxBytes` long: a longer one is cut to its
 * first `maxBytes` (at a character boundary) and ends in `…`, passed on as soon as it is that
 * long, and the rest of it is dropped.
 */
export function createLineSplitter(onLine: (line: string) => void, maxBytes = MAX_LOG_LINE_BYTES): LineSplitter {
  const reader = new LineReader(
    (line) => onLine(line.toString('utf8')),
    ({ first }) => onLine(`${new StringDecoder('utf8').write(first)}…`),
    { maxBytes, keepBytes: maxBytes, reportEarly: true },
  );
  return {
    push: (chunk) => reader.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk),
    end: () => reader.end(),
  };
}
