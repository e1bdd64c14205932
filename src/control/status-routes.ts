import type { Controller } from '../reconcile/controller.js';
import { sendJson, type Route } from './http.js';

/** Health and readiness, for container probes: never behind the token. */
export function statusRoutes(controller: Controller): Route[] {
  return [
    {
      method: 'GET',
      path: /^\/healthz$/,
      public: true,
      handle: ({ res }) => sendJson(res, 200, { status: 'ok' }),
    },
    {
      method: 'GET',
      path: /^\/readyz$/,
      public: true,
      // Public (probes carry no token): names, states and reasons only, never error text.
      handle: ({ res }) => {
        const status = controller.status();
        const notReady = status.servers
          .filter((s) => s.enabled && !s.ready)
          .map((s) => ({ name: s.name, state: s.state, reason: s.reason }));
        sendJson(res, notReady.length === 0 ? 200 : 503, { ready: notReady.length === 0, notReady });
      },
    },
  ];
}
