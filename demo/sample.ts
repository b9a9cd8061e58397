/**
 * Samples a setup's shared memory into plain objects, once per animation frame: ring
 * headers (head, cur, tail: the user's words), the kernel's saved hwcur/hwtail and the
 * peer's tail, slots' buffer indices on small rings, the CSB, the e1000 registers and
 * descriptors, VALE's learning table, and every thread's state word and counters.
 *
 * The page only reads here (plain loads for words only the kernel or one thread writes,
 * Atomics.load for the state and sleep words): sampling costs the hot loops at most a
 * cache line shared now and then, never a lock or a wait. A sample is not one instant:
 * words are read one after the other while the threads run, so the drawing clamps what
 * does not fit together (see drawRing).
 */
import {
  ATOK_APPL_NEED_KICK,
  ATOK_CUR,
  ATOK_HEAD,
  CSB_KTOA,
  csbEntryWord,
  E1K_DESC_STATUS,
  E1K_DESC_WORDS,
  E1K_ICR,
  E1K_RDH,
  E1K_RDT,
  E1K_STA_DD,
  E1K_TDH,
  E1K_TDT,
  KC_KICKS,
  KC_NOTIFIES,
  KR_HWCUR,
  KR_HWTAIL,
  KR_PEER_TAIL,
  KTOA_HWCUR,
  KTOA_HWTAIL,
  KTOA_KERN_NEED_KICK,
  RING_CUR,
  RING_HEAD,
  RING_TAIL,
  SLOT_WORDS,
  SW_LEARN,
  SW_LEARN_ENTRIES,
  valeCounters,
} from '../src/browser.js';
import {
  SF_DOORBELLS,
  SF_HOST_TXSYNCS,
  SF_IRQS,
  SF_KICKS,
  SF_PACKETS,
  SF_SYNCS,
  ST_STATE,
  STAT_BLOCK_BYTES,
  T_FAILED,
  T_HELD,
  T_LINGER,
  T_PAUSED,
  T_POLLING,
  T_RUNNING,
} from './protocol.js';
import { kringWord, type RingSpec, type Setup } from './setup.js';

/** Rings up to this size get their slots' buffer indices (and sequence numbers) read and drawn. */
export const LABEL_MAX_SLOTS = 32;
const SEQ_WORD = 44 / 4;

export interface RingSample {
  numSlots: number;
  head: number;
  cur: number;
  tail: number;
  hwcur: number;
  hwtail: number;
  /** The tail the peer published for this ring, -1 when the ring has none that means something. */
  peerTail: number;
  /** Small rings: each slot's buffer index, length and sequence number. */
  bufs: Int32Array | null;
  lens: Int32Array | null;
  seqs: Int32Array | null;
}

export interface DescSample {
  n: number;
  /** Device head and tail registers (TDH/TDT or RDH/RDT). */
  h: number;
  t: number;
  /** RX: where the guest driver imports next (its kring's hwtail). */
  driver: number;
  /** Descriptor done bits (rings up to 256), 1 = DD. */
  dd: Uint8Array | null;
}

export const STATE_NAMES = ['starting', 'running', 'spinning', 'asleep', 'held', 'paused', 'failed'] as const;
export type StateName = (typeof STATE_NAMES)[number];

export interface ThreadSample {
  state: StateName;
  syncs: number;
  packets: number;
  kicks: number;
  irqs: number;
  doorbells: number;
  hostTxsyncs: number;
}

export interface CsbSample {
  entries: Array<{
    label: string;
    head: number;
    cur: number;
    applNeedKick: number;
    hwcur: number;
    hwtail: number;
    kernNeedKick: number;
  }>;
  /** Interrupts raised so far (the irq word counts them). */
  irqWord: number;
}

export interface NicSample {
  tdt: number;
  tdh: number;
  rdt: number;
  rdh: number;
  icr: number;
}

export interface ValeSample {
  learned: Array<{ mac: string; port: string }>;
  ports: Array<{ name: string; rx: number; tx: number; drops: number; floods: number }>;
}

export interface Snapshot {
  /** performance.now() of the sample. */
  t: number;
  rings: RingSample[];
  descs: DescSample[];
  threads: ThreadSample[];
  csbs: CsbSample[];
  nics: NicSample[];
  vale: ValeSample | null;
  /** Packets the receiving app took. */
  packets: number;
  notifies: number;
  kicks: number;
  irqs: number;
}

