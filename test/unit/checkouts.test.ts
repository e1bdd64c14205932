import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FolderQueue, folderFor, holdsCheckout, originOf, servedLast } from '../../src/runtime/checkouts.js';
import { CHECKOUT_STATE_FILE } from '../../src/runtime/git.js';
import { spec } from '../machines/fakes.js';
import { TempDirs } from '../helpers/tmp.js';

const reposDir = '/srv/repos';
const primary = '/srv/repos/alpha';
const alternate = '/srv/repos/alpha.alt';
const v1 = spec({ ref: 'v1' });
const v2 = spec({ ref: 'v2' });

describe('folderFor', () => {
  const options = (held: Record<string, string> = {}) => ({
    reposDir,
    configDir: '/srv/config',
    holds: (dir: string, _repo: string, ref: string | undefined) => held[dir] === ref,
  });

  it('runs a server without a repository in the config folder', () => {
    expect(folderFor(spec({ repo: undefined }), [], options())).toBe('/srv/config');
  });

  it('uses repos_dir/NAME when nothing else holds the checkout', () => {
    expect(folderFor(v1, [], options())).toBe(primary);
  });

  it('goes back to the folder that holds the checkout already, with no live instance', () => {
    expect(folderFor(v1, [], options({ [alternate]: 'v1', [primary]: 'v2' }))).toBe(alternate);
  });

  it('shares the folder of a live instance with the same checkout (an env change)', () => {
    expect(folderFor(spec({ ref: 'v1', env: { X: '1' } }), [{ spec: v1, workdir: alternate }], options())).toBe(alternate);
  });

  it('gives a successor on another ref the folder the serving instance does not use', () => {
    expect(folderFor(v2, [{ spec: v1, workdir: primary }], options())).toBe(alternate);
    expect(folderFor(v2, [{ spec: v1, workdir: alternate }], options())).toBe(primary);
  });

  it('of two folders holding the checkout, takes the one that served last (a restart after an install change)', () => {
    const both = { ...options({ [primary]: 'v1', [alternate]: 'v1' }) };
    expect(folderFor(v1, [], { ...both, servedAt: (dir) => (dir === alternate ? 2000 : 1000) })).toBe(alternate);
    expect(folderFor(v1, [], { ...both, servedAt: (dir) => (dir === primary ? 2000 : 1000) })).toBe(primary);
  });

  it('with no live instance and neither folder holding the ref, checks out in place where it served last (a server stopped for its change)', () => {
    expect(folderFor(spec({ ref: 'v3' }), [], { ...options(), servedAt: (dir) => (dir === primary ? 2000 : 1000) })).toBe(primary);
    expect(folderFor(spec({ ref: 'v3' }), [], { ...options(), servedAt: (dir) => (dir === alternate ? 2000 : 1000) })).toBe(alternate);
  });

  it('counts another install as another checkout', () => {
    expect(folderFor(spec({ ref: 'v1', install: { kind: 'none' } }), [{ spec: v1, workdir: primary }], options())).toBe(alternate);
  });
});

describe('servedLast', () => {
  it("compares a folder with the server's other one", () => {
    const servedAt = (dir: string) => ({ [primary]: 2000, [alternate]: 1000 })[dir] ?? 0;
    expect(servedLast(primary, servedAt)).toBe(true);
    expect(servedLast(alternate, servedAt)).toBe(false);
    expect(servedLast('/srv/repos/beta', () => 0)).toBe(true);
  });
});

