import { mkdtemp, readFile, writeFile, chmod, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it, expect } from 'vitest';
import { loadConfigFile, loadConfigText } from '../../src/config/load.js';
import { accepted } from '../helpers/config.js';
import type { LoadResult } from '../../src/config/types.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SEED = join(ROOT, 'examples/seed/mcp_config.toml');
const FIXTURES = join(ROOT, 'test/fixtures/config');
const CWD = '/srv/app';

const load = (text: string, env: NodeJS.ProcessEnv = {}): LoadResult => loadConfigText(text, 'mcp_config.toml', env, { cwd: CWD });

/** A minimal valid entry, to embed in cases that break one field. */
const entry = (extra: string) => `[[server]]\nrepo = "https://github.com/org/demo.git"\ncommand = "node server.js"\n${extra}\n`;

interface BadCase {
  name: string;
  toml: string;
  env?: NodeJS.ProcessEnv;
  /** false: the whole file is rejected; true: only the entry. */
  ok: boolean;
  line: number;
  column: number;
  path: string;
  message: string;
  server?: string;
}

const BAD: BadCase[] = [
  { name: 'unclosed table header', toml: '[[server]\nrepo = "x"\n', ok: false, line: 1, column: 10, path: '', message: 'invalid TOML' },
  { name: 'unterminated string', toml: '[[server]]\ncommand = "node\n', ok: false, line: 2, column: 16, path: '', message: 'invalid TOML: a string is not closed on its line; end it with the quote it began with' },
  { name: 'unterminated literal string', toml: "[[server]]\ncommand = 'node\r\nname = 'x'\n", ok: false, line: 2, column: 16, path: '', message: 'a string is not closed on its line' },
  { name: 'startup_wait too long', toml: '[gateway]\nstartup_wait = "2m"\n', ok: false, line: 2, column: 16, path: 'gateway.startup_wait', message: 'is out of range; use "0s" (no wait) to "1m", e.g. "15s"' },
  { name: 'unquoted address', toml: '[orchestrator]\nlisten = 127.0.0.1:8080\n', ok: false, line: 2, column: 15, path: '', message: 'illegal character in numeric literal: if this value is text, put it in quotes, "like this"' },
  { name: 'unquoted text', toml: '[[server]]\ncommand = node\n', ok: false, line: 2, column: 11, path: '', message: 'invalid TOML: invalid value: text needs quotes, "like this"' },
  { name: 'key without value', toml: '\n\nlisten =\n', ok: false, line: 3, column: 9, path: '', message: 'invalid TOML' },
  { name: 'unknown transport', toml: entry('transport = "htp"'), ok: true, line: 4, column: 13, path: 'server[0].transport', message: 'unknown transport "htp"; use "http" or "stdio"', server: 'demo' },
  { name: 'unknown field with suggestion', toml: entry('comand = "x"'), ok: true, line: 4, column: 1, path: 'server[0].comand', message: 'unknown server field "comand"; did you mean "command"?', server: 'demo' },
  { name: 'unknown field, swapped letters', toml: entry('tools = { dney = ["x"] }'), ok: true, line: 4, column: 11, path: 'server[0].tools.dney', message: 'did you mean "deny"?', server: 'demo' },
  { name: 'unknown field in camelCase', toml: entry('startupTimeout = "5s"'), ok: true, line: 4, column: 1, path: 'server[0].startupTimeout', message: 'did you mean "startup_timeout"?', server: 'demo' },
  { name: 'unknown top-level section', toml: '[orchestrater]\nlisten = "127.0.0.1:1"\n', ok: false, line: 1, column: 1, path: 'orchestrater', message: 'unknown section "orchestrater"; did you mean "orchestrator"?' },
  { name: 'plural [[servers]]', toml: '[[servers]]\ncommand = "x"\n', ok: false, line: 1, column: 1, path: 'servers', message: 'did you mean "server"?' },
  { name: '[server] as a single table', toml: '[server]\nrepo = "https://h/x.git"\ncommand = "x"\n', ok: false, line: 1, column: 1, path: 'server', message: 'write [[server]] (double brackets)' },
  { name: 'duplicate explicit names', toml: '[[server]]\nname = "a"\ncommand = "x"\n[[server]]\nname = "a"\ncommand = "y"\n', ok: true, line: 2, column: 8, path: 'server[0].name', message: 'duplicate name "a", also used by server[1]', server: 'a' },
  { name: 'duplicate derived names', toml: entry('') + entry(''), ok: true, line: 2, column: 8, path: 'server[0].repo', message: 'the name "demo" derived from repo is also used by server[1]', server: 'demo' },
  { name: 'path-escaping name', toml: entry('name = "../etc"'), ok: true, line: 4, column: 8, path: 'server[0].name', message: 'would escape the repos folder' },
  { name: 'name with a slash', toml: entry('name = "a/b"'), ok: true, line: 4, column: 8, path: 'server[0].name', message: 'name "a/b" would escape' },
  { name: 'name with a space', toml: entry('name = "my server"'), ok: true, line: 4, column: 8, path: 'server[0].name', message: 'use 1-32 letters, digits, "_" or "-", starting with a letter or digit, e.g. name = "my-server"' },
  { name: 'name too long', toml: entry(`name = "${'x'.repeat(33)}"`), ok: true, line: 4, column: 8, path: 'server[0].name', message: 'is 33 characters long' },
  { name: 'no name and no repo', toml: '\n[[server]]\ncommand = "x"\n', ok: true, line: 2, column: 1, path: 'server[0]', message: 'a server without repo needs a name' },
  { name: 'missing command', toml: '[[server]]\nname = "a"\n', ok: true, line: 1, column: 1, path: 'server[0].command', message: 'missing; write command = ', server: 'a' },
  { name: 'empty command', toml: entry('').replace('"node server.js"', '""'), ok: true, line: 3, column: 11, path: 'server[0].command', message: 'is empty', server: 'demo' },
  { name: 'empty command array', toml: '[[server]]\nname = "a"\ncommand = []\n', ok: true, line: 3, column: 11, path: 'server[0].command', message: 'is an empty array', server: 'a' },
  { name: 'number in command array', toml: '[[server]]\nname = "a"\ncommand = ["node", 5]\n', ok: true, line: 3, column: 20, path: 'server[0].command[1]', message: 'quote it, e.g. "5"', server: 'a' },
  { name: 'command of the wrong type', toml: '[[server]]\nname = "a"\ncommand = true\n', ok: true, line: 3, column: 11, path: 'server[0].command', message: 'must be a string or an array of strings, not true', server: 'a' },
  { name: 'missing variable in env', toml: entry('env = { TAVILY_API_KEY = "${TAVILY_API_KEY}" }'), ok: true, line: 4, column: 26, path: 'server[0].env.TAVILY_API_KEY', message: 'environment variable TAVILY_API_KEY is not set; export it or write ${TAVILY_API_KEY:-default}', server: 'demo' },
  { name: 'missing variable in the global token', toml: '[orchestrator]\ntoken = "${MCP_ORCHESTRATOR_TOKEN}"\n', ok: false, line: 2, column: 9, path: 'orchestrator.token', message: 'MCP_ORCHESTRATOR_TOKEN is not set' },
  { name: 'unterminated ${', toml: entry('cwd = "${HOME"'), ok: true, line: 4, column: 7, path: 'server[0].cwd', message: 'unterminated "${"', server: 'demo' },
  { name: 'env value that is a table', toml: entry('env = { A = { b = 1 } }'), ok: true, line: 4, column: 13, path: 'server[0].env.A', message: 'must be a string, not a table; write A = "value"', server: 'demo' },
  { name: 'bare number duration', toml: entry('startup_timeout = 60'), ok: true, line: 4, column: 19, path: 'server[0].startup_timeout', message: 'write a string with a unit, e.g. "60s"', server: 'demo' },
  { name: 'duration with words', toml: '[orchestrator]\nshutdown_grace = "10 seconds"\n', ok: false, line: 2, column: 18, path: 'orchestrator.shutdown_grace', message: 'invalid duration "10 seconds"; write e.g. "10s"' },
  { name: 'duration out of range', toml: entry('startup_timeout = "2h"'), ok: true, line: 4, column: 19, path: 'server[0].startup_timeout', message: 'at most "1h"', server: 'demo' },
  { name: 'zero startup timeout', toml: entry('startup_timeout = "0s"'), ok: true, line: 4, column: 19, path: 'server[0].startup_timeout', message: 'more than "0s"', server: 'demo' },
  { name: 'listen without port', toml: '[orchestrator]\nlisten = "0.0.0.0"\n', ok: false, line: 2, column: 10, path: 'orchestrator.listen', message: 'has no port; write e.g. "0.0.0.0:8080"' },
  { name: 'listen with bare IPv6', toml: '[orchestrator]\nlisten = "::1:8080"\n', ok: false, line: 2, column: 10, path: 'orchestrator.listen', message: 'IPv6 address in brackets' },
  { name: 'listen port out of range', toml: '[orchestrator]\nlisten = "127.0.0.1:70000"\n', ok: false, line: 2, column: 10, path: 'orchestrator.listen', message: 'out of range' },
  { name: 'bad log level', toml: '[orchestrator]\nlog_level = "verbose"\n', ok: false, line: 2, column: 13, path: 'orchestrator.log_level', message: 'unknown log level "verbose"; use "trace", "debug", "info", "warn", "error" or "fatal"' },
  { name: 'separator too long', toml: '[gateway]\nseparator = "_____"\n', ok: false, line: 2, column: 13, path: 'gateway.separator', message: 'must be 1-4 characters' },
  { name: 'url on a stdio server', toml: entry('transport = "stdio"\nurl = "http://127.0.0.1:1/mcp"'), ok: true, line: 5, column: 7, path: 'server[0].url', message: 'only http servers have a url', server: 'demo' },
  { name: 'url with another scheme', toml: entry('url = "ftp://h/x"'), ok: true, line: 4, column: 7, path: 'server[0].url', message: 'must start with http:// or https://', server: 'demo' },
  { name: 'ref starting with -', toml: entry('ref = "--upload-pack=evil"'), ok: true, line: 4, column: 7, path: 'server[0].ref', message: 'must not start with "-"', server: 'demo' },
  { name: 'repo starting with -', toml: '[[server]]\nname = "x"\nrepo = "-uevil"\ncommand = "c"\n', ok: true, line: 3, column: 8, path: 'server[0].repo', message: 'must not start with "-"', server: 'x' },
  { name: 'quoted boolean', toml: entry('enabled = "yes"'), ok: true, line: 4, column: 11, path: 'server[0].enabled', message: 'must be true or false without quotes', server: 'demo' },
  { name: 'unknown restart policy', toml: entry('restart = "sometimes"'), ok: true, line: 4, column: 11, path: 'server[0].restart', message: 'use "always", "on-failure" or "never"', server: 'demo' },
  { name: 'empty install', toml: entry('install = " "'), ok: true, line: 4, column: 11, path: 'server[0].install', message: 'install = "none"', server: 'demo' },
  { name: 'tools.allow not an array', toml: entry('tools.allow = "*"'), ok: true, line: 4, column: 15, path: 'server[0].tools.allow', message: 'must be an array of glob strings', server: 'demo' },
  { name: 'no name derivable from repo', toml: '[[server]]\nrepo = ".git"\ncommand = "x"\n', ok: true, line: 2, column: 8, path: 'server[0].repo', message: 'no name can be derived from repo ".git"' },
  { name: 'unsafe key', toml: entry('env = { constructor = "1" }'), ok: false, line: 4, column: 9, path: '', message: 'keys named __proto__ or constructor are not allowed' },
  { name: 'listen as a number', toml: '[orchestrator]\nlisten = 8080\n', ok: false, line: 2, column: 10, path: 'orchestrator.listen', message: 'write e.g. "127.0.0.1:8080"' },
  { name: 'too deeply nested', toml: `x = ${'['.repeat(2000)}${']'.repeat(2000)}\n`, ok: false, line: 1, column: 1005, path: '', message: 'excessively nested' },
  { name: 'entry that is not a table', toml: 'server = [1]\n', ok: true, line: 1, column: 11, path: 'server[0]', message: 'must be a table, not the number 1' },
];

