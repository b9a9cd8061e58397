/**
 * VALE: a learning software switch. Each port has its own region (so packets are always
 * copied and ports stay isolated). Forwarding runs in the sender's txsync: pass 1 looks
 * every packet up in the learning table, pass 2 leases slots in each destination RX ring
 * (vale-lease.ts), copies outside the lock and completes the lease; a destination's tail
 * moves only over completed leases, in lease order. How a thread learns the switch's
 * ports, with nothing handed out by name: vale-switch.ts.
 */
import {
  KR_HWCUR,
  KR_PEER_TAIL,
  NS_BUF_CHANGED,
  NS_MOREFRAG,
  SLEEP_RX,
  SLOT_WORDS,
  SW_LEARN,
  SW_LEARN_ENTRIES,
  SW_MON_ALL,
  SW_MONITOR,
  VALE_COUNTER_NAMES,
  VALE_MAX_PORTS,
  VC_BAD,
  VC_FLOODS,
  VC_TX,
  valeLeaseBytes,
} from '../../shm/layout.js';
import { copyFrame } from '../../shm/views.js';
import { NetmapError } from '../errors.js';
import type { BaseDescriptor, PortType } from './attach.js';
import { type KRing, PAIR_TX_RING, type SyncBackend } from './kring.js';
import { wakeIfWorth } from './notify.js';
import { DestPort, type ValePortRef, valeCounterBase } from './vale-lease.js';
import {
  checkSwitchHandle,
  leaveSwitch,
  releaseSwitchView,
  type SwitchView,
  takeSwitchView,
  type ValeSwitchHandle,
} from './vale-switch.js';

const TX_RING = PAIR_TX_RING;
const ETH_MIN = 14;
const ALL_PORTS = -2;
/** deliver()'s destination for the monitor: the packets `this.mon` marks. */
const MONITOR = -3;
const BUF_CHANGED_HI = NS_BUF_CHANGED << 16;
const VALE_PORTS = VALE_MAX_PORTS;

/**
 * A VALE port: its own region, kernel memory and bell, and its switch (never another
 * port's memory directly: that is in the switch handle, for the kernel side only).
 */
export interface ValeDescriptor extends BaseDescriptor {
  type: 'vale';
  ifIndex: 0;
  bells: [SharedArrayBuffer];
  portIndex: number;
  /** The port's serial number on its switch (an index is reused, a serial never). */
  serial: number;
  switch: ValeSwitchHandle;
}

/**
 * A VALE port's counters (VC_* by name: rx, tx, drops, floods, bad, lockSpins, revoked) read from its kernel memory.
 */
export function valeCounters(kmem: SharedArrayBuffer): Record<string, number> {
  const f = new Float64Array(kmem);
  const cb = valeCounterBase();
  const out: Record<string, number> = {};
  VALE_COUNTER_NAMES.forEach((name, i) => {
    out[name] = f[cb + i];
  });
  return out;
}

/** The kernel side of VALE ports (registered by the kernel's attach). */
export const valePortType: PortType = {
  bells: () => 1,
  extraKmem: (r) => valeLeaseBytes(r.numSlots),
  goneWhenFree: true,
  attach(desc, region) {
    const d = desc as ValeDescriptor;
    const h = checkSwitchHandle(d.switch, d.name);
    if (!(Number.isInteger(d.portIndex) && d.portIndex >= 0 && d.portIndex < h.ports.length)) {
      throw new NetmapError('EINVAL', `bad port descriptor for ${d.name}: port index`);
    }
    const view = takeSwitchView(h, d.name);
    const me: ValePortRef = { mem: d.mem, kmem: d.kmem, bell: d.bells[0], serial: d.serial };
    return {
      backend: (id) =>
        id === TX_RING ? new ValeTx(view, d.portIndex, me, region.numSlots) : new ValeRx(new DestPort(me)),
      detach: () => releaseSwitchView(view, h),
      leave: () => leaveSwitch(h.swmem, d.portIndex),
      counters: () => valeCounters(d.kmem),
    };
  },
};

/** Hash of a MAC address (bytes 0-1 in `hi`, 2-5 in `lo`) into the learning table. */
function learnSlot(hi: number, lo: number): number {
  let h = Math.imul(lo ^ (hi << 7), 0x9e3779b1);
  h ^= h >>> 15;
  return (h & (SW_LEARN_ENTRIES - 1)) * 2;
}

