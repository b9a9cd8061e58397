/**
 * The emulated e1000 NIC and its netmap back-end, as QEMU runs them: the device thread
 * reads the descriptors the guest driver wrote, copies each packet out of guest memory
 * (QEMU's pci_dma_read into the device's TX buffer), and hands it to the back-end one
 * packet at a time, which copies it into the host port and runs one txsync per packet
 * (QEMU's netmap_receive). Receive is the mirror: each host packet is written into the
 * next guest RX buffer and its descriptor marked done. Completions raise interrupts,
 * optionally moderated. Everything the guest wrote is checked; bad values are counted,
 * never thrown on.
 */

import { Geometry, type GeometrySpec } from '../../shm/geometry.js';
import {
  BELL_SLEEP,
  E1K_DESC_ADDR_HI,
  E1K_DESC_ADDR_LO,
  E1K_DESC_LEN,
  E1K_DESC_STATUS,
  E1K_DESC_WORDS,
  E1K_ICR,
  E1K_ICR_RXT0,
  E1K_ICR_TXDW,
  E1K_RDH,
  E1K_RDT,
  E1K_REGS_BYTES,
  E1K_RXD_STA_EOP,
  E1K_STA_DD,
  E1K_TDH,
  E1K_TDT,
  E1K_TXD_CMD_EOP,
  E1K_TXD_CMD_RS,
  e1kDescBytes,
  KR_EV_START,
  KR_EV_WANT,
  KR_PEER_TAIL,
  NS_MOREFRAG,
  SLEEP_RX,
  SLEEP_TX,
} from '../../shm/layout.js';
import { kmemSize, kringWordBase } from '../../shm/region.js';
import { HEAD_CLASSES, HEAD_MAX, headClass, RegionViews } from '../../shm/views.js';
import { NetmapError } from '../errors.js';
import { type HostLoopOptions, runHostLoop } from '../host-loop.js';
import { type PortDescriptor, portBell } from '../kernel/attach.js';
import { PAIR_RX_RING, PAIR_TX_RING, wakeSleeper } from '../kernel/kring.js';
import { reached } from '../kernel/notify.js';
import { Port, type RingCounters } from '../port.js';
import { TR_IRQ, trace } from '../trace.js';
import { e1kDescWord } from './driver.js';
import { checkModeration } from './nic.js';

/** What the device thread receives: the host port, and the guest's memory and registers. */
export interface E1000DeviceDescriptor {
  /** The host port the netmap back-end opens (QEMU's `-netdev netmap`). */
  port: PortDescriptor;
  /** Guest memory: the guest's netmap region and kernel memory, and the descriptor rings. */
  ram: SharedArrayBuffer;
  /**
   * The guest region's geometry as the hypervisor made it: the device never reads it from
   * guest memory, which the guest may have rewritten.
   */
  ramGeometry: GeometrySpec;
  gkmem: SharedArrayBuffer;
  descs: SharedArrayBuffer;
  regs: SharedArrayBuffer;
  /** The guest's bell: an interrupt wakes the guest's vCPU if it is halted waiting. */
  irq: SharedArrayBuffer;
  /** Interrupt moderation: at most one interrupt per this many causes (1 = each). */
  moderation: number;
}

/** What the device counted (its whole life). */
export interface E1000Counters {
  /** Packets handed to the back-end (sent into the host port). */
  txPackets: number;
  /** Packets written into guest RX buffers. */
  rxPackets: number;
  /** TX descriptors processed, and TX packets dropped for a bad address or length. */
  txDescs: number;
  txBad: number;
  /** Empty TX packets (the guest driver turned a bad slot into one). */
  txEmpty: number;
  /** Host packets dropped: the guest's RX buffer address or size was bad. */
  rxBad: number;
  /** Tail register writes out of the ring, ignored. */
  badTails: number;
  /** Interrupts raised (after moderation). */
  irqs: number;
  /** Doorbells seen: tail register values that moved. */
  doorbells: number;
  /** txsync calls the back-end made on the host port (one per packet). */
  hostTxsyncs: number;
  sleeps: number;
  wakeups: number;
}

/** What a device thread reports when it stops. */
export type E1000Result = E1000Counters & { host: RingCounters[] };

