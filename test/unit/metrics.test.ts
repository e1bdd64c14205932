/**
 * Metrics from a real Controller (scripted server machine, simulated clock) and a real EventLog,
 * read back through a Prometheus text-format parser.
 */
import parsePrometheus from 'parse-prometheus-text-format';
import type { Histogram } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { EventLog } from '../../src/control/events.js';
import { startHttpServer, type RunningHttpServer } from '../../src/control/http.js';
import { exitOutcome, Metrics, metricsRoutes } from '../../src/control/metrics.js';
import { controllerHarness, flush, loaded, spec } from '../machines/fakes.js';
import { silentLogger } from '../../src/log.js';

type Family = ReturnType<typeof parsePrometheus>[number];

const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

function setup() {
  const { clock, controller, settle, procOf } = controllerHarness();
  const events = new EventLog();
  controller.subscribe((event) => events.append(event));
  const metrics = new Metrics({ controller, events, now: () => clock.now() });
  closers.push(() => metrics.close(), () => controller.killAll());
  const scrape = async () => parsePrometheus(await metrics.render());
  return { clock, controller, events, metrics, settle, procOf, scrape };
}

const P = 'mcp_orchestrator_';

function family(families: Family[], name: string): Family {
  const found = families.find((f) => f.name === `${P}${name}`);
  if (!found) throw new Error(`no metric ${P}${name}; have ${families.map((f) => f.name).join(', ')}`);
  return found;
}

/** The value of the one sample whose labels include `labels`; undefined when there is none. */
function value(families: Family[], name: string, labels: Record<string, string> = {}): number | undefined {
  const sample = family(families, name).metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return sample?.value === undefined ? undefined : Number(sample.value);
}

