import { randomUUID } from 'node:crypto';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { execa, type ResultPromise } from 'execa';
import { createLineSplitter } from './lines.js';
import { ProcessTree, withProcessMarker } from './processtree.js';
import { redactUrl } from './redact.js';
import type { ExitInfo, ProcessHandle } from './types.js';

export type OutputStream = 'stdout' | 'stderr';
export type LineListener = (stream: OutputStream, line: string) => void;

export interface SpawnOptions {
  /** A string runs through `/bin/sh -c`; an array runs without a shell. */
  command: string | string[];
  cwd: string;
  /** The complete environment of the child (nothing is inherited). */
  env: Record<string, string>;
  /** Each line of stderr, and of stdout unless `stdoutIsProtocol`. Must not throw. */
  onLine?: LineListener;
  /** stdout carries MCP messages: it is left untouched for the caller, who must read it. */
  stdoutIsProtocol?: boolean;
}

/** A {@link ProcessHandle} plus what the spawn itself reported. */
export interface ServerProcess extends ProcessHandle {
  /** Why the process could not be started (then `exited` gives code 127); undefined when it started. */
  readonly error?: string;
  /** Settles once stdout and stderr have both ended, i.e. every holder of the pipes is gone. */
  readonly outputClosed: Promise<void>;
}

/** Exit code reported when the process could not be started at all, as a shell does. */
const SPAWN_FAILED_CODE = 127;

// Between checks for leftovers while terminating, and how many SIGKILL rounds before giving up.
const POLL_MS = 25;
const KILL_ROUNDS = 40;

/**
 * Start `command` as the leader of a new process group, with stdin kept open and its output
 * drained line by line. Never throws and never rejects: a process that cannot be started is
 * reported through `exited` (code 127) and `error`. The child environment carries a marker so that
 * `terminate` and `kill` also reach descendants that left the group or lost their parent.
 */
export function spawnServer(opts: SpawnOptions): ServerProcess {
  const token = randomUUID();
  const env = withProcessMarker(opts.env, token);
  const [first, args] = typeof opts.command === 'string' ? ['/bin/sh', ['-c', opts.command]] : [opts.command[0], opts.command.slice(1)];
  if (first === undefined || first === '') return failedProcess('empty command');
  const file = first;

  let child: ResultPromise;
  try {
    child = execa(file, args, {
      cwd: opts.cwd,
      env,
      extendEnv: false,
      detached: true,
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      reject: false,
      buffer: false,
      // Termination is ours: group-wide and escalating, so execa must not send its own signals.
      forceKillAfterDelay: false,
    });
  } catch (error) {
    return failedProcess(describeSpawnError(file, error instanceof Error ? error.message : String(error)));
  }

  const pid = child.pid ?? 0;
  const tree = new ProcessTree(pid, token);
  let hasExited = false;
  let error: string | undefined;
  let settle!: (info: ExitInfo) => void;
  const exited = new Promise<ExitInfo>((resolve) => {
    settle = (info) => {
      if (hasExited) return;
      hasExited = true;
      resolve(info);
    };
  });
  // The 'exit' event, not execa's promise: the promise also waits for grandchildren holding the pipes.
  child.once('exit', (code, signal) => settle({ code: signal ? null : code, signal }));
  const outputClosed = child.then(
    (result) => {
      if (!hasExited && result.exitCode === undefined && result.signal === undefined) {
        error = describeSpawnError(file, result.originalMessage ?? result.message ?? 'unknown error');
        settle({ code: SPAWN_FAILED_CODE, signal: null });
      }
    },
    (failure: unknown) => {
      // reject: false should make this unreachable; a handle must still settle if it is not.
      error ??= describeSpawnError(file, failure instanceof Error ? failure.message : String(failure));
      settle({ code: SPAWN_FAILED_CODE, signal: null });
    },
  );

  const stdin = child.stdin ?? new PassThrough();
  const stdout = child.stdout ?? new PassThrough();
  const stderr = child.stderr ?? new PassThrough();
  // Writing to a child that died raises EPIPE on stdin; an unhandled 'error' would crash us.
  stdin.on('error', () => {});
  drainLines(stderr, 'stderr', opts.onLine);
  if (!opts.stdoutIsProtocol) drainLines(stdout, 'stdout', opts.onLine);

  let terminating: Promise<ExitInfo> | undefined;
  /** Set once a sweep found nothing left: nothing can have started since, so kill() has no work. */
  let cleared = false;
  const terminate = async (graceMs: number): Promise<ExitInfo> => {
    tree.sweep('SIGTERM');
    const deadline = Date.now() + Math.max(0, graceMs);
    while (Date.now() < deadline) {
      if (hasExited && tree.sweep() === 0) {
        cleared = true;
        return exited;
      }
      await pause(Math.min(POLL_MS, deadline - Date.now()), hasExited ? undefined : exited);
    }
    for (let round = 0; round < KILL_ROUNDS; round++) {
      // Signal again each round: a member may have forked after the previous sweep.
      if (tree.sweep('SIGKILL') === 0 && hasExited) {
        cleared = true;
        break;
      }
      await pause(POLL_MS, hasExited ? undefined : exited);
    }
    return exited;
  };

  return {
    pid,
    stdin,
    stdout,
    exited,
    outputClosed,
    get hasExited() {
      return hasExited;
    },
    get error() {
      return error;
    },
    terminate(graceMs) {
      terminating ??= terminate(graceMs);
      return terminating;
    },
    kill() {
      if (!cleared) tree.sweep('SIGKILL');
    },
  };
}

