/**
 * The dashboard in a real browser (headless Chromium through playwright-core) against the built
 * orchestrator: cards, actions, live updates, the log pane, untrusted text, and the token form.
 *
 * Screenshots for the docs are written only with UPDATE_SCREENSHOTS=1, so a test run leaves the
 * tree clean; the phone layout is checked on every run.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { byName, startCli, type RunningOrchestrator, STEADY, steadyServer, useScratch } from '../helpers/orchestrator.js';
import { waitFor } from '../helpers/wait.js';

/** The page's `document`, as far as the functions run in the browser below use it (tsconfig has no DOM lib). */
declare const document: {
  documentElement: { setAttribute(name: string, value: string): void; scrollWidth: number };
  querySelector(selector: string): { textContent: string | null; disabled: boolean; click(): void } | null;
  getElementById(id: string): { textContent: string | null } | null;
};

const CHROMIUM = '/usr/bin/chromium';
const CRASH = fileURLToPath(new URL('../fixtures/e2e/crash.js', import.meta.url));
const SCREENSHOTS = fileURLToPath(new URL('../../docs/screenshots/', import.meta.url));
const XSS = '<img src=x onerror=alert(1)>';
const WAIT_MS = 15_000;

const steady = (name: string) => `${steadyServer(name)}\n`;
const crash = (name: string) => `[[server]]\nname = "${name}"\ncommand = ["${process.execPath}", "${CRASH}"]\ntransport = "stdio"\n\n`;
/** Prints 300 numbered lines on stderr, then serves MCP. */
const chatty = (name: string) =>
  `[[server]]\nname = "${name}"\ncommand = "seq 1 300 | sed 's/^/line /' >&2; exec '${process.execPath}' '${STEADY}'"\ntransport = "stdio"\n\n`;
/** Prints markup on stderr before it becomes a steady MCP server. */
const xss = (name: string) =>
  `[[server]]\nname = "${name}"\ncommand = ["sh", "-c", "echo '${XSS}' >&2; exec '${process.execPath}' '${STEADY}'"]\ntransport = "stdio"\n\n`;

let browser: Browser | undefined;
let context: BrowserContext | undefined;
/** Uncaught errors in the page: any one fails the test that caused it. */
let pageErrors: string[];
let dialogs: string[];

async function open(orch: RunningOrchestrator, viewport = { width: 1280, height: 800 }, beforeLoad?: (page: Page) => void): Promise<Page> {
  context = await browser!.newContext({ viewport });
  const page = await context.newPage();
  beforeLoad?.(page);
  page.setDefaultTimeout(WAIT_MS);
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('dialog', (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void dialog.dismiss().catch(() => {});
  });
  await page.goto(orch.url, { timeout: WAIT_MS });
  return page;
}

const card = (name: string) => `[data-server="${name}"]`;
const fieldOf = (name: string, field: string) => `${card(name)} [data-field="${field}"]`;

/** Wait until the element's text is exactly `text`. */
async function waitForText(page: Page, selector: string, text: string): Promise<void> {
  await page.waitForFunction(([s, t]) => document.querySelector(s!)?.textContent === t, [selector, text], { timeout: WAIT_MS });
}

/** An orchestrator on `file` running one steady server, alpha, and the page once its card shows it running. */
async function openWithAlphaRunning(file: string): Promise<{ orch: RunningOrchestrator; page: Page }> {
  await writeFile(file, steady('alpha'));
  const orch = await startCli(file);
  await orch.until((s) => byName(s, 'alpha')?.state === 'running', 'alpha running');
  const page = await open(orch);
  await page.waitForSelector(`${card('alpha')} .badge.state-running`);
  return { orch, page };
}

const post = (orch: RunningOrchestrator, path: string, token?: string) =>
  orch.api(path, { method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {} });

const HAS_CHROMIUM = existsSync(CHROMIUM);

