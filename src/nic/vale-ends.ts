/**
 * A VALE port the NIC is attached to (netmap's vale-ctl -a) as the ends of its wire's
 * lanes: frames from the wire enter the switch through the port's TX ring (its txsync
 * forwards them), frames the switch delivers to the port leave on the wire. The wire is
 * the port's only user (an exclusive attach).
 */
import {
  BELL_SLEEP,
  KR_EV_START,
  KR_EV_WANT,
  NICC_RX_BYTES,
  NICC_RX_FRAMES,
  NICC_RX_MISSED,
  NICC_RX_TOO_LONG,
  NICC_TX_BYTES,
  NICC_TX_FRAMES,
  SLEEP_RX,
  SLOT_WORDS,
} from '../../shm/layout.js';
import { kringWordBase } from '../../shm/region.js';
import type { RegionViews } from '../../shm/views.js';
import { KernelPort } from '../kernel/attach.js';
import { PAIR_RX_RING } from '../kernel/kring.js';
import type { ValeDescriptor } from '../kernel/vale.js';
import { copyBytes, LEN_MASK, MOREFRAG_HI, type NicHw, NicView } from './nic-ends.js';
import type { WireSink, WireSource } from './wire.js';

/**
 * A VALE port the wire holds alone (the NIC attached to a switch, netmap's vale-ctl -a):
 * one attach for both directions, released when both ends are closed.
 */
export class ValePortView {
  readonly port: KernelPort;
  readonly r: RegionViews;
  readonly n: number;
  private users = 2;
  constructor(desc: ValeDescriptor) {
    this.port = new KernelPort(desc, { exclusive: true });
    this.r = this.port.region;
    this.n = this.r.numSlots;
  }
  /** One of the two ends is done; the port goes with the second. */
  close(): void {
    if (--this.users === 0) this.port.release();
  }
}

/** The two ends of a lane pair over a VALE port: frames out of the switch, frames into it. */
export function valeEnds(desc: ValeDescriptor, hw: NicHw): { src: ValeRxSource; sink: ValeTxSink } {
  const v = new ValePortView(desc);
  return { src: new ValeRxSource(v, desc, hw), sink: new ValeTxSink(v, hw) };
}

/** Frames from the wire into the switch: written into the VALE port's TX ring, forwarded by its txsync. */
export class ValeTxSink implements WireSink {
  private readonly p: ValePortView;
  private readonly nic: NicView;
  /** The next slot to fill (the port's head once synced). */
  private head: number;

  constructor(p: ValePortView, hw: NicHw) {
    this.p = p;
    this.nic = new NicView(hw);
    this.head = this.p.port.txk[0].hwcur;
  }

  private free(): number {
    let d = this.p.port.txk[0].hwtail - this.head;
    if (d < 0) d += this.p.n;
    return d;
  }

  room(len: number): boolean {
    const frags = Math.ceil(len / this.p.r.bufSize) || 1;
    if (frags > this.p.n - 1) {
      this.nic.f[this.nic.cb + NICC_RX_TOO_LONG]++;
      return false;
    }
    if (this.free() >= frags) return true;
    this.publish();
    return this.free() >= frags;
  }

  put(src: WireSource, len: number): void {
    const r = this.p.r;
    const kr = this.p.port.txk[0];
    let from = 0;
    do {
      const c = Math.min(len - from, r.bufSize);
      const s = kr.slotBase + SLOT_WORDS * this.head;
      src.read(r.u8, r.i32, r.bufOffset(r.u32[s]), from, c);
      from += c;
      r.u32[s + 1] = c | (from < len ? MOREFRAG_HI : 0);
      if (++this.head === this.p.n) this.head = 0;
    } while (from < len);
    this.nic.f[this.nic.cb + NICC_RX_FRAMES]++;
    this.nic.f[this.nic.cb + NICC_RX_BYTES] += len;
  }

  miss(): void {
    this.nic.f[this.nic.cb + NICC_RX_MISSED]++;
  }

