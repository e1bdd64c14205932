import { z } from 'zod';
import { describe, expected, nonEmpty, text } from './fields.js';
import { isPlainTable } from './interpolate.js';
import { redactUrl } from '../runtime/redact.js';
import { nameProblem } from './names.js';
import type { InstallSpec } from './types.js';

// NUL cannot cross exec(); other control characters in a command are almost surely a mistake.
const NUL = /\0/;
const hasControl = (text: string): boolean => [...text].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);

/** An explicit server name; see `nameProblem` for what is allowed. */
export const nameField = text('name = "my-server"').superRefine((name, ctx) => {
  const problem = nameProblem(name);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

/** `repo` or `ref`: handed to git as an argument, so it must not look like an option. */
export function gitArgument(key: 'repo' | 'ref', example: string) {
  return nonEmpty(example).superRefine((value, ctx) => {
    if (value.startsWith('-')) {
      ctx.addIssue({ code: 'custom', message: `must not start with "-" (git would read ${JSON.stringify(redactUrl(value))} as an option); write ${example}` });
    } else if (hasControl(value) || (key === 'ref' && /\s/.test(value))) {
      const what = key === 'ref' ? 'spaces or control characters' : 'control characters';
      ctx.addIssue({ code: 'custom', message: `must not contain ${what}; write ${example}` });
    }
  });
}

const COMMAND_HINT = 'write command = "npx -y my-server" (runs in a shell) or command = ["node", "server.js"] (runs without one)';

/** A non-empty string (run by a shell) or a non-empty array of strings (run without one). */
export const commandField = z.unknown().transform((value, ctx): string | string[] => {
  const fail = (message: string, path: (string | number)[] = []) => {
    ctx.addIssue({ code: 'custom', message, path });
    return z.NEVER;
  };
  if (value === undefined) return fail(`missing; ${COMMAND_HINT}`);
  if (typeof value === 'string') {
    if (value.trim() === '') return fail(`is empty; ${COMMAND_HINT}`);
    return NUL.test(value) ? fail('must not contain a NUL character') : value;
  }
  if (!Array.isArray(value)) return fail(`must be a string or an array of strings, not ${describe(value)}; ${COMMAND_HINT}`);
  if (value.length === 0) return fail(`is an empty array; ${COMMAND_HINT}`);
  const out: string[] = [];
  value.forEach((item: unknown, index) => {
    if (typeof item !== 'string') {
      fail(`must be a string, not ${describe(item)}; quote it, e.g. "${typeof item === 'number' ? item : 'value'}"`, [index]);
    } else if (index === 0 && item.trim() === '') {
      fail(`the program is empty; ${COMMAND_HINT}`, [index]);
    } else if (NUL.test(item)) {
      fail('must not contain a NUL character', [index]);
    } else out.push(item);
  });
  return out.length === value.length ? out : z.NEVER;
});

/** A table of environment variables; numbers and booleans become strings (`PORT = 8001` -> "8001"). */
export const envField = z.unknown().transform((value, ctx): Record<string, string> => {
  if (!isPlainTable(value)) {
    ctx.addIssue({ code: 'custom', message: `must be a table, not ${describe(value)}; write env = { NAME = "value" }` });
    return z.NEVER;
  }
  const entries: [string, string][] = [];
  for (const [key, item] of Object.entries(value)) {
    if (key === '' || key.includes('=') || NUL.test(key)) {
      ctx.addIssue({ code: 'custom', message: `variable name ${JSON.stringify(key)} is not allowed: it must be non-empty without "="`, path: [key], params: { at: 'key' } });
    } else if (typeof item === 'string' || typeof item === 'number' || typeof item === 'boolean' || typeof item === 'bigint') {
      const text = String(item);
      if (NUL.test(text)) ctx.addIssue({ code: 'custom', message: 'must not contain a NUL character', path: [key] });
      else entries.push([key, text]);
    } else {
      ctx.addIssue({ code: 'custom', message: `must be a string, not ${describe(item)}; write ${key} = "value"`, path: [key] });
    }
  }
  return Object.fromEntries(entries);
});

const URL_EXAMPLE = 'url = "http://127.0.0.1:8001/mcp"';

/** Where an http server listens: an http:// or https:// URL. */
export const urlField = text(URL_EXAMPLE).superRefine((value, ctx) => {
  let protocol: string;
  try {
    protocol = new URL(value).protocol;
  } catch {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(redactUrl(value))} is not a URL; write ${URL_EXAMPLE}` });
    return;
  }
  if (protocol !== 'http:' && protocol !== 'https:') {
    ctx.addIssue({ code: 'custom', message: `must start with http:// or https://, not ${protocol}//; write ${URL_EXAMPLE}` });
  }
});

/** `"auto"`, `"none"` or a shell command. */
export const installField = z
  .string({ error: expected('a string', 'install = "auto" (or "none", or a command such as "npm ci")') })
  .transform((value, ctx): InstallSpec => {
    const keyword = value.trim().toLowerCase();
    if (keyword === 'auto') return { kind: 'auto' };
    if (keyword === 'none') return { kind: 'none' };
    if (keyword === '') {
      ctx.addIssue({ code: 'custom', message: 'is empty; write install = "auto", install = "none" or a command such as install = "npm ci"' });
      return z.NEVER;
    }
    return { kind: 'command', command: value };
  });

/** A list of glob strings for the gateway's tool filter. */
export const globList = (key: 'allow' | 'deny', example: string) =>
  z.array(nonEmpty(`"*"`), { error: expected('an array of glob strings', `${key} = ${example}`) });
