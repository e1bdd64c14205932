import { createServer, connect as tcpConnect } from 'node:net';
import { writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { descendants, isLoopback, killAll, listeningAddresses } from './procs.js';
import { readArgv } from '../src/runtime/procfs.js';
import { RingBuffer, spawnGroup, type ProcessRegistry, type Spawned } from './spawned.js';

/** The pids of the target's tree other than its gateway, read afresh (a server may be replaced). */
export function serverPids(target: Target): number[] {
  return [target.treeRoot, ...descendants(target.treeRoot)].filter((pid) => pid !== target.gatewayPid);
}

export type TargetName =
  | 'direct-stdio'
  | 'stdio-relay'
  | 'stdio-parse-relay'
  | 'orchestrator-http'
  | 'orchestrator-stdio'
  | 'supergateway'
  | 'mcp-proxy'
  | 'server-http';

export const TARGET_NAMES: readonly TargetName[] = [
  'direct-stdio',
  'stdio-relay',
  'stdio-parse-relay',
  'orchestrator-http',
  'orchestrator-stdio',
  'supergateway',
  'mcp-proxy',
  'server-http',
];

/** The server every target fronts, and the call the bench makes through it. */
export interface Workload {
  /** The server's name in the orchestrator's config: its tools are listed as `<name>_<tool>`. */
  serverName: string;
  /** The server's executable (a real path) and its arguments for stdio. */
  bin: string;
  args: readonly string[];
  /** The tool called, as the server itself names it. */
  tool: string;
  /** The arguments of call number `seq`. */
  argumentsFor(seq: number): Record<string, unknown>;
  /** Why the answer to call `seq` is wrong, or undefined when it is right. */
  wrong(result: Record<string, unknown>, seq: number): string | undefined;
}

/** The text of a tool result's first content item, if it is text. */
function firstText(result: Record<string, unknown>): string | undefined {
  const first = Array.isArray(result.content) ? (result.content[0] as { type?: string; text?: unknown } | undefined) : undefined;
  return typeof first?.text === 'string' ? first.text : undefined;
}

/** server-everything's `echo`: the cheapest call there is. Every answer must echo its own message. */
export function echoWorkload(paths: Paths): Workload {
  return {
    serverName: 'everything',
    bin: paths.everythingBin,
    args: ['stdio'],
    tool: 'echo',
    argumentsFor: (seq) => ({ message: `bench-${seq}` }),
    wrong: (result, seq) =>
      result.isError === true || firstText(result) !== `Echo: bench-${seq}` ? `unexpected answer to echo "bench-${seq}": ${JSON.stringify(result).slice(0, 300)}` : undefined,
  };
}

/** server-filesystem's `read_text_file` of `file`: a large answer. The text must come back whole. */
export function readFileWorkload(paths: Paths, file: string, text: string): Workload {
  return {
    serverName: 'files',
    bin: paths.filesystemBin,
    args: [dirname(file)],
    tool: 'read_text_file',
    argumentsFor: () => ({ path: file }),
    wrong: (result) => {
      const got = firstText(result);
      if (result.isError !== true && got === text) return undefined;
      return `unexpected answer to read_text_file: ${got === undefined ? JSON.stringify(result).slice(0, 300) : `${got.length} characters, not the file's ${text.length}`}`;
    },
  };
}

/** A started target: one MCP client session, and the pids whose CPU the bench reads. */
export interface Target {
  name: TargetName;
  client: Client;
  workload: Workload;
  /** The workload's tool as this target lists it. */
  toolName: string;
  /** The gateway process; undefined for the two baselines, which have none. */
  gatewayPid: number | undefined;
  /** The top of the target's process tree; the rest of the tree (but the gateway) is "server". */
  treeRoot: number;
  /** How it was started and what was observed about it. */
  notes: string[];
  close(): Promise<void>;
}

export interface Paths {
  root: string;
  node: string;
  everythingBin: string;
  filesystemBin: string;
  cli: string;
  supergatewayBin: string;
  mcpProxyBin: string;
  loopbackPreload: string;
}

export interface StartContext {
  paths: Paths;
  workload: Workload;
  registry: ProcessRegistry;
  tmpDir: string;
  startTimeoutMs: number;
  /** `setsid` on PATH: stdio targets then get a process group of their own. */
  haveSetsid: boolean;
}

interface TargetDefinition {
  describe(paths: Paths, workload: Workload): string;
  start(ctx: StartContext): Promise<Target>;
}

const SEPARATOR = '_';
const CLIENT_INFO = { name: 'mcp-orchestrator-bench', version: '1' };

export const TARGETS: Record<TargetName, TargetDefinition> = {
  'direct-stdio': {
    describe: (p, w) => `the SDK client spawns \`${serverCommand(p, w)}\` (no gateway: the first baseline)`,
    start: (ctx) => attachStdio(ctx, 'direct-stdio', ctx.workload.bin, [...ctx.workload.args], ctx.workload.tool, 'none'),
  },
  'stdio-relay': {
    describe: (p, w) =>
      `a zero-parse byte relay (\`node dist/bench/relay.js\`) between the client and \`${serverCommand(p, w)}\`: the floor any stdio gateway process sits on`,
    start: (ctx) => {
      const relay = join(ctx.paths.root, 'dist', 'bench', 'relay.js');
      return attachStdio(ctx, 'stdio-relay', ctx.paths.node, [relay, ctx.workload.bin, ...ctx.workload.args], ctx.workload.tool, 'root');
    },
  },
  'stdio-parse-relay': {
    describe: (p, w) =>
      `a parsing relay (\`node dist/bench/parse-relay.js ${w.serverName}${SEPARATOR} …\`) between the client and \`${serverCommand(p, w)}\`: ` +
      'each client line parsed, its id and tool name replaced and serialized again, answers spliced unparsed: ' +
      'the least work any gateway that renames tools does, and no more (no sessions, routes or metrics)',
    start: (ctx) => {
      const relay = join(ctx.paths.root, 'dist', 'bench', 'parse-relay.js');
      const prefix = `${ctx.workload.serverName}${SEPARATOR}`;
      return attachStdio(ctx, 'stdio-parse-relay', ctx.paths.node, [relay, prefix, ctx.workload.bin, ...ctx.workload.args], `${prefix}${ctx.workload.tool}`, 'root');
    },
  },
  'orchestrator-http': {
    describe: (p) =>
      `\`node ${rel(p, p.cli)} run --config <tmp> --listen 127.0.0.1:<port>\`, endpoint \`/mcp\`, measured once \`GET /readyz\` answers 200`,
    start: async (ctx) => {
      const port = await freePort();
      const config = writeOrchestratorConfig(ctx, 'http');
      const proc = await spawnGroup(ctx.registry, ctx.paths.node, [
        ctx.paths.cli,
        'run',
        '--config',
        config,
        '--listen',
        `127.0.0.1:${port}`,
      ]);
      return attachHttp(ctx, 'orchestrator-http', proc, port, {
        ready: () => waitForHttp200(`http://127.0.0.1:${port}/readyz`, ctx.startTimeoutMs),
        tool: `${ctx.workload.serverName}${SEPARATOR}${ctx.workload.tool}`,
        isGateway: true,
      });
    },
  },
  'orchestrator-stdio': {
    describe: (p) =>
      `the SDK client spawns \`node ${rel(p, p.cli)} run --stdio --config <tmp> --listen 127.0.0.1:<port>\``,
    start: async (ctx) => {
      const port = await freePort();
      const config = writeOrchestratorConfig(ctx, 'stdio');
      const args = [ctx.paths.cli, 'run', '--stdio', '--config', config, '--listen', `127.0.0.1:${port}`];
      return attachStdio(ctx, 'orchestrator-stdio', ctx.paths.node, args, `${ctx.workload.serverName}${SEPARATOR}${ctx.workload.tool}`, 'cli');
    },
  },
  supergateway: {
    describe: (p, w) =>
      `\`node ${rel(p, p.supergatewayBin)} --stdio "${serverCommand(p, w)}" --outputTransport streamableHttp --stateful --port <port> --logLevel none --healthEndpoint /healthz\`. ` +
      'Stateful mode spawns one server per session (through `sh -c`, in a process group of its own) at `initialize`, ' +
      'and stops it on `DELETE`. `--logLevel none` because its default `info` prints every message; ' +
      'it has no host option, so bench/loopback.ts is preloaded to bind 127.0.0.1',
    start: async (ctx) => {
      const port = await freePort();
      const proc = await spawnGroup(
        ctx.registry,
        ctx.paths.node,
        [
          ctx.paths.supergatewayBin,
          '--stdio',
          [ctx.workload.bin, ...ctx.workload.args].join(' '),
          '--outputTransport',
          'streamableHttp',
          '--stateful',
          '--port',
          String(port),
          '--logLevel',
          'none',
          '--healthEndpoint',
          '/healthz',
        ],
        loopbackEnv(ctx),
      );
      return attachHttp(ctx, 'supergateway', proc, port, {
        ready: () => waitForHttp200(`http://127.0.0.1:${port}/healthz`, ctx.startTimeoutMs),
        tool: ctx.workload.tool,
        isGateway: true,
      });
    },
  },
  'mcp-proxy': {
    describe: (p, w) =>
      `\`node ${rel(p, p.mcpProxyBin)} --host 127.0.0.1 --port <port> --server stream -- ${serverCommand(p, w)}\`. ` +
      'One server, started with the proxy and shared by every session; `--server stream` turns off its SSE endpoint; ' +
      'its resumability event store and its 2026-07-28 protocol leg keep their defaults (on)',
    start: async (ctx) => {
      const port = await freePort();
      const proc = await spawnGroup(ctx.registry, ctx.paths.node, [
        ctx.paths.mcpProxyBin,
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--server',
        'stream',
        '--',
        ctx.workload.bin,
        ...ctx.workload.args,
      ]);
      // mcp-proxy connects to its server before it listens: an open port means ready.
      return attachHttp(ctx, 'mcp-proxy', proc, port, { ready: () => waitForPort(port, ctx.startTimeoutMs), tool: ctx.workload.tool, isGateway: true });
    },
  },
  'server-http': {
    describe: (p) =>
      `\`PORT=<port> ${rel(p, p.everythingBin)} streamableHttp\` (the server's own HTTP mode, no gateway: the second baseline). ` +
      'It logs a line to stdout for every request and has no host option (bench/loopback.ts is preloaded)',
    start: async (ctx) => {
      if (ctx.workload.bin !== ctx.paths.everythingBin) throw new Error('server-http runs server-everything only');
      const port = await freePort();
      const proc = await spawnGroup(ctx.registry, ctx.paths.everythingBin, ['streamableHttp'], {
        ...loopbackEnv(ctx),
        PORT: String(port),
      });
      return attachHttp(ctx, 'server-http', proc, port, { ready: () => waitForPort(port, ctx.startTimeoutMs), tool: ctx.workload.tool, isGateway: false });
    },
  },
};

/**
 * Once `proc` (listening on `port`) is ready: check it listens on loopback only, open a client
 * session on `/mcp` and wait for the workload's tool. On any failure the process is killed and
 * the error carries its last output.
 */
async function attachHttp(
  ctx: StartContext,
  name: TargetName,
  proc: Spawned,
  port: number,
  how: { ready: () => Promise<void>; tool: string; isGateway: boolean },
): Promise<Target> {
  try {
    await Promise.race([proc.died, how.ready()]);
    assertLoopback(port);
    const { client, close } = await Promise.race([proc.died, connectHttp(`http://127.0.0.1:${port}/mcp`)]);
    const toolName = await waitForTool(client, how.tool, ctx.startTimeoutMs);
    return finish(ctx, name, client, toolName, how.isGateway ? 'root' : 'none', proc.pid, close);
  } catch (error) {
    await killAll([proc.pid]);
    throw withOutput(error, proc.output);
  }
}

function serverCommand(paths: Paths, workload: Workload): string {
  return [rel(paths, workload.bin), ...workload.args].join(' ');
}

function rel(paths: Paths, file: string): string {
  return file.startsWith(`${paths.root}/`) ? file.slice(paths.root.length + 1) : file;
}

/**
 * Which process of a target's tree is the gateway: none (a baseline), the tree's root, or the
 * process running the orchestrator's CLI (the root itself through setsid; without it, its child).
 */
type GatewayProcess = 'none' | 'root' | 'cli';

/** Fills in the pids once the client session exists (supergateway spawns its server only then). */
function finish(
  ctx: StartContext,
  name: TargetName,
  client: Client,
  toolName: string,
  gatewayProcess: GatewayProcess,
  treeRoot: number,
  close: () => Promise<void>,
): Target {
  const tree = [treeRoot, ...descendants(treeRoot)];
  let gatewayPid: number | undefined;
  if (gatewayProcess === 'root') gatewayPid = treeRoot;
  if (gatewayProcess === 'cli') {
    gatewayPid = tree.find((pid) => readArgv(pid)?.includes(ctx.paths.cli));
    if (gatewayPid === undefined) throw new Error('cannot find the orchestrator process');
  }
  // The server itself: its program is the server's binary, run directly or by node (a gateway's
  // arguments that merely name the binary do not count).
  const servers = tree.filter((pid) => {
    const argv = readArgv(pid) ?? [];
    return argv[0] === ctx.workload.bin || (basename(argv[0] ?? '') === 'node' && argv[1] === ctx.workload.bin);
  });
  const notes = [
    `With one client session its process tree held ${tree.length} process${tree.length === 1 ? '' : 'es'}, ` +
      `${servers.length} of them running the server`,
  ];
  return { name, client, workload: ctx.workload, toolName, gatewayPid, treeRoot, notes, close };
}

/** A stdio target: the SDK client spawns `command`, and the target is up once `tool` is listed. */
async function attachStdio(ctx: StartContext, name: TargetName, command: string, args: string[], tool: string, gateway: GatewayProcess): Promise<Target> {
  const { client, pid, output } = await startStdio(ctx, command, args);
  try {
    const toolName = await waitForTool(client, tool, ctx.startTimeoutMs);
    return finish(ctx, name, client, toolName, gateway, pid, () => client.close());
  } catch (error) {
    await killAll([pid]);
    throw withOutput(error, output);
  }
}

async function startStdio(
  ctx: StartContext,
  command: string,
  args: string[],
): Promise<{ client: Client; pid: number; output: RingBuffer }> {
  const output = new RingBuffer();
  const transport = new StdioClientTransport({
    command: ctx.haveSetsid ? 'setsid' : command,
    args: ctx.haveSetsid ? [command, ...args] : args,
    env: stringEnv(process.env),
    stderr: 'pipe',
  });
  output.drain(transport.stderr as Readable | null);
  const client = new Client(CLIENT_INFO, { capabilities: {} });
  const connected = client.connect(transport, { timeout: ctx.startTimeoutMs });
  // pid exists as soon as the process is spawned, before the handshake finishes.
  await sleep(0);
  ctx.registry.add(transport.pid);
  try {
    await connected;
  } catch (error) {
    ctx.registry.add(transport.pid);
    if (transport.pid !== null) await killAll([transport.pid]);
    throw withOutput(error, output);
  }
  ctx.registry.add(transport.pid);
  const pid = transport.pid;
  if (pid === null) throw new Error('stdio transport has no pid after connecting');
  return { client, pid, output };
}

/**
 * fetch, minus the session's AbortSignal on POSTs. The SDK passes one signal to every request
 * of a session and undici removes its listener from it only when the Request is garbage
 * collected, so over thousands of calls the list grows (each add scans it, and past 1500 every
 * call prints a warning): the client would slow down as the bench goes on. The SSE GET keeps
 * the signal so close() still ends it; a POST is over by the time the bench closes.
 */
const fetchWithoutSessionSignal = (input: string | URL, init?: RequestInit): Promise<Response> => {
  if (init?.method !== 'POST' || init.signal === undefined) return fetch(input, init);
  const { signal: _signal, ...rest } = init;
  return fetch(input, rest);
};

async function connectHttp(url: string): Promise<{ client: Client; close: () => Promise<void> }> {
  const transport = new StreamableHTTPClientTransport(new URL(url), { fetch: fetchWithoutSessionSignal });
  const client = new Client(CLIENT_INFO, { capabilities: {} });
  await client.connect(transport);
  const close = async (): Promise<void> => {
    // DELETE the session first, as a well-behaved client does; a gateway that refuses is not fatal.
    await Promise.race([transport.terminateSession().catch(() => {}), sleep(2000)]);
    await client.close().catch(() => {});
  };
  return { client, close };
}

/** Try `attempt` every `intervalMs` until it gives a value; past `timeoutMs`, throw `failure()`. */
async function poll<T>(attempt: () => Promise<T | undefined>, timeoutMs: number, intervalMs: number, failure: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await attempt();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(failure());
    await sleep(intervalMs);
  }
}

