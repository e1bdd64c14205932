// Server-sent events read with fetch: EventSource cannot send an Authorization header, so this
// reads the response body as a stream and parses it as the HTML spec's event-stream format.
/* global fetch, setTimeout, clearTimeout, AbortController, TextDecoder */

/**
 * Incremental event-stream parser. Feed it decoded text in any chunking with `push`; it calls
 * `onEvent({ id, event, data })` once per complete event (a block ended by a blank line that had at
 * least one `data:` line). `lastEventId` follows the spec: it persists across events and is set by
 * any `id:` line without a NUL, even one in a block without data.
 */
export class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = '';
    this.data = [];
    this.event = '';
    this.lastEventId = null;
    this.retry = null;
  }

  push(text) {
    this.buffer += text;
    let start = 0;
    for (;;) {
      const cr = this.buffer.indexOf('\r', start);
      const lf = this.buffer.indexOf('\n', start);
      if (cr === -1 && lf === -1) break;
      let end;
      let next;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        // A lone CR at the very end may be the first half of CRLF: wait for the next chunk.
        if (cr === this.buffer.length - 1) break;
        end = cr;
        next = this.buffer[cr + 1] === '\n' ? cr + 2 : cr + 1;
      } else {
        end = lf;
        next = lf + 1;
      }
      this.line(this.buffer.slice(start, end));
      start = next;
    }
    this.buffer = this.buffer.slice(start);
  }

  line(line) {
    if (line === '') {
      if (this.data.length > 0) {
        this.onEvent({ id: this.lastEventId, event: this.event || 'message', data: this.data.join('\n') });
      }
      this.data = [];
      this.event = '';
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.data.push(value);
        break;
      case 'event':
        this.event = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break;
    }
  }
}

/** An HTTP answer that reconnecting will not fix (404: the server left the config, 403). */
export class StreamRefused extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });

/**
 * Follow an event stream until `close()`: reconnects after a drop or an idle connection with a
 * bounded, jittered backoff (minDelayMs doubling to maxDelayMs, reset once a connection opens),
 * sending `Last-Event-ID` so the server resumes after the last event seen.
 *
 * options:
 *   headers(): extra request headers, read on every attempt (the token may change);
 *   onEvent({ id, event, data }): each event;
 *   onState(state, detail): 'connecting' | 'open' | 'reconnecting' (detail: delay ms) | 'refused'
 *     (detail: message) | 'closed';
 *   onUnauthorized(): called on 401; resolves when a new token is available, then it reconnects;
 *   lastEventId: where to resume from;
 *   idleTimeoutMs: reconnect when nothing (not even a keepalive) arrived for this long.
 */
export function followEventStream(url, options) {
  const { onEvent, onState = () => {}, headers = () => ({}), onUnauthorized } = options;
  const minDelayMs = options.minDelayMs ?? 500;
  const maxDelayMs = options.maxDelayMs ?? 15_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  const stopped = new AbortController();
  let lastEventId = options.lastEventId ?? null;
  let current = null;

  const run = async () => {
    let attempt = 0;
    let refused = false;
    while (!stopped.signal.aborted) {
      const attemptAbort = new AbortController();
      current = attemptAbort;
      let idle = null;
      const touch = () => {
        clearTimeout(idle);
        idle = setTimeout(() => attemptAbort.abort(), idleTimeoutMs);
      };
      try {
        onState('connecting');
        const requestHeaders = { accept: 'text/event-stream', ...headers() };
        if (lastEventId !== null) requestHeaders['last-event-id'] = lastEventId;
        touch();
        const response = await fetch(url, { headers: requestHeaders, cache: 'no-store', signal: attemptAbort.signal });
        if (response.status === 401 && onUnauthorized) {
          clearTimeout(idle);
          await onUnauthorized();
          continue;
        }
        if (!response.ok || !response.body) {
          let message = `HTTP ${response.status}`;
          try {
            const body = await response.json();
            if (body && body.error && typeof body.error.message === 'string') message = body.error.message;
          } catch {
            // Not JSON; the status says enough.
          }
          if (response.status === 404 || response.status === 403 || response.status === 400) throw new StreamRefused(response.status, message);
          throw new Error(message);
        }
        onState('open');
        attempt = 0;
        const parser = new SseParser((event) => {
          if (event.id !== null) lastEventId = event.id;
          onEvent(event);
        });
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          touch();
          parser.push(decoder.decode(value, { stream: true }));
          if (parser.lastEventId !== null) lastEventId = parser.lastEventId;
        }
      } catch (error) {
        if (stopped.signal.aborted) break;
        if (error instanceof StreamRefused) {
          refused = true;
          onState('refused', error.message);
          break;
        }
      } finally {
        clearTimeout(idle);
      }
      if (stopped.signal.aborted) break;
      const base = Math.min(maxDelayMs, minDelayMs * 2 ** attempt);
      const delay = Math.round(base * (0.8 + Math.random() * 0.4));
      attempt = Math.min(attempt + 1, 16);
      onState('reconnecting', delay);
      await sleep(delay, stopped.signal);
    }
    if (!refused) onState('closed');
  };
  const done = run();

  return {
    get lastEventId() {
      return lastEventId;
    },
    /** Stop for good; resolves when the loop has ended. */
    close() {
      stopped.abort();
      current?.abort();
      return done;
    },
  };
}
