/**
 * netmap's lb (apps/lb/lb.c): one input, N outputs per group, balanced by the symmetric
 * 5-tuple hash (both directions of a connection land on the same output; non-IP frames on
 * the group's fallback output), zero copy (buffers swap between the input's RX ring and
 * the outputs' TX rings, NS_BUF_CHANGED on both), with lb's extras:
 *
 * - Groups: several consumer groups each see every packet, in turn. A packet goes to one
 *   output of group 0; when that slot comes back (the consumer released it) and lb reuses
 *   it, the packet moves on to group 1, and so on: a buffer moves to group g+1 when group
 *   g releases it. As in lb, consumers of every group but the last must not change the
 *   buffers or the slots (they read only). At the end, `passOn` moves what group g has
 *   released and group g+1 has not seen yet.
 * - Overflow queues: when an output's ring is full, its packet waits in the output's
 *   overflow queue, and the input slot gets a free extra buffer in exchange (the extra
 *   buffers, netmap's nr_extra_bufs, are the free queue). When the free queue is empty,
 *   lb revokes the oldest BUF_REVOKE packets of the longest queue (counted as that
 *   output's drops): newer packets win over old ones, and a stalled consumer cannot hold
 *   every extra buffer. A packet that finds its ring full and its queue full (or no extra
 *   buffers) is dropped and counted.
 * - `onFull: 'wait'` (not in lb, for lossless pipelines): a packet that would be dropped
 *   stays in the input ring instead; `step` stops there and reports the output it waits for.
 *
 * Counters per output: forwarded, dropped, the overflow queue's length; and the frames
 * that were not IP. The core works on rings the caller syncs (one thread); it allocates
 * nothing per packet: counters are Float64Arrays, queues Int32Arrays made once.
 */
import { NS_BUF_CHANGED } from '../../shm/layout.js';
import { NetmapError } from '../errors.js';
import type { NetmapRing } from '../ring.js';
import { NON_IP, symmetricHash } from './hash.js';

/** How many queued packets lb revokes at once from the longest overflow queue (lb.c's BUF_REVOKE). */
export const BUF_REVOKE = 100;
/** lb's default batch (-b). */
export const LB_DEFAULT_BATCH = 2048;

/** What lb does with a packet whose output is full and cannot queue it: drop it (lb's way), or wait for room. */
export type LbOnFull = 'drop' | 'wait';

/**
 * Options of LbCore: extra buffers for the overflow queues, what to do when full, the
 * fallback output for non-IP frames, the hash seed.
 */
export interface LbCoreOptions {
  /** Extra buffers for the overflow queues (their buffer indices; default none: a full output drops). */
  extraBufs?: readonly number[];
  /** 'drop' (lb's behaviour, default) or 'wait': keep the packet in the input until there is room. */
  onFull?: LbOnFull;
  /** The output (index within each group) that non-IP frames go to (default 0). */
  fallback?: number;
  /** Hash seed (default 0). */
  seed?: number;
}

const LEN_MASK = 0xffff;
const BUF_CHANGED_HI = NS_BUF_CHANGED << 16;
/** An empty input slot in the hash pass (hashes are >= NON_IP). */
const EMPTY = -2;

/**
 * netmap's lb without its ports: balances one input over groups of outputs by the
 * symmetric 5-tuple hash, zero copy, with overflow queues.
 */
export class LbCore {
  /** Outputs, all groups flattened: group g's are [groupStart[g], groupStart[g + 1]). */
  readonly outputs: number;
  readonly groups: number;
  readonly groupStart: Int32Array;
  /** Per output: packets handed to its ring, and packets dropped for it (full, or revoked from its queue). */
  readonly forwarded: Float64Array;
  readonly dropped: Float64Array;
  /** Input frames that were not IP (sent to the fallback output), and empty input slots skipped. */
  nonIp = 0;
  empty = 0;
  /** Input packets taken (placed, queued or dropped). */
  received = 0;
  /** Wait mode: the output the last step() stopped at (-1: it did not stop). */
  blocked = -1;

