import { describe, expect, it } from 'vitest';
import { flush, harness, spec } from './fakes.js';
import { backoffDelay, DEFAULT_BACKOFF } from '../../src/runtime/backoff.js';

/** Drive a server whose process dies right after spawning, `n` times, collecting the delays. */
async function crashLoop(h: ReturnType<typeof harness>, n: number): Promise<number[]> {
  const delays: number[] = [];
  for (let i = 0; i < n; i++) {
    h.proc().exit(1);
    expect(h.state()).toBe('backoff');
    const delay = h.actor.getSnapshot().context.retryDelayMs!;
    delays.push(delay);
    await h.advance(delay - 1);
    expect(h.state()).toBe('backoff');
    await h.advance(1);
    expect(h.state()).toBe('starting');
  }
  return delays;
}

describe('backoff policy', () => {
  it('doubles from 1 s and caps at 60 s', () => {
    const delays = Array.from({ length: 10 }, (_, i) => backoffDelay(i, DEFAULT_BACKOFF, () => 0.5));
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000, 60_000]);
  });

  it('jitters by ±20 % and never exceeds the cap', () => {
    expect(backoffDelay(0, DEFAULT_BACKOFF, () => 0)).toBe(800);
    expect(backoffDelay(0, DEFAULT_BACKOFF, () => 0.999999)).toBe(1_200);
    expect(backoffDelay(3, DEFAULT_BACKOFF, () => 0)).toBe(6_400);
    expect(backoffDelay(20, DEFAULT_BACKOFF, () => 0.999999)).toBe(60_000);
    expect(backoffDelay(20, DEFAULT_BACKOFF, () => 0)).toBe(48_000);
    expect(backoffDelay(10_000, DEFAULT_BACKOFF, () => 0.5)).toBe(60_000);
  });
});

