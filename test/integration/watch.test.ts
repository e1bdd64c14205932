import { lstat, mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { sha256, watchConfigFile, type ConfigWatcher, type WatchConfigOptions } from '../../src/config/watch.js';
import { atomicSave, configMapSwap, inPlaceWrite, partialThenComplete } from '../helpers/editors.js';
import { waitFor } from '../helpers/wait.js';

// Long enough for any straggling event, debounce and read to land; used only to show that
// nothing more arrives.
const QUIET_MS = 500;
const NAME = 'mcp_config.toml';

interface LogRecord {
  msg: string;
  [key: string]: unknown;
}

interface Started {
  watcher: ConfigWatcher;
  /** Every content delivered to onChange, in order. */
  seen: string[];
  logs: LogRecord[];
}

let dir: string;
let file: string;
const open: ConfigWatcher[] = [];

async function start(overrides: Partial<WatchConfigOptions> = {}, path = file): Promise<Started> {
  const seen: string[] = [];
  const logs: LogRecord[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogRecord) });
  const watcher = await watchConfigFile(path, { onChange: (content) => void seen.push(content), log, ...overrides });
  open.push(watcher);
  return { watcher, seen, logs };
}

const logged = (logs: LogRecord[], msg: string): LogRecord | undefined => logs.find((record) => record.msg === msg);

beforeEach(async () => {
  // chokidar reads these globally; the tests choose the mode themselves.
  vi.stubEnv('CHOKIDAR_USEPOLLING', undefined);
  vi.stubEnv('CHOKIDAR_INTERVAL', undefined);
  dir = await mkdtemp(join(tmpdir(), 'watch-test-'));
  file = join(dir, NAME);
});

afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((watcher) => watcher.close()));
  vi.unstubAllEnvs();
  await rm(dir, { recursive: true, force: true });
});

