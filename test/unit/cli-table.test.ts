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
      'NAME   STATE     READY   RESTARTS   AGE   PID    VERSION   LAST ERROR',
      'mem    running   yes     0          60s   4242   -',
    ]);
  });

  it('shows the ref and commit a server from git runs, and where an edit to another one stands', () => {
    const replacement = { state: 'installing' as const, ref: 'v2', commit: 'b'.repeat(40), reason: 'Cloned', message: null, lastError: null, pid: null, since: '2026-01-01T00:09:30.000Z' };
    const row = renderServers([server({ ref: 'v1', commit: 'a'.repeat(40), replacement })], NOW).split('\n')[1];
    expect(row).toContain('v1@aaaaaaa');
    expect(row).toContain('edit being applied to v2@bbbbbbb: new instance installing');
    expect(renderServers([server({ ref: null, commit: 'c'.repeat(40) })], NOW)).toContain('ccccccc');
  });

  it('shows a commit-id ref by its short commit, and an earlier error of a new instance only while it is stuck', () => {
    expect(renderServers([server({ ref: 'd'.repeat(40), commit: 'd'.repeat(40) })], NOW)).toMatch(/\bddddddd\b/);
    const retrying = { state: 'installing' as const, ref: 'v2', commit: null, reason: 'Retrying', message: null, lastError: 'npm ci failed', pid: null, since: '2026-01-01T00:09:30.000Z' };
    const row = renderServers([server({ ref: 'v1', replacement: retrying })], NOW).split('\n')[1];
    expect(row).toContain('edit being applied to v2: new instance installing');
    expect(row).not.toContain('npm ci failed');
  });

  it('puts a serving instance that is down before an edit in progress', () => {
    const starting = { state: 'cloning' as const, ref: 'v2', commit: null, reason: 'Scheduled', message: null, lastError: null, pid: null, since: '2026-01-01T00:09:30.000Z' };
    const row = renderServers([server({ state: 'backoff', ready: false, lastError: 'process exited with code 1', replacement: starting })], NOW).split('\n')[1];
    expect(row).toContain('process exited with code 1');
  });

  it('says when an edit is not applied because its new instance fails, though the old one serves', () => {
    const replacement = { state: 'backoff' as const, ref: null, commit: null, reason: 'ExitedDuringStartup', message: null, lastError: 'command not found: mcp-server-memoryX', pid: null, since: '2026-01-01T00:09:30.000Z' };
    const row = renderServers([server({ replacement })], NOW).split('\n')[1];
    expect(row).toContain('edit not applied (new instance backoff): command not found: mcp-server-memoryX; the running instance keeps serving');
  });

  it('puts the entry error first, then the replacement, then the last error', () => {
    const replacement = { state: 'backoff' as const, ref: null, commit: null, reason: 'ExitedDuringStartup', message: null, lastError: 'boom', pid: null, since: '2026-01-01T00:09:30.000Z' };
    expect(renderServers([server({ configError: 'cfg:3:1: bad', replacement, lastError: 'old' })], NOW)).toContain('cfg:3:1: bad');
    expect(renderServers([server({ lastError: 'exited with code 1' })], NOW)).toContain('exited with code 1');
  });
});
