/**
 * How the ports of a VALE switch meet, with nothing handed out by name.
 *
 * A sender copies into its destination port's memory, so every thread that forwards
 * needs the memory of every port of the switch. That memory reaches a thread only from
 * the namespace that made it, inside the descriptor it hands out (`register`): a snapshot
 * of every port at that moment, and one end of a MessageChannel made for that descriptor
 * alone, on which the namespace posts each port it makes later. There is no channel or
 * registry anyone can join by knowing a name, and attaching never waits for another
 * thread: the snapshot is in hand.
 *
 * Ports leaving need no message: the switch memory's port table holds each port's serial
 * number (0 = free) and a generation word bumped on every change; a forwarding thread
 * looks at the generation once per sync and re-reads the table when it moved.
 *
 * Hazard (browsers): a port made after a thread attached reaches that thread as a message
 * event, so a thread that never lets its event loop run (a Web Worker blocked in
 * Atomics.wait) does not see it. In Node the kernel takes the message synchronously at
 * the next sync (platform.ts), because the namespace posts it before it bumps the
 * generation.
 */
import {
  SW_BYTES,
  SW_CLOSED,
  SW_GENERATION,
  SW_ID,
  SW_MAGIC,
  SW_MAGIC_WORD,
  SW_MON_ALL,
  SW_MONITOR,
  SW_PORTS,
  VALE_MAX_PORTS,
} from '../../shm/layout.js';
import { NetmapError } from '../errors.js';
import { type Channel, isChannel, newChannel, platformReceiveNow } from './platform.js';
import { createValePortMemory, DestPort, type ValePortMemory, type ValePortRef } from './vale-lease.js';

/** What a descriptor carries of its switch (the namespace's gift to whoever attaches it). */
export interface ValeSwitchHandle {
  swmem: SharedArrayBuffer;
  /** Every port of the switch when the descriptor was made (index -> port). */
  ports: Array<ValePortRef | null>;
  /** Ports made later arrive here: this descriptor's own end of a channel. */
  updates: Channel;
}

export function createSwitchMemory(): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(SW_BYTES);
  const sw = new Int32Array(sab);
  sw[SW_MAGIC_WORD] = SW_MAGIC;
  // Two random words name the switch inside a thread (views are shared per switch).
  const id = new Int32Array(2);
  crypto.getRandomValues(id);
  sw[SW_ID] = id[0];
  sw[SW_ID + 1] = id[1];
  return sab;
}

/** The sizes a VALE port is made with. */
export interface ValePortSizes {
  ringSize: number;
  bufSize: number;
  extraBufs: number;
}

/** A port as the namespace keeps it. */
export interface ValePortEntry extends ValePortRef {
  name: string;
  ringSize: number;
  bufSize: number;
}

/**
 * The namespace side of a switch: makes and forgets ports, and tells the holders of its
 * descriptors about new ones. Lives in the thread that owns the Netmap namespace.
 */
/** Switches by their memory, for the namespace's own thread (object identity: not a name). */
const owners = new WeakMap<SharedArrayBuffer, ValeSwitch>();

export class ValeSwitch {
  readonly swmem = createSwitchMemory();
  private readonly sw = new Int32Array(this.swmem);
  private readonly ports: Array<ValePortEntry | null> = new Array(VALE_MAX_PORTS).fill(null);
  /** One channel end per descriptor handed out, with the port the descriptor is for. */
  private subs: Array<{ index: number; port: Channel }> = [];
  private nextSerial = 1;

  constructor(readonly name: string) {
    owners.set(this.swmem, this);
  }

  /**
   * Makes port `monitor` this switch's monitor: from now on every sender also copies to it
   * the frames sent by or delivered to port `watched` (null: every frame through the
   * switch), counting as its drops what does not fit. One monitor per switch (EBUSY).
   */
  setMonitor(monitor: number, watched: number | null): void {
    this.reap();
    const m = Atomics.load(this.sw, SW_MONITOR);
    if (m !== 0 && this.ports[(m & 0xffff) - 1] !== null) {
      throw new NetmapError('EBUSY', `${this.name} has a monitor already (${this.ports[(m & 0xffff) - 1]?.name})`);
    }
    const w = watched === null ? SW_MON_ALL : watched + 1;
    Atomics.store(this.sw, SW_MONITOR, ((w << 16) | (monitor + 1)) >>> 0);
    Atomics.add(this.sw, SW_GENERATION, 1);
  }

  /** The index of port `portName`, or -1. */
  indexOf(portName: string): number {
    this.reap();
    return this.ports.findIndex((p) => p?.name === portName);
  }

  /** The memory of port `serial` if it is on the switch now (the namespace's thread reads it directly). */
  ref(serial: number): ValePortRef | undefined {
    const p = this.ports.find((e) => e?.serial === serial);
    return p ? refOf(p) : undefined;
  }

