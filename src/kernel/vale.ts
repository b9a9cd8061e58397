/**
 * VALE: a learning software switch. Each port has its own region (so packets are always
 * copied and ports stay isolated). Forwarding runs in the sender's txsync: pass 1 looks
 * every packet up in the learning table, pass 2 takes a lease of slots in each
 * destination RX ring under a short lock, copies outside the lock, then completes the
 * lease; a destination's tail moves only over completed leases, in lease order.
 *
 * The kernel side of a thread learns about the switch's ports through a
 * BroadcastChannel read synchronously (receiveMessageOnPort): the ports' memory never
 * passes through the user's hands, and a busy sender never needs its event loop.
 */
import { BroadcastChannel, type MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import {
  BELL_SLEEP,
  KR_HWCUR,
  KR_PEER_TAIL,
  NS_BUF_CHANGED,
  NS_MOREFRAG,
  SLEEP_RX,
  SLOT_WORDS,
  SW_BYTES,
  SW_CLOSED,
  SW_GENERATION,
  SW_LEARN,
  SW_LEARN_ENTRIES,
  SW_MAGIC,
  SW_MAGIC_WORD,
  SW_PORTS,
  VALE_COUNTER_NAMES,
  VALE_MAX_PORTS,
  VC_BAD,
  VC_DROPS,
  VC_FLOODS,
  VC_LOCK_SPINS,
  VC_RX,
  VC_TX,
  VL_COUNTERS_BYTE,
  VL_HWLEASE,
  VL_LEASE_FIRST,
  VL_LEASE_IDX,
  VL_LEASES,
  VL_LOCK,
  valeLeaseBytes,
} from '../../shm/layout.js';
import { kmemSize, kringWordBase } from '../../shm/region.js';
import { copyFrame, RegionViews } from '../../shm/views.js';
import { NetmapError } from '../errors.js';
import {
  createRingPairMemory,
  type KRing,
  PAIR_RX_RING,
  PAIR_TX_RING,
  type SyncBackend,
  wakeSleeper,
} from './kring.js';

const TX_RING = PAIR_TX_RING;
const RX_RING = PAIR_RX_RING;
const ETH_MIN = 14;
const ALL_PORTS = -2;

export interface ValePortMemory {
  mem: SharedArrayBuffer;
  kmem: SharedArrayBuffer;
  /** The port's sleep word: senders ring it when they publish into its RX ring. */
  bell: SharedArrayBuffer;
}

/** Where the lease block starts in a VALE port's kmem, in words. */
function leaseBase(): number {
  return kmemSize(2, 1) / 4;
}

export function createValePortMemory(numSlots: number, bufSize: number, extraBufs: number): ValePortMemory {
  const { mem, kmem, bell, km } = createRingPairMemory(numSlots, bufSize, extraBufs, valeLeaseBytes(numSlots));
  // The TX side of a VALE port never waits for a peer: it frees its slots itself.
  km.i32[kringWordBase(TX_RING) + KR_PEER_TAIL] = numSlots - 1;
  const lb = leaseBase();
  km.i32.fill(-1, lb + VL_LEASES, lb + VL_LEASES + numSlots);
  return { mem, kmem, bell };
}

/** The sizes a VALE port is made with. */
export interface ValePortSizes {
  ringSize: number;
  bufSize: number;
  extraBufs: number;
}

/** A port as the namespace keeps it: its memory, name and the sizes it was made with. */
export interface ValePortEntry extends ValePortMemory {
  name: string;
  ringSize: number;
  bufSize: number;
}

export function createSwitchMemory(): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(SW_BYTES);
  new Int32Array(sab)[SW_MAGIC_WORD] = SW_MAGIC;
  return sab;
}

/**
 * A message on a switch's channel: the whole port table, a thread asking for it, or a
 * thread saying it closed a port (the namespace then drops it at once).
 */
type ChannelMsg =
  | { kind: 'table'; gen: number; ports: Array<ValePortMemory | null> }
  | { kind: 'hello' }
  | { kind: 'bye' };

