/**
 * The capture reader: detects classic pcap or pcapng by the first 4 bytes, parses classic
 * records itself and hands pcapng to PcapngParser, over a ByteWindow of any ByteSource (a
 * capture in memory, or a file read in chunks: see file.ts).
 *
 * Hot-path rules: `next()` returns one reused record whose `data` is the window's buffer (or
 * the caller's bytes, in memory) and `offset` the frame within it: no subarray, no object per
 * record. Every loop advances by at least one record header or one 12-byte block, so bad input
 * ends in a PcapError, never in a hang or a RangeError; the error comes after every good
 * record before it was delivered.
 */
import { LINKTYPE_ETHERNET, MAX_RECORD, notEthernet, PcapError } from './errors.js';
import { PcapngParser, SHB } from './pcapng.js';
import { type ByteSource, BytesSource, ByteWindow, DEFAULT_CHUNK } from './source.js';

/**
 * One packet. The reader reuses this object: every field, and the bytes `data` holds, are
 * valid only until the next call to `next()`, `rewind()` or `close()`.
 */
export class CaptureRecord {
  /** The buffer the frame is in (the reader's, or the caller's bytes for a capture in memory). */
  data: Uint8Array = new Uint8Array(0);
  /** Where the frame starts in `data`. */
  offset = 0;
  /** Bytes captured (always 1..MAX_RECORD). */
  caplen = 0;
  /** Length on the wire; >= caplen (a record cut by the snaplen has caplen < origLen). */
  origLen = 0;
  /** Seconds since 1970. */
  tsSec = 0;
  /** Nanoseconds within the second (0..999999999), whatever the file's resolution. */
  tsNsec = 0;
  /** pcapng interface within the current section; 0 for classic pcap. */
  interfaceId = 0;
  /** Byte offset of the record (pcap) or block (pcapng) in the file. */
  fileOffset = 0;
}

/** Reader tuning. */
export interface CaptureReaderOptions {
  /** Bytes read from a file at a time (default 1 MiB, at least 64); the buffer grows past it only for a record that needs more. */
  chunkSize?: number;
}

/** Which of the two formats a capture is in. */
export type CaptureFormat = 'pcap' | 'pcapng';

const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;
const MAGIC_US_SWAPPED = 0xd4c3b2a1;
const MAGIC_NS_SWAPPED = 0x4d3cb2a1;

/** Reads Ethernet records from a classic pcap or a pcapng capture, one at a time. */
export class CaptureReader {
  private fmt: CaptureFormat = 'pcap';
  /** The name errors carry. */
  readonly name: string;
  private readonly source: ByteSource;
  private readonly w: ByteWindow;
  private readonly ng: PcapngParser;
  private readonly record = new CaptureRecord();
  private pos = 0; // classic pcap: file offset of the next record
  private le = true;
  private nano = false; // classic pcap: the fraction is ns (else µs)
  private failure: PcapError | null = null;
  private closed = false;

  /** The capture's format, from its first 4 bytes. */
  get format(): CaptureFormat {
    return this.fmt;
  }

  /** Opens a capture: reads and checks its file header (throws PcapError when bad). */
  constructor(source: ByteSource, options: CaptureReaderOptions = {}) {
    this.source = source;
    this.name = source.name;
    this.w = new ByteWindow(source, options.chunkSize ?? DEFAULT_CHUNK);
    this.ng = new PcapngParser(this.w, source.name);
    this.start();
  }

  /**
   * The next record, or null at a clean end of the capture (and again on every later call).
   * Throws PcapError at bad input, after every good record before it; the same error again
   * on later calls, until rewind().
   */
  next(): CaptureRecord | null {
    if (this.failure) throw this.failure;
    if (this.closed) throw new PcapError(this.name, this.pos, 'reader is closed');
    try {
      if (this.fmt === 'pcap') return this.nextRecord();
      return this.ng.next(this.record) ? this.record : null;
    } catch (e) {
      if (e instanceof PcapError) this.failure = e;
      throw e;
    }
  }

  /** Starts again from the first record (for replay loops); clears an earlier error. Positional reads: no reopen. */
  rewind(): void {
    if (this.closed) throw new PcapError(this.name, 0, 'reader is closed');
    this.failure = null;
    this.start();
  }

