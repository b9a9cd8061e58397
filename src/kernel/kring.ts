/**
 * The kernel side of one ring: private state (hwcur, hwtail, rhead, rcur) that the
 * user cannot write, the sync validation every port type shares, counters, and the
 * "wake the peer only if it sleeps" notification.
 */
import {
  DIR_RX,
  DIR_TX,
  KC_COUNT,
  KC_DROPS,
  KC_ERRORS,
  KC_NOTIFIES,
  KC_PACKETS,
  KC_SYNCS,
  KR_BUSY,
  KR_HWCUR,
  KR_HWTAIL,
  KR_PEER_TAIL,
  SLOT_WORDS,
} from '../../shm/layout.js';
import { SharedLock } from '../../shm/lock.js';
import { createBell, createPortMemory, kringCounterBase, kringWordBase } from '../../shm/region.js';
import type { RegionViews } from '../../shm/views.js';
import { log, shouldLog } from '../log.js';
import { TR_NOTIFY, trace } from '../trace.js';
import { wakeIfWorth } from './notify.js';

/** Kernel-private memory of a region, with its views made once, and its interfaces' bells. */
export class KernelMem {
  readonly sab: SharedArrayBuffer;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly numRings: number;
  /** The sleep word of each interface, by interface index (BELL_SLEEP in each). */
  readonly bells: Int32Array[];
  constructor(sab: SharedArrayBuffer, numRings: number, bells: readonly SharedArrayBuffer[]) {
    this.sab = sab;
    this.i32 = new Int32Array(sab);
    this.f64 = new Float64Array(sab);
    this.numRings = numRings;
    this.bells = bells.map((b) => new Int32Array(b));
  }
}

/** What a port type adds to a kring: the body of txsync/rxsync. */
export interface SyncBackend {
  /** Moves slots [hwcur, rhead) and refreshes hwtail. Never throws on ring contents. */
  sync(kr: KRing): void;
  /** A TX ring's user is about to sleep: wake its consumer for any news, whatever it asked. */
  flush?(kr: KRing): void;
}

export class KRing {
  readonly id: number;
  readonly tx: boolean;
  readonly numSlots: number;
  readonly name: string;
  readonly r: RegionViews;
  readonly km: KernelMem;
  /** Word index of the ring header in r.i32. */
  readonly hdr: number;
  /** Index of slot 0 in r.u32. */
  readonly slotBase: number;
  /** Word index of this kring's block in km.i32, and of its counters in km.f64. */
  readonly kb: number;
  readonly cb: number;
  hwcur: number;
  hwtail: number;
  /** Head and cur accepted at the last sync. */
  rhead: number;
  rcur: number;
  backend: SyncBackend | null = null;
  /** One sync at a time on this ring, whoever holds the port (netmap's nm_kr_tryget). */
  private readonly busy: SharedLock;

  constructor(r: RegionViews, km: KernelMem, id: number, name: string) {
    this.r = r;
    this.km = km;
    this.id = id;
    this.name = name;
    // Geometry from the kernel's copy: nothing here is read from the user's ring header.
    this.hdr = r.ringWordBase(id);
    this.numSlots = r.numSlots;
    this.tx = r.geometry.dirs[id] === DIR_TX;
    this.slotBase = r.slotWordBase(id);
    this.kb = kringWordBase(id);
    this.cb = kringCounterBase(id);
    this.hwcur = 0;
    this.hwtail = 0;
    this.load();
    this.rhead = this.rcur = this.hwcur;
    this.busy = new SharedLock(km.i32, this.kb + KR_BUSY);
  }

  /**
   * Takes the ring for one sync and picks up the state the last sync saved (another user
   * of the port may have synced since): a token, or 0 while another sync runs (skip the
   * ring, as netmap does). A holder gone for good is taken over after LOCK_STALE_MS.
   */
  tryGet(): number {
    const tok = this.busy.tryLock();
    if (tok !== 0) this.load();
    return tok;
  }
  /** Gives the ring back after a sync (its state saved first). */
  put(tok: number): void {
    this.busy.unlock(tok);
  }

  /** Reads the saved state (always in range: only the kernel writes it). */
  load(): void {
    const cur = this.km.i32[this.kb + KR_HWCUR];
    const tail = this.km.i32[this.kb + KR_HWTAIL];
    this.hwcur = cur >>> 0 < this.numSlots ? cur : 0;
    this.hwtail = tail >>> 0 < this.numSlots ? tail : 0;
  }

  /**
   * netmap's sync prologue, stricter: accept (head, cur) only if every index is in the
   * ring and hwcur <= head <= cur <= hwtail going forward from hwcur. On a violation
   * nothing is accepted and the caller resets the ring.
   */
  accept(head: number, cur: number): boolean {
    const n = this.numSlots;
    if (head >>> 0 >= n || cur >>> 0 >= n) return false;
    const base = this.hwcur;
    let dh = head - base;
    if (dh < 0) dh += n;
    let dc = cur - base;
    if (dc < 0) dc += n;
    let dt = this.hwtail - base;
    if (dt < 0) dt += n;
    if (dh > dc || dc > dt) return false;
    this.rhead = head;
    this.rcur = cur;
    return true;
  }

