/** Scripted effects for the server machine: no I/O, time from a SimulatedClock. */
import { createActor, fromCallback, fromPromise, SimulatedClock } from 'xstate';
import {
  serverMachine,
  stateName,
  type CloneInput,
  type CloneOutput,
  type InstallInput,
  type InstallOutput,
  type ProcessCommand,
  type ProcessEvent,
  type ProcessInput,
  type ServerStateName,
} from '../../machines/server.js';
import type { ConfigIssue, LoadResult, ServerSpec } from '../../src/config/types.js';
import { Controller } from '../../src/reconcile/controller.js';
import { memoryLogger } from '../helpers/logs.js';

export function spec(overrides: Partial<ServerSpec> = {}): ServerSpec {
  return {
    name: 'alpha',
    repo: 'file:///tmp/alpha.git',
    command: 'node server.js',
    env: {},
    transport: 'stdio',
    install: { kind: 'auto' },
    cwd: '.',
    enabled: true,
    restart: 'always',
    startupTimeoutMs: 10_000,
    tools: { allow: ['*'], deny: [] },
    ...overrides,
  };
}

/** An accepted config load holding `servers`, with defaults elsewhere. */
export function loaded(servers: ServerSpec[], issues: ConfigIssue[] = [], rejectedNames: string[] = []): LoadResult {
  return {
    ok: true,
    issues,
    rejectedNames,
    config: {
      file: '/tmp/mcp_config.toml',
      orchestrator: {
        listen: { host: '127.0.0.1', port: 8080 },
        reposDir: '/tmp/repos',
        logLevel: 'info',
        shutdownGraceMs: 5_000,
        watchPoll: false,
        resyncIntervalMs: 30_000,
      },
      gateway: { separator: '_', startupWaitMs: 0 },
      servers,
    },
  };
}

/** A pending promise the test settles by hand, with the abort signal its actor received. */
interface Pending<T> {
  resolve(value: T): void;
  reject(error: Error): void;
  signal: AbortSignal;
}

export interface FakeProcess {
  pid: number;
  terminations: number[];
  alive: boolean;
  ready(): void;
  unready(error: string): void;
  exit(code: number | null, signal?: NodeJS.Signals | null): void;
}

export interface Harness {
  actor: ReturnType<typeof createActor<typeof serverMachine>>;
  clock: SimulatedClock;
  clones: Pending<CloneOutput>[];
  installs: Pending<InstallOutput>[];
  processes: FakeProcess[];
  /** Every state the actor entered, in order. */
  states: ServerStateName[];
  state(): ServerStateName;
  /** The latest process; fails the test if none was spawned. */
  proc(): FakeProcess;
  /** Advance the simulated clock and let promise callbacks run. */
  advance(ms: number): Promise<void>;
  /** Send `server.start` and let an auto-resolved clone and install settle. */
  start(): Promise<void>;
}

/** Lets resolved promises' reactions (xstate's onDone) run. */
export const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

export interface HarnessOptions {
  spec?: ServerSpec;
  random?: () => number;
  graceMs?: number;
  /** Settle clones and installs at once instead of by hand. */
  autoClone?: boolean;
  autoInstall?: boolean;
  /** Each spawned process announces itself ready at once. */
  autoReady?: boolean;
}

export interface FakeEffects {
  machine: typeof serverMachine;
  clones: Pending<CloneOutput>[];
  /** What each clone step was asked to check out, in order. */
  cloneInputs: CloneInput[];
  installs: Pending<InstallOutput>[];
  processes: FakeProcess[];
}

export type EffectOptions = Pick<HarnessOptions, 'autoClone' | 'autoInstall' | 'autoReady'>;

