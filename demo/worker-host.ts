/**
 * The host threads that serve a guest: a passthrough kloop (Kloop) and an emulated NIC's
 * device thread (E1000Device). Each runs the library's own loop (`run()`: step while there
 * is work, linger, then ask for kicks or doorbells and sleep on the port's bell), with
 * each pass wrapped (the loop's `around` option) so the page can see and steer it:
 *
 * - full speed: the wrapper counts the passes that moved something and publishes the
 *   thread's state (running, or lingering when a pass found nothing) and its counters;
 * - slow motion: a pause after each pass that moved something (idle passes run free, so
 *   the linger still ends and the thread still sleeps and waits for a kick);
 * - single step: each pass waits at the thread's gate, and reports work whether or not it
 *   found any, so the thread never lingers or sleeps: it polls at its gate as a busy-wait
 *   kloop does. A guest then never needs to kick it (kicks show in slow motion).
 *
 * Hazards: worker only (run() blocks in Atomics.wait). The wrapper is on the hot path of
 * a busy kloop: one Atomics.load (the mode) and plain counter stores per pass, no allocation.
 */
import { E1000Device, type E1000DeviceDescriptor, Kloop, type KloopDescriptor } from '../src/browser.js';
import type { HostLoopOptions } from '../src/host-loop.js';
import {
  type HostConfig,
  MODE_SLOW,
  MODE_STEP,
  SF_DOORBELLS,
  SF_HOST_TXSYNCS,
  SF_IRQS,
  SF_PACKETS,
  T_LINGER,
  T_RUNNING,
} from './protocol.js';
import type { ThreadCtl } from './worker-ctl.js';

/** The longest sleep before the loop looks at its stop flag (never set: the page terminates the worker). */
const POLL_MS = 100;

/** A host thread's loop options: the demo's knobs, bounded sleeps, stopped only by terminate(). */
function runOptions(o: HostConfig, around: HostLoopOptions['around']): HostLoopOptions {
  return { lingerUs: o.lingerUs, busyWait: o.busyWait, notify: o.notify, pollMs: POLL_MS, stop: () => false, around };
}

/** Wraps a pass of the library's loop with the gate, the pause and the counters. */
function steer(t: ThreadCtl, publish: () => void): (real: () => boolean) => () => boolean {
  return (real) => () => {
    const mode = t.mode();
    if (mode === MODE_STEP && t.passGate()) {
      real();
      publish();
      return true; // never idle in single step: the next pass waits at the gate again
    }
    const moved = real();
    if (moved) {
      t.set(T_RUNNING);
      t.countSync();
      publish();
      if (mode === MODE_SLOW) t.pauseIfSlow();
    } else {
      t.set(T_LINGER);
    }
    return moved;
  };
}

/** Attaches a kloop (its port, exclusively) and returns its loop, to run once every thread is ready. */
export function attachKloop(desc: KloopDescriptor, o: HostConfig, t: ThreadCtl): () => void {
  const k = new Kloop(desc, { notify: o.notify });
  const f = t.f;
  const around = steer(t, () => {
    f[SF_IRQS] = k.irqs;
  });
  return () => k.run(runOptions(o, around));
}

/** Attaches an emulated NIC's device thread (the host port, exclusively) and returns its loop. */
export function attachDevice(desc: E1000DeviceDescriptor, o: HostConfig, t: ThreadCtl): () => void {
  const d = new E1000Device(desc);
  const f = t.f;
  const c = d.counters;
  const around = steer(t, () => {
    f[SF_IRQS] = c.irqs;
    f[SF_DOORBELLS] = c.doorbells;
    f[SF_PACKETS] = c.txPackets + c.rxPackets;
    f[SF_HOST_TXSYNCS] = c.hostTxsyncs;
  });
  return () => d.run(runOptions(o, around));
}
