/**
 * In-thread microbenchmarks of the hot primitives, timed with tinybench: how to copy a
 * frame between two regions (the VALE copy), filling slots (pkt-gen's tx loop), the
 * learning-table lookup, and what an Atomics op costs against a plain access. Each
 * tinybench sample runs an inner loop of OPS operations (one call per nanosecond-scale
 * operation would measure the timer), and results are reported per operation.
 */
import { availableParallelism, cpus } from 'node:os';
import { Bench } from 'tinybench';
import { DIR_TX, RING_TAIL, SW_LEARN_ENTRIES } from '../shm/layout.js';
import { createRegion, type RegionSpec } from '../shm/region.js';
import { copyFrame, HEAD_CLASSES, headClass, RegionViews } from '../shm/views.js';
import { E1000Device } from '../src/emulated/e1000.js';
import { emulateNic } from '../src/emulated/nic.js';
import { attachPort, Netmap } from '../src/netmap.js';
import { GuestPort } from '../src/passthrough/guest.js';
import { passThrough } from '../src/passthrough/hypervisor.js';
import { Kloop } from '../src/passthrough/kloop.js';
import { writeFrameTo } from '../src/pipeline/frames.js';
import { LbCore } from '../src/pipeline/lb.js';
import { CONSUMER, createLinkRegion, createThreadBell, linkDescriptor, PRODUCER } from '../src/pipeline/links.js';
import { Port } from '../src/port.js';

const OPS = 1024;
const BUF = 2048;
const NBUF = 1024; // spread over 2 MiB like a real ring's buffers

export interface MicroLine {
  name: string;
  /** Median nanoseconds per operation, and the spread of the samples (min, p99). */
  ns: number;
  nsMin: number;
  nsP99: number;
  /** Copies only: payload bandwidth and the time relative to Buffer.copy of the same bytes. */
  gbps?: number;
  vsBufferCopy?: number;
}

export interface MicroResult {
  results: MicroLine[];
  cores: number;
  cpuModel: string;
  node: string;
}

/** Two regions' worth of buffers with views made once, as RegionViews keeps them. */
function regions() {
  const a = new SharedArrayBuffer(BUF * NBUF);
  const b = new SharedArrayBuffer(BUF * NBUF);
  const heads = (sab: SharedArrayBuffer) =>
    Array.from({ length: NBUF * HEAD_CLASSES }, (_, k) => {
      const i = Math.floor(k / HEAD_CLASSES);
      return new Uint8Array(sab, i * BUF, Math.min(64 << (k % HEAD_CLASSES), BUF));
    });
  return {
    a8: new Uint8Array(a),
    b8: new Uint8Array(b),
    a32: new Int32Array(a),
    b32: new Int32Array(b),
    aHead: heads(a),
    bHead: heads(b),
    aBuf: Buffer.from(a),
    bBuf: Buffer.from(b),
    // Two real regions (one TX ring of 1024 slots, its own buffers) for copyFrame.
    aRegion: RegionViews.user(createRegion(FRAME_REGION)),
    bRegion: RegionViews.user(createRegion(FRAME_REGION)),
  };
}

const FRAME_REGION: RegionSpec = {
  rings: [DIR_TX],
  numSlots: NBUF,
  bufSize: BUF,
  ifs: [{ tx: [0], rx: [] }],
};

