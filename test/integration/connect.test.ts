import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { CreateMessageRequestSchema, LoggingMessageNotificationSchema, type JSONRPCMessage, type Progress } from '@modelcontextprotocol/sdk/types.js';
import { runConnect } from '../../src/gateway/connect.js';
import { memoryLogger } from '../helpers/logs.js';
import { killPids } from '../helpers/pids.js';
import { waitFor, withinMs } from '../helpers/wait.js';
import { freePort } from '../helpers/net.js';
import { createLineSplitter, MAX_LINE_BYTES } from '../../src/runtime/lines.js';

const EVERYTHING = fileURLToPath(new URL('../../node_modules/@modelcontextprotocol/server-everything/dist/index.js', import.meta.url));
// server-everything listens on every interface; this preload pins its listen() to loopback.
const LOOPBACK_ONLY =
  'data:text/javascript,import net from "node:net"; const listen = net.Server.prototype.listen; net.Server.prototype.listen = function (...args) { if ((typeof args[0] === "number" || typeof args[0] === "string") && typeof args[1] !== "string") args.splice(1, 0, "127.0.0.1"); return listen.apply(this, args); };';

/** The client side of the bridge's stdio: writes lines to its stdin, reads lines from its stdout. */
class PipeClientTransport implements Transport {
  onmessage?: (message: JSONRPCMessage) => void;
  onerror?: (error: Error) => void;
  onclose?: () => void;
  private readonly buffer = new ReadBuffer();
  private readonly ondata = (chunk: Buffer): void => {
    this.buffer.append(chunk);
    for (;;) {
      try {
        const message = this.buffer.readMessage();
        if (message === null) return;
        this.onmessage?.(message);
      } catch (error) {
        // The bridge's parse-error lines carry `id: null`, which the SDK's schema rejects: skip them.
        this.onerror?.(error as Error);
      }
    }
  };

  constructor(
    private readonly toBridge: PassThrough,
    private readonly fromBridge: PassThrough,
  ) {}

  async start(): Promise<void> {
    this.fromBridge.on('data', this.ondata);
  }

  async send(message: JSONRPCMessage): Promise<void> {
    this.toBridge.write(serializeMessage(message));
  }

  /** Closing is stdin EOF for the bridge. */
  async close(): Promise<void> {
    this.fromBridge.off('data', this.ondata);
    this.toBridge.end();
    this.onclose?.();
  }
}

interface Bridge {
  stdin: PassThrough;
  stdout: PassThrough;
  /** Every line the bridge wrote to stdout, raw. */
  lines: string[];
  logLines: string[];
  exit: Promise<number>;
}

const bridges: Bridge[] = [];

function startBridge(url: string, extra: { token?: string; drainMs?: number } = {}): Bridge {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const lines: string[] = [];
  const splitter = createLineSplitter((line) => lines.push(line), MAX_LINE_BYTES);
  stdout.on('data', (chunk: Buffer) => splitter.push(chunk));
  const { log, lines: logLines } = memoryLogger();
  const exit = runConnect({ url, stdin, stdout, log, ...extra });
  const bridge = { stdin, stdout, lines, logLines, exit };
  bridges.push(bridge);
  return bridge;
}

async function connectClient(bridge: Bridge, onLog?: (data: unknown) => void): Promise<Client> {
  const client = new Client({ name: 'connect-test', version: '0.0.0' }, { capabilities: { sampling: {} } });
  client.setRequestHandler(CreateMessageRequestSchema, async () => ({
    model: 'test-model',
    role: 'assistant' as const,
    content: { type: 'text' as const, text: 'sampled by the test client' },
  }));
  if (onLog) client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => onLog(n.params.data));
  client.onerror = () => {};
  await client.connect(new PipeClientTransport(bridge.stdin, bridge.stdout), { timeout: 10_000 });
  return client;
}



const textOf = (result: unknown): string => ((result as { content?: Array<{ text?: string }> }).content ?? []).map((c) => c.text ?? '').join('');

afterEach(async () => {
  // A bridge a test left running ends here, so no session or timer outlives its test.
  for (const bridge of bridges.splice(0)) {
    bridge.stdin.end();
    await withinMs(bridge.exit, 10_000);
  }
});

interface Everything {
  url: string;
  /** Its stdout and stderr lines so far. */
  output: string[];
  kill: () => void;
}

const everythings: Everything[] = [];

