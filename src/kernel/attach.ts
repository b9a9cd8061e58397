/**
 * The kernel side of attaching a port in this thread: checks the descriptor, builds the
 * krings with their port type's sync backends, and claims the interface. A Port (the
 * user's side) holds one; so does a passthrough kloop or an emulated NIC's device thread,
 * which claim the interface for themselves alone (netmap's NR_EXCLUSIVE).
 *
 * Port types register here (registerPortType): the kernel's own (pipe, pipe set, VALE,
 * NIC) and devices above it (the emulated e1000's guest driver), so the kernel knows no
 * device.
 */
import { BELL_BYTES, KIF_EXCLUSIVE, KIF_GONE, KIF_USERS, RING_CUR, RING_HEAD, RING_TAIL } from '../../shm/layout.js';
import { kifWordBase, kmemSize } from '../../shm/region.js';
import { RegionViews } from '../../shm/views.js';
import { NetmapError } from '../errors.js';
import type { OpenMode, RingBinding } from '../names.js';
import { KernelMem, KRing, type SyncBackend } from './kring.js';

/** What every descriptor has: plain data and SharedArrayBuffers (and for VALE a MessagePort). */
export interface BaseDescriptor {
  type: string;
  name: string;
  /** The rings and buffers (what the port's user maps). */
  mem: SharedArrayBuffer;
  /** The kernel's memory of the region: never handed to a guest. */
  kmem: SharedArrayBuffer;
  ifIndex: number;
  /** The interfaces' bells (sleep words). */
  bells: SharedArrayBuffer[];
  /** How this registration holds the port (netmap's /x, /T, /R); default: shared, every ring. */
  mode?: OpenMode;
  /** Extra buffers granted to this registration (netmap's nr_extra_bufs, as returned). */
  extraBufs?: number;
}

/** What a port type gives the kernel for one attach of one of its ports in this thread. */
export interface PortAttachment {
  backend(id: number): SyncBackend;
  /** This attach goes (closed, or the attach failed after this was made). */
  detach?(): void;
  /** The port's last user went (VALE: the port leaves its switch). */
  leave?(): void;
  /** Counters of the port type (VALE: the switch's per-port counters). */
  counters?(): Record<string, number>;
}

/**
 * A port type the kernel can attach (registerPortType): the bells and kernel memory its
 * descriptors carry, and how it attaches one in a thread.
 */
export interface PortType {
  /** Bells a descriptor of this type carries (pipes: one per end). */
  bells(region: RegionViews): number;
  /** Kernel memory the type adds after the interface blocks. */
  extraKmem(region: RegionViews): number;
  /** Checks the type's own fields and makes this thread's attachment (throws EINVAL on a bad descriptor). */
  attach(desc: BaseDescriptor, region: RegionViews): PortAttachment;
  /** A port of this type is gone once its last user leaves (VALE): it never attaches again. */
  goneWhenFree?: boolean;
}

const types = new Map<string, PortType>();

/** Registers the kernel side of a port type (devices call this when their module loads). */
export function registerPortType(type: string, t: PortType): void {
  types.set(type, t);
}

/** The bell of the descriptor's interface (one per end when the type has several). */
export function portBell(desc: BaseDescriptor): SharedArrayBuffer {
  return desc.bells[desc.bells.length > 1 ? desc.ifIndex : 0];
}

/**
 * The kernel's views of a host port (pipe, VALE, a NIC) that a hypervisor backs a guest's NIC
 * with; anything else (a guest's own port) is refused. The geometry is the kernel's: the
 * region's own header may have been scribbled by a guest.
 */
export function hostRegion(desc: PortDescriptor): RegionViews {
  const d = desc as BaseDescriptor | null;
  if (d?.type !== 'pipe' && d?.type !== 'vale' && d?.type !== 'nic') {
    throw new NetmapError(
      'EINVAL',
      `${d?.name} is not a host port: a guest's port cannot back a guest's NIC (pipe, VALE, NIC only)`,
    );
  }
  try {
    return RegionViews.kernel(d.mem, d.kmem);
  } catch (e) {
    throw new NetmapError('EINVAL', `bad port descriptor for ${d.name}: ${(e as Error).message}`);
  }
}

