/**
 * JSON-RPC 2.0 control, on `POST /rpc` and optionally on a port of its own (`[control]
 * jsonrpc_port`, like the seed's `json_rpc_server.py`). `initialize`, `shutdown` and `exit` follow
 * the Language Server Protocol: `exit` ends the process with 0 after a `shutdown`, else with 1.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log.js';
import { ErrorCodes } from '../gateway/jsonrpc.js';
import { ActionError, type ControlActions } from './actions.js';
import { readBody, startHttpServer, type Route, type RunningHttpServer } from './http.js';
import type { AccessPolicy } from './security.js';

/** The spec's codes, plus ours in the server-error range. */
export const RpcErrorCodes = {
  ...ErrorCodes,
  /** The action is not possible in the server's current state (an `ActionError` of kind conflict). */
  Conflict: -32000,
} as const;

export type RpcId = string | number | null;

export interface RpcError {
  code: number;
  message: string;
  data?: unknown;
}

export type RpcResponse = { jsonrpc: '2.0'; id: RpcId; result: unknown } | { jsonrpc: '2.0'; id: RpcId; error: RpcError };

/** What one HTTP body leads to: the answer (none for notifications only) and what to do once it is sent. */
export interface RpcOutcome {
  text: string | undefined;
  /** Runs after the answer has been written (the process exit, for `exit`). */
  after?: () => void;
}

/** Every method this door answers, as `initialize` announces them. */
export const RPC_METHODS = [
  'initialize',
  'shutdown',
  'exit',
  'servers/list',
  'servers/get',
  'servers/start',
  'servers/stop',
  'servers/restart',
  'config/get',
  'config/reload',
] as const;

type Method = (typeof RPC_METHODS)[number];

/** A failure that crosses the wire as a JSON-RPC error object. */
class RpcFailure extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

interface Call {
  /** Undefined for a notification. */
  id: RpcId | undefined;
  method: string;
  params: unknown;
}

const isId = (value: unknown): value is RpcId => value === null || typeof value === 'string' || typeof value === 'number';

/** Check one request object's shape; an error response when it is not a valid request. */
function validate(message: unknown): Call | RpcResponse {
  if (typeof message !== 'object' || message === null || Array.isArray(message)) {
    return failure(null, RpcErrorCodes.InvalidRequest, 'invalid request: expected a JSON-RPC 2.0 request object');
  }
  const o = message as Record<string, unknown>;
  if ('id' in o && !isId(o['id'])) {
    return failure(null, RpcErrorCodes.InvalidRequest, 'invalid request: "id" must be a string, a number or null');
  }
  const id = 'id' in o ? (o['id'] as RpcId) : null;
  if (o['jsonrpc'] !== '2.0') {
    return failure(id, RpcErrorCodes.InvalidRequest, 'invalid request: "jsonrpc" must be exactly "2.0"');
  }
  if (typeof o['method'] !== 'string') {
    return failure(id, RpcErrorCodes.InvalidRequest, 'invalid request: "method" must be a string');
  }
  const params = o['params'];
  if (params !== undefined && (typeof params !== 'object' || params === null)) {
    return failure(id, RpcErrorCodes.InvalidRequest, 'invalid request: "params" must be an object or an array when present');
  }
  return { id: 'id' in o ? id : undefined, method: o['method'], params };
}

function failure(id: RpcId, code: number, message: string, data?: unknown): RpcResponse {
  return { jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } };
}

/** `{ "name": "x" }` or `["x"]`. */
function nameParam(method: string, params: unknown): string {
  const name = Array.isArray(params) ? (params as unknown[])[0] : typeof params === 'object' && params !== null ? (params as Record<string, unknown>)['name'] : undefined;
  if (name === undefined) {
    throw new RpcFailure(RpcErrorCodes.InvalidParams, `${method} needs the server's name: params { "name": "my-server" } or ["my-server"]`);
  }
  if (typeof name !== 'string' || name === '') {
    throw new RpcFailure(RpcErrorCodes.InvalidParams, `${method}: "name" must be a non-empty string`);
  }
  return name;
}

/**
 * Answers JSON-RPC 2.0 bodies against the control actions. One handler per process: it holds the
 * LSP lifecycle (whether `shutdown` was received), whichever door a request came through.
 */
export class JsonRpcHandler {
  private shutdownPromise: Promise<void> | undefined;

  constructor(
    private readonly actions: ControlActions,
    private readonly log: Logger,
  ) {}

