import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { checkAccess } from '../../src/control/security.js';

const req = (headers: Record<string, string | undefined>) => ({ headers }) as unknown as IncomingMessage;
const loopback = { token: undefined, loopbackOnly: true };

describe('checkAccess', () => {
  const cases = [
    { what: 'no Origin (a CLI, an SDK client)', headers: { host: '127.0.0.1:8080' }, ok: true },
    { what: 'the page itself', headers: { host: '127.0.0.1:8080', origin: 'http://127.0.0.1:8080' }, ok: true },
    { what: 'the same port spelled localhost', headers: { host: '127.0.0.1:8080', origin: 'http://localhost:8080' }, ok: true },
    { what: 'another app on localhost', headers: { host: '127.0.0.1:8080', origin: 'http://localhost:3000' }, ok: false },
    { what: 'a foreign site', headers: { host: '127.0.0.1:8080', origin: 'https://evil.example' }, ok: false },
    { what: 'a rebinding Host', headers: { host: 'evil.example:8080' }, ok: false },
    { what: 'an opaque origin', headers: { host: '127.0.0.1:8080', origin: 'null' }, ok: false },
  ];
  for (const c of cases) {
    it(`${c.ok ? 'allows' : 'refuses'} ${c.what}`, () => {
      expect(checkAccess(req(c.headers), '/api/servers', loopback).ok).toBe(c.ok);
    });
  }

  it('lets probes and the static dashboard through, and wants the token for the rest', () => {
    const policy = { token: 's3cret', loopbackOnly: false };
    expect(checkAccess(req({ host: '10.0.0.1:8080' }), '/healthz', policy).ok).toBe(true);
    expect(checkAccess(req({ host: '10.0.0.1:8080' }), '/', policy).ok).toBe(true);
    expect(checkAccess(req({ host: '10.0.0.1:8080' }), '/mcp', policy)).toMatchObject({ ok: false, status: 401 });
    expect(checkAccess(req({ host: '10.0.0.1:8080', authorization: 'Bearer s3cret' }), '/mcp', policy).ok).toBe(true);
  });
});