describe('watchConfigFile', () => {
  it('delivers an atomic save once, and not the content present at start', async () => {
    await writeFile(file, 'a = 1\n');
    const before = await stat(file);
    const { seen } = await start();

    await atomicSave(file, 'a = 2\n');
    expect((await stat(file)).ino).not.toBe(before.ino);

    await waitFor(() => seen.length > 0, { message: 'atomic save delivered' });
    await sleep(QUIET_MS);
    expect(seen).toEqual(['a = 2\n']);
  });

  it('delivers an edit made after the caller read the file but before the watch began', async () => {
    await writeFile(file, 'b = 2\n');
    const { seen } = await start({ applied: () => sha256('b = 1\n') });
    await waitFor(() => seen.length > 0, { message: 'edit before watch delivered' });
    await sleep(QUIET_MS);
    expect(seen).toEqual(['b = 2\n']);
  });

  it('delivers nothing at start when the file holds what the caller applied', async () => {
    await writeFile(file, 'b = 1\n');
    const { seen, logs } = await start({ applied: () => sha256('b = 1\n') });
    // It did read the file, and found what is applied: silence is not a dead watcher.
    await waitFor(() => logged(logs, 'config file unchanged'), { message: 'the start-up read' });
    expect(seen).toEqual([]);
  });

  it('delivers an in-place write to the same inode', async () => {
    await writeFile(file, 'a = 1\n');
    const before = await stat(file);
    const { seen } = await start();

    await inPlaceWrite(file, 'a = 22\n');
    expect((await stat(file)).ino).toBe(before.ino);

    await waitFor(() => seen.length > 0, { message: 'in-place write delivered' });
    await sleep(QUIET_MS);
    expect(seen).toEqual(['a = 22\n']);
  });

  it('ends with the complete content when a write lands in two parts', async () => {
    await writeFile(file, 'old = true\n');
    const { seen } = await start();
    const complete = Array.from({ length: 40 }, (_, i) => `key${i} = ${i}\n`).join('');
    const half = complete.slice(0, Math.floor(complete.length / 2));

    await partialThenComplete(file, complete, 250);

    await waitFor(() => seen.at(-1) === complete, { message: 'complete content delivered' });
    await sleep(QUIET_MS);
    expect(seen.at(-1)).toBe(complete);
    for (const content of seen) expect([half, complete]).toContain(content);
  });

  it('ends an edit storm of 50 atomic saves with the last content, in far fewer callbacks', async () => {
    await writeFile(file, 'v = -1\n');
    const { seen } = await start();

    // Paced against a deadline, not by fixed sleeps, so a slow machine does not stretch the storm.
    const began = Date.now();
    for (let i = 0; i < 50; i++) {
      await atomicSave(file, `v = ${i}\n`);
      await sleep(Math.max(0, began + (i + 1) * 18 - Date.now()));
    }
    // Only a sanity bound: a machine this slow would not be testing a storm any more.
    expect(Date.now() - began).toBeLessThan(3_000);

    await waitFor(() => seen.at(-1) === 'v = 49\n', { message: 'last save delivered' });
    await sleep(QUIET_MS);
    expect(seen.at(-1)).toBe('v = 49\n');
    expect(seen.length).toBeLessThanOrEqual(10);
  });

  it('delivers nothing when the same content is written again', async () => {
    await writeFile(file, 'same = 1\n');
    const { seen, logs } = await start();

    await atomicSave(file, 'same = 1\n');
    await inPlaceWrite(file, 'same = 1\n');
    // The read happened and found the hash unchanged: the silence below is not a dead watcher.
    await waitFor(() => logged(logs, 'config file unchanged'), { message: 'unchanged read' });
    await sleep(QUIET_MS);
    expect(seen).toEqual([]);

    await atomicSave(file, 'same = 2\n');
    await waitFor(() => seen.length > 0, { message: 'different content delivered' });
    expect(seen).toEqual(['same = 2\n']);
  });

  it('delivers a Kubernetes ConfigMap update (..data symlink swap), each time', async () => {
    await configMapSwap(dir, NAME, 'cm = 1\n');
    expect((await lstat(file)).isSymbolicLink()).toBe(true);
    const { seen } = await start();

    await configMapSwap(dir, NAME, 'cm = 2\n');
    await waitFor(() => seen.at(-1) === 'cm = 2\n', { message: 'first swap delivered' });
    await configMapSwap(dir, NAME, 'cm = 3\n');
    await waitFor(() => seen.at(-1) === 'cm = 3\n', { message: 'second swap delivered' });

    await sleep(QUIET_MS);
    expect(seen).toEqual(['cm = 2\n', 'cm = 3\n']);
  });

  it('delivers a ConfigMap update while the old timestamp folder still exists', async () => {
    // The old file keeps its inode and content, so a watch on the file alone sees nothing: only
    // the events on the `..data` and `..<timestamp>` entries can trigger the read.
    await configMapSwap(dir, NAME, 'cm = 1\n');
    const { seen } = await start();

    await configMapSwap(dir, NAME, 'cm = 2\n', { removeOld: false });
    await waitFor(() => seen.at(-1) === 'cm = 2\n', { message: 'swap delivered' });
    await sleep(QUIET_MS);
    expect(seen).toEqual(['cm = 2\n']);
  });

  it('delivers an atomic save in poll mode', async () => {
    await writeFile(file, 'p = 1\n');
    const { seen, logs } = await start({ poll: true, pollIntervalMs: 100 });
    expect(logged(logs, 'watching config folder')).toMatchObject({ polling: true, intervalMs: 100 });

    await atomicSave(file, 'p = 2\n');
    await waitFor(() => seen.length > 0, { message: 'polled save delivered' });
    await sleep(QUIET_MS);
    expect(seen).toEqual(['p = 2\n']);
  });

  it('delivers an atomic save in poll mode when the size and mtime match the old file', async () => {
    // A save of same-length content within the clock tick of the previous write: only the inode
    // and ctime differ. Pinning the file's and the folder's times to one whole second makes that
    // tick certain.
    const tick = 1_700_000_000;
    await writeFile(file, 'q = 1\n');
    await utimes(file, tick, tick);
    await utimes(dir, tick, tick);
    const old = await stat(file);
    const { seen } = await start({ poll: true, pollIntervalMs: 100 });

    await atomicSave(file, 'q = 2\n');
    await utimes(file, tick, tick);
    await utimes(dir, tick, tick);
    const saved = await stat(file);
    expect([saved.size, saved.mtimeMs, saved.ino === old.ino]).toEqual([old.size, old.mtimeMs, false]);
    await waitFor(() => seen.length > 0, { message: 'same-size, same-mtime save delivered' });
    await sleep(QUIET_MS);
    expect(seen).toEqual(['q = 2\n']);
  });

  it('lets CHOKIDAR_USEPOLLING override the poll option, and says so', async () => {
    vi.stubEnv('CHOKIDAR_USEPOLLING', '1');
    await writeFile(file, 'e = 1\n');
    const { logs } = await start({ poll: false });
    expect(logged(logs, 'watching config folder')).toMatchObject({ polling: true });
    expect(logged(logs, 'CHOKIDAR_USEPOLLING overrides the poll option')).toBeDefined();
  });

  it('waits out a deleted file and delivers it when it comes back', async () => {
    await writeFile(file, 'd = 1\n');
    const { watcher, seen, logs } = await start();

    await rm(file);
    const gone = await waitFor(() => logged(logs, 'config file missing; the running config is kept until it is back'), { message: 'deletion seen' });
    // Said where a user reads by default (info), and only once however many reads find it gone.
    expect(gone.level).toBe(40);
    await watcher.check();
    await watcher.check();
    expect(seen).toEqual([]);

    await writeFile(file, 'd = 2\n');
    await waitFor(() => seen.length > 0, { message: 'recreated file delivered' });
    expect(seen).toEqual(['d = 2\n']);
    expect(logged(logs, 'config file is back')).toBeDefined();
    expect(logs.filter((l) => l.msg.startsWith('config file missing'))).toHaveLength(1);
  });

  it('delivers the first content of a file that did not exist at start', async () => {
    const { seen } = await start();
    await atomicSave(file, 'late = 1\n');
    await waitFor(() => seen.length > 0, { message: 'late file delivered' });
    expect(seen).toEqual(['late = 1\n']);
  });

  it('check() reads now, without waiting for an event', async () => {
    await writeFile(file, 'c = 1\n');
    const { watcher, seen } = await start({ debounceMs: 60_000 });

    await inPlaceWrite(file, 'c = 2\n');
    await watcher.check();
    expect(seen).toEqual(['c = 2\n']);
    await watcher.check();
    expect(seen).toEqual(['c = 2\n']);
  });

  it("judges every read by the caller's applied(): what it applied itself is not delivered, what it dropped is", async () => {
    await writeFile(file, 'f = 1\n');
    let applied: string | undefined = sha256('f = 1\n');
    const seen: string[] = [];
    const { watcher, logs } = await start({
      debounceMs: 60_000,
      applied: () => applied,
      onChange: (content) => {
        seen.push(content);
        applied = sha256(content);
      },
    });
    await watcher.check();
    expect(seen).toEqual([]);

    // The caller read and applied an edit by itself (a reload) before the watcher read it.
    await inPlaceWrite(file, 'f = 2\n');
    applied = sha256('f = 2\n');
    await watcher.check();
    expect(seen).toEqual([]);
    expect(logged(logs, 'config file changed')).toBeUndefined();

    // The caller dropped what it had (it applied a failure to read the file): the same content is new again.
    applied = undefined;
    await watcher.check();
    expect(seen).toEqual(['f = 2\n']);
    await watcher.check();
    expect(seen).toEqual(['f = 2\n']);
  });

  it('keeps watching after onChange throws', async () => {
    await writeFile(file, 't = 1\n');
    const seen: string[] = [];
    const { logs } = await start({
      onChange: (content) => {
        seen.push(content);
        if (seen.length === 1) throw new Error('handler bug');
      },
    });

    await atomicSave(file, 't = 2\n');
    await waitFor(() => logged(logs, 'config change handler failed'), { message: 'failure logged' });
    await atomicSave(file, 't = 3\n');
    await waitFor(() => seen.length === 2, { message: 'next change delivered' });
    expect(seen).toEqual(['t = 2\n', 't = 3\n']);
  });

  it('delivers nothing after close(), even with a read already scheduled', async () => {
    await writeFile(file, 'x = 1\n');
    const { watcher, seen, logs } = await start();

    await atomicSave(file, 'x = 2\n');
    await waitFor(() => seen.length > 0, { message: 'delivered before close' });

    const events = logs.filter((record) => record.msg === 'config folder event').length;
    await atomicSave(file, 'x = 3\n');
    // The event is in and its debounced read pending: close() must cancel it.
    await waitFor(() => logs.filter((record) => record.msg === 'config folder event').length > events, {
      message: 'event before close',
    });
    await watcher.close();
    await atomicSave(file, 'x = 4\n');
    await watcher.check();
    await sleep(QUIET_MS);
    expect(seen).toEqual(['x = 2\n']);
  });
});
