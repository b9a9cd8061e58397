/**
 * Rates from the sampled counters: per second over the last second of samples (packets,
 * Mpps, notifies, kicks, interrupts, each thread's syncs), and per packet. The page keeps
 * a short history of the totals it sampled; nothing here touches shared memory.
 */
import type { Snapshot } from './sample.js';

const WINDOW_MS = 1000;
const KEEP = 512;

export interface Rates {
  /** Seconds the window covers (0 until two samples exist). */
  seconds: number;
  pps: number;
  mpps: number;
  notifiesPerSec: number;
  kicksPerSec: number;
  irqsPerSec: number;
  notifiesPerPacket: number;
  kicksPerPacket: number;
  irqsPerPacket: number;
  /** Per thread: syncs per second, and packets per sync (the batch it really got). */
  syncsPerSec: number[];
  perSync: number[];
}

export class RateMeter {
  private readonly t = new Float64Array(KEEP);
  private readonly v: Float64Array[];
  private n = 0;
  private at = 0;

  constructor(private readonly threads: number) {
    // Columns: packets, notifies, kicks, irqs, then per thread syncs and packets.
    this.v = Array.from({ length: 4 + 2 * threads }, () => new Float64Array(KEEP));
  }

  add(s: Snapshot): void {
    const i = this.at;
    this.t[i] = s.t;
    this.v[0][i] = s.packets;
    this.v[1][i] = s.notifies;
    this.v[2][i] = s.kicks;
    this.v[3][i] = s.irqs;
    for (let k = 0; k < this.threads; k++) {
      this.v[4 + 2 * k][i] = s.threads[k].syncs;
      this.v[5 + 2 * k][i] = s.threads[k].packets;
    }
    this.at = (i + 1) % KEEP;
    if (this.n < KEEP) this.n++;
  }

  /** The rates over the last WINDOW_MS (or what there is). */
  rates(): Rates {
    const last = (this.at + KEEP - 1) % KEEP;
    let first = last;
    for (let k = 1; k < this.n; k++) {
      const i = (last + KEEP - k) % KEEP;
      first = i;
      if (this.t[last] - this.t[i] >= WINDOW_MS) break;
    }
    const dt = (this.t[last] - this.t[first]) / 1000;
    const d = (c: number) => this.v[c][last] - this.v[c][first];
    const per = (x: number, y: number) => (y > 0 ? x / y : 0);
    const rate = (c: number) => (dt > 0 ? d(c) / dt : 0);
    const packets = d(0);
    const syncsPerSec: number[] = [];
    const perSync: number[] = [];
    for (let k = 0; k < this.threads; k++) {
      syncsPerSec.push(rate(4 + 2 * k));
      perSync.push(per(d(5 + 2 * k), d(4 + 2 * k)));
    }
    return {
      seconds: dt,
      pps: rate(0),
      mpps: rate(0) / 1e6,
      notifiesPerSec: rate(1),
      kicksPerSec: rate(2),
      irqsPerSec: rate(3),
      notifiesPerPacket: per(d(1), packets),
      kicksPerPacket: per(d(2), packets),
      irqsPerPacket: per(d(3), packets),
      syncsPerSec,
      perSync,
    };
  }
}
