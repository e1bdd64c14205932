import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { dashboardRoutes } from '../../src/control/dashboard/routes.js';
import { sendJson, startHttpServer, type Route } from '../../src/control/http.js';
import { checkAccess } from '../../src/control/security.js';
import { statusRoutes } from '../../src/control/status-routes.js';
import { silentLogger } from '../../src/log.js';
import type { Controller } from '../../src/reconcile/controller.js';

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
      expect(checkAccess(req(c.headers), loopback).ok).toBe(c.ok);
    });
  }

  it('wants the token off loopback, and takes it', () => {
    const policy = { token: 's3cret', loopbackOnly: false };
    expect(checkAccess(req({ host: '10.0.0.1:8080' }), policy)).toMatchObject({ ok: false, status: 401 });
    expect(checkAccess(req({ host: '10.0.0.1:8080', authorization: 'Bearer s3cret' }), policy).ok).toBe(true);
  });
});

describe('public routes', () => {
  it('lets probes and the static dashboard through, and wants the token for the rest', async () => {
    const closed: Route = { method: 'POST', path: /^\/mcp$/, handle: ({ res }) => sendJson(res, 200, {}) };
    const routes = [...statusRoutes({} as Controller), ...dashboardRoutes(), closed];
    const server = await startHttpServer({ host: '127.0.0.1', port: 0, routes, access: { token: 's3cret', loopbackOnly: false }, log: silentLogger() });
    try {
      const status = async (method: string, path: string, headers: Record<string, string> = {}) =>
        (await fetch(`${server.url}${path}`, { method, headers })).status;
      expect(await status('GET', '/healthz')).toBe(200);
      expect(await status('GET', '/')).toBe(200);
      expect(await status('POST', '/mcp')).toBe(401);
      expect(await status('POST', '/mcp', { authorization: 'Bearer s3cret' })).toBe(200);
    } finally {
      await server.close();
    }
  });
});
