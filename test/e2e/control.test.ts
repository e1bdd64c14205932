/**
 * The control API of a real orchestrator: manual actions, the redacted config, resumable events,
 * and a log stream whose slow reader is dropped rather than allowed to grow memory.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sha256 } from '../../src/config/watch.js';
import { atomicSave, inPlaceWrite } from '../helpers/editors.js';
import { useScratch, byName, startCli, type RunningOrchestrator, steadyServer, STEADY } from '../helpers/orchestrator.js';
import { isPidAlive } from '../helpers/pids.js';
import { waitFor } from '../helpers/wait.js';

const stdio = steadyServer;

const scratch = useScratch('mcpo-ctl-');

interface SseEvent {
  id: number;
  event: string;
  data: Record<string, unknown>;
}

/** Read SSE events from `path` until `enough` says so (bounded), then disconnect. */
async function readEvents(orch: RunningOrchestrator, path: string, enough: (events: SseEvent[]) => boolean, headers: Record<string, string> = {}): Promise<SseEvent[]> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 15_000);
  const events: SseEvent[] = [];
  try {
    const response = await fetch(`${orch.url}${path}`, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    while (!enough(events)) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end = buffer.indexOf('\n\n');
      while (end !== -1) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const field = (name: string) => frame.split('\n').find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
        const data = field('data');
        if (data !== undefined) events.push({ id: Number(field('id')), event: field('event') ?? 'message', data: JSON.parse(data) as Record<string, unknown> });
        end = buffer.indexOf('\n\n');
      }
    }
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  return events;
}

const post = (orch: RunningOrchestrator, path: string) => orch.api<Record<string, unknown>>(path, { method: 'POST' });

