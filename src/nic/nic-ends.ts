/**
 * A NIC's own descriptor rings as the ends of its wire's lanes: the TX side as a source
 * (what the driver posted, sent in order), the RX side as a sink (frames land in the
 * buffers the driver gave back). The other ends: gen-ends.ts (a generator, a counter),
 * vale-ends.ts (a VALE port the NIC is attached to), pcap-ends.ts (files, Node only).
 *
 * Each end keeps its ring position privately and publishes it once per pass with one
 * Atomics.store (TDH / RDH); the interrupt that follows wakes the port's user only if it
 * sleeps for it and asked for that much news (notify.ts). Nothing here allocates per frame.
 */
import {
  KR_PEER_TAIL,
  NIC_RX_HWCUR,
  NIC_TDH,
  NIC_TDT,
  NIC_WIRE_SLEEP,
  NICC_RX_BYTES,
  NICC_RX_FRAMES,
  NICC_RX_MISSED,
  NICC_RX_TOO_LONG,
  NICC_TX_BAD,
  NICC_TX_BYTES,
  NICC_TX_FRAMES,
  NS_MOREFRAG,
  SLEEP_RX,
  SLEEP_TX,
} from '../../shm/layout.js';
import { kringWordBase } from '../../shm/region.js';
import { RegionViews } from '../../shm/views.js';
import { PAIR_RX_RING, PAIR_TX_RING } from '../kernel/kring.js';
import { nicBlockWord, nicCounterBase, nicDescWord } from '../kernel/nic.js';
import { wakeIfWorth } from '../kernel/notify.js';
import type { WireSink, WireSource } from './wire.js';

export const LEN_MASK = 0xffff;
export const MOREFRAG_HI = NS_MOREFRAG << 16;

/** The hardware side of a NIC: its memory and its user's bell (what a wire thread holds). */
export interface NicHw {
  name: string;
  mem: SharedArrayBuffer;
  kmem: SharedArrayBuffer;
  bell: SharedArrayBuffer;
}

/**
 * Copies `len` bytes from `src[so..]` to `dst[d..]`: by words when both offsets are word
 * aligned (buffers and fragments always are), else by bytes. No view is made.
 */
export function copyBytes(
  src: Uint8Array,
  si: Int32Array,
  so: number,
  dst: Uint8Array,
  di: Int32Array,
  d: number,
  len: number,
): void {
  if (((so | d) & 3) === 0) {
    const words = len >> 2;
    const sw = so >> 2;
    const dw = d >> 2;
    for (let w = 0; w < words; w++) di[dw + w] = si[sw + w];
    for (let b = words << 2; b < len; b++) dst[d + b] = src[so + b];
  } else {
    for (let b = 0; b < len; b++) dst[d + b] = src[so + b];
  }
}

/** Views a NIC's hardware block and rings as the wire sees them. */
export class NicView {
  readonly r: RegionViews;
  readonly k: Int32Array;
  readonly f: Float64Array;
  readonly bell: Int32Array;
  readonly n: number;
  readonly block = nicBlockWord();
  readonly cb = nicCounterBase();
  constructor(hw: NicHw) {
    this.r = RegionViews.kernel(hw.mem, hw.kmem);
    this.k = new Int32Array(hw.kmem);
    this.f = new Float64Array(hw.kmem);
    this.bell = new Int32Array(hw.bell);
    this.n = this.r.numSlots;
  }
}

/** A NIC's TX descriptors as a lane's source: what the driver posted, sent in order. */
export class NicTxSource implements WireSource {
  private readonly v: NicView;
  private readonly desc: number;
  private readonly kb = kringWordBase(PAIR_TX_RING);
  private tdh: number;
  private tdt: number;
  private published: number;
  /** The current frame: its first descriptor and the one after its last. */
  private first = 0;
  private end = 0;
  private len = 0;
  /** Counted here and added to the NIC's counters once per pass (shared memory, no per-frame store). */
  private frames = 0;
  private bytes = 0;

