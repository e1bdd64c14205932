/**
 * The JSON-RPC 2.0 control door as a protocol: raw bodies over real HTTP listeners, against fake
 * control actions (no processes).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ActionError, type ControlActions, type ReloadResult } from '../../src/control/actions.js';
import { startHttpServer, type RunningHttpServer } from '../../src/control/http.js';
import { JsonRpcHandler, jsonRpcRoutes, RPC_METHODS, startJsonRpcServer } from '../../src/control/jsonrpc.js';
import { silentLogger } from '../../src/log.js';
import type { OrchestratorStatus, ServerStatus } from '../../src/reconcile/status.js';
import { serverStatus } from '../helpers/status.js';
import { waitFor } from '../helpers/wait.js';

interface RpcAnswer {
  jsonrpc: string;
  id: string | number | null;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

function statusOf(name: string, state: ServerStatus['state'] = 'running'): ServerStatus {
  const running = state === 'running';
  return serverStatus({ name, state, ready: running, pid: running ? 4242 : null });
}

/** Control actions over a fixed set of servers, recording what was asked. */
function fakeActions() {
  const calls: string[] = [];
  const exits: number[] = [];
  let shutdowns = 0;
  let releaseShutdown: (() => void) | undefined;
  const servers = new Map([
    ['alpha', statusOf('alpha')],
    ['beta', statusOf('beta', 'stopped')],
  ]);
  const known = (name: string) => {
    const status = servers.get(name);
    if (!status) throw new ActionError('not-found', `no server named "${name}" in the config; GET /api/servers lists them`);
    return status;
  };
  const actions: ControlActions = {
    version: '9.8.7',
    list: (): OrchestratorStatus => ({
      generation: 3,
      observedGeneration: 3,
      configFile: '/tmp/mcp_config.toml',
      configError: null,
      configIssues: [],
      servers: [...servers.values()],
    }),
    server: (name) => known(name),
    start: (name) => {
      const status = known(name);
      if (status.state === 'running') throw new ActionError('conflict', `"${name}" is already running; use restart to start it again`);
      calls.push(`start ${name}`);
      return { ...status, state: 'pending' };
    },
    stop: (name) => {
      calls.push(`stop ${name}`);
      return { ...known(name), state: 'stopping' };
    },
    restart: (name) => {
      if (name === 'explode') throw new Error('secret internal detail at /home/x');
      calls.push(`restart ${name}`);
      return known(name);
    },
    reload: (): Promise<ReloadResult> => {
      calls.push('reload');
      return Promise.resolve({ changed: true, accepted: true, generation: 4, error: null });
    },
    config: () => null,
    shutdown: () => {
      shutdowns += 1;
      calls.push('shutdown');
      // Held open until the test releases it, when it wants to see an in-flight shutdown.
      return new Promise<void>((resolve) => {
        releaseShutdown = resolve;
        if (!holdShutdown) resolve();
      });
    },
    exit: (code) => void exits.push(code),
  };
  let holdShutdown = false;
  return {
    actions,
    calls,
    exits,
    shutdowns: () => shutdowns,
    hold: () => (holdShutdown = true),
    release: () => releaseShutdown?.(),
  };
}

