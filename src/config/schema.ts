import { resolve } from 'node:path';
import { z } from 'zod';
import { describe, duration, flag, nonEmpty, oneOf, table, text } from './fields.js';
import { parseListen } from './listen.js';
import { redactUrl } from '../runtime/redact.js';
import { deriveName } from './names.js';
import { isUnder, type FieldPath } from './path.js';
import { commandField, envField, gitArgument, globList, installField, nameField, urlField } from './server-fields.js';
import type { ControlSpec, GatewaySpec, ListenSpec, OrchestratorSpec, ServerSpec } from './types.js';

/** The levels `log_level` and LOG_LEVEL accept, as pino names them. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
/** Loopback only: nothing is exposed unless the config or MCP_ORCHESTRATOR_LISTEN says so. */
const DEFAULT_LISTEN: ListenSpec = { host: '127.0.0.1', port: 8080 };
/** The sections a config file may have; anything else at the top level is an error. */
export const TOP_LEVEL_KEYS = ['orchestrator', 'gateway', 'control', 'server'] as const;

const HOUR = 3_600_000;

const listenField = z.unknown().transform((value, ctx): ListenSpec => {
  const parsed = parseListen(value);
  if (parsed.ok) return parsed.listen;
  ctx.addIssue({ code: 'custom', message: parsed.message });
  return z.NEVER;
});

/**
 * `[orchestrator]`, snake_case in, `OrchestratorSpec` out. `repos_dir` is resolved against
 * `configDir` (absolute), so the schema stays pure. Environment overrides are not applied here.
 */
export function orchestratorSchema(configDir: string) {
  return table(
    {
      listen: listenField.default(() => ({ ...DEFAULT_LISTEN })),
      repos_dir: nonEmpty('repos_dir = "repos"').default('repos'),
      log_level: oneOf('log level', LOG_LEVELS).default('info'),
      shutdown_grace: duration(0, HOUR, 'use "0s" to "1h", e.g. "10s"').default(10_000),
      token: text('token = "${MCP_ORCHESTRATOR_TOKEN}"').optional(),
      watch_poll: flag('watch_poll').default(false),
      resync_interval: duration(1, 24 * HOUR, 'use more than "0s" and at most "24h", e.g. "30s"').default(30_000),
    },
    'orchestrator field',
    '[orchestrator] with listen = "127.0.0.1:8080"',
  ).transform(
    (raw): OrchestratorSpec => ({
      listen: raw.listen,
      reposDir: resolve(configDir, raw.repos_dir),
      logLevel: raw.log_level,
      shutdownGraceMs: raw.shutdown_grace,
      // An empty token (e.g. `${TOKEN:-}`) means "none configured": one is generated when needed.
      ...(raw.token !== undefined && raw.token !== '' ? { token: raw.token } : {}),
      watchPoll: raw.watch_poll,
      resyncIntervalMs: raw.resync_interval,
    }),
  );
}

/** `[gateway]`, snake_case in, `GatewaySpec` out. */
export const gatewaySchema = table(
  {
    separator: text('separator = "_"')
      .regex(/^[A-Za-z0-9_.-]{1,4}$/, { error: 'must be 1-4 characters from letters, digits, "_", "." and "-"; write separator = "_"' })
      .default('_'),
    // Clients give up on initialize after about a minute (the MCP SDK's default request timeout).
    startup_wait: duration(0, 60_000, 'use "0s" (no wait) to "1m", e.g. "15s"').default(15_000),
  },
  'gateway field',
  '[gateway] with separator = "_"',
).transform((raw): GatewaySpec => ({ separator: raw.separator, startupWaitMs: raw.startup_wait }));

/**
 * A TCP port, 1-65535. A string of digits is read as a number so `"${PORT}"` works; an empty string
 * (`"${PORT:-}"`) means "not set", like an empty token.
 */
function portField(key: string) {
  const example = `${key} = 4000`;
  return z.unknown().transform((value, ctx): number | undefined => {
    if (value === '') return undefined;
    const port = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value.trim()) : value;
    if (typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65_535) return port;
    const message =
      typeof port === 'number' && Number.isInteger(port)
        ? `${port} is out of range; use a port from 1 to 65535, e.g. ${example}`
        : `must be an integer port from 1 to 65535, not ${describe(value)}; write ${example}`;
    ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  });
}

