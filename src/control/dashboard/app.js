// The dashboard: one card per server, live through /api/events, a log pane per server, the
// redacted config. Plain ES module, no build step. Every value from the orchestrator reaches the
// page as text (textContent, text nodes, attribute values); no HTML is ever parsed from data.
/* global document, window, fetch, sessionStorage, setTimeout, clearTimeout, setInterval */
import { followEventStream } from './sse.js';

const TOKEN_KEY = 'mcp-orchestrator.token';
const MAX_EVENTS = 200;
const MAX_LOG_LINES = 2000;
const REFRESH_DEBOUNCE_MS = 150;
const STATES = ['pending', 'cloning', 'installing', 'starting', 'running', 'backoff', 'stopping', 'stopped', 'failed'];

// ---------------------------------------------------------------------------------------------
// DOM helpers

/**
 * `el('button', { class: 'x', 'aria-label': label, onclick }, 'text', child)`. String children become
 * text nodes; props are set as attributes (never `innerHTML`), `on*` keys as listeners.
 */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = String(value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof window.Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const $ = (id) => document.getElementById(id);

function setText(node, text) {
  const value = text === null || text === undefined ? '' : String(text);
  if (node.textContent !== value) node.textContent = value;
}

function formatDuration(ms) {
  if (!Number.isFinite(ms) || ms < 0) ms = 0;
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m ${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}

function formatTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

/** An SSE message's data as an object; undefined when it is not JSON or not an object. */
function parseObject(text) {
  try {
    const value = JSON.parse(text);
    return value && typeof value === 'object' ? value : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Toasts: one polite live region; errors stay until dismissed or replaced.

function toast(message, kind = 'info') {
  const region = $('toasts');
  const close = el('button', { class: 'toast-close', type: 'button', 'aria-label': 'Dismiss' }, '×');
  const item = el('div', { class: `toast toast-${kind}` }, el('span', { class: 'toast-text' }, message), close);
  const remove = () => item.remove();
  close.addEventListener('click', remove);
  region.append(item);
  while (region.children.length > 4) region.firstElementChild.remove();
  setTimeout(remove, kind === 'error' ? 12_000 : 5_000);
}

// ---------------------------------------------------------------------------------------------
// Token: asked for once per tab on the first 401, kept in sessionStorage, sent on every request.

let token = sessionStorage.getItem(TOKEN_KEY);
let tokenPrompt = null;

function authHeaders() {
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** Resolves once the user has entered a token; concurrent callers share one form. */
function requestToken() {
  if (tokenPrompt) return tokenPrompt;
  const dialog = $('token-dialog');
  const form = $('token-form');
  const input = $('token-input');
  setText($('token-error'), token ? 'That token was not accepted. Try again.' : '');
  input.value = '';
  tokenPrompt = new Promise((resolve) => {
    const onSubmit = (event) => {
      event.preventDefault();
      const value = input.value.trim();
      if (!value) return;
      token = value;
      sessionStorage.setItem(TOKEN_KEY, value);
      form.removeEventListener('submit', onSubmit);
      dialog.close();
      tokenPrompt = null;
      resolve();
    };
    form.addEventListener('submit', onSubmit);
  });
  dialog.showModal();
  input.focus();
  return tokenPrompt;
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** JSON API call on the same origin; a 401 asks for the token and retries. */
async function api(path, { method = 'GET' } = {}) {
  for (;;) {
    let response;
    try {
      response = await fetch(path, { method, headers: { accept: 'application/json', ...authHeaders() }, cache: 'no-store' });
    } catch {
      throw new ApiError(0, 'cannot reach the orchestrator');
    }
    if (response.status === 401) {
      await requestToken();
      continue;
    }
    let body = null;
    try {
      body = await response.json();
    } catch {
      // Not JSON: the status line below says what happened.
    }
    if (!response.ok) {
      const message = body && body.error && typeof body.error.message === 'string' ? body.error.message : `HTTP ${response.status} from ${path}`;
      throw new ApiError(response.status, message);
    }
    return body;
  }
}

// ---------------------------------------------------------------------------------------------
// Header and config error

let status = null;

function renderHeader() {
  if (!status) return;
  setText($('config-file'), status.configFile ?? '(none)');
  $('config-file').title = status.configFile ?? '';
  setText($('generation'), String(status.generation));
  setText($('observed'), String(status.observedGeneration));
  $('observed-wrap').classList.toggle('lagging', status.observedGeneration < status.generation);

  const banner = $('config-error');
  const issues = Array.isArray(status.configIssues) ? status.configIssues : [];
  if (status.configError || issues.length > 0) {
    // The issues are listed one by one below; the text above them only says how many and where.
    const rejectedWhole = status.configError?.startsWith('config rejected') ?? false;
    const where = status.configFile ?? 'the config';
    setText(
      $('config-error-text'),
      issues.length === 0
        ? status.configError
        : `${issues.length} problem(s) in ${where}; ${rejectedWhole ? 'the file is rejected' : 'the entries they name are rejected'}`,
    );
    const list = $('config-issues');
    list.replaceChildren(
      ...issues.map((issue) => el('li', {}, `${issue.file ?? ''}:${issue.line ?? '?'}:${issue.column ?? '?'}: ${issue.path ? `${issue.path}: ` : ''}${issue.message ?? ''}`)),
    );
    list.hidden = issues.length === 0;
    setText(
      $('config-error-note'),
      status.generation === 0
        ? 'No config has been accepted yet: no server runs until the file is fixed.'
        : rejectedWhole || issues.length === 0
          ? 'The last good config keeps running until the file is fixed.'
          : 'A rejected entry keeps its last good spec, if it had one; the others run as written.',
    );
    banner.hidden = false;
  } else {
    banner.hidden = true;
  }
  const servers = status.servers ?? [];
  const running = servers.filter((s) => s.state === 'running').length;
  const ready = servers.filter((s) => s.ready).length;
  setText($('summary'), servers.length === 0 ? '' : `${running}/${servers.length} running · ${ready} ready`);
}

// ---------------------------------------------------------------------------------------------
// Server cards, keyed by name and updated in place (focus and scroll survive a refresh).

const cards = new Map();

function stateClass(state) {
  return STATES.includes(state) ? `state-${state}` : 'state-unknown';
}

/** The timeline's colour for a transition into `state`. */
function toneOf(state) {
  if (state === 'running') return 'tone-ok';
  if (state === 'failed') return 'tone-bad';
  if (state === 'backoff' || state === 'stopping') return 'tone-warn';
  if (state === 'stopped') return 'tone-idle';
  return 'tone-info';
}

function createCard(name) {
  const refs = {};
  const field = (key, label) => {
    refs[key] = el('dd', { 'data-field': key });
    refs[`${key}Label`] = el('dt', {}, label);
    return el('div', { class: 'stat' }, refs[`${key}Label`], refs[key]);
  };
  refs.state = el('span', { class: 'badge', 'data-field': 'state' });
  refs.ready = el('span', { class: 'ready', 'data-field': 'ready' });
  refs.transport = el('span', { class: 'transport', 'data-field': 'transport' });
  refs.reason = el('p', { class: 'reason', 'data-field': 'reason' });
  refs.lastError = el('p', { class: 'card-error', 'data-field': 'lastError', hidden: true });
  refs.configError = el('p', { class: 'card-warning', 'data-field': 'configError', hidden: true });
  refs.replacement = el('p', { class: 'card-note', 'data-field': 'replacement', hidden: true });
  refs.conditions = el('ul', { class: 'conditions', 'aria-label': 'Conditions' });
  const button = (action, label, extra = '') =>
    el('button', { type: 'button', class: `btn ${extra}`.trim(), 'data-action': action, 'aria-label': `${label} ${name}`, onclick: () => runAction(name, action) }, label);
  refs.start = button('start', 'Start');
  refs.stop = button('stop', 'Stop');
  refs.restart = button('restart', 'Restart');
  refs.logs = el(
    'button',
    { type: 'button', class: 'btn btn-quiet', 'data-action': 'logs', 'aria-label': `Logs of ${name}`, 'aria-controls': 'logs', onclick: () => openLogs(name, refs.logs) },
    'Logs',
  );
  const title = el('h3', { class: 'card-name' }, name);
  const root = el(
    'article',
    { class: 'card', 'data-server': name, 'aria-label': `Server ${name}` },
    el('header', { class: 'card-head' }, title, refs.state),
    el('div', { class: 'card-sub' }, refs.transport, refs.ready),
    el('dl', { class: 'stats' }, field('uptime', 'Uptime'), field('restarts', 'Restarts'), field('pid', 'PID'), field('tools', 'Tools')),
    refs.reason,
    refs.lastError,
    refs.configError,
    refs.replacement,
    refs.conditions,
    el('div', { class: 'card-actions' }, refs.start, refs.stop, refs.restart, refs.logs),
  );
  return { root, refs, status: null, busy: false };
}

function updateCard(card, server) {
  card.status = server;
  const { refs } = card;
  setText(refs.state, server.state);
  refs.state.className = `badge ${stateClass(server.state)}`;
  setText(refs.ready, server.ready ? 'Ready' : 'Not ready');
  refs.ready.classList.toggle('is-ready', Boolean(server.ready));
  const transport = server.transport ?? 'invalid entry';
  setText(refs.transport, server.enabled === false ? `${transport} · disabled` : transport);
  setText(refs.restarts, String(server.restarts ?? 0));
  setText(refs.pid, server.pid ?? '—');
  setText(refs.tools, server.tools === null || server.tools === undefined ? '—' : String(server.tools));
  const reason = [server.reason, server.message].filter(Boolean).join(': ');
  setText(refs.reason, reason);
  refs.reason.title = server.since ? `since ${new Date(server.since).toLocaleString()}` : '';

  const lastError = server.lastError ?? (server.lastExit && server.lastExit.error) ?? null;
  setText(refs.lastError, lastError ? `Last error: ${lastError}` : '');
  refs.lastError.hidden = !lastError;
  setText(refs.configError, server.configError ? `Config: ${server.configError}` : '');
  refs.configError.hidden = !server.configError;
  const replacement = server.replacement;
  setText(refs.replacement, replacement ? `Replacement ${replacement.state}${replacement.pid ? ` (pid ${replacement.pid})` : ''}${replacement.lastError ? `: ${replacement.lastError}` : ''}` : '');
  refs.replacement.hidden = !replacement;

  const conditions = Array.isArray(server.conditions) ? server.conditions : [];
  refs.conditions.replaceChildren(
    ...conditions.map((c) =>
      el(
        'li',
        { class: `cond cond-${c.status === 'True' ? 'true' : c.status === 'False' ? 'false' : 'unknown'}`, title: `${c.type}=${c.status} ${c.reason ?? ''}${c.message ? `: ${c.message}` : ''}` },
        `${c.status === 'True' ? '✓' : c.status === 'False' ? '✗' : '?'} ${c.type}`,
      ),
    ),
  );
  refs.conditions.hidden = conditions.length === 0;
  updateButtons(card);
  tickCard(card, Date.now());
}

function updateButtons(card) {
  const server = card.status;
  const { refs } = card;
  const usable = server.enabled !== false && !card.busy;
  const resting = server.state === 'stopped' || server.state === 'failed';
  refs.start.disabled = !usable || !resting;
  refs.stop.disabled = !usable || server.state === 'stopped';
  refs.restart.disabled = !usable;
  card.root.setAttribute('aria-busy', card.busy ? 'true' : 'false');
}

/** The time-based fields: uptime while running, time in state otherwise, the retry countdown. */
function tickCard(card, now) {
  const server = card.status;
  if (!server) return;
  const since = Date.parse(server.since);
  if (server.state === 'backoff' && server.nextRetryAt) {
    setText(card.refs.uptimeLabel, 'Retry in');
    const left = Date.parse(server.nextRetryAt) - now;
    setText(card.refs.uptime, left > 0 ? formatDuration(left) : 'due');
  } else if (server.state === 'running') {
    setText(card.refs.uptimeLabel, 'Uptime');
    setText(card.refs.uptime, Number.isNaN(since) ? '—' : formatDuration(now - since));
  } else {
    setText(card.refs.uptimeLabel, 'In state');
    setText(card.refs.uptime, Number.isNaN(since) ? '—' : formatDuration(now - since));
  }
}

function renderServers() {
  const grid = $('servers');
  const servers = status?.servers ?? [];
  const names = new Set(servers.map((s) => s.name));
  for (const [name, card] of cards) {
    if (!names.has(name)) {
      card.root.remove();
      cards.delete(name);
    }
  }
  let previous = null;
  for (const server of servers) {
    let card = cards.get(server.name);
    if (!card) {
      card = createCard(server.name);
      cards.set(server.name, card);
    }
    updateCard(card, server);
    // Keep the API's order without re-inserting cards that are already in place.
    const wanted = previous ? previous.nextSibling : grid.firstChild;
    if (wanted !== card.root) grid.insertBefore(card.root, wanted);
    previous = card.root;
  }
  $('empty').hidden = servers.length > 0 || status === null;
}

async function runAction(name, action) {
  const card = cards.get(name);
  if (!card || card.busy) return;
  card.busy = true;
  updateButtons(card);
  try {
    const answer = await api(`/api/servers/${encodeURIComponent(name)}/${action}`, { method: 'POST' });
    if (answer && answer.name === name) updateCard(card, answer);
    toast(`${action[0].toUpperCase()}${action.slice(1)} requested for ${name}`);
  } catch (error) {
    toast(error.message, 'error');
  } finally {
    card.busy = false;
    if (card.status) updateButtons(card);
    scheduleRefresh();
  }
}

// ---------------------------------------------------------------------------------------------
// Refresh: single-flight, debounced; events only say "something changed".

let refreshTimer = null;
let refreshing = null;
let refreshAgain = false;
let lastRefreshError = null;

function scheduleRefresh(delay = REFRESH_DEBOUNCE_MS) {
  if (refreshTimer !== null) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    void refresh();
  }, delay);
}

async function refresh() {
  if (refreshing) {
    refreshAgain = true;
    return refreshing;
  }
  refreshing = (async () => {
    try {
      do {
        refreshAgain = false;
        status = await api('/api/servers');
        renderHeader();
        renderServers();
      } while (refreshAgain);
      lastRefreshError = null;
    } catch (error) {
      if (lastRefreshError !== error.message) toast(`Cannot load servers: ${error.message}`, 'error');
      lastRefreshError = error.message;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

// ---------------------------------------------------------------------------------------------
// Event timeline

function describeEvent(type, data) {
  const server = typeof data.server === 'string' ? data.server : null;
  switch (type) {
    case 'transition':
      return { server, text: `${data.from ?? '?'} → ${data.to ?? '?'}${data.reason ? ` (${data.reason})` : ''}`, detail: data.message ?? '', tone: toneOf(data.to) };
    case 'config':
      return data.accepted
        ? { server: null, text: `config generation ${data.generation} accepted`, detail: '', tone: 'tone-ok' }
        : { server: null, text: 'config rejected', detail: data.error ?? '', tone: 'tone-bad' };
    case 'action':
      return { server, text: `${data.action ?? 'action'} requested`, detail: '', tone: 'tone-info' };
    case 'exit': {
      const how = data.signal ? `killed by ${data.signal}` : `exited with code ${data.code}`;
      return { server, text: how, detail: '', tone: data.code === 0 && !data.signal ? 'tone-info' : 'tone-bad' };
    }
    default:
      return { server, text: type, detail: JSON.stringify(data), tone: 'tone-info' };
  }
}

function addEvent(type, data) {
  const { server, text, detail, tone } = describeEvent(type, data);
  const item = el(
    'li',
    { class: `event ${tone}`, 'data-type': type },
    el('time', { datetime: data.at ?? '' }, formatTime(data.at)),
    el('span', { class: 'event-type' }, type),
    el('span', { class: 'event-body' }, server ? el('strong', {}, server) : null, server ? ' ' : null, text, detail ? el('span', { class: 'event-detail' }, detail) : null),
  );
  const list = $('events');
  list.prepend(item);
  while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
  $('events-empty').hidden = true;
}

function setConnection(state, detail) {
  const node = $('conn');
  node.dataset.state = state;
  const text = {
    connecting: 'Connecting…',
    open: 'Live',
    reconnecting: `Reconnecting in ${Math.ceil((detail ?? 0) / 1000)}s`,
    refused: `Event stream refused: ${detail ?? ''}`,
    closed: 'Disconnected',
  }[state];
  setText($('conn-text'), text ?? state);
}

function followEvents() {
  followEventStream('/api/events', {
    // Resuming "after event 0" replays the events the orchestrator still keeps: a timeline at once.
    lastEventId: '0',
    headers: authHeaders,
    onUnauthorized: requestToken,
    onState: (state, detail) => {
      setConnection(state, detail);
      // Whatever happened while we were away is in the status, not in the events we missed.
      if (state === 'open') scheduleRefresh(0);
    },
    // A reconnect sends Last-Event-ID and the server replays only what we missed: no duplicates.
    onEvent: ({ event, data }) => {
      const payload = parseObject(data);
      if (!payload) return;
      const type = event !== 'message' ? event : String(payload.type ?? 'message');
      addEvent(type, payload);
      scheduleRefresh();
      if (type === 'config' && $('config').open) void loadConfig();
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Log pane: one server at a time, live; the stream is closed when the pane closes.

let logView = null;

function openLogs(name, opener) {
  closeLogs({ restoreFocus: false });
  const pane = $('logs');
  const body = $('logs-body');
  body.replaceChildren();
  setText($('logs-name'), name);
  $('logs-jump').hidden = true;
  pane.hidden = false;
  document.body.classList.add('logs-open');
  const view = { name, opener, stick: true, queue: [], flushTimer: null, stream: null };
  logView = view;
  const flush = () => {
    view.flushTimer = null;
    if (logView !== view || view.queue.length === 0) return;
    const fragment = document.createDocumentFragment();
    for (const entry of view.queue) fragment.append(logLine(entry));
    view.queue = [];
    body.append(fragment);
    const extra = body.children.length - MAX_LOG_LINES;
    for (let i = 0; i < extra; i++) body.firstElementChild.remove();
    if (view.stick) body.scrollTop = body.scrollHeight;
    else $('logs-jump').hidden = false;
    $('logs-empty').hidden = true;
  };
  $('logs-empty').hidden = false;
  view.stream = followEventStream(`/api/servers/${encodeURIComponent(name)}/logs?tail=200&follow=1`, {
    headers: authHeaders,
    onUnauthorized: requestToken,
    onState: (state, detail) => {
      if (logView !== view) return;
      const text = { connecting: 'connecting…', open: 'following', reconnecting: 'reconnecting…', refused: detail ?? 'refused', closed: 'closed' }[state];
      setText($('logs-status'), text ?? state);
      $('logs-status').dataset.state = state;
    },
    onEvent: ({ data }) => {
      if (logView !== view) return;
      const entry = parseObject(data);
      if (!entry) return;
      view.queue.push(entry);
      if (view.flushTimer === null) view.flushTimer = setTimeout(flush, 30);
    },
  });
  $('logs-title').focus();
}

function logLine(entry) {
  const stream = entry.stream === 'stderr' ? 'stderr' : 'stdout';
  return el(
    'div',
    { class: `log-line log-${stream}` },
    el('time', { class: 'log-time', datetime: entry.time ?? '' }, formatTime(entry.time)),
    el('span', { class: 'log-stream', 'aria-label': stream }, stream === 'stderr' ? 'err' : 'out'),
    el('span', { class: 'log-text' }, typeof entry.line === 'string' ? entry.line : JSON.stringify(entry.line)),
  );
}

function closeLogs({ restoreFocus = true } = {}) {
  const view = logView;
  if (!view) return;
  logView = null;
  clearTimeout(view.flushTimer);
  void view.stream.close();
  $('logs').hidden = true;
  document.body.classList.remove('logs-open');
  if (restoreFocus && view.opener && view.opener.isConnected) view.opener.focus();
}

function bindLogPane() {
  const body = $('logs-body');
  body.addEventListener('scroll', () => {
    if (!logView) return;
    logView.stick = body.scrollHeight - body.scrollTop - body.clientHeight < 24;
    if (logView.stick) $('logs-jump').hidden = true;
  });
  $('logs-close').addEventListener('click', () => closeLogs());
  $('logs-clear').addEventListener('click', () => body.replaceChildren());
  $('logs-wrap').addEventListener('change', (event) => body.classList.toggle('wrap', event.target.checked));
  $('logs-jump').addEventListener('click', () => {
    body.scrollTop = body.scrollHeight;
    if (logView) logView.stick = true;
    // The button hides itself: keep focus in the pane rather than dropping it on <body>.
    body.focus();
    $('logs-jump').hidden = true;
  });
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && logView && !$('token-dialog').open) closeLogs();
  });
}

// ---------------------------------------------------------------------------------------------
// Config pane and reload

async function loadConfig() {
  const pre = $('config-text');
  try {
    const config = await api('/api/config');
    setText(pre, config === null ? 'No config has been loaded yet.' : JSON.stringify(config, null, 2));
  } catch (error) {
    setText(pre, `Cannot load the config: ${error.message}`);
  }
}

async function reloadConfig() {
  const button = $('reload');
  button.disabled = true;
  try {
    const result = await api('/api/reload', { method: 'POST' });
    if (!result.accepted) toast(`Config rejected: ${result.error ?? 'unknown error'}`, 'error');
    else if (result.changed) toast(`Config reloaded: generation ${result.generation}`);
    else toast(`Config unchanged (generation ${result.generation})`);
    scheduleRefresh(0);
    if ($('config').open) void loadConfig();
  } catch (error) {
    toast(`Reload failed: ${error.message}`, 'error');
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------

function main() {
  $('reload').addEventListener('click', () => void reloadConfig());
  $('config').addEventListener('toggle', () => {
    if ($('config').open) void loadConfig();
  });
  $('token-dialog').addEventListener('cancel', (event) => event.preventDefault());
  bindLogPane();
  setInterval(() => {
    const now = Date.now();
    for (const card of cards.values()) tickCard(card, now);
  }, 1000);
  // A safety net for anything the event stream could not say (e.g. events dropped while away).
  setInterval(() => scheduleRefresh(0), 30_000);
  void refresh().then(followEvents);
}

main();
