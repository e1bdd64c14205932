/** The CLI's side of the control API: JSON calls and SSE streams, with errors a person can act on. */

export class RemoteError extends Error {}

/** A running orchestrator: its base URL (no trailing slash) and the bearer token to send, if any. */
export interface Remote {
  base: string;
  token: string | undefined;
  /** Where the token came from, for messages: "the config", "$MCP_ORCHESTRATOR_TOKEN". */
  tokenFrom?: string;
  /** Where the address came from, when it was not given as a URL ("from the config FILE"). */
  via?: string;
}

async function request(remote: Remote, path: string, init: RequestInit = {}): Promise<Response> {
  const headers = { ...(init.headers as Record<string, string> | undefined), ...(remote.token ? { authorization: `Bearer ${remote.token}` } : {}) };
  let response: Response;
  try {
    response = await fetch(`${remote.base}${path}`, { ...init, headers });
  } catch {
    const via = remote.via ? ` (${remote.via})` : '';
    throw new RemoteError(`cannot reach the orchestrator at ${remote.base}${via}: is it running? (start it with "mcp-orchestrator run", or point --url / MCP_ORCHESTRATOR_URL at it)`);
  }
  if (response.status === 401) {
    await response.body?.cancel();
    const at = `401: the orchestrator at ${remote.base}`;
    if (remote.token === undefined) {
      throw new RemoteError(`${at} wants a bearer token; set MCP_ORCHESTRATOR_TOKEN to its token (an orchestrator with none configured logs the one it generated)`);
    }
    if (remote.tokenFrom === 'the config') {
      throw new RemoteError(`${at} refused the config's token; the orchestrator there runs with another one: give --url with MCP_ORCHESTRATOR_TOKEN set to it`);
    }
    throw new RemoteError(`${at} refused the token from ${remote.tokenFrom ?? 'MCP_ORCHESTRATOR_TOKEN'}; check it against the orchestrator's [orchestrator] token or MCP_ORCHESTRATOR_TOKEN`);
  }
  if (!response.ok) {
    const body = (await response.json().catch(() => ({}))) as { error?: { message?: string } };
    throw new RemoteError(`${response.status} ${body.error?.message ?? response.statusText}`);
  }
  return response;
}

export async function getJson<T>(remote: Remote, path: string): Promise<T> {
  return (await (await request(remote, path, { signal: AbortSignal.timeout(10_000) })).json()) as T;
}

export async function postJson<T>(remote: Remote, path: string): Promise<T> {
  return (await (await request(remote, path, { method: 'POST', signal: AbortSignal.timeout(60_000) })).json()) as T;
}

export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/** Read an SSE stream until it ends or `signal` aborts, calling `onEvent` for each event. */
export async function followSse(remote: Remote, path: string, onEvent: (event: SseEvent) => void, signal: AbortSignal): Promise<void> {
  const response = await request(remote, path, { headers: { accept: 'text/event-stream' }, signal });
  const reader = response.body?.pipeThrough(new TextDecoderStream()).getReader();
  if (!reader) return;
  let buffer = '';
  let current: Partial<SseEvent> & { data?: string } = {};
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let newline = buffer.indexOf('\n');
      while (newline !== -1) {
        const line = buffer.slice(0, newline).replace(/\r$/, '');
        buffer = buffer.slice(newline + 1);
        if (line === '') {
          if (current.data !== undefined) onEvent({ id: current.id, event: current.event ?? 'message', data: current.data });
          current = {};
        } else if (!line.startsWith(':')) {
          const colon = line.indexOf(':');
          const field = colon === -1 ? line : line.slice(0, colon);
          const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'data') current.data = current.data === undefined ? value : `${current.data}\n${value}`;
          else if (field === 'event') current.event = value;
          else if (field === 'id') current.id = value;
        }
        newline = buffer.indexOf('\n');
      }
    }
  } catch (error) {
    if (signal.aborted) return;
    throw error;
  }
}
