/** Who may talk to the listener: a bearer token off loopback, and browser Origin/Host checks. */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';

const LOOPBACK_NAMES = new Set(['localhost', 'ip6-localhost', 'ip6-loopback']);

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (LOOPBACK_NAMES.has(bare)) return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || bare.startsWith('::ffff:127.');
  return false;
}

export function generateToken(): string {
  return randomBytes(24).toString('base64url');
}

export interface AccessPolicy {
  /** Required on every path but the public routes; undefined on a loopback listener without one. */
  token?: string;
  /** Requests must name a loopback Host (DNS-rebinding guard) when the listener is loopback. */
  loopbackOnly: boolean;
}

export type AccessVerdict = { ok: true } | { ok: false; status: 401 | 403; message: string };

function tokenMatches(expected: string, header: string | undefined): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!match?.[1]) return false;
  const given = Buffer.from(match[1].trim());
  const want = Buffer.from(expected);
  return given.length === want.length && timingSafeEqual(given, want);
}

function hostName(hostHeader: string): string {
  // "[::1]:8080" → "[::1]", "localhost:8080" → "localhost"
  const bracketed = /^(\[[^\]]+\])(?::\d+)?$/.exec(hostHeader);
  if (bracketed?.[1]) return bracketed[1];
  return hostHeader.replace(/:\d+$/, '');
}

/**
 * Judge one request to a path that is not public (see `Route.public`). A browser page from another
 * origin is refused even with a token, so a malicious site cannot drive the API through a user's
 * browser.
 */
export function checkAccess(req: IncomingMessage, policy: AccessPolicy): AccessVerdict {
  const hostHeader = req.headers.host ?? '';
  if (policy.loopbackOnly && !isLoopbackHost(hostName(hostHeader))) {
    return { ok: false, status: 403, message: `Host "${hostName(hostHeader)}" is not a loopback name; this listener only answers to localhost (DNS-rebinding guard)` };
  }
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== 'null') {
    let originHost: string;
    try {
      originHost = new URL(origin).host;
    } catch {
      return { ok: false, status: 403, message: 'malformed Origin header' };
    }
    const sameOrigin = originHost === hostHeader;
    // The same port under another loopback spelling (localhost vs 127.0.0.1) is the same page;
    // another port is another application and may not drive this one.
    const port = (host: string) => /:(\d+)$/.exec(host)?.[1] ?? '';
    const sameLoopbackPort = isLoopbackHost(hostName(originHost)) && isLoopbackHost(hostName(hostHeader)) && port(originHost) === port(hostHeader);
    if (!sameOrigin && !sameLoopbackPort) {
      return { ok: false, status: 403, message: `Origin ${origin} may not call this orchestrator; open the dashboard from the orchestrator's own address` };
    }
  } else if (origin === 'null') {
    return { ok: false, status: 403, message: 'requests from an opaque origin are refused' };
  }
  if (policy.token !== undefined && !tokenMatches(policy.token, req.headers.authorization)) {
    return { ok: false, status: 401, message: 'missing or wrong bearer token; send "Authorization: Bearer <token>" (the token is set by [orchestrator] token or MCP_ORCHESTRATOR_TOKEN)' };
  }
  return { ok: true };
}
