/**
 * The guest netmap driver of a passed-through port (ptnetmap's guest side): the guest
 * app uses the same rings as on the host, and its txsync/rxsync go through the CSB only
 * — publish cur then head in atok, kick the host only if the ring moved and the kloop
 * asked for kicks, and take the host's hwtail from ktoa as the ring's tail.
 */
import { BELL_SLEEP, RING_CUR, RING_HEAD, RING_TAIL, SLEEP_KICK } from '../../shm/layout.js';
import { RegionViews } from '../../shm/views.js';
import { NetmapError } from '../errors.js';
import { wakeSleeper } from '../kernel/kring.js';
import { POLLERR, POLLIN, POLLOUT } from '../port.js';
import { NetmapRing } from '../ring.js';
import { type Spinnable, spinPoll } from '../spin.js';
import { Csb } from './csb.js';
import type { GuestDescriptor } from './hypervisor.js';

export class GuestPort implements Spinnable {
  readonly name: string;
  readonly txRings: readonly NetmapRing[];
  readonly rxRings: readonly NetmapRing[];
  /** Kicks sent (guest -> host notifications, each a VM exit in a real hypervisor). */
  kicks = 0;
  private readonly region: RegionViews;
  private readonly csb: Csb;
  private readonly bell: Int32Array;
  /** Per CSB entry: the ring's header word base, the head last published and the tail last set. */
  private readonly hdr: number[];
  private readonly published: Int32Array;
  private readonly tails: Int32Array;
  /** Syncs the guest kernel refused: the app's head/cur were impossible (the ring was reset). */
  errors = 0;

  constructor(desc: GuestDescriptor) {
    if (desc === null || typeof desc !== 'object' || desc.type !== 'ptnet') {
      throw new NetmapError('EINVAL', 'not a guest port descriptor');
    }
    try {
      // The guest reads its own region's header, as netmap's library does (it may only hurt itself).
      this.region = RegionViews.user(desc.mem);
    } catch (e) {
      throw new NetmapError('EINVAL', `bad guest descriptor for ${desc.name}: ${(e as Error).message}`);
    }
    const ids = [...desc.tx, ...desc.rx];
    if (!ids.every((id) => Number.isInteger(id) && id >= 0 && id < this.region.numRings)) {
      throw new NetmapError('EINVAL', `bad guest descriptor for ${desc.name}: ring ids`);
    }
    if (!(desc.bell instanceof SharedArrayBuffer)) throw new NetmapError('EINVAL', 'guest descriptor lacks a bell');
    this.csb = new Csb(desc.csb, ids.length);
    this.bell = new Int32Array(desc.bell);
    this.name = desc.name;
    this.hdr = ids.map((id) => this.region.ringWordBase(id));
    this.published = Int32Array.from(ids.map((_, e) => Atomics.load(this.csb.i32, this.csb.head(e))));
    // The guest kernel's register: its rings start from the CSB (head = cur = the head the
    // host knows, tail = its hwtail), whatever the app's memory held.
    this.tails = Int32Array.from(ids, (_, e) => {
      const t = Atomics.load(this.csb.i32, this.csb.hwtail(e));
      return t >>> 0 < this.region.numSlots ? t : 0;
    });
    this.hdr.forEach((h, e) => {
      const p = this.published[e] >>> 0 < this.region.numSlots ? this.published[e] : 0;
      this.published[e] = p;
      this.region.i32[h + RING_HEAD] = p;
      this.region.i32[h + RING_CUR] = p;
      this.region.i32[h + RING_TAIL] = this.tails[e];
    });
    this.txRings = desc.tx.map((id) => new NetmapRing(this.region, id));
    this.rxRings = desc.rx.map((id) => new NetmapRing(this.region, id));
  }

  get tx(): NetmapRing {
    return this.txRings[0];
  }
  get rx(): NetmapRing {
    return this.rxRings[0];
  }
  get numSlots(): number {
    return this.region.numSlots;
  }
  get bufSize(): number {
    return this.region.bufSize;
  }

  /** Default busy-poll time before poll() sleeps, in microseconds. */
  spinUs = 0;
  /** Times poll slept, and times an interrupt woke it. */
  sleeps = 0;
  wakeups = 0;
  /** Sleeps that timed out with no interrupt raised although the ring was ready: lost wake-ups. */
  lateWakeups = 0;

  /** txsync through the CSB; false if a ring's head/cur were impossible (it was reset, nothing published). */
  txsync(): boolean {
    let ok = true;
    for (let e = 0; e < this.txRings.length; e++) ok = this.sync(e) && ok;
    return ok;
  }
  rxsync(): boolean {
    let ok = true;
    for (let e = this.txRings.length; e < this.hdr.length; e++) ok = this.sync(e) && ok;
    return ok;
  }

