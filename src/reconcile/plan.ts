/**
 * The pure heart of the controller: given the whole desired state and the whole observed state,
 * what to do next. Level-triggered and idempotent: running it again on the state its actions
 * produce yields nothing new, so a start-up, an edit, a crash and a resync all take this path.
 */
import { isDeepStrictEqual } from 'node:util';
import type { ServerSpec } from '../config/types.js';

export interface DesiredServer {
  spec: ServerSpec;
  hash: string;
  /** Held stopped by a manual stop until a manual start or a spec change. */
  held: boolean;
}

export interface ObservedInstance {
  id: string;
  name: string;
  hash: string;
  spec: ServerSpec;
  /** Being stopped for good (removed, replaced or disabled); gone once it rests. */
  terminating: boolean;
  /** In `stopped` or `failed`: no process, nothing in flight. */
  resting: boolean;
  /** Stopped by a hold (as opposed to a crash policy or a failure). */
  held: boolean;
}

export type Action =
  | { type: 'create'; name: string; spec: ServerSpec; hash: string; held: boolean }
  | { type: 'configure'; id: string; spec: ServerSpec }
  | { type: 'terminate'; id: string; reason: 'Removed' | 'SpecChanged' }
  | { type: 'hold'; id: string }
  | { type: 'release'; id: string }
  | { type: 'dispose'; id: string };

/** Spec fields that apply to a live instance in place. */
function inPlaceFieldsDiffer(a: ServerSpec, b: ServerSpec): boolean {
  return !isDeepStrictEqual(
    { restart: a.restart, startupTimeoutMs: a.startupTimeoutMs, tools: a.tools, enabled: a.enabled },
    { restart: b.restart, startupTimeoutMs: b.startupTimeoutMs, tools: b.tools, enabled: b.enabled },
  );
}

/**
 * `desired` holds only servers that should exist (enabled ones); `observed` every live actor.
 * A replaced server's new instance is created only once the old one rests, so two processes of
 * one server never compete for its port or its clone.
 */
export function plan(desired: ReadonlyMap<string, DesiredServer>, observed: readonly ObservedInstance[]): Action[] {
  const actions: Action[] = [];
  const names = new Set<string>([...desired.keys(), ...observed.map((o) => o.name)]);

  for (const name of [...names].sort()) {
    const want = desired.get(name);
    const instances = observed.filter((o) => o.name === name);
    const leaving = instances.filter((o) => o.terminating);
    const active = instances.find((o) => !o.terminating);

    for (const old of leaving) if (old.resting) actions.push({ type: 'dispose', id: old.id });

    if (!want) {
      if (active) actions.push({ type: 'terminate', id: active.id, reason: 'Removed' });
      continue;
    }
    if (active && active.hash !== want.hash) {
      actions.push({ type: 'terminate', id: active.id, reason: 'SpecChanged' });
      continue;
    }
    if (active) {
      if (inPlaceFieldsDiffer(active.spec, want.spec)) actions.push({ type: 'configure', id: active.id, spec: want.spec });
      if (want.held && !active.held) actions.push({ type: 'hold', id: active.id });
      if (!want.held && active.held) actions.push({ type: 'release', id: active.id });
      continue;
    }
    if (leaving.every((o) => o.resting)) {
      actions.push({ type: 'create', name, spec: want.spec, hash: want.hash, held: want.held });
    }
  }
  return actions;
}
