/**
 * The small shared blocks of a pipeline run: the control block (start barrier, the stop
 * flag, the failure flag and one "done" word per pipeline thread) and a stats block per
 * thread (Float64 counters the thread writes with plain stores and publishes with an
 * epoch bump, which the main thread reads for live stats).
 *
 * Threads are numbered across the whole pipeline (every worker of every node, and the
 * main-thread nodes): `done[t]` is 1 once thread t has pushed out everything it will ever
 * send, 2 when it died (its task failed outside a stage's batch: whatever is in its rings
 * is lost, and producers feeding it stop waiting for room and count what they hold).
 */
import { BELL_SLEEP, SLEEP_RX, SLEEP_TX } from '../../shm/layout.js';
import { wakeSleeper } from '../kernel/kring.js';

// Control block words, each written by a different party on its own 128-byte pair.
const STOP = 0; // main thread: 1 = sources stop
const FAILED = 32; // any thread: 1 = a stage failed (the run rejects)
const READY = 64; // threads that reached their loop
const GO = 96; // main thread: 1 = start
const DONE0 = 128; // done[t], one word each (written once)

/** done[t]: thread t finished (everything it will send is sent). */
export const DONE_OK = 1;
/** done[t]: thread t died; what is in its rings is lost. */
export const DONE_DEAD = 2;

/** Both sleep bits: a wake-up for whatever a thread sleeps for. */
export const SLEEP_ANY = SLEEP_RX | SLEEP_TX;

/** A control block for a run of `threads` pipeline threads. */
export function createControl(threads: number): SharedArrayBuffer {
  return new SharedArrayBuffer((DONE0 + threads) * 4);
}

/** The control block's operations (see the file's header). */
export class RunControl {
  readonly i32: Int32Array;
  constructor(readonly sab: SharedArrayBuffer) {
    this.i32 = new Int32Array(sab);
  }
  get threads(): number {
    return this.i32.length - DONE0;
  }
  stopped(): boolean {
    return Atomics.load(this.i32, STOP) !== 0;
  }
  stop(): void {
    Atomics.store(this.i32, STOP, 1);
  }
  failed(): boolean {
    return Atomics.load(this.i32, FAILED) !== 0;
  }
  fail(): void {
    Atomics.store(this.i32, FAILED, 1);
    Atomics.store(this.i32, STOP, 1);
  }
  done(t: number): number {
    return Atomics.load(this.i32, DONE0 + t);
  }
  setDone(t: number, v = DONE_OK): void {
    Atomics.store(this.i32, DONE0 + t, v);
    Atomics.notify(this.i32, DONE0 + t);
  }
  /** True when every thread in `ts` is done (finished or dead). */
  allDone(ts: Int32Array | readonly number[]): boolean {
    for (let i = 0; i < ts.length; i++) if (Atomics.load(this.i32, DONE0 + ts[i]) === 0) return false;
    return true;
  }
  arrive(): void {
    Atomics.add(this.i32, READY, 1);
    Atomics.notify(this.i32, READY);
  }
  ready(): number {
    return Atomics.load(this.i32, READY);
  }
  go(): void {
    Atomics.store(this.i32, GO, 1);
    Atomics.notify(this.i32, GO);
  }
  /** A worker waits for the go (or a stop: a failure before the start). */
  waitGo(): void {
    while (Atomics.load(this.i32, GO) === 0 && !this.stopped()) Atomics.wait(this.i32, GO, 0, 50);
  }
  /** Main thread: resolves once `n` threads are ready, or false after `timeoutMs`. */
  async waitReady(n: number, timeoutMs: number, abort: () => boolean): Promise<boolean> {
    const end = performance.now() + timeoutMs;
    for (;;) {
      const v = Atomics.load(this.i32, READY);
      if (v >= n) return true;
      if (abort()) return false;
      const left = end - performance.now();
      if (left <= 0) return false;
      const w = Atomics.waitAsync(this.i32, READY, v, Math.min(left, 50));
      if (w.async) await w.value;
    }
  }
}

/** Rings every bell in `bells` for whatever its thread sleeps on (a stop, a failure, a finished upstream). */
export function wakeAll(bells: readonly Int32Array[]): void {
  for (const b of bells) wakeSleeper(b, BELL_SLEEP, SLEEP_ANY);
}

// ---- per-thread stats: Float64 fields, then the epoch word ----
/** Packets taken from inputs (a source: produced). */
export const S_IN = 0;
/** Bytes of those. */
export const S_BYTES = 1;
/** Packets handed to outputs. */
export const S_OUT = 2;
/** Dropped by the stage's decision (lb: dropped for full outputs). */
export const S_DROPPED = 3;
/** Ended here (a terminal stage, a sink). */
export const S_CONSUMED = 4;
/** Discarded after the stage failed. */
export const S_ERROR_DROPS = 5;
/** Held for a consumer that died. */
export const S_LOST = 6;
/** Batches that moved at least one packet. */
export const S_BATCHES = 7;
/** Empty slots skipped (a kernel drop upstream, lb's flush). */
export const S_EMPTY = 8;
/** Times the thread slept. */
export const S_SLEEPS = 9;
/** Lb: frames that were not IP. */
export const S_NON_IP = 10;
/** The thread's Linux thread id (0: unknown), for its schedstat. */
export const S_TID = 11;
/** Fields before lb's per-output ones. */
export const S_FIXED = 12;
/** lb: per output, forwarded, dropped, queued (after the fixed fields). */
export const S_LB_PER_OUTPUT = 3;

/** Bytes of a thread's stats block (lb: with `outputs` per-output triples). */
export function statsBytes(outputs: number): number {
  return (S_FIXED + outputs * S_LB_PER_OUTPUT + 1) * 8;
}

/** A thread's stats block: plain Float64 fields, published by an epoch bump. */
export class ThreadStats {
  readonly f64: Float64Array;
  private readonly i32: Int32Array;
  private readonly epoch: number;
  /** Called once, from publish(), when the thread has taken `warmAt` packets (the end of its warm-up). */
  private warmHook: (() => void) | null = null;
  private warmAt = 0;
  constructor(readonly sab: SharedArrayBuffer) {
    this.f64 = new Float64Array(sab, 0, sab.byteLength / 8 - 1);
    this.i32 = new Int32Array(sab);
    this.epoch = this.i32.length - 2;
  }
  /** Makes the plain field writes before it visible to a reader that reads the epoch first. */
  publish(): void {
    Atomics.add(this.i32, this.epoch, 1);
    if (this.warmHook !== null && this.f64[S_IN] >= this.warmAt) {
      const h = this.warmHook;
      this.warmHook = null;
      h();
    }
  }
  /** Runs `fn` once this thread has taken `packets` packets (checked at each publish: one compare). */
  whenWarm(packets: number, fn: () => void): void {
    this.warmAt = packets;
    this.warmHook = fn;
  }
  /** A copy of the fields (allocates: the main thread's stats()). */
  snapshot(): Float64Array {
    Atomics.load(this.i32, this.epoch);
    return this.f64.slice();
  }
}
