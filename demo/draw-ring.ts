/**
 * Draws a ring as a circle of slots on a canvas, from a sample: the slots coloured by
 * netmap's states (a colour, a pattern and a legend entry each, so no two states differ by
 * colour alone), the user's arc (head to tail) marked outside, the hands head, cur and
 * tail outside the ring and the kernel's hwcur and hwtail inside. States are contiguous
 * runs between the pointers, so a ring of any size costs a handful of arcs; slot ticks are
 * capped at MAX_TICKS (a larger ring is drawn scaled, and says so), and buffer indices are
 * written only on rings of up to 32 slots.
 *
 * Going forward from hwcur a ring reads: TX queued [hwcur, head), being filled
 * [head, cur), available [cur, tail), sent and back at the next txsync [tail, peer tail)
 * (a pipe's receiver gave them back), transmitting [peer tail, hwcur); RX released
 * [hwcur, head), held [head, cur), received [cur, tail), arrived [tail, peer tail), empty.
 * A sample is read word by word while the threads run: the distances are clamped to keep
 * that order, so a torn sample draws a plausible ring, never a crossed one.
 */
import type { DescSample, RingSample } from './sample.js';

export type Mark = 'none' | 'dots' | 'diag' | 'back' | 'cross' | 'horiz';

export interface Paint {
  key: string;
  label: string;
  fill: string;
  mark: Mark;
}

// Okabe-Ito colours (told apart with the common colour-vision deficiencies), each with its own mark.
export const TX_PAINTS: readonly Paint[] = [
  { key: 'queued', label: 'queued (for txsync)', fill: '#E69F00', mark: 'diag' },
  { key: 'filling', label: 'being filled', fill: '#F0E442', mark: 'dots' },
  { key: 'available', label: 'available', fill: '#56B4E9', mark: 'none' },
  { key: 'done', label: 'sent, back at the next txsync', fill: '#A9D8F2', mark: 'back' },
  { key: 'transmitting', label: 'transmitting (the peer holds it)', fill: '#BBBBBB', mark: 'cross' },
];
export const RX_PAINTS: readonly Paint[] = [
  { key: 'released', label: 'released (for rxsync)', fill: '#CC79A7', mark: 'horiz' },
  { key: 'held', label: 'held (being read)', fill: '#F0E442', mark: 'dots' },
  { key: 'received', label: 'received (to read)', fill: '#009E73', mark: 'none' },
  { key: 'arrived', label: 'arrived (for rxsync)', fill: '#E69F00', mark: 'diag' },
  { key: 'empty', label: 'empty (kernel waits)', fill: '#F2F2F2', mark: 'none' },
];
export const DESC_PAINTS: readonly Paint[] = [
  { key: 'device', label: "the device's (head to tail reg.)", fill: '#E69F00', mark: 'back' },
  { key: 'filled', label: 'filled (DD), for the driver', fill: '#009E73', mark: 'dots' },
  { key: 'driver', label: "the driver's", fill: '#56B4E9', mark: 'none' },
];

/** Where a label may go, in lines from its hand's tip, until it overlaps no other. */
const SHIFTS = [0, 1, 2, 3, -1, -2, -3];

/** At most this many slot ticks per ring. */
export const MAX_TICKS = 256;

const patterns = new Map<string, CanvasPattern | string>();

/** Draws a paint's mark on a small tile (the pattern, and the legend's swatch). */
export function paintTile(c: CanvasRenderingContext2D, p: Paint, w: number, h: number): void {
  c.fillStyle = p.fill;
  c.fillRect(0, 0, w, h);
  c.strokeStyle = 'rgba(0,0,0,0.55)';
  c.fillStyle = 'rgba(0,0,0,0.55)';
  c.lineWidth = 1;
  c.beginPath();
  const step = 6;
  switch (p.mark) {
    case 'dots':
      for (let y = 2; y < h; y += step) for (let x = 2 + ((y / step) % 2) * 3; x < w; x += step) c.rect(x, y, 1.6, 1.6);
      c.fill();
      return;
    case 'diag':
      for (let k = -h; k < w; k += step) {
        c.moveTo(k, h);
        c.lineTo(k + h, 0);
      }
      break;
    case 'back':
      for (let k = 0; k < w + h; k += step) {
        c.moveTo(k, h);
        c.lineTo(k - h, 0);
      }
      break;
    case 'cross':
      for (let k = -h; k < w + h; k += step) {
        c.moveTo(k, h);
        c.lineTo(k + h, 0);
        c.moveTo(k, 0);
        c.lineTo(k + h, h);
      }
      break;
    case 'horiz':
      for (let y = 2; y < h; y += step / 2 + 1) {
        c.moveTo(0, y + 0.5);
        c.lineTo(w, y + 0.5);
      }
      break;
    default:
      return;
  }
  c.stroke();
}

