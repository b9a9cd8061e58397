/**
 * Lays out the setup's rings and descriptor rings on the rings canvas, in the packets'
 * order (sender side, then receiver side), each with its title, caption and whose memory
 * it is, and an arrow saying what happens between two neighbours. Draws from a sample
 * only: nothing here reads shared memory.
 */
import { drawDescRing, drawRing, type Geom, ringFacts } from './draw-ring.js';
import type { Snapshot } from './sample.js';
import type { Setup } from './setup.js';

interface Cell {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** What happens between two neighbours on the path, from the kinds of ring they are. */
function linkLabel(s: Setup, i: number): string {
  const a = s.order[i];
  const b = s.order[i + 1];
  if (b === undefined) return '';
  const ring = (o: { kind: string; i: number }) => (o.kind === 'ring' ? s.rings[o.i] : null);
  const ra = ring(a);
  const rb = ring(b);
  if (ra !== null && rb !== null) {
    if (ra.tx && !rb.tx) return s.cfg.port === 'pipe' ? 'descriptors move, no copy' : 'the switch copies';
    return '';
  }
  if (ra !== null && b.kind === 'desc') return ra.tx ? 'descriptors, TDT' : 'device copies in';
  if (a.kind === 'desc' && rb !== null) return rb.tx ? 'device copies out' : 'driver reads DD';
  return '';
}

function wrap(ctx: CanvasRenderingContext2D, text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    const next = line === '' ? word : `${line} ${word}`;
    if (ctx.measureText(next).width > width && line !== '') {
      out.push(line);
      line = word;
    } else {
      line = next;
    }
  }
  if (line !== '') out.push(line);
  return out;
}

function arrow(ctx: CanvasRenderingContext2D, x0: number, x1: number, y: number, label: string): void {
  ctx.strokeStyle = '#555';
  ctx.fillStyle = '#555';
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.moveTo(x0, y);
  ctx.lineTo(x1 - 6, y);
  ctx.stroke();
  ctx.beginPath();
  ctx.moveTo(x1, y);
  ctx.lineTo(x1 - 8, y - 5);
  ctx.lineTo(x1 - 8, y + 5);
  ctx.closePath();
  ctx.fill();
  if (label !== '') {
    ctx.font = '10px system-ui, sans-serif';
    ctx.textAlign = 'center';
    const lines = wrap(ctx, label, Math.max(40, x1 - x0 + 30));
    lines.forEach((l, k) => {
      ctx.fillText(l, (x0 + x1) / 2, y - 10 - (lines.length - 1 - k) * 11);
    });
    ctx.textAlign = 'start';
  }
}

/** Draws every ring of the setup into a canvas of CSS size w x h (the context already scaled). */
export function drawScene(ctx: CanvasRenderingContext2D, w: number, h: number, s: Setup, snap: Snapshot): void {
  ctx.clearRect(0, 0, w, h);
  const n = s.order.length;
  // One row up to four (the path reads left to right), else two rows.
  const cols = n <= 4 ? n : Math.ceil(n / 2);
  const rows = Math.ceil(n / cols);
  const cw = w / cols;
  const ch = h / rows;
  const cells: Cell[] = s.order.map((_, k) => ({ x: (k % cols) * cw, y: Math.floor(k / cols) * ch, w: cw, h: ch }));
  const head = 40;
  const foot = 28;
  const r = Math.max(28, Math.min(cw / 2 - (n > 2 ? 24 : 60), (ch - head - foot) / 2 - 40));
  const geoms: Geom[] = cells.map((c) => ({
    cx: c.x + c.w / 2,
    cy: c.y + head + (c.h - head - foot) / 2,
    r,
    w: Math.max(14, Math.min(40, r * 0.3)),
    minX: c.x,
    maxX: c.x + c.w,
  }));
  // The links first: the rings' labels (on white) go over them where they meet.
  s.order.forEach((o, k) => {
    const c = cells[k];
    const g = geoms[k];
    const label = linkLabel(s, k);
    const next = cells[k + 1];
    if (next === undefined || next.y !== c.y) return;
    const gap = next.w / 2 - 2 * r + c.w / 2 - 60;
    if (gap >= 24 && (label !== '' || o.kind === 'desc' || s.order[k + 1].kind === 'desc')) {
      arrow(ctx, g.cx + r + 30, next.x + next.w / 2 - r - 30, g.cy, label);
    } else if (label !== '') {
      // No room between the rings: the link goes under the titles.
      ctx.font = '10px system-ui, sans-serif';
      ctx.fillStyle = '#555';
      ctx.textAlign = 'center';
      ctx.fillText(`${label} →`, c.x + c.w, c.y + head + 14);
      ctx.textAlign = 'start';
    }
  });
  s.order.forEach((o, k) => {
    const c = cells[k];
    const g = geoms[k];
    let title: string;
    let caption: string;
    let region: string;
    if (o.kind === 'ring') {
      const spec = s.rings[o.i];
      drawRing(ctx, g, snap.rings[o.i], spec.tx);
      title = spec.title;
      caption = spec.caption;
      region = `${ringFacts(snap.rings[o.i])}; buffers in ${spec.region}`;
    } else {
      const d = s.descRings[o.i];
      drawDescRing(ctx, g, snap.descs[o.i], d.tx);
      title = d.title;
      caption = d.tx
        ? 'the driver writes them, the device reads them'
        : 'the driver gives buffers, the device fills them';
      region = `${d.n} descriptors (● done, DD) in guest memory`;
    }
    ctx.fillStyle = '#111';
    ctx.font = 'bold 12px system-ui, sans-serif';
    ctx.textAlign = 'center';
    ctx.fillText(title, c.x + c.w / 2, c.y + 12);
    ctx.font = '11px system-ui, sans-serif';
    ctx.fillStyle = '#444';
    wrap(ctx, caption, c.w - 16)
      .slice(0, 2)
      .forEach((l, j) => {
        ctx.fillText(l, c.x + c.w / 2, c.y + 26 + j * 12);
      });
    wrap(ctx, region, c.w - 8)
      .slice(0, 2)
      .reverse()
      .forEach((l, j) => {
        ctx.fillText(l, c.x + c.w / 2, c.y + c.h - 5 - j * 12);
      });
    ctx.textAlign = 'start';
  });
}