describe('server machine', () => {
  it('walks pending → cloning → installing → starting → running', async () => {
    const h = harness();
    expect(h.state()).toBe('pending');
    h.actor.send({ type: 'server.start' });
    expect(h.state()).toBe('cloning');
    h.clones[0]!.resolve({ commit: 'abc', action: 'cloned' });
    await flush();
    expect(h.state()).toBe('installing');
    expect(h.actor.getSnapshot().context.commit).toBe('abc');
    h.installs[0]!.resolve({ skipped: true, description: 'marker matches' });
    await flush();
    expect(h.state()).toBe('starting');
    expect(h.actor.getSnapshot().context.reason).toBe('InstallSkipped');
    expect(h.actor.getSnapshot().context.pid).toBe(h.proc().pid);
    h.proc().ready();
    expect(h.state()).toBe('running');
    expect(h.states).toEqual(['pending', 'cloning', 'installing', 'starting', 'running']);
  });

  it('skips cloning for a server without repo', () => {
    const h = harness({ spec: spec({ repo: undefined }) });
    h.actor.send({ type: 'server.start' });
    expect(h.state()).toBe('installing');
    expect(h.clones).toHaveLength(0);
  });

  it('backs off with the capped exponential sequence while the process keeps crashing', async () => {
    const h = harness({ autoClone: true, autoInstall: true });
    await h.start();
    expect(h.state()).toBe('starting');
    const delays = await crashLoop(h, 9);
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
    const context = h.actor.getSnapshot().context;
    expect(context.restarts).toBe(9);
    expect(context.lastExit).toEqual({ code: 1, signal: null });
    expect(context.lastError).toBe('process exited with code 1');
    // Only the process is retried: the clone and install ran once.
    expect(h.processes).toHaveLength(10);
  });

  it('resets the backoff after 60 s of healthy running, not before', async () => {
    const h = harness({ autoClone: true, autoInstall: true });
    await h.start();
    expect(await crashLoop(h, 3)).toEqual([1_000, 2_000, 4_000]);

    h.proc().ready();
    await h.advance(59_000);
    expect(await crashLoop(h, 1)).toEqual([8_000]);

    h.proc().ready();
    await h.advance(60_000);
    expect(await crashLoop(h, 2)).toEqual([1_000, 2_000]);
  });

  it('retries the step that failed', async () => {
    const h = harness();
    h.actor.send({ type: 'server.start' });
    h.clones[0]!.reject(new Error('git clone of file:///x failed: not found'));
    await flush();
    expect(h.state()).toBe('backoff');
    expect(h.actor.getSnapshot().context.lastError).toBe('git clone of file:///x failed: not found');
    await h.advance(1_000);
    expect(h.state()).toBe('cloning');
    h.clones[1]!.resolve({ commit: 'abc', action: 'cloned' });
    await flush();
    h.installs[0]!.reject(new Error('npm ci exited with code 1'));
    await flush();
    expect(h.state()).toBe('backoff');
    await h.advance(2_000);
    expect(h.state()).toBe('installing');
    expect(h.clones).toHaveLength(2);
    expect(h.installs).toHaveLength(2);
  });

  it('stops during cloning and aborts the clone', async () => {
    const h = harness();
    h.actor.send({ type: 'server.start' });
    h.actor.send({ type: 'server.stop' });
    expect(h.state()).toBe('stopped');
    expect(h.clones[0]!.signal.aborted).toBe(true);
  });

  it('stops during installing and aborts the install', async () => {
    const h = harness({ autoClone: true });
    h.actor.send({ type: 'server.start' });
    await flush();
    expect(h.state()).toBe('installing');
    h.actor.send({ type: 'server.stop' });
    expect(h.state()).toBe('stopped');
    expect(h.installs[0]!.signal.aborted).toBe(true);
  });

  it('stops during starting: terminates with the grace and waits for the exit', async () => {
    const h = harness({ autoClone: true, autoInstall: true, graceMs: 7_000 });
    await h.start();
    expect(h.state()).toBe('starting');
    h.actor.send({ type: 'server.stop' });
    expect(h.state()).toBe('stopping');
    expect(h.proc().terminations).toEqual([7_000]);
    h.proc().exit(null, 'SIGTERM');
    expect(h.state()).toBe('stopped');
    expect(h.actor.getSnapshot().context.lastExit).toEqual({ code: null, signal: 'SIGTERM' });
  });

  it('stops during backoff: the pending retry never fires', async () => {
    const h = harness({ autoClone: true, autoInstall: true });
    await h.start();
    h.proc().exit(1);
    expect(h.state()).toBe('backoff');
    h.actor.send({ type: 'server.stop' });
    expect(h.state()).toBe('stopped');
    await h.advance(120_000);
    expect(h.state()).toBe('stopped');
    expect(h.processes).toHaveLength(1);
  });

  it('a stop wins over the retry a startup timeout was heading for', async () => {
    const h = harness({ autoClone: true, autoInstall: true, spec: spec({ startupTimeoutMs: 5_000 }) });
    await h.start();
    await h.advance(5_000);
    expect(h.state()).toBe('stopping');
    expect(h.actor.getSnapshot().context.lastError).toBe('not ready within startup_timeout (5s)');
    h.actor.send({ type: 'server.stop' });
    h.proc().exit(null, 'SIGTERM');
    expect(h.state()).toBe('stopped');
    await h.advance(120_000);
    expect(h.processes).toHaveLength(1);
  });

  it('goes to backoff when not ready within startup_timeout', async () => {
    const h = harness({ autoClone: true, autoInstall: true, spec: spec({ startupTimeoutMs: 5_000 }) });
    await h.start();
    await h.advance(4_999);
    expect(h.state()).toBe('starting');
    await h.advance(1);
    expect(h.state()).toBe('stopping');
    expect(h.proc().terminations).toHaveLength(1);
    h.proc().exit(null, 'SIGTERM');
    expect(h.state()).toBe('backoff');
    await h.advance(1_000);
    expect(h.state()).toBe('starting');
    expect(h.processes).toHaveLength(2);
  });

  describe('restart policies', () => {
    const cases = [
      { restart: 'always', code: 0, to: 'backoff', reason: 'ProcessExited' },
      { restart: 'always', code: 3, to: 'backoff', reason: 'ProcessExited' },
      { restart: 'on-failure', code: 0, to: 'stopped', reason: 'Completed' },
      { restart: 'on-failure', code: 3, to: 'backoff', reason: 'ProcessExited' },
      { restart: 'never', code: 0, to: 'stopped', reason: 'Completed' },
      { restart: 'never', code: 3, to: 'failed', reason: 'ProcessExited' },
    ] as const;
    for (const c of cases) {
      it(`${c.restart}: exit ${c.code} → ${c.to}`, async () => {
        const h = harness({ autoClone: true, autoInstall: true, spec: spec({ restart: c.restart }) });
        await h.start();
        h.proc().ready();
        h.proc().exit(c.code);
        expect(h.state()).toBe(c.to);
        expect(h.actor.getSnapshot().context.reason).toBe(c.reason);
        await h.advance(120_000);
        // Only `backoff` comes back by itself.
        expect(h.processes.length).toBe(c.to === 'backoff' ? 2 : 1);
      });
    }

    it('never: a startup timeout fails the server instead of retrying', async () => {
      const h = harness({ autoClone: true, autoInstall: true, spec: spec({ restart: 'never', startupTimeoutMs: 1_000 }) });
      await h.start();
      await h.advance(1_000);
      h.proc().exit(null, 'SIGTERM');
      expect(h.state()).toBe('failed');
    });

    it('a new restart policy applies in place, without a new process', async () => {
      const h = harness({ autoClone: true, autoInstall: true });
      await h.start();
      h.proc().ready();
      h.actor.send({ type: 'server.configure', spec: spec({ restart: 'never' }) });
      expect(h.state()).toBe('running');
      h.proc().exit(2);
      expect(h.state()).toBe('failed');
      expect(h.processes).toHaveLength(1);
    });
  });

  it('a manual start after a failure starts over with a fresh backoff', async () => {
    const h = harness({ autoClone: true, autoInstall: true, spec: spec({ restart: 'never' }) });
    await h.start();
    h.proc().exit(1);
    expect(h.state()).toBe('failed');
    h.actor.send({ type: 'server.start' });
    expect(h.state()).toBe('cloning');
    await flush();
    await flush();
    expect(h.state()).toBe('starting');
    expect(h.actor.getSnapshot().context.failures).toBe(0);
    // Started by hand, not by the restart policy: not a restart.
    expect(h.actor.getSnapshot().context.restarts).toBe(0);
    h.proc().exit(1);
    h.actor.send({ type: 'server.start' });
    await flush();
    await flush();
    expect(h.actor.getSnapshot().context.restarts).toBe(0);
  });

  it('a crash after a manual start is counted as a restart again', async () => {
    const h = harness({ autoClone: true, autoInstall: true });
    await h.start();
    h.actor.send({ type: 'server.stop' });
    h.proc().exit(null, 'SIGTERM');
    await flush();
    expect(h.state()).toBe('stopped');
    h.actor.send({ type: 'server.start' });
    await flush();
    await flush();
    expect(h.state()).toBe('starting');
    expect(h.actor.getSnapshot().context.restarts).toBe(0);
    await crashLoop(h, 1);
    expect(h.actor.getSnapshot().context.restarts).toBe(1);
  });
});
