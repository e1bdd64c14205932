/**
 * Hot reload on a running orchestrator: the built CLI, a real config file edited the way editors
 * save, real processes whose pids and environments are read from /proc.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { atomicSave, configMapSwap, inPlaceWrite } from '../helpers/editors.js';
import { useScratch, byName, startCli, type RunningOrchestrator, steadyServer } from '../helpers/orchestrator.js';
import { isPidAlive } from '../helpers/pids.js';
import { waitFor } from '../helpers/wait.js';

const server = steadyServer;

function config(...servers: string[]): string {
  return `[orchestrator]\nshutdown_grace = "3s"\n\n${servers.join('\n')}`;
}

async function environOf(pid: number): Promise<string[]> {
  return (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
}

const allRunning = (names: string[]) => (s: Awaited<ReturnType<RunningOrchestrator['status']>>) =>
  names.every((n) => byName(s, n)?.state === 'running') && s.observedGeneration === s.generation;

const scratch = useScratch('mcpo-reload-');

describe('hot reload', () => {
  it('one atomic save changes one server, removes one, adds one, and leaves the rest alone', async () => {
    await writeFile(scratch.file, config(server('keep'), server('change', { MODE: 'old' }), server('remove')));
    const orch = await startCli(scratch.file);
    const before = await orch.until(allRunning(['keep', 'change', 'remove']), 'all three running');
    const pid = (name: string) => byName(before, name)!.pid!;

    const savedAt = Date.now();
    await atomicSave(scratch.file, config(server('keep'), server('change', { MODE: 'new' }), server('added')));
    const after = await orch.until(
      (s) => allRunning(['keep', 'change', 'added'])(s) && byName(s, 'change')!.pid !== pid('change') && !byName(s, 'remove'),
      'converged on the edit',
    );
    const convergedMs = Date.now() - savedAt;

    expect(byName(after, 'keep')!.pid).toBe(pid('keep'));
    expect(byName(after, 'change')!.pid).not.toBe(pid('change'));
    expect(await environOf(byName(after, 'change')!.pid!)).toContain('MODE=new');
    // The old processes may still be draining or being reaped for a moment after status moved on.
    await waitFor(() => !isPidAlive(pid('change')) && !isPidAlive(pid('remove')), { timeoutMs: 10_000, message: 'old processes gone' });
    expect(isPidAlive(byName(after, 'added')!.pid!)).toBe(true);
    expect(after.generation).toBe(2);
    // The transition log names each change once, with its reason.
    expect(orch.logs.some((l) => l.server === 'change' && l.msg === 'state changed' && l.to === 'stopping' && l.reason === 'StopRequested')).toBe(true);
    console.info(`[measure] config edit converged (old process stopped, new one running) in ${convergedMs} ms`);

    // An unparseable save changes nothing and says why.
    await atomicSave(scratch.file, `${config(server('keep'))}\n[[server]\nname = broken`);
    const rejected = await orch.until((s) => s.configError !== null, 'config error reported');
    expect(rejected.configError).toMatch(/mcp_config\.toml:\d+:\d+/);
    expect(rejected.generation).toBe(2);
    for (const name of ['keep', 'change', 'added']) expect(byName(rejected, name)!.pid).toBe(byName(after, name)!.pid);
    expect(isPidAlive(byName(after, 'added')!.pid!)).toBe(true);

    // Fixing the file clears the error.
    await atomicSave(scratch.file, config(server('keep'), server('change', { MODE: 'new' }), server('added')));
    const fixed = await orch.until((s) => s.configError === null && s.generation === 3, 'error cleared');
    expect(byName(fixed, 'keep')!.pid).toBe(pid('keep'));
  });

  it('an edit storm of 50 writes in one second ends converged on the last content', async () => {
    await writeFile(scratch.file, config(server('keep'), server('storm', { ROUND: '0' })));
    const orch = await startCli(scratch.file);
    const before = await orch.until(allRunning(['keep', 'storm']), 'both running');

    const started = Date.now();
    for (let round = 1; round <= 50; round++) {
      const content = config(server('keep'), server('storm', { ROUND: String(round) }));
      if (round % 2 === 0) await atomicSave(scratch.file, content);
      else await inPlaceWrite(scratch.file, content);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, started + round * 19 - Date.now())));
    }
    expect(Date.now() - started).toBeLessThan(2_000);

    const after = await orch.until(allRunning(['keep', 'storm']), 'storm server running');
    await waitFor(async () => (await environOf((await orch.server('storm'))!.pid!)).includes('ROUND=50'), {
      timeoutMs: 30_000,
      message: 'storm server running with ROUND=50',
    });
    expect(byName(after, 'keep')!.pid).toBe(byName(before, 'keep')!.pid);
    const final = await orch.status();
    expect(final.observedGeneration).toBe(final.generation);
  });

  it('picks up a Kubernetes ConfigMap-style ..data symlink swap', async () => {
    const mount = join(scratch.dir, 'configmap');
    await mkdir(mount);
    await configMapSwap(mount, 'mcp_config.toml', config(server('cm', { V: '1' })));
    const orch = await startCli(join(mount, 'mcp_config.toml'));
    const before = await orch.until(allRunning(['cm']), 'cm running');

    await configMapSwap(mount, 'mcp_config.toml', config(server('cm', { V: '2' })));
    const after = await orch.until((s) => allRunning(['cm'])(s) && byName(s, 'cm')!.pid !== byName(before, 'cm')!.pid, 'cm replaced');
    expect(await environOf(byName(after, 'cm')!.pid!)).toContain('V=2');
  });

  it('stops every server and exits 0 on SIGTERM', async () => {
    await writeFile(scratch.file, config(server('a'), server('b')));
    const orch = await startCli(scratch.file);
    const status = await orch.until(allRunning(['a', 'b']), 'both running');
    const pids = status.servers.map((s) => s.pid!);
    expect(await orch.stop()).toBe(0);
    for (const pid of pids) expect(isPidAlive(pid)).toBe(false);
  });
});
