/** The text report of `sabnetmap isolation`. */
import type { FlowAReport, HostileFlowReport, IsolationResult } from '../apps/isolation.js';
import { norm } from './format.js';

const f = (v: number, d = 2) => v.toFixed(d);

function row(label: string, a: FlowAReport): string {
  const busy = a.busyNsPerPacket === null ? 'n/a' : f(a.busyNsPerPacket, 1);
  return `${label.padEnd(16)} ${f(a.mpps).padStart(8)} ${`${f(a.mppsMin)}-${f(a.mppsMax)}`.padStart(13)} ${String(
    a.intervals,
  ).padStart(
    9,
  )} ${String(a.packets).padStart(11)} ${String(a.seqErrors).padStart(10)} ${String(a.drops).padStart(10)} ${busy.padStart(13)}\n`;
}

function flowB(label: string, b: HostileFlowReport): string {
  const k = b.kloop;
  const vale = b.vale ? `; switch: ${b.vale.tx} forwarded, ${b.vale.bad} bad, ${b.vale.drops} dropped` : '';
  return (
    `flow B, ${label} guest on ${b.port}: ${b.sent ? `${norm(b.sent)} packets sent` : `${norm(b.writes)} writes`}, ${norm(b.kicks)} kicks, ` +
    `${b.geometryWordsOff} geometry words left wrong (region header, netmap_if, ring constants); kloop: ${norm(k.errors)} syncs ` +
    `refused (errors), ${norm(k.syncs)} run, ${k.drops} slots dropped, ${k.irqs} irqs; ${b.drained} packets drained${vale}; ` +
    `kloop stopped ${f(b.stopMs, 0)} ms after the stop${b.error ? `; ERROR: ${b.error}` : ''}\n`
  );
}

export function formatIsolation(r: IsolationResult): string {
  const ports = r.port === 'vale' ? 'vale0:a -> vale0:b' : 'pipe0{ -> pipe0}';
  let out =
    `isolation over ${r.port}: flow A = host txseq -> rxseq on ${ports}; flow B = a guest on its own ${r.port} port ` +
    `(another namespace) with a busy-waiting kloop and a host app draining the peer\n` +
    `${r.cores} cores, ${r.busyThreads} threads; ` +
    `buffers of flow A that flow B held: ${r.sharedWithA}\n`;
  const header = `${'flow A next to'.padEnd(16)} ${'Mpps'.padStart(8)} ${'min-max'.padStart(13)} ${'intervals'.padStart(9)} ${'received'.padStart(11)} ${'seq errors'.padStart(10)} ${'drops'.padStart(10)} ${'busy ns/pkt'.padStart(13)}\n`;
  if (r.baseline) {
    out += header + row('honest guest', r.baseline.flowA);
    const label = r.guest === 'kick-storm' ? 'kick storm' : 'hostile';
    if (r.hostile) out += row(`${label} guest`, r.hostile.flowA);
    if (r.hostile) {
      const busy = r.hostile.busyRatio === null ? 'n/a' : f(r.hostile.busyRatio);
      out +=
        `ratio ${label} / honest: Mpps ${f(r.hostile.ratio)} (the noise of the threads sharing the cores), ` +
        `flow A's busy CPU per packet ${busy} (target <= 1.10)\n`;
    }
    out += flowB('honest', r.baseline.flowB);
    if (r.hostile) out += flowB(label, r.hostile.flowB);
  }
  if (r.crash) {
    const c = r.crash;
    out += header + row(`guest ${c.kind}s`, c.flowA);
    out +=
      `flow B's guest failed at ${f(c.at)} s: ${c.error}\n` +
      `flow A before: ${f(c.before.mpps)} Mpps (${c.before.intervals} intervals), after: ${f(c.after.mpps)} Mpps ` +
      `(${c.after.intervals} intervals)\n` +
      `a new guest on ${c.port}: sent ${c.reattach.sent}, received ${c.reattach.packets}, seq errors ` +
      `${c.reattach.seqErrors}, drops ${c.reattach.drops}${c.reattach.error ? `; ERROR: ${c.reattach.error}` : ''}\n`;
  }
  return out;
}
