/**
 * One connection to one server instance. The official SDK `Client` does the handshake, fetches the
 * lists and answers the server's own requests (sampling, elicitation, roots); forwarded client
 * calls take a raw path beside it, with ids and progress tokens remapped, so the hot path parses no
 * schema and re-serves nothing through high-level handlers.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
  type JSONRPCMessage,
  type Prompt,
  type Resource,
  type ResourceTemplate,
  type ServerCapabilities,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../log.js';
import { ErrorCodes, failure, isResponse, type Notification, type Request, type Response } from './jsonrpc.js';

export interface Lists {
  tools: Tool[];
  prompts: Prompt[];
  resources: Resource[];
  resourceTemplates: ResourceTemplate[];
}

export interface UpstreamHandlers {
  /** The server asks its client something (sampling/createMessage, elicitation/create, roots/list). */
  onServerRequest(upstream: Upstream, method: string, params: Record<string, unknown> | undefined, signal: AbortSignal): Promise<Record<string, unknown>>;
  /** A notification the gateway relays (logging messages, resources/updated, …). */
  onNotification(upstream: Upstream, notification: Notification): void;
  /** The lists changed (after a `list_changed` from the server, once refetched). */
  onListsChanged(upstream: Upstream): void;
}

export interface UpstreamOptions {
  server: string;
  instanceId: string;
  transport: Transport;
  handlers: UpstreamHandlers;
  log: Logger;
  version: string;
}

interface PendingCall {
  resolve(response: Response): void;
  onProgress?: (params: Record<string, unknown>) => void;
}

/** Upstream ids and progress tokens of forwarded calls: strings the SDK client never uses. */
const RAW_PREFIX = 'gw:';
const MAX_PAGES = 100;

const EMPTY_LISTS: Lists = { tools: [], prompts: [], resources: [], resourceTemplates: [] };

export class Upstream {
  readonly server: string;
  readonly instanceId: string;
  lists: Lists = EMPTY_LISTS;
  private readonly client: Client;
  private readonly transport: Transport;
  private readonly pending = new Map<string, PendingCall>();
  private readonly drainWaiters = new Set<() => void>();
  private readonly log: Logger;
  private seq = 0;
  private closed = false;
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;

  constructor(private readonly options: UpstreamOptions) {
    this.server = options.server;
    this.instanceId = options.instanceId;
    this.log = options.log;
    this.transport = options.transport;

    const inner = options.transport;
    // The SDK client sees a transport of its own; forwarded calls' answers never reach it.
    const forClient: Transport = {
      start: () => inner.start(),
      send: (message, sendOptions) => inner.send(message, sendOptions),
      close: () => inner.close(),
      setProtocolVersion: (version) => inner.setProtocolVersion?.(version),
      get sessionId() {
        return inner.sessionId;
      },
    };
    inner.onmessage = (message, extra) => {
      if (!this.intercept(message)) forClient.onmessage?.(message, extra);
    };
    inner.onclose = () => {
      this.closed = true;
      this.settleAll(`server "${this.server}" closed the connection while the call was in flight`);
      forClient.onclose?.();
    };
    inner.onerror = (error) => forClient.onerror?.(error);
    this.transportForClient = forClient;

    this.client = new Client(
      { name: 'mcp-orchestrator', version: options.version },
      { capabilities: { sampling: {}, elicitation: {}, roots: { listChanged: true } } },
    );
    this.client.onerror = (error) => this.log.debug({ err: error }, 'upstream protocol error');
    const ask = (method: string) => async (request: { params?: Record<string, unknown> }, extra: { signal: AbortSignal }) =>
      options.handlers.onServerRequest(this, method, request.params, extra.signal) as never;
    this.client.setRequestHandler(CreateMessageRequestSchema, ask('sampling/createMessage'));
    this.client.setRequestHandler(ElicitRequestSchema, ask('elicitation/create'));
    this.client.setRequestHandler(ListRootsRequestSchema, ask('roots/list'));
    this.client.setNotificationHandler(ToolListChangedNotificationSchema, () => this.refresh());
    this.client.setNotificationHandler(PromptListChangedNotificationSchema, () => this.refresh());
    this.client.setNotificationHandler(ResourceListChangedNotificationSchema, () => this.refresh());
    this.client.fallbackNotificationHandler = async (notification) =>
      options.handlers.onNotification(this, { jsonrpc: '2.0', method: notification.method, params: notification.params as Record<string, unknown> | undefined });
  }

  private readonly transportForClient: Transport;

  get capabilities(): ServerCapabilities {
    return this.client.getServerCapabilities() ?? {};
  }

  get instructions(): string | undefined {
    return this.client.getInstructions();
  }

