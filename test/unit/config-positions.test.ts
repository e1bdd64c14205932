import { describe, it, expect } from 'vitest';
import { createLocator, positionOf } from '../../src/config/positions.js';

const TEXT = [
  'top = 1', // 1
  'a.b.c = "dotted"', // 2
  '[orchestrator]', // 3
  'listen = "127.0.0.1:8080"', // 4
  '[[server]]', // 5
  'name = "one"', // 6
  '[[server]]', // 7
  'name = "two"', // 8
  '  env = { A = "x", "B.C" = { d = 1 } }', // 9
  'command = ["node", "s.js"]', // 10
  'tools.allow = ["*"]', // 11
  '[server.extra]', // 12
  'k = "v"', // 13
  'list = [{ x = 1 }, { y = 2 }]', // 14
].join('\n');

describe('positions', () => {
  const locate = createLocator(TEXT);

  it.each([
    [['top'], 1, 7],
    [['a', 'b', 'c'], 2, 9],
    [['orchestrator'], 3, 1],
    [['orchestrator', 'listen'], 4, 10],
    [['server', 0], 5, 1],
    [['server', 0, 'name'], 6, 8],
    [['server', 1], 7, 1],
    [['server', 1, 'transport'], 7, 1],
    [['server', 1, 'env'], 9, 9],
    [['server', 1, 'env', 'A'], 9, 15],
    [['server', 1, 'env', 'B.C', 'd'], 9, 34],
    [['server', 1, 'command', 1], 10, 20],
    [['server', 1, 'tools', 'allow'], 11, 15],
    [['server', 1, 'tools', 'allow', 0], 11, 16],
    [['server', 1, 'extra'], 12, 1],
    [['server', 1, 'extra', 'k'], 13, 5],
    [['server', 1, 'extra', 'list', 1, 'y'], 14, 26],
    [['nowhere', 'at', 'all'], 1, 1],
    [[], 1, 1],
  ] as const)('%j is at %i:%i', (path, line, column) => {
    expect(locate(path)).toEqual({ line, column });
  });

  it('points at the key on request, and at the closest existing ancestor', () => {
    expect(locate(['server', 1, 'env', 'A'], 'key')).toEqual({ line: 9, column: 11 });
    expect(locate(['a', 'b'], 'key')).toEqual({ line: 2, column: 3 });
    // A missing field of an entry points at its header.
    expect(locate(['server', 0, 'command'])).toEqual({ line: 5, column: 1 });
    // A missing key of an inline table points at the table's key.
    expect(locate(['server', 1, 'env', 'Z'])).toEqual({ line: 9, column: 3 });
  });

  it('falls back to 1:1 on text it cannot parse, without throwing', () => {
    expect(positionOf('[[server]\n', ['server', 0])).toEqual({ line: 1, column: 1 });
  });
});
