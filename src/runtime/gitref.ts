/** What a git `ref` string can be, judged from its text alone (no repository at hand). */

/** A full commit id (SHA-1 or SHA-256): it names one commit for good. */
export function looksLikeSha(ref: string): boolean {
  return /^[0-9a-f]{40}$|^[0-9a-f]{64}$/i.test(ref);
}

/** Hex that could be a commit id, abbreviated or not. */
export function couldBeCommit(ref: string): boolean {
  return /^[0-9a-f]{4,64}$/i.test(ref);
}
