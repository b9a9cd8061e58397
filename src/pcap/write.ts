/**
 * Capture writers: classic pcap (nanosecond magic a1b23c4d, little-endian, 2.4, snaplen
 * 262144, Ethernet) and pcapng (one section, one Ethernet interface with if_tsresol 9, one
 * enhanced packet block per frame). Records are staged in one buffer (1 MiB by default) and
 * handed to a ByteSink when it fills, so a file costs one write call per MiB, not per frame.
 * Byte-level only: the file sink lives in file.ts, MemorySink here serves tests and browsers.
 */
import { invalid, NetmapError } from '../errors.js';
import { LINKTYPE_ETHERNET, MAX_RECORD } from './errors.js';
import { nsToWords } from './timestamp.js';

/** Where a writer's bytes go. `write` must take them all (or throw) before it returns. */
export interface ByteSink {
  /** The name errors carry. */
  readonly name: string;
  /** Takes bytes [offset, offset + length) of `bytes`; they may be reused after the call. */
  write(bytes: Uint8Array, offset: number, length: number): void;
  /** Releases what the sink holds; idempotent. */
  close(): void;
}

/** A sink that accumulates everything in a growable Uint8Array. */
export class MemorySink implements ByteSink {
  /** See ByteSink.name. */
  readonly name: string;
  private buf = new Uint8Array(4096);
  private used = 0;
  /** An empty sink named `name`. */
  constructor(name = 'memory') {
    this.name = name;
  }
  /** See ByteSink.write. */
  write(bytes: Uint8Array, offset: number, length: number): void {
    if (this.used + length > this.buf.length) {
      const bigger = new Uint8Array(Math.max(this.used + length, this.buf.length * 2));
      bigger.set(this.buf.subarray(0, this.used));
      this.buf = bigger;
    }
    this.buf.set(bytes.subarray(offset, offset + length), this.used);
    this.used += length;
  }
  /** What was written so far: a view, valid until the next write. */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.used);
  }
  /** Nothing to release. */
  close(): void {}
}

/** Which format a writer produces. */
export type CaptureWriteFormat = 'pcap' | 'pcapng';

/** Writer options. */
export interface CaptureWriterOptions {
  /** Output format (default 'pcap'; the file helpers choose 'pcapng' for a `.pcapng` path). */
  format?: CaptureWriteFormat;
  /** Staging buffer size in bytes (default 1 MiB; never under one maximal record). */
  bufferSize?: number;
}

/** What both writers offer. */
export interface CaptureWriter {
  /** The format being written. */
  readonly format: CaptureWriteFormat;
  /** Records written so far. */
  readonly records: number;
  /**
   * Appends one frame: bytes [offset, offset + caplen) of `data`, its length on the wire
   * (kept even when larger than caplen; raised to caplen when smaller) and its timestamp.
   * caplen is 1..262144, tsNsec 0..999999999. Throws NetmapError EINVAL for bad arguments,
   * EBADF after close().
   */
  write(data: Uint8Array, offset: number, caplen: number, origLen: number, tsSec: number, tsNsec: number): void;
  /** Hands the staged bytes to the sink. */
  flush(): void;
  /** Flushes and closes the sink; idempotent. */
  close(): void;
}

const SNAPLEN = MAX_RECORD;
const SMALL_COPY = 128; // up to here a 4-byte DataView loop matches set() and allocates nothing

/** Staging, copying and closing, shared by both formats. */
abstract class StagedWriter implements CaptureWriter {
  abstract readonly format: CaptureWriteFormat;
  /** See CaptureWriter.records. */
  records = 0;
  protected readonly stage: Uint8Array;
  protected readonly view: DataView;
  protected used = 0;
  private readonly sink: ByteSink;
  private closed = false;
  private srcArr: Uint8Array | null = null; // the last source array and a DataView over it
  private srcView: DataView | null = null;

  constructor(sink: ByteSink, options: CaptureWriterOptions) {
    this.sink = sink;
    this.stage = new Uint8Array(Math.max(options.bufferSize ?? 1 << 20, MAX_RECORD + 64));
    this.view = new DataView(this.stage.buffer);
  }

  abstract write(data: Uint8Array, offset: number, caplen: number, origLen: number, sec: number, nsec: number): void;

  /** Checks the arguments common to both formats and makes room for one more record (flushing). */
  protected begin(data: Uint8Array, offset: number, caplen: number, sec: number, nsec: number, maxSec: number): void {
    if (this.closed) throw new NetmapError('EBADF', `${this.sink.name}: capture writer is closed`);
    if (
      !(caplen >= 1 && caplen <= MAX_RECORD && (caplen | 0) === caplen && offset >= 0 && Number.isInteger(offset)) ||
      offset + caplen > data.length
    ) {
      throw invalid(
        `${this.sink.name}: frame [${offset}, +${caplen}) must be 1..${MAX_RECORD} bytes inside its ${data.length}-byte buffer`,
      );
    }
    if (!(sec >= 0 && sec <= maxSec && Math.floor(sec) === sec && nsec >= 0 && nsec < 1e9 && (nsec | 0) === nsec)) {
      throw invalid(`${this.sink.name}: timestamp ${sec} s ${nsec} ns is out of range for ${this.format}`);
    }
    if (this.used + caplen + 64 > this.stage.length) this.flush();
  }

