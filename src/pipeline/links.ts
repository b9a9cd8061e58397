/**
 * A pipeline's links: one-way netmap pipes that share one memory region, so a buffer
 * index means the same buffer on every link of the region and a stage forwards by
 * swapping buffers between its input's RX ring and its output's TX ring (NS_BUF_CHANGED),
 * as netmap's bridge and lb do between pipes opened on one parent port's allocator.
 *
 * The kernel's own pipes (src/kernel/pipe.ts) get a region each, so two pipes never share
 * buffers; these links are a port type of their own ("pipeset", registered here as devices
 * register theirs) over one region of up to 16 links: ring 2i is link i's TX ring (the
 * producer's end, interface 0), ring 2i+1 its RX ring (the consumer's end, interface 1).
 * Each link has its own kernel memory, whose geometry describes the whole region (so every
 * offset agrees) and whose two interfaces bind only that link's rings: a Port attached to
 * one link syncs only its own ring, and its krings, counters and extra-buffer pool are its
 * own. Sync semantics are a pipe's: txsync copies slot descriptors to the peer RX ring at
 * the same index and publishes complete packets; rxsync gives released slots back, with
 * the receiver's buffer when it set NS_BUF_CHANGED. Payload bytes never move.
 *
 * Sleeps: each thread of a pipeline sleeps on one bell of its own, whatever it waits for
 * (any of its inputs, room on an output): a link's descriptor carries the producer's and
 * the consumer's bells, and a sync that publishes news rings the other side's bell only
 * if that side said it sleeps on it (one Atomics.load when it is awake) and the news is
 * worth what it asked (virtio's event index, src/kernel/notify.ts: a consumer asks for a
 * batch, a producer for half a ring of room; a wake-up costs 20-40 µs here, so waking a
 * consumer per published batch costs more than the packets). The sleeper writes what it
 * wants, sets its bit, re-checks every ring it waits on, then waits; a producer about to
 * sleep wakes its sleeping consumers for whatever news they have (a flush): no wake-up
 * can be lost (sequentially consistent atomics on the tail word and the bell), and no
 * news is stranded below a consumer's ask.
 */
import { Geometry } from '../../shm/geometry.js';
import {
  BELL_BYTES,
  DIR_RX,
  DIR_TX,
  KR_PEER_TAIL,
  MAX_RINGS,
  NS_BUF_CHANGED,
  NS_MOREFRAG,
  SLEEP_RX,
  SLEEP_TX,
} from '../../shm/layout.js';
import { BufPool } from '../../shm/pool.js';
import { createBell, createPortMemory, kmemSize, kringWordBase } from '../../shm/region.js';
import { RegionViews } from '../../shm/views.js';
import { NetmapError } from '../errors.js';
import { type BaseDescriptor, type PortType, registerPortType } from '../kernel/attach.js';
import { initKring, KernelMem, type KRing, type SyncBackend } from '../kernel/kring.js';
import { wakeIfWorth } from '../kernel/notify.js';

/** The links' port type (descriptors of this type attach with attachPort once links.ts is loaded). */
export const LINK_TYPE = 'pipeset';
/** Links one region holds: two rings each, and a region has at most MAX_RINGS rings. */
export const LINKS_PER_REGION = MAX_RINGS / 2;
/** Interface (end) of a link: the producer holds the TX ring, the consumer the RX ring. */
export const PRODUCER = 0;
/** See PRODUCER. */
export const CONSUMER = 1;

/** One end of a link: what a thread attaches with `attachPort`. */
export interface LinkDescriptor extends BaseDescriptor {
  type: typeof LINK_TYPE;
  /** The link's index in its region. */
  link: number;
}

/** A region of links: the shared memory and each link's kernel memory. */
export interface LinkRegion {
  mem: SharedArrayBuffer;
  kmems: SharedArrayBuffer[];
  ringSize: number;
  bufSize: number;
}

// Slot word 1 holds len in its low half and flags in its high half.
const LEN_MASK = 0xffff;
const MOREFRAG_HI = NS_MOREFRAG << 16;
const BUF_CHANGED_HI = NS_BUF_CHANGED << 16;

function ifsOf(link: number) {
  return [
    { tx: [2 * link], rx: [] as number[] },
    { tx: [] as number[], rx: [2 * link + 1] },
  ];
}

