/**
 * Regions: one SharedArrayBuffer holding a netmap_if per port end, the rings, their
 * slots and the buffer pool. A region is described by the SAB alone (every size is
 * in its header), so a worker that receives the SAB can map it.
 */
import {
  alignUp,
  BELL_BYTES,
  CACHE_LINE_BYTES,
  type DIR_RX,
  DIR_TX,
  IF_BYTES,
  IF_NUM_RX,
  IF_NUM_TX,
  IF_RX_IDS,
  IF_TX_IDS,
  KIF_BYTES,
  KRING_BYTES,
  MAX_RING_SLOTS,
  MAX_RINGS_PER_IF,
  MIN_RING_SLOTS,
  REGION_HEADER_BYTES,
  REGION_MAGIC,
  REGION_VERSION,
  RESERVED_BUFS,
  RH_BUF_SIZE,
  RH_BUFS_OFS,
  RH_FREE_COUNT,
  RH_FREE_HEAD,
  RH_FREE_LOCK,
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
  RING_HEAD,
  RING_ID,
  RING_NUM_SLOTS,
  RING_SLOTS_OFS,
  RING_TAIL,
  SLOT_BYTES,
  SLOT_WORDS,
} from './layout.js';

/** Which rings one port end (a netmap_if) sees, by ring id. */
export interface IfSpec {
  tx: number[];
  rx: number[];
}

export interface RegionSpec {
  /** Ring directions, by ring id. */
  rings: Array<typeof DIR_TX | typeof DIR_RX>;
  numSlots: number;
  bufSize: number;
  ifs: IfSpec[];
  /**
   * Ring ids whose slots get their own buffers at creation. Rings left out start with
   * the buffers of the ring named in `mirror` (pipes: an RX ring mirrors its peer TX).
   */
  mirror?: Record<number, number>;
  /** Extra buffers put on the free list. */
  extraBufs?: number;
}

/** Sizes every part of a region from its spec; the only place a region is sized. */
export function regionSize(spec: RegionSpec): {
  ifsOfs: number;
  ringsOfs: number;
  slotsOfs: number;
  bufsOfs: number;
  numBufs: number;
  totalBytes: number;
} {
  const nr = spec.rings.length;
  const ifsOfs = REGION_HEADER_BYTES;
  const ringsOfs = alignUp(ifsOfs + spec.ifs.length * IF_BYTES, CACHE_LINE_BYTES);
  const slotsOfs = ringsOfs + nr * RING_HDR_BYTES;
  const slotArrayBytes = alignUp(spec.numSlots * SLOT_BYTES, CACHE_LINE_BYTES);
  const bufsOfs = alignUp(slotsOfs + nr * slotArrayBytes, spec.bufSize);
  const owning = spec.rings.filter((_, id) => spec.mirror?.[id] === undefined).length;
  const numBufs = RESERVED_BUFS + owning * spec.numSlots + (spec.extraBufs ?? 0);
  return { ifsOfs, ringsOfs, slotsOfs, bufsOfs, numBufs, totalBytes: bufsOfs + numBufs * spec.bufSize };
}

/** Byte offset of ring `id`'s header. */
export function ringHeaderOffset(ringsOfs: number, id: number): number {
  return ringsOfs + id * RING_HDR_BYTES;
}

