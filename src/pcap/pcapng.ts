/**
 * pcapng block parsing: section headers (byte order, which may change from one section to
 * the next), interface descriptions (link type, snaplen, if_tsresol, if_tsoffset), enhanced,
 * simple and obsolete packet blocks; every other block type is stepped over unread.
 *
 * Hazards handled here: a block length that is not a multiple of 4 or under 12 (would stall
 * or misalign the walk), a trailing length that disagrees (a torn file), a packet on an
 * interface the section never defined, and options that overrun their block.
 */
import { LINKTYPE_ETHERNET, MAX_BLOCK, MAX_RECORD, notEthernet, PcapError } from './errors.js';
import type { ByteWindow } from './source.js';
import { type TsUnit, tsUnit, unitsToNs } from './timestamp.js';

/** The block type of a section header; it reads the same in both byte orders. */
export const SHB = 0x0a0d0d0a;
const IDB = 1;
const OPB = 2; // obsolete packet block: old tools still write it and it costs 3 lines
const SPB = 3;
const EPB = 6;
const BOM = 0x1a2b3c4d;
const USEC = tsUnit(6);

/** What a packet block sets; CaptureRecord satisfies it. */
export interface PacketTarget {
  /** The window's buffer. */
  data: Uint8Array;
  /** The frame's index in data. */
  offset: number;
  /** Captured bytes. */
  caplen: number;
  /** Length on the wire (>= caplen). */
  origLen: number;
  /** Seconds since 1970. */
  tsSec: number;
  /** Nanoseconds within the second. */
  tsNsec: number;
  /** Interface within the section. */
  interfaceId: number;
  /** The block's file offset. */
  fileOffset: number;
}

/** Walks the blocks of a pcapng capture held in a ByteWindow. Used by CaptureReader. */
export class PcapngParser {
  /** File offset of the next block. */
  pos = 0;
  private le = true;
  private ifCount = 0;
  private readonly ifLink: number[] = [];
  private readonly ifSnap: number[] = [];
  private readonly ifUnit: TsUnit[] = [];

  /** A parser over `w`, naming `name` in its errors. */
  constructor(
    private readonly w: ByteWindow,
    private readonly name: string,
  ) {}

  private fail(offset: number, what: string): PcapError {
    return new PcapError(this.name, offset, what);
  }

  /** Reads the first section header (the file header); throws PcapError when bad. */
  start(): void {
    this.pos = 0;
    this.sectionHeader(0);
  }

  /** Fills `r` with the next packet and returns true, or returns false at a clean end. */
  next(r: PacketTarget): boolean {
    const w = this.w;
    for (;;) {
      const pos = this.pos;
      let i = pos - w.start;
      if (i < 0 || i + 12 > w.end) {
        const got = w.fill(pos, 12);
        if (got === 0) return false;
        if (got < 12) throw this.fail(pos, `${got} stray bytes after the last block (a block takes at least 12)`);
        i = pos - w.start;
      }
      const type = w.view.getUint32(i, this.le);
      if (type === SHB) {
        this.sectionHeader(pos);
        continue;
      }
      const len = w.view.getUint32(i + 4, this.le);
      if (len < 12 || (len & 3) !== 0) {
        throw this.fail(pos, `block type ${type}: bad total length ${len} (must be a multiple of 4, at least 12)`);
      }
      if (type === EPB || type === OPB || type === SPB) {
        this.packet(pos, type, len, r);
        return true;
      }
      if (type === IDB) this.interface(pos, len);
      else this.skip(pos, type, len); // every loop moves pos on by len >= 12
    }
  }

  /** Section header: byte order and version; a new section forgets the interfaces before it. */
  private sectionHeader(pos: number): void {
    const w = this.w;
    const got = w.fill(pos, 28);
    if (got < 28) throw this.fail(pos, `section header block truncated: ${got} of 28 bytes`);
    const i = pos - w.start;
    const dv = w.view;
    let le: boolean;
    if (dv.getUint32(i + 8, true) === BOM) le = true;
    else if (dv.getUint32(i + 8, false) === BOM) le = false;
    else throw this.fail(pos, `section header: bad byte-order magic 0x${dv.getUint32(i + 8, false).toString(16)}`);
    const len = dv.getUint32(i + 4, le);
    if (len < 28 || (len & 3) !== 0) {
      throw this.fail(pos, `section header: bad total length ${len} (must be a multiple of 4, at least 28)`);
    }
    const major = dv.getUint16(i + 12, le);
    if (major !== 1)
      throw this.fail(pos, `pcapng version ${major}.${dv.getUint16(i + 14, le)} is not supported (1.x is)`);
    this.le = le;
    this.skip(pos, SHB, len); // its options (comment, hardware, OS) are of no use here
    this.ifCount = 0;
  }

  /** Loads a whole block (len <= MAX_BLOCK), checks its trailing length, returns its buf index. */
  private whole(pos: number, type: number, len: number): number {
    const w = this.w;
    let i = pos - w.start;
    if (i < 0 || i + len > w.end) {
      const got = w.fill(pos, len);
      if (got < len) throw this.fail(pos, `block type ${type} truncated: length ${len}, ${got} bytes left in the file`);
      i = pos - w.start;
    }
    const tail = w.view.getUint32(i + len - 4, this.le);
    if (tail !== len) throw this.fail(pos, `block type ${type}: trailing length ${tail} does not match length ${len}`);
    return i;
  }

