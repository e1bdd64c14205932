/** Capped exponential backoff with jitter. Pure: randomness is passed in. */

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  /** 0.2 means ±20 %. */
  jitter: number;
  /** A process that stays up this long resets the failure count. */
  healthyAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = {
  initialMs: 1_000,
  maxMs: 60_000,
  jitter: 0.2,
  healthyAfterMs: 60_000,
};

/**
 * The delay before retry number `failures + 1`, where `failures` counts the failures before the
 * current one (0 for the first). `random` returns a number in [0, 1); 0.5 means no jitter.
 * The result never exceeds `maxMs`: at the cap, jitter only shortens the wait.
 */
export function backoffDelay(failures: number, policy: BackoffPolicy, random: () => number): number {
  // 2 ** 30 already dwarfs any cap; clamping the exponent keeps the arithmetic finite.
  const base = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(Math.max(failures, 0), 30));
  const factor = 1 + policy.jitter * (2 * random() - 1);
  return Math.round(Math.min(policy.maxMs, base * factor));
}