export interface AttachOptions {
  /** Claim the interface alone whatever the descriptor says (a kloop, a device thread). */
  exclusive?: boolean;
  /**
   * Leave the ring headers and geometry words in the region as they are, even as the
   * interface's first user: a kloop's, whose guest owns them from passThrough() on (which
   * set them from the kernel's state, as netmap does when the hypervisor registers the
   * port). The guest may already have used its rings when its kloop thread attaches: a
   * reset then would move its cur back under frames it has published (measured: a VALE
   * host<->guest ping hung in 2 of 5 runs, the guest's reply sent into a slot the kloop
   * had already moved past).
   */
  keepUserRings?: boolean;
}

function checkMode(mode: OpenMode | undefined, name: string): OpenMode {
  if (mode === undefined) return { exclusive: false, rings: 'all' };
  const rings: RingBinding[] = ['all', 'tx', 'rx'];
  if (typeof mode !== 'object' || typeof mode.exclusive !== 'boolean' || !rings.includes(mode.rings)) {
    throw new NetmapError('EINVAL', `bad port descriptor for ${name}: mode`);
  }
  return mode;
}

export class KernelPort {
  readonly name: string;
  readonly region: RegionViews;
  readonly km: KernelMem;
  readonly txk: KRing[];
  readonly rxk: KRing[];
  /** The interface's ring ids this attach binds. */
  readonly ids: { tx: number[]; rx: number[] };
  /** This interface's bell: whoever sleeps for it waits on its word. */
  readonly bell: Int32Array;
  readonly ifIndex: number;
  private readonly usersWord: number;
  private readonly att: PortAttachment;
  private readonly goneWhenFree: boolean;
  private released = false;

  constructor(desc: BaseDescriptor, o: AttachOptions = {}) {
    const t = typeof desc === 'object' && desc !== null ? types.get(desc.type) : undefined;
    if (t === undefined) {
      const what = typeof desc === 'object' && desc !== null ? ` of type '${String(desc.type)}'` : '';
      throw new NetmapError('EINVAL', `not a port descriptor${what}`);
    }
    const bad = (what: string) => new NetmapError('EINVAL', `bad port descriptor for ${desc.name}: ${what}`);
    try {
      // The geometry is the kernel's (kernel memory), never the region header's.
      this.region = RegionViews.kernel(desc.mem, desc.kmem);
    } catch (e) {
      throw bad((e as Error).message);
    }
    const r = this.region;
    if (desc.kmem.byteLength !== kmemSize(r.numRings, r.numIfs) + t.extraKmem(r)) throw bad('wrong kernel memory');
    this.name = desc.name;
    const bells = desc.bells;
    if (
      !Array.isArray(bells) ||
      bells.length !== t.bells(r) ||
      !bells.every((b) => b instanceof SharedArrayBuffer && b.byteLength === BELL_BYTES)
    ) {
      throw bad('no or wrong bells');
    }
    if (!(Number.isInteger(desc.ifIndex) && desc.ifIndex >= 0 && desc.ifIndex < r.numIfs)) {
      throw bad(`no interface ${desc.ifIndex}`);
    }
    const mode = checkMode(desc.mode, desc.name);
    const exclusive = mode.exclusive || o.exclusive === true;
    this.km = new KernelMem(desc.kmem, r.numRings, bells);
    this.ifIndex = desc.ifIndex;
    const all = r.ifRings(desc.ifIndex);
    this.ids = { tx: mode.rings === 'rx' ? [] : all.tx, rx: mode.rings === 'tx' ? [] : all.rx };
    this.bell = new Int32Array(portBell(desc));
    this.usersWord = kifWordBase(r.numRings, desc.ifIndex) + KIF_USERS;
    this.goneWhenFree = t.goneWhenFree === true;
    this.att = t.attach(desc, r);
    let first: boolean;
    try {
      first = this.claim(exclusive);
    } catch (e) {
      this.att.detach?.();
      throw e;
    }
    // The first user of a free interface starts from the kernel's state, whatever its last
    // user (a guest that crashed, a hostile one) left in the ring headers and the geometry
    // words: netmap reinitialises rings on register.
    const reinit = first && o.keepUserRings !== true;
    const make = (id: number): KRing => {
      const kr = new KRing(r, this.km, id, `${desc.name}/${id}`);
      kr.backend = this.att.backend(id);
      if (reinit) reinitRing(r, kr);
      return kr;
    };
    if (reinit) r.geometry.writeUser(r.i32);
    this.txk = all.tx.filter((id) => this.ids.tx.includes(id)).map(make);
    this.rxk = all.rx.filter((id) => this.ids.rx.includes(id)).map(make);
    if (reinit)
      for (const id of [...all.tx, ...all.rx]) if (!this.bound(id)) reinitRing(r, new KRing(r, this.km, id, ''));
  }

