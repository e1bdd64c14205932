import { open, mkdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

// Editor-like writers for watcher tests: each reproduces the file-system operations a real editor
// or platform performs, so a watcher is tested against what users actually do to a config file.

let sequence = 0;

/**
 * Save the way vim (backupcopy=no), VS Code's safe write and most config tools do: write a temp
 * sibling, then rename it over the target. The target gets a new inode; a watcher holding the old
 * one sees nothing more.
 */
export async function atomicSave(path: string, content: string): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${++sequence}.tmp`);
  await writeFile(temp, content);
  await rename(temp, path);
}

/** Truncate and rewrite the same inode, like `echo > file`, nano, or an editor with backupcopy=yes. */
export async function inPlaceWrite(path: string, content: string): Promise<void> {
  await writeFile(path, content, { flag: 'w' });
}

/**
 * Write the first half of `content` in place, pause `gapMs`, then write the rest: a slow writer
 * (a large paste over SSH, a tool streaming its output) that a watcher can catch half-way.
 */
export async function partialThenComplete(path: string, content: string, gapMs = 250): Promise<void> {
  const half = Math.floor(content.length / 2);
  const handle = await open(path, 'w');
  try {
    await handle.write(content.slice(0, half));
    await handle.sync();
    await sleep(gapMs);
    await handle.write(content.slice(half));
  } finally {
    await handle.close();
  }
}

/**
 * Publish `content` as `dir/name` the way the kubelet updates a ConfigMap volume:
 * `dir/..<timestamp>/name` holds the real file, `dir/..data` links to the current timestamp folder
 * and `dir/name` links to `..data/name`. The first call lays that out; later calls write a new
 * timestamp folder, point a `..data_tmp` link at it, rename that over `..data` (the one atomic
 * step), then remove the old folder (unless `removeOld` is false: the old file then lives on, and
 * only the `..` entries show that anything changed). `dir/name` itself never changes.
 */
export async function configMapSwap(
  dir: string,
  name: string,
  content: string,
  { removeOld = true }: { removeOld?: boolean } = {},
): Promise<void> {
  const stamp = `..${new Date().toISOString().replace(/[-:T]/g, '_').replace(/\..*$/, '')}.${process.pid}${++sequence}`;
  await mkdir(join(dir, stamp));
  await writeFile(join(dir, stamp, name), content);

  const data = join(dir, '..data');
  const previous = await readlink(data).catch(() => undefined);
  const tmp = join(dir, '..data_tmp');
  await symlink(stamp, tmp);
  await rename(tmp, data);
  if (previous === undefined) {
    await symlink(join('..data', name), join(dir, name));
  } else if (removeOld) {
    await rm(join(dir, previous), { recursive: true, force: true });
  }
}
