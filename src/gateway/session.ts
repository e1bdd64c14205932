/**
 * One client session of the gateway, whatever carries it (Streamable HTTP, stdio). It answers the
 * protocol's own requests, serves the aggregated lists, and forwards calls to the server that owns
 * them with ids and progress tokens remapped both ways.
 */
import { randomUUID } from 'node:crypto';
import { LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS, type ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import type { Gateway } from './gateway.js';
import { ErrorCodes, failure, RawResponse, result, type Answer, type Id, type Message, type Notification, type Request, type Response } from './jsonrpc.js';
import type { View } from './registry.js';
import type { CallSink, Upstream } from './upstream.js';

/** Where a session's messages to the client go. */
export interface Outlet {
  /**
   * Deliver a message; `relatedTo` is the client's request it belongs to (progress, a sampling
   * request during a call). False when the client cannot be reached right now.
   */
  send(message: Message, relatedTo?: Id): boolean;
}

/** Told the answer to a client's request; undefined when none is due (the client cancelled it). */
export type Reply = (answer: Answer | undefined) => void;

/** A client's request on its way to a server: what it needs to answer, cancel and count. */
class ForwardedCall implements CallSink {
  upstreamId = '';
  cancelled = false;
  readonly started = performance.now();

  constructor(
    private readonly session: Session,
    readonly upstream: Upstream,
    readonly clientId: Id,
    readonly method: string,
    readonly name: string | undefined,
    private readonly progressToken: unknown,
    private readonly reply: Reply,
  ) {}

  onResponse(answer: Response): void {
    if (this.cancelled) this.reply(undefined);
    else if (answer.error) this.reply({ jsonrpc: '2.0', id: this.clientId, error: answer.error });
    else this.reply({ jsonrpc: '2.0', id: this.clientId, result: answer.result ?? {} });
    this.session.finished(this, answer.error === undefined);
  }

  onRawResponse(head: string | Buffer, tail: string | Buffer, ok: boolean): void {
    this.reply(this.cancelled ? undefined : new RawResponse(head, JSON.stringify(this.clientId), tail, ok));
    this.session.finished(this, ok);
  }

  onProgress(params: Record<string, unknown>): void {
    if (this.progressToken === undefined) return;
    this.session.outlet.send({ jsonrpc: '2.0', method: 'notifications/progress', params: { ...params, progressToken: this.progressToken } }, this.clientId);
  }
}

interface Asked {
  resolve(result: Record<string, unknown>): void;
  reject(error: Error): void;
}

/** A request the client answered with an error: the message crosses back to the server as it was. */
export class ClientError extends Error {
  constructor(readonly error: { code: number; message: string; data?: unknown }) {
    super(error.message);
  }
}

export class Session {
  readonly id = randomUUID();
  clientCapabilities: ClientCapabilities = {};
  clientInfo: { name?: string; version?: string } = {};
  initialized = false;
  lastActive = Date.now();
  readonly subscriptions = new Set<string>();
  private readonly inFlight = new Map<string, ForwardedCall>();
  private readonly asked = new Map<string, Asked>();
  private seq = 0;
  private closed = false;

  constructor(
    private readonly gateway: Gateway,
    /** Set for `/servers/NAME/mcp`: one server, its own names. */
    readonly scope: string | undefined,
    public outlet: Outlet,
  ) {}

  private view(): View {
    return this.scope === undefined ? this.gateway.registry.aggregate() : this.gateway.registry.scoped(this.scope);
  }

  supports(capability: 'sampling' | 'elicitation' | 'roots'): boolean {
    return this.clientCapabilities[capability] !== undefined;
  }

  /**
   * A request from the client. `reply` is called once with the response (at once when the gateway
   * answers itself), or with undefined when the client cancelled it.
   */
  request(req: Request, reply: Reply): void {
    this.lastActive = Date.now();
    let answer: Response | Promise<Response> | undefined;
    try {
      answer = this.dispatch(req, reply);
    } catch (error) {
      answer = this.gateway.internalError(req, error);
    }
    if (answer === undefined) return;
    if (answer instanceof Promise) answer.then(reply, (error: unknown) => reply(this.gateway.internalError(req, error)));
    else reply(answer);
  }

  /** The answer, or undefined when the call was forwarded and `reply` will be told later. */
  private dispatch(req: Request, reply: Reply): Response | Promise<Response> | undefined {
    switch (req.method) {
      case 'initialize': {
        const starting = this.gateway.starting(this.scope);
        return starting ? starting.then(() => this.initialize(req)) : this.initialize(req);
      }
      case 'ping':
        return result(req.id, {});
      case 'tools/list':
        return result(req.id, { tools: this.view().tools });
      case 'prompts/list':
        return result(req.id, { prompts: this.view().prompts });
      case 'resources/list':
        return result(req.id, { resources: this.view().resources });
      case 'resources/templates/list':
        return result(req.id, { resourceTemplates: this.view().resourceTemplates });
      case 'tools/call':
        return this.callByName(req, reply, 'tool', this.view().toolRoutes, (name) => this.gateway.registry.knownTool(name));
      case 'prompts/get':
        return this.callByName(req, reply, 'prompt', this.view().promptRoutes, (name) => this.gateway.registry.knownPrompt(name));
      case 'resources/read':
      case 'resources/subscribe':
      case 'resources/unsubscribe':
        return this.callByUri(req, reply);
      case 'completion/complete':
        return this.complete(req, reply);
      case 'logging/setLevel':
        return this.setLevel(req);
      default:
        return failure(req.id, ErrorCodes.MethodNotFound, `method "${req.method}" is not supported by the gateway`);
    }
  }

  private initialize(req: Request): Response {
    const params = req.params as { protocolVersion?: string; capabilities?: ClientCapabilities; clientInfo?: { name?: string; version?: string } } | undefined;
    const requested = params?.protocolVersion;
    const protocolVersion = requested && SUPPORTED_PROTOCOL_VERSIONS.includes(requested) ? requested : LATEST_PROTOCOL_VERSION;
    this.clientCapabilities = params?.capabilities ?? {};
    this.clientInfo = params?.clientInfo ?? {};
    this.initialized = true;
    const instructions = this.gateway.instructions(this.scope);
    return result(req.id, {
      protocolVersion,
      capabilities: {
        tools: { listChanged: true },
        prompts: { listChanged: true },
        resources: { listChanged: true, subscribe: true },
        logging: {},
        completions: {},
      },
      serverInfo: { name: this.scope === undefined ? 'mcp-orchestrator' : `mcp-orchestrator/${this.scope}`, version: this.gateway.version },
      ...(instructions ? { instructions } : {}),
    });
  }

  private callByName(
    req: Request,
    reply: Reply,
    kind: 'tool' | 'prompt',
    routes: ReadonlyMap<string, { server: string; name: string }>,
    known: (name: string) => { server: string; name: string } | undefined,
  ): Response | undefined {
    const name = req.params?.name;
    if (typeof name !== 'string') return failure(req.id, ErrorCodes.InvalidParams, `${req.method} needs params.name, a string`);
    const unknown = () => failure(req.id, ErrorCodes.InvalidParams, `unknown ${kind} "${name}"; ${kind === 'tool' ? 'tools/list' : 'prompts/list'} shows what is available now`);
    const route = routes.get(name);
    if (route) {
      const upstream = this.gateway.registry.primary(route.server);
      if (!upstream) return this.gateway.unavailable(req.id, route.server);
      return this.forward(upstream, { ...req, params: { ...req.params, name: route.name } }, reply);
    }
    // Not served now: only explain why when its server is down (or has never been up). A name the
    // filter hides, or one that never existed, is unknown, so a denied tool can never be reached by name.
    const server = this.scope ?? known(name)?.server ?? this.gateway.idleOwnerOf(name);
    if (server !== undefined && !this.gateway.registry.primary(server)) return this.gateway.unavailable(req.id, server);
    return unknown();
  }

  private callByUri(req: Request, reply: Reply): Response | undefined {
    const uri = req.params?.uri;
    if (typeof uri !== 'string') return failure(req.id, ErrorCodes.InvalidParams, `${req.method} needs params.uri, a string`);
    const server = this.scope ?? this.gateway.registry.resourceOwner(this.view(), uri);
    if (server === undefined) return failure(req.id, ErrorCodes.ResourceNotFound, `no ready server serves the resource ${uri}`, { uri });
    const upstream = this.gateway.registry.primary(server);
    if (!upstream) return this.gateway.unavailable(req.id, server);
    if (req.method === 'resources/subscribe') this.subscriptions.add(uri);
    if (req.method === 'resources/unsubscribe') this.subscriptions.delete(uri);
    return this.forward(upstream, req, reply);
  }

  private complete(req: Request, reply: Reply): Response | undefined {
    const ref = req.params?.ref as { type?: string; name?: string; uri?: string } | undefined;
    if (ref?.type === 'ref/prompt' && typeof ref.name === 'string') {
      const route = this.view().promptRoutes.get(ref.name);
      if (!route) return failure(req.id, ErrorCodes.InvalidParams, `unknown prompt "${ref.name}"`);
      const upstream = this.gateway.registry.primary(route.server);
      if (!upstream) return this.gateway.unavailable(req.id, route.server);
      return this.forward(upstream, { ...req, params: { ...req.params, ref: { ...ref, name: route.name } } }, reply);
    }
    if (ref?.type === 'ref/resource' && typeof ref.uri === 'string') {
      const view = this.view();
      const owner = this.scope ?? view.templateRoutes.find((t) => t.uriTemplate === ref.uri)?.server ?? this.gateway.registry.resourceOwner(view, ref.uri);
      if (owner === undefined) return failure(req.id, ErrorCodes.InvalidParams, `no ready server has the resource template ${ref.uri}`);
      const upstream = this.gateway.registry.primary(owner);
      if (!upstream) return this.gateway.unavailable(req.id, owner);
      return this.forward(upstream, req, reply);
    }
    return failure(req.id, ErrorCodes.InvalidParams, 'completion/complete needs params.ref of type ref/prompt (with name) or ref/resource (with uri)');
  }

  private async setLevel(req: Request): Promise<Response> {
    const targets = this.gateway.registry.serving(this.scope);
    await Promise.all(targets.filter((u) => u.capabilities.logging).map((u) => u.ask(req)));
    return result(req.id, {});
  }

  /** Forward a request; `reply` gets the answer, and progress comes back under the client's own token. */
  private forward(upstream: Upstream, req: Request, reply: Reply): undefined {
    const name = typeof req.params?.name === 'string' ? req.params.name : undefined;
    const call = new ForwardedCall(this, upstream, req.id, req.method, name, req.params?._meta?.progressToken, reply);
    this.inFlight.set(String(req.id), call);
    call.upstreamId = upstream.forward(req, call);
    return undefined;
  }

  /** A forwarded call has its answer: it is no longer in flight. */
  finished(call: ForwardedCall, ok: boolean): void {
    const key = String(call.clientId);
    if (this.inFlight.get(key) === call) this.inFlight.delete(key);
    this.gateway.callEnded(call.upstream, call.method, call.name, call.started, ok);
  }

  /** The newest of this session's calls in flight to `upstream`, if any. */
  latestCallTo(upstream: Upstream): { clientId: Id; started: number } | undefined {
    let latest: ForwardedCall | undefined;
    for (const call of this.inFlight.values()) if (call.upstream === upstream && (!latest || call.started >= latest.started)) latest = call;
    return latest;
  }

  /** A notification or a response from the client. */
  accept(message: Notification | Response): void {
    this.lastActive = Date.now();
    if ('method' in message) {
      if (message.method === 'notifications/cancelled') {
        const requestId = message.params?.requestId;
        const call = requestId === undefined ? undefined : this.inFlight.get(String(requestId));
        if (call) {
          call.cancelled = true;
          call.upstream.cancel(call.upstreamId, typeof message.params?.reason === 'string' ? message.params.reason : undefined);
        }
        return;
      }
      if (message.method === 'notifications/roots/list_changed') {
        for (const upstream of this.gateway.registry.primaries()) upstream.notify('notifications/roots/list_changed');
      }
      // notifications/initialized and the like need nothing from us.
      return;
    }
    const asked = this.asked.get(String(message.id));
    if (!asked) return;
    this.asked.delete(String(message.id));
    if (message.error) asked.reject(new ClientError(message.error));
    else asked.resolve(message.result ?? {});
  }

  /** Ask the client something on a server's behalf; `relatedTo` is the call that caused it. */
  ask(method: string, params: Record<string, unknown> | undefined, relatedTo: Id | undefined, signal: AbortSignal): Promise<Record<string, unknown>> {
    if (this.closed) return Promise.reject(new Error('the client session has ended'));
    const id = `s:${++this.seq}`;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.asked.delete(id);
        this.outlet.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'the server cancelled its request' } }, relatedTo);
        reject(new Error('cancelled by the server'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.asked.set(id, {
        resolve: (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        reject: (error) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      });
      const delivered = this.outlet.send({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) }, relatedTo);
      if (!delivered) {
        this.asked.delete(id);
        signal.removeEventListener('abort', onAbort);
        reject(new Error(`the client cannot be reached to answer ${method} (no open stream)`));
      }
    });
  }

  /** Send a notification that belongs to no request (list_changed, log messages). */
  notify(method: string, params?: Record<string, unknown>): void {
    if (!this.initialized || this.closed) return;
    this.outlet.send({ jsonrpc: '2.0', method, ...(params ? { params } : {}) });
  }

  /** The client is gone: cancel what it had in flight and fail what was asked of it. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const call of [...this.inFlight.values()]) {
      call.cancelled = true;
      call.upstream.cancel(call.upstreamId, 'the client session ended');
    }
    for (const asked of this.asked.values()) asked.reject(new Error('the client session ended'));
    this.asked.clear();
  }
}