/** Bytes of the device's TX staging buffer (QEMU's e1000 tx.data is 64 KiB). */
const TX_BUF_BYTES = 65536;
const LEN_MASK = 0xffff;

/**
 * The emulated e1000 NIC's device thread with its netmap back-end, as QEMU runs them:
 * copies packets between the guest's descriptors and a host port, raising interrupts.
 */
export class E1000Device {
  /** The netmap back-end: a netmap user of the host port, like QEMU's. */
  readonly host: Port;
  readonly counters: E1000Counters = {
    txPackets: 0,
    rxPackets: 0,
    txDescs: 0,
    txBad: 0,
    txEmpty: 0,
    rxBad: 0,
    badTails: 0,
    irqs: 0,
    doorbells: 0,
    hostTxsyncs: 0,
    sleeps: 0,
    wakeups: 0,
  };
  private readonly hostMem: RegionViews;
  private readonly guestMem: RegionViews;
  private readonly n: number;
  private readonly d: Int32Array;
  private readonly regs: Int32Array;
  private readonly gk: Int32Array;
  private readonly irqBell: Int32Array;
  private readonly hostBell: Int32Array;
  private readonly moderation: number;
  private readonly rxBase: number;
  /** Guest kernel words where the device writes back its TX head and RX head. */
  private readonly txWb: number;
  private readonly rxWb: number;
  /** The guest kernel's TX and RX kring blocks (its event words: what news it sleeps for). */
  private readonly txKb: number;
  private readonly rxKb: number;
  private readonly txbuf = new Uint8Array(TX_BUF_BYTES);
  private readonly txHead: Uint8Array[];
  private tdh = 0;
  private rdh = 0;
  private lastTdt = 0;
  private lastRdt = 0;
  /** Bytes of the packet being gathered from TX descriptors, and whether it is spoiled. */
  private txLen = 0;
  private txSpoiled = false;
  /** The gathered packet waits for room in the host ring. */
  private txHeld = false;
  /** Interrupt causes waiting for moderation: the sleep bits to wake, and the ICR bits. */
  private pendingWake = 0;
  private pendingIcr = 0;
  private sinceIrq = 0;

  constructor(desc: E1000DeviceDescriptor) {
    const bad = (what: string) => new NetmapError('EINVAL', `bad e1000 device descriptor: ${what}`);
    if (desc === null || typeof desc !== 'object') throw bad('not an object');
    let guest: RegionViews;
    try {
      guest = new RegionViews(desc.ram, new Geometry(desc.ramGeometry));
    } catch (e) {
      throw bad(`guest memory: ${(e as Error).message}`);
    }
    const n = guest.numSlots;
    if (!(desc.descs instanceof SharedArrayBuffer) || desc.descs.byteLength !== e1kDescBytes(n))
      throw bad('descriptors');
    if (!(desc.regs instanceof SharedArrayBuffer) || desc.regs.byteLength !== E1K_REGS_BYTES) throw bad('registers');
    if (!(desc.gkmem instanceof SharedArrayBuffer) || desc.gkmem.byteLength < kmemSize(2, 1)) throw bad('guest kmem');
    if (!(desc.irq instanceof SharedArrayBuffer)) throw bad('irq bell');
    checkModeration(desc.moderation);
    // The back-end holds the host port alone, as QEMU's netmap back-end does.
    this.host = new Port(desc.port, { exclusive: true });
    this.hostMem = RegionViews.kernel(desc.port.mem, desc.port.kmem);
    if (this.hostMem.bufSize !== guest.bufSize || this.host.numSlots !== n) {
      this.host.close();
      throw bad('guest rings must match the host port (slots and buffer size)');
    }
    this.guestMem = guest;
    this.n = n;
    this.d = new Int32Array(desc.descs);
    this.regs = new Int32Array(desc.regs);
    this.gk = new Int32Array(desc.gkmem);
    this.irqBell = new Int32Array(desc.irq);
    this.hostBell = new Int32Array(portBell(desc.port));
    this.moderation = desc.moderation;
    this.rxBase = e1kDescWord(n, 1, 0);
    this.txKb = kringWordBase(PAIR_TX_RING);
    this.rxKb = kringWordBase(PAIR_RX_RING);
    this.txWb = this.txKb + KR_PEER_TAIL;
    this.rxWb = this.rxKb + KR_PEER_TAIL;
    this.txHead = Array.from({ length: HEAD_CLASSES }, (_, c) =>
      this.txbuf.subarray(0, Math.min(64 << c, guest.bufSize)),
    );
    this.tdh = this.reg(E1K_TDH);
    this.rdh = this.reg(E1K_RDH);
    this.lastTdt = this.tdh;
    this.lastRdt = Atomics.load(this.regs, E1K_RDT);
  }

