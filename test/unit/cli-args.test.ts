import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COMMAND_NAMES, commandHelp, globalHelp, parseCommandLine, UsageError, usageLine } from '../../src/cli/args.js';
import { VERSION } from '../../src/version.js';

const usageError = (argv: string[]): string => {
  try {
    parseCommandLine(argv);
  } catch (error) {
    if (error instanceof UsageError) return error.message;
    throw error;
  }
  throw new Error(`no usage error for ${argv.join(' ')}`);
};

describe('parseCommandLine', () => {
  it.each([
    [[], { command: 'run', values: {} }],
    [['--config', 'x.toml', '--stdio'], { command: 'run', values: { config: 'x.toml', stdio: true } }],
    [['run', '-c', 'x.toml', '--listen=127.0.0.1:0'], { command: 'run', values: { config: 'x.toml', listen: '127.0.0.1:0' } }],
    [['logs', 'memory', '-f', '--tail', '5'], { command: 'logs', name: 'memory', values: { follow: true, tail: '5' } }],
    [['restart', 'memory', '--json', '--url', 'http://127.0.0.1:9'], { command: 'restart', name: 'memory', values: { json: true, url: 'http://127.0.0.1:9' } }],
    [['connect', '--server', 'memory'], { command: 'connect', values: { server: 'memory' } }],
    // The last of a repeated option counts, as in most tools; a short group is its options.
    [['status', '--config', 'a.toml', '-c', 'b.toml'], { command: 'status', values: { config: 'b.toml' } }],
    [['logs', 'm', '-fc', 'x.toml'], { command: 'logs', name: 'm', values: { follow: true, config: 'x.toml' } }],
    [['logs', 'm', '--tail=0'], { command: 'logs', name: 'm', values: { tail: '0' } }],
  ])('%j reads as a command', (argv, expected) => {
    expect(parseCommandLine(argv)).toMatchObject({ kind: 'command', ...expected });
  });

  it.each([
    [['status', '--follow'], 'status does not take --follow; see mcp-orchestrator status --help'],
    [['logs', 'a', '--json'], 'logs does not take --json; see mcp-orchestrator logs --help'],
    [['--url', 'http://x'], 'run does not take --url; see mcp-orchestrator run --help'],
    [['status', '--colour'], 'unknown option --colour; see mcp-orchestrator status --help'],
    [['--colour'], 'unknown option --colour; see mcp-orchestrator --help'],
    [['status', '-x'], 'unknown option -x; see mcp-orchestrator status --help'],
    [['status', '--url'], '--url needs a value: --url URL'],
    [['logs', 'a', '--tail', '-f'], '--tail needs a value: --tail N'],
    [['status', '--url', '--json'], '--url needs a value: --url URL'],
    [['logs', 'a', '--tail', '-1'], '--tail -1: give a whole number of lines, e.g. --tail 50'],
    [['logs', 'a', '--tail='], '--tail needs a value: --tail N'],
    [['logs', 'a', '--tail', '1e2'], '--tail 1e2: give a whole number of lines, e.g. --tail 50'],
    [['status', '--', '--json'], 'unexpected argument "--json" after "status"; see mcp-orchestrator status --help'],
    [['help', '--bogus'], 'unknown option --bogus; see mcp-orchestrator --help'],
    [['help', 'logs', '--json'], 'help does not take --json; see mcp-orchestrator --help'],
    [['status', '--json=yes'], '--json takes no value; give --json alone'],
    [['logs'], 'logs needs a server name: mcp-orchestrator logs NAME'],
    [['logs', 'a', 'b'], 'unexpected argument "b" after "logs"; see mcp-orchestrator logs --help'],
    [['status', 'a'], 'unexpected argument "a" after "status"; see mcp-orchestrator status --help'],
    [['stop', 'no/such'], '"no/such" is not a server name'],
    [['connect', '--server', 'a b'], '--server a b: not a server name'],
    [['bogus'], 'unknown command "bogus"; see mcp-orchestrator --help'],
    [['help', 'bogus'], 'unknown command "bogus"; see mcp-orchestrator --help'],
    [['help', 'logs', 'status'], 'unexpected argument "status" after "help logs"; see mcp-orchestrator --help'],
  ])('%j is refused: %s', (argv, message) => {
    expect(usageError(argv)).toBe(message);
  });

  it('prints the version, the whole help, or one command help', () => {
    expect(parseCommandLine(['-v'])).toEqual({ kind: 'print', text: `${VERSION}\n` });
    expect(parseCommandLine(['--help'])).toEqual({ kind: 'print', text: globalHelp() });
    expect(parseCommandLine(['help'])).toEqual({ kind: 'print', text: globalHelp() });
    expect(parseCommandLine(['logs', '--help'])).toEqual({ kind: 'print', text: commandHelp('logs') });
    expect(parseCommandLine(['help', 'logs'])).toEqual({ kind: 'print', text: commandHelp('logs') });
    // --help wins over what else is wrong on the line: it is how a user finds out what is right.
    expect(parseCommandLine(['status', '--follow', '--help'])).toEqual({ kind: 'print', text: commandHelp('status') });
  });
});

describe('help texts', () => {
  it("a command's help shows its options and no other command's", () => {
    const logs = commandHelp('logs');
    expect(logs).toContain('Usage: mcp-orchestrator logs NAME [--follow] [--tail N] [--url URL] [--config FILE]');
    expect(logs).toMatch(/^ {2}-f, --follow +keep streaming/m);
    expect(logs).not.toContain('--listen');
    expect(logs).not.toContain('--stdio');
    expect(logs).toMatch(/^ {2}MCP_ORCHESTRATOR_URL +a running orchestrator/m);
    expect(logs).not.toContain('MCP_REPOS_DIR');
    expect(commandHelp('validate')).not.toContain('MCP_ORCHESTRATOR_URL');
  });

  it('no help line is wider than 100 characters', () => {
    for (const text of [globalHelp(), ...COMMAND_NAMES.map(commandHelp)]) {
      for (const line of text.split('\n')) expect(line.length, line).toBeLessThanOrEqual(100);
    }
  });

  it('the README shows every usage line as --help does', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const name of COMMAND_NAMES) {
      expect(readme).toContain(`\n${usageLine(name)}\n`);
      expect(globalHelp()).toContain(usageLine(name));
    }
  });
});
