/**
 * Keeps the running servers converged on the config: one xstate actor per server instance, one
 * single-flight reconcile loop. Triggers (a config load, an actor's state change, a periodic
 * resync, a manual action) only mark the controller dirty; the loop then runs the pure `plan`
 * until nothing is left to do.
 */
import { createActor, type ActorRefFrom } from 'xstate';
import { stateName, type serverMachine, type ServerContext, type ServerStateName } from '../../machines/server.js';
import type { ConfigIssue, LoadResult, ServerSpec } from '../config/types.js';
import { formatIssues } from '../config/format.js';
import type { Logger } from '../log.js';
import type { BackoffPolicy } from '../runtime/backoff.js';
import { systemClock, type Clock } from '../runtime/types.js';
import { specHash } from './hash.js';
import { plan, sameCheckout, type Action, type DesiredServer, type ObservedInstance } from './plan.js';
import { mergeConditions, type Condition, type OrchestratorStatus, type ReplacementStatus, type ServerStatus } from './status.js';

export type ServerMachine = typeof serverMachine;

export interface ControllerOptions {
  log: Logger;
  /** The server machine with its effects provided. */
  machine: ServerMachine;
  /**
   * The folder a new instance is cloned into, or runs in without `repo`, given the live instances
   * of the same server and their folders (a successor with another checkout needs its own).
   */
  workdirFor: (spec: ServerSpec, peers: readonly { spec: ServerSpec; workdir: string }[]) => string;
  graceMs: number;
  clock?: Clock;
  backoff?: BackoffPolicy;
  random?: () => number;
}

/** What the event stream (logs, SSE) sees. */
export type ControllerEvent =
  | { type: 'transition'; server: string; from: ServerStateName; to: ServerStateName; reason: string; message: string | null; at: string }
  | { type: 'config'; generation: number; accepted: boolean; error: string | null; at: string }
  | { type: 'action'; server: string; action: 'start' | 'stop' | 'restart'; at: string }
  | { type: 'exit'; server: string; code: number | null; signal: string | null; at: string };

interface Instance {
  id: string;
  name: string;
  spec: ServerSpec;
  hash: string;
  generation: number;
  /** The folder it is cloned into, or runs in. */
  workdir: string;
  actor: ActorRefFrom<ServerMachine>;
  terminating: boolean;
  held: boolean;
  state: ServerStateName;
  since: number;
  /** Cloned, Installed and Ready, brought up to date at each state change (ConfigValid is the entry's). */
  conditions: Condition[];
  cloned?: { ok: boolean; reason: string; message: string };
  installed?: { ok: boolean; reason: string; message: string };
  lastExitAt?: number;
}

/** A server's entry in the current config, as the last accepted load left it. */
interface ConfiguredEntry {
  /** The spec it runs: its own, or the last accepted one when the current entry was rejected. */
  spec?: ServerSpec;
  /** Why the current entry was rejected. */
  issue?: string;
  /** ISO time of the load that last changed anything in the entry's spec, or its validity. */
  since: string;
}

const RESTING: ReadonlySet<ServerStateName> = new Set(['stopped', 'failed']);

/** The `ref` a server from git is checked out at; null for the default branch and without `repo`. */
function gitRef(spec: ServerSpec | undefined): string | null {
  return spec?.repo !== undefined ? (spec.ref ?? null) : null;
}
/** Where a start ends for now: ready, or waiting to retry, or given up. */
const GIVEN_UP_OR_READY: ReadonlySet<ServerStateName> = new Set(['running', 'backoff', 'failed', 'stopped']);
/** A loop that is still dirty after this many passes yields to the event loop and carries on. */
const MAX_PASSES = 50;

export class Controller {
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly instances = new Map<string, Instance>();
  private readonly listeners = new Set<(event: ControllerEvent) => void>();
  /** The enabled servers of the config in force; whether each is held is `held`'s to say. */
  private desired = new Map<string, Omit<DesiredServer, 'held'>>();
  /** Every entry of the current file by name (including disabled and rejected ones). */
  private configured = new Map<string, ConfiguredEntry>();
  /**
   * Each name's ConfigValid, dated by the load that last turned it True or False. Kept after the
   * entry is removed, so an instance still stopping shows the entry as last loaded.
   */
  private readonly configValid = new Map<string, Condition>();
  private held = new Set<string>();
  private generation = 0;
  private observedGeneration = 0;
  private configFile: string | null = null;
  private configError: string | null = null;
  private configIssues: ConfigIssue[] = [];
  private nextId = 1;
  private dirty = false;
  private looping = false;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  private graceMs: number;

