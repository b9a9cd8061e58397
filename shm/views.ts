/**
 * Typed-array views over a region, made once per thread and shared by every ring of
 * the region. Slots and payload are plain accesses; header words go through Atomics.
 */
import { Geometry } from './geometry.js';
import { RESERVED_BUFS } from './layout.js';

/** Size classes of bufHead views: 64, 128, ... 2048 bytes. */
export const HEAD_CLASSES = 6;

/** Bytes the largest bufHead view covers: longer frames need copyPastHead too. */
export const HEAD_MAX = 64 << (HEAD_CLASSES - 1);

/** The bufHead size class that holds `len` bytes. */
export function headClass(len: number): number {
  let c = 0;
  while (64 << c < len && c < HEAD_CLASSES - 1) c++;
  return c;
}

/** The typed-array views over one region, made once per thread and shared by every ring of the region. */
export class RegionViews {
  readonly sab: SharedArrayBuffer;
  /** Header words (Atomics) and, on hot paths, slot words: V8 keeps int32 loads unboxed. */
  readonly i32: Int32Array;
  readonly u32: Uint32Array;
  readonly u16: Uint16Array;
  readonly u8: Uint8Array;
  readonly geometry: Geometry;
  readonly numRings: number;
  readonly numSlots: number;
  readonly bufSize: number;
  readonly numBufs: number;
  readonly bufsOfs: number;
  readonly ringsOfs: number;
  readonly numIfs: number;
  private readonly bufViews: Array<Uint8Array | undefined>;
  private readonly headViews: Array<Uint8Array | undefined>;

  /** Views of `sab` laid out as `geometry` says (which must describe exactly this many bytes). */
  constructor(sab: SharedArrayBuffer, geometry: Geometry) {
    if (!(sab instanceof SharedArrayBuffer)) throw new TypeError('a region is a SharedArrayBuffer');
    if (geometry.totalBytes !== sab.byteLength) throw new TypeError('region size does not match its geometry');
    this.sab = sab;
    this.geometry = geometry;
    this.i32 = new Int32Array(sab);
    this.u32 = new Uint32Array(sab);
    this.u16 = new Uint16Array(sab);
    this.u8 = new Uint8Array(sab);
    this.numRings = geometry.numRings;
    this.numSlots = geometry.numSlots;
    this.bufSize = geometry.bufSize;
    this.numBufs = geometry.numBufs;
    this.bufsOfs = geometry.bufsOfs;
    this.ringsOfs = geometry.ringsOfs;
    this.numIfs = geometry.numIfs;
    this.bufViews = new Array(this.numBufs);
    this.headViews = new Array(this.numBufs * HEAD_CLASSES);
  }

  /** The kernel's views: the geometry comes from kernel memory, never from the region. */
  static kernel(mem: SharedArrayBuffer, kmem: SharedArrayBuffer): RegionViews {
    return new RegionViews(mem, Geometry.readKernel(kmem));
  }
  /** The user's views (an app, a guest): the geometry the region's header shows. */
  static user(mem: SharedArrayBuffer): RegionViews {
    return new RegionViews(mem, Geometry.readUser(mem));
  }

  /** Word index of ring `id`'s header in `i32`. */
  ringWordBase(id: number): number {
    return this.geometry.ringWordBase(id);
  }
  /** Word index of ring `id`'s slot 0 in `u32` (the u16 index is twice this). */
  slotWordBase(id: number): number {
    return this.geometry.slotWordBase(id);
  }
  /** Byte offset of buffer `idx`; a bad index maps to buffer 0, as in netmap. */
  bufOffset(idx: number): number {
    return this.bufsOfs + (idx >>> 0 < this.numBufs ? idx : 0) * this.bufSize;
  }
  /** A view of one whole buffer, made on first use and then reused. */
  buf(idx: number): Uint8Array {
    const i = idx >>> 0 < this.numBufs ? idx : 0;
    let v = this.bufViews[i];
    if (v === undefined) {
      v = new Uint8Array(this.sab, this.bufsOfs + i * this.bufSize, this.bufSize);
      this.bufViews[i] = v;
    }
    return v;
  }
  /**
   * A reused view of the first 64 << cls bytes of buffer `idx` (cls 0..5, clamped to
   * the buffer): copies between regions use set() on two such views, the size class
   * just above the frame, so a 60-byte frame moves 64 bytes, not a whole buffer.
   */
  bufHead(idx: number, cls: number): Uint8Array {
    const i = idx >>> 0 < this.numBufs ? idx : 0;
    const k = i * HEAD_CLASSES + cls;
    let v = this.headViews[k];
    if (v === undefined) {
      v = new Uint8Array(this.sab, this.bufsOfs + i * this.bufSize, Math.min(64 << cls, this.bufSize));
      this.headViews[k] = v;
    }
    return v;
  }
  /** True when `idx` names a buffer a slot may carry (not reserved, in range). */
  validBuf(idx: number): boolean {
    return Number.isInteger(idx) && idx >= RESERVED_BUFS && idx < this.numBufs;
  }

