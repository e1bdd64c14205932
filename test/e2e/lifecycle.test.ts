/**
 * Lifecycle with real processes through the built CLI: crash backoff, the SIGKILL at the grace,
 * process trees that try to escape, signals, and the CLI and HTTP surface around them.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { useScratch, byName, CLI, startCli, STEADY } from '../helpers/orchestrator.js';
import { isPidAlive, waitForPids } from '../helpers/pids.js';
import { waitFor } from '../helpers/wait.js';
import { freePort } from '../helpers/net.js';
import type { OrchestratorStatus } from '../../src/reconcile/status.js';

const run = promisify(execFile);
const fixture = (path: string) => fileURLToPath(new URL(`../fixtures/${path}`, import.meta.url));
const CRASH = fixture('e2e/crash.js');
const IGNORES_TERM = fixture('servers/ignores-term.js');
const TREE = fixture('servers/tree.sh');

/** An MCP server over stdio (the steady fixture speaks MCP). */
const node = (name: string, script: string, extra = '') =>
  `[[server]]\nname = "${name}"\ncommand = ["${process.execPath}", "${script}"]\ntransport = "stdio"\n${extra}\n`;
/** A plain process that speaks no MCP: an http server without url, ready after its start window. */
const plain = (name: string, command: string, extra = '') => `[[server]]\nname = "${name}"\ncommand = ${command}\ntransport = "http"\n${extra}\n`;
const nodeCommand = (script: string) => `["${process.execPath}", "${script}"]`;

const scratch = useScratch('mcpo-life-');