  constructor(private readonly options: ControllerOptions) {
    this.log = options.log;
    this.clock = options.clock ?? systemClock;
    this.graceMs = options.graceMs;
  }

  /** Take a freshly loaded config. A rejected file changes nothing but the reported error. */
  applyConfig(result: LoadResult, file?: string): void {
    const at = this.isoNow();
    if (file) this.configFile = file;
    if (!result.ok) {
      this.configIssues = result.issues;
      const kept = this.generation === 0 ? 'no config has been accepted yet, so no server runs' : 'the last good config keeps running';
      this.configError = `config rejected, ${kept}:\n${formatIssues(result.issues)}`;
      this.log.error({ issues: result.issues.length, generation: this.generation }, 'config rejected');
      for (const issue of result.issues) this.log.error({ at: `${issue.file}:${issue.line}:${issue.column}`, path: issue.path }, issue.message);
      this.emit({ type: 'config', generation: this.generation, accepted: false, error: this.configError, at });
      return;
    }

    this.generation += 1;
    this.configIssues = result.issues;
    this.configError = result.issues.length > 0 ? formatIssues(result.issues) : null;
    this.graceMs = result.config.orchestrator.shutdownGraceMs;

    const configured = new Map<string, ConfiguredEntry>();
    const desired = new Map<string, Omit<DesiredServer, 'held'>>();
    const entry = (name: string, spec: ServerSpec | undefined, issue: string | undefined): ConfiguredEntry => {
      const before = this.configured.get(name);
      // The whole spec, not specHash: `enabled` and the gateway's fields change what status shows too.
      const same = before !== undefined && before.issue === issue && JSON.stringify(before.spec) === JSON.stringify(spec);
      const valid = issue ? { type: 'ConfigValid' as const, status: 'False' as const, reason: 'Invalid', message: issue } : validCondition(at);
      const previous = this.configValid.get(name);
      this.configValid.set(name, mergeConditions(previous ? [previous] : [], [valid], at)[0]!);
      return { spec, issue, since: same ? before.since : at };
    };
    for (const spec of result.config.servers) configured.set(spec.name, entry(spec.name, spec, undefined));
    for (const name of result.rejectedNames) {
      // A rejected entry keeps the last spec that was accepted for it.
      const issue = formatIssues(result.issues.filter((i) => i.server === name));
      configured.set(name, entry(name, this.configured.get(name)?.spec, issue));
    }
    for (const [name, entry] of configured) {
      if (!entry.spec || !entry.spec.enabled) continue;
      desired.set(name, { spec: entry.spec, hash: specHash(entry.spec) });
    }
    // A spec change releases a manual hold, as a new Deployment revision would.
    for (const name of [...this.held]) {
      const before = this.desired.get(name);
      const after = desired.get(name);
      if (!after || (before && before.hash !== after.hash)) this.held.delete(name);
    }
    const previousNames = [...this.configured.keys()];
    this.configured = configured;
    this.desired = desired;
    for (const name of previousNames) this.forgetIfGone(name);

    this.log.info(
      { generation: this.generation, servers: desired.size, rejected: result.rejectedNames.length },
      result.issues.length > 0 ? 'config loaded with rejected entries' : 'config loaded',
    );
    for (const issue of result.issues) this.log.warn({ server: issue.server, at: `${issue.file}:${issue.line}:${issue.column}`, path: issue.path }, issue.message);
    this.emit({ type: 'config', generation: this.generation, accepted: true, error: this.configError, at });
    this.reconcile('config');
  }

  /** Mark the controller dirty; the loop runs on the next microtask, once, however many calls come. */
  reconcile(trigger: string): void {
    if (this.closed) return;
    this.dirty = true;
    if (this.looping) return;
    this.looping = true;
    queueMicrotask(() => this.loop(trigger));
  }

