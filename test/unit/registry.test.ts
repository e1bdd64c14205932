import { afterEach, describe, expect, it, vi } from 'vitest';
import { Registry } from '../../src/gateway/registry.js';
import type { Upstream } from '../../src/gateway/upstream.js';
import { memoryLogger } from '../helpers/logs.js';

/** The part of an Upstream the registry reads: who it is and what it lists. */
function upstream(server: string, lists: { tools?: string[]; resources?: string[]; templates?: string[] }): Upstream {
  return {
    server,
    instanceId: `${server}-1`,
    isClosed: false,
    lists: {
      tools: (lists.tools ?? []).map((name) => ({ name, inputSchema: { type: 'object' } })),
      prompts: [],
      resources: (lists.resources ?? []).map((uri) => ({ uri, name: uri })),
      resourceTemplates: (lists.templates ?? []).map((uriTemplate) => ({ uriTemplate, name: uriTemplate })),
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

  it("a template that does not parse is warned about again when its server comes back, though its own view was built", () => {
    const { log, lines } = memoryLogger();
    registry = new Registry(log);
    const message = 'resource template does not parse; not routable';
    registry.attach(upstream('s', { templates: ['file:///{path'] }));
    registry.aggregate();
    registry.scoped('s');
    expect(warnings(lines, message)).toHaveLength(1);

    registry.detach('s-1');
    registry.aggregate();
    registry.attach(upstream('s', { templates: ['file:///{path'] }));
    registry.aggregate();
    registry.scoped('s');
    expect(warnings(lines, message)).toHaveLength(2);
  });
});

describe('Registry list changes', () => {
  afterEach(() => vi.useRealTimers());

  it('tells clients of the kinds that really changed, and of nothing while no server lists anything', () => {
    vi.useFakeTimers();
    const registry = new Registry(memoryLogger().log);
    const told: string[][] = [];
    registry.onListChanged((kinds) => told.push(kinds));
    registry.configure('_', new Map());
    vi.advanceTimersByTime(100);
    expect(told).toEqual([]);

    registry.attach(upstream('a', { tools: ['t'] }));
    vi.advanceTimersByTime(100);
    expect(told).toEqual([['tools']]);
    registry.attach(upstream('b', { resources: ['file:///x'] }));
    vi.advanceTimersByTime(100);
    expect(told).toEqual([['tools'], ['resources']]);
    registry.close();
  });
});
