/**
 * The pipeline benchmark's baselines (bench/pipeline.ts): the same pipeline, generator ->
 * lb -> 2 counting workers, built the ways people build it without sabnetmap, with the
 * same work per packet as the sabnetmap build (the generator's template copy, lb's
 * symmetric hash, the counters' header parse and flow-table update):
 *
 * - postMessage: batches of frames in a fresh ArrayBuffer, transferred (what a user does:
 *   a transferred buffer is gone from the sender); lb copies each frame into its output's
 *   batch. Credit words bound what is in flight (the receiver acknowledges messages).
 * - ringbuf.js: an SPSC byte ring per link (two copies per frame: push and pop), batched
 *   push/pop of whole records. ringbuf.js cannot wait: an empty or full ring is retried,
 *   and after 64 misses the thread naps 50 µs (Atomics.wait on a private word), the
 *   simplest "wrap it for blocking" its users were told to write.
 * - single: one thread does all of it (generate, hash, count into the chosen worker's table).
 */
import type { MessagePort } from 'node:worker_threads';
import type { RingBuffer } from 'ringbuf.js';
import { ST_PACKETS } from '../shm/layout.js';
import { Control, RoleStats, STOP_ALL, STOP_SENDERS } from '../src/apps/control.js';
import { NON_IP, symmetricHash } from '../src/pipeline/hash.js';
import { PacketHeaders } from '../src/pipeline/headers.js';
import { type FrameWriter, Generator, generator } from '../src/pipeline/sources.js';
import { loadRingBuf } from './peers-roles.js';

/** How a baseline moves packets between its threads. */
export type PipelineBenchVia = 'postMessage' | 'ringbuf.js' | 'single';

/** A baseline role's task (the worker entry workers/pipeline.ts runs it). */
export interface PipelineBenchTask {
  kind: 'bench';
  via: PipelineBenchVia;
  role: 'gen' | 'lb' | 'count' | 'all';
  /** count: which counting worker (0 or 1). */
  index: number;
  /** Counting workers (lb's outputs). */
  outputs: number;
  flows: number;
  len: number;
  batch: number;
  ctl: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  /** postMessage: gen -> lb (gen's end, or lb's input end); lb's outputs; a counter's input. */
  port?: MessagePort;
  ports?: MessagePort[];
  /** postMessage: Int32 words: [0] messages lb took from gen, [1 + o] messages counter o took. */
  credit?: SharedArrayBuffer;
  /** postMessage: messages in flight at most per link (the same buffering as a ring of `ring` packets). */
  window?: number;
  /** ringbuf.js: ring storages: gen [in]; lb [in, out0, out1]; count [own]. */
  rings?: SharedArrayBuffer[];
}

/** Messages in flight at most per postMessage link, when the task does not say. */
const WINDOW_MSGS = 16;
const MISSES_BEFORE_NAP = 64;
const NAP_MS = 0.05;

/**
 * The counting work, the same in every build: parse the packet's headers (Ethernet, IP,
 * UDP), then count packets and bytes per transport protocol and destination-port bucket.
 * It reads every packet's headers (no build can skip the bytes) and is light, so the
 * benchmark weighs how packets move between threads, not the counting.
 */
export class CountWork {
  readonly h = new PacketHeaders();
  /** Packets and bytes per (protocol, dst port & 255). */
  readonly packetsBy = new Float64Array(2 * 256);
  readonly bytesBy = new Float64Array(2 * 256);
  packets = 0;
  frame(data: Uint8Array, off: number, len: number): void {
    const h = this.h;
    h.parse(data, off, len);
    const k = (h.proto === 17 ? 256 : 0) + (h.dstPort & 255);
    this.packetsBy[k]++;
    this.bytesBy[k] += len;
    this.packets++;
  }
  /** Buckets that saw packets. */
  buckets(): number {
    let n = 0;
    for (let i = 0; i < this.packetsBy.length; i++) if (this.packetsBy[i] > 0) n++;
    return n;
  }
}

/** A FrameWriter over a plain buffer of fixed-length frames (frame i at i * len). */
class FlatWriter implements FrameWriter {
  data: Uint8Array;
  i32: Int32Array;
  readonly bufSize: number;
  constructor(
    buf: ArrayBuffer,
    readonly len: number,
  ) {
    this.data = new Uint8Array(buf);
    this.i32 = new Int32Array(buf);
    this.bufSize = len;
  }
  retarget(buf: ArrayBuffer): void {
    this.data = new Uint8Array(buf);
    this.i32 = new Int32Array(buf);
  }
  offset(i: number): number {
    return i * this.len;
  }
  setLen(): void {}
}

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`pipeline bench task needs ${what}`);
  return v;
}