/**
 * Makes a region of `links` links (1 to 16), rings of `ringSize` slots, `bufSize`-byte
 * buffers, and extra buffers handed to links as `extraBufs[i]` says (each link's pool).
 * Throws NetmapError ENOMEM when the memory cannot be had.
 */
export function createLinkRegion(
  links: number,
  ringSize: number,
  bufSize: number,
  extraBufs: number[] = [],
): LinkRegion {
  if (!Number.isInteger(links) || links < 1 || links > LINKS_PER_REGION) {
    throw new NetmapError('EINVAL', `a link region holds 1 to ${LINKS_PER_REGION} links, got ${links}`);
  }
  const rings: Array<typeof DIR_TX | typeof DIR_RX> = [];
  const mirror: Record<number, number> = {};
  for (let i = 0; i < links; i++) {
    rings.push(DIR_TX, DIR_RX);
    // The consumer's RX ring starts with the buffers of the TX ring that feeds it.
    mirror[2 * i + 1] = 2 * i;
  }
  const totalExtra = extraBufs.reduce((t, n) => t + n, 0);
  let made: ReturnType<typeof createPortMemory>;
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
    initKring(km, 2 * i, true, ringSize);
    initKring(km, 2 * i + 1, false, ringSize);
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
 * The descriptor of one end of link `link` of `region`: `end` PRODUCER (its TX ring) or
 * CONSUMER (its RX ring); `bells` are the producer's and the consumer's threads' bells.
 */
export function linkDescriptor(
  region: LinkRegion,
  link: number,
  end: typeof PRODUCER | typeof CONSUMER,
  bells: [SharedArrayBuffer, SharedArrayBuffer],
  name: string,
  extraBufs = 0,
): LinkDescriptor {
  return {
    type: LINK_TYPE,
    name,
    mem: region.mem,
    kmem: region.kmems[link],
    ifIndex: end,
    bells,
    mode: { exclusive: false, rings: 'all' },
    link,
    extraBufs,
  };
}

/** A bell for a pipeline thread (all the link ends it holds ring it). */
export function createThreadBell(): SharedArrayBuffer {
  return createBell();
}

/** The producer's side: publish [hwcur, head) to the consumer's RX ring. */
class LinkTx implements SyncBackend {
  private drops = 0;
  constructor(
    private readonly peerKb: number,
    private readonly peerSlotBase: number,
    private readonly consumerBell: Int32Array,
  ) {}

  sync(kr: KRing): void {
    const head = kr.rhead;
    let k = kr.hwcur;
    if (k !== head) {
      const w = kr.r.i32;
      const n = kr.numSlots;
      const src = kr.slotBase;
      const dst = this.peerSlotBase;
      const goodBufs = kr.r.numBufs - 2;
      const bufSize = kr.r.bufSize;
      let complete = -1;
      let count = 0;
      this.drops = 0;
      while (k !== head) {
        const end = head > k ? head : n;
        count += end - k;
        for (; k < end; k++) {
          const s = src + 2 * k;
          const d = dst + 2 * k;
          const idx = w[s];
          const lf = w[s + 1];
          const out = lf & ~BUF_CHANGED_HI;
          // Fast path: a good buffer, len <= bufSize, no flag but NS_BUF_CHANGED (which a
          // forwarder sets on every slot it swaps into).
          if ((idx - 2) >>> 0 < goodBufs && out >>> 0 <= bufSize) {
            // Store only what changed: an unneeded store takes the line from the consumer.
            if (w[d] !== idx) w[d] = idx;
            if (w[d + 1] !== out) w[d + 1] = out;
            if (lf !== out) w[s + 1] = out; // the kernel took the buffer change
            complete = k;
          } else if (this.slowSlot(kr, w, s, d)) {
            complete = k;
          }
        }
        if (k === n) k = 0;
      }
      kr.hwcur = k;
      kr.addPackets(count - this.drops);
      if (this.drops > 0) kr.addDrops(this.drops);
      if (complete >= 0) {
        // Only complete packets become visible. The store orders every slot write above
        // before it; the consumer loads the tail with Atomics before reading a slot.
        const tail = complete + 1 === n ? 0 : complete + 1;
        Atomics.store(kr.km.i32, this.peerKb + KR_PEER_TAIL, tail);
        // After the store: a consumer that set its bit before our store is woken here once
        // the news reaches its ask; one that sets it after re-checks the tail before it waits.
        if (wakeIfWorth(this.consumerBell, SLEEP_RX, kr.km.i32, this.peerKb, tail, n)) kr.bumpNotify();
      }
    }
    kr.hwtail = kr.peerTail();
  }

  /**
   * A slot with other flags, a bad buffer or a bad len. It always travels (one slot index
   * space), keeping the fragment chain: a bad len or buffer travels empty (len 0), a bad
   * buffer index as buffer 0, as the kernel's pipes do. True when it ends a packet.
   */
  private slowSlot(kr: KRing, w: Int32Array, s: number, d: number): boolean {
    const idx = w[s];
    const lf = w[s + 1];
    const goodBuf = kr.r.validBuf(idx);
    if (goodBuf && (lf & LEN_MASK) <= kr.r.bufSize) {
      w[d] = idx;
      w[d + 1] = lf & ~BUF_CHANGED_HI;
    } else {
      w[d] = goodBuf ? idx : 0;
      w[d + 1] = lf & MOREFRAG_HI;
      this.drops++;
    }
    if (lf & BUF_CHANGED_HI) w[s + 1] = lf & ~BUF_CHANGED_HI;
    return (lf & MOREFRAG_HI) === 0;
  }
}

/** The consumer's side: release [hwcur, head) back to the producer's TX ring. */
class LinkRx implements SyncBackend {
  constructor(
    private readonly peerKb: number,
    private readonly peerSlotBase: number,
    private readonly producerBell: Int32Array,
  ) {}

  sync(kr: KRing): void {
    const head = kr.rhead;
    let k = kr.hwcur;
    if (k !== head) {
      const w = kr.r.i32;
      const n = kr.numSlots;
      const base = kr.slotBase;
      let released = 0;
      while (k !== head) {
        const end = head > k ? head : n;
        released += end - k;
        for (; k < end; k++) {
          const s = base + 2 * k;
          if (w[s + 1] & BUF_CHANGED_HI) this.giveBack(kr, w, s, k);
        }
        if (k === n) k = 0;
      }
      kr.hwcur = head;
      kr.addPackets(released);
      // The producer may fill up to the slot before our head: one slot stays empty.
      const tail = head === 0 ? n - 1 : head - 1;
      Atomics.store(kr.km.i32, this.peerKb + KR_PEER_TAIL, tail);
      if (wakeIfWorth(this.producerBell, SLEEP_TX, kr.km.i32, this.peerKb, tail, n)) kr.bumpNotify();
    }
    kr.hwtail = kr.peerTail();
  }

  /** The consumer swapped in another buffer: the producer's slot takes it (a bad one is refused and counted). */
  private giveBack(kr: KRing, w: Int32Array, s: number, k: number): void {
    const idx = w[s];
    if (kr.r.validBuf(idx)) {
      const d = this.peerSlotBase + 2 * k;
      w[d] = idx;
      w[d + 1] = (w[d + 1] & LEN_MASK) | BUF_CHANGED_HI;
    } else {
      kr.addDrops(1);
    }
    w[s + 1] &= ~BUF_CHANGED_HI;
  }
}

const linkType: PortType = {
  bells: () => 2,
  extraKmem: () => 0,
  attach(desc: BaseDescriptor, region: RegionViews) {
    const bad = (what: string) => new NetmapError('EINVAL', `bad link descriptor for ${desc.name}: ${what}`);
    const tx = region.ifRings(PRODUCER).tx;
    const rx = region.ifRings(CONSUMER).rx;
    if (region.numIfs !== 2 || tx.length !== 1 || rx.length !== 1 || rx[0] !== tx[0] + 1) throw bad('rings');
    if (!desc.bells.every((b) => b.byteLength === BELL_BYTES)) throw bad('bells');
    const txId = tx[0];
    const rxId = rx[0];
    const producerBell = new Int32Array(desc.bells[PRODUCER]);
    const consumerBell = new Int32Array(desc.bells[CONSUMER]);
    return {
      backend: (id: number) =>
        id === txId
          ? new LinkTx(kringWordBase(rxId), region.slotWordBase(rxId), consumerBell)
          : new LinkRx(kringWordBase(txId), region.slotWordBase(txId), producerBell),
    };
  },
};

registerPortType(LINK_TYPE, linkType);
