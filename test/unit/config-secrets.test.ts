import { describe, expect, it } from 'vitest';
import { loadConfigText } from '../../src/config/load.js';
import { redactConfig } from '../../src/control/actions.js';

const env = { SECRET: 'hunter2-supersecret', KEY: 'sk-live-abcdef', PORT: '8001' };

describe('values from the environment never show', () => {
  it('in the messages of rejected entries', () => {
    const result = loadConfigText(
      '[[server]]\nname = "a"\ncommand = "x"\nenv = "${SECRET}"\n\n[[server]]\nname = "b"\ncommand = "x"\ntransport = "${SECRET}"\n',
      'mcp_config.toml',
      env,
    );
    expect(result.issues.length).toBe(2);
    for (const issue of result.issues) {
      expect(issue.message).not.toContain('hunter2');
      expect(issue.message).toContain('[redacted]');
    }
  });

  it('in the config the API shows, wherever they were used', () => {
    const result = loadConfigText(
      '[[server]]\nname = "a"\ncommand = "server --key ${KEY} --port ${PORT}"\nrepo = "https://user:${SECRET}@example.com/a.git"\nenv = { K = "${KEY}" }\n',
      '/tmp/mcp_config.toml',
      env,
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const shown = JSON.stringify(redactConfig(result.config));
    expect(shown).not.toContain('sk-live-abcdef');
    expect(shown).not.toContain('hunter2');
    expect(shown).toContain('server --key [redacted] --port');
    expect(shown).not.toContain('secrets');
  });
});
