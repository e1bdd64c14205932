/**
 * `mcp-orchestrator connect`: a stdio bridge to a running orchestrator's MCP endpoint, so a client
 * that only speaks stdio (`docker exec -i CONTAINER mcp-orchestrator connect`) reaches it.
 *
 * Newline-delimited JSON-RPC from stdin goes to the endpoint over Streamable HTTP; everything the
 * endpoint sends back (responses, the POST streams' notifications and requests, the standalone GET
 * stream) goes to stdout, one message per line. Both sides are the SDK's own transports, wired
 * message for message; the bridge only adds what a pipe cannot say by itself: an answer for a
 * request that could not be delivered, a parse error for a line that is not JSON, and the end of
 * the session when stdin ends.
 */
import { redactUrl } from '../runtime/redact.js';
import type { Readable, Writable } from 'node:stream';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  isInitializeRequest,
  isJSONRPCErrorResponse,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type JSONRPCMessage,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../log.js';
import { ErrorCodes } from './jsonrpc.js';
import {
  DELIVERY_ERROR_CODE,
  describeDeliveryFailure,
  displayUrl,
  errorLine,
  type DeliveryFailure,
} from './connect-errors.js';

export interface ConnectOptions {
  /** The full MCP endpoint URL: `http://HOST:PORT/mcp` or `http://HOST:PORT/servers/NAME/mcp`. */
  url: string;
  /** Bearer token for the orchestrator (MCP_ORCHESTRATOR_TOKEN); sent on every request when set. */
  token?: string;
  /** Where the client's messages come from; `process.stdin` by default. */
  stdin?: Readable;
  /** Where the bridge writes JSON-RPC and nothing else; `process.stdout` by default. */
  stdout?: Writable;
  /** Diagnostics; must not write to `stdout` (the CLI gives it a stderr logger). */
  log: Logger;
  /** Aborting ends the bridge like EOF, without waiting for outstanding answers. */
  signal?: AbortSignal;
  /** After stdin ends, how long to wait for answers still owed before ending the session. */
  drainMs?: number;
}

const DEFAULT_DRAIN_MS = 5_000;
/** Bound on the DELETE that ends the session, so a hung orchestrator cannot hold the exit. */
const TERMINATE_TIMEOUT_MS = 5_000;

/**
 * Relay MCP between `stdin`/`stdout` and the endpoint at `url` until stdin ends, the signal aborts,
 * or the orchestrator cannot be used at all.
 *
 * Resolves with the exit code: 0 after stdin EOF or an abort (the session is DELETEd first), 1 when
 * the connection could not be established (unreachable, 401, no such endpoint), even if stdin has
 * ended meanwhile, or the session was lost; 2 for a `url` that is not an http(s) URL. Never rejects. The caller should set
 * `process.exitCode` rather than call `process.exit()`, so the last stdout line is flushed.
 */
