import { describe, it, expect } from 'vitest';
import { interpolateString, interpolateTree } from '../../src/config/interpolate.js';

describe('interpolateString', () => {
  it.each([
    ['${A:b}', 'invalid variable reference "${A:b}"'],
    ['${}', 'invalid variable reference "${}"'],
    ['${A-B-C', 'unterminated "${"'],
  ])('%s is reported: %s', (text, message) => {
    expect(interpolateString(text, { A: 'x' }).problems[0]).toContain(message);
  });

  it('keeps the default as literal text up to the first }', () => {
    expect(interpolateString('${A:-http://h:1/x}', {})).toEqual({ value: 'http://h:1/x', problems: [] });
  });
});

describe('interpolateTree', () => {
  it('walks tables and arrays, leaves keys, numbers and dates alone, and returns a new tree', () => {
    const date = new Date(0);
    const tree = { a: ['${X}', { '${K}': '${Y}' }], n: 1, d: date };
    const { value, issues } = interpolateTree(tree, { X: 'x' });
    expect(value).toEqual({ a: ['x', { '${K}': '' }], n: 1, d: date });
    expect(issues).toEqual([{ path: ['a', 1, '${K}'], message: 'environment variable Y is not set; export it or write ${Y:-default}' }]);
    expect(tree.a[0]).toBe('${X}');
  });
});
