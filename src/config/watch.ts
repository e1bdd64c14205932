import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { EventName } from 'chokidar/handler.js';
import type { Logger } from '../log.js';

/** A running watch on one config file. */
export interface ConfigWatcher {
  /** Stop watching and clear every timer. Idempotent; `onChange` is never called once it was called. */
  close(): Promise<void>;
  /**
   * Re-read the file now (a periodic resync, an API-triggered reload) and deliver it if it
   * changed. Resolves once a read that started after the call has finished; never rejects.
   */
  check(): Promise<void>;
}

export interface WatchConfigOptions {
  /**
   * Receives the file's whole content each time it differs (by SHA-256) from the content last
   * delivered, or from `applied()` when that is given. Calls never overlap and arrive in the order
   * the file was read. A throw or a rejected promise is logged. Without `applied`, the content
   * then still counts as delivered; with it, only what `applied()` says counts, so a caller
   * records the content before anything that can throw, or the next read delivers it again.
   */
  onChange: (content: string) => void;
  /**
   * Stat the folder on a timer instead of using inotify: for network and FUSE mounts, and
   * Docker Desktop bind mounts, where inotify events never arrive. `CHOKIDAR_USEPOLLING`, when
   * set, overrides this (chokidar's own global switch); the effective mode is logged.
   */
  poll?: boolean;
  /** Poll interval; default 1000 ms. `CHOKIDAR_INTERVAL`, when set, overrides it. */
  pollIntervalMs?: number;
  /**
   * Quiet time after the last event before the file is read; default 150 ms. Values below
   * 100 ms are raised to 100 ms (see MIN_DEBOUNCE_MS).
   */
  debounceMs?: number;
  log: Logger;
  /**
   * The SHA-256 (see `sha256`) of the content the caller holds applied, asked at every read. When
   * given, it is the only record a read is judged by: the content present at start is delivered
   * if it differs (an edit made between the caller's own read and the watch), an edit the caller
   * applied by itself (a reload) is not delivered again, and content it dropped is delivered when
   * next read. Without it, the watcher remembers the last content delivered, starting with the
   * content present at start, which is not delivered.
   */
  applied?: () => string | undefined;
}

const DEFAULT_DEBOUNCE_MS = 150;
// chokidar drops a path's `change` events for 50 ms after emitting one, so a write landing in
// that window is only seen if our read happens after it: the debounce must outlast the window.
const MIN_DEBOUNCE_MS = 100;
// A config edit is picked up within a second; stat-ing a few paths once a second costs nothing.
const DEFAULT_POLL_INTERVAL_MS = 1_000;

/**
 * Watch `file` and call `onChange` with its content whenever that content changes.
 *
 * The file's folder is watched, depth 0, not the file: an editor's atomic save replaces the
 * file's inode, and a Kubernetes ConfigMap volume swaps a `..data` symlink, and a watch on the
 * file itself would stay on the dead inode. Any event on the file's name or on a name starting
 * with `..` (the ConfigMap's `..data` and `..<timestamp>` entries) schedules one debounced read
 * of `file` through its symlinks. The content present at start is read before this resolves:
 * without `opts.applied` it counts as delivered and is not reported; with it, it is judged like any
 * other read (see `applied`). A missing file (mid-rename, deleted) is not an error:
 * the next event that brings it back is delivered. Nothing thrown by a read, by chokidar or by
 * `onChange` escapes; all of it is logged on `opts.log`.
 *
 * The caller must make sure the folder exists; the promise rejects if it does not (nothing in
 * it could ever be seen), and must call `close()` to release the watch.
 */
