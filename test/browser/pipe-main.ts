/**
 * Page script for the pipe test (served as /pipe-main.html?count=N): the main thread
 * makes the namespace and a pipe, posts each end's descriptor to its own Web Worker and
 * publishes both workers' reports as window.__result. It never blocks: no poll() and no
 * Atomics.wait here (Chromium refuses Atomics.wait on a page's main thread).
 */
import { Netmap } from '../../src/netmap.js';
import type { Job, Report } from './pipe-worker.js';

interface BrowserWorker {
  onmessage: ((e: { data: Report }) => void) | null;
  onerror: ((e: { message?: string }) => void) | null;
  postMessage(m: Job): void;
  terminate(): void;
}
// No DOM lib in tsconfig (Node types only): what this page uses of the browser.
const page = globalThis as unknown as {
  Worker: new (url: string, opts: { type: 'module' }) => BrowserWorker;
  location: { search: string };
  __result?: { tx: Report; rx: Report } | { error: string };
};

function run(job: Job): Promise<Report> {
  const w = new page.Worker('./pipe-worker.js', { type: 'module' });
  return new Promise<Report>((ok, fail) => {
    w.onmessage = (e) => ok(e.data);
    // An uncaught error in the worker (a throw from the library), or a script that did
    // not load (no message then: the harness lists the failed request).
    w.onerror = (e) => fail(new Error(`${job.role} worker: ${e.message ?? 'did not load'}`));
    w.postMessage(job);
  }).finally(() => w.terminate());
}

const count = Number(new URLSearchParams(page.location.search).get('count') ?? 100_000);
const nm = new Netmap();
const master = nm.register('pipe0{', { ringSize: 64 });
const slave = nm.register('pipe0}', { ringSize: 64 });
Promise.all([run({ role: 'rx', desc: slave, count }), run({ role: 'tx', desc: master, count })]).then(
  ([rx, tx]) => (page.__result = { tx, rx }),
  (e: Error) => (page.__result = { error: e.message }),
);
