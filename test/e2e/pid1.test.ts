/**
 * The image's entrypoint as PID 1 of a fresh PID namespace, as `docker run` makes it: tini (or bare
 * node) first, then the built CLI, running stdio servers that have descendants (one in its own
 * session) and one that ignores SIGTERM. `docker stop` is a SIGTERM to PID 1: every server must then
 * stop gracefully within shutdown_grace, PID 1 must exit 0, and nothing may be left behind.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { environToken, readArgv, snapshotProcesses } from '../../src/runtime/procfs.js';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { OrchestratorStatus } from '../../src/reconcile/status.js';
import { waitFor, withinMs } from '../helpers/wait.js';
import { freePort } from '../helpers/net.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'dist/src/cli.js');
const FIXTURE = (name: string) => fileURLToPath(new URL(`../fixtures/pid1/${name}`, import.meta.url));
const UNSHARE = ['--pid', '--fork', '--mount-proc', '--kill-child'];
const GRACE_MS = 2_000;
const SERVERS = ['graceful', 'tree', 'stubborn'];
/** Every process the fixtures start; each records "UP <role> <pid>" once it runs. */
const ROLES = ['graceful', 'tree', 'child', 'grandchild', 'stubborn'];

/** Why this machine cannot give the test a PID namespace, or undefined when it can. */
function pidNamespaceUnavailable(): string | undefined {
  const probe = spawnSync('unshare', [...UNSHARE, 'true'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
  // A missing unshare is a broken test machine (.ci/run installs util-linux), not a reason to skip.
  if (probe.error) return (probe.error as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : `unshare failed: ${probe.error.message}`;
  if (probe.status !== 0) return `"unshare --pid" is not permitted on this machine (${probe.stderr.trim() || `exit ${probe.status}`})`;
  return undefined;
}
const skipReason = pidNamespaceUnavailable();
const title = (name: string) => (skipReason ? `${name} [skipped: ${skipReason}]` : name);

/** Host pids of every live process whose initial environment holds `PID1_MARKER=<marker>`. */
function markedProcesses(marker: string): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  for (const pid of snapshotProcesses().keys()) {
    // A zombie has no environment left: it is dead, only not yet reaped.
    if (environToken(pid, 'PID1_MARKER', marker) !== true) continue;
    const argv = readArgv(pid);
    // Undefined: gone meanwhile.
    if (argv) found.push({ pid, cmdline: argv.join(' ') });
  }
  return found;
}

/** The child of `pid`: for `unshare --fork`, the namespace's PID 1 (its host pid). */
function childOf(pid: number): number | undefined {
  try {
    const listed = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    if (listed.length > 0) return Number(listed[0]);
  } catch {
    // No /proc/PID/task/PID/children (CONFIG_PROC_CHILDREN off): ask ps.
  }
  const ps = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
  const first = ps.stdout?.trim().split(/\s+/)[0];
  return first ? Number(first) : undefined;
}

/** The pid of a host process as its own PID namespace sees it (last field of NSpid). */
function namespacePid(hostPid: number): number | undefined {
  const line = readFileSync(`/proc/${hostPid}/status`, 'utf8').split('\n').find((l) => l.startsWith('NSpid:'));
  const last = line?.trim().split(/\s+/).at(-1);
  return last === undefined ? undefined : Number(last);
}

function config(): string {
  const server = (name: string, fixture: string, args: string[] = []) =>
    `[[server]]\nname = "${name}"\ncommand = ${JSON.stringify([process.execPath, FIXTURE(fixture), ...args])}\ntransport = "stdio"\nrestart = "never"\n`;
  return [
    `[orchestrator]\nshutdown_grace = "${GRACE_MS / 1000}s"\n`,
    server('graceful', 'graceful.mjs', ['graceful']),
    server('tree', 'tree.mjs'),
    server('stubborn', 'stubborn.mjs'),
  ].join('\n');
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  at: number;
}

interface Run {
  child: ChildProcess;
  marker: string;
  output: string[];
  exited: Promise<Exit>;
  hasExited: () => boolean;
}

let dir: string | undefined;
let run: Run | undefined;

function launch(entrypoint: string[], env: NodeJS.ProcessEnv, marker: string): Run {
  // Own process group (detached), so cleanup can always kill unshare and, through --kill-child,
  // the whole namespace.
  const child = spawn('unshare', [...UNSHARE, ...entrypoint], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const output: string[] = [];
  const keep = (chunk: string) => {
    output.push(chunk);
    if (output.length > 400) output.splice(0, output.length - 400);
  };
  child.stdout!.setEncoding('utf8').on('data', keep);
  child.stderr!.setEncoding('utf8').on('data', keep);
  let done = false;
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      resolve({ code, signal, at: Date.now() });
    });
    child.once('error', (error) => {
      keep(`spawn failed: ${error.message}\n`);
      done = true;
      resolve({ code: null, signal: null, at: Date.now() });
    });
  });
  return { child, marker, output, exited, hasExited: () => done };
}

async function status(base: string): Promise<OrchestratorStatus> {
  const response = await fetch(`${base}/api/servers`, { signal: AbortSignal.timeout(2_000) });
  if (!response.ok) throw new Error(`GET /api/servers: ${response.status}`);
  return (await response.json()) as OrchestratorStatus;
}

const summary = (s: OrchestratorStatus | undefined) =>
  s ? s.servers.map((server) => `${server.name}=${server.state} pid=${server.pid} ${server.lastError ?? ''}`).join('; ') : 'no answer';