  private bound(id: number): boolean {
    return this.ids.tx.includes(id) || this.ids.rx.includes(id);
  }

  /**
   * Adds this attach to the interface's users (the word is only ever changed by
   * compare-exchange). Returns true when the interface was free.
   */
  private claim(exclusive: boolean): boolean {
    const k = this.km.i32;
    for (;;) {
      const v = Atomics.load(k, this.usersWord);
      if (v === KIF_GONE) {
        throw new NetmapError('ENOENT', `${this.name} was closed and has left its switch: register it again`);
      }
      if (v & KIF_EXCLUSIVE) throw new NetmapError('EBUSY', `${this.name} is open exclusively by another user`);
      if (exclusive && v !== 0) {
        throw new NetmapError('EBUSY', `${this.name} is already open: an exclusive open needs it free`);
      }
      const next = exclusive ? 1 | KIF_EXCLUSIVE : v + 1;
      if (Atomics.compareExchange(k, this.usersWord, v, next) === v) return v === 0;
    }
  }

  /** The number of users holding this interface now. */
  users(): number {
    const v = Atomics.load(this.km.i32, this.usersWord);
    return v === KIF_GONE ? 0 : v & ~KIF_EXCLUSIVE;
  }

  /** Counters of the port type (VALE's per-port counters), if it has any. */
  typeCounters(): Record<string, number> | null {
    return this.att.counters?.() ?? null;
  }

  /** Saves the krings and gives the interface back; a VALE port's last user takes it off its switch. */
  release(): void {
    if (this.released) return;
    this.released = true;
    for (const kr of [...this.txk, ...this.rxk]) kr.save();
    const k = this.km.i32;
    let last = false;
    for (;;) {
      const v = Atomics.load(k, this.usersWord);
      if (v === KIF_GONE) break;
      const users = (v & ~KIF_EXCLUSIVE) - 1;
      last = users <= 0;
      const next = last ? (this.goneWhenFree ? KIF_GONE : 0) : users;
      if (Atomics.compareExchange(k, this.usersWord, v, next) === v) break;
    }
    if (last) this.att.leave?.();
    this.att.detach?.();
  }
}

/** A ring's header from the kernel's state: head = cur = hwcur, tail = hwtail. */
function reinitRing(r: RegionViews, kr: KRing): void {
  const h = kr.hdr;
  r.i32[h + RING_HEAD] = kr.hwcur;
  r.i32[h + RING_CUR] = kr.hwcur;
  r.i32[h + RING_TAIL] = kr.hwtail;
}

import { nicPortType } from './nic.js';
// The kernel's own port types. pipe.ts, pipeset.ts, vale.ts and nic.ts import only types from
// here, so this is no import cycle at run time.
import { type PipeDescriptor, pipePortType } from './pipe.js';
import { PIPESET_TYPE, type PipeSetDescriptor, pipeSetPortType } from './pipeset.js';
import { type ValeDescriptor, valePortType } from './vale.js';

export type { PipeDescriptor, PipeSetDescriptor, ValeDescriptor };

/**
 * A NIC port's descriptor (its port type, the driver, registers from src/nic/): its rings,
 * buffers and kernel memory (where the NIC's hardware block is), and its user's bell.
 */
export interface NicDescriptor extends BaseDescriptor {
  type: 'nic';
  ifIndex: 0;
  bells: [SharedArrayBuffer];
}

/** A host port's descriptor: what Netmap.register hands out. */
export type PortDescriptor = PipeDescriptor | ValeDescriptor | NicDescriptor;

registerPortType('pipe', pipePortType);
registerPortType(PIPESET_TYPE, pipeSetPortType);
registerPortType('vale', valePortType);
registerPortType('nic', nicPortType);
