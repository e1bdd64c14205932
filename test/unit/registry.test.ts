import { afterEach, describe, expect, it } from 'vitest';
import { Registry } from '../../src/gateway/registry.js';
import type { Upstream } from '../../src/gateway/upstream.js';
import { memoryLogger } from '../helpers/logs.js';

/** The part of an Upstream the registry reads: who it is and what it lists. */
function upstream(server: string, lists: { tools?: string[]; resources?: string[] }): Upstream {
  return {
    server,
    instanceId: `${server}-1`,
    isClosed: false,
    lists: {
      tools: (lists.tools ?? []).map((name) => ({ name, inputSchema: { type: 'object' } })),
      prompts: [],
      resources: (lists.resources ?? []).map((uri) => ({ uri, name: uri })),
      resourceTemplates: [],
    },
  } as unknown as Upstream;
}

const warnings = (lines: string[], msg: string) => lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level === 40 && l.msg === msg);

describe('Registry warnings', () => {
  let registry: Registry | undefined;
  afterEach(() => registry?.close());

  it('a URI two servers list is warned about once while it stands, and again when it comes back', () => {
    const { log, lines } = memoryLogger();
    registry = new Registry(log);
    const message = 'two servers list one resource URI; the first (by name) serves it';
    registry.attach(upstream('a', { resources: ['file:///shared'] }));
    registry.attach(upstream('b', { resources: ['file:///shared'] }));
    expect(registry.aggregate().resourceRoutes.get('file:///shared')).toBe('a');
    expect(warnings(lines, message)).toHaveLength(1);

    // Other servers come and go: every change rebuilds the view, the clash is still the same one.
    registry.attach(upstream('c', { tools: ['t'] }));
    registry.aggregate();
    registry.detach('c-1');
    registry.aggregate();
    registry.scoped('a');
    expect(warnings(lines, message)).toHaveLength(1);

    registry.detach('b-1');
    registry.aggregate();
    registry.attach(upstream('b', { resources: ['file:///shared'] }));
    registry.aggregate();
    expect(warnings(lines, message)).toHaveLength(2);
  });

  it('two names meeting on one public name are warned about once per clash', () => {
    const { log, lines } = memoryLogger();
    registry = new Registry(log);
    const message = 'two names meet on one public name; the later ones get a hash suffix';
    // "a_b" + "_" + "c" and "a" + "_" + "b_c" are both "a_b_c".
    registry.attach(upstream('a_b', { tools: ['c'] }));
    registry.attach(upstream('a', { tools: ['b_c'] }));
    expect(registry.aggregate().tools).toHaveLength(2);
    registry.attach(upstream('z', { tools: ['other'] }));
    expect(registry.aggregate().tools).toHaveLength(3);
    expect(warnings(lines, message)).toHaveLength(1);
  });
});