/** A destination port as a forwarding thread sees it: views made once. */
class PortView {
  readonly r: RegionViews;
  readonly k: Int32Array;
  readonly kf: Float64Array;
  readonly rxSlots: number;
  readonly n: number;
  readonly lb: number; // lease block word base
  readonly cb: number; // counters index in kf
  readonly rxKb: number;
  readonly bell: Int32Array;
  constructor(readonly pm: ValePortMemory) {
    this.r = new RegionViews(pm.mem);
    this.k = new Int32Array(pm.kmem);
    this.kf = new Float64Array(pm.kmem);
    this.rxSlots = this.r.slotWordBase(RX_RING);
    this.n = this.r.numSlots;
    this.lb = leaseBase();
    this.cb = (this.lb * 4 + VL_COUNTERS_BYTE) / 8;
    this.rxKb = kringWordBase(RX_RING);
    this.bell = new Int32Array(pm.bell);
  }
  lock(): void {
    const k = this.k;
    const w = this.lb + VL_LOCK;
    // The lock is held for a few loads and stores: spin, don't sleep; count the spins
    // (once we hold it) so contention between senders shows in the counters.
    let spins = 0;
    while (Atomics.compareExchange(k, w, 0, 1) !== 0) spins++;
    if (spins > 0) this.kf[this.cb + VC_LOCK_SPINS] += spins;
  }
  unlock(): void {
    Atomics.store(this.k, this.lb + VL_LOCK, 0);
  }
}

/**
 * One thread's view of a switch: the switch memory and the ports it has been told of.
 * Kept per thread and per switch, shared by every port of that switch in the thread.
 */
export class SwitchView {
  readonly sw: Int32Array;
  gen = -1;
  ports: Array<PortView | null> = new Array(VALE_MAX_PORTS).fill(null);
  /** Highest port index + 1 worth looking at. */
  top = 0;
  /** Ports of this thread attached through this view: the last one to go closes it. */
  users = 0;
  private readonly channel: BroadcastChannel;
  private readonly views = new Map<SharedArrayBuffer, PortView>();
  /** The newest table not applied yet, however it arrived (read here or by the event loop). */
  private pending: { gen: number; ports: Array<ValePortMemory | null> } | null = null;

  constructor(
    readonly id: string,
    swmem: SharedArrayBuffer,
  ) {
    if (swmem.byteLength !== SW_BYTES || new Int32Array(swmem)[SW_MAGIC_WORD] !== SW_MAGIC) {
      throw new NetmapError('EINVAL', 'not a VALE switch memory');
    }
    this.sw = new Int32Array(swmem);
    this.channel = new BroadcastChannel(channelName(id));
    this.channel.unref();
    // A thread whose event loop runs (an async app, pollAsync) gets the messages as
    // events: without a listener they would be dropped and the table never updated.
    this.channel.onmessage = (e: unknown) => this.take((e as { data: ChannelMsg }).data);
  }

  /** Picks up port changes: one load when there are none. */
  refresh(): void {
    if (Atomics.load(this.sw, SW_GENERATION) === this.gen) return;
    for (let m = receive(this.channel); m !== undefined; m = receive(this.channel)) this.take(m.message as ChannelMsg);
    const t = this.pending;
    if (t !== null) {
      this.pending = null;
      if (t.gen > this.gen) this.apply(t.gen, t.ports);
    }
  }

  /** Keeps a table message if it is newer than anything seen (tables are whole, the newest wins). */
  private take(msg: ChannelMsg | undefined): void {
    if (msg?.kind !== 'table' || msg.gen <= this.gen) return;
    if (this.pending === null || msg.gen > this.pending.gen) this.pending = msg;
  }

  /** Waits (blocking) for the namespace to send the table: used once, when a thread attaches. */
  fetch(timeoutMs: number): void {
    const want = Atomics.load(this.sw, SW_GENERATION);
    this.channel.postMessage({ kind: 'hello' } satisfies ChannelMsg);
    const end = performance.now() + timeoutMs;
    const nap = new Int32Array(new SharedArrayBuffer(4));
    while (this.gen < want) {
      this.refresh();
      if (this.gen >= want) return;
      if (performance.now() > end) {
        throw new NetmapError(
          'ENOENT',
          `VALE switch ${this.id}: its namespace did not answer (is its thread blocked?)`,
        );
      }
      Atomics.wait(nap, 0, 0, 1);
    }
  }

  apply(gen: number, table: Array<ValePortMemory | null>): void {
    let top = 0;
    for (let i = 0; i < VALE_MAX_PORTS; i++) {
      const pm = table[i] ?? null;
      if (pm === null) {
        this.ports[i] = null;
        continue;
      }
      let v = this.views.get(pm.mem);
      if (v === undefined) {
        v = new PortView(pm);
        this.views.set(pm.mem, v);
      }
      this.ports[i] = v;
      top = i + 1;
    }
    for (const [mem, v] of this.views) if (!table.some((p) => p?.mem === mem)) this.views.delete(v.pm.mem);
    this.top = top;
    this.gen = gen;
  }

  /** Nothing attaches to a switch whose namespace closed: nobody keeps its port table. */
  checkOpen(portName: string): void {
    if (Atomics.load(this.sw, SW_CLOSED) !== 0) {
      throw new NetmapError('ENOENT', `${portName}: its VALE switch was closed with its namespace (Netmap.close())`);
    }
  }