describe('control API', () => {
  it('restart gives a new pid and a restart event; unknown servers are 404, conflicting actions 409', async () => {
    await writeFile(scratch.file, stdio('a') + stdio('off').replace('transport = "stdio"', 'transport = "stdio"\nenabled = false'));
    const orch = await startCli(scratch.file);
    const before = byName(await orch.until((s) => byName(s, 'a')?.state === 'running', 'a running'), 'a')!;

    const restarted = await post(orch, '/api/servers/a/restart');
    expect(restarted.status).toBe(200);
    expect(restarted.body.state).toMatch(/stopping|stopped|pending|installing|starting|running/);
    const after = await orch.until((s) => byName(s, 'a')?.state === 'running' && byName(s, 'a')!.pid !== before.pid, 'new pid');
    expect(isPidAlive(before.pid!)).toBe(false);
    const events = await readEvents(orch, '/api/events?since=0', (e) => e.some((x) => x.event === 'action'));
    expect(events.find((e) => e.event === 'action')?.data).toMatchObject({ type: 'action', server: 'a', action: 'restart' });
    expect(byName(after, 'a')!.pid).not.toBe(before.pid);

    const missing = await post(orch, '/api/servers/nope/restart');
    expect(missing.status).toBe(404);
    expect((missing.body.error as { message: string }).message).toContain('no server named "nope"');
    const disabled = await post(orch, '/api/servers/off/start');
    expect(disabled.status).toBe(409);
    expect((disabled.body.error as { message: string }).message).toContain('disabled in the config');
    const running = await post(orch, '/api/servers/a/start');
    expect(running.status).toBe(409);
    expect((running.body.error as { message: string }).message).toBe(
      '"a" is not stopped: its state is running; restart it instead: "mcp-orchestrator restart a" (POST /api/servers/a/restart)',
    );
  });

  it('a manual stop holds across a config edit that does not touch the server, until started', async () => {
    await writeFile(scratch.file, stdio('held') + stdio('other', { V: '1' }));
    const orch = await startCli(scratch.file);
    await orch.until((s) => s.servers.every((x) => x.state === 'running'), 'both running');
    const stopped = await post(orch, '/api/servers/held/stop');
    expect(stopped.status).toBe(200);
    await orch.until((s) => byName(s, 'held')?.state === 'stopped', 'held stopped');
    expect((await post(orch, '/api/servers/held/stop')).status).toBe(409);

    await atomicSave(scratch.file, stdio('held') + stdio('other', { V: '2' }));
    await orch.until((s) => s.generation === 2 && s.observedGeneration === 2 && byName(s, 'other')?.state === 'running', 'edit applied');
    expect((await orch.server('held'))!.state).toBe('stopped');

    expect((await post(orch, '/api/servers/held/start')).status).toBe(200);
    await orch.until((s) => byName(s, 'held')?.state === 'running', 'held running again');
  });

  it('GET /api/config never shows an env value or the token; POST /api/reload re-reads the file', async () => {
    await writeFile(scratch.file, `[orchestrator]\ntoken = "tok-3f9a"\n\n${stdio('a', { API_KEY: 'sk-live-7c21', OTHER: 'p4ss' })}`);
    const orch = await startCli(scratch.file);
    const auth = { headers: { authorization: 'Bearer tok-3f9a' } };
    const config = await orch.api<{ orchestrator: Record<string, unknown>; server: Record<string, unknown>[] }>('/api/config', auth);
    expect(config.status).toBe(200);
    const text = JSON.stringify(config.body);
    for (const secret of ['sk-live-7c21', 'p4ss', 'tok-3f9a']) expect(text).not.toContain(secret);
    expect(config.body.server[0]!.env).toEqual({ NAME: '[redacted]', API_KEY: '[redacted]', OTHER: '[redacted]' });
    // In the file's own words, every default filled in.
    expect(config.body.orchestrator).toMatchObject({ listen: orch.url.replace('http://', ''), log_level: 'debug', shutdown_grace: '10s', resync_interval: '30s', token: '[redacted]' });
    expect(config.body.server[0]).toMatchObject({ name: 'a', transport: 'stdio', install: 'auto', restart: 'always', startup_timeout: '1m', tools: { allow: ['*'], deny: [] } });
    expect(orch.logs.some((l) => JSON.stringify(l).includes('sk-live-7c21'))).toBe(false);

    const unchanged = await orch.api<{ changed: boolean; generation: number }>('/api/reload', { method: 'POST', ...auth });
    expect(unchanged).toMatchObject({ status: 200, body: { changed: false } });
    // Written in place without a watcher event in between is still picked up by a reload.
    const edited = `[orchestrator]\ntoken = "tok-3f9a"\n\n${stdio('a', { API_KEY: 'sk-live-7c21', OTHER: 'p4ss' })}${stdio('b')}`;
    await writeFile(scratch.file, edited);
    const reloaded = await orch.api<{ changed: boolean; accepted: boolean; generation: number }>('/api/reload', { method: 'POST', ...auth });
    expect(reloaded.body).toMatchObject({ accepted: true });
    await waitFor(async () => (await orch.api<{ servers: { name: string }[] }>('/api/servers', auth)).body.servers.some((s) => s.name === 'b'), {
      message: 'b configured',
    });
    // The watcher reads the same write after its debounce. Whichever read it first applied it, and
    // only that one announced it: the reload's answer, or (had the watcher been first) its log line.
    const readByWatcher = (msg: string) => orch.logs.some((l) => l.msg === msg && l.sha256 === sha256(edited).slice(0, 12));
    await waitFor(() => readByWatcher('config file unchanged') || readByWatcher('config file changed'), { message: 'the watcher read the edit' });
    expect(readByWatcher('config file changed')).toBe(!reloaded.body.changed);
    const after = await orch.api<{ changed: boolean; generation: number }>('/api/reload', { method: 'POST', ...auth });
    expect(after.body).toMatchObject({ changed: false, generation: unchanged.body.generation + 1 });
  });

  it('/api/config shows the start-up settings in force; an edit of them is warned about once, until a restart', async () => {
    await writeFile(scratch.file, `[orchestrator]\nresync_interval = "30s"\n\n${stdio('a')}`);
    const orch = await startCli(scratch.file);
    const shown = async () => (await orch.api<{ orchestrator: Record<string, unknown> }>('/api/config')).body.orchestrator;
    const bound = orch.url.replace('http://', '');
    expect(await shown()).toMatchObject({ listen: bound, resync_interval: '30s' });

    await writeFile(scratch.file, `[orchestrator]\nresync_interval = "5s"\nlisten = "127.0.0.1:1"\n\n${stdio('a')}`);
    await post(orch, '/api/reload');
    await writeFile(scratch.file, `[orchestrator]\nresync_interval = "5s"\nlisten = "127.0.0.1:1"\n\n${stdio('a')}${stdio('b')}`);
    await post(orch, '/api/reload');
    expect(await shown()).toMatchObject({ listen: bound, resync_interval: '30s' });
    // Back to the value in force: nothing to restart for. Then away again: warned again.
    await writeFile(scratch.file, `[orchestrator]\nresync_interval = "30s"\n\n${stdio('a')}`);
    await post(orch, '/api/reload');
    await writeFile(scratch.file, `[orchestrator]\nresync_interval = "5s"\n\n${stdio('a')}`);
    await post(orch, '/api/reload');
    const restartWarnings = () => orch.logs.filter((l) => String(l.msg).includes('restart the orchestrator to apply it'));
    // Each load's warnings are logged before its "config loaded": five loads in all.
    await waitFor(() => orch.logs.filter((l) => String(l.msg).startsWith('config loaded')).length >= 5, { message: 'every load logged' });
    // The listen edit is not warned about: --listen (which the helper gives) overrides the file's.
    expect(restartWarnings().map((l) => l.field ?? 'listen')).toEqual(['resync_interval', 'resync_interval']);
  });

  it('a file caught empty mid-save is rejected: the servers keep running, and the finished save applies', async () => {
    await writeFile(scratch.file, stdio('a'));
    const orch = await startCli(scratch.file);
    await orch.until((s) => byName(s, 'a')?.state === 'running', 'a running');
    const pid = (await orch.server('a'))!.pid;

    // The truncation an in-place save starts with, seen before the save writes anything.
    await inPlaceWrite(scratch.file, '');
    await orch.until((s) => s.configError?.includes('mid-way through an in-place save') === true, 'the empty file rejected');
    const reload = await orch.api<{ accepted: boolean; generation: number }>('/api/reload', { method: 'POST' });
    expect(reload.body).toMatchObject({ accepted: false, generation: 1 });
    expect(await orch.server('a')).toMatchObject({ state: 'running', pid });

    await inPlaceWrite(scratch.file, stdio('a') + stdio('b'));
    await orch.until((s) => s.configError === null && byName(s, 'b')?.state === 'running', 'the finished save applied');
    expect(await orch.server('a')).toMatchObject({ state: 'running', pid });
    expect((await orch.status()).generation).toBe(2);
  });

  it('a reload that finds the file gone is rejected; the same file put back clears the error', async () => {
    await writeFile(scratch.file, stdio('a'));
    const orch = await startCli(scratch.file);
    await orch.until((s) => byName(s, 'a')?.state === 'running', 'a running');
    const pid = (await orch.server('a'))!.pid;

    await rm(scratch.file);
    const gone = await orch.api<{ accepted: boolean; error: string | null }>('/api/reload', { method: 'POST' });
    expect(gone.body.accepted).toBe(false);
    expect(gone.body.error).toContain('config file not found');
    expect(await orch.server('a')).toMatchObject({ state: 'running', pid });

    // Back as it was (a checkout, say): nothing to apply, but the error must not outlive its cause.
    await atomicSave(scratch.file, stdio('a'));
    await orch.until((s) => s.configError === null, 'the error cleared');
    expect(await orch.server('a')).toMatchObject({ state: 'running', pid });
    const again = await orch.api<{ accepted: boolean; error: string | null }>('/api/reload', { method: 'POST' });
    expect(again.body).toMatchObject({ accepted: true, error: null });
  });

  it('with no config accepted yet, an emptied file is simply a config with no servers', async () => {
    await writeFile(scratch.file, '[[server]\n');
    const orch = await startCli(scratch.file);
    await orch.until((s) => s.configError !== null && s.generation === 0, 'the broken file rejected');
    await inPlaceWrite(scratch.file, '');
    const status = await orch.until((s) => s.configError === null, 'the empty file accepted');
    expect(status).toMatchObject({ generation: 1, servers: [] });
  });

  it('off loopback the API wants the token', async () => {
    await writeFile(scratch.file, stdio('a'));
    const orch = await startCli(scratch.file, { args: ['--listen', '0.0.0.0:0'], env: { MCP_ORCHESTRATOR_TOKEN: '' } });
    const url = orch.url.replace('0.0.0.0', '127.0.0.1').replace('[::]', '127.0.0.1');
    expect((await fetch(`${url}/api/servers`)).status).toBe(401);
    expect((await fetch(`${url}/api/servers/a/restart`, { method: 'POST' })).status).toBe(401);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });
});

