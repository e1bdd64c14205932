import type { ServerStatus } from '../../src/reconcile/status.js';

/** A running stdio server's status, as the controller reports it, with `overrides` on top. */
export function serverStatus(overrides: Partial<ServerStatus> = {}): ServerStatus {
  return {
    name: 'a',
    state: 'running',
    ready: true,
    enabled: true,
    transport: 'stdio',
    pid: 4242,
    restarts: 0,
    since: '2026-01-01T00:00:00.000Z',
    reason: 'Ready',
    message: null,
    lastExit: null,
    lastError: null,
    nextRetryAt: null,
    configError: null,
    observedGeneration: 1,
    specHash: 'h',
    ref: null,
    commit: null,
    conditions: [],
    replacement: null,
    ...overrides,
  };
}