  /** A device register as the device keeps it (always in the ring). */
  private reg(r: number): number {
    const v = Atomics.load(this.regs, r);
    return v >>> 0 < this.n ? v : 0;
  }

  /** One pass: TX descriptors, then host packets to the guest. True when anything moved. */
  step(): boolean {
    const moved = this.txPass() + this.rxPass() > 0;
    // Moderation holds interrupts back only while there is more work to come.
    if (!moved) this.fire();
    return moved;
  }

  /**
   * The device thread's life: step, linger, sleep on the host port's bell, where both
   * the guest's doorbells and the host peer's news wake it. Interrupts still held back
   * by moderation go out before it sleeps.
   */
  run(o: HostLoopOptions): void {
    const r = runHostLoop(
      {
        step: () => this.step(),
        bell: this.hostBell,
        beforeSleep: () => this.fire(),
        afterSleep() {},
        pending: () => this.pending(),
      },
      o,
    );
    this.counters.sleeps += r.sleeps;
    this.counters.wakeups += r.wakeups;
    this.fire();
  }

  /**
   * True while TX descriptors wait (for room in the host ring) or host packets wait (for
   * guest RX buffers): the stop drains them while the guest and the host peer still run.
   */
  pending(): boolean {
    const tdt = Atomics.load(this.regs, E1K_TDT);
    if (tdt >>> 0 < this.n && tdt !== this.tdh) return true;
    const r = this.host.rx;
    return r.cur !== r.tail;
  }

  close(): void {
    this.host.close();
  }

  // ---- transmit (QEMU: e1000 start_xmit, process_tx_desc; netmap_receive) ----

  private txPass(): number {
    const n = this.n;
    const tdt = Atomics.load(this.regs, E1K_TDT);
    if (tdt !== this.lastTdt) {
      this.lastTdt = tdt;
      this.counters.doorbells++;
      if (tdt >>> 0 >= n) this.counters.badTails++;
    }
    if (tdt >>> 0 >= n) return 0;
    const d = this.d;
    let tdh = this.tdh;
    let done = 0;
    while (tdh !== tdt) {
      const k = tdh * E1K_DESC_WORDS;
      const lenCmd = d[k + E1K_DESC_LEN];
      const cmd = lenCmd >>> 24;
      // A held packet's last descriptor was read already: only its send is retried.
      if (!this.txHeld && !this.txSpoiled) {
        if (!this.dmaRead(d[k + E1K_DESC_ADDR_LO], d[k + E1K_DESC_ADDR_HI], lenCmd & LEN_MASK)) this.txSpoiled = true;
      }
      if ((cmd & E1K_TXD_CMD_EOP) !== 0) {
        if (this.txSpoiled) this.counters.txBad++;
        else if (this.txLen === 0) this.counters.txEmpty++;
        else if (!this.send()) {
          // No room in the host ring: the packet waits here, it is not lost.
          this.txHeld = true;
          break;
        }
        this.txHeld = false;
        this.txLen = 0;
        this.txSpoiled = false;
      }
      if ((cmd & E1K_TXD_CMD_RS) !== 0) Atomics.store(d, k + E1K_DESC_STATUS, E1K_STA_DD);
      tdh = tdh + 1 === n ? 0 : tdh + 1;
      done++;
      // TX head write-back: the guest driver reclaims up to here.
      Atomics.store(this.gk, this.txWb, tdh === 0 ? n - 1 : tdh - 1);
    }
    if (done > 0) {
      this.tdh = tdh;
      this.counters.txDescs += done;
      Atomics.store(this.regs, E1K_TDH, tdh);
      this.raise(SLEEP_TX, E1K_ICR_TXDW);
    }
    return done;
  }

