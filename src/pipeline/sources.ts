/**
 * Where a pipeline's packets come from. Every source fills buffers through one interface,
 * `FrameSource` (`fill(writer, max)`: write up to `max` frames straight into the link's
 * buffers, say how long each is, return how many, or -1 at the end), so the built-in ones
 * (pkt-gen frames, pcap files) and those plugged in later (a NIC port's RX ring, a module
 * of the user's: `moduleSource`, whose module exports `defineSource(...)`) run the same
 * loop: in a worker, or on the main thread for `fromFrames` / `fromFunction`.
 *
 * The generator writes pkt-gen's IPv4/UDP frames for N flows (5-tuples) and a list of
 * sizes; headers come from per-(flow, size) templates made once, so a frame costs a copy
 * of its first 64 bytes at most and no allocation.
 */
import { pathToFileURL } from 'node:url';
import { NetmapError } from '../errors.js';
import { type FrameSpec, writeFrameTo } from './frames.js';

/** Where a source writes: buffer `i` of this fill, at `data[offset(i)]`, `bufSize` bytes at most. */
export interface FrameWriter {
  /** The region's bytes and words (buffers are 64-byte aligned, so `offset(i) >> 2` indexes `i32`). */
  readonly data: Uint8Array;
  readonly i32: Int32Array;
  readonly bufSize: number;
  offset(i: number): number;
  setLen(i: number, len: number): void;
}

/** A source of frames: the one interface every source implements. */
export interface FrameSource {
  /** Writes up to `max` frames and returns how many (0: none now, try later), or -1: the source has ended. */
  fill(w: FrameWriter, max: number): number;
  /** Releases what the source holds (a file). */
  close?(): void;
}

const SOURCE_BRAND = Symbol.for('sabnetmap.source');

/** What a source module exports (`default` or `source`), made by defineSource. */
export interface SourceDefinition {
  create(ctx: { options: unknown }): FrameSource | Promise<FrameSource>;
  readonly [SOURCE_BRAND]: true;
}

/** Makes a source definition for a module source (`moduleSource(url)`): `create` runs in the source's worker. */
export function defineSource(
  create: (ctx: { options: unknown }) => FrameSource | Promise<FrameSource>,
): SourceDefinition {
  if (typeof create !== 'function') throw new NetmapError('EINVAL', 'defineSource needs a create(ctx) function');
  return Object.freeze({ create, [SOURCE_BRAND]: true as const });
}

/** True when `v` is a source definition (made by defineSource). */
export function isSourceDefinition(v: unknown): v is SourceDefinition {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[SOURCE_BRAND] === true;
}

/** pkt-gen frames: N flows of IPv4/UDP 5-tuples and a list of sizes. */
export interface GeneratorOptions {
  /** Flows (5-tuples), 1 to 2^20 (default 1). Flow f: 10.0.0.0 + f + 1:(10000 + f % 50000) -> 192.168.(f >> 8 & 255).(f & 255 | 1):4321. */
  flows?: number;
  /** Frame length(s) in bytes, used in turn (default 60): 42 to the buffer size. */
  len?: number | readonly number[];
  /** Frames to send, then the source ends (default 0: until the run stops). */
  count?: number;
  /** Each flow also sends its reverse direction (dst -> src), in turn (default false). */
  bidirectional?: boolean;
}

/** The generator as the pipeline holds it (from generator()). */
export interface GeneratorSource {
  kind: 'generator';
  options: Required<Omit<GeneratorOptions, 'len'>> & { len: number[] };
}
/** A pcap source (from pcapSource()). */
export interface PcapSource {
  kind: 'pcap';
  path: string;
  /** Read the file this many times (default 1). */
  loop: number;
}
/** A module source (from moduleSource()). */
export interface ModuleSource {
  kind: 'module';
  url: string;
  options: unknown;
}
/** Sources on the main thread (the caller's code feeds the pipeline). */
export interface MainSource {
  kind: 'main';
  frames?: Iterable<Uint8Array> | AsyncIterable<Uint8Array>;
  fill?: (w: FrameWriter, max: number) => number;
}
/** A pipeline's source: a generator, a capture file, a module's source, or frames fed from the main thread. */
export type SourceSpec = GeneratorSource | PcapSource | ModuleSource | MainSource;

