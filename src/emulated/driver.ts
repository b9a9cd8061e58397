/**
 * The guest's native e1000 netmap driver (netmap's em/lem txsync and rxsync): the guest
 * app's rings are the guest kernel's own, and each sync translates slots into device
 * descriptors in guest memory and rings the doorbell (writes a tail register: an MMIO
 * write, a VM exit). Descriptor i serves slot i, as in netmap's drivers.
 */
import {
  BELL_SLEEP,
  E1K_DESC_ADDR_HI,
  E1K_DESC_ADDR_LO,
  E1K_DESC_LEN,
  E1K_DESC_STATUS,
  E1K_DESC_WORDS,
  E1K_RDT,
  E1K_REGS_BYTES,
  E1K_RXD_STA_EOP,
  E1K_STA_DD,
  E1K_TDT,
  E1K_TXD_CMD_EOP,
  E1K_TXD_CMD_IFCS,
  E1K_TXD_CMD_RS,
  e1kDescBytes,
  KC_KICKS,
  NS_MOREFRAG,
  SLEEP_KICK,
} from '../../shm/layout.js';
import type { RegionViews } from '../../shm/views.js';
import { NetmapError } from '../errors.js';
import { type BaseDescriptor, registerPortType } from '../kernel/attach.js';
import { type KRing, type SyncBackend, wakeSleeper } from '../kernel/kring.js';
import { TR_DOORBELL, trace } from '../trace.js';

/**
 * The guest's own netmap port over an emulated e1000 NIC: the guest kernel's rings and
 * buffers (its memory), with the native e1000 driver as the sync backend. The driver
 * reaches the device only through descriptors in guest memory and the register file.
 */
export interface E1000GuestDescriptor extends BaseDescriptor {
  type: 'e1000';
  ifIndex: 0;
  bells: [SharedArrayBuffer];
  /** Guest memory holding the TX, then the RX descriptor ring. */
  descs: SharedArrayBuffer;
  /** The device's register file (BAR 0). */
  regs: SharedArrayBuffer;
  /** The device thread's sleep word: writing a tail register wakes it if it sleeps. */
  doorbell: SharedArrayBuffer;
}

const LEN_MASK = 0xffff;
const MOREFRAG_HI = NS_MOREFRAG << 16;
const CMD_LAST = (E1K_TXD_CMD_EOP | E1K_TXD_CMD_IFCS | E1K_TXD_CMD_RS) << 24;
const CMD_MORE = E1K_TXD_CMD_RS << 24;

/** Word index of descriptor `i` of the TX (dir 0) or RX (dir 1) ring. */
export function e1kDescWord(numSlots: number, dir: 0 | 1, i: number): number {
  return (dir * numSlots + i) * E1K_DESC_WORDS;
}

/** What both directions of the driver hold: descriptors, registers, the doorbell. */
abstract class E1000Sync implements SyncBackend {
  constructor(
    protected readonly desc: Int32Array,
    protected readonly regs: Int32Array,
    protected readonly doorbell: Int32Array,
  ) {}
  abstract sync(kr: KRing): void;

  /** Writes a tail register. The device thread is woken only if it sleeps. */
  protected ring(kr: KRing, reg: number, v: number): void {
    Atomics.store(this.regs, reg, v);
    kr.bumpCounter(KC_KICKS);
    trace(TR_DOORBELL);
    wakeSleeper(this.doorbell, BELL_SLEEP, SLEEP_KICK);
  }
}

/** em_netmap_txsync: slots [hwcur, head) become descriptors, then TDT; reclaim from TDH. */
class E1000Tx extends E1000Sync {
  sync(kr: KRing): void {
    const head = kr.rhead;
    let i = kr.hwcur;
    if (i !== head) {
      const r = kr.r;
      const w = r.i32;
      const d = this.desc;
      const n = kr.numSlots;
      let sent = 0;
      while (i !== head) {
        const s = kr.slotBase + 2 * i;
        const idx = w[s];
        const lf = w[s + 1];
        const len = lf & LEN_MASK;
        const k = i * E1K_DESC_WORDS;
        d[k + E1K_DESC_ADDR_HI] = 0;
        if (!r.validBuf(idx) || len === 0 || len > r.bufSize) {
          // A slot the guest app got wrong goes out as an empty descriptor (dropped).
          d[k + E1K_DESC_ADDR_LO] = 0;
          d[k + E1K_DESC_LEN] = CMD_LAST;
          kr.addDrops(1);
        } else {
          d[k + E1K_DESC_ADDR_LO] = r.bufOffset(idx);
          d[k + E1K_DESC_LEN] = len | ((lf & MOREFRAG_HI) !== 0 ? CMD_MORE : CMD_LAST);
          sent++;
        }
        d[k + E1K_DESC_STATUS] = 0;
        i = i + 1 === n ? 0 : i + 1;
      }
      kr.addPackets(sent);
      kr.hwcur = head;
      this.ring(kr, E1K_TDT, head);
    }
    // The device writes back its head (TDH) into the kring's peer-tail word, as e1000's
    // TX head write-back does: everything before it is done.
    kr.hwtail = kr.peerTail();
  }
}