  /** txsync: the switch forwards what was written (the wire is this port's only user). */
  publish(): void {
    const kr = this.p.port.txk[0];
    if (!kr.accept(this.head, this.head)) return;
    kr.sync();
    kr.save();
  }

  close(): void {
    this.p.close();
  }
}

/** Frames the switch delivered to the NIC's port, leaving on the wire. */
export class ValeRxSource implements WireSource {
  private readonly p: ValePortView;
  private readonly nic: NicView;
  private readonly bell: Int32Array;
  private readonly kb = kringWordBase(PAIR_RX_RING);
  private pos: number;
  private end = 0;
  private len = 0;

  constructor(p: ValePortView, desc: ValeDescriptor, hw: NicHw) {
    this.p = p;
    this.nic = new NicView(hw);
    this.bell = new Int32Array(desc.bells[0]);
    this.pos = this.p.port.rxk[0].hwcur;
  }

  /** rxsync: gives back what was sent and picks up what the switch delivered. */
  private sync(): void {
    const kr = this.p.port.rxk[0];
    if (!kr.accept(this.pos, this.pos)) return;
    kr.sync();
    kr.save();
  }

  next(): number {
    const kr = this.p.port.rxk[0];
    if (this.pos === kr.hwtail) {
      this.sync();
      if (this.pos === kr.hwtail) return -1;
    }
    const w = this.p.r.u32;
    let i = this.pos;
    let len = 0;
    for (;;) {
      const lf = w[kr.slotBase + SLOT_WORDS * i + 1];
      len += lf & LEN_MASK;
      if (++i === this.p.n) i = 0;
      // The switch delivers whole chains: a chain cut at the tail ends there.
      if ((lf & MOREFRAG_HI) === 0 || i === kr.hwtail) break;
    }
    this.end = i;
    this.len = len;
    if (len === 0) {
      // An empty slot (a revoked lease): nothing to send.
      this.pos = i;
      return this.next();
    }
    return len;
  }

  read(dst: Uint8Array, di: Int32Array, off: number, from: number, len: number): void {
    const r = this.p.r;
    const kr = this.p.port.rxk[0];
    let i = this.pos;
    let pos = 0;
    let d = off;
    let left = len;
    while (left > 0) {
      const s = kr.slotBase + SLOT_WORDS * i;
      const flen = r.u32[s + 1] & LEN_MASK;
      if (from < pos + flen) {
        const skip = from > pos ? from - pos : 0;
        const c = Math.min(flen - skip, left);
        copyBytes(r.u8, r.i32, r.bufOffset(r.u32[s]) + skip, dst, di, d, c);
        d += c;
        left -= c;
      }
      pos += flen;
      if (++i === this.p.n) i = 0;
      if (i === this.end) break;
    }
  }

  origLen(): number {
    return this.len;
  }

  done(): void {
    this.nic.f[this.nic.cb + NICC_TX_FRAMES]++;
    this.nic.f[this.nic.cb + NICC_TX_BYTES] += this.len;
    this.pos = this.end;
  }

  publish(): void {
    this.sync();
  }

  armSleep(): boolean {
    const kr = this.p.port.rxk[0];
    const k = this.p.port.km.i32;
    Atomics.store(k, this.kb + KR_EV_START, kr.hwtail);
    Atomics.store(k, this.kb + KR_EV_WANT, 1);
    Atomics.or(this.bell, BELL_SLEEP, SLEEP_RX);
    if (kr.peerMoved()) {
      this.disarmSleep();
      return false;
    }
    return true;
  }
  sleepArray(): Int32Array {
    return this.bell;
  }
  sleepIndex(): number {
    return BELL_SLEEP;
  }
  sleepValue(): number {
    return Atomics.load(this.bell, BELL_SLEEP);
  }
  disarmSleep(): void {
    Atomics.and(this.bell, BELL_SLEEP, ~SLEEP_RX);
  }

  close(): void {
    this.p.close();
  }
}
