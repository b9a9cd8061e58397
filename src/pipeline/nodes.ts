/**
 * The loops of the built-in nodes that are not plain stages: a source (a FrameSource
 * filling the links' buffers) and lb (LbCore between its input link and its groups'
 * links). Each runs in its own pipeline thread; stages run in stage.ts's loop.
 */

import { copyFrame, type RegionViews } from '../../shm/views.js';
import { POLLIN } from '../port.js';
import { newsWant, type Output, WAIT_IN, WAIT_OUT, waitRoom } from './io.js';
import { LbCore, type LbOptions } from './lb.js';
import {
  S_BATCHES,
  S_BYTES,
  S_DROPPED,
  S_EMPTY,
  S_FIXED,
  S_IN,
  S_LB_PER_OUTPUT,
  S_LOST,
  S_NON_IP,
  S_OUT,
} from './runtime.js';
import type { FrameSource, FrameWriter } from './sources.js';
import { failRun, type NodeIo, type StageFailure } from './stage.js';

/** A FrameWriter over `m` free slots of a TX ring from slot `j0` (the source writes in place). */
class RingWriter implements FrameWriter {
  data: Uint8Array;
  i32: Int32Array;
  bufSize: number;
  private slotBase = 0;
  private j0 = 0;
  private n = 1;
  private bufsOfs = 0;
  constructor(r: Output['rings'][number]) {
    this.data = r.mem;
    this.i32 = r.i32;
    this.bufSize = r.bufSize;
  }
  reset(r: Output['rings'][number], j0: number): void {
    this.data = r.mem;
    this.i32 = r.i32;
    this.bufSize = r.bufSize;
    this.slotBase = r.slotBase;
    this.j0 = j0;
    this.n = r.numSlots;
    this.bufsOfs = r.region.bufsOfs;
  }
  private slot(i: number): number {
    let k = this.j0 + i;
    if (k >= this.n) k -= this.n;
    return this.slotBase + 2 * k;
  }
  offset(i: number): number {
    return this.bufsOfs + this.i32[this.slot(i)] * this.bufSize;
  }
  setLen(i: number, len: number): void {
    const s = this.slot(i) + 1;
    this.i32[s] = (this.i32[s] & ~0xffff) | (len & 0xffff);
  }
}

/**
 * Runs a source: fills the free slots of its output's link (one consumer) in place, or,
 * when its output goes to several workers, fills a staging ring (the first link's extra
 * buffers, as a ring of its own) and swaps each frame's buffer into the link the flow hash
 * picks. Stops at the end of the source or when the run stops.
 */
