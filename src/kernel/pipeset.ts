/**
 * Pipe sets: up to 16 one-way netmap pipes ("links") that share one memory region, so a
 * buffer index means the same buffer on every link of the set and whoever holds an RX end
 * and a TX end of one set forwards by swapping buffers between them (NS_BUF_CHANGED), as
 * netmap's bridge and lb do between pipes opened on one parent port's allocator. The
 * kernel's own pipes (pipe.ts) get a region each, so two of them never share buffers.
 *
 * Layout: ring 2i is link i's TX ring (the producer's end, interface PIPESET_PRODUCER),
 * ring 2i+1 its RX ring (the consumer's end, interface PIPESET_CONSUMER). Each link has
 * kernel memory of its own, whose geometry describes the whole region (so every offset
 * agrees) and whose two interfaces bind only that link's rings: a Port attached to one
 * link syncs only its own ring, and its krings, counters and extra-buffer pool are its own.
 * The sync is a pipe's (pipe-sync.ts, one implementation for both types).
 *
 * Bells: a link's descriptor carries the producer's and the consumer's bells, by interface;
 * a sync that publishes news rings the other end's, only if that end said it sleeps on it
 * and the news is worth what it asked (notify.ts). Several links may carry one bell (a
 * thread that sleeps for any of its ends).
 */
import { Geometry } from '../../shm/geometry.js';
import { DIR_RX, DIR_TX, MAX_RINGS } from '../../shm/layout.js';
import { BufPool } from '../../shm/pool.js';
import { createPortMemory, kmemSize, type PortMemory } from '../../shm/region.js';
import { RegionViews } from '../../shm/views.js';
import { NetmapError } from '../errors.js';
import type { BaseDescriptor, PortType } from './attach.js';
import { initKring, KernelMem } from './kring.js';
import { pipeSync } from './pipe-sync.js';

/** The port type of a pipe set's link ends (registered by the kernel's attach). */
export const PIPESET_TYPE = 'pipeset';
/** Links one set holds: two rings each, and a region has at most MAX_RINGS rings. */
export const PIPESET_MAX_LINKS = MAX_RINGS / 2;
/** Interface (end) of a link: the producer holds the TX ring, the consumer the RX ring. */
export const PIPESET_PRODUCER = 0;
/** See PIPESET_PRODUCER. */
export const PIPESET_CONSUMER = 1;

/** Ring id of link `link`'s TX ring (the producer's). */
export function pipeSetTxRing(link: number): number {
  return 2 * link;
}
/** Ring id of link `link`'s RX ring (the consumer's). */
export function pipeSetRxRing(link: number): number {
  return 2 * link + 1;
}

/** One end of a link: what a thread attaches with `attachPort`. */
export interface PipeSetDescriptor extends BaseDescriptor {
  type: typeof PIPESET_TYPE;
  /** The link's index in its set. */
  link: number;
}

/** A pipe set: the shared region and each link's kernel memory. */
export interface PipeSet {
  mem: SharedArrayBuffer;
  kmems: SharedArrayBuffer[];
  ringSize: number;
  bufSize: number;
}

/** The interfaces of link `link`'s kernel memory: the producer binds its TX ring, the consumer its RX ring. */
function ifsOf(link: number) {
  return [
    { tx: [pipeSetTxRing(link)], rx: [] as number[] },
    { tx: [] as number[], rx: [pipeSetRxRing(link)] },
  ];
}

/**
 * Makes a set of `links` links (1 to 16), rings of `ringSize` slots, `bufSize`-byte
 * buffers, and extra buffers handed to links as `extraBufs[i]` says (each link's pool).
 * Throws NetmapError ENOMEM when the memory cannot be had, EINVAL for a bad size.
 */