  /** Closes the source; idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.source.close();
  }

  private fail(offset: number, what: string): PcapError {
    return new PcapError(this.name, offset, what);
  }

  /** Detects the format by the first 4 bytes and checks the file header. */
  private start(): void {
    const w = this.w;
    const got = w.fill(0, 4);
    if (got === 0) throw this.fail(0, 'file is empty: no pcap or pcapng header');
    if (got < 4) throw this.fail(0, `file header truncated: ${got} bytes`);
    const magic = w.view.getUint32(-w.start, false);
    if (magic === SHB) {
      this.fmt = 'pcapng';
      this.ng.start();
      return;
    }
    this.fmt = 'pcap';
    if (magic === MAGIC_US || magic === MAGIC_NS) this.le = false;
    else if (magic === MAGIC_US_SWAPPED || magic === MAGIC_NS_SWAPPED) this.le = true;
    else throw this.fail(0, badMagic(magic));
    this.nano = magic === MAGIC_NS || magic === MAGIC_NS_SWAPPED;
    const got24 = w.fill(0, 24);
    if (got24 < 24) throw this.fail(0, `pcap file header truncated: ${got24} of 24 bytes`);
    const i = -w.start;
    const major = w.view.getUint16(i + 4, this.le);
    if (major !== 2) {
      throw this.fail(0, `pcap version ${major}.${w.view.getUint16(i + 6, this.le)} is not supported (2.x is)`);
    }
    // The top bits of the link-type word carry FCS information (libpcap's LT_LINKTYPE mask).
    const link = w.view.getUint32(i + 20, this.le) & 0x03ffffff;
    if (link !== LINKTYPE_ETHERNET) throw this.fail(0, notEthernet(link));
    this.pos = 24;
  }

  /** Classic pcap: a 16-byte header (ts_sec, ts_usec or ts_nsec, caplen, origlen), then the frame. */
  private nextRecord(): CaptureRecord | null {
    const w = this.w;
    const pos = this.pos;
    let i = pos - w.start;
    if (i < 0 || i + 16 > w.end) {
      const got = w.fill(pos, 16);
      if (got === 0) return null;
      if (got < 16) throw this.fail(pos, `record header truncated: ${got} of 16 bytes`);
      i = pos - w.start;
    }
    const dv = w.view;
    const le = this.le;
    let sec = dv.getUint32(i, le);
    let frac = dv.getUint32(i + 4, le);
    const caplen = dv.getUint32(i + 8, le);
    const orig = dv.getUint32(i + 12, le);
    if (caplen === 0) throw this.fail(pos, 'zero-length record (caplen 0)');
    if (caplen > MAX_RECORD) throw this.fail(pos, `record length ${caplen} is over ${MAX_RECORD} (256 KiB)`);
    if (i + 16 + caplen > w.end) {
      const got = w.fill(pos, 16 + caplen);
      if (got < 16 + caplen) {
        throw this.fail(pos, `record truncated: caplen ${caplen}, ${got - 16} bytes left in the file`);
      }
      i = pos - w.start;
    }
    // A fraction of a whole second or more is malformed but harmless: carry it into the seconds.
    const unit = this.nano ? 1e9 : 1e6;
    if (frac >= unit) {
      sec += Math.floor(frac / unit);
      frac %= unit;
    }
    const r = this.record;
    r.data = w.buf;
    r.offset = i + 16;
    r.caplen = caplen;
    r.origLen = Math.max(orig, caplen);
    r.tsSec = sec;
    r.tsNsec = this.nano ? frac : frac * 1000;
    r.interfaceId = 0;
    r.fileOffset = pos;
    this.pos = pos + 16 + caplen;
    return r;
  }
}

/** What the first 4 bytes looked like, for the bad-magic message. */
function badMagic(magic: number): string {
  if (magic === 0xa1b2cd34 || magic === 0x34cdb2a1) return 'modified (Kuznetzov) pcap is not supported';
  const swapped = (((magic & 0xff) << 24) | ((magic & 0xff00) << 8) | ((magic >>> 8) & 0xff00) | (magic >>> 24)) >>> 0;
  for (const t of [1, 2, 3, 4, 5, 6]) {
    if (magic === t || swapped === t) return `pcapng block type ${t} before any section header block`;
  }
  const seen = magic.toString(16).padStart(8, '0');
  return `bad magic 0x${seen}: not a pcap (a1b2c3d4, a1b23c4d) or pcapng (0a0d0d0a) file`;
}

/** A reader over a capture held in memory (parsed in place: the bytes must not change while it reads). */
export function readCaptureBytes(bytes: Uint8Array, name = 'memory', options?: CaptureReaderOptions): CaptureReader {
  return new CaptureReader(new BytesSource(bytes, name), options);
}
