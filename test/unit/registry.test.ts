import { afterEach, describe, expect, it, vi } from 'vitest';
import { Registry } from '../../src/gateway/registry.js';
import { memoryLogger } from '../helpers/logs.js';
import { listingUpstream as upstream } from '../helpers/upstream.js';

describe('Registry warnings', () => {
  let opened: Registry | undefined;
  afterEach(() => opened?.close());

  /** A registry logging into memory, and how many warnings with `message` it has logged so far. */
  const withWarnings = (message: string) => {
    const { log, lines } = memoryLogger();
    const registry = new Registry(log);
    opened = registry;
    const warned = () => lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level === 40 && l.msg === message).length;
    return { registry, warned };
  };

  /** The server goes (its view rebuilt without it), then comes back listing `lists`. */
  const goneAndBack = (registry: Registry, server: string, lists: Parameters<typeof upstream>[1]) => {
    registry.detach(`${server}-1`);
    registry.aggregate();
    registry.attach(upstream(server, lists));
    registry.aggregate();
  };

  it('a URI two servers list is warned about once while it stands, and again when it comes back', () => {
    const { registry, warned } = withWarnings('two servers list one resource URI; the first (by name) serves it');
    registry.attach(upstream('a', { resources: ['file:///shared'] }));
    registry.attach(upstream('b', { resources: ['file:///shared'] }));
    expect(registry.aggregate().resourceRoutes.get('file:///shared')).toBe('a');
    expect(warned()).toBe(1);

    // Other servers come and go: every change rebuilds the view, the clash is still the same one.
    registry.attach(upstream('c', { tools: ['t'] }));
    registry.aggregate();
    registry.detach('c-1');
    registry.aggregate();
    registry.scoped('a');
    expect(warned()).toBe(1);

    goneAndBack(registry, 'b', { resources: ['file:///shared'] });
    expect(warned()).toBe(2);
  });

  it('two names meeting on one public name are warned about once per clash', () => {
    const { registry, warned } = withWarnings('two names meet on one public name; the later ones get a hash suffix');
    // "a_b" + "_" + "c" and "a" + "_" + "b_c" are both "a_b_c".
    registry.attach(upstream('a_b', { tools: ['c'] }));
    registry.attach(upstream('a', { tools: ['b_c'] }));
    expect(registry.aggregate().tools).toHaveLength(2);
    registry.attach(upstream('z', { tools: ['other'] }));
    expect(registry.aggregate().tools).toHaveLength(3);
    expect(warned()).toBe(1);
  });

  it("a template that does not parse is warned about again when its server comes back, though its own view was built", () => {
    const { registry, warned } = withWarnings('resource template does not parse; not routable');
    registry.attach(upstream('s', { templates: ['file:///{path'] }));
    registry.aggregate();
    registry.scoped('s');
    expect(warned()).toBe(1);

    goneAndBack(registry, 's', { templates: ['file:///{path'] });
    registry.scoped('s');
    expect(warned()).toBe(2);
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
