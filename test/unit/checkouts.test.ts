import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { folderFor, holdsCheckout, originOf } from '../../src/runtime/checkouts.js';
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

  it('counts another install as another checkout', () => {
    expect(folderFor(spec({ ref: 'v1', install: { kind: 'none' } }), [{ spec: v1, workdir: primary }], options())).toBe(alternate);
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