/** server-everything in Streamable HTTP mode on a free loopback port, in its own process group. */
async function startEverything(): Promise<Everything> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, ['--import', LOOPBACK_ONLY, EVERYTHING, 'streamableHttp'], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PORT: String(port) },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const instance = { url: `http://127.0.0.1:${port}/mcp`, output, kill: () => child.pid && killPids([child.pid]) };
  everythings.push(instance);
  for (const stream of [child.stdout, child.stderr]) stream?.on('data', (chunk: Buffer) => output.push(...chunk.toString('utf8').split('\n')));
  await waitFor(() => output.some((l) => l.includes('listening on port')), { timeoutMs: 20_000, message: 'server-everything listening' });
  return instance;
}

afterAll(() => {
  for (const instance of everythings.splice(0)) instance.kill();
});

describe('connect bridge against server-everything (Streamable HTTP)', () => {
  let url = '';
  let serverOutput: string[] = [];

  beforeAll(async () => {
    ({ url, output: serverOutput } = await startEverything());
  });

  /** The session ids server-everything created, in order. */
  const sessions = (): string[] => serverOutput.flatMap((l) => /Session initialized with ID: (\S+)/.exec(l)?.[1] ?? []);

  it('lists and calls tools, relays sampling requests, and ends the session on stdin EOF', async () => {
    const before = sessions().length;
    const bridge = startBridge(url);
    const client = await connectClient(bridge);
    const session = await waitFor(() => sessions()[before], { message: 'session id in the server log' });

    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['echo', 'trigger-long-running-operation', 'trigger-sampling-request']));

    expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'hello through the bridge' } }))).toBe('Echo: hello through the bridge');

    // A server→client request on the POST stream, answered by the client on the bridge's stdin.
    const sampled = await client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hi', maxTokens: 5 } });
    expect(textOf(sampled)).toContain('sampled by the test client');

    await client.close();
    expect(await withinMs(bridge.exit, 10_000)).toBe(0);
    await waitFor(() => serverOutput.some((l) => l.includes(`Received session termination request for session ${session}`)), { message: 'DELETE seen by the server' });
    const after = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': session },
      body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'ping' }),
    });
    expect(after.status).toBe(400);
    // Nothing but JSON-RPC reached stdout.
    expect(bridge.lines.length).toBeGreaterThan(0);
    for (const line of bridge.lines) expect((JSON.parse(line) as { jsonrpc?: string }).jsonrpc).toBe('2.0');
  });

  it('relays the progress notifications of a long-running tool', async () => {
    const bridge = startBridge(url);
    const client = await connectClient(bridge);
    const progress: Progress[] = [];
    const result = await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 1.5, steps: 3 } }, undefined, {
      onprogress: (p) => progress.push(p),
      timeout: 15_000,
    });
    expect(textOf(result)).toContain('Long running operation completed');
    expect(progress.map((p) => p.progress)).toEqual([1, 2, 3]);
    expect(progress.every((p) => p.total === 3)).toBe(true);
    await client.close();
    expect(await withinMs(bridge.exit, 10_000)).toBe(0);
  });

  it('relays notifications from the standalone GET stream', async () => {
    const before = sessions().length;
    const bridge = startBridge(url);
    const logs: unknown[] = [];
    const client = await connectClient(bridge, (data) => logs.push(data));
    const session = await waitFor(() => sessions()[before], { message: 'session id' });
    // The SDK opens the GET stream once notifications/initialized is accepted; the first simulated
    // log line goes out on it at once, so wait until it is open.
    await waitFor(() => serverOutput.some((l) => l.includes(`Establishing new SSE stream for session ${session}`)), { message: 'GET stream open' });
    await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
    await waitFor(() => logs.some((d) => String(d).includes(session)), { timeoutMs: 8_000, message: 'a log notification on the GET stream' });
    await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
    await client.close();
    expect(await withinMs(bridge.exit, 10_000)).toBe(0);
  });

  it('answers a line that is not JSON with -32700 and keeps going', async () => {
    const bridge = startBridge(url);
    const client = await connectClient(bridge);
    bridge.stdin.write('this is not json\n');
    const parseError = await waitFor(() => bridge.lines.find((l) => l.includes('-32700')), { message: 'parse error line' });
    expect(JSON.parse(parseError)).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32700, message: expect.any(String) } });
    expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'still here' } }))).toBe('Echo: still here');
    expect(bridge.logLines.some((l) => l.includes('not JSON'))).toBe(true);
    await client.close();
    expect(await withinMs(bridge.exit, 10_000)).toBe(0);
  });

  it('answers requests still in flight when stdin ends before their answers', async () => {
    const bridge = startBridge(url);
    const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'pipe', version: '0' } } };
    const initialized = { jsonrpc: '2.0', method: 'notifications/initialized' };
    const echo = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { message: 'piped' } } };
    // Like `printf '...' | docker exec -i … connect`: everything at once, then EOF.
    bridge.stdin.end([initialize, initialized, echo].map((m) => JSON.stringify(m)).join('\n') + '\n');
    expect(await withinMs(bridge.exit, 10_000)).toBe(0);
    const answers = bridge.lines.map((l) => JSON.parse(l) as { id?: number; result?: unknown });
    expect(answers.find((a) => a.id === 1)?.result).toBeDefined();
    expect(textOf(answers.find((a) => a.id === 2)?.result)).toBe('Echo: piped');
  });
});

