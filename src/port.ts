/**
 * A port as its user sees it: netmap_if (the rings), txsync/rxsync and poll. The sync
 * calls run the kernel side in the calling thread, as a system call would.
 */
import {
  BELL_BYTES,
  BELL_SLEEP,
  KC_SLEEPS,
  KC_WAKEUPS,
  KIF_USERS,
  RING_CUR,
  RING_HEAD,
  RING_TAIL,
  SLEEP_RX,
  SLEEP_TX,
  valeLeaseBytes,
} from '../shm/layout.js';
import { kifWordBase, kmemSize } from '../shm/region.js';
import { RegionViews } from '../shm/views.js';
import { type CountersByName, countersOf } from './counters.js';
import { NetmapError } from './errors.js';
import { KernelMem, KRing, type SyncBackend } from './kernel/kring.js';
import { pipeBackend } from './kernel/pipe.js';
import { releaseValePort, switchView, valeBackend } from './kernel/vale.js';
import { NetmapRing } from './ring.js';
import { spinIterations } from './spin.js';

/** The attach word of a VALE port whose last user closed it: the port left its switch. */
const PORT_GONE = -1;

/** poll events, with the POSIX values. */
export const POLLIN = 0x1;
export const POLLOUT = 0x4;

/**
 * Everything a thread needs to attach a port: plain data and SharedArrayBuffers, so it
 * can be posted to a worker. `mem` holds the rings and buffers; `kmem` is the kernel's.
 */
export type PortDescriptor = PipeDescriptor | ValeDescriptor;

export interface PipeDescriptor {
  type: 'pipe';
  name: string;
  mem: SharedArrayBuffer;
  kmem: SharedArrayBuffer;
  ifIndex: number;
  /** Both ends' bells (sleep words), by interface index: a sync rings the peer's. */
  bells: SharedArrayBuffer[];
}

/** A VALE port: its own region and kernel memory, and the switch's (never another port's). */
export interface ValeDescriptor {
  type: 'vale';
  name: string;
  mem: SharedArrayBuffer;
  kmem: SharedArrayBuffer;
  ifIndex: 0;
  /** This port's bell (senders learn it from the switch table). */
  bells: [SharedArrayBuffer];
  switchId: string;
  swmem: SharedArrayBuffer;
  portIndex: number;
}

export interface RingCounters extends CountersByName {
  ring: number;
  dir: 'tx' | 'rx';
}

/** Kernel memory a port type adds after the krings (VALE: the RX lease block). */
function extraKmem(desc: PortDescriptor, region: RegionViews): number {
  return desc.type === 'vale' ? valeLeaseBytes(region.numSlots) : 0;
}

/** The sync backends of a descriptor's port type. */
function backendMaker(desc: PortDescriptor, region: RegionViews): (id: number) => SyncBackend {
  if (desc.type === 'pipe') return (id) => pipeBackend(region, id);
  if (!(desc.swmem instanceof SharedArrayBuffer) || typeof desc.switchId !== 'string') {
    throw new NetmapError('EINVAL', `bad port descriptor for ${desc.name}: no switch`);
  }
  const view = switchView(desc.switchId, desc.swmem);
  return (id) =>
    valeBackend(view, desc.portIndex, { mem: desc.mem, kmem: desc.kmem, bell: desc.bells[0] }, id, region.numSlots);
}

export class Port {
  readonly name: string;
  readonly txRings: readonly NetmapRing[];
  readonly rxRings: readonly NetmapRing[];
  /** Default busy-poll time before poll() sleeps, in microseconds. */
  spinUs = 0;
  private readonly region: RegionViews;
  private readonly km: KernelMem;
  private readonly txk: KRing[];
  private readonly rxk: KRing[];
  /** This interface's bell: poll sleeps on its word. */
  private readonly bell: Int32Array;
  private readonly usersWord: number;
  private closed = false;
  private readonly onClose: (() => void) | null;