describe('loadConfigText: bad inputs', () => {
  it.each(BAD)('$name', (c) => {
    let result: LoadResult | undefined;
    expect(() => (result = load(c.toml, c.env))).not.toThrow();
    if (result === undefined) throw new Error('unreachable');
    expect(result.ok).toBe(c.ok);
    const issue = result.issues[0];
    expect(issue, JSON.stringify(result.issues)).toBeDefined();
    expect({ line: issue?.line, column: issue?.column, path: issue?.path, server: issue?.server }).toEqual({
      line: c.line,
      column: c.column,
      path: c.path,
      server: c.server,
    });
    expect(issue?.message).toContain(c.message);
    expect(issue?.file).toBe('mcp_config.toml');
    if (result.ok) expect(result.config.servers.map((s) => s.name)).not.toContain(c.server ?? '\0');
  });
});

describe('loadConfigText: the seed config', () => {
  it('validates unchanged, with no issues, deriving both names', async () => {
    const result = await loadConfigFile(SEED, {});
    expect(result.issues).toEqual([]);
    if (!result.ok) throw new Error('seed rejected');
    expect(result.config.servers.map((s) => s.name)).toEqual(['openai-codex-mcp', 'tavily-mcp']);
    const [codex, tavily] = result.config.servers;
    expect(codex).toMatchObject({ transport: 'stdio', command: './setup_and_run.sh', env: { OPENAI_API_KEY: 'your-openai-key' } });
    expect(tavily).toMatchObject({ transport: 'http', command: 'npx -y tavily-mcp@0.2.1 serve', env: {} });
    expect(result.rejectedNames).toEqual([]);
  });
});

