import { readFileSync } from 'node:fs';
import { readProcStat } from '../../src/runtime/procfs.js';
import { waitFor } from './wait.js';

/**
 * True while `pid` is a live process. A zombie counts as dead: it has exited and only waits for a
 * parent to reap it, which in a container without an init may never happen.
 */
export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // No /proc (or it vanished in between): kill(0) succeeded, so assume alive.
  return readProcStat(pid)?.state !== 'Z';
}

/** SIGKILL each pid (and its group when it leads one), ignoring the ones already gone. For cleanup. */
export function killPids(pids: Iterable<number>): void {
  for (const pid of pids) {
    if (pid <= 1 || pid === process.pid) continue;
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // Already gone, or not a group leader.
      }
    }
  }
}

/** The pids listed one per line in `file` (missing file: none yet). */
export function readPidFile(file: string): number[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((pid) => Number.isInteger(pid) && pid > 0);
}

/** The pids in `file` once it lists at least `count` of them. */
export function waitForPids(file: string, count = 1, timeoutMs = 10_000): Promise<number[]> {
  return waitFor(
    () => {
      const pids = readPidFile(file);
      return pids.length >= count ? pids : undefined;
    },
    { timeoutMs, message: `${count} pid(s) in ${file}` },
  );
}
