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
import { checkNotifyPolicy, type NotifyPolicy, reached, SpinWindows, WakeWant } from '../kernel/notify.js';
import { POLLERR, POLLIN, POLLOUT } from '../port.js';
import { NetmapRing } from '../ring.js';
import { type Spinnable, spinPoll } from '../spin.js';
import { TR_KICK, TR_RXSYNC, TR_TXSYNC, trace, tracer, traceSleep } from '../trace.js';
import { Csb } from './csb.js';
import type { GuestDescriptor } from './hypervisor.js';

/**
 * A port in a guest VM with passthrough (ptnetmap's guest driver): the same rings as on
 * the host, synced through the CSB, kicking the host only when asked.
 */
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
  /** When the kloop is worth kicking and how this guest sleeps (src/kernel/notify.ts). */
  readonly notify: NotifyPolicy;
  private readonly wants: WakeWant[];
  private readonly asked: Int32Array;
  private readonly askedFrom: Int32Array;
  private readonly spins: SpinWindows;

  constructor(desc: GuestDescriptor, o: { notify?: NotifyPolicy; oversubscribed?: boolean } = {}) {
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
    this.notify = checkNotifyPolicy(o.notify ?? 'asleep');
    this.spins = new SpinWindows(this.notify, o.oversubscribed === true);
    this.wants = ids.map((_, e) => new WakeWant(this.notify, this.region.numSlots, e < desc.tx.length));
    this.asked = new Int32Array(ids.length);
    this.askedFrom = new Int32Array(ids.length);
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
    ready = spinPoll(this, events, this.spins.for(spinUs).us, timeoutMs);
    if (ready !== 0) return ready;
    // About to sleep: the kloop gets what we published, whatever it asked for.
    this.flush();
    const c = this.csb;
    const start = performance.now();
    for (;;) {
      const irq = Atomics.load(c.i32, c.irq);
      this.arm(events);
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
      const slept = performance.now();
      const bound = this.bound(events, left);
      const r = Atomics.wait(c.i32, c.irq, irq, bound);
      if (r === 'ok') this.wakeups++;
      this.needKick(events, 0);
      // No interrupt came (the irq word never moved) and yet the ring is ready, after a
      // full timeout (one the policy bounded proves nothing: the kloop may be on its way).
      const unwoken = r === 'timed-out' && Atomics.load(c.i32, c.irq) === irq && bound >= left;
      ready = this.check(events);
      const owed = this.learn(events);
      traceSleep(slept);
      if (ready !== 0) {
        // Lost only if the kloop owed an interrupt: news below what we asked is not.
        if (unwoken && owed) this.lateWakeups++;
        this.spins.last?.learn((performance.now() - slept) * 1000);
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

  /**
   * Before a sleep: per ring of interest, the news worth an interrupt (the notify policy's
   * choice: wake once hwtail has moved `want` past where it is), then appl_need_kick.
   */
  private arm(events: number): void {
    const c = this.csb;
    for (let e = 0; e < this.hdr.length; e++) {
      const tx = e < this.txRings.length;
      if ((tx ? events & POLLOUT : events & POLLIN) === 0) continue;
      const from = this.tails[e];
      // A producer waits for the slots the host holds: all but its free ones and the gap.
      let free = from - this.published[e];
      if (free < 0) free += this.region.numSlots;
      const want = this.wants[e].ask(tx ? this.region.numSlots - 1 - free : 0);
      this.asked[e] = want;
      this.askedFrom[e] = from;
      Atomics.store(c.i32, c.applEvStart(e), from);
      Atomics.store(c.i32, c.applEvWant(e), want);
      Atomics.store(c.i32, c.applNeedKick(e), 1);
    }
  }

  /** The sleep's bound (ms): the shortest any ring of interest allows for what it asked. */
  private bound(events: number, left: number): number {
    let b = left === Number.POSITIVE_INFINITY ? -1 : left;
    for (let e = 0; e < this.hdr.length; e++) {
      if (((e < this.txRings.length ? events & POLLOUT : events & POLLIN) as number) === 0) continue;
      const r = this.wants[e].bound(this.asked[e], b);
      if (r >= 0 && (b < 0 || r < b)) b = r;
    }
    return b < 0 ? Number.POSITIVE_INFINITY : b;
  }

  /** After a wake-up: each ring learns what it found against what it asked; true if some got it all. */
  private learn(events: number): boolean {
    let owed = false;
    for (let e = 0; e < this.hdr.length; e++) {
      if (((e < this.txRings.length ? events & POLLOUT : events & POLLIN) as number) === 0) continue;
      let got = this.tails[e] - this.askedFrom[e];
      if (got < 0) got += this.region.numSlots;
      if (got >= this.asked[e]) owed = true;
      this.wants[e].learn(this.asked[e], got);
    }
    return owed;
  }

  /** About to sleep: kick the kloop if it asked for kicks and we published anything since. */
  private flush(): void {
    const c = this.csb;
    for (let e = 0; e < this.hdr.length; e++) {
      if (Atomics.load(c.i32, c.kernNeedKick(e)) !== 0 && Atomics.load(c.i32, c.kernEvStart(e)) !== this.published[e]) {
        this.kick();
        return;
      }
    }
  }

  private kick(): void {
    this.kicks++;
    if (wakeSleeper(this.bell, BELL_SLEEP, SLEEP_KICK)) trace(TR_KICK);
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
      if (tracer !== null) {
        let moved = head - this.published[e];
        if (moved < 0) moved += n;
        trace(e < this.txRings.length ? TR_TXSYNC : TR_RXSYNC, moved);
      }
      this.published[e] = head;
      // Kick only when the kloop said it sleeps and the news is worth what it asked;
      // otherwise it will see the new head.
      if (
        Atomics.load(c.i32, c.kernNeedKick(e)) !== 0 &&
        reached(Atomics.load(c.i32, c.kernEvStart(e)), Atomics.load(c.i32, c.kernEvWant(e)), head, n)
      ) {
        this.kick();
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
