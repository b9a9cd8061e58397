/**
 * A pipeline thread's ends of its links: its inputs (the consumer ends of the links that
 * feed it), its outputs (per output, the producer ends of the links to each worker of the
 * node it goes to) and how it sleeps when it has nothing to do (one bell per thread, see
 * links.ts). Used by the stage loop, lb, sources and sinks, in workers and on the main
 * thread (there with Atomics.waitAsync).
 *
 * Moving a packet to an output: when the output goes to a node with several workers, the
 * symmetric flow hash picks the worker (so a connection's packets, both ways, meet in one
 * worker); the buffer is swapped in (zero copy, NS_BUF_CHANGED) when the output's link is
 * in the input's region, else copied. A full ring is waited for (backpressure), unless its
 * consumer died: then the packet is counted as lost, never silently gone.
 */
import {
  BELL_SLEEP,
  KC_NOTIFIES,
  KR_EV_START,
  KR_EV_WANT,
  KR_PEER_TAIL,
  NS_BUF_CHANGED,
  SLEEP_RX,
  SLEEP_TX,
} from '../../shm/layout.js';
import { kringCounterBase, kringWordBase } from '../../shm/region.js';
import { copyFrame } from '../../shm/views.js';
import { wakeIfWorth } from '../kernel/notify.js';
import { pipeSetRxRing, pipeSetTxRing } from '../kernel/pipeset.js';
import { POLLIN, POLLOUT, type Port } from '../port.js';
import type { NetmapRing } from '../ring.js';
import { NON_IP, symmetricHash } from './hash.js';
import type { RunControl } from './runtime.js';

const LEN_MASK = 0xffff;
const BUF_CHANGED_HI = NS_BUF_CHANGED << 16;
/** How long one sleep may last before the thread looks at its flags again (ms): a safety net, never the mechanism. */
export const SLEEP_BOUND_MS = 50;

/** Where a link's kernel words are: its kernel memory and its two krings' blocks. */
export interface LinkWords {
  km: Int32Array;
  /** Kring blocks of the producer's TX ring and the consumer's RX ring. */
  txKb: number;
  rxKb: number;
  /** The TX kring's notify counter (a flush's wake-ups count with the sync's). */
  kf: Float64Array;
  txNotifies: number;
}

/** The kernel words of link `link` (kernel memory `kmem`). */
export function linkWords(kmem: SharedArrayBuffer, link: number): LinkWords {
  const tx = pipeSetTxRing(link);
  return {
    km: new Int32Array(kmem),
    txKb: kringWordBase(tx),
    rxKb: kringWordBase(pipeSetRxRing(link)),
    kf: new Float64Array(kmem),
    txNotifies: kringCounterBase(tx) + KC_NOTIFIES,
  };
}

/**
 * Says, before a sleep, how much news is worth a wake-up on a ring: once its tail moves
 * `want` slots past where this thread last saw it (what the waker's wakeIfWorth reads).
 */
function ask(w: LinkWords, kb: number, seen: number, want: number): void {
  Atomics.store(w.km, kb + KR_EV_START, seen);
  Atomics.store(w.km, kb + KR_EV_WANT, want);
}

/** The consumer ends of a thread's input links. */
export class Inputs {
  readonly ports: Port[];
  readonly rings: NetmapRing[];
  /** The threads that produce into these inputs (their done words end the input). */
  readonly upstream: Int32Array;
  private readonly words: LinkWords[];
  private rr = 0;

  constructor(ports: Port[], upstream: readonly number[], words: LinkWords[]) {
    this.ports = ports;
    this.rings = ports.map((p) => p.rx);
    this.upstream = Int32Array.from(upstream);
    this.words = words;
  }

  /** Before a sleep: wake me once some input has `want` new packets (or a producer flushes). */
  arm(want: number): void {
    for (let i = 0; i < this.words.length; i++) ask(this.words[i], this.words[i].rxKb, this.rings[i].tail, want);
  }

  get length(): number {
    return this.ports.length;
  }

  /**
   * An input ring with packets past cur, round robin (a ring found empty is rxsynced
   * first); -1 when none has any now.
   */
  pick(): number {
    const n = this.rings.length;
    for (let i = 0; i < n; i++) {
      let k = this.rr + i;
      if (k >= n) k -= n;
      const r = this.rings[k];
      if (r.cur === r.tail) this.ports[k].rxsync();
      if (r.cur !== r.tail) {
        this.rr = k + 1 === n ? 0 : k + 1;
        return k;
      }
    }
    return -1;
  }

  /** Releases input `i` up to slot `to` and picks up what came meanwhile. */
  release(i: number, to: number): void {
    this.rings[i].advance(to);
    this.ports[i].rxsync();
  }

  /** True when a peer published news on some input (one load each: a spin's check). */
  moved(): boolean {
    for (let i = 0; i < this.ports.length; i++) if (this.ports[i].moved(POLLIN)) return true;
    return false;
  }

