/**
 * The stage contract and the loop that runs a stage in a pipeline thread.
 *
 * A stage is a module that exports (as `default` or as `stage`) what `defineStage` makes:
 *
 * ```js
 * import { defineStage, PacketHeaders } from 'sabnetmap';
 * export default defineStage({
 *   outputs: ['rejected'],            // named outputs besides the default one (optional)
 *   create(ctx) {                     // once per worker thread; may be async
 *     const h = new PacketHeaders();
 *     const rejected = ctx.output('rejected');
 *     let seen = 0;
 *     return {
 *       batch(b) {                     // a batch of packets, in input order
 *         for (let i = 0; i < b.length; i++) {
 *           h.parse(b.data, b.offset(i), b.len(i));
 *           seen++;
 *           if (h.proto !== 17) b.forward(i, rejected);  // default: forward(i) to output 0
 *         }
 *       },
 *       finish() { return seen; },     // once, after the last batch: the worker's result
 *     };
 *   },
 * });
 * ```
 *
 * Per packet a stage forwards (the default, to the default output; or to a named one),
 * drops (`b.drop(i)`, counted), or edits the bytes in place (`b.data` at `b.offset(i)`,
 * `b.setLen(i, n)`): the buffer itself moves on, so an edit costs no copy. A stage with no
 * output (the pipeline's last) consumes what it sees. `Batch` and everything it returns
 * are plain numbers and one reused object: nothing is allocated per packet.
 */
import { NetmapError } from '../errors.js';
import type { NetmapRing } from '../ring.js';
import { type Inputs, newsWant, type Output, placeInto, type Sleeper, WAIT_IN, waitRoom } from './io.js';
import {
  DONE_OK,
  type RunControl,
  S_BATCHES,
  S_BYTES,
  S_CONSUMED,
  S_DROPPED,
  S_EMPTY,
  S_ERROR_DROPS,
  S_IN,
  S_LOST,
  S_OUT,
  S_SLEEPS,
  type ThreadStats,
  wakeAll,
} from './runtime.js';

const STAGE_BRAND = Symbol.for('sabnetmap.stage');

/** What a stage's `create` gets: who it is and how to name its outputs. */
export interface StageContext {
  /** The stage's name in the pipeline. */
  readonly name: string;
  /** This worker's index (0 to workers - 1) and how many workers the stage has. */
  readonly worker: number;
  readonly workers: number;
  /** The options the pipeline gave the stage (structured-cloned into the worker). */
  readonly options: unknown;
  /** The stage's named outputs (its definition's `outputs`). */
  readonly outputs: readonly string[];
  /** True when the stage's default output goes somewhere (false: the stage consumes). */
  readonly forwards: boolean;
  /** The index of named output `name` for `batch.forward(i, index)`; the default output is 0. */
  output(name: string): number;
}

/** One worker's instance of a stage. */
export interface Stage<R = unknown> {
  /** Decides for every packet of the batch (the default: forward to the default output). */
  batch(b: Batch): void;
  /** After the last batch: the worker's result (structured-cloned to the main thread). */
  finish?(): R;
}

/** What a stage module exports (made by `defineStage`). */
export interface StageDefinition<R = unknown> {
  readonly outputs: readonly string[];
  create(ctx: StageContext): Stage<R> | Promise<Stage<R>>;
  readonly [STAGE_BRAND]: true;
}

/**
 * Makes a stage definition: `create` (or an object with `create` and the named `outputs`)
 * runs once per worker and returns the stage's `batch` (and `finish`).
 */