describe.skipIf(!HAS_CHROMIUM)(HAS_CHROMIUM ? 'dashboard in Chromium' : `dashboard in Chromium: skipped, ${CHROMIUM} is missing (apt-get install chromium)`, () => {
  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      timeout: 30_000,
    });
  });
  afterAll(async () => {
    await browser?.close();
  });
  const scratch = useScratch('mcpo-dash-');
  beforeEach(() => {
    pageErrors = [];
    dialogs = [];
  });
  // Registered after useScratch, so it runs first: the page closes before its orchestrator stops.
  afterEach(async () => {
    await context?.close().catch(() => {});
    context = undefined;
  });

  it('shows a card per server; Restart changes the pid; changes made elsewhere appear without a reload', async () => {
    await writeFile(scratch.file, steady('alpha') + steady('beta') + steady('gamma'));
    const orch = await startCli(scratch.file);
    const before = await orch.until((s) => s.servers.every((x) => x.state === 'running'), 'all running');
    const page = await open(orch);

    await page.waitForSelector(`${card('gamma')} .badge.state-running`);
    expect(await page.locator('[data-server]').evaluateAll((cards) => cards.map((c) => c.getAttribute('data-server')))).toEqual(['alpha', 'beta', 'gamma']);
    for (const server of before.servers) expect(await page.textContent(fieldOf(server.name, 'pid'))).toBe(String(server.pid));
    await waitForText(page, fieldOf('alpha', 'tools'), '1');
    // Marks this document: if the page reloaded, the mark would be gone.
    await page.evaluate(() => document.documentElement.setAttribute('data-test-mark', 'same-document'));

    // Restart from the page.
    const oldPid = byName(before, 'alpha')!.pid!;
    await page.click(`${card('alpha')} [data-action="restart"]`);
    const restarted = byName(await orch.until((s) => byName(s, 'alpha')?.state === 'running' && byName(s, 'alpha')?.pid !== oldPid, 'alpha restarted'), 'alpha')!;
    await waitForText(page, fieldOf('alpha', 'pid'), String(restarted.pid));
    expect(restarted.pid).not.toBe(oldPid);

    // A stop through the API, not the page, shows up live.
    expect((await post(orch, '/api/servers/beta/stop')).status).toBe(200);
    await waitForText(page, fieldOf('beta', 'state'), 'stopped');
    await waitForText(page, fieldOf('beta', 'pid'), '—');
    expect(await page.isEnabled(`${card('beta')} [data-action="start"]`)).toBe(true);
    await page.waitForSelector('#events [data-type="transition"] >> text=stopping → stopped');

    // So does a crash: killing gamma's process restarts it under a new pid.
    const gamma = byName(before, 'gamma')!;
    process.kill(gamma.pid!, 'SIGKILL');
    const back = byName(await orch.until((s) => byName(s, 'gamma')?.state === 'running' && byName(s, 'gamma')?.pid !== gamma.pid, 'gamma back'), 'gamma')!;
    await waitForText(page, fieldOf('gamma', 'pid'), String(back.pid));
    await waitForText(page, fieldOf('gamma', 'restarts'), String(back.restarts));
    await page.waitForSelector('#events [data-type="exit"] >> text=killed by SIGKILL');

    expect(await page.getAttribute('html', 'data-test-mark')).toBe('same-document');
    expect(pageErrors).toEqual([]);
  });

  it('a refused action shows the API message in the alert region', async () => {
    const { orch, page } = await openWithAlphaRunning(scratch.file);
    // The button is enabled for a running server; stopping it twice races the page into a 409.
    expect((await post(orch, '/api/servers/alpha/stop')).status).toBe(200);
    await page.evaluate(() => {
      // Force the button on, as a stale page would have it.
      const button = document.querySelector('[data-server="alpha"] [data-action="stop"]')!;
      button.disabled = false;
      button.click();
    });
    await page.waitForSelector('#toasts .toast-error >> text=already stopped by a manual stop');
    expect(pageErrors).toEqual([]);
  });

  it('a rejected config shows each problem once, and what keeps running', async () => {
    const { page } = await openWithAlphaRunning(scratch.file);
    await writeFile(scratch.file, `${steady('alpha')}\n[orchestrator]\nlog_level = "debug\n`);
    await waitForText(page, '#config-error-text', `1 problem(s) in ${scratch.file}; the file is rejected`);
    const items = await page.$$eval('#config-issues li', (lis) => lis.map((li) => li.textContent ?? ''));
    expect(items).toHaveLength(1);
    expect(items[0]).toContain('a string is not closed on its line');
    expect(await page.textContent('#config-error-note')).toBe('The last good config keeps running until the file is fixed.');
    expect(await page.textContent('#config-error')).not.toMatch(/keeps running[\s\S]*keeps running/);
    expect(pageErrors).toEqual([]);
  });

  it('shows markup from a server and from the config as text, and runs none of it', async () => {
    await writeFile(scratch.file, xss('xss') + steady('calm'));
    const orch = await startCli(scratch.file);
    await orch.until((s) => s.servers.every((x) => x.state === 'running'), 'all running');
    const page = await open(orch);

    await page.click(`${card('xss')} [data-action="logs"]`);
    await page.waitForSelector('#logs-body .log-stderr');
    const texts = await page.locator('#logs-body .log-text').allTextContents();
    expect(texts).toContain(XSS);
    // The command (with the markup in it) is in the config pane too.
    await page.click('#config summary');
    await page.waitForFunction((needle) => document.getElementById('config-text')?.textContent?.includes(needle), XSS, { timeout: WAIT_MS });
    // No <img> was parsed from the text, so no handler of one can ever fire.
    expect(await page.locator('#logs img').count()).toBe(0);
    expect(await page.locator('#config img').count()).toBe(0);
    // The only image on the page is the logo.
    expect(await page.locator('img').evaluateAll((images) => images.map((i) => i.getAttribute('src')))).toEqual(['/favicon.svg']);
    expect(dialogs).toEqual([]);
    expect(pageErrors).toEqual([]);

    // Closing the pane hides it.
    await page.click('#logs-close');
    expect(await page.isHidden('#logs')).toBe(true);
  });

  it('follows a log live: at the bottom it follows, scrolled up it stays put and offers a jump', async () => {
    await writeFile(scratch.file, chatty('chatty'));
    const orch = await startCli(scratch.file);
    const first = byName(await orch.until((s) => byName(s, 'chatty')?.state === 'running', 'chatty running'), 'chatty')!;
    const page = await open(orch);
    await page.click(`${card('chatty')} [data-action="logs"]`);
    await page.waitForSelector(`#logs-body .log-text >> text=up as ${first.pid}`);
    // The tail: the last 200 of the 301 lines, and the view at the bottom.
    expect(await page.locator('#logs-body .log-line').count()).toBe(200);
    const atBottom = () => page.$eval('#logs-body', (b) => b.scrollHeight - b.scrollTop - b.clientHeight < 24);
    expect(await atBottom()).toBe(true);

    // Scrolled up by the reader: new lines arrive but the view does not move.
    await page.$eval('#logs-body', (b) => {
      b.scrollTop = 0;
      b.dispatchEvent(new Event('scroll'));
    });
    expect((await post(orch, '/api/servers/chatty/restart')).status).toBe(200);
    const second = byName(await orch.until((s) => byName(s, 'chatty')?.state === 'running' && byName(s, 'chatty')?.pid !== first.pid, 'chatty restarted'), 'chatty')!;
    await page.waitForSelector(`#logs-body .log-text >> text=up as ${second.pid}`);
    expect(await page.locator('#logs-body .log-line').count()).toBe(200 + 301);
    expect(await page.$eval('#logs-body', (b) => b.scrollTop)).toBe(0);
    await page.click('#logs-jump');
    expect(await atBottom()).toBe(true);

    await page.keyboard.press('Escape');
    await page.waitForSelector('#logs', { state: 'hidden' });
    expect(pageErrors).toEqual([]);
  });

  it('parses event streams in any chunking, and reconnects with Last-Event-ID after the orchestrator restarts', async () => {
    await writeFile(scratch.file, steady('alpha'));
    const orch = await startCli(scratch.file);
    const first = byName(await orch.until((s) => byName(s, 'alpha')?.state === 'running', 'alpha running'), 'alpha')!;
    const eventRequests: (string | undefined)[] = [];
    const page = await open(orch, undefined, (p) =>
      p.on('request', (request) => {
        if (new URL(request.url()).pathname === '/api/events') eventRequests.push(request.headers()['last-event-id']);
      }),
    );

    // The parser, in the page, on CRLF/CR/LF endings, comments, multi-line data, ids and a stream
    // cut at every possible point.
    // A string, so the test runner does not rewrite the dynamic import.
    const parsed = await page.evaluate(String.raw`(async () => {
      const { SseParser } = await import('/dashboard/sse.js');
      const text = ': keepalive\r\nid: 7\r\nevent: transition\r\ndata: {"a":1}\r\n\r\ndata: one\rdata: two\r\rid: 9\n\nevent: line\ndata:  spaced\nid: 10\n\n';
      const results = new Set();
      for (let cut = 0; cut <= text.length; cut++) {
        const events = [];
        const parser = new SseParser((e) => events.push(e.id + '|' + e.event + '|' + e.data));
        parser.push(text.slice(0, cut));
        parser.push(text.slice(cut));
        results.add(events.join(' ; ') + ' @' + parser.lastEventId);
      }
      return [...results];
    })()`);
    expect(parsed).toEqual(['7|transition|{"a":1} ; 7|message|one\ntwo ; 10|line| spaced @10']);

    await page.waitForSelector('#conn[data-state="open"]');
    await page.waitForSelector(`${card('alpha')} .badge.state-running`);
    const seen = await page.locator('#events .event').count();
    expect(seen).toBeGreaterThan(0);
    const port = new URL(orch.url).port;
    expect(await orch.stop()).toBe(0);
    await page.waitForSelector('#conn[data-state="reconnecting"]');

    // The same address again: the page finds it by itself, with no reload.
    const again = await startCli(scratch.file, { args: ['--listen', `127.0.0.1:${port}`] });
    expect(again.url).toBe(orch.url);
    const second = byName(await again.until((s) => byName(s, 'alpha')?.state === 'running', 'alpha running again'), 'alpha')!;
    await page.waitForSelector('#conn[data-state="open"]');
    await waitForText(page, fieldOf('alpha', 'pid'), String(second.pid));
    expect(second.pid).not.toBe(first.pid);
    // The first request asks for everything kept ("after 0"); every reconnect, after the last id seen.
    expect(eventRequests[0]).toBe('0');
    expect(eventRequests.length).toBeGreaterThanOrEqual(2);
    for (const id of eventRequests.slice(1)) expect(Number(id)).toBeGreaterThanOrEqual(seen);
    expect(pageErrors).toEqual([]);
  });

  it('behind a token: serves the page openly, asks for the token once, then works live', async () => {
    const token = 'dashboard-e2e-token';
    await writeFile(scratch.file, steady('alpha') + steady('beta'));
    const orch = await startCli(scratch.file, { env: { MCP_ORCHESTRATOR_TOKEN: token } });
    const auth = { authorization: `Bearer ${token}` };

    // The page and its assets need no token and carry a strict policy; the API does need one.
    const page0 = await fetch(`${orch.url}/`);
    expect(page0.status).toBe(200);
    expect(page0.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page0.headers.get('content-security-policy')).toBe(
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    );
    expect(page0.headers.get('x-content-type-options')).toBe('nosniff');
    for (const [path, type] of [
      ['/dashboard/app.js', 'text/javascript; charset=utf-8'],
      ['/dashboard/sse.js', 'text/javascript; charset=utf-8'],
      ['/dashboard/app.css', 'text/css; charset=utf-8'],
      ['/favicon.svg', 'image/svg+xml'],
    ] as const) {
      const response = await fetch(`${orch.url}${path}`);
      expect(response.status, path).toBe(200);
      expect(response.headers.get('content-type'), path).toBe(type);
      expect(response.headers.get('cache-control'), path).toBeTruthy();
      await response.arrayBuffer();
    }
    expect((await fetch(`${orch.url}/api/servers`)).status).toBe(401);

    const status = await waitFor(
      async () => {
        const body = (await orch.api<{ servers: { name: string; state: string; pid: number | null }[] }>('/api/servers', { headers: auth })).body;
        return body.servers.every((s) => s.state === 'running') ? body : undefined;
      },
      { timeoutMs: WAIT_MS, intervalMs: 100, message: 'every server running' },
    );

    const page = await open(orch);
    await page.waitForSelector('#token-dialog[open]');
    expect(await page.locator('[data-server]').count()).toBe(0);
    await page.fill('#token-input', 'wrong-token');
    await page.click('#token-form button[type="submit"]');
    await page.waitForSelector('#token-dialog[open] #token-error >> text=not accepted');
    await page.fill('#token-input', token);
    await page.click('#token-form button[type="submit"]');
    await page.waitForSelector('#token-dialog', { state: 'hidden' });
    await waitForText(page, fieldOf('alpha', 'pid'), String(status.servers.find((s) => s.name === 'alpha')!.pid));

    // The event stream carries the token too: a stop made elsewhere shows up live.
    await page.waitForSelector('#conn[data-state="open"]');
    expect((await post(orch, '/api/servers/beta/stop', token)).status).toBe(200);
    await waitForText(page, fieldOf('beta', 'state'), 'stopped');
    // And the log stream.
    await page.click(`${card('alpha')} [data-action="logs"]`);
    await page.waitForSelector('#logs-body .log-text >> text=steady alpha up as');

    // Kept for the tab: a reload does not ask again.
    await page.reload();
    await page.waitForSelector(`${card('alpha')} .badge.state-running`);
    expect(await page.isVisible('#token-dialog')).toBe(false);
    expect(pageErrors).toEqual([]);
  });

  it('is readable on a phone and on a laptop (screenshots with UPDATE_SCREENSHOTS=1)', async () => {
    await writeFile(scratch.file, steady('memory') + steady('filesystem') + steady('github') + crash('flaky') + xss('xss-demo'));
    const orch = await startCli(scratch.file);
    await orch.until((s) => s.servers.filter((x) => x.state === 'running').length === 4 && (byName(s, 'flaky')?.restarts ?? 0) >= 1, 'four running, flaky retried');
    await post(orch, '/api/servers/github/stop');

    const desktop = await open(orch, { width: 1280, height: 800 });
    await desktop.waitForSelector(`${card('github')} .badge.state-stopped`);
    await desktop.waitForSelector('#events .event');
    await desktop.click('#config summary');
    await desktop.waitForFunction(() => document.getElementById('config-text')?.textContent?.startsWith('{'), undefined, { timeout: WAIT_MS });
    const update = process.env.UPDATE_SCREENSHOTS === '1';
    if (update) await mkdir(SCREENSHOTS, { recursive: true });
    const save = async (page: Page, name: string) => {
      if (!update) return;
      // Let the uptime tick and the toasts settle so the picture is stable.
      await page.waitForTimeout(300);
      await page.screenshot({ path: join(SCREENSHOTS, name) });
    };
    await save(desktop, 'dashboard-desktop.png');
    await context!.close();

    const phone = await open(orch, { width: 375, height: 740 });
    await phone.waitForSelector(`${card('memory')} .badge.state-running`);
    // Nothing wider than the screen: no sideways scrolling.
    expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    for (const action of ['start', 'stop', 'restart', 'logs']) {
      const box = await phone.locator(`${card('memory')} [data-action="${action}"]`).boundingBox();
      expect(box, action).not.toBeNull();
      expect(box!.x + box!.width, action).toBeLessThanOrEqual(375);
      expect(box!.height, action).toBeGreaterThanOrEqual(28);
    }
    await save(phone, 'dashboard-phone.png');
    expect(pageErrors).toEqual([]);
  });
});
