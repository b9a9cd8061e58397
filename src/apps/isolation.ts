/**
 * The isolation experiment: flow A, an ordinary host->host txseq/rxseq flow, runs next to
 * flow B, a passed-through port whose guest is hostile (random writes into everything it
 * holds), honest (the baseline: a guest pkt-gen sending at full speed through the same
 * port, kloop and receiver) or crashes mid-flow.
 * The flows are two sessions in two namespaces (own memory, own Control block, own
 * pool), so nothing of flow B can reach or stop flow A; the experiment shows it did not:
 * flow A's rate, its sequence checks and the buffers each side held.
 */
import { availableParallelism } from 'node:os';
import { Geometry } from '../../shm/geometry.js';
import { WORDS_PER_LINE } from '../../shm/layout.js';
import { NetmapError } from '../errors.js';
import { valeCounters } from '../kernel/vale.js';
import { type LogLevel, logLevel } from '../log.js';
import { Netmap } from '../netmap.js';
import type { HostileOptions } from '../passthrough/hostile.js';
import { type GuestDescriptor, type KloopDescriptor, passThrough } from '../passthrough/hypervisor.js';
import type { KloopResult } from '../passthrough/kloop.js';
import type { PortDescriptor } from '../port.js';
import type { Fault, FaultKind } from './fault.js';
import {
  type IntervalReport,
  median,
  type PktGenRoleResult,
  type PktGenRunResult,
  runPktGenPair,
} from './pktgen-run.js';
import { runSession } from './session.js';

export const ISOLATION_GUESTS = ['hostile', 'kick-storm', 'honest', 'crash-throw', 'crash-exit'] as const;
export type IsolationGuest = (typeof ISOLATION_GUESTS)[number];

export interface IsolationOptions {
  port?: 'pipe' | 'vale';
  /**
   * hostile (random writes, a kick per 4096 writes) and kick-storm (the same, kicking at
   * full speed): compared with an honest-guest baseline run first; crash-*: the guest
   * pkt-gen fails mid-flow.
   */
  guest?: IsolationGuest;
  /** Flow A's measured seconds (default 4), unless `count` is given. */
  seconds?: number;
  /** Flow A sends exactly this many packets instead (tests). */
  count?: number;
  ring?: number;
  batch?: number;
  reportMs?: number;
  warmupMs?: number;
  /** The hostile guest's PRNG seed. */
  seed?: number;
  /** Crash: the guest fails after this many packets (default: half-way through flow A's time). */
  crashAfterPackets?: number;
  /** Crash: packets the new guest sends through the same port afterwards (default 200000). */
  reattachCount?: number;
  logLevel?: LogLevel;
  /** Called when a phase starts (baseline, hostile, crash...). */
  onPhase?: (phase: string) => void;
}

/** Flow A's figures in one phase. */
export interface FlowAReport {
  mpps: number;
  mppsMin: number;
  mppsMax: number;
  sent: number;
  packets: number;
  /** Sequence gaps and reorderings at flow A's receiver (0 on a pipe: nothing corrupted or lost). */
  seqErrors: number;
  drops: number;
  intervals: number;
  /**
   * Flow A's busy CPU per packet, summed over its threads (CPU minus idle spin, ns): what
   * a neighbour costs it, measured rather than inferred from Mpps (null where unavailable).
   */
  busyNsPerPacket: number | null;
}

/** Flow B with a hostile or an honest guest. */
export interface HostileFlowReport {
  port: string;
  /** The hostile guest's writes, or the honest guest's packets sent; the kicks either sent. */
  writes: number;
  sent: number;
  kicks: number;
  /** The kloop's counters: syncs refused (errors), run, slots dropped, interrupts. */
  kloop: KloopResult;
  /** Packets the host app on the peer port drained (what the kernel let through). */
  drained: number;
  /** VALE: the guest port's switch counters (tx, bad, floods, drops...). */
  vale?: Record<string, number>;
  /**
   * Words of the user's copy of the geometry in flow B's region (region header, netmap_if
   * blocks, ring constant lines) that differ from the kernel's when flow B stopped: what
   * the guest scribbled there and the host never read.
   */
  geometryWordsOff: number;
  /** Time from the stop to the kloop's return, ms: a hostile guest cannot hold it. */
  stopMs: number;
  /** The session's error, if any role failed (none should). */
  error?: string;
}

export interface CrashReport {
  port: string;
  kind: FaultKind;
  /** The error the session reported (names the guest app and its port). */
  error: string;
  /** Seconds after flow A started that flow B's session ended with the error. */
  at: number;
  /** Flow A's rate over the intervals before and after that moment. */
  before: { mpps: number; intervals: number };
  after: { mpps: number; intervals: number };
  /** A new guest on the same port afterwards: its txseq run. */
  reattach: { sent: number; packets: number; seqErrors: number; drops: number; error?: string };
}

