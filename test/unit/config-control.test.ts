import { describe, expect, it } from 'vitest';
import { loadConfigText } from '../../src/config/load.js';
import { accepted } from '../helpers/config.js';
import type { LoadResult } from '../../src/config/types.js';

const load = (text: string, env: NodeJS.ProcessEnv = {}): LoadResult => loadConfigText(text, 'mcp_config.toml', env, { cwd: '/srv/app' });

describe('loadConfigText: [control]', () => {
  it('is absent without the section, so no extra port is opened', () => {
    const result = accepted(load('[[server]]\nname = "a"\ncommand = "x"\n'));
    expect(result.config.control).toBeUndefined();
  });

  it.each([
    { name: 'an integer', toml: '[control]\njsonrpc_port = 4000\n', env: {}, want: { jsonrpcPort: 4000 } },
    { name: 'the highest port', toml: '[control]\njsonrpc_port = 65535\n', env: {}, want: { jsonrpcPort: 65_535 } },
    { name: 'a variable holding digits', toml: '[control]\njsonrpc_port = "${RPC_PORT}"\n', env: { RPC_PORT: '4100' }, want: { jsonrpcPort: 4100 } },
    { name: 'an empty variable (none)', toml: '[control]\njsonrpc_port = "${RPC_PORT:-}"\n', env: {}, want: {} },
    { name: 'an empty section', toml: '[control]\n', env: {}, want: {} },
  ])('reads $name', ({ toml, env, want }) => {
    const result = accepted(load(toml, env));
    expect(result.config.control).toEqual(want);
  });

  it.each([
    { name: 'zero', toml: '[control]\njsonrpc_port = 0\n', column: 16, message: '0 is out of range; use a port from 1 to 65535' },
    { name: 'too high', toml: '[control]\njsonrpc_port = 70000\n', column: 16, message: '70000 is out of range' },
    { name: 'a float', toml: '[control]\njsonrpc_port = 40.5\n', column: 16, message: 'must be an integer port from 1 to 65535, not the number 40.5; write jsonrpc_port = 4000' },
    { name: 'a word', toml: '[control]\njsonrpc_port = "rpc"\n', column: 16, message: 'not the string "rpc"' },
    { name: 'a boolean', toml: '[control]\njsonrpc_port = true\n', column: 16, message: 'not true' },
    { name: 'a typo', toml: '[control]\njsonrpc_prot = 4000\n', column: 1, message: 'unknown control field "jsonrpc_prot"; did you mean "jsonrpc_port"?', path: 'control.jsonrpc_prot' },
  ])('rejects the whole file for $name, located', ({ toml, column, message, path }) => {
    const result = load(toml);
    expect(result.ok).toBe(false);
    expect(result.issues).toHaveLength(1);
    expect(result.issues[0]).toMatchObject({ file: 'mcp_config.toml', line: 2, column, path: path ?? 'control.jsonrpc_port' });
    expect(result.issues[0]?.message).toContain(message);
  });

  it('rejects [control] that is not a table', () => {
    const result = load('control = 4000\n');
    expect(result.ok).toBe(false);
    expect(result.issues[0]).toMatchObject({ line: 1, path: 'control' });
    expect(result.issues[0]?.message).toContain('must be a table');
  });

  it('names an unset variable instead of a type error', () => {
    const result = load('[control]\njsonrpc_port = "${RPC_PORT}"\n');
    expect(result.ok).toBe(false);
    expect(result.issues).toHaveLength(1);
    expect(result.issues[0]).toMatchObject({ line: 2, path: 'control.jsonrpc_port' });
    expect(result.issues[0]?.message).toContain('RPC_PORT');
  });
});