export async function runMicroBench(o: { timeMs?: number } = {}): Promise<MicroResult> {
  const bench = new Bench({ time: o.timeMs ?? 300, warmupTime: 100 });
  const r = regions();
  let sink = 0;
  const copyTasks = (len: number) => {
    const words = (len + 3) >> 2;
    const cls = headClass(len);
    return {
      [`copy ${len} B: word loop (Int32Array)`]: () => {
        const { a32, b32 } = r;
        for (let k = 0; k < OPS; k++) {
          const s = ((k * 7) & (NBUF - 1)) * (BUF / 4);
          const d = ((k * 13) & (NBUF - 1)) * (BUF / 4);
          for (let w = 0; w < words; w++) b32[d + w] = a32[s + w];
        }
      },
      [`copy ${len} B: copyFrame (VALE, bridge)`]: () => {
        const { aRegion, bRegion } = r;
        for (let k = 0; k < OPS; k++) {
          copyFrame(aRegion, 2 + ((k * 7) & (NBUF - 4)), bRegion, 2 + ((k * 13) & (NBUF - 4)), len);
        }
      },
      [`copy ${len} B: set() on size-class views`]: () => {
        for (let k = 0; k < OPS; k++) {
          const s = (k * 7) & (NBUF - 1);
          const d = (k * 13) & (NBUF - 1);
          r.bHead[d * HEAD_CLASSES + cls].set(r.aHead[s * HEAD_CLASSES + cls]);
        }
      },
      [`copy ${len} B: set(subarray()) (allocates a view)`]: () => {
        for (let k = 0; k < OPS; k++) {
          const s = ((k * 7) & (NBUF - 1)) * BUF;
          const d = ((k * 13) & (NBUF - 1)) * BUF;
          r.b8.set(r.a8.subarray(s, s + len), d);
        }
      },
      [`copy ${len} B: Buffer.copy`]: () => {
        for (let k = 0; k < OPS; k++) {
          const s = ((k * 7) & (NBUF - 1)) * BUF;
          const d = ((k * 13) & (NBUF - 1)) * BUF;
          r.aBuf.copy(r.bBuf, d, s, s + len);
        }
      },
      [`copy ${len} B: copyWithin (one region)`]: () => {
        for (let k = 0; k < OPS; k++) {
          const s = ((k * 7) & (NBUF / 2 - 1)) * BUF;
          const d = (NBUF / 2 + ((k * 13) & (NBUF / 2 - 1))) * BUF;
          r.a8.copyWithin(d, s, s + len);
        }
      },
    };
  };
  const tasks: Record<string, () => void> = { ...copyTasks(60), ...copyTasks(1514) };
  const closers: Array<() => void> = [];
  for (const len of [60, 1514]) Object.assign(tasks, forwardTasks(len, closers));
  Object.assign(tasks, guestPathTasks(closers));
  Object.assign(tasks, lbTasks(closers));

  // pkt-gen's tx loop: set len (and flags) of a batch of slots.
  const slots = new Int32Array(new SharedArrayBuffer(8 * 1024));
  tasks['slot fill (len|flags word)'] = () => {
    let cur = 0;
    for (let k = 0; k < OPS; k++) {
      slots[2 * cur + 1] = 60;
      cur = cur + 1 === 1024 ? 0 : cur + 1;
    }
  };
  // The VALE learning lookup: hash a MAC, compare the two words of its entry.
  const table = new Int32Array(new SharedArrayBuffer(8 * SW_LEARN_ENTRIES));
  tasks['learning lookup (hash + compare)'] = () => {
    let hits = 0;
    for (let k = 0; k < OPS; k++) {
      const a = 0x02000000 + (k & 63);
      const b = k & 0xffff;
      let h = Math.imul(a ^ (b << 7), 0x9e3779b1);
      h ^= h >>> 15;
      const e = (h & (SW_LEARN_ENTRIES - 1)) * 2;
      if (table[e] === a && table[e + 1] >>> 16 === b) hits++;
    }
    sink += hits;
  };
  const word = new Int32Array(new SharedArrayBuffer(64));
  tasks['Atomics.load'] = () => {
    let x = 0;
    for (let k = 0; k < OPS; k++) x += Atomics.load(word, k & 7);
    sink += x;
  };
  tasks['plain load (same SAB)'] = () => {
    let x = 0;
    for (let k = 0; k < OPS; k++) x += word[k & 7];
    sink += x;
  };
  tasks['Atomics.store'] = () => {
    for (let k = 0; k < OPS; k++) Atomics.store(word, k & 7, k);
  };
  for (const [name, fn] of Object.entries(tasks)) bench.add(name, fn);
  try {
    await bench.run();
  } finally {
    for (const c of closers) c();
  }

  const lines: MicroLine[] = bench.tasks.map((t) => {
    const res = t.result as { latency?: { p50?: number; min?: number; p99?: number } };
    const perOp = (ms: number | undefined) => ((ms ?? 0) * 1e6) / OPS;
    return {
      name: t.name,
      ns: perOp(res.latency?.p50),
      nsMin: perOp(res.latency?.min),
      nsP99: perOp(res.latency?.p99),
    };
  });
  for (const len of [60, 1514]) {
    const ref = lines.find((l) => l.name === `copy ${len} B: Buffer.copy`)?.ns ?? 0;
    for (const l of lines) {
      if (!l.name.startsWith(`copy ${len} B`)) continue;
      l.gbps = l.ns > 0 ? (len * 8) / l.ns : 0;
      l.vsBufferCopy = ref > 0 ? l.ns / ref : 0;
    }
  }
  if (sink === Number.MIN_SAFE_INTEGER) lines.push({ name: 'never', ns: 0, nsMin: 0, nsP99: 0 }); // keeps sink alive
  return {
    results: lines,
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    node: process.version,
  };
}