  constructor(desc: PortDescriptor) {
    if (desc === null || typeof desc !== 'object' || (desc.type !== 'pipe' && desc.type !== 'vale')) {
      throw new NetmapError('EINVAL', 'not a port descriptor');
    }
    try {
      this.region = new RegionViews(desc.mem);
    } catch (e) {
      throw new NetmapError('EINVAL', `bad port descriptor for ${desc.name}: ${(e as Error).message}`);
    }
    if (
      !(desc.kmem instanceof SharedArrayBuffer) ||
      desc.kmem.byteLength !== kmemSize(this.region.numRings, this.region.numIfs) + extraKmem(desc, this.region)
    ) {
      throw new NetmapError('EINVAL', `bad port descriptor for ${desc.name}: no or wrong kernel memory`);
    }
    this.name = desc.name;
    const bells = desc.bells;
    const wantBells = desc.type === 'pipe' ? this.region.numIfs : 1;
    if (
      !Array.isArray(bells) ||
      bells.length !== wantBells ||
      !bells.every((b) => b instanceof SharedArrayBuffer && b.byteLength === BELL_BYTES)
    ) {
      throw new NetmapError('EINVAL', `bad port descriptor for ${desc.name}: no or wrong bells`);
    }
    this.km = new KernelMem(desc.kmem, this.region.numRings, bells);
    if (!(Number.isInteger(desc.ifIndex) && desc.ifIndex >= 0 && desc.ifIndex < this.region.numIfs)) {
      throw new NetmapError('EINVAL', `bad port descriptor for ${desc.name}: no interface ${desc.ifIndex}`);
    }
    const ids = this.region.ifRings(desc.ifIndex);
    const backend = backendMaker(desc, this.region);
    const make = (id: number): KRing => {
      const kr = new KRing(this.region, this.km, id, `${desc.name}/${id}`);
      kr.backend = backend(id);
      return kr;
    };
    this.txk = ids.tx.map(make);
    this.rxk = ids.rx.map(make);
    this.bell = this.km.bells[desc.type === 'pipe' ? desc.ifIndex : 0];
    this.usersWord = kifWordBase(this.region.numRings, desc.ifIndex) + KIF_USERS;
    // Claimed last, so a descriptor that fails above leaves the end free.
    const users = Atomics.compareExchange(this.km.i32, this.usersWord, 0, 1);
    if (users === PORT_GONE) {
      throw new NetmapError('ENOENT', `${desc.name} was closed and has left its switch: register it again`);
    }
    if (users !== 0) throw new NetmapError('EBUSY', `${desc.name} is already open`);
    this.onClose = desc.type === 'vale' ? () => releaseValePort(desc.switchId, desc.swmem, desc.portIndex) : null;
    this.txRings = ids.tx.map((id) => new NetmapRing(this.region, id));
    this.rxRings = ids.rx.map((id) => new NetmapRing(this.region, id));
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
    if (spinUs > 0) {
      // Busy-poll: watch only the words the peer publishes; sync when one moves. The
      // budget is counted in loads, not read from a clock: performance.now() allocates.
      const us = timeoutMs >= 0 ? Math.min(spinUs, timeoutMs * 1000) : spinUs;
      for (let i = spinIterations(us); i > 0; i--) {
        if (this.peerMoved(events)) {
          ready = this.check(events);
          if (ready !== 0) return ready;
        }
      }
    }
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
      Atomics.store(this.bell, BELL_SLEEP, 0);
      ready = this.check(events);
      if (ready !== 0) return ready;
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
    for (const kr of [...this.txk, ...this.rxk]) kr.save();
    // A VALE port goes away with its last user: its memory is never attached again.
    Atomics.store(this.km.i32, this.usersWord, this.onClose ? PORT_GONE : 0);
    if (this.onClose) this.onClose();
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
  private check(events: number): number {
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

  /** True when a ring of interest has a new tail from the peer (one load per ring). */
  private peerMoved(events: number): boolean {
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