  /**
   * The response text for one HTTP body (undefined when nothing is to be answered: only
   * notifications), and the work to run once it is written (an `exit` request's process exit).
   * Never rejects.
   */
  async dispatch(body: string): Promise<RpcOutcome> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return { text: JSON.stringify(failure(null, RpcErrorCodes.ParseError, 'parse error: the body is not valid JSON')) };
    }
    const after: (() => void)[] = [];
    const outcome = (value: unknown): RpcOutcome => ({
      text: value === undefined ? undefined : JSON.stringify(value),
      ...(after.length > 0 ? { after: () => after.forEach((run) => run()) } : {}),
    });

    if (!Array.isArray(parsed)) return outcome(await this.one(parsed, after));
    if (parsed.length === 0) return outcome(failure(null, RpcErrorCodes.InvalidRequest, 'invalid request: an empty batch'));
    const responses: RpcResponse[] = [];
    // In order, so that a batch [shutdown, exit] means what it says.
    for (const message of parsed) {
      const response = await this.one(message, after);
      if (response) responses.push(response);
    }
    return outcome(responses.length > 0 ? responses : undefined);
  }

  private async one(message: unknown, after: (() => void)[]): Promise<RpcResponse | undefined> {
    const call = validate(message);
    if ('jsonrpc' in call) return call;
    const { id, method, params } = call;
    try {
      const result = await this.call(method, params, after);
      return id === undefined ? undefined : { jsonrpc: '2.0', id, result: result ?? null };
    } catch (error) {
      const wire = this.toWire(error, method);
      if (id === undefined) {
        this.log.warn({ method, code: wire.code }, 'JSON-RPC notification failed');
        return undefined;
      }
      return failure(id, wire.code, wire.message, wire.data);
    }
  }

  private toWire(error: unknown, method: string): RpcError {
    if (error instanceof RpcFailure) return { code: error.code, message: error.message, ...(error.data !== undefined ? { data: error.data } : {}) };
    if (error instanceof ActionError) {
      if (error.kind === 'conflict') return { code: RpcErrorCodes.Conflict, message: error.message, data: { kind: error.kind } };
      return { code: RpcErrorCodes.InvalidParams, message: error.message, data: { kind: error.kind } };
    }
    // A local failure: its stack and details stay in the log.
    this.log.error({ err: error, method }, 'JSON-RPC method failed');
    return { code: RpcErrorCodes.InternalError, message: `internal error in ${method}; see the orchestrator log` };
  }

  private async call(method: string, params: unknown, after: (() => void)[]): Promise<unknown> {
    if (!(RPC_METHODS as readonly string[]).includes(method)) {
      throw new RpcFailure(RpcErrorCodes.MethodNotFound, `method not found: ${method}; initialize lists the methods`);
    }
    const known = method as Method;
    if (this.shutdownPromise && known !== 'exit') {
      throw new RpcFailure(RpcErrorCodes.InvalidRequest, `the orchestrator is shut down; only "exit" is accepted now`);
    }
    switch (known) {
      case 'initialize':
        return {
          serverInfo: { name: 'mcp-orchestrator', version: this.actions.version },
          capabilities: { methods: [...RPC_METHODS] },
        };
      case 'shutdown':
        this.log.info('shutdown requested over JSON-RPC');
        // Single-flight: the flag is set before the first await, so a concurrent call sees it.
        this.shutdownPromise = this.actions.shutdown();
        await this.shutdownPromise;
        return null;
      case 'exit': {
        const shutDown = this.shutdownPromise !== undefined;
        // A shutdown still in progress finishes first, so the exit stays graceful.
        if (this.shutdownPromise) await this.shutdownPromise.catch(() => undefined);
        const code = shutDown ? 0 : 1;
        this.log.info({ code }, 'exit requested over JSON-RPC');
        // After the whole body is answered, request or notification alike.
        after.push(() => this.actions.exit(code));
        return null;
      }
      case 'servers/list':
        return this.actions.list();
      case 'servers/get':
        return this.actions.server(nameParam(method, params));
      case 'servers/start':
        return this.actions.start(nameParam(method, params));
      case 'servers/stop':
        return this.actions.stop(nameParam(method, params));
      case 'servers/restart':
        return this.actions.restart(nameParam(method, params));
      case 'config/get':
        return this.actions.config();
      case 'config/reload':
        return this.actions.reload();
    }
  }
}

/** Bodies larger than this are refused: control requests are tiny. */
const MAX_BODY_BYTES = 1024 * 1024;

async function answer(handler: JsonRpcHandler, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const outcome = await handler.dispatch(await readBody(req, MAX_BODY_BYTES));
  // 'close' also fires when the client hung up before reading the answer: the exit still happens.
  if (outcome.after) res.once('close', outcome.after);
  if (outcome.text === undefined) {
    res.writeHead(204, { 'cache-control': 'no-store' }).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(outcome.text);
}

/** `POST /rpc` on the main listener. */
export function jsonRpcRoutes(handler: JsonRpcHandler): Route[] {
  return [{ method: 'POST', path: /^\/rpc\/?$/, handle: ({ req, res }) => answer(handler, req, res) }];
}

export interface JsonRpcServerOptions {
  host: string;
  port: number;
  handler: JsonRpcHandler;
  access: AccessPolicy;
  log: Logger;
}

/**
 * A listener of its own that answers JSON-RPC on POST to any path, like the seed's server, under
 * the same access policy as `/rpc`.
 */
export function startJsonRpcServer(options: JsonRpcServerOptions): Promise<RunningHttpServer> {
  const { handler, access } = options;
  return startHttpServer({
    host: options.host,
    port: options.port,
    // No route here is public: every path of this listener is the control door.
    access,
    log: options.log,
    routes: [{ method: 'POST', path: /^\/.*$/, handle: ({ req, res }) => answer(handler, req, res) }],
  });
}