  /**
   * True when nothing more will come: every upstream thread is done and every input ring
   * is empty. The done words are read before the rings: a producer publishes its last
   * packets before it says it is done.
   */
  finished(ctl: RunControl): boolean {
    if (!ctl.allDone(this.upstream)) return false;
    for (let i = 0; i < this.ports.length; i++) {
      this.ports[i].rxsync();
      const r = this.rings[i];
      if (r.cur !== r.tail) return false;
    }
    return true;
  }

  /** True when some input has packets (syncing the empty ones) or nothing more will come. */
  readyOrFinished(ctl: RunControl): boolean {
    return this.pick() >= 0 || this.finished(ctl);
  }
}

/** One output of a thread: a link to each worker of the node it goes to. */
export class Output {
  readonly name: string;
  readonly ports: Port[];
  readonly rings: NetmapRing[];
  /** The consumer thread of each link (to notice a dead one). */
  readonly consumers: Int32Array;
  /** Rings that got packets since the last flush. */
  readonly dirty: Uint8Array;
  readonly n: number;
  /** Per link, made once (a wait allocates nothing): room there, or its consumer gone (after a txsync). */
  readonly roomOrGone: Array<() => boolean>;
  /** Per link: the consumer released something (one load: a spin's check). */
  readonly released: Array<() => boolean>;
  private readonly words: LinkWords[];
  private readonly consumerBells: Int32Array[];

  constructor(
    name: string,
    ports: Port[],
    consumers: readonly number[],
    ctl: RunControl,
    words: LinkWords[],
    consumerBells: Int32Array[],
  ) {
    this.name = name;
    this.ports = ports;
    this.rings = ports.map((p) => p.tx);
    this.consumers = Int32Array.from(consumers);
    this.dirty = new Uint8Array(ports.length);
    this.n = ports.length;
    this.words = words;
    this.consumerBells = consumerBells;
    this.roomOrGone = ports.map((p, i) => () => {
      p.txsync();
      return p.tx.cur !== p.tx.tail || ctl.done(consumers[i]) !== 0;
    });
    this.released = ports.map((p) => () => p.moved(POLLOUT));
  }

  /** The link a frame goes to: the flow hash's pick among several workers (non-IP: the first). */
  pick(data: Uint8Array, off: number, len: number): number {
    if (this.n === 1) return 0;
    const h = symmetricHash(data, off, len);
    return h === NON_IP ? 0 : h % this.n;
  }

  /** txsync of every link that got packets. */
  flush(): void {
    for (let i = 0; i < this.n; i++) {
      if (this.dirty[i] !== 0) {
        this.dirty[i] = 0;
        this.ports[i].txsync();
      }
    }
  }

  /** Before a sleep on room in link `i`: wake me once `want` slots are free again. */
  armRoom(i: number, want: number): void {
    ask(this.words[i], this.words[i].txKb, this.rings[i].tail, want);
  }

  /**
   * A producer about to sleep (or done): wakes every sleeping consumer that has news,
   * whatever it asked for (it cannot get more from us until we wake).
   */
  flushWakes(): void {
    for (let i = 0; i < this.n; i++) {
      const w = this.words[i];
      const now = Atomics.load(w.km, w.rxKb + KR_PEER_TAIL);
      if (wakeIfWorth(this.consumerBells[i], SLEEP_RX, w.km, w.rxKb, now, this.rings[i].numSlots, true)) {
        w.kf[w.txNotifies]++;
      }
    }
  }

  /** txsync of every link, packets or not (the end of a run). */
  flushAll(): void {
    for (let i = 0; i < this.n; i++) this.ports[i].txsync();
    this.dirty.fill(0);
  }
}

/**
 * Moves the packet in slot `s` (word index in `src.i32`) of ring `src` into output ring
 * `r` at its cur, which must have room: swaps the buffers when both rings share memory
 * (the input slot takes the output slot's old buffer), else copies. Sets NS_BUF_CHANGED
 * on swapped slots. Advances only the local cur the caller passes and returns it moved.
 */
export function placeInto(src: NetmapRing, s: number, r: NetmapRing, k: number): number {
  const si = src.i32;
  const ti = r.i32;
  const t = r.slotBase + 2 * k;
  const idx = si[s];
  const lf = si[s + 1];
  if (src.mem.buffer === r.mem.buffer) {
    const old = ti[t];
    ti[t] = idx;
    ti[t + 1] = (lf & LEN_MASK) | BUF_CHANGED_HI;
    si[s] = old;
    si[s + 1] = (lf & LEN_MASK) | BUF_CHANGED_HI;
  } else {
    copyFrame(src.region, idx, r.region, ti[t], lf & LEN_MASK);
    ti[t + 1] = lf & LEN_MASK;
  }
  return k + 1 === r.numSlots ? 0 : k + 1;
}

