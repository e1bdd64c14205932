/** Server-sent events with a bound on what a slow reader can make us hold. */
import type { ServerResponse } from 'node:http';

/** A client that lets more than this pile up unread is dropped rather than allowed to grow memory. */
export const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024;
const KEEPALIVE_MS = 20_000;

export interface SseStream {
  /** False once the client is gone or was dropped for reading too slowly. */
  send(data: unknown, options?: { id?: number; event?: string }): boolean;
  readonly closed: boolean;
  onClose(listener: () => void): void;
  close(): void;
}

export interface SseOptions {
  maxBufferedBytes?: number;
  /** Told when the reader is dropped for letting too much pile up. */
  onDrop?: (bufferedBytes: number) => void;
}

export function openSse(res: ServerResponse, options: SseOptions = {}): SseStream {
  const maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no' });
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
  const keepalive = setInterval(() => {
    if (!closed) res.write(': keepalive\n\n');
  }, KEEPALIVE_MS);
  keepalive.unref();
  res.once('close', close);
  return {
    send(data, meta = {}) {
      if (closed) return false;
      if (res.writableLength > maxBufferedBytes) {
        // The reader is not keeping up: drop it; it can reconnect and resume with Last-Event-ID.
        options.onDrop?.(res.writableLength);
        res.destroy();
        close();
        return false;
      }
      let frame = '';
      if (meta.id !== undefined) frame += `id: ${meta.id}\n`;
      if (meta.event) frame += `event: ${meta.event}\n`;
      frame += `data: ${JSON.stringify(data)}\n\n`;
      res.write(frame);
      return true;
    },
    get closed() {
      return closed;
    },
    onClose(listener) {
      listeners.push(listener);
    },
    close,
  };
}
