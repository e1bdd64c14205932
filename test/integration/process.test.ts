import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { runCommand, spawnServer, type OutputStream, type ServerProcess } from '../../src/runtime/process.js';
import { isPidAlive, killPids, readPidFile, waitForPids } from '../helpers/pids.js';
import { TempDirs } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const SERVERS = fileURLToPath(new URL('../fixtures/servers/', import.meta.url));
const fixture = (name: string): string => join(SERVERS, name);
const env = (): Record<string, string> => ({ PATH: process.env.PATH ?? '/usr/bin:/bin' });

const temp = new TempDirs();
const handles: ServerProcess[] = [];
const pidFiles: string[] = [];

afterEach(() => {
  killPids(handles.splice(0).map((h) => h.pid));
  killPids(pidFiles.splice(0).flatMap(readPidFile));
  temp.cleanup();
});

interface Spawned {
  handle: ServerProcess;
  lines: Array<[OutputStream, string]>;
}

function start(command: string | string[], extra: { stdoutIsProtocol?: boolean; cwd?: string } = {}): Spawned {
  const lines: Array<[OutputStream, string]> = [];
  const handle = spawnServer({ command, cwd: extra.cwd ?? SERVERS, env: env(), onLine: (s, l) => lines.push([s, l]), stdoutIsProtocol: extra.stdoutIsProtocol });
  handles.push(handle);
  return { handle, lines };
}

const hasLine = (lines: Array<[OutputStream, string]>, line: string): boolean => lines.some(([, l]) => l === line);

/** Start tree.sh with a fresh pid file and wait until all three of its pids are written. */
async function startTree(command: (pidFile: string) => string | string[]): Promise<{ handle: ServerProcess; pids: number[] }> {
  const pidFile = join(temp.make(), 'pids');
  pidFiles.push(pidFile);
  const { handle } = start(command(pidFile));
  const pids = await waitForPids(pidFile, 3, 5_000);
  return { handle, pids };
}