  constructor(hw: NicHw) {
    this.v = new NicView(hw);
    this.desc = nicDescWord(this.v.n, 0, 0);
    this.tdh = Atomics.load(this.v.k, this.v.block + NIC_TDH);
    if (this.tdh >>> 0 >= this.v.n) this.tdh = 0;
    this.tdt = this.tdh;
    this.published = this.tdh;
  }

  next(): number {
    const v = this.v;
    const k = v.k;
    const n = v.n;
    for (;;) {
      if (this.tdh === this.tdt) {
        this.tdt = Atomics.load(k, v.block + NIC_TDT);
        if (this.tdt >>> 0 >= n || this.tdh === this.tdt) return -1;
      }
      const d0 = this.desc + 2 * this.tdh;
      const lf0 = k[d0 + 1];
      // Fast path: one descriptor, a good buffer, a length.
      if ((lf0 & MOREFRAG_HI) === 0 && k[d0] !== 0 && lf0 !== 0) {
        this.first = this.tdh;
        this.end = this.tdh + 1 === n ? 0 : this.tdh + 1;
        this.len = lf0 & LEN_MASK;
        return this.len;
      }
      // A frame is its descriptors up to one without NS_MOREFRAG; wait for the rest of a
      // chain the driver has not posted yet.
      let i = this.tdh;
      let len = 0;
      let bad = false;
      for (;;) {
        const lf = k[this.desc + 2 * i + 1];
        if (k[this.desc + 2 * i] === 0) bad = true;
        len += lf & LEN_MASK;
        if (++i === n) i = 0;
        if ((lf & MOREFRAG_HI) === 0) break;
        if (i === this.tdt) {
          // The whole ring is one unfinished chain: nothing will end it; drop it.
          if (this.ringFull()) {
            bad = true;
            break;
          }
          return -1;
        }
      }
      if (bad || len === 0) {
        v.f[v.cb + NICC_TX_BAD]++;
        this.tdh = i;
        continue;
      }
      this.first = this.tdh;
      this.end = i;
      this.len = len;
      return len;
    }
  }

  private ringFull(): boolean {
    const next = this.tdt + 1 === this.v.n ? 0 : this.tdt + 1;
    return next === this.tdh;
  }

  read(dst: Uint8Array, di: Int32Array, off: number, from: number, len: number): void {
    const v = this.v;
    const k = v.k;
    let i = this.first;
    let pos = 0;
    let d = off;
    let left = len;
    while (left > 0) {
      const flen = k[this.desc + 2 * i + 1] & LEN_MASK;
      if (from < pos + flen) {
        const skip = from > pos ? from - pos : 0;
        const c = Math.min(flen - skip, left);
        copyBytes(v.r.u8, v.r.i32, v.r.bufOffset(k[this.desc + 2 * i]) + skip, dst, di, d, c);
        d += c;
        left -= c;
      }
      pos += flen;
      if (++i === v.n) i = 0;
      if (i === this.end) break;
    }
  }

  origLen(): number {
    return this.len;
  }

  done(): void {
    this.frames++;
    this.bytes += this.len;
    this.tdh = this.end;
  }

  publish(): void {
    if (this.tdh === this.published) return;
    const v = this.v;
    v.f[v.cb + NICC_TX_FRAMES] += this.frames;
    v.f[v.cb + NICC_TX_BYTES] += this.bytes;
    this.frames = this.bytes = 0;
    this.published = this.tdh;
    Atomics.store(v.k, v.block + NIC_TDH, this.tdh);
    // The TX kring's tail: every slot before TDH is the user's again (one stays empty).
    const tail = this.tdh === 0 ? v.n - 1 : this.tdh - 1;
    Atomics.store(v.k, this.kb + KR_PEER_TAIL, tail);
    wakeIfWorth(v.bell, SLEEP_TX, v.k, this.kb, tail, v.n);
  }

