/**
 * The aggregated MCP endpoint's state: the registry of ready servers, the client sessions, and
 * the calls in flight, so that a server's own request (sampling, elicitation, roots) reaches the
 * client whose call caused it.
 */
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../log.js';
import { manualAction, type ServerStatus } from '../reconcile/status.js';
import { ErrorCodes, failure, type Id, type Notification, type Request, type Response } from './jsonrpc.js';
import { Registry, type ListKind } from './registry.js';
import { ClientError, Session, type Outlet } from './session.js';
import type { Upstream, UpstreamHandlers } from './upstream.js';

export interface GatewayOptions {
  log: Logger;
  version: string;
  /**
   * A configured server's status, whether a manual stop holds it, and whether it speaks MCP to the
   * gateway at all (stdio, or http with a url), to explain why it cannot answer.
   */
  describe: (server: string) => (ServerStatus & { held: boolean; servesMcp: boolean }) | undefined;
  /** Told of every forwarded call once it settles (for metrics); called on the hot path, so it must be cheap. */
  onCall?: (call: CallRecord) => void;
  /** Told of every call refused at once because its configured server was not ready, with the state it was in. */
  onRefused?: (server: string, state: string) => void;
}

export interface CallRecord {
  server: string;
  /** The method forwarded (tools/call, resources/read, …). */
  method: string;
  /** The tool or prompt name as the server knows it, when there is one. */
  name?: string;
  seconds: number;
  /** False for a JSON-RPC error (a tool result with isError counts as answered). */
  ok: boolean;
}

const CAPABILITY_OF: Record<string, 'sampling' | 'elicitation' | 'roots'> = {
  'sampling/createMessage': 'sampling',
  'elicitation/create': 'elicitation',
  'roots/list': 'roots',
};

/** A process's end as a clause: "exited with code 0", "was killed by SIGTERM", "ended". */
function exitText(exit: ServerStatus['lastExit']): string {
  if (exit?.code !== null && exit?.code !== undefined) return `exited with code ${exit.code}`;
  if (exit?.signal) return `was killed by ${exit.signal}`;
  return 'ended';
}

const LIST_CHANGED: Record<ListKind, string> = {
  tools: 'notifications/tools/list_changed',
  prompts: 'notifications/prompts/list_changed',
  resources: 'notifications/resources/list_changed',
};

export class Gateway {
  readonly registry: Registry;
  readonly version: string;
  private readonly log: Logger;
  private readonly sessions = new Set<Session>();
  /** While the orchestrator starts: what a new session's initialize waits for, by scope. */
  private startup: ((scope: string | undefined) => Promise<void> | undefined) | undefined;

  constructor(private readonly options: GatewayOptions) {
    this.log = options.log;
    this.version = options.version;
    this.registry = new Registry(options.log);
    this.registry.onListChanged((kinds) => {
      this.log.info({ kinds }, 'aggregated lists changed; telling every client');
      for (const session of this.sessions) for (const kind of kinds) session.notify(LIST_CHANGED[kind]);
    });
  }

  /** What every upstream connection reports to. */
  readonly handlers: UpstreamHandlers = {
    onServerRequest: (upstream, method, params, signal) => this.routeServerRequest(upstream, method, params, signal),
    onNotification: (upstream, notification) => this.relay(upstream, notification),
    onListsChanged: (upstream) => this.registry.listsChanged(upstream),
  };

  /**
   * Hold a new session's `initialize` answer until what `wait` gives for its scope (the aggregate,
   * or one server) settles, so a client that connects as the orchestrator starts, and lists tools
   * once, finds them there. `wait` bounds its promises and answers undefined once there is nothing
   * to wait for.
   */
  holdInitialize(wait: (scope: string | undefined) => Promise<void> | undefined): void {
    this.startup = wait;
  }

  /** What a new session of `scope` waits for before its initialize is answered; undefined for nothing. */
  starting(scope: string | undefined): Promise<void> | undefined {
    return this.startup?.(scope);
  }

  createSession(outlet: Outlet, scope?: string): Session {
    const session = new Session(this, scope, outlet);
    this.sessions.add(session);
    return session;
  }

  endSession(session: Session): void {
    session.close();
    this.sessions.delete(session);
  }

  /** A forwarded call has its answer (`started` is its `performance.now()` when it left). */
  callEnded(upstream: Upstream, method: string, name: string | undefined, started: number, ok: boolean): void {
    this.options.onCall?.({ server: upstream.server, method, name, seconds: (performance.now() - started) / 1000, ok });
  }

  /** The answer to a request the gateway failed on: logged in full, told to the client in brief. */
  internalError(req: Request, error: unknown): Response {
    this.log.error({ err: error, method: req.method }, 'gateway request failed');
    return failure(req.id, ErrorCodes.InternalError, 'internal error in the gateway; see the orchestrator log');
  }

