/**
 * The aggregated MCP endpoint with real servers from npm (server-everything, server-memory,
 * server-filesystem) and an SDK-built fixture, driven by the official SDK client over Streamable
 * HTTP, over `run --stdio`, and through `connect`.
 */
import { mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ToolListChangedNotificationSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { atomicSave } from '../helpers/editors.js';
import { makeRepoFromRevisions } from '../helpers/gitrepos.js';
import { byName, CLI, startCli, trackedEnv, type RunningOrchestrator, STEADY, useScratch } from '../helpers/orchestrator.js';
import { isPidAlive } from '../helpers/pids.js';
import { waitFor } from '../helpers/wait.js';
import type { ServerStatus } from '../../src/reconcile/status.js';

const BIN = fileURLToPath(new URL('../../node_modules/.bin/', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../fixtures/gateway/sdk-server.mjs', import.meta.url));
const STEADY_SOURCE = fileURLToPath(new URL('../fixtures/e2e/steady.js', import.meta.url));

const scratch = useScratch('mcpo-gw-');
const clients: Client[] = [];

// Registered after useScratch, so it runs first: clients close before their orchestrator stops.
afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.close()));
});

const stdio = (name: string, command: string[], extra = '') =>
  `[[server]]\nname = "${name}"\ncommand = ${JSON.stringify(command)}\ntransport = "stdio"\nstartup_timeout = "30s"\n${extra}\n`;

async function threeServers(): Promise<{ file: string; files: string }> {
  const files = join(scratch.dir, 'files');
  await mkdir(files);
  await writeFile(join(files, 'hello.txt'), 'hello from the filesystem server\n');
  const file = scratch.file;
  await writeFile(
    file,
    `[orchestrator]\nshutdown_grace = "3s"\n\n` +
      stdio('everything', [join(BIN, 'mcp-server-everything'), 'stdio']) +
      stdio('memory', [join(BIN, 'mcp-server-memory')], `env = { MEMORY_FILE_PATH = "${join(scratch.dir, 'memory.jsonl')}" }`) +
      stdio('filesystem', [join(BIN, 'mcp-server-filesystem'), files]),
  );
  return { file, files };
}

/**
 * Run `call` back to back on `parallel` lanes until stopped, at most 60 s: a failed assertion
 * elsewhere must never leave a loop running.
 */
function callLoop(call: () => Promise<void>, parallel = 1): { stop(): Promise<void> } {
  let stopped = false;
  const deadline = Date.now() + 60_000;
  const lanes = Array.from({ length: parallel }, async () => {
    while (!stopped && Date.now() < deadline) await call();
  });
  return {
    stop: async () => {
      stopped = true;
      await Promise.all(lanes);
    },
  };
}

/**
 * `callLoop` that counts its calls and those that threw, handing each answer to `seen`: the
 * zero-failure checks of a replacement.
 */
function countedLoop<T>(call: () => Promise<T>, seen: (answer: T) => void, parallel: number): { counts: { calls: number; failures: number }; stop(): Promise<void> } {
  const counts = { calls: 0, failures: 0 };
  const loop = callLoop(async () => {
    counts.calls++;
    try {
      seen(await call());
    } catch {
      counts.failures++;
    }
  }, parallel);
  return { counts, stop: () => loop.stop() };
}

/** Wait until `name` runs and serves from a process other than `previous`, with no replacement pending. */
async function replacedFrom(orch: RunningOrchestrator, name: string, previous: number | null, what: string): Promise<ServerStatus> {
  const status = await orch.until((s) => byName(s, name)?.pid !== previous && byName(s, name)?.state === 'running' && !byName(s, name)!.replacement, what, 30_000);
  return byName(status, name)!;
}

function text(result: unknown): string {
  return ((result as CallToolResult).content ?? []).map((c) => (c.type === 'text' ? c.text : '')).join('');
}

