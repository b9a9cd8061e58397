/**
 * NIC ports (`nicN`): netmap rings whose kernel side is a driver, as netmap's native
 * drivers are (the NIC itself, its wire, is a thread: src/nic/wire.ts). txsync validates each slot the user hands over and writes it into the NIC's
 * TX descriptor at the same index, then moves the tail register (TDT); the wire thread
 * (the hardware, wire.ts) sends them at line rate and moves TDH, and the slots before it
 * come back to the user. rxsync hands the user what the wire filled (RDH) and gives the
 * wire back the slots the user released, reloading each descriptor's buffer (a user may
 * have swapped it, NS_BUF_CHANGED).
 *
 * The hardware block (shm/layout.ts, NIC_*) is in kernel memory: a guest the NIC is passed
 * through to holds only the rings and buffers, never the descriptors the wire reads.
 * Hazards: the wire reads a descriptor only after the Atomics.store of TDT that covers it
 * (and the driver a filled RX descriptor after the wire's store of RDH); the payload the
 * user may still scribble on while the wire sends it is its own frame's business, as with
 * DMA on a real NIC.
 */
import {
  KR_PEER_TAIL,
  NIC_COUNTER_NAMES,
  NIC_COUNTERS_BYTE,
  NIC_DESC_BYTE,
  NIC_DESC_WORDS,
  NIC_RX_HWCUR,
  NIC_TDT,
  NIC_WIRE_SLEEP,
  NICC_WIRE_WAKEUPS,
  NS_BUF_CHANGED,
  NS_MOREFRAG,
  nicHwBytes,
} from '../../shm/layout.js';
import { kmemSize, kringWordBase } from '../../shm/region.js';
import { RegionViews } from '../../shm/views.js';
import type { PortType } from './attach.js';
import { createRingPairMemory, type KRing, PAIR_RX_RING, PAIR_TX_RING, type SyncBackend } from './kring.js';

/** The NIC's memory: what the driver and the wire share. */
export interface NicMemory {
  mem: SharedArrayBuffer;
  kmem: SharedArrayBuffer;
  /** The port user's bell (the wire's interrupts wake it). */
  bell: SharedArrayBuffer;
}

/** Word index of the NIC's hardware block in the kernel memory of a one-interface, two-ring region. */
export function nicBlockWord(): number {
  return kmemSize(2, 1) / 4;
}

/** First word of TX (dir 0) or RX (dir 1) descriptor `k`, in kernel memory words. */
export function nicDescWord(numSlots: number, dir: 0 | 1, k: number): number {
  return nicBlockWord() + NIC_DESC_BYTE / 4 + (dir * numSlots + k) * NIC_DESC_WORDS;
}

/** Float64 index of the NIC's first counter in kernel memory. */
export function nicCounterBase(): number {
  return (nicBlockWord() * 4 + NIC_COUNTERS_BYTE) / 8;
}

/** A NIC's counters (what its wire counted, and the driver's wake-ups of the wire), read from its kernel memory. */
export function nicCounters(kmem: SharedArrayBuffer): Record<string, number> {
  const f = new Float64Array(kmem);
  const cb = nicCounterBase();
  const out: Record<string, number> = {};
  NIC_COUNTER_NAMES.forEach((name, i) => {
    out[name] = f[cb + i];
  });
  return out;
}

/**
 * A NIC's rings, buffers and hardware block. The RX descriptors start with their slots'
 * buffers (the driver's attach loaded them), and the wire may fill all but one.
 */
export function createNicMemory(numSlots: number, bufSize: number, extraBufs: number): NicMemory {
  const m = createRingPairMemory(numSlots, bufSize, extraBufs, nicHwBytes(numSlots));
  const r = RegionViews.kernel(m.mem, m.kmem);
  const k = m.km.i32;
  const slots = r.slotWordBase(PAIR_RX_RING);
  for (let i = 0; i < numSlots; i++) k[nicDescWord(numSlots, 1, i)] = r.u32[slots + 2 * i];
  return { mem: m.mem, kmem: m.kmem, bell: m.bell };
}

const LEN_MASK = 0xffff;
const MOREFRAG_HI = NS_MOREFRAG << 16;
const BUF_CHANGED_HI = NS_BUF_CHANGED << 16;

class NicTx implements SyncBackend {
  private readonly desc: number;
  private readonly block = nicBlockWord();
  constructor(numSlots: number) {
    this.desc = nicDescWord(numSlots, 0, 0);
  }

