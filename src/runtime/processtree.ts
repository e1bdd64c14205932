import { environToken, procfsAvailable, readProcStat, snapshotProcesses, type ProcStat } from './procfs.js';

/**
 * Environment variable that tags every process started by the orchestrator, so its strays can be
 * found after they left the process group (`setsid`) or lost their parent. The value is a
 * comma-separated list of tokens: an orchestrator started by another keeps the outer token too.
 */
export const PROCESS_MARKER_ENV = 'MCP_ORCHESTRATOR_PROCESS';

/** `env` plus `token` appended to the marker variable; `env` itself is not modified. */
export function withProcessMarker(env: Record<string, string>, token: string): Record<string, string> {
  const outer = env[PROCESS_MARKER_ENV];
  return { ...env, [PROCESS_MARKER_ENV]: outer ? `${outer},${token}` : token };
}

/**
 * Everything a spawned process left behind: its process group, its `/proc` descendants and every
 * process whose environment carries `token`. Processes are identified by (pid, start time), so a
 * reused pid is never signalled. Without `/proc`, only the process group is seen.
 */
export class ProcessTree {
  private readonly leaderStart: number | undefined;
  /** Members seen by earlier sweeps: pid -> start time. Kept because orphans lose their parent link. */
  private tracked = new Map<number, number>();
  /**
   * Processes whose environment was read and did not carry the token: pid -> start time. An
   * environment is fixed once a program starts, so each process is read once, not every sweep.
   */
  private unmarked = new Map<number, number>();

  /**
   * `leaderPid` <= 0 sweeps only the processes carrying `token` (and their descendants); `token`
   * may be omitted when only the group and the descendants should be swept.
   */
  constructor(
    private readonly leaderPid: number,
    private readonly token?: string,
  ) {
    this.leaderStart = leaderPid > 0 && procfsAvailable() ? readStart(leaderPid) : undefined;
  }

  /**
   * Find every live member, send `signal` to each (when given) and return how many are alive.
   * Zombies count as gone. Never signals this process, pid 1 or anything that cannot be ours.
   */
  sweep(signal?: NodeJS.Signals): number {
    const hasLeader = this.leaderPid > 0;
    if (!procfsAvailable()) {
      if (!hasLeader) return 0;
      if (signal) trySignal(-this.leaderPid, signal);
      return groupExists(this.leaderPid) ? 1 : 0;
    }
    if (!hasLeader && this.token === undefined) return 0;
    const table = snapshotProcesses();
    const live = new Map<number, number>();
    const keep = (stat: ProcStat | undefined): void => {
      if (stat && stat.state !== 'Z' && stat.pid > 1 && stat.pid !== process.pid) live.set(stat.pid, stat.startTime);
    };
    for (const [pid, start] of this.tracked) {
      const stat = table.get(pid);
      if (stat?.startTime === start) keep(stat);
    }
    const leader = hasLeader ? table.get(this.leaderPid) : undefined;
    const leaderPresent = leader !== undefined && leader.startTime === this.leaderStart;
    if (leaderPresent) keep(leader);
    if (this.token !== undefined) {
      const unmarked = new Map<number, number>();
      for (const stat of table.values()) {
        if (live.has(stat.pid) || stat.state === 'Z') continue;
        if (this.unmarked.get(stat.pid) === stat.startTime) {
          unmarked.set(stat.pid, stat.startTime);
          continue;
        }
        const marked = environToken(stat.pid, PROCESS_MARKER_ENV, this.token);
        if (marked) keep(stat);
        else if (marked === false) unmarked.set(stat.pid, stat.startTime);
      }
      this.unmarked = unmarked;
    }
    // The group id stays reserved while any member lives, so it is ours while one of ours is in it.
    const groupIsOurs = hasLeader && (leaderPresent || [...live.keys()].some((pid) => table.get(pid)?.pgrp === this.leaderPid));
    if (groupIsOurs) {
      for (const stat of table.values()) if (stat.pgrp === this.leaderPid) keep(stat);
    }
    addDescendants(table, live, keep);
    if (signal) {
      if (groupIsOurs) trySignal(-this.leaderPid, signal);
      for (const pid of live.keys()) trySignal(pid, signal);
    }
    this.tracked = live;
    return live.size;
  }

  /** The pids the last sweep found alive. */
  get members(): number[] {
    return [...this.tracked.keys()];
  }
}

function addDescendants(table: Map<number, ProcStat>, live: Map<number, number>, keep: (s: ProcStat) => void): void {
  const children = new Map<number, ProcStat[]>();
  for (const stat of table.values()) {
    const list = children.get(stat.ppid);
    if (list) list.push(stat);
    else children.set(stat.ppid, [stat]);
  }
  const queue = [...live.keys()];
  for (let pid = queue.pop(); pid !== undefined; pid = queue.pop()) {
    for (const child of children.get(pid) ?? []) {
      if (live.has(child.pid)) continue;
      keep(child);
      if (live.has(child.pid)) queue.push(child.pid);
    }
  }
}

function readStart(pid: number): number | undefined {
  return readProcStat(pid)?.startTime;
}

function trySignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // ESRCH: already gone; EPERM: not ours to signal. Neither is an error for a sweep.
  }
}

function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