  private loop(trigger: string): void {
    try {
      for (let pass = 0; this.dirty && !this.closed; pass++) {
        if (pass === MAX_PASSES) {
          this.log.warn({ trigger }, 'reconcile still dirty after many passes; yielding');
          setImmediate(() => this.loop(trigger));
          return;
        }
        this.dirty = false;
        this.pass();
      }
    } catch (error) {
      this.log.error({ err: error, trigger }, 'reconcile pass failed');
    }
    this.looping = false;
    if (!this.dirty) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private pass(): void {
    const generation = this.generation;
    const desired = new Map([...this.desired].map(([name, want]) => [name, { ...want, held: this.held.has(name) }]));
    const actions = plan(desired, this.observe());
    for (const action of actions) this.execute(action, generation);
    // Instances of the current specs have now observed this generation too; one still serving an
    // older spec (its successor not created yet) has not.
    for (const instance of this.instances.values()) if (this.runsCurrentSpec(instance)) instance.generation = generation;
    // Applied once every server meant to run has an instance of its current spec.
    if ([...this.desired.keys()].every((name) => this.currentInstance(name))) this.observedGeneration = generation;
  }

  private runsCurrentSpec(instance: Instance): boolean {
    return !instance.terminating && this.desired.get(instance.name)?.hash === instance.hash;
  }

  /** The instance of `name` that runs its current spec, if one was created. */
  private currentInstance(name: string): Instance | undefined {
    for (const instance of this.instances.values()) if (instance.name === name && this.runsCurrentSpec(instance)) return instance;
    return undefined;
  }

  private observe(): ObservedInstance[] {
    return [...this.instances.values()].map((i) => ({
      id: i.id,
      name: i.name,
      hash: i.hash,
      spec: i.spec,
      terminating: i.terminating,
      resting: RESTING.has(i.state),
      held: i.held,
      ready: i.state === 'running',
    }));
  }

  private execute(action: Action, generation: number): void {
    if (action.type === 'create') {
      this.create(action.spec, action.hash, action.held, generation);
      return;
    }
    const instance = this.instances.get(action.id);
    if (!instance) return;
    switch (action.type) {
      case 'configure':
        instance.spec = action.spec;
        instance.actor.send({ type: 'server.configure', spec: action.spec });
        this.log.info({ server: instance.name }, 'settings applied in place');
        return;
      case 'terminate': {
        // A successor started for an earlier edit, while another instance serves: not an outage.
        const servingBeside = [...this.instances.values()].some((i) => i !== instance && i.name === instance.name && !i.terminating && i.state === 'running');
        const what = {
          Removed: 'stopping removed server',
          SpecChanged: servingBeside ? 'stopping the instance started for an earlier edit; the serving one stays' : 'stopping changed server before its successor starts',
          // Replaced by one that serves: its successor, or (an edit undone) the instance it was to succeed.
          Replaced: instance.state === 'running' ? 'successor ready; retiring the old instance' : 'edit undone; stopping the instance started for it, the serving one stays',
        };
        this.log.info({ server: instance.name, instance: instance.id, reason: action.reason }, what[action.reason]);
        this.retire(instance);
        // An instance already resting produces no transition: look again.
        if (RESTING.has(instance.state)) this.dirty = true;
        return;
      }
      case 'hold':
        instance.held = true;
        instance.actor.send({ type: 'server.stop' });
        return;
      case 'release':
        instance.held = false;
        instance.actor.send({ type: 'server.start' });
        return;
      case 'dispose':
        instance.actor.stop();
        this.instances.delete(action.id);
        this.forgetIfGone(instance.name);
        return;
    }
  }

  private create(spec: ServerSpec, hash: string, held: boolean, generation: number): void {
    const id = `${spec.name}#${this.nextId++}`;
    const peers = [...this.instances.values()].filter((i) => i.name === spec.name && !RESTING.has(i.state));
    const workdir = this.options.workdirFor(spec, peers);
    const pin = this.pinFor(spec, peers);
    const actor = createActor(this.options.machine, {
      clock: this.clock,
      input: {
        instanceId: id,
        spec,
        workdir,
        ...(pin ? { pin } : {}),
        graceMs: this.graceMs,
        backoff: this.options.backoff,
        random: this.options.random,
      },
    });
    const instance: Instance = {
      id,
      name: spec.name,
      spec,
      hash,
      generation,
      workdir,
      actor,
      terminating: false,
      held,
      state: 'pending',
      since: this.clock.now(),
      conditions: [],
    };
    instance.conditions = mergeConditions([], instanceConditions(instance, actor.getSnapshot().context), new Date(instance.since).toISOString());
    this.instances.set(id, instance);
    actor.subscribe({
      next: (snapshot) => this.observeSnapshot(instance, snapshot.value, snapshot.context),
      error: (error) => this.log.error({ server: spec.name, err: error }, 'server actor failed'),
    });
    actor.start();
    this.log.info({ server: spec.name, hash }, 'server created');
    actor.send({ type: held ? 'server.stop' : 'server.start' });
  }

  /**
   * The commit a new instance must check out when only its `install` differs from the one serving:
   * that one's, since a second checkout of its ref now could be another commit (a branch moved).
   */
  private pinFor(spec: ServerSpec, peers: readonly Instance[]): string | undefined {
    if (spec.repo === undefined) return undefined;
    const serving = peers.find((p) => p.state === 'running' && p.spec.repo === spec.repo && p.spec.ref === spec.ref && !sameCheckout(p.spec, spec));
    return serving?.actor.getSnapshot().context.commit;
  }

  private observeSnapshot(instance: Instance, value: unknown, context: ServerContext): void {
    const to = stateName(value);
    const from = instance.state;
    if (to === from) return;
    instance.state = to;
    instance.since = this.clock.now();
    if (context.reason === 'Cloned') instance.cloned = { ok: true, reason: 'Cloned', message: context.message ?? '' };
    if (context.reason === 'CloneFailed') instance.cloned = { ok: false, reason: 'CloneFailed', message: context.message ?? '' };
    if (context.reason === 'Installed' || context.reason === 'InstallSkipped') {
      instance.installed = { ok: true, reason: context.reason, message: context.message ?? '' };
    }
    if (context.reason === 'InstallFailed') instance.installed = { ok: false, reason: 'InstallFailed', message: context.message ?? '' };
    // A successor taking over from a running predecessor (build, then swap) continues the
    // server's conditions: Ready, for one, never went False.
    const predecessor = to === 'running' ? this.servingBefore(instance) : undefined;
    instance.conditions = mergeConditions(
      predecessor?.conditions ?? instance.conditions,
      instanceConditions(instance, context),
      new Date(instance.since).toISOString(),
    );
    const processEnded = from === 'starting' || from === 'running' || from === 'stopping';
    if (processEnded && (to === 'backoff' || RESTING.has(to))) {
      instance.lastExitAt = instance.since;
      if (context.lastExit) this.emit({ type: 'exit', server: instance.name, code: context.lastExit.code, signal: context.lastExit.signal, at: this.isoNow() });
    }

    const line = {
      server: instance.name,
      from,
      to,
      reason: context.reason,
      ...(context.message ? { message: context.message } : {}),
      ...(context.pid !== undefined ? { pid: context.pid } : {}),
      ...(to === 'backoff' ? { retryInMs: context.retryDelayMs, attempt: context.failures } : {}),
    };
    if (to === 'backoff' || to === 'failed') this.log.warn(line, 'state changed');
    else this.log.info(line, 'state changed');
    this.emit({ type: 'transition', server: instance.name, from, to, reason: context.reason, message: context.message ?? null, at: this.isoNow() });
    this.reconcile('transition');
  }

  /** A manual stop: held until a manual start or a spec change (like `kubectl scale --replicas=0`). */
  hold(name: string): void {
    this.held.add(name);
    this.emit({ type: 'action', server: name, action: 'stop', at: this.isoNow() });
    this.reconcile('manual');
  }

  /** Undo a hold; or start a server that rests after a failure or completion. */
  release(name: string): void {
    this.held.delete(name);
    const active = this.activeInstance(name);
    if (active && RESTING.has(active.state) && !active.held) active.actor.send({ type: 'server.start' });
    this.emit({ type: 'action', server: name, action: 'start', at: this.isoNow() });
    this.reconcile('manual');
  }

  /**
   * A graceful restart: the instance is stopped (SIGTERM, the grace, SIGKILL) and a fresh one
   * started from the same spec, with a new process. Also releases a hold.
   */
  restart(name: string): void {
    this.held.delete(name);
    for (const instance of this.instances.values()) {
      if (instance.name !== name || instance.terminating) continue;
      this.retire(instance);
    }
    this.emit({ type: 'action', server: name, action: 'restart', at: this.isoNow() });
    this.log.info({ server: name }, 'restart requested');
    this.reconcile('manual');
  }

  /** Ask an instance to stop for good: it is on its way out, and the pass replaces or removes it. */
  private retire(instance: Instance): void {
    instance.terminating = true;
    instance.actor.send({ type: 'server.stop' });
  }

  /** Whether the server is enabled in the config (manual actions only make sense for those). */
  isEnabled(name: string): boolean {
    return this.desired.has(name);
  }

  /** Whether a manual stop holds the server. */
  isHeld(name: string): boolean {
    return this.held.has(name);
  }

  /** Whether a server of this name is configured (enabled or not). */
  has(name: string): boolean {
    return this.configured.has(name) || [...this.instances.values()].some((i) => i.name === name);
  }

  /**
   * Enabled servers (or only `only`) whose current spec has not got as far as ready or giving up
   * for now (backoff, failed, stopped). An instance of an older spec does not count for its
   * successor, whether it still serves or is being stopped: the successor may not exist yet.
   */
  startingServers(only?: string): string[] {
    return [...this.desired.keys()].filter((name) => {
      if (only !== undefined && name !== only) return false;
      const current = this.currentInstance(name);
      return !current || !GIVEN_UP_OR_READY.has(current.state);
    });
  }

  /** Resolves once no reconcile pass is pending. */
  idle(): Promise<void> {
    if (!this.looping && !this.dirty) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  subscribe(listener: (event: ControllerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: ControllerEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.log.error({ err: error }, 'event listener failed');
      }
    }
  }

  /** The instance of the same name still serving beside `successor`, if any. */
  private servingBefore(successor: Instance): Instance | undefined {
    for (const instance of this.instances.values()) {
      if (instance === successor) return undefined;
      if (instance.name === successor.name && !instance.terminating && instance.state === 'running') return instance;
    }
    return undefined;
  }

  /** A name neither configured nor running any more keeps no `ConfigValid`. */
  private forgetIfGone(name: string): void {
    if (!this.configured.has(name) && !this.activeInstance(name)) this.configValid.delete(name);
  }

  private activeInstance(name: string): Instance | undefined {
    let found: Instance | undefined;
    for (const instance of this.instances.values()) {
      if (instance.name !== name) continue;
      if (!instance.terminating) return instance;
      found = instance;
    }
    return found;
  }

  status(): OrchestratorStatus {
    const names = new Set<string>([...this.configured.keys(), ...[...this.instances.values()].map((i) => i.name)]);
    const servers = [...names].sort().map((name) => this.serverStatus(name));
    return {
      generation: this.generation,
      observedGeneration: this.observedGeneration,
      configFile: this.configFile,
      configError: this.configError,
      configIssues: this.configIssues,
      servers,
    };
  }

  serverStatus(name: string): ServerStatus {
    const entry = this.configured.get(name);
    const instance = this.activeInstance(name);
    const configValid = this.configValid.get(name) ?? validCondition(this.isoNow());

    if (!instance) {
      const spec = entry?.spec;
      const reason = !spec ? 'InvalidConfig' : spec.enabled ? 'Pending' : 'Disabled';
      const since = entry?.since ?? this.isoNow();
      return {
        name,
        state: reason === 'InvalidConfig' ? 'failed' : reason === 'Disabled' ? 'stopped' : 'pending',
        ready: false,
        // An entry rejected before any spec of it was accepted: meant to run (the default), so a
        // readiness probe counts it; what transport it would use is not known.
        enabled: spec?.enabled ?? true,
        transport: spec?.transport ?? null,
        pid: null,
        restarts: 0,
        since,
        reason,
        message: entry?.issue ?? null,
        lastExit: null,
        lastError: entry?.issue ?? null,
        nextRetryAt: null,
        configError: entry?.issue ?? null,
        observedGeneration: this.observedGeneration,
        specHash: spec ? specHash(spec) : null,
        ref: gitRef(spec),
        commit: null,
        conditions: [configValid, { type: 'Ready', status: 'False', reason, message: '', lastTransitionTime: since }],
        replacement: null,
      };
    }

    const context = instance.actor.getSnapshot().context;
    const since = new Date(instance.since).toISOString();
    const ready = instance.state === 'running';
    return {
      name,
      state: instance.state,
      ready,
      enabled: instance.spec.enabled,
      transport: instance.spec.transport,
      pid: context.pid ?? null,
      restarts: context.restarts,
      since,
      reason: context.reason,
      message: context.message ?? null,
      lastExit: context.lastExit
        ? { ...context.lastExit, at: new Date(instance.lastExitAt ?? instance.since).toISOString() }
        : null,
      lastError: context.lastError ?? null,
      nextRetryAt: instance.state === 'backoff' && context.retryDelayMs !== undefined ? new Date(instance.since + context.retryDelayMs).toISOString() : null,
      configError: entry?.issue ?? null,
      observedGeneration: instance.generation,
      specHash: instance.hash,
      ref: gitRef(instance.spec),
      commit: context.commit ?? null,
      // Reason and message as they are now; each status's time from the state change that set it.
      conditions: [configValid, ...mergeConditions(instance.conditions, instanceConditions(instance, context), since)],
      replacement: this.replacementOf(instance),
    };
  }

  /**
   * A second live instance of the same server: the successor starting beside the one serving. Or
   * none yet while the serving one runs an older spec: its successor waits for a folder, until
   * an earlier successor has stopped.
   */
  private replacementOf(serving: Instance): ReplacementStatus | null {
    for (const other of this.instances.values()) {
      if (other === serving || other.name !== serving.name || other.terminating) continue;
      const context = other.actor.getSnapshot().context;
      return {
        state: other.state,
        ref: gitRef(other.spec),
        commit: context.commit ?? null,
        reason: context.reason,
        message: context.message ?? null,
        lastError: context.lastError ?? null,
        pid: context.pid ?? null,
        since: new Date(other.since).toISOString(),
      };
    }
    const want = this.desired.get(serving.name);
    if (!want || want.hash === serving.hash || serving.terminating) return null;
    return {
      state: 'pending',
      ref: gitRef(this.configured.get(serving.name)?.spec),
      commit: null,
      reason: 'WaitingForPredecessor',
      message: 'the new spec starts once the instance started for an earlier edit has stopped',
      lastError: null,
      pid: null,
      since: this.configured.get(serving.name)?.since ?? new Date(serving.since).toISOString(),
    };
  }

  /**
   * Stop every server in parallel and wait until all rest, at most two graces (drain, then
   * SIGTERM → SIGKILL) plus a margin; anything still up then is killed at once.
   */
  async shutdown(graceMs = this.graceMs): Promise<void> {
    this.closed = true;
    const all = [...this.instances.values()];
    for (const instance of all) this.retire(instance);
    // In-flight MCP calls may drain for up to a grace before the SIGTERM grace starts.
    const deadline = 2 * graceMs + 3_000;
    const rested = Promise.all(all.map((i) => this.whenResting(i)));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      rested.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), deadline))),
    ]);
    clearTimeout(timer);
    if (timedOut) this.log.warn({ afterMs: deadline }, 'servers still stopping at the deadline; killing them');
    this.killAll();
  }

  /** Stop every actor now: their process actors' cleanup SIGKILLs what is left. */
  killAll(): void {
    this.closed = true;
    for (const instance of this.instances.values()) instance.actor.stop();
    this.instances.clear();
  }

  private whenResting(instance: Instance): Promise<void> {
    if (RESTING.has(instance.state)) return Promise.resolve();
    return new Promise((resolve) => {
      const subscription = instance.actor.subscribe((snapshot) => {
        if (RESTING.has(stateName(snapshot.value))) {
          subscription.unsubscribe();
          resolve();
        }
      });
    });
  }

  private isoNow(): string {
    return new Date(this.clock.now()).toISOString();
  }
}

/** An instance's own conditions, as its latest state and steps leave them (ConfigValid aside). */
function instanceConditions(instance: Instance, context: ServerContext): Omit<Condition, 'lastTransitionTime'>[] {
  const ready = instance.state === 'running';
  const conditions: Omit<Condition, 'lastTransitionTime'>[] = [];
  if (instance.spec.repo !== undefined) {
    conditions.push(
      instance.cloned
        ? { type: 'Cloned', status: instance.cloned.ok ? 'True' : 'False', reason: instance.cloned.reason, message: instance.cloned.message }
        : { type: 'Cloned', status: 'Unknown', reason: 'Pending', message: '' },
    );
  }
  conditions.push(
    instance.installed
      ? { type: 'Installed', status: instance.installed.ok ? 'True' : 'False', reason: instance.installed.reason, message: instance.installed.message }
      : { type: 'Installed', status: 'Unknown', reason: 'Pending', message: '' },
    { type: 'Ready', status: ready ? 'True' : 'False', reason: ready ? 'Ready' : context.reason, message: ready ? '' : (context.message ?? '') },
  );
  return conditions;
}

function validCondition(at: string): Condition {
  return { type: 'ConfigValid', status: 'True', reason: 'Valid', message: '', lastTransitionTime: at };
}
