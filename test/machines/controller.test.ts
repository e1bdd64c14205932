import { describe, expect, it } from 'vitest';
import type { ConfigIssue } from '../../src/config/types.js';
import { controllerHarness, flush, loaded, spec } from './fakes.js';

const setup = controllerHarness;

const issue = (server: string, message: string): ConfigIssue => ({
  file: '/tmp/mcp_config.toml',
  line: 3,
  column: 1,
  path: 'server[0].transport',
  server,
  message,
});

describe('controller', () => {
  it('converges: creates, leaves unchanged alone, replaces changed, removes removed', async () => {
    const t = setup();
    const a = spec({ name: 'a' });
    const b = spec({ name: 'b' });
    const c = spec({ name: 'c' });
    t.controller.applyConfig(loaded([a, b, c]));
    await t.settle();
    expect(t.controller.status().servers.map((s) => [s.name, s.state])).toEqual([
      ['a', 'running'],
      ['b', 'running'],
      ['c', 'running'],
    ]);
    const pidA = t.server('a').pid;
    const pidB = t.server('b').pid;
    const procC = t.procOf('c');

    // One save: b's env changed, c removed, d added, a untouched.
    const procB = t.procOf('b');
    t.controller.applyConfig(loaded([a, spec({ name: 'b', env: { X: '1' } }), spec({ name: 'd' })]));
    await t.settle();
    // b's successor started beside it, became ready, and only then was the old one retired.
    expect(procB.terminations).toHaveLength(1);
    procB.exit(null, 'SIGTERM');
    procC.exit(null, 'SIGTERM');
    await t.settle();

    const status = t.controller.status();
    expect(status.servers.map((s) => [s.name, s.state])).toEqual([
      ['a', 'running'],
      ['b', 'running'],
      ['d', 'running'],
    ]);
    expect(t.server('a').pid).toBe(pidA);
    expect(t.server('b').pid).not.toBe(pidB);
    expect(procC.terminations).toHaveLength(1);
    expect(status.generation).toBe(2);
    expect(status.observedGeneration).toBe(2);
    expect(t.server('a').observedGeneration).toBe(2);
  });

  it('replaces a changed stdio server build-then-swap: the old serves until the new is ready', async () => {
    const t = setup({ autoClone: true, autoInstall: true });
    const old = await t.running([spec({ name: 'a' })], 'a');

    t.controller.applyConfig(loaded([spec({ name: 'a', env: { V: '2' } })]));
    await t.settle();
    expect(t.effects.processes).toHaveLength(2);
    const successor = t.effects.processes[1]!;
    // Still serving, untouched, while the successor starts.
    expect(t.server('a')).toMatchObject({ state: 'running', pid: old.pid });
    expect(old.terminations).toEqual([]);

    successor.ready();
    await t.settle();
    expect(old.terminations).toEqual([5_000]);
    old.exit(null, 'SIGTERM');
    await t.settle();
    expect(t.server('a')).toMatchObject({ state: 'running', pid: successor.pid });
  });

  it('keeps the old instance serving while a broken successor backs off', async () => {
    const t = setup({ autoClone: true, autoInstall: true });
    const old = await t.running([spec({ name: 'a' })], 'a');
    t.controller.applyConfig(loaded([spec({ name: 'a', command: 'broken' })]));
    await t.settle();
    t.effects.processes[1]!.exit(127);
    await t.settle();
    expect(old.terminations).toEqual([]);
    expect(t.server('a')).toMatchObject({ state: 'running', pid: old.pid });
    expect(t.server('a').replacement).toMatchObject({ state: 'backoff', lastError: 'process exited with code 127' });
  });

  it('a second new ref while the first successor starts: status says the newest waits, and the generation is not applied yet', async () => {
    const t = setup({ autoClone: true, autoInstall: true });
    const old = await t.running([spec({ name: 'a', ref: 'v1' })], 'a');
    t.controller.applyConfig(loaded([spec({ name: 'a', ref: 'v2' })]));
    await t.settle();
    const first = t.effects.processes[1]!;
    t.controller.applyConfig(loaded([spec({ name: 'a', ref: 'v3' })]));
    await t.settle();
    // The v2 successor is being stopped; v3 needs its folder and waits. v1 still serves.
    expect(first.terminations).toHaveLength(1);
    expect(t.effects.processes).toHaveLength(2);
    let status = t.controller.status();
    expect(status.generation).toBe(3);
    expect(status.observedGeneration).toBe(2);
    expect(t.server('a')).toMatchObject({ state: 'running', pid: old.pid, observedGeneration: 1 });
    expect(t.server('a').replacement).toMatchObject({ state: 'pending', reason: 'WaitingForPredecessor' });

    first.exit(null, 'SIGTERM');
    await t.settle();
    expect(t.effects.processes).toHaveLength(3);
    status = t.controller.status();
    expect(status.observedGeneration).toBe(3);
    expect(t.server('a').replacement).toMatchObject({ state: 'starting' });
    t.effects.processes[2]!.ready();
    await t.settle();
    old.exit(null, 'SIGTERM');
    await t.settle();
    expect(t.server('a')).toMatchObject({ state: 'running', pid: t.effects.processes[2]!.pid, observedGeneration: 3, replacement: null });
  });

  it('starts a successor for a new install alone at the commit the serving instance runs, and one for a new ref at that ref', async () => {
    const t = setup({ autoClone: true, autoInstall: true });
    await t.running([spec({ name: 'a', ref: 'main' })], 'a');
    t.controller.applyConfig(loaded([spec({ name: 'a', ref: 'main', install: { kind: 'none' } })]));
    await t.settle();
    // The fake clone checks out commit abc123 for every instance.
    expect(t.effects.cloneInputs.map((i) => i.pin)).toEqual([undefined, 'abc123']);
    t.effects.processes[1]!.ready();
    await t.settle();
    t.effects.processes[0]!.exit(null, 'SIGTERM');
    await t.settle();
    t.controller.applyConfig(loaded([spec({ name: 'a', ref: 'v2', install: { kind: 'none' } })]));
    await t.settle();
    expect(t.effects.cloneInputs.map((i) => i.pin)).toEqual([undefined, 'abc123', undefined]);
  });

  it('reports the ref and commit of a server from git, and neither for one without a repository', async () => {
    const t = setup({ autoClone: true, autoInstall: true });
    await t.running([spec({ name: 'a', ref: 'v1' }), spec({ name: 'b', repo: undefined, ref: 'v1' })], 'a');
    expect(t.server('a')).toMatchObject({ ref: 'v1', commit: 'abc123' });
    expect(t.server('b')).toMatchObject({ ref: null, commit: null });
  });

  it('counts a server as starting while its new spec starts, even with the old one serving', async () => {
    const t = setup({ autoClone: true, autoInstall: true });
    await t.running([spec({ name: 'a' })], 'a');
    expect(t.controller.startingServers()).toEqual([]);
    t.controller.applyConfig(loaded([spec({ name: 'a', env: { V: '2' } })]));
    await t.settle();
    expect(t.server('a').state).toBe('running');
    expect(t.controller.startingServers()).toEqual(['a']);
    t.effects.processes[1]!.ready();
    await t.settle();
    expect(t.controller.startingServers()).toEqual([]);
  });

  it('a spec change resets the backoff', async () => {
    const t = setup({ autoClone: true, autoInstall: true });
    t.controller.applyConfig(loaded([spec({ name: 'a' })]));
    await t.settle();
    for (const delay of [1_000, 2_000, 4_000]) {
      t.procOf('a').exit(1);
      await t.settle();
      expect(t.server('a').state).toBe('backoff');
      expect(Date.parse(t.server('a').nextRetryAt!) - Date.parse(t.server('a').since)).toBe(delay);
      t.clock.increment(delay);
      await t.settle();
    }
    t.controller.applyConfig(loaded([spec({ name: 'a', env: { FIXED: '1' } })]));
    await t.settle();
    t.procOf('a').exit(null, 'SIGTERM');
    await t.settle();
    expect(t.server('a').state).toBe('starting');
    t.procOf('a').exit(1);
    await t.settle();
    expect(Date.parse(t.server('a').nextRetryAt!) - Date.parse(t.server('a').since)).toBe(1_000);
    expect(t.server('a').restarts).toBe(0);
  });

  it('a rejected file changes nothing but the reported error', async () => {
    const t = setup();
    t.controller.applyConfig(loaded([spec({ name: 'a' })]));
    await t.settle();
    const pid = t.server('a').pid;
    t.controller.applyConfig({ ok: false, issues: [issue('', 'invalid TOML: expected "=" after key')] });
    await t.settle();
    const status = t.controller.status();
    expect(status.generation).toBe(1);
    expect(status.configError).toContain('expected "=" after key');
    expect(t.server('a').pid).toBe(pid);
    expect(t.effects.processes).toHaveLength(1);
    expect(status.configError).toMatch(/^config rejected, the last good config keeps running:/);
    // Each problem is logged where an editor can jump to it.
    const logged = t.logs.map((line) => JSON.parse(line) as { msg: string; at?: string }).find((l) => l.msg.includes('expected "=" after key'));
    expect(logged?.at).toBe('/tmp/mcp_config.toml:3:1');
  });

  it('a file rejected before any was accepted says that nothing runs, not that a last good one does', async () => {
    const t = setup();
    t.controller.applyConfig({ ok: false, issues: [issue('', 'invalid TOML: unfinished string')] });
    await t.settle();
    expect(t.controller.status().configError).toMatch(/^config rejected, no config has been accepted yet, so no server runs:/);
  });

  it('an invalid entry keeps its last good spec while the others converge', async () => {
    const t = setup();
    t.controller.applyConfig(loaded([spec({ name: 'a' }), spec({ name: 'b' })]));
    await t.settle();
    const pidA = t.server('a').pid;
    const procB = t.procOf('b');
    t.controller.applyConfig(loaded([spec({ name: 'b', env: { NEW: '1' } })], [issue('a', 'unknown transport "htp"')], ['a']));
    await t.settle();
    procB.exit(null, 'SIGTERM');
    await t.settle();
    expect(t.server('a').pid).toBe(pidA);
    expect(t.server('a').state).toBe('running');
    expect(t.server('a').configError).toContain('unknown transport');
    expect(t.server('a').conditions.find((c) => c.type === 'ConfigValid')?.status).toBe('False');
    expect(t.server('b').state).toBe('running');
    expect(t.effects.processes).toHaveLength(3);
    const logged = t.logs.map((line) => JSON.parse(line) as { msg: string; server?: string; at?: string }).find((l) => l.msg === 'unknown transport "htp"');
    expect(logged).toMatchObject({ server: 'a', at: '/tmp/mcp_config.toml:3:1' });
  });

  it('dates each condition by the change that set it, however late the status is read', async () => {
    const t = setup({ autoClone: true, autoInstall: true });
    const iso = (ms: number) => new Date(ms).toISOString();
    const at = (name: string, type: string) => t.server(name).conditions.find((c) => c.type === type);
    const loadedAt = t.clock.now();
    t.controller.applyConfig(loaded([spec({ name: 'a' })]));
    await t.settle();
    const installedAt = t.clock.now();
    // Nothing reads the status while the process takes 5 s (within its startup timeout) to be ready.
    t.clock.increment(5_000);
    const proc = t.effects.processes[0]!;
    proc.ready();
    await t.settle();
    const readyAt = t.clock.now();
    t.clock.increment(30_000);

    expect(at('a', 'ConfigValid')).toMatchObject({ status: 'True', lastTransitionTime: iso(loadedAt) });
    expect(at('a', 'Cloned')).toMatchObject({ status: 'True', lastTransitionTime: iso(installedAt) });
    expect(at('a', 'Installed')).toMatchObject({ status: 'True', lastTransitionTime: iso(installedAt) });
    expect(at('a', 'Ready')).toMatchObject({ status: 'True', lastTransitionTime: iso(readyAt) });

    // The entry turns invalid: ConfigValid changes at that load and keeps that time through a
    // later load that leaves the entry as it was; the others are untouched.
    const rejectedAt = t.clock.now();
    t.controller.applyConfig(loaded([], [issue('a', 'unknown transport "htp"')], ['a']));
    await t.settle();
    t.clock.increment(5_000);
    t.controller.applyConfig(loaded([spec({ name: 'b' })], [issue('a', 'unknown transport "htp"')], ['a']));
    await t.settle();
    t.clock.increment(5_000);
    expect(at('a', 'ConfigValid')).toMatchObject({ status: 'False', lastTransitionTime: iso(rejectedAt) });
    expect(at('a', 'Ready')).toMatchObject({ status: 'True', lastTransitionTime: iso(readyAt) });
    expect(at('b', 'ConfigValid')).toMatchObject({ status: 'True', lastTransitionTime: iso(rejectedAt + 5_000) });

    // A valid change to b's spec keeps ConfigValid's time: its status did not change.
    t.controller.applyConfig(loaded([spec({ name: 'b', env: { X: '1' } })], [issue('a', 'unknown transport "htp"')], ['a']));
    await t.settle();
    expect(at('b', 'ConfigValid')).toMatchObject({ status: 'True', lastTransitionTime: iso(rejectedAt + 5_000) });
  });

  it('keeps condition times through a build-then-swap, a removal and a disable', async () => {
    const t = setup({ autoClone: true, autoInstall: true });
    const iso = (ms: number) => new Date(ms).toISOString();
    const at = (name: string, type: string) => t.server(name).conditions.find((c) => c.type === type);
    const readyAt = t.clock.now();
    const [procA, procB] = [await t.running([spec({ name: 'a' }), spec({ name: 'b' })], 'a'), t.procOf('b')];
    procB.ready();
    await t.settle();

    // b's env changes: its successor takes over, and b was Ready all along.
    t.clock.increment(10_000);
    t.controller.applyConfig(loaded([spec({ name: 'a' }), spec({ name: 'b', env: { X: '1' } })]));
    await t.settle();
    t.clock.increment(2_000);
    t.effects.processes.at(-1)!.ready();
    await t.settle();
    procB.exit(null, 'SIGTERM');
    await t.settle();
    expect(t.server('b').pid).toBe(t.effects.processes.at(-1)!.pid);
    expect(at('b', 'Ready')).toMatchObject({ status: 'True', lastTransitionTime: iso(readyAt) });
    expect(at('b', 'Installed')).toMatchObject({ status: 'True', lastTransitionTime: iso(readyAt) });

    // a's entry turns invalid, then goes: while its instance stops, it shows the entry as last loaded.
    t.clock.increment(10_000);
    const rejectedAt = t.clock.now();
    t.controller.applyConfig(loaded([spec({ name: 'b', env: { X: '1' } })], [issue('a', 'unknown transport "htp"')], ['a']));
    await t.settle();
    t.clock.increment(10_000);
    t.controller.applyConfig(loaded([spec({ name: 'b', env: { X: '1' } })]));
    await t.settle();
    expect(t.server('a').state).toBe('stopping');
    expect(at('a', 'ConfigValid')).toMatchObject({ status: 'False', lastTransitionTime: iso(rejectedAt) });
    procA.exit(null, 'SIGTERM');
    await t.settle();

    // b is disabled: not Ready from that load on, though its hash-relevant fields did not change.
    t.clock.increment(10_000);
    const disabledAt = t.clock.now();
    t.controller.applyConfig(loaded([spec({ name: 'b', env: { X: '1' }, enabled: false })]));
    await t.settle();
    t.effects.processes.at(-1)!.exit(null, 'SIGTERM');
    await t.settle();
    t.clock.increment(10_000);
    expect(t.server('b')).toMatchObject({ state: 'stopped', since: iso(disabledAt) });
    expect(at('b', 'Ready')).toMatchObject({ status: 'False', lastTransitionTime: iso(disabledAt) });
  });

  it('forgets a removed server: added again, it is a new entry with conditions of its own', async () => {
    const t = setup({ autoClone: true, autoInstall: true });
    const proc = await t.running([spec({ name: 'a' })], 'a');
    t.clock.increment(10_000);
    t.controller.applyConfig(loaded([]));
    await t.settle();
    proc.exit(null, 'SIGTERM');
    await t.settle();
    expect(t.controller.status().servers).toEqual([]);

    t.clock.increment(10_000);
    const addedAt = new Date(t.clock.now()).toISOString();
    t.controller.applyConfig(loaded([spec({ name: 'a' })]));
    await t.settle();
    expect(t.server('a').conditions.find((c) => c.type === 'ConfigValid')).toMatchObject({ status: 'True', lastTransitionTime: addedAt });
  });

  it('a new entry that is invalid shows as failed with its error, and nothing runs for it', async () => {
    const t = setup();
    t.controller.applyConfig(loaded([], [issue('x', 'command is required')], ['x']));
    await t.settle();
    // Counted as enabled (the default), so /readyz does not call the server set ready without it.
    expect(t.server('x')).toMatchObject({ state: 'failed', reason: 'InvalidConfig', pid: null, enabled: true, ready: false, transport: null });
    expect(t.effects.processes).toHaveLength(0);
  });

  it('a disabled server is listed as stopped and not run', async () => {
    const t = setup();
    t.controller.applyConfig(loaded([spec({ name: 'a', enabled: false })]));
    await t.settle();
    expect(t.server('a')).toMatchObject({ state: 'stopped', reason: 'Disabled', enabled: false });
    expect(t.effects.processes).toHaveLength(0);
  });

  it('a manual stop holds across an edit that does not touch the server, and a start releases it', async () => {
    const t = setup();
    t.controller.applyConfig(loaded([spec({ name: 'a' }), spec({ name: 'b' })]));
    await t.settle();
    t.controller.hold('a');
    await t.settle();
    t.procOf('a').exit(null, 'SIGTERM');
    await t.settle();
    expect(t.server('a').state).toBe('stopped');
    t.controller.applyConfig(loaded([spec({ name: 'a' }), spec({ name: 'b', env: { Y: '1' } })]));
    await t.settle();
    expect(t.server('a').state).toBe('stopped');
    t.controller.release('a');
    await t.settle();
    expect(t.server('a').state).toBe('running');
  });

  it('a start during the grace of a manual stop starts the server once its process is gone', async () => {
    const t = setup();
    t.controller.applyConfig(loaded([spec({ name: 'a' })]));
    await t.settle();
    const first = t.procOf('a');
    t.controller.hold('a');
    await t.settle();
    expect(t.server('a').state).toBe('stopping');
    t.controller.release('a');
    await t.settle();
    expect(t.server('a').state).toBe('stopping');
    first.exit(null, 'SIGTERM');
    await t.settle();
    expect(t.server('a').state).toBe('running');
    expect(t.server('a').pid).not.toBe(first.pid);
  });

  it('emits one transition event per state change and a config event per load', async () => {
    const t = setup();
    const events: string[] = [];
    t.controller.subscribe((e) => events.push(e.type === 'transition' ? `${e.server}:${e.from}>${e.to}:${e.reason}` : e.type === 'config' ? `config:${e.generation}` : e.type));
    t.controller.applyConfig(loaded([spec({ name: 'a' })]));
    await t.settle();
    expect(events).toEqual([
      'config:1',
      'a:pending>cloning:Scheduled',
      'a:cloning>installing:Cloned',
      'a:installing>starting:Installed',
      'a:starting>running:Ready',
    ]);
  });

  it('shutdown stops every server in parallel and waits for them', async () => {
    const t = setup();
    t.controller.applyConfig(loaded([spec({ name: 'a' }), spec({ name: 'b' })]));
    await t.settle();
    const procs = [t.procOf('a'), t.procOf('b')];
    const done = t.controller.shutdown(5_000);
    await flush();
    expect(procs.map((p) => p.terminations)).toEqual([[5_000], [5_000]]);
    for (const p of procs) p.exit(null, 'SIGTERM');
    await done;
    expect(procs.every((p) => !p.alive)).toBe(true);
  });
});
