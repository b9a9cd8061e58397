/**
 * Regions: one SharedArrayBuffer holding a netmap_if per port end, the rings, their
 * slots and the buffer pool; and beside it the kernel memory of the region, which holds
 * the kernel's copy of the geometry, the pool's free list and a block per kring. A region
 * alone describes itself to its user (the header), never to the kernel.
 */
import { Geometry, type IfSpec } from './geometry.js';
import {
  BELL_BYTES,
  type DIR_RX,
  DIR_TX,
  KIF_BYTES,
  KM_HEADER_BYTES,
  KP_FREE_COUNT,
  KP_FREE_HEAD,
  KR_COUNTERS_BYTE,
  KRING_BYTES,
  MAX_RING_SLOTS,
  MIN_RING_SLOTS,
  RESERVED_BUFS,
  RING_TAIL,
  SLOT_WORDS,
} from './layout.js';

export type { IfSpec } from './geometry.js';

/**
 * What a region is made of: the direction of each ring, slots per ring, buffer size and
 * the interfaces (port ends) that see them.
 */
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

/**
 * Buffer bytes a region may hold: offsets are computed in 32-bit words (`>> 2`), so a
 * region stays under 2 GiB.
 */
export const MAX_REGION_BUF_BYTES = 2 ** 31;

/** The geometry a spec makes (buffers: one per slot of each owning ring, plus the extra ones). */
export function regionGeometry(spec: RegionSpec): Geometry {
  const owning = spec.rings.filter((_, id) => spec.mirror?.[id] === undefined).length;
  const numBufs = RESERVED_BUFS + owning * spec.numSlots + (spec.extraBufs ?? 0);
  if (numBufs * spec.bufSize > MAX_REGION_BUF_BYTES) {
    throw new RangeError(`${numBufs * spec.bufSize} bytes of buffers: a region holds at most ${MAX_REGION_BUF_BYTES}`);
  }
  return new Geometry({ rings: spec.rings, numSlots: spec.numSlots, bufSize: spec.bufSize, numBufs, ifs: spec.ifs });
}

/** A region and its kernel memory (with `extraKmem` bytes after the interface blocks). */
export interface PortMemory {
  mem: SharedArrayBuffer;
  kmem: SharedArrayBuffer;
  geometry: Geometry;
}

/**
 * Allocates a SharedArrayBuffer; a size the machine cannot give is a RangeError naming it
 * (callers turn it into the library's ENOMEM).
 */
function allocSab(bytes: number, what: string): SharedArrayBuffer {
  try {
    return new SharedArrayBuffer(bytes);
  } catch {
    throw new RangeError(`cannot allocate ${bytes} bytes for ${what}`);
  }
}

/**
 * Creates and initialises a region and its kernel memory: both copies of the geometry,
 * rings in netmap's initial state, slot buffers, the free list of extra buffers.
 */
export function createPortMemory(spec: RegionSpec, extraKmem = 0): PortMemory {
  checkRingSize(spec.numSlots);
  let g: Geometry;
  try {
    g = regionGeometry(spec);
  } catch (e) {
    throw new RangeError((e as Error).message);
  }
  const mem = allocSab(g.totalBytes, 'a region');
  const kmem = allocSab(kmemSize(g.numRings, g.numIfs) + extraKmem, 'kernel memory');
  const w = new Int32Array(mem);
  g.writeUser(w);
  const k = new Int32Array(kmem);
  g.writeKernel(k);
  const u32 = new Uint32Array(mem);
  let nextBuf = RESERVED_BUFS;
  const firstBuf: number[] = [];
  spec.rings.forEach((dir, id) => {
    // netmap's initial state: TX owns every slot but one, RX owns none.
    w[g.ringWordBase(id) + RING_TAIL] = dir === DIR_TX ? spec.numSlots - 1 : 0;
    if (spec.mirror?.[id] === undefined) {
      firstBuf[id] = nextBuf;
      nextBuf += spec.numSlots;
    }
  });
  spec.rings.forEach((_, id) => {
    const src = spec.mirror?.[id] ?? id;
    const slotBase = g.slotWordBase(id);
    for (let s = 0; s < spec.numSlots; s++) u32[slotBase + s * SLOT_WORDS] = firstBuf[src] + s;
  });
  // Extra buffers form the free list, linked through their first word; 0 ends it.
  let head = 0;
  for (let b = g.numBufs - 1; b >= nextBuf; b--) {
    u32[(g.bufsOfs + b * g.bufSize) / 4] = head;
    head = b;
  }
  k[KP_FREE_HEAD] = head;
  k[KP_FREE_COUNT] = g.numBufs - nextBuf;
  return { mem, kmem, geometry: g };
}

/** A region alone (no kernel memory): benchmarks and tests of the user side. */
export function createRegion(spec: RegionSpec): SharedArrayBuffer {
  return createPortMemory(spec).mem;
}

/** Throws a RangeError unless `n` is a ring size (an integer from MIN_RING_SLOTS to MAX_RING_SLOTS). */
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
  return KM_HEADER_BYTES + numRings * KRING_BYTES + numIfs * KIF_BYTES;
}
/** Word offset of kring `id`'s block in kernel memory. */
export function kringWordBase(id: number): number {
  return (KM_HEADER_BYTES + id * KRING_BYTES) / 4;
}
/** Float64 index of kring `id`'s counters (KC_*, added to it) in kernel memory. */
export function kringCounterBase(id: number): number {
  return (kringWordBase(id) * 4 + KR_COUNTERS_BYTE) / 8;
}
/** Word offset of interface `ifIndex`'s block in kernel memory, after the blocks of `numRings` krings. */
export function kifWordBase(numRings: number, ifIndex: number): number {
  return (KM_HEADER_BYTES + numRings * KRING_BYTES + ifIndex * KIF_BYTES) / 4;
}
