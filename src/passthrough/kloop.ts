/**
 * The host side of a passed-through port (ptnetmap's kloop): runs the real port's
 * txsync/rxsync on the guest's behalf with head/cur read from the CSB, publishes
 * hwcur/hwtail back, and raises an interrupt only when the guest asked for one. `step()`
 * is one pass over the rings (TX, then RX); `run()` is the worker's loop around it.
 */

import { KC_DROPS, KC_ERRORS, KC_SYNCS, KR_EV_START, KR_EV_WANT } from '../../shm/layout.js';
import { Control } from '../apps/control.js';
import { type HostLoopOptions, runHostLoop } from '../host-loop.js';
import { KernelPort } from '../kernel/attach.js';
import type { KRing } from '../kernel/kring.js';
import { checkNotifyPolicy, type NotifyPolicy, reached, WakeWant } from '../kernel/notify.js';
import { runHostThread, type StopOrderRef } from '../stop-order.js';
import { TR_IRQ, TR_RXSYNC, TR_TXSYNC, trace, tracer } from '../trace.js';
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

/** Slots from `a` forward to `b` in a ring of `n`. */
function dist(a: number, b: number, n: number): number {
  const d = b - a;
  return d < 0 ? d + n : d;
}

/**
 * The host side of a passed-through port (ptnetmap's kloop): syncs the real port on the
 * guest's behalf through the CSB and interrupts the guest only when it asked.
 */
export class Kloop {
  /** Interrupts raised (host -> guest notifications). */
  irqs = 0;
  readonly port: KernelPort;
  readonly csb: Csb;

  /** When the guest is worth an interrupt and how the kloop sleeps (src/kernel/notify.ts). */
  readonly notify: NotifyPolicy;
  /** The CSB's entries' krings: the TX rings, then the RX rings. */
  private readonly entries: KRing[];
  private readonly kickWants: WakeWant[];
  private readonly hostWants: WakeWant[];
  private readonly askedKick: Int32Array;
  private readonly askedHost: Int32Array;
  /** Whether the last wake-up found at least the kicks' news it asked for. */
  private owed = true;

