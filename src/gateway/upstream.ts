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
// A long line is judged from as much of its ends as a dropped one keeps, so both are judged alike.
import { DROPPED_END_BYTES, MAX_LINE_BYTES, type DroppedLine } from '../runtime/lines.js';

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

/** Where a forwarded call's answer and progress go. The answer comes exactly once. */
export interface CallSink {
  /** The server's answer (its `id` is ours, not the client's), or an error of the gateway's. */
  onResponse(response: Response): void;
  /**
   * The server's answer as it came, unparsed (and a large one not even decoded): the client's
   * message is `head`, the client's id as JSON, then `tail`. Without this method every answer is parsed and given to
   * `onResponse`.
   */
  onRawResponse?(head: string | Buffer, tail: string | Buffer, ok: boolean): void;
  /** A progress notification's params, its token still ours for the caller to restore. */
  onProgress?(params: Record<string, unknown>): void;
}

/**
 * A transport that can also write at once, throwing when it cannot, and that offers each line it
 * reads before parsing it (the child's stdio pipes).
 */
interface WritableTransport extends Transport {
  write(message: JSONRPCMessage): void;
  takeLine?: (line: Buffer, text: string | undefined) => boolean;
  lineDropped?: (line: DroppedLine) => void;
}

function canWrite(transport: Transport): transport is WritableTransport {
  return typeof (transport as Partial<WritableTransport>).write === 'function';
}

/** Upstream ids and progress tokens of forwarded calls: strings the SDK client never uses. */
const RAW_PREFIX = 'gw:';
/** An answer whose id comes second, after `"jsonrpc":"2.0"` (Python SDK, and every SDK's errors). */
const ID_SECOND = `{"jsonrpc":"2.0","id":"${RAW_PREFIX}`;
/** The last members of an answer from the TypeScript SDK, which puts `result` first and `id` last. */
const ID_LAST = `,"jsonrpc":"2.0","id":"${RAW_PREFIX}`;

/**
 * Where a forwarded call's answer keeps its top-level id (from the opening quote to just past the
 * closing one), judged from the line's first and last characters alone, and whether it is a
 * result. Undefined unless the layout leaves no doubt: `{"jsonrpc":"2.0","id":"gw:N","result"|
 * "error":…}`, or `{"result"|"error":…,"jsonrpc":"2.0","id":"gw:N"}`, the line ending with the
 * object's closing brace.
 */
function locateId(first: string, last: string, length: number): { start: number; end: number; ok: boolean } | undefined {
  if (!last.endsWith('}')) return undefined;
  if (first.startsWith(ID_SECOND)) {
    const end = first.indexOf('"', ID_SECOND.length) + 1;
    if (end === 0) return undefined;
    const start = ID_SECOND.length - RAW_PREFIX.length - 1;
    if (first.startsWith(',"result":', end)) return { start, end, ok: true };
    if (first.startsWith(',"error":', end)) return { start, end, ok: false };
    return undefined;
  }
  let ok: boolean;
  if (first.startsWith('{"result":')) ok = true;
  else if (first.startsWith('{"error":')) ok = false;
  else return undefined;
  if (!last.endsWith('"}')) return undefined;
  const members = last.lastIndexOf(ID_LAST);
  if (members === -1) return undefined;
  const open = members + ID_LAST.length - RAW_PREFIX.length - 1;
  // The id's text must not hold a quote: then the id really is the object's last member.
  if (last.indexOf('"', open + 1) !== last.length - 2) return undefined;
  const shift = length - last.length;
  return { start: shift + open, end: length - 1, ok };
}

const MAX_PAGES = 100;
/** Notifications the SDK client acts on itself; every other one goes to the gateway to relay or drop. */
const CLIENT_NOTIFICATIONS = new Set([
  'notifications/tools/list_changed',
  'notifications/prompts/list_changed',
  'notifications/resources/list_changed',
  'notifications/cancelled',
  'notifications/progress',
]);

const EMPTY_LISTS: Lists = { tools: [], prompts: [], resources: [], resourceTemplates: [] };

