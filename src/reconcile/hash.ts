import { createHash } from 'node:crypto';
import type { ServerSpec } from '../config/types.js';

/**
 * Hash of the fields that shape the process: a change to any of them replaces the server. Fields
 * read only by the orchestrator (enabled, restart, startup_timeout, tools) are left out, so
 * editing them never restarts anything.
 */
export function specHash(spec: ServerSpec): string {
  const shaping = {
    name: spec.name,
    repo: spec.repo ?? null,
    ref: spec.ref ?? null,
    command: spec.command,
    env: sortedEntries(spec.env),
    transport: spec.transport,
    url: spec.url ?? null,
    install: spec.install,
    cwd: spec.cwd,
  };
  return createHash('sha256').update(JSON.stringify(shaping)).digest('hex').slice(0, 16);
}

function sortedEntries(record: Record<string, string>): [string, string][] {
  return Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
