/**
 * A port as its user sees it: netmap_if (the rings), txsync/rxsync and poll. The sync
 * calls run the kernel side in the calling thread, as a system call would.
 */
import {
  BELL_SLEEP,
  KC_SLEEPS,
  KC_WAKEUPS,
  RING_CUR,
  RING_HEAD,
  RING_TAIL,
  SLEEP_RX,
  SLEEP_TX,
} from '../shm/layout.js';
import type { RegionViews } from '../shm/views.js';
import { type CountersByName, countersOf } from './counters.js';
import { NetmapError } from './errors.js';
import type { KRing } from './kernel/kring.js';
import { NetmapRing } from './ring.js';
import { type Spinnable, spinPoll } from './spin.js';

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
export const POLLOUT = 0x4;

import { KernelPort, type PortDescriptor } from './kernel/attach.js';

export type { PipeDescriptor, PortDescriptor, ValeDescriptor } from './kernel/attach.js';

export interface RingCounters extends CountersByName {
  ring: number;
  dir: 'tx' | 'rx';
}

export class Port implements Spinnable {
  readonly name: string;
  readonly txRings: readonly NetmapRing[];
  readonly rxRings: readonly NetmapRing[];
  /** Default busy-poll time before poll() sleeps, in microseconds. */
  spinUs = 0;
  /** Sleeps that timed out, nobody having cleared our flag, with the rings ready after: lost wake-ups. */
  lateWakeups = 0;
  // Kernel state is JS-private: nothing reachable from a Port leads to another port.
  readonly #k: KernelPort;
  private readonly region: RegionViews;
  private readonly txk: KRing[];
  private readonly rxk: KRing[];
  /** This interface's bell: poll sleeps on its word. */
  private readonly bell: Int32Array;
  private closed = false;

  constructor(desc: PortDescriptor) {
    const k = new KernelPort(desc);
    this.#k = k;
    this.name = k.name;
    this.region = k.region;
    this.txk = k.txk;
    this.rxk = k.rxk;
    this.bell = k.bell;
    this.txRings = k.ids.tx.map((id) => new NetmapRing(k.region, id));
    this.rxRings = k.ids.rx.map((id) => new NetmapRing(k.region, id));
  }

