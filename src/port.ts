/**
 * A port as its user sees it: netmap_if (the rings), txsync/rxsync and poll. The sync
 * calls run the kernel side in the calling thread, as a system call would.
 */
import {
  BELL_SLEEP,
  KC_SLEEPS,
  KC_WAKEUPS,
  KR_EV_START,
  KR_EV_WANT,
  RING_CUR,
  RING_HEAD,
  RING_TAIL,
  SLEEP_RX,
  SLEEP_TX,
} from '../shm/layout.js';
import { BufPool } from '../shm/pool.js';
import type { RegionViews } from '../shm/views.js';
import { type CountersByName, countersOf } from './counters.js';
import { NetmapError } from './errors.js';
import { type BaseDescriptor, KernelPort } from './kernel/attach.js';

export type { BaseDescriptor, NicDescriptor, PipeDescriptor, PortDescriptor, ValeDescriptor } from './kernel/attach.js';

import type { KRing } from './kernel/kring.js';
import { checkNotifyPolicy, type NotifyPolicy, SpinWindows, WakeWant } from './kernel/notify.js';
import { NetmapRing } from './ring.js';
import { type Spinnable, spinPoll } from './spin.js';
import { TR_RXSYNC, TR_TXSYNC, trace, tracer, traceSleep } from './trace.js';

/** What an app needs of a port: a host Port, or a guest's GuestPort (passthrough). */
export interface NetmapPort {
  readonly name: string;
  readonly tx: NetmapRing;
  readonly rx: NetmapRing;
  readonly bufSize: number;
  poll(events: number, timeoutMs?: number, spinUs?: number): number;
  /** Sleeps in poll that timed out although their news was there: lost wake-ups (should stay 0). */
  readonly lateWakeups?: number;
  txsync(): boolean;
  rxsync(): boolean;
}

/** poll events, with the POSIX values. */
export const POLLIN = 0x1;
/** poll event: a TX ring has room (POSIX's value). */
export const POLLOUT = 0x4;
/** Returned by poll when a ring's head/cur were impossible and the ring was reset (netmap's POLLERR). */
export const POLLERR = 0x8;

/** One ring's counters (KC_* by name), with the ring's id and direction. */
export interface RingCounters extends CountersByName {
  ring: number;
  dir: 'tx' | 'rx';
}

/** A port's counters: per ring, and the port type's own (VALE: the switch's counters for this port). */
export interface PortCounters {
  rings: RingCounters[];
  vale?: Record<string, number>;
}

/**
 * How a thread attaches a port descriptor (attachPort): its notification policy, whether
 * threads outnumber cores, an exclusive hold, no TX poll.
 */
export interface AttachPortOptions {
  /** When a sleeping peer is worth waking (default the registration's, else 'asleep'). */
  notify?: NotifyPolicy;
  /** Threads outnumber cores here: the adaptive policy then never busy-polls. */
  oversubscribed?: boolean;
  /** Hold the port alone: refused if anyone holds it, and keeps everyone out (netmap's /x). */
  exclusive?: boolean;
  /**
   * poll() without POLLOUT leaves pending TX slots alone (netmap's NETMAP_NO_TX_POLL).
   * Default false: like netmap, every poll also pushes out what the user queued.
   */
  noTxPoll?: boolean;
}

/** What a sync did with a ring. */
const SYNC_OK = 0;
const SYNC_RESET = 1;
const SYNC_BUSY = 2;

/** Traces a sync that moved a ring's hwcur on from `from` (tracing on only). */
function traceSync(kr: KRing, from: number): void {
  let moved = kr.hwcur - from;
  if (moved < 0) moved += kr.numSlots;
  trace(kr.tx ? TR_TXSYNC : TR_RXSYNC, moved);
}

/**
 * A port as its user sees it: its TX and RX rings, txsync/rxsync and poll, run in the
 * calling thread as a system call would be.
 */
