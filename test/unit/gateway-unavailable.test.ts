import { afterEach, describe, expect, it } from 'vitest';
import { Gateway } from '../../src/gateway/gateway.js';
import type { ServerStatus } from '../../src/reconcile/status.js';
import { listingUpstream } from '../helpers/upstream.js';
import { silentLogger } from '../../src/log.js';
import { serverStatus } from '../helpers/status.js';

type Described = ServerStatus & { held: boolean; servesMcp: boolean };

let gateway: Gateway | undefined;
afterEach(() => gateway?.close());

function gatewayOf(statuses: Described[]): Gateway {
  gateway = new Gateway({ log: silentLogger(), version: '0', describe: (name) => statuses.find((s) => s.name === name) });
  return gateway;
}

const status = (overrides: Partial<Described>): Described => ({ ...serverStatus(overrides), held: false, servesMcp: true, ...overrides });
const messageOf = (g: Gateway, server: string) => (g.unavailable(1, server) as { error: { message: string } }).error.message;

describe('Gateway.unavailable', () => {
  it.each([
    [
      'a manual stop, whatever failed before it',
      { state: 'stopped', reason: 'Stopped', lastError: 'process killed by SIGKILL', held: true },
      'server "m" is not ready: it was stopped by hand; start it with "mcp-orchestrator start m" (POST /api/servers/m/start)',
    ],
    ['disabled', { state: 'stopped', reason: 'Disabled', enabled: false }, 'server "m" is not ready: it is disabled in the config (enabled = false)'],
    [
      'backoff',
      { state: 'backoff', lastError: 'process exited with code 1', nextRetryAt: '2026-01-01T00:00:02.000Z' },
      'server "m" is not ready: it is in backoff after "process exited with code 1"; next retry at 2026-01-01T00:00:02.000Z',
    ],
    [
      'failed',
      { state: 'failed', lastError: 'process exited with code 2' },
      'server "m" is not ready: it failed after "process exited with code 2" and is not retried; fix it, then start it with "mcp-orchestrator start m" (POST /api/servers/m/start)',
    ],
    [
      'completed under on-failure, after an earlier crash',
      { state: 'stopped', reason: 'Completed', lastExit: { code: 0, signal: null }, lastError: 'process exited with code 1' },
      'server "m" is not ready: its process exited with code 0 and the restart policy keeps it stopped; start it with "mcp-orchestrator start m" (POST /api/servers/m/start)',
    ],
    ['http without url', { state: 'running', transport: 'http', servesMcp: false }, 'server "m" is not ready: it speaks no MCP the gateway can reach (transport = "http" without url)'],
    ['stopping after a start-up timeout', { state: 'stopping', reason: 'StartupTimeout', lastError: 'no MCP handshake within 60s' }, 'server "m" is not ready: it is stopping after "no MCP handshake within 60s"'],
    ['starting', { state: 'installing' }, 'server "m" is not ready: it is still starting (installing)'],
    ['stopping', { state: 'stopping', reason: 'StopRequested' }, 'server "m" is not ready: it is stopping'],
    [
      'an invalid entry',
      { state: 'failed', reason: 'InvalidConfig', message: 'mcp_config.toml:4:13: server[0] "m": transport: unknown transport "htp"' },
      'server "m" is not ready: its entry in the config is invalid; fix it: mcp_config.toml:4:13: server[0] "m": transport: unknown transport "htp"',
    ],
  ] as const)('%s', (_what, overrides, message) => {
    expect(messageOf(gatewayOf([status({ name: 'm', ...(overrides as Partial<Described>) })]), 'm')).toBe(message);
  });

  it('tells onRefused of each refusal, with the state', () => {
    const refused: string[] = [];
    gateway = new Gateway({ log: silentLogger(), version: '0', describe: (name) => (name === 'm' ? status({ name, state: 'backoff' }) : undefined), onRefused: (s, state) => refused.push(`${s}:${state}`) });
    gateway.unavailable(1, 'm');
    gateway.unavailable(2, 'gone');
    expect(refused).toEqual(['m:backoff']);
  });

  it('a server gone from the config says so', () => {
    expect(messageOf(gatewayOf([]), 'gone')).toBe('server "gone" is not in the config any more');
  });
});

describe('Gateway.idleOwnerOf', () => {
  it('finds the configured server a public name begins with, the longest first, when it is not serving', () => {
    const g = gatewayOf([status({ name: 'broken', state: 'backoff' }), status({ name: 'a' }), status({ name: 'a_b' }), status({ name: 'web', transport: 'http', servesMcp: false })]);
    expect(g.idleOwnerOf('broken_anything')).toBe('broken');
    expect(g.idleOwnerOf('a_b_c')).toBe('a_b');
    expect(g.idleOwnerOf('a_c')).toBe('a');
    expect(g.idleOwnerOf('nobody_x')).toBeUndefined();
    expect(g.idleOwnerOf('plain')).toBeUndefined();
    // A server the gateway never reaches owns no tools.
    expect(g.idleOwnerOf('web_x')).toBeUndefined();
    // A serving server's name that it does not list is simply unknown; a shorter prefix not serving is asked next.
    g.registry.attach(listingUpstream('broken'));
    expect(g.idleOwnerOf('broken_anything')).toBeUndefined();
    g.registry.attach(listingUpstream('a_b'));
    expect(g.idleOwnerOf('a_b_c')).toBe('a');
  });
});
