/**
 * The geometry of a region: how many rings, slots and buffers, their sizes, which rings
 * each interface sees, and every offset derived from them. It exists twice: the kernel's
 * copy in kernel memory (KG_*), which only the kernel writes and the only one the kernel
 * reads, and the user's copy in the region header, netmap_if blocks and ring headers,
 * which the port's user reads as netmap's library does (and may scribble, hurting itself
 * only). A geometry is checked when read: a wrong one throws here, at attach, never later.
 */
import {
  alignUp,
  CACHE_LINE_BYTES,
  DIR_RX,
  DIR_TX,
  IF_BYTES,
  IF_NUM_RX,
  IF_NUM_TX,
  IF_RX_IDS,
  IF_TX_IDS,
  KG_BUF_SIZE,
  KG_IF_WORDS,
  KG_IFS,
  KG_MAGIC,
  KG_MAGIC_VALUE,
  KG_NUM_BUFS,
  KG_NUM_IFS,
  KG_NUM_RINGS,
  KG_NUM_SLOTS,
  KG_RX_MASK,
  MAX_IFS,
  MAX_RING_SLOTS,
  MAX_RINGS,
  MAX_RINGS_PER_IF,
  MIN_RING_SLOTS,
  REGION_HEADER_BYTES,
  REGION_MAGIC,
  REGION_VERSION,
  RESERVED_BUFS,
  RH_BUF_SIZE,
  RH_BUFS_OFS,
  RH_IFS_OFS,
  RH_MAGIC,
  RH_NUM_BUFS,
  RH_NUM_IFS,
  RH_NUM_RINGS,
  RH_NUM_SLOTS,
  RH_RINGS_OFS,
  RH_TOTAL_BYTES,
  RH_VERSION,
  RING_BUF_SIZE,
  RING_DIR,
  RING_HDR_BYTES,
  RING_HDR_WORDS,
  RING_ID,
  RING_NUM_SLOTS,
  RING_SLOTS_OFS,
  SLOT_BYTES,
} from './layout.js';

/** Which rings one port end (a netmap_if) sees, by ring id. */
export interface IfSpec {
  tx: number[];
  rx: number[];
}

/** A geometry as plain data (postable): everything else is derived from it. */
export interface GeometrySpec {
  /** Ring directions, by ring id (DIR_TX or DIR_RX). */
  rings: number[];
  numSlots: number;
  bufSize: number;
  /** Buffers in the region, the two reserved ones included. */
  numBufs: number;
  ifs: IfSpec[];
}

/** Largest buffer: a multiple of 64 that a slot's 16-bit len can still describe. */
export const MAX_BUF_SIZE = 65472;

function isIntIn(v: unknown, lo: number, hi: number): v is number {
  return Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi;
}

/**
 * A region's geometry (rings, slots, buffers, which rings each interface sees) and every
 * offset derived from it; checked when read from memory.
 */
export class Geometry {
  readonly numRings: number;
  readonly numSlots: number;
  readonly bufSize: number;
  readonly numBufs: number;
  readonly numIfs: number;
  readonly dirs: readonly number[];
  readonly ifs: readonly IfSpec[];
  readonly ifsOfs: number;
  readonly ringsOfs: number;
  readonly slotsOfs: number;
  readonly slotArrayBytes: number;
  readonly bufsOfs: number;
  readonly totalBytes: number;

  /** Checks every field (a TypeError names the first bad one) and derives the offsets. */
  constructor(spec: GeometrySpec) {
    const { rings, numSlots, bufSize, numBufs, ifs } = spec;
    if (!Array.isArray(rings) || !isIntIn(rings.length, 1, MAX_RINGS)) throw new TypeError('bad geometry: rings');
    if (!rings.every((d) => d === DIR_TX || d === DIR_RX)) throw new TypeError('bad geometry: ring directions');
    if (!isIntIn(numSlots, MIN_RING_SLOTS, MAX_RING_SLOTS)) throw new TypeError('bad geometry: slots per ring');
    if (!isIntIn(bufSize, 64, MAX_BUF_SIZE) || bufSize % 64 !== 0) throw new TypeError('bad geometry: buffer size');
    if (!isIntIn(numBufs, RESERVED_BUFS, 2 ** 31 / bufSize)) throw new TypeError('bad geometry: buffer count');
    if (!Array.isArray(ifs) || !isIntIn(ifs.length, 1, MAX_IFS)) throw new TypeError('bad geometry: interfaces');
    for (const f of ifs) {
      for (const [ids, dir] of [
        [f?.tx, DIR_TX],
        [f?.rx, DIR_RX],
      ] as const) {
        if (!Array.isArray(ids) || ids.length > MAX_RINGS_PER_IF) throw new TypeError('bad geometry: interface rings');
        if (!ids.every((id) => isIntIn(id, 0, rings.length - 1) && rings[id] === dir)) {
          throw new TypeError('bad geometry: interface ring ids');
        }
      }
    }
    this.numRings = rings.length;
    this.numSlots = numSlots;
    this.bufSize = bufSize;
    this.numBufs = numBufs;
    this.numIfs = ifs.length;
    this.dirs = [...rings];
    this.ifs = ifs.map((f) => ({ tx: [...f.tx], rx: [...f.rx] }));
    this.ifsOfs = REGION_HEADER_BYTES;
    this.ringsOfs = alignUp(this.ifsOfs + this.numIfs * IF_BYTES, CACHE_LINE_BYTES);
    this.slotsOfs = this.ringsOfs + this.numRings * RING_HDR_BYTES;
    this.slotArrayBytes = alignUp(numSlots * SLOT_BYTES, CACHE_LINE_BYTES);
    this.bufsOfs = alignUp(this.slotsOfs + this.numRings * this.slotArrayBytes, bufSize);
    this.totalBytes = this.bufsOfs + numBufs * bufSize;
  }