const open: RunningHttpServer[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function setup() {
  const fake = fakeActions();
  const handler = new JsonRpcHandler(fake.actions, silentLogger());
  const server = await startHttpServer({ host: '127.0.0.1', port: 0, routes: jsonRpcRoutes(handler), access: { loopbackOnly: true }, log: silentLogger() });
  open.push(server);
  const post = async (body: string, path = '/rpc') => {
    const res = await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const text = await res.text();
    return { status: res.status, contentType: res.headers.get('content-type'), text, json: text === '' ? undefined : (JSON.parse(text) as unknown) };
  };
  /** One request; its answer object. */
  const rpc = async (method: string, params?: unknown, id: string | number = 1) => {
    const res = await post(JSON.stringify({ jsonrpc: '2.0', id, method, ...(params !== undefined ? { params } : {}) }));
    expect(res.status).toBe(200);
    return res.json as RpcAnswer;
  };
  return { ...fake, handler, server, post, rpc };
}

describe('JSON-RPC over POST /rpc: errors from malformed requests', () => {
  it.each([
    { name: 'a body that is not JSON', body: '{', code: -32700, id: null },
    { name: 'an empty body', body: '', code: -32700, id: null },
    { name: 'an empty batch', body: '[]', code: -32600, id: null },
    { name: 'jsonrpc "1.0"', body: '{"jsonrpc":"1.0","id":1,"method":"x"}', code: -32600, id: 1 },
    { name: 'jsonrpc missing', body: '{"id":2,"method":"initialize"}', code: -32600, id: 2 },
    { name: 'an object id', body: '{"jsonrpc":"2.0","id":{},"method":"initialize"}', code: -32600, id: null },
    { name: 'a boolean id', body: '{"jsonrpc":"2.0","id":true,"method":"initialize"}', code: -32600, id: null },
    { name: 'a method that is not a string', body: '{"jsonrpc":"2.0","id":3,"method":1,"params":"bar"}', code: -32600, id: 3 },
    { name: 'params that are not structured', body: '{"jsonrpc":"2.0","id":4,"method":"servers/start","params":"alpha"}', code: -32600, id: 4 },
    { name: 'a bare number', body: '1', code: -32600, id: null },
    { name: 'an unknown method', body: '{"jsonrpc":"2.0","id":"u","method":"servers/explode"}', code: -32601, id: 'u' },
    { name: 'a reserved rpc. method', body: '{"jsonrpc":"2.0","id":5,"method":"rpc.discover"}', code: -32601, id: 5 },
    { name: 'a missing name', body: '{"jsonrpc":"2.0","id":6,"method":"servers/start"}', code: -32602, id: 6 },
    { name: 'a name that is not a string', body: '{"jsonrpc":"2.0","id":7,"method":"servers/stop","params":{"name":7}}', code: -32602, id: 7 },
    { name: 'an empty positional array', body: '{"jsonrpc":"2.0","id":8,"method":"servers/restart","params":[]}', code: -32602, id: 8 },
    { name: 'an unknown server', body: '{"jsonrpc":"2.0","id":9,"method":"servers/start","params":{"name":"gamma"}}', code: -32602, id: 9 },
    { name: 'an internal failure', body: '{"jsonrpc":"2.0","id":10,"method":"servers/restart","params":{"name":"explode"}}', code: -32603, id: 10 },
  ])('$name → $code', async ({ body, code, id }) => {
    const t = await setup();
    const res = await t.post(body);
    expect(res.status).toBe(200);
    expect(res.contentType).toMatch(/^application\/json/);
    const answer = res.json as RpcAnswer;
    expect(answer).toMatchObject({ jsonrpc: '2.0', id, error: { code } });
    expect(answer.result).toBeUndefined();
    expect(typeof answer.error?.message).toBe('string');
    // Nothing was done for a request that failed.
    expect(t.calls).toEqual([]);
  });

  it('keeps internal details out of the answer', async () => {
    const t = await setup();
    const answer = await t.rpc('servers/restart', { name: 'explode' });
    expect(answer.error?.message).not.toContain('secret');
    expect(answer.error?.message).toContain('see the orchestrator log');
  });

  it('maps a not-found action to -32602 and a conflict to -32000 with its kind', async () => {
    const t = await setup();
    const missing = await t.rpc('servers/stop', { name: 'gamma' });
    expect(missing.error).toEqual({ code: -32602, message: 'no server named "gamma" in the config; GET /api/servers lists them', data: { kind: 'not-found' } });
    const conflict = await t.rpc('servers/start', ['alpha']);
    expect(conflict.error).toEqual({ code: -32000, message: '"alpha" is already running; use restart to start it again', data: { kind: 'conflict' } });
  });

  it('answers GET with 405, and only POST', async () => {
    const t = await setup();
    const res = await fetch(`${t.server.url}/rpc`);
    expect(res.status).toBe(405);
  });
});

describe('JSON-RPC over POST /rpc: methods', () => {
  it('initialize names the orchestrator, its version and every method', async () => {
    const t = await setup();
    const answer = await t.rpc('initialize', { processId: null, capabilities: {} }, 'init');
    expect(answer).toEqual({
      jsonrpc: '2.0',
      id: 'init',
      result: { serverInfo: { name: 'mcp-orchestrator', version: '9.8.7' }, capabilities: { methods: [...RPC_METHODS] } },
    });
  });

  it('servers/list returns the status; start, stop, restart take a name by object or by position', async () => {
    const t = await setup();
    const list = await t.rpc('servers/list');
    expect(list.result).toMatchObject({ generation: 3, servers: [{ name: 'alpha' }, { name: 'beta' }] });
    expect(await t.rpc('servers/start', { name: 'beta' })).toMatchObject({ result: { name: 'beta', state: 'pending' } });
    expect(await t.rpc('servers/stop', ['alpha'])).toMatchObject({ result: { name: 'alpha', state: 'stopping' } });
    expect(await t.rpc('servers/restart', { name: 'alpha' })).toMatchObject({ result: { name: 'alpha' } });
    expect(await t.rpc('servers/get', { name: 'beta' })).toMatchObject({ result: { name: 'beta', state: 'stopped' } });
    expect(await t.rpc('config/reload')).toMatchObject({ result: { accepted: true, generation: 4 } });
    expect(await t.rpc('config/get')).toEqual({ jsonrpc: '2.0', id: 1, result: null });
    expect(t.calls).toEqual(['start beta', 'stop alpha', 'restart alpha', 'reload']);
  });

  it('a notification gets no response (HTTP 204) but is carried out', async () => {
    const t = await setup();
    const res = await t.post('{"jsonrpc":"2.0","method":"servers/stop","params":{"name":"alpha"}}');
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expect(t.calls).toEqual(['stop alpha']);
    // Even a failing notification is not answered.
    const failing = await t.post('{"jsonrpc":"2.0","method":"no/such/method"}');
    expect(failing.status).toBe(204);
  });

  it('a request with id null is answered with id null', async () => {
    const t = await setup();
    const res = await t.post('{"jsonrpc":"2.0","id":null,"method":"servers/list"}');
    expect(res.json).toMatchObject({ jsonrpc: '2.0', id: null, result: { generation: 3 } });
  });
});

describe('JSON-RPC over POST /rpc: batches', () => {
  it('answers every request of a mixed batch, none of its notifications', async () => {
    const t = await setup();
    const batch = [
      { jsonrpc: '2.0', id: 'a', method: 'servers/list' },
      { jsonrpc: '2.0', method: 'servers/stop', params: ['alpha'] },
      { jsonrpc: '2.0', id: 2, method: 'servers/start', params: { name: 'beta' } },
      { jsonrpc: '2.0', id: 3, method: 'nope' },
      { foo: 'boo' },
      { jsonrpc: '2.0', id: 4, method: 'servers/start' },
      { jsonrpc: '2.0', method: 'config/reload' },
    ];
    const res = await t.post(JSON.stringify(batch));
    expect(res.status).toBe(200);
    const answers = res.json as RpcAnswer[];
    expect(Array.isArray(answers)).toBe(true);
    expect(answers).toHaveLength(5);
    const byId = (id: string | number | null) => answers.filter((a) => a.id === id);
    expect(byId('a')[0]?.result).toMatchObject({ generation: 3 });
    expect(byId(2)[0]?.result).toMatchObject({ name: 'beta' });
    expect(byId(3)[0]?.error?.code).toBe(-32601);
    expect(byId(4)[0]?.error?.code).toBe(-32602);
    expect(byId(null)[0]?.error?.code).toBe(-32600);
    expect(t.calls).toEqual(['stop alpha', 'start beta', 'reload']);
  });

  it('answers a batch of invalid values with one error each', async () => {
    const t = await setup();
    const res = await t.post('[1,2,3]');
    const answers = res.json as RpcAnswer[];
    expect(answers).toHaveLength(3);
    for (const answer of answers) expect(answer).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32600 } });
  });

  it('a batch of only notifications gets no response (HTTP 204)', async () => {
    const t = await setup();
    const res = await t.post(JSON.stringify([
      { jsonrpc: '2.0', method: 'servers/stop', params: { name: 'alpha' } },
      { jsonrpc: '2.0', method: 'servers/start', params: ['beta'] },
    ]));
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expect(t.calls).toEqual(['stop alpha', 'start beta']);
  });
});

