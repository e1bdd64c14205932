/** One line of a server's output as kept for the logs API. */
export interface LogLine {
  /** Increases by one per pushed line, from 1, never reused: a reader resumes after the last it saw. */
  seq: number;
  /** Epoch milliseconds when the line was pushed. */
  time: number;
  stream: 'stdout' | 'stderr';
  line: string;
}

/**
 * The last `capacity` items added, numbered from 1 in the order added (never reused); older ones
 * are dropped as new ones arrive, so a reader can resume after the last number it saw.
 */
export class NumberedRing<T> {
  private readonly slots: Array<T | undefined>;
  /** Number of the newest item (0 before the first). */
  private seq = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring buffer capacity must be a positive integer, got ${capacity}`);
    this.slots = new Array<T | undefined>(capacity);
  }

  /** How many items are held (at most `capacity`). */
  get size(): number {
    return Math.min(this.seq, this.capacity);
  }

  /** Number of the newest item, 0 when empty. */
  get lastSeq(): number {
    return this.seq;
  }

  /** Add the item `make` builds from its number, and return it. */
  add(make: (seq: number) => T): T {
    this.seq += 1;
    const item = make(this.seq);
    this.slots[(this.seq - 1) % this.capacity] = item;
    return item;
  }

  /** The newest `n` items (all held when omitted), oldest first. */
  tail(n: number = this.capacity): T[] {
    const count = Math.max(0, Math.min(Math.floor(n), this.size));
    return this.range(this.seq - count + 1);
  }

  /**
   * Items numbered above `seq`, oldest first; the ones already dropped are skipped. A `seq` newer
   * than any issued was issued by an earlier numbering (numbers restart with the process), so the
   * reader gets every item kept rather than waiting, unseen, for the count to pass it.
   */
  since(seq: number): T[] {
    if (seq > this.seq) return this.tail();
    return this.range(Math.max(Math.floor(seq) + 1, this.seq - this.size + 1));
  }

  private range(firstSeq: number): T[] {
    const items: T[] = [];
    for (let s = Math.max(1, firstSeq); s <= this.seq; s++) {
      const item = this.slots[(s - 1) % this.capacity];
      if (item !== undefined) items.push(item);
    }
    return items;
  }
}

/** The last `capacity` log lines of a server. */
export class RingBuffer extends NumberedRing<LogLine> {
  constructor(
    capacity: number,
    private readonly now: () => number = Date.now,
  ) {
    super(capacity);
  }

  /** Append a line and return it with its sequence number and time. */
  push(stream: LogLine['stream'], line: string): LogLine {
    return this.add((seq) => ({ seq, time: this.now(), stream, line }));
  }
}