describe('loadConfigText: defaults', () => {
  it('an empty file is valid, with zero servers and every default', () => {
    const result = accepted(load(''));
    expect(result.config).toEqual({
      file: '/srv/app/mcp_config.toml',
      orchestrator: {
        listen: { host: '127.0.0.1', port: 8080 },
        reposDir: '/srv/app/repos',
        logLevel: 'info',
        shutdownGraceMs: 10_000,
        watchPoll: false,
        resyncIntervalMs: 30_000,
      },
      gateway: { separator: '_', startupWaitMs: 15_000 },
      servers: [],
    });
  });

  it('an empty re-read of a running config is rejected, not taken as "no servers"', () => {
    for (const text of ['', '\n  \n', '\uFEFF']) {
      const result = loadConfigText(text, 'mcp_config.toml', {}, { cwd: CWD, reread: true });
      expect(result.ok).toBe(false);
      expect(result.issues).toEqual([expect.objectContaining({ file: 'mcp_config.toml', line: 1, column: 1, message: expect.stringContaining('mid-way through an in-place save') })]);
    }
    // Anything in it, a comment alone included, is a config like any other.
    expect(accepted(loadConfigText('# no servers for now\n', 'mcp_config.toml', {}, { cwd: CWD, reread: true })).config.servers).toEqual([]);
  });

  it('fills every server default', () => {
    const result = accepted(load('[[server]]\nname = "local"\ncommand = ["node", "s.js"]\n'));
    expect(result.config.servers).toEqual([
      {
        name: 'local',
        command: ['node', 's.js'],
        env: {},
        transport: 'http',
        install: { kind: 'auto' },
        cwd: '.',
        enabled: true,
        restart: 'always',
        startupTimeoutMs: 60_000,
        tools: { allow: ['*'], deny: [] },
      },
    ]);
  });

  it('reads every field when given', () => {
    const text = [
      '[orchestrator]',
      'listen = "[::1]:9090"',
      'repos_dir = "../clones"',
      'log_level = "debug"',
      'shutdown_grace = "1m30s"',
      'token = "s3cret"',
      'watch_poll = true',
      'resync_interval = "500ms"',
      '[gateway]',
      'separator = "__"',
      'startup_wait = "0s"',
      '[[server]]',
      'name = "tavily"',
      'repo = "https://github.com/tavily-ai/tavily-mcp.git"',
      'ref = "v0.2.1"',
      'command = "npx -y tavily-mcp@0.2.1 serve"',
      'env = { PORT = 8001, DEBUG = true, KEY = "k" }',
      'transport = "http"',
      'url = "http://127.0.0.1:8001/mcp"',
      'install = "npm ci"',
      'cwd = "packages/server"',
      'enabled = false',
      'restart = "on-failure"',
      'startup_timeout = "1.5s"',
      'tools = { allow = ["search*"], deny = ["*_delete"] }',
    ].join('\n');
    const result = accepted(loadConfigText(text, '/etc/mcp/mcp_config.toml', {}));
    expect(result.config.orchestrator).toEqual({
      listen: { host: '::1', port: 9090 },
      reposDir: '/etc/clones',
      logLevel: 'debug',
      shutdownGraceMs: 90_000,
      token: 's3cret',
      watchPoll: true,
      resyncIntervalMs: 500,
    });
    expect(result.config.gateway).toEqual({ separator: '__', startupWaitMs: 0 });
    expect(result.config.servers[0]).toEqual({
      name: 'tavily',
      repo: 'https://github.com/tavily-ai/tavily-mcp.git',
      ref: 'v0.2.1',
      command: 'npx -y tavily-mcp@0.2.1 serve',
      env: { PORT: '8001', DEBUG: 'true', KEY: 'k' },
      transport: 'http',
      url: 'http://127.0.0.1:8001/mcp',
      install: { kind: 'command', command: 'npm ci' },
      cwd: 'packages/server',
      enabled: false,
      restart: 'on-failure',
      startupTimeoutMs: 1500,
      tools: { allow: ['search*'], deny: ['*_delete'] },
    });
  });

  it('install keywords and an empty token', () => {
    const result = accepted(load('[orchestrator]\ntoken = "${T:-}"\n' + entry('install = "none"')));
    expect(result.config.orchestrator.token).toBeUndefined();
    expect(result.config.servers[0]?.install).toEqual({ kind: 'none' });
  });

  it.each([
    ['https://github.com/tavily-ai/tavily-mcp.git', 'tavily-mcp'],
    ['git@github.com:org/x.git', 'x'],
    ['file:///tmp/a/b.git', 'b'],
    ['https://github.com/org/repo/', 'repo'],
    ['https://github.com/org/my.server.git', 'my-server'],
    ['https://github.com/org/_weird name!.git', 'weird-name-'],
    [`https://h/${'a'.repeat(40)}.git`, 'a'.repeat(32)],
  ])('derives the name of %s as %s', (repo, name) => {
    const result = accepted(load(`[[server]]\nrepo = "${repo}"\ncommand = "x"\n`));
    expect(result.config.servers.map((s) => s.name)).toEqual([name]);
  });
});