/** `[control]`, snake_case in, `ControlSpec` out. */
export const controlSchema = table(
  { jsonrpc_port: portField('jsonrpc_port').optional() },
  'control field',
  '[control] with jsonrpc_port = 4000',
).transform((raw): ControlSpec => (raw.jsonrpc_port !== undefined ? { jsonrpcPort: raw.jsonrpc_port } : {}));

const DEFAULT_TOOLS = () => ({ allow: ['*'], deny: [] });

const serverTable = table(
  {
    name: nameField.optional(),
    repo: gitArgument('repo', 'repo = "https://github.com/org/server.git"').optional(),
    ref: gitArgument('ref', 'ref = "main" (a branch, tag or commit)').optional(),
    command: commandField,
    env: envField.default(() => ({})),
    transport: oneOf('transport', ['http', 'stdio']).default('http'),
    url: urlField.optional(),
    install: installField.default(() => ({ kind: 'auto' as const })),
    cwd: nonEmpty('cwd = "."').default('.'),
    enabled: flag('enabled').default(true),
    restart: oneOf('restart policy', ['always', 'on-failure', 'never']).default('always'),
    startup_timeout: duration(1, HOUR, 'use more than "0s" and at most "1h", e.g. "60s"').default(60_000),
    tools: table(
      { allow: globList('allow', '["*"]').default(() => ['*']), deny: globList('deny', '[]').default(() => []) },
      'tools field',
      'tools = { allow = ["*"], deny = [] }',
    ).default(DEFAULT_TOOLS),
  },
  'server field',
  '[[server]] followed by repo = "..." and command = "..."',
);

/**
 * One `[[server]]` entry, snake_case in, `ServerSpec` out. Checks that span fields (url only on
 * http, a name or a repo to derive it from) run even when other fields are wrong.
 */
export const serverSchema = serverTable
  .superRefine(
    (raw, ctx) => {
      const entry: Record<string, unknown> = typeof raw === 'object' && raw !== null ? raw : {};
      if (entry['url'] !== undefined && entry['transport'] === 'stdio') {
        ctx.addIssue({ code: 'custom', path: ['url'], message: 'only http servers have a url; remove it, or set transport = "http"' });
      }
      if (entry['name'] === undefined && entry['repo'] === undefined) {
        ctx.addIssue({ code: 'custom', message: 'a server without repo needs a name; add name = "my-server" (or repo = "..." to derive one)' });
      } else if (entry['name'] === undefined && typeof entry['repo'] === 'string' && deriveName(entry['repo']) === '') {
        ctx.addIssue({ code: 'custom', path: ['repo'], message: `no name can be derived from repo ${JSON.stringify(redactUrl(entry['repo']))}; add name = "my-server"` });
      }
    },
    { when: () => true },
  )
  .transform(
    (raw): ServerSpec => ({
      name: raw.name ?? deriveName(raw.repo ?? ''),
      ...(raw.repo !== undefined ? { repo: raw.repo } : {}),
      ...(raw.ref !== undefined ? { ref: raw.ref } : {}),
      command: raw.command,
      env: raw.env,
      transport: raw.transport,
      ...(raw.url !== undefined ? { url: raw.url } : {}),
      install: raw.install,
      cwd: raw.cwd,
      enabled: raw.enabled,
      restart: raw.restart,
      startupTimeoutMs: raw.startup_timeout,
      tools: { allow: raw.tools.allow, deny: raw.tools.deny },
    }),
  );

/** A schema problem, relative to the section it was found in. `at: 'key'` points at the key, not its value. */
export interface SchemaIssue {
  path: FieldPath;
  message: string;
  at?: 'key';
}

/**
 * `error`'s issues re-rooted at `base`, less those on a field under one of `unset` (a field whose
 * variable was not set was validated as "", so its own error would only confuse).
 */
export function schemaIssuesAt(error: z.ZodError, base: FieldPath, unset: readonly FieldPath[]): SchemaIssue[] {
  return schemaIssues(error)
    .map((issue) => ({ ...issue, path: [...base, ...issue.path] }))
    .filter((issue) => !unset.some((u) => isUnder(issue.path, u)));
}

/** Turn zod's issues into ours: paths kept, the custom `at` marker read back. */
function schemaIssues(error: z.ZodError): SchemaIssue[] {
  return error.issues.map((issue) => {
    const params: unknown = 'params' in issue ? issue.params : undefined;
    const atKey = typeof params === 'object' && params !== null && 'at' in params && params.at === 'key';
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    return atKey ? { path, message: issue.message, at: 'key' } : { path, message: issue.message };
  });
}
