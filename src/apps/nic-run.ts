/**
 * pkt-gen on a NIC port (the talk's physical-port experiment): an app (a host app, or an
 * app in a guest the NIC is passed through to, with its kloop) sends into nic0 while the
 * wire sinks at line rate, or receives from nic0 while the wire generates at line rate.
 * The result is pkt-gen's, plus the line rate and what the wire saw (missed frames, time
 * it fell behind).
 */
import { availableParallelism, cpus } from 'node:os';
import { RegionViews } from '../../shm/views.js';
import { type CountersByName, sumCounters } from '../counters.js';
import { NetmapError } from '../errors.js';
import { checkNotifyPolicy } from '../kernel/notify.js';
import { valeCounters } from '../kernel/vale.js';
import { logLevel } from '../log.js';
import { Netmap } from '../netmap.js';
import { checkLineRate, type LineRate, lineBps, lineRateMpps } from '../nic/line.js';
import type { WireResult, WireTask } from '../nic/wire-role.js';
import { passThrough } from '../passthrough/hypervisor.js';
import type { KloopResult } from '../passthrough/kloop.js';
import { cpuAccounting, type ThreadCpu, type WithThread } from './cputime.js';
import { type Mac, SEQ_OFFSET, writeFrame } from './frame.js';
import type { AppPortDescriptor } from './open.js';
import { checkPktGenOptions, type PktGenOptions } from './pktgen.js';
import { type PktGenRoleResult, type PktGenRunOptions, type PktGenRunResult, pairBasics } from './pktgen-run.js';
import { runRate, runSession } from './session.js';

/** A NIC run: one side is the wire (it sinks what the app sends, or generates what it receives). */
export type NicRunOptions = PktGenRunOptions;

/**
 * The result of pkt-gen on a NIC port: pkt-gen's, plus the app's side, the line rate, the
 * rate over it and the wire's figures.
 */
export interface NicRunResult extends PktGenRunResult {
  /** Which side the app is on (tx: it sends, the wire sinks; rx: the wire generates) and who runs it. */
  nicDir: 'tx' | 'rx';
  app: 'host' | 'guest';
  line: LineRate;
  /** The line rate at this frame length (Mpps) and the measured rate over it. */
  lineRateMpps: number;
  ofLineRate: number;
  /** The wire's own figures: per lane frames, missed, time it fell behind. */
  wire: WireResult;
}

const DST: Mac = [0x02, 0, 0, 0, 2, 1];
const SRC: Mac = [0x02, 0, 0, 0, 1, 1];

/**
 * Runs pkt-gen on a NIC port: one app (host or guest) sends into nic0 while the wire
 * sinks, or receives while the wire generates, at line rate.
 */
