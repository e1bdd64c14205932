import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LineWriter } from '../../src/gateway/lines.js';
import { createLineSplitter, DROPPED_END_BYTES, LineReader, MAX_LINE_BYTES, type DroppedLine } from '../../src/runtime/lines.js';

function reader() {
  const lines: string[] = [];
  const incomplete: string[] = [];
  const dropped: { first: string; last: string; bytes: number }[] = [];
  const r = new LineReader(
    (line, complete) => (complete ? lines : incomplete).push(line.toString('utf8')),
    (line) => dropped.push({ first: line.first.toString('utf8'), last: line.last.toString('utf8'), bytes: line.bytes }),
  );
  return { r, lines, incomplete, dropped };
}

/** A stream that records each write() it is given, as one string per system call would be. */
function recordingStream() {
  const writes: string[] = [];
  const stream = new Writable({
    writev(chunks, callback) {
      writes.push(chunks.map((c) => Buffer.from(c.chunk as Buffer).toString('utf8')).join(''));
      callback();
    },
    write(chunk: Buffer, _encoding, callback) {
      writes.push(chunk.toString('utf8'));
      callback();
    },
  });
  return { stream, writes };
}

const tick = () => new Promise((resolve) => process.nextTick(resolve));

describe('LineReader', () => {
  it('splits on newlines across chunk edges, even inside a multi-byte character', () => {
    const { r, lines, incomplete } = reader();
    const bytes = Buffer.from('{"a":"é"}\r\n{"b":"✓✓"}\nlast');
    for (let at = 0; at < bytes.length; at += 3) r.push(bytes.subarray(at, at + 3));
    expect(lines).toEqual(['{"a":"é"}', '{"b":"✓✓"}']);
    r.end();
    expect(lines).toEqual(['{"a":"é"}', '{"b":"✓✓"}']);
    expect(incomplete).toEqual(['last']);
  });

  it('gives every line of one chunk, empty ones included', () => {
    const { r, lines, incomplete } = reader();
    r.push(Buffer.from('one\n\ntwo\n'));
    r.end();
    expect(lines).toEqual(['one', '', 'two']);
    expect(incomplete).toEqual([]);
  });

  it('skips a line that grows past the limit to its end, and reports it once with both ends', () => {
    const { r, lines, dropped } = reader();
    r.push(Buffer.from('{"start":'));
    const block = Buffer.alloc(16 * 1024 * 1024, 0x61);
    for (let i = 0; i < 5; i++) r.push(block);
    expect(dropped).toEqual([]);
    r.push(Buffer.from('"end"}\r\n{"next":1}\n'));
    expect(lines).toEqual(['{"next":1}']);
    expect(dropped).toHaveLength(1);
    expect(dropped[0]?.bytes).toBe(9 + 5 * block.length + 6);
    expect(dropped[0]?.bytes).toBeGreaterThan(MAX_LINE_BYTES);
    expect(dropped[0]?.first).toMatch(/^\{"start":a+$/);
    expect(dropped[0]?.first).toHaveLength(DROPPED_END_BYTES);
    expect(dropped[0]?.last).toMatch(/^a+"end"\}$/);
    expect(dropped[0]?.last).toHaveLength(DROPPED_END_BYTES);
  });

  it('drops a too-long line that arrives whole in one chunk, keeping its ends', () => {
    const dropped: DroppedLine[] = [];
    const lines: string[] = [];
    const r = new LineReader((line) => lines.push(line.toString()), (line) => dropped.push(line), { maxBytes: 8, keepBytes: 3 });
    r.push(Buffer.from('abcdefghij\r\nok\n'));
    expect(lines).toEqual(['ok']);
    expect(dropped.map((d) => [d.first.toString(), d.last.toString(), d.bytes])).toEqual([['abc', 'hij', 10]]);
  });

  it('keeps the ends of a line that overflows across several small pieces', () => {
    const dropped: DroppedLine[] = [];
    const r = new LineReader(() => {}, (line) => dropped.push(line), { maxBytes: 5, keepBytes: 3 });
    for (const piece of ['ab', 'cd', 'ef']) r.push(Buffer.from(piece));
    expect(dropped).toEqual([]);
    r.push(Buffer.from('gh\n'));
    expect(dropped.map((d) => [d.first.toString(), d.last.toString(), d.bytes])).toEqual([['abc', 'fgh', 8]]);
  });

  it('with reportEarly, reports an overlong line once, as soon as it passes the limit', () => {
    const dropped: DroppedLine[] = [];
    const lines: string[] = [];
    const r = new LineReader((line) => lines.push(line.toString()), (line) => dropped.push(line), { maxBytes: 5, keepBytes: 3, reportEarly: true });
    r.push(Buffer.from('abcd'));
    r.push(Buffer.from('efgh'));
    expect(dropped.map((d) => [d.first.toString(), d.last.toString(), d.bytes])).toEqual([['abc', '', 8]]);
    r.push(Buffer.from('ijk\nok\n'));
    r.end();
    expect(dropped).toHaveLength(1);
    expect(lines).toEqual(['ok']);
  });

  it('reports a too-long line the stream ends in', () => {
    const { r, lines, dropped } = reader();
    r.push(Buffer.alloc(MAX_LINE_BYTES + 1, 0x62));
    r.end();
    expect(lines).toEqual([]);
    expect(dropped.map((d) => d.bytes)).toEqual([MAX_LINE_BYTES + 1]);
  });
});

