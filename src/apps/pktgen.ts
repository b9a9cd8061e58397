/**
 * pkt-gen, netmap's traffic tool, as an app over a Port: tx, rx, txseq/rxseq (sequence
 * numbers, gap and reorder counts), ping/pong (round-trip times). It runs in whatever
 * thread holds the port; a Control block starts and stops it, a RoleStats block shows
 * its progress to the coordinator.
 */
import { ST_BATCHES, ST_BYTES, ST_EMPTY, ST_PACKETS, ST_SEQ_GAPS, ST_SEQ_REORDER } from '../../shm/layout.js';
import { NetmapError } from '../errors.js';
import { type NetmapPort, POLLIN, POLLOUT } from '../port.js';
import type { NetmapRing } from '../ring.js';
import { spinIterations } from '../spin.js';
import { type Control, RoleStats, STOP_ALL, STOP_SENDERS } from './control.js';
import { BROADCAST_MAC, type Mac, MIN_FRAME_LEN, MIN_SEQ_FRAME_LEN, SEQ_OFFSET, writeFrame } from './frame.js';

/** pkt-gen's modes: tx, rx, txseq, rxseq (sequence numbers checked), ping, pong. */
export const PKTGEN_MODES = ['tx', 'rx', 'txseq', 'rxseq', 'ping', 'pong'] as const;
/** One of PKTGEN_MODES. */
export type PktGenMode = (typeof PKTGEN_MODES)[number];

/** Options of runPktGen, one pkt-gen app on a port: mode, frame length, batch, count, spin, poll timeout, pauses. */
export interface PktGenOptions {
  mode: PktGenMode;
  /** Frame length in bytes (default 60). */
  len?: number;
  /** Slots filled or drained per sync (default 64). */
  batch?: number;
  /** Packets to send or receive; 0 = until stopped (default 0). */
  count?: number;
  /** Busy-poll this long before sleeping in poll (µs). 0 sleeps at once. */
  spinUs?: number;
  /** How long one poll may block before the stop flag is looked at again (ms). */
  pollMs?: number;
  srcMac?: Mac;
  dstMac?: Mac;
  /**
   * Receivers: send one broadcast frame from srcMac before starting, so a learning
   * switch knows where this MAC lives and senders' unicast is not flooded.
   */
  announce?: boolean;
  /**
   * Random pauses (stress): every ~`pauseEvery` batches the app stops for a random
   * 0..pauseUs µs, so its peer runs dry (or fills up) and goes to sleep. 0 = never (default).
   */
  pauseUs?: number;
  /** Mean number of batches between two pauses (default 16). */
  pauseEvery?: number;
  /** Seed of the pause PRNG (xorshift32), so a run's pauses are reproducible (default 1). */
  seed?: number;
}

/**
 * What one pkt-gen app did: packets, bytes, syncs that moved packets, sequence gaps and
 * reorders, empty slots, round trips.
 */
export interface PktGenResult {
  mode: PktGenMode;
  packets: number;
  bytes: number;
  /** Syncs that moved at least one packet ("events" in pkt-gen's summary). */
  batches: number;
  seqGaps: number;
  seqReorder: number;
  /** Zero-length slots received: packets the kernel dropped on the way. */
  empty: number;
  seconds: number;
  /** The port's sleeps that timed out with their news there: lost wake-ups (tx, rx; should stay 0). */
  lateWakeups: number;
  /** Round-trip times in µs (ping only). */
  rtt?: { count: number; min: number; median: number; p99: number; max: number };
}

