import { z } from 'zod';
import { parseDuration } from './duration.js';
import { unknownKeyMessage } from './suggest.js';

/** How a value reads in a message: `the string "x"`, `the number 10`, `a table`. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'number' || typeof value === 'bigint') return `the number ${String(value)}`;
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Date) return 'a date';
  if (value === null || value === undefined) return 'nothing';
  return 'a table';
}

/** An error map for a field of one kind: "missing" when absent, else what it got and an example. */
export function expected(kind: string, example: string) {
  return (issue: { input?: unknown }): string =>
    issue.input === undefined ? `missing; add ${example}` : `must be ${kind}, not ${describe(issue.input)}; write ${example}`;
}

/** A string field with a friendly type error. */
export const text = (example: string) => z.string({ error: expected('a string', example) });

/** A non-empty string field (after trimming). */
export const nonEmpty = (example: string) =>
  text(example).refine((s) => s.trim() !== '', { error: `is empty; write ${example}` });

/** One of a few literal strings: `unknown transport "htp"; use "http" or "stdio"`. */
export function oneOf<const T extends readonly [string, ...string[]]>(what: string, values: T) {
  const options = values.map((v) => JSON.stringify(v));
  const list = options.length === 2 ? options.join(' or ') : `${options.slice(0, -1).join(', ')} or ${options.at(-1) ?? ''}`;
  return z.enum(values, {
    error: (issue) =>
      typeof issue.input === 'string' ? `unknown ${what} ${JSON.stringify(issue.input)}; use ${list}` : `must be a string: ${list}, not ${describe(issue.input)}`,
  });
}

/** A boolean field; quoted "true" gets a hint to drop the quotes. */
export const flag = (key: string) =>
  z.boolean({ error: (issue) => `must be true or false without quotes, not ${describe(issue.input)}; write ${key} = true or ${key} = false` });

/** A duration string (see `parseDuration`) in milliseconds, within [min, max]. */
export function duration(min: number, max: number, limits: string) {
  return z.unknown().transform((value, ctx): number => {
    const parsed = parseDuration(value);
    if (!parsed.ok) {
      ctx.addIssue({ code: 'custom', message: parsed.message });
      return z.NEVER;
    }
    if (parsed.ms < min || parsed.ms > max) {
      ctx.addIssue({ code: 'custom', message: `${JSON.stringify(value)} is out of range; ${limits}` });
      return z.NEVER;
    }
    return parsed.ms;
  });
}

/**
 * A TOML table with a fixed set of keys. Unknown keys are reported one by one, at the key, with a
 * "did you mean" suggestion, and also when other fields of the table are wrong.
 */
export function table<S extends z.core.$ZodLooseShape>(shape: S, kind: string, example: string) {
  const allowed = Object.keys(shape);
  return z.looseObject(shape, { error: expected('a table', example) }).superRefine(
    (value, ctx) => {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return;
      for (const key of Object.keys(value)) {
        if (!allowed.includes(key)) {
          ctx.addIssue({ code: 'custom', message: unknownKeyMessage(kind, key, allowed), path: [key], params: { at: 'key' } });
        }
      }
    },
    // Run even when a field failed, so a typo is reported with the rest in one pass.
    { when: () => true },
  );
}