  spec(): GeometrySpec {
    return {
      rings: [...this.dirs],
      numSlots: this.numSlots,
      bufSize: this.bufSize,
      numBufs: this.numBufs,
      ifs: this.ifs.map((f) => ({ tx: [...f.tx], rx: [...f.rx] })),
    };
  }

  /** Word index of ring `id`'s header in the region. */
  ringWordBase(id: number): number {
    return this.ringsOfs / 4 + id * RING_HDR_WORDS;
  }
  /** Word index of ring `id`'s slot 0 in the region. */
  slotWordBase(id: number): number {
    return (this.slotsOfs + id * this.slotArrayBytes) / 4;
  }

  /** Writes the kernel's copy (the KG_* words of a kernel memory header). */
  writeKernel(k: Int32Array): void {
    k[KG_MAGIC] = KG_MAGIC_VALUE;
    k[KG_NUM_RINGS] = this.numRings;
    k[KG_NUM_SLOTS] = this.numSlots;
    k[KG_BUF_SIZE] = this.bufSize;
    k[KG_NUM_BUFS] = this.numBufs;
    k[KG_NUM_IFS] = this.numIfs;
    let rx = 0;
    this.dirs.forEach((d, id) => {
      if (d === DIR_RX) rx |= 1 << id;
    });
    k[KG_RX_MASK] = rx;
    this.ifs.forEach((f, i) => {
      const b = KG_IFS + i * KG_IF_WORDS;
      k[b] = f.tx.length | (f.rx.length << 8);
      const ids = new Uint8Array(k.buffer, k.byteOffset + (b + 1) * 4, 2 * MAX_RINGS_PER_IF);
      for (const [j, id] of f.tx.entries()) ids[j] = id;
      for (const [j, id] of f.rx.entries()) ids[MAX_RINGS_PER_IF + j] = id;
    });
  }

  /** Reads the kernel's copy from kernel memory (throws TypeError if it is not one). */
  static readKernel(kmem: SharedArrayBuffer): Geometry {
    if (!(kmem instanceof SharedArrayBuffer) || kmem.byteLength < 128) throw new TypeError('not a kernel memory');
    const k = new Int32Array(kmem);
    if (k[KG_MAGIC] !== KG_MAGIC_VALUE) throw new TypeError('not a kernel memory (bad magic)');
    const numRings = k[KG_NUM_RINGS];
    const numIfs = k[KG_NUM_IFS];
    if (!isIntIn(numRings, 1, MAX_RINGS) || !isIntIn(numIfs, 1, MAX_IFS)) throw new TypeError('bad geometry: counts');
    const rings = Array.from({ length: numRings }, (_, id) => ((k[KG_RX_MASK] >>> id) & 1 ? DIR_RX : DIR_TX));
    const bytes = new Uint8Array(kmem);
    const ifs = Array.from({ length: numIfs }, (_, i) => {
      const b = KG_IFS + i * KG_IF_WORDS;
      const ids = (b + 1) * 4;
      const ntx = k[b] & 0xff;
      const nrx = (k[b] >>> 8) & 0xff;
      return {
        tx: Array.from(bytes.subarray(ids, ids + Math.min(ntx, MAX_RINGS_PER_IF + 1))),
        rx: Array.from(
          bytes.subarray(ids + MAX_RINGS_PER_IF, ids + MAX_RINGS_PER_IF + Math.min(nrx, MAX_RINGS_PER_IF + 1)),
        ),
      };
    });
    return new Geometry({ rings, numSlots: k[KG_NUM_SLOTS], bufSize: k[KG_BUF_SIZE], numBufs: k[KG_NUM_BUFS], ifs });
  }