export function checkPktGenOptions(
  o: PktGenOptions,
  bufSize: number,
): Required<Omit<PktGenOptions, 'srcMac' | 'dstMac' | 'announce'>> {
  if (!(PKTGEN_MODES as readonly string[]).includes(o.mode)) {
    throw new NetmapError('EINVAL', `unknown pkt-gen mode '${o.mode}' (${PKTGEN_MODES.join(', ')})`);
  }
  const len = o.len ?? 60;
  const batch = o.batch ?? 64;
  const count = o.count ?? 0;
  const seq = o.mode === 'txseq' || o.mode === 'rxseq' || o.mode === 'ping' || o.mode === 'pong';
  const min = seq ? MIN_SEQ_FRAME_LEN : MIN_FRAME_LEN;
  if (!Number.isInteger(len) || len < min || len > bufSize) {
    throw new NetmapError('EINVAL', `len must be an integer from ${min} to the buffer size ${bufSize}, got ${len}`);
  }
  if (!Number.isInteger(batch) || batch < 1)
    throw new NetmapError('EINVAL', `batch must be a positive integer, got ${batch}`);
  if (!Number.isInteger(count) || count < 0)
    throw new NetmapError('EINVAL', `count must be a non-negative integer, got ${count}`);
  const spinUs = o.spinUs ?? 0;
  const pollMs = o.pollMs ?? 50;
  if (!(spinUs >= 0)) throw new NetmapError('EINVAL', `spinUs must be >= 0, got ${spinUs}`);
  if (!(pollMs > 0)) throw new NetmapError('EINVAL', `pollMs must be > 0, got ${pollMs}`);
  const pauseUs = o.pauseUs ?? 0;
  const pauseEvery = o.pauseEvery ?? 16;
  const seed = o.seed ?? 1;
  if (!Number.isInteger(pauseUs) || pauseUs < 0 || pauseUs > MAX_PAUSE_US) {
    throw new NetmapError('EINVAL', `pauseUs must be an integer from 0 to ${MAX_PAUSE_US}, got ${pauseUs}`);
  }
  if (!Number.isInteger(pauseEvery) || pauseEvery < 1 || pauseEvery > 1e6) {
    throw new NetmapError('EINVAL', `pauseEvery must be an integer from 1 to 1e6, got ${pauseEvery}`);
  }
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new NetmapError('EINVAL', `seed must be an integer from 0 to 2^32-1, got ${seed}`);
  }
  return { mode: o.mode, len, batch, count, spinUs, pollMs, pauseUs, pauseEvery, seed };
}

/** Longest random pause (µs): a second keeps a stalled peer distinguishable from a paused one. */
export const MAX_PAUSE_US = 1_000_000;
/** Pauses shorter than this spin: a sleep this short would mostly be wake-up latency. */
const PAUSE_SPIN_BELOW_US = 50;

/**
 * Random pauses driven by xorshift32: reproducible for a seed, no allocation per call.
 * `tick()` is called once per batch, only when pauses are on.
 */
export class RandomPause {
  private state: number;
  private left: number;
  private readonly nap = new Int32Array(new SharedArrayBuffer(4));
  /** Pauses taken (for tests and reports). */
  count = 0;

  constructor(
    private readonly maxUs: number,
    private readonly every: number,
    seed: number,
  ) {
    // xorshift has a fixed point at 0; mixing keeps seeds 0 and 1 apart.
    this.state = (seed ^ 0x9e3779b9) | 0 || 1;
    this.left = this.gap();
  }

  /** The next 32 random bits (xorshift32, as an unsigned number). */
  random(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x;
    return x >>> 0;
  }

  /** Called after each batch: pauses when the countdown runs out. */
  tick(): void {
    if (--this.left > 0) return;
    this.left = this.gap();
    this.count++;
    const us = this.random() % (this.maxUs + 1);
    if (us < PAUSE_SPIN_BELOW_US) {
      for (let i = spinIterations(us); i > 0; i--) Atomics.load(this.nap, 0);
    } else {
      // Nobody notifies this word: the wait is a plain sleep that frees the core.
      Atomics.wait(this.nap, 0, 0, us / 1000);
    }
  }

  /** Batches until the next pause: uniform over 1..2*every-1, mean `every`. */
  private gap(): number {
    return 1 + (this.random() % (2 * this.every - 1));
  }
}