describe('loadConfigText: interpolation', () => {
  const envOf = (value: string, env: NodeJS.ProcessEnv) => {
    const result = accepted(load(entry(`env = { V = '${value}' }`), env));
    return { value: result.config.servers[0]?.env['V'], issues: result.issues };
  };

  it.each([
    ['${A}', { A: 'x' }, 'x'],
    ['${A:-d}', {}, 'd'],
    ['${A:-d}', { A: '' }, 'd'],
    ['${A:-d}', { A: 'set' }, 'set'],
    ['${A-d}', { A: '' }, ''],
    ['${A}', { A: '' }, ''],
    ['$$HOME', {}, '$HOME'],
    ['$${A}', { A: 'x' }, '${A}'],
    ['cost: 5$', {}, 'cost: 5$'],
    ['$HOME', { HOME: '/root' }, '$HOME'],
    ['pre-${A}-${B:-b}-post', { A: 'a' }, 'pre-a-b-post'],
    ['${A:-}', {}, ''],
  ])('%s with %j is %s', (value, env, expected) => {
    expect(envOf(value, env)).toEqual({ value: expected, issues: [] });
  });

  it('reports every missing variable of a string, and rejects the entry alone', () => {
    const result = accepted(load(entry('command = "${X} ${Y}"').replace('command = "node server.js"\n', '') + '[[server]]\nname = "ok"\ncommand = "c"\n'));
    expect(result.issues.map((i) => [i.path, i.line, i.column, i.message])).toEqual([
      ['server[0].command', 3, 11, 'environment variable X is not set; export it or write ${X:-default}'],
      ['server[0].command', 3, 11, 'environment variable Y is not set; export it or write ${Y:-default}'],
    ]);
    expect(result.config.servers.map((s) => s.name)).toEqual(['ok']);
    expect(result.rejectedNames).toEqual(['demo']);
  });

  it('interpolates names, repos and global fields, but not keys', () => {
    const text = '[orchestrator]\nlisten = "${HOST:-0.0.0.0}:${PORT}"\n[[server]]\nname = "${N}"\ncommand = "c"\nenv = { "${K}" = "v" }\n';
    const result = accepted(load(text, { PORT: '9000', N: 'from-env' }));
    expect(result.config.orchestrator.listen).toEqual({ host: '0.0.0.0', port: 9000 });
    expect(result.config.servers[0]?.name).toBe('from-env');
    expect(result.config.servers[0]?.env).toEqual({ '${K}': 'v' });
  });

  it('rejects an invalid reference with a hint', () => {
    const result = load(entry('cwd = "${1A}"'));
    expect(result.issues[0]?.message).toContain('invalid variable reference "${1A}"');
  });
});

