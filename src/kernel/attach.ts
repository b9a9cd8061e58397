/**
 * The kernel side of attaching a port in this thread: checks the descriptor, builds the
 * krings with their port type's sync backends, and claims the interface (netmap's EBUSY).
 * A Port (the user's side) holds one; so will a passthrough kloop, which feeds the same
 * krings from a CSB instead of the ring headers.
 */
import { BELL_BYTES, KIF_USERS, valeLeaseBytes } from '../../shm/layout.js';
import { kifWordBase, kmemSize } from '../../shm/region.js';
import { RegionViews } from '../../shm/views.js';
import { e1000Backend } from '../emulated/driver.js';
import { NetmapError } from '../errors.js';
import { KernelMem, KRing, type SyncBackend } from './kring.js';
import { pipeBackend } from './pipe.js';
import { dropSwitchView, releaseValePort, switchView, valeBackend } from './vale.js';

/** The attach word of a VALE port whose last user closed it: the port left its switch. */
const PORT_GONE = -1;

/**
 * Everything a thread needs to attach a port: plain data and SharedArrayBuffers, so it
 * can be posted to a worker. `mem` holds the rings and buffers; `kmem` is the kernel's.
 */
export type PortDescriptor = PipeDescriptor | ValeDescriptor | E1000GuestDescriptor;

export interface PipeDescriptor {
  type: 'pipe';
  name: string;
  mem: SharedArrayBuffer;
  kmem: SharedArrayBuffer;
  ifIndex: number;
  /** Both ends' bells (sleep words), by interface index: a sync rings the peer's. */
  bells: SharedArrayBuffer[];
}

/** A VALE port: its own region and kernel memory, and the switch's (never another port's). */
export interface ValeDescriptor {
  type: 'vale';
  name: string;
  mem: SharedArrayBuffer;
  kmem: SharedArrayBuffer;
  ifIndex: 0;
  /** This port's bell (senders learn it from the switch table). */
  bells: [SharedArrayBuffer];
  switchId: string;
  swmem: SharedArrayBuffer;
  portIndex: number;
}

/**
 * The guest's own netmap port over an emulated e1000 NIC: the guest kernel's rings and
 * buffers (its memory), with the native e1000 driver as the sync backend. The driver
 * reaches the device only through descriptors in guest memory and the register file.
 */
export interface E1000GuestDescriptor {
  type: 'e1000';
  name: string;
  mem: SharedArrayBuffer;
  kmem: SharedArrayBuffer;
  ifIndex: 0;
  bells: [SharedArrayBuffer];
  /** Guest memory holding the TX, then the RX descriptor ring. */
  descs: SharedArrayBuffer;
  /** The device's register file (BAR 0). */
  regs: SharedArrayBuffer;
  /** The device thread's sleep word: writing a tail register wakes it if it sleeps. */
  doorbell: SharedArrayBuffer;
}

/** The bell of the descriptor's interface (pipes have one per end). */
export function portBell(desc: PortDescriptor): SharedArrayBuffer {
  return desc.bells[desc.type === 'pipe' ? desc.ifIndex : 0];
}

/** Kernel memory a port type adds after the krings (VALE: the RX lease block). */
function extraKmem(desc: PortDescriptor, region: RegionViews): number {
  return desc.type === 'vale' ? valeLeaseBytes(region.numSlots) : 0;
}

/** The sync backends of a descriptor's port type (a VALE port takes its thread's switch view). */
function backendMaker(desc: PortDescriptor, region: RegionViews): (id: number) => SyncBackend {
  if (desc.type === 'pipe') return (id) => pipeBackend(region, id);
  if (desc.type === 'e1000') return e1000Backend(desc, region);
  if (!(desc.swmem instanceof SharedArrayBuffer) || typeof desc.switchId !== 'string') {
    throw new NetmapError('EINVAL', `bad port descriptor for ${desc.name}: no switch`);
  }
  const view = switchView(desc.switchId, desc.swmem, desc.name);
  return (id) =>
    valeBackend(view, desc.portIndex, { mem: desc.mem, kmem: desc.kmem, bell: desc.bells[0] }, id, region.numSlots);
}