  /** Tells the namespace (in whatever thread) that a port of this thread was closed. */
  bye(): void {
    this.channel.postMessage({ kind: 'bye' } satisfies ChannelMsg);
  }

  close(): void {
    this.channel.close();
  }
}

/** Node reads a BroadcastChannel synchronously too (its types only say MessagePort). */
function receive(ch: BroadcastChannel): { message: unknown } | undefined {
  return receiveMessageOnPort(ch as unknown as MessagePort);
}

export function channelName(switchId: string): string {
  return `sabnetmap:vale:${switchId}`;
}

/** Per-thread registry of switch views, kept while a port of the thread uses one. */
const views = new Map<string, SwitchView>();
/** Switches whose namespace lives in this thread: their table is read directly. */
const local = new Map<string, ValeSwitch>();

/**
 * The thread's view of switch `id`, for port `portName` attaching; the port gives it back
 * with dropSwitchView (releaseValePort does) so that a view, its channel and the ports'
 * memory it holds do not outlive the thread's last port of the switch.
 */
export function switchView(id: string, swmem: SharedArrayBuffer, portName: string): SwitchView {
  let v = views.get(id);
  if (v === undefined) {
    v = new SwitchView(id, swmem);
    try {
      v.checkOpen(portName);
      const owner = local.get(id);
      if (owner) v.apply(owner.generation(), owner.table());
      else v.fetch(5000);
    } catch (e) {
      v.close();
      throw e;
    }
    views.set(id, v);
  } else {
    v.checkOpen(portName);
  }
  v.users++;
  return v;
}

/** A port of this thread stopped using switch `id` (closed, or failed to attach). */
export function dropSwitchView(id: string): void {
  const v = views.get(id);
  if (v === undefined || --v.users > 0) return;
  views.delete(id);
  v.close();
}

let nextSwitchId = 0;

/**
 * The namespace side of a switch: creates and removes ports, keeps the table, and
 * answers threads that ask for it. Lives in the thread that owns the Netmap namespace.
 */
export class ValeSwitch {
  readonly name: string;
  readonly id: string;
  readonly swmem = createSwitchMemory();
  private readonly sw = new Int32Array(this.swmem);
  private readonly ports: Array<ValePortEntry | null> = new Array(VALE_MAX_PORTS).fill(null);
  private readonly channel: BroadcastChannel;

  constructor(name: string) {
    this.name = name;
    this.id = `${process.pid}.${Date.now().toString(36)}.${nextSwitchId++}.${name}`;
    this.channel = new BroadcastChannel(channelName(this.id));
    this.channel.unref();
    this.channel.onmessage = (e: unknown) => {
      const kind = (e as { data: ChannelMsg }).data?.kind;
      if (kind === 'hello') this.broadcast();
      else if (kind === 'bye') this.reap();
    };
    local.set(this.id, this);
  }

  generation(): number {
    return Atomics.load(this.sw, SW_GENERATION);
  }
  table(): Array<ValePortMemory | null> {
    this.reap();
    return this.ports.map((p) => (p ? { mem: p.mem, kmem: p.kmem, bell: p.bell } : null));
  }

  /**
   * Finds port `portName`, or creates it with `sizes`; returns its index and entry (an
   * existing port as it was made: the caller checks the sizes asked for). Every port of a
   * switch has the same buffer size: a packet is copied from one buffer into another of
   * the same size.
   */
  attach(portName: string, sizes: ValePortSizes): { index: number; port: ValePortEntry; created: boolean } {
    this.reap();
    const at = this.ports.findIndex((p) => p?.name === portName);
    if (at >= 0) return { index: at, port: this.ports[at] as ValePortEntry, created: false };
    const { ringSize, bufSize, extraBufs } = sizes;
    const other = this.ports.find((p) => p !== null && p.bufSize !== bufSize);
    if (other) {
      throw new NetmapError(
        'EINVAL',
        `${this.name}:${portName}: the ports of a VALE switch share one buffer size (${other.bufSize}), got ${bufSize}`,
      );
    }
    const free = this.ports.indexOf(null);
    if (free < 0) {
      throw new NetmapError('ENOSPC', `${this.name}: a VALE switch has at most ${VALE_MAX_PORTS} ports`);
    }
    const port = { ...createValePortMemory(ringSize, bufSize, extraBufs), name: portName, ringSize, bufSize };
    this.ports[free] = port;
    Atomics.store(this.sw, SW_PORTS + free, 1);
    this.bump();
    return { index: free, port, created: true };
  }

