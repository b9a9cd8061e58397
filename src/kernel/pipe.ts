/**
 * netmap pipes: two ends in one region and one slot index space. txsync copies slot
 * descriptors into the peer RX ring at the same index and publishes complete packets;
 * rxsync gives released slots back to the peer TX ring. Payload bytes never move. The
 * sync itself is pipe-sync.ts (shared with pipe sets); this file lays out a pipe's region
 * and says which ring is whose peer.
 */
import { DIR_RX, DIR_TX } from '../../shm/layout.js';
import { createBell, createPortMemory } from '../../shm/region.js';
import type { RegionViews } from '../../shm/views.js';
import type { BaseDescriptor, PortType } from './attach.js';
import { initKring, KernelMem, type SyncBackend } from './kring.js';
import { type PipePeer, pipeSync } from './pipe-sync.js';

/** A pipe end: the pipe's region and kernel memory (shared by both ends) and both ends' bells. */
export interface PipeDescriptor extends BaseDescriptor {
  type: 'pipe';
  /** Both ends' bells (sleep words), by interface index: a sync rings the peer's. */
  bells: SharedArrayBuffer[];
}

/** The kernel side of pipes (registered by the kernel's attach). */
export const pipePortType: PortType = {
  bells: (r) => r.numIfs,
  extraKmem: () => 0,
  attach: (_desc, region) => ({ backend: (id) => pipeBackend(region, id) }),
};

/** Ring ids of a pipe region: end 0 = TX 0, RX 1; end 1 = TX 2, RX 3. */
const END_TX = [0, 2];
const END_RX = [1, 3];
const NUM_RINGS = 4;

export interface PipeMemory {
  mem: SharedArrayBuffer;
  kmem: SharedArrayBuffer;
  /** Each end's bell (its sleep word), by interface index. */
  bells: SharedArrayBuffer[];
}

export function createPipeMemory(numSlots: number, bufSize: number, extraBufs: number): PipeMemory {
  const { mem, kmem } = createPortMemory({
    rings: [DIR_TX, DIR_RX, DIR_TX, DIR_RX],
    numSlots,
    bufSize,
    ifs: [
      { tx: [END_TX[0]], rx: [END_RX[0]] },
      { tx: [END_TX[1]], rx: [END_RX[1]] },
    ],
    // Each RX ring starts with the buffers of the TX ring that feeds it.
    mirror: { [END_RX[1]]: END_TX[0], [END_RX[0]]: END_TX[1] },
    extraBufs,
  });
  const km = new KernelMem(kmem, NUM_RINGS, []);
  for (let id = 0; id < NUM_RINGS; id++) initKring(km, id, id % 2 === 0, numSlots);
  return { mem, kmem, bells: [createBell(), createBell()] };
}

/** The ring on the other end of the pipe and the interface that owns it. */
function peerOf(id: number): PipePeer {
  const end = id < 2 ? 0 : 1;
  const other = 1 - end;
  return { ring: id % 2 === 0 ? END_RX[other] : END_TX[other], ifIndex: other };
}

/** Makes the sync backend of pipe ring `id`. */
export function pipeBackend(r: RegionViews, id: number): SyncBackend {
  return pipeSync(r, id, peerOf(id));
}