/**
 * Start `entrypoint` as PID 1 of a new PID namespace, wait until every server runs, SIGTERM PID 1,
 * and return what happened.
 */
async function stopAsPid1(entrypoint: (configFile: string, listen: string) => string[]) {
  dir = await mkdtemp(join(tmpdir(), 'mcpo-pid1-'));
  const configFile = join(dir, 'mcp_config.toml');
  const events = join(dir, 'events.log');
  await writeFile(configFile, config());
  await writeFile(events, '');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const marker = randomUUID();
  run = launch(entrypoint(configFile, `127.0.0.1:${port}`), { ...process.env, PID1_MARKER: marker, PID1_EVENTS: events, LOG_LEVEL: 'debug' }, marker);
  const current = run;
  const diagnose = () => `\n--- output ---\n${current.output.join('').split('\n').slice(-60).join('\n')}\n--- events ---\n${readFileSync(events, 'utf8')}`;

  let last: OrchestratorStatus | undefined;
  try {
    await waitFor(
      async () => {
        if (current.hasExited()) throw new Error('exited before the servers ran');
        last = await status(base);
        return SERVERS.every((name) => last?.servers.find((s) => s.name === name)?.state === 'running');
      },
      { timeoutMs: 30_000, intervalMs: 100, message: 'every server running' },
    );
    await waitFor(async () => ROLES.every((role) => readFileSync(events, 'utf8').includes(`UP ${role} `)), {
      timeoutMs: 10_000,
      message: 'every fixture process up',
    });
  } catch (error) {
    throw new Error(`${(error as Error).message}; last status: ${summary(last)}${diagnose()}`, { cause: error });
  }

  const init = childOf(current.child.pid!);
  if (init === undefined) throw new Error(`no child of unshare (pid ${current.child.pid}) found${diagnose()}`);
  // Guard the setup itself: the process we signal really is the namespace's init.
  expect(namespacePid(init), 'the signalled process is PID 1 of its namespace').toBe(1);

  const processes = markedProcesses(marker);
  const signalledAt = Date.now();
  process.kill(init, 'SIGTERM');
  const bound = GRACE_MS + 5_000;
  const exit = await withinMs(current.exited, bound);
  if (exit === undefined) throw new Error(`PID 1 did not exit within ${bound} ms of SIGTERM${diagnose()}`);

  let left: { pid: number; cmdline: string }[] = [];
  try {
    // The namespace is torn down before unshare sees its child exit; the bound only absorbs /proc lag.
    await waitFor(() => (left = markedProcesses(marker)).length === 0, { timeoutMs: 2_000, message: 'no fixture process left' });
  } catch {
    // Asserted below, with the list.
  }
  return { exit, elapsedMs: exit.at - signalledAt, events: await readFile(events, 'utf8'), left, before: processes, diagnose };
}

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm test does)`);
});

afterEach(async () => {
  const current = run;
  run = undefined;
  if (current) {
    if (!current.hasExited()) {
      try {
        process.kill(-current.child.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    // --kill-child takes the namespace down with unshare; strays of a broken setup die by pid.
    for (const { pid } of markedProcesses(current.marker)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await withinMs(current.exited, 5_000);
  }
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('the entrypoint as PID 1 of a PID namespace', () => {
  const cases: [string, (configFile: string, listen: string) => string[]][] = [
    ['tini -g -- node dist/src/cli.js run (the image ENTRYPOINT)', (c, l) => ['tini', '-g', '--', process.execPath, CLI, 'run', '--config', c, '--listen', l]],
    ['node dist/src/cli.js run without tini', (c, l) => [process.execPath, CLI, 'run', '--config', c, '--listen', l]],
  ];

  for (const [name, entrypoint] of cases) {
    it.skipIf(skipReason !== undefined)(title(`${name}: SIGTERM stops every server gracefully, exits 0, leaves nothing`), async () => {
      const result = await stopAsPid1(entrypoint);
      const context = result.diagnose();

      expect({ code: result.exit.code, signal: result.exit.signal }, `exit of PID 1${context}`).toEqual({ code: 0, signal: null });
      // The stubborn server only dies by SIGKILL at the end of the grace, so stopping takes about
      // the grace: much less means nobody waited, much more means the grace was not enforced.
      expect(result.elapsedMs, `time from SIGTERM to exit${context}`).toBeGreaterThanOrEqual(GRACE_MS - 250);
      expect(result.elapsedMs, `time from SIGTERM to exit${context}`).toBeLessThanOrEqual(GRACE_MS + 4_000);

      // Each line is written by the process's own SIGTERM handler: a real graceful stop, not the
      // SIGKILL of the namespace teardown (which no process can record).
      const lines = result.events.split('\n');
      for (const role of ['graceful', 'tree', 'child', 'grandchild']) expect(lines, `${role} got SIGTERM${context}`).toContain(`TERM ${role}`);
      expect(lines, `stubborn got SIGTERM before its SIGKILL${context}`).toContain('TERM-IGNORED stubborn');

      // Sanity: the scan sees the processes while they run (PID 1, the CLI and all fixtures).
      expect(result.before.length, `marked processes before the stop: ${JSON.stringify(result.before)}`).toBeGreaterThanOrEqual(ROLES.length + 1);
      expect(result.left, 'processes left on the host after PID 1 exited').toEqual([]);
    });
  }
});
