/**
 * The CSB (communication status block) of a passed-through port: per ring an atok line
 * the guest writes (head, cur, appl_need_kick) and a ktoa line the host kloop writes
 * (hwcur, hwtail, kern_need_kick), then the irq word the guest sleeps on. Entries are
 * the interface's TX rings, then its RX rings.
 */
import {
  ATOK_APPL_EV_START,
  ATOK_APPL_EV_WANT,
  ATOK_APPL_NEED_KICK,
  ATOK_CUR,
  ATOK_HEAD,
  CSB_KTOA,
  csbBytes,
  csbEntryWord,
  csbIrqWord,
  KTOA_HWCUR,
  KTOA_HWTAIL,
  KTOA_KERN_EV_START,
  KTOA_KERN_EV_WANT,
  KTOA_KERN_NEED_KICK,
} from '../../shm/layout.js';
import { NetmapError } from '../errors.js';

/**
 * The CSB (communication status block) of a passed-through port: per ring an atok line
 * (guest-written) and a ktoa line (host-written), then the irq word.
 */
export class Csb {
  readonly sab: SharedArrayBuffer;
  readonly i32: Int32Array;
  readonly numRings: number;
  /** Word index of the irq word (host -> guest interrupts). */
  readonly irq: number;

  constructor(sab: SharedArrayBuffer, numRings: number) {
    if (!(sab instanceof SharedArrayBuffer) || sab.byteLength !== csbBytes(numRings)) {
      throw new NetmapError('EINVAL', `a CSB for ${numRings} rings is ${csbBytes(numRings)} bytes`);
    }
    this.sab = sab;
    this.i32 = new Int32Array(sab);
    this.numRings = numRings;
    this.irq = csbIrqWord(numRings);
  }

  static create(numRings: number): Csb {
    return new Csb(new SharedArrayBuffer(csbBytes(numRings)), numRings);
  }

  // Word indices of entry `e`'s fields.
  head(e: number): number {
    return csbEntryWord(e) + ATOK_HEAD;
  }
  cur(e: number): number {
    return csbEntryWord(e) + ATOK_CUR;
  }
  applNeedKick(e: number): number {
    return csbEntryWord(e) + ATOK_APPL_NEED_KICK;
  }
  applEvStart(e: number): number {
    return csbEntryWord(e) + ATOK_APPL_EV_START;
  }
  applEvWant(e: number): number {
    return csbEntryWord(e) + ATOK_APPL_EV_WANT;
  }
  kernEvStart(e: number): number {
    return csbEntryWord(e) + CSB_KTOA + KTOA_KERN_EV_START;
  }
  kernEvWant(e: number): number {
    return csbEntryWord(e) + CSB_KTOA + KTOA_KERN_EV_WANT;
  }
  hwcur(e: number): number {
    return csbEntryWord(e) + CSB_KTOA + KTOA_HWCUR;
  }
  hwtail(e: number): number {
    return csbEntryWord(e) + CSB_KTOA + KTOA_HWTAIL;
  }
  kernNeedKick(e: number): number {
    return csbEntryWord(e) + CSB_KTOA + KTOA_KERN_NEED_KICK;
  }
}