export function defineStage<R = unknown>(
  def:
    | ((ctx: StageContext) => Stage<R> | Promise<Stage<R>>)
    | { outputs?: readonly string[]; create(ctx: StageContext): Stage<R> | Promise<Stage<R>> },
): StageDefinition<R> {
  const create = typeof def === 'function' ? def : def?.create;
  if (typeof create !== 'function') throw new NetmapError('EINVAL', 'defineStage needs a create(ctx) function');
  const outputs = typeof def === 'function' ? [] : [...(def.outputs ?? [])];
  for (const o of outputs) {
    if (typeof o !== 'string' || o === '' || o === 'default') {
      throw new NetmapError('EINVAL', `a stage's named outputs are non-empty strings other than 'default', got '${o}'`);
    }
  }
  if (new Set(outputs).size !== outputs.length) throw new NetmapError('EINVAL', 'a stage names an output twice');
  return Object.freeze({ outputs: Object.freeze(outputs), create: create.bind(def), [STAGE_BRAND]: true as const });
}

/** True when `v` is a stage definition (made by defineStage, in this or another copy of the library). */
export function isStageDefinition(v: unknown): v is StageDefinition {
  return (
    typeof v === 'object' &&
    v !== null &&
    (v as Record<symbol, unknown>)[STAGE_BRAND] === true &&
    typeof (v as StageDefinition).create === 'function'
  );
}

/** The stage definition a module exports (`default` or `stage`), or null; the names it does export. */
export function stageOf(mod: Record<string, unknown>): { def: StageDefinition | null; exports: string[] } {
  for (const key of ['default', 'stage']) if (isStageDefinition(mod[key])) return { def: mod[key], exports: [] };
  return { def: null, exports: Object.keys(mod) };
}

/** A decision: forward to output >= 0, or one of these. */
export const DROP = -1;
/** See DROP: the packet ends here (a stage with no output). */
export const CONSUME = -2;

/**
 * A batch of packets as a stage sees them: `length` packets, each a buffer of `data`
 * (the link region's bytes) at `offset(i)`, `len(i)` bytes long. One object per worker,
 * reset for every batch; valid only during `batch()`.
 */
export class Batch {
  /** Packets in the batch. */
  length = 0;
  /** The memory every packet lives in (read and write frames at `offset(i)`). */
  data: Uint8Array = new Uint8Array(0);
  /** Packets this worker took from its inputs before this batch (packet i is number position + i). */
  position = 0;
  /** The last packet index an accessor was called with (where a failing stage was). */
  at = 0;
  /** Per packet: the output index, DROP or CONSUME. */
  readonly decision: Int16Array;
  private i32: Int32Array = new Int32Array(0);
  private slotBase = 0;
  private j0 = 0;
  private n = 1;
  private bufsOfs = 0;
  private bufSize = 0;
  private readonly outputs: number;
  private readonly stageName: string;

  constructor(max: number, outputs: number, stageName: string) {
    this.decision = new Int16Array(max);
    this.outputs = outputs;
    this.stageName = stageName;
  }

  /** @internal Points the batch at `m` slots of `r` from slot `j0`. */
  reset(r: NetmapRing, j0: number, m: number, position: number): void {
    this.data = r.mem;
    this.i32 = r.i32;
    this.slotBase = r.slotBase;
    this.j0 = j0;
    this.n = r.numSlots;
    this.bufsOfs = r.region.bufsOfs;
    this.bufSize = r.bufSize;
    this.length = m;
    this.position = position;
    this.at = 0;
    this.decision.fill(this.outputs > 0 ? 0 : CONSUME, 0, m);
  }

  private word(i: number): number {
    if (i >>> 0 >= this.length) throw new RangeError(`packet ${i} is not in this batch of ${this.length}`);
    this.at = i;
    let k = this.j0 + i;
    if (k >= this.n) k -= this.n;
    return this.slotBase + 2 * k;
  }

