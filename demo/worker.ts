/**
 * The demo's one Web Worker entry (bundled to worker.js): the page posts it a job (an app,
 * a kloop or an emulated NIC's device thread, demo/protocol.ts), it attaches what the job
 * holds, says it is ready, waits for the start word and runs its loop for good. The page
 * ends it with terminate() (a restart makes a new namespace and new workers).
 *
 * A worker may block (poll, Atomics.wait); the page's main thread never does.
 */
import { type Job, T_FAILED, type WorkerMessage } from './protocol.js';
import { openApp, runReceiver, runSender } from './worker-app.js';
import { ThreadCtl } from './worker-ctl.js';
import { attachDevice, attachKloop } from './worker-host.js';

// The DOM lib types `self` as a Window; in this file it is the worker's global scope.
declare const self: DedicatedWorkerGlobalScope;

const post = (m: WorkerMessage) => self.postMessage(m);

/**
 * Lets queued message events run once: a VALE port's channel delivers the switch's later
 * ports as events (a browser has no synchronous receive). The page hands out descriptors
 * made after every port exists, so this is belt and braces.
 */
function yieldToEvents(): Promise<void> {
  return new Promise((ok) => setTimeout(ok, 0));
}

async function run(job: Job): Promise<void> {
  const t = new ThreadCtl(job.ctl, job.stats, job.index);
  try {
    let loop: () => void;
    if (job.kind === 'kloop') loop = attachKloop(job.desc, job.host, t);
    else if (job.kind === 'device') loop = attachDevice(job.desc, job.host, t);
    else {
      const port = openApp(job.side, job.desc, job.app);
      const app = job.app;
      loop = job.role === 'tx' ? () => runSender(port, app, t) : () => runReceiver(port, app, t);
    }
    await yieldToEvents();
    post({ type: 'ready', index: job.index });
    t.waitGo();
    loop();
  } catch (e) {
    t.set(T_FAILED);
    post({ type: 'error', index: job.index, message: (e as Error).stack ?? String(e) });
  }
}

self.onmessage = (e: MessageEvent<Job>) => {
  void run(e.data);
};
