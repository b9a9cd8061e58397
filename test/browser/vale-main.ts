/**
 * Page script for the VALE test (served as /vale-main.html?count=N): the page's main
 * thread owns the namespace (it never blocks: register only). Worker A sends N broadcast
 * frames into vale0:a; worker B receives on vale0:b; vale0:c is made after A and B
 * attached, while A waits, and its worker C receives too. VALE drops what does not fit
 * (counted at the port): receivers run until told to stop. Each
 * descriptor goes to its worker with its update channel in the transfer list.
 */
import { Netmap, transferList } from '../../src/browser.js';
import type { ValeJob, ValeReport } from './vale-worker.js';

interface BrowserWorker {
  onmessage: ((e: { data: ValeReport | 'ready' }) => void) | null;
  onerror: ((e: { message?: string }) => void) | null;
  postMessage(m: unknown, transfer?: unknown[]): void;
  terminate(): void;
}
const page = globalThis as unknown as {
  Worker: new (url: string, opts: { type: 'module' }) => BrowserWorker;
  location: { search: string };
  __result?: { a: ValeReport; b: ValeReport; c: ValeReport } | { error: string };
};

/** Starts a worker on `job`; resolves `ready` once attached and `done` with its report. */
function start(job: ValeJob): { w: BrowserWorker; ready: Promise<void>; done: Promise<ValeReport> } {
  const w = new page.Worker('./vale-worker.js', { type: 'module' });
  let ready: () => void = () => {};
  const r = new Promise<void>((ok) => {
    ready = ok;
  });
  const done = new Promise<ValeReport>((ok, fail) => {
    w.onmessage = (e) => (e.data === 'ready' ? ready() : ok(e.data));
    w.onerror = (e) => fail(new Error(`${job.role} worker: ${e.message ?? 'did not load'}`));
  });
  w.postMessage(job, transferList(job));
  return { w, ready: r, done };
}

async function main(): Promise<void> {
  const count = Number(new URLSearchParams(page.location.search).get('count') ?? 50_000);
  const nm = new Netmap();
  const a = start({ role: 'tx', desc: nm.register('vale0:a', { ringSize: 256 }), count });
  const b = start({ role: 'rx', desc: nm.register('vale0:b', { ringSize: 256 }) });
  await Promise.all([a.ready, b.ready]);
  // A port made after the others attached: they learn of it through their channels.
  const c = start({ role: 'rx', desc: nm.register('vale0:c', { ringSize: 256 }) });
  await c.ready;
  a.w.postMessage('go');
  const ra = await a.done;
  // Every copy is made in the sender's txsync: what A sent is in B's and C's rings now.
  b.w.postMessage('stop');
  c.w.postMessage('stop');
  const [rb, rc] = await Promise.all([b.done, c.done]);
  for (const x of [a, b, c]) x.w.terminate();
  page.__result = { a: ra, b: rb, c: rc };
}

main().catch((e: Error) => {
  page.__result = { error: e.message };
});