describe('event and log streams', () => {
  it('a client that reconnects with Last-Event-ID gets the events it missed', async () => {
    await writeFile(scratch.file, stdio('a'));
    const orch = await startCli(scratch.file);
    await orch.until((s) => byName(s, 'a')?.state === 'running', 'running');
    const first = await readEvents(orch, '/api/events?since=0', (e) => e.some((x) => x.event === 'transition' && x.data.to === 'running'));
    const lastSeen = first[first.length - 1]!.id;
    expect(first.map((e) => e.id)).toEqual(first.map((_, i) => first[0]!.id + i));

    // While disconnected: a restart happens.
    await post(orch, '/api/servers/a/restart');
    await orch.until((s) => byName(s, 'a')?.state === 'running' && (byName(s, 'a')?.restarts ?? 0) === 0, 'restarted');
    const missed = await readEvents(orch, '/api/events', (e) => e.some((x) => x.event === 'transition' && x.data.to === 'running'), { 'last-event-id': String(lastSeen) });
    expect(missed[0]!.id).toBe(lastSeen + 1);
    expect(missed.map((e) => e.event)).toContain('action');
    expect(missed.some((e) => e.data.to === 'stopping')).toBe(true);

    // A resume point that is not an id is refused, not read as "from now on".
    const bad = await orch.api<{ error: { message: string } }>('/api/events?since=abc');
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('since must be a whole number');
    const badHeader = await orch.api<{ error: { message: string } }>('/api/servers/a/logs', { headers: { 'last-event-id': '-1' } });
    expect(badHeader.status).toBe(400);
    expect(badHeader.body.error.message).toBe('Last-Event-ID must be a whole number ≥ 0 (the seq of the last line seen), got "-1"');
    const emptyTail = await orch.api<{ error: { message: string } }>('/api/servers/a/logs?tail=');
    expect(emptyTail.status).toBe(400);
    expect(emptyTail.body.error.message).toBe('tail must be a whole number ≥ 0, got ""');
  });

  it('a log reader resumes after the last line it saw; one whose id is from an earlier process gets every line kept', async () => {
    const talker = join(scratch.dir, 'talker.js');
    await writeFile(talker, `for (const n of [1, 2, 3]) process.stderr.write('line ' + n + '\\n');\nrequire(${JSON.stringify(STEADY)});\n`);
    await writeFile(scratch.file, `[[server]]\nname = "talker"\ncommand = ["${process.execPath}", "${talker}"]\ntransport = "stdio"\n`);
    const orch = await startCli(scratch.file);
    const lines = async (query: string) => (await orch.api<{ lines: { seq: number; line: string }[] }>(`/api/servers/talker/logs?${query}`)).body.lines;
    // The steady fixture's own greeting is the last line the server logs.
    const kept = await waitFor(
      async () => {
        const now = await lines('tail=100');
        return now.some((l) => l.line.startsWith('steady ')) ? now : undefined;
      },
      { message: 'every start-up line logged' },
    );
    expect(kept.map((l) => l.line).slice(0, 3)).toEqual(['line 1', 'line 2', 'line 3']);
    const seqOf = (text: string) => kept.find((l) => l.line === text)!.seq;
    const last = kept[kept.length - 1]!.seq;

    expect((await lines(`since=${seqOf('line 1')}`)).map((l) => l.line)).toEqual(kept.filter((l) => l.seq > seqOf('line 1')).map((l) => l.line));
    expect(await lines(`since=${last}`)).toEqual([]);
    // Seq numbers restart with the orchestrator: a reader still holding a larger one must not wait,
    // seeing nothing, until the count passes it.
    // (The server may have logged more since: everything kept starts with what was read above.)
    expect((await lines(`since=${last + 1000}`)).map((l) => l.seq).slice(0, kept.length)).toEqual(kept.map((l) => l.seq));
    const followed = await readEvents(orch, '/api/servers/talker/logs?follow=1', (e) => e.length >= kept.length, { 'last-event-id': String(last + 1000) });
    expect(followed.map((e) => e.data.line).slice(0, kept.length)).toEqual(kept.map((l) => l.line));
  });

  it("a log reader that never reads is dropped, and the orchestrator's memory stays bounded", async () => {
    const chatty = join(scratch.dir, 'chatty.js');
    // A stdio MCP server (the steady fixture) that floods stderr on a signal file's appearance.
    await writeFile(
      chatty,
      `const fs = require('fs'); const line = 'x'.repeat(1000);\n` +
        `const flood = setInterval(() => { if (!fs.existsSync(${JSON.stringify(join(scratch.dir, 'go'))})) return; clearInterval(flood);\n` +
        `  let n = 0; const burst = () => { for (let i = 0; i < 2000 && n < 80000; i++, n++) process.stderr.write(line + '\\n'); if (n < 80000) setImmediate(burst); else fs.writeFileSync(${JSON.stringify(join(scratch.dir, 'done'))}, ''); }; burst(); }, 50);\n` +
        `require(${JSON.stringify(STEADY)});\n`,
    );
    await writeFile(scratch.file, `[[server]]\nname = "chatty"\ncommand = ["${process.execPath}", "${chatty}"]\ntransport = "stdio"\n`);
    const orch = await startCli(scratch.file, { env: { LOG_LEVEL: 'info' } });
    await orch.until((s) => byName(s, 'chatty')?.state === 'running', 'running');
    const rss = async () => Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${orch.child.pid}/status`, 'utf8'))?.[1]) * 1024;

    // A follower that sends its request and then never reads a byte.
    const port = Number(new URL(orch.url).port);
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.pause();
    socket.write(`GET /api/servers/chatty/logs?tail=0&follow=1 HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n\r\n`);
    let closedByServer = false;
    // The drop may arrive as a reset rather than an orderly close: both count.
    socket.on('error', () => (closedByServer = true));
    socket.once('close', () => (closedByServer = true));

    const before = await rss();
    await writeFile(join(scratch.dir, 'go'), '');
    await waitFor(async () => readFile(join(scratch.dir, 'done')).then(() => true), { timeoutMs: 60_000, message: '80 MB of output written' });
    // Let the orchestrator catch up with the pipe.
    await waitFor(async () => {
      const last = await orch.api<{ lines: { line: string }[] }>('/api/servers/chatty/logs?tail=1');
      return last.body.lines.length === 1;
    }, { timeoutMs: 30_000, message: 'output consumed' });
    const growth = (await rss()) - before;
    console.info(`[measure] RSS growth with a stalled log follower over 80 MB of output: ${(growth / 1048576).toFixed(1)} MiB`);
    // Without the bound, the unread SSE response would hold all 80 MB (and more, framed as JSON).
    expect(growth).toBeLessThan(40 * 1024 * 1024);
    await waitFor(() => orch.logs.some((l) => l.msg.startsWith('dropped a stream reader')), { timeoutMs: 10_000, message: 'stalled follower dropped' });
    socket.resume();
    await waitFor(() => closedByServer, { timeoutMs: 10_000, message: 'the dropped connection closes' });
    socket.destroy();
    // The orchestrator still answers, and the buffer kept only the last lines.
    const tail = await orch.api<{ lines: unknown[] }>('/api/servers/chatty/logs?tail=5000');
    expect(tail.body.lines.length).toBeLessThanOrEqual(1_000);
  });
});