describe('loadConfigText: environment overrides', () => {
  const text = '[orchestrator]\nlisten = "127.0.0.1:1"\nrepos_dir = "r"\nlog_level = "warn"\n';

  it('MCP_ORCHESTRATOR_LISTEN, MCP_REPOS_DIR, LOG_LEVEL and CHOKIDAR_USEPOLLING win over the file', () => {
    const env = { MCP_ORCHESTRATOR_LISTEN: '0.0.0.0:8080', MCP_REPOS_DIR: 'data/repos', LOG_LEVEL: 'DEBUG', CHOKIDAR_USEPOLLING: '1' };
    const result = accepted(load(text, env));
    expect(result.config.orchestrator).toMatchObject({
      listen: { host: '0.0.0.0', port: 8080 },
      reposDir: '/srv/app/data/repos',
      logLevel: 'debug',
      watchPoll: true,
    });
  });

  it('without them the file holds, and empty values are ignored', () => {
    const result = accepted(load(text, { MCP_ORCHESTRATOR_LISTEN: '', MCP_REPOS_DIR: '', LOG_LEVEL: '' }));
    expect(result.config.orchestrator).toMatchObject({ listen: { host: '127.0.0.1', port: 1 }, reposDir: '/srv/app/r', logLevel: 'warn', watchPoll: false });
  });

  it.each([
    ['true', true],
    ['0', false],
    ['false', false],
  ])('CHOKIDAR_USEPOLLING=%s gives watch_poll %s, as chokidar reads it', (value, expected) => {
    const result = load('[orchestrator]\nwatch_poll = true\n', { CHOKIDAR_USEPOLLING: value });
    expect(result).toMatchObject({ ok: true, config: { orchestrator: { watchPoll: expected } } });
  });

  it('a bad override rejects the whole file, pointing at the field it overrides', () => {
    const result = load(text, { LOG_LEVEL: 'loud', MCP_ORCHESTRATOR_LISTEN: '8080' });
    expect(result.ok).toBe(false);
    expect(result.issues.map((i) => [i.path, i.line, i.column])).toEqual([
      ['orchestrator.listen', 2, 10],
      ['orchestrator.log_level', 4, 13],
    ]);
    expect(result.issues[0]?.message).toContain('MCP_ORCHESTRATOR_LISTEN (from the environment): "8080" has no host');
    expect(result.issues[1]?.message).toContain('LOG_LEVEL (from the environment) is "loud"');
  });
});

