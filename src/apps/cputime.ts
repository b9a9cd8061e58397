/**
 * CPU accounting per thread: each role reads its own thread's CPU time and run-queue wait
 * (Linux: /proc/thread-self/schedstat, read by the thread itself) at the go and at its
 * end, with the wall time and the idle spinning its loops counted (src/spin.ts) over the
 * same window. A run turns the threads' figures into nanoseconds per packet, and a
 * projected rate for when every thread has a core of its own (cpuAccounting).
 *
 * Where schedstat cannot be read (not Linux, a kernel without it, a browser), the CPU
 * and run-queue fields are null: unavailable, never a guess.
 */
import { readFileSync } from 'node:fs';
import { type SpinCounts, spinCounts, spinNsBetween } from '../spin.js';
import { whenGo } from './control.js';

/** The three numbers of /proc/<pid>/task/<tid>/schedstat. */
export interface Schedstat {
  /** Time on a CPU (ns). */
  cpuNs: number;
  /** Time runnable but waiting on a run queue for a CPU (ns). */
  runqueueWaitNs: number;
  /** Timeslices run on a CPU. */
  timeslices: number;
}

/** The calling thread's schedstat (Linux resolves thread-self to the thread that opens it). */
export const THREAD_SCHEDSTAT = '/proc/thread-self/schedstat';

/** Parses schedstat's text ("cpu_ns wait_ns slices\n"); null when it is not three counts. */
export function parseSchedstat(text: string): Schedstat | null {
  const f = text.trim().split(/\s+/);
  if (f.length !== 3 || !f.every((x) => /^\d+$/.test(x))) return null;
  return { cpuNs: Number(f[0]), runqueueWaitNs: Number(f[1]), timeslices: Number(f[2]) };
}

/** The schedstat at `path` (default: this thread's), or null when it cannot be read. */
export function readSchedstat(path = THREAD_SCHEDSTAT): Schedstat | null {
  try {
    return parseSchedstat(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
}

/** One thread's figures over its role's window (from the go to the role's end). */
export interface ThreadCpu {
  /** Who ran in the thread ("host tx", "kloop", "bridge 2", ...). */
  role: string;
  /** CPU time (ns); null where schedstat is unavailable. */
  cpuNs: number | null;
  /** Time waiting on a run queue for a core (ns); null where unavailable. */
  runqueueWaitNs: number | null;
  /** Idle busy-waiting the thread's loops counted (poll's spin, host loops' idle steps), in ns. */
  spinNs: number;
  /** Wall time of the window (ns). */
  wallNs: number;
}

/** A thread's measuring window: start() at the go, end() when the role's loop is over. */
export class CpuWindow {
  private t0 = -1;
  private s0: Schedstat | null = null;
  private spin0: SpinCounts = { pollIters: 0, idleSteps: 0 };

  constructor(private readonly path = THREAD_SCHEDSTAT) {}

  start(): void {
    this.spin0 = spinCounts();
    this.s0 = readSchedstat(this.path);
    this.t0 = performance.now();
  }

  end(role: string): ThreadCpu {
    const t1 = performance.now();
    const s1 = readSchedstat(this.path);
    const spinNs = spinNsBetween(this.spin0, spinCounts());
    // Never started (the role ended before its go): an empty window.
    if (this.t0 < 0) {
      const none = s1 === null ? null : 0;
      return { role, cpuNs: none, runqueueWaitNs: none, spinNs: 0, wallNs: 0 };
    }
    const both = this.s0 !== null && s1 !== null;
    return {
      role,
      cpuNs: both ? s1.cpuNs - this.s0!.cpuNs : null,
      runqueueWaitNs: both ? s1.runqueueWaitNs - this.s0!.runqueueWaitNs : null,
      spinNs,
      wallNs: (t1 - this.t0) * 1e6,
    };
  }
}

/**
 * Runs a role's loop `fn` in this thread and measures the thread from the go (the next
 * start barrier `fn` passes) to `fn`'s return.
 */
export function withThreadCpu<R>(role: string, fn: () => R): { result: R; thread: ThreadCpu } {
  const w = new CpuWindow();
  whenGo(() => w.start());
  try {
    const result = fn();
    return { result, thread: w.end(role) };
  } finally {
    whenGo(null);
  }
}

/** A role's result with its thread's figures. */
export type WithThread<R> = R & { thread: ThreadCpu };

/** One thread's figures per packet of the run. */
export interface ThreadCpuFigures {
  role: string;
  /** CPU time per packet (ns); null where unavailable. */
  cpuNsPerPacket: number | null;
  /** Of it, idle busy-waiting (ns; capped at the CPU time, the spin being a calibrated count). */
  spinNsPerPacket: number | null;
  /** Time waiting for a core, as % of the thread's wall time; null where unavailable. */
  runqueueWaitPct: number | null;
}

/** A run's CPU accounting (pkt-gen --json `cpu`, the runner's points). */
export interface CpuAccounting {
  threads: ThreadCpuFigures[];
  /** Sum over threads of (CPU - idle spin) per packet (ns); null if a thread's CPU time is unavailable. */
  busyNsPerPacket: number | null;
  /**
   * The rate if every thread had a core of its own: 1000 / the largest per-thread busy ns
   * per packet (the slowest stage sets the pipeline's rate). Null where unavailable.
   */
  projectedMpps: number | null;
  /** True when every thread's CPU time was read (Linux). */
  available: boolean;
}

/**
 * Per-thread figures and their sum over `packets` (the packets received over the same
 * run). busy = CPU - idle spin; projectedMpps = 1000 / max over threads of busy ns per
 * packet (see docs/design.md, "CPU accounting", for the assumptions).
 */
export function cpuAccounting(threads: readonly ThreadCpu[], packets: number): CpuAccounting {
  const per = (v: number | null) => (v === null || !(packets > 0) ? null : v / packets);
  const figures = threads.map(
    (t): ThreadCpuFigures => ({
      role: t.role,
      cpuNsPerPacket: per(t.cpuNs),
      spinNsPerPacket: per(t.cpuNs === null ? t.spinNs : Math.min(t.spinNs, t.cpuNs)),
      runqueueWaitPct: t.runqueueWaitNs === null || !(t.wallNs > 0) ? null : (100 * t.runqueueWaitNs) / t.wallNs,
    }),
  );
  const available = threads.length > 0 && threads.every((t) => t.cpuNs !== null);
  if (!available || !(packets > 0)) return { threads: figures, busyNsPerPacket: null, projectedMpps: null, available };
  const busy = figures.map((f) => f.cpuNsPerPacket! - f.spinNsPerPacket!);
  const slowest = Math.max(...busy);
  return {
    threads: figures,
    busyNsPerPacket: busy.reduce((a, b) => a + b, 0),
    projectedMpps: slowest > 0 ? 1000 / slowest : null,
    available,
  };
}
