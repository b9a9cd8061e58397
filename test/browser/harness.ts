/**
 * Runs the library's TypeScript sources (src/, shm/) in headless Chromium, in Web Workers:
 * esbuild bundles entries from test/browser/ at test time, a static server on 127.0.0.1
 * serves them cross-origin isolated (SharedArrayBuffer needs COOP + COEP), and
 * playwright-core drives the system Chromium (never a downloaded browser).
 *
 * Hazards:
 * - COEP `require-corp` must be on every response, worker scripts included: a worker
 *   script without it is refused by an isolated page.
 * - Module workers need `Content-Type: text/javascript`.
 * - A page's main thread may not Atomics.wait (Chromium throws): page code must use
 *   pollAsync or leave blocking to workers.
 * - No `node:` module is stubbed: a source that imports one fails the bundle, naming the
 *   importing file (esbuild's "Could not resolve"), which is the point.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/**
 * The system Chromium, or null when it is not installed (tests then skip, saying so).
 * `.ci/run` sets SABNETMAP_REQUIRE_BROWSER=1: there a missing browser fails the run
 * instead of skipping the browser tests.
 */
export function chromiumPath(): string | null {
  if (existsSync(CHROMIUM)) return CHROMIUM;
  if (process.env.SABNETMAP_REQUIRE_BROWSER === '1') {
    throw new Error(`SABNETMAP_REQUIRE_BROWSER=1 but ${CHROMIUM} is missing (apt-get install chromium)`);
  }
  return null;
}

export interface Bundle {
  dir: string;
  close(): Promise<void>;
}

/** Bundles `{ outName: 'test/browser/x.ts' }` (paths from the repo root) to `<dir>/<outName>.js`. */
export async function bundle(entries: Record<string, string>): Promise<Bundle> {
  const dir = await mkdtemp(join(tmpdir(), 'sabnetmap-bundle-'));
  try {
    await build({
      absWorkingDir: ROOT,
      entryPoints: Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, resolve(ROOT, v)])),
      outdir: dir,
      bundle: true,
      platform: 'browser',
      format: 'esm',
      target: 'es2022',
      sourcemap: 'inline', // DevTools shows the .ts sources (Error.stack still names the bundle)
      logLevel: 'silent', // errors come back in the thrown message
    });
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  return { dir, close: () => rm(dir, { recursive: true, force: true }) };
}

export interface Server {
  /** `http://127.0.0.1:<port>`; `/` is a blank page, `/<name>.html` runs `<name>.js` as a module. */
  url: string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.map': 'application/json' };

/** Serves a bundle dir (none: pages only) on a free port of 127.0.0.1, every response cross-origin isolated. */
export async function serve(dir?: string): Promise<Server> {
  const server = createServer(async (req, res) => {
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    res.setHeader('Cache-Control', 'no-store');
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const name = basename(path); // no '..' escapes the bundle dir
    if (path === '/' || name.endsWith('.html')) {
      const script = path === '/' ? '' : `<script type="module" src="./${name.slice(0, -5)}.js"></script>`;
      res.setHeader('Content-Type', 'text/html; charset=utf-8');
      res.end(`<!doctype html><meta charset="utf-8"><title>sabnetmap</title>${script}`);
      return;
    }
    const type = TYPES[name.slice(name.lastIndexOf('.'))];
    const body =
      type === undefined || dir === undefined ? undefined : await readFile(join(dir, name)).catch(() => undefined);
    if (type === undefined || body === undefined) {
      res.statusCode = 404;
      res.end();
      return;
    }
    res.setHeader('Content-Type', type);
    res.end(body);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        // Chromium keeps spare (pre)connected sockets open with no request on them: close()
        // alone waits for them to time out (~100 s here).
        server.closeAllConnections();
      }),
  };
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Starts the system Chromium with a fresh profile in a temporary dir. */
export async function launch(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (executablePath === null) throw new Error(`${CHROMIUM} is missing`);
  const profile = await mkdtemp(join(tmpdir(), 'sabnetmap-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args: FLAGS });
    return {
      context,
      close: async () => {
        await context.close();
        await rm(profile, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await rm(profile, { recursive: true, force: true });
    throw e;
  }
}

export interface OpenPage {
  page: Page;
  /** Console errors, page errors, worker errors and failed requests, as they came. */
  errors: string[];
  /**
   * Waits for `window.__result` (or a console line `__result <json>`) and returns it. A
   * result `{ error: string }` is the page's way to fail: it throws, with `errors`.
   */
  result<T>(timeoutMs: number): Promise<T>;
  close(): Promise<void>;
}

/** Opens `url`, collecting what would explain a failure. */
export async function open(context: BrowserContext, url: string): Promise<OpenPage> {
  const page = await context.newPage();
  const errors: string[] = [];
  let fromConsole: (v: unknown) => void = () => {};
  let fatal: (e: Error) => void = () => {};
  const consoleResult = new Promise<unknown>((ok) => (fromConsole = ok));
  const died = new Promise<never>((_, fail) => (fatal = fail));
  died.catch(() => {}); // only awaited by result()
  // Worker console messages reach page 'console' too (msg.worker() names the worker).
  page.on('console', (msg) => {
    const where = msg.worker() ? `worker ${msg.worker()?.url()}` : 'page';
    if (msg.text().startsWith('__result ')) fromConsole(JSON.parse(msg.text().slice(9)));
    else if (msg.type() === 'error') errors.push(`console.error (${where}): ${msg.text()}`);
  });
  page.on('pageerror', (e) => {
    errors.push(`page error: ${e.stack ?? e.message}`);
    fatal(new Error(`page error: ${e.message}`));
  });
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => {
    if (r.status() >= 400) errors.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  await page.goto(url);
  const result = async <T>(timeoutMs: number): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, fail) => {
      timer = setTimeout(() => fail(new Error(`no window.__result within ${timeoutMs} ms`)), timeoutMs);
    });
    const fromWindow = page
      .waitForFunction(() => (globalThis as { __result?: unknown }).__result, undefined, { timeout: 0, polling: 50 })
      .then((h) => h.jsonValue());
    try {
      const r = await Promise.race([fromWindow, consoleResult, died, timeout]);
      const error = (r as { error?: unknown } | null)?.error;
      if (typeof error === 'string') throw new Error(`the page reported: ${error}`);
      return r as T;
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${errors.join('\n') || '(no console or worker errors)'}`);
    } finally {
      clearTimeout(timer);
    }
  };
  return { page, errors, result, close: () => page.close() };
}

/** open + result + close: the result of the page `<url>`, or an error listing what went wrong there. */
export async function runPage<T>(context: BrowserContext, url: string, timeoutMs: number): Promise<T> {
  const p = await open(context, url);
  try {
    return await p.result<T>(timeoutMs);
  } finally {
    await p.close();
  }
}