/** Runs one baseline role to its end. */
export async function runPipelineBenchRole(t: PipelineBenchTask): Promise<{ packets: number; buckets?: number }> {
  if (t.len % 4 !== 0) throw new Error('pipeline bench frames are a multiple of 4 bytes');
  const ctl = new Control(t.ctl);
  const st = new RoleStats(t.stats);
  if (t.via === 'single') return single(t, ctl, st);
  if (t.via === 'postMessage') {
    if (t.role === 'gen') return postGen(t, ctl, st);
    if (t.role === 'lb') return postLb(t, ctl, st);
    return postCount(t, ctl, st);
  }
  const RB = await loadRingBuf();
  if (RB === undefined) throw new Error('ringbuf.js is not installed');
  const rings = need(t.rings, 'rings').map((s) => new RB(s, Uint8Array));
  if (t.role === 'gen') return ringGen(t, ctl, st, rings[0]);
  if (t.role === 'lb') return ringLb(t, ctl, st, rings[0], rings.slice(1));
  return ringCount(t, ctl, st, rings[0]);
}

function gen(t: PipelineBenchTask): Generator {
  return new Generator(generator({ flows: t.flows, len: t.len }).options);
}

function pick(data: Uint8Array, off: number, len: number, n: number): number {
  const h = symmetricHash(data, off, len);
  return h === NON_IP ? 0 : h % n;
}

function single(t: PipelineBenchTask, ctl: Control, st: RoleStats): { packets: number } {
  const g = gen(t);
  const w = new FlatWriter(new ArrayBuffer(t.batch * t.len), t.len);
  const work = Array.from({ length: t.outputs }, () => new CountWork());
  const f = st.f64;
  let total = 0;
  ctl.arriveAndWait();
  while (ctl.stopLevel() < STOP_SENDERS) {
    const k = g.fill(w, t.batch);
    for (let i = 0; i < k; i++) {
      const off = i * t.len;
      work[pick(w.data, off, t.len, t.outputs)].frame(w.data, off, t.len);
    }
    total += k;
    f[ST_PACKETS] = total;
    st.publish();
  }
  return { packets: total };
}

/** Waits while `sent - credit[word]` is at least the window (Atomics.wait on the credit word). */
function waitCredit(
  credit: Int32Array,
  word: number,
  sent: number,
  ctl: Control,
  level: number,
  window: number,
): boolean {
  for (;;) {
    const got = Atomics.load(credit, word);
    if (((sent - got) | 0) < window) return true;
    if (ctl.stopLevel() >= level) return false;
    Atomics.wait(credit, word, got, 5);
  }
}

function ack(credit: Int32Array, word: number): void {
  Atomics.add(credit, word, 1);
  Atomics.notify(credit, word);
}

function postGen(t: PipelineBenchTask, ctl: Control, st: RoleStats): { packets: number } {
  const port = need(t.port, 'a port');
  const credit = new Int32Array(need(t.credit, 'credit'));
  const g = gen(t);
  const w = new FlatWriter(new ArrayBuffer(0), t.len);
  let msgs = 0;
  let total = 0;
  ctl.arriveAndWait();
  while (ctl.stopLevel() < STOP_SENDERS) {
    if (!waitCredit(credit, 0, msgs, ctl, STOP_SENDERS, t.window ?? WINDOW_MSGS)) break;
    // A transferred buffer is gone from the sender: a new one per batch.
    const buf = new ArrayBuffer(t.batch * t.len);
    w.retarget(buf);
    total += g.fill(w, t.batch);
    port.postMessage(buf, [buf]);
    msgs++;
    st.f64[ST_PACKETS] = total;
    st.publish();
  }
  return { packets: total };
}

function postLb(t: PipelineBenchTask, ctl: Control, st: RoleStats): Promise<{ packets: number }> {
  const input = need(t.port, 'an input port');
  const outs = need(t.ports, 'output ports');
  const credit = new Int32Array(need(t.credit, 'credit'));
  const n = outs.length;
  const len = t.len;
  const cap = t.batch * len;
  let bufs = outs.map(() => new Uint8Array(cap));
  const fill = new Int32Array(n);
  const sent = new Int32Array(n);
  let total = 0;
  const post = (o: number) => {
    if (!waitCredit(credit, 1 + o, sent[o], ctl, STOP_ALL, t.window ?? WINDOW_MSGS)) return;
    const b = bufs[o];
    const msg = fill[o] === cap ? b.buffer : b.buffer.slice(0, fill[o]);
    outs[o].postMessage(msg, [msg]);
    sent[o]++;
    bufs[o] = new Uint8Array(cap);
    fill[o] = 0;
  };
  ctl.arriveAndWait();
  input.on('message', (buf: ArrayBuffer) => {
    const d = new Uint8Array(buf);
    for (let off = 0; off + len <= d.length; off += len) {
      const o = pick(d, off, len, n);
      bufs[o].set(d.subarray(off, off + len), fill[o]);
      fill[o] += len;
      if (fill[o] === cap) post(o);
      total++;
    }
    ack(credit, 0);
    st.f64[ST_PACKETS] = total;
    st.publish();
  });
  return untilStopAll(ctl, () => {
    for (let o = 0; o < n; o++) if (fill[o] > 0) post(o);
    input.close();
    bufs = [];
    return { packets: total };
  });
}