export interface IsolationResult {
  port: 'pipe' | 'vale';
  guest: IsolationGuest;
  cores: number;
  /** Threads while both flows run: flow A's two apps; flow B's guest, kloop and host receiver. */
  busyThreads: number;
  /** SharedArrayBuffers flow B's guest and kloop held that belong to flow A (must be 0). */
  sharedWithA: number;
  baseline?: { flowA: FlowAReport; flowB: HostileFlowReport };
  /** `ratio`: flow A's Mpps hostile / honest; `busyRatio`: its busy CPU per packet hostile / honest (null if unavailable). */
  hostile?: { flowA: FlowAReport; flowB: HostileFlowReport; ratio: number; busyRatio: number | null };
  crash?: { flowA: FlowAReport } & CrashReport;
}

/** How long flow B may take to crash after flow A is done, ms. */
const CRASH_WAIT_MS = 30_000;

/** Names of the ports of each flow, in their own namespaces. */
const NAMES = {
  pipe: { a: ['pipe0{', 'pipe0}'], b: ['pipe0{', 'pipe0}'] },
  vale: { a: ['vale0:a', 'vale0:b'], b: ['vale0:a', 'vale0:b'] },
} as const;

export function checkIsolationOptions(o: IsolationOptions): void {
  if (o.port !== undefined && o.port !== 'pipe' && o.port !== 'vale') {
    throw new NetmapError('EINVAL', `port must be pipe or vale, got '${o.port}'`);
  }
  if (o.guest !== undefined && !(ISOLATION_GUESTS as readonly string[]).includes(o.guest)) {
    throw new NetmapError('EINVAL', `guest must be ${ISOLATION_GUESTS.join(', ')}; got '${o.guest}'`);
  }
  if (o.seconds !== undefined && !(o.seconds > 0 && o.seconds <= 3600)) {
    throw new NetmapError('EINVAL', `seconds must be > 0 and <= 3600, got ${o.seconds}`);
  }
  for (const [k, v] of [
    ['count', o.count],
    ['crashAfterPackets', o.crashAfterPackets],
    ['reattachCount', o.reattachCount],
  ] as const) {
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) {
      throw new NetmapError('EINVAL', `${k} must be a positive integer, got ${v}`);
    }
  }
}

export async function runIsolation(o: IsolationOptions = {}): Promise<IsolationResult> {
  checkIsolationOptions(o);
  const port = o.port ?? 'pipe';
  const guest = o.guest ?? 'hostile';
  const res: IsolationResult = {
    port,
    guest,
    cores: availableParallelism(),
    busyThreads: 5,
    sharedWithA: 0,
  };
  if (guest === 'hostile' || guest === 'kick-storm' || guest === 'honest') {
    o.onPhase?.('baseline: flow A next to an honest guest');
    const base = await withHostileFlow(o, port, 'honest');
    res.baseline = { flowA: base.flowA, flowB: base.flowB };
    res.sharedWithA = base.shared;
    if (guest !== 'honest') {
      o.onPhase?.(`${guest}: flow A next to a hostile guest${guest === 'kick-storm' ? ' kicking at full speed' : ''}`);
      const h = await withHostileFlow(o, port, guest);
      res.hostile = {
        flowA: h.flowA,
        flowB: h.flowB,
        ratio: base.flowA.mpps > 0 ? h.flowA.mpps / base.flowA.mpps : 0,
        busyRatio:
          h.flowA.busyNsPerPacket !== null && base.flowA.busyNsPerPacket
            ? h.flowA.busyNsPerPacket / base.flowA.busyNsPerPacket
            : null,
      };
      res.sharedWithA = Math.max(res.sharedWithA, h.shared);
    }
    return res;
  }
  const kind = guest === 'crash-throw' ? 'throw' : 'exit';
  o.onPhase?.(`crash: the guest's pkt-gen fails (${kind}) mid-flow`);
  const c = await withCrashingFlow(o, port, kind);
  // Flow B here is a real flow: the guest sender, its kloop and a busy host receiver.
  res.crash = c;
  res.sharedWithA = c.shared;
  delete (res.crash as { shared?: number }).shared;
  return res;
}

/** Flow A: txseq -> rxseq between two host apps, in namespace `nm`. */
function flowA(o: IsolationOptions, port: 'pipe' | 'vale', nm: Netmap, seen: Array<IntervalReport & { end: number }>) {
  return runPktGenPair({
    netmap: nm,
    port,
    mode: 'txseq',
    ...(o.count !== undefined ? { count: o.count, seconds: 0 } : { seconds: o.seconds ?? 4 }),
    ring: o.ring,
    batch: o.batch,
    // Four busy threads on two cores: the apps sleep at once rather than spin.
    spinUs: 0,
    reportMs: o.reportMs ?? 500,
    warmupMs: o.warmupMs ?? 250,
    logLevel: o.logLevel,
    onInterval: (r) => seen.push({ ...r, end: performance.now() }),
  });
}

