/**
 * The sync of a netmap pipe, one implementation for every port type whose rings come in
 * pipe pairs in one slot index space: the kernel's pipes (pipe.ts: a region per pipe) and
 * pipe sets (pipeset.ts: up to 16 one-way pipes sharing a region, the pipeline's links).
 * A type says only where a ring's peer lives (its ring id, hence its kring block and
 * slots, and the interface whose bell its sleeper waits on); the rest is here.
 *
 * txsync copies slot descriptors [hwcur, head) into the peer RX ring at the same index and
 * publishes complete packets (an NS_MOREFRAG chain becomes visible with its last slot);
 * rxsync hands released slots back to the peer TX ring, with the receiver's buffer when it
 * swapped one in (NS_BUF_CHANGED). Payload bytes never move. Neither ever throws on what a
 * user wrote: a bad len or buffer index is dropped and counted, and no buffer is lost or
 * handed out twice.
 *
 * Hazard: this is the hot path of every pipe (pkt-gen --port pipe measures it). Keep the
 * per-slot fast path to the loads, one range check and the stores that change something;
 * the classes keep one shape whatever the port type, so the loops stay monomorphic.
 */
import { DIR_TX, KR_PEER_TAIL, NS_BUF_CHANGED, NS_MOREFRAG, SLEEP_RX, SLEEP_TX } from '../../shm/layout.js';
import { kringWordBase } from '../../shm/region.js';
import type { RegionViews } from '../../shm/views.js';
import type { KRing, SyncBackend } from './kring.js';

/** Where a pipe ring's peer lives: its ring id and the interface (end) that owns it. */
export interface PipePeer {
  ring: number;
  ifIndex: number;
}

// Slot word 1 holds len in its low half and flags in its high half.
const LEN_MASK = 0xffff;
const MOREFRAG_HI = NS_MOREFRAG << 16;
const BUF_CHANGED_HI = NS_BUF_CHANGED << 16;

/** Where a pipe ring's peer lives, resolved once: its kring block, its slots, the interface that owns it. */
abstract class PipeSync implements SyncBackend {
  constructor(
    protected readonly peerKb: number,
    protected readonly peerSlotBase: number,
    protected readonly peerIf: number,
  ) {}
  abstract sync(kr: KRing): void;
}

/** The sender's side: publish [hwcur, head) to the peer RX ring. */
class PipeTx extends PipeSync {
  private drops = 0;

  /** The sender is about to sleep: its receiver gets whatever news there is, whatever it asked. */
  flush(kr: KRing): void {
    kr.wake(this.peerIf, SLEEP_RX, this.peerKb, Atomics.load(kr.km.i32, this.peerKb + KR_PEER_TAIL), true);
  }

  sync(kr: KRing): void {
    const head = kr.rhead;
    let k = kr.hwcur;
    if (k !== head) {
      const w = kr.r.i32;
      const bufSize = kr.r.bufSize;
      const goodBufs = kr.r.numBufs - 2;
      const n = kr.numSlots;
      const src = kr.slotBase;
      const dst = this.peerSlotBase;
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
          const goodBuf = (idx - 2) >>> 0 < goodBufs;
          // Fast path: a good buffer, len <= bufSize and no flags (lf as u32 <= bufSize).
          // Hazard: this test is the pipe's whole per-slot cost (pkt-gen --port pipe); a
          // slot with NS_BUF_CHANGED gets a test of its own below, not an extra mask here.
          if (goodBuf && lf >>> 0 <= bufSize) {
            // Store only what changed: a slot usually carries the same buffer (and, for
            // fixed-size traffic, the same len) as last lap, and an unneeded store takes
            // the line away from the receiver's cache.
            if (w[d] !== idx) w[d] = idx;
            if (w[d + 1] !== lf) w[d + 1] = lf;
            complete = k;
          } else if (goodBuf && (lf & ~BUF_CHANGED_HI) >>> 0 <= bufSize) {
            // A swapped-in buffer (a forwarder sets NS_BUF_CHANGED on every slot it swaps
            // into, as the pipeline's stages do): the same, and the kernel takes the change.
            const out = lf & ~BUF_CHANGED_HI;
            if (w[d] !== idx) w[d] = idx;
            if (w[d + 1] !== out) w[d + 1] = out;
            w[s + 1] = out;
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
        // Only complete packets become visible. The store orders every slot write above
        // before it; the receiver loads the tail with Atomics before reading a slot.
        const tail = complete + 1 === n ? 0 : complete + 1;
        Atomics.store(kr.km.i32, this.peerKb + KR_PEER_TAIL, tail);
        // After the store: a receiver that set its bit before our store is woken here once
        // the news reaches its ask; one that sets it after re-checks the tail before it waits.
        kr.wake(this.peerIf, SLEEP_RX, this.peerKb, tail);
      }
    }
    kr.hwtail = kr.peerTail();
  }

  /**
   * A slot with other flags, a bad buffer or a bad len. The slot always travels (the
   * index space is shared), keeping the fragment chain. A bad len drops the packet but
   * not its buffer: the buffer goes with the slot, empty (len 0), as netmap's pipe carries
   * it, so a receiver that swaps buffers never loses one or gets one twice. A bad buffer
   * index travels as buffer 0 (there is no buffer to carry). Returns true when the slot
   * ends a packet.
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

/** The receiver's side: release [hwcur, head) back to the peer TX ring. */
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

/**
 * The sync backend of pipe ring `id` of region `r` (a TX ring sends, an RX ring releases)
 * whose peer is `peer`. The peer's bell is the kernel memory's bell of `peer.ifIndex`
 * (the attach's descriptor bells, by interface).
 */
export function pipeSync(r: RegionViews, id: number, peer: PipePeer): SyncBackend {
  const kb = kringWordBase(peer.ring);
  const base = r.slotWordBase(peer.ring);
  return r.geometry.dirs[id] === DIR_TX ? new PipeTx(kb, base, peer.ifIndex) : new PipeRx(kb, base, peer.ifIndex);
}