export class KernelPort {
  readonly name: string;
  readonly region: RegionViews;
  readonly km: KernelMem;
  readonly txk: KRing[];
  readonly rxk: KRing[];
  /** The interface's ring ids. */
  readonly ids: { tx: number[]; rx: number[] };
  /** This interface's bell: whoever sleeps for it waits on its word. */
  readonly bell: Int32Array;
  private readonly usersWord: number;
  private readonly onRelease: (() => void) | null;
  private released = false;

  constructor(desc: PortDescriptor) {
    if (
      desc === null ||
      typeof desc !== 'object' ||
      (desc.type !== 'pipe' && desc.type !== 'vale' && desc.type !== 'e1000')
    ) {
      throw new NetmapError('EINVAL', 'not a port descriptor');
    }
    try {
      this.region = new RegionViews(desc.mem);
    } catch (e) {
      throw new NetmapError('EINVAL', `bad port descriptor for ${desc.name}: ${(e as Error).message}`);
    }
    if (
      !(desc.kmem instanceof SharedArrayBuffer) ||
      desc.kmem.byteLength !== kmemSize(this.region.numRings, this.region.numIfs) + extraKmem(desc, this.region)
    ) {
      throw new NetmapError('EINVAL', `bad port descriptor for ${desc.name}: no or wrong kernel memory`);
    }
    this.name = desc.name;
    const bells = desc.bells;
    const wantBells = desc.type === 'pipe' ? this.region.numIfs : 1;
    if (
      !Array.isArray(bells) ||
      bells.length !== wantBells ||
      !bells.every((b) => b instanceof SharedArrayBuffer && b.byteLength === BELL_BYTES)
    ) {
      throw new NetmapError('EINVAL', `bad port descriptor for ${desc.name}: no or wrong bells`);
    }
    this.km = new KernelMem(desc.kmem, this.region.numRings, bells);
    if (!(Number.isInteger(desc.ifIndex) && desc.ifIndex >= 0 && desc.ifIndex < this.region.numIfs)) {
      throw new NetmapError('EINVAL', `bad port descriptor for ${desc.name}: no interface ${desc.ifIndex}`);
    }
    const ids = this.region.ifRings(desc.ifIndex);
    const backend = backendMaker(desc, this.region);
    const make = (id: number): KRing => {
      const kr = new KRing(this.region, this.km, id, `${desc.name}/${id}`);
      kr.backend = backend(id);
      return kr;
    };
    this.txk = ids.tx.map(make);
    this.rxk = ids.rx.map(make);
    this.bell = new Int32Array(portBell(desc));
    this.usersWord = kifWordBase(this.region.numRings, desc.ifIndex) + KIF_USERS;
    // Claimed last, so a descriptor that fails above leaves the end free.
    const users = Atomics.compareExchange(this.km.i32, this.usersWord, 0, 1);
    if (users !== 0) {
      // Not attached after all: the switch view taken above goes back.
      if (desc.type === 'vale') dropSwitchView(desc.switchId);
      if (users === PORT_GONE) {
        throw new NetmapError('ENOENT', `${desc.name} was closed and has left its switch: register it again`);
      }
      throw new NetmapError('EBUSY', `${desc.name} is already open`);
    }
    this.onRelease = desc.type === 'vale' ? () => releaseValePort(desc.switchId, desc.swmem, desc.portIndex) : null;
    this.ids = ids;
  }

  /** Saves the krings and gives the interface back; a VALE port leaves its switch. */
  release(): void {
    if (this.released) return;
    this.released = true;
    for (const kr of [...this.txk, ...this.rxk]) kr.save();
    Atomics.store(this.km.i32, this.usersWord, this.onRelease ? PORT_GONE : 0);
    if (this.onRelease) this.onRelease();
  }
}