export class Port implements Spinnable {
  readonly name: string;
  readonly txRings: readonly NetmapRing[];
  readonly rxRings: readonly NetmapRing[];
  /** Default busy-poll time before poll() sleeps, in microseconds. */
  spinUs = 0;
  /** Sleeps that timed out, nobody having cleared our flag, with the rings ready after: lost wake-ups. */
  lateWakeups = 0;
  /** poll() pushes pending TX out even without POLLOUT (netmap's default; see AttachPortOptions). */
  txPoll: boolean;
  /** Extra buffers the registration asked for and the region's pool holds (netmap's nr_extra_bufs, out). */
  readonly extraBufs: number;
  /** When a sleeping peer is worth waking, and how this port sleeps (src/kernel/notify.ts). */
  readonly notify: NotifyPolicy;
  private readonly txWant: WakeWant[];
  private readonly rxWant: WakeWant[];
  /** What each ring of interest asked for at the last sleep (TX rings, then RX), and from where. */
  private readonly asked: Int32Array;
  private readonly askedFrom: Int32Array;
  private readonly spins: SpinWindows;
  // Kernel state is JS-private: nothing reachable from a Port leads to another port.
  readonly #k: KernelPort;
  private readonly region: RegionViews;
  private readonly pool: BufPool;
  private readonly txk: KRing[];
  private readonly rxk: KRing[];
  /** This interface's bell: poll sleeps on its word. */
  private readonly bell: Int32Array;
  private closed = false;

  constructor(desc: BaseDescriptor, o: AttachPortOptions = {}) {
    const k = new KernelPort(desc, { exclusive: o.exclusive });
    this.#k = k;
    this.name = k.name;
    this.region = k.region;
    this.pool = new BufPool(k.region, desc.kmem);
    this.txk = k.txk;
    this.rxk = k.rxk;
    this.bell = k.bell;
    this.txPoll = !(o.noTxPoll ?? desc.mode?.noTxPoll ?? false);
    this.extraBufs = Number.isInteger(desc.extraBufs) ? (desc.extraBufs as number) : 0;
    this.notify = checkNotifyPolicy(o.notify ?? desc.mode?.notify ?? 'asleep');
    this.spins = new SpinWindows(this.notify, o.oversubscribed === true);
    this.txWant = k.txk.map((kr) => new WakeWant(this.notify, kr.numSlots, true));
    this.rxWant = k.rxk.map((kr) => new WakeWant(this.notify, kr.numSlots, false));
    this.asked = new Int32Array(k.txk.length + k.rxk.length);
    this.askedFrom = new Int32Array(k.txk.length + k.rxk.length);
    this.txRings = k.txk.map((kr) => new NetmapRing(k.region, kr.id));
    this.rxRings = k.rxk.map((kr) => new NetmapRing(k.region, kr.id));
  }

  get numSlots(): number {
    return this.region.numSlots;
  }
  get bufSize(): number {
    return this.region.bufSize;
  }
  /** The first TX / RX ring (ports here have one pair; undefined when the registration bound only the other direction). */
  get tx(): NetmapRing {
    return this.txRings[0];
  }
  get rx(): NetmapRing {
    return this.rxRings[0];
  }

  /** NIOCTXSYNC: hands [hwcur, head) of every TX ring to the kernel. False if any ring was reset. */
  txsync(): boolean {
    this.checkOpen();
    let ok = true;
    for (let i = 0; i < this.txk.length; i++) ok = this.syncRing(this.txk[i]) !== SYNC_RESET && ok;
    return ok;
  }

  /** NIOCRXSYNC: releases [hwcur, head) of every RX ring and picks up new packets. */
  rxsync(): boolean {
    this.checkOpen();
    let ok = true;
    for (let i = 0; i < this.rxk.length; i++) ok = this.syncRing(this.rxk[i]) !== SYNC_RESET && ok;
    return ok;
  }