/**
 * The whole VALE forwarding path in one thread, per packet: the sender's txsync (lookup,
 * lease, copy, tail) in batches of 256, and the receiver's rxsync that frees the slots.
 * Named as a copy so its time is set against Buffer.copy of the same bytes.
 */
function forwardTasks(len: number, closers: Array<() => void>): Record<string, () => void> {
  const nm = new Netmap();
  const a = nm.open(`vale${len}micro:a`, { ringSize: 1024 });
  const b = nm.open(`vale${len}micro:b`, { ringSize: 1024 });
  closers.push(() => {
    a.close();
    b.close();
    nm.close();
  });
  const tx = a.tx;
  const rx = b.rx;
  // Unicast from a learned source to b's learned MAC: b announces itself once.
  const mac = (p: typeof a, last: number) => {
    for (let k = 0; k < tx.numSlots; k++) {
      const f = p.tx.buf(k);
      f.fill(0, 0, 12);
      f[0] = 0x02;
      f[5] = last === 1 ? 2 : 1;
      f[6] = 0x02;
      f[11] = last;
    }
  };
  mac(a, 1);
  mac(b, 2);
  b.tx.setLen(b.tx.cur, 60);
  b.tx.advance(b.tx.next(b.tx.cur));
  b.txsync();
  a.rxsync();
  a.rx.advance(a.rx.tail);
  a.rxsync();
  const BATCH = 256;
  return {
    [`copy ${len} B: VALE txsync + rxsync (whole path)`]: () => {
      for (let done = 0; done < OPS; done += BATCH) {
        let cur = tx.cur;
        for (let k = 0; k < BATCH; k++) {
          tx.setLen(cur, len);
          cur = cur + 1 === tx.numSlots ? 0 : cur + 1;
        }
        tx.advance(cur);
        a.txsync();
        b.rxsync();
        rx.advance(rx.tail);
        b.rxsync();
      }
    },
  };
}

/**
 * One 60-byte packet from a guest to a host peer in one thread, per packet, batches of
 * 64: through passthrough (guest txsync via the CSB + one kloop step) and through the
 * emulated e1000 (guest txsync writing descriptors + the device's pass: translation, two
 * copies, a host txsync per packet). The host peer drains a pipe in both.
 */
