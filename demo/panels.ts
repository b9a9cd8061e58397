/**
 * The text panels beside the rings: rates (Mpps; notifies, kicks and interrupts per
 * second and per packet), the threads (state, syncs, batches), threads vs cores, the CSB
 * words of each passthrough guest, each emulated NIC's registers, VALE's learning table
 * and per-port counters. Built once per setup; afterwards only text changes, and only
 * when it differs (a DOM write per changed cell). A cell whose value changed flashes
 * (outline and background) for a moment: kicks, interrupts and CSB flags as they happen.
 */
import { fmtRate } from './draw-lanes.js';
import type { Rates } from './rates.js';
import type { Snapshot } from './sample.js';
import type { Setup } from './setup.js';

const FLASH_MS = 600;

/** The CSB words, as netmap names them, and where the sample has them. */
const CSB_WORDS = [
  ['atok head (guest)', 'head'],
  ['atok cur (guest)', 'cur'],
  ['appl_need_kick (guest)', 'applNeedKick'],
  ['ktoa hwcur (kloop)', 'hwcur'],
  ['ktoa hwtail (kloop)', 'hwtail'],
  ['kern_need_kick (kloop)', 'kernNeedKick'],
] as const;

/** A text cell that writes the DOM only on change, and flashes when a watched value changes. */
class Cell {
  private text = '';
  private value = Number.NaN;
  private until = 0;
  constructor(readonly el: HTMLElement) {}
  set(text: string, now: number, value?: number): void {
    if (text !== this.text) {
      this.text = text;
      this.el.textContent = text;
    }
    if (value !== undefined) {
      if (!Number.isNaN(this.value) && value !== this.value) {
        this.until = now + FLASH_MS;
        this.el.classList.add('flash');
      }
      this.value = value;
    }
    if (this.until !== 0 && now > this.until) {
      this.until = 0;
      this.el.classList.remove('flash');
    }
  }
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text = '', cls = ''): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== '') e.textContent = text;
  if (cls !== '') e.className = cls;
  return e;
}

/** A table with a header row and `rows` rows of `cols` cells after a row label; returns the cells. */
function table(parent: HTMLElement, caption: string, head: string[], rows: string[]): Cell[][] {
  const t = el('table');
  t.append(el('caption', caption));
  const hr = el('tr');
  for (const h of head) {
    const th = el('th', h);
    th.scope = 'col';
    hr.append(th);
  }
  t.append(hr);
  const out: Cell[][] = [];
  for (const r of rows) {
    const tr = el('tr');
    const th = el('th', r);
    th.scope = 'row';
    tr.append(th);
    const cells: Cell[] = [];
    for (let k = 1; k < head.length; k++) {
      const td = el('td');
      tr.append(td);
      cells.push(new Cell(td));
    }
    t.append(tr);
    out.push(cells);
  }
  parent.append(t);
  return out;
}

function fmt(v: number, digits = 3): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 0.01) return v.toFixed(digits);
  return v.toExponential(1);
}

export class Panels {
  private readonly rates: Cell[][];
  private readonly totals: Cell[];
  private readonly mpps: Cell;
  private readonly threads: Cell[][];
  private readonly cores: Cell;
  private readonly csbs: Cell[][][] = [];
  private readonly nics: Cell[][][] = [];
  private readonly nicDevice: Cell[] = [];
  /** The sending app's thread (its syncs are the batches). */
  private readonly sender: number;
  private readonly valeCounters: Cell[][] = [];
  private readonly learned: HTMLElement | null = null;
  private learnedText = '';

  constructor(
    root: HTMLElement,
    private readonly s: Setup,
  ) {
    root.replaceChildren();
    this.sender = s.threads.findIndex((t) => t.job.kind === 'app' && t.job.role === 'tx');
    const big = el('div', '', 'counters');
    const mpps = el('div', '', 'counter');
    const mv = el('span', '0', 'value');
    mpps.append(el('span', 'received', 'name'), mv);
    big.append(mpps);
    this.mpps = new Cell(mv);
    this.totals = ['notifies', 'kicks', 'interrupts'].map((name) => {
      const box = el('div', '', 'counter');
      const v = el('span', '0', 'value');
      box.append(el('span', name, 'name'), v);
      big.append(box);
      return new Cell(v);
    });
    root.append(big);
    this.rates = table(
      root,
      'Rates (last second)',
      ['', 'per second', 'per packet'],
      ['packets', 'notifies', 'kicks', 'interrupts', 'interrupts / batch'],
    );
    this.threads = table(
      root,
      'Threads',
      ['', 'state', 'syncs', 'syncs/s', 'pkts/sync'],
      s.threads.map((t) => t.name),
    );
    const cores = el('p', '', 'cores');
    root.append(cores);
    this.cores = new Cell(cores);
    // Transposed (a row per word, a column per ring): the panel is narrow.
    s.csbs.forEach((c) => {
      this.csbs.push(
        table(
          root,
          c.title,
          ['word', ...c.entries.map((e) => `${e.label} ring`)],
          [...CSB_WORDS.map(([label]) => label), 'irq word (interrupts)'],
        ),
      );
    });
    s.nics.forEach((n) => {
      this.nics.push(table(root, n.title, ['', 'TDT', 'TDH', 'RDT', 'RDH', 'ICR'], ['registers']));
      const p = el('p', '', 'cores');
      root.append(p);
      this.nicDevice.push(new Cell(p));
    });
    if (s.vale !== null) {
      const box = el('div');
      this.valeCounters = table(
        box,
        'VALE ports (vale0)',
        ['port', 'rx', 'tx', 'drops', 'floods'],
        s.vale.ports.map((p) => p.name),
      );
      const lt = el('div', '', 'learned');
      this.learned = lt;
      box.append(el('h3', 'Learning table (MAC → port)'), lt);
      root.append(box);
    }
  }