describe('spawnServer', () => {
  it('terminates a cooperative server with SIGTERM, within the grace', async () => {
    const { handle, lines } = start(['node', fixture('forever.js')]);
    await waitFor(() => hasLine(lines, 'ready'), { message: 'ready line' });
    const began = Date.now();
    const exit = await handle.terminate(5000);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - began).toBeLessThan(4000);
    expect(handle.hasExited).toBe(true);
    expect(isPidAlive(handle.pid)).toBe(false);
  });

  it('kills a server that ignores SIGTERM once the grace is over', async () => {
    const { handle, lines } = start(['node', fixture('ignores-term.js')]);
    await waitFor(() => hasLine(lines, 'ready'), { message: 'ready line' });
    const began = Date.now();
    const exit = await handle.terminate(500);
    expect(Date.now() - began).toBeGreaterThanOrEqual(500);
    expect(exit).toEqual({ code: null, signal: 'SIGKILL' });
    expect(hasLine(lines, 'ignoring SIGTERM')).toBe(true);
    expect(isPidAlive(handle.pid)).toBe(false);
  });

  it('is idempotent: a second terminate joins the first', async () => {
    const { handle, lines } = start(['node', fixture('forever.js')]);
    await waitFor(() => hasLine(lines, 'ready'), { message: 'ready line' });
    const first = handle.terminate(5000);
    const second = handle.terminate(10);
    expect(second).toBe(first);
    expect(await second).toEqual({ code: 0, signal: null });
    expect(await handle.terminate(5000)).toEqual({ code: 0, signal: null });
  });

  it('kill() ends the process at once with SIGKILL', async () => {
    const { handle, lines } = start(['node', fixture('ignores-term.js')]);
    await waitFor(() => hasLine(lines, 'ready'), { message: 'ready line' });
    handle.kill();
    expect(await handle.exited).toEqual({ code: null, signal: 'SIGKILL' });
  });

  it('reports the exit code of a process that ends on its own', async () => {
    const { handle } = start(['node', fixture('exits.js'), '3']);
    expect(await handle.exited).toEqual({ code: 3, signal: null });
    expect(handle.error).toBeUndefined();
  });

  it('leaves no descendant of a shell command, including one that left the group with setsid', async () => {
    const { handle, pids } = await startTree((pidFile) => `sh ${fixture('tree.sh')} ${pidFile}`);
    expect(pids.every(isPidAlive)).toBe(true);
    const exit = await handle.terminate(300);
    expect(exit).toEqual({ code: null, signal: 'SIGTERM' });
    expect(pids.filter(isPidAlive)).toEqual([]);
  });

  it('leaves no descendant whose parent exited before terminate', async () => {
    // tree.sh exits at once; the shell leading the group keeps running, its grandchildren are orphans.
    const { handle, pids } = await startTree((pidFile) => `sh ${fixture('tree.sh')} ${pidFile} exit; sleep 300`);
    const [intermediate, ...grandchildren] = pids;
    await waitFor(() => !isPidAlive(intermediate ?? 0), { message: 'tree.sh exited' });
    expect(grandchildren.every(isPidAlive)).toBe(true);
    await handle.terminate(300);
    expect(isPidAlive(handle.pid)).toBe(false);
    expect(grandchildren.filter(isPidAlive)).toEqual([]);
  });

  it('leaves no descendant after the group leader itself exited', async () => {
    const { handle, pids } = await startTree((pidFile) => ['sh', fixture('tree.sh'), pidFile, 'exit']);
    expect(await handle.exited).toEqual({ code: 0, signal: null });
    const grandchildren = pids.slice(1);
    expect(grandchildren.every(isPidAlive)).toBe(true);
    await handle.terminate(300);
    expect(grandchildren.filter(isPidAlive)).toEqual([]);
  });

  it('surfaces a command that does not exist as an exit with a readable error', async () => {
    const { handle } = start(['/nonexistent/mcp-server', '--flag']);
    expect(await handle.exited).toEqual({ code: 127, signal: null });
    expect(handle.hasExited).toBe(true);
    expect(handle.error).toBe('command not found: /nonexistent/mcp-server');
    expect(await handle.terminate(100)).toEqual({ code: 127, signal: null });
  });

  it('surfaces a missing working folder as an exit with a readable error', async () => {
    const { handle } = start(['node', fixture('forever.js')], { cwd: '/nonexistent/folder' });
    expect(await handle.exited).toEqual({ code: 127, signal: null });
    expect(handle.error).toMatch(/cwd.*\/nonexistent\/folder/);
  });

  it('passes a shell that cannot find the command its own exit and message', async () => {
    const { handle, lines } = start('nonexistent-mcp-server-xyz');
    expect(await handle.exited).toEqual({ code: 127, signal: null });
    await handle.outputClosed;
    expect(lines.some(([s, l]) => s === 'stderr' && l.includes('nonexistent-mcp-server-xyz'))).toBe(true);
  });

  it('gives stdout and stderr line by line, capping a runaway line', async () => {
    const { handle, lines } = start(['node', fixture('lines.js')]);
    await handle.exited;
    await handle.outputClosed;
    const out = lines.filter(([s]) => s === 'stdout').map(([, l]) => l);
    const err = lines.filter(([s]) => s === 'stderr').map(([, l]) => l);
    expect(out).toEqual(['out one', 'out two', 'no newline']);
    expect(err[0]).toBe('err one');
    expect(err[1]).toHaveLength(16 * 1024 + 1);
    expect(err[1]?.endsWith('…')).toBe(true);
    expect(err[2]).toBe('after long');
  });

  it('leaves stdout alone when it carries the protocol', async () => {
    const { handle, lines } = start(['node', fixture('lines.js')], { stdoutIsProtocol: true });
    const chunks: Buffer[] = [];
    handle.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    await handle.outputClosed;
    expect(Buffer.concat(chunks).toString()).toBe('out one\nout two\r\nno newline');
    expect(lines.every(([s]) => s === 'stderr')).toBe(true);
  });

  it('keeps stdin open and delivers what is written to it', async () => {
    const { handle, lines } = start(['sh', '-c', 'read line; echo "got $line"; sleep 300']);
    handle.stdin.write('hello\n');
    await waitFor(() => hasLine(lines, 'got hello'), { message: 'echo of stdin' });
    expect(handle.hasExited).toBe(false);
    await handle.terminate(1000);
  });
});

describe('runCommand', () => {
  it('returns the exit and the last lines of output', async () => {
    const result = await runCommand({ command: 'for i in $(seq 1 100); do echo line $i; done; echo oops >&2; exit 4', cwd: SERVERS, env: env() });
    expect(result.code).toBe(4);
    const lines = result.output.split('\n');
    expect(lines).toHaveLength(40);
    expect(lines.at(-1)).toBe('oops');
    expect(lines.at(-2)).toBe('line 100');
  });

  it('reports a command that cannot start as exit 127 with the reason in the output', async () => {
    const result = await runCommand({ command: ['/nonexistent/installer'], cwd: SERVERS, env: env() });
    expect(result).toMatchObject({ code: 127, signal: null });
    expect(result.output).toContain('command not found: /nonexistent/installer');
  });

  it('terminates the whole tree on abort and rejects with the abort reason', async () => {
    const pidFile = join(temp.make(), 'pids');
    pidFiles.push(pidFile);
    const controller = new AbortController();
    const running = runCommand({ command: `sh ${fixture('tree.sh')} ${pidFile}`, cwd: SERVERS, env: env(), signal: controller.signal, graceMs: 200 });
    const pids = await waitForPids(pidFile, 3);
    controller.abort(new Error('stop now'));
    await expect(running).rejects.toThrow('stop now');
    expect(pids.filter(isPidAlive)).toEqual([]);
  });

  it('does not start at all when already aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('too late'));
    await expect(runCommand({ command: ['node', fixture('forever.js')], cwd: SERVERS, env: env(), signal: controller.signal })).rejects.toThrow('too late');
  });
});
