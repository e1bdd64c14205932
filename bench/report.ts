import { percentile } from './load.js';
import type { MachineInfo } from './procs.js';
import type { TargetName } from './targets.js';

/** What was measured for one target at one concurrency, summed over every round. */
export interface Cell {
  target: TargetName;
  concurrency: number;
  latencies: number[];
  wallMs: number;
  gatewayCpuMs: number;
  serverCpuMs: number;
  clientCpuMs: number;
}

export interface TargetOutcome {
  name: TargetName;
  command: string;
  ok: boolean;
  /** Where it failed and why. */
  failure?: { phase: 'start' | 'warm-up' | 'measure' | 'close'; message: string };
  notes: string[];
  hasGateway: boolean;
}

export interface Stats {
  calls: number;
  p50: number;
  p99: number;
  callsPerSec: number;
  gatewayCpuPerCall: number | undefined;
  serverCpuPerCall: number;
  /** Fewer than PRECISE_TICKS clock ticks behind the figure: each visit's delta is ±1 tick. */
  gatewayCpuRough: boolean;
  serverCpuRough: boolean;
  clientCpuPerCall: number;
}

export interface RunInfo {
  startedAt: string;
  durationSec: number;
  machine: MachineInfo;
  loadAvgAfter: string;
  node: string;
  versions: Record<string, string>;
  orchestratorBuild: string;
  callsPerCell: number;
  rounds: number;
  warmupCalls: number;
  concurrencies: number[];
  callTimeoutMs: number;
  ticksPerSecond: number;
  large?: LargePhase;
  idle?: { seconds: number; settleSeconds: number; rows: IdleRow[] };
}

/** One target left without calls: how often its processes woke up, and the CPU they used. */
export interface IdleRow {
  target: TargetName;
  /** Undefined for the baselines, which have no gateway. */
  gatewayWakeupsPerSec: number | undefined;
  gatewayCpuMsPerMin: number | undefined;
  serverWakeupsPerSec: number;
  serverCpuMsPerMin: number;
}

export interface Check {
  label: string;
  result: 'PASS' | 'FAIL' | 'n/a';
  detail: string;
}

/** Below this many clock ticks a CPU figure is printed as approximate (≈). */
export const PRECISE_TICKS = 100;

export function stats(cell: Cell, hasGateway: boolean, tickMs: number): Stats {
  const sorted = [...cell.latencies].sort((a, b) => a - b);
  const calls = sorted.length;
  return {
    calls,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    callsPerSec: (calls * 1000) / cell.wallMs,
    gatewayCpuPerCall: hasGateway ? cell.gatewayCpuMs / calls : undefined,
    serverCpuPerCall: cell.serverCpuMs / calls,
    clientCpuPerCall: cell.clientCpuMs / calls,
    gatewayCpuRough: cell.gatewayCpuMs / tickMs < PRECISE_TICKS,
    serverCpuRough: cell.serverCpuMs / tickMs < PRECISE_TICKS,
  };
}

export type StatsTable = Map<TargetName, Map<number, Stats>>;

/** The second part of a run: a large answer through the stdio floor and the orchestrator. */
export interface LargePhase {
  table: StatsTable;
  outcomes: TargetOutcome[];
  calls: number;
  rounds: number;
  /** Size of the file read, in bytes. */
  fileBytes: number;
}

export function statsTable(cells: readonly Cell[], outcomes: readonly TargetOutcome[], tickMs: number): StatsTable {
  const table: StatsTable = new Map();
  for (const outcome of outcomes) {
    if (!outcome.ok) continue;
    const row = new Map<number, Stats>();
    for (const cell of cells) {
      if (cell.target === outcome.name && cell.latencies.length > 0) row.set(cell.concurrency, stats(cell, outcome.hasGateway, tickMs));
    }
    table.set(outcome.name, row);
  }
  return table;
}

/** The two stdio floors each stdio check names beside its limit. */
const floors = [
  ['stdio-relay', 'the zero-parse relay'],
  ['stdio-parse-relay', 'the parsing relay'],
] as const satisfies readonly (readonly [TargetName, string])[];