  /**
   * poll() as on the host, through the CSB: sync; spin watching ktoa; then ask for an
   * interrupt (appl_need_kick), re-check, and sleep on the irq word.
   */
  poll(events: number, timeoutMs = -1, spinUs = this.spinUs): number {
    let ready = this.check(events);
    if (ready !== 0 || timeoutMs === 0) return ready;
    ready = spinPoll(this, events, spinUs, timeoutMs);
    if (ready !== 0) return ready;
    const c = this.csb;
    const start = performance.now();
    for (;;) {
      const irq = Atomics.load(c.i32, c.irq);
      this.needKick(events, 1);
      // Re-check after asking: an update after this point comes with an interrupt.
      if (this.moved(events)) {
        this.needKick(events, 0);
        ready = this.check(events);
        if (ready !== 0) return ready;
        continue;
      }
      const left = timeoutMs < 0 ? Number.POSITIVE_INFINITY : timeoutMs - (performance.now() - start);
      if (left <= 0) {
        this.needKick(events, 0);
        return 0;
      }
      this.sleeps++;
      const r = Atomics.wait(c.i32, c.irq, irq, left);
      if (r === 'ok') this.wakeups++;
      this.needKick(events, 0);
      // No interrupt came (the irq word never moved) and yet the ring is ready.
      const unwoken = r === 'timed-out' && Atomics.load(c.i32, c.irq) === irq;
      ready = this.check(events);
      if (ready !== 0) {
        if (unwoken) this.lateWakeups++;
        return ready;
      }
    }
  }

  /** @internal Syncs the rings of interest; the events whose ring has slots past cur. */
  check(events: number): number {
    let ready = 0;
    if (events & POLLOUT) {
      if (!this.txsync()) ready |= POLLERR;
      for (const r of this.txRings) if (r.cur !== r.tail) ready |= POLLOUT;
    }
    if (events & POLLIN) {
      if (!this.rxsync()) ready |= POLLERR;
      for (const r of this.rxRings) if (r.cur !== r.tail) ready |= POLLIN;
    }
    return ready;
  }

  /** @internal True when ktoa has a tail the guest's ring does not show yet. */
  moved(events: number): boolean {
    const c = this.csb;
    const i32 = this.region.i32;
    for (let e = 0; e < this.hdr.length; e++) {
      const want = e < this.txRings.length ? events & POLLOUT : events & POLLIN;
      if (want && Atomics.load(c.i32, c.hwtail(e)) !== i32[this.hdr[e] + RING_TAIL]) return true;
    }
    return false;
  }

  private needKick(events: number, v: number): void {
    const c = this.csb;
    for (let e = 0; e < this.hdr.length; e++) {
      const want = e < this.txRings.length ? events & POLLOUT : events & POLLIN;
      if (want) Atomics.store(c.i32, c.applNeedKick(e), v);
    }
  }

  counters(): { kicks: number; sleeps: number; wakeups: number; lateWakeups: number; errors: number } {
    return {
      kicks: this.kicks,
      sleeps: this.sleeps,
      wakeups: this.wakeups,
      lateWakeups: this.lateWakeups,
      errors: this.errors,
    };
  }

  close(): void {}

  /**
   * One ring's sync through the CSB. The guest's own ring header is plain memory. The
   * guest kernel checks the app's head/cur first, as netmap's sync prologue does (the
   * host's kloop checks again: this one protects the app from itself and gives it
   * POLLERR): head and cur between the head last published and the tail last set, tail
   * untouched; otherwise the ring is reset to those and nothing is published.
   */
  private sync(e: number): boolean {
    const c = this.csb;
    const i32 = this.region.i32;
    const h = this.hdr[e];
    const head = i32[h + RING_HEAD];
    const cur = i32[h + RING_CUR];
    const n = this.region.numSlots;
    const from = this.published[e];
    const tail = this.tails[e];
    let dh = head - from;
    if (dh < 0) dh += n;
    let dc = cur - from;
    if (dc < 0) dc += n;
    let dt = tail - from;
    if (dt < 0) dt += n;
    if (head >>> 0 >= n || cur >>> 0 >= n || i32[h + RING_TAIL] !== tail || dh > dc || dc > dt) {
      this.errors++;
      i32[h + RING_HEAD] = from;
      i32[h + RING_CUR] = from;
      i32[h + RING_TAIL] = tail;
      return false;
    }
    // We are syncing: no interrupt needed for this ring right now.
    Atomics.store(c.i32, c.applNeedKick(e), 0);
    // cur before head: the host never sees a head past cur.
    Atomics.store(c.i32, c.cur(e), i32[h + RING_CUR]);
    Atomics.store(c.i32, c.head(e), head);
    if (head !== this.published[e]) {
      this.published[e] = head;
      // Kick only when the kloop said it sleeps; otherwise it will see the new head.
      if (Atomics.load(c.i32, c.kernNeedKick(e)) !== 0) {
        this.kicks++;
        wakeSleeper(this.bell, BELL_SLEEP, SLEEP_KICK);
      }
    }
    const t = Atomics.load(c.i32, c.hwtail(e));
    if (t >>> 0 < n) {
      i32[h + RING_TAIL] = t;
      this.tails[e] = t;
    }
    return true;
  }
}