export async function watchConfigFile(file: string, opts: WatchConfigOptions): Promise<ConfigWatcher> {
  const path = resolve(file);
  const folder = dirname(path);
  const name = basename(path);
  const log = opts.log;
  const debounceMs = Math.max(opts.debounceMs ?? DEFAULT_DEBOUNCE_MS, MIN_DEBOUNCE_MS);

  const folderStats = await stat(folder);
  if (!folderStats.isDirectory()) throw new Error(`config folder ${folder} is not a directory`);

  let closed = false;
  let closing: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  /** The content last delivered (or present at start), when the caller keeps no record (`applied`). */
  let lastHash: string | undefined;

  const relevant = (entry: string): boolean => {
    const base = basename(entry);
    return base === name || base.startsWith('..');
  };

  /** Set while the file is gone: said once when it goes, and once when it is back. */
  let missing = false;
  /** Read the file; undefined when it cannot be read right now. Never throws. */
  const read = async (): Promise<string | undefined> => {
    try {
      const content = await readFile(path, 'utf8');
      if (missing) log.info({ file: path }, 'config file is back');
      missing = false;
      return content;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // Mid-rename, mid-ConfigMap-swap or deleted: the event that brings it back triggers a read.
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        if (!missing) log.warn({ file: path, code }, 'config file missing; the running config is kept until it is back');
        missing = true;
      } else log.warn({ file: path, err: error }, 'config file unreadable');
      return undefined;
    }
  };

  const deliver = (content: string): void => {
    try {
      const result: unknown = opts.onChange(content);
      // An async callback's rejection would otherwise be unhandled and could end the process.
      if (result instanceof Promise) {
        result.catch((error: unknown) => log.error({ err: error }, 'config change handler failed'));
      }
    } catch (error) {
      log.error({ err: error }, 'config change handler failed');
    }
  };

  const readAndDeliver = async (): Promise<void> => {
    if (closed) return;
    const content = await read();
    if (closed || content === undefined) return;
    const hash = sha256(content);
    if (hash === (opts.applied ? opts.applied() : lastHash)) {
      log.debug({ file: path, sha256: hash.slice(0, 12) }, 'config file unchanged');
      return;
    }
    if (!opts.applied) lastHash = hash;
    log.info({ file: path, bytes: Buffer.byteLength(content), sha256: hash.slice(0, 12) }, 'config file changed');
    deliver(content);
  };

  // Reads are single-flight: two overlapping reads could finish out of order and deliver an older
  // content last. A request during a read queues exactly one more read after it.
  let running: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  const sync = (): Promise<void> => {
    if (running === undefined) {
      running = readAndDeliver().finally(() => {
        running = undefined;
      });
      return running;
    }
    queued ??= running.then(() => {
      queued = undefined;
      return sync();
    });
    return queued;
  };

  const schedule = (): void => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      void sync();
    }, debounceMs);
  };

  const watcher: FSWatcher = watch(folder, {
    depth: 0,
    ignoreInitial: true,
    usePolling: opts.poll ?? false,
    interval: opts.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
    // Anything else in the folder (the clones under repos_dir, editors' swap files) is never
    // watched at all: no inotify watches spent on it, no events to filter.
    ignored: (entry: string) => {
      const full = resolve(entry);
      return full !== folder && (dirname(full) !== folder || !relevant(full));
    },
  });
  watcher.on('all', (event: EventName, entry: string) => {
    if (!relevant(entry)) return;
    log.debug({ event, entry: basename(entry) }, 'config folder event');
    schedule();
  });
  // chokidar filters what it reports: in poll mode it drops a change unless the size differs or
  // the mtime grew, which misses an atomic save of same-length content within one clock tick of
  // the last write (the inode changed, the name did not). Its raw events carry every change the
  // kernel or the stat poll saw; the content hash decides whether anything changed. A raw event
  // without a name (fs.watch may give none) could be the file, so it schedules a read too.
  watcher.on('raw', (event: string, entry: string | null | undefined) => {
    if (typeof entry === 'string' && !relevant(entry)) return;
    log.debug({ event, entry: typeof entry === 'string' ? basename(entry) : null }, 'config folder raw event');
    schedule();
  });
  watcher.on('error', (error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code;
    // ENOSPC here means the inotify watch limit, not a full disk; polling sidesteps it.
    const hint = code === 'ENOSPC' || code === 'EMFILE' ? 'raise fs.inotify.max_user_watches or use poll mode' : undefined;
    log.error({ folder, err: error, hint }, 'config watcher error');
  });

  const effective = { polling: watcher.options.usePolling, intervalMs: watcher.options.interval };
  if (opts.poll !== undefined && opts.poll !== effective.polling) {
    log.warn({ requested: opts.poll, polling: effective.polling }, 'CHOKIDAR_USEPOLLING overrides the poll option');
  }

  // The initial read goes through the same single-flight queue, so an event arriving while it
  // runs is read after it, against what that read found (or delivered).
  running = (async () => {
    await new Promise<void>((ready) => watcher.once('ready', ready));
    if (opts.applied) {
      await readAndDeliver();
      return;
    }
    const content = await read();
    if (content !== undefined) lastHash = sha256(content);
  })().finally(() => {
    running = undefined;
  });
  await running;
  log.info({ folder, file: name, debounceMs, ...effective }, 'watching config folder');

  return {
    close(): Promise<void> {
      closing ??= (async () => {
        closed = true;
        clearTimeout(timer);
        timer = undefined;
        await Promise.allSettled([watcher.close(), running, queued]);
        log.debug({ folder }, 'config watcher closed');
      })();
      return closing;
    },
    check: sync,
  };
}

/** The content hash a change is judged by (the watcher's and `reload`'s alike). */
export function sha256(content: string): string {
  return createHash('sha256').update(content).digest('hex');
}