  /** Ports with their names and counters (vale-ctl). */
  list(): Array<{ index: number; name: string; counters: Record<string, number> }> {
    this.reap();
    const out: Array<{ index: number; name: string; counters: Record<string, number> }> = [];
    this.ports.forEach((p, index) => {
      if (p) out.push({ index, name: p.name, counters: valeCounters(p.kmem) });
    });
    return out;
  }

  /** Drops ports whose last user closed them (the word went to 0 in any thread). */
  reap(): void {
    let changed = false;
    for (let i = 0; i < VALE_MAX_PORTS; i++) {
      if (this.ports[i] !== null && Atomics.load(this.sw, SW_PORTS + i) === 0) {
        this.ports[i] = null;
        changed = true;
      }
    }
    if (changed) this.bump();
  }

  private bump(): void {
    Atomics.add(this.sw, SW_GENERATION, 1);
    this.broadcast();
    views.get(this.id)?.apply(this.generation(), this.table());
  }

  private broadcast(): void {
    // table() may reap, which bumps the generation: read it after, so it matches the table.
    const ports = this.table();
    this.channel.postMessage({ kind: 'table', gen: this.generation(), ports } satisfies ChannelMsg);
  }

  /**
   * The namespace goes: its channel (a handle of this thread) closes, the thread's
   * registry lets go of the switch, and no port attaches any more (nobody would answer
   * for the table). Ports already attached keep forwarding with the table they have.
   */
  close(): void {
    Atomics.store(this.sw, SW_CLOSED, 1);
    this.channel.close();
    local.delete(this.id);
  }
}

export function valeCounters(kmem: SharedArrayBuffer): Record<string, number> {
  const f = new Float64Array(kmem);
  const cb = (leaseBase() * 4 + VL_COUNTERS_BYTE) / 8;
  const out: Record<string, number> = {};
  VALE_COUNTER_NAMES.forEach((name, i) => {
    out[name] = f[cb + i];
  });
  return out;
}

/**
 * Marks port `index` gone when its user closes it (any thread) and tells the namespace,
 * which drops it (and lets its memory go) now rather than at its next register.
 */
export function releaseValePort(switchId: string, swmem: SharedArrayBuffer, index: number): void {
  const sw = new Int32Array(swmem);
  Atomics.store(sw, SW_PORTS + index, 0);
  Atomics.add(sw, SW_GENERATION, 1);
  const owner = local.get(switchId);
  if (owner) owner.reap();
  else views.get(switchId)?.bye();
  dropSwitchView(switchId);
}

