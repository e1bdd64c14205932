import { describe, it, expect } from 'vitest';
import { formatIssue, formatIssues } from '../../src/config/format.js';
import { loadConfigText } from '../../src/config/load.js';

describe('formatIssue', () => {
  it.each([
    [
      { file: 'mcp_config.toml', line: 12, column: 13, path: 'server[1].transport', server: 'tavily', message: 'unknown transport "htp"; use "http" or "stdio"' },
      'mcp_config.toml:12:13: server[1] "tavily": transport: unknown transport "htp"; use "http" or "stdio"',
    ],
    [
      { file: './conf/m.toml', line: 3, column: 1, path: 'server[0]', message: 'a server without repo needs a name' },
      './conf/m.toml:3:1: server[0]: a server without repo needs a name',
    ],
    [
      { file: '/abs/m.toml', line: 2, column: 10, path: 'orchestrator.listen', message: 'has no port' },
      '/abs/m.toml:2:10: orchestrator.listen: has no port',
    ],
    [{ file: 'm.toml', line: 1, column: 10, path: '', message: 'invalid TOML: x' }, 'm.toml:1:10: invalid TOML: x'],
    [
      { file: 'm.toml', line: 4, column: 26, path: 'server[0].env.TAVILY_API_KEY', server: 'demo', message: 'not set' },
      'm.toml:4:26: server[0] "demo": env.TAVILY_API_KEY: not set',
    ],
  ])('%j', (issue, line) => {
    expect(formatIssue(issue)).toBe(line);
  });

  it('formats a real load, one line per issue', () => {
    const result = loadConfigText('[[server]]\nname = "x"\ncomand = "c"\n', 'conf/mcp_config.toml', {});
    expect(formatIssues(result.issues)).toBe(
      [
        'conf/mcp_config.toml:1:1: server[0] "x": command: missing; write command = "npx -y my-server" (runs in a shell) or command = ["node", "server.js"] (runs without one)',
        'conf/mcp_config.toml:3:1: server[0] "x": comand: unknown server field "comand"; did you mean "command"?',
      ].join('\n'),
    );
  });
});
