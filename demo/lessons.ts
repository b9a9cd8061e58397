/**
 * The setups the page can build, and the lessons: each lesson is a setup, a speed and a
 * few sentences saying what to watch. The controls show the lesson's values and can be
 * changed from there (Apply rebuilds the setup).
 */
import type { ModeName, Policy, Side } from './protocol.js';

export interface Config {
  port: 'pipe' | 'vale';
  tx: Side;
  rx: Side;
  /** Packets per poll at most. */
  batch: number;
  /** Slots per ring. */
  ring: number;
  /** Frame length in bytes. */
  len: number;
  /** How long an app busy-polls in poll() before it sleeps, in µs (pkt-gen's --spin-us). */
  spinUs: number;
  /** How long a kloop or NIC device thread keeps looking after its last work before it sleeps, in µs (--linger-us). */
  lingerUs: number;
  /** Kloops and device threads never sleep (a guest then never needs to kick). */
  busyWait: boolean;
  notify: Policy;
}

export interface Speed {
  mode: ModeName;
  /** Slow motion: the pause after each batch, in ms. */
  pauseMs: number;
}

export interface Lesson {
  id: string;
  title: string;
  config: Config;
  speed: Speed;
  /** Two or three sentences: what to watch. */
  text: string;
}

const base: Config = {
  port: 'pipe',
  tx: 'host',
  rx: 'host',
  batch: 64,
  ring: 1024,
  len: 60,
  spinUs: 200,
  lingerUs: 1000,
  busyWait: false,
  notify: 'asleep',
};

export const LESSONS: readonly Lesson[] = [
  {
    id: 'ownership',
    title: '1. Who owns which slot',
    config: { ...base, ring: 16, batch: 4, spinUs: 0 },
    speed: { mode: 'slow', pauseMs: 500 },
    text:
      'Each ring is a circle of slots. The app owns the slots from head to tail (the arc marked "user"), the kernel owns the rest: ' +
      'the sender fills slots and moves head past them, its next txsync hands them over, and tail moves on once the receiver has released them. ' +
      'Pick "single step" to run one sync of one thread at a time and follow the hands.',
  },
  {
    id: 'pipe',
    title: '2. A pipe swaps descriptors, the payload never moves',
    config: { ...base },
    speed: { mode: 'full', pauseMs: 200 },
    text:
      'At full speed a pipe moves tens of millions of packets a second, because a sync copies only 8-byte slot descriptors (buffer index, length, flags) into the peer ring at the same index. ' +
      'Set the ring to 16 and slow motion, then Apply: the receiver\'s slot k holds the very buffer (same index "b", same sequence number "#") the sender filled.',
  },
  {
    id: 'vale',
    title: '3. VALE copies and learns',
    config: { ...base, port: 'vale', ring: 16, batch: 2, spinUs: 0 },
    speed: { mode: 'slow', pauseMs: 400 },
    text:
      "Every VALE port has its own memory, so the switch copies each frame into a buffer of the destination ring: compare the buffer numbers of a's TX ring and b's RX ring. " +
      'Frames to a MAC the switch does not know are flooded, to vale0:c too (nobody reads it); once b answers, the learning table maps its MAC to port b and c gets nothing more.',
  },
  {
    id: 'passthrough',
    title: '4. Passthrough: the guest driver and the CSB',
    config: { ...base, tx: 'guest', ring: 32, batch: 8, spinUs: 0, lingerUs: 0 },
    speed: { mode: 'slow', pauseMs: 300 },
    text:
      "The guest VM holds only the port's rings and the CSB: its txsync writes cur and head into atok, and the host kloop runs the real port's sync and answers in ktoa (hwcur, hwtail). " +
      'A kick (guest to host) happens only when the kloop said it would sleep (kern_need_kick = 1), an interrupt only when the guest asked (appl_need_kick = 1): watch the flags flash.',
  },
  {
    id: 'batches',
    title: '5. Why large batches collapse (experiment 2)',
    config: { ...base, tx: 'guest', ring: 256, batch: 256, spinUs: 0 },
    speed: { mode: 'full', pauseMs: 200 },
    text:
      'A batch as large as the ring fills it in one go: the guest must then sleep until the kloop has freed slots, so nearly every batch pays an interrupt and a wake-up (see interrupts per batch, and the lanes). ' +
      'Set the ring to 1024 with the same batch and Apply: the guest seldom waits and the rate rises several times. Then try the event-idx or adaptive policy and watch the interrupts per packet.',
  },
  {
    id: 'emulated',
    title: '6. The emulated NIC translates every packet',
    config: { ...base, tx: 'emulated', ring: 16, batch: 4, spinUs: 0, lingerUs: 0 },
    speed: { mode: 'slow', pauseMs: 400 },
    text:
      "The guest's e1000 driver turns each slot into a 16-byte descriptor and writes TDT (a doorbell, an MMIO exit in a real VM); the device thread reads each descriptor, copies the packet out of guest memory into the host port with one txsync per packet, writes DD back and raises an interrupt. " +
      "Switch to full speed and compare the Mpps with lesson 4's passthrough guest.",
  },
  {
    id: 'cores',
    title: '7. More threads than cores',
    config: { ...base, tx: 'guest', rx: 'guest' },
    speed: { mode: 'full', pauseMs: 200 },
    text:
      'Two guests and their two kloops are four busy threads, plus this page, on the cores shown at right. When threads outnumber cores, a thread that busy-polls keeps the one it waits for off its core: watch the lanes (spinning vs running). ' +
      'Set linger to 0 (threads sleep instead) or the adaptive policy, and Apply.',
  },
];

export function lessonById(id: string): Lesson | undefined {
  return LESSONS.find((l) => l.id === id);
}

/** The limits the controls and the page enforce (the library allows rings of 2 to 16384). */
export const LIMITS = {
  batch: [1, 4096],
  ring: [4, 4096],
  len: [60, 2048],
  spinUs: [0, 5000],
  lingerUs: [0, 5000],
  pauseMs: [20, 3000],
} as const;
