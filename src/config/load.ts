import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse, TomlError } from 'smol-toml';
import type { z } from 'zod';
import { validateEntries } from './entries.js';
import { interpolateTree, isPlainTable } from './interpolate.js';
import type { InterpolationIssue } from './interpolate.js';
import { applyEnvOverrides } from './overrides.js';
import { formatPath } from './path.js';
import type { LocatedIssue } from './path.js';
import { createLocator } from './positions.js';
import type { Locator } from './positions.js';
import { controlSchema, gatewaySchema, orchestratorSchema, schemaIssuesAt, TOP_LEVEL_KEYS } from './schema.js';
import { unknownKeyMessage } from './suggest.js';
import { scrub } from '../runtime/redact.js';
import type { ConfigIssue, ConfigSpec, LoadResult, OrchestratorSpec } from './types.js';

export interface LoadOptions {
  /** Base for a relative `file` and for MCP_REPOS_DIR; defaults to `process.cwd()`. */
  cwd?: string;
  /**
   * The text replaces a config that is running. Then an empty file (nothing but whitespace) is
   * rejected: it is what a reader catches in the middle of an in-place save, truncated and not
   * yet written, and applying it would stop every server until the save ends.
   */
  reread?: boolean;
}

const EMPTY_REREAD =
  'the file is empty (as it is mid-way through an in-place save), so the running config was kept; ' +
  'to run no servers, remove the [[server]] tables but leave a comment or the [orchestrator] table';

/**
 * Parse, interpolate and validate a config text. `file` is used as given in issues and resolved
 * (against `options.cwd`) for `config.file` and `repos_dir`. Unparseable TOML, a problem in
 * `[orchestrator]`, `[gateway]` or `[control]`, an unknown section or a bad environment override rejects the
 * whole file (`ok: false`, with every issue found). A problem in one `[[server]]` entry rejects that
 * entry alone. Issues are sorted by position. An empty re-read is rejected (`options.reread`).
 * Never throws, whatever the input.
 */
export function loadConfigText(text: string, file: string, env: NodeJS.ProcessEnv, options: LoadOptions = {}): LoadResult {
  // trim() drops a byte-order mark too.
  if (options.reread && text.trim() === '') return { ok: false, issues: [{ file, line: 1, column: 1, path: '', message: EMPTY_REREAD }] };
  try {
    return load(text, file, env, options.cwd ?? process.cwd());
  } catch (error) {
    // A bug here must not take the orchestrator down; the last good config keeps running.
    const reason = error instanceof Error ? error.message : String(error);
    return { ok: false, issues: [{ file, line: 1, column: 1, path: '', message: `internal error while loading the config (please report it): ${reason}` }] };
  }
}

/**
 * Read `file` and load it as {@link loadConfigText} does. A file that cannot be read gives
 * `ok: false` with one issue saying why. Never rejects.
 */
export async function loadConfigFile(file: string, env: NodeJS.ProcessEnv, options: LoadOptions = {}): Promise<LoadResult> {
  return (await readConfigFile(file, env, options)).result;
}

/** {@link loadConfigFile}, also giving the text that was read (undefined when it could not be). */
export async function readConfigFile(file: string, env: NodeJS.ProcessEnv, options: LoadOptions = {}): Promise<{ result: LoadResult; text?: string }> {
  const read = await readConfigText(file, options);
  return read.text === undefined ? { result: read.failure } : { result: loadConfigText(read.text, file, env, options), text: read.text };
}

/** Read `file` without loading it; when it cannot be read, the failed load that says why. Never rejects. */
export async function readConfigText(file: string, options: Pick<LoadOptions, 'cwd'> = {}): Promise<{ text: string } | { text?: undefined; failure: LoadResult }> {
  try {
    return { text: await readFile(resolve(options.cwd ?? process.cwd(), file), 'utf8') };
  } catch (error) {
    return { failure: { ok: false, issues: [{ file, line: 1, column: 1, path: '', message: readFailure(error) }] } };
  }
}

function readFailure(error: unknown): string {
  const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
  if (code === 'ENOENT') return 'config file not found; create it, or point --config or MCP_CONFIG_FILE at an existing file';
  if (code === 'EACCES' || code === 'EPERM') return 'config file is not readable (permission denied); make it readable by this user';
  if (code === 'EISDIR') return 'this is a folder, not a file; point at the mcp_config.toml inside it';
  return `cannot read the config file: ${error instanceof Error ? error.message : String(error)}`;
}