/** The shortest generator frame: Ethernet, IPv4 and UDP headers. */
export const MIN_GENERATOR_LEN = 42;
const MAX_FLOWS = 1 << 20;
/** Template words per (flow, direction, size): the first 64 bytes of the frame. */
const TPL_WORDS = 16;
/** Words of a template written per frame: Ethernet + IPv4 + UDP headers (42 bytes). */
const HEADER_WORDS = 11;
const MAX_TEMPLATES = 1 << 18;

/** pkt-gen frames for `flows` IPv4/UDP flows (run in a worker thread). */
export function generator(o: GeneratorOptions = {}): GeneratorSource {
  const flows = o.flows ?? 1;
  const len = typeof o.len === 'number' ? [o.len] : [...(o.len ?? [60])];
  const count = o.count ?? 0;
  const bidirectional = o.bidirectional ?? false;
  if (!Number.isInteger(flows) || flows < 1 || flows > MAX_FLOWS) {
    throw new NetmapError('EINVAL', `generator flows must be an integer from 1 to ${MAX_FLOWS}, got ${flows}`);
  }
  if (len.length === 0) throw new NetmapError('EINVAL', 'generator len must name at least one size');
  for (const l of len) {
    if (!Number.isInteger(l) || l < MIN_GENERATOR_LEN || l > 65472) {
      throw new NetmapError('EINVAL', `generator len must be integers from ${MIN_GENERATOR_LEN} to 65472, got ${l}`);
    }
  }
  if (flows * (bidirectional ? 2 : 1) * len.length > MAX_TEMPLATES) {
    throw new NetmapError('EINVAL', `generator: flows x directions x sizes must be at most ${MAX_TEMPLATES}`);
  }
  if (!Number.isInteger(count) || count < 0) {
    throw new NetmapError('EINVAL', `generator count must be a non-negative integer, got ${count}`);
  }
  if (typeof bidirectional !== 'boolean') throw new NetmapError('EINVAL', 'generator bidirectional must be a boolean');
  return { kind: 'generator', options: { flows, len, count, bidirectional } };
}

/** The frames of a pcap or pcapng file (Ethernet), read in a worker thread; `loop` times over. */
export function pcapSource(path: string, o: { loop?: number } = {}): PcapSource {
  if (typeof path !== 'string' || path === '') throw new NetmapError('EINVAL', 'pcapSource needs a file path');
  const loop = o.loop ?? 1;
  if (!Number.isInteger(loop) || loop < 1) throw new NetmapError('EINVAL', `pcapSource loop must be >= 1, got ${loop}`);
  return { kind: 'pcap', path, loop };
}

/** A source module (a path or URL exporting `defineSource(...)`), run in a worker thread. */
export function moduleSource(module: string | URL, options?: unknown): ModuleSource {
  return { kind: 'module', url: moduleUrl(module), options };
}

/** Frames from an iterable (sync or async) on the main thread; each is copied into a buffer. */
export function fromFrames(frames: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): MainSource {
  if (frames === null || typeof frames !== 'object' || !(Symbol.iterator in frames || Symbol.asyncIterator in frames)) {
    throw new NetmapError('EINVAL', 'fromFrames needs an iterable of Uint8Array frames');
  }
  return { kind: 'main', frames };
}

/** A FrameSource's fill function run on the main thread. */
export function fromFunction(fill: (w: FrameWriter, max: number) => number): MainSource {
  if (typeof fill !== 'function') throw new NetmapError('EINVAL', 'fromFunction needs a fill(writer, max) function');
  return { kind: 'main', fill };
}

/** A module reference as a URL string: a URL, a file: URL string, or a path (relative to the working directory). */
export function moduleUrl(m: string | URL): string {
  if (m instanceof URL) return m.href;
  if (typeof m !== 'string' || m === '') throw new NetmapError('EINVAL', 'a stage or source module is a path or a URL');
  if (/^(file|data|https?):/.test(m)) return m;
  return pathToFileURL(m).href;
}

/** Flow f's 5-tuple as the generator sends it (src, dst, sport, dport). */
export function generatorFlow(f: number): { src: number; dst: number; srcPort: number; dstPort: number } {
  return {
    src: (0x0a000000 + f + 1) >>> 0,
    dst: (0xc0a80000 | (((f >>> 8) & 0xff) << 8) | ((f & 0xff) | 1)) >>> 0,
    srcPort: 10000 + (f % 50000),
    dstPort: 4321,
  };
}

