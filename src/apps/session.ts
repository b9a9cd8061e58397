/**
 * Runs a set of worker roles as one measured session: a pool sized to the roles, a
 * start barrier, a warm-up, per-interval rates sampled from one role's stats block, and
 * the two-phase stop (senders first, then receivers drain). A role that fails stops the
 * others at once and the session rethrows its error.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { TransferListItem } from 'node:worker_threads';
import { ST_BATCHES, ST_BYTES, ST_PACKETS } from '../../shm/layout.js';
import { NetmapError, type NetmapErrorCode } from '../errors.js';
import { RolePool } from '../roles.js';
import { Control, RoleStats, STOP_ALL, STOP_FORWARDERS, STOP_SENDERS } from './control.js';

/** One report interval of a measured run: when it ended, packets and bytes, rates and the average batch. */
export interface IntervalReport {
  /** Seconds since the go, at the end of the interval. */
  t: number;
  usec: number;
  packets: number;
  bytes: number;
  mpps: number;
  gbps: number;
  avgBatch: number;
}

export interface SessionRole {
  /** The task for workers/role.ts; `ctl` and `stats` are filled in by the session. */
  task: Record<string, unknown>;
  transfer?: TransferListItem[];
  /** Senders stop first; the others stop after them and drain. */
  sender: boolean;
  /** Forwarders (kloops) stop after the senders and before the receivers. */
  forwarder?: boolean;
  /** The role whose stats are sampled for the per-interval rates. */
  measured?: boolean;
  /** Names the role in the session's error if it fails (e.g. "guest txseq on pipe0{"). */
  name?: string;
}

export interface SessionOptions {
  /** Measured seconds after the warm-up; 0 = until the roles finish by themselves. */
  seconds: number;
  reportMs: number;
  warmupMs: number;
  onInterval?: (r: IntervalReport) => void;
  /** Ends the run early, as if time were up: senders stop, the rest drain (a watchdog's way out). */
  signal?: AbortSignal;
  /** Called once every role is in its loop and the session starts them (another flow can start then). */
  onGo?: () => void;
}

export interface SessionResult<R> {
  results: R[];
  intervals: IntervalReport[];
  /** Seconds from the go to the end of the stop. */
  elapsed: number;
  /** Median of the interval rates, and their spread (0 with no interval). */
  mpps: number;
  mppsMin: number;
  mppsMax: number;
}

export function checkSessionOptions(o: SessionOptions): void {
  if (!(o.seconds >= 0) || !Number.isFinite(o.seconds)) {
    throw new NetmapError('EINVAL', `seconds must be >= 0, got ${o.seconds}`);
  }
  if (!(o.reportMs >= 10)) throw new NetmapError('EINVAL', `report interval must be >= 10 ms, got ${o.reportMs}`);
  if (!(o.warmupMs >= 0)) throw new NetmapError('EINVAL', `warm-up must be >= 0 ms, got ${o.warmupMs}`);
}

export async function runSession<R>(roles: SessionRole[], o: SessionOptions): Promise<SessionResult<R>> {
  checkSessionOptions(o);
  const unlisten: Array<() => void> = [];
  const ctl = new Control();
  const stats = roles.map(() => new RoleStats());
  const measured = Math.max(
    0,
    roles.findIndex((r) => r.measured),
  );
  const pool = new RolePool(roles.length);
  try {
    const runs = roles.map((r, i) => pool.run<R>({ ...r.task, ctl: ctl.sab, stats: stats[i].sab }, r.transfer));
    let failure: unknown;
    // Sampling ends with the senders: after them a receiver only drains (and on a lossy
    // port, such as VALE, it may never see the count it was given).
    let over = false;
    const sendersGone = Promise.allSettled(runs.filter((_, i) => roles[i].sender));
    const sendersDone = (o.signal ? Promise.race([sendersGone, aborted(o.signal, unlisten)]) : sendersGone).then(() => {
      over = true;
    });
    const settled = Promise.allSettled(runs);
    runs.forEach((run, i) => {
      run.catch((e) => {
        failure ??= roleError(e, roles[i].name);
        ctl.stop(STOP_ALL);
      });
    });
    // A role that fails before it is ready ends the wait at once (the others then see the stop).
    const failed = new Promise<boolean>((resolve) => {
      for (const run of runs) run.catch(() => resolve(false));
    });
    if (!(await Promise.race([ctl.waitReady(roles.length, 30_000), failed]))) {
      throw failure ?? new Error('roles did not start within 30 s');
    }
    ctl.go();
    o.onGo?.();
    const start = performance.now();
    await Promise.race([sleep(o.warmupMs), sendersDone]);
    const intervals = await sample(stats[measured], start, o, sendersDone, () => over);
    ctl.stop(STOP_SENDERS);
    await Promise.allSettled(runs.filter((_, i) => roles[i].sender));
    ctl.stop(STOP_FORWARDERS);
    await Promise.allSettled(runs.filter((_, i) => roles[i].forwarder));
    ctl.stop(STOP_ALL);
    await settled;
    if (failure !== undefined) throw failure;
    const results = await Promise.all(runs);
    const rates = spread(intervals.map((i) => i.mpps));
    return {
      results,
      intervals,
      elapsed: (performance.now() - start) / 1000,
      mpps: rates.median,
      mppsMin: rates.min,
      mppsMax: rates.max,
    };
  } finally {
    for (const off of unlisten) off();
    ctl.stop(STOP_ALL);
    await pool.close();
  }
}