  /** Steps over a block without loading it (it may be huge), checking only its trailing length. */
  private skip(pos: number, type: number, len: number): void {
    const w = this.w;
    const end = pos + len;
    let i = end - 4 - w.start;
    if (i < 0 || i + 4 > w.end) {
      if (w.fill(end - 4, 4) < 4) {
        throw this.fail(pos, `block type ${type} truncated: length ${len} runs past the end of the file`);
      }
      i = end - 4 - w.start;
    }
    const tail = w.view.getUint32(i, this.le);
    if (tail !== len) throw this.fail(pos, `block type ${type}: trailing length ${tail} does not match length ${len}`);
    this.pos = end;
  }

  /** Interface description: link type, snaplen and the if_tsresol (9) / if_tsoffset (14) options. */
  private interface(pos: number, len: number): void {
    if (len < 20) throw this.fail(pos, `interface description block: length ${len} is under 20`);
    if (len > MAX_BLOCK) throw this.fail(pos, `interface description block: length ${len} is over ${MAX_BLOCK}`);
    const i = this.whole(pos, IDB, len);
    const w = this.w;
    const dv = w.view;
    const le = this.le;
    let resolution = 6;
    let offsetSec = 0;
    const end = i + len - 4;
    for (let o = i + 16; o + 4 <= end; ) {
      const code = dv.getUint16(o, le);
      const olen = dv.getUint16(o + 2, le);
      if (code === 0) break; // opt_endofopt
      if (o + 4 + olen > end) {
        throw this.fail(pos, `interface description block: option ${code} of length ${olen} overruns the block`);
      }
      if (code === 9 && olen >= 1) resolution = w.buf[o + 4];
      else if (code === 14 && olen === 8) {
        offsetSec = dv.getInt32(le ? o + 8 : o + 4, le) * 4294967296 + dv.getUint32(le ? o + 4 : o + 8, le);
      }
      o += 4 + ((olen + 3) & ~3);
    }
    const k = this.ifCount++;
    this.ifLink[k] = dv.getUint16(i + 8, le);
    this.ifSnap[k] = dv.getUint32(i + 12, le);
    this.ifUnit[k] = resolution === 6 && offsetSec === 0 ? USEC : tsUnit(resolution, offsetSec);
    this.pos = pos + len;
  }

  /** Enhanced (6), obsolete (2) and simple (3) packet blocks. */
  private packet(pos: number, type: number, len: number, r: PacketTarget): void {
    const w = this.w;
    const simple = type === SPB;
    const head = simple ? 12 : 28; // fixed fields, block type and length included
    if (len < head + 4) throw this.fail(pos, `packet block type ${type}: length ${len} is under ${head + 4}`);
    let i = pos - w.start;
    if (i < 0 || i + head > w.end) {
      const got = w.fill(pos, head);
      if (got < head) throw this.fail(pos, `packet block type ${type} truncated: ${got} of ${head} bytes`);
      i = pos - w.start;
    }
    let dv = w.view;
    const le = this.le;
    let ifid = 0;
    let caplen: number;
    let orig: number;
    if (simple) {
      if (this.ifCount === 0) throw this.fail(pos, 'simple packet block, but the section defines no interface');
      orig = dv.getUint32(i + 8, le);
      const snap = this.ifSnap[0]; // captured length = min(original length, snaplen of interface 0)
      caplen = snap !== 0 && snap < orig ? snap : orig;
    } else {
      ifid = type === EPB ? dv.getUint32(i + 8, le) : dv.getUint16(i + 8, le);
      if (ifid >= this.ifCount) {
        throw this.fail(pos, `packet on interface ${ifid}, but the section defines ${this.ifCount} interface(s)`);
      }
      caplen = dv.getUint32(i + 20, le);
      orig = dv.getUint32(i + 24, le);
    }
    if (this.ifLink[ifid] !== LINKTYPE_ETHERNET) {
      throw this.fail(pos, `packet on interface ${ifid}: ${notEthernet(this.ifLink[ifid])}`);
    }
    if (caplen === 0) throw this.fail(pos, 'zero-length record (caplen 0)');
    if (caplen > MAX_RECORD) throw this.fail(pos, `record length ${caplen} is over ${MAX_RECORD} (256 KiB)`);
    if (head + caplen + 4 > len) throw this.fail(pos, `caplen ${caplen} does not fit in a block of length ${len}`);
    if (len > MAX_BLOCK) throw this.fail(pos, `packet block length ${len} is over ${MAX_BLOCK} (options too long)`);
    i = this.whole(pos, type, len);
    dv = w.view; // whole() may have grown the buffer
    if (simple) {
      r.tsSec = 0; // a simple packet block has no timestamp
      r.tsNsec = 0;
    } else {
      unitsToNs(dv.getUint32(i + 12, le), dv.getUint32(i + 16, le), this.ifUnit[ifid], r);
    }
    r.data = w.buf;
    r.offset = i + head;
    r.caplen = caplen;
    r.origLen = Math.max(orig, caplen);
    r.interfaceId = ifid;
    r.fileOffset = pos;
    this.pos = pos + len;
  }
}