/** Creates and initialises a region: headers, interfaces, rings, slot buffers, free list. */
export function createRegion(spec: RegionSpec): SharedArrayBuffer {
  checkRingSize(spec.numSlots);
  for (const f of spec.ifs) {
    if (f.tx.length > MAX_RINGS_PER_IF || f.rx.length > MAX_RINGS_PER_IF) {
      throw new RangeError(`at most ${MAX_RINGS_PER_IF} rings per direction`);
    }
  }
  const sz = regionSize(spec);
  const sab = new SharedArrayBuffer(sz.totalBytes);
  const w = new Int32Array(sab);
  w[RH_MAGIC] = REGION_MAGIC;
  w[RH_VERSION] = REGION_VERSION;
  w[RH_NUM_RINGS] = spec.rings.length;
  w[RH_NUM_SLOTS] = spec.numSlots;
  w[RH_BUF_SIZE] = spec.bufSize;
  w[RH_NUM_BUFS] = sz.numBufs;
  w[RH_RINGS_OFS] = sz.ringsOfs;
  w[RH_BUFS_OFS] = sz.bufsOfs;
  w[RH_NUM_IFS] = spec.ifs.length;
  w[RH_IFS_OFS] = sz.ifsOfs;
  w[RH_TOTAL_BYTES] = sz.totalBytes;

  spec.ifs.forEach((f, i) => {
    const b = (sz.ifsOfs + i * IF_BYTES) / 4;
    w[b + IF_NUM_TX] = f.tx.length;
    w[b + IF_NUM_RX] = f.rx.length;
    f.tx.forEach((id, k) => {
      w[b + IF_TX_IDS + k] = id;
    });
    f.rx.forEach((id, k) => {
      w[b + IF_RX_IDS + k] = id;
    });
  });

  const u32 = new Uint32Array(sab);
  const slotArrayBytes = alignUp(spec.numSlots * SLOT_BYTES, CACHE_LINE_BYTES);
  let nextBuf = RESERVED_BUFS;
  const firstBuf: number[] = [];
  spec.rings.forEach((dir, id) => {
    const h = ringHeaderOffset(sz.ringsOfs, id) / 4;
    const slotsOfs = sz.slotsOfs + id * slotArrayBytes;
    w[h + RING_NUM_SLOTS] = spec.numSlots;
    w[h + RING_BUF_SIZE] = spec.bufSize;
    w[h + RING_ID] = id;
    w[h + RING_DIR] = dir;
    w[h + RING_SLOTS_OFS] = slotsOfs;
    w[h + RING_HEAD] = 0;
    // netmap's initial state: TX owns every slot but one, RX owns none.
    w[h + RING_TAIL] = dir === DIR_TX ? spec.numSlots - 1 : 0;
    if (spec.mirror?.[id] === undefined) {
      firstBuf[id] = nextBuf;
      nextBuf += spec.numSlots;
    }
  });
  spec.rings.forEach((_, id) => {
    const src = spec.mirror?.[id] ?? id;
    const slotBase = (sz.slotsOfs + id * slotArrayBytes) / 4;
    for (let k = 0; k < spec.numSlots; k++) u32[slotBase + k * SLOT_WORDS] = firstBuf[src] + k;
  });
  // Extra buffers form the free list, linked through their first word; 0 ends it.
  let head = 0;
  for (let b = sz.numBufs - 1; b >= nextBuf; b--) {
    u32[(sz.bufsOfs + b * spec.bufSize) / 4] = head;
    head = b;
  }
  w[RH_FREE_HEAD] = head;
  w[RH_FREE_COUNT] = sz.numBufs - nextBuf;
  w[RH_FREE_LOCK] = 0;
  return sab;
}

export function checkRingSize(n: number): void {
  if (!Number.isInteger(n) || n < MIN_RING_SLOTS || n > MAX_RING_SLOTS) {
    throw new RangeError(`ring size must be an integer in [${MIN_RING_SLOTS}, ${MAX_RING_SLOTS}], got ${n}`);
  }
}

/** A new bell (an interface's sleep word). */
export function createBell(): SharedArrayBuffer {
  return new SharedArrayBuffer(BELL_BYTES);
}

/** Kernel-private memory of a region: a block per kring, then a block per interface. */
export function kmemSize(numRings: number, numIfs: number): number {
  return numRings * KRING_BYTES + numIfs * KIF_BYTES;
}
export function kringWordBase(id: number): number {
  return (id * KRING_BYTES) / 4;
}
export function kifWordBase(numRings: number, ifIndex: number): number {
  return (numRings * KRING_BYTES + ifIndex * KIF_BYTES) / 4;
}