  /**
   * Blocks until a TX ring has space past cur (POLLOUT) or an RX ring has packets past
   * cur (POLLIN), or the timeout (ms, negative = forever) passes. Returns the ready
   * events, 0 on timeout, with POLLERR when a ring had impossible head/cur and was reset.
   * Like netmap, it runs txsync on rings with pending slots even without POLLOUT (unless
   * txPoll is off) and txsync on every TX ring with POLLOUT.
   */
  poll(events: number, timeoutMs = -1, spinUs = this.spinUs): number {
    const bits = this.sleepBits(events);
    let ready = this.check(events);
    if (ready !== 0 || timeoutMs === 0) return ready;
    ready = spinPoll(this, events, this.spins.for(spinUs).us, timeoutMs);
    if (ready !== 0) return ready;
    // About to sleep: what this port produced goes to its consumers now, whatever they
    // asked for (it cannot add more news while it sleeps).
    this.flush();
    const start = performance.now();
    for (;;) {
      // Say what news is worth a wake-up, that we sleep, re-check, then wait: a peer that
      // publishes after our re-check sees the flag and notifies, so no wake-up is lost.
      // The bits are or-ed in: other users of this port may sleep on the same word.
      const word = this.arm(events, bits);
      ready = this.check(events);
      if (ready !== 0) {
        this.clearSleep(bits);
        return ready;
      }
      const left = timeoutMs < 0 ? Number.POSITIVE_INFINITY : timeoutMs - (performance.now() - start);
      if (left <= 0) {
        this.clearSleep(bits);
        return 0;
      }
      this.countSleep(events, KC_SLEEPS);
      const slept = performance.now();
      const bound = this.bound(events, left);
      const r = Atomics.wait(this.bell, BELL_SLEEP, word, bound);
      if (r === 'ok') this.countSleep(events, KC_WAKEUPS);
      // Still our flag after a full timeout: nobody came to wake us (a waker clears it
      // first). A sleep the policy bounded (it asked for a batch) proves nothing: its
      // waker may be on its way.
      const unwoken = (this.clearSleep(bits) & bits) === bits && r === 'timed-out' && bound >= left;
      ready = this.check(events);
      const owed = this.learn(events);
      traceSleep(slept);
      if (ready !== 0) {
        // Lost only if a waker owed us a notify: news below what we asked is not.
        if (unwoken && owed) this.lateWakeups++;
        this.spins.last?.learn((performance.now() - slept) * 1000);
        return ready;
      }
    }
  }

  /** poll() for threads that must not block (a browser or Node main thread). */
  async pollAsync(events: number, timeoutMs = -1): Promise<number> {
    const bits = this.sleepBits(events);
    let ready = this.check(events);
    if (ready !== 0 || timeoutMs === 0) return ready;
    this.flush();
    const start = performance.now();
    // A pending waitAsync does not keep Node alive: hold a timer while we wait.
    const keepAlive = setInterval(() => {}, 1 << 30);
    try {
      for (;;) {
        const word = this.arm(events, bits);
        ready = this.check(events);
        if (ready !== 0) break;
        const left = timeoutMs < 0 ? Number.POSITIVE_INFINITY : timeoutMs - (performance.now() - start);
        if (left <= 0) break;
        this.countSleep(events, KC_SLEEPS);
        const slept = performance.now();
        const w = Atomics.waitAsync(this.bell, BELL_SLEEP, word, this.bound(events, left));
        const r = w.async ? await w.value : w.value;
        traceSleep(slept);
        if (r === 'ok') this.countSleep(events, KC_WAKEUPS);
        this.clearSleep(bits);
        ready = this.check(events);
        this.learn(events);
        if (ready !== 0) break;
      }
    } finally {
      clearInterval(keepAlive);
      this.clearSleep(bits);
    }
    return ready;
  }

