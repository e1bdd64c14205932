import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readArgv, snapshotProcesses } from '../../src/runtime/procfs.js';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { CHECKOUT_STATE_FILE, ensureCheckout } from '../../src/runtime/git.js';
import { makeBareRepo, makeRepoFromRevisions, type BareRepo } from '../helpers/gitrepos.js';
import { memoryLogger } from '../helpers/logs.js';
import { isPidAlive } from '../helpers/pids.js';
import { TempDirs } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const temp = new TempDirs();
const log = silentLogger();
let alpha: BareRepo;
let beta: BareRepo;

beforeAll(() => {
  const root = temp.make('mcp-orch-repos-');
  alpha = makeBareRepo(root, 'alpha', ['v1', 'v2']);
  beta = makeBareRepo(root, 'beta', ['v1'], true);
});

afterAll(() => temp.cleanup());

/** A fresh, not yet existing checkout folder inside its own temp folder. */
function checkoutDir(): string {
  return join(temp.make('mcp-orch-checkout-'), 'server');
}

const version = (dir: string): string => readFileSync(join(dir, 'version.txt'), 'utf8').trim();

describe('ensureCheckout', () => {
  it('clones, switches refs, skips an unchanged ref without the network, and re-clones a new repo', async () => {
    const dir = checkoutDir();
    expect(await ensureCheckout({ repo: alpha.url, ref: 'v1', dir, log })).toEqual({ dir, commit: alpha.commits.v1, action: 'cloned' });
    expect(version(dir)).toBe('alpha v1');

    expect(await ensureCheckout({ repo: alpha.url, ref: 'v2', dir, log })).toEqual({ dir, commit: alpha.commits.v2, action: 'checked-out' });
    expect(version(dir)).toBe('alpha v2');

    // With the remote gone, only a decision that never fetches can still succeed.
    const bare = new URL(alpha.url).pathname;
    renameSync(bare, `${bare}.away`);
    try {
      expect(await ensureCheckout({ repo: alpha.url, ref: 'v2', dir, log })).toEqual({ dir, commit: alpha.commits.v2, action: 'unchanged' });
    } finally {
      renameSync(`${bare}.away`, bare);
    }

    expect(await ensureCheckout({ repo: beta.url, ref: 'v1', dir, log })).toEqual({ dir, commit: beta.commits.v1, action: 'recloned' });
    expect(version(dir)).toBe('beta v1');
    expect(readdirSync(join(dir, '..'))).toEqual(['server']);
  });

  it('replaces a folder that is not a checkout', async () => {
    const dir = checkoutDir();
    mkdirSync(dir);
    writeFileSync(join(dir, 'stray.txt'), 'left over\n');
    expect(await ensureCheckout({ repo: alpha.url, ref: 'v1', dir, log })).toMatchObject({ commit: alpha.commits.v1, action: 'recloned' });
    expect(existsSync(join(dir, 'stray.txt'))).toBe(false);
  });

  it('works with the variables simple-git guards in the environment (EDITOR, GIT_CONFIG_GLOBAL)', async () => {
    const saved = { EDITOR: process.env.EDITOR, GIT_CONFIG_GLOBAL: process.env.GIT_CONFIG_GLOBAL };
    Object.assign(process.env, { EDITOR: 'vi', GIT_CONFIG_GLOBAL: '/dev/null' });
    try {
      expect(await ensureCheckout({ repo: alpha.url, ref: 'v2', dir: checkoutDir(), log })).toMatchObject({ commit: alpha.commits.v2, action: 'cloned' });
    } finally {
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });

  it('checks out over local changes to tracked files', async () => {
    const dir = checkoutDir();
    await ensureCheckout({ repo: alpha.url, ref: 'v2', dir, log });
    writeFileSync(join(dir, 'version.txt'), 'edited\n');
    expect(await ensureCheckout({ repo: alpha.url, ref: 'v1', dir, log })).toMatchObject({ commit: alpha.commits.v1, action: 'checked-out' });
    expect(version(dir)).toBe('alpha v1');
  });

  it('clones the default branch without a ref and keeps it', async () => {
    const dir = checkoutDir();
    expect(await ensureCheckout({ repo: alpha.url, dir, log })).toMatchObject({ commit: alpha.commits.main, action: 'cloned' });
    expect(await ensureCheckout({ repo: alpha.url, dir, log })).toMatchObject({ commit: alpha.commits.main, action: 'unchanged' });
    expect(await ensureCheckout({ repo: alpha.url, ref: 'v1', dir, log })).toMatchObject({ commit: alpha.commits.v1, action: 'checked-out' });
    expect(await ensureCheckout({ repo: alpha.url, dir, log })).toMatchObject({ commit: alpha.commits.main, action: 'checked-out' });
  });

  it.each([
    { kind: 'a full commit sha', ref: () => alpha.commits.v1 ?? '' },
    { kind: 'an abbreviated commit sha', ref: () => (alpha.commits.v1 ?? '').slice(0, 10) },
    { kind: 'a branch', ref: () => 'main' },
  ])('clones and checks out $kind', async ({ ref }) => {
    const dir = checkoutDir();
    const expected = ref() === 'main' ? alpha.commits.main : alpha.commits.v1;
    expect(await ensureCheckout({ repo: alpha.url, ref: ref(), dir, log })).toMatchObject({ commit: expected, action: 'cloned' });
    const other = ref() === 'main' ? alpha.commits.v1 : alpha.commits.v2;
    const otherRef = ref().length === 10 ? (other ?? '').slice(0, 10) : (other ?? '');
    expect(await ensureCheckout({ repo: alpha.url, ref: otherRef, dir, log })).toMatchObject({ commit: other, action: 'checked-out' });
  });

  it('checks out an annotated tag as its commit', async () => {
    const dir = checkoutDir();
    expect(await ensureCheckout({ repo: beta.url, ref: 'v1', dir, log })).toMatchObject({ commit: beta.commits.v1, action: 'cloned' });
  });

  it('rejects an unreachable repository with a readable message and leaves nothing', async () => {
    const dir = checkoutDir();
    const failure = ensureCheckout({ repo: 'file:///nonexistent', ref: 'v1', dir, log });
    await expect(failure).rejects.toThrow(/^git clone of file:\/\/\/nonexistent failed: .*does not appear to be a git repository/);
    expect(readdirSync(join(dir, '..'))).toEqual([]);
  });

  it('rejects an unknown ref and keeps the current checkout', async () => {
    const dir = checkoutDir();
    await ensureCheckout({ repo: alpha.url, ref: 'v1', dir, log });
    await expect(ensureCheckout({ repo: alpha.url, ref: 'no-such-tag', dir, log })).rejects.toThrow(/^git fetch of file:\/\/.* failed: couldn't find remote ref no-such-tag/);
    expect(version(dir)).toBe('alpha v1');
    const fresh = checkoutDir();
    await expect(ensureCheckout({ repo: alpha.url, ref: 'no-such-tag', dir: fresh, log })).rejects.toThrow(/^git clone of file:\/\/.* failed: Remote branch no-such-tag not found/);
    expect(existsSync(fresh)).toBe(false);
    await expect(ensureCheckout({ repo: alpha.url, ref: 'deadbeef', dir: fresh, log })).rejects.toThrow(/^git fetch of file:\/\/.* failed: no commit matches "deadbeef"/);
    expect(existsSync(fresh)).toBe(false);
  });

  it('forgets which ref the folder holds when a checkout fails, so nothing later takes the tree for it', async () => {
    const repo = makeRepoFromRevisions(temp.make('mcp-orch-repos-'), 'gamma', [
      { tag: 'v1', files: { 'version.txt': 'gamma v1\n' } },
      { tag: 'v2', files: { 'extra.txt': 'added in v2\n' } },
    ]);
    const dir = checkoutDir();
    await ensureCheckout({ repo: repo.url, ref: 'v1', dir, log });
    // A lock left on the index (another git, a crash): the fetch succeeds, the checkout cannot.
    writeFileSync(join(dir, '.git', 'index.lock'), '');
    await expect(ensureCheckout({ repo: repo.url, ref: 'v2', dir, log })).rejects.toThrow(/^git checkout of file:\/\/.* failed/);
    expect(existsSync(join(dir, '.git', CHECKOUT_STATE_FILE))).toBe(false);
    rmSync(join(dir, '.git', 'index.lock'));
    // Asked for v1 again, it checks v1 out rather than trusting a record of it.
    expect(await ensureCheckout({ repo: repo.url, ref: 'v1', dir, log })).toEqual({ dir, commit: repo.commits.v1, action: 'checked-out' });
  });

  it('fetches a branch again in a folder whose record is not trusted, and trusts a full commit id anyway', async () => {
    const root = temp.make('mcp-orch-repos-');
    const repo = makeRepoFromRevisions(root, 'delta', [{ tag: 'v1', files: { 'version.txt': 'delta v1\n' } }]);
    const dir = checkoutDir();
    // On the branch main, as it is now.
    await ensureCheckout({ repo: repo.url, ref: 'main', dir, log });
    const moved = makeRepoFromRevisions(root, 'delta-next', [{ tag: 'v1', files: { 'version.txt': 'delta v1\n' } }, { tag: 'v2', files: { 'version.txt': 'delta v2\n' } }]);
    // The branch moves on: point the folder's remote at a repository whose main has a newer commit.
    execFileSync('git', ['-C', dir, 'remote', 'set-url', 'origin', moved.url]);
    const record = JSON.parse(readFileSync(join(dir, '.git', CHECKOUT_STATE_FILE), 'utf8')) as { ref: string };
    expect(record.ref).toBe('main');
    expect(await ensureCheckout({ repo: moved.url, ref: 'main', dir, log })).toMatchObject({ action: 'unchanged' });
    expect(await ensureCheckout({ repo: moved.url, ref: 'main', dir, log, trustRecord: false })).toEqual({ dir, commit: moved.commits.v2, action: 'checked-out' });
    expect(version(dir)).toBe('delta v2');
    const full = moved.commits.v2!;
    await ensureCheckout({ repo: moved.url, ref: full, dir, log });
    expect(await ensureCheckout({ repo: moved.url, ref: full, dir, log, trustRecord: false })).toMatchObject({ action: 'unchanged' });
  });

  it('checks out a pinned commit as a checkout of its ref, whatever the ref names now', async () => {
    const repo = makeRepoFromRevisions(temp.make('mcp-orch-repos-'), 'epsilon', [
      { tag: 'v1', files: { 'version.txt': 'epsilon v1\n' } },
      { tag: 'v2', files: { 'version.txt': 'epsilon v2\n' } },
    ]);
    const dir = checkoutDir();
    // main is at v2 now; the pin asks for the commit tagged v1.
    expect(await ensureCheckout({ repo: repo.url, ref: 'main', pin: repo.commits.v1, dir, log })).toEqual({ dir, commit: repo.commits.v1, action: 'cloned' });
    expect(version(dir)).toBe('epsilon v1');
    expect(JSON.parse(readFileSync(join(dir, '.git', CHECKOUT_STATE_FILE), 'utf8'))).toEqual({ ref: 'main', commit: repo.commits.v1 });
    // Unpinned later (a restart), the record stands for main: no fetch, still v1.
    expect(await ensureCheckout({ repo: repo.url, ref: 'main', dir, log })).toEqual({ dir, commit: repo.commits.v1, action: 'unchanged' });
    // Pinned to another commit, it checks that one out.
    expect(await ensureCheckout({ repo: repo.url, ref: 'main', pin: repo.commits.v2, dir, log })).toEqual({ dir, commit: repo.commits.v2, action: 'checked-out' });
    await expect(ensureCheckout({ repo: repo.url, ref: 'main', pin: 'v1', dir, log })).rejects.toThrow('invalid commit to pin "v1"');
  });

  it('fetches a pinned commit from the checkout serving it, when the remote no longer has it', async () => {
    const root = temp.make('mcp-orch-repos-');
    const before = makeRepoFromRevisions(root, 'zeta', [{ tag: 'v1', files: { 'version.txt': 'zeta v1\n' } }]);
    const serving = checkoutDir();
    await ensureCheckout({ repo: before.url, ref: 'main', dir: serving, log });
    // main force-pushed: the remote now holds another history, without the serving commit.
    const after = makeRepoFromRevisions(root, 'zeta-rewritten', [{ tag: 'v1', files: { 'version.txt': 'zeta rewritten\n' } }]);
    const dir = checkoutDir();
    await expect(ensureCheckout({ repo: after.url, ref: 'main', pin: before.commits.v1!, dir, log })).rejects.toThrow(/no commit matches/);
    expect(await ensureCheckout({ repo: after.url, ref: 'main', pin: before.commits.v1!, pinSource: serving, dir, log })).toEqual({ dir, commit: before.commits.v1, action: 'cloned' });
    expect(version(dir)).toBe('zeta v1');
    // Its origin is still the repository of the spec.
    expect(execFileSync('git', ['-C', dir, 'config', '--get', 'remote.origin.url'], { encoding: 'utf8' }).trim()).toBe(after.url);
  });

  it('never shows the credentials of a URL, in errors or in logs', async () => {
    const { log: recording, lines } = memoryLogger();
    const dir = checkoutDir();
    const failure = ensureCheckout({ repo: 'https://user:s3cret@127.0.0.1:1/x.git', ref: 'v1', dir, log: recording });
    const error = await failure.then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(/^git clone of https:\/\/\*\*\*@127\.0\.0\.1:1\/x\.git failed: /);
    expect(error?.message).not.toContain('s3cret');
    expect(String(error?.stack)).not.toContain('s3cret');
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('')).not.toContain('s3cret');
  });

  it.each([
    { repo: '--upload-pack=touch /tmp/pwned', ref: undefined },
    { repo: 'file:///x', ref: '--output=/tmp/pwned' },
  ])('refuses an argument that git would read as an option: $repo $ref', async ({ repo, ref }) => {
    await expect(ensureCheckout({ repo, ref, dir: checkoutDir(), log })).rejects.toThrow(/^invalid git (repo|ref)/);
  });

  describe('abort', () => {
    let server: Server;
    let requests = 0;

    beforeAll(async () => {
      // Accepts git's first request and never answers, so a clone from it hangs until aborted.
      server = createServer(() => {
        requests += 1;
      });
      await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    });

    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    });

    it('stops a clone in progress and leaves no folder and no git process', async () => {
      const { port } = server.address() as AddressInfo;
      const repo = `http://127.0.0.1:${port}/hang.git`;
      const dir = checkoutDir();
      const controller = new AbortController();
      const cloning = ensureCheckout({ repo, ref: 'v1', dir, log, signal: controller.signal });
      await waitFor(() => requests > 0, { message: 'git reached the server' });
      controller.abort(new Error('stopped'));
      await expect(cloning).rejects.toThrow('stopped');
      expect(readdirSync(join(dir, '..'))).toEqual([]);
      expect(gitProcessesFor(repo).filter(isPidAlive)).toEqual([]);
    });
  });
});

/** Pids of processes whose command line mentions `url` (git and its transport helpers). */
function gitProcessesFor(url: string): number[] {
  return [...snapshotProcesses().keys()].filter((pid) => readArgv(pid)?.some((arg) => arg.includes(url)) === true);
}
