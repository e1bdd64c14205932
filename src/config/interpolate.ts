import type { FieldPath } from './path.js';

/** A problem found while substituting variables, at the path of the string that holds it. */
export interface InterpolationIssue {
  path: FieldPath;
  message: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Substitute `${VAR}`, `${VAR:-default}` (default when VAR is unset or empty) and `${VAR-default}`
 * (default when unset) in one string, like sh; `$$` is a literal `$`, and a `$` not followed by
 * `{` or `$` stays as it is. The default is literal text up to the first `}`.
 * Missing variables become "" in `value` and each gets a message. Pure; never throws.
 */
export function interpolateString(text: string, env: NodeJS.ProcessEnv, substituted: string[] = []): { value: string; problems: string[] } {
  const problems: string[] = [];
  let value = '';
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar === -1) break;
    value += text.slice(i, dollar);
    const next = text[dollar + 1];
    if (next === '$') {
      value += '$';
      i = dollar + 2;
      continue;
    }
    if (next !== '{') {
      value += '$';
      i = dollar + 1;
      continue;
    }
    const close = text.indexOf('}', dollar + 2);
    if (close === -1) {
      // The text is not echoed: it may hold a secret.
      problems.push(`unterminated "\${" at character ${dollar + 1}; close it with "}", or write "$$" for a literal "$"`);
      return { value: value + text.slice(dollar), problems };
    }
    value += expand(text.slice(dollar + 2, close), env, problems, substituted);
    i = close + 1;
  }
  return { value: value + text.slice(i), problems };
}

function expand(body: string, env: NodeJS.ProcessEnv, problems: string[], substituted: string[]): string {
  const match = /^([^:-]*)(:-|-)?([\s\S]*)$/.exec(body);
  const name = match?.[1] ?? '';
  const operator = match?.[2];
  // `${A:b}` or `${A?x}`: an operator sh has but we do not support.
  if (!NAME.test(name) || (operator === undefined && match?.[3] !== '')) {
    problems.push(`invalid variable reference "\${${body}}"; write \${NAME} or \${NAME:-default} (letters, digits and "_"), or "$$" for a literal "$"`);
    return '';
  }
  const set = env[name];
  const fromEnv = (v: string) => {
    substituted.push(v);
    return v;
  };
  if (operator === ':-') return set === undefined || set === '' ? (match?.[3] ?? '') : fromEnv(set);
  if (operator === '-') return set === undefined ? (match?.[3] ?? '') : fromEnv(set);
  if (set === undefined) {
    problems.push(`environment variable ${name} is not set; export it or write \${${name}:-default}`);
    return '';
  }
  return fromEnv(set);
}

/**
 * Apply {@link interpolateString} to every string value of a parsed TOML tree (never to keys),
 * returning a new tree and one issue per problem with the path of its string. Pure; never throws.
 */
export function interpolateTree<T>(tree: T, env: NodeJS.ProcessEnv): { value: T; issues: InterpolationIssue[]; substituted: string[] } {
  const issues: InterpolationIssue[] = [];
  const substituted: string[] = [];
  const walk = (node: unknown, path: (string | number)[]): unknown => {
    if (typeof node === 'string') {
      const { value, problems } = interpolateString(node, env, substituted);
      for (const message of problems) issues.push({ path: [...path], message });
      return value;
    }
    if (Array.isArray(node)) return node.map((item, index) => walk(item, [...path, index]));
    if (isPlainTable(node)) {
      // fromEntries defines own properties, so even a "__proto__" key stays data.
      return Object.fromEntries(Object.entries(node).map(([key, item]) => [key, walk(item, [...path, key])]));
    }
    return node;
  };
  const value = walk(tree, []) as T;
  return { value, issues, substituted: [...new Set(substituted)] };
}

/** A TOML table as parsed: a plain object (dates are objects too, but not plain ones). */
export function isPlainTable(node: unknown): node is Record<string, unknown> {
  if (typeof node !== 'object' || node === null || Array.isArray(node)) return false;
  const proto: unknown = Object.getPrototypeOf(node);
  return proto === Object.prototype || proto === null;
}
