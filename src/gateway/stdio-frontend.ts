/**
 * The gateway on a pair of streams, one JSON-RPC message per line: `run --stdio` serves the
 * aggregate on the process's own stdin/stdout, so `docker run -i IMAGE run --stdio` is a stdio MCP
 * server for any client. Nothing but JSON-RPC is written to `output`.
 */
import type { Readable, Writable } from 'node:stream';
import { LineReader, MAX_LINE_BYTES } from '../runtime/lines.js';
import { LineWriter } from './lines.js';
import type { Gateway } from './gateway.js';
import type { Reply } from './session.js';
import { ErrorCodes, failure, isMessage, isRequest, RawResponse, serialize, type Answer, type Message, type Notification, type Response } from './jsonrpc.js';

export interface StdioFrontendOptions {
  input: Readable;
  output: Writable;
}

/** Serve one session until `input` ends; resolves then (the client has gone). */
export function serveStdio(gateway: Gateway, options: StdioFrontendOptions): Promise<void> {
  const { input, output } = options;
  const writer = new LineWriter(output);
  const write = (message: Message | Answer | Answer[]) =>
    message instanceof RawResponse ? writer.writePieces(message.pieces, message.approxBytes) : writer.write(serialize(message));
  const session = gateway.createSession({ send: write });

  /** Hand one message to the session; `reply` is told the response a request gets (never for the rest). */
  const handle = (message: Message, reply: Reply) => {
    if (isRequest(message)) session.request(message, reply);
    else session.accept(message as Notification | Response);
  };
  const writeReply: Reply = (response) => {
    if (response) write(response);
  };

  const onLine = (line: string) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      if (line.trim() !== '') write(failure(null, ErrorCodes.ParseError, 'not valid JSON'));
      return;
    }
    if (Array.isArray(parsed)) {
      if (parsed.length === 0 || !parsed.every(isMessage)) {
        write(failure(null, ErrorCodes.InvalidRequest, 'a batch must be a non-empty array of JSON-RPC 2.0 messages'));
        return;
      }
      handleBatch(parsed);
      return;
    }
    if (!isMessage(parsed)) {
      write(failure(null, ErrorCodes.InvalidRequest, 'not a JSON-RPC 2.0 message'));
      return;
    }
    handle(parsed, writeReply);
  };

  /** A batch's responses go out together, in one array, once every request in it is answered. */
  const handleBatch = (batch: Message[]) => {
    const answered: Answer[] = [];
    let remaining = batch.filter(isRequest).length;
    for (const message of batch) {
      handle(message, (response) => {
        if (response) answered.push(response);
        if (--remaining === 0 && answered.length > 0) write(answered);
      });
    }
  };

  const reader = new LineReader(
    (line) => onLine(line.toString('utf8')),
    ({ bytes }) => write(failure(null, ErrorCodes.InvalidRequest, `a message of ${bytes} bytes, over the ${MAX_LINE_BYTES}-byte limit, was dropped`)),
  );
  return new Promise((resolve) => {
    input.on('data', (chunk: Buffer) => reader.push(chunk));
    let finished = false;
    // 'end' and then 'close' both come when the client goes; the session ends once.
    const finish = () => {
      if (finished) return;
      finished = true;
      reader.end();
      gateway.endSession(session);
      resolve();
    };
    input.once('end', finish);
    input.once('close', finish);
  });
}