  /** Byte offset of packet i's first byte in `data`. */
  offset(i: number): number {
    return this.bufsOfs + this.i32[this.word(i)] * this.bufSize;
  }
  /** Packet i's length in bytes. */
  len(i: number): number {
    return this.i32[this.word(i) + 1] & 0xffff;
  }
  /** Sets packet i's length (1 to the buffer size, `maxLen`), after an edit that grew or shrank it. */
  setLen(i: number, len: number): void {
    const w = this.word(i) + 1;
    if (!(len >= 1 && len <= this.bufSize) || len !== (len | 0)) {
      throw new RangeError(`packet length must be an integer from 1 to ${this.bufSize}, got ${len}`);
    }
    this.i32[w] = (this.i32[w] & ~0xffff) | len;
  }
  /** The largest length a packet may have here (the buffer size). */
  get maxLen(): number {
    return this.bufSize;
  }
  /** Forwards packet i to `output` (0, the default output, or an index from ctx.output(name)). */
  forward(i: number, output = 0): void {
    this.word(i);
    if (output >>> 0 >= this.outputs) {
      throw new RangeError(
        this.outputs === 0
          ? `stage '${this.stageName}' has no output to forward to`
          : `output ${output} does not exist (0 to ${this.outputs - 1})`,
      );
    }
    this.decision[i] = output;
  }
  /** Drops packet i (counted in the stage's drops). */
  drop(i: number): void {
    this.word(i);
    this.decision[i] = DROP;
  }
}

/** Sink for warm()'s loads, so they are not optimized away. */
let _touched = 0;

/** Loads the first byte of the buffers of `m` slots of `r` from slot `j` (see runStage). */
function warm(r: NetmapRing, j: number, m: number): void {
  const i32 = r.i32;
  const u8 = r.mem;
  const base = r.slotBase;
  const n = r.numSlots;
  const ofs = r.region.bufsOfs;
  const size = r.bufSize;
  let x = 0;
  for (let k = 0; k < m; k++) {
    x ^= u8[ofs + i32[base + 2 * j] * size + 14];
    j = j + 1 === n ? 0 : j + 1;
  }
  _touched ^= x;
}

/** A stage that failed: where and why. */
export interface StageFailure {
  message: string;
  stack?: string;
  /** The position of the packet the stage last touched in its worker's input (-1: outside batch()). */
  position: number;
  /** 'batch', 'create' or 'finish'. */
  during: string;
}

/** Everything a pipeline thread needs to run its node's loop. */
export interface NodeIo {
  name: string;
  worker: number;
  workers: number;
  /** This thread's number in the run. */
  self: number;
  inputs: Inputs;
  /** The default output first, then the named ones in the definition's order. */
  outputs: Output[];
  ctl: RunControl;
  sleeper: Sleeper;
  stats: ThreadStats;
  /** Most packets per batch. */
  batch: number;
  /** Every thread's bell: a failure wakes them all; the end wakes the consumers. */
  allBells: Int32Array[];
  consumerBells: Int32Array[];
}

/** Records a failure, stops the run's sources and wakes every thread (they drain, then stop). */
export function failRun(io: NodeIo, e: unknown, position: number, during: string): StageFailure {
  io.ctl.fail();
  wakeAll(io.allBells);
  const err = e instanceof Error ? e : new Error(String(e));
  return { message: err.message, stack: err.stack, position, during };
}

/** Says this thread has sent all it will, and wakes its consumers (they may be waiting for that). */
export function finishThread(io: NodeIo): void {
  for (const o of io.outputs) {
    o.flushAll();
    o.flushWakes();
  }
  io.stats.f64[S_SLEEPS] = io.sleeper.sleeps;
  io.stats.publish();
  io.ctl.setDone(io.self, DONE_OK);
  wakeAll(io.consumerBells);
}

/**
 * Runs `stage` over the thread's inputs until every input is finished (its producers are
 * done and it is empty), moving each packet where the stage decided. A stage that throws
 * fails the run: from then on its input is drained and counted as error drops, so its
 * producers never block and nothing is lost uncounted. Returns the stage's result, or the
 * failure.
 */