export function checks(table: StatsTable, concurrencies: readonly number[]): Check[] {
  const get = (name: TargetName, c: number): Stats | undefined => table.get(name)?.get(c);
  const out: Check[] = [];
  for (const c of concurrencies) {
    const orch = get('orchestrator-http', c);
    const sg = get('supergateway', c);
    const mp = get('mcp-proxy', c);
    const label = `orchestrator /mcp p50 ≤ min(supergateway, mcp-proxy) p50 @ c=${c}`;
    if (!orch) out.push({ label, result: 'FAIL', detail: 'orchestrator-http has no result' });
    else if (!sg && !mp) out.push({ label, result: 'n/a', detail: 'neither supergateway nor mcp-proxy has a result' });
    else {
      const limit = Math.min(sg?.p50 ?? Infinity, mp?.p50 ?? Infinity);
      out.push({ label, result: orch.p50 <= limit ? 'PASS' : 'FAIL', detail: `${ms(orch.p50)} vs ${ms(limit)} ms` });
    }
  }
  for (const c of concurrencies) {
    const orch = get('orchestrator-http', c);
    const mp = get('mcp-proxy', c);
    const label = `orchestrator /mcp CPU/call ≤ 0.5 × mcp-proxy @ c=${c}`;
    if (!orch || orch.gatewayCpuPerCall === undefined) out.push({ label, result: 'FAIL', detail: 'orchestrator-http has no result' });
    else if (!mp || mp.gatewayCpuPerCall === undefined) out.push({ label, result: 'n/a', detail: 'mcp-proxy has no result' });
    else {
      const limit = 0.5 * mp.gatewayCpuPerCall;
      out.push({
        label,
        result: orch.gatewayCpuPerCall <= limit ? 'PASS' : 'FAIL',
        detail: `${cpu(orch.gatewayCpuPerCall)} vs ${cpu(limit)} ms`,
      });
    }
  }
  for (const c of concurrencies) {
    const orch = get('orchestrator-stdio', c);
    const direct = get('direct-stdio', c);
    const label = `run --stdio p50 ≤ 1.5 × direct stdio p50 @ c=${c}`;
    if (!orch) out.push({ label, result: 'FAIL', detail: 'orchestrator-stdio has no result' });
    else if (!direct) out.push({ label, result: 'n/a', detail: 'direct-stdio has no result' });
    else {
      const limit = 1.5 * direct.p50;
      const floor = floors.map(([name, what]) => {
        const relay = get(name, c);
        return relay ? `; ${what}: ${ms(relay.p50)} ms${relay.p50 > limit ? ', itself over the limit' : ''}` : '';
      });
      out.push({ label, result: orch.p50 <= limit ? 'PASS' : 'FAIL', detail: `${ms(orch.p50)} vs ${ms(limit)} ms${floor.join('')}` });
    }
  }
  {
    const label = 'run --stdio calls/s ≥ 0.6 × direct stdio @ c=8';
    const orch = get('orchestrator-stdio', 8);
    const direct = get('direct-stdio', 8);
    if (!concurrencies.includes(8)) out.push({ label, result: 'n/a', detail: 'concurrency 8 was not measured' });
    else if (!orch) out.push({ label, result: 'FAIL', detail: 'orchestrator-stdio has no result' });
    else if (!direct) out.push({ label, result: 'n/a', detail: 'direct-stdio has no result' });
    else {
      const limit = 0.6 * direct.callsPerSec;
      const floor = floors.map(([name, what]) => {
        const relay = get(name, 8);
        return relay ? `; ${what}: ${Math.round(relay.callsPerSec)} calls/s${relay.callsPerSec < limit ? ', itself under the limit' : ''}` : '';
      });
      out.push({
        label,
        result: orch.callsPerSec >= limit ? 'PASS' : 'FAIL',
        detail: `${Math.round(orch.callsPerSec)} vs ${Math.round(limit)} calls/s${floor.join('')}`,
      });
    }
  }
  return out;
}

function ms(value: number): string {
  if (!Number.isFinite(value)) return '–';
  return value < 1 ? value.toFixed(3) : value < 10 ? value.toFixed(2) : value.toFixed(1);
}

function cpu(value: number | undefined, rough = false): string {
  return value === undefined || !Number.isFinite(value) ? 'n/a' : `${rough ? '≈' : ''}${value.toFixed(3)}`;
}

function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return '–';
  return `${(a / b).toFixed(2)}×`;
}

const HEADER = [
  'target',
  'conc',
  'calls',
  'p50 ms',
  'p99 ms',
  'calls/s',
  'gateway CPU ms/call',
  'server CPU ms/call',
  'client CPU ms/call',
  'p50 vs direct stdio',
  'calls/s vs direct stdio',
  'p50 vs server HTTP',
  'CPU/call vs mcp-proxy',
];