  constructor(desc: KloopDescriptor, o: { notify?: NotifyPolicy } = {}) {
    // A guest's port is its alone (netmap's sync kloop registers it NR_EXCLUSIVE); its ring
    // headers are the guest's, set by passThrough(): the guest may be using them already.
    this.port = new KernelPort(desc.port, { exclusive: true, keepUserRings: true });
    this.csb = new Csb(desc.csb, this.port.txk.length + this.port.rxk.length);
    this.notify = checkNotifyPolicy(o.notify ?? 'asleep');
    this.entries = [...this.port.txk, ...this.port.rxk];
    this.kickWants = this.entries.map((kr) => new WakeWant(this.notify, kr.numSlots, !kr.tx));
    this.hostWants = this.entries.map((kr) => new WakeWant(this.notify, kr.numSlots, kr.tx));
    this.askedKick = new Int32Array(this.entries.length);
    this.askedHost = new Int32Array(this.entries.length);
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
      if (tracer !== null && kr.hwcur !== oldCur)
        trace(kr.tx ? TR_TXSYNC : TR_RXSYNC, dist(oldCur, kr.hwcur, kr.numSlots));
      if (kr.hwcur !== oldCur || kr.hwtail !== oldTail) {
        work = true;
        // hwcur then hwtail, the order the guest reads them in.
        Atomics.store(c.i32, c.hwcur(e), kr.hwcur);
        Atomics.store(c.i32, c.hwtail(e), kr.hwtail);
        // An interrupt only when the guest asked, and the news is worth what it asked.
        if (
          Atomics.load(c.i32, c.applNeedKick(e)) !== 0 &&
          reached(Atomics.load(c.i32, c.applEvStart(e)), Atomics.load(c.i32, c.applEvWant(e)), kr.hwtail, kr.numSlots)
        ) {
          this.irq(e);
        }
      }
    }
    return work;
  }

  private irq(e: number): void {
    const c = this.csb;
    Atomics.store(c.i32, c.applNeedKick(e), 0);
    Atomics.add(c.i32, c.irq, 1);
    Atomics.notify(c.i32, c.irq);
    this.irqs++;
    trace(TR_IRQ);
  }

  /** About to sleep: the guest gets an interrupt for any news it asked about, whatever batch it asked for. */
  private flushIrqs(): void {
    const c = this.csb;
    for (let e = 0; e < this.entries.length; e++) {
      if (Atomics.load(c.i32, c.applNeedKick(e)) === 0) continue;
      if (Atomics.load(c.i32, c.applEvStart(e)) !== this.entries[e].hwtail) this.irq(e);
    }
  }

  /**
   * Before sleeping: per CSB entry, how much guest news is worth a kick (kern event
   * words, then kern_need_kick); per host ring, how much host news is worth a wake-up.
   */
  private armKicks(): void {
    const c = this.csb;
    const k = this.port.km.i32;
    for (let e = 0; e < this.entries.length; e++) {
      const kr = this.entries[e];
      // A TX entry: the kloop consumes the guest's head. An RX entry: it waits for the
      // guest to give slots back (a producer, its in flight the slots the guest holds).
      let held = kr.hwtail - kr.hwcur;
      if (held < 0) held += kr.numSlots;
      const want = this.kickWants[e].ask(kr.tx ? 0 : held);
      this.askedKick[e] = want;
      Atomics.store(c.i32, c.kernEvStart(e), kr.hwcur);
      Atomics.store(c.i32, c.kernEvWant(e), want);
      // The host port's side: its TX ring is the kloop's production, its RX ring its news.
      let free = kr.hwtail - kr.hwcur;
      if (free < 0) free += kr.numSlots;
      const hw = this.hostWants[e].ask(kr.tx ? kr.numSlots - 1 - free : 0);
      this.askedHost[e] = hw;
      Atomics.store(k, kr.kb + KR_EV_START, kr.hwtail);
      Atomics.store(k, kr.kb + KR_EV_WANT, hw);
      Atomics.store(c.i32, c.kernNeedKick(e), 1);
    }
  }

  /** After a wake-up: what each entry's kick news was against what it asked (true if some got it all). */
  private learnKicks(): boolean {
    const c = this.csb;
    let owed = false;
    for (let e = 0; e < this.entries.length; e++) {
      let got = Atomics.load(c.i32, c.head(e)) - Atomics.load(c.i32, c.kernEvStart(e));
      if (got < 0) got += this.entries[e].numSlots;
      if (got >= this.askedKick[e]) owed = true;
      this.kickWants[e].learn(this.askedKick[e], got >>> 0 < this.entries[e].numSlots ? got : 0);
    }
    return owed;
  }

  /** The sleep's bound (ms): a kloop that asked for a batch of kicks must not sleep past its bound. */
  private sleepBound(pollMs: number): number {
    let b = pollMs;
    for (let e = 0; e < this.entries.length; e++) {
      b = this.kickWants[e].bound(this.askedKick[e], b);
      b = this.hostWants[e].bound(this.askedHost[e], b);
    }
    return b;
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
    const r = runHostLoop(
      {
        step: () => this.step(),
        bell: this.port.bell,
        beforeSleep: () => {
          this.flushIrqs();
          for (let i = 0; i < this.port.txk.length; i++) this.port.txk[i].flush();
          this.armKicks();
        },
        afterSleep: () => {
          for (let e = 0; e < this.entries.length; e++) Atomics.store(c.i32, c.kernNeedKick(e), 0);
          this.owed = this.learnKicks();
        },
        sleepMs: (pollMs) => this.sleepBound(pollMs),
        owed: () => this.owed,
        pending: () => this.pending(),
      },
      { ...o, notify: o.notify ?? this.notify },
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
  /** The notify policy (default asleep). */
  notify?: NotifyPolicy;
}

/** A kloop worker's life: see runHostThread. */
export function runKloopTask(task: KloopTaskSpec): KloopResult {
  return runHostThread(
    new Control(task.ctl),
    task.order,
    task,
    () => new Kloop(task.kloop, { notify: task.notify }),
    (k) => k.result(),
  );
}
