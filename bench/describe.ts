/**
 * How a run's results are drawn and described: the main plot (Mpps, or RTT for ping;
 * on a NIC port with the line rate drawn) and the events plot (notifies, kicks, irqs per
 * packet) as SVG, and the phrases the report, the terminal and the flagship share.
 */
import { type LineRate, lineBps, lineRateMpps } from '../src/nic/line.js';
import { COLORS, DASHES, type PlotRefLine, type PlotSeries, renderPlot } from './plot.js';
import type { Machine, PointRecord, ResultsDoc } from './runner.js';
import {
  directionOf,
  expandPoints,
  formatParam,
  isNicScenario,
  isNumericParam,
  lineKeys,
  type PointParams,
  paramValue,
  type Scenario,
  type SweepParam,
} from './scenario.js';

/** One line of machine facts, as printed and written everywhere. */
export function machineLine(m: Machine): string {
  return `${m.cores} cores, ${m.cpuModel}, Node ${m.node}, ${m.platform} ${m.arch}, load average ${m.loadavg.join(' ')}`;
}

/** What stays fixed in a scenario's points (for titles and sentences): "pipe, host->host". */
export function fixedWhat(s: Scenario): string {
  const parts: string[] = [];
  if (s.port !== undefined && s.sweep.port === undefined) parts.push(s.port);
  if (s.endpoints !== undefined && s.sweep.endpoints === undefined) {
    parts.push(directionOf(s.endpoints, s.experiment));
  }
  if (s.base.line !== undefined && s.sweep.line === undefined) parts.push(`${s.base.line} wire`);
  if (s.experiment === 'ping' && s.sweep.peer === undefined) parts.push(`peer ${s.base.peer}`);
  if (s.experiment === 'chain') {
    if (s.sweep.n === undefined) parts.push(`${s.base.n} bridges`);
    if (s.sweep.vms === undefined) parts.push(s.base.vms ? 'in VMs' : 'host apps');
  }
  // The policy is named when it is not the default one (asleep: any news wakes).
  if (s.base.notify !== undefined && s.base.notify !== 'asleep' && s.sweep.notify === undefined) {
    parts.push(`notify ${s.base.notify}`);
  }
  return parts.join(', ');
}

const X_WHAT: Record<SweepParam, string> = {
  len: 'frame length, bytes',
  batch: 'batch, slots per sync',
  ring: 'ring size, slots',
  spinUs: 'busy-poll before sleeping, µs',
  port: 'port type',
  endpoints: 'endpoints (who sends -> who receives)',
  peer: 'the peer, awake (busy-polling) or asleep',
  n: 'bridges in the chain',
  vms: 'the bridges: host apps or VMs',
  notify: 'notification policy (when a sleeping thread is worth waking)',
  line: "line rate of the NIC's wire",
};
const LOG2_X: readonly SweepParam[] = ['batch', 'ring'];

/** The x axis of a scenario's plots: numbers, or categories in sweep order. */
function xOf(s: Scenario): { categories?: string[]; at: (p: PointParams) => { x: number; xLabel?: string } } {
  if (isNumericParam(s.x)) return { at: (p) => ({ x: paramValue(p, s.x) as number }) };
  const values = (s.sweep[s.x] ?? []) as Array<string | boolean>;
  return {
    categories: values.map((v) => (s.x === 'vms' ? formatParam('vms', v) : String(v))),
    at: (p) => {
      const v = paramValue(p, s.x) as string | boolean;
      return { x: values.indexOf(v), xLabel: String(v) };
    },
  };
}

function byLine(doc: ResultsDoc): Map<string, PointRecord[]> {
  const lines = new Map<string, PointRecord[]>();
  for (const r of doc.points) {
    if (r.metrics === null) continue;
    const list = lines.get(r.line) ?? [];
    list.push(r);
    lines.set(r.line, list);
  }
  return lines;
}

function subtitle(doc: ResultsDoc): string[] {
  const s = doc.scenario;
  const numeric = s.experiment === 'peers' ? (['len', 'batch'] as const) : (['len', 'batch', 'ring'] as const);
  const fixed = numeric
    .filter((k) => s.sweep[k] === undefined && !(s.experiment === 'ping' && k === 'batch'))
    .map((k) => `${k} ${s.base[k]}`);
  if (s.experiment !== 'peers' && s.experiment !== 'ping' && s.sweep.spinUs === undefined) {
    fixed.push(`spin ${s.base.spinUs === 'auto' ? 'auto' : `${s.base.spinUs} us`}`);
  }
  const kind = s.experiment === s.mode ? s.experiment : `${s.experiment} ${s.mode}`;
  const what = [fixedWhat(s), kind, ...fixed].filter(Boolean).join(', ');
  const m = doc.machine;
  return [`${what}, ${s.base.seconds} s per point`, `${m.cores} cores, ${m.cpuModel}, Node ${m.node}`];
}

/**
 * A NIC scenario's line rates as plot lines: one per line rate and frame length of its
 * points (lineRateMpps at the point's len), "10G line rate" (with the length when several
 * are swept); none for other ports.
 */
export function lineRateRefs(s: Scenario): PlotRefLine[] {
  if (!isNicScenario(s)) return [];
  const seen = new Map<string, { line: LineRate; len: number }>();
  for (const p of expandPoints(s, 1)) {
    if (p.line === undefined) continue;
    seen.set(`${p.line}/${p.len}`, { line: p.line, len: p.len });
  }
  const lens = new Set([...seen.values()].map((v) => v.len)).size;
  return [...seen.values()].map(({ line, len }) => {
    const y = lineRateMpps(lineBps(line), len);
    return { y, label: `${line} line rate${lens > 1 ? `, ${len} B` : ''} (${y.toFixed(2)} Mpps)` };
  });
}

