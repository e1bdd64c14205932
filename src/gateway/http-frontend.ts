/**
 * The gateway over Streamable HTTP (MCP 2025-03-26 and later): `POST/GET/DELETE /mcp` for the
 * aggregate and `/servers/NAME/mcp` for one server. A POST's answer is plain JSON unless something
 * related to it (progress, a server's sampling request) must reach the client first: then the
 * answer turns into an SSE stream on the spot. Only what needs a stream pays for one.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../log.js';
import { HttpError, readBody, type Route } from '../control/http.js';
import { NAME_SEGMENT } from '../config/names.js';
import type { Gateway } from './gateway.js';
import { ErrorCodes, failure, isMessage, isRequest, RawResponse, serialize, type Answer, type Id, type Message, type Notification, type Request, type Response } from './jsonrpc.js';
import type { Session } from './session.js';
import { openSse, SSE_HEADERS, sseFrameOf, writeBounded, type SseStream } from '../control/sse.js';

export interface McpHttpOptions {
  log: Logger;
  /** Whether a server of this name is configured (for `/servers/NAME/mcp`). */
  hasServer: (name: string) => boolean;
  /** Largest request body accepted; default 4 MiB. */
  maxBodyBytes?: number;
  /** A session with no open stream and no request for this long is ended; default 30 min. */
  idleSessionMs?: number;
  /** At most this many sessions at once; default 1000. */
  maxSessions?: number;
}

interface PendingPost {
  res: ServerResponse;
  ids: Set<string>;
  responses: Answer[];
  batch: boolean;
  /** Whether the client accepts an SSE answer. */
  sse: boolean;
  streaming: boolean;
}

interface HttpSession {
  session: Session;
  /** The server-to-client stream opened by GET. */
  stream?: SseStream;
  posts: Map<string, PendingPost>;
}

/** MCP's frames: every message is an event of type `message`. */
function sseEvent(message: Message | Answer): string {
  // A server may use a raw \r as whitespace between JSON tokens (never inside a string, where it
  // must be escaped); in an SSE frame it would end the line, so it goes.
  const json = serialize(message);
  return sseFrameOf(message instanceof RawResponse && json.includes('\r') ? json.replaceAll('\r', '') : json, { event: 'message' });
}

function jsonRpcHttpError(res: ServerResponse, status: number, code: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(failure(null, code, message)));
}

