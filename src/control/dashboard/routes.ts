/**
 * The dashboard: a static page and its assets, served from this folder with a strict CSP. The page
 * holds no data; it reads everything from the JSON API on the same origin (and asks for the token
 * itself), so its routes are public (`Route.public`).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError, type Route } from '../http.js';

/** Everything the page loads comes from here; nothing inline, nothing from another origin. */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

interface Asset {
  file: string;
  type: string;
  /** The page and its code revalidate on every load (ETag); the icon may be cached for a day. */
  cache: string;
}

const REVALIDATE = 'no-cache';
const ASSETS: Record<string, Asset> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8', cache: REVALIDATE },
  '/dashboard/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8', cache: REVALIDATE },
  '/dashboard/sse.js': { file: 'sse.js', type: 'text/javascript; charset=utf-8', cache: REVALIDATE },
  '/dashboard/app.css': { file: 'app.css', type: 'text/css; charset=utf-8', cache: REVALIDATE },
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml', cache: 'public, max-age=86400' },
};

/**
 * Where the asset files are at run time. `tsc` compiles only the .ts files, so the .html, .js,
 * .css and .svg files stay in the source folder:
 *
 * - run from source (tsx, vitest): this module is src/control/dashboard/routes.ts, next to them;
 * - run compiled: this module is <repo>/dist/src/control/dashboard/routes.js, and the assets are at
 *   <repo>/src/control/dashboard/, four levels up and back down. The Docker image copies
 *   src/control/dashboard into /app/src/control/dashboard for that reason.
 */
export function defaultAssetsDir(moduleUrl: string = import.meta.url): string {
  const beside = new URL('./', moduleUrl);
  if (existsSync(new URL('index.html', beside))) return fileURLToPath(beside);
  return fileURLToPath(new URL('../../../../src/control/dashboard/', moduleUrl));
}

export interface DashboardOptions {
  /** The folder holding index.html and the rest; defaults to `defaultAssetsDir()`. */
  assetsDir?: string;
}

/** `GET /`, `/dashboard/app.js`, `/dashboard/sse.js`, `/dashboard/app.css` and `/favicon.svg` (and HEAD). */
export function dashboardRoutes(options: DashboardOptions = {}): Route[] {
  const dir = options.assetsDir ?? defaultAssetsDir();
  const base = dir.endsWith('/') ? dir : `${dir}/`;
  // Read on each request (they are a few kilobytes) so an edit shows on reload without a restart.
  const serve = async (asset: Asset, req: IncomingMessage, res: ServerResponse) => {
    let body: Buffer;
    try {
      body = await readFile(`${base}${asset.file}`);
    } catch {
      throw new HttpError(404, `dashboard asset ${asset.file} is missing from ${base}; the image must include src/control/dashboard`);
    }
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
    const headers = {
      'content-type': asset.type,
      'cache-control': asset.cache,
      etag,
      'content-security-policy': DASHBOARD_CSP,
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-resource-policy': 'same-origin',
    };
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, { ...headers, 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  return Object.entries(ASSETS).map(([path, asset]) => ({
    method: ['GET', 'HEAD'],
    path: new RegExp(`^${path.replace(/[.]/g, '\\.')}$`),
    public: true,
    handle: ({ req, res }) => serve(asset, req, res),
  }));
}