  /** Copies `len` bytes at guest address `addr` to the TX buffer. False if out of bounds. */
  private dmaRead(addr: number, hi: number, len: number): boolean {
    if (len === 0) return true;
    const off = this.txLen;
    const g = this.guestMem;
    if (hi !== 0 || off + len > TX_BUF_BYTES || addr < 0 || addr > g.sab.byteLength - len) return false;
    const rel = addr - g.bufsOfs;
    const idx = (rel / g.bufSize) | 0;
    if (off === 0 && len <= HEAD_MAX && len <= g.bufSize && rel >= 0 && rel === idx * g.bufSize && idx < g.numBufs) {
      // The guest driver's case: a whole buffer. set() between pre-made views, no allocation.
      const cls = headClass(len);
      this.txHead[cls].set(g.bufHead(idx, cls));
    } else {
      const src = g.u8;
      const dst = this.txbuf;
      for (let j = 0; j < len; j++) dst[off + j] = src[addr + j];
    }
    this.txLen = off + len;
    return true;
  }

  /** Free slots in the host TX ring (syncing once if there are fewer than `want`). */
  private hostRoom(want: number): boolean {
    const r = this.host.tx;
    if (r.space() >= want) return true;
    this.host.txsync();
    this.counters.hostTxsyncs++;
    return r.space() >= want;
  }

  /**
   * The back-end (QEMU's netmap_receive): one packet into the host TX ring, then one
   * txsync. A packet longer than a host buffer goes as NS_MOREFRAG fragments. False when
   * the ring has no room for it yet.
   */
  private send(): boolean {
    const r = this.host.tx;
    const h = this.hostMem;
    const len = this.txLen;
    const frags = Math.ceil(len / h.bufSize);
    if (frags >= r.numSlots) {
      // Could never fit: dropped and counted rather than held forever.
      this.counters.txBad++;
      return true;
    }
    if (!this.hostRoom(frags)) return false;
    let slot = r.cur;
    if (frags === 1 && len <= HEAD_MAX) {
      const cls = headClass(len);
      h.bufHead(r.bufIdx(slot), cls).set(this.txHead[cls]);
      r.setLen(slot, len);
      r.setSlotFlags(slot, 0);
      slot = slot + 1 === r.numSlots ? 0 : slot + 1;
    } else {
      for (let off = 0; off < len; off += h.bufSize) {
        const part = Math.min(h.bufSize, len - off);
        this.copyOut(r.bufIdx(slot), off, part);
        r.setLen(slot, part);
        r.setSlotFlags(slot, off + part < len ? NS_MOREFRAG : 0);
        slot = slot + 1 === r.numSlots ? 0 : slot + 1;
      }
    }
    r.head = r.cur = slot;
    this.host.txsync();
    this.counters.hostTxsyncs++;
    this.counters.txPackets++;
    return true;
  }

  private copyOut(idx: number, off: number, len: number): void {
    const dst = this.hostMem.u8;
    const at = this.hostMem.bufOffset(idx);
    const src = this.txbuf;
    for (let j = 0; j < len; j++) dst[at + j] = src[off + j];
  }

  // ---- receive (QEMU: netmap_send; e1000_receive_iov) ----

  private rxPass(): number {
    const r = this.host.rx;
    if (r.cur === r.tail) {
      this.host.rxsync();
      if (r.cur === r.tail) return 0;
    }
    const n = this.n;
    const rdt = Atomics.load(this.regs, E1K_RDT);
    if (rdt !== this.lastRdt) {
      this.lastRdt = rdt;
      this.counters.doorbells++;
      if (rdt >>> 0 >= n) this.counters.badTails++;
    }
    if (rdt >>> 0 >= n) return 0;
    let got = 0;
    for (;;) {
      if (r.cur === r.tail) {
        // Give the consumed slots back at once (a VALE sender finds room) and look again.
        this.host.rxsync();
        if (r.cur === r.tail) break;
      }
      // The whole packet (all its fragments) must be in the host ring and fit the guest's.
      let last = r.cur;
      let frags = 1;
      while ((r.slotFlags(last) & NS_MOREFRAG) !== 0) {
        last = last + 1 === r.numSlots ? 0 : last + 1;
        if (last === r.tail) return got;
        frags++;
      }
      let free = rdt - this.rdh;
      if (free < 0) free += n;
      // e1000_can_receive: no room in the guest, the packet stays in the host ring.
      if (free < frags) break;
      let bad = false;
      for (let s = r.cur, f = frags; f > 0; f--) {
        bad = !this.receive(r.bufIdx(s), r.len(s), f === 1, bad) || bad;
        s = s + 1 === r.numSlots ? 0 : s + 1;
      }
      if (bad) this.counters.rxBad++;
      else this.counters.rxPackets++;
      r.head = r.cur = last + 1 === r.numSlots ? 0 : last + 1;
      got++;
      this.raise(SLEEP_RX, E1K_ICR_RXT0);
    }
    if (got > 0) {
      Atomics.store(this.regs, E1K_RDH, this.rdh);
      Atomics.store(this.gk, this.rxWb, this.rdh);
    }
    return got;
  }

