/**
 * The host side of a passed-through port (ptnetmap's kloop): runs the real port's
 * txsync/rxsync on the guest's behalf with head/cur read from the CSB, publishes
 * hwcur/hwtail back, and raises an interrupt only when the guest asked for one. `step()`
 * is one pass over the rings (TX, then RX); `run()` is the worker's loop around it.
 */

import { KC_DROPS, KC_ERRORS, KC_SYNCS } from '../../shm/layout.js';
import { Control } from '../apps/control.js';
import { type HostLoopOptions, runHostLoop } from '../host-loop.js';
import { KernelPort } from '../kernel/attach.js';
import { runHostThread, type StopOrderRef } from '../stop-order.js';
import { Csb } from './csb.js';
import type { KloopDescriptor } from './hypervisor.js';

/** What a kloop worker reports when it stops. */
export interface KloopResult {
  irqs: number;
  sleeps: number;
  wakeups: number;
  /** Sleeps that timed out with work waiting (lost wake-ups; should stay 0). */
  late: number;
  /** Syncs refused because the guest wrote impossible head/cur values. */
  errors: number;
  /** Syncs run for the guest, and TX slots dropped for a bad buf_idx or len (summed over rings). */
  syncs: number;
  drops: number;
}

export class Kloop {
  /** Interrupts raised (host -> guest notifications). */
  irqs = 0;
  readonly port: KernelPort;
  readonly csb: Csb;

  constructor(desc: KloopDescriptor) {
    // A guest's port is its alone (netmap's sync kloop registers it NR_EXCLUSIVE).
    this.port = new KernelPort(desc.port, { exclusive: true });
    this.csb = new Csb(desc.csb, this.port.txk.length + this.port.rxk.length);
  }

  /** One pass over TX then RX. Returns true when any ring moved (work was done). */
  step(): boolean {
    const c = this.csb;
    const rings = this.port.txk.length + this.port.rxk.length;
    let work = false;
    for (let e = 0; e < rings; e++) {
      const kr = e < this.port.txk.length ? this.port.txk[e] : this.port.rxk[e - this.port.txk.length];
      const head = Atomics.load(c.i32, c.head(e));
      const cur = Atomics.load(c.i32, c.cur(e));
      if (!kr.accept(head, cur)) {
        // A guest that writes nonsense moves nothing and is counted; the host never throws.
        kr.reject(head, cur, -1);
        continue;
      }
      const oldCur = kr.hwcur;
      const oldTail = kr.hwtail;
      kr.sync();
      kr.save();
      if (kr.hwcur !== oldCur || kr.hwtail !== oldTail) {
        work = true;
        // hwcur then hwtail, the order the guest reads them in.
        Atomics.store(c.i32, c.hwcur(e), kr.hwcur);
        Atomics.store(c.i32, c.hwtail(e), kr.hwtail);
        if (Atomics.load(c.i32, c.applNeedKick(e)) !== 0) {
          Atomics.store(c.i32, c.applNeedKick(e), 0);
          Atomics.add(c.i32, c.irq, 1);
          Atomics.notify(c.i32, c.irq);
          this.irqs++;
        }
      }
    }
    return work;
  }

  /** Times the kloop slept, and was woken (a kick or the peer's news). */
  sleeps = 0;
  wakeups = 0;
  late = 0;

  /**
   * The kloop's life (see runHostLoop): before it sleeps it asks the guest for kicks
   * (kern_need_kick), and stops asking once awake. `busyWait` never sleeps, so the guest
   * never needs to kick. Returns when `stop()` says so, after a last pass.
   */
  run(o: HostLoopOptions): void {
    const c = this.csb;
    const rings = this.port.txk.length + this.port.rxk.length;
    const needKick = (v: number) => {
      for (let e = 0; e < rings; e++) Atomics.store(c.i32, c.kernNeedKick(e), v);
    };
    const r = runHostLoop(
      {
        step: () => this.step(),
        bell: this.port.bell,
        beforeSleep: () => needKick(1),
        afterSleep: () => needKick(0),
        pending: () => this.pending(),
      },
      o,
    );
    this.sleeps += r.sleeps;
    this.wakeups += r.wakeups;
    this.late += r.late;
  }

  /**
   * True while the guest published TX slots not yet synced, or the host port has RX
   * slots not yet published to the guest: the stop drains them.
   */
  pending(): boolean {
    const c = this.csb;
    const tx = this.port.txk;
    for (let e = 0; e < tx.length; e++) if (Atomics.load(c.i32, c.head(e)) !== tx[e].hwcur) return true;
    const rx = this.port.rxk;
    for (let e = 0; e < rx.length; e++) if (rx[e].peerTail() !== rx[e].hwtail) return true;
    return false;
  }

  /** What the kloop's worker reports: its counters and the syncs refused for bad guest values. */
  result(): KloopResult {
    const sum = (c: number) => [...this.port.txk, ...this.port.rxk].reduce((t, kr) => t + kr.counter(c), 0);
    const errors = sum(KC_ERRORS);
    return {
      irqs: this.irqs,
      sleeps: this.sleeps,
      wakeups: this.wakeups,
      late: this.late,
      errors,
      syncs: sum(KC_SYNCS),
      drops: sum(KC_DROPS),
    };
  }

  close(): void {
    this.port.release();
  }
}

/** What a kloop worker is given (the kloop role, a chain's kloops). */
export interface KloopTaskSpec {
  kloop: KloopDescriptor;
  ctl: SharedArrayBuffer;
  /** Its place in the path's stop order, when the path has several host threads. */
  order?: StopOrderRef;
  lingerUs: number;
  busyWait: boolean;
}

/** A kloop worker's life: see runHostThread. */
export function runKloopTask(task: KloopTaskSpec): KloopResult {
  return runHostThread(
    new Control(task.ctl),
    task.order,
    task,
    () => new Kloop(task.kloop),
    (k) => k.result(),
  );
}
