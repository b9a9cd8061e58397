/**
 * Far ends of a wire with no memory of their own: a generator (one template, a sequence
 * number) and a counter. Nothing here allocates per frame.
 */
import { copyBytes } from './nic-ends.js';
import type { WireSink, WireSource } from './wire.js';

/** Frames a generator makes: one template, a sequence number at `seqOffset` (-1: none). */
export interface GenSpec {
  frame: Uint8Array;
  /** Byte offset of a little-endian 32-bit sequence number, or -1. */
  seqOffset: number;
  /** Frames to make before the source ends (0: no end). */
  count: number;
}

/** A wire source that generates frames from a template (GenSpec), numbering them if asked, until its count. */
export class GenSource implements WireSource {
  private seq = 0;
  private readonly frame: Uint8Array;
  private readonly fi: Int32Array;
  private readonly len: number;
  private readonly count: number;
  private readonly seqOffset: number;
  constructor(spec: GenSpec) {
    this.len = spec.frame.length;
    this.count = spec.count;
    this.seqOffset = spec.seqOffset;
    // A word-aligned copy of the template, on shared memory like the buffers it is copied
    // into (the copy then sees one kind of array: a plain ArrayBuffer template measured half
    // again per frame), and at least 64 bytes: a small frame is copied as 16 words (buffers
    // are whole 64-byte blocks, so the bytes past the frame land inside the buffer).
    const padded = new Uint8Array(new SharedArrayBuffer(Math.max(64, (spec.frame.length + 3) & ~3)));
    padded.set(spec.frame);
    this.frame = padded;
    this.fi = new Int32Array(padded.buffer);
  }
  next(): number {
    return this.count > 0 && this.seq >= this.count ? -2 : this.len;
  }
  read(dst: Uint8Array, di: Int32Array, off: number, from: number, len: number): void {
    const fi = this.fi;
    if (from === 0 && len <= 64 && (off & 3) === 0) {
      // The common case, a small frame into a buffer: 16 word stores, no loop.
      const d = off >> 2;
      di[d] = fi[0];
      di[d + 1] = fi[1];
      di[d + 2] = fi[2];
      di[d + 3] = fi[3];
      di[d + 4] = fi[4];
      di[d + 5] = fi[5];
      di[d + 6] = fi[6];
      di[d + 7] = fi[7];
      di[d + 8] = fi[8];
      di[d + 9] = fi[9];
      di[d + 10] = fi[10];
      di[d + 11] = fi[11];
      di[d + 12] = fi[12];
      di[d + 13] = fi[13];
      di[d + 14] = fi[14];
      di[d + 15] = fi[15];
    } else {
      copyBytes(this.frame, fi, from, dst, di, off, len);
    }
    const s = this.seqOffset;
    if (s >= from && s + 4 <= from + len) {
      const q = this.seq;
      const p = off + s - from;
      // Little-endian words (every platform Node runs on here): one store when aligned.
      if ((p & 3) === 0) {
        di[p >> 2] = q;
        return;
      }
      dst[p] = q & 0xff;
      dst[p + 1] = (q >>> 8) & 0xff;
      dst[p + 2] = (q >>> 16) & 0xff;
      dst[p + 3] = q >>> 24;
    }
  }
  origLen(): number {
    return this.len;
  }
  done(): void {
    this.seq++;
  }
  publish(): void {}
}

/** A sink that takes every frame and keeps nothing (the lane counts them). */
export class CountSink implements WireSink {
  room(): boolean {
    return true;
  }
  put(): void {}
  publish(): void {}
}
