import type { InterpolationIssue } from './interpolate.js';
import { isPlainTable } from './interpolate.js';
import { deriveName, nameProblem } from './names.js';
import { isUnder } from './path.js';
import type { LocatedIssue } from './path.js';
import { schemaIssuesAt, serverSchema } from './schema.js';
import type { ServerSpec } from './types.js';


export interface EntriesResult {
  /** Valid entries with unique names, in file order. */
  servers: ServerSpec[];
  issues: LocatedIssue[];
  /** Names of rejected entries, where a name could be told. */
  rejectedNames: string[];
}

/** The name an entry goes by, if one can be told: a valid explicit name, else one derived from repo. */
function entryName(entry: unknown): string | undefined {
  if (!isPlainTable(entry)) return undefined;
  const { name, repo } = entry;
  if (typeof name === 'string') return nameProblem(name) === undefined ? name : undefined;
  if (name !== undefined || typeof repo !== 'string') return undefined;
  const derived = deriveName(repo);
  return derived === '' ? undefined : derived;
}

/**
 * Validate interpolated `[[server]]` entries one by one. An entry with any problem (including a
 * variable that was not set, listed in `interpolation` with absolute paths) is rejected alone; so is
 * every entry whose name (compared ignoring case, because names become folder names) is shared with
 * another entry, valid or not. Pure; never throws.
 */
export function validateEntries(entries: readonly unknown[], interpolation: readonly InterpolationIssue[]): EntriesResult {
  const issues: LocatedIssue[] = [];
  const parsed: (ServerSpec | undefined)[] = [];
  const names = entries.map(entryName);

  entries.forEach((entry, index) => {
    const base = ['server', index] as const;
    const server = names[index];
    const unset = interpolation.filter((issue) => isUnder(issue.path, base));
    for (const issue of unset) issues.push({ ...issue, ...(server !== undefined ? { server } : {}) });
    const result = serverSchema.safeParse(entry);
    if (!result.success) {
      const found = schemaIssuesAt(result.error, base, unset.map((u) => u.path));
      for (const issue of found) issues.push({ ...issue, ...(server !== undefined ? { server } : {}) });
    }
    parsed.push(result.success && unset.length === 0 ? result.data : undefined);
  });

  const duplicated = findDuplicates(names);
  for (const [index, others] of duplicated) {
    const name = names[index] ?? '';
    const explicit = isPlainTable(entries[index]) && (entries[index] as Record<string, unknown>)['name'] !== undefined;
    const where = others.map((i) => `server[${i}]`).join(', ');
    issues.push({
      path: ['server', index, explicit ? 'name' : 'repo'],
      server: name,
      message: explicit
        ? `duplicate name ${JSON.stringify(name)}, also used by ${where} (names are compared ignoring case); give each server its own name`
        : `the name ${JSON.stringify(name)} derived from repo is also used by ${where} (names are compared ignoring case); add name = "${name}-2" or another unique name`,
    });
  }

  const servers: ServerSpec[] = [];
  const rejectedNames: string[] = [];
  parsed.forEach((spec, index) => {
    const name = names[index];
    if (spec !== undefined && !duplicated.has(index)) servers.push(spec);
    else if (name !== undefined && !rejectedNames.includes(name)) rejectedNames.push(name);
  });
  return { servers, issues, rejectedNames };
}

/** For each entry whose name is shared, the indexes of the other entries sharing it. */
function findDuplicates(names: readonly (string | undefined)[]): Map<number, number[]> {
  const byName = new Map<string, number[]>();
  names.forEach((name, index) => {
    if (name === undefined) return;
    const key = name.toLowerCase();
    byName.set(key, [...(byName.get(key) ?? []), index]);
  });
  const out = new Map<number, number[]>();
  for (const indexes of byName.values()) {
    if (indexes.length < 2) continue;
    for (const index of indexes) out.set(index, indexes.filter((i) => i !== index));
  }
  return out;
}
