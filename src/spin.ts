/** Busy-poll budgets without a clock, and the thread's own count of its idle spinning. */

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

// ---- Idle spin accounting ----
//
// The loops that busy-wait count their own idle spinning, in this thread (each worker is
// its own module instance, so these totals are per thread): spinPoll counts the
// iterations of poll's busy phase that found nothing ready, runHostLoop (kloops, NIC
// device threads) the steps that found no work. No clock is read per iteration: the
// counts become nanoseconds with a cost per iteration calibrated in this thread, in the
// loop itself (the optimized code that does the spinning), from timed samples:
// - poll: one busy phase in 16 of those that reach their 256th iteration reads the clock
//   there and again at its end (the news, or the spin ran out); the iterations between
//   make a sample when there are at least 256. Short phases read no clock at all: timing
//   them would measure the clock reads and the load that finds the news, not the idle
//   iterations (a burst of moved() calls timed apart from the loop runs in colder code
//   and measured 4x too much).
// - host loop: an idle streak calls idleMark at every 256th idle step; every 1024th reads
//   the clock (~95 ns here), and the steps between two reads of one streak are a pure
//   idle sample (the read's own cost is part of the idle loop's, so it stays in).
// The cost is the iteration-weighted mean of the samples within 3x their median (a
// sample the thread was preempted in is an outlier; the cost itself varies from phase to
// phase, so a median alone would pick one mode), over at most 64 samples spread evenly
// over the thread's life (see CostSamples). Until a thread has a sample, a poll iteration
// counts as one Atomics.load and an idle step as eight (what the spin and linger budgets
// assume). Totals and marks are Float64Array fields: a plain store, never a boxed number.
// Cost, measured against the code without it (a micro-benchmark of spinPoll and
// runHostLoop; 2-core EPYC, Node 20): ~2 ns per busy phase (one add; a compare per
// iteration, within noise at 10-20 ns an iteration); in a host loop ~1 ns per idle
// streak (one add) and a mask test per idle step, within noise at 15-16 ns a step.
const POLL_ITERS = 0;
const IDLE_STEPS = 1;
/** The idle step of the current streak's last clock read (0: none yet), and its time (ms). */
const MARK_STEP = 2;
const MARK_MS = 3;
/** Idle time a loop that reads the clock anyway measured itself (ns): a NIC's wire. */
const IDLE_NS = 4;
const spin = new Float64Array(5);

/**
 * Timed samples of a loop's idle cost (ns over iterations), at most KEEP of them spread
 * evenly over the thread's life: when full, every other one goes and only every other
 * later one is kept (so the samples of a run's end do not push out those of its middle).
 */
class CostSamples {
  static readonly KEEP = 64;
  private readonly ns = new Float64Array(CostSamples.KEEP);
  private readonly iters = new Float64Array(CostSamples.KEEP);
  private count = 0;
  private stride = 1;
  private skipped = 0;

  add(ns: number, iters: number): void {
    if (++this.skipped < this.stride) return;
    this.skipped = 0;
    if (this.count === CostSamples.KEEP) {
      for (let i = 0; i < CostSamples.KEEP / 2; i++) {
        this.ns[i] = this.ns[2 * i + 1];
        this.iters[i] = this.iters[2 * i + 1];
      }
      this.count = CostSamples.KEEP / 2;
      this.stride *= 2;
    }
    this.ns[this.count] = ns;
    this.iters[this.count] = iters;
    this.count++;
  }

  /** Iteration-weighted mean cost (ns) of the samples within 3x their median; -1 with none. */
  cost(): number {
    if (this.count === 0) return -1;
    const per = Array.from({ length: this.count }, (_, i) => this.ns[i] / this.iters[i]);
    const median = [...per].sort((a, b) => a - b)[(per.length - 1) >> 1];
    let ns = 0;
    let iters = 0;
    per.forEach((c, i) => {
      if (c <= 3 * median) {
        ns += this.ns[i];
        iters += this.iters[i];
      }
    });
    return ns / iters;
  }
}

const pollCost = new CostSamples();
const idleCost = new CostSamples();
/** A poll phase is timed from this iteration on (when it gets there); a sample needs as many after. */
const TIME_FROM = 256;
/** Busy phases that reached TIME_FROM iterations, modulo 16: one in 16 is timed. */
let longPhases = 0;