describe('loadConfigText: one invalid entry is rejected alone', () => {
  it('keeps the others, lists the issue with the name, and reports the name as rejected', () => {
    const text = [
      '[[server]]',
      'name = "good"',
      'command = "a"',
      '',
      '[[server]]',
      'name = "tavily"',
      'command = "b"',
      'transport = "htp"',
      '',
      '[[server]]',
      'repo = "https://github.com/org/third.git"',
      'command = ["c"]',
    ].join('\n');
    const result = accepted(load(text));
    expect(result.config.servers.map((s) => s.name)).toEqual(['good', 'third']);
    expect(result.rejectedNames).toEqual(['tavily']);
    expect(result.issues).toEqual([
      { file: 'mcp_config.toml', line: 8, column: 13, path: 'server[1].transport', server: 'tavily', message: 'unknown transport "htp"; use "http" or "stdio"' },
    ]);
  });

  it('rejects every entry sharing a name, ignoring case, even when one is invalid for another reason', () => {
    const text = '[[server]]\nname = "a"\ncommand = "x"\n[[server]]\nname = "A"\ncommand = "x"\nrestart = "no"\n[[server]]\nname = "b"\ncommand = "x"\n';
    const result = accepted(load(text));
    expect(result.config.servers.map((s) => s.name)).toEqual(['b']);
    expect(result.rejectedNames).toEqual(['a', 'A']);
    expect(result.issues.map((i) => i.path)).toEqual(['server[0].name', 'server[1].name', 'server[1].restart']);
  });

  it('an invalid global section rejects the whole file but still lists entry issues', () => {
    const result = load('[gateway]\nseparator = ""\n' + entry('transport = "x"'));
    expect(result.ok).toBe(false);
    expect(result.issues.map((i) => i.path)).toEqual(['gateway.separator', 'server[0].transport']);
  });

  it('never echoes credentials from a repo URL', () => {
    const result = load('[[server]]\nname = "x"\nrepo = "-https://user:hunter2@h/x.git"\ncommand = "c"\n[[server]]\nrepo = "https://user:hunter2@h/.git"\ncommand = "c"\n');
    expect(result.issues).toHaveLength(2);
    expect(JSON.stringify(result.issues)).not.toContain('hunter2');
  });

  it('an explicit invalid name is not reported as a rejected name', () => {
    const result = load(entry('name = "../etc"'));
    expect(result.ok && result.rejectedNames).toEqual([]);
    expect(result.issues[0]?.server).toBeUndefined();
  });
});

