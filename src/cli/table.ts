import type { ServerStatus } from '../reconcile/status.js';
import { looksLikeSha } from '../runtime/gitref.js';

/** kubectl-style age: 45s, 3m, 5h, 2d. */
function formatAge(sinceIso: string, now = Date.now()): string {
  const seconds = Math.max(0, Math.floor((now - Date.parse(sinceIso)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 120) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h`;
  return `${Math.floor(hours / 24)}d`;
}

/** Fixed-width columns, the last one free; no colour, so it pipes cleanly. */
function renderTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

function oneLine(text: string | null, max = 200): string {
  if (!text) return '';
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

export function renderServers(servers: ServerStatus[], now = Date.now()): string {
  if (servers.length === 0) return 'No servers configured.';
  return renderTable(
    ['NAME', 'STATE', 'READY', 'RESTARTS', 'AGE', 'PID', 'VERSION', 'LAST ERROR'],
    servers.map((s) => [
      s.name,
      s.state,
      s.ready ? 'yes' : 'no',
      String(s.restarts),
      formatAge(s.since, now),
      s.pid === null ? '-' : String(s.pid),
      version(s.ref, s.commit),
      // A serving instance that is down says why first; while it serves, an edit in progress does.
      oneLine(s.configError ?? (s.ready ? (replacementNote(s) ?? s.lastError) : (s.lastError ?? replacementNote(s)))),
    ]),
  );
}

/**
 * What a server from git runs: `ref@commit` (the commit shortened), the commit alone for the
 * default branch or a ref that is a commit id, or `-` without either.
 */
function version(ref: string | null, commit: string | null): string {
  const short = commit?.slice(0, 7);
  if (ref && looksLikeSha(ref)) return ref.slice(0, 7);
  if (ref && short) return `${ref}@${short}`;
  return ref ?? short ?? '-';
}

/** States in which a new instance's last error is why it is not serving (not one it got past). */
const STUCK: ReadonlySet<string> = new Set(['backoff', 'failed', 'stopped']);

/** A changed server's new instance, while the old one serves: how far it got, or why it fails. */
function replacementNote(s: ServerStatus): string | null {
  const next = s.replacement;
  if (!next) return null;
  const target = version(next.ref, next.commit);
  const to = target === '-' ? '' : ` to ${target}`;
  if (!next.lastError || !STUCK.has(next.state)) return `edit being applied${to}: new instance ${next.state}`;
  return `edit not applied${to} (new instance ${next.state}): ${next.lastError}; the running instance keeps serving`;
}
