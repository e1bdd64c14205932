/**
 * `GET /metrics`: Prometheus text format from a registry of our own. Per-server gauges are read
 * from the controller's status at scrape time; counters are fed by the event log (exits, restarts,
 * rejected configs) and by the gateway (`observeCall`).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ServerStateName } from '../../machines/server.js';
import type { CallRecord } from '../gateway/gateway.js';
import type { Controller, ControllerEvent } from '../reconcile/controller.js';
import type { EventLog } from './events.js';
import type { Route } from './http.js';

const METRICS_PREFIX = 'mcp_orchestrator_';

const STATES: readonly ServerStateName[] = ['pending', 'cloning', 'installing', 'starting', 'running', 'backoff', 'stopping', 'stopped', 'failed'];

/** States in which the server has a live process (in backoff the status still shows the last pid). */
const LIVE: ReadonlySet<ServerStateName> = new Set(['starting', 'running', 'stopping']);

/** MCP calls range from a cached list (a millisecond) to a slow tool (tens of seconds). */
const CALL_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * Forwarded calls wait in a batch of up to this many before they are folded into prom-client's
 * series, which validates and hashes their labels: done on the gateway's path, one call at a time,
 * that cost more than the rest of a call's trip. A full batch is folded after the answers of that
 * turn are written, and any read of a call metric folds what waits first, so no scrape misses one.
 */
const FOLD_CALLS_EVERY = 256;

/** Past this many distinct tool names per server, further ones share the label `_other`. */
const MAX_TOOLS_PER_SERVER = 256;

/**
 * prom-client's `nodejs_eventloop_lag_{min,max,mean,stddev,p50,p90,p99}_seconds` come from a timer
 * that fires every 10 ms, waking an idle orchestrator a hundred times a second, and each value
 * includes that period (so a coarser timer would make them read the period, not the lag). They are
 * left out; `nodejs_eventloop_lag_seconds`, from a probe each scrape starts, stays.
 */
const SAMPLED_LAG = /_eventloop_lag_(min|max|mean|stddev|p50|p90|p99)_seconds$/;
/** The period of the timer behind the metrics left out: rare, since nothing reads it. */
const UNUSED_LAG_TIMER_MS = 60_000;

export interface MetricsOptions {
  controller: Controller;
  events: EventLog;
  /** Wall-clock milliseconds, for "seconds in the current state"; the controller's clock in tests. */
  now?: () => number;
  /** Node process metrics (CPU, memory, event loop) on the same registry; on by default. */
  processMetrics?: boolean;
}

/** `code_0`, `signal_SIGTERM`, or `error` when the process could not be spawned at all. */
export function exitOutcome(code: number | null, signal: string | null): string {
  if (signal !== null) return `signal_${signal}`;
  if (code !== null) return `code_${code}`;
  return 'error';
}

export class Metrics {
  readonly registry = new Registry();
  readonly contentType: string;
  private readonly controller: Controller;
  private readonly now: () => number;
  private readonly unsubscribe: () => void;
  private readonly toolsSeen = new Map<string, Set<string>>();
  private unfolded: CallRecord[] = [];
  private foldScheduled = false;

  private readonly state: Gauge<'server' | 'state'>;
  private readonly ready: Gauge<'server'>;
  private readonly up: Gauge<'server'>;
  private readonly stateSeconds: Gauge<'server'>;
  private readonly restarts: Counter<'server'>;
  private readonly exits: Counter<'server' | 'outcome'>;
  private readonly generation: Gauge;
  private readonly observedGeneration: Gauge;
  private readonly reloadFailures: Counter;
  private readonly calls: Counter<'server' | 'method' | 'tool'>;
  private readonly callErrors: Counter<'server' | 'method' | 'tool'>;
  private readonly refused: Counter<'server' | 'state'>;
  private readonly callSeconds: Histogram<'server' | 'method' | 'tool'>;

  constructor(options: MetricsOptions) {
    this.controller = options.controller;
    this.now = options.now ?? Date.now;
    this.contentType = this.registry.contentType;
    const registers = [this.registry];
    const name = (n: string) => `${METRICS_PREFIX}${n}`;

    this.state = new Gauge({ name: name('server_state'), help: 'The server state: 1 for the current state, 0 for the others', labelNames: ['server', 'state'], registers });
    this.ready = new Gauge({ name: name('server_ready'), help: 'Whether the server is ready (state running)', labelNames: ['server'], registers });
    this.up = new Gauge({ name: name('server_up'), help: 'Whether the server has a live process', labelNames: ['server'], registers });
    this.stateSeconds = new Gauge({ name: name('server_state_seconds'), help: 'Seconds since the server entered its current state', labelNames: ['server'], registers });
    this.restarts = new Counter({ name: name('server_restarts_total'), help: 'Processes spawned again by the restart policy (backoff to starting)', labelNames: ['server'], registers });
    this.exits = new Counter({ name: name('server_exits_total'), help: 'Process exits, by outcome (code_N, signal_NAME, error)', labelNames: ['server', 'outcome'], registers });
    this.generation = new Gauge({ name: name('config_generation'), help: 'Accepted config loads so far', registers });
    this.observedGeneration = new Gauge({ name: name('config_observed_generation'), help: 'The config generation the controller has finished applying', registers });
    this.reloadFailures = new Counter({ name: name('config_reload_failures_total'), help: 'Config loads rejected whole (the last good config kept running)', registers });
    // Whoever reads one of the call metrics first folds the calls not yet counted.
    const collect = () => this.foldCalls();
    const labelNames = ['server', 'method', 'tool'] as const;
    this.calls = new Counter({ name: name('gateway_calls_total'), help: 'Calls forwarded to servers by the gateway', labelNames, registers, collect });
    this.callErrors = new Counter({ name: name('gateway_call_errors_total'), help: 'Forwarded calls answered with a JSON-RPC error', labelNames, registers, collect });
    this.refused = new Counter({
      name: name('gateway_calls_refused_total'),
      help: 'Calls answered -32001 at once because their server was not ready, by the state it was in',
      labelNames: ['server', 'state'],
      registers,
    });
    this.callSeconds = new Histogram({
      name: name('gateway_call_duration_seconds'),
      help: 'Time from forwarding a call to its answer',
      labelNames,
      buckets: CALL_BUCKETS,
      registers,
      collect,
    });

    if (options.processMetrics ?? true) {
      const defaults = new Registry();
      collectDefaultMetrics({ register: defaults, prefix: METRICS_PREFIX, eventLoopMonitoringPrecision: UNUSED_LAG_TIMER_MS });
      for (const { name: metricName } of defaults.getMetricsAsArray()) {
        const metric = defaults.getSingleMetric(metricName);
        if (metric && !SAMPLED_LAG.test(metricName)) this.registry.registerMetric(metric);
      }
    }
    this.unsubscribe = options.events.subscribe(({ event }) => this.onEvent(event));
  }

