/**
 * A line plot as a hand-written SVG in the style of the talk's graphs: one polyline per
 * series, a marker per point with its min–max as a vertical bar, axes with ticks (log2
 * on x for sizes such as batch), a legend and a title. No dependency: a plot is ~100
 * elements of text.
 *
 * Every marker carries its exact values (`data-x`, `data-y`, `data-y-min`, `data-y-max`,
 * written with String(), like the JSON and CSV; a category axis writes the category) and
 * a `<title>` tooltip, so the SVG can be checked against the other result files.
 *
 * The x axis is linear, log2 (sizes) or categories (directions, port types: evenly
 * spaced in the given order, "bar-like" lines); the y axis linear from 0 or log10 (RTTs
 * and per-packet event rates, which span orders of magnitude).
 *
 * Reference lines (`refLines`: a NIC's line rate) are horizontal dashed lines across the
 * plot with their label at the right end, above the line; the y axis reaches them.
 */

export interface PlotPoint {
  /** On a category axis: the category's index. */
  x: number;
  /** On a category axis: the category (data-x and the tooltip show it). */
  xLabel?: string;
  y: number;
  yMin?: number;
  yMax?: number;
}

export interface PlotSeries {
  label: string;
  points: PlotPoint[];
  /** Default: the series' place in COLORS (and a dash pattern after ten). */
  color?: string;
  /** An SVG stroke-dasharray ('' for solid). */
  dash?: string;
  /** Unit in this series' tooltips, when not the plot's (`/batch` on a plot of `/pkt`). */
  unit?: string;
}

export interface PlotSpec {
  title: string;
  /** Up to two lines under the title. */
  subtitle?: string[];
  xLabel: string;
  /** Name of the x parameter in tooltips (`batch=64`). */
  xName: string;
  yLabel: string;
  /** Unit in tooltips (`Mpps`). */
  yUnit: string;
  /** Log2 x axis (batch and ring sizes). */
  xLog2: boolean;
  /** A category x axis: point i of a series sits at category i. */
  xCategories?: string[];
  /** Log10 y axis (values must be > 0; others are not drawn). */
  yLog?: boolean;
  /** A line of text inside the plot area (e.g. why it is empty). */
  note?: string;
  /** Horizontal dashed lines at a y value with a label (a NIC's line rate); the y axis includes them. */
  refLines?: PlotRefLine[];
  series: PlotSeries[];
}

export interface PlotRefLine {
  y: number;
  label: string;
  /** Default dark grey. */
  color?: string;
}

const W = 760;
const H = 460;
const M = { left: 72, right: 190, top: 78, bottom: 58 };
const PW = W - M.left - M.right;
const PH = H - M.top - M.bottom;
const FONT = 'system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif';
/** Tableau 10. */
export const COLORS = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
];
export const DASHES = ['', '6 3', '2 3', '8 3 2 3'];

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** A coordinate with at most 2 decimals. */
const c = (v: number): string => String(Math.round(v * 100) / 100);

/** 1, 2 or 5 times a power of ten, so that about `n` steps cover `span`. */
export function niceStep(span: number, n = 5): number {
  if (!(span > 0)) return 1;
  const raw = span / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

function decimals(step: number): number {
  return step >= 1 ? 0 : Math.min(6, Math.ceil(-Math.log10(step) - 1e-9));
}

interface Axis {
  map: (v: number) => number;
  ticks: Array<{ at: number; label: string }>;
}

function xAxis(values: number[], log2: boolean): Axis {
  const useLog = log2 && values.every((v) => v > 0);
  const tf = useLog ? Math.log2 : (v: number) => v;
  const t = values.map(tf);
  let lo = Math.min(...t);
  let hi = Math.max(...t);
  if (lo === hi) {
    lo -= 1;
    hi += 1;
  }
  const pad = (hi - lo) * 0.04;
  const [dlo, dhi] = [lo - pad, hi + pad];
  const map = (v: number) => M.left + ((tf(v) - dlo) / (dhi - dlo)) * PW;
  const ticks: Axis['ticks'] = [];
  if (useLog) {
    const first = Math.ceil(lo - 1e-9);
    const last = Math.floor(hi + 1e-9);
    const every = Math.max(1, Math.ceil((last - first + 1) / 12));
    for (let k = first; k <= last; k += every) ticks.push({ at: 2 ** k, label: String(2 ** k) });
  } else {
    const step = niceStep(hi - lo, 6);
    const d = decimals(step);
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
      ticks.push({ at: v, label: v.toFixed(d) });
    }
  }
  return { map, ticks };
}