export function resultRows(table: StatsTable, outcomes: readonly TargetOutcome[], concurrencies: readonly number[]): string[][] {
  const rows: string[][] = [];
  for (const outcome of outcomes) {
    for (const c of concurrencies) {
      const s = table.get(outcome.name)?.get(c);
      if (!outcome.ok || !s) {
        const why = outcome.failure ? `FAILED (${outcome.failure.phase})` : 'no result';
        rows.push([outcome.name, String(c), why, ...Array<string>(HEADER.length - 3).fill('')]);
        continue;
      }
      const direct = table.get('direct-stdio')?.get(c);
      const http = table.get('server-http')?.get(c);
      const proxy = table.get('mcp-proxy')?.get(c);
      rows.push([
        outcome.name,
        String(c),
        String(s.calls),
        ms(s.p50),
        ms(s.p99),
        String(Math.round(s.callsPerSec)),
        cpu(s.gatewayCpuPerCall, s.gatewayCpuRough),
        cpu(s.serverCpuPerCall, s.serverCpuRough),
        cpu(s.clientCpuPerCall),
        ratio(s.p50, direct?.p50),
        ratio(s.callsPerSec, direct?.callsPerSec),
        ratio(s.p50, http?.p50),
        ratio(s.gatewayCpuPerCall, proxy?.gatewayCpuPerCall),
      ]);
    }
  }
  return rows;
}

