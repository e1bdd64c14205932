import { resolve } from 'node:path';
import { parseListen } from './listen.js';
import { LOG_LEVELS } from './schema.js';
import type { SchemaIssue } from './schema.js';
import type { OrchestratorSpec } from './types.js';

type LogLevel = OrchestratorSpec['logLevel'];

// Other tools' spellings that mean one of ours; LOG_LEVEL is shared with many programs.
const LEVEL_ALIASES: Record<string, LogLevel> = { warning: 'warn', err: 'error', critical: 'fatal' };

const isLevel = (value: string): value is LogLevel => (LOG_LEVELS as readonly string[]).includes(value);

/**
 * Apply the environment's overrides to a validated `[orchestrator]`: MCP_ORCHESTRATOR_LISTEN,
 * MCP_REPOS_DIR (relative to `cwd`), LOG_LEVEL (case-insensitive) and CHOKIDAR_USEPOLLING (read as
 * chokidar reads it, since chokidar applies it anyway). Empty variables are ignored, except
 * CHOKIDAR_USEPOLLING. Issues carry paths relative to `[orchestrator]`. Pure; never throws.
 */
export function applyEnvOverrides(spec: OrchestratorSpec, env: NodeJS.ProcessEnv, cwd: string): { spec: OrchestratorSpec; issues: SchemaIssue[] } {
  const issues: SchemaIssue[] = [];
  const out: OrchestratorSpec = { ...spec };
  const listen = env['MCP_ORCHESTRATOR_LISTEN'];
  if (listen !== undefined && listen !== '') {
    const parsed = parseListen(listen);
    if (parsed.ok) out.listen = parsed.listen;
    else issues.push({ path: ['listen'], message: `MCP_ORCHESTRATOR_LISTEN (from the environment): ${parsed.message}` });
  }
  const reposDir = env['MCP_REPOS_DIR'];
  if (reposDir !== undefined && reposDir !== '') out.reposDir = resolve(cwd, reposDir);
  const level = env['LOG_LEVEL']?.trim().toLowerCase();
  if (level !== undefined && level !== '') {
    const mapped = LEVEL_ALIASES[level] ?? level;
    if (isLevel(mapped)) out.logLevel = mapped;
    else issues.push({ path: ['log_level'], message: `LOG_LEVEL (from the environment) is ${JSON.stringify(env['LOG_LEVEL'])}; set it to one of ${LOG_LEVELS.join(', ')}, or unset it` });
  }
  const polling = env['CHOKIDAR_USEPOLLING'];
  if (polling !== undefined) {
    const lower = polling.toLowerCase();
    out.watchPoll = lower === 'false' || lower === '0' ? false : lower !== '';
  }
  return { spec: out, issues };
}