  get numSlots(): number {
    return this.region.numSlots;
  }
  get bufSize(): number {
    return this.region.bufSize;
  }
  /** The first TX / RX ring (ports here have one pair unless asked otherwise). */
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
    for (let i = 0; i < this.txk.length; i++) ok = this.syncRing(this.txk[i]) && ok;
    return ok;
  }

  /** NIOCRXSYNC: releases [hwcur, head) of every RX ring and picks up new packets. */
  rxsync(): boolean {
    this.checkOpen();
    let ok = true;
    for (let i = 0; i < this.rxk.length; i++) ok = this.syncRing(this.rxk[i]) && ok;
    return ok;
  }

  /**
   * Blocks until a TX ring has space past cur (POLLOUT) or an RX ring has packets past
   * cur (POLLIN), or the timeout (ms, negative = forever) passes. Returns the ready
   * events, 0 on timeout. With TX interest it runs txsync first, as netmap does.
   */
  poll(events: number, timeoutMs = -1, spinUs = this.spinUs): number {
    let ready = this.check(events);
    if (ready !== 0 || timeoutMs === 0) return ready;
    ready = spinPoll(this, events, spinUs, timeoutMs);
    if (ready !== 0) return ready;
    const start = performance.now();
    const bits = this.sleepBits(events);
    for (;;) {
      // Say we sleep, re-check, then wait: a peer that publishes after our re-check
      // sees the flag and notifies, so no wake-up is lost.
      Atomics.store(this.bell, BELL_SLEEP, bits);
      ready = this.check(events);
      if (ready !== 0) {
        Atomics.store(this.bell, BELL_SLEEP, 0);
        return ready;
      }
      const left = timeoutMs < 0 ? Number.POSITIVE_INFINITY : timeoutMs - (performance.now() - start);
      if (left <= 0) {
        Atomics.store(this.bell, BELL_SLEEP, 0);
        return 0;
      }
      this.countSleep(events, KC_SLEEPS);
      const r = Atomics.wait(this.bell, BELL_SLEEP, bits, left);
      if (r === 'ok') this.countSleep(events, KC_WAKEUPS);
      // Still our flag after a timeout: nobody came to wake us (a waker clears it first).
      const unwoken = Atomics.exchange(this.bell, BELL_SLEEP, 0) === bits && r === 'timed-out';
      ready = this.check(events);
      if (ready !== 0) {
        if (unwoken) this.lateWakeups++;
        return ready;
      }
    }
  }

  /** poll() for threads that must not block (a browser or Node main thread). */
  async pollAsync(events: number, timeoutMs = -1): Promise<number> {
    let ready = this.check(events);
    if (ready !== 0 || timeoutMs === 0) return ready;
    const start = performance.now();
    const bits = this.sleepBits(events);
    // A pending waitAsync does not keep Node alive: hold a timer while we wait.
    const keepAlive = setInterval(() => {}, 1 << 30);
    try {
      for (;;) {
        Atomics.store(this.bell, BELL_SLEEP, bits);
        ready = this.check(events);
        if (ready !== 0) break;
        const left = timeoutMs < 0 ? Number.POSITIVE_INFINITY : timeoutMs - (performance.now() - start);
        if (left <= 0) break;
        this.countSleep(events, KC_SLEEPS);
        const w = Atomics.waitAsync(this.bell, BELL_SLEEP, bits, left);
        const r = w.async ? await w.value : w.value;
        if (r === 'ok') this.countSleep(events, KC_WAKEUPS);
        Atomics.store(this.bell, BELL_SLEEP, 0);
        ready = this.check(events);
        if (ready !== 0) break;
      }
    } finally {
      clearInterval(keepAlive);
      Atomics.store(this.bell, BELL_SLEEP, 0);
    }
    return ready;
  }

  /** Per-ring kernel counters. */
  counters(): RingCounters[] {
    return [...this.txk, ...this.rxk].map((kr) => ({
      ring: kr.id,
      dir: kr.tx ? ('tx' as const) : ('rx' as const),
      ...countersOf(kr.counters()),
    }));
  }

  /** Takes `n` spare buffers from the region's pool (netmap's extra buffers). */
  allocBufs(n: number): number[] {
    this.checkOpen();
    return this.region.allocBufs(n);
  }
  freeBufs(bufs: readonly number[]): void {
    this.checkOpen();
    try {
      this.region.freeBufs(bufs);
    } catch (e) {
      throw new NetmapError('EINVAL', (e as Error).message);
    }
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
   * Validates the user's ring header, runs the sync, publishes tail. The header belongs
   * to this thread (see NetmapRing), so it is read and written with plain accesses.
   */
  private syncRing(kr: KRing): boolean {
    const i32 = this.region.i32;
    const h = kr.hdr;
    const head = i32[h + RING_HEAD];
    const cur = i32[h + RING_CUR];
    const tail = i32[h + RING_TAIL];
    if (tail !== kr.hwtail || !kr.accept(head, cur)) {
      kr.reject(head, cur, tail);
      kr.rhead = kr.rcur = kr.hwcur;
      // Reset: the user gets back exactly what the kernel knows; no slot is touched.
      i32[h + RING_CUR] = kr.hwcur;
      i32[h + RING_HEAD] = kr.hwcur;
      i32[h + RING_TAIL] = kr.hwtail;
      return false;
    }
    kr.sync();
    i32[h + RING_TAIL] = kr.hwtail;
    kr.save();
    return true;
  }

  /** Runs the syncs poll needs and returns the events that are ready (from the kernel's view: no extra loads). */
  /** @internal */
  check(events: number): number {
    this.checkOpen();
    let ready = 0;
    if (events & POLLOUT) {
      for (let i = 0; i < this.txk.length; i++) {
        const kr = this.txk[i];
        this.syncRing(kr);
        if (kr.rcur !== kr.hwtail) ready |= POLLOUT;
      }
    }
    if (events & POLLIN) {
      for (let i = 0; i < this.rxk.length; i++) {
        const kr = this.rxk[i];
        this.syncRing(kr);
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

  private countSleep(events: number, counter: number): void {
    if (events & POLLOUT) this.txk[0]?.bumpCounter(counter);
    if (events & POLLIN) this.rxk[0]?.bumpCounter(counter);
  }
}
