/**
 * Pure helpers of the `connect` bridge: what a failed delivery to the orchestrator means, and the
 * JSON-RPC error lines the bridge writes in place of the answers it could not get.
 */
import { failure } from './jsonrpc.js';

/** Why a message could not be delivered to the orchestrator. */
export type DeliveryFailureReason = 'unreachable' | 'unauthorized' | 'forbidden' | 'not-found' | 'session-lost' | 'http-error';

export interface DeliveryFailure {
  reason: DeliveryFailureReason;
  /** HTTP status when the orchestrator answered at all. */
  status?: number;
  /** One sentence for a person: logged on stderr and sent as the JSON-RPC error message. */
  message: string;
  /** True when nothing further can work: the bridge answers what is queued and ends with 1. */
  fatal: boolean;
}

export interface FailureContext {
  /** The endpoint as shown to a person (no credentials, no query). */
  url: string;
  /** A token was sent (so a 401 means a wrong one rather than a missing one). */
  hasToken: boolean;
  /** The transport held a session id when the message was sent. */
  hadSession: boolean;
  /** Some message has been delivered before: the orchestrator was reachable once. */
  established: boolean;
}

/** Server-defined JSON-RPC code for "the bridge could not deliver this"; the SDK's ConnectionClosed. */
export const DELIVERY_ERROR_CODE = -32000;

/** The HTTP status of an SDK `StreamableHTTPError` (`code`), or undefined for a network failure. */
function httpStatus(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' && code >= 100 && code <= 599 ? code : undefined;
}

/**
 * The `error.message` of a JSON-RPC body the orchestrator sent with an HTTP error, when the SDK kept
 * it (it words these "Streamable HTTP error: Error POSTing to endpoint: BODY").
 */
function bodyMessage(error: unknown): string | undefined {
  const text = error instanceof Error ? error.message : '';
  const at = text.indexOf('endpoint: ');
  if (at === -1) return undefined;
  try {
    const body = JSON.parse(text.slice(at + 'endpoint: '.length)) as { error?: { message?: unknown } };
    return typeof body.error?.message === 'string' ? body.error.message : undefined;
  } catch {
    return undefined;
  }
}

/** Classify an error thrown by `StreamableHTTPClientTransport.send`. */
export function describeDeliveryFailure(error: unknown, context: FailureContext): DeliveryFailure {
  const { url } = context;
  const status = httpStatus(error);
  if (status === undefined) {
    return { reason: 'unreachable', message: `cannot reach the orchestrator at ${url}: is it running?`, fatal: !context.established };
  }
  if (status === 401) {
    const message = context.hasToken
      ? `the orchestrator at ${url} rejected the token (401): check MCP_ORCHESTRATOR_TOKEN, or the config's token`
      : `the orchestrator at ${url} requires a token (401): set MCP_ORCHESTRATOR_TOKEN`;
    return { reason: 'unauthorized', status, message, fatal: true };
  }
  if (status === 403) {
    const detail = bodyMessage(error);
    return { reason: 'forbidden', status, message: `the orchestrator at ${url} refused the request (403)${detail ? `: ${detail}` : ''}`, fatal: !context.established };
  }
  if (status === 404 && context.hadSession) {
    return { reason: 'session-lost', status, message: `the orchestrator at ${url} no longer knows this session (did it restart?): reconnect the client`, fatal: true };
  }
  if (status === 404) {
    const detail = bodyMessage(error);
    return { reason: 'not-found', status, message: `no MCP endpoint at ${url} (404${detail ? `: ${detail}` : ''}): check --url and --server`, fatal: !context.established };
  }
  const detail = bodyMessage(error);
  return { reason: 'http-error', status, message: `the orchestrator at ${url} answered HTTP ${status}${detail ? `: ${detail}` : ''}`, fatal: false };
}

/** The URL as it may be shown: origin and path, without user info or query. */
export function displayUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/** A JSON-RPC error response line; `id` null when the request's id is unknown (parse errors). */
export function errorLine(id: string | number | null, code: number, message: string, data?: Record<string, unknown>): string {
  return `${JSON.stringify(failure(id, code, message, data))}\n`;
}
