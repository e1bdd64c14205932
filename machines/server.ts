/**
 * The lifecycle of one server instance: one actor per (server, spec). A spec change makes a new
 * actor; `server.configure` only carries fields that do not touch the process.
 *
 *   pending → cloning → installing → starting → running
 *                 ↘          ↘           ↘         ↙
 *                   backoff (retries the step that failed)      stopping → stopped | failed
 *
 * The file holds no I/O: clone, install and the process are actors supplied with `provide()`.
 */
import { assign, fromCallback, fromPromise, sendTo, setup } from 'xstate';
import type { ServerSpec } from '../src/config/types.js';
import type { ExitInfo } from '../src/runtime/types.js';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from '../src/runtime/backoff.js';

export type Step = 'clone' | 'install' | 'start';
export type AfterStop = 'stopped' | 'backoff' | 'failed';

export interface ServerMachineInput {
  /** Unique per instance: a replaced server's old and new instances differ. */
  instanceId: string;
  spec: ServerSpec;
  /** Where the server is cloned (or, without `repo`, the folder it runs in). */
  workdir: string;
  /**
   * A commit to check out instead of what `ref` names now: a successor for a change of `install`
   * alone runs the very commit the serving instance runs.
   */
  pin?: string;
  /** SIGTERM → SIGKILL grace when stopping the process. */
  graceMs: number;
  backoff?: BackoffPolicy;
  /** [0, 1) source for jitter; tests pass a constant. */
  random?: () => number;
}

export interface CloneInput {
  spec: ServerSpec;
  workdir: string;
  pin?: string;
}
export interface CloneOutput {
  commit?: string;
  /** e.g. "cloned", "unchanged" — for the transition log. */
  action: string;
}
export interface InstallInput {
  spec: ServerSpec;
  workdir: string;
  commit?: string;
}
export interface InstallOutput {
  skipped: boolean;
  description: string;
}
export interface ProcessInput {
  instanceId: string;
  spec: ServerSpec;
  workdir: string;
}

/** What the process actor reports back. */
export type ProcessEvent =
  | { type: 'process.spawned'; pid: number }
  | { type: 'process.ready' }
  | { type: 'process.unready'; error: string }
  | { type: 'process.exited'; exit: ExitInfo; error?: string };

/** What the process actor receives. Its cleanup must kill whatever is left (SIGKILL). */
export type ProcessCommand = { type: 'process.terminate'; graceMs: number };

export type ServerEvent =
  | ProcessEvent
  | { type: 'server.start' }
  | { type: 'server.stop' }
  /** Fields that do not affect the process (restart policy, startup timeout, tool filters). */
  | { type: 'server.configure'; spec: ServerSpec };

export interface LastExit extends ExitInfo {
  /** Set when the process could not be spawned at all. */
  error?: string;
}

export interface ServerContext {
  instanceId: string;
  spec: ServerSpec;
  workdir: string;
  pin?: string;
  graceMs: number;
  backoff: BackoffPolicy;
  random: () => number;
  /** The step a retry resumes. */
  step: Step;
  commit?: string;
  pid?: number;
  /** Consecutive failures; sets the next backoff delay; reset after a healthy run. */
  failures: number;
  /**
   * Times the process was spawned again by the restart policy or a retry (Kubernetes'
   * restartCount); a start asked for by hand is not one.
   */
  restarts: number;
  /** Spawns since the machine was created or last started by hand. */
  spawns: number;
  lastExit?: LastExit;
  lastError?: string;
  retryDelayMs?: number;
  afterStop: AfterStop;
  /** CamelCase reason of the latest transition, as in Kubernetes conditions. */
  reason: string;
  /** A human sentence for the latest transition, when there is more to say than the reason. */
  message?: string;
}