  /** The ring ids interface `i` sees. */
  ifRings(i: number): { tx: number[]; rx: number[] } {
    if (!(Number.isInteger(i) && i >= 0 && i < this.numIfs)) throw new RangeError(`no interface ${i} in this region`);
    const f = this.geometry.ifs[i];
    return { tx: [...f.tx], rx: [...f.rx] };
  }
}

/**
 * Frames up to this many bytes are copied in unrolled 64-byte blocks of words: set() has
 * a fixed cost that a block copy does not. Whole VALE path, one thread, batch 256 (2-core
 * EPYC, Node 20): 60 B 45 vs 57 ns a packet, 128 B 49 vs 60, 192 B 62 vs 72, 256 B equal
 * (70), 512 B set() wins (85 vs 115).
 */
export const WORD_COPY_MAX = 192;

/**
 * Copies frame `len` bytes from buffer `s` of `src` into buffer `d` of `dst` (regions with
 * the same buffer size; `len` at most that size). Bytes past `len` up to the next word or
 * size class may be copied too: the destination buffer is the caller's until published.
 * A bad index maps to buffer 0, as everywhere else.
 */
export function copyFrame(src: RegionViews, s: number, dst: RegionViews, d: number, len: number): void {
  if (len <= WORD_COPY_MAX) {
    const si = src.i32;
    const di = dst.i32;
    const sw = src.bufOffset(s) >> 2;
    const dw = dst.bufOffset(d) >> 2;
    // Unrolled 64-byte blocks: no per-word loop test. Buffers are whole blocks long, so
    // the block past len stays inside the buffer.
    for (let w = 0, end = (len + 3) >> 2; w < end; w += 16) {
      const a = sw + w;
      const b = dw + w;
      di[b] = si[a];
      di[b + 1] = si[a + 1];
      di[b + 2] = si[a + 2];
      di[b + 3] = si[a + 3];
      di[b + 4] = si[a + 4];
      di[b + 5] = si[a + 5];
      di[b + 6] = si[a + 6];
      di[b + 7] = si[a + 7];
      di[b + 8] = si[a + 8];
      di[b + 9] = si[a + 9];
      di[b + 10] = si[a + 10];
      di[b + 11] = si[a + 11];
      di[b + 12] = si[a + 12];
      di[b + 13] = si[a + 13];
      di[b + 14] = si[a + 14];
      di[b + 15] = si[a + 15];
    }
    return;
  }
  const cls = headClass(len);
  dst.bufHead(d, cls).set(src.bufHead(s, cls));
  if (len > HEAD_MAX) copyPastHead(src, s, dst, d, len);
}

/**
 * Copies the bytes of a frame past the largest head view between two regions with the
 * same buffer size (buffers over 2048 bytes): the whole buffer with set() when the frame
 * fills most of it, else the rest word by word. Buffers are 64-byte aligned.
 */
export function copyPastHead(src: RegionViews, s: number, dst: RegionViews, d: number, len: number): void {
  if (2 * len >= src.bufSize) {
    dst.buf(d).set(src.buf(s));
    return;
  }
  const si = src.i32;
  const di = dst.i32;
  const sw = src.bufOffset(s) >> 2;
  const dw = dst.bufOffset(d) >> 2;
  for (let w = HEAD_MAX >> 2, end = (len + 3) >> 2; w < end; w++) di[dw + w] = si[sw + w];
}