export function mcpRoutes(gateway: Gateway, options: McpHttpOptions): { routes: Route[]; close(): void } {
  const log = options.log;
  const maxBody = options.maxBodyBytes ?? 4 * 1024 * 1024;
  const maxSessions = options.maxSessions ?? 1_000;
  const idleMs = options.idleSessionMs ?? 30 * 60_000;
  const sessions = new Map<string, HttpSession>();

  function end(entry: HttpSession): void {
    sessions.delete(entry.session.id);
    entry.stream?.close();
    gateway.endSession(entry.session);
  }

  const sweeper = setInterval(() => {
    const cutoff = Date.now() - idleMs;
    for (const entry of sessions.values()) {
      if (!entry.stream && entry.posts.size === 0 && entry.session.lastActive < cutoff) {
        log.info({ session: entry.session.id }, 'ending idle MCP session');
        end(entry);
      }
    }
  }, Math.min(idleMs, 60_000));
  sweeper.unref();

  function startStreaming(post: PendingPost): void {
    if (post.streaming) return;
    post.streaming = true;
    post.res.writeHead(200, SSE_HEADERS);
  }

  function outletFor(entry: HttpSession) {
    return {
      send(message: Message, relatedTo?: Id): boolean {
        if (relatedTo !== undefined) {
          const post = entry.posts.get(String(relatedTo));
          if (post && post.sse && !post.res.writableEnded) {
            startStreaming(post);
            return writeBounded(post.res, sseEvent(message));
          }
        }
        return entry.stream?.send(message, { event: 'message' }) ?? false;
      },
    };
  }

  function finish(entry: HttpSession, post: PendingPost): void {
    for (const id of post.ids) entry.posts.delete(id);
    if (post.res.writableEnded) return;
    if (post.streaming) {
      for (const response of post.responses) post.res.write(sseEvent(response));
      post.res.end();
      return;
    }
    if (post.responses.length === 0) {
      // Every request was cancelled by the client: nothing to answer.
      post.res.writeHead(202).end();
      return;
    }
    post.res.writeHead(200, { 'content-type': 'application/json' });
    const only = post.batch ? undefined : post.responses[0];
    post.res.end(only instanceof RawResponse ? only.bytes() : serialize(post.batch ? post.responses : (only as Answer)));
  }

  async function handlePost(req: IncomingMessage, res: ServerResponse, scope: string | undefined): Promise<void> {
    const type = req.headers['content-type'];
    if (type !== undefined && !type.includes('json')) {
      jsonRpcHttpError(res, 415, ErrorCodes.InvalidRequest, 'Content-Type must be application/json');
      return;
    }
    const text = await readBody(req, maxBody);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      jsonRpcHttpError(res, 400, ErrorCodes.ParseError, 'the request body is not valid JSON');
      return;
    }
    const batch = Array.isArray(body);
    const messages = (batch ? body : [body]) as unknown[];
    if (messages.length === 0 || !messages.every(isMessage)) {
      jsonRpcHttpError(res, 400, ErrorCodes.InvalidRequest, 'the body must be a JSON-RPC 2.0 message or a non-empty array of them');
      return;
    }
    const accept = req.headers.accept ?? '';
    const sse = accept.includes('text/event-stream') || accept.includes('*/*');
    const initialize = messages.find((m) => isRequest(m) && m.method === 'initialize') as Request | undefined;

    if (initialize) {
      if (messages.length > 1) {
        jsonRpcHttpError(res, 400, ErrorCodes.InvalidRequest, 'initialize must be sent alone, not in a batch');
        return;
      }
      if (sessions.size >= maxSessions) {
        jsonRpcHttpError(res, 503, ErrorCodes.InternalError, `too many MCP sessions (${maxSessions}); end unused ones with DELETE`);
        return;
      }
      const entry: HttpSession = { session: undefined as unknown as Session, posts: new Map() };
      entry.session = gateway.createSession(outletFor(entry), scope);
      sessions.set(entry.session.id, entry);
      // A client that gives up while initialize waits for the servers to start leaves no session behind.
      const abandoned = () => end(entry);
      res.once('close', abandoned);
      const response = await new Promise<Answer | undefined>((resolve) => entry.session.request(initialize, resolve));
      res.off('close', abandoned);
      if (res.destroyed) {
        end(entry);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': entry.session.id });
      res.end(response ? serialize(response) : '');
      log.info({ session: entry.session.id, client: entry.session.clientInfo.name, scope }, 'MCP session started');
      return;
    }

    const entry = sessionOf(req, res, scope);
    if (!entry) return;
    const version = req.headers['mcp-protocol-version'];
    if (typeof version === 'string' && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
      jsonRpcHttpError(res, 400, ErrorCodes.InvalidRequest, `unsupported MCP-Protocol-Version ${version}; supported: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')}`);
      return;
    }

    const requests = messages.filter(isRequest);
    for (const message of messages) if (!isRequest(message)) entry.session.accept(message as Notification | Response);
    if (requests.length === 0) {
      res.writeHead(202).end();
      return;
    }

    const post: PendingPost = { res, ids: new Set(requests.map((r) => String(r.id))), responses: [], batch, sse, streaming: false };
    for (const id of post.ids) entry.posts.set(id, post);
    // A dropped connection is not a cancel (the spec says so): the calls run on, their answers go nowhere.
    res.once('close', () => {
      for (const id of post.ids) if (entry.posts.get(id) === post) entry.posts.delete(id);
    });
    let remaining = requests.length;
    for (const request of requests) {
      entry.session.request(request, (response) => {
        if (response) post.responses.push(response);
        if (--remaining === 0) finish(entry, post);
      });
    }
  }

  function sessionOf(req: IncomingMessage, res: ServerResponse, scope: string | undefined): HttpSession | undefined {
    const sessionId = req.headers['mcp-session-id'];
    if (typeof sessionId !== 'string') {
      jsonRpcHttpError(res, 400, ErrorCodes.InvalidRequest, 'the Mcp-Session-Id header is required: send initialize first');
      return undefined;
    }
    const entry = sessions.get(sessionId);
    if (!entry || entry.session.scope !== scope) {
      jsonRpcHttpError(res, 404, ErrorCodes.InvalidRequest, 'unknown or ended MCP session: initialize again');
      return undefined;
    }
    return entry;
  }

  function handleGet(req: IncomingMessage, res: ServerResponse, scope: string | undefined): void {
    if (!(req.headers.accept ?? '').includes('text/event-stream')) {
      jsonRpcHttpError(res, 406, ErrorCodes.InvalidRequest, 'GET opens the server-to-client stream: Accept must include text/event-stream');
      return;
    }
    const entry = sessionOf(req, res, scope);
    if (!entry) return;
    if (entry.stream && !entry.stream.closed) {
      jsonRpcHttpError(res, 409, ErrorCodes.InvalidRequest, 'this session already has its server-to-client stream open');
      return;
    }
    const stream = openSse(res);
    entry.stream = stream;
    stream.onClose(() => {
      if (entry.stream === stream) entry.stream = undefined;
      entry.session.lastActive = Date.now();
    });
  }

  function handleDelete(req: IncomingMessage, res: ServerResponse, scope: string | undefined): void {
    const entry = sessionOf(req, res, scope);
    if (!entry) return;
    end(entry);
    log.info({ session: entry.session.id }, 'MCP session ended by the client');
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  }

  /** `/mcp` serves the aggregate; `/servers/NAME/mcp` one server, under its own names. */
  async function dispatch({ req, res, params }: { req: IncomingMessage; res: ServerResponse; params: Record<string, string> }): Promise<void> {
    const scope = params.name;
    if (scope !== undefined && !options.hasServer(scope)) throw new HttpError(404, `no server named "${scope}" in the config`);
    switch (req.method) {
      case 'POST':
        return handlePost(req, res, scope);
      case 'GET':
        return handleGet(req, res, scope);
      default:
        return handleDelete(req, res, scope);
    }
  }

  return {
    routes: [
      { method: ['POST', 'GET', 'DELETE'], path: /^\/mcp\/?$/, handle: dispatch },
      { method: ['POST', 'GET', 'DELETE'], path: new RegExp(`^/servers/${NAME_SEGMENT}/mcp/?$`), handle: dispatch },
    ],
    close: () => {
      clearInterval(sweeper);
      for (const entry of sessions.values()) end(entry);
    },
  };
}