  /**
   * Before a sleep: for every ring of interest, how much news is worth a wake-up (the
   * notify policy's choice), where wakers read it; then the sleep bits. Returns the word
   * to wait on.
   */
  private arm(events: number, bits: number): number {
    const k = this.#k.km.i32;
    if (events & POLLOUT) {
      for (let i = 0; i < this.txk.length; i++) {
        const kr = this.txk[i];
        // A producer waits for the slots its peer holds: all but its free ones and the gap.
        let free = kr.hwtail - kr.hwcur;
        if (free < 0) free += kr.numSlots;
        this.armRing(k, kr, this.txWant[i], i, kr.numSlots - 1 - free);
      }
    }
    if (events & POLLIN) {
      for (let i = 0; i < this.rxk.length; i++) this.armRing(k, this.rxk[i], this.rxWant[i], this.txk.length + i, 0);
    }
    return Atomics.or(this.bell, BELL_SLEEP, bits) | bits;
  }

  private armRing(k: Int32Array, kr: KRing, ww: WakeWant, slot: number, inFlight: number): void {
    const want = ww.ask(inFlight);
    this.asked[slot] = want;
    this.askedFrom[slot] = kr.hwtail;
    Atomics.store(k, kr.kb + KR_EV_START, kr.hwtail);
    Atomics.store(k, kr.kb + KR_EV_WANT, want);
  }

  /** The sleep's bound (ms): the shortest any ring of interest allows for what it asked. */
  private bound(events: number, left: number): number {
    let b = left === Number.POSITIVE_INFINITY ? -1 : left;
    for (let i = 0; i < this.asked.length; i++) {
      const tx = i < this.txk.length;
      if ((tx ? events & POLLOUT : events & POLLIN) === 0) continue;
      const ww = tx ? this.txWant[i] : this.rxWant[i - this.txk.length];
      const r = ww.bound(this.asked[i], b);
      if (r >= 0 && (b < 0 || r < b)) b = r;
    }
    return b < 0 ? Number.POSITIVE_INFINITY : b;
  }

  /**
   * After a wake-up: each ring of interest learns how much news it found against what it
   * asked. True when some ring found at least what it asked (a waker owed a notify).
   */
  private learn(events: number): boolean {
    let owed = false;
    const visit = (kr: KRing, ww: WakeWant, slot: number) => {
      let got = kr.hwtail - this.askedFrom[slot];
      if (got < 0) got += kr.numSlots;
      const want = this.asked[slot];
      if (got >= want) owed = true;
      ww.learn(want, got);
    };
    if (events & POLLOUT) for (let i = 0; i < this.txk.length; i++) visit(this.txk[i], this.txWant[i], i);
    if (events & POLLIN) {
      for (let i = 0; i < this.rxk.length; i++) visit(this.rxk[i], this.rxWant[i], this.txk.length + i);
    }
    return owed;
  }

  /** A producer about to sleep: each TX ring's consumer gets its news now (the backend's flush). */
  private flush(): void {
    for (let i = 0; i < this.txk.length; i++) this.txk[i].flush();
  }

  /** Per-ring kernel counters, and the port type's (VALE's per-port counters). */
  counters(): PortCounters {
    const rings = [...this.txk, ...this.rxk].map((kr) => ({
      ring: kr.id,
      dir: kr.tx ? ('tx' as const) : ('rx' as const),
      ...countersOf(kr.counters()),
    }));
    const vale = this.#k.typeCounters();
    return vale === null ? { rings } : { rings, vale };
  }

  /** Takes up to `n` spare buffers from the region's pool (netmap's extra buffers). */
  allocBufs(n: number): number[] {
    this.checkOpen();
    if (!(Number.isInteger(n) && n >= 0)) throw new NetmapError('EINVAL', `allocBufs needs a count >= 0, got ${n}`);
    return this.pool.alloc(n);
  }
  /** Gives spare buffers back to the pool; a reserved or out-of-range index is refused (EINVAL), nothing freed. */
  freeBufs(bufs: readonly number[]): void {
    this.checkOpen();
    for (const b of bufs) {
      if (!this.region.validBuf(b)) throw new NetmapError('EINVAL', `buffer ${b} cannot be freed`);
    }
    this.pool.free(bufs);
  }
  /** Buffers on the region's free list now (shared by every user of the region). */
  freeBufCount(): number {
    return this.pool.count();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // A VALE port goes away with its last user: its memory is never attached again.
    this.#k.release();
  }
  get isClosed(): boolean {
    return this.closed;
  }

