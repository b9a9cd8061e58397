/**
 * netmap pipes: two ends in one region and one slot index space. txsync copies slot
 * descriptors into the peer RX ring at the same index and publishes complete packets;
 * rxsync gives released slots back to the peer TX ring. Payload bytes never move.
 */
import { DIR_RX, DIR_TX, KR_PEER_TAIL, NS_BUF_CHANGED, NS_MOREFRAG, SLEEP_RX, SLEEP_TX } from '../../shm/layout.js';
import { createBell, createPortMemory, kringWordBase } from '../../shm/region.js';
import type { RegionViews } from '../../shm/views.js';
import type { BaseDescriptor, PortType } from './attach.js';
import { initKring, KernelMem, type KRing, type SyncBackend } from './kring.js';

/** A pipe end: the pipe's region and kernel memory (shared by both ends) and both ends' bells. */
export interface PipeDescriptor extends BaseDescriptor {
  type: 'pipe';
  /** Both ends' bells (sleep words), by interface index: a sync rings the peer's. */
  bells: SharedArrayBuffer[];
}

/** The kernel side of pipes (registered by the kernel's attach). */
export const pipePortType: PortType = {
  bells: (r) => r.numIfs,
  extraKmem: () => 0,
  attach: (_desc, region) => ({ backend: (id) => pipeBackend(region, id) }),
};

/** Ring ids of a pipe region: end 0 = TX 0, RX 1; end 1 = TX 2, RX 3. */
const END_TX = [0, 2];
const END_RX = [1, 3];
const NUM_RINGS = 4;

export interface PipeMemory {
  mem: SharedArrayBuffer;
  kmem: SharedArrayBuffer;
  /** Each end's bell (its sleep word), by interface index. */
  bells: SharedArrayBuffer[];
}

export function createPipeMemory(numSlots: number, bufSize: number, extraBufs: number): PipeMemory {
  const { mem, kmem } = createPortMemory({
    rings: [DIR_TX, DIR_RX, DIR_TX, DIR_RX],
    numSlots,
    bufSize,
    ifs: [
      { tx: [END_TX[0]], rx: [END_RX[0]] },
      { tx: [END_TX[1]], rx: [END_RX[1]] },
    ],
    // Each RX ring starts with the buffers of the TX ring that feeds it.
    mirror: { [END_RX[1]]: END_TX[0], [END_RX[0]]: END_TX[1] },
    extraBufs,
  });
  const km = new KernelMem(kmem, NUM_RINGS, []);
  for (let id = 0; id < NUM_RINGS; id++) initKring(km, id, id % 2 === 0, numSlots);
  return { mem, kmem, bells: [createBell(), createBell()] };
}

/** The ring on the other end of the pipe and the interface that owns it. */
function peerOf(id: number): { ring: number; ifIndex: number } {
  const end = id < 2 ? 0 : 1;
  const other = 1 - end;
  return { ring: id % 2 === 0 ? END_RX[other] : END_TX[other], ifIndex: other };
}

// Slot word 1 holds len in its low half and flags in its high half.
const LEN_MASK = 0xffff;
const MOREFRAG_HI = NS_MOREFRAG << 16;
const BUF_CHANGED_HI = NS_BUF_CHANGED << 16;

/** Where a pipe ring's peer lives: its kring block, its slots, the interface that owns it. */
abstract class PipeSync implements SyncBackend {
  constructor(
    protected readonly peerKb: number,
    protected readonly peerSlotBase: number,
    protected readonly peerIf: number,
  ) {}
  abstract sync(kr: KRing): void;
}

class PipeTx extends PipeSync {
  private drops = 0;

  flush(kr: KRing): void {
    kr.wake(this.peerIf, SLEEP_RX, this.peerKb, Atomics.load(kr.km.i32, this.peerKb + KR_PEER_TAIL), true);
  }

