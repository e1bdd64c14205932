/**
 * The real effects behind the server machine: git, install and the process, as xstate actors.
 * Tests provide scripted ones instead (test/machines/fakes.ts).
 */
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { delimiter, join, resolve } from 'node:path';
import { fromCallback, fromPromise } from 'xstate';
import {
  serverMachine,
  type CloneInput,
  type CloneOutput,
  type InstallInput,
  type InstallOutput,
  type ProcessCommand,
  type ProcessEvent,
  type ProcessInput,
} from '../../machines/server.js';
import type { ServerSpec } from '../config/types.js';
import type { Logger } from '../log.js';
import { FolderQueue, markServed, servedLast, siblingOf } from './checkouts.js';
import { ensureCheckout } from './git.js';
import { ensureInstalled, venvBinDir } from './install.js';
import type { LogBook } from './logbook.js';
import type { ExitInfo } from './types.js';
import { spawnServer } from './process.js';
import { ChildStdioTransport } from '../gateway/child-transport.js';
import type { Gateway } from '../gateway/gateway.js';
import { Upstream, type UpstreamOptions } from '../gateway/upstream.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

export interface EffectsOptions {
  log: Logger;
  logBook: LogBook;
  /** The orchestrator's environment; servers inherit it (less the orchestrator's own token). */
  env: NodeJS.ProcessEnv;
  /** Read at each use, so a changed `repos_dir` applies to the next server created. */
  reposDir: () => string;
  /** How long a server without a readiness probe must stay up to count as ready. */
  startWindowMs?: number;
  /** Values no server may inherit under any variable name (the bearer token in force). */
  hiddenValues?: () => (string | undefined)[];
  /** Where ready servers' MCP connections are registered and their own requests answered. */
  gateway: Gateway;
  version: string;
}

/** How long one attempt to reach an HTTP server may take, and the pause between attempts. */
const HTTP_ATTEMPT_MS = 5_000;
const HTTP_RETRY_MS = 250;

/**
 * Connect to a server listening on `url`, retrying until it answers the MCP handshake or `signal`
 * aborts (the machine's startup_timeout bounds it).
 */
async function connectOverHttp(url: string, signal: AbortSignal, options: Omit<UpstreamOptions, 'transport'>): Promise<Upstream> {
  let lastError: unknown;
  while (!signal.aborted) {
    const connection = new Upstream({ ...options, transport: new StreamableHTTPClientTransport(new URL(url)) });
    try {
      await connection.connect(signal, HTTP_ATTEMPT_MS);
      return connection;
    } catch (error) {
      lastError = error;
      await connection.close();
    }
    await sleep(HTTP_RETRY_MS);
  }
  throw new Error('aborted', { cause: lastError });
}

/** Variables a server must not inherit from the orchestrator. */
const PRIVATE_VARIABLES = ['MCP_ORCHESTRATOR_TOKEN'];

/** The folder the process runs in: `cwd` resolved against the clone (or the config's folder). */
function serverCwd(spec: ServerSpec, workdir: string): string {
  return resolve(workdir, spec.cwd);
}

/** The full environment of a server's processes (install steps included). */
function serverEnv(spec: ServerSpec, cwd: string, inherited: NodeJS.ProcessEnv, hidden: readonly (string | undefined)[] = []): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(inherited)) {
    if (value === undefined || PRIVATE_VARIABLES.includes(key) || hidden.includes(value)) continue;
    env[key] = value;
  }
  Object.assign(env, spec.env);
  const venv = venvBinDir(cwd);
  // A Python server's own venv comes first, so `python` and its console scripts resolve there.
  if (existsSync(venv)) env.PATH = [venv, env.PATH ?? ''].filter(Boolean).join(delimiter);
  return env;
}

function installMarker(spec: ServerSpec, workdir: string, reposDir: string): string {
  // Inside .git for a clone, so a re-clone throws the marker away with the old install.
  return spec.repo !== undefined ? join(workdir, '.git', 'mcp-orchestrator-install.json') : join(reposDir, '.state', spec.name, 'install.json');
}

