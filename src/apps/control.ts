/**
 * The small shared blocks a scenario's roles use: a control block (start barrier and
 * the two-phase stop flag) and a stats block per role (live counters the coordinator
 * samples for per-interval reports).
 */
import { CTL_BYTES, CTL_GO, CTL_READY, CTL_STOP, ST_EPOCH_WORD, ST_FIELDS, STATS_BYTES } from '../../shm/layout.js';

/**
 * Stop levels, in order: senders stop at STOP_SENDERS; forwarders (a passthrough kloop)
 * make a last pass and stop at STOP_FORWARDERS; receivers drain and stop at STOP_ALL.
 */
export const STOP_SENDERS = 1;
export const STOP_FORWARDERS = 2;
/** Stop level: receivers drain and stop (every role has stopped). */
export const STOP_ALL = 3;

/** Called once, in this thread, when its next start barrier opens (see whenGo). */
let goHook: (() => void) | null = null;

/**
 * Runs `fn` in this thread right after its next arriveAndWait returns (the go, or a stop
 * before it): where a role's measured window starts (src/apps/cputime.ts). One hook per
 * thread (a module instance per worker); null clears it.
 */
export function whenGo(fn: (() => void) | null): void {
  goHook = fn;
}

/**
 * A run's control block in shared memory: the start barrier (ready, go) and the two-phase stop flag (STOP_* levels).
 */
export class Control {
  readonly sab: SharedArrayBuffer;
  private readonly i32: Int32Array;
  constructor(sab: SharedArrayBuffer = new SharedArrayBuffer(CTL_BYTES)) {
    this.sab = sab;
    this.i32 = new Int32Array(sab);
  }
  stopLevel(): number {
    return Atomics.load(this.i32, CTL_STOP);
  }
  stop(level: number): void {
    Atomics.store(this.i32, CTL_STOP, level);
    Atomics.notify(this.i32, CTL_GO);
  }
  /** A role says it is ready, then waits for the go (or a stop). */
  arriveAndWait(): void {
    Atomics.add(this.i32, CTL_READY, 1);
    Atomics.notify(this.i32, CTL_READY);
    while (Atomics.load(this.i32, CTL_GO) === 0 && this.stopLevel() === 0) {
      Atomics.wait(this.i32, CTL_GO, 0, 50);
    }
    const fn = goHook;
    goHook = null;
    fn?.();
  }
  ready(): number {
    return Atomics.load(this.i32, CTL_READY);
  }
  go(): void {
    Atomics.store(this.i32, CTL_GO, 1);
    Atomics.notify(this.i32, CTL_GO);
  }
  /** Resolves once `n` roles are ready (main-thread friendly). */
  async waitReady(n: number, timeoutMs: number): Promise<boolean> {
    const end = performance.now() + timeoutMs;
    for (;;) {
      const v = Atomics.load(this.i32, CTL_READY);
      if (v >= n) return true;
      const left = end - performance.now();
      if (left <= 0) return false;
      const w = Atomics.waitAsync(this.i32, CTL_READY, v, Math.min(left, 100));
      if (w.async) await w.value;
    }
  }
}

/** A role's live counters: Float64 fields written by the role, published by an epoch bump. */
export class RoleStats {
  readonly sab: SharedArrayBuffer;
  readonly f64: Float64Array;
  private readonly i32: Int32Array;
  constructor(sab: SharedArrayBuffer = new SharedArrayBuffer(STATS_BYTES)) {
    this.sab = sab;
    this.f64 = new Float64Array(sab, 0, ST_FIELDS);
    this.i32 = new Int32Array(sab);
  }
  /** Makes the plain field writes before it visible to a reader that loads the epoch. */
  publish(): void {
    Atomics.add(this.i32, ST_EPOCH_WORD, 1);
  }
  /** A copy of the fields, read after the epoch (so after the writes it publishes). */
  snapshot(): Float64Array {
    Atomics.load(this.i32, ST_EPOCH_WORD);
    return this.f64.slice();
  }
}
