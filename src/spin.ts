/** Busy-poll budgets without a clock. */

let loadsPerUs = 0;

function timeLoads(w: Int32Array, n: number): number {
  let x = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) x += Atomics.load(w, 0);
  return (performance.now() - t0) * 1000 + x;
}

/**
 * How many spin iterations (one Atomics.load each) make `us` microseconds. Spinning
 * counts loads because every clock read (performance.now, Date.now) allocates a heap
 * number. Measured once per thread, the fastest of a few warm runs (the first ones run
 * before the JIT has compiled the loop).
 */
export function spinIterations(us: number): number {
  if (loadsPerUs === 0) {
    const w = new Int32Array(new SharedArrayBuffer(4));
    const n = 100_000;
    let best = Number.POSITIVE_INFINITY;
    for (let r = 0; r < 5; r++) best = Math.min(best, timeLoads(w, n));
    loadsPerUs = Math.max(1, n / Math.max(best, 1));
  }
  return Math.ceil(us * loadsPerUs);
}

/** What a busy-poll needs: did the other side publish, and is anything ready now. */
export interface Spinnable {
  /** True when the other side published something this side has not synced yet. */
  moved(events: number): boolean;
  /** Syncs and returns the ready poll events (0 if none). */
  check(events: number): number;
}

/**
 * The busy-poll phase of poll(), shared by host ports and guest ports: for about `spinUs`
 * (capped by the timeout) watch only what the other side publishes, and sync when it
 * moves. Returns the ready events, or 0 when the spin ran out.
 */
export function spinPoll(p: Spinnable, events: number, spinUs: number, timeoutMs: number): number {
  if (!(spinUs > 0)) return 0;
  const us = timeoutMs >= 0 ? Math.min(spinUs, timeoutMs * 1000) : spinUs;
  for (let i = spinIterations(us); i > 0; i--) {
    if (p.moved(events)) {
      const ready = p.check(events);
      if (ready !== 0) return ready;
    }
  }
  return 0;
}