  private checkOpen(): void {
    if (this.closed) throw new NetmapError('EBADF', `${this.name} is closed`);
  }

  /**
   * Takes the ring (skipped while another user syncs it, as netmap does), validates the
   * user's ring header, runs the sync, publishes tail. The header belongs to the port's
   * users (see NetmapRing), so it is read and written with plain accesses.
   */
  private syncRing(kr: KRing): number {
    const tok = kr.tryGet();
    if (tok === 0) return SYNC_BUSY;
    const i32 = this.region.i32;
    const h = kr.hdr;
    const head = i32[h + RING_HEAD];
    const cur = i32[h + RING_CUR];
    const tail = i32[h + RING_TAIL];
    let res = SYNC_OK;
    if (tail !== kr.hwtail || !kr.accept(head, cur)) {
      kr.reject(head, cur, tail);
      kr.rhead = kr.rcur = kr.hwcur;
      // Reset: the user gets back exactly what the kernel knows; no slot is touched.
      i32[h + RING_CUR] = kr.hwcur;
      i32[h + RING_HEAD] = kr.hwcur;
      i32[h + RING_TAIL] = kr.hwtail;
      res = SYNC_RESET;
    } else {
      const from = kr.hwcur;
      kr.sync();
      i32[h + RING_TAIL] = kr.hwtail;
      kr.save();
      if (tracer !== null && kr.hwcur !== from) traceSync(kr, from);
    }
    kr.put(tok);
    return res;
  }

  /**
   * Runs the syncs poll needs and returns the events that are ready (from the kernel's
   * view: no extra loads). TX rings are synced for POLLOUT, and without it (txPoll) when
   * the user queued slots (head != hwcur), as netmap's poll does.
   */
  /** @internal */
  check(events: number): number {
    this.checkOpen();
    let ready = 0;
    const out = (events & POLLOUT) !== 0;
    if (out || this.txPoll) {
      const i32 = this.region.i32;
      for (let i = 0; i < this.txk.length; i++) {
        const kr = this.txk[i];
        if (!out && i32[kr.hdr + RING_HEAD] === kr.hwcur) continue;
        if (this.syncRing(kr) === SYNC_RESET) ready |= POLLERR;
        if (out && kr.rcur !== kr.hwtail) ready |= POLLOUT;
      }
    }
    if (events & POLLIN) {
      for (let i = 0; i < this.rxk.length; i++) {
        const kr = this.rxk[i];
        if (this.syncRing(kr) === SYNC_RESET) ready |= POLLERR;
        if (kr.rcur !== kr.hwtail) ready |= POLLIN;
      }
    }
    return ready;
  }

  /** @internal True when a ring of interest has a new tail from the peer (one load per ring). */
  moved(events: number): boolean {
    if (events & POLLOUT) for (let i = 0; i < this.txk.length; i++) if (this.txk[i].peerMoved()) return true;
    if (events & POLLIN) for (let i = 0; i < this.rxk.length; i++) if (this.rxk[i].peerMoved()) return true;
    return false;
  }

  private sleepBits(events: number): number {
    if ((events & (POLLIN | POLLOUT)) === 0) throw new NetmapError('EINVAL', 'poll needs POLLIN and/or POLLOUT');
    return (events & POLLOUT ? SLEEP_TX : 0) | (events & POLLIN ? SLEEP_RX : 0);
  }

  /**
   * Takes our bits off the sleep word; returns what it held. Another user of the port may
   * sleep on the same bits: then they stay (a waker clears them), at worst costing one
   * notify nobody needed.
   */
  private clearSleep(bits: number): number {
    if (this.#k.users() > 1) return Atomics.load(this.bell, BELL_SLEEP);
    return Atomics.and(this.bell, BELL_SLEEP, ~bits);
  }

  private countSleep(events: number, counter: number): void {
    if (events & POLLOUT) this.txk[0]?.bumpCounter(counter);
    if (events & POLLIN) this.rxk[0]?.bumpCounter(counter);
  }
}
