/**
 * A pipeline's links: one-way netmap pipes of the kernel's pipe sets (src/kernel/pipeset.ts),
 * up to 16 sharing one memory region, so a buffer index means the same buffer on every link
 * of the region and a stage forwards by swapping buffers between its input's RX ring and its
 * output's TX ring (NS_BUF_CHANGED), as netmap's bridge and lb do between pipes opened on
 * one parent port's allocator. The kernel owns the port type and its sync (a pipe's); this
 * file names the pipeline's side of it, makes a run's regions and hands each thread the
 * descriptors of its link ends.
 *
 * Sleeps: each thread of a pipeline sleeps on one bell of its own, whatever it waits for
 * (any of its inputs, room on an output): a link's descriptor carries the producer's and
 * the consumer's bells, and a sync that publishes news rings the other side's bell only
 * if that side said it sleeps on it (one Atomics.load when it is awake) and the news is
 * worth what it asked (virtio's event index, src/kernel/notify.ts: a consumer asks for a
 * batch, a producer for half a ring of room; a wake-up costs 20-40 µs here, so waking a
 * consumer per published batch costs more than the packets). The sleeper writes what it
 * wants, sets its bit, re-checks every ring it waits on, then waits; a producer about to
 * sleep wakes its sleeping consumers for whatever news they have (a flush, io.ts): no
 * wake-up can be lost (sequentially consistent atomics on the tail word and the bell), and
 * no news is stranded below a consumer's ask.
 */
import { KC_NOTIFIES, KC_PACKETS } from '../../shm/layout.js';
import { createBell, kringCounterBase } from '../../shm/region.js';
import {
  createPipeSet,
  PIPESET_CONSUMER,
  PIPESET_MAX_LINKS,
  PIPESET_PRODUCER,
  PIPESET_TYPE,
  type PipeSet,
  type PipeSetDescriptor,
  pipeSetDescriptor,
  pipeSetRxRing,
  pipeSetTxRing,
} from '../kernel/pipeset.js';
import type { LinkPlan } from './plan.js';

/** The links' port type: the kernel's pipe sets. */
export const LINK_TYPE = PIPESET_TYPE;
/** Links one region holds. */
export const LINKS_PER_REGION = PIPESET_MAX_LINKS;
/** Interface (end) of a link: the producer holds the TX ring, the consumer the RX ring. */
export const PRODUCER = PIPESET_PRODUCER;
/** See PRODUCER. */
export const CONSUMER = PIPESET_CONSUMER;

/** One end of a link: what a thread attaches with `attachPort`. */
export type LinkDescriptor = PipeSetDescriptor;
/** A region of links: the shared memory and each link's kernel memory. */
export type LinkRegion = PipeSet;

/**
 * Makes a region of `links` links (1 to 16), rings of `ringSize` slots, `bufSize`-byte
 * buffers, and extra buffers handed to links as `extraBufs[i]` says (each link's pool).
 * Throws NetmapError ENOMEM when the memory cannot be had.
 */
export const createLinkRegion: (links: number, ringSize: number, bufSize: number, extraBufs?: number[]) => LinkRegion =
  createPipeSet;

/**
 * The descriptor of one end of link `link` of `region`: `end` PRODUCER (its TX ring) or
 * CONSUMER (its RX ring); `bells` are the producer's and the consumer's threads' bells.
 */
export const linkDescriptor: typeof pipeSetDescriptor = pipeSetDescriptor;

/** A bell for a pipeline thread (all the link ends it holds ring it). */
export function createThreadBell(): SharedArrayBuffer {
  return createBell();
}

/**
 * Makes the regions a run's links were planned into (plan.ts) and hands each link's ends
 * to its threads: the producer's end to the output it serves, the consumer's to the inputs.
 * Returns the regions, by region number.
 */
export function wireLinks(links: readonly LinkPlan[], ring: number, bufSize: number): LinkRegion[] {
  const regions: LinkRegion[] = [];
  const nRegions = Math.max(0, ...links.map((l) => l.region + 1));
  for (let r = 0; r < nRegions; r++) {
    const ls = links.filter((l) => l.region === r).sort((a, b) => a.index - b.index);
    regions.push(
      createLinkRegion(
        ls.length,
        ring,
        bufSize,
        ls.map((l) => l.extra),
      ),
    );
  }
  for (const l of links) {
    const region = regions[l.region];
    const bells: [SharedArrayBuffer, SharedArrayBuffer] = [l.from.bell, l.to.bell];
    const name = `${l.from.node.name}#${l.from.worker}>${l.to.node.name}#${l.to.worker}`;
    // The extra buffers are the link's (its pool): lb takes them at the consumer end, a
    // fanning-out source at the producer end.
    l.from.outputs[l.output].links.push({
      desc: linkDescriptor(region, l.index, PRODUCER, bells, name, l.extra),
      peer: l.to.id,
    });
    l.to.inputs.push({ desc: linkDescriptor(region, l.index, CONSUMER, bells, name, l.extra), peer: l.from.id });
  }
  return regions;
}

/** A link's kernel counters: packets sent and slots released, wake-ups sent each way. */
export interface LinkCounters {
  sent: number;
  released: number;
  consumerWakeups: number;
  producerWakeups: number;
}

/** Reads link `link`'s counters from its kernel memory in `region` (live: the owners write them). */
export function linkCounters(region: LinkRegion, link: number): LinkCounters {
  const km = new Float64Array(region.kmems[link]);
  const tx = kringCounterBase(pipeSetTxRing(link));
  const rx = kringCounterBase(pipeSetRxRing(link));
  return {
    sent: km[tx + KC_PACKETS],
    released: km[rx + KC_PACKETS],
    consumerWakeups: km[tx + KC_NOTIFIES],
    producerWakeups: km[rx + KC_NOTIFIES],
  };
}
