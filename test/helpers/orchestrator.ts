/**
 * Runs the built CLI (`dist/src/cli.js run`) as a user would, on a real config file, and talks to
 * it over its HTTP API. `stopAll` kills every orchestrator started here and every process below
 * it: its servers run in process groups of their own, and outlive a killed orchestrator.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { fileURLToPath } from 'node:url';
import type { OrchestratorStatus, ServerStatus } from '../../src/reconcile/status.js';
import { waitFor, withinMs } from './wait.js';
import { createLineSplitter, MAX_LINE_BYTES } from '../../src/runtime/lines.js';
import { PROCESS_MARKER_ENV, ProcessTree, withProcessMarker } from '../../src/runtime/processtree.js';
import { readArgv } from '../../src/runtime/procfs.js';

export const CLI = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));
/** An MCP server over stdio that stays up (test/fixtures/e2e/steady.js). */
export const STEADY = fileURLToPath(new URL('../fixtures/e2e/steady.js', import.meta.url));

/** A `[[server]]` entry running the steady fixture over stdio, with `NAME` and `env` set. */
export function steadyServer(name: string, env: Record<string, string> = {}): string {
  const table = Object.entries({ NAME: name, ...env })
    .map(([k, v]) => `${k} = "${v}"`)
    .join(', ');
  return `[[server]]\nname = "${name}"\ncommand = ["${process.execPath}", "${STEADY}"]\ntransport = "stdio"\nenv = { ${table} }\n`;
}

export interface LogLine {
  level: number;
  msg: string;
  server?: string;
  from?: string;
  to?: string;
  reason?: string;
  url?: string;
  [key: string]: unknown;
}

export interface RunningOrchestrator {
  child: ChildProcess;
  url: string;
  logs: LogLine[];
  /** Raw stderr, for diagnosing a failed start. */
  stderr: string[];
  api<T = unknown>(path: string, init?: RequestInit): Promise<{ status: number; body: T }>;
  status(): Promise<OrchestratorStatus>;
  server(name: string): Promise<ServerStatus | undefined>;
  /** Poll /api/servers until `predicate` holds (bounded). */
  until(predicate: (status: OrchestratorStatus) => boolean, what: string, timeoutMs?: number): Promise<OrchestratorStatus>;
  /** SIGTERM and wait for the exit code (bounded). */
  stop(timeoutMs?: number): Promise<number | null>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();
/**
 * Everything each orchestrator started: its environment carries a marker token of its own, which
 * it passes on to every process it spawns, so even an orphan is found (where /proc exists; without
 * it only the orchestrator's process group is).
 */
const trees = new Set<ProcessTree>();

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  args?: string[];
  cwd?: string;
}

export async function startCli(configFile: string, options: StartOptions = {}): Promise<RunningOrchestrator> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm test does)`);
  const token = `test-${randomUUID()}`;
  const env = withProcessMarker({ ...(process.env as Record<string, string>), LOG_LEVEL: 'debug', ...options.env }, token);
  const child = spawn(process.execPath, [CLI, 'run', '--config', configFile, '--listen', '127.0.0.1:0', ...(options.args ?? [])], {
    cwd: options.cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  running.add(child);
  trees.add(new ProcessTree(child.pid ?? 0, token));
  const logs: LogLine[] = [];
  const stderr: string[] = [];
  const splitter = createLineSplitter((line) => {
    try {
      logs.push(JSON.parse(line) as LogLine);
    } catch {
      stderr.push(`(stdout) ${line}`);
    }
  }, MAX_LINE_BYTES);
  child.stdout!.on('data', (chunk: Buffer) => splitter.push(chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );

  const listening = await waitFor(() => logs.find((l) => l.msg === 'orchestrator listening'), {
    timeoutMs: 15_000,
    message: `orchestrator did not start; stderr: ${stderr.join('')}`,
  });
  const url = String(listening.url);

  const api = async <T>(path: string, init?: RequestInit) => {
    const response = await fetch(`${url}${path}`, { ...init, signal: AbortSignal.timeout(10_000) });
    return { status: response.status, body: (await response.json()) as T };
  };
  const status = async () => (await api<OrchestratorStatus>('/api/servers')).body;
  return {
    child,
    url,
    logs,
    stderr,
    api,
    status,
    server: async (name) => (await status()).servers.find((s) => s.name === name),
    until: async (predicate, what, timeoutMs = 30_000) => {
      let last: OrchestratorStatus | undefined;
      try {
        return await waitFor(
          async () => {
            last = await status();
            return predicate(last) ? last : undefined;
          },
          { timeoutMs, intervalMs: 50, message: what },
        );
      } catch (error) {
        const summary = last?.servers.map((s) => `${s.name}=${s.state}(${s.reason}) pid=${s.pid} ${s.lastError ?? ''}`).join('; ');
        throw new Error(`${(error as Error).message}; last status: ${summary}; configError: ${last?.configError}`);
      }
    },
    stop: async (timeoutMs = 20_000) => {
      child.kill('SIGTERM');
      const result = await withinMs(exited, timeoutMs);
      if (!result) throw new Error(`orchestrator did not exit within ${timeoutMs} ms of SIGTERM`);
      return result.code;
    },
    exited,
  };
}

/**
 * The marker variable for an orchestrator a test starts some other way (an SDK stdio transport,
 * which adds its own default environment): `stopAll` kills the orchestrator and everything it
 * spawned, found by the marker (so only where /proc exists).
 */
export function trackedEnv(): Record<string, string> {
  const token = `test-${randomUUID()}`;
  trees.add(new ProcessTree(0, token));
  const outer = process.env[PROCESS_MARKER_ENV];
  return withProcessMarker(outer ? { [PROCESS_MARKER_ENV]: outer } : {}, token);
}

/**
 * Kill every orchestrator started, still running or not, and every process it left: its group,
 * its descendants and anything carrying its marker. Bounded; a survivor fails the call by pid and
 * command line, once (the next call starts afresh). For afterEach/afterAll.
 */
export async function stopAll(): Promise<void> {
  const exits = [...running].map((child) => new Promise<void>((resolve) => child.once('exit', () => resolve())));
  const swept = [...trees];
  trees.clear();
  const sweep = () => swept.reduce((live, tree) => live + tree.sweep('SIGKILL'), 0);
  sweep();
  await withinMs(Promise.all(exits), 5_000);
  try {
    await waitFor(() => sweep() === 0, { timeoutMs: 5_000, intervalMs: 50 });
  } catch {
    const left = swept.flatMap((tree) => tree.members).map((pid) => `${pid} ${readArgv(pid)?.join(' ') ?? '(gone)'}`);
    throw new Error(`processes started by the orchestrators survived SIGKILL: ${left.join('; ')}`);
  }
}


export const byName = (status: OrchestratorStatus, name: string): ServerStatus | undefined => status.servers.find((s) => s.name === name);

/**
 * A scratch folder per test, with `file` the config path inside it. After each test, even a failed
 * one, every orchestrator started is killed and the folder removed.
 */
export function useScratch(prefix: string): { readonly dir: string; readonly file: string } {
  const scratch = { dir: '', file: '' };
  beforeEach(async () => {
    scratch.dir = await mkdtemp(join(tmpdir(), prefix));
    scratch.file = join(scratch.dir, 'mcp_config.toml');
  });
  afterEach(async () => {
    await stopAll();
    await rm(scratch.dir, { recursive: true, force: true });
  });
  return scratch;
}