  /** Refreshes the panels from a sample and the rates. */
  update(snap: Snapshot, r: Rates, cores: number, now: number): void {
    this.totals[0].set(String(snap.notifies), now, snap.notifies);
    this.totals[1].set(String(snap.kicks), now, snap.kicks);
    this.totals[2].set(String(snap.irqs), now, snap.irqs);
    this.rates[0][0].set(r.mpps >= 0.1 ? `${r.mpps.toFixed(2)} M` : fmtRate(r.pps), now);
    this.rates[0][1].set('1', now);
    this.mpps.set(r.mpps >= 0.1 ? `${r.mpps.toFixed(r.mpps >= 10 ? 1 : 2)} Mpps` : `${fmtRate(r.pps)} pkt/s`, now);
    this.rates[1][0].set(fmtRate(r.notifiesPerSec), now);
    this.rates[1][1].set(fmt(r.notifiesPerPacket), now);
    this.rates[2][0].set(fmtRate(r.kicksPerSec), now);
    this.rates[2][1].set(fmt(r.kicksPerPacket), now);
    this.rates[3][0].set(fmtRate(r.irqsPerSec), now);
    this.rates[3][1].set(fmt(r.irqsPerPacket), now);
    // A batch is one sync of the sending app (a guest's interrupts are its wake-ups).
    const txSyncs = this.sender < 0 ? 0 : (r.syncsPerSec[this.sender] ?? 0);
    this.rates[4][0].set(txSyncs > 0 ? fmt(r.irqsPerSec / txSyncs, 2) : '-', now);
    this.rates[4][1].set('', now);
    snap.threads.forEach((t, i) => {
      const row = this.threads[i];
      row[0].set(t.state, now);
      row[1].set(String(t.syncs), now);
      row[2].set(fmtRate(r.syncsPerSec[i] ?? 0), now);
      row[3].set((r.perSync[i] ?? 0).toFixed(1), now);
    });
    const threads = this.s.threads.length;
    const busy = threads + 1;
    this.cores.set(
      `${threads} worker threads + this page = ${busy} threads on ${cores} cores (navigator.hardwareConcurrency). ` +
        (busy > cores
          ? 'More threads than cores: a thread that spins (busy-polls or lingers) can keep the thread it waits for off its core; sleeping costs a wake-up (~20-40 µs) instead.'
          : 'Every thread can have a core: busy-polling briefly before sleeping saves wake-ups.'),
      now,
    );
    snap.csbs.forEach((c, i) => {
      const rows = this.csbs[i];
      CSB_WORDS.forEach(([, key], w) => {
        c.entries.forEach((e, j) => {
          const v = e[key];
          rows[w][j].set(String(v), now, v);
        });
      });
      rows[CSB_WORDS.length][0].set(String(c.irqWord), now, c.irqWord);
    });
    snap.nics.forEach((n, i) => {
      const row = this.nics[i][0];
      row[0].set(String(n.tdt), now, n.tdt);
      row[1].set(String(n.tdh), now, n.tdh);
      row[2].set(String(n.rdt), now, n.rdt);
      row[3].set(String(n.rdh), now, n.rdh);
      row[4].set(`0x${n.icr.toString(16)}`, now, n.icr);
      const d = snap.threads[this.s.nics[i].thread];
      const per = d.packets > 0 ? (d.hostTxsyncs / d.packets).toFixed(2) : '-';
      this.nicDevice[i].set(
        `The device thread saw ${d.doorbells} doorbells (tail register writes), moved ${d.packets} packets with ${d.hostTxsyncs} host txsyncs (${per} a packet) and raised ${d.irqs} interrupts.`,
        now,
      );
    });
    const v = snap.vale;
    if (v !== null && this.learned !== null) {
      v.ports.forEach((p, i) => {
        const row = this.valeCounters[i];
        row[0].set(String(p.rx), now);
        row[1].set(String(p.tx), now);
        row[2].set(String(p.drops), now, p.drops);
        row[3].set(String(p.floods), now, p.floods);
      });
      const text =
        v.learned.length === 0
          ? '(empty: every unicast is flooded)'
          : v.learned.map((e) => `${e.mac} → ${e.port}`).join('\n');
      if (text !== this.learnedText) {
        this.learnedText = text;
        this.learned.textContent = text;
        this.learned.classList.add('flash');
        setTimeout(() => this.learned?.classList.remove('flash'), FLASH_MS);
      }
    }
  }
}
