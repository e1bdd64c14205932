/** One line of a server's output as kept for the logs API. */
export interface LogLine {
  /** Increases by one per pushed line, from 1, never reused: a reader resumes after the last it saw. */
  seq: number;
  /** Epoch milliseconds when the line was pushed. */
  time: number;
  stream: 'stdout' | 'stderr';
  line: string;
}

/** The last `capacity` log lines; older ones are dropped as new ones arrive. */
export class RingBuffer {
  private readonly slots: Array<LogLine | undefined>;
  /** Sequence number of the newest line (0 before the first push). */
  private seq = 0;

  constructor(
    readonly capacity: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring buffer capacity must be a positive integer, got ${capacity}`);
    this.slots = new Array<LogLine | undefined>(capacity);
  }

  /** How many lines are held (at most `capacity`). */
  get size(): number {
    return Math.min(this.seq, this.capacity);
  }

  /** Sequence number of the newest line, 0 when empty. */
  get lastSeq(): number {
    return this.seq;
  }

  /** Append a line and return it with its sequence number and time. */
  push(stream: LogLine['stream'], line: string): LogLine {
    this.seq += 1;
    const entry: LogLine = { seq: this.seq, time: this.now(), stream, line };
    this.slots[(this.seq - 1) % this.capacity] = entry;
    return entry;
  }

  /** The newest `n` lines (all held when omitted), oldest first. */
  tail(n: number = this.capacity): LogLine[] {
    const count = Math.max(0, Math.min(Math.floor(n), this.size));
    return this.range(this.seq - count + 1);
  }

  /** Lines with a sequence number above `seq`, oldest first; the ones already dropped are skipped. */
  since(seq: number): LogLine[] {
    return this.range(Math.max(Math.floor(seq) + 1, this.seq - this.size + 1));
  }

  private range(firstSeq: number): LogLine[] {
    const lines: LogLine[] = [];
    for (let s = Math.max(1, firstSeq); s <= this.seq; s++) {
      const entry = this.slots[(s - 1) % this.capacity];
      if (entry) lines.push(entry);
    }
    return lines;
  }
}