describe('createLineSplitter (log lines)', () => {
  it('caps a runaway line at a character boundary, drops its rest, and goes on', () => {
    const lines: string[] = [];
    const splitter = createLineSplitter((line) => lines.push(line), 10);
    splitter.push('short\r\n123456789é');
    splitter.push(' and more of it\nnext\nlast');
    splitter.end();
    // 10 bytes end inside the 2-byte é: the cut falls before it.
    expect(lines).toEqual(['short', '123456789…', 'next', 'last']);
  });

  it('passes a runaway line on as soon as it reaches the cap, not when (if ever) it ends', () => {
    const lines: string[] = [];
    const splitter = createLineSplitter((line) => lines.push(line), 10);
    splitter.push('progress: ');
    splitter.push('10%\r20%\r30%');
    expect(lines).toEqual(['progress: …']);
    splitter.push('\r100%\ndone\n');
    expect(lines).toEqual(['progress: …', 'done']);
  });
});

describe('LineWriter', () => {
  it('sends the messages of one tick in a single write, each on its line', async () => {
    const { stream, writes } = recordingStream();
    const w = new LineWriter(stream);
    expect(w.write('{"n":1}')).toBe(true);
    w.write('{"n":2}');
    expect(writes).toEqual([]);
    await tick();
    expect(writes).toEqual(['{"n":1}\n{"n":2}\n']);
    w.write('{"n":3}');
    await tick();
    expect(writes).toEqual(['{"n":1}\n{"n":2}\n', '{"n":3}\n']);
  });

  it('writes a large message from its pieces, bytes as they are, in order with the rest', async () => {
    const { stream, writes } = recordingStream();
    const w = new LineWriter(stream);
    const big = Buffer.from(`{"result":{"text":"${'é'.repeat(20_000)}"},"id":`);
    w.write('{"before":1}');
    w.writePieces([big, '7', Buffer.from('}')], big.length + 2);
    w.writePieces([Buffer.from('{"small":'), '8', Buffer.from('}')], 11);
    await tick();
    expect(writes.join('')).toBe(`{"before":1}\n${big.toString()}7}\n{"small":8}\n`);
  });

  it('refuses messages once the stream has ended', async () => {
    const { stream } = recordingStream();
    const w = new LineWriter(stream);
    stream.end();
    expect(w.write('{}')).toBe(false);
    expect(w.writePieces([Buffer.alloc(20_000)], 20_000)).toBe(false);
  });
});
