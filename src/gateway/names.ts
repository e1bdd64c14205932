/** Public names of aggregated tools and prompts. Pure. */
import { createHash } from 'node:crypto';
import picomatch from 'picomatch';
import type { ToolFilterSpec } from '../config/types.js';

/** Clients (and some model APIs) accept tool names of at most 64 characters from this set. */
export const MAX_NAME_LENGTH = 64;
const INVALID = /[^A-Za-z0-9_.-]/g;
const SUFFIX_LENGTH = 7; // "_" + 6 hex

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 6);
}

function withSuffix(base: string, key: string): string {
  return `${base.slice(0, MAX_NAME_LENGTH - SUFFIX_LENGTH)}_${shortHash(key)}`;
}

/**
 * `server<sep>name`, made safe: characters outside `[A-Za-z0-9_.-]` become `_`, and a name that
 * had to change or is too long ends in a hash of the original, so two different originals never
 * meet on the same sanitised name.
 */
export function publicName(server: string, name: string, separator: string): string {
  const raw = `${server}${separator}${name}`;
  const clean = raw.replace(INVALID, '_');
  if (clean === raw && clean.length <= MAX_NAME_LENGTH) return clean;
  return withSuffix(clean, raw);
}

export interface NamedEntry {
  server: string;
  /** The name the server itself uses. */
  name: string;
}

/**
 * Public names for every entry, unique. Entries are taken in (server, name) order; when two meet on
 * one public name, the later ones get a hash suffix of their (server, name), so no entry is ever
 * dropped and the choice does not depend on the order servers became ready.
 */
export function assignPublicNames<T extends NamedEntry>(
  entries: readonly T[],
  separator: string,
  onCollision?: (name: string, entries: T[]) => void,
): Map<string, T> {
  const sorted = [...entries].sort((a, b) => (a.server === b.server ? compare(a.name, b.name) : compare(a.server, b.server)));
  const byName = new Map<string, T[]>();
  for (const entry of sorted) {
    const name = publicName(entry.server, entry.name, separator);
    const list = byName.get(name);
    if (list) list.push(entry);
    else byName.set(name, [entry]);
  }
  const result = new Map<string, T>();
  for (const [name, list] of byName) {
    const [first, ...rest] = list;
    if (first) result.set(name, first);
    if (rest.length > 0) onCollision?.(name, list);
    for (const entry of rest) {
      let candidate = withSuffix(name, `${entry.server}\0${entry.name}`);
      for (let n = 2; result.has(candidate) || byName.has(candidate); n++) candidate = withSuffix(name, `${entry.server}\0${entry.name}\0${n}`);
      result.set(candidate, entry);
    }
  }
  return result;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A predicate for a server's `tools = { allow, deny }` globs: allowed by one and denied by none. */
export function toolFilter(spec: ToolFilterSpec): (name: string) => boolean {
  const allow = picomatch(spec.allow.length > 0 ? spec.allow : ['*'], { dot: true });
  const deny = spec.deny.length > 0 ? picomatch(spec.deny, { dot: true }) : () => false;
  return (name) => allow(name) && !deny(name);
}