  private readonly input: NetmapRing;
  private readonly rings: NetmapRing[];
  private readonly last: Uint8Array;
  private readonly groupOf: Int32Array;
  /** Per output, its next free slot (written back to the ring's head/cur at the end of a pass). */
  private readonly cur: Int32Array;
  /**
   * Per output slot (outputs x slots): a packet group g has been given there and group
   * g+1 has not seen, as hash + 2 (0: none). lb keeps it in the slot's ptr field.
   */
  private readonly pend: Int32Array;
  private readonly numSlots: number;
  // Overflow queues: per output a circle of (buf, len|flags, hash) triples.
  private readonly oq: Int32Array;
  private readonly oqHead: Int32Array;
  private readonly oqLen: Int32Array;
  private readonly oqSize: number;
  /** The free queue: extra buffers not holding a queued packet (a stack). */
  private readonly free: Int32Array;
  private freeN: number;
  private readonly wait: boolean;
  private readonly fallback: number;
  private readonly seed: number;
  private readonly mem: Uint8Array;
  private readonly bufsOfs: number;
  private readonly bufSize: number;
  private readonly moved: Uint8Array;
  /** The hashes of one step's packets (pass 1). */
  private readonly hashes: Int32Array;
  /** swapIn's second result: the length and flags word of the slot it swapped into. */
  private swappedLf = 0;

  /** `groups[g]` are group g's output TX rings; every ring must live in the input's region. */
  constructor(input: NetmapRing, groups: readonly (readonly NetmapRing[])[], o: LbCoreOptions = {}) {
    if (groups.length < 1 || groups.some((g) => g.length < 1)) {
      throw new NetmapError('EINVAL', 'lb needs at least one group of at least one output');
    }
    const rings = groups.flat();
    for (const r of rings) {
      if (r.mem.buffer !== input.mem.buffer) {
        throw new NetmapError('EINVAL', 'lb is zero copy: every output must live in the input port memory region');
      }
    }
    const fallback = o.fallback ?? 0;
    if (!Number.isInteger(fallback) || fallback < 0 || groups.some((g) => fallback >= g.length)) {
      throw new NetmapError('EINVAL', `lb fallback must be an output index in every group, got ${fallback}`);
    }
    const onFull = o.onFull ?? 'drop';
    if (onFull !== 'drop' && onFull !== 'wait')
      throw new NetmapError('EINVAL', `lb onFull must be drop or wait, got ${onFull}`);
    this.input = input;
    this.rings = rings;
    this.outputs = rings.length;
    this.groups = groups.length;
    this.groupStart = new Int32Array(groups.length + 1);
    this.groupOf = new Int32Array(rings.length);
    this.last = new Uint8Array(groups.length);
    let at = 0;
    groups.forEach((g, i) => {
      this.groupStart[i] = at;
      for (let k = 0; k < g.length; k++) this.groupOf[at + k] = i;
      at += g.length;
    });
    this.groupStart[groups.length] = at;
    this.last[groups.length - 1] = 1;
    this.forwarded = new Float64Array(rings.length);
    this.dropped = new Float64Array(rings.length);
    this.cur = new Int32Array(rings.length);
    this.numSlots = input.numSlots;
    this.pend = new Int32Array(groups.length > 1 ? rings.length * input.numSlots : 0);
    const extra = o.extraBufs ?? [];
    this.oqSize = extra.length;
    this.oq = new Int32Array(rings.length * extra.length * 3);
    this.oqHead = new Int32Array(rings.length);
    this.oqLen = new Int32Array(rings.length);
    this.free = Int32Array.from(extra);
    this.freeN = extra.length;
    this.wait = onFull === 'wait';
    this.fallback = fallback;
    this.seed = o.seed ?? 0;
    this.mem = input.mem;
    this.bufsOfs = input.region.bufsOfs;
    this.bufSize = input.bufSize;
    this.moved = new Uint8Array(rings.length);
    this.hashes = new Int32Array(input.numSlots);
  }

  /** The overflow queue's length of output `o`. */
  queued(o: number): number {
    return this.oqLen[o];
  }
  /** Packets waiting in overflow queues, all outputs. */
  queuedTotal(): number {
    let n = 0;
    for (let o = 0; o < this.outputs; o++) n += this.oqLen[o];
    return n;
  }
  /** Extra buffers in the free queue. */
  get freeBufs(): number {
    return this.freeN;
  }
  /** True when output `o`'s ring got packets since the last call (the caller txsyncs those). */
  takeMoved(o: number): boolean {
    const m = this.moved[o] !== 0;
    this.moved[o] = 0;
    return m;
  }

