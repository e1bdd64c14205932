import { describe, expect, it } from 'vitest';
import { plan, type DesiredServer, type ObservedInstance } from '../../src/reconcile/plan.js';
import { specHash } from '../../src/reconcile/hash.js';
import { spec } from '../machines/fakes.js';
import type { ServerSpec } from '../../src/config/types.js';

function want(s: ServerSpec, held = false): [string, DesiredServer] {
  return [s.name, { spec: s, hash: specHash(s), held }];
}

function seen(s: ServerSpec, extra: Partial<ObservedInstance> = {}): ObservedInstance {
  const resting = extra.resting ?? false;
  return { id: `${s.name}#1`, name: s.name, hash: specHash(s), spec: s, terminating: false, resting, held: false, ready: !resting, ...extra };
}

const a = spec({ name: 'a' });
const b = spec({ name: 'b' });
const httpA = spec({ name: 'a', transport: 'http' });
const httpA2 = spec({ name: 'a', transport: 'http', env: { X: '1' } });
const a2 = spec({ name: 'a', env: { X: '1' } });
const next = (s: ServerSpec, extra: Partial<ObservedInstance> = {}) => seen(s, { id: `${s.name}#2`, ...extra });
const fromRepo = (ref: string, extra: Partial<ServerSpec> = {}) => spec({ name: 'a', repo: 'file:///repos/a.git', ref, ...extra });

describe('specHash', () => {
  it('changes with the fields that shape the process', () => {
    expect(specHash(spec({ env: { X: '1' } }))).not.toBe(specHash(spec({ env: { X: '2' } })));
    expect(specHash(spec({ command: 'a' }))).not.toBe(specHash(spec({ command: ['a'] })));
    expect(specHash(spec({ ref: 'v1' }))).not.toBe(specHash(spec({ ref: 'v2' })));
  });
  it('ignores env order and the fields applied in place', () => {
    expect(specHash(spec({ env: { X: '1', Y: '2' } }))).toBe(specHash(spec({ env: { Y: '2', X: '1' } })));
    expect(specHash(spec({ restart: 'never', startupTimeoutMs: 5, tools: { allow: ['x'], deny: [] } }))).toBe(specHash(spec()));
  });
});