  /** The JSON-RPC error for a call to a server that is not ready: why (its state, last error, next retry) and what to do. */
  unavailable(id: Id, server: string): Response {
    const status = this.options.describe(server);
    if (!status) return failure(id, ErrorCodes.ServerUnavailable, `server "${server}" is not in the config any more`, { server });
    this.options.onRefused?.(server, status.state);
    const start = `start it with ${manualAction('start', server)}`;
    const after = status.lastError ? ` after "${status.lastError}"` : '';
    let why: string;
    if (status.held) why = `it was stopped by hand; ${start}`;
    else if (!status.enabled) why = 'it is disabled in the config (enabled = false)';
    else if (status.reason === 'InvalidConfig') why = `its entry in the config is invalid; fix it: ${status.message ?? status.configError ?? ''}`;
    else if (status.state === 'backoff') why = `it is in backoff${after}${status.nextRetryAt ? `; next retry at ${status.nextRetryAt}` : ''}`;
    else if (status.state === 'failed') why = `it failed${after} and is not retried; fix it, then ${start}`;
    else if (!status.servesMcp) why = 'it speaks no MCP the gateway can reach (transport = "http" without url)';
    else if (status.state === 'stopped') why = `its process ${exitText(status.lastExit)} and the restart policy keeps it stopped; ${start}`;
    else if (status.state === 'running') why = 'it is running, but its MCP connection is not up';
    else if (status.state === 'stopping') why = status.reason === 'StartupTimeout' || status.reason === 'NotReady' ? `it is stopping${after}` : 'it is stopping';
    else why = `it is still starting (${status.state})`;
    return failure(id, ErrorCodes.ServerUnavailable, `server "${server}" is not ready: ${why}`, {
      server,
      state: status.state,
      reason: status.reason,
      lastExit: status.lastExit,
      lastError: status.lastError,
      nextRetryAt: status.nextRetryAt,
    });
  }

  /**
   * The configured server a public name would belong to when that server is not serving: a tool or
   * prompt called before its server was ever ready (or while it is down) is explained, not unknown.
   */
  idleOwnerOf(publicName: string): string | undefined {
    return this.registry.prefixesOf(publicName).find((prefix) => this.options.describe(prefix)?.servesMcp === true && !this.registry.primary(prefix));
  }

  /** Instructions of the ready servers, each under its name, for the aggregate's initialize. */
  instructions(scope: string | undefined): string | undefined {
    const upstreams = this.registry.serving(scope);
    const parts = upstreams.map((u) => ({ server: u.server, text: u.instructions })).filter((p) => p.text);
    if (parts.length === 0) return undefined;
    if (scope !== undefined) return parts[0]?.text;
    return parts.map((p) => `## ${p.server}\n${p.text}`).join('\n\n');
  }

  private async routeServerRequest(upstream: Upstream, method: string, params: Record<string, unknown> | undefined, signal: AbortSignal): Promise<Record<string, unknown>> {
    const capability = CAPABILITY_OF[method];
    if (!capability) throw new McpError(ErrorCode.MethodNotFound, `the gateway does not relay ${method}`);
    // The client whose call to this server is in flight, the most recent first.
    let ongoing: { session: Session; clientId: Id; started: number } | undefined;
    for (const candidate of this.sessions) {
      const call = candidate.supports(capability) ? candidate.latestCallTo(upstream) : undefined;
      if (call && (!ongoing || call.started >= ongoing.started)) ongoing = { session: candidate, clientId: call.clientId, started: call.started };
    }
    // Else the newest client that sees this server: one of the aggregate or of its own endpoint.
    const sees = (s: Session) => s.scope === undefined || s.scope === upstream.server;
    const session = ongoing?.session ?? [...this.sessions].reverse().find((s) => s.initialized && sees(s) && s.supports(capability));
    if (!session) {
      throw new McpError(ErrorCode.InvalidRequest, `no connected client of server "${upstream.server}" supports ${capability}, so its ${method} cannot be answered`);
    }
    try {
      return await session.ask(method, params, ongoing?.clientId, signal);
    } catch (error) {
      if (error instanceof ClientError) throw new McpError(error.error.code, error.error.message, error.error.data);
      throw new McpError(ErrorCode.InternalError, (error as Error).message);
    }
  }

  private relay(upstream: Upstream, notification: Notification): void {
    const params = notification.params ?? {};
    switch (notification.method) {
      case 'notifications/message': {
        const logger = typeof params.logger === 'string' ? `${upstream.server}/${params.logger}` : upstream.server;
        for (const session of this.sessions) {
          if (session.scope === undefined || session.scope === upstream.server) session.notify(notification.method, { ...params, logger });
        }
        return;
      }
      case 'notifications/resources/updated': {
        const uri = params.uri;
        for (const session of this.sessions) if (typeof uri === 'string' && session.subscriptions.has(uri)) session.notify(notification.method, params);
        return;
      }
      default:
        this.log.debug({ server: upstream.server, method: notification.method }, 'notification from server not relayed');
    }
  }

  /** End every session (shutdown). */
  close(): void {
    for (const session of this.sessions) session.close();
    this.sessions.clear();
    this.registry.close();
  }
}