async function httpClient(orch: RunningOrchestrator, path = '/mcp', capabilities: Record<string, unknown> = {}): Promise<Client> {
  const client = new Client({ name: 'e2e', version: '1.0.0' }, { capabilities });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${orch.url}${path}`)));
  clients.push(client);
  return client;
}

/** The same listing-and-calling checks for every front end. */
async function listAndCall(client: Client, files: string): Promise<void> {
  const names = await waitFor(
    async () => {
      const tools = (await client.listTools()).tools.map((t) => t.name);
      return ['everything_', 'memory_', 'filesystem_'].every((p) => tools.some((t) => t.startsWith(p))) ? tools : undefined;
    },
    { timeoutMs: 30_000, message: 'tools of all three servers listed' },
  );
  expect(names).toContain('everything_echo');
  expect(names).toContain('memory_read_graph');
  expect(names).toContain('filesystem_read_text_file');
  expect(names.every((n) => /^(everything|memory|filesystem)_[A-Za-z0-9_.-]+$/.test(n) && n.length <= 64)).toBe(true);

  expect(text(await client.callTool({ name: 'everything_echo', arguments: { message: 'hi there' } }))).toContain('hi there');
  await client.callTool({ name: 'memory_create_entities', arguments: { entities: [{ name: 'orchestrator', entityType: 'tool', observations: ['aggregates servers'] }] } });
  expect(text(await client.callTool({ name: 'memory_read_graph', arguments: {} }))).toContain('aggregates servers');
  expect(text(await client.callTool({ name: 'filesystem_read_text_file', arguments: { path: join(files, 'hello.txt') } }))).toContain('hello from the filesystem server');

  const resources = (await client.listResources()).resources;
  const resource = resources.find((r) => r.uri.startsWith('demo://'));
  expect(resource).toBeDefined();
  const read = await client.readResource({ uri: resource!.uri });
  expect(read.contents[0]?.uri).toBe(resource!.uri);

  const prompts = (await client.listPrompts()).prompts.map((p) => p.name);
  expect(prompts).toContain('everything_simple-prompt');
  const prompt = await client.getPrompt({ name: 'everything_simple-prompt' });
  expect(prompt.messages.length).toBeGreaterThan(0);
}

describe('gateway over Streamable HTTP', () => {
  it("serves every server's tools, resources and prompts in one session", async () => {
    const { file, files } = await threeServers();
    const orch = await startCli(file);
    await orch.until((s) => s.servers.every((x) => x.state === 'running') && s.servers.length === 3, 'three servers ready', 60_000);
    const client = await httpClient(orch);
    await listAndCall(client, files);

    const unknown = await client.callTool({ name: 'nobody_nothing', arguments: {} }).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(unknown?.message).toContain('unknown tool "nobody_nothing"');

    // One server's own endpoint, its names unprefixed.
    const one = await httpClient(orch, '/servers/everything/mcp');
    const own = (await one.listTools()).tools.map((t) => t.name);
    expect(own).toContain('echo');
    expect(text(await one.callTool({ name: 'echo', arguments: { message: 'direct' } }))).toContain('direct');
  });

  it('relays progress, cancellation and sampling, and announces list changes', async () => {
    const events = join(scratch.dir, 'events.log');
    const file = scratch.file;
    const base = `[orchestrator]\nshutdown_grace = "3s"\n\n` + stdio('everything', [join(BIN, 'mcp-server-everything'), 'stdio']);
    const fixture = stdio('fixture', [process.execPath, FIXTURE], `env = { EVENT_LOG = "${events}" }`);
    await writeFile(file, base + fixture);
    const orch = await startCli(file);
    await orch.until((s) => s.servers.every((x) => x.state === 'running') && s.servers.length === 2, 'both ready', 60_000);

    const client = await httpClient(orch, '/mcp', { sampling: {} });
    const changes: string[] = [];
    client.setNotificationHandler(ToolListChangedNotificationSchema, async () => {
      changes.push('tools');
    });
    client.setRequestHandler(CreateMessageRequestSchema, async (request) => ({
      model: 'e2e-model',
      role: 'assistant',
      content: { type: 'text', text: `sampled: ${JSON.stringify(request.params.messages[0]?.content)}` },
    }));

    // Progress, under the client's own token.
    const progress: number[] = [];
    const long = await client.callTool(
      { name: 'everything_trigger-long-running-operation', arguments: { duration: 1, steps: 4 } },
      undefined,
      { onprogress: (p) => progress.push(p.progress), timeout: 20_000 },
    );
    expect(text(long)).toContain('Long running operation completed');
    expect(progress).toEqual([1, 2, 3, 4]);

    // Sampling: the server asks, this client answers, the answer goes back into the tool's result.
    const tools = await waitFor(async () => {
      const names = (await client.listTools()).tools.map((t) => t.name);
      return names.includes('everything_trigger-sampling-request') ? names : undefined;
    }, { timeoutMs: 10_000, message: 'sampling tool listed' });
    expect(tools).toContain('everything_trigger-sampling-request');
    const sampled = await client.callTool({ name: 'everything_trigger-sampling-request', arguments: { prompt: 'ping', maxTokens: 5 } }, undefined, { timeout: 20_000 });
    expect(text(sampled)).toContain('sampled:');
    expect(text(sampled)).toContain('e2e-model');

    // A cancel from the client stops the server's call.
    const abort = new AbortController();
    const slow = client.callTool({ name: 'fixture_slow', arguments: {} }, undefined, {
      signal: abort.signal,
      onprogress: () => abort.abort('enough'),
    });
    await expect(slow).rejects.toThrow();
    await waitFor(async () => (await readFile(events, 'utf8')).includes('CANCELLED'), { timeoutMs: 15_000, message: 'server saw the cancel' });
    expect(await readFile(events, 'utf8')).not.toContain('FINISHED');

    // list_changed when a server is added to the config, and when one is removed.
    const extra = stdio('extra', [process.execPath, FIXTURE]);
    await atomicSave(file, base + fixture + extra);
    const beforeAdd = changes.length;
    await waitFor(async () => (await client.listTools()).tools.some((t) => t.name === 'extra_whoami'), { timeoutMs: 30_000, message: 'extra listed' });
    await waitFor(() => changes.length > beforeAdd, { timeoutMs: 15_000, message: 'list_changed after adding' });
    const afterAdd = changes.length;
    await atomicSave(file, base + fixture);
    // Other servers announce changes of their own too: wait for the removal itself, then for its notice.
    await waitFor(async () => !(await client.listTools()).tools.some((t) => t.name.startsWith('extra_')), { timeoutMs: 15_000, message: 'extra unlisted' });
    await waitFor(() => changes.length > afterAdd, { timeoutMs: 15_000, message: 'list_changed after removing' });
  });

  it('keeps the session through a crash: calls fail clearly while the server is down, then work again', async () => {
    const file = scratch.file;
    await writeFile(
      file,
      stdio('victim', [process.execPath, FIXTURE]) + stdio('bystander', [process.execPath, FIXTURE]),
    );
    const orch = await startCli(file);
    const before = await orch.until((s) => s.servers.every((x) => x.state === 'running') && s.servers.length === 2, 'both ready', 30_000);
    const client = await httpClient(orch);
    const victimPid = JSON.parse(text(await client.callTool({ name: 'victim_whoami', arguments: {} }))).pid as number;
    expect(victimPid).toBe(byName(before, 'victim')!.pid);

    let bystanderFailures = 0;
    let bystanderCalls = 0;
    const loop = callLoop(async () => {
      bystanderCalls++;
      await client.callTool({ name: 'bystander_whoami', arguments: {} }).catch(() => bystanderFailures++);
    });
    try {
    process.kill(victimPid, 'SIGKILL');
    await orch.until((s) => byName(s, 'victim')?.state !== 'running', 'victim seen down', 10_000);
    const down = await client.callTool({ name: 'victim_whoami', arguments: {} }).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(down?.message).toMatch(/server "victim" is not ready: it is (in backoff|still starting)/);
    expect(down?.message).toMatch(/process killed by SIGKILL|next retry/);

    await orch.until((s) => byName(s, 'victim')?.state === 'running' && byName(s, 'victim')!.pid !== victimPid, 'victim restarted', 30_000);
    const again = await waitFor(
      async () => JSON.parse(text(await client.callTool({ name: 'victim_whoami', arguments: {} }))).pid as number,
      { timeoutMs: 10_000, message: 'victim answers again' },
    );
    expect(again).not.toBe(victimPid);
    } finally {
      await loop.stop();
    }
    expect(bystanderCalls).toBeGreaterThan(10);
    expect(bystanderFailures).toBe(0);
  });

  it("explains a call to a server that has never been ready, instead of calling its tool unknown", async () => {
    const file = scratch.file;
    await writeFile(file, stdio('broken', [process.execPath, '-e', 'process.exit(1)']) + stdio('fine', [process.execPath, FIXTURE]));
    const orch = await startCli(file);
    await orch.until((s) => byName(s, 'fine')?.state === 'running' && (byName(s, 'broken')?.restarts ?? 0) >= 1, 'fine ready, broken retried', 30_000);
    const client = await httpClient(orch);
    const refused = await client.callTool({ name: 'broken_anything', arguments: {} }).then(
      () => undefined,
      (error: Error & { code?: number }) => error,
    );
    expect(refused?.code).toBe(-32001);
    expect(refused?.message).toMatch(/server "broken" is not ready: it is (in backoff after "process exited with code 1"|still starting)/);
    // A name no configured server could own is still unknown.
    const unknown = await client.callTool({ name: 'nobody_anything', arguments: {} }).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(unknown?.message).toContain('unknown tool "nobody_anything"');
  });

  it('a client connecting at start waits for initialize at most startup_wait, and a server scope only for its server', async () => {
    const hung = [process.execPath, '-e', 'setInterval(() => {}, 1000)'];
    const config = (wait: string) => `[gateway]\nstartup_wait = "${wait}"\n\n` + stdio('hung', hung) + stdio('fine', [process.execPath, FIXTURE]);

    // A server that never completes its handshake holds the aggregate's initialize only that long.
    await writeFile(scratch.file, config('1s'));
    const orch = await startCli(scratch.file);
    const client = await httpClient(orch);
    await waitFor(() => orch.logs.some((l) => l.msg.startsWith('startup_wait is over') && JSON.stringify(l.starting) === '["hung"]'), { message: 'the wait logged as over' });
    expect(byName(await orch.status(), 'hung')?.state).toBe('starting');
    const listed = (await client.listTools()).tools.map((t) => t.name);
    expect(listed).toContain('fine_whoami');
    expect(listed.filter((t) => t.startsWith('hung_'))).toEqual([]);
    await orch.stop();

    // One server's endpoint waits for that server alone: answered long before the aggregate's wait.
    await writeFile(scratch.file, config('30s'));
    const again = await startCli(scratch.file);
    const began = Date.now();
    const scoped = await httpClient(again, '/servers/fine/mcp');
    expect(Date.now() - began).toBeLessThan(15_000);
    expect((await scoped.listTools()).tools.map((t) => t.name)).toContain('whoami');
    expect(byName(await again.status(), 'hung')?.state).toBe('starting');
  });

  it('a spec edited during the start-up wait holds initialize until the new instance is up, not just the old one stopped', async () => {
    // Slow to start: the first instance is still starting when the edit replaces it.
    const slow = [process.execPath, '-e', `setTimeout(() => import(${JSON.stringify(STEADY_SOURCE)}), 2000)`];
    const config = (mode: string) => `[gateway]\nstartup_wait = "30s"\n\n` + stdio('slow', slow, `env = { MODE = "${mode}" }`);
    await writeFile(scratch.file, config('first'));
    const orch = await startCli(scratch.file);
    const connecting = httpClient(orch);
    await atomicSave(scratch.file, config('second'));
    const client = await connecting;
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('slow_whoami');
    expect(text(await client.callTool({ name: 'slow_whoami', arguments: {} }))).toMatch(/ second$/);
  });

  it('replaces a stdio server whose env changed with zero failed calls', async () => {
    const file = scratch.file;
    const config = (mode: string) => `[orchestrator]\nshutdown_grace = "3s"\n\n` + stdio('fixture', [process.execPath, FIXTURE], `env = { MODE = "${mode}" }`);
    await writeFile(file, config('old'));
    const orch = await startCli(file);
    await orch.until((s) => byName(s, 'fixture')?.state === 'running', 'ready', 30_000);
    const client = await httpClient(orch);
    const first = JSON.parse(text(await client.callTool({ name: 'fixture_whoami', arguments: {} }))) as { pid: number; mode: string };
    expect(first.mode).toBe('old');

    const seen = new Set<string>();
    const loop = countedLoop(
      async () => JSON.parse(text(await client.callTool({ name: 'fixture_whoami', arguments: {} }))) as { pid: number; mode: string },
      (who) => seen.add(`${who.pid}:${who.mode}`),
      4,
    );
    let after: ServerStatus;
    try {
      await atomicSave(file, config('new'));
      after = await replacedFrom(orch, 'fixture', first.pid, 'replaced');
      await waitFor(() => [...seen].some((s) => s.endsWith(':new')), { timeoutMs: 15_000, message: 'calls reach the new instance' });
    } finally {
      await loop.stop();
    }

    expect(loop.counts.failures).toBe(0);
    expect(loop.counts.calls).toBeGreaterThan(20);
    expect(after.pid).not.toBe(first.pid);
    await waitFor(() => !isPidAlive(first.pid), { timeoutMs: 10_000, message: 'old instance gone' });
    expect(seen).toContain(`${first.pid}:old`);
    expect(seen).toContain(`${after.pid}:new`);
  });

  it('moves a stdio server from git to a new ref with zero failed calls, and keeps it serving through a ref that does not exist', async () => {
    // Each tag's server says its version: `whoami` answers "steady PID TAG".
    const steady = await readFile(STEADY_SOURCE, 'utf8');
    const repo = makeRepoFromRevisions(scratch.dir, 'versioned', [
      { tag: 'v1', files: { 'server.js': `process.env.MODE = 'v1';\n${steady}` } },
      { tag: 'v2', files: { 'server.js': `process.env.MODE = 'v2';\n${steady}` } },
    ]);
    const file = scratch.file;
    const config = (ref: string, install = 'none') =>
      `[orchestrator]\nrepos_dir = "repos"\nshutdown_grace = "3s"\n\n[[server]]\nrepo = "${repo.url}"\nref = "${ref}"\ncommand = ["${process.execPath}", "server.js"]\ntransport = "stdio"\ninstall = ${JSON.stringify(install)}\n`;
    const repos = join(scratch.dir, 'repos');
    await writeFile(file, config('v1'));
    const orch = await startCli(file);
    const first = byName(await orch.until((s) => byName(s, 'versioned')?.state === 'running', 'v1 ready', 30_000), 'versioned')!;
    expect(await readlink(`/proc/${first.pid}/cwd`)).toBe(join(repos, 'versioned'));
    const client = await httpClient(orch);
    const whoami = async () => text(await client.callTool({ name: 'versioned_whoami', arguments: {} })).split(' ');
    expect(await whoami()).toEqual(['steady', String(first.pid), 'v1']);

    const versions = new Set<string>();
    const loop = countedLoop(whoami, (who) => versions.add(who[2] ?? ''), 4);
    let second: ServerStatus;
    try {
      await atomicSave(file, config('v2'));
      second = await replacedFrom(orch, 'versioned', first.pid, 'v2 serving');
      await waitFor(() => versions.has('v2'), { timeoutMs: 15_000, message: 'calls reach v2' });
    } finally {
      await loop.stop();
    }
    expect(loop.counts.failures).toBe(0);
    expect(loop.counts.calls).toBeGreaterThan(20);
    expect(versions).toEqual(new Set(['v1', 'v2']));
    // Built beside the one serving, in the server's second checkout folder; status says what runs.
    expect(await readlink(`/proc/${second.pid}/cwd`)).toBe(join(repos, 'versioned.alt'));
    expect(second).toMatchObject({ ref: 'v2', commit: repo.commits.v2 });
    await waitFor(() => !isPidAlive(first.pid!), { timeoutMs: 10_000, message: 'the v1 instance gone' });

    // A typo in the ref: the successor cannot be checked out, and v2 keeps serving meanwhile.
    await atomicSave(file, config('v2-typo'));
    const broken = byName(await orch.until((s) => byName(s, 'versioned')?.replacement?.state === 'backoff', 'the successor in backoff', 30_000), 'versioned')!;
    expect(broken.replacement).toMatchObject({ ref: 'v2-typo', commit: null });
    expect(broken.replacement!.lastError).toMatch(/v2-typo/);
    expect(broken.pid).toBe(second.pid);
    expect(await whoami()).toEqual(['steady', String(second.pid), 'v2']);

    // Back to v1, in the folder that still holds it.
    await atomicSave(file, config('v1'));
    const third = await replacedFrom(orch, 'versioned', second.pid, 'back on v1');
    expect(await readlink(`/proc/${third.pid}/cwd`)).toBe(join(repos, 'versioned'));
    expect(await whoami()).toEqual(['steady', String(third.pid), 'v1']);

    // A new install alone: a failing one leaves v1 serving; a good one runs the same commit beside it.
    await atomicSave(file, config('v1', 'exit 3'));
    const failing = byName(await orch.until((s) => byName(s, 'versioned')?.replacement?.state === 'backoff', 'the install fails', 30_000), 'versioned')!;
    expect(failing.replacement!.lastError).toMatch(/exit 3|code 3/);
    expect(await whoami()).toEqual(['steady', String(third.pid), 'v1']);
    await atomicSave(file, config('v1', 'true'));
    const fourth = await replacedFrom(orch, 'versioned', third.pid, 'reinstalled');
    expect(fourth).toMatchObject({ ref: 'v1', commit: repo.commits.v1 });
    expect(await readlink(`/proc/${fourth.pid}/cwd`)).toBe(join(repos, 'versioned.alt'));
    expect(await whoami()).toEqual(['steady', String(fourth.pid), 'v1']);
  });
});

describe('gateway edges', () => {
  const FOREVER = fileURLToPath(new URL('../fixtures/servers/forever.js', import.meta.url));

  it('logs a non-JSON line on a stdio server\'s stdout as its output, and serves it anyway', async () => {
    const file = scratch.file;
    await writeFile(file, stdio('chatty', [process.execPath, STEADY], 'env = { BANNER = "Welcome to chatty v1 (not JSON)" }'));
    const orch = await startCli(file);
    await orch.until((s) => byName(s, 'chatty')?.state === 'running', 'running despite the banner');
    const logs = await orch.api<{ lines: { stream: string; line: string }[] }>('/api/servers/chatty/logs');
    expect(logs.body.lines).toContainEqual(expect.objectContaining({ stream: 'stdout', line: 'Welcome to chatty v1 (not JSON)' }));
    const client = await httpClient(orch);
    expect(text(await client.callTool({ name: 'chatty_whoami', arguments: {} }))).toContain('steady');
  });

  it('a stdio server that never completes the handshake goes to backoff with a readable error', async () => {
    const file = scratch.file;
    await writeFile(file, `[[server]]\nname = "mute"\ncommand = ["${process.execPath}", "${FOREVER}"]\ntransport = "stdio"\nstartup_timeout = "1s"\n`);
    const orch = await startCli(file);
    const status = await orch.until((s) => byName(s, 'mute')?.state === 'backoff', 'backoff after the timeout', 15_000);
    expect(byName(status, 'mute')!.lastError).toBe('not ready within startup_timeout (1s)');
  });

  it('applies a server\'s tools allow/deny filter to listing and calling', async () => {
    const file = scratch.file;
    await writeFile(file, stdio('fixture', [process.execPath, FIXTURE], 'tools = { allow = ["who*", "slow"], deny = ["slow"] }'));
    const orch = await startCli(file);
    await orch.until((s) => byName(s, 'fixture')?.state === 'running', 'running');
    const client = await httpClient(orch);
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(['fixture_whoami']);
    const denied = await client.callTool({ name: 'fixture_slow', arguments: {} }).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(denied?.message).toContain('unknown tool "fixture_slow"');
  });
});

describe('gateway over stdio', () => {
  it('run --stdio passes the listing-and-calling test, with nothing but JSON-RPC on stdout', async () => {
    const { file, files } = await threeServers();
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'run', '--stdio', '--config', file, '--listen', '127.0.0.1:0'],
      env: trackedEnv(),
      stderr: 'pipe',
    });
    const client = new Client({ name: 'e2e-stdio', version: '1.0.0' });
    clients.push(client);
    const errors: Error[] = [];
    client.onerror = (error) => errors.push(error);
    await client.connect(transport);
    // Connected as the orchestrator started: initialize waited for the servers, so the very
    // first listing, as a client that lists once would make it, holds every server's tools.
    const first = (await client.listTools()).tools.map((t) => t.name);
    expect(['everything_echo', 'memory_read_graph', 'filesystem_read_text_file'].filter((t) => !first.includes(t))).toEqual([]);
    await listAndCall(client, files);
    // A stray non-JSON line on stdout would have surfaced here as a parse error.
    expect(errors).toEqual([]);
    const pid = transport.pid!;
    await client.close();
    await waitFor(() => !isPidAlive(pid), { timeoutMs: 15_000, message: 'orchestrator exits when stdin closes' });
  });

  it('connect passes the listing-and-calling test against a running orchestrator, given its /mcp URL as a client config has it', async () => {
    const { file, files } = await threeServers();
    const orch = await startCli(file);
    await orch.until((s) => s.servers.every((x) => x.state === 'running') && s.servers.length === 3, 'three servers ready', 60_000);
    const client = new Client({ name: 'e2e-connect', version: '1.0.0' });
    clients.push(client);
    await client.connect(new StdioClientTransport({ command: process.execPath, args: [CLI, 'connect', '--url', `${orch.url}/mcp`], stderr: 'pipe' }));
    await listAndCall(client, files);
  });
});

describe('gateway security', () => {
  it('off loopback: 401 without the token, 403 for a foreign Origin, 200 with the token', async () => {
    const file = scratch.file;
    await writeFile(file, stdio('fixture', [process.execPath, FIXTURE]));
    // Bound to every interface, reached over loopback only.
    const orch = await startCli(file, { args: ['--listen', '0.0.0.0:0'], env: { MCP_ORCHESTRATOR_TOKEN: '' } });
    const generated = orch.logs.find((l) => typeof l.msg === 'string' && l.msg.includes('generated one for this run'));
    const token = /run: (\S+)/.exec(String(generated?.msg))?.[1];
    expect(token).toBeDefined();
    const url = orch.url.replace('0.0.0.0', '127.0.0.1').replace('[::]', '127.0.0.1');
    const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } };
    const post = (headers: Record<string, string>) =>
      fetch(`${url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: JSON.stringify(initialize) });
    expect((await post({})).status).toBe(401);
    expect((await post({ authorization: 'Bearer nope' })).status).toBe(401);
    expect((await post({ authorization: `Bearer ${token}`, origin: 'http://evil.example' })).status).toBe(403);
    const ok = await post({ authorization: `Bearer ${token}` });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('mcp-session-id')).toBeTruthy();
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('refuses an oversized body with 413 and answers a malformed one with a JSON-RPC parse error', async () => {
    const file = scratch.file;
    await writeFile(file, stdio('fixture', [process.execPath, FIXTURE]));
    const orch = await startCli(file);
    const big = await fetch(`${orch.url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(5 * 1024 * 1024) });
    expect(big.status).toBe(413);
    const bad = await fetch(`${orch.url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: number } }).error.code).toBe(-32700);
    const noSession = await fetch(`${orch.url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) });
    expect(noSession.status).toBe(400);
  });
});
