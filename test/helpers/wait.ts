import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitForOptions {
  /**
   * Give up after this long; the test fails with `message`. Default 15 s: a wait ends as soon as
   * its condition holds, so the bound only matters on a loaded machine (CI runs two test files
   * at once on two cores), where a real server can take seconds to start.
   */
  timeoutMs?: number;
  /** How often to re-evaluate the condition. */
  intervalMs?: number;
  /** Said in the error on timeout, to tell which wait failed. */
  message?: string;
}

/**
 * Poll `condition` until it returns a truthy value and resolve with that value, or reject after
 * `timeoutMs`. A condition that throws counts as "not yet", so it may read files that do not
 * exist yet; the last error is attached as the cause on timeout.
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  { timeoutMs = 15_000, intervalMs = 20, message = 'condition' }: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(`waitFor: ${message} not met within ${timeoutMs} ms`, { cause: lastError });
    }
    await sleep(intervalMs);
  }
}

/** `promise`'s value, or undefined when it has not settled within `ms` (the timer is cleared). */
export async function withinMs<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
