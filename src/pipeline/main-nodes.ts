/**
 * Nodes on the main thread, which must never block: a source fed by the caller's frames
 * (an iterable or a fill function) and a sink that hands batches to the caller (a function,
 * or `for await` over `pipeline.output(name)`). They sleep with Atomics.waitAsync on their
 * thread's bell, as workers sleep with Atomics.wait. Frames from the caller's memory are
 * copied into the links' buffers (they are not in the region); what a sink sees is the
 * link's own buffers, valid until the batch is handed back.
 */
import { NetmapError } from '../errors.js';
import type { NetmapRing } from '../ring.js';
import { NON_IP, symmetricHash } from './hash.js';
import { newsWant, WAIT_IN, waitRoomAsync } from './io.js';
import { S_BATCHES, S_BYTES, S_CONSUMED, S_DROPPED, S_ERROR_DROPS, S_IN, S_LOST, S_OUT } from './runtime.js';
import type { FrameWriter, MainSource } from './sources.js';
import { Batch, failRun, finishThread, type NodeIo, type StageFailure } from './stage.js';

/** A FrameWriter over `n` private buffers (fromFunction fills these; they are then copied to the links). */
class ScratchWriter implements FrameWriter {
  readonly data: Uint8Array;
  readonly i32: Int32Array;
  readonly lens: Int32Array;
  constructor(
    readonly bufSize: number,
    n: number,
  ) {
    this.data = new Uint8Array(bufSize * n);
    this.i32 = new Int32Array(this.data.buffer);
    this.lens = new Int32Array(n);
  }
  offset(i: number): number {
    return i * this.bufSize;
  }
  setLen(i: number, len: number): void {
    this.lens[i] = len;
  }
}

/** Copies `len` bytes of `src` at `from` into output `out`'s picked link; false if its consumer is gone. */
async function put(io: NodeIo, src: Uint8Array, from: number, len: number): Promise<boolean> {
  const out = io.outputs[0];
  let li = 0;
  if (out.n > 1) {
    const h = symmetricHash(src, from, len);
    li = h === NON_IP ? 0 : h % out.n;
  }
  const r = out.rings[li];
  if (r.cur === r.tail && !(await waitRoomAsync(out, li, io.ctl, io.sleeper))) return false;
  const k = r.cur;
  const bufSize = r.bufSize;
  if (!(len >= 1 && len <= bufSize)) {
    throw new NetmapError('EINVAL', `a frame must be 1 to ${bufSize} bytes, got ${len}`);
  }
  r.mem.set(src.subarray(from, from + len), r.bufOffset(k));
  r.setSlot(k, r.bufIdx(k), len, 0);
  r.advance(r.next(k));
  out.dirty[li] = 1;
  return true;
}

/** Runs a main-thread source until it ends or the run stops. */
export async function runMainSource(io: NodeIo, src: MainSource): Promise<{ failure?: StageFailure }> {
  const f = io.stats.f64;
  const out = io.outputs[0];
  let failure: StageFailure | undefined;
  try {
    if (src.frames !== undefined) {
      const frames = src.frames as AsyncIterable<Uint8Array> & Iterable<Uint8Array>;
      const it =
        typeof frames[Symbol.asyncIterator] === 'function' ? frames[Symbol.asyncIterator]() : frames[Symbol.iterator]();
      let inBatch = 0;
      while (!io.ctl.stopped()) {
        let step: IteratorResult<Uint8Array>;
        try {
          step = await it.next();
        } catch (e) {
          failure = failRun(io, e, f[S_IN], 'fill');
          break;
        }
        if (step.done) break;
        const frame = step.value;
        if (!(frame instanceof Uint8Array)) {
          failure = failRun(io, new TypeError('fromFrames: every frame must be a Uint8Array'), f[S_IN], 'fill');
          break;
        }
        const ok = await put(io, frame, 0, frame.length);
        f[S_IN]++;
        f[S_BYTES] += frame.length;
        if (ok) f[S_OUT]++;
        else f[S_LOST]++;
        if (++inBatch >= io.batch) {
          out.flush();
          f[S_BATCHES]++;
          io.stats.publish();
          inBatch = 0;
        }
      }
      if (!failure) await it.return?.();
    } else if (src.fill !== undefined) {
      const w = new ScratchWriter(out.rings[0].bufSize, io.batch);
      while (!io.ctl.stopped()) {
        let k: number;
        try {
          k = src.fill(w, io.batch);
        } catch (e) {
          failure = failRun(io, e, f[S_IN], 'fill');
          break;
        }
        if (k < 0) break;
        for (let i = 0; i < k; i++) {
          const ok = await put(io, w.data, w.offset(i), w.lens[i]);
          f[S_IN]++;
          f[S_BYTES] += w.lens[i];
          if (ok) f[S_OUT]++;
          else f[S_LOST]++;
        }
        out.flush();
        f[S_BATCHES]++;
        io.stats.publish();
        // A fill that has nothing now must not starve the main thread's other work.
        if (k === 0) await new Promise((r) => setTimeout(r, 1));
      }
    }
  } catch (e) {
    failure ??= failRun(io, e, f[S_IN], 'fill');
  }
  finishThread(io);
  return { failure };
}

