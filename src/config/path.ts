/** A location inside the parsed TOML tree: table keys and array indexes, e.g. `["server", 1, "env", "A"]`. */
export type FieldPath = readonly (string | number)[];

/** A problem at a place in the file; `path` is absolute (an entry's starts with "server", index). */
export interface LocatedIssue {
  path: FieldPath;
  message: string;
  at?: 'key';
  server?: string;
}

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

/**
 * Render a field path the way issues show it: `server[1].env.TAVILY_API_KEY`.
 * Indexes are 0-based, as in the tree; keys that are not bare TOML keys are quoted.
 */
export function formatPath(path: FieldPath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else {
      const key = BARE_KEY.test(part) ? part : JSON.stringify(part);
      out += out === '' ? key : `.${key}`;
    }
  }
  return out;
}

/** True when `path` equals `prefix` or lies below it. */
export function isUnder(path: FieldPath, prefix: FieldPath): boolean {
  return prefix.length <= path.length && prefix.every((part, i) => path[i] === part);
}
