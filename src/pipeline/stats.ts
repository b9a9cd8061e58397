/**
 * A pipeline's figures: what pipeline.stats() and run() report (per node, per link, per
 * thread) and how they are read, live, from the threads' stats blocks, the links' kernel
 * counters and each worker thread's /proc schedstat. Reading never stops a thread: the
 * blocks are published with an epoch (runtime.ts), the kernel counters are plain Float64s
 * their owners write.
 */
import { readSchedstat } from '../apps/cputime.js';
import { type LinkRegion, linkCounters } from './links.js';
import type { RunPlan, Thread } from './plan.js';
import {
  type RunControl,
  S_BATCHES,
  S_BYTES,
  S_CONSUMED,
  S_DROPPED,
  S_EMPTY,
  S_ERROR_DROPS,
  S_FIXED,
  S_IN,
  S_LB_PER_OUTPUT,
  S_LOST,
  S_NON_IP,
  S_OUT,
  S_SLEEPS,
  S_TID,
  type ThreadStats,
} from './runtime.js';
import type { ThreadResult } from './worker.js';

/** One node's figures (summed over its workers). */
export interface NodeStats {
  name: string;
  kind: string;
  workers: number;
  /** Packets taken from its inputs (a source: produced). */
  in: number;
  bytes: number;
  /** Forwarded to its outputs. */
  out: number;
  /** Dropped by the stage's decision (lb: for a full output of its first group). */
  dropped: number;
  /** Ended here (a last stage, a sink). */
  consumed: number;
  /** Discarded after the stage failed. */
  errorDrops: number;
  /** Held for a consumer that died. */
  lost: number;
  /** Empty slots skipped. */
  empty: number;
  batches: number;
  /** Packets per batch. */
  avgBatch: number;
  sleeps: number;
  /**
   * CPU time its worker threads used since the go (ns), read live from each thread's
   * /proc schedstat (null on the main thread or where the OS does not say), and per packet taken.
   */
  cpuNs: number | null;
  cpuNsPerPacket: number | null;
  /** lb: per output (groups in order), and frames that were not IP. */
  lb?: { outputs: Array<{ forwarded: number; dropped: number; queued: number }>; nonIp: number };
}

/** One link's figures: packets sent and slots released, and wake-ups sent each way. */
export interface LinkStats {
  from: string;
  to: string;
  /** The memory region the link lives in: links of one region share buffers (a stage swaps between them, zero copy). */
  region: number;
  /** Packets the producer published, and slots the consumer released. */
  sent: number;
  released: number;
  /** Wake-ups sent: to the consumer (news), and to the producer (room). */
  consumerWakeups: number;
  producerWakeups: number;
}

/**
 * A pipeline's figures (pipeline.stats(), live): packets produced, delivered, dropped and
 * in flight, per node and per link.
 */
export interface PipelineStats {
  /** Seconds since the go. */
  seconds: number;
  /** Packets the source produced. */
  produced: number;
  /** Packets consumed by last stages and sinks (with lb groups, by every group's consumers). */
  delivered: number;
  /** Dropped, discarded after a failure, or lost with a dead thread (all counted, per node). */
  dropped: number;
  /** Packets still in links or held by a node (0 once a run has drained). */
  inFlight: number;
  nodes: NodeStats[];
  links: LinkStats[];
}

/**
 * One worker thread's figures: garbage collections and bytes allocated per packet after
 * its warm-up, and its CPU per packet.
 */
export interface ThreadFigures {
  node: string;
  worker: number;
  /**
   * After the thread's warm-up (its first 131072 packets: the JIT's and the loop's one-time
   * allocations): garbage collections, packets, and heap bytes allocated per packet (null
   * if a GC ran or the warm-up never ended), as pkt-gen checks "nothing allocated per packet".
   */
  gcs: number;
  steadyPackets: number;
  allocBytesPerPacket: number | null;
  /** CPU time per packet taken (ns; null where the OS does not say). */
  cpuNsPerPacket: number | null;
}

/**
 * The result of pipeline.run(): its figures, the delivered rate, each worker's finish()
 * result and per-thread figures.
 */
export interface PipelineResult extends PipelineStats {
  /** Delivered packets per second over the run (millions). */
  mpps: number;
  /** Per node, every worker's finish() result. */
  results: Record<string, unknown[]>;
  threads: ThreadFigures[];
}

/** A worker's figures from its result and its stats block. */
export function threadFigures(r: ThreadResult, st: ThreadStats): ThreadFigures {
  const packets = Math.max(st.f64[S_IN], 1);
  return {
    node: r.node,
    worker: r.worker,
    gcs: r.gcs,
    steadyPackets: r.packets,
    allocBytesPerPacket: r.gcs === 0 && r.packets > 0 ? Math.max(0, r.heapBytes) / r.packets : null,
    cpuNsPerPacket: r.cpu.cpuNs === null ? null : r.cpu.cpuNs / packets,
  };
}