/**
 * The batches reaching a main-thread sink, as an async generator: each batch is the
 * caller's until it asks for the next one (or, with `fn`, until fn's promise settles).
 * Ends when every producer is done and the inputs are empty. A caller that stops early
 * (break out of `for await`) has the rest drained and counted as dropped, so nothing
 * upstream blocks.
 */
export async function* mainSinkBatches(
  io: NodeIo,
  state: { failed: boolean } = { failed: false },
): AsyncGenerator<Batch, void, undefined> {
  const { inputs, ctl, sleeper } = io;
  const f = io.stats.f64;
  const b = new Batch(io.batch, 0, io.name);
  const readyIn = () => inputs.readyOrFinished(ctl);
  let stoppedEarly = false;
  try {
    for (;;) {
      const i = inputs.pick();
      if (i < 0) {
        if (inputs.finished(ctl)) break;
        inputs.arm(newsWant(io.batch, inputs.rings[0]));
        await sleeper.waitAsync(WAIT_IN, readyIn);
        continue;
      }
      const r = inputs.rings[i];
      const { j, m, bytes } = span(r, io.batch);
      if (m > 0) {
        b.reset(r, r.cur, m, f[S_IN]);
        stoppedEarly = true;
        yield b;
        stoppedEarly = false;
        f[S_IN] += m;
        f[S_BYTES] += bytes;
        // After the caller's function failed, batches are only drained: error drops.
        f[state.failed ? S_ERROR_DROPS : S_CONSUMED] += m;
        f[S_BATCHES]++;
      }
      inputs.release(i, j);
      io.stats.publish();
    }
  } finally {
    if (stoppedEarly) {
      // The caller stopped reading: drain the rest, counted as dropped.
      await drainDropping(io);
    }
    finishThread(io);
  }
}

/** The slots [cur, cur + m) of `r` to hand out (up to `max`, stopping before an empty one) and where they end. */
function span(r: NetmapRing, max: number): { j: number; m: number; bytes: number } {
  const n = r.numSlots;
  let j = r.cur;
  let m = 0;
  let bytes = 0;
  let avail = r.tail - j;
  if (avail < 0) avail += n;
  while (m < avail && m < max) {
    const len = r.len(j);
    if (len === 0) {
      if (m === 0) {
        // An empty slot first: skip it (nothing to hand out).
        j = r.next(j);
        avail--;
        r.advance(j);
        continue;
      }
      break;
    }
    bytes += len;
    m++;
    j = r.next(j);
  }
  return { j, m, bytes };
}

async function drainDropping(io: NodeIo): Promise<void> {
  const { inputs, ctl, sleeper } = io;
  const f = io.stats.f64;
  const readyIn = () => inputs.readyOrFinished(ctl);
  for (;;) {
    const i = inputs.pick();
    if (i < 0) {
      if (inputs.finished(ctl)) return;
      inputs.arm(1);
      await sleeper.waitAsync(WAIT_IN, readyIn);
      continue;
    }
    const r = inputs.rings[i];
    let avail = r.tail - r.cur;
    if (avail < 0) avail += r.numSlots;
    f[S_IN] += avail;
    f[S_DROPPED] += avail;
    inputs.release(i, r.tail);
    io.stats.publish();
  }
}

/** Drives a main-thread sink with `fn` (called per batch; awaited when it returns a promise). */
export async function runMainSink(
  io: NodeIo,
  fn: (b: Batch) => void | Promise<void>,
  batches: AsyncGenerator<Batch, void, undefined>,
  state: { failed: boolean },
): Promise<{ failure?: StageFailure }> {
  let failure: StageFailure | undefined;
  for await (const b of batches) {
    if (failure !== undefined) continue;
    try {
      const r = fn(b);
      if (r !== undefined && typeof (r as Promise<void>).then === 'function') await r;
    } catch (e) {
      failure = failRun(io, e, b.position + b.at, 'batch');
      // This batch too is drained, not delivered.
      state.failed = true;
    }
  }
  return { failure };
}