/**
 * How a thread waits: set its sleep bits on its bell, check again, then Atomics.wait (a
 * worker) for at most SLEEP_BOUND_MS. `spinIters` checks of a cheap predicate may come
 * first (busy-polling pays only while every thread has a core). Counts its sleeps.
 */
export class Sleeper {
  sleeps = 0;
  /** This thread's outputs: flushed (their sleeping consumers woken for any news) before it sleeps. */
  outputs: Output[] = [];
  constructor(
    readonly bell: Int32Array,
    private readonly spinIters: number,
  ) {}

  private flush(): void {
    for (let i = 0; i < this.outputs.length; i++) this.outputs[i].flushWakes();
  }

  /**
   * Waits until `ready()` (which may sync rings) is true, or the bound passes. `moved()` is
   * the spin's cheap check (a load per ring). `bits`: SLEEP_RX (an input), SLEEP_TX (room
   * on an output), or both.
   */
  wait(bits: number, ready: () => boolean, moved: () => boolean): void {
    for (let i = this.spinIters; i > 0; i--) if (moved()) return;
    this.flush();
    // Say we sleep, then look again: a waker that published before our bit was set is
    // seen by this check; one that publishes after it sees the bit and notifies.
    const v = Atomics.or(this.bell, BELL_SLEEP, bits) | bits;
    if (ready()) {
      Atomics.and(this.bell, BELL_SLEEP, ~bits);
      return;
    }
    this.sleeps++;
    Atomics.wait(this.bell, BELL_SLEEP, v, SLEEP_BOUND_MS);
    // Only this thread sleeps on its bell: taking our bits off cannot hide another sleeper's.
    Atomics.and(this.bell, BELL_SLEEP, ~bits);
  }

  /** The same on a thread that must not block (the main thread). */
  async waitAsync(bits: number, ready: () => boolean): Promise<void> {
    this.flush();
    const v = Atomics.or(this.bell, BELL_SLEEP, bits) | bits;
    if (ready()) {
      Atomics.and(this.bell, BELL_SLEEP, ~bits);
      return;
    }
    this.sleeps++;
    // A pending waitAsync does not keep Node alive: hold a timer while we wait.
    const keep = setTimeout(() => {}, SLEEP_BOUND_MS + 10);
    try {
      const w = Atomics.waitAsync(this.bell, BELL_SLEEP, v, SLEEP_BOUND_MS);
      if (w.async) await w.value;
    } finally {
      clearTimeout(keep);
      Atomics.and(this.bell, BELL_SLEEP, ~bits);
    }
  }
}

/** A producer waiting for room asks for half the ring back: one wake-up per half ring of work. */
export function roomWant(r: NetmapRing): number {
  return Math.max(1, (r.numSlots - 1) >> 1);
}

/**
 * A consumer asks for a quarter of its ring (at least a batch, at most half the ring):
 * one wake-up per quarter ring of work, however small the producer's bursts. A producer
 * about to sleep flushes, so a slow trickle is never held back by the ask.
 */
export function newsWant(batch: number, r: NetmapRing): number {
  const half = (r.numSlots - 1) >> 1;
  return Math.max(1, Math.min(half, Math.max(batch, (r.numSlots - 1) >> 2)));
}

/** Sleep bits: waiting for an input's news, and for room on an output. */
export const WAIT_IN = SLEEP_RX;
/** See WAIT_IN. */
export const WAIT_OUT = SLEEP_TX;

/**
 * Makes room on output ring `i` of `out`: txsync, then sleep until the consumer released a
 * slot. Returns false when the consumer is gone (dead, or the run failed and it finished):
 * the caller counts what it holds for it as lost.
 */
export function waitRoom(out: Output, i: number, ctl: RunControl, sleeper: Sleeper): boolean {
  const r = out.rings[i];
  const consumer = out.consumers[i];
  out.dirty[i] = 0;
  // Each pass syncs first: a spin that saw the consumer move returns without syncing.
  for (out.ports[i].txsync(); r.cur === r.tail; out.ports[i].txsync()) {
    if (ctl.done(consumer) !== 0) return false;
    out.armRoom(i, roomWant(r));
    sleeper.wait(WAIT_OUT, out.roomOrGone[i], out.released[i]);
  }
  return true;
}

/** waitRoom for the main thread. */
export async function waitRoomAsync(out: Output, i: number, ctl: RunControl, sleeper: Sleeper): Promise<boolean> {
  const r = out.rings[i];
  const consumer = out.consumers[i];
  out.dirty[i] = 0;
  for (out.ports[i].txsync(); r.cur === r.tail; out.ports[i].txsync()) {
    if (ctl.done(consumer) !== 0) return false;
    out.armRoom(i, roomWant(r));
    await sleeper.waitAsync(WAIT_OUT, out.roomOrGone[i]);
  }
  return true;
}