/** Reads a run's figures: its plan, its link regions, its threads' stats blocks and control block. */
export class RunStats {
  private t0 = 0;
  private t1 = 0;

  constructor(
    private readonly p: RunPlan,
    private readonly regions: LinkRegion[],
    private readonly threadStats: ThreadStats[],
    private readonly ctl: RunControl,
  ) {}

  /** Thread t's CPU time (ns) at the go, read when first asked after it (null: not a worker, or no schedstat). */
  private readonly cpuAtGo = new Map<number, number | null>();
  private readonly cpuAtEnd = new Map<number, number | null>();

  private cpuNow(tid: number): number | null {
    if (!(tid > 0)) return null;
    return readSchedstat(`/proc/self/task/${tid}/schedstat`)?.cpuNs ?? null;
  }

  /** The go: reads every worker thread's CPU time (the baseline of the live figures) and starts the clock. */
  go(): void {
    for (const t of this.p.threads) {
      if (t.main) continue;
      const tid = this.threadStats[t.id].snapshot()[S_TID];
      this.cpuAtGo.set(t.id, this.cpuNow(tid));
    }
    this.t0 = performance.now();
  }

  /** Every thread has ended (or the drain gave up): the clock stops. */
  end(): void {
    this.t1 = performance.now();
  }

  private cpuSinceGo(t: Thread, tid: number): number | null {
    if (t.main) return null;
    // A thread that has ended keeps its last reading (its /proc entry goes with it).
    if (this.cpuAtEnd.has(t.id)) return this.cpuAtEnd.get(t.id) ?? null;
    const at = this.cpuAtGo.get(t.id);
    const now = this.cpuNow(tid);
    if (at === undefined || at === null || now === null) return null;
    const v = now - at;
    if (this.ctl.done(t.id) !== 0) this.cpuAtEnd.set(t.id, v);
    return v;
  }

  /** The run's figures now (live; the final ones once it ended). */
  read(): PipelineStats {
    const snaps = this.threadStats.map((s) => s.snapshot());
    const nodes: NodeStats[] = this.p.defs.map((d) => {
      const ts = this.p.threads.filter((t) => t.node === d);
      const sum = (k: number) => ts.reduce((a, t) => a + snaps[t.id][k], 0);
      const n: NodeStats = {
        name: d.name,
        kind: d.kind,
        workers: d.workers,
        in: sum(S_IN),
        bytes: sum(S_BYTES),
        out: sum(S_OUT),
        dropped: sum(S_DROPPED),
        consumed: sum(S_CONSUMED),
        errorDrops: sum(S_ERROR_DROPS),
        lost: sum(S_LOST),
        empty: sum(S_EMPTY),
        batches: sum(S_BATCHES),
        avgBatch: 0,
        sleeps: sum(S_SLEEPS),
        cpuNs: null,
        cpuNsPerPacket: null,
      };
      n.avgBatch = n.batches > 0 ? n.in / n.batches : 0;
      const cpu = ts.map((t) => this.cpuSinceGo(t, snaps[t.id][S_TID]));
      if (cpu.length > 0 && cpu.every((c) => c !== null)) {
        n.cpuNs = cpu.reduce((a: number, c) => a + (c as number), 0);
        n.cpuNsPerPacket = n.in > 0 ? n.cpuNs / n.in : null;
      }
      if (d.kind === 'lb') {
        const f = snaps[ts[0].id];
        const outs = (f.length - S_FIXED) / S_LB_PER_OUTPUT;
        n.lb = {
          nonIp: f[S_NON_IP],
          outputs: Array.from({ length: Math.floor(outs) }, (_, i) => ({
            forwarded: f[S_FIXED + i * S_LB_PER_OUTPUT],
            dropped: f[S_FIXED + i * S_LB_PER_OUTPUT + 1],
            queued: f[S_FIXED + i * S_LB_PER_OUTPUT + 2],
          })),
        };
      }
      return n;
    });
    const links: LinkStats[] = this.p.links.map((l) => ({
      from: `${l.from.node.name}#${l.from.worker}`,
      to: `${l.to.node.name}#${l.to.worker}`,
      region: l.region,
      ...linkCounters(this.regions[l.region], l.index),
    }));
    const src = nodes.find((n) => n.kind === 'source' || n.kind === 'main-source') as NodeStats;
    // What a node took and has not yet passed on or ended (lb: its overflow queues).
    let held = 0;
    for (const n of nodes) held += n.in - n.out - n.dropped - n.consumed - n.errorDrops - n.lost;
    let inLinks = 0;
    for (const l of links) inLinks += l.sent - l.released;
    const now = this.t1 > 0 ? this.t1 : performance.now();
    return {
      seconds: this.t0 > 0 ? (now - this.t0) / 1000 : 0,
      produced: src.in,
      delivered: nodes.reduce((a, n) => a + n.consumed, 0),
      dropped: nodes.reduce((a, n) => a + n.dropped + n.errorDrops + n.lost, 0),
      inFlight: held + inLinks,
      nodes,
      links,
    };
  }
}
