/**
 * A hostile guest: given only what a guest VM holds (its port's region, its CSB, its
 * bell), it writes random values at full speed into everything it can write — its
 * rings' headers (head, cur, tail, flags and the constant words), the region header and
 * its interface's netmap_if (the user's copy of the geometry), their slots (buf_idx,
 * len, flags with NS_MOREFRAG and NS_BUF_CHANGED), the buffers, every CSB word — and
 * kicks the bell. Values are biased towards the ones validation has to get right (in
 * range, near the host's hwcur/hwtail, off by one) so that many syncs are accepted and
 * the port type's sync runs on garbage slots. A seeded xorshift PRNG makes a run
 * repeatable; the loop allocates nothing.
 */
import {
  BELL_SLEEP,
  IF_BYTES,
  IF_WORDS,
  NS_BUF_CHANGED,
  NS_MOREFRAG,
  REGION_HEADER_BYTES,
  RING_HDR_WORDS,
  RING_NUM_SLOTS,
  RING_SLOTS_OFS,
  SLOT_WORDS,
} from '../../shm/layout.js';
import { RegionViews } from '../../shm/views.js';
import { NetmapError } from '../errors.js';
import { Csb } from './csb.js';
import type { GuestDescriptor } from './hypervisor.js';

export interface HostileOptions {
  /** PRNG seed (any non-zero int32; 0 is replaced). */
  seed?: number;
  /** Also scribble the rings' constant words (num_slots, buf_size, id, dir, slots_ofs). Default true. */
  constants?: boolean;
  /**
   * Also scribble the region header (its two lines: the RH_* words) and the netmap_if of
   * its interface: the user's copy of the geometry, which the kernel never reads. Default true.
   */
  header?: boolean;
  /**
   * Kick at full speed (one write in 16 is a notify on the bell), not once per `step()` as
   * a guest kicks after a sync. Every Atomics.wait/notify in the process takes V8's one
   * futex-emulation lock, so a storm slows every other thread's sleeps and wake-ups.
   */
  kickStorm?: boolean;
}

// What one write aims at, by r & 15: 0-4 an atok head/cur pair (the values the kloop
// validates), 5 any CSB word (ktoa, need-kick flags, the irq word), 6-7 a ring header
// word (with `header`, half of the 7s a region header or netmap_if word instead), 8-12 a
// slot's buf_idx or len|flags word, 13-14 a buffer word, 15 the bell (a kick in a storm).
const T_CSB_ANY = 5;
const T_GEOMETRY = 7;
const T_SLOT = 8;
const T_BUF = 13;
const T_KICK = 15;

export class HostileGuest {
  /** Writes done and kicks sent so far. */
  writes = 0;
  kicks = 0;
  private s: number;
  private readonly i32: Int32Array;
  private readonly csb: Int32Array;
  private readonly bell: Int32Array;
  /** Per CSB entry (TX rings, then RX): its ring's header word base and slot word base. */
  private readonly hdr: Int32Array;
  private readonly slots: Int32Array;
  /** CSB word indices of each entry's atok head and cur, and of its ktoa hwcur/hwtail. */
  private readonly head: Int32Array;
  private readonly cur: Int32Array;
  private readonly hwcur: Int32Array;
  private readonly hwtail: Int32Array;
  private readonly entries: number;
  private readonly kickStorm: boolean;
  private readonly numSlots: number;
  private readonly numBufs: number;
  private readonly bufSize: number;
  private readonly bufWord0: number;
  private readonly bufWords: number;
  private readonly hdrWords: number;
  private readonly firstHdrWord: number;
  /** With `header`: the region header's and the interface's netmap_if word indices, and their values at start. */
  private readonly geoWords: Int32Array;
  private readonly geoValues: Int32Array;

  constructor(desc: GuestDescriptor, o: HostileOptions = {}) {
    if (desc === null || typeof desc !== 'object' || desc.type !== 'ptnet') {
      throw new NetmapError('EINVAL', 'not a guest port descriptor');
    }
    let r: RegionViews;
    try {
      r = RegionViews.user(desc.mem);
    } catch (e) {
      throw new NetmapError('EINVAL', `bad guest descriptor for ${desc.name}: ${(e as Error).message}`);
    }
    const ids = [...desc.tx, ...desc.rx];
    if (!(desc.bell instanceof SharedArrayBuffer)) throw new NetmapError('EINVAL', 'guest descriptor lacks a bell');
    const csb = new Csb(desc.csb, ids.length);
    this.s = o.seed !== undefined && (o.seed | 0) !== 0 ? o.seed | 0 : 0x2545f491;
    this.i32 = r.i32;
    this.csb = csb.i32;
    this.bell = new Int32Array(desc.bell);
    this.entries = ids.length;
    // Geometry is read once, before the first write can change it.
    this.hdr = Int32Array.from(ids, (id) => r.ringWordBase(id));
    this.slots = Int32Array.from(ids, (id) => r.slotWordBase(id));
    this.head = Int32Array.from(ids, (_, e) => csb.head(e));
    this.cur = Int32Array.from(ids, (_, e) => csb.cur(e));
    this.hwcur = Int32Array.from(ids, (_, e) => csb.hwcur(e));
    this.hwtail = Int32Array.from(ids, (_, e) => csb.hwtail(e));
    this.numSlots = r.numSlots;
    this.numBufs = r.numBufs;
    this.bufSize = r.bufSize;
    this.bufWord0 = r.bufsOfs / 4;
    this.bufWords = (r.numBufs * r.bufSize) / 4;
    // Without `constants`, only the user-written lines (head/cur/flags, then tail).
    this.firstHdrWord = (o.constants ?? true) ? RING_NUM_SLOTS : RING_SLOTS_OFS + 1;
    this.kickStorm = o.kickStorm ?? false;
    this.hdrWords = RING_HDR_WORDS - this.firstHdrWord;
    // Its interface is the one that lists its first ring (a guest finds its netmap_if so).
    const ifIndex = Math.max(
      0,
      r.geometry.ifs.findIndex((f) => f.tx.includes(ids[0]) || f.rx.includes(ids[0])),
    );
    const ifWord = (r.geometry.ifsOfs + ifIndex * IF_BYTES) / 4;
    const header = REGION_HEADER_BYTES / 4;
    this.geoWords =
      (o.header ?? true)
        ? Int32Array.from({ length: header + IF_WORDS }, (_, i) => (i < header ? i : ifWord + i - header))
        : new Int32Array(0);
    this.geoValues = Int32Array.from(this.geoWords, (w) => r.i32[w]);
  }