function postCount(t: PipelineBenchTask, ctl: Control, st: RoleStats): Promise<{ packets: number; buckets: number }> {
  const input = need(t.port, 'an input port');
  const credit = new Int32Array(need(t.credit, 'credit'));
  const work = new CountWork();
  const len = t.len;
  ctl.arriveAndWait();
  input.on('message', (buf: ArrayBuffer) => {
    const d = new Uint8Array(buf);
    for (let off = 0; off + len <= d.length; off += len) work.frame(d, off, len);
    ack(credit, 1 + t.index);
    st.f64[ST_PACKETS] = work.packets;
    st.publish();
  });
  return untilStopAll(ctl, () => {
    input.close();
    return { packets: work.packets, buckets: work.buckets() };
  });
}

/** Resolves with `end()` once the coordinator says STOP_ALL (event-loop roles). */
function untilStopAll<R>(ctl: Control, end: () => R): Promise<R> {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (ctl.stopLevel() < STOP_ALL) return;
      clearInterval(timer);
      resolve(end());
    }, 5);
  });
}

/** ringbuf.js cannot wait: retry, and nap after a run of misses. */
class Backoff {
  private misses = 0;
  private readonly nap = new Int32Array(new SharedArrayBuffer(4));
  miss(): void {
    if (++this.misses >= MISSES_BEFORE_NAP) {
      this.misses = 0;
      Atomics.wait(this.nap, 0, 0, NAP_MS);
    }
  }
  hit(): void {
    this.misses = 0;
  }
}

function ringGen(t: PipelineBenchTask, ctl: Control, st: RoleStats, out: RingBuffer): { packets: number } {
  const g = gen(t);
  const w = new FlatWriter(new ArrayBuffer(t.batch * t.len), t.len);
  const bo = new Backoff();
  let total = 0;
  ctl.arriveAndWait();
  while (ctl.stopLevel() < STOP_SENDERS) {
    const k = g.fill(w, t.batch);
    let at = 0;
    const bytes = k * t.len;
    while (at < bytes) {
      const m = out.push(w.data, bytes - at, at);
      if (m === 0) {
        if (ctl.stopLevel() >= STOP_SENDERS) break;
        bo.miss();
      } else {
        bo.hit();
        at += m;
      }
    }
    total += at / t.len;
    st.f64[ST_PACKETS] = total;
    st.publish();
  }
  return { packets: total };
}

function ringLb(
  t: PipelineBenchTask,
  ctl: Control,
  st: RoleStats,
  input: RingBuffer,
  outs: RingBuffer[],
): { packets: number } {
  const len = t.len;
  const n = outs.length;
  const scratch = new Uint8Array(t.batch * len);
  const bo = new Backoff();
  let total = 0;
  ctl.arriveAndWait();
  for (;;) {
    const got = input.pop(scratch);
    if (got === 0) {
      if (ctl.stopLevel() >= STOP_ALL) break;
      bo.miss();
      continue;
    }
    bo.hit();
    for (let off = 0; off < got; off += len) {
      const o = pick(scratch, off, len, n);
      while (outs[o].push(scratch, len, off) === 0) {
        if (ctl.stopLevel() >= STOP_ALL) return { packets: total };
        bo.miss();
      }
      total++;
    }
    st.f64[ST_PACKETS] = total;
    st.publish();
  }
  return { packets: total };
}

function ringCount(
  t: PipelineBenchTask,
  ctl: Control,
  st: RoleStats,
  input: RingBuffer,
): { packets: number; buckets: number } {
  const len = t.len;
  const scratch = new Uint8Array(t.batch * len);
  const work = new CountWork();
  const bo = new Backoff();
  ctl.arriveAndWait();
  for (;;) {
    const got = input.pop(scratch);
    if (got === 0) {
      if (ctl.stopLevel() >= STOP_ALL) break;
      bo.miss();
      continue;
    }
    bo.hit();
    for (let off = 0; off < got; off += len) work.frame(scratch, off, len);
    st.f64[ST_PACKETS] = work.packets;
    st.publish();
  }
  return { packets: work.packets, buckets: work.buckets() };
}
