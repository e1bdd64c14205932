import { parseForESLint } from 'toml-eslint-parser';
import type { AST } from 'toml-eslint-parser';
import type { FieldPath } from './path.js';

/** A 1-based place in the text. */
export interface Position {
  line: number;
  column: number;
}

/** Where a path sits: its key (or table header) and its value. */
interface Spot {
  key: Position;
  value: Position;
}

/** Finds the position of a field path; built once per text. */
export type Locator = (path: FieldPath, at?: 'key' | 'value') => Position;

const START: Position = { line: 1, column: 1 };

const toPosition = (node: AST.HasLocs): Position => ({ line: node.loc.start.line, column: node.loc.start.column + 1 });
const keyName = (part: AST.TOMLBare | AST.TOMLQuoted): string => (part.type === 'TOMLBare' ? part.name : part.value);
const id = (path: FieldPath): string => JSON.stringify(path);

function indexDocument(text: string): Map<string, Spot> {
  const spots = new Map<string, Spot>();
  const record = (path: FieldPath, spot: Spot) => {
    // First definition wins: a dotted prefix is where the table starts being written.
    if (!spots.has(id(path))) spots.set(id(path), spot);
  };
  const visitValue = (node: AST.TOMLContentNode, path: FieldPath) => {
    if (node.type === 'TOMLInlineTable') for (const kv of node.body) visitKeyValue(kv, path);
    else if (node.type === 'TOMLArray') {
      node.elements.forEach((element, index) => {
        const at = toPosition(element);
        record([...path, index], { key: at, value: at });
        visitValue(element, [...path, index]);
      });
    }
  };
  const visitKeyValue = (kv: AST.TOMLKeyValue, base: FieldPath) => {
    const parts = kv.key.keys;
    parts.forEach((part, i) => {
      const path = [...base, ...parts.slice(0, i + 1).map(keyName)];
      const last = i === parts.length - 1;
      record(path, { key: toPosition(part), value: last ? toPosition(kv.value) : toPosition(part) });
    });
    visitValue(kv.value, [...base, ...parts.map(keyName)]);
  };

  let ast: AST.TOMLProgram;
  try {
    ast = parseForESLint(text, { tomlVersion: 'latest' }).ast;
  } catch {
    // The caller parsed this text already; if this parser disagrees, positions degrade to 1:1.
    return spots;
  }
  for (const item of ast.body[0].body) {
    if (item.type === 'TOMLKeyValue') visitKeyValue(item, []);
    else {
      const header = toPosition(item);
      record(item.resolvedKey, { key: header, value: header });
      for (const kv of item.body) visitKeyValue(kv, item.resolvedKey);
    }
  }
  return spots;
}

/**
 * Build a locator for `text` (which should be valid TOML). The locator returns the 1-based
 * position of the value at `path` (or of its key with `at = 'key'`); when the path does not exist
 * (a missing field) it falls back to the nearest ancestor that does, such as the `[[server]]`
 * header, and finally to 1:1. Handles inline tables, dotted keys and arrays of tables. Never throws.
 */
export function createLocator(text: string): Locator {
  const spots = indexDocument(text);
  return (path, at = 'value') => {
    for (let length = path.length; length > 0; length--) {
      const spot = spots.get(id(path.slice(0, length)));
      if (spot !== undefined) return length === path.length ? spot[at] : spot.key;
    }
    return { ...START };
  };
}

/** One-off form of {@link createLocator}: the position of `path` in `text`. */
export function positionOf(text: string, path: FieldPath, at: 'key' | 'value' = 'value'): Position {
  return createLocator(text)(path, at);
}
