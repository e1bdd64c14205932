// The gateway benchmark: `npm run bench`. See docs/benchmarks.md (which this program writes).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { runBatch } from './load.js';
import { cpuSample, cpuSinceMs, killAll, machineInfo, sleepsBetween, sleepsOf, ticksPerSecond } from './procs.js';
import {
  checks,
  checksText,
  failuresText,
  idleTable,
  markdownReport,
  resultsTable,
  statsTable,
  type Cell,
  type IdleRow,
  type LargePhase,
  type RunInfo,
  type StatsTable,
  type TargetOutcome,
} from './report.js';
import { ProcessRegistry } from './spawned.js';
import {
  TARGET_NAMES,
  TARGETS,
  echoWorkload,
  errorMessage,
  readFileWorkload,
  serverPids,
  type Paths,
  type StartContext,
  type Target,
  type TargetName,
} from './targets.js';

interface Settings {
  calls: number;
  rounds: number;
  warmup: number;
  concurrencies: number[];
  targets: TargetName[];
  callTimeoutMs: number;
  startTimeoutMs: number;
  skipBuild: boolean;
  out: string;
  /** Measured calls per target with a large answer; 0 leaves that part out. */
  largeCalls: number;
  /** Seconds every target sits without calls after the rounds, its wake-ups counted; 0 leaves that part out. */
  idleSeconds: number;
}

const registry = new ProcessRegistry();
let stopping = false;

class Interrupted extends Error {}

/** Thrown at the next step once SIGINT/SIGTERM arrived: a cut-short run must not write a report. */
function assertRunning(): void {
  if (stopping) throw new Interrupted('interrupted');
}
const log = (message: string): void => void process.stderr.write(`[bench] ${message}\n`);

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

function readSettings(root: string): Settings {
  const rounds = positiveInt('BENCH_ROUNDS', 5);
  // Rounded up to whole rounds so every round measures the same number of calls.
  const calls = Math.ceil(positiveInt('BENCH_CALLS', 3000) / rounds) * rounds;
  const concurrencies = (process.env.BENCH_CONCURRENCY ?? '1,8,32').split(',').map((s) => {
    const value = Number(s.trim());
    if (!Number.isInteger(value) || value <= 0) throw new Error(`BENCH_CONCURRENCY: "${s}" is not a positive integer`);
    return value;
  });
  const targets = (process.env.BENCH_TARGETS ?? TARGET_NAMES.join(',')).split(',').map((s) => s.trim()) as TargetName[];
  for (const name of targets) {
    if (!TARGET_NAMES.includes(name)) throw new Error(`BENCH_TARGETS: unknown target "${name}"; known: ${TARGET_NAMES.join(', ')}`);
  }
  return {
    calls,
    rounds,
    warmup: positiveInt('BENCH_WARMUP', Math.max(300, Math.round(calls / 5))),
    concurrencies,
    targets: TARGET_NAMES.filter((name) => targets.includes(name)),
    callTimeoutMs: positiveInt('BENCH_CALL_TIMEOUT_MS', 30_000),
    startTimeoutMs: positiveInt('BENCH_START_TIMEOUT_MS', 90_000),
    skipBuild: process.env.BENCH_SKIP_BUILD === '1',
    out: resolve(root, process.env.BENCH_OUT ?? 'docs/benchmarks.md'),
    largeCalls: process.env.BENCH_LARGE_CALLS === '0' ? 0 : Math.ceil(positiveInt('BENCH_LARGE_CALLS', 60) / LARGE_ROUNDS) * LARGE_ROUNDS,
    idleSeconds: process.env.BENCH_IDLE_SECONDS === '0' ? 0 : positiveInt('BENCH_IDLE_SECONDS', 10),
  };
}

/** The repository root: the nearest folder above this file whose package.json is ours. */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'mcp-orchestrator') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the mcp-orchestrator repository above bench/');
    dir = parent;
  }
}

