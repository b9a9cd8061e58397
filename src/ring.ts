/**
 * The user's view of a netmap ring: head/cur (user-written), tail (kernel-written),
 * slots and buffer bytes. Accessors take a slot index and allocate nothing.
 */
import { NS_BUF_CHANGED, RING_CUR, RING_FLAGS, RING_HEAD, RING_TAIL, SLOT_WORDS } from '../shm/layout.js';
import type { RegionViews } from '../shm/views.js';

/**
 * The user's view of one netmap ring: head and cur (user-written), tail (kernel-written),
 * the slots and their buffers.
 */
export class NetmapRing {
  readonly id: number;
  readonly numSlots: number;
  readonly bufSize: number;
  /** The whole region's bytes; a slot's payload starts at `bufOffset(slot)`. */
  readonly mem: Uint8Array;
  /** Region-wide views for code that wants raw speed (see slotIndex). */
  readonly u32: Uint32Array;
  readonly u16: Uint16Array;
  /** The region as int32 words: the fastest way to slot words (slot k's len|flags is i32[slotBase+2k+1]). */
  readonly i32: Int32Array;
  private readonly hdr: number;
  /** u32 index of slot 0's buf_idx; slot k's is slotBase + 2k, its len is u16[2(slotBase+2k)+2]. */
  readonly slotBase: number;
  /** The views the ring was made from (the kernel's geometry for a host port). */
  readonly region: RegionViews;

  constructor(region: RegionViews, id: number) {
    this.region = region;
    this.id = id;
    this.hdr = region.ringWordBase(id);
    this.i32 = region.i32;
    this.u32 = region.u32;
    this.u16 = region.u16;
    this.mem = region.u8;
    // From the views' geometry (the kernel's, for a host port): never re-read from the
    // ring header, which any user of the port can write.
    this.numSlots = region.numSlots;
    this.bufSize = region.bufSize;
    this.slotBase = region.slotWordBase(id);
  }

  // The header words belong to the thread that holds the port: its user code writes
  // head/cur and its syncs write tail, so plain accesses are enough (an Atomics op costs
  // 7-11 ns here). Words that cross threads live in kernel memory and the CSB.
  get head(): number {
    return this.i32[this.hdr + RING_HEAD];
  }
  set head(v: number) {
    this.i32[this.hdr + RING_HEAD] = v;
  }
  get cur(): number {
    return this.i32[this.hdr + RING_CUR];
  }
  set cur(v: number) {
    this.i32[this.hdr + RING_CUR] = v;
  }
  /** Written by the kernel only; a user write here is a violation the next sync undoes. */
  get tail(): number {
    return this.i32[this.hdr + RING_TAIL];
  }
  get flags(): number {
    return this.i32[this.hdr + RING_FLAGS];
  }
  set flags(v: number) {
    this.i32[this.hdr + RING_FLAGS] = v;
  }
  /** Sets head and cur together: the usual "consumed/filled up to here". */
  advance(to: number): void {
    this.i32[this.hdr + RING_CUR] = to;
    this.i32[this.hdr + RING_HEAD] = to;
  }

  next(i: number): number {
    return i + 1 === this.numSlots ? 0 : i + 1;
  }
  /** Slots the user owns: tail - head, modulo the ring size. */
  space(): number {
    const d = this.tail - this.head;
    return d < 0 ? d + this.numSlots : d;
  }
  empty(): boolean {
    return this.head === this.tail;
  }

  bufIdx(slot: number): number {
    return this.u32[this.slotBase + slot * SLOT_WORDS];
  }
  /** Puts another buffer in the slot and flags it (NS_BUF_CHANGED), as netmap asks. */
  setBufIdx(slot: number, idx: number): void {
    const s = this.slotBase + slot * SLOT_WORDS;
    this.u32[s] = idx;
    this.u16[2 * s + 3] |= NS_BUF_CHANGED;
  }
  len(slot: number): number {
    return this.u16[2 * (this.slotBase + slot * SLOT_WORDS) + 2];
  }
  setLen(slot: number, len: number): void {
    this.u16[2 * (this.slotBase + slot * SLOT_WORDS) + 2] = len;
  }
  slotFlags(slot: number): number {
    return this.u16[2 * (this.slotBase + slot * SLOT_WORDS) + 3];
  }
  /**
   * Sets the slot's flags. NS_BUF_CHANGED already set (by setBufIdx) stays set, so the
   * order of the two calls does not matter; the kernel clears it when it takes the slot.
   */
  setSlotFlags(slot: number, flags: number): void {
    const f = 2 * (this.slotBase + slot * SLOT_WORDS) + 3;
    this.u16[f] = flags | (this.u16[f] & NS_BUF_CHANGED);
  }
  /**
   * Sets a slot whole: buffer, len and flags in one call; NS_BUF_CHANGED is added when
   * the buffer differs from the slot's (netmap asks the user to flag a swapped buffer).
   */
  setSlot(slot: number, bufIdx: number, len: number, flags = 0): void {
    const s = this.slotBase + slot * SLOT_WORDS;
    const changed = this.u32[s] !== bufIdx >>> 0 ? NS_BUF_CHANGED : 0;
    this.u32[s] = bufIdx;
    this.u16[2 * s + 2] = len;
    this.u16[2 * s + 3] = flags | changed | (this.u16[2 * s + 3] & NS_BUF_CHANGED);
  }
  /** Byte offset in `mem` of the slot's buffer (buffer 0 if buf_idx is bad). */
  bufOffset(slot: number): number {
    return this.region.bufOffset(this.bufIdx(slot));
  }
  /** A reused view of the slot's whole buffer (netmap's NETMAP_BUF). */
  buf(slot: number): Uint8Array {
    return this.region.buf(this.bufIdx(slot));
  }
  /** A reused view of buffer `idx`. */
  bufByIdx(idx: number): Uint8Array {
    return this.region.buf(idx);
  }
}

/** netmap's nm_ring_next. */
export function ringNext(ring: NetmapRing, i: number): number {
  return ring.next(i);
}
/** netmap's nm_ring_space: slots between head and tail. */
export function ringSpace(ring: NetmapRing): number {
  return ring.space();
}
/** netmap's nm_ring_empty. */
export function ringEmpty(ring: NetmapRing): boolean {
  return ring.empty();
}
