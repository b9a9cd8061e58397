/** Text reports in pkt-gen's spirit. */

import type { CpuAccounting } from '../apps/cputime.js';
import type { NicRunResult } from '../apps/nic-run.js';
import type { IntervalReport, PktGenRunResult } from '../apps/pktgen-run.js';
import type { StressResult } from '../apps/stress.js';

const f = (v: number, d = 2) => v.toFixed(d);

/** 1234567 -> "1.23 M" (pkt-gen's norm()). */
export function norm(v: number, unit = ''): string {
  const units = ['', 'K', 'M', 'G', 'T'];
  let i = 0;
  let x = v;
  while (x >= 1000 && i < units.length - 1) {
    x /= 1000;
    i++;
  }
  return `${x.toFixed(2)} ${units[i]}${unit}`;
}

export function formatPktGenHeader(o: {
  port?: string;
  mode: string;
  len: number;
  batch: number;
  ring: number;
  seconds: number;
  count?: number;
  spinUs?: number;
  /** NIC runs: the line rate, which side the app is on, and who runs it. */
  line?: string;
  nicDir?: 'tx' | 'rx';
  nicWho?: string;
  attach?: string;
}): string {
  const pair = o.mode === 'ping' ? 'ping <-> pong' : o.mode === 'txseq' ? 'txseq -> rxseq' : 'tx -> rx';
  const span = [o.count ? `${o.count} packets` : '', o.seconds ? `${o.seconds} s` : ''].filter(Boolean).join(' or ');
  const path =
    o.port === 'vale'
      ? 'vale0:a -> vale0:b'
      : o.port === 'nic'
        ? o.nicDir === 'rx'
          ? `a ${o.line} wire -> nic0 ${o.attach ? `-> ${o.attach} -> ${o.attach}:a ` : ''}(${o.nicWho})`
          : `${o.attach ? `${o.attach}:a -> ${o.attach} -> ` : ''}nic0 (${o.nicWho}) -> a ${o.line} wire`
        : 'pipe0{ -> pipe0}';
  return `pkt-gen ${pair} over ${path}: len ${o.len}, batch ${o.batch}, ring ${o.ring}, spin ${o.spinUs ?? 0} us, ${span}\n`;
}

export function formatPktGenInterval(iv: IntervalReport): string {
  return `${f(iv.t, 3).padStart(8)} s ${norm(iv.mpps * 1e6, 'pps').padStart(13)} (${norm(iv.packets, 'pkts')} ${norm(
    iv.gbps * 1e9,
    'bps',
  )} in ${Math.round(iv.usec)} usec) ${f(iv.avgBatch)} avg_batch\n`;
}

