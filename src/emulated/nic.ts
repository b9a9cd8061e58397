/**
 * The hypervisor side of an emulated NIC: from a host port's descriptor it builds the
 * guest's memory (its own netmap rings and buffers, the e1000 descriptor rings) and the
 * device's register file, and splits them into what the guest VM holds and what the
 * device thread (QEMU's e1000 + netmap back-end) holds.
 */
import { E1K_DESC_ADDR_LO, E1K_RDT, E1K_REGS_BYTES, e1kDescBytes } from '../../shm/layout.js';
import { RegionViews } from '../../shm/views.js';
import { NetmapError } from '../errors.js';
import { hostRegion, type PortDescriptor, portBell } from '../kernel/attach.js';
import { createRingPairMemory, PAIR_RX_RING } from '../kernel/kring.js';
import { type E1000GuestDescriptor, e1kDescWord } from './driver.js';
import type { E1000DeviceDescriptor } from './e1000.js';

/** Options of emulateNic: the interrupt moderation. */
export interface EmulateOptions {
  /** Interrupt moderation: at most one interrupt per this many completions (default 1). */
  moderation?: number;
}

export const MAX_MODERATION = 1 << 20;

export function checkModeration(m: number): number {
  if (!(Number.isInteger(m) && m >= 1 && m <= MAX_MODERATION)) {
    throw new NetmapError('EINVAL', `moderation must be an integer from 1 to ${MAX_MODERATION}, got ${m}`);
  }
  return m;
}

/** Gives a guest an emulated e1000 NIC whose back-end is host port `desc`. */
export function emulateNic(
  desc: PortDescriptor,
  o: EmulateOptions = {},
): { guest: E1000GuestDescriptor; device: E1000DeviceDescriptor } {
  const host = hostRegion(desc);
  const moderation = checkModeration(o.moderation ?? 1);
  const n = host.numSlots;
  const g = createRingPairMemory(n, host.bufSize, 0, 0);
  const descs = new SharedArrayBuffer(e1kDescBytes(n));
  const regs = new SharedArrayBuffer(E1K_REGS_BYTES);
  // The guest driver's attach already ran (em_netmap_init_buffers): every RX descriptor
  // holds its slot's buffer, and RDT hands the device all of them but one.
  const gr = RegionViews.kernel(g.mem, g.kmem);
  const d = new Int32Array(descs);
  const slots = gr.slotWordBase(PAIR_RX_RING);
  for (let i = 0; i < n; i++) d[e1kDescWord(n, 1, i) + E1K_DESC_ADDR_LO] = gr.bufOffset(gr.u32[slots + 2 * i]);
  new Int32Array(regs)[E1K_RDT] = n - 1;
  return {
    guest: {
      type: 'e1000',
      name: desc.name,
      mem: g.mem,
      kmem: g.kmem,
      ifIndex: 0,
      bells: [g.bell],
      descs,
      regs,
      doorbell: portBell(desc),
    },
    device: {
      port: desc,
      ram: g.mem,
      ramGeometry: gr.geometry.spec(),
      gkmem: g.kmem,
      descs,
      regs,
      irq: g.bell,
      moderation,
    },
  };
}
