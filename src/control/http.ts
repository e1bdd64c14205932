/**
 * The one listener: health, status API, and (later) the MCP gateway and dashboard. Routes are a
 * flat table so other parts add theirs without touching the dispatch.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../log.js';
import { checkAccess, type AccessPolicy } from './security.js';

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
}

export interface Route {
  method: string | string[];
  /** Matched against the whole path; named groups become `params`. */
  path: RegExp;
  /**
   * Open without the token and the Host/Origin checks: the health checks (container probes carry
   * no token) and the dashboard's static page and assets, which hold no data.
   */
  public?: true;
  handle(context: RouteContext): void | Promise<void>;
}

/** A failure with an HTTP status and a message a person can act on. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code = statusCode(status),
  ) {
    super(message);
  }
}

function statusCode(status: number): string {
  switch (status) {
    case 400:
      return 'BadRequest';
    case 401:
      return 'Unauthorized';
    case 403:
      return 'Forbidden';
    case 404:
      return 'NotFound';
    case 405:
      return 'MethodNotAllowed';
    case 409:
      return 'Conflict';
    case 413:
      return 'PayloadTooLarge';
    default:
      return status >= 500 ? 'InternalError' : 'Error';
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`${text}\n`);
}

function sendError(res: ServerResponse, error: HttpError): void {
  sendJson(res, error.status, { error: { code: error.code, message: error.message } });
}

export interface HttpServerOptions {
  host: string;
  port: number;
  routes: Route[];
  access: AccessPolicy;
  log: Logger;
}

export interface RunningHttpServer {
  server: Server;
  /** "http://127.0.0.1:8080" with the port actually bound (port 0 picks one). */
  url: string;
  /** The port actually bound. */
  port: number;
  close(): Promise<void>;
}

/** Bind and serve; rejects with a readable error when the address is taken or not allowed. */
export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const { routes, log } = options;
  const server = createServer((req, res) => {
    void dispatch(req, res).catch((error: unknown) => {
      log.error({ err: error, path: req.url }, 'request failed');
      if (!res.headersSent) sendError(res, new HttpError(500, 'internal error; see the orchestrator log'));
      else res.destroy();
    });
  });

  async function dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://orchestrator.invalid');
    // Only a public route's path skips the checks: an unknown path is behind them too.
    let matched: { route: Route; match: RegExpExecArray } | undefined;
    let pathMatched = false;
    let publicPath = false;
    for (const route of routes) {
      const match = route.path.exec(url.pathname);
      if (!match) continue;
      pathMatched = true;
      publicPath ||= route.public === true;
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      if (!methods.includes(req.method ?? 'GET')) continue;
      matched = { route, match };
      break;
    }
    const verdict = publicPath ? ({ ok: true } as const) : checkAccess(req, options.access);
    if (!verdict.ok) {
      if (verdict.status === 401) res.setHeader('www-authenticate', 'Bearer');
      sendError(res, new HttpError(verdict.status, verdict.message));
      return;
    }
    if (matched) {
      const { route, match } = matched;
      try {
        await route.handle({ req, res, url, params: { ...match.groups } });
      } catch (error) {
        if (!(error instanceof HttpError)) throw error;
        if (!res.headersSent) sendError(res, error);
      }
      return;
    }
    sendError(res, pathMatched ? new HttpError(405, `${req.method} is not allowed on ${url.pathname}`) : new HttpError(404, `no such endpoint: ${url.pathname}`));
  }

  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      const where = `${options.host}:${options.port}`;
      if (error.code === 'EADDRINUSE') reject(new Error(`cannot listen on ${where}: the address is in use; set [orchestrator] listen or --listen to a free port`));
      else if (error.code === 'EACCES') reject(new Error(`cannot listen on ${where}: permission denied; use a port above 1023`));
      else reject(new Error(`cannot listen on ${where}: ${error.message}`));
    };
    server.once('error', onError);
    server.listen(options.port, options.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    server,
    url: `http://${host}:${address.port}`,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Long-lived streams (SSE, MCP) would hold close() open forever.
        for (const socket of sockets) socket.destroy();
      }),
  };
}

/** A request body as text; past `limit` bytes (declared or read) the request is refused with 413. */
export async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new HttpError(413, `request body of ${declared} bytes is over the ${limit}-byte limit`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, `request body is over the ${limit}-byte limit`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