describe('JSON-RPC lifecycle (LSP)', () => {
  it('initialize → shutdown → exit ends with code 0, after the answer', async () => {
    const t = await setup();
    expect((await t.rpc('initialize', {}, 1)).result).toBeDefined();
    expect(await t.rpc('shutdown', undefined, 2)).toEqual({ jsonrpc: '2.0', id: 2, result: null });
    expect(t.calls).toEqual(['shutdown']);
    expect(t.exits).toEqual([]);
    expect(await t.rpc('exit', undefined, 3)).toEqual({ jsonrpc: '2.0', id: 3, result: null });
    await waitFor(() => t.exits.length === 1, { message: 'exit called' });
    expect(t.exits).toEqual([0]);
  });

  it('exit without shutdown ends with code 1', async () => {
    const t = await setup();
    const res = await t.post('{"jsonrpc":"2.0","method":"exit"}');
    expect(res.status).toBe(204);
    await waitFor(() => t.exits.length === 1, { message: 'exit called' });
    expect(t.exits).toEqual([1]);
    expect(t.shutdowns()).toBe(0);
  });

  it('after shutdown every method but exit is an invalid request', async () => {
    const t = await setup();
    await t.rpc('shutdown');
    for (const method of ['initialize', 'servers/list', 'servers/start', 'config/reload', 'shutdown']) {
      const answer = await t.rpc(method, { name: 'beta' }, method);
      expect(answer.error?.code, method).toBe(-32600);
      expect(answer.error?.message, method).toContain('shut down');
    }
    expect(t.calls).toEqual(['shutdown']);
    expect(t.shutdowns()).toBe(1);
    expect(t.exits).toEqual([]);
  });

  it('shutdown answers only once every server is down; exit meanwhile waits for it', async () => {
    const t = await setup();
    t.hold();
    let answered = false;
    const shutdown = t.rpc('shutdown').then((a) => ((answered = true), a));
    await waitFor(() => t.shutdowns() === 1, { message: 'shutdown started' });
    // A request arriving during the shutdown is refused already.
    expect((await t.rpc('servers/list')).error?.code).toBe(-32600);
    const exit = t.rpc('exit', undefined, 'x');
    // A request sent after exit has been answered, so exit has reached the handler and is waiting.
    expect((await t.rpc('servers/list')).error?.code).toBe(-32600);
    expect(answered).toBe(false);
    expect(t.exits).toEqual([]);
    t.release();
    expect(await shutdown).toMatchObject({ result: null });
    expect(await exit).toMatchObject({ id: 'x', result: null });
    await waitFor(() => t.exits.length === 1, { message: 'exit called' });
    expect(t.exits).toEqual([0]);
  });

  it('a batch [shutdown, exit] runs in order and exits 0 after answering both', async () => {
    const t = await setup();
    const res = await t.post(JSON.stringify([
      { jsonrpc: '2.0', id: 1, method: 'shutdown' },
      { jsonrpc: '2.0', id: 2, method: 'exit' },
    ]));
    expect(res.json).toEqual([
      { jsonrpc: '2.0', id: 1, result: null },
      { jsonrpc: '2.0', id: 2, result: null },
    ]);
    await waitFor(() => t.exits.length === 1, { message: 'exit called' });
    expect(t.exits).toEqual([0]);
  });

  it('dispatch() gives the text, undefined for notifications, and leaves the exit for after the answer', async () => {
    const fake = fakeActions();
    const handler = new JsonRpcHandler(fake.actions, silentLogger());
    expect((await handler.dispatch('{"jsonrpc":"2.0","method":"servers/list"}')).text).toBeUndefined();
    const outcome = await handler.dispatch('{"jsonrpc":"2.0","id":1,"method":"exit"}');
    expect(JSON.parse(outcome.text ?? '')).toEqual({ jsonrpc: '2.0', id: 1, result: null });
    expect(fake.exits).toEqual([]);
    outcome.after?.();
    await waitFor(() => fake.exits.length === 1, { message: 'exit called' });
    expect(fake.exits).toEqual([1]);
  });
});