/**
 * A NIC scenario sweeping several line rates (not on x): a color per line of the other
 * parameters (a direction) and a dash per line rate, so "host->wire 10G" and "host->wire
 * 40G" read as one direction at two rates. Otherwise the plot's own colors.
 */
function lineRateStyle(s: Scenario, p: PointParams, i: number): { color?: string; dash?: string } {
  const rates = s.sweep.line;
  if (rates === undefined || rates.length < 2 || s.x === 'line') return {};
  const others = lineKeys(s).filter((k) => k !== 'line');
  const keyOf = (q: PointParams) => others.map((k) => String(paramValue(q, k))).join(' ');
  const keys = [...new Set(expandPoints(s, 1).map(keyOf))];
  const at = keys.indexOf(keyOf(p));
  const r = rates.indexOf(p.line ?? rates[0]);
  // Solid, dotted, dash-dot ...: not the reference lines' long dashes.
  const dashes = ['', '2 3', '8 3 2 3'];
  return { color: COLORS[(at < 0 ? i : at) % COLORS.length], dash: dashes[r % dashes.length] };
}

/** The main plot: Mpps (ping: median RTT, bars min-p99, log scale) against x, one line per series; a NIC's line rates dashed. */
export function plotSvg(doc: ResultsDoc): string {
  const s = doc.scenario;
  const X = xOf(s);
  const ping = s.experiment === 'ping';
  const what =
    s.experiment === 'peers'
      ? 'transports'
      : s.experiment === 'chain'
        ? `chain of ${s.sweep.n ? 'N' : s.base.n}`
        : `${s.port && s.sweep.port === undefined ? `${s.port} ` : ''}${s.mode}`;
  return renderPlot({
    title: `${s.name}: ${what}, ${ping ? 'RTT' : 'Mpps'} vs ${s.x}`,
    subtitle: subtitle(doc),
    xLabel: `${X_WHAT[s.x]}${LOG2_X.includes(s.x) ? ' (log2 scale)' : ''}`,
    xName: s.x,
    yLabel: ping ? 'RTT, µs (median; bars: min-p99; log scale)' : 'Mpps (median of intervals; bars: min-max)',
    yUnit: ping ? 'us' : 'Mpps',
    xLog2: LOG2_X.includes(s.x),
    xCategories: X.categories,
    yLog: ping,
    refLines: lineRateRefs(s),
    series: [...byLine(doc)].map(([label, recs], i) => ({
      label,
      ...lineRateStyle(s, recs[0].params, i),
      points: recs.map((r) => {
        const m = r.metrics!;
        return ping
          ? { ...X.at(r.params), y: m.rttMedianUs ?? 0, yMin: m.rttMinUs ?? 0, yMax: m.rttP99Us ?? 0 }
          : { ...X.at(r.params), y: m.mpps, yMin: m.mppsMin, yMax: m.mppsMax };
      }),
    })),
  });
}

/**
 * The events the events plot draws, and their dash patterns: per packet, and the
 * interrupts per batch of the guest apps that take them (where a policy's collapse shows:
 * one interrupt per batch).
 */
export const EVENTS = [
  { key: 'notifiesPerPacket', name: 'notifies', per: 'packet', dash: DASHES[0] },
  { key: 'kicksPerPacket', name: 'kicks', per: 'packet', dash: DASHES[1] },
  { key: 'irqsPerPacket', name: 'irqs', per: 'packet', dash: DASHES[2] },
  { key: 'irqsPerBatch', name: 'irqs/batch', per: 'batch', dash: DASHES[3] },
] as const;

/** The events plot's series: per line, one per event kind that happened at some point (color per line, dash per kind). */
export function eventSeries(doc: ResultsDoc): PlotSeries[] {
  const X = xOf(doc.scenario);
  const out: PlotSeries[] = [];
  [...byLine(doc)].forEach(([label, recs], i) => {
    for (const e of EVENTS) {
      if (!recs.some((r) => (r.metrics![e.key] ?? 0) > 0)) continue;
      out.push({
        label: `${label}: ${e.name}`,
        color: COLORS[i % COLORS.length],
        dash: e.dash,
        ...(e.per === 'batch' ? { unit: '/batch' } : {}),
        points: recs
          .filter((r) => (r.metrics![e.key] ?? 0) > 0)
          .map((r) => ({ ...X.at(r.params), y: r.metrics![e.key]! })),
      });
    }
  });
  return out;
}

/**
 * The events plot: notifies, kicks and irqs per packet, and irqs per batch, against x (log
 * scale), the cause behind the main plot.
 */
export function eventsSvg(doc: ResultsDoc): string {
  const s = doc.scenario;
  const X = xOf(s);
  const series = eventSeries(doc);
  const perBatch = series.some((e) => e.unit === '/batch');
  return renderPlot({
    title: `${s.name}: wake-ups per ${s.experiment === 'ping' ? 'round trip' : 'packet'} vs ${s.x}`,
    subtitle: subtitle(doc),
    xLabel: `${X_WHAT[s.x]}${LOG2_X.includes(s.x) ? ' (log2 scale)' : ''}`,
    xName: s.x,
    yLabel: `per ${s.experiment === 'ping' ? 'round trip' : 'packet'}${perBatch ? '; irqs/batch: per batch' : ''} (log scale)`,
    yUnit: '/pkt',
    xLog2: LOG2_X.includes(s.x),
    xCategories: X.categories,
    yLog: true,
    note: series.length === 0 ? 'no notifies, kicks or irqs at any point' : undefined,
    series,
  });
}