  private rand(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x;
    return x;
  }

  /** A ring index the way a confused or malicious guest writes one. */
  private index(e: number): number {
    const r = this.rand();
    const n = this.numSlots;
    switch (r & 7) {
      case 0:
      case 1:
        return this.rand(); // anything, negative included
      case 2:
        return (r >>> 3) % n;
      case 3: {
        const special = (r >>> 3) & 7;
        return special === 0 ? n : special === 1 ? n - 1 : special === 2 ? -1 : special === 3 ? 0x7fffffff : n + 1;
      }
      default: {
        // Between the host's hwcur and hwtail (as ktoa shows them), often valid.
        const lo = Atomics.load(this.csb, this.hwcur[e]);
        const hi = Atomics.load(this.csb, this.hwtail[e]);
        let span = hi - lo;
        if (span < 0) span += n;
        const v = lo + ((r >>> 3) % (span + 2));
        return v >= n ? v - n : v;
      }
    }
  }

  /** A slot word: buf_idx (even word) or len | flags << 16 (odd word). */
  private slotValue(lenWord: boolean): number {
    const r = this.rand();
    if (!lenWord) {
      switch (r & 3) {
        case 0:
          return this.rand();
        case 1:
          return (r >>> 2) & 3; // the reserved buffers 0, 1 and their neighbours
        default:
          return (r >>> 2) % (this.numBufs + 4); // mostly valid, a few past the end
      }
    }
    const flags = (r >>> 2) & 3;
    const f = flags === 0 ? 0 : flags === 1 ? NS_MOREFRAG : flags === 2 ? NS_BUF_CHANGED : this.rand() & 0xffff;
    const len = (r >>> 4) & 1 ? (r >>> 5) % (this.bufSize + 65) : (r >>> 5) & 0xffff;
    return len | (f << 16);
  }

  /** Does `n` writes. */
  step(n: number): void {
    const mem = this.i32;
    const csb = this.csb;
    for (let i = 0; i < n; i++) {
      const r = this.rand();
      const what = r & 15;
      const e = ((r >>> 4) & 0xff) % this.entries;
      if (what < T_CSB_ANY) {
        // cur then head, as a real guest would, but with values of its own choosing.
        const c = this.index(e);
        const h = (r >>> 12) & 1 ? c : this.index(e);
        Atomics.store(csb, this.cur[e], c);
        Atomics.store(csb, this.head[e], h);
      } else if (what === T_CSB_ANY) {
        Atomics.store(csb, (r >>> 12) % csb.length, (r >>> 31) & 1 ? this.rand() : this.index(e));
      } else if (what === T_GEOMETRY && this.geoWords.length > 0 && (r >>> 31) & 1) {
        this.scribbleGeometry(e);
      } else if (what < T_SLOT) {
        mem[this.hdr[e] + this.firstHdrWord + ((r >>> 12) % this.hdrWords)] =
          (r >>> 31) & 1 ? this.rand() : this.index(e);
      } else if (what < T_BUF) {
        const k = (r >>> 12) % this.numSlots;
        const lenWord = ((r >>> 11) & 1) === 1;
        mem[this.slots[e] + k * SLOT_WORDS + (lenWord ? 1 : 0)] = this.slotValue(lenWord);
      } else if (what < T_KICK) {
        mem[this.bufWord0 + ((this.rand() >>> 0) % this.bufWords)] = this.rand();
      } else {
        // The bell's sleep word gets a random value now and then; a storm kicks here too.
        if (((r >>> 12) & 7) === 0) Atomics.store(this.bell, BELL_SLEEP, this.rand());
        if (this.kickStorm) this.kick();
      }
    }
    if (!this.kickStorm) this.kick();
    this.writes += n;
  }

  /**
   * One write into the region header or the netmap_if: anything, a ring index, or the
   * word's own value off by one (which a lax check would take for the real one).
   */
  private scribbleGeometry(e: number): void {
    const x = this.rand();
    const k = (x >>> 2) % this.geoWords.length;
    const v = (x & 3) === 0 ? this.rand() : (x & 3) === 1 ? this.index(e) : this.geoValues[k] + (x & 1 ? 1 : -1);
    this.i32[this.geoWords[k]] = v;
  }

  private kick(): void {
    Atomics.notify(this.bell, BELL_SLEEP);
    this.kicks++;
  }

  /** Writes until `stop()` says so (looked at every 4096 writes). */
  run(stop: () => boolean): void {
    while (!stop()) this.step(4096);
  }
}