describe('plan', () => {
  const cases: { name: string; desired: [string, DesiredServer][]; observed: ObservedInstance[]; actions: unknown[] }[] = [
    { name: 'nothing to do', desired: [], observed: [], actions: [] },
    {
      name: 'creates what is missing',
      desired: [want(a), want(b)],
      observed: [],
      actions: [
        { type: 'create', name: 'a', spec: a, hash: specHash(a), held: false },
        { type: 'create', name: 'b', spec: b, hash: specHash(b), held: false },
      ],
    },
    { name: 'leaves an unchanged server alone', desired: [want(a)], observed: [seen(a)], actions: [] },
    { name: 'leaves a failed unchanged server alone', desired: [want(a)], observed: [seen(a, { resting: true })], actions: [] },
    { name: 'terminates a removed server', desired: [], observed: [seen(a)], actions: [{ type: 'terminate', id: 'a#1', reason: 'Removed' }] },
    {
      name: 'stops a changed http server before creating its successor (one port)',
      desired: [want(httpA2)],
      observed: [seen(httpA)],
      actions: [{ type: 'terminate', id: 'a#1', reason: 'SpecChanged' }],
    },
    {
      name: 'waits while the old instance is still stopping',
      desired: [want(httpA2)],
      observed: [seen(httpA, { terminating: true, ready: false })],
      actions: [],
    },
    {
      name: 'disposes the rested old instance and creates the new one',
      desired: [want(httpA2)],
      observed: [seen(httpA, { terminating: true, resting: true })],
      actions: [
        { type: 'dispose', id: 'a#1' },
        { type: 'create', name: 'a', spec: httpA2, hash: specHash(httpA2), held: false },
      ],
    },
    {
      name: 'starts a changed stdio server beside the old one, which keeps serving',
      desired: [want(a2)],
      observed: [seen(a)],
      actions: [{ type: 'create', name: 'a', spec: a2, hash: specHash(a2), held: false }],
    },
    {
      name: 'keeps the old instance while its successor is not ready',
      desired: [want(a2)],
      observed: [seen(a), next(a2, { ready: false })],
      actions: [],
    },
    {
      name: 'retires the old instance once its successor is ready',
      desired: [want(a2)],
      observed: [seen(a), next(a2)],
      actions: [{ type: 'terminate', id: 'a#1', reason: 'Replaced' }],
    },
    {
      name: 'retires an old instance that serves nobody without waiting',
      desired: [want(a2)],
      observed: [seen(a, { ready: false }), next(a2, { ready: false })],
      actions: [{ type: 'terminate', id: 'a#1', reason: 'SpecChanged' }],
    },
    {
      name: 'a hold during a replacement stops the old instance too',
      desired: [want(a2, true)],
      observed: [seen(a), next(a2, { ready: false })],
      actions: [
        { type: 'terminate', id: 'a#1', reason: 'SpecChanged' },
        { type: 'hold', id: 'a#2' },
      ],
    },
    {
      name: 'starts a stdio server on a new ref beside the one serving (it gets a checkout of its own)',
      desired: [want(fromRepo('v2'))],
      observed: [seen(fromRepo('v1'))],
      actions: [{ type: 'create', name: 'a', spec: fromRepo('v2'), hash: specHash(fromRepo('v2')), held: false }],
    },
    {
      name: 'a second new ref while the first successor starts: that one stops, the next waits for its folder',
      desired: [want(fromRepo('v3'))],
      observed: [seen(fromRepo('v1')), next(fromRepo('v2'), { ready: false })],
      actions: [{ type: 'terminate', id: 'a#2', reason: 'SpecChanged' }],
    },
    {
      name: 'a successor with a checkout of its own waits until the stopped one rests',
      desired: [want(fromRepo('v3'))],
      observed: [seen(fromRepo('v1')), next(fromRepo('v2'), { ready: false, terminating: true })],
      actions: [],
    },
    {
      name: 'and is created once it does',
      desired: [want(fromRepo('v3'))],
      observed: [seen(fromRepo('v1')), next(fromRepo('v2'), { ready: false, terminating: true, resting: true })],
      actions: [
        { type: 'dispose', id: 'a#2' },
        { type: 'create', name: 'a', spec: fromRepo('v3'), hash: specHash(fromRepo('v3')), held: false },
      ],
    },
    {
      name: 'stops a changed http server from a repository first, whatever changed',
      desired: [want(fromRepo('v2', { transport: 'http' }))],
      observed: [seen(fromRepo('v1', { transport: 'http' }))],
      actions: [{ type: 'terminate', id: 'a#1', reason: 'SpecChanged' }],
    },
    {
      name: 'starts a server from a repository with a new install alone beside the one serving (the controller pins its commit)',
      desired: [want(fromRepo('main', { install: { kind: 'none' } }))],
      observed: [seen(fromRepo('main'))],
      actions: [{ type: 'create', name: 'a', spec: fromRepo('main', { install: { kind: 'none' } }), hash: specHash(fromRepo('main', { install: { kind: 'none' } })), held: false }],
    },
    {
      name: 'starts a stdio server moved to another repository beside the one serving',
      desired: [want(fromRepo('v1', { repo: 'file:///repos/b.git' }))],
      observed: [seen(fromRepo('v1'))],
      actions: [{ type: 'create', name: 'a', spec: fromRepo('v1', { repo: 'file:///repos/b.git' }), hash: specHash(fromRepo('v1', { repo: 'file:///repos/b.git' })), held: false }],
    },
    {
      name: 'stops first when a stdio server without a repository changes its install (one folder)',
      desired: [want(spec({ name: 'a', repo: undefined, install: { kind: 'command', command: 'make' } }))],
      observed: [seen(spec({ name: 'a', repo: undefined }))],
      actions: [{ type: 'terminate', id: 'a#1', reason: 'SpecChanged' }],
    },
    {
      name: 'stops first when the old instance is not serving',
      desired: [want(a2)],
      observed: [seen(a, { ready: false })],
      actions: [{ type: 'terminate', id: 'a#1', reason: 'SpecChanged' }],
    },
    {
      name: 'applies in-place fields without a restart',
      desired: [want(spec({ name: 'a', restart: 'never' }))],
      observed: [seen(a)],
      actions: [{ type: 'configure', id: 'a#1', spec: spec({ name: 'a', restart: 'never' }) }],
    },
    { name: 'holds a manually stopped server', desired: [want(a, true)], observed: [seen(a)], actions: [{ type: 'hold', id: 'a#1' }] },
    { name: 'releases a hold', desired: [want(a)], observed: [seen(a, { held: true, resting: true })], actions: [{ type: 'release', id: 'a#1' }] },
    // A start while the stop's grace runs: the release waits for the process to be gone.
    { name: 'releases a hold only once the held instance rests', desired: [want(a)], observed: [seen(a, { held: true, resting: false })], actions: [] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(plan(new Map(c.desired), c.observed)).toEqual(c.actions);
    });
  }

  it('is idempotent: once its actions took effect, a second pass plans nothing', () => {
    const desired = new Map([want(a), want(spec({ name: 'b', env: { X: '1' } }))]);
    let observed: ObservedInstance[] = [seen(b)];
    const first = plan(desired, observed);
    expect(first.map((x) => x.type).sort()).toEqual(['create', 'create']);
    // Apply: the two creates become ready instances; b's old instance was retired once the new one served.
    observed = first.flatMap((x) => (x.type === 'create' ? [seen(x.spec, { id: `${x.name}#new` })] : []));
    expect(plan(desired, observed)).toEqual([]);
  });
});