function binOf(root: string, pkg: string, bin: string): string {
  const manifest = JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')) as {
    bin?: string | Record<string, string>;
  };
  const rel = typeof manifest.bin === 'string' ? manifest.bin : manifest.bin?.[bin];
  if (!rel) throw new Error(`${pkg} has no bin "${bin}"`);
  return join(root, 'node_modules', pkg, rel);
}

function versionOf(root: string, pkg?: string): string {
  const manifest = pkg === undefined ? join(root, 'package.json') : join(root, 'node_modules', pkg, 'package.json');
  try {
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

function gitDescribe(root: string): string {
  try {
    return execFileSync('git', ['describe', '--always', '--dirty'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** Compiles src/ so dist/src/cli.js is current; a failure is reported, not fatal (tsc still emits). */
function buildOrchestrator(root: string): string {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, encoding: 'utf8' });
  if (result.status === 0) return 'built from the working tree (tsc -p tsconfig.build.json)';
  const errors = `${result.stdout}${result.stderr}`.trim().split('\n');
  log(`orchestrator build failed (${errors.length} lines); benchmarking dist/ as tsc left it:\n${errors.slice(0, 10).join('\n')}`);
  return `tsc -p tsconfig.build.json FAILED (${errors[0] ?? 'no output'}${errors.length > 1 ? ` … ${errors.length} lines` : ''}); dist/ as tsc left it`;
}

function hasSetsid(): boolean {
  return spawnSync('setsid', ['--version'], { stdio: 'ignore' }).status === 0;
}

function rotate<T>(list: readonly T[], by: number): T[] {
  if (list.length === 0) return [];
  const k = by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

async function main(): Promise<number> {
  const started = Date.now();
  const root = findRoot();
  const settings = readSettings(root);
  const machine = machineInfo();
  const paths: Paths = {
    root,
    node: process.execPath,
    everythingBin: join(root, 'node_modules', '.bin', 'mcp-server-everything'),
    filesystemBin: join(root, 'node_modules', '.bin', 'mcp-server-filesystem'),
    cli: join(root, 'dist', 'src', 'cli.js'),
    supergatewayBin: realpathSync(binOf(root, 'supergateway', 'supergateway')),
    mcpProxyBin: realpathSync(binOf(root, 'mcp-proxy', 'mcp-proxy')),
    loopbackPreload: join(dirname(fileURLToPath(import.meta.url)), 'loopback.js'),
  };
  for (const file of [paths.everythingBin, paths.filesystemBin, paths.loopbackPreload]) {
    if (!existsSync(file)) throw new Error(`missing ${file}`);
  }
  const usesOrchestrator = settings.targets.some((t) => t.startsWith('orchestrator'));
  const orchestratorBuild = !usesOrchestrator
    ? 'not benchmarked'
    : settings.skipBuild
      ? 'dist/ as found (BENCH_SKIP_BUILD=1)'
      : buildOrchestrator(root);
  const versions: Record<string, string> = {
    'mcp-orchestrator': `${versionOf(root)} (${gitDescribe(root)})`,
    '@modelcontextprotocol/sdk': versionOf(root, '@modelcontextprotocol/sdk'),
    '@modelcontextprotocol/server-everything': versionOf(root, '@modelcontextprotocol/server-everything'),
    supergateway: versionOf(root, 'supergateway'),
    'mcp-proxy': versionOf(root, 'mcp-proxy'),
  };
  const tmpDir = mkdtempSync(join(tmpdir(), 'mcp-bench-'));
  const ctx: StartContext = { paths, registry, tmpDir, startTimeoutMs: settings.startTimeoutMs, haveSetsid: hasSetsid(), workload: echoWorkload(paths) };
  const live = new Map<TargetName, Target>();

  log(`${machine.cpuModel} × ${machine.cores}, Node ${process.version}; ${settings.calls} calls per cell, ${settings.rounds} rounds, concurrency ${settings.concurrencies.join('/')}`);
  try {
    const main = await runPhase(ctx, live, settings.targets, {
      concurrencies: settings.concurrencies,
      calls: settings.calls,
      rounds: settings.rounds,
      warmup: settings.warmup,
      callTimeoutMs: settings.callTimeoutMs,
      idleMs: settings.idleSeconds * 1000,
    });

    let large: LargePhase | undefined;
    const largeTargets = LARGE_TARGETS.filter((name) => settings.targets.includes(name));
    if (settings.largeCalls > 0 && largeTargets.length > 0) {
      const { file, text } = writeLargeFile(tmpDir);
      log(`large answers: ${largeTargets.join(', ')} reading a ${text.length}-character file`);
      const phase = await runPhase({ ...ctx, workload: readFileWorkload(paths, file, text) }, live, largeTargets, {
        concurrencies: [1],
        calls: settings.largeCalls,
        rounds: LARGE_ROUNDS,
        warmup: LARGE_WARMUP,
        callTimeoutMs: settings.callTimeoutMs,
      });
      large = { ...phase, calls: settings.largeCalls, rounds: LARGE_ROUNDS, fileBytes: Buffer.byteLength(text) };
    }

    const checkList = checks(main.table, settings.concurrencies);
    const info: RunInfo = {
      startedAt: new Date(started).toISOString(),
      durationSec: (Date.now() - started) / 1000,
      machine,
      loadAvgAfter: machineInfo().loadAvg,
      node: process.version,
      versions,
      orchestratorBuild,
      callsPerCell: settings.calls,
      rounds: settings.rounds,
      warmupCalls: main.warmupCalls,
      concurrencies: settings.concurrencies,
      callTimeoutMs: settings.callTimeoutMs,
      ticksPerSecond: ticksPerSecond(),
      ...(large ? { large } : {}),
      ...(main.idle ? { idle: { seconds: settings.idleSeconds, settleSeconds: IDLE_SETTLE_MS / 1000, rows: main.idle } } : {}),
    };
    const markdown = markdownReport(info, main.table, main.outcomes, checkList);
    assertRunning();
    writeFileSync(settings.out, markdown);
    process.stdout.write(
      [
        '',
        `${machine.cpuModel} × ${machine.cores}, ${machine.memTotal}, Node ${process.version}; ` +
          Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(', '),
        `orchestrator: ${orchestratorBuild}`,
        '',
        resultsTable(main.table, main.outcomes, settings.concurrencies),
        '',
        ...(main.idle ? ['At rest:', '', idleTable(main.idle), ''] : []),
        ...(large ? ['Large answers:', '', resultsTable(large.table, large.outcomes, [1]), ''] : []),
        checksText(checkList).replaceAll('**', ''),
        '',
        `Failures:\n${failuresText([...main.outcomes, ...(large?.outcomes ?? [])])}`,
        '',
        `Written to ${settings.out} (${info.durationSec.toFixed(0)} s).`,
        '',
      ].join('\n'),
    );
    if (settings.targets.includes('direct-stdio') && !main.outcomes.find((o) => o.name === 'direct-stdio')?.ok) {
      log('the direct stdio baseline failed: nothing could be compared');
      return 1;
    }
    return 0;
  } finally {
    registry.remember();
    await Promise.allSettled([...live.values()].map((target) => target.close()));
    await registry.killAll();
    rmSync(tmpDir, { recursive: true, force: true });
  }
}

interface PhaseOptions {
  concurrencies: readonly number[];
  /** Measured calls per target and concurrency, a whole number of rounds. */
  calls: number;
  rounds: number;
  warmup: number;
  callTimeoutMs: number;
  /** After the rounds, how long the targets sit without calls while their wake-ups are counted; 0 for not at all. */
  idleMs?: number;
}

interface PhaseResult {
  table: StatsTable;
  outcomes: TargetOutcome[];
  warmupCalls: number;
  idle?: IdleRow[];
}

/**
 * Start `names` on `ctx.workload`, warm them up, measure them interleaved round by round, and
 * stop them. A target that fails is reported and left out from then on; `live` holds the running
 * ones so that the caller can stop them whatever happens.
 */
async function runPhase(ctx: StartContext, live: Map<TargetName, Target>, names: readonly TargetName[], options: PhaseOptions): Promise<PhaseResult> {
  const outcomes = new Map<TargetName, TargetOutcome>();
  const fail = async (name: TargetName, phase: 'start' | 'warm-up' | 'measure', message: string): Promise<void> => {
    assertRunning();
    const outcome = outcomes.get(name);
    if (outcome) {
      outcome.ok = false;
      outcome.failure = { phase, message };
    }
    log(`${name} FAILED during ${phase}: ${message.split('\n')[0]}`);
    const target = live.get(name);
    live.delete(name);
    await target?.close().catch(() => {});
    // A failed target must not keep loading the machine while the others are measured.
    if (target) await killAll([target.treeRoot]);
  };

  await Promise.all(
    names.map(async (name) => {
      const definition = TARGETS[name];
      const outcome: TargetOutcome = { name, command: definition.describe(ctx.paths, ctx.workload), ok: true, notes: [], hasGateway: false };
      outcomes.set(name, outcome);
      try {
        const target = await definition.start(ctx);
        live.set(name, target);
        outcome.hasGateway = target.gatewayPid !== undefined;
        outcome.notes.push(...target.notes);
        log(`${name} ready (tool ${target.toolName}, gateway pid ${target.gatewayPid ?? 'none'})`);
      } catch (error) {
        await fail(name, 'start', errorMessage(error));
      }
    }),
  );

  registry.remember();

  // Warm-up: JIT, connection pools and the servers' first-call paths, before anything is measured.
  const warmupPerConcurrency = Math.max(1, Math.ceil(options.warmup / options.concurrencies.length));
  for (const c of options.concurrencies) {
    for (const name of names) {
      assertRunning();
      const target = live.get(name);
      if (!target) continue;
      const batch = await runBatch(target, warmupPerConcurrency, c, options.callTimeoutMs);
      if (batch.error !== undefined) await fail(name, 'warm-up', batch.error);
    }
  }

  const cells = new Map<string, Cell>();
  const perRound = options.calls / options.rounds;
  for (let round = 0; round < options.rounds; round += 1) {
    log(`round ${round + 1}/${options.rounds}`);
    for (const c of options.concurrencies) {
      for (const name of rotate(names, round)) {
        assertRunning();
        const target = live.get(name);
        if (!target) continue;
        const key = `${name}@${c}`;
        const cell = cells.get(key) ?? { target: name, concurrency: c, latencies: [], wallMs: 0, gatewayCpuMs: 0, serverCpuMs: 0, clientCpuMs: 0 };
        cells.set(key, cell);
        const rewarm = await runBatch(target, 2 * c, c, options.callTimeoutMs);
        if (rewarm.error !== undefined) {
          await fail(name, 'measure', rewarm.error);
          continue;
        }
        const gatewayBefore = cpuSample(target.gatewayPid === undefined ? [] : [target.gatewayPid]);
        const serverBefore = cpuSample(serverPids(target));
        const clientBefore = process.cpuUsage();
        const batch = await runBatch(target, perRound, c, options.callTimeoutMs);
        cell.gatewayCpuMs += cpuSinceMs(gatewayBefore);
        cell.serverCpuMs += cpuSinceMs(serverBefore);
        const client = process.cpuUsage(clientBefore);
        cell.clientCpuMs += (client.user + client.system) / 1000;
        if (batch.error !== undefined) {
          await fail(name, 'measure', batch.error);
          continue;
        }
        cell.latencies.push(...batch.latencies);
        cell.wallMs += batch.wallMs;
        // Let the last answers' follow-up work (GC, socket teardown) settle outside the next visit.
        await sleep(20);
      }
    }
  }

  const idle = options.idleMs ? await measureIdle(live, names, options.idleMs) : undefined;
  const outcomeList = names.map((name) => outcomes.get(name) as TargetOutcome);
  registry.remember();
  await Promise.allSettled(names.map((name) => live.get(name)?.close()));
  for (const name of names) live.delete(name);
  await registry.killAll();
  return {
    table: statsTable([...cells.values()], outcomeList, 1000 / ticksPerSecond()),
    outcomes: outcomeList,
    warmupCalls: warmupPerConcurrency * options.concurrencies.length,
    ...(idle ? { idle } : {}),
  };
}

/**
 * Settling time between the last call and the idle window: a call's follow-up work is not idle
 * cost. V8's memory reducer collects garbage about 8 s after allocation stops, several times.
 */
const IDLE_SETTLE_MS = 20_000;

/**
 * Every live target left without calls for `idleMs`, side by side: how often its gateway process
 * and its server processes woke up, and what CPU they used, in the same window.
 */
async function measureIdle(live: ReadonlyMap<TargetName, Target>, names: readonly TargetName[], idleMs: number): Promise<IdleRow[]> {
  log(`idle: ${idleMs / 1000} s without calls`);
  await sleep(IDLE_SETTLE_MS);
  assertRunning();
  const sleeps = (pids: readonly number[]) => new Map(pids.flatMap((pid) => [...sleepsOf(pid)]));
  const before = names.flatMap((name) => {
    const target = live.get(name);
    if (!target) return [];
    const gateway = target.gatewayPid === undefined ? [] : [target.gatewayPid];
    const servers = serverPids(target);
    return [{ name, gateway, servers, gatewaySleeps: sleeps(gateway), serverSleeps: sleeps(servers), gatewayCpu: cpuSample(gateway), serverCpu: cpuSample(servers) }];
  });
  await sleep(idleMs);
  assertRunning();
  const perSecond = 1000 / idleMs;
  const perMinute = 60_000 / idleMs;
  return before.map((b) => ({
    target: b.name,
    gatewayWakeupsPerSec: b.gateway.length ? sleepsBetween(b.gatewaySleeps, sleeps(b.gateway)) * perSecond : undefined,
    gatewayCpuMsPerMin: b.gateway.length ? cpuSinceMs(b.gatewayCpu) * perMinute : undefined,
    serverWakeupsPerSec: sleepsBetween(b.serverSleeps, sleeps(b.servers)) * perSecond,
    serverCpuMsPerMin: cpuSinceMs(b.serverCpu) * perMinute,
  }));
}

/** The targets measured with large answers: the stdio floor and both of the orchestrator's ends. */
const LARGE_TARGETS: readonly TargetName[] = ['direct-stdio', 'stdio-relay', 'orchestrator-stdio', 'orchestrator-http'];
const LARGE_ROUNDS = 3;
const LARGE_WARMUP = 10;
/** About 1 MiB of text, some of it outside ASCII, in lines like a source file's. */
const LARGE_FILE_CHARS = 1024 * 1024;

function writeLargeFile(dir: string): { file: string; text: string } {
  const folder = join(dir, 'files');
  mkdirSync(folder);
  const lines: string[] = [];
  let size = 0;
  for (let n = 0; size < LARGE_FILE_CHARS; n += 1) {
    const line = `${String(n).padStart(6, '0')}  const naïve = "café ✓"; // line ${n} of a large file read through the gateway\n`;
    lines.push(line);
    size += line.length;
  }
  const file = join(folder, 'large.txt');
  const text = lines.join('');
  writeFileSync(file, text);
  return { file, text };
}


for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: stopping every target`);
    void registry.killAll().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  });
}
process.on('exit', () => registry.killAllNow());

main().then(
  (code) => {
    process.exitCode = code;
    // Everything is closed by now; a handle some library left open must not hold the exit.
    setTimeout(() => process.exit(), 2000).unref();
  },
  async (error: unknown) => {
    if (error instanceof Interrupted) return; // the signal handler ends the process
    log(`harness error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    await registry.killAll();
    process.exitCode = 2;
  },
);