/** Runs pkt-gen on `port` until its count is reached or `ctl` says stop. */
export function runPktGen(port: NetmapPort, opts: PktGenOptions, ctl: Control, stats = new RoleStats()): PktGenResult {
  const o = checkPktGenOptions(opts, port.bufSize);
  const src = opts.srcMac ?? [0x02, 0, 0, 0, 0, 1];
  const dst = opts.dstMac ?? BROADCAST_MAC;
  if (o.mode === 'tx' || o.mode === 'txseq' || o.mode === 'ping') prefill(port.tx, o.len, dst, src);
  if (opts.announce) announce(port, src);
  ctl.arriveAndWait();
  const t0 = performance.now();
  let r: PktGenResult;
  switch (o.mode) {
    case 'tx':
    case 'txseq':
      r = sender(port, o, ctl, stats);
      break;
    case 'rx':
    case 'rxseq':
      r = receiver(port, o, ctl, stats);
      break;
    case 'ping':
      r = ping(port, o, ctl, stats);
      break;
    case 'pong':
      r = pong(port, o, ctl, stats);
      break;
  }
  r.seconds = (performance.now() - t0) / 1000;
  return r;
}

function emptyResult(mode: PktGenMode): PktGenResult {
  return { mode, packets: 0, bytes: 0, batches: 0, seqGaps: 0, seqReorder: 0, empty: 0, lateWakeups: 0, seconds: 0 };
}

/** One broadcast frame from `src` (a gratuitous announcement for learning switches). */
function announce(port: NetmapPort, src: Mac): void {
  const ring = port.tx;
  if (port.poll(POLLOUT, 1000) === 0) throw new NetmapError('EBUSY', `${port.name}: no TX slot to announce on`);
  const k = ring.cur;
  writeFrame(ring.mem, ring.bufOffset(k), 60, BROADCAST_MAC, src);
  ring.setSlotFlags(k, 0);
  ring.setLen(k, 60);
  ring.advance(ring.next(k));
  port.txsync();
}

/** Every TX buffer gets the frame once: afterwards a send only sets len (and seq). */
function prefill(ring: NetmapRing, len: number, dst: Mac, src: Mac): void {
  for (let k = 0; k < ring.numSlots; k++) writeFrame(ring.mem, ring.bufOffset(k), len, dst, src);
}

type Opts = ReturnType<typeof checkPktGenOptions>;

/**
 * The stop flag is read and the stats are published once every 8 batches: an Atomics
 * op costs 7-11 ns here, a noticeable share of a 64-packet batch.
 */
const PUBLISH_EVERY = 7;

// Totals live in the stats block (a Float64Array): a JS number that outgrows 2^31 would
// be boxed on every update, i.e. allocated per packet. Loop locals stay small int32s.

function sender(port: NetmapPort, o: Opts, ctl: Control, st: RoleStats): PktGenResult {
  const ring = port.tx;
  const n = ring.numSlots;
  const w = ring.i32;
  const base = ring.slotBase;
  const len = o.len;
  const seqMode = o.mode === 'txseq';
  const f = st.f64;
  const pause = o.pauseUs > 0 ? new RandomPause(o.pauseUs, o.pauseEvery, o.seed) : null;
  let seq = 0; // int32, wraps like the u32 on the wire
  let iter = 0;
  for (;;) {
    if ((iter++ & PUBLISH_EVERY) === 0 && ctl.stopLevel() >= STOP_SENDERS) break;
    if (o.count !== 0 && f[ST_PACKETS] >= o.count) break;
    // poll() runs txsync: it pushes the last batch and refreshes tail.
    if (port.poll(POLLOUT, o.pollMs, o.spinUs) === 0) {
      iter = 0; // a timeout: look at the stop flag now
      continue;
    }
    let cur = ring.cur;
    let room = ring.tail - cur;
    if (room < 0) room += n;
    let todo = Math.min(room, o.batch);
    if (o.count !== 0) todo = Math.min(todo, o.count - f[ST_PACKETS]);
    for (let i = 0; i < todo; i++) {
      w[base + 2 * cur + 1] = len; // len, flags = 0
      if (seqMode) {
        w[(ring.bufOffset(cur) + SEQ_OFFSET) >>> 2] = seq;
        seq = (seq + 1) | 0;
      }
      cur = cur + 1 === n ? 0 : cur + 1;
    }
    ring.advance(cur);
    f[ST_PACKETS] += todo;
    f[ST_BYTES] += todo * len;
    f[ST_BATCHES]++;
    if ((iter & PUBLISH_EVERY) === 0) st.publish();
    if (pause !== null) pause.tick();
  }
  port.txsync();
  st.publish();
  return {
    ...emptyResult(o.mode),
    packets: f[ST_PACKETS],
    bytes: f[ST_BYTES],
    batches: f[ST_BATCHES],
    lateWakeups: port.lateWakeups ?? 0,
  };
}