describe('connect bridge when the orchestrator cannot be used', () => {
  it('answers requests with an error, not a hang, once the orchestrator is gone', async () => {
    const doomed = await startEverything();
    const bridge = startBridge(doomed.url);
    const client = await connectClient(bridge);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'before' } }))).toBe('Echo: before');
    doomed.kill();
    await expect(withinMs(client.callTool({ name: 'echo', arguments: { message: 'after' } }), 10_000)).rejects.toThrow(
      `cannot reach the orchestrator at ${doomed.url}: is it running?`,
    );
    await client.close();
    expect(await withinMs(bridge.exit, 10_000)).toBe(0);
    expect(bridge.logLines.some((l) => l.includes('could not end the session'))).toBe(true);
  });


  let server: Server | undefined;

  afterAll(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  const initializeLine = `${JSON.stringify({ jsonrpc: '2.0', id: 'init-1', method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'pipe', version: '0' } } })}\n`;

  it('answers the initialize request with an error and exits 1 when nothing listens', async () => {
    const url = `http://127.0.0.1:${await freePort()}/mcp`;
    const bridge = startBridge(url);
    // Like `echo … | connect`: the request and EOF at once; the failure still decides the exit code.
    bridge.stdin.end(initializeLine);
    expect(await withinMs(bridge.exit, 10_000)).toBe(1);
    expect(bridge.lines).toHaveLength(1);
    const answer = JSON.parse(bridge.lines[0] ?? '') as { id: string; error: { code: number; message: string; data: { reason: string } } };
    expect(answer.id).toBe('init-1');
    expect(answer.error.code).toBe(-32000);
    expect(answer.error.message).toBe(`cannot reach the orchestrator at ${url}: is it running?`);
    expect(answer.error.data.reason).toBe('unreachable');
    expect(bridge.logLines.some((l) => l.includes('cannot reach the orchestrator') && l.includes('"level":50'))).toBe(true);
  });

  it('names MCP_ORCHESTRATOR_TOKEN when the orchestrator answers 401', async () => {
    const seen: Array<string | undefined> = [];
    server = createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'unauthorized' } }));
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
    const bridge = startBridge(url, { token: 'wrong-token' });
    bridge.stdin.write(initializeLine);
    expect(await withinMs(bridge.exit, 10_000)).toBe(1);
    expect(seen).toEqual(['Bearer wrong-token']);
    const answer = JSON.parse(bridge.lines[0] ?? '') as { id: string; error: { message: string; data: { status: number } } };
    expect(answer.id).toBe('init-1');
    expect(answer.error.message).toContain('MCP_ORCHESTRATOR_TOKEN');
    expect(answer.error.data.status).toBe(401);
    expect(bridge.logLines.join('')).not.toContain('wrong-token');
  });

  it("passes on the orchestrator's reason for a 404", async () => {
    server = createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'no server named "nosuch"' } }));
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/servers/nosuch/mcp`;
    const bridge = startBridge(url);
    bridge.stdin.write(initializeLine);
    expect(await withinMs(bridge.exit, 10_000)).toBe(1);
    const answer = JSON.parse(bridge.lines[0] ?? '') as { error: { message: string } };
    expect(answer.error.message).toBe(`no MCP endpoint at ${url} (404: no server named "nosuch"): check --url and --server`);
  });

  it('exits 0 on an immediate EOF without contacting anything', async () => {
    const bridge = startBridge(`http://127.0.0.1:${await freePort()}/mcp`);
    bridge.stdin.end();
    expect(await withinMs(bridge.exit, 5_000)).toBe(0);
    expect(bridge.lines).toEqual([]);
  });
});