export function runStage(
  io: NodeIo,
  stage: Stage,
  failed?: StageFailure,
): { result?: unknown; failure?: StageFailure } {
  const { inputs, outputs, ctl, sleeper, stats } = io;
  const f = stats.f64;
  const b = new Batch(io.batch, outputs.length, io.name);
  const dec = b.decision;
  const readyIn = () => inputs.readyOrFinished(ctl);
  const movedIn = () => inputs.moved();
  const want = inputs.length > 0 ? newsWant(io.batch, inputs.rings[0]) : 1;
  let failure: StageFailure | undefined = failed;
  for (;;) {
    const i = inputs.pick();
    if (i < 0) {
      for (let o = 0; o < outputs.length; o++) outputs[o].flush();
      if (inputs.finished(ctl)) break;
      inputs.arm(want);
      sleeper.wait(WAIT_IN, readyIn, movedIn);
      continue;
    }
    const r = inputs.rings[i];
    const n = r.numSlots;
    const ri = r.i32;
    const rb = r.slotBase;
    let j = r.cur;
    let m = r.tail - j;
    if (m < 0) m += n;
    if (m > io.batch) m = io.batch;
    // Empty slots (len 0: a kernel drop upstream, lb's flush) are skipped, never shown.
    let empty = 0;
    while (m > 0 && (ri[rb + 2 * j + 1] & 0xffff) === 0) {
      j = j + 1 === n ? 0 : j + 1;
      m--;
      empty++;
    }
    for (let k = 0, jj = j; k < m; k++) {
      if ((ri[rb + 2 * jj + 1] & 0xffff) === 0) {
        m = k;
        break;
      }
      jj = jj + 1 === n ? 0 : jj + 1;
    }
    if (empty > 0) f[S_EMPTY] += empty;
    if (m === 0) {
      inputs.release(i, j);
      continue;
    }
    b.reset(r, j, m, f[S_IN]);
    if (failure === undefined) {
      // Touch every packet's first line before the stage reads them: the loads do not
      // depend on one another, so the CPU overlaps the cache misses (the headers were
      // written on another core) instead of taking them one packet at a time.
      warm(r, j, m);
      try {
        stage.batch(b);
      } catch (e) {
        failure = failRun(io, e, f[S_IN] + b.at, 'batch');
      }
    }
    let bytes = 0;
    if (failure !== undefined) {
      for (let k = 0; k < m; k++) {
        bytes += ri[rb + 2 * j + 1] & 0xffff;
        j = j + 1 === n ? 0 : j + 1;
      }
      f[S_ERROR_DROPS] += m;
    } else {
      let out = 0;
      let dropped = 0;
      let consumed = 0;
      let lost = 0;
      for (let k = 0; k < m; k++) {
        const s = rb + 2 * j;
        const len = ri[s + 1] & 0xffff;
        bytes += len;
        const d = dec[k];
        if (d >= 0) {
          const o = outputs[d];
          const li = o.n === 1 ? 0 : o.pick(r.mem, r.region.bufsOfs + ri[s] * r.bufSize, len);
          const t = o.rings[li];
          if (t.cur === t.tail && !waitRoom(o, li, ctl, sleeper)) {
            lost++;
          } else {
            t.advance(placeInto(r, s, t, t.cur));
            o.dirty[li] = 1;
            out++;
          }
        } else if (d === DROP) {
          dropped++;
        } else {
          consumed++;
        }
        j = j + 1 === n ? 0 : j + 1;
      }
      f[S_OUT] += out;
      f[S_DROPPED] += dropped;
      f[S_CONSUMED] += consumed;
      if (lost > 0) f[S_LOST] += lost;
    }
    f[S_IN] += m;
    f[S_BYTES] += bytes;
    f[S_BATCHES]++;
    inputs.release(i, j);
    for (let o = 0; o < outputs.length; o++) outputs[o].flush();
    stats.publish();
  }
  if (failure === undefined) {
    try {
      return { result: stage.finish?.() };
    } catch (e) {
      return { failure: failRun(io, e, -1, 'finish') };
    }
  }
  return { failure };
}
