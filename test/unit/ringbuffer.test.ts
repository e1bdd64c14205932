import { describe, expect, it } from 'vitest';
import { RingBuffer } from '../../src/runtime/ringbuffer.js';

function filled(capacity: number, count: number): RingBuffer {
  let clock = 1000;
  const ring = new RingBuffer(capacity, () => clock++);
  for (let i = 1; i <= count; i++) ring.push(i % 2 ? 'stdout' : 'stderr', `line ${i}`);
  return ring;
}

const texts = (ring: RingBuffer, n?: number): string[] => ring.tail(n).map((l) => l.line);

describe('RingBuffer', () => {
  it.each([
    { capacity: 3, count: 0, n: undefined, expected: [] },
    { capacity: 3, count: 2, n: undefined, expected: ['line 1', 'line 2'] },
    { capacity: 3, count: 3, n: undefined, expected: ['line 1', 'line 2', 'line 3'] },
    { capacity: 3, count: 7, n: undefined, expected: ['line 5', 'line 6', 'line 7'] },
    { capacity: 3, count: 7, n: 2, expected: ['line 6', 'line 7'] },
    { capacity: 3, count: 7, n: 10, expected: ['line 5', 'line 6', 'line 7'] },
    { capacity: 3, count: 7, n: 0, expected: [] },
    { capacity: 1, count: 5, n: undefined, expected: ['line 5'] },
  ])('capacity $capacity after $count pushes, tail($n)', ({ capacity, count, n, expected }) => {
    const ring = filled(capacity, count);
    expect(texts(ring, n)).toEqual(expected);
    expect(ring.size).toBe(Math.min(capacity, count));
  });

  it('numbers lines from 1, one more per line, across wrap-around', () => {
    const ring = filled(4, 10);
    expect(ring.tail().map((l) => l.seq)).toEqual([7, 8, 9, 10]);
    expect(ring.lastSeq).toBe(10);
  });

  it('records time and stream', () => {
    const ring = new RingBuffer(2, () => 42);
    expect(ring.push('stderr', 'boom')).toEqual({ seq: 1, time: 42, stream: 'stderr', line: 'boom' });
  });

  it.each([
    { seq: 0, expected: [5, 6, 7] },
    { seq: 5, expected: [6, 7] },
    { seq: 7, expected: [] },
  ])('since($seq) resumes after the given line, skipping dropped ones', ({ seq, expected }) => {
    expect(filled(3, 7).since(seq).map((l) => l.seq)).toEqual(expected);
  });

  it('since(seq) gives every line kept for a seq newer than any issued (one from an earlier process)', () => {
    expect(filled(3, 7).since(8).map((l) => l.seq)).toEqual([5, 6, 7]);
    expect(filled(3, 7).since(99).map((l) => l.seq)).toEqual([5, 6, 7]);
    expect(new RingBuffer(3).since(1)).toEqual([]);
  });

  it.each([0, -1, 1.5])('rejects capacity %s', (capacity) => {
    expect(() => new RingBuffer(capacity)).toThrow(RangeError);
  });
});
