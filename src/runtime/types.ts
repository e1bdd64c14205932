import type { Readable, Writable } from 'node:stream';

/** How a process ended: exactly one of `code` or `signal` is set. */
export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A running server process, leader of its own process group. The orchestrator owns it: nothing
 * else spawns or reaps it.
 */
export interface ProcessHandle {
  readonly pid: number;
  /** The child's stdin (kept open: stdio servers exit on EOF). */
  readonly stdin: Writable;
  /** Raw stdout, for the MCP stdio transport; lines are also logged unless `stdoutIsProtocol`. */
  readonly stdout: Readable;
  /** Settles once the group leader has exited; never rejects. */
  readonly exited: Promise<ExitInfo>;
  /** True once `exited` has settled. */
  readonly hasExited: boolean;
  /**
   * SIGTERM to the whole group (and strays that left it), SIGKILL after `graceMs`, then wait until
   * nothing of it is left. Idempotent: a second call joins the first.
   */
  terminate(graceMs: number): Promise<ExitInfo>;
  /** SIGKILL to the group and every stray at once, without waiting. */
  kill(): void;
}

/** Wall-clock time and timers, injectable so tests can drive time. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as NodeJS.Timeout),
};
