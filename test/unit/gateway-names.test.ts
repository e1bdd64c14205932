import { describe, expect, it } from 'vitest';
import { assignPublicNames, MAX_NAME_LENGTH, publicName, toolFilter } from '../../src/gateway/names.js';

describe('publicName', () => {
  it('joins server and tool with the separator', () => {
    expect(publicName('filesystem', 'read_file', '_')).toBe('filesystem_read_file');
    expect(publicName('fs', 'read', '.')).toBe('fs.read');
  });

  it('sanitises characters outside [A-Za-z0-9_.-] and marks the change with a hash', () => {
    const name = publicName('fs', 'read file/now', '_');
    expect(name).toMatch(/^fs_read_file_now_[0-9a-f]{6}$/);
    expect(publicName('fs', 'read file/now', '_')).toBe(name);
    expect(publicName('fs', 'read_file_now', '_')).not.toBe(name);
  });

  it('shortens long names to 64 characters, deterministically and distinctly', () => {
    const a = publicName('server', 'x'.repeat(80), '_');
    const b = publicName('server', `${'x'.repeat(79)}y`, '_');
    expect(a).toHaveLength(MAX_NAME_LENGTH);
    expect(b).toHaveLength(MAX_NAME_LENGTH);
    expect(a).not.toBe(b);
    expect(publicName('server', 'x'.repeat(80), '_')).toBe(a);
  });
});

describe('assignPublicNames', () => {
  it('keeps every entry when two meet on one name, whatever the input order', () => {
    const entries = [
      { server: 'a_b', name: 'c' },
      { server: 'a', name: 'b_c' },
      { server: 'z', name: 'tool' },
    ];
    const seen: string[] = [];
    const names = assignPublicNames(entries, '_', (name) => seen.push(name));
    expect(names.size).toBe(3);
    expect(names.get('a_b_c')).toEqual({ server: 'a', name: 'b_c' });
    expect([...names.keys()].find((n) => n.startsWith('a_b_c_'))).toMatch(/^a_b_c_[0-9a-f]{6}$/);
    expect(seen).toEqual(['a_b_c']);
    const reversed = assignPublicNames([...entries].reverse(), '_');
    expect([...reversed.keys()].sort()).toEqual([...names.keys()].sort());
  });
});

describe('toolFilter', () => {
  const cases = [
    { allow: ['*'], deny: [], name: 'read', ok: true },
    { allow: ['read*'], deny: [], name: 'read_file', ok: true },
    { allow: ['read*'], deny: [], name: 'write_file', ok: false },
    { allow: ['*'], deny: ['delete*'], name: 'delete_file', ok: false },
    { allow: ['*'], deny: ['delete*'], name: 'list', ok: true },
    { allow: [], deny: [], name: 'anything', ok: true },
  ];
  for (const c of cases) {
    it(`allow ${JSON.stringify(c.allow)} deny ${JSON.stringify(c.deny)}: ${c.name} → ${c.ok}`, () => {
      expect(toolFilter({ allow: c.allow, deny: c.deny })(c.name)).toBe(c.ok);
    });
  }
});