function guestPathTasks(closers: Array<() => void>): Record<string, () => void> {
  const nm = new Netmap();
  const BATCH = 64;
  const pt = passThrough(nm.register('mpt{'));
  const ptPeer = nm.open('mpt}');
  const g = new GuestPort(pt.guest);
  const k = new Kloop(pt.kloop);
  const em = emulateNic(nm.register('mem{'));
  const emPeer = nm.open('mem}');
  const eg = new Port(em.guest);
  const dev = new E1000Device(em.device);
  closers.push(() => {
    k.close();
    dev.close();
    eg.close();
    ptPeer.close();
    emPeer.close();
  });
  const fill = (r: GuestPort['tx']) => {
    let cur = r.cur;
    for (let i = 0; i < BATCH; i++) {
      r.setLen(cur, 60);
      cur = cur + 1 === r.numSlots ? 0 : cur + 1;
    }
    r.advance(cur);
  };
  const drain = (p: Port) => {
    p.rxsync();
    p.rx.advance(p.rx.tail);
    p.rxsync();
  };
  return {
    'guest -> host, 60 B: passthrough (per packet)': () => {
      for (let done = 0; done < OPS; done += BATCH) {
        fill(g.tx);
        g.txsync();
        k.step();
        drain(ptPeer);
        k.step();
      }
    },
    'guest -> host, 60 B: emulated e1000 (per packet)': () => {
      for (let done = 0; done < OPS; done += BATCH) {
        fill(eg.tx);
        eg.txsync();
        dev.step();
        drain(emPeer);
      }
    },
  };
}

/**
 * netmap's lb in one thread (src/pipeline/lb.ts), per packet: the symmetric 5-tuple hash
 * of a 60-byte IPv4/UDP frame and the zero-copy swap into one of 2 outputs (1024 flows).
 * The rings are reset by hand between passes (no sync: lb's own cost alone); every buffer
 * of the region holds a valid frame, so whatever buffer a swap brings back hashes alike.
 */
function lbTasks(closers: Array<() => void>): Record<string, () => void> {
  const SLOTS = 2048;
  const region = createLinkRegion(3, SLOTS, 2048);
  const bell = createThreadBell();
  const bells: [SharedArrayBuffer, SharedArrayBuffer] = [bell, bell];
  const input = attachPort(linkDescriptor(region, 0, CONSUMER, bells, 'lb-in'));
  const outs = [1, 2].map((i) => attachPort(linkDescriptor(region, i, PRODUCER, bells, `lb-out${i}`)));
  closers.push(() => {
    input.close();
    for (const o of outs) o.close();
  });
  const rx = input.rx;
  const mem = rx.mem;
  const views = rx.region;
  for (let b = 2; b < views.numBufs; b++) {
    const f = b % 1024;
    writeFrameTo(mem, views.bufOffset(b), {
      len: 60,
      src: 0x0a000001 + f,
      dst: 0xc0a80001,
      srcPort: 10000 + f,
      dstPort: 4321,
    });
  }
  for (let k = 0; k < SLOTS; k++) rx.setLen(k, 60);
  const lb = new LbCore(rx, [outs.map((o) => o.tx)]);
  const setRing = (r: typeof rx, head: number, tail: number) => {
    const h = r.region.ringWordBase(r.id);
    r.advance(head);
    r.i32[h + RING_TAIL] = tail;
  };
  return {
    'lb: hash + zero-copy swap, 2 outputs (per packet)': () => {
      // OPS packets waiting in the input; both outputs empty (SLOTS - 1 free slots each).
      setRing(rx, 0, OPS);
      for (const o of outs) setRing(o.tx, 0, SLOTS - 1);
      lb.step(OPS);
    },
  };
}

export function formatMicro(r: MicroResult): string {
  const rows = r.results.map(
    (l) =>
      `  ${l.name.padEnd(46)} ${l.ns.toFixed(2).padStart(8)} ns (${l.nsMin.toFixed(2)}-${l.nsP99.toFixed(2)})` +
      (l.gbps !== undefined
        ? `  ${l.gbps.toFixed(1).padStart(6)} Gbit/s  ${l.vsBufferCopy?.toFixed(2)}x Buffer.copy`
        : ''),
  );
  return `${rows.join('\n')}\n  (median ns per operation, min-p99; ${r.cores} cores, ${r.cpuModel}, Node ${r.node})\n`;
}