/**
 * Per-interval rates of one role until `seconds` have passed (or the roles finish). A
 * last interval shorter than half a report interval is dropped: it would skew the median.
 */
async function sample(
  st: RoleStats,
  start: number,
  o: SessionOptions,
  settled: Promise<void>,
  over: () => boolean,
): Promise<IntervalReport[]> {
  const out: IntervalReport[] = [];
  const end = performance.now() + o.seconds * 1000;
  let prev = st.snapshot();
  let t0 = performance.now();
  while (!over()) {
    const left = end - t0;
    if (o.seconds > 0 && left < o.reportMs / 2) break;
    await Promise.race([sleep(o.seconds > 0 ? Math.min(o.reportMs, left) : o.reportMs), settled]);
    const cur = st.snapshot();
    const t = performance.now();
    const usec = (t - t0) * 1000;
    const packets = cur[ST_PACKETS] - prev[ST_PACKETS];
    const bytes = cur[ST_BYTES] - prev[ST_BYTES];
    const batches = cur[ST_BATCHES] - prev[ST_BATCHES];
    if (!over() || usec >= o.reportMs * 500) {
      const iv: IntervalReport = {
        t: (t - start) / 1000,
        usec,
        packets,
        bytes,
        mpps: packets / usec,
        gbps: (bytes * 8) / usec / 1000,
        avgBatch: batches > 0 ? packets / batches : 0,
      };
      out.push(iv);
      o.onInterval?.(iv);
    }
    prev = cur;
    t0 = t;
  }
  return out;
}

/**
 * Resolves when `signal` aborts. The listener is removed by `cleanup`: one signal may
 * outlive many sessions (a sweep's, a whole CLI run's), and listeners left behind pile
 * up (Node warns on stderr past 10).
 */
function aborted(signal: AbortSignal, cleanup: Array<() => void>): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const on = () => resolve();
    signal.addEventListener('abort', on, { once: true });
    cleanup.push(() => signal.removeEventListener('abort', on));
  });
}

/** How a worker role sends a NetmapError (a clone keeps only the message): `NetmapError[CODE] message`. */
export function wireError(e: NetmapError): string {
  return `NetmapError[${e.code}] ${e.message}`;
}
const WIRED = /^NetmapError\[(E[A-Z]+)\] ([\s\S]*)$/;

/**
 * A role's error, prefixed with the role's name when it has one. A NetmapError keeps its
 * code, also one that came from a worker (wireError): the CLI then reports bad input (a
 * truncated capture) as bad input, exit 2, not as a crash.
 */
function roleError(e: unknown, name: string | undefined): unknown {
  const m = e instanceof Error ? WIRED.exec(e.message) : null;
  const err = m !== null ? new NetmapError(m[1] as NetmapErrorCode, m[2]) : e;
  if (name === undefined) return err;
  const msg = `${name}: ${err instanceof Error ? err.message : String(err)}`;
  return err instanceof NetmapError ? new NetmapError(err.code, msg) : new Error(msg, { cause: e });
}

/**
 * A run's rate: the median of its intervals and their spread, or, for a run shorter than
 * one report interval (a --count run has none), the whole run's `packets` over its time.
 */
export function runRate(
  s: SessionResult<unknown>,
  packets: number,
): { mpps: number; mppsMin: number; mppsMax: number } {
  if (s.intervals.length > 0) return { mpps: s.mpps, mppsMin: s.mppsMin, mppsMax: s.mppsMax };
  const whole = s.elapsed > 0 ? packets / (s.elapsed * 1e6) : 0;
  return { mpps: whole, mppsMin: whole, mppsMax: whole };
}

/** The median, lowest and highest of `xs`, in any order (0 each when there are none). */
export function spread(xs: readonly number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { median: median(s), min: s[0] ?? 0, max: s[s.length - 1] ?? 0 };
}

export function median(sorted: readonly number[]): number {
  if (sorted.length === 0) return 0;
  const m = sorted.length >> 1;
  return sorted.length % 2 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
}