/** The server machine wired to real git, installs and processes. */
export function realServerMachine(options: EffectsOptions): typeof serverMachine {
  const { log, logBook, gateway, version } = options;
  const startWindowMs = options.startWindowMs ?? 1_000;
  const folders = new FolderQueue();

  return serverMachine.provide({
    actors: {
      clone: fromPromise<CloneOutput, CloneInput>(async ({ input, signal }) => {
        const { spec, workdir, pin } = input;
        const repo = spec.repo;
        if (repo === undefined) return { action: 'not a repository' };
        const serverLog = log.child({ server: spec.name });
        const trustRecord = servedLast(workdir);
        const result = await folders.run(workdir, signal, () =>
          // A pinned commit is the one the instance in the other folder serves: fetched from there first.
          ensureCheckout({ repo, ref: spec.ref, pin, ...(pin ? { pinSource: siblingOf(workdir) } : {}), dir: workdir, trustRecord, signal, log: serverLog }),);
        return { commit: result.commit, action: result.action };
      }),

      install: fromPromise<InstallOutput, InstallInput>(async ({ input, signal }) => {
        const { spec, workdir, commit } = input;
        // Auto-detection is for clones: a server without `repo` runs in the config's folder,
        // which may well be some other project's root with its own package.json.
        if (spec.repo === undefined && spec.install.kind === 'auto') {
          return { skipped: true, description: 'no repository, nothing to install (set install to a command to run one)' };
        }
        const cwd = serverCwd(spec, workdir);
        return folders.run(workdir, signal, () =>
          ensureInstalled({
            spec,
            workdir: cwd,
            markerFile: installMarker(spec, workdir, options.reposDir()),
            commit,
            env: serverEnv(spec, cwd, options.env, options.hiddenValues?.()),
            signal,
            log: log.child({ server: spec.name }),
            onLine: (stream, line) => logBook.push(spec.name, stream, `[install] ${line}`),
          }),
        );
      }),

      process: fromCallback<ProcessCommand, ProcessInput, ProcessEvent>(({ input, sendBack, receive }) => {
        const { spec, workdir, instanceId } = input;
        const serverLog = log.child({ server: spec.name });
        const cwd = serverCwd(spec, workdir);
        const output = (stream: 'stdout' | 'stderr', line: string) => {
          logBook.push(spec.name, stream, line);
          serverLog.info({ stream, line }, 'output');
        };
        const speaksStdio = spec.transport === 'stdio';
        const handle = spawnServer({
          command: spec.command,
          cwd,
          env: serverEnv(spec, cwd, options.env, options.hiddenValues?.()),
          // A stdio server's stdout is the protocol; the transport hands its other lines back.
          stdoutIsProtocol: speaksStdio,
          onLine: output,
        });
        sendBack({ type: 'process.spawned', pid: handle.pid });

        const readiness = new AbortController();
        let upstream: Upstream | undefined;
        let terminating: Promise<void> | undefined;
        const reportExit = (exit: ExitInfo) => sendBack({ type: 'process.exited', exit, ...(handle.error ? { error: handle.error } : {}) });
        void handle.exited.then((exit) => {
          readiness.abort();
          // While stopping, the exit is reported once every descendant is gone, not when the leader
          // goes: the machine would otherwise rest, and its cleanup SIGKILL descendants still
          // handling their SIGTERM.
          if (!terminating) reportExit(exit);
        });
        const ready = (connected?: Upstream) => {
          if (readiness.signal.aborted) {
            void connected?.close();
            return;
          }
          upstream = connected;
          if (connected) gateway.registry.attach(connected);
          if (spec.repo !== undefined) void markServed(workdir);
          sendBack({ type: 'process.ready' });
        };
        const notReady = async (error: Error) => {
          // A handshake that failed because the process died is reported by its exit, which says more.
          const exited = await Promise.race([handle.exited.then(() => true), sleep(250).then(() => false)]);
          if (!exited && !readiness.signal.aborted) sendBack({ type: 'process.unready', error: error.message });
        };
        const upstreamOptions = { server: spec.name, instanceId, handlers: gateway.handlers, log: serverLog, version };

        if (speaksStdio) {
          const connection = new Upstream({ ...upstreamOptions, transport: new ChildStdioTransport(handle.stdin, handle.stdout, (line) => output('stdout', line)) });
          connection.connect(readiness.signal, spec.startupTimeoutMs).then(() => ready(connection), notReady);
        } else if (spec.url !== undefined) {
          connectOverHttp(spec.url, readiness.signal, upstreamOptions).then(ready, () => {
            // Aborted: the process exited or the machine moved on; its own event says which.
          });
        } else {
          const timer = setTimeout(() => {
            if (!handle.hasExited) ready();
          }, startWindowMs);
          readiness.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
        }

        receive((command) => {
          terminating ??= (async () => {
            readiness.abort();
            if (upstream) {
              // New calls go elsewhere (or fail clearly) from now on; calls in flight may finish.
              gateway.registry.detach(instanceId);
              const drained = await upstream.drain(command.graceMs);
              if (!drained) serverLog.warn({ inFlight: upstream.inFlight }, 'calls still in flight after the grace; stopping anyway');
            }
            reportExit(await handle.terminate(command.graceMs));
          })();
        });
        return () => {
          readiness.abort();
          if (upstream) {
            gateway.registry.detach(instanceId);
            void upstream.close();
          }
          // Whatever is left once the machine lets go of the process (strays of a crashed
          // leader, or everything on a hard kill) dies with it.
          handle.kill();
        };
      }),
    },
  });
}
