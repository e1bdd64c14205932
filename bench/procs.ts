import { readdirSync, readFileSync } from 'node:fs';
import { ProcessTree } from '../src/runtime/processtree.js';
import { readProcStat, snapshotProcesses } from '../src/runtime/procfs.js';
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

/** Every live descendant of `root` (not `root` itself), found through parent links in /proc. */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const stat of snapshotProcesses().values()) {
    const list = children.get(stat.ppid) ?? [];
    list.push(stat.pid);
    children.set(stat.ppid, list);
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    for (const child of children.get(pid) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

let clockTicks: number | undefined;

/** Clock ticks per second (`getconf CLK_TCK`, 100 on every common Linux). */
export function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** utime+stime of each live pid, in clock ticks. */
export function cpuSample(pids: readonly number[]): Map<number, number> {
  const sample = new Map<number, number>();
  for (const pid of pids) {
    const stat = readProcStat(pid);
    if (stat) sample.set(pid, stat.utime + stat.stime);
  }
  return sample;
}

/** CPU milliseconds used since `before` by the processes in it that are still alive. */
export function cpuSinceMs(before: ReadonlyMap<number, number>): number {
  const now = cpuSample([...before.keys()]);
  let ticks = 0;
  for (const [pid, then] of before) {
    const current = now.get(pid);
    if (current !== undefined) ticks += current - then;
  }
  return (ticks * 1000) / ticksPerSecond();
}

/**
 * How many times each thread of the process has gone to sleep so far (its voluntary context
 * switches), by thread id: each is a wake-up later. Empty once the process is gone.
 */
export function sleepsOf(pid: number): Map<string, number> {
  const counts = new Map<string, number>();
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return counts;
  }
  for (const task of tasks) {
    const count = /^voluntary_ctxt_switches:\s*(\d+)$/m.exec(safeRead(`/proc/${pid}/task/${task}/status`))?.[1];
    if (count !== undefined) counts.set(`${pid}/${task}`, Number(count));
  }
  return counts;
}

/**
 * Wake-ups between two `sleepsOf` samples (merged over processes): threads seen in the second,
 * less what each had in the first. A thread that ended in between is left out, not subtracted.
 */
export function sleepsBetween(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): number {
  let total = 0;
  for (const [thread, count] of after) total += count - (before.get(thread) ?? 0);
  return total;
}

/**
 * Ends every process of `trees`: SIGTERM to each (its group, its descendants, and members seen
 * by earlier sweeps even if re-parented since), then SIGKILL to whatever is left after `graceMs`.
 */
export async function killTrees(trees: readonly ProcessTree[], graceMs = 3000): Promise<void> {
  const sweep = (signal?: NodeJS.Signals) => trees.reduce((live, tree) => live + tree.sweep(signal), 0);
  if (sweep('SIGTERM') === 0) return;
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    await sleep(50);
    if (sweep() === 0) return;
  }
  sweep('SIGKILL');
}

/** `killTrees` for processes not registered earlier: the trees below `roots` as they are now. */
export function killAll(roots: readonly number[], graceMs = 3000): Promise<void> {
  return killTrees(
    roots.map((root) => new ProcessTree(root)),
    graceMs,
  );
}

/**
 * Addresses that listen on `port` (from /proc/net/tcp and tcp6), as `127.0.0.1`, `::`, … — to
 * prove a target stayed on loopback.
 */
export function listeningAddresses(port: number): string[] {
  const found: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      if (cols[3] !== '0A' || !local) continue; // 0A = LISTEN
      const [hexAddr, hexPort] = local.split(':');
      if (!hexAddr || !hexPort || parseInt(hexPort, 16) !== port) continue;
      found.push(decodeAddress(hexAddr));
    }
  }
  return found;
}

function decodeAddress(hex: string): string {
  // /proc/net prints each 32-bit word in host (little-endian) order.
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((word) => (word.match(/../g) ?? []).reverse().map((b) => parseInt(b, 16)));
  if (bytes.length === 4) return bytes.join('.');
  const v4mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (v4mapped) return `::ffff:${bytes.slice(12).join('.')}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '0:0:0:0:0:0:0:1' || address === '::1' || address.startsWith('::ffff:127.');
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memTotal: string;
  kernel: string;
  loadAvg: string;
}

export function machineInfo(): MachineInfo {
  const cpuinfo = safeRead('/proc/cpuinfo');
  const models = [...cpuinfo.matchAll(/^model name\s*:\s*(.+)$/gm)].map((m) => m[1]?.trim() ?? '');
  const processors = [...cpuinfo.matchAll(/^processor\s*:/gm)].length;
  const memKb = Number(/^MemTotal:\s*(\d+)\s*kB/m.exec(safeRead('/proc/meminfo'))?.[1] ?? 0);
  return {
    cpuModel: models[0] ?? 'unknown',
    cores: processors,
    memTotal: `${(memKb / 1024 / 1024).toFixed(1)} GiB`,
    kernel: safeRead('/proc/sys/kernel/osrelease').trim(),
    loadAvg: safeRead('/proc/loadavg').split(' ').slice(0, 3).join(' '),
  };
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