function categoryAxis(n: number, labels: string[]): Axis {
  const k = Math.max(1, n);
  const map = (v: number) => M.left + ((v + 0.5) / k) * PW;
  return { map, ticks: labels.map((label, i) => ({ at: i, label })) };
}

/** A log10 axis over [lo, hi] (both > 0), ticks at the powers of ten (1, 2, 5 between when it spans little). */
function yLogAxis(lo: number, hi: number): Axis {
  let a = Math.floor(Math.log10(lo));
  let b = Math.ceil(Math.log10(hi));
  if (a === b) {
    a -= 1;
    b += 1;
  }
  const map = (v: number) => M.top + PH - ((Math.log10(v) - a) / (b - a)) * PH;
  const ticks: Axis['ticks'] = [];
  const label = (v: number) => (v >= 1e5 || v < 1e-3 ? v.toExponential(0) : String(Number(v.toPrecision(3))));
  for (let e = a; e <= b; e++) {
    for (const m of b - a <= 3 ? [1, 2, 5] : [1]) {
      const v = m * 10 ** e;
      if (e === b && m > 1) continue;
      ticks.push({ at: v, label: label(v) });
    }
  }
  return { map, ticks };
}

function yAxis(max: number): Axis {
  const top0 = max > 0 ? max * 1.05 : 1;
  const step = niceStep(top0, 5);
  const top = Math.ceil(top0 / step) * step;
  const d = decimals(step);
  const ticks: Axis['ticks'] = [];
  for (let i = 0; i * step <= top + step * 1e-9; i++) ticks.push({ at: i * step, label: (i * step).toFixed(d) });
  return { map: (v: number) => M.top + PH - (v / top) * PH, ticks };
}

function fmt(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(1) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3);
}