  armSleep(): boolean {
    const v = this.v;
    Atomics.store(v.k, v.block + NIC_WIRE_SLEEP, 1);
    if (Atomics.load(v.k, v.block + NIC_TDT) !== this.tdh) {
      Atomics.store(v.k, v.block + NIC_WIRE_SLEEP, 0);
      return false;
    }
    return true;
  }
  sleepArray(): Int32Array {
    return this.v.k;
  }
  sleepIndex(): number {
    return this.v.block + NIC_WIRE_SLEEP;
  }
  sleepValue(): number {
    return 1;
  }
  disarmSleep(): void {
    Atomics.store(this.v.k, this.v.block + NIC_WIRE_SLEEP, 0);
  }
}

/** A NIC's RX descriptors as a lane's sink: frames land in the buffers the driver gave back. */
export class NicRxSink implements WireSink {
  private readonly v: NicView;
  private readonly desc: number;
  private readonly kb = kringWordBase(PAIR_RX_RING);
  private rdh: number;
  private hwcur: number;
  private published: number;
  private readonly bufSize: number;
  private frames = 0;
  private bytes = 0;

  constructor(hw: NicHw) {
    this.v = new NicView(hw);
    this.desc = nicDescWord(this.v.n, 1, 0);
    this.bufSize = this.v.r.bufSize;
    this.rdh = Atomics.load(this.v.k, this.kb + KR_PEER_TAIL);
    if (this.rdh >>> 0 >= this.v.n) this.rdh = 0;
    this.published = this.rdh;
    this.hwcur = Atomics.load(this.v.k, this.v.block + NIC_RX_HWCUR);
  }

  /** Slots the wire may fill now (one stays empty before the driver's hwcur). */
  private free(): number {
    let d = this.hwcur - 1 - this.rdh;
    if (d < 0) d += this.v.n;
    return d;
  }

  room(len: number): boolean {
    const frags = len <= this.bufSize ? 1 : Math.ceil(len / this.bufSize);
    if (frags > this.v.n - 1) {
      this.v.f[this.v.cb + NICC_RX_TOO_LONG]++;
      return false;
    }
    if (this.free() >= frags) return true;
    // The driver's hwcur is read only when the slots known free run out.
    const h = Atomics.load(this.v.k, this.v.block + NIC_RX_HWCUR);
    if (h >>> 0 < this.v.n) this.hwcur = h;
    return this.free() >= frags;
  }

  put(src: WireSource, len: number): void {
    const v = this.v;
    const k = v.k;
    const bufSize = this.bufSize;
    this.frames++;
    this.bytes += len;
    if (len <= bufSize) {
      const dw = this.desc + 2 * this.rdh;
      src.read(v.r.u8, v.r.i32, v.r.bufOffset(k[dw]), 0, len);
      k[dw + 1] = len;
      if (++this.rdh === v.n) this.rdh = 0;
      return;
    }
    let from = 0;
    do {
      const c = Math.min(len - from, bufSize);
      const dw = this.desc + 2 * this.rdh;
      src.read(v.r.u8, v.r.i32, v.r.bufOffset(k[dw]), from, c);
      from += c;
      k[dw + 1] = c | (from < len ? MOREFRAG_HI : 0);
      if (++this.rdh === v.n) this.rdh = 0;
    } while (from < len);
  }

  miss(): void {
    this.v.f[this.v.cb + NICC_RX_MISSED]++;
  }

  publish(): void {
    if (this.rdh === this.published) return;
    const v = this.v;
    v.f[v.cb + NICC_RX_FRAMES] += this.frames;
    v.f[v.cb + NICC_RX_BYTES] += this.bytes;
    this.frames = this.bytes = 0;
    this.published = this.rdh;
    // The store publishes the descriptors written above to the driver's rxsync.
    Atomics.store(v.k, this.kb + KR_PEER_TAIL, this.rdh);
    wakeIfWorth(v.bell, SLEEP_RX, v.k, this.kb, this.rdh, v.n);
  }
}
