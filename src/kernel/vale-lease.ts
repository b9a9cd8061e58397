/**
 * A VALE port as a destination: its memory, and the lease protocol by which senders in
 * any thread fill its RX ring at once (netmap's nm_bdg_flush): under the port's lock a
 * sender takes a lease of slots (index arithmetic only), copies outside the lock, then
 * under the lock marks its lease done and folds every done lease at the front into the
 * ring's tail, so the receiver sees packets in lease order.
 *
 * Nothing here can be held forever. The lock is a SharedLock (taken over from a holder
 * gone for LOCK_STALE_MS). A lease is committed by one store and its record says who
 * holds it (a token); a lease left unfinished at the front for LOCK_STALE_MS (its sender
 * was killed mid-copy) is revoked by the next sender that looks: its slots reach the
 * receiver empty (len 0, counted as `revoked`), and the late sender, if it was only
 * stalled, finds its token gone and counts its packets as drops instead of publishing.
 *
 * Hazard: a sender stalled (not dead) past LOCK_STALE_MS may still write into slots it
 * lost, which are the receiver's again; only bytes can be wrong then, never the kernel's
 * indices (every index read here is checked against the ring size).
 */
import {
  KR_HWCUR,
  KR_PEER_TAIL,
  SLOT_WORDS,
  VC_DROPS,
  VC_LOCK_SPINS,
  VC_REVOKED,
  VC_RX,
  VL_COUNTERS_BYTE,
  VL_LEASE,
  VL_LEASE_FIRST,
  VL_LOCK,
  VL_TOKEN,
  VLR_END,
  VLR_START,
  VLR_STATE,
  valeLeaseBytes,
  valeRecordWord,
} from '../../shm/layout.js';
import { SharedLock, StaleWatch } from '../../shm/lock.js';
import { kmemSize, kringWordBase } from '../../shm/region.js';
import { RegionViews } from '../../shm/views.js';
import { createRingPairMemory, PAIR_RX_RING, PAIR_TX_RING } from './kring.js';

export interface ValePortMemory {
  mem: SharedArrayBuffer;
  kmem: SharedArrayBuffer;
  /** The port's sleep word: senders ring it when they publish into its RX ring. */
  bell: SharedArrayBuffer;
}

/** A port's memory as the switch hands it to forwarding threads, with its serial number. */
export interface ValePortRef extends ValePortMemory {
  serial: number;
}

/** Where the lease block starts in a VALE port's kmem, in words. */
export function leaseBase(): number {
  return kmemSize(2, 1) / 4;
}

/** Where a port's counters (Float64) start in its kmem, in Float64 elements. */
export function valeCounterBase(): number {
  return (leaseBase() * 4 + VL_COUNTERS_BYTE) / 8;
}

export function createValePortMemory(numSlots: number, bufSize: number, extraBufs: number): ValePortMemory {
  const { mem, kmem, bell, km } = createRingPairMemory(numSlots, bufSize, extraBufs, valeLeaseBytes(numSlots));
  // The TX side of a VALE port never waits for a peer: it frees its slots itself.
  km.i32[kringWordBase(PAIR_TX_RING) + KR_PEER_TAIL] = numSlots - 1;
  return { mem, kmem, bell };
}

const SLOT_MASK = 0xffff;

/** A destination port as one forwarding thread sees it: views made once. */
export class DestPort {
  readonly serial: number;
  readonly r: RegionViews;
  readonly k: Int32Array;
  readonly kf: Float64Array;
  readonly rxSlots: number;
  readonly n: number;
  readonly lb: number;
  readonly cb: number;
  readonly rxKb: number;
  readonly bell: Int32Array;
  /** Set by lease(): the first slot of the lease just taken and its token. */
  leaseStart = 0;
  leaseTok = 0;
  private readonly lk: SharedLock;
  private readonly front = new StaleWatch();

  /** Throws (TypeError) if the memory is not a VALE port's; the caller treats it as absent. */
  constructor(ref: ValePortRef) {
    this.serial = ref.serial;
    this.r = RegionViews.kernel(ref.mem, ref.kmem);
    if (ref.kmem.byteLength !== kmemSize(2, 1) + valeLeaseBytes(this.r.numSlots)) {
      throw new TypeError('not a VALE port memory');
    }
    this.k = new Int32Array(ref.kmem);
    this.kf = new Float64Array(ref.kmem);
    this.rxSlots = this.r.slotWordBase(PAIR_RX_RING);
    this.n = this.r.numSlots;
    this.lb = leaseBase();
    this.cb = valeCounterBase();
    this.rxKb = kringWordBase(PAIR_RX_RING);
    this.bell = new Int32Array(ref.bell);
    this.lk = new SharedLock(this.k, this.lb + VL_LOCK);
  }

  /** Takes the port's lock; returns the token to unlock with. Waits are counted (lockSpins). */
  lock(): number {
    const spins = this.lk.spins;
    const tok = this.lk.lock();
    if (this.lk.spins !== spins) this.kf[this.cb + VC_LOCK_SPINS] += this.lk.spins - spins;
    return tok;
  }
  unlock(tok: number): void {
    this.lk.unlock(tok);
  }