  /**
   * Moves up to `limit` packets from the input ring's [cur, tail) (after the caller's
   * rxsync) to the outputs (the caller txsyncs them after). Pushes the overflow queues
   * first. Returns the input slots consumed; in wait mode `blocked` says which output it
   * stopped at (-1 if none).
   */
  step(limit: number): number {
    this.blocked = -1;
    this.loadCur();
    if (this.oqSize > 0) this.pushQueues();
    const rx = this.input;
    const n = rx.numSlots;
    const ri = rx.i32;
    const rb = rx.slotBase;
    let j = rx.cur;
    let m = rx.tail - j;
    if (m < 0) m += n;
    if (limit < m) m = limit;
    const mem = this.mem;
    const bufsOfs = this.bufsOfs;
    const bufSize = this.bufSize;
    const seed = this.seed;
    const hashes = this.hashes;
    // Pass 1: every packet's hash. The headers were written by another core: each is a
    // cache miss, and with no dependence between iterations the CPU overlaps them (a
    // loop that also placed each packet would wait for one miss at a time).
    for (let k = 0, jj = j; k < m; k++) {
      const s = rb + 2 * jj;
      const len = ri[s + 1] & LEN_MASK;
      hashes[k] = len === 0 ? EMPTY : symmetricHash(mem, bufsOfs + ri[s] * bufSize, len, seed);
      jj = jj + 1 === n ? 0 : jj + 1;
    }
    // Pass 2: place them. One group and room in the ring (the usual case) is done here;
    // everything else (a full ring, queues, later groups) by put().
    const simple = this.groups === 1;
    const outs = this.outputs;
    const fallback = this.fallback;
    const cur = this.cur;
    const oqLen = this.oqLen;
    const rings = this.rings;
    const fwd = this.forwarded;
    let done = 0;
    for (; done < m; done++) {
      const s = rb + 2 * j;
      const hash = hashes[done];
      if (hash === EMPTY) {
        this.empty++;
      } else {
        const lf = ri[s + 1];
        const o = hash === NON_IP ? fallback : hash % outs;
        const r = rings[o];
        const k = cur[o];
        const fast = simple && k !== r.tail && oqLen[o] === 0;
        if (!fast && this.wait && !this.canPlace(0, hash)) break;
        if (hash === NON_IP) this.nonIp++;
        if (fast) {
          // Swap: the packet's buffer into the output slot, the slot's old one back here.
          const ti = r.i32;
          const t = r.slotBase + 2 * k;
          const old = ti[t];
          ti[t] = ri[s];
          ti[t + 1] = (lf & LEN_MASK) | BUF_CHANGED_HI;
          ri[s] = old;
          cur[o] = k + 1 === n ? 0 : k + 1;
          fwd[o]++;
        } else {
          ri[s] = this.put(0, ri[s], lf, hash); // the buffer that comes back
        }
        ri[s + 1] = (lf & LEN_MASK) | BUF_CHANGED_HI;
        this.received++;
      }
      j = j + 1 === n ? 0 : j + 1;
    }
    if (done > 0) rx.advance(j);
    this.storeCur();
    return done;
  }

  /**
   * Moves packets that group g released and group g+1 has not seen (the end of a run:
   * no later packet will reuse their slots). Call after txsync of the outputs, again
   * until idle(). A released packet in the ring's one empty slot (the slot at tail, which
   * the kernel keeps until the consumer releases the next one) is reached by sending the
   * consumer an empty slot (len 0, which a consumer skips). Returns the packets it moved
   * on; in wait mode it may stop early (call it again).
   */
  passOn(): number {
    if (this.groups < 2) return 0;
    this.loadCur();
    let moved = 0;
    const n = this.numSlots;
    for (let o = 0; o < this.groupStart[this.groups - 1]; o++) {
      const r = this.rings[o];
      const g = this.groupOf[o];
      const base = o * n;
      const tail = r.tail;
      // Our free slots: [cur, tail).
      for (let k = this.cur[o]; k !== tail; k = k + 1 === n ? 0 : k + 1) {
        const p = this.pend[base + k];
        if (p === 0) continue;
        const s = r.slotBase + 2 * k;
        if (this.wait && !this.canPlace(g + 1, p - 2)) {
          this.storeCur();
          return moved;
        }
        this.pend[base + k] = 0;
        const back = this.put(g + 1, r.i32[s], r.i32[s + 1], p - 2);
        r.i32[s] = back;
        r.i32[s + 1] = (r.i32[s + 1] & LEN_MASK) | BUF_CHANGED_HI;
        moved++;
      }
      let owned = tail - this.cur[o];
      if (owned < 0) owned += n;
      if (owned === n - 1 && this.pend[base + tail] !== 0) {
        // Everything else is back: an empty slot makes the consumer release that one too.
        const k = this.cur[o];
        r.i32[r.slotBase + 2 * k + 1] = 0;
        this.cur[o] = k + 1 === n ? 0 : k + 1;
      }
    }
    this.storeCur();
    return moved;
  }

