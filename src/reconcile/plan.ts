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
  /** Running and ready: it serves calls. */
  ready: boolean;
}

export type Action =
  | { type: 'create'; name: string; spec: ServerSpec; hash: string; held: boolean }
  | { type: 'configure'; id: string; spec: ServerSpec }
  | { type: 'terminate'; id: string; reason: 'Removed' | 'SpecChanged' | 'Replaced' }
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
 * Whether two specs run from one checkout as it is: same repo, ref and install. Instances whose
 * checkouts differ need folders of their own.
 */
export function sameCheckout(a: ServerSpec, b: ServerSpec): boolean {
  return a.repo === b.repo && a.ref === b.ref && isDeepStrictEqual(a.install, b.install);
}

/**
 * Whether a new instance may start beside the old one, so the old keeps serving until the new is
 * ready: both speak stdio (no port to fight over), and either they share the checkout as it is,
 * or both come from a repository and the new one gets a checkout of its own (for a new install
 * alone, of the very commit the old one runs).
 */
function canOverlap(old: ServerSpec, next: ServerSpec): boolean {
  if (old.transport !== 'stdio' || next.transport !== 'stdio') return false;
  return sameCheckout(old, next) || (old.repo !== undefined && next.repo !== undefined);
}

/**
 * `desired` holds only servers that should exist (enabled ones); `observed` every live actor.
 * A changed stdio server gets its successor beside it and is retired once the successor is ready
 * (build, then swap); any other changed server is stopped first and its successor created once it
 * rests, so two processes never compete for a port or a clone. A successor with a checkout of its
 * own waits until no instance but the serving one is live, so a folder is free for it.
 */
export function plan(desired: ReadonlyMap<string, DesiredServer>, observed: readonly ObservedInstance[]): Action[] {
  const actions: Action[] = [];
  const names = new Set<string>([...desired.keys(), ...observed.map((o) => o.name)]);

  for (const name of [...names].sort()) {
    const want = desired.get(name);
    const instances = observed.filter((o) => o.name === name);
    const leaving = instances.filter((o) => o.terminating);
    const active = instances.filter((o) => !o.terminating);

    for (const old of leaving) if (old.resting) actions.push({ type: 'dispose', id: old.id });

    if (!want) {
      for (const old of active) actions.push({ type: 'terminate', id: old.id, reason: 'Removed' });
      continue;
    }

    const current = active.find((o) => o.hash === want.hash);
    const stale = active.filter((o) => o !== current);

    if (current) {
      // An old instance serves only until its successor does (or at once, if it serves nobody).
      for (const old of stale) {
        // A held server must stop serving altogether, old instance included.
        if (current.ready || !old.ready || want.held) actions.push({ type: 'terminate', id: old.id, reason: current.ready ? 'Replaced' : 'SpecChanged' });
      }
      if (inPlaceFieldsDiffer(current.spec, want.spec)) actions.push({ type: 'configure', id: current.id, spec: want.spec });
      if (want.held && !current.held) actions.push({ type: 'hold', id: current.id });
      // A held instance still stopping could not take a start: it is released once it rests.
      if (!want.held && current.held && current.resting) actions.push({ type: 'release', id: current.id });
      continue;
    }

    const serving = stale.find((o) => o.ready);
    if (serving && !want.held && canOverlap(serving.spec, want.spec)) {
      const others = stale.filter((o) => o !== serving);
      for (const old of others) actions.push({ type: 'terminate', id: old.id, reason: 'SpecChanged' });
      const folderFree = others.length === 0 && leaving.every((o) => o.resting);
      if (sameCheckout(serving.spec, want.spec) || folderFree) actions.push({ type: 'create', name, spec: want.spec, hash: want.hash, held: false });
      continue;
    }
    if (stale.length > 0) {
      for (const old of stale) actions.push({ type: 'terminate', id: old.id, reason: 'SpecChanged' });
      continue;
    }
    if (leaving.every((o) => o.resting)) {
      actions.push({ type: 'create', name, spec: want.spec, hash: want.hash, held: want.held });
    }
  }
  return actions;
}
