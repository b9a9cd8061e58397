/**
 * The "hypervisor" side of virtual passthrough: from a host port's descriptor it makes
 * what the guest VM may hold (the port's region, a CSB, the interface's bell — never
 * kernel memory) and what the host kloop needs (the port itself and the same CSB).
 */
import { KIF_USERS, KR_HWCUR, KR_HWTAIL, RING_CUR, RING_HEAD, RING_TAIL } from '../../shm/layout.js';
import { kifWordBase, kringWordBase } from '../../shm/region.js';
import { hostRegion, type PortDescriptor, portBell } from '../kernel/attach.js';
import { Csb } from './csb.js';

/** All a guest VM receives: plain data and SharedArrayBuffers. */
export interface GuestDescriptor {
  type: 'ptnet';
  name: string;
  mem: SharedArrayBuffer;
  csb: SharedArrayBuffer;
  /** The interface's bell: a kick is a wake-up on it. */
  bell: SharedArrayBuffer;
  tx: number[];
  rx: number[];
}

/** What the host kloop receives. */
export interface KloopDescriptor {
  port: PortDescriptor;
  csb: SharedArrayBuffer;
}

/** Passes host port `desc` through to a guest: the CSB starts from the kernel's state. */
export function passThrough(desc: PortDescriptor): { guest: GuestDescriptor; kloop: KloopDescriptor } {
  const region = hostRegion(desc);
  const ids = region.ifRings(desc.ifIndex);
  const rings = [...ids.tx, ...ids.rx];
  const csb = Csb.create(rings.length);
  const k = new Int32Array(desc.kmem);
  // A free port's ring headers and geometry words may hold whatever its last user (a guest
  // that crashed, a hostile one) left there: the new guest starts from the kernel's state,
  // as netmap reinitialises a ring on register. A port in use is left alone (its kloop,
  // which opens it exclusively, gets EBUSY).
  const free = Atomics.load(k, kifWordBase(region.numRings, desc.ifIndex) + KIF_USERS) === 0;
  if (free) region.geometry.writeUser(region.i32);
  rings.forEach((id, e) => {
    const hwcur = k[kringWordBase(id) + KR_HWCUR];
    const hwtail = k[kringWordBase(id) + KR_HWTAIL];
    csb.i32[csb.head(e)] = csb.i32[csb.cur(e)] = hwcur;
    csb.i32[csb.hwcur(e)] = hwcur;
    csb.i32[csb.hwtail(e)] = hwtail;
    if (free) {
      const h = region.ringWordBase(id);
      region.i32[h + RING_HEAD] = region.i32[h + RING_CUR] = hwcur;
      region.i32[h + RING_TAIL] = hwtail;
    }
  });
  const bell = portBell(desc);
  return {
    guest: { type: 'ptnet', name: desc.name, mem: desc.mem, csb: csb.sab, bell, tx: ids.tx, rx: ids.rx },
    kloop: { port: desc, csb: csb.sab },
  };
}