function fillOf(ctx: CanvasRenderingContext2D, p: Paint): CanvasPattern | string {
  let f = patterns.get(p.key);
  if (f === undefined) {
    const tile = document.createElement('canvas');
    tile.width = 12;
    tile.height = 12;
    const c = tile.getContext('2d');
    if (c !== null) paintTile(c, p, 12, 12);
    f = ctx.createPattern(tile, 'repeat') ?? p.fill;
    patterns.set(p.key, f);
  }
  return f;
}

/** A small canvas showing a paint (for the legend). */
export function swatch(p: Paint): HTMLCanvasElement {
  const c = document.createElement('canvas');
  c.width = 22;
  c.height = 13;
  c.className = 'swatch';
  const x = c.getContext('2d');
  if (x !== null) {
    paintTile(x, p, 22, 13);
    x.strokeStyle = '#333';
    x.strokeRect(0.5, 0.5, 21, 12);
  }
  return c;
}

export interface Geom {
  cx: number;
  cy: number;
  /** Outer radius of the slots and their width. */
  r: number;
  w: number;
  /** Labels stay between these x (the ring's cell). */
  minX: number;
  maxX: number;
}

interface Hand {
  at: number;
  label: string;
  inner: boolean;
}

function dist(from: number, to: number, n: number): number {
  const d = to - from;
  return d < 0 ? d + n : d;
}

/** Angle of the start of slot `s` (slot 0 at the top, clockwise). */
function angle(s: number, n: number): number {
  return -Math.PI / 2 + (2 * Math.PI * s) / n;
}

function sector(ctx: CanvasRenderingContext2D, g: Geom, a0: number, a1: number): void {
  ctx.beginPath();
  ctx.arc(g.cx, g.cy, g.r, a0, a1);
  ctx.arc(g.cx, g.cy, g.r - g.w, a1, a0, true);
  ctx.closePath();
}

/** Runs of slots, as [start slot, count, paint]: every slot once, in ring order from `from`. */
function runs(from: number, bounds: number[], paints: readonly Paint[], n: number): Array<[number, number, Paint]> {
  const out: Array<[number, number, Paint]> = [];
  let prev = 0;
  bounds.forEach((b, i) => {
    if (b > prev) out.push([(from + prev) % n, b - prev, paints[i]]);
    prev = b;
  });
  return out;
}

/** Draws the slots of a ring of `n` as runs of paints, with ticks between slots. */
function drawSlots(ctx: CanvasRenderingContext2D, g: Geom, n: number, rs: Array<[number, number, Paint]>): void {
  for (const [s, len, p] of rs) {
    sector(ctx, g, angle(s, n), angle(s + len, n));
    ctx.fillStyle = fillOf(ctx, p);
    ctx.fill();
  }
  const every = Math.ceil(n / MAX_TICKS);
  ctx.beginPath();
  for (let s = 0; s < n; s += every) {
    const a = angle(s, n);
    const c = Math.cos(a);
    const si = Math.sin(a);
    ctx.moveTo(g.cx + c * (g.r - g.w), g.cy + si * (g.r - g.w));
    ctx.lineTo(g.cx + c * g.r, g.cy + si * g.r);
  }
  ctx.strokeStyle = n > 128 ? 'rgba(0,0,0,0.25)' : 'rgba(0,0,0,0.6)';
  ctx.lineWidth = n > 128 ? 0.5 : 1;
  ctx.stroke();
  ctx.beginPath();
  ctx.arc(g.cx, g.cy, g.r, 0, 2 * Math.PI);
  ctx.moveTo(g.cx + g.r - g.w, g.cy);
  ctx.arc(g.cx, g.cy, g.r - g.w, 0, 2 * Math.PI);
  ctx.strokeStyle = '#333';
  ctx.lineWidth = 1;
  ctx.stroke();
}

/**
 * Hands at slot boundaries; pointers at one slot share a hand ("head·cur"). Labels sit at
 * the tips, moved along the vertical until they overlap no label already placed.
 */
