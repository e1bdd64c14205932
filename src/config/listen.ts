import { isIP } from 'node:net';
import type { ListenSpec } from './types.js';

export type ListenResult = { ok: true; listen: ListenSpec } | { ok: false; message: string };

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;
const HINT = 'write "HOST:PORT", e.g. "127.0.0.1:8080", "0.0.0.0:8080" or "[::1]:8080"';

/**
 * Parse a listen address `"host:port"`; an IPv6 host goes in brackets (`"[::1]:8080"`) and is
 * returned without them. Port 0 is allowed (the system picks one). Never throws.
 */
export function parseListen(value: unknown): ListenResult {
  if (typeof value === 'number') return { ok: false, message: `must be a string with a host; write e.g. "127.0.0.1:${value}"` };
  if (typeof value !== 'string') return { ok: false, message: `must be a string; ${HINT}` };
  const bracketed = /^\[([^\]]*)\]:(\d+)$/.exec(value);
  const plain = /^([^:[\]]*):(\d+)$/.exec(value);
  const match = bracketed ?? plain;
  if (match === null) {
    if (/^\d+$/.test(value)) return { ok: false, message: `${JSON.stringify(value)} has no host; write "127.0.0.1:${value}" (this machine only) or "0.0.0.0:${value}" (every interface)` };
    if (isIP(value) === 4 || HOSTNAME.test(value)) return { ok: false, message: `${JSON.stringify(value)} has no port; write e.g. "${value}:8080"` };
    if (isIP(value) === 6 || value.split(':').length > 2) return { ok: false, message: `put an IPv6 address in brackets and add a port, e.g. "[::1]:8080"` };
    return { ok: false, message: `invalid listen address ${JSON.stringify(value)}; ${HINT}` };
  }
  const host = match[1] ?? '';
  const port = Number(match[2]);
  const hostOk = bracketed !== null ? isIP(host) === 6 : isIP(host) === 4 || HOSTNAME.test(host);
  if (!hostOk) return { ok: false, message: `invalid host ${JSON.stringify(host)} in ${JSON.stringify(value)}; ${HINT}` };
  if (!Number.isInteger(port) || port > 65535) return { ok: false, message: `port ${match[2] ?? ''} is out of range; use 0-65535, e.g. "127.0.0.1:8080"` };
  return { ok: true, listen: { host, port } };
}

/** A listen address as the config writes it: `"127.0.0.1:8080"`, `"[::1]:8080"`. */
export function formatListen(listen: ListenSpec): string {
  return isIP(listen.host) === 6 ? `[${listen.host}]:${listen.port}` : `${listen.host}:${listen.port}`;
}

/**
 * A string value of `[orchestrator]` (`listen`, `token`) in a config file that does not load as a
 * whole (a syntax error elsewhere), looked for line by line: `KEY = "…"` or `'…'` in that table,
 * or `orchestrator.KEY = …` outside any table. For a client that must still find and reach the
 * orchestrator, which kept what it started with. Undefined when there is none to read, or it
 * takes a `${VAR}` the client cannot resolve the same way; never throws.
 */
export function scanOrchestratorValue(text: string, key: string): string | undefined {
  const value = String.raw`\s*=\s*(?:"([^"\\]*)"|'([^']*)')\s*(?:#.*)?$`;
  const inTable = new RegExp(String.raw`^\s*["']?${key}["']?${value}`);
  const dotted = new RegExp(String.raw`^\s*orchestrator\.${key}${value}`);
  let table: string | undefined = '';
  for (const line of text.split(/\r?\n/)) {
    if (/^\s*\[/.test(line)) {
      table = /^\s*\[\s*([A-Za-z0-9_-]+)\s*\]\s*(?:#.*)?$/.exec(line)?.[1];
      continue;
    }
    const found = (table === 'orchestrator' ? inTable.exec(line) : undefined) ?? (table === '' ? dotted.exec(line) : undefined);
    if (found) {
      const raw = found[1] ?? found[2] ?? '';
      return raw.includes('${') ? undefined : raw;
    }
  }
  return undefined;
}

/** The `[orchestrator] listen` of a config file that does not load (see scanOrchestratorValue). */
export function scanListen(text: string): ListenSpec | undefined {
  const raw = scanOrchestratorValue(text, 'listen');
  if (raw === undefined) return undefined;
  const parsed = parseListen(raw);
  return parsed.ok ? parsed.listen : undefined;
}