describe('holdsCheckout', () => {
  const temp = new TempDirs();
  afterEach(() => temp.cleanup());

  function checkout(ref: string | null, config: string): string {
    const dir = join(temp.make('mcpo-checkouts-'), 'alpha');
    mkdirSync(join(dir, '.git'), { recursive: true });
    writeFileSync(join(dir, '.git', CHECKOUT_STATE_FILE), JSON.stringify({ ref, commit: 'abc' }));
    writeFileSync(join(dir, '.git', 'config'), config);
    return dir;
  }
  const config = (url: string) => `[core]\n\tbare = false\n[remote "origin"]\n\turl = ${url}\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n`;

  it('is true only for the same repository at the same ref', () => {
    const dir = checkout('v1', config('file:///repos/alpha.git'));
    expect(holdsCheckout(dir, 'file:///repos/alpha.git', 'v1')).toBe(true);
    expect(holdsCheckout(dir, 'file:///repos/alpha.git', 'v2')).toBe(false);
    expect(holdsCheckout(dir, 'file:///repos/beta.git', 'v1')).toBe(false);
  });

  it('matches no ref (the default branch) only to a checkout made without one', () => {
    const dir = checkout(null, config('file:///repos/alpha.git'));
    expect(holdsCheckout(dir, 'file:///repos/alpha.git', undefined)).toBe(true);
    expect(holdsCheckout(dir, 'file:///repos/alpha.git', 'main')).toBe(false);
  });

  it('is false for a folder that is no checkout of ours', () => {
    expect(holdsCheckout(join(temp.make('mcpo-checkouts-'), 'missing'), 'file:///repos/alpha.git', 'v1')).toBe(false);
  });
});

describe('originOf', () => {
  it('reads remote.origin.url, not another remote', () => {
    expect(originOf('[remote "upstream"]\n\turl = https://a.example/x.git\n[remote "origin"]\n\turl = https://b.example/y.git\n')).toBe('https://b.example/y.git');
    expect(originOf('[core]\n\tbare = false\n')).toBeUndefined();
  });
});

describe('FolderQueue', () => {
  /** A step that runs until `finish` is called, recording when it starts and ends. */
  function step(events: string[], name: string): { work: () => Promise<string>; finish: () => void } {
    let finish = () => {};
    const done = new Promise<void>((resolve) => (finish = resolve));
    return {
      work: async () => {
        events.push(`${name} start`);
        await done;
        events.push(`${name} end`);
        return name;
      },
      finish: () => finish(),
    };
  }
  const settle = () => new Promise((resolve) => setImmediate(resolve));

  it("starts a folder's next step only once the one before has ended, even if that one's machine gave up on it", async () => {
    const queue = new FolderQueue();
    const events: string[] = [];
    const abandoned = new AbortController();
    const first = step(events, 'install of the stopped instance');
    const second = step(events, 'clone of the next instance');
    const firstResult = queue.run('/repos/a.alt', abandoned.signal, first.work);
    await settle();
    // Its machine was stopped: it rests, but the install's processes are still being ended.
    abandoned.abort();
    const secondResult = queue.run('/repos/a.alt', new AbortController().signal, second.work);
    await settle();
    expect(events).toEqual(['install of the stopped instance start']);
    first.finish();
    await firstResult;
    await settle();
    second.finish();
    expect(await secondResult).toBe('clone of the next instance');
    expect(events).toEqual(['install of the stopped instance start', 'install of the stopped instance end', 'clone of the next instance start', 'clone of the next instance end']);
  });

  it('goes on after a step that failed, and never waits across folders', async () => {
    const queue = new FolderQueue();
    const events: string[] = [];
    const failing = queue.run('/repos/a', new AbortController().signal, () => Promise.reject(new Error('npm ci failed')));
    const other = step(events, 'b');
    const otherResult = queue.run('/repos/b', new AbortController().signal, other.work);
    await settle();
    expect(events).toEqual(['b start']);
    other.finish();
    await otherResult;
    await expect(failing).rejects.toThrow('npm ci failed');
    expect(await queue.run('/repos/a', new AbortController().signal, async () => 'after')).toBe('after');
  });

  it('does not start a step whose own machine gave up while it waited', async () => {
    const queue = new FolderQueue();
    const events: string[] = [];
    const first = step(events, 'first');
    void queue.run('/repos/a', new AbortController().signal, first.work);
    const waiting = new AbortController();
    const never = queue.run('/repos/a', waiting.signal, async () => {
      events.push('never');
      return 'never';
    });
    waiting.abort(new Error('stopped'));
    first.finish();
    await expect(never).rejects.toThrow('stopped');
    expect(events).toEqual(['first start', 'first end']);
  });
});