  /**
   * Writes one fragment into the next guest RX buffer and marks its descriptor done. A bad
   * buffer address or size gets an empty descriptor (the guest sees a zero-length slot).
   */
  private receive(hidx: number, len: number, eop: boolean, spoiled: boolean): boolean {
    const d = this.d;
    const g = this.guestMem;
    const k = this.rxBase + this.rdh * E1K_DESC_WORDS;
    const addr = d[k + E1K_DESC_ADDR_LO];
    let ok = !spoiled && d[k + E1K_DESC_ADDR_HI] === 0 && len <= g.bufSize;
    if (ok) {
      const rel = addr - g.bufsOfs;
      const idx = (rel / g.bufSize) | 0;
      const h = this.hostMem;
      if (len <= HEAD_MAX && rel >= 0 && rel === idx * g.bufSize && idx < g.numBufs) {
        const cls = headClass(len);
        g.bufHead(idx, cls).set(h.bufHead(hidx, cls));
      } else if (addr >= 0 && addr <= g.sab.byteLength - len) {
        const src = h.u8;
        const dst = g.u8;
        const at = h.bufOffset(hidx);
        for (let j = 0; j < len; j++) dst[addr + j] = src[at + j];
      } else {
        ok = false;
      }
    }
    d[k + E1K_DESC_LEN] = ok ? len : 0;
    Atomics.store(d, k + E1K_DESC_STATUS, E1K_STA_DD | (eop ? E1K_RXD_STA_EOP : 0));
    this.rdh = this.rdh + 1 === this.n ? 0 : this.rdh + 1;
    return ok;
  }

  // ---- interrupts ----

  /** True unless the guest sleeps for a cause whose news is below what it asked (guest-written words: only compared). */
  private worth(): boolean {
    const v = Atomics.load(this.irqBell, BELL_SLEEP) & this.pendingWake;
    if (v === 0) return true;
    return (
      ((v & SLEEP_RX) !== 0 && this.reachedAt(this.rxKb, this.rxWb)) ||
      ((v & SLEEP_TX) !== 0 && this.reachedAt(this.txKb, this.txWb))
    );
  }

  /** The guest ring at kring block `kb` has the news it asked for (its tail in word `wb`). */
  private reachedAt(kb: number, wb: number): boolean {
    const gk = this.gk;
    return reached(Atomics.load(gk, kb + KR_EV_START), Atomics.load(gk, kb + KR_EV_WANT), Atomics.load(gk, wb), this.n);
  }

  /** A completion: an interrupt now, or held back until `moderation` causes or idleness. */
  private raise(wake: number, icr: number): void {
    this.pendingWake |= wake;
    this.pendingIcr |= icr;
    if (++this.sinceIrq >= this.moderation) this.fire(false);
  }

  /**
   * Raises the pending interrupt: ICR bits, and a wake-up if the guest waits for one.
   * Unless `force` (the device runs out of work: a flush), it is held while the guest
   * sleeps asking for more news than there is (its notify policy's event words in its own
   * kernel memory, as virtio's used_event lives in guest memory): the same rule as a
   * passthrough kloop's, so the baseline gets the same chance.
   */
  private fire(force = true): void {
    if (this.pendingWake === 0) return;
    if (!force && !this.worth()) return;
    Atomics.or(this.regs, E1K_ICR, this.pendingIcr);
    const wake = this.pendingWake;
    this.pendingWake = this.pendingIcr = this.sinceIrq = 0;
    this.counters.irqs++;
    trace(TR_IRQ);
    // The vCPU is woken only if it is halted waiting for this cause.
    wakeSleeper(this.irqBell, BELL_SLEEP, wake);
  }
}