function mod(v: number, n: number): number {
  return v >>> 0 < n ? v : 0;
}

function newRing(spec: RingSpec): RingSample {
  const n = spec.views.numSlots;
  const small = n <= LABEL_MAX_SLOTS;
  return {
    numSlots: n,
    head: 0,
    cur: 0,
    tail: 0,
    hwcur: 0,
    hwtail: 0,
    peerTail: -1,
    bufs: small ? new Int32Array(n) : null,
    lens: small ? new Int32Array(n) : null,
    seqs: small ? new Int32Array(n) : null,
  };
}

/** Makes the sample objects once per setup; `sample` refills them in place. */
export function newSnapshot(s: Setup): Snapshot {
  return {
    t: 0,
    rings: s.rings.map(newRing),
    descs: s.descRings.map((d) => ({ n: d.n, h: 0, t: 0, driver: 0, dd: d.n <= 256 ? new Uint8Array(d.n) : null })),
    threads: s.threads.map(() => ({
      state: 'starting',
      syncs: 0,
      packets: 0,
      kicks: 0,
      irqs: 0,
      doorbells: 0,
      hostTxsyncs: 0,
    })),
    csbs: s.csbs.map((c) => ({
      entries: c.entries.map((e) => ({
        label: e.label,
        head: 0,
        cur: 0,
        applNeedKick: 0,
        hwcur: 0,
        hwtail: 0,
        kernNeedKick: 0,
      })),
      irqWord: 0,
    })),
    nics: s.nics.map(() => ({ tdt: 0, tdh: 0, rdt: 0, rdh: 0, icr: 0 })),
    vale: null,
    packets: 0,
    notifies: 0,
    kicks: 0,
    irqs: 0,
  };
}

function sampleRing(spec: RingSpec, r: RingSample): void {
  const v = spec.views;
  const i32 = v.i32;
  const n = r.numSlots;
  const h = v.ringWordBase(spec.id);
  const kb = kringWord(spec.id);
  r.head = mod(i32[h + RING_HEAD], n);
  r.cur = mod(i32[h + RING_CUR], n);
  r.tail = mod(i32[h + RING_TAIL], n);
  r.hwcur = mod(spec.km[kb + KR_HWCUR], n);
  r.hwtail = mod(spec.km[kb + KR_HWTAIL], n);
  r.peerTail = spec.peerTail ? mod(Atomics.load(spec.km, kb + KR_PEER_TAIL), n) : -1;
  if (r.bufs !== null && r.lens !== null && r.seqs !== null) {
    const base = v.slotWordBase(spec.id);
    for (let k = 0; k < n; k++) {
      const b = v.u32[base + k * SLOT_WORDS];
      r.bufs[k] = b;
      r.lens[k] = v.u16[2 * (base + k * SLOT_WORDS) + 2];
      r.seqs[k] = b < v.numBufs ? i32[(v.bufOffset(b) >> 2) + SEQ_WORD] : -1;
    }
  }
}

/** A thread's state as the page shows it: in poll, asleep if its sleep word says so, else spinning. */
function stateOf(s: Setup, t: number, word: number): StateName {
  switch (word) {
    case T_RUNNING:
      return 'running';
    case T_POLLING:
    case T_LINGER: {
      const p = s.threads[t].probe;
      for (const w of p.words) if ((Atomics.load(p.i32, w) & p.mask) !== 0) return 'asleep';
      return 'spinning';
    }
    case T_HELD:
      return 'held';
    case T_PAUSED:
      return 'paused';
    case T_FAILED:
      return 'failed';
    default:
      return 'starting';
  }
}