describe('loadConfigFile', () => {
  it('turns an unreadable file into one issue', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'config-'));
    const missing = await loadConfigFile(join(dir, 'nope.toml'), {});
    expect(missing).toEqual({ ok: false, issues: [expect.objectContaining({ line: 1, column: 1, message: expect.stringContaining('config file not found') })] });
    await mkdir(join(dir, 'folder.toml'));
    const folder = await loadConfigFile(join(dir, 'folder.toml'), {});
    expect(folder.issues[0]?.message).toContain('is a folder');
    if (process.getuid?.() !== 0) {
      const locked = join(dir, 'locked.toml');
      await writeFile(locked, '');
      await chmod(locked, 0o000);
      expect((await loadConfigFile(locked, {})).issues[0]?.message).toContain('permission denied');
    }
  });

  it('keeps a relative file name relative in issues, resolves it for the spec', async () => {
    const result = await loadConfigFile('test/fixtures/config/one-bad-entry.toml', {}, { cwd: ROOT });
    expect(result.issues[0]?.file).toBe('test/fixtures/config/one-bad-entry.toml');
    if (!result.ok) throw new Error(JSON.stringify(result.issues));
    expect(result.config.file).toBe(join(FIXTURES, 'one-bad-entry.toml'));
    expect(result.config.orchestrator.reposDir).toBe(join(FIXTURES, 'repos'));
  });

  it('ignores a byte-order mark', () => {
    expect(load('\uFEFF[gateway]\nseparator = "."\n').ok).toBe(true);
  });
});

describe('loadConfigText: fuzz', () => {
  // A small deterministic PRNG, so a failure reproduces.
  const random = (seed: number) => () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };

  it('never throws on hundreds of mutations of a valid file', async () => {
    const base = await readFile(join(FIXTURES, 'full.toml'), 'utf8');
    expect(load(base, { TAVILY_API_KEY: 'k' }).issues).toEqual([]);
    const next = random(42);
    const pick = (n: number) => Math.floor(next() * n);
    for (let round = 0; round < 400; round++) {
      let text = base;
      for (let edit = 0; edit <= pick(4); edit++) {
        const lines = text.split('\n');
        const at = pick(text.length);
        switch (pick(4)) {
          case 0:
            text = text.slice(0, at) + text.slice(at + 1 + pick(3));
            break;
          case 1: {
            const [a, b] = [pick(lines.length), pick(lines.length)];
            [lines[a], lines[b]] = [lines[b] ?? '', lines[a] ?? ''];
            text = lines.join('\n');
            break;
          }
          case 2:
            text = text.slice(0, at) + '[]{}"=$\n,.-'.charAt(pick(12)) + text.slice(at);
            break;
          default:
            lines.splice(pick(lines.length), 0, lines[pick(lines.length)] ?? '');
            text = lines.join('\n');
        }
      }
      let result: LoadResult | undefined;
      expect(() => (result = load(text, { TAVILY_API_KEY: 'k' })), text).not.toThrow();
      for (const issue of result?.issues ?? []) {
        expect(issue.line, text).toBeGreaterThanOrEqual(1);
        expect(issue.column).toBeGreaterThanOrEqual(1);
        expect(issue.message.length).toBeGreaterThan(10);
      }
    }
  });
});