// ---- forwarding ----

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
  private readonly me: PortView;
  /**
   * The switch as this thread sees it, with every port's memory: a JS-private field, so
   * nothing the port's user holds (the Port, its krings, their backends) leads to it.
   */
  readonly #view: SwitchView;

  constructor(
    view: SwitchView,
    private readonly index: number,
    pm: ValePortMemory,
    n: number,
  ) {
    this.#view = view;
    this.first = new Int32Array(n);
    this.frags = new Int32Array(n);
    this.dest = new Int32Array(n);
    this.me = new PortView(pm);
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
    const i32m = kr.r.i32;
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
      // names no buffer of this region or a len past the buffer.
      const s = kr.slotBase + 2 * k;
      const idx = i32[s];
      const len = i32[s + 1] & 0xffff;
      let ok = idx >= 2 && idx < numBufs && len <= bufSize && len >= ETH_MIN;
      let last = k;
      let frags = 1;
      while (i32[kr.slotBase + 2 * last + 1] & (NS_MOREFRAG << 16)) {
        last = last + 1 === n ? 0 : last + 1;
        if (last === head) break;
        frags++;
        const f = kr.slotBase + 2 * last;
        const fi = i32[f];
        if (fi < 2 || fi >= numBufs || (i32[f + 1] & 0xffff) > bufSize) ok = false;
      }
      if (last === head) break;
      const next = last + 1 === n ? 0 : last + 1;
      if (!ok) {
        bad++;
      } else {
        // The two MACs are bytes 0-11: three little-endian words. A MAC is keyed as its
        // first 4 bytes and its last 2; the first byte's low bit is the group bit.
        const w = me.r.bufOffset(idx) >> 2;
        const w0 = i32m[w];
        const w1 = i32m[w + 1];
        const w2 = i32m[w + 2];
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
          if (sw[e] === w0 && t >>> 16 === dstB && port >= 0 && this.#view.ports[port] !== null) {
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
    if (toSelf > 0) {
      // netmap drops a frame for the port it came from; it is counted with this port's
      // drops, which other senders also write, under the lock.
      me.lock();
      f[me.cb + VC_DROPS] += toSelf;
      me.unlock();
    }
    kr.addPackets(count);
    kr.hwcur = k;
    return count;
  }

  /** Pass 2: per destination, lease, copy outside the lock, complete in order. */
  private forward(kr: KRing, count: number): void {
    const ports = this.#view.ports;
    for (let d = 0; d < this.#view.top; d++) {
      const dp = ports[d];
      if (dp === null || d === this.index) continue;
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
        dp.lock();
        dp.kf[dp.cb + VC_DROPS] += pkts;
        dp.unlock();
        continue;
      }
      this.deliver(kr, dp, d, count, need, pkts);
    }
  }

  private deliver(kr: KRing, dp: PortView, d: number, count: number, need: number, pkts: number): void {
    const k = dp.k;
    const lb = dp.lb;
    const n = dp.n;
    // Lease: under the lock, only index arithmetic.
    dp.lock();
    const start = k[lb + VL_HWLEASE];
    const hwcur = Atomics.load(k, dp.rxKb + KR_HWCUR);
    let room = hwcur - 1 - start;
    if (room < 0) room += n;
    // Whole packets only: take them in order while they fit.
    let got = 0;
    let sent = 0;
    if (need <= room) {
      got = need;
      sent = pkts;
    } else {
      for (let i = 0; i < count; i++) {
        const t = this.dest[i];
        if (t !== d && t !== ALL_PORTS) continue;
        if (got + this.frags[i] > room) break;
        got += this.frags[i];
        sent++;
      }
    }
    let rec = -1;
    if (got > 0) {
      let end = start + got;
      if (end >= n) end -= n;
      k[lb + VL_HWLEASE] = end;
      rec = k[lb + VL_LEASE_IDX];
      k[lb + VL_LEASES + rec] = -1;
      k[lb + VL_LEASE_IDX] = rec + 1 === n ? 0 : rec + 1;
    }
    dp.unlock();
    // Copy outside the lock: other senders copy into their own leases meanwhile.
    if (got > 0) this.copy(kr, dp, d, count, start, sent);
    // Complete: record our end, fold every finished lease at the front into the tail.
    dp.lock();
    let tail = -1;
    if (rec >= 0) {
      k[lb + VL_LEASES + rec] = start + got >= n ? start + got - n : start + got;
      let first = k[lb + VL_LEASE_FIRST];
      const last = k[lb + VL_LEASE_IDX];
      while (first !== last) {
        const e = k[lb + VL_LEASES + first];
        if (e < 0) break;
        k[lb + VL_LEASES + first] = -1;
        tail = e;
        first = first + 1 === n ? 0 : first + 1;
      }
      k[lb + VL_LEASE_FIRST] = first;
      if (tail >= 0) Atomics.store(k, dp.rxKb + KR_PEER_TAIL, tail);
    }
    dp.kf[dp.cb + VC_RX] += sent;
    dp.kf[dp.cb + VC_DROPS] += pkts - sent;
    dp.unlock();
    if (tail >= 0 && wakeSleeper(dp.bell, BELL_SLEEP, SLEEP_RX)) kr.bumpNotify();
  }

  /** Copies the first `sent` packets bound to `d` into slots starting at `start`. */
  private copy(kr: KRing, dp: PortView, d: number, count: number, start: number, sent: number): void {
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
      if (t !== d && t !== ALL_PORTS) continue;
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
  sync(kr: KRing): void {
    const head = kr.rhead;
    if (kr.hwcur !== head) {
      const w = kr.r.i32;
      const n = kr.numSlots;
      let released = 0;
      for (let k = kr.hwcur; k !== head; k = k + 1 === n ? 0 : k + 1) {
        const s = kr.slotBase + 2 * k;
        // A buffer the user swapped in is its own region's: keep it if it is one.
        if (w[s + 1] & (NS_BUF_CHANGED << 16)) {
          if (!kr.r.validBuf(w[s])) {
            w[s] = 0;
            kr.addDrops(1);
          }
          w[s + 1] &= ~(NS_BUF_CHANGED << 16);
        }
        released++;
      }
      kr.addPackets(released);
      kr.hwcur = head;
      // Senders compute their room from this: publish it.
      Atomics.store(kr.km.i32, kr.kb + KR_HWCUR, head);
    }
    kr.hwtail = kr.peerTail();
  }
}

/** Makes the sync backend of ring `id` of VALE port `index`. */
export function valeBackend(view: SwitchView, index: number, pm: ValePortMemory, id: number, n: number): SyncBackend {
  return id === TX_RING ? new ValeTx(view, index, pm, n) : new ValeRx();
}