  /** True when no packet is held by lb itself (queues empty, nothing waiting to pass on). */
  idle(): boolean {
    if (this.queuedTotal() > 0) return false;
    if (this.groups < 2) return true;
    for (let i = 0; i < this.groupStart[this.groups - 1] * this.numSlots; i++) if (this.pend[i] !== 0) return false;
    return true;
  }

  /** The buffers lb holds itself: the free queue's and the queued packets' (allocates; for checks). */
  heldBufs(): number[] {
    const out = Array.from(this.free.subarray(0, this.freeN));
    for (let o = 0; o < this.outputs; o++) {
      for (let i = 0; i < this.oqLen[o]; i++)
        out.push(this.oq[(o * this.oqSize + ((this.oqHead[o] + i) % this.oqSize)) * 3]);
    }
    return out;
  }

  /** Takes the extra buffers back from the free queue (all of them once the queues are empty). */
  takeFreeBufs(): number[] {
    const out = Array.from(this.free.subarray(0, this.freeN));
    this.freeN = 0;
    return out;
  }

  private loadCur(): void {
    for (let o = 0; o < this.outputs; o++) this.cur[o] = this.rings[o].cur;
  }
  private storeCur(): void {
    for (let o = 0; o < this.outputs; o++) {
      const r = this.rings[o];
      if (r.cur !== this.cur[o]) {
        r.advance(this.cur[o]);
        this.moved[o] = 1;
      }
    }
  }

  private pick(g: number, hash: number): number {
    const first = this.groupStart[g];
    const n = this.groupStart[g + 1] - first;
    return first + (hash === NON_IP ? this.fallback : hash % n);
  }

  /**
   * Wait mode: true when a packet of `hash` can be placed in group g and whatever it
   * displaces can go on down the chain, without dropping.
   */
  private canPlace(g: number, hash: number): boolean {
    for (;;) {
      const o = this.pick(g, hash);
      const r = this.rings[o];
      if (this.cur[o] !== r.tail && this.oqLen[o] === 0) {
        if (this.last[g]) return true;
        const p = this.pend[o * this.numSlots + this.cur[o]];
        if (p === 0) return true;
        hash = p - 2;
        g++;
        continue;
      }
      if (this.oqLen[o] < this.oqSize && this.freeN > 0) return true;
      this.blocked = o;
      return false;
    }
  }

  /**
   * lb's forward_packet: gives the packet (buffer `idx`, len|flags `lf`) to group g and
   * returns a buffer to put where it came from: the old buffer of the slot it took (or,
   * that buffer still held a packet for the next group, what that packet's move returns),
   * a free extra buffer when it was queued, or its own buffer when it was dropped.
   */
  private put(g: number, idx: number, lf: number, hash: number): number {
    const o = this.pick(g, hash);
    const r = this.rings[o];
    const k = this.cur[o];
    if (k !== r.tail && this.oqLen[o] === 0) {
      const old = this.swapIn(o, idx, lf);
      const oldLf = this.swappedLf;
      if (this.last[g]) return old;
      const pi = o * this.numSlots + k;
      const p = this.pend[pi];
      this.pend[pi] = hash + 2;
      // The slot's old buffer held a packet group g has seen: it goes on to group g+1.
      return p === 0 ? old : this.put(g + 1, old, oldLf, p - 2);
    }
    if (this.oqSize === 0 || this.oqLen[o] >= this.oqSize) {
      this.dropped[o]++;
      return idx;
    }
    if (this.freeN === 0) this.revoke();
    const q = (o * this.oqSize + ((this.oqHead[o] + this.oqLen[o]) % this.oqSize)) * 3;
    this.oq[q] = idx;
    this.oq[q + 1] = lf;
    this.oq[q + 2] = hash;
    this.oqLen[o]++;
    return this.free[--this.freeN];
  }

  /**
   * Swaps buffer `idx` (length and flags `lf`) into output `o`'s slot at its cur, which must
   * have room, advances that cur and counts it forwarded. Returns the slot's old buffer; its
   * old length and flags are left in `swappedLf` (two results, no allocation).
   */
  private swapIn(o: number, idx: number, lf: number): number {
    const r = this.rings[o];
    const k = this.cur[o];
    const ti = r.i32;
    const s = r.slotBase + 2 * k;
    const old = ti[s];
    this.swappedLf = ti[s + 1];
    ti[s] = idx;
    ti[s + 1] = (lf & LEN_MASK) | BUF_CHANGED_HI;
    this.cur[o] = k + 1 === this.numSlots ? 0 : k + 1;
    this.forwarded[o]++;
    return old;
  }

