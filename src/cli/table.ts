import type { ServerStatus } from '../reconcile/status.js';

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

function oneLine(text: string | null, max = 80): string {
  if (!text) return '';
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

export function renderServers(servers: ServerStatus[], now = Date.now()): string {
  if (servers.length === 0) return 'No servers configured.';
  return renderTable(
    ['NAME', 'STATE', 'READY', 'RESTARTS', 'AGE', 'PID', 'LAST ERROR'],
    servers.map((s) => [
      s.name,
      s.state,
      s.ready ? 'yes' : 'no',
      String(s.restarts),
      formatAge(s.since, now),
      s.pid === null ? '-' : String(s.pid),
      oneLine(s.configError ?? replacementError(s) ?? s.lastError),
    ]),
  );
}

/** Why the new instance of a changed server is not serving yet: the edit has not taken effect. */
function replacementError(s: ServerStatus): string | null {
  const next = s.replacement;
  if (!next?.lastError) return null;
  return `edit not applied (new instance ${next.state}): ${next.lastError}`;
}