export function renderPlot(spec: PlotSpec): string {
  const log = spec.yLog === true;
  // A log axis cannot place 0 or below: such points are left out.
  const series = spec.series.map((s) => ({ ...s, points: log ? s.points.filter((p) => p.y > 0) : s.points }));
  const all = series.flatMap((s) => s.points);
  const refs = (spec.refLines ?? []).filter((r) => Number.isFinite(r.y) && (!log || r.y > 0));
  const xs = all.length > 0 ? all.map((p) => p.x) : [1];
  const ymax = Math.max(0, ...all.map((p) => Math.max(p.y, p.yMax ?? p.y)), ...refs.map((r) => r.y));
  const X = spec.xCategories ? categoryAxis(spec.xCategories.length, spec.xCategories) : xAxis(xs, spec.xLog2);
  const lows = all.flatMap((p) => [p.y, p.yMin ?? p.y]).filter((v) => v > 0);
  const Y = log ? yLogAxis(lows.length > 0 ? Math.min(...lows) : 1e-6, ymax > 0 ? ymax : 1) : yAxis(ymax);
  const yAt = (v: number) => (log && !(v > 0) ? M.top + PH : Y.map(v));
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="${FONT}" font-size="12">`,
  );
  out.push(`<title>${escapeXml(spec.title)}</title>`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text class="title" x="${M.left}" y="26" font-size="16" font-weight="600">${escapeXml(spec.title)}</text>`);
  (spec.subtitle ?? []).slice(0, 2).forEach((line, i) => {
    out.push(`<text class="subtitle" x="${M.left}" y="${45 + i * 16}" fill="#555555">${escapeXml(line)}</text>`);
  });
  // Grid, ticks and tick labels.
  out.push('<g class="axes" stroke="#dddddd" stroke-width="1">');
  for (const t of Y.ticks) {
    out.push(`<line x1="${M.left}" x2="${M.left + PW}" y1="${c(Y.map(t.at))}" y2="${c(Y.map(t.at))}"/>`);
  }
  for (const t of X.ticks) {
    out.push(`<line x1="${c(X.map(t.at))}" x2="${c(X.map(t.at))}" y1="${M.top}" y2="${M.top + PH}"/>`);
  }
  out.push('</g>');
  out.push(
    `<g class="frame" stroke="#333333" stroke-width="1" fill="none"><rect x="${M.left}" y="${M.top}" width="${PW}" height="${PH}"/></g>`,
  );
  out.push('<g class="y-ticks" text-anchor="end" fill="#333333">');
  for (const t of Y.ticks) out.push(`<text x="${M.left - 6}" y="${c(Y.map(t.at) + 4)}">${t.label}</text>`);
  out.push('</g>');
  out.push('<g class="x-ticks" text-anchor="middle" fill="#333333">');
  for (const t of X.ticks) out.push(`<text x="${c(X.map(t.at))}" y="${M.top + PH + 17}">${t.label}</text>`);
  out.push('</g>');
  out.push(
    `<text class="x-label" x="${M.left + PW / 2}" y="${H - 14}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`,
  );
  out.push(
    `<text class="y-label" transform="translate(18 ${M.top + PH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(spec.yLabel)}</text>`,
  );
  if (spec.note) {
    out.push(
      `<text class="note" x="${M.left + PW / 2}" y="${M.top + PH / 2}" text-anchor="middle" fill="#777777">${escapeXml(spec.note)}</text>`,
    );
  }
  // Reference lines, under the series.
  if (refs.length > 0) {
    out.push('<g class="ref-lines">');
    for (const r of refs) {
      const y = c(yAt(r.y));
      const color = r.color ?? '#555555';
      out.push(
        `<g class="ref-line" data-y="${String(r.y)}"><line x1="${M.left}" x2="${M.left + PW}" y1="${y}" y2="${y}" stroke="${color}" stroke-width="1.5" stroke-dasharray="7 4"/>` +
          `<text x="${M.left + PW - 4}" y="${c(yAt(r.y) - 5)}" text-anchor="end" fill="${color}">${escapeXml(r.label)}</text></g>`,
      );
    }
    out.push('</g>');
  }
  // Series.
  const style = (s: PlotSeries, i: number) => ({
    color: s.color ?? COLORS[i % COLORS.length],
    dash: s.dash ?? DASHES[Math.floor(i / COLORS.length) % DASHES.length],
  });
  series.forEach((s, i) => {
    const { color, dash } = style(s, i);
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    out.push(`<g class="series" data-series="${escapeXml(s.label)}" stroke="${color}" fill="${color}">`);
    out.push(
      `<polyline fill="none" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''} points="${pts
        .map((p) => `${c(X.map(p.x))},${c(yAt(p.y))}`)
        .join(' ')}"/>`,
    );
    for (const p of pts) {
      const px = c(X.map(p.x));
      if (p.yMin !== undefined && p.yMax !== undefined) {
        out.push(
          `<line stroke-width="1.5" opacity="0.6" x1="${px}" x2="${px}" y1="${c(yAt(p.yMin))}" y2="${c(yAt(p.yMax))}"/>`,
        );
      }
      const range = p.yMin !== undefined && p.yMax !== undefined ? ` (${fmt(p.yMin)}-${fmt(p.yMax)})` : '';
      const data =
        `data-x="${escapeXml(p.xLabel ?? String(p.x))}" data-y="${String(p.y)}"` +
        (p.yMin !== undefined ? ` data-y-min="${String(p.yMin)}"` : '') +
        (p.yMax !== undefined ? ` data-y-max="${String(p.yMax)}"` : '');
      out.push(
        `<circle class="point" cx="${px}" cy="${c(yAt(p.y))}" r="3.5" ${data}><title>${escapeXml(
          `${s.label}, ${spec.xName}=${p.xLabel ?? p.x}: ${fmt(p.y)} ${s.unit ?? spec.yUnit}${range}`,
        )}</title></circle>`,
      );
    }
    out.push('</g>');
  });
  // Legend.
  const lx = M.left + PW + 16;
  out.push('<g class="legend">');
  // Many lines (an events plot) squeeze the legend rather than run off the bottom.
  const step = Math.min(20, Math.max(11, (H - M.top - 12) / Math.max(1, series.length)));
  series.forEach((s, i) => {
    const { color, dash } = style(s, i);
    const ly = M.top + 8 + i * step;
    out.push(
      `<line x1="${lx}" x2="${lx + 22}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`,
    );
    out.push(`<circle cx="${lx + 11}" cy="${ly}" r="3.5" fill="${color}"/>`);
    out.push(`<text x="${lx + 30}" y="${ly + 4}">${escapeXml(s.label)}</text>`);
  });
  out.push('</g>');
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
