/**
 * Byte sources and the reader's sliding window over one. The window is what lets a capture
 * larger than memory replay: it holds one chunk, keeps the unread tail when it moves on, and
 * grows only when a single record needs more than a chunk. Byte-level only (no Node imports):
 * the file source lives in file.ts.
 */
import { MAX_BLOCK } from './errors.js';

/**
 * Where a reader gets its bytes. `read` copies up to `length` bytes from file offset
 * `position` into `dst` at `dstOffset` and returns how many it copied (0 at the end). A source
 * that holds the whole capture exposes it as `bytes`, and the reader then parses it in place.
 */
export interface ByteSource {
  /** The name errors carry: a path, or what the caller called the bytes. */
  readonly name: string;
  /** The whole capture, when it is already in memory (read in place, never copied). */
  readonly bytes?: Uint8Array;
  /** Positional read: never depends on an earlier call, which is what makes rewind() free. */
  read(dst: Uint8Array, dstOffset: number, length: number, position: number): number;
  /** Releases what the source holds (a file descriptor); idempotent. */
  close(): void;
}

/** A capture already in memory. */
export class BytesSource implements ByteSource {
  /** See ByteSource.name. */
  readonly name: string;
  /** See ByteSource.bytes. */
  readonly bytes: Uint8Array;
  /** Wraps `bytes` (not copied), naming them `name` in errors. */
  constructor(bytes: Uint8Array, name = 'memory') {
    this.bytes = bytes;
    this.name = name;
  }
  /** See ByteSource.read (a copy; the reader does not call it, it reads `bytes` in place). */
  read(dst: Uint8Array, dstOffset: number, length: number, position: number): number {
    const n = Math.max(0, Math.min(length, this.bytes.length - position));
    if (n > 0) dst.set(this.bytes.subarray(position, position + n), dstOffset);
    return n;
  }
  /** Nothing to release. */
  close(): void {}
}

/** The default number of bytes read from a file at a time. */
export const DEFAULT_CHUNK = 1 << 20;

/**
 * A window of the capture: bytes [start, start + end) of the file are in buf[0, end).
 * Parsers test `pos - start + n <= end` inline and call fill() only when that fails, so the
 * common case costs two compares. Hazard: fill() may replace `buf` and `view` (growth) and
 * moves bytes within buf (compaction); indexes and views taken before it are stale after it.
 */
export class ByteWindow {
  /** The buffer (the source's own bytes for a capture in memory). */
  buf: Uint8Array;
  /** A DataView over all of buf. */
  view: DataView;
  /** File offset of buf[0]. */
  start = 0;
  /** How many bytes of buf are valid. */
  end = 0;
  private readonly source: ByteSource;
  private readonly inMemory: boolean;

  /** A window over `source`: its bytes in place when in memory, else a buffer of chunkSize (at least 64). */
  constructor(source: ByteSource, chunkSize = DEFAULT_CHUNK) {
    this.source = source;
    if (source.bytes) {
      this.inMemory = true;
      this.buf = source.bytes;
      this.end = source.bytes.length;
    } else {
      this.inMemory = false;
      this.buf = new Uint8Array(Math.max(64, Math.floor(chunkSize)));
    }
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  /**
   * Makes bytes [pos, pos + n) available at buf index pos - start and returns how many are
   * (fewer than n only at the end of the capture). n is at most MAX_BLOCK by the callers.
   */
  fill(pos: number, n: number): number {
    if (this.inMemory) return Math.max(0, Math.min(n, this.end - pos));
    const i = pos - this.start;
    if (i >= 0 && i <= this.end) {
      // Keep the unread tail: it is at most one record, so this copy is cheap.
      if (i > 0) this.buf.copyWithin(0, i, this.end);
      this.end -= i;
    } else {
      this.end = 0; // a jump (rewind, a skipped block): nothing in the window is useful
    }
    this.start = pos;
    if (n > this.buf.length) {
      const bigger = new Uint8Array(Math.max(n, Math.min(this.buf.length * 2, MAX_BLOCK)));
      bigger.set(this.buf.subarray(0, this.end));
      this.buf = bigger;
      this.view = new DataView(bigger.buffer);
    }
    // Read a whole chunk, not just n: the next records are then already here.
    while (this.end < n) {
      const got = this.source.read(this.buf, this.end, this.buf.length - this.end, pos + this.end);
      if (got <= 0) break;
      this.end += got;
    }
    return Math.min(n, this.end);
  }
}