class ValeTx implements SyncBackend {
  /** Per-batch packet list, made once: first slot, slots, destination. */
  private readonly first: Int32Array;
  private readonly frags: Int32Array;
  private readonly dest: Int32Array;
  /** Packets of the batch the monitor gets (1), made once. */
  private readonly mon: Uint8Array;
  private readonly me: DestPort;
  /**
   * The switch as this thread sees it, with every port's memory: a JS-private field, so
   * nothing the port's user holds (the Port, its krings, their backends) leads to it.
   */
  readonly #view: SwitchView;

  constructor(
    view: SwitchView,
    private readonly index: number,
    me: ValePortRef,
    n: number,
  ) {
    this.#view = view;
    this.first = new Int32Array(n);
    this.frags = new Int32Array(n);
    this.dest = new Int32Array(n);
    this.mon = new Uint8Array(n);
    this.me = new DestPort(me);
  }

  sync(kr: KRing): void {
    const head = kr.rhead;
    if (kr.hwcur !== head) {
      this.#view.refresh();
      const done = this.lookup(kr, head);
      if (done > 0) this.forward(kr, done);
    }
    // Every slot handed to the switch has been copied: the user gets them all back.
    kr.hwtail = kr.hwcur === 0 ? kr.numSlots - 1 : kr.hwcur - 1;
  }

  /** Pass 1: one entry per complete packet in [hwcur, head); learns sources. */
  private lookup(kr: KRing, head: number): number {
    const { i32, numBufs, bufSize } = kr.r;
    const n = kr.numSlots;
    const sw = this.#view.sw;
    const me = this.me;
    let k = kr.hwcur;
    let count = 0;
    let bad = 0;
    let floods = 0;
    let toSelf = 0; // unicast to a MAC learned on this port
    // Group-bit values: no real unicast MAC matches them before the first lookup.
    let seenSrcA = 1;
    let seenSrcB = -1;
    let seenDstA = 1;
    let seenDstB = -1;
    let seenDst = ALL_PORTS;
    while (k !== head) {
      // A packet: slots up to the first without NS_MOREFRAG; an unfinished one waits.
      // It is bad if its first slot is shorter than an Ethernet header or if any slot
      // names no buffer of this region or a len past the buffer. netmap clears
      // NS_BUF_CHANGED on the slots it takes: so do we, on every slot of the packet.
      const s = kr.slotBase + 2 * k;
      const idx = i32[s];
      const lf = i32[s + 1];
      if (lf & BUF_CHANGED_HI) i32[s + 1] = lf & ~BUF_CHANGED_HI;
      const len = lf & 0xffff;
      let ok = idx >= 2 && idx < numBufs && len <= bufSize && len >= ETH_MIN;
      let last = k;
      let frags = 1;
      while (i32[kr.slotBase + 2 * last + 1] & (NS_MOREFRAG << 16)) {
        last = last + 1 === n ? 0 : last + 1;
        if (last === head) break;
        frags++;
        const f = kr.slotBase + 2 * last;
        const fi = i32[f];
        const flf = i32[f + 1];
        if (flf & BUF_CHANGED_HI) i32[f + 1] = flf & ~BUF_CHANGED_HI;
        if (fi < 2 || fi >= numBufs || (flf & 0xffff) > bufSize) ok = false;
      }
      if (last === head) break;
      const next = last + 1 === n ? 0 : last + 1;
      if (!ok) {
        bad++;
      } else {
        // The two MACs are bytes 0-11: three little-endian words. A MAC is keyed as its
        // first 4 bytes and its last 2; the first byte's low bit is the group bit.
        const w = me.r.bufOffset(idx) >> 2;
        const w0 = i32[w];
        const w1 = i32[w + 1];
        const w2 = i32[w + 2];
        // Source MAC (bytes 6-11) keyed the same way: bytes 6-9 and bytes 10-11.
        const srcA = (w1 >>> 16) | (w2 << 16);
        const srcB = w2 >>> 16;
        // Packets of a batch mostly share their MACs: the last source and destination
        // seen are remembered for the batch, which skips two hashes and table reads.
        if ((srcA & 1) === 0 && (srcA !== seenSrcA || srcB !== seenSrcB)) {
          seenSrcA = srcA;
          seenSrcB = srcB;
          // The table is a hint, as in netmap (updated without a lock): plain accesses;
          // a torn entry fails the MAC compare and only causes a flood.
          const e = SW_LEARN + learnSlot(srcB, srcA);
          const tag = (srcB << 16) | (this.index + 1);
          if (sw[e] !== srcA || sw[e + 1] !== tag) {
            sw[e] = srcA;
            sw[e + 1] = tag;
          }
        }
        let dst: number;
        if (w0 & 1) {
          dst = ALL_PORTS; // group bit: broadcast
          floods++;
        } else if (w0 === seenDstA && (w1 & 0xffff) === seenDstB) {
          dst = seenDst;
          if (dst === ALL_PORTS) floods++;
        } else {
          const dstB = w1 & 0xffff;
          const e = SW_LEARN + learnSlot(dstB, w0);
          const t = sw[e + 1];
          const port = (t & 0xffff) - 1;
          if (sw[e] === w0 && t >>> 16 === dstB && port >= 0 && port < VALE_PORTS && this.#view.ports[port] !== null) {
            dst = port; // this port itself: forward() skips it, counted below
          } else {
            dst = ALL_PORTS; // unknown unicast: flood
            floods++;
          }
          seenDstA = w0;
          seenDstB = dstB;
          seenDst = dst;
        }
        if (dst === this.index) toSelf++;
        this.first[count] = k;
        this.frags[count] = frags;
        this.dest[count] = dst;
        count++;
      }
      k = next;
    }
    const f = me.kf;
    f[me.cb + VC_TX] += count;
    f[me.cb + VC_BAD] += bad;
    f[me.cb + VC_FLOODS] += floods;
    // netmap drops a frame for the port it came from; it is counted with this port's
    // drops, which other senders also write, under the lock.
    if (toSelf > 0) me.addDrops(toSelf);
    kr.addPackets(count);
    kr.hwcur = k;
    return count;
  }