function receiver(port: NetmapPort, o: Opts, ctl: Control, st: RoleStats): PktGenResult {
  const ring = port.rx;
  const n = ring.numSlots;
  const w = ring.i32;
  const base = ring.slotBase;
  const seqMode = o.mode === 'rxseq';
  const f = st.f64;
  const pause = o.pauseUs > 0 ? new RandomPause(o.pauseUs, o.pauseEvery, o.seed) : null;
  let expect = 0; // int32, wraps like the u32 on the wire
  let level = 0;
  let iter = 0;
  for (;;) {
    if ((iter++ & PUBLISH_EVERY) === 0) level = ctl.stopLevel();
    if (o.count !== 0 && f[ST_PACKETS] >= o.count) break;
    let ready: number;
    if (level >= STOP_ALL) {
      // Senders are done: drain what is left, then stop.
      port.rxsync();
      ready = ring.cur !== ring.tail ? POLLIN : 0;
      if (ready === 0) break;
    } else {
      ready = port.poll(POLLIN, o.pollMs, o.spinUs);
      if (ready === 0) {
        iter = 0; // a timeout: look at the stop flag now
        continue;
      }
    }
    let cur = ring.cur;
    let avail = ring.tail - cur;
    if (avail < 0) avail += n;
    const todo = Math.min(avail, o.batch);
    let got = 0;
    let bytes = 0;
    let empty = 0;
    let gaps = 0;
    let reorder = 0;
    for (let i = 0; i < todo; i++) {
      const len = w[base + 2 * cur + 1] & 0xffff;
      if (len === 0) {
        empty++;
      } else {
        got++;
        bytes += len;
        if (seqMode) {
          const d = (w[(ring.bufOffset(cur) + SEQ_OFFSET) >>> 2] - expect) | 0;
          if (d === 0) expect = (expect + 1) | 0;
          else if (d > 0) {
            gaps += d;
            expect = (expect + d + 1) | 0;
          } else reorder++;
        }
      }
      cur = cur + 1 === n ? 0 : cur + 1;
    }
    ring.advance(cur);
    f[ST_PACKETS] += got;
    f[ST_BYTES] += bytes;
    f[ST_BATCHES]++;
    f[ST_EMPTY] += empty;
    if (seqMode) {
      f[ST_SEQ_GAPS] += gaps;
      f[ST_SEQ_REORDER] += reorder;
    }
    if ((iter & PUBLISH_EVERY) === 0) st.publish();
    if (pause !== null) pause.tick();
  }
  // Hand the last slots back so the sender sees the ring empty.
  port.rxsync();
  st.publish();
  return {
    ...emptyResult(o.mode),
    packets: f[ST_PACKETS],
    bytes: f[ST_BYTES],
    batches: f[ST_BATCHES],
    seqGaps: f[ST_SEQ_GAPS],
    seqReorder: f[ST_SEQ_REORDER],
    empty: f[ST_EMPTY],
    lateWakeups: port.lateWakeups ?? 0,
  };
}

