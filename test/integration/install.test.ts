import { execFileSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { InstallSpec, ServerSpec } from '../../src/config/types.js';
import { silentLogger } from '../../src/log.js';
import { ensureInstalled, venvBinDir, type InstallOptions } from '../../src/runtime/install.js';
import { isPidAlive, waitForPids } from '../helpers/pids.js';
import { TempDirs } from '../helpers/tmp.js';
import { spec as baseSpec } from '../machines/fakes.js';

const REPOS = fileURLToPath(new URL('../fixtures/repos/', import.meta.url));
const temp = new TempDirs();
afterEach(() => temp.cleanup());

function spec(install: InstallSpec): ServerSpec {
  const { repo: _repo, ...local } = baseSpec({ name: 'fixture', command: ['true'], install });
  return local;
}

/** The test process's environment plus `extra`, with npm kept off the network and out of ~/.npm. */
function stepEnv(root: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value;
  return { ...env, npm_config_cache: join(root, 'npm-cache'), npm_config_update_notifier: 'false', ...extra };
}

/** A workdir holding a copy of `fixture` (or empty), and options to install it. */
function setup(fixture: string | undefined, install: InstallSpec, extra: (root: string) => Record<string, string> = () => ({})): InstallOptions & { root: string } {
  const root = temp.make('mcp-orch-install-');
  const workdir = join(root, 'work');
  if (fixture) cpSync(join(REPOS, fixture), workdir, { recursive: true });
  else mkdirSync(workdir, { recursive: true });
  return { root, spec: spec(install), workdir, markerFile: join(root, 'state', 'install.json'), commit: 'c0ffee', env: stepEnv(root, extra(root)), log: silentLogger() };
}

const lines = (file: string): string[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

describe('ensureInstalled', () => {
  it('runs npm ci once for a locked Node project, and again only when an input changed', async () => {
    const opts = setup('node-postinstall', { kind: 'auto' }, (root) => ({ INSTALL_LOG: join(root, 'installs.log') }));
    const log = join(opts.root, 'installs.log');
    expect(await ensureInstalled(opts)).toEqual({ skipped: false, description: 'npm ci --no-audit --no-fund' });
    expect(lines(log)).toHaveLength(1);

    expect(await ensureInstalled(opts)).toEqual({ skipped: true, description: 'npm ci --no-audit --no-fund' });
    expect(lines(log)).toHaveLength(1);

    expect(await ensureInstalled({ ...opts, commit: 'facade' })).toMatchObject({ skipped: false });
    expect(lines(log)).toHaveLength(2);

    rmSync(join(opts.workdir, 'node_modules'), { recursive: true });
    expect(await ensureInstalled({ ...opts, commit: 'facade' })).toMatchObject({ skipped: false });
    expect(lines(log)).toHaveLength(3);
  });

  it('uses npm install without a lockfile', async () => {
    const opts = setup('node-postinstall', { kind: 'auto' }, (root) => ({ INSTALL_LOG: join(root, 'installs.log') }));
    rmSync(join(opts.workdir, 'package-lock.json'));
    expect(await ensureInstalled(opts)).toEqual({ skipped: false, description: 'npm install --no-audit --no-fund' });
    expect(lines(join(opts.root, 'installs.log'))).toHaveLength(1);
  });

  it("in a checkout, a lockfile an earlier npm install left is not the checkout's: npm install again, and no reinstall for it", async () => {
    // GIT_DIR in the server's environment (passed on to its steps) must not point the check elsewhere.
    const opts = setup('node-postinstall', { kind: 'auto' }, (root) => ({ INSTALL_LOG: join(root, 'installs.log'), GIT_DIR: join(root, 'elsewhere') }));
    rmSync(join(opts.workdir, 'package-lock.json'));
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: opts.workdir, stdio: 'pipe', env: { ...process.env, GIT_DIR: undefined } });
    git('init', '-q');
    git('add', '-A');
    git('commit', '-qm', 'no lockfile');
    expect(await ensureInstalled(opts)).toEqual({ skipped: false, description: 'npm install --no-audit --no-fund' });
    expect(existsSync(join(opts.workdir, 'package-lock.json'))).toBe(true);
    // The lockfile npm just wrote is part of what the marker saw: the next start skips.
    expect(await ensureInstalled(opts)).toMatchObject({ skipped: true });

    // Another ref, whose package.json differs: the leftover lockfile must not turn this into npm ci.
    const manifest = JSON.parse(readFileSync(join(opts.workdir, 'package.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(opts.workdir, 'package.json'), JSON.stringify({ ...manifest, description: 'the next ref' }));
    git('commit', '-qam', 'next ref');
    expect(await ensureInstalled({ ...opts, commit: 'facade' })).toEqual({ skipped: false, description: 'npm install --no-audit --no-fund' });
    expect(lines(join(opts.root, 'installs.log'))).toHaveLength(2);
  });

  it('in a checkout that tracks its lockfile, npm ci', async () => {
    const opts = setup('node-postinstall', { kind: 'auto' }, (root) => ({ INSTALL_LOG: join(root, 'installs.log') }));
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: opts.workdir, stdio: 'pipe' });
    git('init', '-q');
    git('add', '-A');
    git('commit', '-qm', 'with lockfile');
    expect(await ensureInstalled(opts)).toEqual({ skipped: false, description: 'npm ci --no-audit --no-fund' });
  });

  it('installs requirements.txt into the server venv with no index, and reinstalls when it changes', async () => {
    const opts = setup('python-requirements', { kind: 'auto' }, (root) => ({ PIP_NO_INDEX: '1', PIP_FIND_LINKS: join(root, 'wheels') }));
    const wheels = join(opts.root, 'wheels');
    mkdirSync(wheels);
    execFileSync('python3', [join(REPOS, 'mcpfixture-wheel', 'build_wheel.py'), wheels]);
    const description = 'python3 -m venv .venv; .venv/bin/python -m pip install --disable-pip-version-check --no-input -r requirements.txt';

    expect(await ensureInstalled(opts)).toEqual({ skipped: false, description });
    expect(venvBinDir(opts.workdir)).toBe(join(opts.workdir, '.venv', 'bin'));
    const python = join(venvBinDir(opts.workdir), 'python');
    expect(execFileSync(python, ['-c', 'import mcpfixture; print(mcpfixture.VALUE)'], { encoding: 'utf8' }).trim()).toBe('42');

    expect(await ensureInstalled(opts)).toEqual({ skipped: true, description });

    appendFileSync(join(opts.workdir, 'requirements.txt'), '# pinned\n');
    const output: string[] = [];
    expect(await ensureInstalled({ ...opts, onLine: (_s, line) => output.push(line) })).toEqual({ skipped: false, description });
    expect(output.some((line) => line.includes('mcpfixture'))).toBe(true);
  });

  it('runs an install command in the workdir, once', async () => {
    const opts = setup(undefined, { kind: 'command', command: 'echo built >> built.txt' });
    expect(await ensureInstalled(opts)).toEqual({ skipped: false, description: 'echo built >> built.txt' });
    expect(await ensureInstalled(opts)).toEqual({ skipped: true, description: 'echo built >> built.txt' });
    expect(lines(join(opts.workdir, 'built.txt'))).toEqual(['built']);
  });

  it('names the failed step, its exit code and its last output, and records no success', async () => {
    const command = 'echo compiling; echo "no compiler found" >&2; exit 3';
    const opts = setup(undefined, { kind: 'command', command });
    await expect(ensureInstalled(opts)).rejects.toThrow(`install step "${command}" exited with code 3:\ncompiling\nno compiler found\n(more of its output: mcp-orchestrator logs fixture)`);
    expect(existsSync(opts.markerFile)).toBe(false);
  });

  it("sums a failure up by the tool's first error lines (the cause), not its warnings, its code line or what 40 lines of help push out", async () => {
    // As npm writes them: all on stderr, a code, the cause, then its help text, also as errors.
    const noise = Array.from({ length: 60 }, (_, i) => `echo "npm error   usage line ${i}" >&2`).join('; ');
    const command = `echo "npm warn Unknown user config" >&2; echo "npm error code EUSAGE" >&2; echo "npm error Missing: ms@2.1.3 from lock file" >&2; echo "npm error" >&2; ${noise}; exit 1`;
    const opts = setup(undefined, { kind: 'command', command });
    const failure = await ensureInstalled(opts).then(
      () => undefined,
      (error: Error) => error.message,
    );
    const [, ...summary] = (failure ?? '').split('\n');
    expect(summary[0]).toBe('npm error Missing: ms@2.1.3 from lock file');
    expect(summary).toHaveLength(7);
    expect(summary.join('\n')).not.toContain('npm warn');
  });

  it('forgets an earlier success once an attempt fails', async () => {
    const opts = setup(undefined, { kind: 'command', command: 'test ! -e fail' });
    await ensureInstalled(opts);
    writeFileSync(join(opts.workdir, 'fail'), '');
    await expect(ensureInstalled({ ...opts, commit: 'other' })).rejects.toThrow(/exited with code 1/);
    rmSync(join(opts.workdir, 'fail'));
    expect(await ensureInstalled(opts)).toMatchObject({ skipped: false });
  });

  it.each([
    { install: { kind: 'none' } as const, description: 'install disabled' },
    { install: { kind: 'auto' } as const, description: 'nothing to install' },
  ])('does nothing for $description', async ({ install, description }) => {
    const opts = setup(undefined, install);
    expect(await ensureInstalled(opts)).toEqual({ skipped: true, description });
    expect(existsSync(opts.markerFile)).toBe(false);
  });

  it('stops a running step on abort', async () => {
    const opts = setup(undefined, { kind: 'command', command: 'echo $$ > step.pid; exec sleep 300' });
    const controller = new AbortController();
    const installing = ensureInstalled({ ...opts, signal: controller.signal });
    const [pid] = await waitForPids(join(opts.workdir, 'step.pid'));
    controller.abort(new Error('server removed'));
    await expect(installing).rejects.toThrow('server removed');
    expect(isPidAlive(pid ?? 0)).toBe(false);
    expect(existsSync(opts.markerFile)).toBe(false);
  });
});
