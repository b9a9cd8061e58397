/**
 * Ordered drain for a chain of forwarders (bridges and the kloops of their passed-through
 * ports). The session stops all forwarders at once (STOP_FORWARDERS); in a chain a stage
 * may only stop once everything upstream of it has gone through. So, at the stop, each
 * stage keeps forwarding until the stage before it says it has finished, then empties its
 * input, makes a last pass and says it has finished itself. One Int32 word per stage in
 * a small SharedArrayBuffer, plus an abort word a failing stage sets.
 */
import { BELL_BYTES, BELL_SLEEP, SLEEP_KICK } from '../shm/layout.js';
import { type Control, STOP_FORWARDERS } from './apps/control.js';
import { NetmapError } from './errors.js';
import type { HostLoopOptions } from './host-loop.js';
import { wakeSleeper } from './kernel/kring.js';
import type { NotifyPolicy } from './kernel/notify.js';
import { log } from './log.js';

/** Where one stage sits in a chain's stop order (plain data: it travels to workers). */
export interface StopOrderRef {
  /** The chain's block (from createStopOrder). */
  sab: SharedArrayBuffer;
  /** The stage this one waits for at the stop; -1: none (the senders' end is enough). */
  after: number;
  /** This stage's index. */
  self: number;
  /**
   * The next stage's bell when the next stage is a host thread that sleeps on one (a
   * kloop): rung like a guest's kick once this stage has finished, so it need not wait
   * out its poll timeout to see it.
   */
  wake?: SharedArrayBuffer;
}

const ABORT = 0;
const FIRST = 1;

/** How long a stage waits for the one before it at the stop before it gives up. */
export const DRAIN_TIMEOUT_MS = 10_000;

/** A chain's stop-order block for `stages` stages. */
export function createStopOrder(stages: number): SharedArrayBuffer {
  if (!Number.isInteger(stages) || stages < 1 || stages > 1 << 16) {
    throw new NetmapError('EINVAL', `a stop order needs 1 to 65536 stages, got ${stages}`);
  }
  return new SharedArrayBuffer((FIRST + stages) * 4);
}

/**
 * One stage's place in a chain's ordered drain: at the stop it forwards until the stage
 * before it has finished, then finishes itself.
 */
export class StopOrder {
  private readonly i32: Int32Array;
  private readonly after: number;
  private readonly self: number;
  private readonly wake: Int32Array | null;
  private deadline = 0;

  constructor(ref: StopOrderRef) {
    if (ref === null || typeof ref !== 'object' || !(ref.sab instanceof SharedArrayBuffer)) {
      throw new NetmapError('EINVAL', 'a stop order needs its SharedArrayBuffer');
    }
    const stages = ref.sab.byteLength / 4 - FIRST;
    const ok = (i: number) => Number.isInteger(i) && i >= 0 && i < stages;
    if (!ok(ref.self) || !(ref.after === -1 || (ok(ref.after) && ref.after !== ref.self))) {
      throw new NetmapError(
        'EINVAL',
        `bad stop order: stage ${ref.self} after ${ref.after} (stages 0 to ${stages - 1}, -1 for none)`,
      );
    }
    if (ref.wake !== undefined && !(ref.wake instanceof SharedArrayBuffer && ref.wake.byteLength === BELL_BYTES)) {
      throw new NetmapError('EINVAL', 'bad stop order: wake must be a bell');
    }
    this.wake = ref.wake === undefined ? null : new Int32Array(ref.wake);
    this.i32 = new Int32Array(ref.sab);
    this.after = ref.after;
    this.self = ref.self;
  }

  /**
   * True once the stage before this one has finished (or there is none, or a stage
   * failed, or DRAIN_TIMEOUT_MS passed since the first call: a stuck upstream must not
   * hang the run). Call it only once the stop was asked for.
   */
  upstreamDone(): boolean {
    if (this.after < 0 || Atomics.load(this.i32, FIRST + this.after) !== 0) return true;
    if (Atomics.load(this.i32, ABORT) !== 0) return true;
    const now = performance.now();
    if (this.deadline === 0) this.deadline = now + DRAIN_TIMEOUT_MS;
    else if (now > this.deadline) {
      log().warn({ stage: this.self, after: this.after }, 'stop order: the stage before did not finish; stopping');
      this.abort();
      return true;
    }
    return false;
  }

  /** This stage has pushed out everything it will ever forward. */
  finish(): void {
    Atomics.store(this.i32, FIRST + this.self, 1);
    Atomics.notify(this.i32, FIRST + this.self);
    if (this.wake !== null) wakeSleeper(this.wake, BELL_SLEEP, SLEEP_KICK);
  }

  /** A stage failed: nobody waits for anyone any more. */
  abort(): void {
    Atomics.store(this.i32, ABORT, 1);
  }

  /** True once stage `i` has finished (for tests and reports). */
  static finished(sab: SharedArrayBuffer, i: number): boolean {
    return Atomics.load(new Int32Array(sab), FIRST + i) !== 0;
  }
}

/** A host thread a role runs: a kloop, an emulated NIC's device thread. */
export interface HostThread {
  run(o: HostLoopOptions): void;
  close(): void;
}

/**
 * Runs host thread `make()` in a role: after the go, until the forwarders' stop and, on a
 * path with several host threads, until the one before it has finished (`ref`); then it
 * says it has finished. A failure, creation included, releases the stages after it.
 */
export function runHostThread<T extends HostThread, R>(
  ctl: Control,
  ref: StopOrderRef | undefined,
  o: { lingerUs: number; busyWait: boolean; notify?: NotifyPolicy },
  make: () => T,
  result: (t: T) => R,
): R {
  const order = ref === undefined ? null : new StopOrder(ref);
  let t: T | undefined;
  try {
    t = make();
    ctl.arriveAndWait();
    t.run({
      lingerUs: o.lingerUs,
      busyWait: o.busyWait,
      notify: o.notify,
      pollMs: 50,
      stop: () => ctl.stopLevel() >= STOP_FORWARDERS && (order === null || order.upstreamDone()),
    });
    order?.finish();
    return result(t);
  } catch (e) {
    order?.abort();
    throw e;
  } finally {
    t?.close();
  }
}
