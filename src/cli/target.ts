/**
 * Which running orchestrator the CLI talks to, and with what token: decided from the flags, the
 * environment and the config's settings, all given. Pure; the CLI reads the config.
 */
import { formatListen } from '../config/listen.js';
import type { ListenSpec } from '../config/types.js';
import { redactUrl } from '../runtime/redact.js';
import { UsageError } from './args.js';
import type { Remote } from './remote.js';

/** What `run` would read from the config (its `[orchestrator]`, the environment's overrides applied). */
export interface LocalSettings {
  listen: ListenSpec;
  /** The config's own token; undefined when the file has none (or could not be read). */
  token: string | undefined;
  /** Where `listen` came from, for messages: "the config FILE", "$MCP_ORCHESTRATOR_LISTEN". */
  source: string;
}

export interface TargetInput {
  /** `--url`. */
  url: string | undefined;
  env: { MCP_ORCHESTRATOR_URL?: string; MCP_ORCHESTRATOR_TOKEN?: string };
  /** Asked only when neither `--url` nor `$MCP_ORCHESTRATOR_URL` is given. */
  local: () => LocalSettings;
}

/**
 * An orchestrator's address given as a URL: http(s), without credentials, query or fragment (the
 * CLI appends API paths to it); returned without a trailing slash. `source` names where it came from.
 */
export function httpBase(raw: string, source: string): string {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new UsageError(`${source} ${raw}: not an http:// or https:// URL; give the orchestrator's address, e.g. http://127.0.0.1:8080`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new UsageError(`${source} ${redactUrl(raw)}: leave the credentials out of the URL; the token goes in MCP_ORCHESTRATOR_TOKEN`);
  }
  if (url.search !== '' || url.hash !== '') {
    throw new UsageError(`${source} ${raw}: give the orchestrator's address alone, without ?query or #fragment, e.g. ${url.origin}`);
  }
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}

/** Where a client reaches a listener: a wildcard host on 127.0.0.1, an IPv6 host in brackets. */
export function reachableBase(listen: ListenSpec): string {
  const wildcard = listen.host === '0.0.0.0' || listen.host === '::';
  return `http://${formatListen(wildcard ? { ...listen, host: '127.0.0.1' } : listen)}`;
}

/**
 * `--url`, else `$MCP_ORCHESTRATOR_URL`, else where `run` listens with the same config and
 * environment. The token is `$MCP_ORCHESTRATOR_TOKEN`, except that the config's own token comes
 * first (as it does for `run`) when the address came from the config: a URL given on the command
 * line or in the environment is never sent the config's token.
 */
export function chooseRemote(input: TargetInput): Remote {
  const envToken = input.env.MCP_ORCHESTRATOR_TOKEN || undefined;
  const fromEnv = envToken === undefined ? {} : { tokenFrom: '$MCP_ORCHESTRATOR_TOKEN' };
  if (input.url !== undefined) return { base: httpBase(input.url, '--url'), token: envToken, ...fromEnv };
  if (input.env.MCP_ORCHESTRATOR_URL) return { base: httpBase(input.env.MCP_ORCHESTRATOR_URL, '$MCP_ORCHESTRATOR_URL'), token: envToken, ...fromEnv };
  const local = input.local();
  const via = `from ${local.source}`;
  if (local.token) return { base: reachableBase(local.listen), token: local.token, tokenFrom: 'the config', via };
  return { base: reachableBase(local.listen), token: envToken, ...fromEnv, via };
}

/**
 * The MCP endpoint `connect` bridges to: the aggregate (`BASE/mcp`) or one server's
 * (`BASE/servers/NAME/mcp`). A URL already naming an endpoint, as every client config does
 * (`http://127.0.0.1:8080/mcp`), is taken as it is rather than given a second `/mcp`.
 */
export function mcpEndpoint(base: string, server: string | undefined): string {
  const scoped = /\/servers\/[^/]+\/mcp$/.test(base);
  if (scoped && server !== undefined) throw new UsageError(`--server ${server}: the URL ${base} already names one server's endpoint; give one or the other`);
  if (scoped) return base;
  const root = base.endsWith('/mcp') ? base.slice(0, -'/mcp'.length) : base;
  return server === undefined ? `${root}/mcp` : `${root}/servers/${server}/mcp`;
}