export function createPipeSet(links: number, ringSize: number, bufSize: number, extraBufs: number[] = []): PipeSet {
  if (!Number.isInteger(links) || links < 1 || links > PIPESET_MAX_LINKS) {
    throw new NetmapError('EINVAL', `a link region holds 1 to ${PIPESET_MAX_LINKS} links, got ${links}`);
  }
  const rings: Array<typeof DIR_TX | typeof DIR_RX> = [];
  const mirror: Record<number, number> = {};
  for (let i = 0; i < links; i++) {
    rings.push(DIR_TX, DIR_RX);
    // The consumer's RX ring starts with the buffers of the TX ring that feeds it.
    mirror[pipeSetRxRing(i)] = pipeSetTxRing(i);
  }
  const totalExtra = extraBufs.reduce((t, n) => t + n, 0);
  let made: PortMemory;
  try {
    made = createPortMemory({ rings, numSlots: ringSize, bufSize, ifs: ifsOf(0), mirror, extraBufs: totalExtra });
  } catch (e) {
    const msg = (e as Error).message;
    if (e instanceof RangeError) {
      throw new NetmapError(
        'ENOMEM',
        `no memory for ${links} links of ${ringSize} slots, ${bufSize}-byte buffers (${msg})`,
      );
    }
    throw new NetmapError('EINVAL', msg);
  }
  const g = made.geometry;
  const kmems = [made.kmem];
  for (let i = 1; i < links; i++) {
    const kmem = new SharedArrayBuffer(kmemSize(g.numRings, 2));
    new Geometry({
      rings: [...g.dirs],
      numSlots: g.numSlots,
      bufSize: g.bufSize,
      numBufs: g.numBufs,
      ifs: ifsOf(i),
    }).writeKernel(new Int32Array(kmem));
    kmems.push(kmem);
  }
  for (let i = 0; i < links; i++) {
    const km = new KernelMem(kmems[i], g.numRings, []);
    initKring(km, pipeSetTxRing(i), true, ringSize);
    initKring(km, pipeSetRxRing(i), false, ringSize);
  }
  // The extra buffers start in link 0's pool: hand each link its share.
  if (totalExtra > 0) {
    const all = new BufPool(RegionViews.kernel(made.mem, made.kmem), made.kmem).alloc(totalExtra);
    let at = 0;
    for (let i = 0; i < links; i++) {
      const n = extraBufs[i] ?? 0;
      if (n === 0) continue;
      new BufPool(RegionViews.kernel(made.mem, kmems[i]), kmems[i]).free(all.slice(at, at + n));
      at += n;
    }
  }
  return { mem: made.mem, kmems, ringSize, bufSize };
}

/**
 * The descriptor of one end of link `link` of `set`: `end` PIPESET_PRODUCER (its TX ring)
 * or PIPESET_CONSUMER (its RX ring); `bells` are the producer's and the consumer's bells;
 * `extraBufs` the extra buffers this end takes from the link's pool.
 */
export function pipeSetDescriptor(
  set: PipeSet,
  link: number,
  end: typeof PIPESET_PRODUCER | typeof PIPESET_CONSUMER,
  bells: [SharedArrayBuffer, SharedArrayBuffer],
  name: string,
  extraBufs = 0,
): PipeSetDescriptor {
  return {
    type: PIPESET_TYPE,
    name,
    mem: set.mem,
    kmem: set.kmems[link],
    ifIndex: end,
    bells,
    mode: { exclusive: false, rings: 'all' },
    link,
    extraBufs,
  };
}

/**
 * The kernel side of pipe sets. The bells (two, checked by the kernel's attach) are the
 * kernel memory's bells by interface, so a link's TX ring wakes the consumer and its RX
 * ring the producer, as a pipe's rings wake the other end.
 */
export const pipeSetPortType: PortType = {
  bells: () => 2,
  extraKmem: () => 0,
  attach(desc: BaseDescriptor, region: RegionViews) {
    const tx = region.ifRings(PIPESET_PRODUCER).tx;
    const rx = region.ifRings(PIPESET_CONSUMER).rx;
    if (region.numIfs !== 2 || tx.length !== 1 || rx.length !== 1 || rx[0] !== tx[0] + 1) {
      throw new NetmapError('EINVAL', `bad link descriptor for ${desc.name}: rings`);
    }
    const txId = tx[0];
    const rxId = rx[0];
    const toConsumer = { ring: rxId, ifIndex: PIPESET_CONSUMER };
    const toProducer = { ring: txId, ifIndex: PIPESET_PRODUCER };
    return { backend: (id: number) => pipeSync(region, id, id === txId ? toConsumer : toProducer) };
  },
};