export class Upstream {
  readonly server: string;
  readonly instanceId: string;
  lists: Lists = EMPTY_LISTS;
  private readonly client: Client;
  private readonly transport: Transport;
  private readonly pending = new Map<string, CallSink>();
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
    if (canWrite(inner) && 'takeLine' in inner) {
      inner.takeLine = (line, text) => this.takeAnswer(line, text);
      inner.lineDropped = (line) => this.answerDropped(line);
    }
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
    /** Every page of one list, `key` naming the items in each answer. */
    const all = async <K extends string, T>(
      list: (params: { cursor?: string }, opts?: { signal: AbortSignal }) => Promise<Record<K, T[]> & { nextCursor?: string }>,
      key: K,
    ): Promise<T[]> => {
      const items: T[] = [];
      let cursor: string | undefined;
      for (let n = 0; n < MAX_PAGES; n++) {
        const page = await list({ cursor }, options);
        items.push(...page[key]);
        cursor = page.nextCursor;
        if (!cursor) break;
      }
      return items;
    };
    const client = this.client;
    const [tools, prompts, resources, resourceTemplates] = await Promise.all([
      caps.tools ? all<'tools', Tool>((p, o) => client.listTools(p, o), 'tools') : [],
      caps.prompts ? all<'prompts', Prompt>((p, o) => client.listPrompts(p, o), 'prompts') : [],
      caps.resources ? all<'resources', Resource>((p, o) => client.listResources(p, o), 'resources') : [],
      caps.resources ? all<'resourceTemplates', ResourceTemplate>((p, o) => client.listResourceTemplates(p, o), 'resourceTemplates') : [],
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
   * progress token with ours; progress comes back through `sink.onProgress` with the caller's
   * token left for the caller to restore. Exactly one of `sink.onResponse` and `sink.onRawResponse`
   * is called, once, never before this returns. Returns the id the server knows the call by.
   */
  forward(request: Request, sink: CallSink): string {
    const upstreamId = `${RAW_PREFIX}${++this.seq}`;
    let params = request.params;
    const meta = params?._meta;
    if (meta && meta.progressToken !== undefined) params = { ...params, _meta: { ...meta, progressToken: upstreamId } };
    this.pending.set(upstreamId, sink);
    if (this.closed) {
      this.settleLater(upstreamId, `server "${this.server}" is not connected`);
      return upstreamId;
    }
    this.send({ jsonrpc: '2.0', id: upstreamId, method: request.method, params } as JSONRPCMessage, upstreamId);
    return upstreamId;
  }

  /** Forward and wait for the answer (calls off the hot path, such as logging/setLevel). */
  ask(request: Request): Promise<Response> {
    return new Promise((resolve) => this.forward(request, { onResponse: resolve }));
  }

  private send(message: JSONRPCMessage, upstreamId: string): void {
    const failed = (error: unknown) => this.settleLater(upstreamId, `sending to server "${this.server}" failed: ${(error as Error).message}`);
    if (!canWrite(this.transport)) {
      this.transport.send(message).catch(failed);
      return;
    }
    try {
      this.transport.write(message);
    } catch (error) {
      failed(error);
    }
  }

  /** Fail a call from a later microtask, so that no answer arrives before `forward` returns. */
  private settleLater(upstreamId: string, message: string): void {
    queueMicrotask(() => this.settle(upstreamId, failure(null, ErrorCodes.ServerGone, message)));
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

  /**
   * Take a forwarded call's answer straight from its line when {@link locateId} finds its id
   * beyond doubt; anything else (other spacing, key order, a request or notification) is parsed
   * as usual. `text` is the line decoded, when it was short enough; a long line is judged from its
   * ends and passed on as bytes. True when taken.
   */
  private takeAnswer(line: Buffer, text: string | undefined): boolean {
    if (text !== undefined) {
      const at = locateId(text, text, text.length);
      return at !== undefined && this.settleRaw(text.slice(at.start + 1, at.end - 1), text.slice(0, at.start), text.slice(at.end), at.ok);
    }
    // Latin-1 reads one character per byte, so offsets in these ends are offsets in the line.
    const at = locateId(line.toString('latin1', 0, DROPPED_END_BYTES), line.toString('latin1', line.length - DROPPED_END_BYTES), line.length);
    return at !== undefined && this.settleRaw(line.toString('latin1', at.start + 1, at.end - 1), line.subarray(0, at.start), line.subarray(at.end), at.ok);
  }

  private settleRaw(upstreamId: string, head: string | Buffer, tail: string | Buffer, ok: boolean): boolean {
    const sink = this.pending.get(upstreamId);
    if (!sink?.onRawResponse) return false;
    this.handOn(upstreamId, () => sink.onRawResponse?.(head, tail, ok));
    return true;
  }

  /** A line too long to keep: if it was a forwarded call's answer, that call fails with the reason. */
  private answerDropped(line: DroppedLine): void {
    const first = line.first.toString('latin1');
    const last = line.last.toString('latin1');
    const at = locateId(first, last, line.bytes);
    if (!at) return;
    const shift = line.bytes - last.length;
    const upstreamId = at.end <= first.length ? first.slice(at.start + 1, at.end - 1) : last.slice(at.start + 1 - shift, at.end - 1 - shift);
    this.settle(upstreamId, failure(null, ErrorCodes.InternalError, `server "${this.server}" answered with ${line.bytes} bytes, over the ${MAX_LINE_BYTES}-byte limit; the answer was dropped`));
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
    // Handed on here, in the order read: through the SDK client they would arrive a microtask late,
    // after an answer the server wrote after them.
    if (m.method !== undefined && !CLIENT_NOTIFICATIONS.has(m.method) && !('id' in m)) {
      this.options.handlers.onNotification(this, { jsonrpc: '2.0', method: m.method, params: m.params as Record<string, unknown> | undefined });
      return true;
    }
    return false;
  }

  private settle(upstreamId: string, response: Response): void {
    const sink = this.pending.get(upstreamId);
    if (sink) this.handOn(upstreamId, () => sink.onResponse(response));
  }

  /** The call is answered: no longer pending, its sink told (a throw is logged), drain waiters woken. */
  private handOn(upstreamId: string, tell: () => void): void {
    this.pending.delete(upstreamId);
    try {
      tell();
    } catch (error) {
      this.log.error({ err: error }, 'handing on a forwarded answer failed');
    }
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

