/**
 * Server-sent events with a bound on what a slow reader can make us hold. One mechanism for every
 * stream the listener serves: the API's events and logs, and the MCP gateway's streams.
 */
import type { ServerResponse } from 'node:http';

/** A client that lets more than this pile up unread is dropped rather than allowed to grow memory. */
const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024;
const KEEPALIVE_MS = 20_000;

export const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
};

export interface FrameMeta {
  id?: number;
  event?: string;
}

/** One SSE frame carrying `data` as JSON (which never holds a raw newline). */
function sseFrame(data: unknown, meta: FrameMeta = {}): string {
  return sseFrameOf(JSON.stringify(data), meta);
}

/** The same for data already in JSON text (one line: JSON text has no raw newline). */
export function sseFrameOf(json: string, meta: FrameMeta = {}): string {
  let frame = '';
  if (meta.id !== undefined) frame += `id: ${meta.id}\n`;
  if (meta.event) frame += `event: ${meta.event}\n`;
  return `${frame}data: ${json}\n\n`;
}

/**
 * Write `frame` unless the reader has stopped reading: past `maxBufferedBytes` unread, the response
 * is destroyed (the reader may reconnect and resume) and false returned, as for a closed one.
 */
export function writeBounded(res: ServerResponse, frame: string, maxBufferedBytes = DEFAULT_MAX_BUFFERED_BYTES, onDrop?: (bufferedBytes: number) => void): boolean {
  if (res.writableEnded || res.destroyed) return false;
  if (res.writableLength > maxBufferedBytes) {
    onDrop?.(res.writableLength);
    res.destroy();
    return false;
  }
  res.write(frame);
  return true;
}

export interface SseStream {
  /** False once the client is gone or was dropped for reading too slowly. */
  send(data: unknown, meta?: FrameMeta): boolean;
  readonly closed: boolean;
  onClose(listener: () => void): void;
  close(): void;
}

export interface SseOptions {
  maxBufferedBytes?: number;
  /** Told when the reader is dropped for letting too much pile up. */
  onDrop?: (bufferedBytes: number) => void;
}

/** Answer `res` with an event stream, kept alive with comments until either side closes it. */
export function openSse(res: ServerResponse, options: SseOptions = {}): SseStream {
  res.writeHead(200, SSE_HEADERS);
  res.flushHeaders();
  let closed = false;
  const listeners: (() => void)[] = [];
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(keepalive);
    res.end();
    for (const listener of listeners) listener();
  };
  const write = (frame: string) => writeBounded(res, frame, options.maxBufferedBytes, options.onDrop) || (close(), false);
  const keepalive = setInterval(() => write(': keepalive\n\n'), KEEPALIVE_MS);
  keepalive.unref();
  res.once('close', close);
  return {
    send: (data, meta) => !closed && write(sseFrame(data, meta)),
    get closed() {
      return closed;
    },
    onClose(listener) {
      listeners.push(listener);
    },
    close,
  };
}
