/**
 * How VALE ports meet (src/kernel/vale-switch.ts): nothing joinable by name, attaching
 * never waits for another thread, and a port made later reaches a thread that attached
 * earlier — synchronously in Node, with the event loop where there is no synchronous
 * receive (a browser; test/browser.test.ts runs the real thing in Chromium).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Netmap } from '../src/netmap.js';
import type { Port } from '../src/port.js';
import { DIST_LIB, inlineWorker } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Every .ts file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

let opened: Port[] = [];
afterEach(() => {
  for (const p of opened) p.close();
  opened = [];
});

/** Receives what is there; the number of frames. */
function drain(p: Port): number {
  p.rxsync();
  const r = p.rx;
  const n = r.space();
  r.advance(r.tail);
  p.rxsync();
  return n;
}

/** Worker code: sends one broadcast frame on `port` and closes it. */
const BROADCAST_ONE_AND_CLOSE = `const tx = port.tx;
const k = tx.cur;
tx.buf(k).fill(0xff, 0, 6);
tx.buf(k).set([2, 0, 0, 0, 0, 9], 6);
tx.setLen(k, 60);
tx.advance(tx.next(k));
port.txsync();
port.close();`;

// A worker body that attaches `desc`, sends one broadcast frame and says so through
// `ctl` (word 0: 1 done, 2 failed) without needing anyone's event loop.
const SEND_ONE = `
const ctl = new Int32Array(workerData.ctl);
try {
  const port = lib.attachPort(workerData.desc);
${BROADCAST_ONE_AND_CLOSE}
  Atomics.store(ctl, 0, 1);
} catch (e) {
  Atomics.store(ctl, 0, 2);
  parentPort.postMessage(String(e));
}
Atomics.notify(ctl, 0);
`;

describe('VALE ports meet with nothing handed out by name', () => {
  it('no module of the library opens a BroadcastChannel (a channel anyone knowing its name can join)', () => {
    const users = [...sources(join(ROOT, 'src')), ...sources(join(ROOT, 'shm'))].filter((f) =>
      /\bBroadcastChannel\b/.test(readFileSync(f, 'utf8')),
    );
    expect(users).toEqual([]);
  });

  it("each descriptor gets its own update channel: a port made later is posted to every holder's channel", () => {
    const nm = new Netmap();
    const da = nm.register('valeD1:a', { ringSize: 8 });
    const db = nm.register('valeD1:b', { ringSize: 8 });
    if (da.type !== 'vale' || db.type !== 'vale') throw new Error('not VALE descriptors');
    expect(da.switch.updates).not.toBe(db.switch.updates);
    // The snapshot a descriptor carries: every port of the switch when it was made.
    expect(db.switch.ports.filter((p) => p !== null)).toHaveLength(2);
    expect(da.switch.ports.filter((p) => p !== null)).toHaveLength(1);
    for (const d of [da, db]) d.switch.updates.close();
  });

  it("a worker attaches while the namespace's thread is blocked (it never waits for that thread)", async () => {
    const nm = new Netmap();
    const b = nm.open('valeD2:b', { ringSize: 8 });
    opened.push(b);
    const ctl = new Int32Array(new SharedArrayBuffer(8));
    const w = inlineWorker(SEND_ONE, { desc: nm.register('valeD2:a', { ringSize: 8 }), ctl: ctl.buffer });
    // This thread (the namespace's) blocks until the worker is done: the attach must not
    // need it. The bound is a hang guard only.
    const r = Atomics.wait(ctl, 0, 0, 20_000);
    expect(r === 'ok' || r === 'not-equal').toBe(true);
    expect(Atomics.load(ctl, 0), 'the worker failed to attach or send').toBe(1);
    expect(await w.exited).toBe(0);
    expect(drain(b)).toBe(1);
  });

  it('a port made after a worker attached gets its traffic at its next sync, the worker never leaving Atomics.wait', async () => {
    const nm = new Netmap();
    const ctl = new Int32Array(new SharedArrayBuffer(8));
    const w = inlineWorker(
      `
const ctl = new Int32Array(workerData.ctl);
const port = lib.attachPort(workerData.desc);
Atomics.store(ctl, 0, 1);
Atomics.notify(ctl, 0);
// Blocked (no event loop turn) until the new port exists.
while (Atomics.load(ctl, 1) === 0) Atomics.wait(ctl, 1, 0, 1000);
${BROADCAST_ONE_AND_CLOSE}
parentPort.postMessage('sent');
`,
      { desc: nm.register('valeD3:a', { ringSize: 8 }), ctl: ctl.buffer },
    );
    while (Atomics.load(ctl, 0) === 0) {
      const r = Atomics.waitAsync(ctl, 0, 0, 1000);
      if (r.async) await r.value;
    }
    const late = nm.open('valeD3:late', { ringSize: 8 });
    opened.push(late);
    Atomics.store(ctl, 1, 1);
    Atomics.notify(ctl, 1);
    expect(await w.next()).toBe('sent');
    expect(await w.exited).toBe(0);
    expect(drain(late)).toBe(1);
  });

  it('without a synchronous receive (as in a browser), a later port reaches a worker when its event loop runs', async () => {
    const nm = new Netmap();
    const platform = pathToFileURL(join(DIST_LIB, '../kernel/platform.js')).href;
    const w = inlineWorker(
      `
const { setReceiveNow } = await import(${JSON.stringify(platform)});
setReceiveNow(null);
const port = lib.attachPort(workerData.desc);
// Messages queued before 'go' (the namespace posted the new port first) are taken in the
// same turn of the loop; setImmediate runs after that turn.
parentPort.once('message', () => setImmediate(() => {
${BROADCAST_ONE_AND_CLOSE}
  parentPort.postMessage('sent');
}));
parentPort.postMessage('attached');
`,
      { desc: nm.register('valeD4:a', { ringSize: 8 }) },
    );
    expect(await w.next()).toBe('attached');
    const late = nm.open('valeD4:late', { ringSize: 8 });
    opened.push(late);
    w.worker.postMessage('go');
    expect(await w.next()).toBe('sent');
    expect(await w.exited).toBe(0);
    expect(drain(late)).toBe(1);
  });
});
