/**
 * The teaching demo (demo/) in headless Chromium: bundled from its sources, served by the
 * demo's own server (cross-origin isolated), driven through its controls and read through
 * `window.sabnetmapDemo.state()`. Skips when /usr/bin/chromium is missing, as
 * test/browser.test.ts does. Each lesson leaves a screenshot in test-results/demo/ (1280x720).
 *
 * No timing is asserted beyond generous hang guards: rates are compared with each other
 * (slow motion against full speed in the same test), never against constants.
 */
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LESSONS } from '../demo/lessons.js';
import {
  chooseLesson,
  chooseSpeed,
  type DemoPage,
  type DemoSite,
  type DemoState,
  openDemo,
  serveDemo,
} from './browser/demo-page.js';
import { type Browser, bundle, chromiumPath, launch, open } from './browser/harness.js';

const chromium = chromiumPath();
const skipped = chromium === null ? ' (SKIPPED: /usr/bin/chromium is missing; apt-get install chromium)' : '';
if (skipped) console.log(`demo tests${skipped}`);

const SHOTS = resolve(fileURLToPath(new URL('../test-results/demo', import.meta.url)));

/** Every ring pointer and thread counter, as one comparable string. */
const pointers = (s: DemoState) => JSON.stringify(s.rings.map((r) => [r.head, r.cur, r.tail, r.hwcur, r.hwtail]));
const syncs = (s: DemoState) => s.threads.map((t) => t.syncs);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every thread waits at its gate or sleeps, and nothing moved for a while. */
async function quiescent(p: DemoPage, what: string): Promise<DemoState> {
  let last = '';
  return p.until(
    (s) => {
      const settled = s.threads.every((t) => t.state === 'held' || t.state === 'asleep');
      const now = JSON.stringify(syncs(s)) + pointers(s);
      const same = now === last;
      last = now;
      return settled && same;
    },
    20_000,
    what,
  );
}

