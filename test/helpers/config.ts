import type { LoadResult } from '../../src/config/types.js';

/** The load's accepted result; fails the test at once, showing the issues, when it was rejected. */
export function accepted(result: LoadResult): Extract<LoadResult, { ok: true }> {
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result;
}