  sync(kr: KRing): void {
    const head = kr.rhead;
    let k = kr.hwcur;
    if (k !== head) {
      const w = kr.r.i32;
      const d = kr.km.i32;
      const n = kr.numSlots;
      const bufSize = kr.r.bufSize;
      const goodBufs = kr.r.numBufs - 2;
      let count = 0;
      let drops = 0;
      while (k !== head) {
        const s = kr.slotBase + 2 * k;
        const idx = w[s];
        const lf = w[s + 1];
        const dw = this.desc + 2 * k;
        if ((idx - 2) >>> 0 < goodBufs && (lf & LEN_MASK) <= bufSize) {
          d[dw] = idx;
          d[dw + 1] = lf & ~BUF_CHANGED_HI;
        } else {
          // A bad buffer or length: the descriptor goes out empty (the wire counts it as
          // bad and sends nothing), keeping a fragment chain's shape.
          d[dw] = 0;
          d[dw + 1] = lf & MOREFRAG_HI;
          drops++;
        }
        if (lf & BUF_CHANGED_HI) w[s + 1] = lf & ~BUF_CHANGED_HI;
        count++;
        if (++k === n) k = 0;
      }
      kr.hwcur = head;
      kr.addPackets(count - drops);
      if (drops > 0) kr.addDrops(drops);
      // The store publishes the descriptors written above to the wire.
      Atomics.store(d, this.block + NIC_TDT, head);
      this.ring(kr);
    }
    kr.hwtail = kr.peerTail();
  }

  flush(kr: KRing): void {
    this.ring(kr);
  }

  /** Wakes the wire if it sleeps for TX work (one load when it is awake). */
  private ring(kr: KRing): void {
    const d = kr.km.i32;
    const w = this.block + NIC_WIRE_SLEEP;
    if (Atomics.load(d, w) !== 0 && Atomics.compareExchange(d, w, 1, 0) === 1) {
      Atomics.notify(d, w);
      kr.km.f64[nicCounterBase() + NICC_WIRE_WAKEUPS]++;
      kr.bumpNotify();
    }
  }
}

class NicRx implements SyncBackend {
  private readonly desc: number;
  private readonly block = nicBlockWord();
  private readonly peerKb = kringWordBase(PAIR_RX_RING);
  constructor(numSlots: number) {
    this.desc = nicDescWord(numSlots, 1, 0);
  }

  sync(kr: KRing): void {
    const w = kr.r.i32;
    const d = kr.km.i32;
    const n = kr.numSlots;
    const head = kr.rhead;
    let k = kr.hwcur;
    if (k !== head) {
      // Released slots go back to the wire with the buffer the user left in them.
      while (k !== head) {
        const s = kr.slotBase + 2 * k;
        const lf = w[s + 1];
        if (lf & BUF_CHANGED_HI) {
          const idx = w[s];
          // A swap that names no buffer is refused: the descriptor keeps its buffer.
          if (kr.r.validBuf(idx)) d[this.desc + 2 * k] = idx;
          else kr.addDrops(1);
          w[s + 1] = lf & ~BUF_CHANGED_HI;
        }
        if (++k === n) k = 0;
      }
      kr.hwcur = head;
      Atomics.store(d, this.block + NIC_RX_HWCUR, head);
    }
    // What the wire filled since the last sync: each slot gets its descriptor's buffer and length.
    const rdh = Atomics.load(d, this.peerKb + KR_PEER_TAIL);
    let t = kr.hwtail;
    if (rdh >>> 0 < n && rdh !== t) {
      let count = 0;
      while (t !== rdh) {
        const s = kr.slotBase + 2 * t;
        const dw = this.desc + 2 * t;
        w[s] = d[dw];
        w[s + 1] = d[dw + 1];
        if ((d[dw + 1] & MOREFRAG_HI) === 0) count++;
        if (++t === n) t = 0;
      }
      kr.hwtail = rdh;
      kr.addPackets(count);
    }
  }
}

/** The wire's RDH register word (also the RX kring's peer tail). */
export function nicRdhWord(): number {
  return kringWordBase(PAIR_RX_RING) + KR_PEER_TAIL;
}

/** The kernel side of NIC ports: its driver (registered by the kernel's attach). */
export const nicPortType: PortType = {
  bells: () => 1,
  extraKmem: (r) => nicHwBytes(r.numSlots),
  attach: (_desc, region) => ({
    backend: (id) => (id === PAIR_TX_RING ? new NicTx(region.numSlots) : new NicRx(region.numSlots)),
  }),
};