  /** Pass 2: per destination, lease, copy outside the lock, complete in order. */
  private forward(kr: KRing, count: number): void {
    const ports = this.#view.ports;
    // One load: a switch with no monitor pays nothing more.
    const m = Atomics.load(this.#view.sw, SW_MONITOR);
    const monIndex = m === 0 ? -1 : (m & 0xffff) - 1;
    for (let d = 0; d < this.#view.top; d++) {
      const dp = ports[d];
      if (dp === null || d === this.index || d === monIndex) continue;
      let need = 0;
      let pkts = 0;
      for (let i = 0; i < count; i++) {
        const t = this.dest[i];
        if (t === d || t === ALL_PORTS) {
          need += this.frags[i];
          pkts++;
        }
      }
      if (pkts === 0) continue;
      if (dp.r.bufSize !== kr.r.bufSize) {
        // Not a port this one can copy into (the namespace refuses mixed buffer sizes;
        // a hand-made descriptor is the only way here): dropped, never thrown.
        dp.addDrops(pkts);
        continue;
      }
      this.deliver(kr, dp, d, count, need, pkts);
    }
    if (monIndex >= 0 && monIndex !== this.index) this.toMonitor(kr, count, m >>> 16, monIndex);
  }

  /**
   * The monitor's copies: every packet (the whole switch), or those this port sent or
   * that went to the watched port. What does not fit is the monitor's drops: the
   * forwarding path never waits for it.
   */
  private toMonitor(kr: KRing, count: number, watched: number, monIndex: number): void {
    const dp = this.#view.ports[monIndex];
    if (dp === null || dp.r.bufSize !== kr.r.bufSize) return;
    const all = watched === SW_MON_ALL || watched - 1 === this.index;
    const w = watched - 1;
    let need = 0;
    let pkts = 0;
    for (let i = 0; i < count; i++) {
      const t = this.dest[i];
      const take = all || t === w || (t === ALL_PORTS && w !== monIndex);
      this.mon[i] = take ? 1 : 0;
      if (take) {
        need += this.frags[i];
        pkts++;
      }
    }
    if (pkts > 0) this.deliver(kr, dp, MONITOR, count, need, pkts);
  }

  private deliver(kr: KRing, dp: DestPort, d: number, count: number, need: number, pkts: number): void {
    // Lease: under the lock, only index arithmetic.
    let tok = dp.lock();
    const room = dp.room(need);
    // Whole packets only: take them in order while they fit.
    let got = 0;
    let sent = 0;
    if (need <= room) {
      got = need;
      sent = pkts;
    } else {
      for (let i = 0; i < count; i++) {
        const t = this.dest[i];
        if (d === MONITOR ? this.mon[i] === 0 : t !== d && t !== ALL_PORTS) continue;
        if (got + this.frags[i] > room) break;
        got += this.frags[i];
        sent++;
      }
    }
    const rec = got > 0 ? dp.lease(got) : -1;
    const start = dp.leaseStart;
    const leaseTok = dp.leaseTok;
    dp.unlock(tok);
    // Copy outside the lock: other senders copy into their own leases meanwhile.
    if (got > 0) this.copy(kr, dp, d, count, start, sent);
    // Complete: mark our lease done, fold every finished lease at the front into the tail.
    tok = dp.lock();
    const moved = dp.complete(rec, leaseTok, sent, pkts - sent);
    dp.unlock(tok);
    if (moved && wakeIfWorth(dp.bell, SLEEP_RX, dp.k, dp.rxKb, Atomics.load(dp.k, dp.rxKb + KR_PEER_TAIL), dp.n)) {
      kr.bumpNotify();
    }
  }

  /** Copies the first `sent` packets bound to `d` into slots starting at `start`. */
  private copy(kr: KRing, dp: DestPort, d: number, count: number, start: number, sent: number): void {
    const src = kr.r;
    const dst = dp.r;
    const si = src.i32;
    const di = dst.i32;
    const bufSize = src.bufSize;
    const n = dp.n;
    let j = start;
    let done = 0;
    for (let i = 0; i < count && done < sent; i++) {
      const t = this.dest[i];
      if (d === MONITOR ? this.mon[i] === 0 : t !== d && t !== ALL_PORTS) continue;
      let s = this.first[i];
      for (let f = this.frags[i]; f > 0; f--) {
        const sw = kr.slotBase + 2 * s;
        // The user may rewrite its slots since lookup() checked them: len is clamped to
        // the buffer again and the chain's flags come from lookup's count, so a receiver
        // never gets len > buf_size or a broken fragment chain.
        let len = si[sw + 1] & 0xffff;
        if (len > bufSize) len = bufSize;
        const dw = dp.rxSlots + SLOT_WORDS * j;
        // The bytes copied past len land in the leased destination buffer, ours until published.
        copyFrame(src, si[sw], dst, di[dw], len);
        di[dw + 1] = f > 1 ? len | (NS_MOREFRAG << 16) : len;
        s = s + 1 === kr.numSlots ? 0 : s + 1;
        j = j + 1 === n ? 0 : j + 1;
      }
      done++;
    }
  }
}

class ValeRx implements SyncBackend {
  /**
   * `me`: this port as a destination. A sender that died mid-copy leaves its lease at the
   * front of the ring, and the packets leased after it wait behind it until some sender
   * folds again; if none comes (a ping waiting for its reply), the receiver's own rxsync
   * must: when its tail has not moved and the lease at the front is stale, it folds
   * (revoking that lease). Two loads when no lease is pending.
   */
  constructor(private readonly me: DestPort) {}

  sync(kr: KRing): void {
    const head = kr.rhead;
    if (kr.hwcur !== head) {
      const w = kr.r.i32;
      const n = kr.numSlots;
      let released = 0;
      for (let k = kr.hwcur; k !== head; k = k + 1 === n ? 0 : k + 1) {
        const s = kr.slotBase + 2 * k;
        // A buffer the user swapped in is its own region's: keep it if it is one.
        if (w[s + 1] & BUF_CHANGED_HI) {
          if (!kr.r.validBuf(w[s])) {
            w[s] = 0;
            kr.addDrops(1);
          }
          w[s + 1] &= ~BUF_CHANGED_HI;
        }
        released++;
      }
      kr.addPackets(released);
      kr.hwcur = head;
      // Senders compute their room from this: publish it.
      Atomics.store(kr.km.i32, kr.kb + KR_HWCUR, head);
    }
    if (kr.peerTail() === kr.hwtail && this.me.frontStale()) {
      const tok = this.me.lock();
      this.me.fold();
      this.me.unlock(tok);
    }
    kr.hwtail = kr.peerTail();
  }
}