export function formatPktGenSummary(r: PktGenRunResult): string {
  const lines = [
    `Sent ${norm(r.sent, 'packets')}, ${norm(r.sent * r.len, 'B')}`,
    `Received ${norm(r.packets, 'packets')}, ${norm(r.bytes, 'B')}, ${norm(r.packets / Math.max(r.avgBatch, 1e-9), 'events')} in ${f(r.seconds)} s`,
    `Speed: ${f(r.mpps)} Mpps median of ${r.intervals.length} intervals (min ${f(r.mppsMin)}, max ${f(r.mppsMax)}), ` +
      `${f((r.mpps * r.len * 8) / 1000)} Gbps, avg_batch ${f(r.avgBatch)}`,
    `drops ${r.drops}, seq errors ${r.seqErrors}, notifies/packet ${r.notifiesPerPacket.toExponential(2)}, ` +
      `${r.threads} worker threads on ${r.cores} cores (${r.cpuModel}, Node ${r.node})`,
    formatCpuLine(r.cpu),
  ];
  if (r.tx === 'guest' || r.rx === 'guest') {
    lines.push(
      `passthrough: tx ${r.tx}, rx ${r.rx}; kicks/packet ${r.kicksPerPacket.toExponential(2)}, ` +
        `irqs/packet ${r.irqsPerPacket.toExponential(2)}, kloop wake-ups ${r.kloopWakeupsPerSecond.toFixed(0)}/s`,
    );
  }
  if (r.valeCtl) lines.push(formatValeCtl(r.valeCtl).trimEnd());
  const nic = r as Partial<NicRunResult>;
  if (nic.wire !== undefined && nic.lineRateMpps !== undefined) {
    for (const l of nic.wire.lanes.filter((x) => x.frames + x.missed > 0)) {
      lines.push(
        `wire ${l.name}: ${f(l.mpps)} Mpps over the run, line rate ${f(nic.lineRateMpps)} Mpps (${nic.line}, ${r.len} B); ` +
          `measured ${f(r.mpps)} Mpps = ${f((nic.ofLineRate ?? 0) * 100, 1)}% of line rate; missed ${l.missed}; ` +
          (l.behindMs > 1
            ? `the wire fell behind for ${f(l.behindMs, 1)} ms (it could not keep up)`
            : 'the wire kept up'),
      );
    }
  }
  if (r.rtt) {
    lines.push(
      `RTT: min ${f(r.rtt.min)} us, median ${f(r.rtt.median)} us, p99 ${f(r.rtt.p99)} us over ${r.rtt.count} round trips`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The CPU accounting in one line: per thread its CPU ns per packet (of it idle spin, and
 * its run-queue wait as % of the run), then the busy sum and the projected rate.
 */
export function formatCpuLine(c: CpuAccounting): string {
  const ns = (v: number | null) => (v === null ? '-' : v < 10 ? f(v) : f(v, 1));
  if (!c.available) {
    return `cpu ns/packet: unavailable here (no /proc/thread-self/schedstat); idle spin ns/packet: ${c.threads
      .map((t) => `${t.role} ${ns(t.spinNsPerPacket)}`)
      .join(', ')}`;
  }
  const threads = c.threads.map(
    (t) =>
      `${t.role} ${ns(t.cpuNsPerPacket)} (spin ${ns(t.spinNsPerPacket)}, wait ${t.runqueueWaitPct === null ? '-' : f(t.runqueueWaitPct, 1)}%)`,
  );
  const proj = c.projectedMpps === null ? '-' : f(c.projectedMpps);
  return `cpu ns/packet: ${threads.join(', ')}; busy ${ns(c.busyNsPerPacket)} ns/packet, projected ${proj} Mpps with a core per thread`;
}

export interface PeersLike {
  results: Array<{
    name: string;
    mpps: number;
    mppsMin?: number;
    mppsMax?: number;
    ratioToPipe?: number;
    skipped?: string;
  }>;
}

export function formatPeers(r: PeersLike & { cores?: number; node?: string; cpuModel?: string }): string {
  const rows = r.results.map((x) =>
    x.skipped
      ? `  ${x.name.padEnd(22)} skipped: ${x.skipped}`
      : `  ${x.name.padEnd(22)} ${f(x.mpps).padStart(8)} Mpps  (${f(x.mppsMin ?? x.mpps)}-${f(x.mppsMax ?? x.mpps)})` +
        `  pipe is ${f(x.ratioToPipe ?? 0, 1)}x`,
  );
  const machine = r.cores
    ? `  (${r.cores} cores, ${r.cpuModel}, Node ${r.node}; median of the intervals, min-max)\n`
    : '';
  return `${rows.join('\n')}\n${machine}`;
}

/** vale-ctl style: one line per port of each switch, with its counters. */
export function formatValeCtl(list: NonNullable<PktGenRunResult['valeCtl']>): string {
  const out: string[] = [];
  for (const sw of list) {
    out.push(`vale-ctl ${sw.switch}: ${sw.ports.length} ports`);
    for (const p of sw.ports) {
      const c = p.counters;
      out.push(
        `  ${`${sw.switch}:${p.name}`.padEnd(14)} port ${String(p.index).padStart(3)}  tx ${norm(c.tx)}  rx ${norm(c.rx)}  ` +
          `drops ${norm(c.drops)}  floods ${norm(c.floods)}  bad ${c.bad}  lock spins ${norm(c.lockSpins ?? 0)}`,
      );
    }
  }
  return `${out.join('\n')}\n`;
}

/** The stress table: a header, then a row per port and direction as each one finishes. */
const STRESS_COLS: Array<[string, number]> = [
  ['port', 5],
  ['direction', 13],
  ['result', 8],
  ['guest', 9],
  ['host', 9],
  ['total', 9],
  ['sent', 11],
  ['received', 11],
  ['dropped', 10],
  ['gaps', 9],
  ['reorder', 7],
  ['kicks', 9],
  ['irqs', 9],
  ['lost', 5],
  ['seconds', 8],
];

export function formatStressHeader(): string {
  const names = STRESS_COLS.map(([n, w], i) => (i < 3 ? n.padEnd(w) : n.padStart(w)));
  return `transitions (sleep -> wake): guest = guest apps' drivers, host = host apps and kloops; lost = late wake-ups\n${names.join(' ')}\n`;
}

export function formatStressRow(r: StressResult): string {
  const cells = [
    r.port,
    r.dir,
    r.ok ? 'ok' : r.problems.some((p) => p.includes('stalled')) ? 'STALLED' : 'FAILED',
    r.transitions.guest,
    r.transitions.host,
    r.transitions.total,
    r.sent,
    r.received,
    r.dropped,
    r.seqGaps,
    r.seqReorder,
    r.kicks,
    r.irqs,
    r.lateWakeups,
    f(r.elapsed, 1),
  ].map((v, i) => (i < 3 ? String(v).padEnd(STRESS_COLS[i][1]) : String(v).padStart(STRESS_COLS[i][1])));
  const why = r.ok ? '' : r.problems.map((p) => `  ${r.port} ${r.dir}: ${p}\n`).join('');
  return `${cells.join(' ')}\n${why}`;
}