function describeExit(exit: LastExit): string {
  if (exit.error) return exit.error;
  return exit.signal ? `process killed by ${exit.signal}` : `process exited with code ${exit.code}`;
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** Where an exit leads under the restart policy: a clean exit is "Completed" unless `always`. */
function exitOutcome(spec: ServerSpec, exit: ExitInfo): AfterStop {
  const clean = exit.code === 0;
  if (spec.restart === 'always') return 'backoff';
  if (spec.restart === 'on-failure') return clean ? 'stopped' : 'backoff';
  return clean ? 'stopped' : 'failed';
}

const notProvided = (what: string) => () => {
  throw new Error(`server machine: the ${what} actor was not provided`);
};

/**
 * Where an exit of the process leads while it starts or runs: stopped when the restart policy
 * counts it as completed, failed when it allows no retry, else backoff; `reason` names the exit.
 */
const exited = (reason: string) =>
  [
    { guard: 'exitCompletes', target: '#server.stopped', actions: { type: 'recordExit', params: { reason: 'Completed' } } },
    { guard: 'exitFails', target: '#server.failed', actions: { type: 'recordExit', params: { reason } } },
    { target: '#server.backoff', actions: { type: 'recordExit', params: { reason } } },
  ] as const;

/** `stopped` and `failed` alike: at rest until started again. */
const SETTLED = {
  entry: 'settled',
  on: {
    'server.start': [
      { guard: 'hasRepo', target: 'cloning', actions: 'resetForStart' },
      { target: 'installing', actions: 'resetForStart' },
    ],
  },
} as const;

export const serverMachine = setup({
  types: {
    context: {} as ServerContext,
    events: {} as ServerEvent,
    input: {} as ServerMachineInput,
  },
  actors: {
    clone: fromPromise<CloneOutput, CloneInput>(notProvided('clone')),
    install: fromPromise<InstallOutput, InstallInput>(notProvided('install')),
    process: fromCallback<ProcessCommand, ProcessInput, ProcessEvent>(notProvided('process')),
  },
  delays: {
    startupTimeout: ({ context }) => context.spec.startupTimeoutMs,
    healthyAfter: ({ context }) => context.backoff.healthyAfterMs,
    retryDelay: ({ context }) => context.retryDelayMs ?? context.backoff.initialMs,
  },
  guards: {
    hasRepo: ({ context }) => context.spec.repo !== undefined,
    retryClone: ({ context }) => context.step === 'clone',
    retryInstall: ({ context }) => context.step === 'install',
    thenBackoff: ({ context }) => context.afterStop === 'backoff',
    thenFailed: ({ context }) => context.afterStop === 'failed',
    exitCompletes: ({ context, event }) => event.type === 'process.exited' && exitOutcome(context.spec, event.exit) === 'stopped',
    exitFails: ({ context, event }) => event.type === 'process.exited' && exitOutcome(context.spec, event.exit) === 'failed',
  },
  actions: {
    recordExit: assign(({ event }, params: { reason: string }) => {
      const exit = exitOf(event);
      const message = describeExit(exit);
      // The process is gone: its pid must not be shown as if it still ran.
      return params.reason === 'Completed'
        ? { lastExit: exit, pid: undefined, reason: params.reason, message }
        : { lastExit: exit, pid: undefined, lastError: message, reason: params.reason, message };
    }),
    /** A clone or install failed: record why, and which step the retry resumes. */
    stepFailed: assign(({ event }, params: { step: Step; reason: string }) => {
      const message = errorMessage((event as { error?: unknown }).error);
      return { step: params.step, reason: params.reason, lastError: message, message };
    }),
    resetForStart: assign({ failures: 0, spawns: 0, reason: 'StartRequested', message: undefined }),
    stopRequested: assign({ reason: 'StopRequested', message: undefined }),
    /** Entered stopped or failed: no process, and a later stop ends in stopped. */
    settled: assign({ pid: undefined, afterStop: 'stopped' as const }),
    terminate: sendTo('process', ({ context }) => ({ type: 'process.terminate' as const, graceMs: context.graceMs })),
    scheduleRetry: assign(({ context }) => {
      const delay = backoffDelay(context.failures, context.backoff, context.random);
      return { retryDelayMs: delay, failures: context.failures + 1 };
    }),
  },
}).createMachine({
  id: 'server',
  context: ({ input }) => ({
    instanceId: input.instanceId,
    spec: input.spec,
    workdir: input.workdir,
    ...(input.pin ? { pin: input.pin } : {}),
    graceMs: input.graceMs,
    backoff: input.backoff ?? DEFAULT_BACKOFF,
    random: input.random ?? Math.random,
    step: 'clone',
    failures: 0,
    restarts: 0,
    spawns: 0,
    afterStop: 'stopped',
    reason: 'Created',
  }),
  initial: 'pending',
  on: {
    'server.configure': { actions: assign({ spec: ({ event }) => event.spec }) },
  },
  states: {
    pending: {
      on: {
        'server.start': [
          { guard: 'hasRepo', target: 'cloning', actions: assign({ reason: 'Scheduled', message: undefined }) },
          { target: 'installing', actions: assign({ reason: 'Scheduled', message: undefined }) },
        ],
        'server.stop': { target: 'stopped', actions: 'stopRequested' },
      },
    },

    cloning: {
      invoke: {
        src: 'clone',
        input: ({ context }) => ({ spec: context.spec, workdir: context.workdir, ...(context.pin ? { pin: context.pin } : {}) }),
        onDone: {
          target: 'installing',
          actions: assign({
            commit: ({ event }) => event.output.commit,
            reason: 'Cloned',
            message: ({ event }) => `repository ${event.output.action}${event.output.commit ? ` at ${event.output.commit.slice(0, 12)}` : ''}`,
          }),
        },
        onError: { target: 'backoff', actions: { type: 'stepFailed', params: { step: 'clone', reason: 'CloneFailed' } } },
      },
      on: { 'server.stop': { target: 'stopped', actions: 'stopRequested' } },
    },

    installing: {
      invoke: {
        src: 'install',
        input: ({ context }) => ({ spec: context.spec, workdir: context.workdir, commit: context.commit }),
        onDone: {
          target: 'up',
          actions: assign({
            reason: ({ event }) => (event.output.skipped ? 'InstallSkipped' : 'Installed'),
            message: ({ event }) => event.output.description,
          }),
        },
        onError: { target: 'backoff', actions: { type: 'stepFailed', params: { step: 'install', reason: 'InstallFailed' } } },
      },
      on: { 'server.stop': { target: 'stopped', actions: 'stopRequested' } },
    },

    // The process lives exactly as long as this state: `stopping` is inside it so that a graceful
    // terminate can run before the process actor's cleanup (SIGKILL) does.
    up: {
      entry: assign(({ context }) => ({
        step: 'start' as const,
        pid: undefined,
        spawns: context.spawns + 1,
        restarts: context.spawns > 0 ? context.restarts + 1 : context.restarts,
      })),
      invoke: {
        id: 'process',
        src: 'process',
        input: ({ context }) => ({ instanceId: context.instanceId, spec: context.spec, workdir: context.workdir }),
      },
      on: {
        'process.spawned': { actions: assign({ pid: ({ event }) => event.pid }) },
      },
      initial: 'starting',
      states: {
        starting: {
          after: {
            startupTimeout: {
              target: 'stopping',
              actions: assign(({ context }) => {
                const message = `not ready within startup_timeout (${formatMs(context.spec.startupTimeoutMs)})`;
                return {
                  reason: 'StartupTimeout',
                  message,
                  lastError: message,
                  afterStop: context.spec.restart === 'never' ? ('failed' as const) : ('backoff' as const),
                };
              }),
            },
          },
          on: {
            'process.ready': { target: 'running', actions: assign({ reason: 'Ready', message: undefined }) },
            'process.unready': {
              target: 'stopping',
              actions: assign(({ context, event }) => ({
                reason: 'NotReady',
                message: event.error,
                lastError: event.error,
                afterStop: context.spec.restart === 'never' ? ('failed' as const) : ('backoff' as const),
              })),
            },
            'process.exited': exited('ExitedDuringStartup'),
            'server.stop': { target: 'stopping', actions: ['stopRequested', assign({ afterStop: 'stopped' as const })] },
          },
        },
        running: {
          after: {
            healthyAfter: { actions: assign({ failures: 0 }) },
          },
          on: {
            'process.exited': exited('ProcessExited'),
            'server.stop': { target: 'stopping', actions: ['stopRequested', assign({ afterStop: 'stopped' as const })] },
          },
        },
        stopping: {
          entry: 'terminate',
          on: {
            // A stop wins over whatever the stop was for (a retry, a failure).
            'server.stop': { actions: assign({ afterStop: 'stopped', reason: 'StopRequested' }) },
            'process.exited': [
              { guard: 'thenBackoff', target: '#server.backoff', actions: assign({ lastExit: ({ event }) => exitOf(event), pid: undefined }) },
              { guard: 'thenFailed', target: '#server.failed', actions: assign({ lastExit: ({ event }) => exitOf(event), pid: undefined }) },
              {
                target: '#server.stopped',
                actions: assign({ lastExit: ({ event }) => exitOf(event), reason: 'Stopped', message: ({ event }) => describeExit(exitOf(event)) }),
              },
            ],
          },
        },
      },
    },

    backoff: {
      entry: 'scheduleRetry',
      after: {
        retryDelay: [
          { guard: 'retryClone', target: 'cloning', actions: assign({ reason: 'RetryDue', message: undefined }) },
          { guard: 'retryInstall', target: 'installing', actions: assign({ reason: 'RetryDue', message: undefined }) },
          { target: 'up', actions: assign({ reason: 'RetryDue', message: undefined }) },
        ],
      },
      on: {
        'server.stop': { target: 'stopped', actions: 'stopRequested' },
      },
    },

    stopped: SETTLED,
    failed: SETTLED,
  },
});

function exitOf(event: ServerEvent): LastExit {
  if (event.type !== 'process.exited') return { code: null, signal: null };
  return event.error === undefined ? { ...event.exit } : { ...event.exit, error: event.error };
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export type ServerStateName =
  | 'pending'
  | 'cloning'
  | 'installing'
  | 'starting'
  | 'running'
  | 'backoff'
  | 'stopping'
  | 'stopped'
  | 'failed';

/** The flat state name of a snapshot value (`{ up: 'running' }` → `running`). */
export function stateName(value: unknown): ServerStateName {
  if (typeof value === 'string') return value as ServerStateName;
  const up = (value as { up?: string }).up;
  return (up ?? 'pending') as ServerStateName;
}