  sync(kr: KRing): void {
    const head = kr.rhead;
    let k = kr.hwcur;
    if (k !== head) {
      const w = kr.r.i32;
      const numBufs = kr.r.numBufs;
      const bufSize = kr.r.bufSize;
      const n = kr.numSlots;
      const src = kr.slotBase;
      const dst = this.peerSlotBase;
      const goodBufs = numBufs - 2;
      let complete = -1;
      let count = 0;
      this.drops = 0;
      // Walk [hwcur, head) in at most two straight runs (before and after the wrap).
      while (k !== head) {
        const end = head > k ? head : n;
        count += end - k;
        for (; k < end; k++) {
          const s = src + 2 * k;
          const d = dst + 2 * k;
          const idx = w[s];
          const lf = w[s + 1];
          // Fast path: a good buffer, len <= bufSize and no flags (lf as u32 <= bufSize).
          if ((idx - 2) >>> 0 < goodBufs && lf >>> 0 <= bufSize) {
            // Store only what changed: a slot usually carries the same buffer (and,
            // for fixed-size traffic, the same len) as last lap, and an unneeded store
            // takes the line away from the receiver's cache.
            if (w[d] !== idx) w[d] = idx;
            if (w[d + 1] !== lf) w[d + 1] = lf;
            complete = k;
          } else if (this.slowSlot(kr, w, s, d)) {
            complete = k;
          }
        }
        if (k === n) k = 0;
      }
      kr.hwcur = k;
      kr.addPackets(count - this.drops);
      if (this.drops > 0) kr.addDrops(this.drops);
      if (complete >= 0) {
        // Only complete packets become visible to the receiver.
        const tail = complete + 1 === n ? 0 : complete + 1;
        Atomics.store(kr.km.i32, this.peerKb + KR_PEER_TAIL, tail);
        kr.wake(this.peerIf, SLEEP_RX, this.peerKb, tail);
      }
    }
    kr.hwtail = kr.peerTail();
  }

  /**
   * A slot with flags or a bad buffer/len. The slot always travels (the index space is
   * shared), keeping the fragment chain. A bad len drops the packet but not its buffer:
   * the buffer goes with the slot, empty (len 0), as netmap's pipe carries it, so a
   * receiver that swaps buffers never loses one or gets one twice. A bad buffer index
   * travels as buffer 0 (there is no buffer to carry). Returns true when the slot ends a
   * packet.
   */
  private slowSlot(kr: KRing, w: Int32Array, s: number, d: number): boolean {
    const idx = w[s];
    const lf = w[s + 1];
    const goodBuf = kr.r.validBuf(idx);
    if (goodBuf && (lf & LEN_MASK) <= kr.r.bufSize) {
      w[d] = idx;
      w[d + 1] = lf & ~BUF_CHANGED_HI;
    } else {
      w[d] = goodBuf ? idx : 0;
      w[d + 1] = lf & MOREFRAG_HI;
      this.drops++;
    }
    if (lf & BUF_CHANGED_HI) w[s + 1] = lf & ~BUF_CHANGED_HI;
    return (lf & MOREFRAG_HI) === 0;
  }
}

class PipeRx extends PipeSync {
  sync(kr: KRing): void {
    const head = kr.rhead;
    let k = kr.hwcur;
    if (k !== head) {
      const w = kr.r.i32;
      const n = kr.numSlots;
      const base = kr.slotBase;
      let released = 0;
      while (k !== head) {
        const end = head > k ? head : n;
        released += end - k;
        for (; k < end; k++) {
          const s = base + 2 * k;
          if (w[s + 1] & BUF_CHANGED_HI) this.giveBack(kr, w, s, k);
        }
        if (k === n) k = 0;
      }
      kr.hwcur = head;
      kr.addPackets(released);
      // The sender may fill up to the slot before our head: one slot stays empty.
      const tail = head === 0 ? n - 1 : head - 1;
      Atomics.store(kr.km.i32, this.peerKb + KR_PEER_TAIL, tail);
      kr.wake(this.peerIf, SLEEP_TX, this.peerKb, tail);
    }
    kr.hwtail = kr.peerTail();
  }

  /**
   * The receiver swapped in another buffer: the sender's slot takes it. A swap that names
   * no buffer is refused (counted as a drop): the sender's slot keeps its buffer, since
   * the kernel never hands an honest sender an index that is not one. (A receiver that
   * took that buffer out anyway now shares it with the sender: its own doing, on memory
   * both ends hold.)
   */
  private giveBack(kr: KRing, w: Int32Array, s: number, k: number): void {
    const idx = w[s];
    if (kr.r.validBuf(idx)) {
      const d = this.peerSlotBase + 2 * k;
      w[d] = idx;
      w[d + 1] = (w[d + 1] & LEN_MASK) | BUF_CHANGED_HI;
    } else {
      kr.addDrops(1);
    }
    w[s + 1] &= ~BUF_CHANGED_HI;
  }
}

/** Makes the sync backend of pipe ring `id`. */
export function pipeBackend(r: RegionViews, id: number): SyncBackend {
  const peer = peerOf(id);
  const kb = kringWordBase(peer.ring);
  const base = r.slotWordBase(peer.ring);
  return id % 2 === 0 ? new PipeTx(kb, base, peer.ifIndex) : new PipeRx(kb, base, peer.ifIndex);
}
