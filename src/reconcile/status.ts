/** Observed state as the API shows it, in Kubernetes' vocabulary. */
import type { ServerStateName } from '../../machines/server.js';
import type { ConfigIssue, Transport } from '../config/types.js';

/** How a person asks for a manual action on a server: the CLI command, then the API route. */
export function manualAction(action: 'start' | 'stop' | 'restart', server: string): string {
  return `"mcp-orchestrator ${action} ${server}" (POST /api/servers/${server}/${action})`;
}

export type ConditionStatus = 'True' | 'False' | 'Unknown';
export type ConditionType = 'ConfigValid' | 'Cloned' | 'Installed' | 'Ready';

export interface Condition {
  type: ConditionType;
  status: ConditionStatus;
  /** CamelCase, machine-readable. */
  reason: string;
  message: string;
  /** ISO time the status last changed. */
  lastTransitionTime: string;
}

export interface ExitStatus {
  code: number | null;
  signal: string | null;
  error?: string;
  at: string;
}

export interface ServerStatus {
  name: string;
  state: ServerStateName;
  ready: boolean;
  enabled: boolean;
  /** Null for an entry rejected before any spec of it was accepted. */
  transport: Transport | null;
  pid: number | null;
  restarts: number;
  /** ISO time of the latest state change. */
  since: string;
  reason: string;
  message: string | null;
  lastExit: ExitStatus | null;
  lastError: string | null;
  /** ISO time of the next retry, while in backoff. */
  nextRetryAt: string | null;
  /** The rejection of this server's entry in the current file, if any (it keeps its last good spec). */
  configError: string | null;
  /** The config generation whose spec this server runs. */
  observedGeneration: number;
  specHash: string | null;
  /** The `ref` of the spec it runs (null: the default branch, or no `repo`). */
  ref: string | null;
  /** The commit checked out for it; null without `repo` or before the clone. */
  commit: string | null;
  conditions: Condition[];
  /**
   * While a changed stdio server's successor starts beside it (build, then swap): the successor's
   * progress. The fields above describe the instance still serving.
   */
  replacement: ReplacementStatus | null;
}

export interface ReplacementStatus {
  state: ServerStateName;
  /** The successor's `ref` and, once cloned, its commit. */
  ref: string | null;
  commit: string | null;
  reason: string;
  message: string | null;
  lastError: string | null;
  pid: number | null;
  since: string;
}

export interface OrchestratorStatus {
  /** Counts accepted config loads. */
  generation: number;
  /** The generation the controller has finished reconciling. */
  observedGeneration: number;
  configFile: string | null;
  /** Why the latest load was rejected whole, or which entries it rejected; null when clean. */
  configError: string | null;
  configIssues: ConfigIssue[];
  servers: ServerStatus[];
}

/**
 * Carry `lastTransitionTime` over from the previous conditions when a condition's status did not
 * change, as Kubernetes does.
 */
export function mergeConditions(
  previous: readonly Condition[],
  next: readonly Omit<Condition, 'lastTransitionTime'>[],
  now: string,
): Condition[] {
  return next.map((condition) => {
    const before = previous.find((p) => p.type === condition.type);
    const lastTransitionTime = before && before.status === condition.status ? before.lastTransitionTime : now;
    return { ...condition, lastTransitionTime };
  });
}