describe('Metrics', () => {
  it('renders parseable text with per-server state, readiness and generations', async () => {
    const t = setup();
    t.controller.applyConfig(loaded([spec({ name: 'a' }), spec({ name: 'b' })]));
    await t.settle();
    t.clock.increment(7_000);
    const m = await t.scrape();

    expect(family(m, 'server_state').type).toBe('GAUGE');
    const aStates = family(m, 'server_state').metrics.filter((s) => s.labels?.['server'] === 'a');
    expect(aStates).toHaveLength(9);
    expect(aStates.filter((s) => s.value === '1').map((s) => s.labels?.['state'])).toEqual(['running']);
    expect(value(m, 'server_ready', { server: 'a' })).toBe(1);
    expect(value(m, 'server_up', { server: 'b' })).toBe(1);
    expect(value(m, 'server_state_seconds', { server: 'a' })).toBe(7);
    expect(value(m, 'config_generation')).toBe(1);
    expect(value(m, 'config_observed_generation')).toBe(1);
    expect(value(m, 'server_restarts_total', { server: 'a' })).toBe(0);
    expect(value(m, 'config_reload_failures_total')).toBe(0);
    // Node process metrics share the registry and the prefix.
    expect(m.some((f) => f.name === `${P}process_cpu_user_seconds_total`)).toBe(true);
    // The event loop's lag from a probe each scrape starts, not the percentiles of a 10 ms timer's lateness.
    expect(m.some((f) => f.name === `${P}nodejs_eventloop_lag_seconds`)).toBe(true);
    expect(m.filter((f) => f.name.startsWith(`${P}nodejs_eventloop_lag_`)).map((f) => f.name)).toEqual([`${P}nodejs_eventloop_lag_seconds`]);
    expect(t.metrics.contentType).toMatch(/^text\/plain/);
  });

  it('counts a crash as an exit, and its re-spawn as a restart', async () => {
    const t = setup();
    t.controller.applyConfig(loaded([spec({ name: 'a' }), spec({ name: 'b' })]));
    await t.settle();
    const before = await t.scrape();
    expect(family(before, 'server_exits_total').metrics).toEqual([]);

    t.procOf('a').exit(1);
    await t.settle();
    const crashed = await t.scrape();
    expect(value(crashed, 'server_exits_total', { server: 'a', outcome: 'code_1' })).toBe(1);
    expect(value(crashed, 'server_state', { server: 'a', state: 'backoff' })).toBe(1);
    expect(value(crashed, 'server_ready', { server: 'a' })).toBe(0);
    expect(value(crashed, 'server_up', { server: 'a' })).toBe(0);
    expect(value(crashed, 'server_restarts_total', { server: 'a' })).toBe(0);

    // The first backoff is 1 s (random 0.5 means no jitter); then the machine spawns again.
    t.clock.increment(1_000);
    await t.settle();
    t.procOf('a').exit(null, 'SIGKILL');
    await t.settle();
    t.clock.increment(2_000);
    await t.settle();
    const m = await t.scrape();
    expect(value(m, 'server_restarts_total', { server: 'a' })).toBe(2);
    expect(value(m, 'server_exits_total', { server: 'a', outcome: 'code_1' })).toBe(1);
    expect(value(m, 'server_exits_total', { server: 'a', outcome: 'signal_SIGKILL' })).toBe(1);
    expect(value(m, 'server_state', { server: 'a', state: 'running' })).toBe(1);
    // The other server did not move.
    expect(value(m, 'server_restarts_total', { server: 'b' })).toBe(0);
    expect(value(m, 'server_exits_total', { server: 'b' })).toBeUndefined();
    expect(t.controller.serverStatus('a').restarts).toBe(2);
  });

  it('counts rejected config loads and follows the generation', async () => {
    const t = setup();
    t.controller.applyConfig(loaded([spec({ name: 'a' })]));
    await t.settle();
    t.controller.applyConfig({ ok: false, issues: [{ file: 'f', line: 1, column: 1, path: '', message: 'invalid TOML' }] });
    t.controller.applyConfig(loaded([spec({ name: 'a' }), spec({ name: 'c' })]));
    await t.settle();
    const m = await t.scrape();
    expect(value(m, 'config_reload_failures_total')).toBe(1);
    expect(value(m, 'config_generation')).toBe(2);
    expect(value(m, 'config_observed_generation')).toBe(2);
    expect(value(m, 'server_state', { server: 'c', state: 'running' })).toBe(1);
  });

  it('drops a removed server from the gauges', async () => {
    const t = setup();
    t.controller.applyConfig(loaded([spec({ name: 'a' }), spec({ name: 'b' })]));
    await t.settle();
    const procB = t.procOf('b');
    t.controller.applyConfig(loaded([spec({ name: 'a' })]));
    await t.settle();
    procB.exit(null, 'SIGTERM');
    await t.settle();
    const m = await t.scrape();
    expect(value(m, 'server_ready', { server: 'b' })).toBeUndefined();
    expect(value(m, 'server_ready', { server: 'a' })).toBe(1);
    expect(value(m, 'server_exits_total', { server: 'b', outcome: 'signal_SIGTERM' })).toBe(1);
  });

  it('observeCall moves the call counters and the latency histogram per server and tool', async () => {
    const t = setup();
    t.metrics.observeCall({ server: 'fs', method: 'tools/call', name: 'read', seconds: 0.004, ok: true });
    t.metrics.observeCall({ server: 'fs', method: 'tools/call', name: 'read', seconds: 0.2, ok: false });
    t.metrics.observeCall({ server: 'fs', method: 'tools/call', name: 'write', seconds: 12, ok: true });
    t.metrics.observeCall({ server: 'mem', method: 'resources/read', seconds: 0.0005, ok: true });
    t.metrics.observeCall({ server: 'mem', method: 'prompts/get', name: 'greet', seconds: 0.01, ok: true });
    const m = await t.scrape();

    expect(value(m, 'gateway_calls_total', { server: 'fs', method: 'tools/call', tool: 'read' })).toBe(2);
    expect(value(m, 'gateway_call_errors_total', { server: 'fs', method: 'tools/call', tool: 'read' })).toBe(1);
    expect(value(m, 'gateway_calls_total', { server: 'fs', tool: 'write' })).toBe(1);
    expect(value(m, 'gateway_call_errors_total', { server: 'fs', tool: 'write' })).toBeUndefined();
    // Non-tool methods carry an empty tool label.
    const mem = family(m, 'gateway_calls_total').metrics.filter((s) => s.labels?.['server'] === 'mem');
    expect(mem.map((s) => [s.labels?.['method'], s.labels?.['tool'] ?? '', s.value])).toEqual([
      ['resources/read', '', '1'],
      ['prompts/get', '', '1'],
    ]);

    t.metrics.observeRefused('fs', 'backoff');
    t.metrics.observeRefused('fs', 'backoff');
    expect(value(await t.scrape(), 'gateway_calls_refused_total', { server: 'fs', state: 'backoff' })).toBe(2);

    // The text parser folds every label set of a histogram into one, so read the buckets from the
    // registry itself; the text only has to parse as a histogram.
    expect(family(m, 'gateway_call_duration_seconds').type).toBe('HISTOGRAM');
    const histogram = t.metrics.registry.getSingleMetric(`${P}gateway_call_duration_seconds`) as Histogram | undefined;
    if (!histogram) throw new Error('no histogram');
    const { values } = await histogram.get();
    const sample = (suffix: string, labels: Record<string, string | number>) =>
      values.find((v) => v.metricName === `${P}gateway_call_duration_seconds${suffix}` && Object.entries(labels).every(([k, want]) => v.labels[k] === want))?.value;
    const read = { server: 'fs', method: 'tools/call', tool: 'read' };
    expect(sample('_count', read)).toBe(2);
    expect(sample('_sum', read)).toBeCloseTo(0.204, 6);
    expect(sample('_bucket', { ...read, le: 0.001 })).toBe(0);
    expect(sample('_bucket', { ...read, le: 0.005 })).toBe(1);
    expect(sample('_bucket', { ...read, le: 0.25 })).toBe(2);
    expect(sample('_bucket', { ...read, le: 30 })).toBe(2);
    const write = { server: 'fs', method: 'tools/call', tool: 'write' };
    expect(sample('_bucket', { ...write, le: 10 })).toBe(0);
    expect(sample('_bucket', { ...write, le: 30 })).toBe(1);
    expect(sample('_bucket', { server: 'mem', method: 'resources/read', tool: '', le: 0.001 })).toBe(1);
    expect(sample('_bucket', { server: 'mem', method: 'prompts/get', tool: '', le: 0.005 })).toBe(0);
    expect(sample('_bucket', { server: 'mem', method: 'prompts/get', tool: '', le: 0.01 })).toBe(1);
  });

  it.each([
    ['gateway_calls_total', '', 3],
    ['gateway_call_errors_total', '', 1],
    ['gateway_call_duration_seconds', '_count', 3],
  ])('%s, read alone straight from the registry, counts the calls not yet folded in', async (metric, suffix, want) => {
    const t = setup();
    for (let i = 0; i < 3; i++) t.metrics.observeCall({ server: 'fs', method: 'tools/call', name: 'read', seconds: 0.002, ok: i > 0 });
    expect(t.metrics.unfoldedCalls).toBe(3);
    const text = await t.metrics.registry.getSingleMetricAsString(`${P}${metric}`);
    expect(text).toContain(`${P}${metric}${suffix}{server="fs",method="tools/call",tool="read"} ${want}`);
    expect(t.metrics.unfoldedCalls).toBe(0);
  });

  it('folds a full batch of calls after the turn that filled it, without a read', async () => {
    const t = setup();
    const call = { server: 'fs', method: 'tools/call', name: 'read', seconds: 0.002, ok: true };
    for (let i = 0; i < 300; i++) t.metrics.observeCall(call);
    // Not in the turn that answers the calls: the batch waits for the next one.
    expect(t.metrics.unfoldedCalls).toBe(300);
    await flush();
    expect(t.metrics.unfoldedCalls).toBe(0);
    for (let i = 0; i < 10; i++) t.metrics.observeCall(call);
    await flush();
    expect(t.metrics.unfoldedCalls).toBe(10);
    expect(value(await t.scrape(), 'gateway_calls_total', { server: 'fs', tool: 'read' })).toBe(310);
  });

  it('caps the distinct tool labels of one server', async () => {
    const t = setup();
    for (let i = 0; i < 300; i++) t.metrics.observeCall({ server: 'noisy', method: 'tools/call', name: `t${i}`, seconds: 0.01, ok: true });
    const m = await t.scrape();
    const samples = family(m, 'gateway_calls_total').metrics;
    expect(samples).toHaveLength(257);
    expect(value(m, 'gateway_calls_total', { tool: '_other' })).toBe(44);
  });

  it('serves GET /metrics in the registry content type', async () => {
    const t = setup();
    t.controller.applyConfig(loaded([spec({ name: 'a' })]));
    await t.settle();
    const server: RunningHttpServer = await startHttpServer({ host: '127.0.0.1', port: 0, routes: metricsRoutes(t.metrics), access: { loopbackOnly: true }, log: silentLogger() });
    closers.push(() => server.close());
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(t.metrics.contentType);
    const m = parsePrometheus(await res.text());
    expect(value(m, 'server_ready', { server: 'a' })).toBe(1);
  });
});

describe('exitOutcome', () => {
  it.each([
    [0, null, 'code_0'],
    [137, null, 'code_137'],
    [null, 'SIGTERM', 'signal_SIGTERM'],
    [null, null, 'error'],
  ] as const)('(%s, %s) → %s', (code, signal, want) => {
    expect(exitOutcome(code, signal)).toBe(want);
  });
});
