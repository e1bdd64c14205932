/**
 * The seed's JSON-RPC control server (`initialize`, `shutdown`, `exit`) with LSP semantics on a real
 * orchestrator and its own port, and the Prometheus metrics moving when a server crashes.
 */
import { writeFile } from 'node:fs/promises';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { describe, expect, it } from 'vitest';
import { useScratch, byName, startCli, type RunningOrchestrator, steadyServer } from '../helpers/orchestrator.js';
import { isPidAlive } from '../helpers/pids.js';
import { waitFor, withinMs } from '../helpers/wait.js';
import { freePort } from '../helpers/net.js';

const server = (name: string) => steadyServer(name);

const scratch = useScratch('mcpo-rpc-');


async function rpc(url: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : undefined };
}

async function start(extra = ''): Promise<{ orch: RunningOrchestrator; rpcUrl: string; pids: number[] }> {
  const port = await freePort();
  await writeFile(scratch.file, `[orchestrator]\nshutdown_grace = "2s"\n\n[control]\njsonrpc_port = ${port}\n\n${server('a')}${server('b')}${extra}`);
  const orch = await startCli(scratch.file);
  const status = await orch.until((s) => s.servers.length === 2 && s.servers.every((x) => x.state === 'running'), 'both running');
  await waitFor(() => orch.logs.some((l) => l.msg === 'JSON-RPC control listening on its own port'), { message: 'rpc port open' });
  return { orch, rpcUrl: `http://127.0.0.1:${port}`, pids: status.servers.map((s) => s.pid!) };
}

describe('JSON-RPC control, as the seed promised', () => {
  it('initialize, shutdown, exit: every server stops, then the process exits 0', async () => {
    const { orch, rpcUrl, pids } = await start();
    const init = await rpc(rpcUrl, { jsonrpc: '2.0', id: 1, method: 'initialize', params: {} });
    expect(init.json).toMatchObject({ jsonrpc: '2.0', id: 1, result: { serverInfo: { name: 'mcp-orchestrator' } } });

    const shutdown = await rpc(rpcUrl, { jsonrpc: '2.0', id: 2, method: 'shutdown' });
    expect(shutdown.json).toEqual({ jsonrpc: '2.0', id: 2, result: null });
    // Answered only once every server is down.
    for (const pid of pids) expect(isPidAlive(pid)).toBe(false);
    const after = await rpc(rpcUrl, { jsonrpc: '2.0', id: 3, method: 'servers/list' });
    expect((after.json as { error: { code: number } }).error.code).toBe(-32600);

    await rpc(rpcUrl, { jsonrpc: '2.0', method: 'exit' });
    const exit = await withinMs(orch.exited, 15_000);
    expect(exit?.code).toBe(0);
  });

  it('exit without shutdown: the process still stops every server, and exits 1', async () => {
    const { orch, rpcUrl, pids } = await start();
    await rpc(`${orch.url}/rpc`, { jsonrpc: '2.0', id: 1, method: 'exit' });
    const exit = await withinMs(orch.exited, 15_000);
    expect(exit?.code).toBe(1);
    for (const pid of pids) expect(isPidAlive(pid)).toBe(false);
    void rpcUrl;
  });

  it('answers a batch on /rpc, with errors for the malformed members, and controls servers', async () => {
    const { orch, pids } = await start();
    const batch = await rpc(`${orch.url}/rpc`, [
      { jsonrpc: '2.0', id: 'list', method: 'servers/list' },
      { jsonrpc: '2.0', id: 'restart', method: 'servers/restart', params: { name: 'a' } },
      { jsonrpc: '2.0', id: 'nope', method: 'servers/stop', params: { name: 'nope' } },
      { jsonrpc: '2.0', id: 'bad', method: 'no/such/method' },
      { jsonrpc: '2.0', method: 'config/reload' },
      { foo: 'bar' },
    ]);
    const answers = batch.json as { id: string | null; result?: unknown; error?: { code: number } }[];
    const byId = (id: string | null) => answers.find((a) => a.id === id);
    expect(answers).toHaveLength(5);
    expect(byId('list')?.result).toMatchObject({ generation: 1 });
    expect(byId('restart')?.result).toBeDefined();
    expect(byId('nope')?.error?.code).toBe(-32602);
    expect(byId('bad')?.error?.code).toBe(-32601);
    expect(byId(null)?.error?.code).toBe(-32600);
    await orch.until((s) => byName(s, 'a')?.state === 'running' && byName(s, 'a')!.pid !== pids[0], 'a restarted');
    const parse = await fetch(`${orch.url}/rpc`, { method: 'POST', body: '{"jsonrpc": "2.0", "method": ' });
    expect(((await parse.json()) as { error: { code: number } }).error.code).toBe(-32700);
  });
});

describe('metrics', () => {
  it('parse as Prometheus text, and the exit and restart counters move when a server crashes', async () => {
    const { orch, pids } = await start();
    const scrape = async () => {
      const text = await (await fetch(`${orch.url}/metrics`)).text();
      return parsePrometheusTextFormat(text) as { name: string; type: string; metrics: { labels?: Record<string, string>; value?: string }[] }[];
    };
    /** A sample's value; 0 for a labelled counter not yet counted, but the metric itself must exist. */
    const value = (families: Awaited<ReturnType<typeof scrape>>, name: string, labels: Record<string, string>) => {
      const family = families.find((f) => f.name === name);
      if (!family) throw new Error(`no metric ${name} in /metrics`);
      return Number(family.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value ?? 0);
    };

    const before = await scrape();
    expect(value(before, 'mcp_orchestrator_server_ready', { server: 'a' })).toBe(1);
    expect(value(before, 'mcp_orchestrator_server_state', { server: 'a', state: 'running' })).toBe(1);
    expect(value(before, 'mcp_orchestrator_config_generation', {})).toBe(1);
    const exitsBefore = value(before, 'mcp_orchestrator_server_exits_total', { server: 'a', outcome: 'signal_SIGKILL' });

    process.kill(pids[0]!, 'SIGKILL');
    await orch.until((s) => byName(s, 'a')?.state === 'running' && byName(s, 'a')!.pid !== pids[0], 'a back after the crash', 20_000);
    const after = await scrape();
    expect(value(after, 'mcp_orchestrator_server_exits_total', { server: 'a', outcome: 'signal_SIGKILL' })).toBe(exitsBefore + 1);
    expect(value(after, 'mcp_orchestrator_server_restarts_total', { server: 'a' })).toBe(1);
    expect(value(after, 'mcp_orchestrator_server_restarts_total', { server: 'b' })).toBe(0);
  });
});