/** Sends one numbered packet, waits for it to come back, records the round trip. */
function ping(port: NetmapPort, o: Opts, ctl: Control, st: RoleStats): PktGenResult {
  const res = emptyResult(o.mode);
  const count = o.count === 0 ? 10000 : o.count;
  const rtt = new Float64Array(count);
  const tx = port.tx;
  const rx = port.rx;
  let done = 0;
  let lost = 0;
  for (let i = 0; i < count && ctl.stopLevel() < STOP_SENDERS; i++) {
    while (port.poll(POLLOUT, o.pollMs, o.spinUs) === 0) if (ctl.stopLevel() >= STOP_SENDERS) break;
    if (tx.cur === tx.tail) break;
    const slot = tx.cur;
    tx.u32[(tx.bufOffset(slot) + SEQ_OFFSET) >>> 2] = i;
    tx.setSlotFlags(slot, 0);
    tx.setLen(slot, o.len);
    const t0 = performance.now();
    tx.advance(tx.next(slot));
    port.txsync();
    let back = false;
    while (!back && ctl.stopLevel() < STOP_SENDERS) {
      if (port.poll(POLLIN, o.pollMs, o.spinUs) === 0) continue;
      let cur = rx.cur;
      const tail = rx.tail;
      while (cur !== tail) {
        // A reply is unicast (pong swaps the MACs); a group frame (the receiver's announcement
        // on VALE) is not one, whatever its bytes at the sequence offset.
        const at = rx.bufOffset(cur);
        if (rx.len(cur) > 0 && (rx.mem[at] & 1) === 0 && rx.u32[(at + SEQ_OFFSET) >>> 2] === i) back = true;
        cur = rx.next(cur);
      }
      rx.advance(cur);
    }
    if (!back) {
      lost++;
      break;
    }
    rtt[done++] = (performance.now() - t0) * 1000;
    st.f64[ST_PACKETS] = done;
    st.publish();
  }
  port.rxsync();
  res.packets = done;
  res.bytes = done * o.len;
  res.batches = done;
  res.seqGaps = lost;
  res.rtt = summarizeRtt(rtt.subarray(0, done));
  return res;
}

/** Sends every packet it receives back, copying the payload into a TX slot. */
function pong(port: NetmapPort, o: Opts, ctl: Control, st: RoleStats): PktGenResult {
  const res = emptyResult(o.mode);
  const tx = port.tx;
  const rx = port.rx;
  const mem = rx.mem;
  let echoed = 0;
  while (ctl.stopLevel() < STOP_ALL && (o.count === 0 || echoed < o.count)) {
    if (port.poll(POLLIN, o.pollMs, o.spinUs) === 0) continue;
    let cur = rx.cur;
    const tail = rx.tail;
    while (cur !== tail) {
      while (tx.cur === tx.tail) {
        if (port.poll(POLLOUT, o.pollMs, o.spinUs) === 0 && ctl.stopLevel() >= STOP_ALL) break;
      }
      if (tx.cur === tx.tail) break;
      const len = rx.len(cur);
      const t = tx.cur;
      const from = rx.bufOffset(cur);
      const to = tx.bufOffset(t);
      if (tx.mem === mem) mem.copyWithin(to, from, from + len);
      else tx.mem.set(rx.buf(cur).subarray(0, len), to);
      // Reply to the sender: swap the MACs, so a learning switch sends it back unicast.
      const m = tx.mem;
      if (len >= 12) {
        for (let i = 0; i < 6; i++) {
          const x = m[to + i];
          m[to + i] = m[to + 6 + i];
          m[to + 6 + i] = x;
        }
      }
      tx.setSlotFlags(t, 0);
      tx.setLen(t, len);
      tx.advance(tx.next(t));
      echoed++;
      cur = rx.next(cur);
    }
    rx.advance(cur);
    port.txsync();
    res.batches++;
    st.f64[ST_PACKETS] = echoed;
    st.publish();
  }
  port.rxsync();
  res.packets = echoed;
  res.bytes = echoed * o.len;
  return res;
}

export function summarizeRtt(us: Float64Array): NonNullable<PktGenResult['rtt']> {
  if (us.length === 0) return { count: 0, min: 0, median: 0, p99: 0, max: 0 };
  const s = Float64Array.from(us).sort();
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { count: s.length, min: s[0], median: at(0.5), p99: at(0.99), max: s[s.length - 1] };
}