  /**
   * Finds port `portName`, or makes it with `sizes`; returns its index and entry (an
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
    if (free < 0) throw new NetmapError('ENOSPC', `${this.name}: a VALE switch has at most ${VALE_MAX_PORTS} ports`);
    const mem: ValePortMemory = createValePortMemory(ringSize, bufSize, extraBufs);
    const serial = this.nextSerial++;
    const port: ValePortEntry = { ...mem, serial, name: portName, ringSize, bufSize };
    this.ports[free] = port;
    // Table word first, then the news, then the generation: a thread that sees the new
    // generation finds the port in the table and (in Node) its memory on its channel.
    Atomics.store(this.sw, SW_PORTS + free, serial);
    const ref = refOf(port);
    for (const s of this.subs) s.port.postMessage(ref);
    Atomics.add(this.sw, SW_GENERATION, 1);
    return { index: free, port, created: true };
  }

  /** What a new descriptor of port `index` carries: the table now, and its own channel. */
  handle(index: number): ValeSwitchHandle {
    const ch = newChannel();
    this.subs.push({ index, port: ch.port1 });
    return { swmem: this.swmem, ports: this.ports.map((p) => (p ? refOf(p) : null)), updates: ch.port2 };
  }

  /** Ports with their names and counters (vale-ctl). */
  list(counters: (kmem: SharedArrayBuffer) => Record<string, number>): Array<{
    index: number;
    name: string;
    counters: Record<string, number>;
  }> {
    this.reap();
    const out: Array<{ index: number; name: string; counters: Record<string, number> }> = [];
    this.ports.forEach((p, index) => {
      if (p) out.push({ index, name: p.name, counters: counters(p.kmem) });
    });
    return out;
  }

  /** Forgets ports whose last user closed them (their table word went to 0 in any thread). */
  reap(): void {
    for (let i = 0; i < VALE_MAX_PORTS; i++) {
      if (this.ports[i] !== null && Atomics.load(this.sw, SW_PORTS + i) === 0) {
        this.ports[i] = null;
        for (const s of this.subs) if (s.index === i) s.port.close();
        this.subs = this.subs.filter((s) => s.index !== i);
      }
    }
  }

  /**
   * The namespace goes: no port attaches any more (nobody would tell it of new ports) and
   * every channel closes. Ports already attached keep forwarding with the table they have.
   */
  close(): void {
    Atomics.store(this.sw, SW_CLOSED, 1);
    for (const s of this.subs) s.port.close();
    this.subs = [];
  }
}

function refOf(p: ValePortRef): ValePortRef {
  return { mem: p.mem, kmem: p.kmem, bell: p.bell, serial: p.serial };
}

function isRef(v: unknown): v is ValePortRef {
  const r = v as ValePortRef;
  return (
    typeof v === 'object' &&
    v !== null &&
    r.mem instanceof SharedArrayBuffer &&
    r.kmem instanceof SharedArrayBuffer &&
    r.bell instanceof SharedArrayBuffer &&
    Number.isInteger(r.serial) &&
    r.serial > 0
  );
}

/**
 * One thread's view of a switch: its memory and the ports this thread knows, shared by
 * every port of the switch attached in the thread.
 */
export class SwitchView {
  readonly sw: Int32Array;
  /** Destination ports by index (null: free, or not known here yet). */
  readonly ports: Array<DestPort | null> = new Array(VALE_MAX_PORTS).fill(null);
  /** Highest port index + 1 worth looking at. */
  top = 0;
  /** Ports of this thread attached through this view: the last one to go drops it. */
  users = 0;
  private gen = -1;
  /** Every port memory this thread was given, by serial, and the views made of them. */
  private readonly refs = new Map<number, ValePortRef>();
  private readonly views = new Map<number, DestPort>();
  private readonly sources: Channel[] = [];

  /**
   * `owner`: the switch itself when this thread is its namespace's (the descriptors' own
   * swmem object, not a copy): new ports are read from it, no message needed.
   */
  constructor(
    swmem: SharedArrayBuffer,
    private readonly owner: ValeSwitch | undefined,
  ) {
    this.sw = new Int32Array(swmem);
  }

  /** Takes what a descriptor brings: its snapshot, and its channel for later ports. */
  addSource(h: ValeSwitchHandle): void {
    for (const r of h.ports) if (isRef(r)) this.refs.set(r.serial, r);
    const port = h.updates;
    port.onmessage = (e) => this.take(e.data);
    // Node: a port with a listener keeps the thread alive; the kernel must not.
    port.unref?.();
    this.sources.push(port);
    this.gen = -1;
  }

  /** A descriptor's port closed: its channel goes (the others stay). */
  dropSource(port: Channel): void {
    const i = this.sources.indexOf(port);
    if (i >= 0) this.sources.splice(i, 1);
    port.onmessage = null;
    port.close();
  }

