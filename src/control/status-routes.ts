import type { Controller } from '../reconcile/controller.js';
import { HttpError, sendJson, type Route } from './http.js';

/** Server names as the config allows them; anything else cannot name a server. */
export const NAME_SEGMENT = '(?<name>[A-Za-z0-9][A-Za-z0-9_-]{0,31})';

/** Health, readiness and status: the routes that only read the controller. */
export function statusRoutes(controller: Controller): Route[] {
  return [
    {
      method: 'GET',
      path: /^\/healthz$/,
      handle: ({ res }) => sendJson(res, 200, { status: 'ok' }),
    },
    {
      method: 'GET',
      path: /^\/readyz$/,
      handle: ({ res }) => {
        const status = controller.status();
        const notReady = status.servers
          .filter((s) => s.enabled && !s.ready)
          .map((s) => ({ name: s.name, state: s.state, reason: s.reason, message: s.message }));
        sendJson(res, notReady.length === 0 ? 200 : 503, { ready: notReady.length === 0, notReady });
      },
    },
    {
      method: 'GET',
      path: /^\/api\/servers\/?$/,
      handle: ({ res }) => sendJson(res, 200, controller.status()),
    },
    {
      method: 'GET',
      path: new RegExp(`^/api/servers/${NAME_SEGMENT}$`),
      handle: ({ res, params }) => {
        const name = params.name ?? '';
        if (!controller.has(name)) throw new HttpError(404, `no server named "${name}" in the config; GET /api/servers lists them`);
        sendJson(res, 200, controller.serverStatus(name));
      },
    },
  ];
}