export function runSource(io: NodeIo, src: FrameSource, staging: number[]): { failure?: StageFailure } {
  const { outputs, ctl, stats, sleeper } = io;
  const out = outputs[0];
  const f = stats.f64;
  const max = io.batch;
  let failure: StageFailure | undefined;
  if (out.n === 1) {
    const r = out.rings[0];
    const w = new RingWriter(r);
    while (!ctl.stopped()) {
      let room = r.tail - r.cur;
      if (room < 0) room += r.numSlots;
      if (room === 0) {
        if (!waitRoom(out, 0, ctl, sleeper)) break;
        continue;
      }
      w.reset(r, r.cur);
      let k: number;
      try {
        k = src.fill(w, Math.min(room, max));
      } catch (e) {
        failure = failRun(io, e, f[S_IN], 'fill');
        break;
      }
      if (k < 0) break;
      if (k === 0) continue;
      let bytes = 0;
      let j = r.cur;
      for (let i = 0; i < k; i++) {
        bytes += r.len(j);
        j = j + 1 === r.numSlots ? 0 : j + 1;
      }
      r.advance(j);
      out.ports[0].txsync();
      f[S_IN] += k;
      f[S_OUT] += k;
      f[S_BYTES] += bytes;
      f[S_BATCHES]++;
      stats.publish();
    }
    return { failure };
  }
  // Fan-out: a private staging "ring" of extra buffers; frames move on by buffer swaps.
  const st = new StagingWriter(out.rings[0], staging);
  const lens = st.lens;
  while (!ctl.stopped()) {
    let k: number;
    try {
      k = src.fill(st, Math.min(max, staging.length));
    } catch (e) {
      failure = failRun(io, e, f[S_IN], 'fill');
      break;
    }
    if (k < 0) break;
    if (k === 0) continue;
    let bytes = 0;
    let lost = 0;
    const data = st.data;
    for (let i = 0; i < k; i++) {
      const len = lens[i];
      bytes += len;
      const li = out.pick(data, st.offset(i), len);
      const t = out.rings[li];
      if (t.cur === t.tail && !waitRoom(out, li, ctl, sleeper)) {
        lost++;
        continue;
      }
      const s = t.slotBase + 2 * t.cur;
      if (t.mem === data) {
        // Swap the staged buffer into the link's slot; the slot's old buffer is staged next.
        const old = t.i32[s];
        t.i32[s] = st.bufs[i];
        t.i32[s + 1] = len | (1 << 16);
        st.bufs[i] = old;
      } else {
        // A link in memory of its own (an isolated stage): the frame is copied.
        copyFrame(st.region, st.bufs[i], t.region, t.i32[s], len);
        t.i32[s + 1] = len;
      }
      t.advance(t.cur + 1 === t.numSlots ? 0 : t.cur + 1);
      out.dirty[li] = 1;
    }
    out.flush();
    f[S_IN] += k;
    f[S_OUT] += k - lost;
    if (lost > 0) f[S_LOST] += lost;
    f[S_BYTES] += bytes;
    f[S_BATCHES]++;
    stats.publish();
  }
  st.giveBack(staging);
  return { failure };
}

/** A FrameWriter over a list of spare buffers (the staging of a fanning-out source). */
class StagingWriter implements FrameWriter {
  readonly data: Uint8Array;
  readonly i32: Int32Array;
  readonly bufSize: number;
  readonly bufs: Int32Array;
  readonly lens: Int32Array;
  readonly region: RegionViews;
  private readonly bufsOfs: number;
  constructor(r: Output['rings'][number], staging: readonly number[]) {
    this.region = r.region;
    this.data = r.mem;
    this.i32 = r.i32;
    this.bufSize = r.bufSize;
    this.bufsOfs = r.region.bufsOfs;
    this.bufs = Int32Array.from(staging);
    this.lens = new Int32Array(staging.length);
  }
  offset(i: number): number {
    return this.bufsOfs + this.bufs[i] * this.bufSize;
  }
  setLen(i: number, len: number): void {
    this.lens[i] = len;
  }
  /** The staged buffers now (they changed with every swap), to return to the pool. */
  giveBack(into: number[]): void {
    for (let i = 0; i < this.bufs.length; i++) into[i] = this.bufs[i];
  }
}

/**
 * Runs lb between the thread's one input and its outputs (one Output per group, one link
 * per consumer worker). At the end of its input it pushes its overflow queues and passes
 * what earlier groups released on to the later ones, then stops. Per-output counters go
 * to the stats block after the fixed fields.
 */
