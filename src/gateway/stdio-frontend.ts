/**
 * The gateway on a pair of streams, one JSON-RPC message per line: `run --stdio` serves the
 * aggregate on the process's own stdin/stdout, so `docker run -i IMAGE run --stdio` is a stdio MCP
 * server for any client. Nothing but JSON-RPC is written to `output`.
 */
import type { Readable, Writable } from 'node:stream';
import type { Logger } from '../log.js';
import { coalesceWrites } from './child-transport.js';
import type { Gateway } from './gateway.js';
import { ErrorCodes, failure, isMessage, isRequest, type Message, type Notification, type Response } from './jsonrpc.js';

export interface StdioFrontendOptions {
  input: Readable;
  output: Writable;
  log: Logger;
}

/** Serve one session until `input` ends; resolves then (the client has gone). */
export function serveStdio(gateway: Gateway, options: StdioFrontendOptions): Promise<void> {
  const { input, output, log } = options;
  const write = (message: Message | Message[]) => {
    if (output.writableEnded) return;
    coalesceWrites(output);
    output.write(`${JSON.stringify(message)}\n`);
  };
  const session = gateway.createSession({
    send: (message) => {
      write(message);
      return !output.writableEnded;
    },
  });

  const handle = async (message: Message): Promise<Response | undefined> => {
    if (isRequest(message)) {
      try {
        return await session.request(message);
      } catch (error) {
        log.error({ err: error, method: message.method }, 'gateway request failed');
        return failure(message.id, ErrorCodes.InternalError, 'internal error in the gateway; see the orchestrator log');
      }
    }
    session.accept(message as Notification | Response);
    return undefined;
  };

  const onLine = (line: string) => {
    if (line.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      write(failure(null, ErrorCodes.ParseError, 'not valid JSON'));
      return;
    }
    if (Array.isArray(parsed)) {
      if (parsed.length === 0 || !parsed.every(isMessage)) {
        write(failure(null, ErrorCodes.InvalidRequest, 'a batch must be a non-empty array of JSON-RPC 2.0 messages'));
        return;
      }
      void Promise.all(parsed.map(handle)).then((responses) => {
        const answered = responses.filter((r): r is Response => r !== undefined);
        if (answered.length > 0) write(answered);
      });
      return;
    }
    if (!isMessage(parsed)) {
      write(failure(null, ErrorCodes.InvalidRequest, 'not a JSON-RPC 2.0 message'));
      return;
    }
    void handle(parsed).then((response) => response && write(response));
  };

  return new Promise((resolve) => {
    let buffer = '';
    input.setEncoding('utf8');
    input.on('data', (chunk: string) => {
      buffer += chunk;
      let newline = buffer.indexOf('\n');
      while (newline !== -1) {
        onLine(buffer.slice(0, newline));
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf('\n');
      }
    });
    const finish = () => {
      if (buffer.trim() !== '') onLine(buffer);
      buffer = '';
      gateway.endSession(session);
      resolve();
    };
    input.once('end', finish);
    input.once('close', finish);
  });
}
