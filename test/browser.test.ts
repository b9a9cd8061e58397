/**
 * The real library (TypeScript sources, bundled by esbuild at test time) in headless
 * Chromium: a cross-origin isolated page, and a pipe between two Web Workers. Skips
 * when /usr/bin/chromium is missing (.ci/run installs it; see test/browser/harness.ts).
 * Each test serves what it needs, so a library that does not bundle fails only the
 * tests that run it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Browser, bundle, chromiumPath, launch, open, runPage, serve } from './browser/harness.js';
import type { Report } from './browser/pipe-worker.js';
import type { ValeReport } from './browser/vale-worker.js';

const chromium = chromiumPath();
const skipped = chromium === null ? ' (SKIPPED: /usr/bin/chromium is missing; apt-get install chromium)' : '';
if (skipped) console.log(`browser tests${skipped}`);

describe.skipIf(chromium === null)(`library in headless Chromium Web Workers${skipped}`, () => {
  let browser: Browser | undefined;
  beforeAll(async () => {
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('the served page is cross-origin isolated, so SharedArrayBuffer exists', async () => {
    const srv = await serve();
    const p = await open(browser!.context, `${srv.url}/`);
    try {
      const got = await p.page.evaluate(() => ({
        isolated: (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated,
        sab: typeof SharedArrayBuffer,
      }));
      expect(got).toEqual({ isolated: true, sab: 'function' });
    } finally {
      await p.close();
      await srv.close();
    }
  });

  it('a pipe between two Web Workers delivers 100000 60-byte frames in order (ring 64)', async () => {
    const count = 100_000;
    const b = await bundle({ 'pipe-main': 'test/browser/pipe-main.ts', 'pipe-worker': 'test/browser/pipe-worker.ts' });
    const srv = await serve(b.dir);
    try {
      const url = `${srv.url}/pipe-main.html?count=${count}`;
      const { tx, rx } = await runPage<{ tx: Report; rx: Report }>(browser!.context, url, 60_000);
      expect(tx.packets).toBe(count);
      expect(rx).toEqual({ role: 'rx', packets: count, outOfOrder: 0, badLen: 0 });
    } finally {
      await srv.close();
      await b.close();
    }
  });

  it('VALE between Web Workers: every frame is delivered or counted as a drop at the port that was there, and a port made later gets traffic in order', async () => {
    const count = 50_000;
    const b = await bundle({ 'vale-main': 'test/browser/vale-main.ts', 'vale-worker': 'test/browser/vale-worker.ts' });
    const srv = await serve(b.dir);
    try {
      const url = `${srv.url}/vale-main.html?count=${count}`;
      const got = await runPage<{ a: ValeReport; b: ValeReport; c: ValeReport }>(browser!.context, url, 60_000);
      expect(got.a.packets).toBe(count);
      // B was there from the start: every frame was delivered to it or counted as dropped there.
      expect(got.b.packets + (got.b.vale?.drops ?? Number.NaN)).toBe(count);
      expect(got.b.vale?.rx).toBe(got.b.packets);
      // C was made while A waited: A's first sync may precede the news, never its later ones.
      expect(got.c.packets).toBeGreaterThan(0);
      expect(got.c.vale?.rx).toBe(got.c.packets);
      for (const r of [got.b, got.c]) {
        expect(r.outOfOrder).toBe(0);
        expect(r.badLen).toBe(0);
      }
    } finally {
      await srv.close();
      await b.close();
    }
  });
});
