/**
 * The life of a host thread that serves a guest (a passthrough kloop, an emulated NIC's
 * device thread): step while there is work; when there is none, linger (keep stepping)
 * for about `lingerUs`, then say what wakes it on the interface's bell, re-check, and
 * sleep. Shared so both sleep by the same no-lost-wake-up rule.
 */
import { BELL_SLEEP, SLEEP_KICK, SLEEP_RX, SLEEP_TX } from '../shm/layout.js';
import { type NotifyPolicy, SpinWindow } from './kernel/notify.js';
import { idleMark, idleSteps, spinIterations } from './spin.js';
import { traceSleep } from './trace.js';

export interface HostLoopOptions {
  /** Stay awake this long after the last work before sleeping (µs): a budget the adaptive policy adapts within. */
  lingerUs: number;
  /**
   * The notify policy. Adaptive: the linger (busy-wait too) is a budget it adapts within
   * as guest halt-polling's window does, capped at SPIN_MAX_US, also when threads
   * outnumber cores: unlike an app's busy-poll, a kloop's short linger saves the guest's
   * kicks and its own wake-ups, each of which costs both threads more CPU than it
   * (measured: guest->host pipe, batch 64, 3 threads on 2 cores: 19.9 Mpps lingering up to
   * 200 µs vs 15.3 not lingering, kicks 3.9e-5 vs 1.1e-2 per packet).
   */
  notify?: NotifyPolicy;
  /** Never sleep (the guest then never needs to kick). */
  busyWait: boolean;
  /** Longest sleep, so `stop` is seen even if nothing wakes the thread (ms). */
  pollMs: number;
  stop: () => boolean;
  /** Longest drain after the stop (ms, default DRAIN_MS). */
  drainMs?: number;
  /**
   * Wraps each pass of the loop: a tool that observes or steers the thread (the teaching
   * demo's counters, slow motion and single step). The wrapper returns what the pass
   * returned, or true to keep the loop from lingering and sleeping.
   */
  around?: (step: () => boolean) => () => boolean;
}

export interface HostLoopHooks {
  /** One pass over the work; true when anything moved. */
  step(): boolean;
  /** The interface's bell: peers and kicks wake the sleeper through its word. */
  readonly bell: Int32Array;
  /** Called before announcing sleep (the kloop asks for kicks here). */
  beforeSleep(): void;
  /** Called after waking or deciding not to sleep. */
  afterSleep(): void;
  /** The sleep's bound (ms), given the stop-check period (a kloop that asked for a batch sleeps less). */
  sleepMs?(pollMs: number): number;
  /** After a sleep that timed out with work there: was it at least what was asked (a lost wake-up)? */
  owed?(): boolean;
  /**
   * True while input published before the stop still waits to be moved (descriptors
   * waiting for room in the host ring, host packets waiting for guest buffers): the stop
   * drains it while the peers still run. Without it, the drain ends at the first idle pass.
   */
  pending?(): boolean;
}

export interface HostLoopResult {
  sleeps: number;
  /** Sleeps ended by a wake-up (a kick or the peer's news), not by the poll timeout. */
  wakeups: number;
  /** Sleeps that timed out with work already waiting: wake-ups that were lost. */
  late: number;
}

/** Longest drain after the stop (ms): a guest that keeps publishing cannot hold the thread longer. */
export const DRAIN_MS = 2000;

export function runHostLoop(h: HostLoopHooks, o: HostLoopOptions): HostLoopResult {
  const bits = SLEEP_TX | SLEEP_RX | SLEEP_KICK;
  const step = o.around ? o.around(() => h.step()) : () => h.step();
  // One step costs about eight loads: the linger budget is counted in steps, not read
  // from a clock (a clock read allocates). The adaptive policy moves it within the budget.
  const adaptive = o.notify === 'adaptive';
  // Adaptive treats busy-wait as a linger budget like any other: it adapts within it.
  const busyWait = o.busyWait && !adaptive;
  const linger = new SpinWindow(o.notify ?? 'asleep', o.busyWait ? (adaptive ? 1e7 : 0) : o.lingerUs);
  let lingerSteps = Math.ceil(spinIterations(linger.us) / 8);
  let sleeps = 0;
  let wakeups = 0;
  let late = 0;
  let idle = 0;
  let iter = 0;
  for (;;) {
    if ((iter++ & 63) === 0 && o.stop()) break;
    if (step()) {
      if (idle !== 0) idleSteps(idle);
      idle = 0;
      continue;
    }
    if ((++idle & 255) === 0) idleMark(idle);
    if (busyWait || idle < lingerSteps) continue;
    h.beforeSleep();
    Atomics.store(h.bell, BELL_SLEEP, bits);
    // Re-check after saying we sleep: news published after this point comes with a notify.
    let timedOut = false;
    if (!step()) {
      sleeps++;
      const slept = performance.now();
      const bound = h.sleepMs?.(o.pollMs) ?? o.pollMs;
      const r = Atomics.wait(h.bell, BELL_SLEEP, bits, bound);
      traceSleep(slept);
      if (r === 'ok') wakeups++;
      // A sleep the policy bounded (a batch asked for) proves nothing when it times out.
      timedOut = r === 'timed-out' && bound >= o.pollMs;
      linger.learn((performance.now() - slept) * 1000);
      lingerSteps = Math.ceil(spinIterations(linger.us) / 8);
    }
    // Still our flag after a timeout: nobody came to wake us (a waker clears it first).
    const unwoken = Atomics.exchange(h.bell, BELL_SLEEP, 0) === bits && timedOut;
    h.afterSleep();
    // Work waiting then was published while we slept, and its wake-up was lost (unless
    // it was less than the sleeper asked for: then the bounded sleep was the rule).
    if (unwoken && step() && (h.owed?.() ?? true)) late++;
    idleSteps(idle);
    idle = 0;
    iter = 0;
  }
  idleSteps(idle);
  // Drain: whatever was published before the stop goes through, also what waits for the
  // peer to make room. Bounded in time: a guest that keeps publishing (a hostile one, or
  // one still running) cannot hold the host thread.
  const end = performance.now() + (o.drainMs ?? DRAIN_MS);
  for (let i = 1; ; i++) {
    if (!step() && !(h.pending?.() ?? false)) break;
    if ((i & 255) === 0 && performance.now() > end) break;
  }
  return { sleeps, wakeups, late };
}
