/**
 * A worker's side of the control and stats blocks (demo/protocol.ts): its state word, its
 * counters, the single-step gate and the slow-motion pause.
 *
 * Hazards:
 * - This runs in a worker: it blocks in Atomics.wait (at the gate, in a pause). The page
 *   never does; it only stores, adds and notifies.
 * - Called once or twice per batch on the hot path: the state word is stored only when it
 *   changes, the mode is one Atomics.load, and nothing here allocates.
 */
import {
  CT_GO,
  CT_MODE,
  CT_PAUSE_MS,
  CT_PAUSE_WAKE,
  gateWord,
  MODE_SLOW,
  MODE_STEP,
  SF_SYNCS,
  SF_WORDS,
  ST_STATE,
  STAT_BLOCK_BYTES,
  T_HELD,
  T_PAUSED,
  T_RUNNING,
} from './protocol.js';

export class ThreadCtl {
  /** This thread's Float64 counters (SF_*): plain stores, this thread only. */
  readonly f: Float64Array;
  private readonly c: Int32Array;
  private readonly st: Int32Array;
  private readonly gate: number;
  private state = -1;

  constructor(ctl: SharedArrayBuffer, stats: SharedArrayBuffer, index: number) {
    this.c = new Int32Array(ctl);
    this.st = new Int32Array(stats, index * STAT_BLOCK_BYTES, STAT_BLOCK_BYTES / 4);
    this.f = new Float64Array(stats, index * STAT_BLOCK_BYTES, SF_WORDS);
    this.gate = gateWord(index);
  }

  /** Publishes the thread's state (T_*), only when it changed: an Atomics.store costs ~8 ns. */
  set(s: number): void {
    if (s === this.state) return;
    this.state = s;
    Atomics.store(this.st, ST_STATE, s);
  }

  mode(): number {
    return Atomics.load(this.c, CT_MODE);
  }

  /** Blocks until the page sets the start word (every worker attached). */
  waitGo(): void {
    while (Atomics.load(this.c, CT_GO) === 0) Atomics.wait(this.c, CT_GO, 0, 100);
  }

  /**
   * Single step: waits at this thread's gate until the page releases one sync, takes it
   * and counts it. Returns true when it passed the gate (the sync is counted), false when
   * the page is not stepping (the caller counts its syncs itself). Leaving step mode
   * releases every waiting thread (the page notifies the gates).
   */
  passGate(): boolean {
    const c = this.c;
    if (Atomics.load(c, CT_MODE) !== MODE_STEP) return false;
    this.set(T_HELD);
    for (;;) {
      const g = Atomics.load(c, this.gate);
      if (g > 0) {
        if (Atomics.compareExchange(c, this.gate, g, g - 1) === g) break;
        continue;
      }
      if (Atomics.load(c, CT_MODE) !== MODE_STEP) {
        this.set(T_RUNNING);
        return false;
      }
      Atomics.wait(c, this.gate, 0, 250);
    }
    this.f[SF_SYNCS]++;
    this.set(T_RUNNING);
    return true;
  }

  /**
   * Counts a sync that did work (full speed and slow motion). Single step counts at the
   * gate instead: a sync begun before the page switched to single step and finished after
   * (a thread asleep in poll, woken by a stepped peer) is not counted, so a step moves
   * exactly one thread's count.
   */
  countSync(): void {
    if (Atomics.load(this.c, CT_MODE) !== MODE_STEP) this.f[SF_SYNCS]++;
  }

  /** Slow motion: the pause after a batch, so a person can follow the slots. */
  pauseIfSlow(): void {
    if (Atomics.load(this.c, CT_MODE) !== MODE_SLOW) return;
    const ms = Atomics.load(this.c, CT_PAUSE_MS);
    if (ms <= 0) return;
    this.set(T_PAUSED);
    // Nobody stores to this word: the wait ends by its timeout, or early when the page
    // notifies it (a new pause length, another mode).
    Atomics.wait(this.c, CT_PAUSE_WAKE, 0, ms);
    this.set(T_RUNNING);
  }
}
