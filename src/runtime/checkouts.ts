/**
 * Which folder an instance of a server runs in. A server with `repo` has two checkout folders,
 * `repos_dir/NAME` and `repos_dir/NAME.alt`: a successor whose checkout differs from the one
 * serving (another ref, repo or install) is built in the folder the serving one does not use, so
 * the old keeps serving until the new is ready. The other folder keeps the previous checkout and
 * its install, so going back to it needs no network and no install.
 */
import { readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServerSpec } from '../config/types.js';
import { sameCheckout } from '../reconcile/plan.js';
import { recordedRef } from './git.js';

/** A live instance of the server (not resting), and the folder it runs in. */
export interface Peer {
  spec: ServerSpec;
  workdir: string;
}

export interface FolderOptions {
  reposDir: string;
  /** Where a server without `repo` runs: the config file's folder. */
  configDir: string;
  /** Whether `dir` holds a checkout of `repo` at `ref` already (its last checkout). */
  holds?: (dir: string, repo: string, ref: string | undefined) => boolean;
  /** When an instance running in `dir` was last ready (ms since the epoch), 0 for never. */
  servedAt?: (dir: string) => number;
}

/** Touched in a checkout's `.git` each time an instance running there becomes ready. */
const SERVED_FILE = 'mcp-orchestrator-served';

/** The second checkout folder's suffix; a server name cannot hold a dot, so it names no server. */
const ALTERNATE_SUFFIX = '.alt';

/** The folders a server with `repo` may be checked out in, the usual one first. */
function checkoutFolders(reposDir: string, name: string): [string, string] {
  return [join(reposDir, name), join(reposDir, `${name}${ALTERNATE_SUFFIX}`)];
}

/** The server's other checkout folder. */
export function siblingOf(folder: string): string {
  return folder.endsWith(ALTERNATE_SUFFIX) ? folder.slice(0, -ALTERNATE_SUFFIX.length) : `${folder}${ALTERNATE_SUFFIX}`;
}

/**
 * Whether `folder` is the one of its server's two that served last (or neither ever served): its
 * record of the ref it holds is current, while the other's may be old (a branch moved since).
 */
export function servedLast(folder: string, servedAt: (dir: string) => number = lastServed): boolean {
  return servedAt(folder) >= servedAt(siblingOf(folder));
}

/**
 * The folder for a new instance of `spec`, given the live instances of the same server. It shares
 * a peer's folder when their checkouts are the same; otherwise it takes a folder no peer uses:
 * one that holds its checkout already, else the one that served last, where a server stopped for
 * its change is checked out again in place. Of two that qualify alike, the one that served last:
 * after a restart the server runs where it ran before.
 */
export function folderFor(spec: ServerSpec, peers: readonly Peer[], options: FolderOptions): string {
  if (spec.repo === undefined) return options.configDir;
  const repo = spec.repo;
  const sharing = peers.find((peer) => sameCheckout(peer.spec, spec));
  if (sharing) return sharing.workdir;
  const folders = checkoutFolders(options.reposDir, spec.name);
  const free = folders.filter((folder) => !peers.some((peer) => peer.workdir === folder));
  const holds = options.holds ?? holdsCheckout;
  const servedAt = options.servedAt ?? lastServed;
  const byLastServed = [...free].sort((a, b) => servedAt(b) - servedAt(a));
  // The controller starts such a successor only once a folder is free; the usual one otherwise.
  return byLastServed.find((folder) => holds(folder, repo, spec.ref)) ?? byLastServed[0] ?? folders[0];
}

/** Record that an instance running in checkout `dir` is ready (best effort). */
export async function markServed(dir: string): Promise<void> {
  await writeFile(join(dir, '.git', SERVED_FILE), `${new Date().toISOString()}\n`).catch(() => {});
}

/** When an instance in checkout `dir` was last ready, in ms since the epoch; 0 for never. */
export function lastServed(dir: string): number {
  try {
    return statSync(join(dir, '.git', SERVED_FILE)).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * Whether `dir` was last checked out from `repo` at `ref`: the state the checkout records in
 * `.git`, and its origin in `.git/config`. Read synchronously: two small files.
 */
export function holdsCheckout(dir: string, repo: string, ref: string | undefined): boolean {
  if (recordedRef(dir) !== (ref ?? null)) return false;
  try {
    return originOf(readFileSync(join(dir, '.git', 'config'), 'utf8')) === repo;
  } catch {
    return false;
  }
}

/** `remote.origin.url` from the text of a `.git/config`. */
export function originOf(config: string): string | undefined {
  let inOrigin = false;
  for (const raw of config.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('[')) inOrigin = /^\[remote\s+"origin"\]$/.test(line);
    else if (inOrigin) {
      const match = /^url\s*=\s*(.*)$/.exec(line);
      if (match) return match[1];
    }
  }
  return undefined;
}

/**
 * Runs git and install work one step at a time per folder. A machine stopped while cloning or
 * installing rests at once, but the step it left goes on until its processes are gone (an install
 * gets SIGTERM, then SIGKILL after a grace); the next instance's work in that folder waits for it.
 */
export class FolderQueue {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(folder: string, signal: AbortSignal, work: () => Promise<T>): Promise<T> {
    const before = this.tails.get(folder) ?? Promise.resolve();
    const result = before.then(() => {
      signal.throwIfAborted();
      return work();
    });
    const tail = result.then(
      () => {},
      () => {},
    );
    this.tails.set(folder, tail);
    void tail.then(() => {
      if (this.tails.get(folder) === tail) this.tails.delete(folder);
    });
    return result;
  }
}