describe.skipIf(chromium === null)(`teaching demo in headless Chromium${skipped}`, () => {
  let browser: Browser | undefined;
  let site: DemoSite | undefined;
  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    site = await serveDemo();
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
    await site?.close();
  });

  it('the page is cross-origin isolated and its state says so', async () => {
    const p = await openDemo(browser!.context, site!.url);
    try {
      expect(await p.page.evaluate(() => (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated)).toBe(
        true,
      );
      expect((await p.state()).isolated).toBe(true);
      expect(p.errors).toEqual([]);
    } finally {
      await p.close();
    }
  });

  for (const lesson of LESSONS) {
    it(`lesson "${lesson.title}" starts: its pointers move and its counters rise`, async () => {
      const p = await openDemo(browser!.context, site!.url, `?lesson=${lesson.id}`);
      try {
        const first = await p.state();
        expect(first.lesson).toBe(lesson.id);
        expect(first.speed).toBe(lesson.speed.mode);
        const moved = await p.until(
          (s) =>
            pointers(s) !== pointers(first) &&
            s.totals.packets > first.totals.packets &&
            s.threads.every((t, i) => t.syncs > first.threads[i].syncs),
          30_000,
          `lesson ${lesson.id}: pointers move, packets and every thread's syncs rise`,
        );
        expect(moved.errors).toEqual([]);
        // Let a few frames draw what moved, then keep the picture.
        await sleep(1500);
        await p.page.screenshot({ path: join(SHOTS, `${lesson.id}.png`) });
        expect(p.errors).toEqual([]);
      } finally {
        await p.close();
      }
    });
  }

  it('single step runs exactly one sync of one thread: its count rises by 1, the others by 0', async () => {
    const p = await openDemo(browser!.context, site!.url, '?lesson=ownership');
    try {
      await chooseSpeed(p.page, 'step');
      let before = await quiescent(p, 'every thread reaches its gate or sleeps');
      for (let k = 0; k < 8; k++) {
        const held = before.threads.findIndex((t) => t.state === 'held');
        expect(held, `a thread waits at its gate (step ${k})`).toBeGreaterThanOrEqual(0);
        await p.page.selectOption('#step-thread', String(held));
        await p.page.click('#step');
        await p.until((s) => s.threads[held].syncs > before.threads[held].syncs, 20_000, `step ${k} runs`);
        const after = await quiescent(p, `step ${k} settles`);
        const delta = syncs(after).map((v, i) => v - syncs(before)[i]);
        expect(delta, `step ${k} of ${before.threads[held].name}`).toEqual(delta.map((_, i) => (i === held ? 1 : 0)));
        before = after;
      }
      expect(p.errors).toEqual([]);
    } finally {
      await p.close();
    }
  });

  it('single step on a passthrough guest: "next held" steps each thread in turn, one sync each', async () => {
    const p = await openDemo(browser!.context, site!.url, '?lesson=passthrough');
    try {
      await chooseSpeed(p.page, 'step');
      let before = await quiescent(p, 'every thread reaches its gate or sleeps');
      for (let k = 0; k < 9; k++) {
        await p.page.selectOption('#step-thread', 'next');
        await p.page.click('#step');
        const moved = await p.until(
          (s) => syncs(s).some((v, i) => v !== syncs(before)[i]),
          20_000,
          `step ${k} runs a thread`,
        );
        const stepped = syncs(moved).findIndex((v, i) => v !== syncs(before)[i]);
        const after = await quiescent(p, `step ${k} settles`);
        const delta = syncs(after).map((v, i) => v - syncs(before)[i]);
        expect(delta, `step ${k}`).toEqual(delta.map((_, i) => (i === stepped ? 1 : 0)));
        before = after;
      }
      await p.page.screenshot({ path: join(SHOTS, 'step.png') });
      expect(p.errors).toEqual([]);
    } finally {
      await p.close();
    }
  });

  it('slow motion runs far fewer syncs per second than full speed, measured in the same page', async () => {
    const p = await openDemo(browser!.context, site!.url, '?lesson=pipe');
    try {
      const count = async (ms: number) => {
        const a = await p.state();
        await sleep(ms);
        const b = await p.state();
        return b.threads[0].syncs - a.threads[0].syncs;
      };
      await p.until((s) => s.threads[0].syncs > 0, 20_000, 'the sender runs');
      const full = await count(1500);
      await p.page.fill('#pause', '100');
      await chooseSpeed(p.page, 'slow');
      await p.until((s) => s.speed === 'slow', 5000, 'slow motion is on');
      await sleep(300);
      const slow = await count(1500);
      expect(slow).toBeGreaterThan(0);
      expect(slow * 20).toBeLessThan(full);
      expect(p.errors).toEqual([]);
    } finally {
      await p.close();
    }
  });

  it('choosing each lesson from the select rebuilds the setup with no console error', async () => {
    const p = await openDemo(browser!.context, site!.url, '?lesson=ownership');
    try {
      for (const lesson of LESSONS) {
        await chooseLesson(p.page, lesson.id);
        const s = await p.until(
          (x) => x.lesson === lesson.id && x.running && x.totals.packets > 0,
          30_000,
          `lesson ${lesson.id} runs after choosing it`,
        );
        expect(s.config).toEqual(lesson.config);
      }
      expect(p.errors).toEqual([]);
    } finally {
      await p.close();
    }
  });

  it('the full-speed pipe lesson moves millions of packets a second (printed, not asserted)', async () => {
    const p = await openDemo(browser!.context, site!.url, '?lesson=pipe');
    try {
      // Long enough that the rate's last second and the last 300 frames are past the start.
      await sleep(7000);
      const s = await p.state();
      console.log(
        `demo: full-speed pipe in the browser: ${s.totals.mpps.toFixed(1)} Mpps (60 B, batch 64, ring 1024; ${s.cores} cores; last 300 frames: at most ${s.frames.maxWorkMs.toFixed(1)} ms of work and ${s.frames.maxIntervalMs.toFixed(1)} ms between two, ${s.frames.over50} over 50 ms)`,
      );
      expect(s.totals.mpps).toBeGreaterThan(0);
      expect(p.errors).toEqual([]);
    } finally {
      await p.close();
    }
  });

  it('served without COOP/COEP, the page says in plain words that both headers are needed', async () => {
    const b = await bundle({ main: 'demo/main.ts', worker: 'demo/worker.ts' });
    const { readFile } = await import('node:fs/promises');
    const html = await readFile(resolve(fileURLToPath(new URL('../demo/index.html', import.meta.url))));
    const plain = createServer(async (req, res) => {
      const name = new URL(req.url ?? '/', 'http://x').pathname.slice(1) || 'index.html';
      if (name === 'index.html') {
        res.setHeader('Content-Type', 'text/html; charset=utf-8');
        res.end(html);
        return;
      }
      const body = await readFile(join(b.dir, name)).catch(() => null);
      res.statusCode = body === null ? 404 : 200;
      res.setHeader('Content-Type', 'text/javascript; charset=utf-8');
      res.end(body ?? undefined);
    });
    await new Promise<void>((ok) => plain.listen(0, '127.0.0.1', ok));
    const url = `http://127.0.0.1:${(plain.address() as AddressInfo).port}/`;
    const p = await open(browser!.context, url);
    try {
      const box = p.page.locator('#isolation-problem');
      await box.waitFor({ state: 'visible', timeout: 10_000 });
      const text = (await box.textContent()) ?? '';
      expect(text).toMatch(/cross-origin isolated/i);
      expect(text).toContain('Cross-Origin-Opener-Policy: same-origin');
      expect(text).toContain('Cross-Origin-Embedder-Policy: require-corp');
      expect(await p.page.evaluate(() => (globalThis as unknown as { __result?: unknown }).__result)).toEqual({
        isolated: false,
      });
    } finally {
      await p.close();
      await new Promise<void>((ok) => {
        plain.close(() => ok());
        plain.closeAllConnections();
      });
      await b.close();
    }
  });
});