export async function runConnect(options: ConnectOptions): Promise<number> {
  const { log } = options;
  let endpoint: URL;
  try {
    endpoint = new URL(options.url);
    if (endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:') throw new TypeError(`unsupported protocol ${endpoint.protocol}`);
  } catch {
    log.error({ url: redactUrl(options.url) }, 'connect: the orchestrator URL must be an http(s) URL');
    return 2;
  }
  return new Bridge(endpoint, options).run();
}

type Ending = { kind: 'eof' } | { kind: 'abort' } | { kind: 'fatal'; code: number };

class Bridge {
  private readonly stdin: Readable;
  private readonly stdout: Writable;
  private readonly log: Logger;
  private readonly url: string;
  private readonly http: StreamableHTTPClientTransport;
  private readonly stdio: StdioServerTransport;
  /** Requests from the client still owed an answer, by id. */
  private readonly owed = new Set<RequestId>();
  /** Ids of the client's initialize requests, to learn the negotiated protocol version. */
  private readonly initializeIds = new Set<RequestId>();
  private readonly inflight = new Set<Promise<void>>();
  /** Errors already reported by a failed send, so `onerror` does not log them twice. */
  private readonly claimed = new WeakSet<object>();
  /** Later messages wait for an initialize to be delivered: they need the session id it returns. */
  private gate: Promise<void> = Promise.resolve();
  private established = false;
  private fatal: DeliveryFailure | undefined;
  private ending: Ending | undefined;
  private readonly done: Promise<number>;
  private finish!: (code: number) => void;

  constructor(
    endpoint: URL,
    private readonly options: ConnectOptions,
  ) {
    this.stdin = options.stdin ?? process.stdin;
    this.stdout = options.stdout ?? process.stdout;
    this.log = options.log;
    this.url = displayUrl(endpoint);
    this.http = new StreamableHTTPClientTransport(
      endpoint,
      options.token ? { requestInit: { headers: { authorization: `Bearer ${options.token}` } } } : undefined,
    );
    this.stdio = new StdioServerTransport(this.stdin, this.stdout);
    this.done = new Promise((resolve) => (this.finish = resolve));
  }

  async run(): Promise<number> {
    const { signal } = this.options;
    this.stdio.onmessage = (message) => this.fromClient(message);
    this.stdio.onerror = (error) => this.clientError(error);
    this.stdio.onclose = () => {
      // The transport closes itself only when a line outgrows its buffer; the stream is unusable then.
      if (!this.ending) void this.end({ kind: 'fatal', code: 1 }, 'connect: stdin closed by its transport');
    };
    this.http.onmessage = (message) => this.fromOrchestrator(message);
    this.http.onerror = (error) => this.orchestratorError(error);

    const onEof = (): void => void this.end({ kind: 'eof' });
    const onAbort = (): void => void this.end({ kind: 'abort' });
    const onStdoutError = (error: Error): void => {
      this.log.warn({ err: error.message }, 'connect: stdout failed; the client is gone');
      void this.end({ kind: 'abort' });
    };
    this.stdin.once('end', onEof);
    this.stdin.once('close', onEof);
    this.stdout.on('error', onStdoutError);
    signal?.addEventListener('abort', onAbort, { once: true });

    await this.http.start();
    await this.stdio.start();
    this.log.debug({ url: this.url }, 'connect: bridging stdio to the orchestrator');
    if (signal?.aborted) onAbort();
    if (this.stdin.readableEnded) onEof();

    const code = await this.done;
    this.stdin.off('end', onEof);
    this.stdin.off('close', onEof);
    this.stdout.off('error', onStdoutError);
    signal?.removeEventListener('abort', onAbort);
    return code;
  }

  private fromClient(message: JSONRPCMessage): void {
    if (this.ending && this.ending.kind !== 'eof') return;
    const request = isJSONRPCRequest(message) ? message : undefined;
    if (request) {
      this.owed.add(request.id);
      if (isInitializeRequest(request)) this.initializeIds.add(request.id);
    }
    const delivery = this.gate.then(() => this.deliver(message, request?.id));
    if (request && this.initializeIds.has(request.id)) this.gate = delivery;
    this.inflight.add(delivery);
    void delivery.finally(() => this.inflight.delete(delivery));
  }

  /** Send one message; never rejects: a failure becomes an answer on stdout and a log line. */
  private async deliver(message: JSONRPCMessage, id: RequestId | undefined): Promise<void> {
    if (this.fatal) {
      if (id !== undefined) this.answerFailure(id, this.fatal);
      return;
    }
    const hadSession = this.http.sessionId !== undefined;
    try {
      await this.http.send(message);
    } catch (error) {
      if (typeof error === 'object' && error !== null) this.claimed.add(error);
      this.deliveryFailed(error, id, hadSession);
      return;
    }
    if (!this.established) {
      this.established = true;
      this.log.info({ url: this.url }, 'connect: connected to the orchestrator');
      this.log.debug({ session: this.http.sessionId ?? null }, 'connect: session');
    }
  }

  private deliveryFailed(error: unknown, id: RequestId | undefined, hadSession: boolean): void {
    if (this.ending && this.ending.kind !== 'eof') return;
    const failure = describeDeliveryFailure(error, {
      url: this.url,
      hasToken: Boolean(this.options.token),
      hadSession,
      established: this.established,
    });
    this.log.error({ reason: failure.reason, status: failure.status, err: error instanceof Error ? error.message : String(error) }, failure.message);
    if (id !== undefined) this.answerFailure(id, failure);
    if (failure.fatal && !this.fatal) {
      this.fatal = failure;
      void this.end({ kind: 'fatal', code: 1 });
    }
  }

  private answerFailure(id: RequestId, failure: DeliveryFailure): void {
    if (!this.owed.delete(id)) return;
    const data: Record<string, unknown> = { reason: failure.reason };
    if (failure.status !== undefined) data.status = failure.status;
    this.write(errorLine(id, DELIVERY_ERROR_CODE, failure.message, data));
  }

  private fromOrchestrator(message: JSONRPCMessage): void {
    if (isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message)) {
      const id = message.id;
      if (id !== undefined) {
        this.owed.delete(id);
        // The SDK Client tells its transport the negotiated version; here the bridge is the client side.
        if (this.initializeIds.delete(id) && 'result' in message && typeof message.result.protocolVersion === 'string') {
          this.http.setProtocolVersion(message.result.protocolVersion);
        }
      }
    }
    if (this.ending && this.ending.kind !== 'eof') return;
    this.stdio.send(message).catch((error: unknown) => this.log.warn({ err: String(error) }, 'connect: could not write to stdout'));
  }

  /** A line on stdin that is not JSON-RPC, or the stream failing. */
  private clientError(error: Error): void {
    if (error instanceof SyntaxError) {
      this.log.warn({ err: error.message }, 'connect: skipped a stdin line that is not JSON');
      this.write(errorLine(null, ErrorCodes.ParseError, 'Parse error: the line is not JSON'));
    } else if (error.name === 'ZodError') {
      this.log.warn('connect: skipped a stdin line that is not a JSON-RPC message');
      this.write(errorLine(null, ErrorCodes.InvalidRequest, 'Invalid Request: the line is not a JSON-RPC 2.0 message'));
    } else {
      this.log.error({ err: error.message }, 'connect: stdin failed');
    }
  }

  /** Errors the HTTP transport reports besides a failed send: the GET stream, SSE reconnection. */
  private orchestratorError(error: Error): void {
    if (this.ending) return;
    // A failed send reports through onerror before it rejects; let the rejection claim it first.
    setImmediate(() => {
      if (this.ending || this.claimed.has(error)) return;
      this.log.warn({ err: error.message }, 'connect: the orchestrator stream failed');
    });
  }

  private write(line: string): void {
    if (this.stdout.writable) this.stdout.write(line);
  }

  /** End once: drain (EOF only), DELETE the session, close both transports, resolve the code. */
  private async end(ending: Ending, why?: string): Promise<void> {
    if (this.ending) return;
    this.ending = ending;
    if (why) this.log.error(why);
    if (ending.kind === 'eof') await this.drain();
    // Queued messages behind a fatal failure answer at once; let them write before the end.
    else await Promise.allSettled([...this.inflight]);
    if (this.http.sessionId !== undefined) {
      try {
        await withTimeout(this.http.terminateSession(), TERMINATE_TIMEOUT_MS);
        this.log.debug('connect: session ended');
      } catch (error) {
        this.log.warn({ err: error instanceof Error ? error.message : String(error) }, 'connect: could not end the session');
      }
    }
    await Promise.allSettled([this.http.close(), this.stdio.close()]);
    // A fatal failure while draining after EOF still means the connection never worked.
    this.finish(ending.kind === 'fatal' ? ending.code : this.fatal ? 1 : 0);
  }

  /** After EOF: let queued messages go out and owed answers come back, within `drainMs`. */
  private async drain(): Promise<void> {
    const deadline = Date.now() + (this.options.drainMs ?? DEFAULT_DRAIN_MS);
    while ((this.inflight.size > 0 || this.owed.size > 0) && !this.fatal && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (this.owed.size > 0) this.log.warn({ owed: this.owed.size }, 'connect: stdin ended with answers still owed');
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