  /** lb's revocation: the oldest BUF_REVOKE packets of the longest queue are dropped; their buffers become free. */
  private revoke(): void {
    let lp = 0;
    for (let o = 1; o < this.outputs; o++) if (this.oqLen[o] > this.oqLen[lp]) lp = o;
    let j = 0;
    for (; j < BUF_REVOKE && this.oqLen[lp] > 0; j++) {
      const q = (lp * this.oqSize + this.oqHead[lp]) * 3;
      this.free[this.freeN++] = this.oq[q];
      this.oqHead[lp] = (this.oqHead[lp] + 1) % this.oqSize;
      this.oqLen[lp]--;
    }
    this.dropped[lp] += j;
  }

  /** Moves queued packets into their rings while there is room (oldest first). */
  private pushQueues(): void {
    for (let o = 0; o < this.outputs; o++) {
      const r = this.rings[o];
      const g = this.groupOf[o];
      while (this.oqLen[o] > 0 && this.cur[o] !== r.tail) {
        const q = (o * this.oqSize + this.oqHead[o]) * 3;
        const idx = this.oq[q];
        const lf = this.oq[q + 1];
        const hash = this.oq[q + 2];
        const k = this.cur[o];
        let displaced = -1;
        if (!this.last[g]) {
          const p = this.pend[o * this.numSlots + k];
          if (p !== 0) {
            if (this.wait && !this.canPlace(g + 1, p - 2)) break;
            displaced = p;
          }
        }
        this.oqHead[o] = (this.oqHead[o] + 1) % this.oqSize;
        this.oqLen[o]--;
        const old = this.swapIn(o, idx, lf);
        const oldLf = this.swappedLf;
        let back = old;
        if (!this.last[g]) {
          this.pend[o * this.numSlots + k] = hash + 2;
          if (displaced !== -1) back = this.put(g + 1, old, oldLf, displaced - 2);
        }
        this.free[this.freeN++] = back;
      }
    }
  }
}

/** lb's options as a pipeline stage and on the command line. */
export interface LbOptions {
  /** Extra buffers for the overflow queues (lb's -B; default 0). */
  extraBufs?: number;
  /** Most packets moved between two reads of the input (lb's -b; default 2048). */
  batch?: number;
  /** 'drop' (lb's behaviour, default) or 'wait' (lossless: backpressure to the input). */
  onFull?: LbOnFull;
  /** The output index (within each group) non-IP frames go to (default 0). */
  fallback?: number;
  /** Hash seed (default 0). */
  seed?: number;
}

/** Checks lb's options and fills in the defaults (NetmapError EINVAL naming the bad one). */
export function checkLbOptions(o: LbOptions): Required<LbOptions> {
  if (o === null || typeof o !== 'object') throw new NetmapError('EINVAL', 'lb options must be an object');
  const extraBufs = o.extraBufs ?? 0;
  const batch = o.batch ?? LB_DEFAULT_BATCH;
  const onFull = o.onFull ?? 'drop';
  const fallback = o.fallback ?? 0;
  const seed = o.seed ?? 0;
  if (!Number.isInteger(extraBufs) || extraBufs < 0 || extraBufs > 1 << 20) {
    throw new NetmapError('EINVAL', `lb extraBufs must be an integer from 0 to ${1 << 20}, got ${extraBufs}`);
  }
  if (!Number.isInteger(batch) || batch < 1 || batch > 65536) {
    throw new NetmapError('EINVAL', `lb batch must be an integer from 1 to 65536, got ${batch}`);
  }
  if (onFull !== 'drop' && onFull !== 'wait') {
    throw new NetmapError('EINVAL', `lb onFull must be 'drop' or 'wait', got '${onFull}'`);
  }
  if (!Number.isInteger(fallback) || fallback < 0) {
    throw new NetmapError('EINVAL', `lb fallback must be a non-negative integer, got ${fallback}`);
  }
  if (!Number.isInteger(seed)) throw new NetmapError('EINVAL', `lb seed must be an integer, got ${seed}`);
  return { extraBufs, batch, onFull, fallback, seed };
}