/** The generator as a FrameSource (in the source's thread). */
export class Generator implements FrameSource {
  /** Frames sent so far. */
  sent = 0;
  private readonly tpl: Int32Array;
  private readonly sizes: Int32Array;
  private readonly words: Int32Array;
  private readonly templates: number;
  private t = 0;
  private s = 0;

  constructor(private readonly o: GeneratorSource['options']) {
    const dirs = o.bidirectional ? 2 : 1;
    this.templates = o.flows * dirs;
    this.sizes = Int32Array.from(o.len);
    // The headers only (42 bytes: 11 words): the payload is whatever the buffer holds, as
    // pkt-gen leaves it; writing it too would cost a third more per frame.
    this.words = Int32Array.from(o.len, (l) => Math.min(HEADER_WORDS, (l + 3) >> 2));
    this.tpl = new Int32Array(this.templates * o.len.length * TPL_WORDS);
    const bytes = new Uint8Array(this.tpl.buffer);
    const frame = new Uint8Array(Math.max(...o.len));
    for (let t = 0; t < this.templates; t++) {
      const f = Math.floor(t / dirs);
      const fl = generatorFlow(f);
      const rev = t % dirs === 1;
      for (let si = 0; si < o.len.length; si++) {
        const spec: FrameSpec = {
          len: o.len[si],
          srcMac: rev ? [0x02, 0, 0, 0, 0, 2] : [0x02, 0, 0, 0, 0, 1],
          dstMac: rev ? [0x02, 0, 0, 0, 0, 1] : [0x02, 0, 0, 0, 0, 2],
          src: rev ? fl.dst : fl.src,
          dst: rev ? fl.src : fl.dst,
          srcPort: rev ? fl.dstPort : fl.srcPort,
          dstPort: rev ? fl.srcPort : fl.dstPort,
        };
        writeFrameTo(frame, 0, spec);
        for (let i = o.len[si]; i < 64 && i < frame.length; i++) frame[i] = 0;
        bytes.set(frame.subarray(0, Math.min(64, frame.length)), (t * o.len.length + si) * TPL_WORDS * 4);
      }
    }
  }

  fill(w: FrameWriter, max: number): number {
    const count = this.o.count;
    if (count !== 0) {
      const left = count - this.sent;
      if (left <= 0) return -1;
      if (left < max) max = left;
    }
    const tpl = this.tpl;
    const i32 = w.i32;
    const sizes = this.sizes;
    const words = this.words;
    const nSizes = sizes.length;
    let t = this.t;
    let s = this.s;
    for (let i = 0; i < max; i++) {
      const d = w.offset(i) >> 2;
      const b = (t * nSizes + s) * TPL_WORDS;
      const nw = words[s];
      for (let x = 0; x < nw; x++) i32[d + x] = tpl[b + x];
      w.setLen(i, sizes[s]);
      t = t + 1 === this.templates ? 0 : t + 1;
      s = s + 1 === nSizes ? 0 : s + 1;
    }
    this.t = t;
    this.s = s;
    this.sent += max;
    return max;
  }
}

/** Frames from the records of a pcap file (copied into the buffers: a file's bytes are not in the region). */
export class PcapFrames implements FrameSource {
  /** Records read, and records longer than a buffer (cut to the buffer). */
  records = 0;
  truncated = 0;
  private loopsLeft: number;
  constructor(
    private readonly reader: {
      next(): { data: Uint8Array; offset: number; caplen: number } | null;
      rewind(): void;
      close(): void;
    },
    loop: number,
  ) {
    this.loopsLeft = loop;
  }

  fill(w: FrameWriter, max: number): number {
    let i = 0;
    while (i < max) {
      const rec = this.reader.next();
      if (rec === null) {
        if (--this.loopsLeft <= 0) return i > 0 ? i : -1;
        this.reader.rewind();
        continue;
      }
      let len = rec.caplen;
      if (len > w.bufSize) {
        len = w.bufSize;
        this.truncated++;
      }
      const to = w.offset(i);
      if (len <= 256) {
        // Short frames by bytes: a subarray per record would allocate.
        const src = rec.data;
        const from = rec.offset;
        for (let b = 0; b < len; b++) w.data[to + b] = src[from + b];
      } else {
        w.data.set(rec.data.subarray(rec.offset, rec.offset + len), to);
      }
      w.setLen(i, len);
      this.records++;
      i++;
    }
    return i;
  }

  close(): void {
    this.reader.close();
  }
}
