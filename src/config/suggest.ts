/** Edit distance where swapping two neighbours counts as one edit (`dney` -> `deny`); small inputs only. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number): number => d[i]?.[j] ?? Infinity;
  for (let i = 1; i <= a.length; i++) {
    const row = d[i] ?? [];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      row[j] = best;
    }
  }
  return at(a.length, b.length);
}

// `startupTimeout`, `startup-timeout` and `Startup_Timeout` all mean `startup_timeout`.
const fold = (key: string): string => key.toLowerCase().replace(/[-_]/g, '');

/**
 * The candidate closest to `input` when it is close enough to be a likely typo, else undefined.
 * "Close" is: equal ignoring case and `-`/`_`, or at most one edit per three characters.
 */
function didYouMean(input: string, candidates: readonly string[]): string | undefined {
  const folded = fold(input);
  const same = candidates.find((c) => fold(c) === folded);
  if (same !== undefined) return same;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = distance(folded, fold(candidate));
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  const limit = Math.max(1, Math.floor(folded.length / 3));
  return bestDistance <= limit ? best : undefined;
}

/** `unknown field "comand"; did you mean "command"?`, or the list of allowed fields when none is close. */
export function unknownKeyMessage(kind: string, key: string, allowed: readonly string[]): string {
  const suggestion = didYouMean(key, allowed);
  if (suggestion !== undefined) return `unknown ${kind} ${JSON.stringify(key)}; did you mean ${JSON.stringify(suggestion)}?`;
  return `unknown ${kind} ${JSON.stringify(key)}; allowed: ${allowed.join(', ')}`;
}
