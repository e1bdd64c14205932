/**
 * The control API: `/api/servers` with manual start/stop/restart, `/api/config`, `/api/reload`,
 * and two SSE streams, `/api/events` (resumable with Last-Event-ID) and a server's logs.
 */
import type { IncomingMessage } from 'node:http';
import type { Logger } from '../log.js';
import type { LogBook } from '../runtime/logbook.js';
import type { ServerStatus } from '../reconcile/status.js';
import { ActionError, type ControlActions } from './actions.js';
import type { EventLog } from './events.js';
import { HttpError, sendJson, type Route } from './http.js';
import { openSse } from './sse.js';
import { NAME_SEGMENT } from '../config/names.js';

export interface ApiOptions {
  actions: ControlActions;
  events: EventLog;
  logBook: LogBook;
  /** How many tools a server serves through the gateway now (null when it serves none). */
  toolCount: (name: string) => number | null;
  /** Resolves once the controller has acted on what was asked (its reconcile loop is idle). */
  settled: () => Promise<void>;
  log: Logger;
}

const STATUS_OF: Record<ActionError['kind'], number> = { 'not-found': 404, conflict: 409, 'bad-request': 400 };

/** Run an action, turning its refusal into the matching HTTP error. */
function act<T>(action: () => T): T {
  try {
    return action();
  } catch (error) {
    if (error instanceof ActionError) throw new HttpError(STATUS_OF[error.kind], error.message);
    throw error;
  }
}

/** A count or an id given as text: digits only (no sign, no exponent, not empty), else a 400 naming it. */
function wholeNumber(raw: string, name: string, meaning = ''): number {
  if (!/^\d+$/.test(raw)) throw new HttpError(400, `${name} must be a whole number ≥ 0${meaning}, got "${raw}"`);
  return Number(raw);
}

function intParam(url: URL, name: string, fallback: number, max: number): number {
  const raw = url.searchParams.get(name);
  return raw === null ? fallback : Math.min(wholeNumber(raw, name), max);
}

/**
 * Where a stream resumes: the `Last-Event-ID` a reconnecting EventSource sends, else `?since=`;
 * `seen` says what the number counts, for the message when it is not one.
 */
function lastEventId(req: IncomingMessage, url: URL, seen: string): number | undefined {
  // Node joins a repeated header with ", " for all but a few; typed as possibly an array all the same.
  const sent = req.headers['last-event-id'];
  const header = Array.isArray(sent) ? sent.join(',') : sent;
  const raw = header ?? url.searchParams.get('since') ?? undefined;
  return raw === undefined ? undefined : wholeNumber(raw, header === undefined ? 'since' : 'Last-Event-ID', ` (${seen})`);
}

export function apiRoutes(options: ApiOptions): Route[] {
  const { actions, events, logBook, log } = options;
  const dropped = (stream: string) => (bufferedBytes: number) =>
    log.warn({ stream, bufferedBytes }, 'dropped a stream reader that stopped reading; it may reconnect and resume');
  const withTools = (status: ServerStatus) => ({ ...status, tools: options.toolCount(status.name) });

  const action = (name: 'start' | 'stop' | 'restart'): Route => ({
    method: 'POST',
    path: new RegExp(`^/api/servers/${NAME_SEGMENT}/${name}$`),
    handle: async ({ res, params }) => {
      const server = params.name ?? '';
      act(() => actions[name](server));
      // Answer with the state the action led to, not the one it found.
      await options.settled();
      sendJson(res, 200, withTools(actions.server(server)));
    },
  });

  return [
    {
      method: 'GET',
      path: /^\/api\/servers\/?$/,
      handle: ({ res }) => {
        const status = actions.list();
        sendJson(res, 200, { ...status, servers: status.servers.map(withTools) });
      },
    },
    {
      method: 'GET',
      path: new RegExp(`^/api/servers/${NAME_SEGMENT}$`),
      handle: ({ res, params }) => sendJson(res, 200, withTools(act(() => actions.server(params.name ?? '')))),
    },
    action('start'),
    action('stop'),
    action('restart'),
    {
      method: 'GET',
      path: /^\/api\/config$/,
      handle: ({ res }) => {
        const config = actions.config();
        if (!config) throw new HttpError(409, 'no config has been accepted yet; see configError in GET /api/servers');
        sendJson(res, 200, config);
      },
    },
    {
      method: 'POST',
      path: /^\/api\/reload$/,
      handle: async ({ res }) => sendJson(res, 200, await actions.reload()),
    },
    {
      method: 'GET',
      path: /^\/api\/events$/,
      handle: ({ req, res, url }) => {
        const after = lastEventId(req, url, 'the id of the last event seen');
        const stream = openSse(res, { onDrop: dropped('events') });
        // Replay what the client missed (or, on a first connect, nothing), then go live.
        const backlog = after === undefined ? [] : events.since(after);
        for (const stored of backlog) stream.send(stored.event, { id: stored.id, event: stored.event.type });
        const unsubscribe = events.subscribe((stored) => stream.send(stored.event, { id: stored.id, event: stored.event.type }));
        stream.onClose(unsubscribe);
      },
    },
    {
      method: 'GET',
      path: new RegExp(`^/api/servers/${NAME_SEGMENT}/logs$`),
      handle: ({ req, res, url, params }) => {
        const name = params.name ?? '';
        act(() => actions.server(name));
        const tail = intParam(url, 'tail', 100, 10_000);
        const follow = ['1', 'true', 'yes'].includes(url.searchParams.get('follow') ?? '');
        const buffer = logBook.for(name);
        const after = lastEventId(req, url, 'the seq of the last line seen');
        const backlog = after === undefined ? (tail === 0 ? [] : buffer.tail(tail)) : buffer.since(after);
        if (!follow) {
          sendJson(res, 200, { server: name, lines: backlog });
          return;
        }
        const stream = openSse(res, { onDrop: dropped(`logs of ${name}`) });
        for (const line of backlog) stream.send(line, { id: line.seq, event: 'line' });
        const unsubscribe = logBook.follow(name, (line) => stream.send(line, { id: line.seq, event: 'line' }));
        stream.onClose(unsubscribe);
      },
    },
  ];
}
