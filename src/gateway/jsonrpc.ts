/** JSON-RPC 2.0 shapes as they cross the gateway, checked cheaply (no schema parse on the hot path). */

export type Id = string | number;

export interface Request {
  jsonrpc: '2.0';
  id: Id;
  method: string;
  params?: Record<string, unknown> & { _meta?: Record<string, unknown> };
}
export interface Notification {
  jsonrpc: '2.0';
  method: string;
  params?: Record<string, unknown>;
}
export interface ErrorObject {
  code: number;
  message: string;
  data?: unknown;
}
export interface Response {
  jsonrpc: '2.0';
  id: Id | null;
  result?: Record<string, unknown>;
  error?: ErrorObject;
}
export type Message = Request | Notification | Response;

/** JSON-RPC 2.0 and MCP error codes. */
export const ErrorCodes = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** Ours: the server that owns the tool/prompt/resource is not ready. */
  ServerUnavailable: -32001,
  /** Ours: the server went away while the call was in flight (not -32002, which MCP gives resources). */
  ServerGone: -32003,
  /** MCP: a resource URI that no server owns. */
  ResourceNotFound: -32002,
  /** The client cancelled the call (the number LSP uses); never sent to the client. */
  RequestCancelled: -32800,
} as const;

export function isRequest(m: unknown): m is Request {
  const o = m as Partial<Request> | null;
  return typeof o === 'object' && o !== null && typeof o.method === 'string' && (typeof o.id === 'string' || typeof o.id === 'number');
}
function isNotification(m: unknown): m is Notification {
  const o = m as Partial<Request> | null;
  return typeof o === 'object' && o !== null && typeof o.method === 'string' && o.id === undefined;
}
export function isResponse(m: unknown): m is Response {
  const o = m as Partial<Response> | null;
  return typeof o === 'object' && o !== null && (o.result !== undefined || o.error !== undefined) && 'id' in o && !('method' in o);
}
/** A well-formed JSON-RPC 2.0 message of any kind. */
export function isMessage(m: unknown): m is Message {
  return typeof m === 'object' && m !== null && (m as { jsonrpc?: unknown }).jsonrpc === '2.0' && (isRequest(m) || isNotification(m) || isResponse(m));
}

export function result(id: Id | null, value: Record<string, unknown>): Response {
  return { jsonrpc: '2.0', id, result: value };
}
export function failure(id: Id | null, code: number, message: string, data?: unknown): Response {
  return { jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } };
}

/**
 * A server's answer as it was read, with only its id changed: it crosses the gateway without being
 * decoded, parsed or serialised again, however large its result. Its JSON text is `head`, `id`
 * (the client's id as JSON), then `tail`.
 */
export class RawResponse {
  constructor(
    readonly head: string | Buffer,
    readonly id: string,
    readonly tail: string | Buffer,
    /** False for a JSON-RPC error. */
    readonly ok: boolean,
  ) {}

  /** Its size: bytes, but characters for the parts held as text (close enough to choose a path). */
  get approxBytes(): number {
    return this.head.length + this.id.length + this.tail.length;
  }

  /** The pieces of its JSON text, in order. */
  get pieces(): [string | Buffer, string, string | Buffer] {
    return [this.head, this.id, this.tail];
  }

  /** Its JSON text as one buffer. */
  bytes(): Buffer {
    return Buffer.concat(this.pieces.map((piece) => (typeof piece === 'string' ? Buffer.from(piece) : piece)));
  }

  /** Its JSON text. */
  get json(): string {
    return this.pieces.map((piece) => (typeof piece === 'string' ? piece : piece.toString('utf8'))).join('');
  }
}

/** What a client is sent in answer to a request. */
export type Answer = Response | RawResponse;

/** The JSON text of a message, of a raw answer, or of a batch mixing them. */
export function serialize(message: Message | Answer | (Message | Answer)[]): string {
  if (message instanceof RawResponse) return message.json;
  if (Array.isArray(message) && message.some((m) => m instanceof RawResponse)) return `[${message.map((m) => serialize(m)).join(',')}]`;
  return JSON.stringify(message);
}