  /**
   * Writes the user's copy: the region header, the netmap_if blocks and the constant line
   * of every ring header (head, cur and tail are the caller's to set). Also the reinit
   * when a free interface is attached: the user reads every interface's netmap_if, so
   * all are rewritten; every word is a constant, so the other end of a pipe, in use,
   * sees no change.
   */
  writeUser(w: Int32Array): void {
    this.writeHeader(w);
    for (const [i, f] of this.ifs.entries()) this.writeIf(w, i, f);
    for (const [id, dir] of this.dirs.entries()) this.writeRingConstants(w, id, dir);
  }

  private writeHeader(w: Int32Array): void {
    w[RH_MAGIC] = REGION_MAGIC;
    w[RH_VERSION] = REGION_VERSION;
    w[RH_NUM_RINGS] = this.numRings;
    w[RH_NUM_SLOTS] = this.numSlots;
    w[RH_BUF_SIZE] = this.bufSize;
    w[RH_NUM_BUFS] = this.numBufs;
    w[RH_RINGS_OFS] = this.ringsOfs;
    w[RH_BUFS_OFS] = this.bufsOfs;
    w[RH_NUM_IFS] = this.numIfs;
    w[RH_IFS_OFS] = this.ifsOfs;
    w[RH_TOTAL_BYTES] = this.totalBytes;
  }

  private writeIf(w: Int32Array, i: number, f: IfSpec): void {
    const b = (this.ifsOfs + i * IF_BYTES) / 4;
    w[b + IF_NUM_TX] = f.tx.length;
    w[b + IF_NUM_RX] = f.rx.length;
    f.tx.forEach((id, k) => {
      w[b + IF_TX_IDS + k] = id;
    });
    f.rx.forEach((id, k) => {
      w[b + IF_RX_IDS + k] = id;
    });
  }

  private writeRingConstants(w: Int32Array, id: number, dir: number): void {
    const h = this.ringWordBase(id);
    w[h + RING_NUM_SLOTS] = this.numSlots;
    w[h + RING_BUF_SIZE] = this.bufSize;
    w[h + RING_ID] = id;
    w[h + RING_DIR] = dir;
    w[h + RING_SLOTS_OFS] = this.slotsOfs + id * this.slotArrayBytes;
  }

  /**
   * Reads the user's copy from a region (what a guest or an app does with the region it
   * holds; the kernel never does). Throws TypeError if it is not a region.
   */
  static readUser(mem: SharedArrayBuffer): Geometry {
    if (!(mem instanceof SharedArrayBuffer)) throw new TypeError('a region is a SharedArrayBuffer');
    if (mem.byteLength < REGION_HEADER_BYTES) throw new TypeError('not a sabnetmap region (too small)');
    const w = new Int32Array(mem);
    if (w[RH_MAGIC] !== REGION_MAGIC || w[RH_VERSION] !== REGION_VERSION) {
      throw new TypeError('not a sabnetmap region (bad magic or version)');
    }
    const numRings = w[RH_NUM_RINGS];
    const numIfs = w[RH_NUM_IFS];
    if (!isIntIn(numRings, 1, MAX_RINGS) || !isIntIn(numIfs, 1, MAX_IFS)) throw new TypeError('bad geometry: counts');
    const ifs: IfSpec[] = [];
    const rings: number[] = new Array(numRings).fill(DIR_TX);
    for (let i = 0; i < numIfs; i++) {
      const b = (REGION_HEADER_BYTES + i * IF_BYTES) / 4;
      const ntx = Math.min(w[b + IF_NUM_TX] >>> 0, MAX_RINGS_PER_IF + 1);
      const nrx = Math.min(w[b + IF_NUM_RX] >>> 0, MAX_RINGS_PER_IF + 1);
      const f = {
        tx: Array.from({ length: ntx }, (_, k) => w[b + IF_TX_IDS + k]),
        rx: Array.from({ length: nrx }, (_, k) => w[b + IF_RX_IDS + k]),
      };
      for (const id of f.rx) if (isIntIn(id, 0, numRings - 1)) rings[id] = DIR_RX;
      ifs.push(f);
    }
    const g = new Geometry({ rings, numSlots: w[RH_NUM_SLOTS], bufSize: w[RH_BUF_SIZE], numBufs: w[RH_NUM_BUFS], ifs });
    if (g.totalBytes !== mem.byteLength) throw new TypeError('region size does not match its header');
    return g;
  }
}