  /** Under the lock: free slots in the RX ring past the last lease (folding stuck leases if short of `need`). */
  room(need: number): number {
    let room = this.freeSlots();
    if (room < need) {
      // A lease stuck at the front holds the tail back: revoke it if it is stale.
      this.fold();
      room = this.freeSlots();
    }
    return room;
  }

  private freeSlots(): number {
    const n = this.n;
    const hwlease = this.k[this.lb + VL_LEASE] & SLOT_MASK;
    const hwcur = Atomics.load(this.k, this.rxKb + KR_HWCUR);
    if (hwlease >= n || hwcur >>> 0 >= n) return 0;
    let room = hwcur - 1 - hwlease;
    if (room < 0) room += n;
    return room;
  }

  /**
   * Under the lock: leases `got` slots (room checked by the caller); sets leaseStart and
   * leaseTok and returns the record index. One store commits it.
   */
  lease(got: number): number {
    const k = this.k;
    const lb = this.lb;
    const n = this.n;
    const packed = k[lb + VL_LEASE];
    const start = packed & SLOT_MASK;
    const rec = packed >>> 16;
    let tok = k[lb + VL_TOKEN] + 1;
    if (tok <= 0) tok = 1;
    k[lb + VL_TOKEN] = tok;
    let end = start + got;
    if (end >= n) end -= n;
    k[lb + valeRecordWord(n, VLR_STATE, rec)] = tok;
    k[lb + valeRecordWord(n, VLR_START, rec)] = start;
    k[lb + valeRecordWord(n, VLR_END, rec)] = end;
    const next = rec + 1 === n ? 0 : rec + 1;
    k[lb + VL_LEASE] = end | (next << 16);
    this.leaseStart = start;
    this.leaseTok = tok;
    return rec;
  }

  /**
   * Under the lock: marks lease `rec` done if it is still ours (true), counts `sent`
   * delivered and `lost` dropped, and folds done leases into the tail. Returns true when
   * the tail moved (the receiver may need a wake-up).
   */
  complete(rec: number, tok: number, sent: number, lost: number): boolean {
    const f = this.kf;
    if (rec >= 0) {
      const w = this.lb + valeRecordWord(this.n, VLR_STATE, rec);
      if (this.k[w] === tok) {
        this.k[w] = 0;
      } else {
        // Revoked while we copied (we were presumed dead): our packets count as lost.
        lost += sent;
        sent = 0;
      }
    }
    f[this.cb + VC_RX] += sent;
    f[this.cb + VC_DROPS] += lost;
    return this.fold();
  }

  /**
   * Under the lock: folds every done lease at the front into the RX tail; a lease stuck
   * at the front for LOCK_STALE_MS is revoked first. True when the tail moved.
   */
  fold(): boolean {
    const k = this.k;
    const lb = this.lb;
    const n = this.n;
    let first = k[lb + VL_LEASE_FIRST];
    const last = k[lb + VL_LEASE] >>> 16;
    if (first >>> 0 >= n || last >= n) return false;
    let tail = -1;
    while (first !== last) {
      const st = k[lb + valeRecordWord(n, VLR_STATE, first)];
      if (st > 0) {
        if (!this.front.stale(st)) break;
        this.revoke(first);
      }
      const e = k[lb + valeRecordWord(n, VLR_END, first)];
      if (e >>> 0 < n) tail = e;
      first = first + 1 === n ? 0 : first + 1;
    }
    if (tail < 0) return false;
    k[lb + VL_LEASE_FIRST] = first;
    Atomics.store(k, this.rxKb + KR_PEER_TAIL, tail);
    return true;
  }

  /**
   * Without the lock (a hint): true when the lease at the front has had the same holder
   * for LOCK_STALE_MS as seen from here, so a fold would revoke it. Two loads when no
   * lease is pending; a clock read while one is.
   */
  frontStale(): boolean {
    const k = this.k;
    const first = k[this.lb + VL_LEASE_FIRST];
    if (first === k[this.lb + VL_LEASE] >>> 16 || first >>> 0 >= this.n) return false;
    const st = k[this.lb + valeRecordWord(this.n, VLR_STATE, first)];
    return st > 0 && this.front.stale(st);
  }

  /** Hands the slots of a dead sender's lease to the receiver empty. */
  private revoke(rec: number): void {
    const k = this.k;
    const n = this.n;
    const d = this.r.i32;
    const start = k[this.lb + valeRecordWord(n, VLR_START, rec)];
    const end = k[this.lb + valeRecordWord(n, VLR_END, rec)];
    if (start >>> 0 < n && end >>> 0 < n) {
      for (let j = start; j !== end; j = j + 1 === n ? 0 : j + 1) d[this.rxSlots + SLOT_WORDS * j + 1] = 0;
    }
    k[this.lb + valeRecordWord(n, VLR_STATE, rec)] = 0;
    this.kf[this.cb + VC_REVOKED]++;
  }

  /** Counts `n` packets lost at this port (under the lock: other senders count here too). */
  addDrops(n: number): void {
    const tok = this.lock();
    this.kf[this.cb + VC_DROPS] += n;
    this.unlock(tok);
  }
}
