/**
 * Each thread's state over time as a lane: one column per animation frame (the newest at
 * the right), a colour and a height per state (running full, spinning most, held and
 * paused half, asleep a sliver), so the states are told apart without colour too. The
 * page samples the states; a thread switching faster than frames come shows as the mix
 * the frames happened to catch.
 */
import { STATE_NAMES, type StateName } from './sample.js';

export const LANE_STYLE: Record<StateName, { fill: string; height: number; label: string }> = {
  running: { fill: '#0072B2', height: 1, label: 'running' },
  spinning: { fill: '#E69F00', height: 0.7, label: 'spinning (in poll or lingering, awake)' },
  held: { fill: '#CC79A7', height: 0.5, label: 'held at its gate (step)' },
  paused: { fill: '#F0E442', height: 0.38, label: 'paused (slow motion)' },
  asleep: { fill: '#8a8a8a', height: 0.16, label: 'asleep (Atomics.wait)' },
  starting: { fill: '#dddddd', height: 0.08, label: 'starting' },
  failed: { fill: '#000000', height: 1, label: 'failed' },
};

const KEEP = 600;

export class Lanes {
  private readonly hist: Uint8Array[];
  private at = 0;
  private count = 0;

  constructor(threads: number) {
    this.hist = Array.from({ length: threads }, () => new Uint8Array(KEEP));
  }

  push(states: readonly StateName[]): void {
    states.forEach((s, t) => {
      this.hist[t][this.at] = STATE_NAMES.indexOf(s);
    });
    this.at = (this.at + 1) % KEEP;
    if (this.count < KEEP) this.count++;
  }

  /**
   * Draws the lanes into a canvas of CSS size w x h: a label column (name, state, syncs
   * per second), then the history, a pixel column per frame, runs of one state as one rect.
   */
  draw(
    ctx: CanvasRenderingContext2D,
    w: number,
    h: number,
    names: readonly string[],
    states: readonly StateName[],
    syncsPerSec: readonly number[],
  ): void {
    ctx.clearRect(0, 0, w, h);
    const n = names.length;
    if (n === 0) return;
    const labelW = 250;
    const lane = Math.min(24, (h - 4) / n);
    const cols = Math.max(1, Math.floor(w - labelW - 8));
    const shown = Math.min(this.count, cols);
    for (let t = 0; t < n; t++) {
      const y = 2 + t * lane;
      ctx.fillStyle = t % 2 === 0 ? '#fafafa' : '#f0f0f0';
      ctx.fillRect(0, y, w, lane);
      ctx.fillStyle = '#111';
      ctx.font = '11px system-ui, sans-serif';
      ctx.textBaseline = 'middle';
      const rate = syncsPerSec[t] ?? 0;
      ctx.fillText(`${names[t]}`, 4, y + lane / 2 - 6);
      ctx.fillStyle = '#444';
      ctx.fillText(`${states[t]} · ${fmtRate(rate)} syncs/s`, 4, y + lane / 2 + 6);
      // Runs of one state, oldest first, ending at the right edge.
      const x0 = w - 4 - shown;
      let runStart = 0;
      let runState = -1;
      const flush = (end: number) => {
        if (runState < 0) return;
        const st = LANE_STYLE[STATE_NAMES[runState]];
        const hh = Math.max(2, (lane - 4) * st.height);
        ctx.fillStyle = st.fill;
        ctx.fillRect(x0 + runStart, y + lane - 2 - hh, end - runStart, hh);
      };
      for (let k = 0; k < shown; k++) {
        const v = this.hist[t][(this.at - shown + k + KEEP) % KEEP];
        if (v !== runState) {
          flush(k);
          runStart = k;
          runState = v;
        }
      }
      flush(shown);
    }
    ctx.strokeStyle = '#ccc';
    ctx.beginPath();
    ctx.moveTo(labelW + 0.5, 0);
    ctx.lineTo(labelW + 0.5, h);
    ctx.stroke();
  }
}

export function fmtRate(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return v.toFixed(v >= 10 ? 0 : 1);
}
