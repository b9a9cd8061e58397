/**
 * pcap / pcapng reader and writers: both classic magics in both byte orders, pcapng sections,
 * interfaces, resolutions and block kinds, every bad-input case (each after the good records
 * before it, with the right offset), streaming a file through a small chunk, rewind, writer
 * round trips as seeded properties, and tcpdump reading what we write. Captures are built by
 * hand with the small byte builders below.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { NetmapError } from '../src/errors.js';
import {
  type CaptureReader,
  createCapture,
  createCaptureWriter,
  MemorySink,
  openCapture,
  PcapError,
  PcapngWriter,
  PcapWriter,
  readCaptureBytes,
  tsUnit,
  unitsToNs,
} from '../src/pcap/index.js';

// ---- byte builders -------------------------------------------------------------------------

/** A little growable byte writer in one byte order. */
class W {
  private buf = new Uint8Array(64);
  private n = 0;
  constructor(readonly le: boolean) {}
  private room(k: number): DataView {
    if (this.n + k > this.buf.length) {
      const b = new Uint8Array(Math.max(this.n + k, this.buf.length * 2));
      b.set(this.buf.subarray(0, this.n));
      this.buf = b;
    }
    return new DataView(this.buf.buffer);
  }
  u8(v: number): this {
    this.room(1).setUint8(this.n++, v);
    return this;
  }
  u16(v: number): this {
    this.room(2).setUint16(this.n, v, this.le);
    this.n += 2;
    return this;
  }
  u32(v: number): this {
    this.room(4).setUint32(this.n, v >>> 0, this.le);
    this.n += 4;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
    return this;
  }
  pad4(): this {
    while (this.n % 4) this.u8(0);
    return this;
  }
  out(): Uint8Array {
    return this.buf.slice(0, this.n);
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A recognisable frame: bytes depend on the seed, ethertype 0x88b5 (local experimental). */
function frame(len: number, seed = 1): Uint8Array {
  const f = new Uint8Array(len);
  let x = seed * 2654435761;
  for (let i = 0; i < len; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    f[i] = x >>> 24;
  }
  if (len >= 14) {
    f[12] = 0x88;
    f[13] = 0xb5;
  }
  return f;
}

function pcapHeader(le: boolean, nano: boolean, o: { link?: number; snaplen?: number; major?: number } = {}) {
  const w = new W(le)
    .u32(nano ? 0xa1b23c4d : 0xa1b2c3d4)
    .u16(o.major ?? 2)
    .u16(4);
  return w
    .u32(0)
    .u32(0)
    .u32(o.snaplen ?? 65535)
    .u32(o.link ?? 1)
    .out();
}

function pcapRecord(
  le: boolean,
  sec: number,
  frac: number,
  data: Uint8Array,
  origLen = data.length,
  caplen = data.length,
) {
  return new W(le).u32(sec).u32(frac).u32(caplen).u32(origLen).bytes(data).out();
}

/** A pcapng block: type, total length, body padded to 4, total length again. */
function block(le: boolean, type: number, body: Uint8Array, lenOverride?: number, tailOverride?: number) {
  const len = 12 + ((body.length + 3) & ~3);
  return new W(le)
    .u32(type)
    .u32(lenOverride ?? len)
    .bytes(body)
    .pad4()
    .u32(tailOverride ?? lenOverride ?? len)
    .out();
}

function shb(le: boolean, major = 1) {
  return block(le, 0x0a0d0d0a, new W(le).u32(0x1a2b3c4d).u16(major).u16(0).u32(0xffffffff).u32(0xffffffff).out());
}

type Opt = [code: number, value: Uint8Array];
function idb(le: boolean, link: number, snaplen: number, opts: Opt[] = []) {
  const w = new W(le).u16(link).u16(0).u32(snaplen);
  for (const [code, value] of opts) w.u16(code).u16(value.length).bytes(value).pad4();
  if (opts.length) w.u16(0).u16(0);
  return block(le, 1, w.out());
}
const tsresol = (v: number): Opt => [9, Uint8Array.of(v)];

function epb(le: boolean, ifid: number, ts: bigint, data: Uint8Array, origLen = data.length) {
  const w = new W(le)
    .u32(ifid)
    .u32(Number(ts >> 32n))
    .u32(Number(ts & 0xffffffffn));
  return block(le, 6, w.u32(data.length).u32(origLen).bytes(data).out());
}

function spb(le: boolean, origLen: number, data: Uint8Array) {
  return block(le, 3, new W(le).u32(origLen).bytes(data).out());
}

// ---- reading helpers ----------------------------------------------------------------------

interface Rec {
  caplen: number;
  origLen: number;
  tsSec: number;
  tsNsec: number;
  interfaceId: number;
  fileOffset: number;
  /** The frame as base64: deep equality on big Uint8Arrays is slow in vitest, on strings it is not. */
  bytes: string;
}

const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64');

function drain(r: CaptureReader, out: Rec[] = []): Rec[] {
  for (let rec = r.next(); rec; rec = r.next()) {
    const { caplen, origLen, tsSec, tsNsec, interfaceId, fileOffset } = rec;
    const bytes = b64(rec.data.subarray(rec.offset, rec.offset + caplen));
    out.push({ caplen, origLen, tsSec, tsNsec, interfaceId, fileOffset, bytes });
  }
  return out;
}

/** Reads everything it can; returns the records delivered and the error that stopped it, if any. */
function readAll(bytes: Uint8Array, name = 'test.pcap'): { records: Rec[]; error: unknown } {
  const records: Rec[] = [];
  try {
    drain(readCaptureBytes(bytes, name), records);
    return { records, error: null };
  } catch (error) {
    return { records, error };
  }
}

function expectPcapError(error: unknown, offset: number, text: RegExp | string): PcapError {
  expect(error).toBeInstanceOf(PcapError);
  expect(error).toBeInstanceOf(NetmapError);
  const e = error as PcapError;
  expect(e.code).toBe('EINVAL');
  expect(e.offset).toBe(offset);
  expect(e.message).toMatch(text);
  expect(e.message).toContain(`byte ${offset}: `);
  expect(e.message).not.toContain('\n');
  return e;
}

const tmp = mkdtempSync(join(tmpdir(), 'sabnetmap-pcap-'));
chmodSync(tmp, 0o755); // tcpdump run as root drops to its own user: it must be able to read these
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const US = 1_000_000n;
const NS = 1_000_000_000n;

// ---- classic pcap --------------------------------------------------------------------------

describe('classic pcap', () => {
  it.each([
    ['µs little-endian', true, false],
    ['µs big-endian', false, false],
    ['ns little-endian', true, true],
    ['ns big-endian', false, true],
  ])('%s: frames, lengths, ns timestamps and file offsets', (_, le, nano) => {
    const a = frame(60, 1);
    const b = frame(1514, 2);
    const bytes = concat(
      pcapHeader(le, nano),
      pcapRecord(le, 1700000000, nano ? 123456789 : 123456, a),
      pcapRecord(le, 1700000001, nano ? 999999999 : 999999, b),
    );
    const { records, error } = readAll(bytes);
    expect(error).toBeNull();
    expect(records).toEqual([
      {
        caplen: 60,
        origLen: 60,
        tsSec: 1700000000,
        tsNsec: nano ? 123456789 : 123456000,
        interfaceId: 0,
        fileOffset: 24,
        bytes: b64(a),
      },
      {
        caplen: 1514,
        origLen: 1514,
        tsSec: 1700000001,
        tsNsec: nano ? 999999999 : 999999000,
        interfaceId: 0,
        fileOffset: 100,
        bytes: b64(b),
      },
    ]);
  });

  it('a record cut by the snaplen keeps both lengths', () => {
    const bytes = concat(pcapHeader(true, false, { snaplen: 96 }), pcapRecord(true, 1, 0, frame(96), 1514));
    const { records } = readAll(bytes);
    expect(records[0]).toMatchObject({ caplen: 96, origLen: 1514 });
  });

  it('caplen over origLen is tolerated: origLen is raised to caplen', () => {
    const { records, error } = readAll(concat(pcapHeader(true, false), pcapRecord(true, 1, 0, frame(80), 60)));
    expect(error).toBeNull();
    expect(records[0]).toMatchObject({ caplen: 80, origLen: 80 });
  });

  it('reuses one record object and points into the bytes in memory (no copy, no subarray)', () => {
    const bytes = concat(pcapHeader(true, false), pcapRecord(true, 1, 0, frame(60)), pcapRecord(true, 2, 0, frame(70)));
    const r = readCaptureBytes(bytes);
    const first = r.next()!;
    expect(first.data).toBe(bytes);
    expect(first.offset).toBe(40);
    expect(r.next()).toBe(first);
    expect(r.next()).toBeNull();
    expect(r.next()).toBeNull();
  });

  it('refuses a non-Ethernet link type, naming it', () => {
    const { error } = readAll(concat(pcapHeader(true, false, { link: 113 }), pcapRecord(true, 1, 0, frame(60))));
    expectPcapError(error, 0, /link type 113 \(LINUX_SLL\) is not Ethernet/);
  });

  it.each([
    [0, 'NULL'],
    [101, 'RAW'],
    [127, 'IEEE802_11_RADIOTAP'],
    [276, 'LINUX_SLL2'],
  ])('names link type %i as %s', (link, name) => {
    const { error } = readAll(pcapHeader(false, true, { link }));
    expectPcapError(error, 0, `link type ${link} (${name})`);
  });
});

// ---- pcapng --------------------------------------------------------------------------------

describe('pcapng', () => {
  it.each([
    ['little-endian', true],
    ['big-endian', false],
  ])('%s: interfaces in µs (default), ns and 2^-20 s each convert to ns', (_, le) => {
    const a = frame(60, 3);
    const b = frame(100, 4);
    const c = frame(1500, 5);
    const bytes = concat(
      shb(le),
      idb(le, 1, 0),
      idb(le, 1, 65535, [tsresol(9)]),
      idb(le, 1, 262144, [tsresol(0x80 | 20)]),
      epb(le, 0, 1700000000n * US + 654321n, a),
      epb(le, 1, 1700000000n * NS + 987654321n, b, 1000),
      epb(le, 2, (1700000002n << 20n) + (1n << 19n) + 1n, c),
    );
    const { records, error } = readAll(bytes, 'x.pcapng');
    expect(error).toBeNull();
    expect(records.map((r) => [r.interfaceId, r.tsSec, r.tsNsec, r.caplen, r.origLen])).toEqual([
      [0, 1700000000, 654321000, 60, 60],
      [1, 1700000000, 987654321, 100, 1000],
      [2, 1700000002, 500000954, 1500, 1500], // (2^19 + 1) / 2^20 s = 500000953.67 ns
    ]);
    expect(records.map((r) => r.bytes)).toEqual([a, b, c].map(b64));
    expect(records[0].fileOffset).toBe(28 + 20 + 32 + 32); // SHB, IDB, two IDBs with an option
  });

  it('two sections in different byte orders, the second forgetting the first one’s interfaces', () => {
    const a = frame(64, 6);
    const b = frame(65, 7);
    const second = concat(shb(false), idb(false, 1, 0, [tsresol(3)]), epb(false, 0, 5_001n, b));
    const bytes = concat(shb(true), idb(true, 1, 0), idb(true, 1, 0), epb(true, 1, 7_000_002n, a), second);
    const { records, error } = readAll(bytes);
    expect(error).toBeNull();
    expect(records.map((r) => [r.interfaceId, r.tsSec, r.tsNsec, r.caplen])).toEqual([
      [1, 7, 2000, 64],
      [0, 5, 1000000, 65],
    ]);
    expect(records[1].bytes).toBe(b64(b));
    // Interface 1 of the first section does not exist in the second one.
    const stale = concat(bytes, epb(false, 1, 0n, a));
    expectPcapError(readAll(stale).error, bytes.length, /interface 1, but the section defines 1 interface/);
  });

  it('simple packet blocks: caplen is min(origLen, snaplen of interface 0), no timestamp', () => {
    const le = true;
    const cut = frame(64, 8);
    const whole = frame(50, 9);
    const bytes = concat(shb(le), idb(le, 1, 64), spb(le, 100, cut), spb(le, 50, whole));
    const { records, error } = readAll(bytes);
    expect(error).toBeNull();
    expect(records.map((r) => [r.caplen, r.origLen, r.tsSec, r.tsNsec, r.interfaceId])).toEqual([
      [64, 100, 0, 0, 0],
      [50, 50, 0, 0, 0],
    ]);
    expect(records.map((r) => r.bytes)).toEqual([cut, whole].map(b64));
  });

  it('unknown blocks and options are skipped', () => {
    const le = false;
    const a = frame(60, 10);
    const opts: Opt[] = [[2, new TextEncoder().encode('eth0')], [12, new Uint8Array(13)], tsresol(9)];
    const bytes = concat(
      shb(le),
      block(le, 0x0bad, new Uint8Array(40)),
      idb(le, 1, 0, opts),
      block(le, 4, new Uint8Array(8)), // name resolution
      epb(le, 0, 3n * NS + 4n, a),
      block(le, 5, new Uint8Array(20)), // interface statistics
      block(le, 0x40000bad, new Uint8Array(0)),
    );
    const { records, error } = readAll(bytes);
    expect(error).toBeNull();
    expect(records.map((r) => [r.tsSec, r.tsNsec, r.caplen])).toEqual([[3, 4, 60]]);
  });

  it('an interface of another link type is fine until a packet arrives on it, then refused by name', () => {
    const le = true;
    const bytes = concat(shb(le), idb(le, 1, 0), idb(le, 101, 0), epb(le, 0, 1n, frame(60)));
    const good = readAll(bytes);
    expect(good.error).toBeNull();
    expect(good.records).toHaveLength(1);
    const bad = readAll(concat(bytes, epb(le, 1, 2n, frame(60))));
    expect(bad.records).toHaveLength(1);
    expectPcapError(bad.error, bytes.length, /packet on interface 1: link type 101 \(RAW\) is not Ethernet/);
  });

  it('if_tsoffset adds whole seconds to the interface’s timestamps', () => {
    const le = true;
    const offset = new W(le).u32(1000).u32(0).out();
    const bytes = concat(shb(le), idb(le, 1, 0, [tsresol(9), [14, offset]]), epb(le, 0, 2n * NS + 5n, frame(60)));
    expect(readAll(bytes).records[0]).toMatchObject({ tsSec: 1002, tsNsec: 5 });
  });
});

// ---- timestamp arithmetic ------------------------------------------------------------------

describe('timestamp units', () => {
  /** Reference: the nearest ns (half up) by BigInt, then seconds and ns. */
  function reference(hi: number, lo: number, res: number): [number, number] {
    const v = (BigInt(hi) << 32n) | BigInt(lo);
    const n = BigInt(res & 0x7f);
    const perSec = res & 0x80 ? 1n << n : 10n ** n;
    const total = (v * NS * 2n + perSec) / (2n * perSec);
    return [Number(total / NS), Number(total % NS)];
  }

  it('are exact for 10^-n (n <= 9, and rounded to ns up to 18) and 2^-n (n <= 32) over the whole 64-bit range', () => {
    const resolutions = fc.oneof(fc.integer({ min: 0, max: 18 }), fc.integer({ min: 0x80, max: 0x80 | 32 }));
    const word = fc.integer({ min: 0, max: 0xffffffff });
    fc.assert(
      fc.property(resolutions, word, word, (res, hi, lo) => {
        const out = { tsSec: 0, tsNsec: 0 };
        unitsToNs(hi, lo, tsUnit(res), out);
        expect([out.tsSec, out.tsNsec]).toEqual(reference(hi, lo, res));
      }),
      { seed: 20240611, numRuns: 3000 },
    );
  });

  it('are within 1 ns for finer resolutions (10^-19.., 2^-33..)', () => {
    const resolutions = fc.oneof(fc.integer({ min: 19, max: 30 }), fc.integer({ min: 0x80 | 33, max: 0x80 | 70 }));
    const word = fc.integer({ min: 0, max: 0xffffffff });
    fc.assert(
      fc.property(resolutions, word, word, (res, hi, lo) => {
        const out = { tsSec: 0, tsNsec: 0 };
        unitsToNs(hi, lo, tsUnit(res), out);
        const [sec, nsec] = reference(hi, lo, res);
        const diff = (BigInt(out.tsSec) - BigInt(sec)) * NS + BigInt(out.tsNsec - nsec);
        expect(diff >= -1n && diff <= 1n).toBe(true);
        expect(out.tsNsec >= 0 && out.tsNsec < 1e9).toBe(true);
      }),
      { seed: 20240612, numRuns: 2000 },
    );
  });
});

// ---- bad input -----------------------------------------------------------------------------

describe('bad input ends in a PcapError after every good record before it', () => {
  const le = true;
  const head = pcapHeader(le, true);
  const good = concat(head, pcapRecord(le, 1, 2, frame(60)), pcapRecord(le, 3, 4, frame(61)));
  const end = good.length; // 24 + 76 + 77

  function expectAfterGood(bytes: Uint8Array, offset: number, text: RegExp | string, goodCount = 2) {
    const { records, error } = readAll(bytes);
    expect(records).toHaveLength(goodCount);
    return expectPcapError(error, offset, text);
  }

  it('an empty file', () => {
    expectPcapError(readAll(new Uint8Array(0)).error, 0, /file is empty/);
  });

  it('a truncated pcap file header', () => {
    expectPcapError(readAll(head.subarray(0, 10)).error, 0, /pcap file header truncated: 10 of 24 bytes/);
  });

  it('a file header shorter than the magic', () => {
    expectPcapError(readAll(head.subarray(0, 3)).error, 0, /file header truncated: 3 bytes/);
  });

  it('a truncated pcapng section header', () => {
    expectPcapError(readAll(shb(le).subarray(0, 20)).error, 0, /section header block truncated: 20 of 28 bytes/);
  });

  it('a bad magic, saying what it saw', () => {
    const bytes = concat(Uint8Array.of(0xde, 0xad, 0xbe, 0xef), head.subarray(4));
    expectPcapError(readAll(bytes).error, 0, /bad magic 0xdeadbeef/);
  });

  it('an unsupported pcap version', () => {
    expectPcapError(readAll(pcapHeader(le, false, { major: 1 })).error, 0, /pcap version 1\.4 is not supported/);
  });

  it('a truncated record header (trailing bytes shorter than a header)', () => {
    expectAfterGood(concat(good, new Uint8Array(7)), end, /record header truncated: 7 of 16 bytes/);
  });

  it('a record running past the end of the file', () => {
    const cut = pcapRecord(le, 5, 6, frame(100)).subarray(0, 16 + 50);
    expectAfterGood(concat(good, cut), end, /record truncated: caplen 100, 50 bytes left/);
  });

  it('a record over 256 KiB, in a one-line message naming file and byte', () => {
    const huge = new W(le).u32(1).u32(0).u32(300000).u32(300000).out();
    const { error } = readAll(concat(good, huge), 'capture.pcap');
    expect((error as Error).message).toBe(`capture.pcap: byte ${end}: record length 300000 is over 262144 (256 KiB)`);
    expectPcapError(error, end, /over 262144/);
  });

  it('a zero-length record', () => {
    expectAfterGood(concat(good, new W(le).u32(1).u32(0).u32(0).u32(60).out()), end, /zero-length record/);
  });

  describe('pcapng', () => {
    const ng = concat(shb(le), idb(le, 1, 0), epb(le, 0, 1n, frame(60)));
    const ngEnd = ng.length;
    const ngAfterGood = (tail: Uint8Array, offset: number, text: RegExp | string) =>
      expectAfterGood(concat(ng, tail), offset, text, 1);

    it('a block before any section header block', () => {
      expectPcapError(readAll(epb(le, 0, 1n, frame(60))).error, 0, /block type 6 before any section header block/);
    });

    it('stray bytes after the last block', () => {
      ngAfterGood(new Uint8Array(8), ngEnd, /8 stray bytes after the last block/);
    });

    it('a total length that is not a multiple of 4', () => {
      ngAfterGood(block(le, 6, new Uint8Array(40), 50), ngEnd, /bad total length 50/);
    });

    it('a total length under 12', () => {
      ngAfterGood(block(le, 0x0bad, new Uint8Array(0), 8), ngEnd, /bad total length 8/);
    });

    it('a trailing length that does not match', () => {
      ngAfterGood(
        block(le, 0x0bad, new Uint8Array(8), undefined, 24),
        ngEnd,
        /trailing length 24 does not match length 20/,
      );
    });

    it('a packet block with a mismatched trailing length', () => {
      const b = epb(le, 0, 2n, frame(60));
      new DataView(b.buffer).setUint32(b.length - 4, 12, le);
      ngAfterGood(b, ngEnd, /block type 6: trailing length 12 does not match/);
    });

    it('a block running past the end of the file', () => {
      ngAfterGood(epb(le, 0, 2n, frame(60)).subarray(0, 50), ngEnd, /block type 6 truncated: length 92, 50 bytes left/);
    });

    it('an unknown block running past the end of the file', () => {
      ngAfterGood(block(le, 0x0bad, new Uint8Array(64)).subarray(0, 40), ngEnd, /block type 2989 truncated/);
    });

    it('a packet on an undefined interface', () => {
      ngAfterGood(epb(le, 3, 2n, frame(60)), ngEnd, /packet on interface 3, but the section defines 1 interface/);
    });

    it('a simple packet block in a section without interfaces', () => {
      const { records, error } = readAll(concat(ng, shb(le), spb(le, 60, frame(60))));
      expect(records).toHaveLength(1);
      expectPcapError(error, ngEnd + 28, /simple packet block, but the section defines no interface/);
    });

    it('a zero-length packet', () => {
      ngAfterGood(epb(le, 0, 2n, new Uint8Array(0)), ngEnd, /zero-length record/);
    });

    it('a packet over 256 KiB', () => {
      const b = new W(le).u32(6).u32(300032).u32(0).u32(0).u32(0).u32(300000).u32(300000).out();
      ngAfterGood(b, ngEnd, /record length 300000 is over 262144/);
    });

    it('a caplen that does not fit in its block', () => {
      const b = epb(le, 0, 2n, frame(60));
      new DataView(b.buffer).setUint32(20, 64, le);
      ngAfterGood(b, ngEnd, /caplen 64 does not fit in a block of length 92/);
    });

    it('an interface option overrunning its block', () => {
      const b = idb(le, 1, 0, [tsresol(9)]);
      new DataView(b.buffer).setUint16(18, 40, le); // option length
      ngAfterGood(b, ngEnd, /option 9 of length 40 overruns the block/);
    });

    it('a bad byte-order magic in a later section header', () => {
      const b = shb(le);
      b[8] = 0x99;
      ngAfterGood(b, ngEnd, /bad byte-order magic/);
    });

    it('an unsupported pcapng major version', () => {
      expectPcapError(readAll(shb(le, 2)).error, 0, /pcapng version 2\.0 is not supported/);
    });
  });

  it('the same error again on later calls, and no more records', () => {
    const r = readCaptureBytes(concat(good, new Uint8Array(3)));
    const records: Rec[] = [];
    expect(() => drain(r, records)).toThrow(/record header truncated/);
    expect(records).toHaveLength(2);
    expect(() => r.next()).toThrow(/record header truncated/);
  });

  it('corrupted captures end in records, a clean end or a PcapError: never another error, never a hang', () => {
    const le2 = false;
    const ngFile = concat(
      shb(le2),
      idb(le2, 1, 0, [tsresol(9)]),
      epb(le2, 0, 5n, frame(60)),
      spb(le2, 61, frame(61)),
      block(le2, 0x0bad, new Uint8Array(16)),
      epb(le2, 0, 7n, frame(200)),
    );
    const files = [good, ngFile];
    const edit = fc.record({
      file: fc.integer({ min: 0, max: 1 }),
      flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      cut: fc.option(fc.nat()),
    });
    fc.assert(
      fc.property(edit, ({ file, flips, cut }) => {
        const src = files[file];
        let bytes = src.slice();
        for (const [at, v] of flips) bytes[at % bytes.length] = v;
        if (cut !== null) bytes = bytes.subarray(0, cut % (bytes.length + 1));
        let records = 0;
        try {
          const r = readCaptureBytes(bytes);
          while (r.next()) expect(++records).toBeLessThan(100);
        } catch (e) {
          expect(e).toBeInstanceOf(PcapError);
        }
      }),
      { seed: 4242, numRuns: 2000 },
    );
  });
});

// ---- files, streaming, rewind --------------------------------------------------------------

describe('files', () => {
  /** ~5 MiB of frames 1..9000 bytes long, every 40th one 70000 (more than the chunk: the buffer grows). */
  function bigCapture(format: 'pcap' | 'pcapng'): Uint8Array {
    const sink = new MemorySink();
    const w = createCaptureWriter(sink, { format });
    const src = frame(70010, 77);
    let x = 12345;
    for (let k = 0; sink.bytes().length < 5 << 20; k++) {
      x = (x * 1103515245 + 12345) >>> 0;
      const len = k % 40 === 39 ? 70000 : 1 + (x % 9000);
      w.write(src, k % 7, Math.min(len, src.length - 7), len + (k % 3), 1700000000 + k, (x % 1e9) | 0);
      if (k % 100 === 0) w.flush();
    }
    w.close();
    return sink.bytes().slice();
  }

  it.each(['pcap', 'pcapng'] as const)(
    'a %s file bigger than the chunk streams the same records as in memory',
    (format) => {
      let bytes = bigCapture(format);
      if (format === 'pcapng') {
        // A 1 MiB unknown block after the interface: stepped over, never loaded.
        bytes = concat(bytes.subarray(0, 60), block(true, 0x0bad, new Uint8Array(1 << 20)), bytes.subarray(60));
      }
      const path = join(tmp, `big.${format}`);
      writeFileSync(path, bytes);
      const expected = drain(readCaptureBytes(bytes, path));
      expect(expected.length).toBeGreaterThan(500);
      expect(expected.some((r) => r.caplen === 70000)).toBe(true);
      const r = openCapture(path, { chunkSize: 4096 });
      expect(r.format).toBe(format);
      const got = drain(r);
      r.close();
      expect(got.length).toBe(expected.length);
      for (let k = 0; k < got.length; k++) expect(got[k]).toEqual(expected[k]);
    },
  );

  it('rewind starts a file again from the first record', () => {
    const path = join(tmp, 'rewind.pcap');
    const w = createCapture(path);
    for (let k = 1; k <= 50; k++) w.write(frame(k * 20, k), 0, k * 20, k * 20, k, k);
    w.close();
    const r = openCapture(path, { chunkSize: 256 });
    const first = drain(r);
    expect(first).toHaveLength(50);
    expect(r.next()).toBeNull();
    r.rewind();
    expect(drain(r)).toEqual(first);
    r.rewind();
    expect(r.next()?.tsSec).toBe(1);
    r.close();
    r.close();
    expect(() => r.next()).toThrow(/closed/);
  });

  it('rewind clears an error: the good records come again, then the same error', () => {
    const bytes = concat(pcapHeader(true, false), pcapRecord(true, 1, 0, frame(60)), new Uint8Array(5));
    const r = readCaptureBytes(bytes);
    expect(r.next()?.caplen).toBe(60);
    expect(() => r.next()).toThrow(/record header truncated: 5 of 16/);
    r.rewind();
    expect(r.next()?.caplen).toBe(60);
    expect(() => r.next()).toThrow(PcapError);
  });

  it('a bad file header closes the file and names its path', () => {
    const path = join(tmp, 'bad.pcap');
    writeFileSync(path, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    const fds = () => (existsSync('/proc/self/fd') ? readdirSync('/proc/self/fd').length : 0);
    const before = fds();
    let thrown: unknown = null;
    try {
      openCapture(path);
    } catch (err) {
      thrown = err;
    }
    expect(fds()).toBe(before);
    const e = expectPcapError(thrown, 0, /bad magic 0x01020304/);
    expect(e.file).toBe(path);
  });
});

// ---- writers -------------------------------------------------------------------------------

describe('writers', () => {
  const frameArb = fc.record({
    len: fc.oneof(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 65535 })),
    extra: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5000 })),
    sec: fc.integer({ min: 0, max: 0xffffffff }),
    nsec: fc.integer({ min: 0, max: 999_999_999 }),
    base: fc.integer({ min: 0, max: 3 }), // the source view's byteOffset
    offset: fc.integer({ min: 0, max: 5 }),
    tail: fc.integer({ min: 0, max: 2 }), // 0 with offset 0: the whole-array copy
    seed: fc.nat(),
  });

  it.each(['pcap', 'pcapng'] as const)(
    '%s round trip: bytes, lengths and ns timestamps come back identical',
    (format) => {
      fc.assert(
        fc.property(fc.array(frameArb, { minLength: 1, maxLength: 12 }), (frames) => {
          const sink = new MemorySink();
          const w = createCaptureWriter(sink, { format, bufferSize: 0 }); // the minimum: flushes often
          const sent: string[] = [];
          for (const f of frames) {
            const data = frame(f.base + f.offset + f.len + f.tail, f.seed).subarray(f.base);
            w.write(data, f.offset, f.len, f.len + f.extra, f.sec, f.nsec);
            sent.push(b64(data.subarray(f.offset, f.offset + f.len)));
          }
          w.close();
          expect(w.records).toBe(frames.length);
          const { records, error } = readAll(sink.bytes());
          expect(error).toBeNull();
          expect(records.map((r) => [r.caplen, r.origLen, r.tsSec, r.tsNsec])).toEqual(
            frames.map((f) => [f.len, f.len + f.extra, f.sec, f.nsec]),
          );
          expect(records.map((r) => r.bytes)).toEqual(sent);
        }),
        { seed: format === 'pcap' ? 1357 : 2468, numRuns: 40 },
      );
    },
  );

  it('pcap header: nanosecond magic, little-endian, 2.4, snaplen 262144, Ethernet', () => {
    const sink = new MemorySink();
    new PcapWriter(sink).close();
    const v = new DataView(sink.bytes().buffer, 0, 24);
    expect([v.getUint32(0, true), v.getUint16(4, true), v.getUint16(6, true)]).toEqual([0xa1b23c4d, 2, 4]);
    expect([v.getUint32(16, true), v.getUint32(20, true)]).toEqual([262144, 1]);
  });

  it('pcapng padding bytes are zero even where the staging buffer is reused', () => {
    const sink = new MemorySink();
    const w = new PcapngWriter(sink, { bufferSize: 0 });
    const ones = new Uint8Array(65535).fill(0xff);
    for (let k = 0; k < 20; k++) w.write(ones, 0, 65535 - (k % 4) * 1000 - (k % 3), 70000, k, 0);
    w.close();
    const out = sink.bytes();
    const v = new DataView(out.buffer, out.byteOffset);
    let blocks = 0;
    for (let at = 60; at < out.length; at += v.getUint32(at + 4, true), blocks++) {
      const caplen = v.getUint32(at + 20, true);
      for (let p = at + 28 + caplen; p < at + 28 + ((caplen + 3) & ~3); p++) expect(out[p]).toBe(0);
    }
    expect(blocks).toBe(20);
  });

  it('origLen under caplen is raised to caplen', () => {
    const sink = new MemorySink();
    const w = new PcapWriter(sink);
    w.write(frame(60), 0, 60, 10, 1, 1);
    w.close();
    expect(readAll(sink.bytes()).records[0]).toMatchObject({ caplen: 60, origLen: 60 });
  });

  it.each([
    ['caplen 0', [frame(60), 0, 0, 60, 1, 0]],
    ['caplen over 256 KiB', [new Uint8Array(300000), 0, 262145, 262145, 1, 0]],
    ['a frame past the end of its buffer', [frame(60), 10, 60, 60, 1, 0]],
    ['a negative offset', [frame(60), -1, 10, 10, 1, 0]],
    ['nsec of a whole second', [frame(60), 0, 60, 60, 1, 1e9]],
    ['a negative second', [frame(60), 0, 60, 60, -1, 0]],
    ['a second past 32 bits in pcap', [frame(60), 0, 60, 60, 2 ** 32, 0]],
  ] as const)('refuses %s with EINVAL', (_, args) => {
    const w = new PcapWriter(new MemorySink());
    expect(() => w.write(...(args as unknown as Parameters<PcapWriter['write']>))).toThrow(
      expect.objectContaining({ code: 'EINVAL' }),
    );
  });

  it('pcapng takes seconds past 32 bits', () => {
    const sink = new MemorySink();
    const w = new PcapngWriter(sink);
    w.write(frame(60), 0, 60, 60, 2 ** 34 - 1, 999_999_999);
    w.close();
    expect(readAll(sink.bytes()).records[0]).toMatchObject({ tsSec: 2 ** 34 - 1, tsNsec: 999_999_999 });
  });

  it('close is idempotent and a write after it is EBADF', () => {
    const w = new PcapngWriter(new MemorySink());
    w.close();
    w.close();
    expect(() => w.write(frame(60), 0, 60, 60, 0, 0)).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });

  it('createCapture picks pcapng for a .pcapng path, pcap otherwise, unless told', () => {
    const cases = [
      ['a.pcapng', undefined, 'pcapng'],
      ['a.PCAPNG', undefined, 'pcapng'],
      ['a.pcap', undefined, 'pcap'],
      ['b.cap', 'pcapng', 'pcapng'],
      ['b.pcapng', 'pcap', 'pcap'],
    ] as const;
    for (const [name, format, expected] of cases) {
      const path = join(tmp, name);
      const w = createCapture(path, format ? { format } : {});
      expect(w.format).toBe(expected);
      w.write(frame(60), 0, 60, 60, 1, 2);
      w.close();
      const r = openCapture(path);
      expect([r.format, r.next()?.tsNsec]).toEqual([expected, 2]);
      r.close();
    }
  });
});