/** A markdown table with padded columns, readable as plain text too. */
export function markdownTable(header: readonly string[], rows: readonly string[][], numericFrom = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((cell, i) => (i >= numericFrom ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i >= numericFrom ? `${'-'.repeat(w + 1)}:` : `${'-'.repeat(w + 2)}`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

export function resultsTable(table: StatsTable, outcomes: readonly TargetOutcome[], concurrencies: readonly number[]): string {
  return markdownTable(HEADER, resultRows(table, outcomes, concurrencies), 1);
}

/**
 * The stdio targets beside the floors measured in the same run, each as a ratio to direct stdio:
 * a byte relay that parses nothing, a relay that parses and renames as little as a gateway must,
 * and `run --stdio`.
 */
export function stdioFloorTable(table: StatsTable, concurrencies: readonly number[]): string {
  const get = (name: TargetName, c: number): Stats | undefined => table.get(name)?.get(c);
  const names = ['stdio-relay', 'stdio-parse-relay', 'orchestrator-stdio'] as const;
  const rows = concurrencies.map((c) => {
    const direct = get('direct-stdio', c);
    return [
      String(c),
      ...names.map((name) => ratio(get(name, c)?.p50, direct?.p50)),
      ...names.map((name) => ratio(get(name, c)?.callsPerSec, direct?.callsPerSec)),
    ];
  });
  return markdownTable(
    [
      'conc',
      'zero-parse relay p50',
      'parsing relay p50',
      'run --stdio p50',
      'zero-parse relay calls/s',
      'parsing relay calls/s',
      'run --stdio calls/s',
    ],
    rows,
  );
}

/** The idle part as a table; each gateway's wake-ups are compared with mcp-proxy's. */
export function idleTable(rows: readonly IdleRow[]): string {
  const reference = rows.find((r) => r.target === 'mcp-proxy')?.gatewayWakeupsPerSec;
  const figure = (value: number | undefined) => (value === undefined ? 'n/a' : value.toFixed(1));
  return markdownTable(
    ['target', 'gateway wake-ups/s', 'gateway CPU ms/min', 'server wake-ups/s', 'server CPU ms/min', 'gateway wake-ups vs mcp-proxy'],
    rows.map((r) => [
      r.target,
      figure(r.gatewayWakeupsPerSec),
      figure(r.gatewayCpuMsPerMin),
      figure(r.serverWakeupsPerSec),
      figure(r.serverCpuMsPerMin),
      ratio(r.gatewayWakeupsPerSec, reference),
    ]),
  );
}

export function checksText(list: readonly Check[]): string {
  return list.map((c) => `- **${c.result}** ${c.label} — ${c.detail}`).join('\n');
}

export function failuresText(outcomes: readonly TargetOutcome[]): string {
  const failed = outcomes.filter((o) => o.failure);
  if (failed.length === 0) return 'None.';
  return failed
    .map((o) => {
      const message = (o.failure?.message ?? '').trim().split('\n').map((l) => `    ${l}`).join('\n');
      return `- \`${o.name}\` failed during ${o.failure?.phase}:\n\n${message}`;
    })
    .join('\n\n');
}

export function markdownReport(
  info: RunInfo,
  table: StatsTable,
  outcomes: readonly TargetOutcome[],
  checkList: readonly Check[],
): string {
  const m = info.machine;
  const env = markdownTable(
    ['', ''],
    [
      ['date', info.startedAt],
      ['CPU', `${m.cpuModel} × ${m.cores} (clock tick ${1000 / info.ticksPerSecond} ms)`],
      ['memory', m.memTotal],
      ['kernel', m.kernel],
      ['load average before / after', `${m.loadAvg} / ${info.loadAvgAfter}`],
      ['Node.js', info.node],
      ...Object.entries(info.versions).map(([name, version]) => [name, version]),
      ['orchestrator build', info.orchestratorBuild],
      ['measured calls per cell', `${info.callsPerCell} (${info.rounds} rounds of ${info.callsPerCell / info.rounds})`],
      ['warm-up calls per target', String(info.warmupCalls)],
      ['duration', `${info.durationSec.toFixed(0)} s`],
    ],
    99,
  );
  const targets = outcomes.map((o) => `- \`${o.name}\`: ${o.command}.${o.notes.length ? ` ${o.notes.join('; ')}.` : ''}`).join('\n');
  return `# Gateway benchmark

Generated by \`npm run bench\` (bench/main.ts); every run rewrites this file, so edit the
generator, not the page.

## What is measured

A cheap \`tools/call\` of server-everything's \`echo\` tool (\`everything_echo\` through the
orchestrator), through each of these targets in front of the same server
(\`node_modules/.bin/mcp-server-everything\`):

${targets}

The orchestrator targets run on a temporary config holding one server:
\`[[server]] name = "everything"\`, \`command = ["<abs>/node_modules/.bin/mcp-server-everything", "stdio"]\`,
\`transport = "stdio"\`, everything else at its default (logs at \`info\`). Every HTTP target
listens on 127.0.0.1 only; the bench checks \`/proc/net/tcp*\` and fails a target that listens
anywhere else.

- **Load generator**: the official SDK \`Client\` in the bench process, with
  \`StdioClientTransport\` or \`StreamableHTTPClientTransport\`. **Concurrency N** means one
  client session with N calls in flight (N workers, each sending its next call when its last
  one answers); over HTTP the client's connection pool then holds up to N keep-alive
  connections. Every answer must echo its own message.
- **Interleaved**: all targets run side by side for the whole bench. Each round visits every
  concurrency and, within it, every target once (the order rotates from round to round), so
  drift and background load hit every target alike. Each visit starts with 2 × N unmeasured
  calls to re-open idle keep-alive connections.
- **Warm-up**: ${info.warmupCalls} unmeasured calls per target, spread over the concurrencies, before round 1.
- **Latency**: p50 and p99 (nearest rank) over every measured call of the cell.
  **calls/s**: measured calls ÷ the time spent on them.
- **Gateway CPU ms/call**: utime + stime of the gateway process alone (\`/proc/PID/stat\`),
  its children excluded, over the measured calls ÷ the calls. n/a for the two baselines,
  which have no gateway. The kernel reports these in clock ticks of ${1000 / info.ticksPerSecond} ms, exact to
  ±1 tick per visit, so a figure resting on fewer than ${PRECISE_TICKS} ticks is marked ≈: raise
  \`BENCH_CALLS\` for steadier CPU figures of fast targets.
  **Server CPU ms/call**: the same for every other process of the target's tree (the
  server, and any shell in between): the baselines' whole cost.
  **Client CPU ms/call**: the bench process's own CPU (\`process.cpuUsage\`) over the same
  calls. When client + gateway + server CPU per call approaches ${m.cores} cores ÷ calls/s,
  the machine, not the gateway, caps the throughput.
- **Ratios** compare with the same concurrency's direct stdio, server HTTP and mcp-proxy rows.
- The bench client runs on the same ${m.cores} cores as the gateway and the server, so a
  target's calls/s includes the cost of its client transport.

Settings: \`BENCH_CALLS\` (measured calls per target and concurrency, default 3000),
\`BENCH_ROUNDS\` (5), \`BENCH_WARMUP\`, \`BENCH_CONCURRENCY\` (\`1,8,32\`), \`BENCH_TARGETS\`
(comma-separated names), \`BENCH_CALL_TIMEOUT_MS\` (30000), \`BENCH_START_TIMEOUT_MS\` (90000),
\`BENCH_SKIP_BUILD=1\` (use \`dist/\` as it is), \`BENCH_OUT\` (this file), \`BENCH_LARGE_CALLS\` (measured
calls per target with a large answer, default 60; 0 leaves that part out), \`BENCH_IDLE_SECONDS\` (the idle
window, default 10; 0 leaves that part out).

A target that fails to start, or whose call fails or answers wrongly, is reported as failed
with its error and left out from then on; the others go on. The bench exits 0 however the
targets fare, and non-zero only when the harness itself fails (or the direct stdio baseline,
without which nothing can be compared).

## Environment

${env}

## Results

${resultsTable(table, outcomes, info.concurrencies)}

## Checks

${checksText(checkList)}

### Reading the stdio checks

\`run --stdio\` puts a second process between the client and the server, so every call crosses two
more pipes and wakes one more process. Two floors are measured in the same run:

- \`stdio-relay\` is exactly that and nothing else: a byte relay that parses nothing. No stdio
  gateway process can be cheaper.
- \`stdio-parse-relay\` adds the least work a gateway that renames tools must do to each message:
  parse the client's line, replace its id and the tool's name, serialize it again; answers are
  spliced unparsed, as the orchestrator does. It has no sessions, routes, checks or metrics.

What \`orchestrator-stdio\` adds above the parsing relay is everything else the gateway does. On a
2-core machine shared by client, gateway and server, the floors alone can exceed the 1.5× p50 and
0.6× calls/s targets; compare with them before reading a FAIL as the gateway's. Each figure is
a ratio to direct stdio at the same concurrency; in this run:

${stdioFloorTable(table, info.concurrencies)}

${idleSection(info)}${largeSection(info)}## Failures

${failuresText([...outcomes, ...(info.large?.outcomes ?? [])])}
`;
}

/** The idle part of the report, when the run had one. */
function idleSection(info: RunInfo): string {
  const idle = info.idle;
  if (!idle) return '';
  return `## At rest

After the rounds, every target sat ${idle.seconds} s without a call (after ${idle.settleSeconds} s to settle), side by side, its
session still open. **Wake-ups/s** counts the times a process went to sleep and was woken again
(the voluntary context switches of all its threads, \`/proc/PID/task/*/status\`); **CPU ms/min**
is its utime + stime over the window, in ${1000 / info.ticksPerSecond} ms clock ticks. A long-running service that
wakes often for nothing costs battery on a laptop and CPU on a shared host. The settling time
lets most of the garbage collection that follows the rounds finish first, but V8 may still be
collecting in a row or two (some wake-ups and a few hundred ms of CPU, in different rows from run
to run); a periodic timer shows in the same row in every run.

${idleTable(idle.rows)}

`;
}

/** The large-answer part of the report, when the run had one. */
function largeSection(info: RunInfo): string {
  const large = info.large;
  if (!large) return '';
  const targets = large.outcomes.map((o) => `- \`${o.name}\`: ${o.command}.`).join('\n');
  const row = (name: TargetName) => large.table.get(name)?.get(1);
  const relay = row('stdio-relay');
  const lines = (['orchestrator-stdio', 'orchestrator-http'] as const).map((name) => {
    const s = row(name);
    return `- \`${name}\`: p50 ${ratio(s?.p50, row('direct-stdio')?.p50)} direct stdio, ${ratio(s?.p50, relay?.p50)} the relay; gateway CPU ${ratio(s?.gatewayCpuPerCall, relay?.gatewayCpuPerCall)} the relay's.`;
  });
  return `## Large answers

The same measurement with a large answer instead of a cheap one: server-filesystem's
\`read_text_file\` of a generated ${(large.fileBytes / 1024 / 1024).toFixed(2)} MiB text file (lines of source-like text, some
characters outside ASCII), ${large.calls} measured calls per target at concurrency 1 in ${large.rounds}
interleaved rounds, every answer checked to hold the whole file. The gateway passes such an
answer on as the bytes the server wrote, with only the id replaced, so it should cost about
what the byte relay costs.

${targets}

${resultsTable(large.table, large.outcomes, [1])}

${lines.join('\n')}

`;
}
