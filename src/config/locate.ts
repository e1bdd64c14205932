import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';

/** The config file the image and the README expect when nothing else is said. */
export const DEFAULT_CONFIG_PATH = '/opt/mcps/mcp_config.toml';

export interface ResolveConfigOptions {
  /** The `--config` flag, if given. */
  flag?: string;
  env: NodeJS.ProcessEnv;
  /** Base for relative paths and for `./mcp_config.toml`. */
  cwd: string;
  /** Whether a path exists; defaults to `fs.existsSync` (tests pass a fake). */
  exists?: (path: string) => boolean;
}

export type ResolvedConfigPath =
  /** `path` is absolute; `given` is how it was written (for messages); `source` is where it came from. */
  | { ok: true; path: string; given: string; source: 'flag' | 'env' | 'cwd' | 'default' }
  | { ok: false; error: string; tried: string[] };

/** Where a relative path was looked for; nothing when it was given as that absolute path. */
const lookedAt = (given: string, path: string): string => (given === path ? '' : ` (looked at ${path})`);

/**
 * Find the config file: `--config`, else `$MCP_CONFIG_FILE`, else `./mcp_config.toml`, else
 * `/opt/mcps/mcp_config.toml`. A flag or variable naming a missing file is an error naming it (an
 * explicit choice never falls through to another file). An empty variable counts as unset.
 * When nothing is found, the error lists every place tried. Never throws.
 */
export function resolveConfigPath(options: ResolveConfigOptions): ResolvedConfigPath {
  const exists = options.exists ?? existsSync;
  const absolute = (p: string) => (isAbsolute(p) ? p : resolve(options.cwd, p));
  const check = (p: string): boolean => {
    try {
      return exists(p);
    } catch {
      return false;
    }
  };

  if (options.flag !== undefined && options.flag !== '') {
    const path = absolute(options.flag);
    if (check(path)) return { ok: true, path, given: options.flag, source: 'flag' };
    return { ok: false, error: `config file ${options.flag} (from --config) does not exist${lookedAt(options.flag, path)}`, tried: [path] };
  }
  const fromEnv = options.env['MCP_CONFIG_FILE'];
  if (fromEnv !== undefined && fromEnv !== '') {
    const path = absolute(fromEnv);
    if (check(path)) return { ok: true, path, given: fromEnv, source: 'env' };
    return { ok: false, error: `config file ${fromEnv} (from MCP_CONFIG_FILE) does not exist${lookedAt(fromEnv, path)}`, tried: [path] };
  }
  const local = join(options.cwd, 'mcp_config.toml');
  if (check(local)) return { ok: true, path: local, given: 'mcp_config.toml', source: 'cwd' };
  if (check(DEFAULT_CONFIG_PATH)) return { ok: true, path: DEFAULT_CONFIG_PATH, given: DEFAULT_CONFIG_PATH, source: 'default' };
  const tried = [local, DEFAULT_CONFIG_PATH];
  return {
    ok: false,
    error: `no config file found: --config and MCP_CONFIG_FILE are not set, and neither ${tried.join(' nor ')} exists; create one, pass --config FILE, or set MCP_CONFIG_FILE`,
    tried,
  };
}
