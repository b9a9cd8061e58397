/**
 * The teaching demo for tests: bundles demo/main.ts and demo/worker.ts from the sources
 * (as `npm run build` does, so a test never sees a stale dist/demo), copies the demo's
 * static files beside them, serves the folder with the demo's own server (cross-origin
 * isolated) and drives the page through `window.sabnetmapDemo.state()` and its controls.
 */
import { copyFile, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { startDemoServer } from '../../src/cli/demo.js';
import { type Bundle, bundle, type OpenPage, open } from './harness.js';

const DEMO = resolve(fileURLToPath(new URL('../../demo', import.meta.url)));

export interface DemoSite {
  url: string;
  close(): Promise<void>;
}

/** Bundles the demo into a temporary folder and serves it; close() stops both. */
export async function serveDemo(): Promise<DemoSite> {
  const b: Bundle = await bundle({ main: 'demo/main.ts', worker: 'demo/worker.ts' });
  try {
    for (const f of await readdir(DEMO)) {
      if (!f.endsWith('.ts') && f !== 'tsconfig.json') await copyFile(join(DEMO, f), join(b.dir, f));
    }
    const srv = await startDemoServer({ root: b.dir });
    return {
      url: srv.url,
      close: async () => {
        await srv.close();
        await b.close();
      },
    };
  } catch (e) {
    await b.close();
    throw e;
  }
}

/** What the page's state() returns, as far as tests read it. */
export interface DemoState {
  isolated: boolean;
  running: boolean;
  lesson: string;
  speed: 'full' | 'slow' | 'step';
  pauseMs: number;
  cores: number;
  rings: Array<{
    name: string;
    numSlots: number;
    head: number;
    cur: number;
    tail: number;
    hwcur: number;
    hwtail: number;
  }>;
  threads: Array<{
    name: string;
    role: string;
    state: string;
    syncs: number;
    packets: number;
    kicks: number;
    irqs: number;
  }>;
  totals: { packets: number; notifies: number; kicks: number; irqs: number; mpps: number; rateSeconds: number };
  frames: { count: number; maxWorkMs: number; maxIntervalMs: number; over50: number };
  config: Record<string, unknown>;
  errors: string[];
}

export interface DemoPage extends OpenPage {
  state(): Promise<DemoState>;
  /** Waits (polling state()) until `ok` holds; throws with the last state after `timeoutMs`. */
  until(ok: (s: DemoState) => boolean, timeoutMs: number, what: string): Promise<DemoState>;
}

/** Opens the demo (at 1280x720 unless told) with `?query`, once its workers run. */
export async function openDemo(
  context: BrowserContext,
  url: string,
  query = '',
  viewport = { width: 1280, height: 720 },
): Promise<DemoPage> {
  const p = await open(context, 'about:blank');
  await p.page.setViewportSize(viewport);
  await p.page.goto(`${url}${query}`);
  const state = () =>
    p.page.evaluate(() => (globalThis as unknown as { sabnetmapDemo: { state(): DemoState } }).sabnetmapDemo.state());
  await p.page.waitForFunction(
    () => (globalThis as unknown as { sabnetmapDemo?: unknown }).sabnetmapDemo !== undefined,
  );
  const until = async (ok: (s: DemoState) => boolean, timeoutMs: number, what: string): Promise<DemoState> => {
    const end = Date.now() + timeoutMs;
    let s = await state();
    while (!ok(s)) {
      if (Date.now() > end) {
        throw new Error(
          `${what}: not within ${timeoutMs} ms\nlast state: ${JSON.stringify(s)}\n${p.errors.join('\n')}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
      s = await state();
    }
    return s;
  };
  await until((s) => s.running || s.errors?.length > 0, 30_000, 'the demo starts its workers');
  return { ...p, state, until };
}

/** Picks a lesson from the page's select (as a person would). */
export async function chooseLesson(page: Page, id: string): Promise<void> {
  await page.selectOption('#lesson', id);
}

/** Picks a speed mode from the page's radio buttons. */
export async function chooseSpeed(page: Page, mode: 'full' | 'slow' | 'step'): Promise<void> {
  await page.check(`#speed-${mode}`);
}