// ---- tcpdump -------------------------------------------------------------------------------

function findTcpdump(): string | null {
  if (existsSync('/usr/sbin/tcpdump')) return '/usr/sbin/tcpdump';
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, 'tcpdump'))) return join(dir, 'tcpdump');
  }
  return null;
}
const tcpdump = findTcpdump();
if (!tcpdump) console.log('pcap: tcpdump tests skipped: no /usr/sbin/tcpdump and no tcpdump on PATH');

describe.skipIf(!tcpdump)(`tcpdump reads what we write${tcpdump ? '' : ' (skipped: no tcpdump)'}`, () => {
  it.each(['pcap', 'pcapng'] as const)('%s: count, lengths and ns timestamps', (format) => {
    const path = join(tmp, `tcpdump.${format}`);
    const w = createCapture(path);
    const sent: [string, number][] = [];
    for (let k = 0; k < 40; k++) {
      const caplen = 14 + ((k * 977) % 1501);
      const origLen = k % 5 === 4 ? caplen + 100 : caplen; // some cut by a snaplen
      const sec = 1700000000 + k;
      const nsec = (k * 123456789) % 1e9;
      w.write(frame(caplen, k), 0, caplen, origLen, sec, nsec);
      sent.push([`${sec}.${String(nsec).padStart(9, '0')}`, origLen]);
    }
    w.close();
    chmodSync(path, 0o644);
    const run = spawnSync(tcpdump!, ['-r', path, '-nn', '-tt', '--time-stamp-precision=nano'], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const lines = run.stdout.split('\n').filter((l) => /^\d+\.\d{9} /.test(l));
    expect(lines.map((l) => [l.split(' ')[0], Number(/length (\d+)/.exec(l)?.[1])])).toEqual(sent);
    expect(readFileSync(path).length).toBeGreaterThan(0);
  });
});