describe('lifecycle', () => {
  it('a server that exits at once backs off with growing delays while the others keep running', async () => {
    await writeFile(scratch.file, node('crash', CRASH) + node('steady', STEADY));
    const orch = await startCli(scratch.file);
    const steady = byName(await orch.until((s) => byName(s, 'steady')?.state === 'running', 'steady running'), 'steady')!;

    await orch.until((s) => (byName(s, 'crash')?.restarts ?? 0) >= 3 && byName(s, 'crash')?.state === 'backoff', 'three restarts', 30_000);
    // The log reaches us through a pipe, after the status the API already shows.
    const delays = await waitFor(
      () => {
        const logged = orch.logs.filter((l) => l.server === 'crash' && l.to === 'backoff').map((l) => Number(l.retryInMs));
        return logged.length >= 4 ? logged : undefined;
      },
      { message: 'four backoff transitions logged' },
    );
    // 1 s doubling, each within ±20 %.
    delays.slice(0, 4).forEach((delay, i) => {
      expect(delay).toBeGreaterThanOrEqual(800 * 2 ** i);
      expect(delay).toBeLessThanOrEqual(1200 * 2 ** i);
    });
    const crash = (await orch.server('crash'))!;
    expect(crash.lastExit).toMatchObject({ code: 3, signal: null });
    expect(crash.lastError).toBe('process exited with code 3');
    const now = (await orch.server('steady'))!;
    expect(now).toMatchObject({ state: 'running', pid: steady.pid, restarts: 0 });

    const ready = await orch.api<{ ready: boolean; notReady: { name: string }[] }>('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.notReady.map((n) => n.name)).toEqual(['crash']);
  });

  it('kills a server that ignores SIGTERM at the grace, and leaves no process of a tree behind', async () => {
    const pidFile = join(scratch.dir, 'tree.pids');
    await writeFile(
      scratch.file,
      `[orchestrator]\nshutdown_grace = "1500ms"\n\n` +
        plain('stubborn', nodeCommand(IGNORES_TERM)) +
        plain('tree', `"sh ${TREE} ${pidFile}"`),
    );
    const orch = await startCli(scratch.file);
    const status = await orch.until((s) => s.servers.every((x) => x.state === 'running') && s.servers.length === 2, 'both running');
    const stubborn = byName(status, 'stubborn')!.pid!;
    const tree = await waitForPids(pidFile, 3);

    const started = Date.now();
    expect(await orch.stop()).toBe(0);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(1_400);
    expect(elapsed).toBeLessThan(6_000);
    expect(isPidAlive(stubborn)).toBe(false);
    for (const pid of tree) expect(isPidAlive(pid), `pid ${pid} of the tree`).toBe(false);
  });

  it('sweeps the strays of a crashed leader, including one that left the group with setsid', async () => {
    const pidFile = join(scratch.dir, 'tree.pids');
    await writeFile(scratch.file, `[orchestrator]\nshutdown_grace = "1s"\n\n${plain('tree', `"sh ${TREE} ${pidFile} exit"`, 'restart = "never"')}`);
    const orch = await startCli(scratch.file);
    const pids = await waitForPids(pidFile, 3);
    await orch.until((s) => byName(s, 'tree')?.state === 'stopped', 'leader exited, server stopped');
    await waitFor(() => !pids.some(isPidAlive), { timeoutMs: 5_000, message: 'every stray gone' });
  });

  it('a second SIGINT kills every server at once', async () => {
    await writeFile(scratch.file, `[orchestrator]\nshutdown_grace = "60s"\n\n${plain('stubborn', nodeCommand(IGNORES_TERM))}`);
    const orch = await startCli(scratch.file);
    const pid = byName(await orch.until((s) => byName(s, 'stubborn')?.state === 'running', 'running'), 'stubborn')!.pid!;
    orch.child.kill('SIGINT');
    await waitFor(() => orch.logs.some((l) => l.msg.startsWith('signal received')), { message: 'first signal seen' });
    const started = Date.now();
    orch.child.kill('SIGINT');
    const exit = await orch.exited;
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(exit.code).toBe(130);
    await waitFor(async () => !isPidAlive(pid), { timeoutMs: 3_000, message: 'stubborn killed' });
  });
});

describe('CLI', () => {
  it('validate accepts the seed config and names its servers', async () => {
    const seed = fixture('../../examples/seed/mcp_config.toml');
    const { stdout } = await run(process.execPath, [CLI, 'validate', '--config', seed]);
    expect(stdout).toContain('valid, 2 server(s): openai-codex-mcp, tavily-mcp');
  });

  it('validate lists every problem with its location and exits 1', async () => {
    await writeFile(scratch.file, '[[server]]\nname = "ok"\ncommand = "x"\ntransport = "htp"\n\n[[server]]\ncomand = "y"\nname = "b"\n');
    const failure = await run(process.execPath, [CLI, 'validate', '--config', scratch.file]).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toContain(`${scratch.file}:4:13:`);
    expect(failure?.stderr).toMatch(/transport/);
    expect(failure?.stderr).toMatch(/comand.*did you mean "command"/);
  });

  it('a command for a running orchestrator refuses a --config or $MCP_CONFIG_FILE that does not exist', async () => {
    const missing = join(scratch.dir, 'nope.toml');
    for (const [args, env, source] of [
      [['status', '--config', missing], {}, '--config'],
      [['logs', 'a'], { MCP_CONFIG_FILE: missing }, 'MCP_CONFIG_FILE'],
    ] as const) {
      const failure = await run(process.execPath, [CLI, ...args], { env: { ...process.env, MCP_ORCHESTRATOR_URL: '', ...env } }).then(
        () => undefined,
        (error: { code: number; stderr: string }) => error,
      );
      expect(failure?.code).toBe(2);
      // Named once: an absolute path needs no "(looked at …)".
      expect(failure?.stderr).toBe(`mcp-orchestrator: config file ${missing} (from ${source}) does not exist\n`);
    }
  });

  it('run refuses a bad environment override by name, even with no usable file to hold it', async () => {
    for (const content of ['', 'a = "unclosed\n']) {
      await writeFile(scratch.file, content);
      const failure = await run(process.execPath, [CLI, 'run', '--config', scratch.file, '--listen', '127.0.0.1:0'], { env: { ...process.env, LOG_LEVEL: 'bogus' }, timeout: 15_000 }).then(
        () => undefined,
        (error: { code: number; stderr: string }) => error,
      );
      expect(failure?.code).toBe(1);
      expect(failure?.stderr).toContain('LOG_LEVEL (from the environment) is "bogus"');
    }
  });

  it('validate explains a missing config file', async () => {
    const failure = await run(process.execPath, [CLI, 'validate', '--config', join(scratch.dir, 'nope.toml')]).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(2);
    expect(failure?.stderr).toContain('nope.toml');
    expect(failure?.stderr).toContain('does not exist');
  });

  it('the built CLI runs as the package bin, as npx runs it: executable, with its own interpreter line', async () => {
    const { stdout } = await run(CLI, ['--version']);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('status prints a table of a running orchestrator, and a readable error when none runs', async () => {
    await writeFile(scratch.file, node('steady', STEADY));
    const orch = await startCli(scratch.file);
    const pid = byName(await orch.until((s) => byName(s, 'steady')?.state === 'running', 'running'), 'steady')!.pid!;
    const { stdout } = await run(process.execPath, [CLI, 'status', '--url', orch.url]);
    const [header, row] = stdout.split('\n');
    expect(header).toMatch(/^NAME\s+STATE\s+READY\s+RESTARTS\s+AGE\s+PID\s+VERSION\s+LAST ERROR$/);
    expect(row).toMatch(new RegExp(`^steady\\s+running\\s+yes\\s+0\\s+\\d+s\\s+${pid}\\s+-$`));
    const json = JSON.parse((await run(process.execPath, [CLI, 'status', '--json', '--url', orch.url])).stdout) as { servers: unknown[] };
    expect(json.servers).toHaveLength(1);

    await orch.stop();
    const failure = await run(process.execPath, [CLI, 'status', '--url', orch.url]).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(2);
    expect(failure?.stderr).toContain(`cannot reach the orchestrator at ${orch.url}: is it running?`);
  });
  it('reload says a broken file is rejected, and exits 1, however often it is asked', async () => {
    const good = node('steady', STEADY);
    await writeFile(scratch.file, good);
    const orch = await startCli(scratch.file);
    await orch.until((s) => byName(s, 'steady')?.state === 'running', 'running');
    await writeFile(scratch.file, `${good}\n[orchestrator]\nlog_level = "debug\n`);
    const reload = () =>
      run(process.execPath, [CLI, 'reload', '--url', orch.url]).then(
        ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
        (error: { code: number; stdout: string; stderr: string }) => error,
      );
    // The second read finds what the first (or the watcher) already applied: still rejected, not "unchanged".
    for (const attempt of [1, 2]) {
      const result = await reload();
      expect(result.code, `attempt ${attempt}`).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain('config rejected, the last good config keeps running:');
      expect(result.stderr).toContain('a string is not closed on its line');
    }
    await writeFile(scratch.file, good);
    const fixed = await reload();
    expect(fixed.code).toBe(0);
    expect(fixed.stdout).toMatch(/^config (reloaded: generation \d+|unchanged \(generation \d+\))\n$/);
  });

  it('status still finds the orchestrator, and its token, when its config breaks, and shows why the file is rejected', async () => {
    const port = await freePort();
    const good = `[orchestrator]\nlisten = "127.0.0.1:${port}"\ntoken = "kept-token"\n\n${node('steady', STEADY)}`;
    await writeFile(scratch.file, good);
    const orch = await startCli(scratch.file, { args: ['--listen', `127.0.0.1:${port}`] });
    const authorized = { headers: { authorization: 'Bearer kept-token' } };
    const statusOf = async () => (await orch.api<OrchestratorStatus>('/api/servers', authorized)).body;
    await waitFor(async () => byName(await statusOf(), 'steady')?.state === 'running', { message: 'running' });
    await writeFile(scratch.file, `${good}\nenv = { KEY = "unclosed }\n`);
    await waitFor(async () => (await statusOf()).configError !== null, { message: 'the broken file rejected' });
    const env = { ...process.env, MCP_ORCHESTRATOR_URL: '', MCP_ORCHESTRATOR_LISTEN: '', MCP_ORCHESTRATOR_TOKEN: '' };
    const { stdout } = await run(process.execPath, [CLI, 'status', '--config', scratch.file], { env });
    expect(stdout).toMatch(/^steady\s+running/m);
    expect(stdout).toContain('config rejected, the last good config keeps running:');
  });

  it("without --url the CLI finds the orchestrator, and its token, in the config; a --url never gets the config's token", async () => {
    const port = await freePort();
    await writeFile(scratch.file, `[orchestrator]\nlisten = "127.0.0.1:${port}"\ntoken = "from-the-config"\n\n${node('steady', STEADY)}`);
    // The config's listen, given again as --listen only so the helper's own default (port 0) does not win.
    const orch = await startCli(scratch.file, { args: ['--listen', `127.0.0.1:${port}`] });
    const env = { ...process.env, MCP_ORCHESTRATOR_TOKEN: '', MCP_ORCHESTRATOR_URL: '', MCP_ORCHESTRATOR_LISTEN: '' };
    const cli = (args: string[]) =>
      run(process.execPath, [CLI, ...args], { env }).then(
        ({ stdout }) => ({ code: 0, stdout, stderr: '' }),
        (error: { code: number; stdout: string; stderr: string }) => error,
      );
    const ready = await waitFor(async () => {
      const result = await cli(['status', '--config', scratch.file]);
      return /^steady\s+running\s+yes/m.test(result.stdout) ? result : undefined;
    }, { timeoutMs: 30_000, message: 'status --config shows steady running' });
    expect(ready.code).toBe(0);

    const refused = await cli(['status', '--url', orch.url]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('401');
    expect(refused.stderr).toContain('wants a bearer token; set MCP_ORCHESTRATOR_TOKEN');
    const wrong = await run(process.execPath, [CLI, 'status', '--url', orch.url], { env: { ...env, MCP_ORCHESTRATOR_TOKEN: 'wrong' } }).catch((error: { code: number; stderr: string }) => error);
    expect(wrong).toMatchObject({ code: 2 });
    expect((wrong as { stderr: string }).stderr).toContain('refused the token from $MCP_ORCHESTRATOR_TOKEN');
    const withToken = await run(process.execPath, [CLI, 'status', '--url', orch.url], { env: { ...env, MCP_ORCHESTRATOR_TOKEN: 'from-the-config' } });
    expect(withToken.stdout).toMatch(/^steady\s+running/m);
  });
});

describe('HTTP surface', () => {
  it('answers health, readiness and status, with JSON errors', async () => {
    await writeFile(scratch.file, node('steady', STEADY) + node('off', STEADY, 'enabled = false'));
    const orch = await startCli(scratch.file);
    await orch.until((s) => byName(s, 'steady')?.state === 'running', 'running');
    expect((await orch.api('/healthz')).status).toBe(200);
    expect(await orch.api('/readyz')).toEqual({ status: 200, body: { ready: true, notReady: [] } });
    const one = await orch.api<{ name: string; state: string }>('/api/servers/steady');
    expect(one.body).toMatchObject({ name: 'steady', state: 'running' });
    expect((await orch.api<{ state: string; reason: string }>('/api/servers/off')).body).toMatchObject({ state: 'stopped', reason: 'Disabled' });
    const missing = await orch.api<{ error: { code: string; message: string } }>('/api/servers/nope');
    expect(missing.status).toBe(404);
    expect(missing.body.error.message).toContain('no server named "nope"');
    expect((await orch.api('/nowhere')).status).toBe(404);
  });

  it('enforces a configured token, and refuses foreign origins and non-loopback Host names', async () => {
    await writeFile(scratch.file, node('steady', STEADY));
    const orch = await startCli(scratch.file, { env: { MCP_ORCHESTRATOR_TOKEN: 's3cret-token' } });
    expect((await orch.api('/healthz')).status).toBe(200);
    expect((await orch.api('/api/servers')).status).toBe(401);
    expect((await orch.api('/api/servers', { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    const authorized = { authorization: 'Bearer s3cret-token' };
    expect((await orch.api('/api/servers', { headers: authorized })).status).toBe(200);
    expect((await orch.api('/api/servers', { headers: { ...authorized, origin: 'http://evil.example' } })).status).toBe(403);
    expect((await orch.api('/api/servers', { headers: { ...authorized, origin: orch.url } })).status).toBe(200);
    // fetch will not forge Host; a raw request does, as a DNS-rebinding page would.
    const { request } = await import('node:http');
    const rebinding = await new Promise<number>((resolve, reject) => {
      const req = request(`${orch.url}/api/servers`, { headers: { ...authorized, host: 'evil.example:8080' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(rebinding).toBe(403);
    expect(orch.logs.some((l) => JSON.stringify(l).includes('s3cret-token'))).toBe(false);
  });
});