export interface RunCommandOptions {
  command: string | string[];
  cwd: string;
  env: Record<string, string>;
  /** Aborting terminates the whole process tree, then the promise rejects with `signal.reason`. */
  signal?: AbortSignal;
  onLine?: LineListener;
  /** Grace between SIGTERM and SIGKILL when aborted (default 5 s). */
  graceMs?: number;
}

export interface CommandResult extends ExitInfo {
  /** The last lines of stdout and stderr interleaved, for error messages. */
  output: string;
}

const OUTPUT_TAIL_LINES = 40;

/**
 * Run a one-shot command (an install step) to completion in its own process group, with stdin
 * closed. Resolves with how it ended, whatever the exit code (127 when it could not start), after
 * anything it left running has been terminated. Rejects only when `signal` aborts.
 */
export async function runCommand(opts: RunCommandOptions): Promise<CommandResult> {
  opts.signal?.throwIfAborted();
  const graceMs = opts.graceMs ?? 5000;
  const tail: string[] = [];
  const child = spawnServer({
    command: opts.command,
    cwd: opts.cwd,
    env: opts.env,
    onLine: (stream, line) => {
      tail.push(line);
      if (tail.length > OUTPUT_TAIL_LINES) tail.shift();
      opts.onLine?.(stream, line);
    },
  });
  child.stdin.end();
  const onAbort = (): void => void child.terminate(graceMs);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await child.exited;
    // A step that daemonised a helper must not leave it behind, and the last lines must be read.
    const info = await child.terminate(graceMs);
    await child.outputClosed;
    opts.signal?.throwIfAborted();
    if (child.error) tail.push(child.error);
    return { ...info, output: tail.join('\n') };
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

function drainLines(stream: Readable, name: OutputStream, onLine: LineListener | undefined): void {
  const splitter = createLineSplitter((line) => onLine?.(name, line));
  stream.on('data', (chunk: Buffer | string) => splitter.push(chunk));
  stream.on('end', () => splitter.end());
  stream.on('error', () => splitter.end());
}

function describeSpawnError(file: string, message: string): string {
  const first = message.split('\n')[0] ?? message;
  if (/^spawn .* ENOENT$/.test(first)) return redactUrl(`command not found: ${file}`);
  if (/^spawn .* EACCES$/.test(first)) return redactUrl(`permission denied: ${file}`);
  return redactUrl(`cannot start ${file}: ${first}`);
}

/** A handle for a process that never started: already exited, nothing to signal. */
function failedProcess(error: string): ServerProcess {
  const exited = Promise.resolve<ExitInfo>({ code: SPAWN_FAILED_CODE, signal: null });
  const stdout = new PassThrough();
  stdout.end();
  const stdin: Writable = new PassThrough();
  return {
    pid: 0,
    stdin,
    stdout,
    exited,
    outputClosed: Promise.resolve(),
    hasExited: true,
    error,
    terminate: () => exited,
    kill: () => {},
  };
}

/** Wait `ms`, or less if `early` settles first. */
function pause(ms: number, early?: Promise<unknown>): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, Math.max(0, ms));
    void early?.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
