/** Readiness probes for servers that listen on a URL. */

const POLL_MS = 250;
const ATTEMPT_TIMEOUT_MS = 2_000;

/**
 * Resolves once `url` answers HTTP at all (any status: a 405 or 406 from an MCP endpoint still
 * means it listens); rejects only when `signal` aborts. The caller bounds it (startup_timeout).
 */
export async function waitForUrl(url: string, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    try {
      const response = await fetch(url, { method: 'GET', signal: AbortSignal.any([signal, AbortSignal.timeout(ATTEMPT_TIMEOUT_MS)]) });
      // Release the connection; the body does not matter.
      await response.body?.cancel();
      return;
    } catch {
      if (signal.aborted) break;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, POLL_MS);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });
  }
  throw new Error('readiness probe aborted');
}