function pollSample(t0: number, iters: number): void {
  if (iters >= TIME_FROM) pollCost.add((performance.now() - t0) * 1e6, iters);
}

/** What a busy-poll needs: did the other side publish, and is anything ready now. */
export interface Spinnable {
  /**
   * True when the other side published something this side has not synced yet. Reads
   * only: the spin accounting also times it in bursts.
   */
  moved(events: number): boolean;
  /** Syncs and returns the ready poll events (0 if none). */
  check(events: number): number;
}

/**
 * The busy-poll phase of poll(), shared by host ports and guest ports: for about `spinUs`
 * (capped by the timeout) watch only what the other side publishes, and sync when it
 * moves. Returns the ready events, or 0 when the spin ran out. Its idle iterations are
 * counted (see spinCounts).
 */
export function spinPoll(p: Spinnable, events: number, spinUs: number, timeoutMs: number): number {
  if (!(spinUs > 0)) return 0;
  const us = timeoutMs >= 0 ? Math.min(spinUs, timeoutMs * 1000) : spinUs;
  const n = spinIterations(us);
  // i counts down: at i === mark, TIME_FROM iterations are done (a timed phase starts its clock).
  const mark = n - TIME_FROM;
  let t0 = -1;
  for (let i = n; i > 0; i--) {
    if (p.moved(events)) {
      if (t0 >= 0) {
        pollSample(t0, mark - i);
        t0 = -1;
      }
      const ready = p.check(events);
      if (ready !== 0) {
        spin[POLL_ITERS] += n - i;
        return ready;
      }
    }
    if (i === mark && (longPhases = (longPhases + 1) & 15) === 0) t0 = performance.now();
  }
  spin[POLL_ITERS] += n;
  if (t0 >= 0) pollSample(t0, mark - 1);
  return 0;
}

/** A host loop's idle streak of `steps` steps ended (work came, it sleeps, or it stops). */
export function idleSteps(steps: number): void {
  spin[IDLE_STEPS] += steps;
  spin[MARK_STEP] = 0;
}

/** Called at every 256th step of an idle streak (`step` steps so far): every 1024th times the streak. */
export function idleMark(step: number): void {
  if (step % 1024 !== 0) return;
  const now = performance.now();
  const from = spin[MARK_STEP];
  if (from !== 0 && step > from) idleCost.add((now - spin[MARK_MS]) * 1e6, step - from);
  spin[MARK_STEP] = step;
  spin[MARK_MS] = now;
}

/**
 * A loop that reads the clock on every pass anyway (a NIC's wire, pacing frames) measured
 * `ns` of idle spinning: passes that found nothing due.
 */
export function idleNs(ns: number): void {
  spin[IDLE_NS] += ns;
}

/** This thread's idle spinning so far: poll's busy phases and host loops' idle steps (iterations), and idle time measured directly (ns). */
export interface SpinCounts {
  pollIters: number;
  idleSteps: number;
  idleNs?: number;
}

export function spinCounts(): SpinCounts {
  return { pollIters: spin[POLL_ITERS], idleSteps: spin[IDLE_STEPS], idleNs: spin[IDLE_NS] };
}

/** What one poll iteration and one idle host-loop step cost in this thread (ns), as calibrated so far. */
export function spinCosts(): { pollIterNs: number; idleStepNs: number } {
  const loadNs = 1000 / (loadsPerUs || spinIterations(1));
  const poll = pollCost.cost();
  const idle = idleCost.cost();
  return { pollIterNs: poll >= 0 ? poll : loadNs, idleStepNs: idle >= 0 ? idle : 8 * loadNs };
}

/** Nanoseconds of idle spinning between two counts of this thread (`from` earlier than `to`). */
export function spinNsBetween(from: SpinCounts, to: SpinCounts): number {
  const polls = to.pollIters - from.pollIters;
  const steps = to.idleSteps - from.idleSteps;
  const measured = (to.idleNs ?? 0) - (from.idleNs ?? 0);
  if (polls === 0 && steps === 0) return measured;
  const c = spinCosts();
  return polls * c.pollIterNs + steps * c.idleStepNs + measured;
}
