/**
 * How a forwarded call's answer crosses the upstream connection: taken as raw text (id swapped, no
 * parse) only when its layout leaves no doubt which id is the top-level one, parsed otherwise.
 * The server side is a pair of in-memory streams standing in for the child's pipes.
 */
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { ChildStdioTransport } from '../../src/gateway/child-transport.js';
import { RawResponse, serialize, type Request, type Response } from '../../src/gateway/jsonrpc.js';
import { Upstream, type CallSink } from '../../src/gateway/upstream.js';
import { silentLogger } from '../../src/log.js';
import { flush as settled } from '../machines/fakes.js';

const log = silentLogger();

interface Received {
  raw?: { json: string; ok: boolean; bytes: boolean };
  parsed?: Response;
  progress: Record<string, unknown>[];
  /** How many answers arrived, raw or parsed: exactly one is due. */
  answers: number;
}

/** A sink that records what it gets; the client's id is `"c1"`, as the session would splice it. */
function recorder(withRaw = true): { sink: CallSink; got: Received } {
  const got: Received = { progress: [], answers: 0 };
  const sink: CallSink = {
    onResponse: (response) => {
      got.answers += 1;
      got.parsed = response;
    },
    onProgress: (params) => {
      got.progress.push(params);
    },
  };
  if (withRaw) {
    sink.onRawResponse = (head, tail, ok) => {
      got.answers += 1;
      got.raw = { json: `${head.toString()}"c1"${tail.toString()}`, ok, bytes: Buffer.isBuffer(head) && Buffer.isBuffer(tail) };
    };
  }
  return { sink, got };
}

const call = (method = 'tools/call', params: Record<string, unknown> = { name: 'echo' }): Request => ({ jsonrpc: '2.0', id: 99, method, params });

let upstream: Upstream | undefined;
afterEach(async () => {
  await upstream?.close();
  upstream = undefined;
});

async function connected() {
  const toServer = new PassThrough();
  const fromServer = new PassThrough();
  const transport = new ChildStdioTransport(toServer, fromServer);
  const seen: string[] = [];
  const handlers = {
    onServerRequest: () => Promise.resolve({}),
    onNotification: (_upstream: Upstream, notification: { method: string }) => void seen.push(notification.method),
    onListsChanged: () => {},
  };
  upstream = new Upstream({ server: 's', instanceId: 'i', transport, handlers, log, version: '0' });
  await transport.start();
  const sent: Record<string, unknown>[] = [];
  toServer.setEncoding('utf8');
  toServer.on('data', (chunk: string) => {
    for (const line of chunk.split('\n').filter(Boolean)) sent.push(JSON.parse(line) as Record<string, unknown>);
  });
  const answer = async (line: string) => {
    fromServer.write(`${line}\n`);
    await settled();
  };
  return { upstream, sent, answer, fromServer, seen };
}