/** The server machine with scripted clone, install and process actors. */
export function fakeEffects(options: EffectOptions = {}): FakeEffects {
  const clones: Pending<CloneOutput>[] = [];
  const cloneInputs: CloneInput[] = [];
  const installs: Pending<InstallOutput>[] = [];
  const processes: FakeProcess[] = [];
  let nextPid = 1000;

  const machine = serverMachine.provide({
    actors: {
      clone: fromPromise<CloneOutput, CloneInput>(({ input, signal }) => {
        cloneInputs.push(input);
        return options.autoClone
          ? Promise.resolve({ commit: 'abc123', action: 'cloned' })
          : new Promise((resolve, reject) => clones.push({ resolve, reject, signal }));
      }),
      install: fromPromise<InstallOutput, InstallInput>(({ signal }) =>
        options.autoInstall
          ? Promise.resolve({ skipped: false, description: 'npm ci' })
          : new Promise((resolve, reject) => installs.push({ resolve, reject, signal })),
      ),
      process: fromCallback<ProcessCommand, ProcessInput, ProcessEvent>(({ sendBack, receive }) => {
        const proc: FakeProcess = {
          pid: nextPid++,
          terminations: [],
          alive: true,
          ready: () => sendBack({ type: 'process.ready' }),
          unready: (error) => sendBack({ type: 'process.unready', error }),
          exit: (code, signal = null) => {
            proc.alive = false;
            sendBack({ type: 'process.exited', exit: { code, signal } });
          },
        };
        processes.push(proc);
        receive((command) => proc.terminations.push(command.graceMs));
        sendBack({ type: 'process.spawned', pid: proc.pid });
        if (options.autoReady) sendBack({ type: 'process.ready' });
        return () => {
          // The real actor SIGKILLs whatever is left when it is stopped.
          proc.alive = false;
        };
      }),
    },
  });
  return { machine, clones, cloneInputs, installs, processes };
}

export function harness(options: HarnessOptions = {}): Harness {
  const clock = new SimulatedClock();
  const { machine, clones, installs, processes } = fakeEffects(options);

  const actor = createActor(machine, {
    clock,
    input: { instanceId: 'alpha#1', spec: options.spec ?? spec(), workdir: '/tmp/w', graceMs: options.graceMs ?? 5_000, random: options.random ?? (() => 0.5) },
  });
  const states: ServerStateName[] = [];
  actor.subscribe((snapshot) => {
    const name = stateName(snapshot.value);
    if (states[states.length - 1] !== name) states.push(name);
  });
  actor.start();

  return {
    actor,
    clock,
    clones,
    installs,
    processes,
    states,
    state: () => stateName(actor.getSnapshot().value),
    proc: () => {
      const last = processes[processes.length - 1];
      if (!last) throw new Error('no process was spawned');
      return last;
    },
    advance: async (ms) => {
      clock.increment(ms);
      await flush();
    },
    start: async () => {
      actor.send({ type: 'server.start' });
      await flush();
      await flush();
    },
  };
}

/**
 * A Controller on scripted effects and a simulated clock, with the helpers its tests share:
 * `settle` lets every pass and promise run, `server` reads a status, `procOf` finds the process
 * a server runs now.
 */
export function controllerHarness(options: EffectOptions = { autoClone: true, autoInstall: true, autoReady: true }) {
  const clock = new SimulatedClock();
  const effects = fakeEffects(options);
  const { log, lines: logs } = memoryLogger();
  const controller = new Controller({
    log,
    machine: effects.machine,
    workdirFor: (s) => `/tmp/repos/${s.name}`,
    graceMs: 5_000,
    clock,
    random: () => 0.5,
  });
  const settle = async () => {
    for (let i = 0; i < 5; i++) {
      await flush();
      await controller.idle();
    }
  };
  const server = (name: string) => {
    const found = controller.status().servers.find((s) => s.name === name);
    if (!found) throw new Error(`no server ${name} in the status`);
    return found;
  };
  const procOf = (name: string) => {
    const pid = server(name).pid;
    const proc = effects.processes.find((p) => p.pid === pid);
    if (!proc) throw new Error(`no process for ${name}`);
    return proc;
  };
  /** Apply `specs` and make `name`'s process ready; returns that process. */
  const running = async (specs: ServerSpec[], name: string) => {
    controller.applyConfig(loaded(specs));
    await settle();
    const proc = procOf(name);
    proc.ready();
    await settle();
    return proc;
  };
  return { clock, effects, controller, settle, server, procOf, running, logs };
}
