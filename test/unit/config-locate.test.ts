import { describe, it, expect } from 'vitest';
import { DEFAULT_CONFIG_PATH, resolveConfigPath } from '../../src/config/locate.js';

const CWD = '/work/here';
const LOCAL = '/work/here/mcp_config.toml';

/** An `exists` that knows only the given files. */
const only = (...files: string[]) => (p: string) => files.includes(p);

describe('resolveConfigPath', () => {
  it.each([
    ['--config wins over everything', { flag: 'my.toml', env: { MCP_CONFIG_FILE: '/e.toml' }, files: ['/work/here/my.toml', '/e.toml', LOCAL, DEFAULT_CONFIG_PATH] }, '/work/here/my.toml', 'flag'],
    ['absolute --config', { flag: '/x/y.toml', env: {}, files: ['/x/y.toml'] }, '/x/y.toml', 'flag'],
    ['MCP_CONFIG_FILE next', { env: { MCP_CONFIG_FILE: '/e.toml' }, files: ['/e.toml', LOCAL, DEFAULT_CONFIG_PATH] }, '/e.toml', 'env'],
    ['relative MCP_CONFIG_FILE is against cwd', { env: { MCP_CONFIG_FILE: 'c/e.toml' }, files: ['/work/here/c/e.toml'] }, '/work/here/c/e.toml', 'env'],
    ['empty MCP_CONFIG_FILE counts as unset', { env: { MCP_CONFIG_FILE: '' }, files: [LOCAL] }, LOCAL, 'cwd'],
    ['./mcp_config.toml next', { env: {}, files: [LOCAL, DEFAULT_CONFIG_PATH] }, LOCAL, 'cwd'],
    ['/opt/mcps/mcp_config.toml last', { env: {}, files: [DEFAULT_CONFIG_PATH] }, DEFAULT_CONFIG_PATH, 'default'],
  ] as const)('%s', (_name, c, path, source) => {
    const flag = 'flag' in c ? c.flag : undefined;
    expect(resolveConfigPath({ ...(flag !== undefined ? { flag } : {}), env: c.env, cwd: CWD, exists: only(...c.files) })).toMatchObject({ ok: true, path, source });
  });

  it('a --config naming a missing file is an error naming it, not a fall-through', () => {
    const result = resolveConfigPath({ flag: 'typo.toml', env: {}, cwd: CWD, exists: only(LOCAL, DEFAULT_CONFIG_PATH) });
    expect(result).toEqual({ ok: false, error: 'config file typo.toml (from --config) does not exist (looked at /work/here/typo.toml)', tried: ['/work/here/typo.toml'] });
  });

  it('an MCP_CONFIG_FILE naming a missing file is an error naming it', () => {
    const result = resolveConfigPath({ env: { MCP_CONFIG_FILE: '/gone.toml' }, cwd: CWD, exists: only(LOCAL) });
    expect(result).toEqual({ ok: false, error: 'config file /gone.toml (from MCP_CONFIG_FILE) does not exist', tried: ['/gone.toml'] });
  });

  it('nothing found lists every place tried', () => {
    const result = resolveConfigPath({ env: {}, cwd: CWD, exists: only() });
    expect(result).toMatchObject({ ok: false, tried: [LOCAL, DEFAULT_CONFIG_PATH] });
    expect(!result.ok && result.error).toContain(`${LOCAL} nor ${DEFAULT_CONFIG_PATH}`);
    expect(!result.ok && result.error).toContain('--config and MCP_CONFIG_FILE are not set');
  });

  it('a throwing exists() counts as missing', () => {
    const result = resolveConfigPath({ env: {}, cwd: CWD, exists: () => { throw new Error('EACCES'); } });
    expect(result.ok).toBe(false);
  });

  it('uses the real file system by default', () => {
    expect(resolveConfigPath({ flag: 'package.json', env: {}, cwd: process.cwd() })).toMatchObject({ ok: true, source: 'flag' });
  });
});
