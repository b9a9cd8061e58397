/**
 * What the page and its workers share, besides the library's own memory: the jobs the page
 * posts, and two small SharedArrayBuffers the page allocates.
 *
 * - The control block (one per setup): the speed mode, the slow-motion pause, the start
 *   word, and a gate word per thread for single step. Only the page writes it (and a
 *   thread decrements its own gate when it passes it).
 * - The stats block: per thread, a state word and a few Float64 counters, written by that
 *   thread only, sampled by the page on requestAnimationFrame. A thread writes its state
 *   with Atomics.store and only when it changes; counters are plain stores (the page reads
 *   them for display only: a stale or torn value costs a frame, never correctness).
 *
 * Words written by different threads are 128 bytes apart (the adjacent-line prefetcher
 * pairs 64-byte lines), as in shm/layout.ts: a page sample never lands in a line a hot
 * loop writes besides its own.
 */
import type {
  E1000DeviceDescriptor,
  E1000GuestDescriptor,
  GuestDescriptor,
  KloopDescriptor,
  PortDescriptor,
} from '../src/browser.js';

/** The notification policies (src/kernel/notify.ts). */
export const POLICIES = ['asleep', 'event-idx', 'adaptive'] as const;
export type Policy = (typeof POLICIES)[number];

/** Where an app runs: a host process, a passthrough guest VM, a guest behind an emulated e1000. */
export const SIDES = ['host', 'guest', 'emulated'] as const;
export type Side = (typeof SIDES)[number];

// ---- speed modes ----
export const MODE_FULL = 0;
/** A pause after every batch (a sync that moved something), as long as CT_PAUSE_MS says. */
export const MODE_SLOW = 1;
/** Every thread waits at its gate before each sync; the page releases one sync at a time. */
export const MODE_STEP = 2;
export const MODE_NAMES = ['full', 'slow', 'step'] as const;
export type ModeName = (typeof MODE_NAMES)[number];

// ---- control block (Int32 words) ----
const PAIR = 32; // 128 bytes in words
export const CT_MODE = 0;
export const CT_PAUSE_MS = 1;
/** Set to 1 once every worker is attached: the loops start together. */
export const CT_GO = PAIR;
/** A word nobody stores to: slow-motion pauses wait on it, and the page notifies it to cut them short. */
export const CT_PAUSE_WAKE = 2 * PAIR;
/** The gates: thread t's is CT_GATES + t * PAIR, the number of syncs it may still run. */
export const CT_GATES = 3 * PAIR;
export const MAX_THREADS = 6;
export const CTL_BYTES = (CT_GATES + MAX_THREADS * PAIR) * 4;
export function gateWord(t: number): number {
  return CT_GATES + t * PAIR;
}

// ---- stats block: one 128-byte block per thread ----
export const STAT_BLOCK_BYTES = 128;
export const STATS_BYTES = MAX_THREADS * STAT_BLOCK_BYTES;
/** Int32 word 0 of a block: the thread's state (T_*). */
export const ST_STATE = 0;
/** Float64 fields of a block (index 0 overlaps the state word: not used). */
export const SF_SYNCS = 1;
export const SF_PACKETS = 2;
export const SF_KICKS = 3;
export const SF_IRQS = 4;
export const SF_DOORBELLS = 5;
export const SF_HOST_TXSYNCS = 6;
export const SF_SLEEPS = 7;
export const SF_WORDS = STAT_BLOCK_BYTES / 8;

/** Thread states as a thread publishes them. The page turns T_POLLING into asleep or spinning. */
export const T_STARTING = 0;
export const T_RUNNING = 1;
/** In poll(): busy-polling, or asleep in Atomics.wait (the page reads the sleep word to tell). */
export const T_POLLING = 2;
/** A kloop or device thread that found no work and keeps looking (its linger). */
export const T_LINGER = 3;
/** Waiting at its gate (single step). */
export const T_HELD = 4;
/** The slow-motion pause after a batch. */
export const T_PAUSED = 5;
export const T_FAILED = 6;

/** How an app moves packets (the same for a host app, a passthrough guest and an emulated guest). */
export interface AppConfig {
  batch: number;
  len: number;
  /** Busy-poll in poll() before sleeping (µs); 0 in single step. */
  spinUs: number;
  notify: Policy;
  /** Threads outnumber cores: the adaptive policy never busy-polls then. */
  oversubscribed: boolean;
  /** Write a sequence number into each frame (small rings, where the page shows it). */
  seq: boolean;
  /** VALE: frames carry real MACs; the receiver answers the first one so the switch learns it. */
  vale: boolean;
}

/** How a kloop or an emulated NIC's device thread waits for work. */
export interface HostConfig {
  lingerUs: number;
  busyWait: boolean;
  notify: Policy;
}

interface JobBase {
  /** This thread's index in the stats block and the gates. */
  index: number;
  ctl: SharedArrayBuffer;
  stats: SharedArrayBuffer;
}

export type Job =
  | (JobBase & {
      kind: 'app';
      role: 'tx' | 'rx';
      side: 'host';
      desc: PortDescriptor;
      app: AppConfig;
    })
  | (JobBase & { kind: 'app'; role: 'tx' | 'rx'; side: 'guest'; desc: GuestDescriptor; app: AppConfig })
  | (JobBase & { kind: 'app'; role: 'tx' | 'rx'; side: 'emulated'; desc: E1000GuestDescriptor; app: AppConfig })
  | (JobBase & { kind: 'kloop'; desc: KloopDescriptor; host: HostConfig })
  | (JobBase & { kind: 'device'; desc: E1000DeviceDescriptor; host: HostConfig });

/** What a worker posts back. */
export type WorkerMessage = { type: 'ready'; index: number } | { type: 'error'; index: number; message: string };

/** The MACs the apps use (locally administered), and where pkt-gen puts its sequence number. */
export const SENDER_MAC = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0a] as const;
export const RECEIVER_MAC = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0b] as const;
export const SEQ_OFFSET = 44;