function load(raw: string, file: string, env: NodeJS.ProcessEnv, cwd: string): LoadResult {
  // Editors on Windows may save a BOM; it is not part of the TOML.
  const text = raw.startsWith('\uFEFF') ? raw.slice(1) : raw;
  let tree: Record<string, unknown>;
  try {
    tree = parse(text, { unsafeKeyBehaviour: 'throw' });
  } catch (error) {
    return { ok: false, issues: [syntaxIssue(error, file, text)] };
  }

  const absolute = resolve(cwd, file);
  const interpolated = interpolateTree(tree, env);
  const isEntryIssue = (issue: InterpolationIssue) => issue.path[0] === 'server' && typeof issue.path[1] === 'number';
  const global: LocatedIssue[] = [...topLevelIssues(interpolated.value), ...interpolated.issues.filter((i) => !isEntryIssue(i))];

  const orchestrator = section(interpolated.value['orchestrator'], 'orchestrator', orchestratorSchema(dirname(absolute)), global);
  const gateway = section(interpolated.value['gateway'], 'gateway', gatewaySchema, global);
  const hasControl = interpolated.value['control'] !== undefined;
  const control = hasControl ? section(interpolated.value['control'], 'control', controlSchema, global) : undefined;
  let finalOrchestrator: OrchestratorSpec | undefined;
  if (orchestrator !== undefined) {
    const overridden = applyEnvOverrides(orchestrator, env, cwd);
    global.push(...overridden.issues.map((i) => ({ ...i, path: ['orchestrator', ...i.path] })));
    finalOrchestrator = overridden.spec;
  }

  const entries = Array.isArray(interpolated.value['server']) ? (interpolated.value['server'] as unknown[]) : [];
  const servers = validateEntries(entries, interpolated.issues.filter(isEntryIssue));

  // The position parser runs only when there is something to point at.
  let locator: Locator | undefined;
  const locate: Locator = (path, at) => (locator ??= createLocator(text))(path, at);
  // A message may quote a value; one that came from the environment must not reach a log or the API.
  const secrets = interpolated.substituted.filter((v) => v.length >= MIN_SECRET_LENGTH);
  const toIssue = (issue: LocatedIssue): ConfigIssue => ({
    file,
    ...locate(issue.path, issue.at ?? 'value'),
    path: formatPath(issue.path),
    ...(issue.server !== undefined ? { server: issue.server } : {}),
    message: scrub(issue.message, secrets),
  });
  const byPosition = (a: ConfigIssue, b: ConfigIssue) => a.line - b.line || a.column - b.column;
  const entryIssues = servers.issues.map(toIssue);

  if (global.length > 0 || finalOrchestrator === undefined || gateway === undefined) {
    return { ok: false, issues: [...global.map(toIssue), ...entryIssues].sort(byPosition) };
  }
  return {
    ok: true,
    config: {
      file: absolute,
      orchestrator: finalOrchestrator,
      gateway,
      ...(control !== undefined ? { control } : {}),
      servers: servers.servers,
      ...(secrets.length > 0 ? { secrets } : {}),
    },
    issues: entryIssues.sort(byPosition),
    rejectedNames: servers.rejectedNames,
  };
}

/** Shorter substituted values (a port, a flag) are not secrets, and replacing them would garble messages. */
const MIN_SECRET_LENGTH = 4;

/** Validate one global section, pushing its issues (minus those on fields whose variable was unset). */
function section<T>(
  value: unknown,
  name: string,
  schema: z.ZodType<T>,
  issues: LocatedIssue[],
): T | undefined {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const unset = issues.filter((i) => i.path[0] === name).map((i) => i.path);
  issues.push(...schemaIssuesAt(result.error, [name], unset));
  return undefined;
}

function topLevelIssues(tree: Record<string, unknown>): LocatedIssue[] {
  const issues: LocatedIssue[] = [];
  for (const key of Object.keys(tree)) {
    if (!(TOP_LEVEL_KEYS as readonly string[]).includes(key)) {
      issues.push({ path: [key], at: 'key', message: unknownKeyMessage('section', key, TOP_LEVEL_KEYS) });
    }
  }
  const server = tree['server'];
  if (isPlainTable(server)) {
    issues.push({ path: ['server'], at: 'key', message: '[server] declares one table, but servers are a list; write [[server]] (double brackets) before each entry' });
  } else if (server !== undefined && !Array.isArray(server)) {
    issues.push({ path: ['server'], at: 'key', message: 'server must be a list of tables; write [[server]] (double brackets) before each entry' });
  }
  return issues;
}

/** smol-toml's terse reason, said so a user knows what to type, when the character it stopped at tells. */
function syntaxReason(reason: string, at: string): string {
  if (reason.includes('redefine')) return `${reason} (each key and [table] may appear once; write [[server]] before every server entry)`;
  if (reason.includes('control characters') && (at === '\n' || at === '\r' || at === '')) {
    return 'a string is not closed on its line; end it with the quote it began with, or write """…""" for text over several lines';
  }
  if (reason === 'invalid value' && /^[A-Za-z_$]/.test(at)) return 'invalid value: text needs quotes, "like this"';
  // `listen = 127.0.0.1:8080` reads as a number until the second dot.
  if (reason.includes('numeric literal')) return `${reason}: if this value is text, put it in quotes, "like this"`;
  return reason;
}

function syntaxIssue(error: unknown, file: string, text: string): ConfigIssue {
  if (error instanceof TomlError) {
    const reason = (/^Invalid TOML document: ([^\n]*)/.exec(error.message)?.[1] ?? error.message).replace(/[.\s]+$/, '');
    if (reason.includes('unsafe property')) {
      return { file, line: error.line, column: error.column, path: '', message: 'keys named __proto__ or constructor are not allowed; rename this key' };
    }
    const at = text.split('\n')[error.line - 1]?.concat('\n')[error.column - 1] ?? '';
    return { file, line: error.line, column: error.column, path: '', message: `invalid TOML: ${syntaxReason(reason, at)}; fix the syntax here (the whole file is ignored until then)` };
  }
  const reason = error instanceof Error ? error.message : String(error);
  return { file, line: 1, column: 1, path: '', message: `invalid TOML: ${reason}` };
}

/**
 * The config in force when the file itself is unusable (missing, or rejected whole): the defaults
 * with the environment's overrides, or the message saying which override is wrong.
 */
export function defaultsWithEnv(file: string, env: NodeJS.ProcessEnv): { ok: true; config: ConfigSpec } | { ok: false; message: string } {
  const empty = loadConfigText('', file, env);
  return empty.ok ? { ok: true, config: empty.config } : { ok: false, message: empty.issues.map((issue) => issue.message).join('; ') };
}