function drawHands(ctx: CanvasRenderingContext2D, g: Geom, n: number, hands: Hand[]): void {
  const groups = new Map<string, { at: number; inner: boolean; labels: string[] }>();
  for (const h of hands) {
    const k = `${h.inner}:${h.at}`;
    const e = groups.get(k);
    if (e) e.labels.push(h.label);
    else groups.set(k, { at: h.at, inner: h.inner, labels: [h.label] });
  }
  const small = g.r < 70;
  ctx.font = small ? '10px system-ui, sans-serif' : '11px system-ui, sans-serif';
  ctx.textBaseline = 'middle';
  const placed: Array<[number, number, number, number]> = [];
  const overlaps = (x: number, y: number, w: number) =>
    placed.some(([px, py, pw]) => x < px + pw + 3 && px < x + w + 3 && Math.abs(y - py) < 13);
  for (const e of groups.values()) {
    const a = angle(e.at, n);
    const c = Math.cos(a);
    const s = Math.sin(a);
    const r0 = e.inner ? g.r - g.w - 2 : g.r + 2;
    const len = small ? 9 : e.inner ? 14 : 18;
    const r1 = e.inner ? r0 - len : r0 + len;
    ctx.beginPath();
    ctx.moveTo(g.cx + c * r0, g.cy + s * r0);
    ctx.lineTo(g.cx + c * r1, g.cy + s * r1);
    ctx.strokeStyle = e.inner ? '#7a1f5c' : '#111';
    ctx.lineWidth = 2.5;
    ctx.setLineDash(e.inner ? [3, 2] : []);
    ctx.stroke();
    ctx.setLineDash([]);
    const text = e.labels.join('·');
    const tw = ctx.measureText(text).width;
    const lr = e.inner ? r1 - 3 : r1 + 3;
    let x = g.cx + c * lr;
    const y0 = g.cy + s * lr;
    // Outside, the text goes away from the ring; inside, toward the middle.
    const away = e.inner ? -c : c;
    if (away < -0.3) x -= tw;
    else if (away <= 0.3) x -= tw / 2;
    x = Math.max(g.minX + 2, Math.min(g.maxX - tw - 2, x));
    // Away from labels already placed: down on the lower half, up on the upper (then the other way).
    const dir = (e.inner ? -s : s) >= 0 ? 1 : -1;
    const y = y0 + dir * 13 * (SHIFTS.find((k) => !overlaps(x, y0 + dir * 13 * k, tw)) ?? 0);
    placed.push([x, y, tw, 0]);
    ctx.fillStyle = 'rgba(255,255,255,0.85)';
    ctx.fillRect(x - 2, y - 7, tw + 4, 14);
    ctx.fillStyle = e.inner ? '#7a1f5c' : '#111';
    ctx.fillText(text, x, y);
  }
}

/** The user's arc (head to tail), outside the slots. */
function drawUserArc(ctx: CanvasRenderingContext2D, g: Geom, n: number, head: number, count: number): void {
  if (count === 0) return;
  const a0 = angle(head, n);
  const a1 = angle(head + count, n);
  ctx.beginPath();
  ctx.arc(g.cx, g.cy, g.r + 5, a0, a1);
  ctx.strokeStyle = '#0b3d91';
  ctx.lineWidth = 4;
  ctx.stroke();
}

/**
 * Buffer indices ("b") and sequence numbers ("#") on the slots of a small ring: along the
 * circle when a slot is wide enough for both, else along the radius, buffer only.
 */
function drawSlotLabels(ctx: CanvasRenderingContext2D, g: Geom, r: RingSample, payload: (s: number) => boolean): void {
  if (r.bufs === null || r.seqs === null) return;
  const n = r.numSlots;
  const mid = g.r - g.w / 2;
  const arc = ((2 * Math.PI) / n) * mid;
  if (arc < 14 || g.r < 45) return;
  const along = arc >= 30 && g.w >= 24;
  ctx.font = '10px ui-monospace, monospace';
  ctx.textBaseline = 'middle';
  ctx.textAlign = 'center';
  ctx.fillStyle = '#000';
  for (let s = 0; s < n; s++) {
    const a = angle(s + 0.5, n);
    ctx.save();
    ctx.translate(g.cx + Math.cos(a) * mid, g.cy + Math.sin(a) * mid);
    const b = `b${r.bufs[s]}`;
    if (along) {
      // Upright: tangent to the circle, flipped on the lower half.
      const lower = Math.sin(a) > 0;
      ctx.rotate(lower ? a - Math.PI / 2 : a + Math.PI / 2);
      const q = payload(s) ? `#${r.seqs[s]}` : '';
      const out = lower ? 1 : -1; // the first line toward the outside
      if (q === '') ctx.fillText(b, 0, 0);
      else {
        ctx.fillText(b, 0, -5 * out);
        ctx.fillText(q, 0, 6 * out);
      }
    } else {
      ctx.rotate(Math.cos(a) >= 0 ? a : a + Math.PI);
      ctx.fillText(b, 0, 0);
    }
    ctx.restore();
  }
  ctx.textAlign = 'start';
}