/**
 * em_netmap_rxsync: import descriptors the device marked done (DD) as packets, then give
 * the released slots [hwcur, head) back as descriptors and write RDT = head - 1.
 */
class E1000Rx extends E1000Sync {
  constructor(
    desc: Int32Array,
    regs: Int32Array,
    doorbell: Int32Array,
    private readonly base: number,
  ) {
    super(desc, regs, doorbell);
  }

  sync(kr: KRing): void {
    const r = kr.r;
    const w = r.i32;
    const d = this.desc;
    const n = kr.numSlots;
    const b = this.base;
    const head = kr.rhead;
    let i = kr.hwcur;
    if (i !== head) {
      while (i !== head) {
        const s = kr.slotBase + 2 * i;
        const k = b + i * E1K_DESC_WORDS;
        if (r.validBuf(w[s])) {
          d[k + E1K_DESC_ADDR_LO] = r.bufOffset(w[s]);
        } else {
          // The app put a bad buffer in the slot: keep the one the descriptor had.
          w[s] = (d[k + E1K_DESC_ADDR_LO] - r.bufOffset(0)) / r.bufSize;
          kr.addDrops(1);
        }
        d[k + E1K_DESC_ADDR_HI] = 0;
        d[k + E1K_DESC_LEN] = 0;
        d[k + E1K_DESC_STATUS] = 0;
        i = i + 1 === n ? 0 : i + 1;
      }
      kr.hwcur = head;
      this.ring(kr, E1K_RDT, head === 0 ? n - 1 : head - 1);
    }
    // The device fills at most up to RDT = hwcur - 1.
    const stop = kr.hwcur === 0 ? n - 1 : kr.hwcur - 1;
    let t = kr.hwtail;
    let got = 0;
    while (t !== stop) {
      const k = b + t * E1K_DESC_WORDS;
      const st = Atomics.load(d, k + E1K_DESC_STATUS);
      if ((st & E1K_STA_DD) === 0) break;
      const s = kr.slotBase + 2 * t;
      w[s + 1] = (d[k + E1K_DESC_LEN] & LEN_MASK) | ((st & E1K_RXD_STA_EOP) === 0 ? MOREFRAG_HI : 0);
      got++;
      t = t + 1 === n ? 0 : t + 1;
    }
    kr.addPackets(got);
    kr.hwtail = t;
  }
}

/** The driver's sync backends for the guest port `desc` (TX ring 0, RX ring 1). */
function e1000Backend(desc: E1000GuestDescriptor, region: RegionViews): (id: number) => SyncBackend {
  const n = region.numSlots;
  if (!(desc.descs instanceof SharedArrayBuffer) || desc.descs.byteLength !== e1kDescBytes(n)) {
    throw new NetmapError('EINVAL', `bad e1000 guest descriptor for ${desc.name}: descriptor memory`);
  }
  if (!(desc.regs instanceof SharedArrayBuffer) || desc.regs.byteLength !== E1K_REGS_BYTES) {
    throw new NetmapError('EINVAL', `bad e1000 guest descriptor for ${desc.name}: registers`);
  }
  if (!(desc.doorbell instanceof SharedArrayBuffer) || desc.doorbell.byteLength < 4) {
    throw new NetmapError('EINVAL', `bad e1000 guest descriptor for ${desc.name}: doorbell`);
  }
  const d = new Int32Array(desc.descs);
  const regs = new Int32Array(desc.regs);
  const bell = new Int32Array(desc.doorbell);
  return (id) => (id === 0 ? new E1000Tx(d, regs, bell) : new E1000Rx(d, regs, bell, e1kDescWord(n, 1, 0)));
}

// The guest kernel's netmap knows this driver: a port of type 'e1000' attaches with it.
registerPortType('e1000', {
  bells: () => 1,
  extraKmem: () => 0,
  attach(desc, region) {
    const backend = e1000Backend(desc as E1000GuestDescriptor, region);
    return { backend };
  },
});
