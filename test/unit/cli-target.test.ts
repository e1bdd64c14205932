import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/args.js';
import { chooseRemote, httpBase, mcpEndpoint, reachableBase, type LocalSettings } from '../../src/cli/target.js';

const local = (settings: Partial<LocalSettings> = {}) => () => ({ listen: { host: '127.0.0.1', port: 8080 }, token: undefined, source: 'the config c.toml', ...settings });
const refused = (run: () => unknown): string => {
  try {
    run();
  } catch (error) {
    if (error instanceof UsageError) return error.message;
    throw error;
  }
  throw new Error('not refused');
};

describe('chooseRemote', () => {
  it.each([
    ['--url first', { url: 'http://a:1/', env: { MCP_ORCHESTRATOR_URL: 'http://b:2' } }, { base: 'http://a:1', token: undefined }],
    ['then $MCP_ORCHESTRATOR_URL', { url: undefined, env: { MCP_ORCHESTRATOR_URL: 'https://b:2/prefix/' } }, { base: 'https://b:2/prefix', token: undefined }],
    ['then the config, its token first', { url: undefined, env: { MCP_ORCHESTRATOR_TOKEN: 'env' }, local: local({ listen: { host: '0.0.0.0', port: 9 }, token: 'cfg' }) }, { base: 'http://127.0.0.1:9', token: 'cfg', tokenFrom: 'the config', via: 'from the config c.toml' }],
    ['the environment token when the config has none', { url: undefined, env: { MCP_ORCHESTRATOR_TOKEN: 'env' } }, { base: 'http://127.0.0.1:8080', token: 'env', tokenFrom: '$MCP_ORCHESTRATOR_TOKEN', via: 'from the config c.toml' }],
    ['never the config token for a given URL', { url: 'http://a:1', env: {}, local: local({ token: 'cfg' }) }, { base: 'http://a:1', token: undefined }],
    ['an empty environment token is none', { url: 'http://a:1', env: { MCP_ORCHESTRATOR_TOKEN: '' } }, { base: 'http://a:1', token: undefined }],
  ])('%s', (_what, input, expected) => {
    expect(chooseRemote({ local: local(), ...input })).toEqual(expected);
  });

  it('does not read the config when a URL is given', () => {
    const unread = () => {
      throw new Error('read the config');
    };
    expect(chooseRemote({ url: 'http://a:1', env: {}, local: unread }).base).toBe('http://a:1');
    expect(chooseRemote({ url: undefined, env: { MCP_ORCHESTRATOR_URL: 'http://b:2' }, local: unread }).base).toBe('http://b:2');
  });
});

describe('httpBase', () => {
  it.each([
    ['notaurl', '--url notaurl: not an http:// or https:// URL; give the orchestrator\'s address, e.g. http://127.0.0.1:8080'],
    ['ftp://x', '--url ftp://x: not an http:// or https:// URL; give the orchestrator\'s address, e.g. http://127.0.0.1:8080'],
    ['http://u:secret@h:1', '--url http://***@h:1: leave the credentials out of the URL; the token goes in MCP_ORCHESTRATOR_TOKEN'],
    ['http://h:1/?x=1', '--url http://h:1/?x=1: give the orchestrator\'s address alone, without ?query or #fragment, e.g. http://h:1'],
    ['http://h:1#top', '--url http://h:1#top: give the orchestrator\'s address alone, without ?query or #fragment, e.g. http://h:1'],
  ])('%s is refused', (raw, message) => {
    expect(refused(() => httpBase(raw, '--url'))).toBe(message);
  });
});

describe('reachableBase', () => {
  it.each([
    [{ host: '0.0.0.0', port: 8080 }, 'http://127.0.0.1:8080'],
    [{ host: '::', port: 8080 }, 'http://127.0.0.1:8080'],
    [{ host: '::1', port: 8080 }, 'http://[::1]:8080'],
    [{ host: 'localhost', port: 1 }, 'http://localhost:1'],
  ])('%j is reached at %s', (listen, base) => {
    expect(reachableBase(listen)).toBe(base);
  });
});

describe('mcpEndpoint', () => {
  it.each([
    ['http://h:1', undefined, 'http://h:1/mcp'],
    ['http://h:1', 'memory', 'http://h:1/servers/memory/mcp'],
    ['http://h:1/mcp', undefined, 'http://h:1/mcp'],
    ['http://h:1/mcp', 'memory', 'http://h:1/servers/memory/mcp'],
    ['http://h:1/servers/memory/mcp', undefined, 'http://h:1/servers/memory/mcp'],
    ['https://h/prefix', undefined, 'https://h/prefix/mcp'],
  ])('%s with --server %s bridges to %s', (base, server, endpoint) => {
    expect(mcpEndpoint(base, server)).toBe(endpoint);
  });

  it('refuses a server named twice', () => {
    expect(refused(() => mcpEndpoint('http://h:1/servers/a/mcp', 'b'))).toBe("--server b: the URL http://h:1/servers/a/mcp already names one server's endpoint; give one or the other");
  });
});