describe('JSON-RPC on a dedicated port', () => {
  it('answers POST on any path, like the seed server, sharing the lifecycle with /rpc', async () => {
    const fake = fakeActions();
    const handler = new JsonRpcHandler(fake.actions, silentLogger());
    const dedicated = await startJsonRpcServer({ host: '127.0.0.1', port: 0, handler, access: { loopbackOnly: true }, log: silentLogger() });
    open.push(dedicated);
    const main = await startHttpServer({ host: '127.0.0.1', port: 0, routes: jsonRpcRoutes(handler), access: { loopbackOnly: true }, log: silentLogger() });
    open.push(main);
    expect(dedicated.url).not.toBe(main.url);

    const post = async (url: string, body: unknown) => {
      const res = await fetch(url, { method: 'POST', body: JSON.stringify(body) });
      return { status: res.status, json: (await res.json()) as RpcAnswer };
    };
    const init = await post(`${dedicated.url}/`, { jsonrpc: '2.0', id: 1, method: 'initialize' });
    expect(init).toMatchObject({ status: 200, json: { id: 1, result: { serverInfo: { name: 'mcp-orchestrator' } } } });
    const other = await post(`${dedicated.url}/any/path`, { jsonrpc: '2.0', id: 2, method: 'servers/list' });
    expect(other.json.result).toMatchObject({ generation: 3 });

    // shutdown through the dedicated port, exit through /rpc: one lifecycle.
    expect((await post(dedicated.url, { jsonrpc: '2.0', id: 3, method: 'shutdown' })).json).toMatchObject({ result: null });
    expect((await post(`${main.url}/rpc`, { jsonrpc: '2.0', id: 4, method: 'servers/list' })).json.error?.code).toBe(-32600);
    expect((await post(`${main.url}/rpc`, { jsonrpc: '2.0', id: 5, method: 'exit' })).json).toMatchObject({ result: null });
    await waitFor(() => fake.exits.length === 1, { message: 'exit called' });
    expect(fake.exits).toEqual([0]);
  });

  it('keeps the access policy: the token is required when one is set', async () => {
    const fake = fakeActions();
    const handler = new JsonRpcHandler(fake.actions, silentLogger());
    const dedicated = await startJsonRpcServer({ host: '127.0.0.1', port: 0, handler, access: { loopbackOnly: true, token: 't0ken' }, log: silentLogger() });
    open.push(dedicated);
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'servers/list' });
    // Paths the main listener leaves open (the dashboard, the probes) are control doors here.
    for (const path of ['/', '/healthz', '/dashboard/x', '/rpc']) {
      const without = await fetch(`${dedicated.url}${path}`, { method: 'POST', body });
      expect(without.status, path).toBe(401);
      expect(without.headers.get('www-authenticate'), path).toBe('Bearer');
    }
    const wrong = await fetch(dedicated.url, { method: 'POST', body, headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    const withToken = await fetch(dedicated.url, { method: 'POST', body, headers: { authorization: 'Bearer t0ken' } });
    expect(withToken.status).toBe(200);
    expect(((await withToken.json()) as RpcAnswer).result).toMatchObject({ generation: 3 });
  });
});