describe('forwarded answers', () => {
  it('takes the TypeScript SDK layout (result first, id last) raw, with only the id changed', async () => {
    const { upstream, sent, answer } = await connected();
    const { sink, got } = recorder();
    const id = upstream.forward(call(), sink);
    await settled();
    expect(sent).toEqual([{ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo' } }]);
    await answer(`{"result":{"content":[{"type":"text","text":"a \\"id\\":\\"${id}\\" b"}]},"jsonrpc":"2.0","id":"${id}"}`);
    expect(got.parsed).toBeUndefined();
    expect(got.raw?.ok).toBe(true);
    expect(JSON.parse(got.raw?.json ?? '')).toEqual({ result: { content: [{ type: 'text', text: `a "id":"${id}" b` }] }, jsonrpc: '2.0', id: 'c1' });
    expect(upstream.inFlight).toBe(0);
  });

  it('passes a large answer split over many chunks through byte for byte', async () => {
    const { upstream, fromServer } = await connected();
    const { sink, got } = recorder();
    const id = upstream.forward(call(), sink);
    const text = 'ünïcødé ✓ '.repeat(20_000);
    const line = Buffer.from(`{"result":{"content":[{"type":"text","text":"${text}"}]},"jsonrpc":"2.0","id":"${id}"}\n`);
    // Chunk edges fall inside multi-byte characters.
    for (let at = 0; at < line.length; at += 4097) fromServer.write(line.subarray(at, at + 4097));
    await settled();
    expect(got.raw?.ok).toBe(true);
    expect(got.raw?.bytes).toBe(true);
    expect(JSON.parse(got.raw?.json ?? '')).toEqual({ result: { content: [{ type: 'text', text }] }, jsonrpc: '2.0', id: 'c1' });
  });

  it('takes the id-second layout raw, for results and for errors', async () => {
    const { upstream, answer } = await connected();
    const first = recorder();
    const second = recorder();
    const a = upstream.forward(call(), first.sink);
    const b = upstream.forward(call(), second.sink);
    await answer(`{"jsonrpc":"2.0","id":"${a}","result":{"ok":1}}`);
    await answer(`{"jsonrpc":"2.0","id":"${b}","error":{"code":-32602,"message":"bad"}}`);
    expect(first.got.raw).toEqual({ json: '{"jsonrpc":"2.0","id":"c1","result":{"ok":1}}', ok: true, bytes: false });
    expect(second.got.raw).toEqual({ json: '{"jsonrpc":"2.0","id":"c1","error":{"code":-32602,"message":"bad"}}', ok: false, bytes: false });
  });

  it('settles the call the top-level id names when a result carries another call id inside', async () => {
    const { upstream, answer } = await connected();
    const inner = recorder();
    const outer = recorder();
    const a = upstream.forward(call(), inner.sink);
    const b = upstream.forward(call(), outer.sink);
    await answer(`{"result":{"structuredContent":{"id":"${a}"}},"jsonrpc":"2.0","id":"${b}"}`);
    expect(inner.got.raw).toBeUndefined();
    expect(inner.got.parsed).toBeUndefined();
    expect(JSON.parse(outer.got.raw?.json ?? '')).toEqual({ result: { structuredContent: { id: a } }, jsonrpc: '2.0', id: 'c1' });
    expect(upstream.inFlight).toBe(1);
  });

  it('leaves an answer to another request alone even when the last nested member looks like ours', async () => {
    const { upstream, answer } = await connected();
    const pending = recorder();
    const a = upstream.forward(call(), pending.sink);
    // The SDK client's own request 5 (not a forwarded call) answered with our id nested at the end.
    await answer(`{"result":{"x":{"id":"${a}"}},"jsonrpc":"2.0","id":5}`);
    await answer(`{"result":{"x":{"id":"${a}"}}}`);
    expect(pending.got.raw).toBeUndefined();
    expect(pending.got.parsed).toBeUndefined();
    expect(upstream.inFlight).toBe(1);
    // Lines are read in order: the call's own answer arriving now proves those two were read.
    await answer(`{"result":{},"jsonrpc":"2.0","id":"${a}"}`);
    expect(pending.got.raw?.ok).toBe(true);
    expect(upstream.inFlight).toBe(0);
  });

  it('parses answers in any other layout, and for a sink that takes no raw text', async () => {
    const { upstream, answer } = await connected();
    const spaced = recorder();
    const plain = recorder(false);
    const a = upstream.forward(call(), spaced.sink);
    const b = upstream.forward(call(), plain.sink);
    await answer(`{"jsonrpc": "2.0", "id": "${a}", "result": {"n": 1}}`);
    await answer(`{"result":{"n":2},"jsonrpc":"2.0","id":"${b}"}`);
    expect(spaced.got.raw).toBeUndefined();
    expect(spaced.got.parsed).toEqual({ jsonrpc: '2.0', id: a, result: { n: 1 } });
    expect(plain.got.parsed).toEqual({ jsonrpc: '2.0', id: b, result: { n: 2 } });
  });

  it('relays progress under our token and fails what is in flight when the server goes', async () => {
    const { upstream, sent, answer } = await connected();
    const { sink, got } = recorder();
    const id = upstream.forward(call('tools/call', { name: 'slow', _meta: { progressToken: 'client-token' } }), sink);
    await settled();
    expect((sent[0]?.params as { _meta: unknown })._meta).toEqual({ progressToken: id });
    await answer(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"${id}","progress":1,"total":2}}`);
    expect(got.progress).toEqual([{ progressToken: id, progress: 1, total: 2 }]);
    await upstream.close();
    expect(got.parsed?.error?.message).toMatch(/stopped while the call was in flight/);
  });
});

describe('answers that must not be taken raw', () => {
  it('fails a call whose answer the server cut short by exiting, instead of passing the piece on', async () => {
    const { upstream, fromServer } = await connected();
    const { sink, got } = recorder();
    const id = upstream.forward(call(), sink);
    // Cut inside a string that happens to hold a closing brace: the piece ends in `}`.
    fromServer.end(`{"jsonrpc":"2.0","id":"${id}","result":{"content":[{"type":"text","text":"a {b}`);
    await settled();
    expect(got.raw).toBeUndefined();
    expect(got.parsed?.error?.message).toMatch(/closed the connection while the call was in flight/);
  });

  it('leaves alone an answer without "jsonrpc" and one with something after its closing brace', async () => {
    const { upstream, answer } = await connected();
    const a = recorder();
    const b = recorder();
    const ida = upstream.forward(call(), a.sink);
    const idb = upstream.forward(call(), b.sink);
    await answer(`{"result":{},"id":"${ida}"}`);
    await answer(`{"jsonrpc":"2.0","id":"${idb}","result":{}} junk`);
    expect([a.got.raw, a.got.parsed, b.got.raw, b.got.parsed]).toEqual([undefined, undefined, undefined, undefined]);
    expect(upstream.inFlight).toBe(2);
    // Lines are read in order: the calls' own answers arriving now prove those two were read.
    await answer(`{"result":{},"jsonrpc":"2.0","id":"${ida}"}`);
    await answer(`{"result":{},"jsonrpc":"2.0","id":"${idb}"}`);
    expect([a.got.raw?.ok, b.got.raw?.ok]).toEqual([true, true]);
  });

  it('drops the CR of a CRLF line end', async () => {
    const { upstream, answer } = await connected();
    const { sink, got } = recorder();
    const id = upstream.forward(call(), sink);
    await answer(`{"result":{"n":1},"jsonrpc":"2.0","id":"${id}"}\r`);
    expect(got.raw?.json).toBe('{"result":{"n":1},"jsonrpc":"2.0","id":"c1"}');
  });

  it('keeps a log message the server wrote before its answer ahead of that answer', async () => {
    const { upstream, fromServer, seen } = await connected();
    const { sink } = recorder();
    sink.onRawResponse = () => void seen.push('answer');
    const id = upstream.forward(call(), sink);
    fromServer.write(
      `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"working"}}\n{"result":{},"jsonrpc":"2.0","id":"${id}"}\n`,
    );
    await settled();
    expect(seen).toEqual(['notifications/message', 'answer']);
  });

  it('answers a cancelled call once: the server\'s late answer is ignored', async () => {
    const { upstream, answer } = await connected();
    const { sink, got } = recorder();
    const id = upstream.forward(call(), sink);
    upstream.cancel(id, 'no longer needed');
    await answer(`{"result":{},"jsonrpc":"2.0","id":"${id}"}`);
    // Lines are read in order: the next call's answer arriving proves the late one was read.
    const next = recorder();
    const nextId = upstream.forward(call(), next.sink);
    await answer(`{"result":{},"jsonrpc":"2.0","id":"${nextId}"}`);
    expect(next.got.raw?.ok).toBe(true);
    expect(got.answers).toBe(1);
    expect(got.parsed?.error?.code).toBe(-32800);
    expect(got.raw).toBeUndefined();
  });

  it('fails a call whose answer is over the line limit, with the reason', async () => {
    const { upstream, fromServer } = await connected();
    const { sink, got } = recorder();
    const id = upstream.forward(call(), sink);
    fromServer.write('{"result":{"content":[{"type":"text","text":"');
    const block = Buffer.alloc(16 * 1024 * 1024, 0x61);
    for (let i = 0; i < 5; i++) fromServer.write(block);
    fromServer.write(`"}]},"jsonrpc":"2.0","id":"${id}"}\n`);
    await settled();
    expect(got.raw).toBeUndefined();
    expect(got.parsed?.error?.message).toMatch(/over the 67108864-byte limit; the answer was dropped/);
    expect(upstream.inFlight).toBe(0);
  });
});

describe('serialize', () => {
  it('writes raw answers as they are, alone and inside a batch', () => {
    const raw = new RawResponse(Buffer.from('{"result":{"a":1},"jsonrpc":"2.0","id":'), '7', Buffer.from('}'), true);
    expect(raw.bytes().toString()).toBe(raw.json);
    expect(raw.approxBytes).toBe(raw.json.length);
    const parsed: Response = { jsonrpc: '2.0', id: 8, result: {} };
    expect(serialize(raw)).toBe('{"result":{"a":1},"jsonrpc":"2.0","id":7}');
    expect(JSON.parse(serialize([parsed, raw]))).toEqual([parsed, { result: { a: 1 }, jsonrpc: '2.0', id: 7 }]);
    expect(serialize([parsed])).toBe(JSON.stringify([parsed]));
  });
});