  close(): void {
    for (const p of [...this.sources]) this.dropSource(p);
  }

  private take(msg: unknown): void {
    if (!isRef(msg)) return;
    this.refs.set(msg.serial, msg);
    // A port we lacked may be here now: re-read the table at the next sync.
    this.gen = -1;
  }

  /** Picks up port changes: one load when there are none. */
  refresh(): void {
    const g = Atomics.load(this.sw, SW_GENERATION);
    if (g === this.gen) return;
    const receive = platformReceiveNow();
    if (receive !== null) {
      for (const p of this.sources) for (let m = receive(p); m !== undefined; m = receive(p)) this.take(m.message);
    }
    this.gen = g;
    let top = 0;
    const live = new Set<number>();
    for (let i = 0; i < VALE_MAX_PORTS; i++) {
      const serial = Atomics.load(this.sw, SW_PORTS + i);
      if (serial === 0) {
        this.ports[i] = null;
        continue;
      }
      live.add(serial);
      top = i + 1;
      if (this.ports[i]?.serial === serial) continue;
      this.ports[i] = this.viewOf(serial);
    }
    this.top = top;
    // Ports gone from the table: their memory goes from this thread too.
    for (const s of this.refs.keys()) {
      if (!live.has(s)) {
        this.refs.delete(s);
        this.views.delete(s);
      }
    }
  }

  /** The view of port `serial`, or null if its memory has not reached this thread (yet). */
  private viewOf(serial: number): DestPort | null {
    let v = this.views.get(serial);
    if (v !== undefined) return v;
    const ref = this.refs.get(serial) ?? this.owner?.ref(serial);
    if (ref === undefined) return null;
    try {
      v = new DestPort(ref);
    } catch {
      // Memory that does not hold a port (only the kernel writes it: should not happen).
      return null;
    }
    this.views.set(serial, v);
    return v;
  }
}

/** Per-thread views, by the switch's id words: shared by the thread's ports of one switch. */
const views = new Map<string, SwitchView>();

function idOf(swmem: SharedArrayBuffer): string {
  const sw = new Int32Array(swmem);
  return `${sw[SW_ID]}.${sw[SW_ID + 1]}`;
}

/** Checks a descriptor's switch handle; throws EINVAL naming what is wrong. */
export function checkSwitchHandle(h: ValeSwitchHandle | undefined, portName: string): ValeSwitchHandle {
  const bad = (what: string) => new NetmapError('EINVAL', `bad port descriptor for ${portName}: ${what}`);
  if (typeof h !== 'object' || h === null) throw bad('no switch');
  if (!(h.swmem instanceof SharedArrayBuffer) || h.swmem.byteLength !== SW_BYTES) throw bad('no switch memory');
  if (new Int32Array(h.swmem)[SW_MAGIC_WORD] !== SW_MAGIC) throw bad('not a VALE switch memory');
  if (!Array.isArray(h.ports)) throw bad('no port table');
  if (!isChannel(h.updates)) {
    throw bad('no update channel (post the descriptor with transferList(desc))');
  }
  return h;
}

/**
 * The thread's view of a descriptor's switch, for port `portName` attaching; give it back
 * with releaseSwitchView (the port's close does).
 */
export function takeSwitchView(h: ValeSwitchHandle, portName: string): SwitchView {
  if (Atomics.load(new Int32Array(h.swmem), SW_CLOSED) !== 0) {
    throw new NetmapError('ENOENT', `${portName}: its VALE switch was closed with its namespace (Netmap.close())`);
  }
  const id = idOf(h.swmem);
  let v = views.get(id);
  if (v === undefined) {
    v = new SwitchView(h.swmem, owners.get(h.swmem));
    views.set(id, v);
  }
  v.addSource(h);
  v.users++;
  return v;
}

/** A port of this thread stopped using its switch (closed, or failed to attach). */
export function releaseSwitchView(v: SwitchView, h: ValeSwitchHandle): void {
  v.dropSource(h.updates);
  if (--v.users > 0) return;
  for (const [id, w] of views) if (w === v) views.delete(id);
  v.close();
}

/** Marks port `index` gone (its last user closed it, in any thread); the namespace reaps it. */
export function leaveSwitch(swmem: SharedArrayBuffer, index: number): void {
  const sw = new Int32Array(swmem);
  // A monitor port that goes takes its monitor with it; so does the port it watched.
  const m = Atomics.load(sw, SW_MONITOR);
  if (m !== 0 && ((m & 0xffff) - 1 === index || (m >>> 16) - 1 === index)) {
    Atomics.compareExchange(sw, SW_MONITOR, m, 0);
  }
  Atomics.store(sw, SW_PORTS + index, 0);
  Atomics.add(sw, SW_GENERATION, 1);
}
