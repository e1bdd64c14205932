/**
 * Servers from real git repositories (bare repos over file://), installed for real (npm ci, a
 * Python venv from a local wheel with no index), run by the built CLI.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { atomicSave } from '../helpers/editors.js';
import { headOf, makeRepoFromRevisions } from '../helpers/gitrepos.js';
import { byName, startCli, useScratch } from '../helpers/orchestrator.js';
import { waitFor } from '../helpers/wait.js';

const FIXTURE_REPOS = fileURLToPath(new URL('../fixtures/repos/', import.meta.url));

const nodeServer = (version: string) => `// version ${version}
process.stderr.write('node fixture ${version} up\\n');
process.on('SIGTERM', () => process.exit(0));
setInterval(() => {}, 1 << 30);
`;

const packageJson = JSON.stringify({
  name: 'node-fixture-server',
  version: '1.0.0',
  private: true,
  scripts: { postinstall: "node -e \"require('fs').appendFileSync(process.env.INSTALL_LOG, 'installed\\n')\"" },
});
const packageLock = JSON.stringify({
  name: 'node-fixture-server',
  version: '1.0.0',
  lockfileVersion: 3,
  requires: true,
  packages: { '': { name: 'node-fixture-server', version: '1.0.0', hasInstallScript: true } },
});

const scratch = useScratch('mcpo-git-');

async function lines(file: string): Promise<number> {
  try {
    return (await readFile(file, 'utf8')).split('\n').filter(Boolean).length;
  } catch {
    return 0;
  }
}

describe('servers from git', () => {
  it('clones, installs once, re-checks-out on a ref change, and skips the install on the next start', async () => {
    const repo = makeRepoFromRevisions(scratch.dir, 'nodeserver', [
      { tag: 'v1', files: { 'server.js': nodeServer('v1'), 'package.json': packageJson, 'package-lock.json': packageLock } },
      { tag: 'v2', files: { 'server.js': nodeServer('v2') } },
    ]);
    const installLog = join(scratch.dir, 'install.log');
    const file = scratch.file;
    const entry = (ref: string) =>
      `[orchestrator]\nrepos_dir = "repos"\nshutdown_grace = "3s"\n\n[[server]]\nrepo = "${repo.url}"\nref = "${ref}"\ncommand = "node server.js"\ntransport = "http"\nenv = { INSTALL_LOG = "${installLog}" }\n`;
    await writeFile(file, entry('v1'));
    const clone = join(scratch.dir, 'repos', 'nodeserver');

    let orch = await startCli(file);
    let status = await orch.until((s) => byName(s, 'nodeserver')?.state === 'running', 'cloned, installed and running');
    const first = byName(status, 'nodeserver')!;
    expect(headOf(clone)).toBe(repo.commits.v1);
    expect(await readlink(`/proc/${first.pid}/cwd`)).toBe(clone);
    expect(await lines(installLog)).toBe(1);
    expect(first.conditions.find((c) => c.type === 'Cloned')).toMatchObject({ status: 'True', reason: 'Cloned' });
    expect(first.conditions.find((c) => c.type === 'Installed')).toMatchObject({ status: 'True', reason: 'Installed' });
    expect(orch.logs.filter((l) => l.server === 'nodeserver' && l.msg === 'state changed').map((l) => l.to)).toEqual([
      'cloning',
      'installing',
      'starting',
      'running',
    ]);

    await atomicSave(file, entry('v2'));
    status = await orch.until((s) => byName(s, 'nodeserver')?.state === 'running' && byName(s, 'nodeserver')!.pid !== first.pid, 'moved to v2');
    expect(headOf(clone)).toBe(repo.commits.v2);
    expect(await readFile(join(clone, 'server.js'), 'utf8')).toContain('version v2');
    // A new commit is a new install input.
    expect(await lines(installLog)).toBe(2);

    expect(await orch.stop()).toBe(0);
    orch = await startCli(file);
    status = await orch.until((s) => byName(s, 'nodeserver')?.state === 'running', 'running again after a restart');
    expect(byName(status, 'nodeserver')!.conditions.find((c) => c.type === 'Installed')).toMatchObject({ status: 'True', reason: 'InstallSkipped' });
    expect(await lines(installLog)).toBe(2);
    expect(headOf(clone)).toBe(repo.commits.v2);
  });

  it('installs a Python server into its own venv from a local wheel, with no index', async () => {
    const wheels = join(scratch.dir, 'wheels');
    await mkdir(wheels);
    execFileSync('python3', [join(FIXTURE_REPOS, 'mcpfixture-wheel', 'build_wheel.py'), wheels]);
    const repo = makeRepoFromRevisions(scratch.dir, 'pyserver', [
      {
        tag: 'v1',
        files: {
          'requirements.txt': 'mcpfixture==1.0\n',
          'server.py': [
            'import os, signal, sys, time, mcpfixture',
            'open(os.environ["OUT"], "w").write(sys.prefix + " " + str(mcpfixture.VALUE))',
            'signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))',
            'while True: time.sleep(3600)',
            '',
          ].join('\n'),
        },
      },
    ]);
    const out = join(scratch.dir, 'out.txt');
    const file = scratch.file;
    await writeFile(
      file,
      `[orchestrator]\nshutdown_grace = "3s"\n\n[[server]]\nrepo = "${repo.url}"\ncommand = "python server.py"\ntransport = "http"\nstartup_timeout = "120s"\n` +
        `env = { OUT = "${out}", PIP_NO_INDEX = "1", PIP_FIND_LINKS = "${wheels}" }\n`,
    );
    const orch = await startCli(file);
    await orch.until((s) => byName(s, 'pyserver')?.state === 'running', 'python server running', 120_000);
    const written = await waitFor(() => readFile(out, 'utf8'), { timeoutMs: 10_000, message: 'server wrote its prefix' });
    expect(written).toBe(`${join(scratch.dir, 'repos', 'pyserver', '.venv')} 42`);
  });

  it('an unreachable repository goes to backoff with a readable error while the others run', async () => {
    const file = scratch.file;
    const steady = fileURLToPath(new URL('../fixtures/e2e/steady.js', import.meta.url));
    await writeFile(
      file,
      `[[server]]\nname = "ghost"\nrepo = "file://${scratch.dir}/does-not-exist.git"\ncommand = "true"\ntransport = "http"\n\n` +
        `[[server]]\nname = "steady"\ncommand = ["${process.execPath}", "${steady}"]\ntransport = "stdio"\n`,
    );
    const orch = await startCli(file);
    const status = await orch.until(
      (s) => byName(s, 'ghost')?.state === 'backoff' && byName(s, 'steady')?.state === 'running',
      'ghost in backoff, steady running',
    );
    const ghost = byName(status, 'ghost')!;
    expect(ghost.lastError).toMatch(/^git clone of file:\/\/.*does-not-exist\.git failed: .+/);
    expect(ghost.reason).toBe('CloneFailed');
    expect(ghost.nextRetryAt).not.toBeNull();
    expect(ghost.conditions.find((c) => c.type === 'Cloned')).toMatchObject({ status: 'False', reason: 'CloneFailed' });
  });
});
