import { performance } from 'node:perf_hooks';
import type { Target } from './targets.js';
import { errorMessage } from './targets.js';

export interface Batch {
  /** Latency of every call that succeeded, in ms. */
  latencies: number[];
  /** From the first call sent to the last answer received. */
  wallMs: number;
  /** The first failed call, if any; the batch stops sending once one fails. */
  error?: string;
}

let sequence = 0;

/**
 * Makes `calls` calls of the target's workload over its one client session, keeping
 * `concurrency` of them in flight: that many workers, each sending its next call when its last
 * one answers. Every answer is checked (an echo must echo its own message), so mixed-up
 * responses count as failures.
 */
export async function runBatch(target: Target, calls: number, concurrency: number, timeoutMs: number): Promise<Batch> {
  const latencies: number[] = [];
  let sent = 0;
  let error: string | undefined;
  const worker = async (): Promise<void> => {
    while (sent < calls && error === undefined) {
      sent += 1;
      const seq = (sequence += 1);
      const started = performance.now();
      try {
        const result = await target.client.callTool({ name: target.toolName, arguments: target.workload.argumentsFor(seq) }, undefined, { timeout: timeoutMs });
        const elapsed = performance.now() - started;
        const wrong = target.workload.wrong(result, seq);
        if (wrong !== undefined) throw new Error(wrong);
        latencies.push(elapsed);
      } catch (cause) {
        error ??= errorMessage(cause);
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, calls) }, worker));
  const wallMs = performance.now() - started;
  return error === undefined ? { latencies, wallMs } : { latencies, wallMs, error };
}

/** Nearest-rank percentile of ascending `sorted`. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}
