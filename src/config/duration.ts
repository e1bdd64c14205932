const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;

/** The outcome of reading a duration: milliseconds, or a message saying what to write instead. */
export type DurationResult = { ok: true; ms: number } | { ok: false; message: string };

/**
 * Parse a duration such as `"500ms"`, `"10s"`, `"2m"`, `"1h"` or `"1m30s"` (units ms, s, m, h;
 * decimals allowed, e.g. `"1.5s"`; `"0"` alone means zero). A bare TOML number is rejected with a
 * hint, because `10` could mean seconds or milliseconds. Never throws.
 */
export function parseDuration(value: unknown): DurationResult {
  if (typeof value === 'number') {
    return { ok: false, message: `a bare number is ambiguous; write a string with a unit, e.g. "${value}s" or "${value}ms"` };
  }
  if (typeof value !== 'string') {
    return { ok: false, message: 'must be a duration string such as "10s", "500ms", "2m" or "1m30s"' };
  }
  const text = value.trim();
  if (text === '0') return { ok: true, ms: 0 };
  if (!DURATION.test(text)) {
    return { ok: false, message: `invalid duration ${JSON.stringify(value)}; write e.g. "10s", "500ms", "2m" or "1m30s" (units ms, s, m, h)` };
  }
  let ms = 0;
  for (const [, amount, unit] of text.matchAll(PART)) ms += Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
  return { ok: true, ms: Math.round(ms) };
}


/** Milliseconds as the config writes a duration, largest units first: `"10s"`, `"1m30s"`, `"1s500ms"`, `"0"`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  let rest = ms;
  let text = '';
  for (const unit of ['h', 'm', 's', 'ms'] as const) {
    const amount = Math.floor(rest / UNIT_MS[unit]);
    if (amount === 0) continue;
    text += `${amount}${unit}`;
    rest -= amount * UNIT_MS[unit];
  }
  return text;
}