  get inFlight(): number {
    return this.pending.size;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The `initialize` handshake, then every list. Rejects with a readable message. */
  async connect(signal: AbortSignal, timeoutMs: number): Promise<void> {
    try {
      await this.client.connect(this.transportForClient, { signal, timeout: timeoutMs });
    } catch (error) {
      throw new Error(`MCP initialize failed: ${(error as Error).message}`, { cause: error });
    }
    try {
      this.lists = await this.fetchLists(signal);
    } catch (error) {
      throw new Error(`listing the server's tools, prompts and resources failed: ${(error as Error).message}`, { cause: error });
    }
  }

  private async fetchLists(signal?: AbortSignal): Promise<Lists> {
    const caps = this.capabilities;
    const options = signal ? { signal } : undefined;
    const all = async <T>(page: (cursor?: string) => Promise<{ items: T[]; nextCursor?: string }>): Promise<T[]> => {
      const items: T[] = [];
      let cursor: string | undefined;
      for (let n = 0; n < MAX_PAGES; n++) {
        const result = await page(cursor);
        items.push(...result.items);
        cursor = result.nextCursor;
        if (!cursor) break;
      }
      return items;
    };
    const [tools, prompts, resources, resourceTemplates] = await Promise.all([
      caps.tools ? all(async (cursor) => { const r = await this.client.listTools({ cursor }, options); return { items: r.tools, nextCursor: r.nextCursor }; }) : [],
      caps.prompts ? all(async (cursor) => { const r = await this.client.listPrompts({ cursor }, options); return { items: r.prompts, nextCursor: r.nextCursor }; }) : [],
      caps.resources ? all(async (cursor) => { const r = await this.client.listResources({ cursor }, options); return { items: r.resources, nextCursor: r.nextCursor }; }) : [],
      caps.resources
        ? all(async (cursor) => { const r = await this.client.listResourceTemplates({ cursor }, options); return { items: r.resourceTemplates, nextCursor: r.nextCursor }; })
        : [],
    ]);
    return { tools, prompts, resources, resourceTemplates };
  }

  /** Refetch the lists after a list_changed; overlapping calls coalesce into one more fetch. */
  private refresh(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      do {
        this.refreshAgain = false;
        try {
          this.lists = await this.fetchLists();
          this.options.handlers.onListsChanged(this);
        } catch (error) {
          this.log.warn({ err: error }, 'refetching the lists after list_changed failed');
        }
      } while (this.refreshAgain && !this.closed);
    })().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  /**
   * Send a client's request on the raw path. `request.id` is replaced with an id of ours, and a
   * progress token with ours; progress comes back through `onProgress` with the caller's token
   * left for the caller to restore. The promise always settles, with a response or an error.
   */
  forward(request: Request, onProgress?: (params: Record<string, unknown>) => void): { upstreamId: string; response: Promise<Response> } {
    const upstreamId = `${RAW_PREFIX}${++this.seq}`;
    let params = request.params;
    const meta = params?._meta;
    if (meta && meta.progressToken !== undefined) params = { ...params, _meta: { ...meta, progressToken: upstreamId } };
    const response = new Promise<Response>((resolve) => this.pending.set(upstreamId, { resolve, onProgress }));
    if (this.closed) {
      this.settle(upstreamId, failure(null, ErrorCodes.ServerGone, `server "${this.server}" is not connected`));
    } else {
      this.transport.send({ jsonrpc: '2.0', id: upstreamId, method: request.method, params } as JSONRPCMessage).catch((error: unknown) => {
        this.settle(upstreamId, failure(null, ErrorCodes.ServerGone, `sending to server "${this.server}" failed: ${(error as Error).message}`));
      });
    }
    return { upstreamId, response };
  }

  /** The client gave up on a forwarded call: tell the server, and settle nothing further. */
  cancel(upstreamId: string, reason?: string): void {
    if (!this.pending.has(upstreamId)) return;
    this.settle(upstreamId, failure(null, ErrorCodes.RequestCancelled, 'cancelled by the client'));
    if (this.closed) return;
    const params = reason === undefined ? { requestId: upstreamId } : { requestId: upstreamId, reason };
    this.transport.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params } as JSONRPCMessage).catch(() => {});
  }

  /** Send a notification to the server (e.g. a client's roots/list_changed). */
  notify(method: string, params?: Record<string, unknown>): void {
    if (this.closed) return;
    this.transport.send({ jsonrpc: '2.0', method, ...(params ? { params } : {}) } as JSONRPCMessage).catch(() => {});
  }

  private intercept(message: JSONRPCMessage): boolean {
    const m = message as { id?: unknown; method?: string; params?: { progressToken?: unknown } };
    if (typeof m.id === 'string' && m.id.startsWith(RAW_PREFIX) && isResponse(message)) {
      this.settle(m.id, message as Response);
      return true;
    }
    if (m.method === 'notifications/progress' && typeof m.params?.progressToken === 'string' && m.params.progressToken.startsWith(RAW_PREFIX)) {
      this.pending.get(m.params.progressToken)?.onProgress?.(m.params as Record<string, unknown>);
      return true;
    }
    return false;
  }

  private settle(upstreamId: string, response: Response): void {
    const call = this.pending.get(upstreamId);
    if (!call) return;
    this.pending.delete(upstreamId);
    call.resolve(response);
    this.notifyDrained();
  }

  private settleAll(message: string): void {
    for (const id of [...this.pending.keys()]) this.settle(id, failure(null, ErrorCodes.ServerGone, message));
  }

  private notifyDrained(): void {
    if (this.pending.size > 0) return;
    for (const resolve of this.drainWaiters) resolve();
    this.drainWaiters.clear();
  }

  /** Resolves once no forwarded call is in flight, or after `timeoutMs`; true when drained. */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.pending.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.drainWaiters.delete(done);
        resolve(false);
      }, timeoutMs);
      this.drainWaiters.add(done);
    });
  }

  async close(): Promise<void> {
    this.settleAll(`server "${this.server}" stopped while the call was in flight`);
    this.closed = true;
    await this.client.close().catch(() => {});
  }
}