  /**
   * Copies a frame into the stage at `at`. No allocation for a whole array (set()) or a frame
   * of up to SMALL_COPY bytes (a 4-byte DataView loop over a view made once per source array).
   * There is no way to copy part of one typed array into another without a view or a loop,
   * and above SMALL_COPY set() over a subarray is 2-5x faster than any loop (measured), so a
   * frame that large pays one short-lived view: the copy itself dominates its cost.
   */
  protected copy(data: Uint8Array, offset: number, len: number, at: number): void {
    const stage = this.stage;
    if (offset === 0 && len === data.length) {
      stage.set(data, at);
    } else if (len <= SMALL_COPY) {
      if (data !== this.srcArr) {
        this.srcArr = data;
        this.srcView = new DataView(data.buffer, data.byteOffset, data.byteLength);
      }
      const src = this.srcView!;
      const dst = this.view;
      let j = 0;
      for (; j + 4 <= len; j += 4) dst.setUint32(at + j, src.getUint32(offset + j));
      for (; j < len; j++) stage[at + j] = data[offset + j];
    } else {
      stage.set(data.subarray(offset, offset + len), at);
    }
  }

  /** See CaptureWriter.flush. */
  flush(): void {
    if (this.used > 0) {
      this.sink.write(this.stage, 0, this.used);
      this.used = 0;
    }
  }

  /** See CaptureWriter.close. */
  close(): void {
    if (this.closed) return;
    try {
      this.flush();
    } finally {
      this.closed = true;
      this.sink.close();
    }
  }
}

/** Classic pcap, nanosecond timestamps, little-endian. The file header is staged at construction. */
export class PcapWriter extends StagedWriter {
  /** Always 'pcap'. */
  readonly format = 'pcap' as const;
  /** Stages the 24-byte file header; nothing reaches the sink before the first flush. */
  constructor(sink: ByteSink, options: CaptureWriterOptions = {}) {
    super(sink, options);
    const v = this.view;
    v.setUint32(0, 0xa1b23c4d, true); // nanosecond magic
    v.setUint16(4, 2, true);
    v.setUint16(6, 4, true);
    v.setInt32(8, 0, true); // thiszone
    v.setUint32(12, 0, true); // sigfigs
    v.setUint32(16, SNAPLEN, true);
    v.setUint32(20, LINKTYPE_ETHERNET, true);
    this.used = 24;
  }

  /** See CaptureWriter.write (tsSec is a 32-bit field here: 0..2^32-1). */
  write(data: Uint8Array, offset: number, caplen: number, origLen: number, tsSec: number, tsNsec: number): void {
    this.begin(data, offset, caplen, tsSec, tsNsec, 0xffffffff);
    const v = this.view;
    const at = this.used;
    v.setUint32(at, tsSec, true);
    v.setUint32(at + 4, tsNsec, true);
    v.setUint32(at + 8, caplen, true);
    v.setUint32(at + 12, Math.max(origLen, caplen), true);
    this.copy(data, offset, caplen, at + 16);
    this.used = at + 16 + caplen;
    this.records++;
  }
}

/** pcapng: a section header, one Ethernet interface in nanoseconds, enhanced packet blocks. */
export class PcapngWriter extends StagedWriter {
  /** Always 'pcapng'. */
  readonly format = 'pcapng' as const;
  private readonly words = { hi: 0, lo: 0 };
  /** Stages the section header and the interface description; nothing reaches the sink before the first flush. */
  constructor(sink: ByteSink, options: CaptureWriterOptions = {}) {
    super(sink, options);
    const v = this.view;
    // Section header block: 28 bytes, section length unknown (-1).
    v.setUint32(0, 0x0a0d0d0a, true);
    v.setUint32(4, 28, true);
    v.setUint32(8, 0x1a2b3c4d, true);
    v.setUint16(12, 1, true);
    v.setUint16(14, 0, true);
    v.setInt32(16, -1, true);
    v.setInt32(20, -1, true);
    v.setUint32(24, 28, true);
    // Interface description block: 32 bytes, if_tsresol = 9 (ns), then opt_endofopt.
    v.setUint32(28, 1, true);
    v.setUint32(32, 32, true);
    v.setUint16(36, LINKTYPE_ETHERNET, true);
    v.setUint16(38, 0, true);
    v.setUint32(40, SNAPLEN, true);
    v.setUint16(44, 9, true);
    v.setUint16(46, 1, true);
    v.setUint32(48, 9, true); // the value byte, then 3 bytes of padding
    v.setUint32(52, 0, true);
    v.setUint32(56, 32, true);
    this.used = 60;
  }

  /** See CaptureWriter.write (tsSec up to 2^34-1, where a 64-bit ns count still fits). */
  write(data: Uint8Array, offset: number, caplen: number, origLen: number, tsSec: number, tsNsec: number): void {
    this.begin(data, offset, caplen, tsSec, tsNsec, 17179869183);
    const v = this.view;
    const at = this.used;
    const padded = (caplen + 3) & ~3;
    const len = 32 + padded;
    nsToWords(tsSec, tsNsec, this.words);
    v.setUint32(at, 6, true);
    v.setUint32(at + 4, len, true);
    v.setUint32(at + 8, 0, true); // interface 0
    v.setUint32(at + 12, this.words.hi, true);
    v.setUint32(at + 16, this.words.lo, true);
    v.setUint32(at + 20, caplen, true);
    v.setUint32(at + 24, Math.max(origLen, caplen), true);
    // Zero the padding first: the stage is reused and would leak an older frame's bytes.
    if (padded !== caplen) v.setUint32(at + 28 + padded - 4, 0, true);
    this.copy(data, offset, caplen, at + 28);
    v.setUint32(at + len - 4, len, true);
    this.used = at + len;
    this.records++;
  }
}

/** A writer of the given format (default classic pcap) over any sink. */
export function createCaptureWriter(sink: ByteSink, options: CaptureWriterOptions = {}): CaptureWriter {
  return options.format === 'pcapng' ? new PcapngWriter(sink, options) : new PcapWriter(sink, options);
}
