import { describe, expect, it } from 'vitest';
import { renderServers } from '../../src/cli/table.js';
import type { ServerStatus } from '../../src/reconcile/status.js';
import { serverStatus } from '../helpers/status.js';

const NOW = Date.parse('2026-01-01T00:10:00.000Z');

const server = (overrides: Partial<ServerStatus>) =>
  serverStatus({ name: 'mem', since: '2026-01-01T00:09:00.000Z', ...overrides });

describe('renderServers (mcp-orchestrator status)', () => {
  it('shows one row per server, with its age and pid', () => {
    expect(renderServers([server({})], NOW).split('\n')).toEqual([
      'NAME   STATE     READY   RESTARTS   AGE   PID    LAST ERROR',
      'mem    running   yes     0          60s   4242',
    ]);
  });

  it('says when an edit is not applied because its new instance fails, though the old one serves', () => {
    const replacement = { state: 'backoff' as const, reason: 'ExitedDuringStartup', message: null, lastError: 'command not found: mcp-server-memoryX', pid: null, since: '2026-01-01T00:09:30.000Z' };
    const row = renderServers([server({ replacement })], NOW).split('\n')[1];
    expect(row).toContain('edit not applied (new instance backoff): command not found: mcp-server-memoryX');
  });

  it('puts the entry error first, then the replacement, then the last error', () => {
    const replacement = { state: 'backoff' as const, reason: 'ExitedDuringStartup', message: null, lastError: 'boom', pid: null, since: '2026-01-01T00:09:30.000Z' };
    expect(renderServers([server({ configError: 'cfg:3:1: bad', replacement, lastError: 'old' })], NOW)).toContain('cfg:3:1: bad');
    expect(renderServers([server({ lastError: 'exited with code 1' })], NOW)).toContain('exited with code 1');
  });
});