  /** Counts a rejected sync and logs it (rate-limited: a hostile user must not flood). */
  reject(head: number, cur: number, tail: number): void {
    const n = ++this.km.f64[this.cb + KC_ERRORS];
    if (shouldLog(n)) {
      log().warn(
        { ring: this.name, head, cur, tail, hwcur: this.hwcur, hwtail: this.hwtail, errors: n },
        'bad ring indices: ring reset',
      );
    }
  }

  /** Runs the port type's sync on the accepted head; counts it. */
  sync(): void {
    this.km.f64[this.cb + KC_SYNCS]++;
    (this.backend as SyncBackend).sync(this);
  }

  /** Saves the private state where another thread could take the ring over. */
  save(): void {
    this.km.i32[this.kb + KR_HWCUR] = this.hwcur;
    this.km.i32[this.kb + KR_HWTAIL] = this.hwtail;
  }

  /** Reads the tail the peer published for us (always < numSlots, whatever is there). */
  peerTail(): number {
    const t = Atomics.load(this.km.i32, this.kb + KR_PEER_TAIL);
    return t >>> 0 < this.numSlots ? t : this.hwtail;
  }

  /** True when the peer published a tail we have not picked up yet. */
  peerMoved(): boolean {
    return Atomics.load(this.km.i32, this.kb + KR_PEER_TAIL) !== this.hwtail;
  }

  addPackets(n: number): void {
    this.km.f64[this.cb + KC_PACKETS] += n;
  }
  addDrops(n: number): void {
    this.km.f64[this.cb + KC_DROPS] += n;
  }

  /**
   * Wakes the owner of interface `ifIndex` if it sleeps waiting for `bit` and the news
   * (its ring, kring block `peerKb`, whose tail is now `now`) is worth what it asked; with
   * `force`, for any news (a flush). The only place a sync calls Atomics.notify: never
   * when the peer is awake.
   */
  wake(ifIndex: number, bit: number, peerKb: number, now: number, force = false): void {
    if (wakeIfWorth(this.km.bells[ifIndex], bit, this.km.i32, peerKb, now, this.numSlots, force)) {
      this.km.f64[this.cb + KC_NOTIFIES]++;
      trace(TR_NOTIFY);
    }
  }

  /** This ring's user is about to sleep: the backend wakes its consumer for any news. */
  flush(): void {
    this.backend?.flush?.(this);
  }

  /** Counts a wake-up sent to a sleeper outside this kring's memory (VALE destinations). */
  bumpNotify(): void {
    this.km.f64[this.cb + KC_NOTIFIES]++;
    trace(TR_NOTIFY);
  }

  counter(k: number): number {
    return this.km.f64[this.cb + k];
  }
  bumpCounter(k: number): void {
    this.km.f64[this.cb + k]++;
  }
  counters(): Float64Array {
    return this.km.f64.slice(this.cb, this.cb + KC_COUNT);
  }

  /** u32 index of slot k's buf_idx word. */
  slotIndex(k: number): number {
    return this.slotBase + k * SLOT_WORDS;
  }
}

/**
 * If the sleep word says its owner waits for `bit`, clears it and notifies. Returns true
 * when a notify was sent. One load when nobody sleeps.
 */
export function wakeSleeper(i32: Int32Array, word: number, bit: number): boolean {
  for (;;) {
    const v = Atomics.load(i32, word);
    if ((v & bit) === 0) return false;
    if (Atomics.compareExchange(i32, word, v, 0) === v) {
      Atomics.notify(i32, word);
      return true;
    }
  }
}

/** Initial kernel state for a ring: netmap's TX hwcur 0 / hwtail N-1, RX 0 / 0. */
export function initKring(km: KernelMem, id: number, tx: boolean, numSlots: number): void {
  const kb = kringWordBase(id);
  const tail = tx ? numSlots - 1 : 0;
  km.i32[kb + KR_HWCUR] = 0;
  km.i32[kb + KR_HWTAIL] = tail;
  km.i32[kb + KR_PEER_TAIL] = tail;
}

/** Ring ids of a one-interface region with one TX and one RX ring (its own buffers). */
export const PAIR_TX_RING = 0;
export const PAIR_RX_RING = 1;

/**
 * Memory of an interface with one TX and one RX ring of its own (a VALE port, an emulated
 * NIC guest's netmap): region, kernel memory (plus `extraKmem` bytes for the port type),
 * krings in netmap's initial state, and a bell.
 */
export function createRingPairMemory(
  numSlots: number,
  bufSize: number,
  extraBufs: number,
  extraKmem: number,
): { mem: SharedArrayBuffer; kmem: SharedArrayBuffer; bell: SharedArrayBuffer; km: KernelMem } {
  const { mem, kmem } = createPortMemory(
    { rings: [DIR_TX, DIR_RX], numSlots, bufSize, ifs: [{ tx: [PAIR_TX_RING], rx: [PAIR_RX_RING] }], extraBufs },
    extraKmem,
  );
  const km = new KernelMem(kmem, 2, []);
  initKring(km, PAIR_TX_RING, true, numSlots);
  initKring(km, PAIR_RX_RING, false, numSlots);
  return { mem, kmem, bell: createBell(), km };
}
