/**
 * The real effects behind the server machine: git, install and the process, as xstate actors.
 * Tests provide scripted ones instead (test/machines/fakes.ts).
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
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
import { ensureCheckout } from './git.js';
import { ensureInstalled, venvBinDir } from './install.js';
import type { LogBook } from './logbook.js';
import { spawnServer } from './process.js';
import { waitForUrl } from './readiness.js';

export interface EffectsOptions {
  log: Logger;
  logBook: LogBook;
  /** The orchestrator's environment; servers inherit it (less the orchestrator's own token). */
  env: NodeJS.ProcessEnv;
  /** Where servers without `repo` run, and what their `cwd` is relative to. */
  configDir: string;
  /** Read at each use, so a changed `repos_dir` applies to the next server created. */
  reposDir: () => string;
  /** How long a server without a readiness probe must stay up to count as ready. */
  startWindowMs?: number;
}

/** Variables a server must not inherit from the orchestrator. */
const PRIVATE_VARIABLES = ['MCP_ORCHESTRATOR_TOKEN'];

/** The folder the process runs in: `cwd` resolved against the clone (or the config's folder). */
export function serverCwd(spec: ServerSpec, workdir: string): string {
  return resolve(workdir, spec.cwd);
}

/** The full environment of a server's processes (install steps included). */
export function serverEnv(spec: ServerSpec, cwd: string, inherited: NodeJS.ProcessEnv): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(inherited)) if (value !== undefined && !PRIVATE_VARIABLES.includes(key)) env[key] = value;
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
  const { log, logBook } = options;
  const startWindowMs = options.startWindowMs ?? 1_000;

  return serverMachine.provide({
    actors: {
      clone: fromPromise<CloneOutput, CloneInput>(async ({ input, signal }) => {
        const { spec, workdir } = input;
        if (spec.repo === undefined) return { action: 'not a repository' };
        await mkdir(options.reposDir(), { recursive: true });
        const result = await ensureCheckout({ repo: spec.repo, ref: spec.ref, dir: workdir, signal, log: log.child({ server: spec.name }) });
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
        const book = logBook.for(spec.name);
        return ensureInstalled({
          spec,
          workdir: cwd,
          markerFile: installMarker(spec, workdir, options.reposDir()),
          commit,
          env: serverEnv(spec, cwd, options.env),
          signal,
          log: log.child({ server: spec.name }),
          onLine: (stream, line) => book.push(stream, `[install] ${line}`),
        });
      }),

      process: fromCallback<ProcessCommand, ProcessInput, ProcessEvent>(({ input, sendBack, receive }) => {
        const { spec, workdir } = input;
        const serverLog = log.child({ server: spec.name });
        const book = logBook.for(spec.name);
        const cwd = serverCwd(spec, workdir);
        const handle = spawnServer({
          command: spec.command,
          cwd,
          env: serverEnv(spec, cwd, options.env),
          onLine: (stream, line) => {
            book.push(stream, line);
            serverLog.info({ stream, line }, 'output');
          },
        });
        sendBack({ type: 'process.spawned', pid: handle.pid });

        const readiness = new AbortController();
        void handle.exited.then((exit) => {
          readiness.abort();
          sendBack({ type: 'process.exited', exit, ...(handle.error ? { error: handle.error } : {}) });
        });

        if (spec.transport === 'http' && spec.url !== undefined) {
          waitForUrl(spec.url, readiness.signal).then(
            () => sendBack({ type: 'process.ready' }),
            () => {
              // Aborted: the process exited or the machine moved on; its own event says which.
            },
          );
        } else {
          const timer = setTimeout(() => {
            if (!handle.hasExited) sendBack({ type: 'process.ready' });
          }, startWindowMs);
          readiness.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
        }

        receive((command) => {
          void handle.terminate(command.graceMs);
        });
        return () => {
          readiness.abort();
          // Whatever is left once the machine lets go of the process (strays of a crashed
          // leader, or everything on a hard kill) dies with it.
          handle.kill();
        };
      }),
    },
  });
}