export function runLb(io: NodeIo, o: Required<LbOptions>): { failure?: StageFailure } {
  const { inputs, outputs, ctl, stats, sleeper } = io;
  const f = stats.f64;
  const inPort = inputs.ports[0];
  const rx = inputs.rings[0];
  const extra = inPort.allocBufs(inPort.extraBufs);
  const core = new LbCore(
    rx,
    outputs.map((g) => g.rings),
    { extraBufs: extra, onFull: o.onFull, fallback: o.fallback, seed: o.seed },
  );
  const links = outputs.flatMap((g) => g.ports);
  const consumers = outputs.flatMap((g) => Array.from(g.consumers));
  const nOut = links.length;
  const publish = () => {
    f[S_IN] = core.received;
    f[S_EMPTY] = core.empty;
    f[S_NON_IP] = core.nonIp;
    let fw = 0;
    let dr = 0;
    for (let i = 0; i < nOut; i++) {
      const b = S_FIXED + i * S_LB_PER_OUTPUT;
      f[b] = core.forwarded[i];
      f[b + 1] = core.dropped[i];
      f[b + 2] = core.queued(i);
      // Every packet meets group 0 first: its outputs account for the input (later groups: per output).
      if (i < outputs[0].n) {
        fw += core.forwarded[i];
        dr += core.dropped[i];
      }
    }
    f[S_OUT] = fw;
    f[S_DROPPED] = dr;
    stats.publish();
  };
  const syncOut = () => {
    for (let i = 0; i < nOut; i++) if (core.takeMoved(i)) links[i].txsync();
  };
  const want = newsWant(io.batch, rx);
  /** Queued packets wait for room: any slot freed on their output is worth a wake-up. */
  const armQueued = () => {
    let at = 0;
    for (let g = 0; g < outputs.length; g++) {
      for (let i = 0; i < outputs[g].n; i++) if (core.queued(at + i) > 0) outputs[g].armRoom(i, 1);
      at += outputs[g].n;
    }
  };
  const readyIn = () => inputs.readyOrFinished(ctl) || anyRoomForQueued();
  const movedIn = () => inPort.moved(POLLIN);
  const anyRoomForQueued = () => {
    for (let i = 0; i < nOut; i++) {
      if (core.queued(i) > 0) {
        links[i].txsync();
        if (links[i].tx.cur !== links[i].tx.tail) return true;
      }
    }
    return false;
  };
  let failure: StageFailure | undefined;
  try {
    for (;;) {
      if (rx.cur === rx.tail) inPort.rxsync();
      for (let i = 0; i < nOut; i++) {
        const r = links[i].tx;
        if (r.cur === r.tail || core.queued(i) > 0) links[i].txsync();
      }
      const m = core.step(o.batch);
      syncOut();
      if (m > 0) {
        inPort.rxsync();
        f[S_BATCHES]++;
        publish();
        continue;
      }
      if (core.blocked >= 0) {
        // Wait mode: room on the output the next packet goes to (or its consumer is gone).
        const b = core.blocked;
        const g = groupOf(outputs, b);
        const li = b - firstOf(outputs, g);
        if (!waitRoom(outputs[g], li, ctl, sleeper)) {
          failure ??= failRun(io, new Error(`lb: the consumer of output ${b} is gone`), f[S_IN], 'batch');
          break;
        }
        continue;
      }
      if (inputs.finished(ctl)) break;
      inputs.arm(want);
      armQueued();
      sleeper.wait(core.queuedTotal() > 0 ? WAIT_IN | WAIT_OUT : WAIT_IN, readyIn, movedIn);
    }
    // The end of the input: what lb holds (queues, packets earlier groups released) goes on.
    while (!core.idle()) {
      for (const l of links) l.txsync();
      core.step(0);
      core.passOn();
      syncOut();
      if (core.idle()) break;
      let gone = false;
      for (let i = 0; i < nOut; i++) if (ctl.done(consumers[i]) !== 0) gone = true;
      if (gone) {
        // A consumer died or the run failed: what is held for it cannot be delivered.
        f[S_LOST] += core.queuedTotal();
        break;
      }
      for (const g of outputs) for (let i = 0; i < g.n; i++) g.armRoom(i, 1);
      sleeper.wait(WAIT_OUT, anyRoomOrPending, () => false);
    }
  } finally {
    publish();
  }
  // Buffers in the free queue go back to the input link's pool.
  const back = core.takeFreeBufs();
  if (back.length > 0) inPort.freeBufs(back);
  return { failure };

  function anyRoomOrPending(): boolean {
    for (const l of links) l.txsync();
    for (let i = 0; i < nOut; i++) {
      const r = links[i].tx;
      let owned = r.tail - r.cur;
      if (owned < 0) owned += r.numSlots;
      if (owned === r.numSlots - 1 || (core.queued(i) > 0 && owned > 0)) return true;
    }
    return false;
  }
}

function groupOf(outputs: Output[], o: number): number {
  let at = 0;
  for (let g = 0; g < outputs.length; g++) {
    at += outputs[g].n;
    if (o < at) return g;
  }
  return outputs.length - 1;
}
function firstOf(outputs: Output[], g: number): number {
  let at = 0;
  for (let i = 0; i < g; i++) at += outputs[i].n;
  return at;
}