async function waitForTool(client: Client, wanted: string, timeoutMs: number): Promise<string> {
  let names: string[] = [];
  return poll(
    async () => {
      names = (await client.listTools()).tools.map((t) => t.name);
      return names.includes(wanted) ? wanted : undefined;
    },
    timeoutMs,
    250,
    () => `tools/list has no "${wanted}" after ${timeoutMs} ms; it lists: ${names.slice(0, 20).join(', ') || '(nothing)'}`,
  );
}

async function waitForHttp200(url: string, timeoutMs: number): Promise<void> {
  let last = 'no answer';
  await poll(
    async () => {
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
        await response.arrayBuffer();
        if (response.status === 200) return true;
        last = `HTTP ${response.status}`;
      } catch (error) {
        last = errorMessage(error);
      }
      return undefined;
    },
    timeoutMs,
    200,
    () => `${url} not 200 within ${timeoutMs} ms (last: ${last})`,
  );
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const connects = () =>
    new Promise<true | undefined>((resolve) => {
      const socket = tcpConnect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(undefined));
    });
  await poll(connects, timeoutMs, 150, () => `nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

function assertLoopback(port: number): void {
  const outside = listeningAddresses(port).filter((address) => !isLoopback(address));
  if (outside.length > 0) throw new Error(`listens beyond loopback on port ${port}: ${outside.join(', ')}`);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function writeOrchestratorConfig(ctx: StartContext, flavour: string): string {
  const file = join(ctx.tmpDir, `orchestrator-${flavour}-${ctx.workload.serverName}.toml`);
  writeFileSync(
    file,
    [
      '[[server]]',
      `name = ${JSON.stringify(ctx.workload.serverName)}`,
      `command = ${JSON.stringify([ctx.workload.bin, ...ctx.workload.args])}`,
      'transport = "stdio"',
      '',
    ].join('\n'),
  );
  return file;
}

function loopbackEnv(ctx: StartContext): NodeJS.ProcessEnv {
  const preload = `--import=${pathToFileURL(ctx.paths.loopbackPreload).href}`;
  const existing = process.env.NODE_OPTIONS;
  return { ...process.env, NODE_OPTIONS: existing ? `${existing} ${preload}` : preload };
}

function stringEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined) out[key] = value;
  return out;
}

function withOutput(error: unknown, output: RingBuffer): Error {
  const message = errorMessage(error);
  const tail = output.tail();
  if (tail === '' || message.includes(tail)) return error instanceof Error ? error : new Error(message);
  return new Error(`${message}\nlast output:\n${tail}`, { cause: error });
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