export async function runNicPktGen(o: NicRunOptions): Promise<NicRunResult> {
  const line = checkLineRate(o.line ?? '10G');
  // Exactly one side is the app: --tx WHO (the wire sinks) or --rx WHO (the wire generates).
  if ((o.tx === undefined) === (o.rx === undefined)) {
    throw new NetmapError(
      'EINVAL',
      'a NIC run has one app: give --tx host|guest (the wire sinks) or --rx host|guest (the wire generates)',
    );
  }
  const dir: 'tx' | 'rx' = o.tx !== undefined ? 'tx' : 'rx';
  const who = (dir === 'tx' ? o.tx : o.rx) as string;
  if (who !== 'host' && who !== 'guest') {
    throw new NetmapError('EINVAL', `a NIC's app runs on the host or in a guest (passthrough), got '${who}'`);
  }
  if ((o.mode ?? 'tx') === 'ping') throw new NetmapError('EINVAL', 'ping needs two apps: a NIC run has one');
  for (const [k, what] of [
    ['trace', 'a trace'],
    ['moderation', 'an emulated NIC'],
    ['txFault', 'a sender fault'],
  ] as const) {
    if (o[k] !== undefined) throw new NetmapError('EINVAL', `a NIC run has no ${what} (${k})`);
  }
  if ((o.senders ?? 1) !== 1) throw new NetmapError('EINVAL', 'a NIC run has one app (senders 1)');
  const mode = o.mode ?? 'tx';
  const { len, batch, ring, count, seconds, common } = pairBasics(o);
  const notify = checkNotifyPolicy(o.notify ?? 'asleep');
  const nm = o.netmap ?? new Netmap();
  const hw = nm.createNic('nic0', { line, ringSize: ring });
  // Attached to a switch (vale-ctl -a vale0:nic0): the app runs on vale0:a and its frames
  // cross the switch to and from the NIC's port, which the wire serves.
  const attach = o.attach;
  const vale = attach !== undefined ? nm.valeAttach(attach, 'nic0') : undefined;
  const d = attach !== undefined ? nm.register(`${attach}:a`, { ringSize: ring }) : nm.register('nic0');
  const appMode = dir === 'tx' ? (mode === 'txseq' ? 'txseq' : 'tx') : mode === 'txseq' ? 'rxseq' : 'rx';
  checkPktGenOptions({ mode: appMode, ...common }, RegionViews.kernel(hw.mem, hw.kmem).bufSize);
  o.onStart?.();
  let port: AppPortDescriptor = d;
  const kloops: Array<{ role: 'kloop'; kloop: ReturnType<typeof passThrough>['kloop'] }> = [];
  if (who === 'guest') {
    const pt = passThrough(d);
    port = pt.guest;
    kloops.push({ role: 'kloop', kloop: pt.kloop });
  }
  const threads = 2 + kloops.length;
  const oversubscribed = threads > availableParallelism();
  const level = o.logLevel ?? logLevel();
  const app = {
    task: {
      role: 'pktgen',
      port,
      opts: { mode: appMode, ...common, srcMac: SRC, dstMac: DST } satisfies PktGenOptions,
      notify,
      oversubscribed,
      logLevel: level,
    },
    name: `${who} ${appMode} on ${d.name}`,
    sender: dir === 'tx',
    measured: dir === 'rx',
  };
  const template = new Uint8Array(len);
  writeFrame(template, 0, len, DST, SRC);
  const wireTask: Omit<WireTask, 'ctl' | 'stats'> = {
    role: 'wire',
    hw,
    ...(vale !== undefined ? { vale } : {}),
    tx: { kind: 'sink' },
    rx:
      dir === 'rx'
        ? { kind: 'gen', gen: { frame: template, seqOffset: len >= SEQ_OFFSET + 4 ? SEQ_OFFSET : -1, count } }
        : { kind: 'none' },
    measure: dir,
    sender: dir === 'rx',
    spinUs: 50,
    logLevel: level,
  };
  const wire = { task: { ...wireTask }, name: `wire of nic0 (${line})`, sender: dir === 'rx', measured: dir === 'tx' };
  const hostRoles = kloops.map((k) => ({
    task: { ...k, lingerUs: o.lingerUs ?? 1000, busyWait: o.busyWait ?? false, notify, logLevel: level },
    sender: false,
    forwarder: true,
  }));
  const roles = dir === 'tx' ? [app, wire, ...hostRoles] : [wire, app, ...hostRoles];
  const s = await runSession<unknown>(roles, {
    seconds,
    reportMs: o.reportMs ?? 1000,
    warmupMs: o.warmupMs ?? 250,
    onInterval: o.onInterval,
    signal: o.signal,
  });
  const appR = s.results[dir === 'tx' ? 0 : 1] as PktGenRoleResult;
  const wireR = s.results[dir === 'tx' ? 1 : 0] as WithThread<WireResult>;
  const kloopRs = s.results.slice(2) as Array<WithThread<KloopResult>>;
  const lane = wireR.lanes[dir === 'tx' ? 0 : 1];
  const packets = dir === 'tx' ? lane.frames : appR.packets;
  const threadCpus: ThreadCpu[] = [
    { ...appR.thread, role: `${who} ${appMode}` },
    { ...wireR.thread, role: 'wire nic0' },
    ...kloopRs.map((k) => ({ ...k.thread, role: 'kloop nic0' })),
  ];
  const appCounters = sumCounters(appR.counters);
  const none: CountersByName = sumCounters([]);
  const rate = runRate(s, packets);
  const lr = lineRateMpps(lineBps(line), len);
  // vale-ctl lines read from the ports' kernel memory (the ports have left the switch by now).
  const valeLines =
    attach === undefined || vale === undefined
      ? []
      : [d, vale].map((p, i) => ({ index: i, name: p.name.split(':')[1], counters: valeCounters(p.kmem) }));
  const { thread: _t, ...wireOnly } = wireR;
  const kl = kloopRs.map(({ thread: _k, ...r }) => r);
  const irqs = kl.reduce((t, r) => t + r.irqs, 0);
  return {
    port: 'nic',
    mode: mode as 'tx' | 'txseq',
    notify,
    len,
    batch,
    ring,
    mpps: rate.mpps,
    mppsMin: rate.mppsMin,
    mppsMax: rate.mppsMax,
    packets,
    bytes: dir === 'tx' ? lane.bytes : appR.bytes,
    sent: dir === 'tx' ? appR.packets : lane.frames + lane.missed,
    seconds: s.elapsed,
    avgBatch: appR.batches > 0 ? appR.packets / appR.batches : 0,
    // Frames the app sent that the switch could not fit toward the NIC, or the NIC's missed.
    drops: appCounters.drops + lane.missed + valeLines.reduce((t, p) => t + p.counters.drops, 0),
    seqErrors: appR.seqGaps + appR.seqReorder,
    seqGaps: appR.seqGaps,
    seqReorder: appR.seqReorder,
    notifiesPerPacket: packets > 0 ? appCounters.notifies / packets : 0,
    sleepsPerPacket: packets > 0 ? appCounters.sleeps / packets : 0,
    allocBytesPerPacket: appR.alloc.gcs === 0 && packets > 0 ? appR.alloc.heapBytes / packets : null,
    gcs: appR.alloc.gcs,
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    threads,
    cpu: cpuAccounting(threadCpus, packets),
    intervals: s.intervals,
    counters: dir === 'tx' ? { sender: appCounters, receiver: none } : { sender: none, receiver: appCounters },
    tx: dir === 'tx' ? (who as 'host' | 'guest') : 'host',
    rx: dir === 'rx' ? (who as 'host' | 'guest') : 'host',
    kicksPerPacket: packets > 0 ? (appR.guest?.kicks ?? 0) / packets : 0,
    irqsPerPacket: packets > 0 ? irqs / packets : 0,
    irqsPerBatch: appR.batches > 0 && who === 'guest' ? irqs / appR.batches : 0,
    kloopWakeupsPerSecond: s.elapsed > 0 ? kl.reduce((t, r) => t + r.wakeups, 0) / s.elapsed : 0,
    lateWakeups: appR.lateWakeups + kl.reduce((t, r) => t + r.late, 0),
    senders: [dir === 'tx' ? appR.packets : lane.frames],
    ...(kl.length > 0 ? { kloops: kl, guests: dir === 'tx' ? { sender: appR.guest } : { receiver: appR.guest } } : {}),
    nicDir: dir,
    app: who as 'host' | 'guest',
    line,
    lineRateMpps: lr,
    ofLineRate: lr > 0 ? rate.mpps / lr : 0,
    wire: wireOnly,
    ...(attach !== undefined ? { valeCtl: [{ switch: attach, ports: valeLines }] } : {}),
  };
}