function macOf(lo: number, hi: number): string {
  const b = [lo & 0xff, (lo >>> 8) & 0xff, (lo >>> 16) & 0xff, lo >>> 24, hi & 0xff, (hi >>> 8) & 0xff];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** The learning table's entries (1024 two-word entries: MAC bytes 0-3, then bytes 4-5 << 16 | port + 1). */
function sampleVale(s: Setup): ValeSample | null {
  const v = s.vale;
  if (v === null) return null;
  const learned: ValeSample['learned'] = [];
  for (let i = 0; i < SW_LEARN_ENTRIES; i++) {
    const e = SW_LEARN + 2 * i;
    const tag = v.sw[e + 1];
    const port = (tag & 0xffff) - 1;
    if (tag === 0 || port < 0) continue;
    const name = v.ports.find((p) => p.index === port)?.name ?? `port ${port}`;
    learned.push({ mac: macOf(v.sw[e], tag >>> 16), port: name });
  }
  const ports = v.ports.map((p) => {
    const c = valeCounters(p.kmem);
    return { name: p.name, rx: c.rx, tx: c.tx, drops: c.drops, floods: c.floods };
  });
  return { learned, ports };
}

/** Refills `snap` from the setup's memory. */
export function sample(s: Setup, snap: Snapshot): void {
  snap.t = performance.now();
  s.rings.forEach((spec, i) => {
    sampleRing(spec, snap.rings[i]);
  });
  s.descRings.forEach((d, i) => {
    const o = snap.descs[i];
    o.h = mod(Atomics.load(d.regs, d.tx ? E1K_TDH : E1K_RDH), d.n);
    o.t = mod(Atomics.load(d.regs, d.tx ? E1K_TDT : E1K_RDT), d.n);
    o.driver = d.tx ? o.h : mod(d.gk[kringWord(1) + KR_HWTAIL], d.n);
    if (o.dd !== null) {
      for (let k = 0; k < d.n; k++) o.dd[k] = d.descs[d.base + k * E1K_DESC_WORDS + E1K_DESC_STATUS] & E1K_STA_DD;
    }
  });
  const stats = s.statsI32;
  const f = s.statsF64;
  let packets = 0;
  let kicks = 0;
  let irqs = 0;
  s.threads.forEach((t, i) => {
    const o = snap.threads[i];
    const fb = (i * STAT_BLOCK_BYTES) / 8;
    o.state = stateOf(s, i, Atomics.load(stats, (i * STAT_BLOCK_BYTES) / 4 + ST_STATE));
    o.syncs = f[fb + SF_SYNCS];
    o.packets = f[fb + SF_PACKETS];
    o.kicks = f[fb + SF_KICKS];
    o.irqs = f[fb + SF_IRQS];
    o.doorbells = f[fb + SF_DOORBELLS];
    o.hostTxsyncs = f[fb + SF_HOST_TXSYNCS];
    if (t.kind === 'app' && t.job.kind === 'app' && t.job.role === 'rx') packets = o.packets;
    kicks += o.kicks;
    irqs += o.irqs;
  });
  // An emulated guest's driver rings a doorbell (a tail register write) where a passthrough guest kicks.
  for (const k of s.guestKrings) kicks += k.kf[k.cb + KC_KICKS];
  let notifies = 0;
  for (const k of s.krings) notifies += k.kf[k.cb + KC_NOTIFIES];
  snap.packets = packets;
  snap.kicks = kicks;
  snap.irqs = irqs;
  snap.notifies = notifies;
  s.csbs.forEach((c, i) => {
    const o = snap.csbs[i];
    c.entries.forEach(({ e }, j) => {
      const w = csbEntryWord(e);
      const x = o.entries[j];
      x.head = Atomics.load(c.i32, w + ATOK_HEAD);
      x.cur = Atomics.load(c.i32, w + ATOK_CUR);
      x.applNeedKick = Atomics.load(c.i32, w + ATOK_APPL_NEED_KICK);
      x.hwcur = Atomics.load(c.i32, w + CSB_KTOA + KTOA_HWCUR);
      x.hwtail = Atomics.load(c.i32, w + CSB_KTOA + KTOA_HWTAIL);
      x.kernNeedKick = Atomics.load(c.i32, w + CSB_KTOA + KTOA_KERN_NEED_KICK);
    });
    o.irqWord = Atomics.load(c.i32, c.irq);
  });
  s.nics.forEach((nic, i) => {
    const o = snap.nics[i];
    o.tdt = Atomics.load(nic.regs, E1K_TDT);
    o.tdh = Atomics.load(nic.regs, E1K_TDH);
    o.rdt = Atomics.load(nic.regs, E1K_RDT);
    o.rdh = Atomics.load(nic.regs, E1K_RDH);
    o.icr = Atomics.load(nic.regs, E1K_ICR);
  });
  snap.vale = sampleVale(s);
}