function flowAReport(r: PktGenRunResult): FlowAReport {
  return {
    mpps: r.mpps,
    mppsMin: r.mppsMin,
    mppsMax: r.mppsMax,
    sent: r.sent,
    packets: r.packets,
    seqErrors: r.seqErrors,
    drops: r.drops,
    intervals: r.intervals.length,
    busyNsPerPacket: r.cpu.busyNsPerPacket,
  };
}

/** Flow A's ports registered ahead (the run registers the same ones): what B must not hold. */
function flowABuffers(nm: Netmap, port: 'pipe' | 'vale', ring: number | undefined): Set<SharedArrayBuffer> {
  const out = new Set<SharedArrayBuffer>();
  for (const name of NAMES[port].a) {
    const d = nm.register(name, { ringSize: ring ?? 1024 });
    for (const sab of buffersOf(d)) out.add(sab);
  }
  return out;
}

function buffersOf(d: PortDescriptor | GuestDescriptor | KloopDescriptor): SharedArrayBuffer[] {
  const list: unknown[] = [];
  const walk = (v: unknown) => {
    if (v instanceof SharedArrayBuffer) list.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(d);
  return list as SharedArrayBuffer[];
}

function countShared(
  a: Set<SharedArrayBuffer>,
  held: Array<PortDescriptor | GuestDescriptor | KloopDescriptor>,
): number {
  return held.flatMap(buffersOf).filter((s) => a.has(s)).length;
}

/**
 * Flow A next to flow B = a passed-through port with a busy-waiting kloop and a hostile
 * guest (or an honest one sending at full speed), plus a host app draining the peer port. Flow B runs until
 * flow A is done.
 */
async function withHostileFlow(
  o: IsolationOptions,
  port: 'pipe' | 'vale',
  kind: 'honest' | 'hostile' | 'kick-storm',
): Promise<{ flowA: FlowAReport; flowB: HostileFlowReport; shared: number }> {
  const nmA = new Netmap();
  const nmB = new Netmap();
  try {
    const aBufs = flowABuffers(nmA, port, o.ring);
    const [gName, peerName] = NAMES[port].b;
    const host = nmB.register(gName, { ringSize: o.ring ?? 1024 });
    const peer = nmB.register(peerName, { ringSize: o.ring ?? 1024 });
    const pt = passThrough(host);
    const shared = countShared(aBufs, [pt.guest, pt.kloop]);
    const level = o.logLevel ?? logLevel();
    const stop = new AbortController();
    // Flow A starts once flow B runs: else on a loaded machine flow A may be over before
    // flow B's threads have done anything, and the comparison would measure nothing.
    let bRunning: () => void = () => {};
    const bGo = new Promise<void>((resolve) => {
      bRunning = resolve;
    });
    const honest = kind === 'honest';
    const opts: HostileOptions = { seed: o.seed ?? 1, kickStorm: kind === 'kick-storm' };
    const b = runSession<unknown>(
      [
        {
          task: honest
            ? { role: 'pktgen', port: pt.guest, opts: { mode: 'tx', spinUs: 0 }, logLevel: level }
            : { role: 'hostile', guest: pt.guest, opts, logLevel: level },
          sender: true,
          measured: true,
          name: `${kind} guest on ${host.name}`,
        },
        {
          task: { role: 'kloop', kloop: pt.kloop, lingerUs: 0, busyWait: true, logLevel: level },
          sender: false,
          forwarder: true,
          name: `kloop of ${host.name}`,
        },
        {
          task: { role: 'pktgen', port: peer, opts: { mode: 'rx', spinUs: 0 }, logLevel: level },
          sender: false,
          name: `host rx on ${peer.name}`,
        },
      ],
      { seconds: 3600, reportMs: 1000, warmupMs: 0, signal: stop.signal, onGo: bRunning },
    ).then(
      (s) => ({ s, error: undefined }),
      (e: unknown) => ({ s: undefined, error: e instanceof Error ? e.message : String(e) }),
    );
    const seen: Array<IntervalReport & { end: number }> = [];
    let a: PktGenRunResult;
    try {
      // A flow B that fails to start ends the wait too (its error is reported below).
      await Promise.race([bGo, b]);
      a = await flowA(o, port, nmA, seen);
    } finally {
      stop.abort();
    }
    const t0 = performance.now();
    const rb = await b;
    const stopMs = performance.now() - t0;
    const [g, k, drain] = (rb.s?.results ?? []) as [
      { writes?: number; kicks?: number; packets?: number; guest?: { kicks: number } } | undefined,
      KloopResult | undefined,
      PktGenRoleResult | undefined,
    ];
    const flowB: HostileFlowReport = {
      port: host.name,
      writes: g?.writes ?? 0,
      sent: honest ? (g?.packets ?? 0) : 0,
      kicks: g?.kicks ?? g?.guest?.kicks ?? 0,
      kloop: k ?? { irqs: 0, sleeps: 0, wakeups: 0, late: 0, errors: 0, syncs: 0, drops: 0 },
      drained: drain?.packets ?? 0,
      ...(port === 'vale' ? { vale: valeCounters(host.kmem) } : {}),
      geometryWordsOff: geometryWordsOff(host),
      stopMs,
      ...(rb.error !== undefined ? { error: rb.error } : {}),
    };
    return { flowA: flowAReport(a), flowB, shared };
  } finally {
    nmA.close();
    nmB.close();
  }
}

/** Words of a port's user copy of the geometry that differ from the kernel's (its own copy, in kmem). */
function geometryWordsOff(desc: PortDescriptor): number {
  const g = Geometry.readKernel(desc.kmem);
  const want = new Int32Array(g.slotsOfs / 4);
  g.writeUser(want);
  const have = new Int32Array(desc.mem, 0, want.length);
  let off = 0;
  const count = (from: number, to: number) => {
    for (let i = from; i < to; i++) if (have[i] !== want[i]) off++;
  };
  count(0, g.ringsOfs / 4);
  for (let id = 0; id < g.numRings; id++) count(g.ringWordBase(id), g.ringWordBase(id) + WORDS_PER_LINE);
  return off;
}

/**
 * Flow A next to flow B = a guest pkt-gen (txseq over passthrough) to a host app, whose
 * guest fails mid-flow; then a new guest on the same port sends `reattachCount` packets.
 */
async function withCrashingFlow(
  o: IsolationOptions,
  port: 'pipe' | 'vale',
  kind: FaultKind,
): Promise<{ flowA: FlowAReport; shared: number } & CrashReport> {
  const nmA = new Netmap();
  const nmB = new Netmap();
  try {
    const aBufs = flowABuffers(nmA, port, o.ring);
    const warmupMs = o.warmupMs ?? 250;
    const fault: Fault =
      o.crashAfterPackets !== undefined || o.count !== undefined
        ? { kind, afterPackets: o.crashAfterPackets ?? 100_000 }
        : { kind, afterMs: warmupMs + ((o.seconds ?? 4) * 1000) / 2 };
    const common = { netmap: nmB, port, mode: 'txseq', tx: 'guest', busyWait: true, lingerUs: 0 } as const;
    const sizes = { ring: o.ring, batch: o.batch, spinUs: 0, logLevel: o.logLevel };
    // Flow B's roles get these ports (the guest its region, the kloop its kernel side).
    const shared = countShared(
      aBufs,
      NAMES[port].b.map((n) => nmB.register(n, { ringSize: o.ring ?? 1024 })),
    );
    const stop = new AbortController();
    const start = performance.now();
    const b = runPktGenPair({ ...common, ...sizes, seconds: 3600, txFault: fault, signal: stop.signal }).then(
      () => ({ error: 'the guest did not fail', at: performance.now() }),
      (e: unknown) => ({ error: e instanceof Error ? e.message : String(e), at: performance.now() }),
    );
    // After the crash, a new guest on the same port, while flow A still runs.
    const reattach = b.then(async () => {
      try {
        const r = await runPktGenPair({ ...common, ...sizes, count: o.reattachCount ?? 200_000 });
        return { sent: r.sent, packets: r.packets, seqErrors: r.seqErrors, drops: r.drops };
      } catch (e) {
        return { sent: 0, packets: 0, seqErrors: 0, drops: 0, error: e instanceof Error ? e.message : String(e) };
      }
    });
    const seen: Array<IntervalReport & { end: number }> = [];
    let a: PktGenRunResult;
    try {
      a = await flowA(o, port, nmA, seen);
    } catch (e) {
      stop.abort();
      throw e;
    }
    // Flow B ends by its crash, even if flow A was quicker; a guest that never fails is stopped.
    const timer = setTimeout(() => stop.abort(), CRASH_WAIT_MS);
    const crash = await b;
    clearTimeout(timer);
    const again = await reattach;
    const split = (keep: (iv: IntervalReport & { end: number }) => boolean) => {
      const ivs = seen.filter(keep);
      return { mpps: median(ivs.map((i) => i.mpps).sort((x, y) => x - y)), intervals: ivs.length };
    };
    return {
      flowA: flowAReport(a),
      shared,
      port: NAMES[port].b[0],
      kind,
      error: crash.error,
      at: (crash.at - start) / 1000,
      before: split((iv) => iv.end <= crash.at),
      after: split((iv) => iv.end - iv.usec / 1000 >= crash.at),
      reattach: again,
    };
  } finally {
    nmA.close();
    nmB.close();
  }
}
