import { readFileSync } from 'node:fs';
import { readProcStat, snapshotProcesses, type ProcStat } from '../src/runtime/procfs.js';
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

export function readCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

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

function signal(target: number, sig: NodeJS.Signals): void {
  try {
    process.kill(target, sig);
  } catch {
    // ESRCH: already gone.
  }
}

/** A process seen earlier: its pid and start time, so a reused pid is never signalled. */
export type Seen = Map<number, number>;

/** Adds `roots` and every live descendant of them to `seen`. */
export function remember(seen: Seen, roots: Iterable<number>): void {
  for (const root of roots) {
    for (const pid of [root, ...descendants(root)]) {
      const stat = readProcStat(pid);
      if (stat && stat.state !== 'Z' && !seen.has(pid)) seen.set(pid, stat.startTime);
    }
  }
}

function alive(seen: Seen): ProcStat[] {
  const out: ProcStat[] = [];
  for (const [pid, start] of seen) {
    const stat = readProcStat(pid);
    if (stat && stat.state !== 'Z' && stat.startTime === start) out.push(stat);
  }
  return out;
}

/**
 * Ends every process in `seen` and below `roots`: SIGTERM to each of their process groups
 * (a tree may span several: supergateway and the orchestrator start servers in groups of
 * their own) and to each process, then SIGKILL to whatever is left after `graceMs`. Processes
 * remembered earlier are found even after their parent died and they were re-parented.
 * Never signals the bench's own group.
 */
export async function killAll(roots: readonly number[], seen: Seen = new Map(), graceMs = 3000): Promise<void> {
  const ownGroup = readProcStat(process.pid)?.pgrp;
  const send = (sig: NodeJS.Signals): number => {
    remember(seen, roots);
    const live = alive(seen);
    for (const group of new Set(live.map((s) => s.pgrp))) {
      if (group !== ownGroup && group > 1) signal(-group, sig);
    }
    for (const stat of live) signal(stat.pid, sig);
    return live.length;
  };
  if (send('SIGTERM') === 0) return;
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    await sleep(50);
    remember(seen, roots);
    if (alive(seen).length === 0) return;
  }
  send('SIGKILL');
}

/** Synchronous last resort for process 'exit': SIGKILL to everything `killAll` would end. */
export function killAllNow(roots: readonly number[], seen: Seen = new Map()): void {
  const ownGroup = readProcStat(process.pid)?.pgrp;
  remember(seen, roots);
  for (const stat of alive(seen)) {
    if (stat.pgrp !== ownGroup && stat.pgrp > 1) signal(-stat.pgrp, 'SIGKILL');
    signal(stat.pid, 'SIGKILL');
  }
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
