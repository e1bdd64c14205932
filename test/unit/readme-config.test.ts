import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfigText } from '../../src/config/load.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const tomlBlocks = [...readme.matchAll(/```toml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');

describe("the README's config examples", () => {
  it('load without a problem as pasted, with only the keys their servers need set', () => {
    expect(tomlBlocks.length).toBeGreaterThan(0);
    for (const block of tomlBlocks) {
      const result = loadConfigText(block, 'README.md', { TAVILY_API_KEY: 'tvly-test' });
      expect(result.ok && result.issues, block).toEqual([]);
    }
  });
});