  /** Count one forwarded call (the gateway's `onCall`): kept, and folded in with its batch. */
  observeCall(call: CallRecord): void {
    if (this.unfolded.push(call) < FOLD_CALLS_EVERY || this.foldScheduled) return;
    this.foldScheduled = true;
    setImmediate(this.foldCalls);
  }

  /** Count one call refused because its server was not ready (the gateway's `onRefused`). */
  observeRefused(server: string, state: string): void {
    this.refused.inc({ server, state });
  }

  /** Calls counted but not yet folded into the series (at most a batch, and a turn's calls). */
  get unfoldedCalls(): number {
    return this.unfolded.length;
  }

  private readonly foldCalls = (): void => {
    this.foldScheduled = false;
    const calls = this.unfolded;
    this.unfolded = [];
    // The histogram takes each call; the counters take each label set's sum once.
    const sums = new Map<string, { labels: Record<'server' | 'method' | 'tool', string>; calls: number; errors: number }>();
    for (const call of calls) {
      const labels = { server: call.server, method: call.method, tool: this.toolLabel(call) };
      this.callSeconds.observe(labels, call.seconds);
      const key = JSON.stringify([labels.server, labels.method, labels.tool]);
      const sum = sums.get(key);
      if (sum) {
        sum.calls += 1;
        if (!call.ok) sum.errors += 1;
      } else sums.set(key, { labels, calls: 1, errors: call.ok ? 0 : 1 });
    }
    for (const { labels, calls: count, errors } of sums.values()) {
      this.calls.inc(labels, count);
      if (errors > 0) this.callErrors.inc(labels, errors);
    }
  };

  /** The exposition text, with the per-server gauges read from the controller now. */
  async render(): Promise<string> {
    this.refresh();
    return this.registry.metrics();
  }

  /** Stop listening to the event log. */
  close(): void {
    this.unsubscribe();
  }

  private toolLabel(call: CallRecord): string {
    if (call.method !== 'tools/call' || call.name === undefined) return '';
    let seen = this.toolsSeen.get(call.server);
    if (!seen) this.toolsSeen.set(call.server, (seen = new Set()));
    if (seen.has(call.name)) return call.name;
    // A server that invents tool names must not blow up the series count.
    if (seen.size >= MAX_TOOLS_PER_SERVER) return '_other';
    seen.add(call.name);
    return call.name;
  }

  private onEvent(event: ControllerEvent): void {
    switch (event.type) {
      case 'exit':
        this.exits.inc({ server: event.server, outcome: exitOutcome(event.code, event.signal) });
        return;
      case 'transition':
        if (event.from === 'backoff' && event.to === 'starting') this.restarts.inc({ server: event.server });
        return;
      case 'config':
        if (!event.accepted) this.reloadFailures.inc();
        return;
      case 'action':
        return;
    }
  }

  private refresh(): void {
    const status = this.controller.status();
    const now = this.now();
    // Servers that left the config leave the gauges too.
    this.state.reset();
    this.ready.reset();
    this.up.reset();
    this.stateSeconds.reset();
    for (const server of status.servers) {
      const labels = { server: server.name };
      for (const state of STATES) this.state.set({ server: server.name, state }, state === server.state ? 1 : 0);
      this.ready.set(labels, server.ready ? 1 : 0);
      this.up.set(labels, server.pid !== null && LIVE.has(server.state) ? 1 : 0);
      this.stateSeconds.set(labels, Math.max(0, (now - Date.parse(server.since)) / 1000));
      // Present at 0 from the start, so rate() sees the first increment.
      this.restarts.inc(labels, 0);
    }
    this.generation.set(status.generation);
    this.observedGeneration.set(status.observedGeneration);
  }
}

/** `GET /metrics`. */
export function metricsRoutes(metrics: Metrics): Route[] {
  return [
    {
      method: 'GET',
      path: /^\/metrics\/?$/,
      handle: async ({ res }) => {
        const text = await metrics.render();
        res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
        res.end(text);
      },
    },
  ];
}