/** Draws one netmap ring. */
export function drawRing(ctx: CanvasRenderingContext2D, g: Geom, r: RingSample, tx: boolean): void {
  const n = r.numSlots;
  const from = r.hwcur;
  const dh = dist(from, r.head, n);
  const dc = Math.max(dh, dist(from, r.cur, n));
  const dt = Math.max(dc, dist(from, r.tail, n));
  // The peer's tail: RX slots the kernel has for the next rxsync; TX slots the peer gave back.
  const dp = r.peerTail < 0 ? dt : Math.max(dt, dist(from, r.peerTail, n));
  const bounds = [dh, dc, dt, dp, n];
  drawSlots(ctx, g, n, runs(from, bounds, tx ? TX_PAINTS : RX_PAINTS, n));
  drawUserArc(ctx, g, n, r.head, dt - dh);
  // Sequence numbers mean something only on slots that hold a packet now.
  const payload = (s: number) => {
    const d = dist(from, s, n);
    return tx ? d < dh || d >= dt : d >= dh && d < dp;
  };
  drawSlotLabels(ctx, g, r, payload);
  const hands: Hand[] = [
    { at: r.head, label: 'head', inner: false },
    { at: r.cur, label: 'cur', inner: false },
    { at: r.tail, label: 'tail', inner: false },
    { at: r.hwcur, label: 'hwcur', inner: true },
    { at: r.hwtail, label: 'hwtail', inner: true },
  ];
  drawHands(ctx, g, n, hands);
}

/** What a ring's picture says in words (under it): its size, the app's share, the scale. */
export function ringFacts(r: RingSample): string {
  const n = r.numSlots;
  const user = dist(r.head, r.tail, n);
  const scaled = n > MAX_TICKS ? `; drawn scaled, a tick per ${Math.ceil(n / MAX_TICKS)} slots` : '';
  return `${n} slots, the app owns ${user}${scaled}`;
}

/** Draws an e1000 descriptor ring: the device's share (head to tail register), done bits as dots. */
export function drawDescRing(ctx: CanvasRenderingContext2D, g: Geom, d: DescSample, tx: boolean): void {
  const n = d.n;
  // TX: the device owns [TDH, TDT). RX: the device owns [RDH, RDT) (empty buffers for it), the
  // descriptors it filled [driver, RDH) wait for the guest's rxsync, the rest are the driver's.
  let rs: Array<[number, number, Paint]>;
  if (tx) {
    rs = runs(d.h, [dist(d.h, d.t, n), n], [DESC_PAINTS[0], DESC_PAINTS[2]], n);
  } else {
    const filled = dist(d.driver, d.h, n);
    const dev = filled + dist(d.h, d.t, n);
    rs = runs(d.driver, [filled, Math.max(filled, dev), n], [DESC_PAINTS[1], DESC_PAINTS[0], DESC_PAINTS[2]], n);
  }
  drawSlots(ctx, g, n, rs);
  if (d.dd !== null && n <= 256) {
    ctx.fillStyle = '#000';
    const rr = g.r - g.w / 2;
    const size = Math.max(1.5, Math.min(3, (Math.PI * rr) / n / 2));
    ctx.beginPath();
    for (let s = 0; s < n; s++) {
      if (d.dd[s] === 0) continue;
      const a = angle(s + 0.5, n);
      ctx.moveTo(g.cx + Math.cos(a) * rr + size, g.cy + Math.sin(a) * rr);
      ctx.arc(g.cx + Math.cos(a) * rr, g.cy + Math.sin(a) * rr, size, 0, 2 * Math.PI);
    }
    ctx.fill();
  }
  drawHands(ctx, g, n, [
    { at: d.h, label: tx ? 'TDH' : 'RDH', inner: false },
    { at: d.t, label: tx ? 'TDT' : 'RDT', inner: false },
  ]);
}
