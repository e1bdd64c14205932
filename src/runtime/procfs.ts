import { existsSync, readdirSync, readFileSync } from 'node:fs';

/** One row of `/proc/PID/stat`: the fields the process-tree sweep and the bench need. */
export interface ProcStat {
  pid: number;
  ppid: number;
  pgrp: number;
  /** CPU time in user and kernel mode, in clock ticks. */
  utime: number;
  stime: number;
  /** Clock ticks since boot: with `pid`, identifies a process across pid reuse. */
  startTime: number;
  /** `R`, `S`, `Z`, ...: a zombie (`Z`) is dead, only waiting to be reaped. */
  state: string;
}

let available: boolean | undefined;

/** True on systems with a Linux-style `/proc` (checked once). */
export function procfsAvailable(): boolean {
  available ??= existsSync('/proc/self/stat');
  return available;
}

/** The arguments a process was started with (`/proc/PID/cmdline`); undefined when it is gone. */
export function readArgv(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  } catch {
    return undefined;
  }
}

/** Parse `/proc/PID/stat`; undefined when the process is gone or unreadable. */
export function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may itself contain spaces and ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = text.slice(close + 2).split(' ');
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15, startTime field 22.
  const state = fields[0];
  const ppid = Number(fields[1]);
  const pgrp = Number(fields[2]);
  const startTime = Number(fields[19]);
  if (state === undefined || !Number.isFinite(ppid) || !Number.isFinite(startTime)) return undefined;
  return { pid, ppid, pgrp, utime: Number(fields[11]), stime: Number(fields[12]), startTime, state };
}

/** Every process visible in `/proc` right now, by pid. */
export function snapshotProcesses(): Map<number, ProcStat> {
  const table = new Map<number, ProcStat>();
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return table;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readProcStat(Number(name));
    if (stat) table.set(stat.pid, stat);
  }
  return table;
}

/**
 * Whether the initial environment of `pid` has `name` set to a comma-separated list holding
 * `token`; undefined when it cannot be read (another user's process, gone, or a zombie with no
 * memory).
 */
export function environToken(pid: number, name: string, token: string): boolean | undefined {
  let raw: Buffer;
  try {
    raw = readFileSync(`/proc/${pid}/environ`);
  } catch {
    return undefined;
  }
  const prefix = `${name}=`;
  for (const entry of raw.toString('utf8').split('\0')) {
    if (entry.startsWith(prefix) && entry.slice(prefix.length).split(',').includes(token)) return true;
  }
  return false;
}

