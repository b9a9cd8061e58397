/**
 * Captures in and out of ports (netmap's nmreplay, and a tcpdump for ports): `replayInto`
 * sends a capture's frames into a port's TX ring, paced as recorded (optionally sped up),
 * at a constant rate, or as fast as the ring takes them; `captureFrom` writes what a port
 * receives into a capture. Both run on any port an app runs on (a host port, a guest's
 * passed-through one, an emulated NIC's) and block their thread, like every app here.
 *
 * A frame longer than a buffer goes as an NS_MOREFRAG chain (one slot per buffer, every
 * slot but the last flagged) and is reassembled on capture: never cut. A frame longer than
 * the ring can hold as a chain is counted (`tooLong`) and not sent.
 *
 * Pacing: each frame has a due time (ns from the start); a frame goes once it is due.
 * Recorded timing uses the capture's own timestamps divided by `speedup`; a late frame
 * (the port was full) goes at once and never reorders anything; a schedule that falls
 * behind is counted (`lateMs`), not hidden. Waits of more than WAIT_SPIN_US sleep.
 */
import { NS_MOREFRAG, ST_BATCHES, ST_BYTES, ST_PACKETS } from '../../shm/layout.js';
import { NetmapError } from '../errors.js';
import { copyBytes } from '../nic/nic-ends.js';
import { RecordCopier } from '../nic/pcap-ends.js';
import type { CaptureReader, CaptureWriter } from '../pcap/index.js';
import { MAX_RECORD } from '../pcap/index.js';
import { type NetmapPort, POLLIN, POLLOUT } from '../port.js';
import { Control, RoleStats, STOP_ALL, STOP_SENDERS } from './control.js';

/** How a replay paces its frames: as recorded (optionally sped up), or as fast as the port takes them. */
export const REPLAY_TIMINGS = ['recorded', 'fast'] as const;
/** One of REPLAY_TIMINGS. */
export type ReplayTiming = (typeof REPLAY_TIMINGS)[number];

/** Options of replayInto: timing or a constant rate, speedup, loops, batch. */
export interface ReplayOptions {
  /** recorded: the capture's gaps (divided by speedup); fast: as fast as the port takes them (default recorded). */
  timing?: ReplayTiming;
  /** A constant rate instead: packets per second, or bits per second of frame bytes. */
  pps?: number;
  bps?: number;
  /** Recorded timing only: play this many times faster (default 1). */
  speedup?: number;
  /** Times through the capture (default 1; 0: until stopped). */
  loop?: number;
  /** Slots per txsync at most (default 64). */
  batch?: number;
}

/**
 * What replayInto sent: frames, bytes, slots, frames too long for the ring, how late the
 * schedule fell, and for how long.
 */
export interface ReplayResult {
  frames: number;
  bytes: number;
  /** Slots used (a chain takes several). */
  slots: number;
  /** Frames not sent: longer than the ring could hold as a chain. */
  tooLong: number;
  /** How far the schedule fell behind at worst (ms): 0 when every frame went on time. */
  lateMs: number;
  seconds: number;
}

/** Options of captureFrom: a frame count, whether reaching it ends the run, batch. */
export interface CaptureOptions {
  /** Stop after this many frames (0: until stopped). */
  count?: number;
  /** With a count: reaching it ends the run (the senders are told to stop through `ctl`). */
  endsRun?: boolean;
  /** Slots per rxsync at most (default 256). */
  batch?: number;
}

/** What captureFrom wrote: frames, bytes, chains that arrived broken, and for how long. */
export interface CaptureResult {
  frames: number;
  bytes: number;
  /** Chains that arrived broken (a slot flagged NS_MOREFRAG at a stop): written as far as they went. */
  partial: number;
  seconds: number;
}

const WAIT_SPIN_US = 100;

export function checkReplayOptions(o: ReplayOptions): Required<Omit<ReplayOptions, 'pps' | 'bps'>> & {
  pps: number;
  bps: number;
} {
  const timing = o.timing ?? 'recorded';
  if (!REPLAY_TIMINGS.includes(timing)) {
    throw new NetmapError('EINVAL', `timing must be ${REPLAY_TIMINGS.join(' or ')}; got '${String(timing)}'`);
  }
  const pos = (v: number | undefined, what: string) => {
    if (v !== undefined && !(Number.isFinite(v) && v > 0))
      throw new NetmapError('EINVAL', `${what} must be > 0, got ${v}`);
    return v ?? 0;
  };
  const pps = pos(o.pps, 'pps');
  const bps = pos(o.bps, 'bps');
  if (pps > 0 && bps > 0) throw new NetmapError('EINVAL', 'give a rate in packets or in bits per second, not both');
  const speedup = pos(o.speedup, 'speedup') || 1;
  const loop = o.loop ?? 1;
  if (!(Number.isInteger(loop) && loop >= 0))
    throw new NetmapError('EINVAL', `loop must be an integer >= 0, got ${loop}`);
  const batch = o.batch ?? 64;
  if (!(Number.isInteger(batch) && batch >= 1))
    throw new NetmapError('EINVAL', `batch must be a positive integer, got ${batch}`);
  return { timing, pps, bps, speedup, loop, batch };
}

/**
 * When each frame is due (ms from the replay's start): recorded gaps divided by the
 * speedup (a new round starts its clock when its first frame goes), a constant packet or
 * bit rate, or 0 (as fast as the port takes them).
 */
export class ReplaySchedule {
  private firstSec = 0;
  private firstNsec = -1;
  private roundStart = 0;
  private frames = 0;
  private bits = 0;
  constructor(private readonly o: { timing: ReplayTiming; pps: number; bps: number; speedup: number }) {}

  /** The due time of the next frame (captured at tsSec.tsNsec, `len` bytes); `now`: ms since the start. */
  due(tsSec: number, tsNsec: number, len: number, now: number): number {
    const o = this.o;
    let d: number;
    if (o.pps > 0) d = (this.frames / o.pps) * 1000;
    else if (o.bps > 0) d = (this.bits / o.bps) * 1000;
    else if (o.timing === 'fast') d = 0;
    else {
      if (this.firstNsec < 0) {
        this.firstSec = tsSec;
        this.firstNsec = tsNsec;
        this.roundStart = now;
      }
      // A timestamp earlier than the round's first (a capture out of order) is due at once.
      const gap = ((tsSec - this.firstSec) * 1e9 + (tsNsec - this.firstNsec)) / 1e6 / o.speedup;
      d = this.roundStart + Math.max(gap, 0);
    }
    this.frames++;
    this.bits += len * 8;
    return d;
  }

  /** A loop starts the capture again: its recorded clock restarts with its first frame. */
  newRound(): void {
    this.firstNsec = -1;
  }
}

/** Sleeps (bounded) or spins until `due` (ms, performance.now), whichever suits the wait. */
const nap = new Int32Array(new SharedArrayBuffer(4));
function waitUntil(due: number): void {
  const left = due - performance.now();
  if (left > WAIT_SPIN_US / 1000) Atomics.wait(nap, 0, 0, left - WAIT_SPIN_US / 2000);
  while (performance.now() < due) {
    // spin the last stretch: a sleep's wake-up costs 20-40 µs here
  }
}

/**
 * Replays `reader` into `port` until the capture ends (`loop` times) or `ctl` stops the
 * senders. The stats block counts frames and bytes as pkt-gen's does.
 */
export function replayInto(
  port: NetmapPort,
  reader: CaptureReader,
  opts: ReplayOptions = {},
  ctl = new Control(),
  st = new RoleStats(),
): ReplayResult {
  const o = checkReplayOptions(opts);
  const ring = port.tx;
  const n = ring.numSlots;
  const bufSize = port.bufSize;
  const f = st.f64;
  let tooLong = 0;
  let slots = 0;
  let pending = 0; // slots queued since the last txsync
  let late = 0;
  const copier = new RecordCopier();
  let round = 0;
  const sched = new ReplaySchedule(o);
  const t0 = performance.now();
  for (;;) {
    if (ctl.stopLevel() >= STOP_SENDERS) break;
    let r: ReturnType<CaptureReader['next']>;
    try {
      r = reader.next();
    } catch (e) {
      // Bad input: what was read before goes out, then the error.
      port.txsync();
      st.publish();
      throw e;
    }
    if (r === null) {
      if (++round === o.loop) break;
      reader.rewind();
      sched.newRound();
      continue;
    }
    const len = r.caplen;
    const frags = Math.ceil(len / bufSize);
    if (frags > n - 1) {
      tooLong++;
      continue;
    }
    const due = sched.due(r.tsSec, r.tsNsec, len, performance.now() - t0);
    if (due > 0) {
      const at = t0 + due;
      const now = performance.now();
      if (at > now) {
        // Push what is queued before waiting: it is due already.
        port.txsync();
        pending = 0;
        waitUntil(at);
      } else if (now - at > late) late = now - at;
    }
    // Room for the whole chain (poll pushes what is queued).
    let room = ring.tail - ring.cur;
    if (room < 0) room += n;
    while (room < frags) {
      if (ctl.stopLevel() >= STOP_SENDERS) break;
      port.poll(POLLOUT, 100);
      room = ring.tail - ring.cur;
      if (room < 0) room += n;
    }
    if (room < frags) break;
    // One slot per buffer's worth (a record has at least one byte); no view made per frame.
    let cur = ring.cur;
    let from = 0;
    do {
      const c = Math.min(len - from, bufSize);
      copier.copy(r, from, ring.mem, ring.i32, ring.bufOffset(cur), c);
      from += c;
      ring.setLen(cur, c);
      ring.setSlotFlags(cur, from < len ? NS_MOREFRAG : 0);
      cur = cur + 1 === n ? 0 : cur + 1;
    } while (from < len);
    ring.advance(cur);
    slots += frags;
    pending += frags;
    f[ST_PACKETS]++;
    f[ST_BYTES] += len;
    // A txsync per `batch` slots, or before a wait for the next frame (above).
    if (pending >= o.batch) {
      port.txsync();
      pending = 0;
      f[ST_BATCHES]++;
      st.publish();
    }
  }
  port.txsync();
  st.publish();
  return {
    frames: f[ST_PACKETS],
    bytes: f[ST_BYTES],
    slots,
    tooLong,
    lateMs: late,
    seconds: (performance.now() - t0) / 1000,
  };
}
/**
 * Writes what `port` receives into `writer` (chains joined into one record, timestamped
 * at arrival) until `count` frames, or until `ctl` reaches STOP_ALL and the ring is dry.
 */
export function captureFrom(
  port: NetmapPort,
  writer: CaptureWriter,
  opts: CaptureOptions = {},
  ctl = new Control(),
  st = new RoleStats(),
): CaptureResult {
  const count = opts.count ?? 0;
  const batch = opts.batch ?? 256;
  if (!(Number.isInteger(count) && count >= 0))
    throw new NetmapError('EINVAL', `count must be an integer >= 0, got ${count}`);
  const ring = port.rx;
  const n = ring.numSlots;
  const f = st.f64;
  const scratch = new Uint8Array(MAX_RECORD);
  const words = new Int32Array(scratch.buffer);
  let have = 0; // bytes of the chain being joined
  let partial = 0;
  const t0 = performance.now();
  for (;;) {
    if (count !== 0 && f[ST_PACKETS] >= count) break;
    const level = ctl.stopLevel();
    if (level >= STOP_ALL) {
      port.rxsync();
      if (ring.cur === ring.tail) break;
    } else if (port.poll(POLLIN, 100) === 0) continue;
    let cur = ring.cur;
    let todo = batch;
    while (cur !== ring.tail && todo-- > 0) {
      const len = ring.len(cur);
      const c = have + len > MAX_RECORD ? MAX_RECORD - have : len;
      if (c > 0) copyBytes(ring.mem, ring.i32, ring.bufOffset(cur), scratch, words, have, c);
      have += c;
      if ((ring.slotFlags(cur) & NS_MOREFRAG) === 0) {
        if (have > 0) {
          const t = performance.timeOrigin + performance.now();
          const sec = Math.floor(t / 1000);
          writer.write(scratch, 0, have, have, sec, Math.floor((t - sec * 1000) * 1e6) % 1e9);
          f[ST_PACKETS]++;
          f[ST_BYTES] += have;
        }
        have = 0;
        if (count !== 0 && f[ST_PACKETS] >= count) {
          cur = cur + 1 === n ? 0 : cur + 1;
          break;
        }
      }
      cur = cur + 1 === n ? 0 : cur + 1;
    }
    ring.advance(cur);
    port.rxsync();
    f[ST_BATCHES]++;
    st.publish();
  }
  if (have > 0) partial++;
  // The capture was the point of the run: the senders stop now (the rest drain as usual).
  if (opts.endsRun && count !== 0 && f[ST_PACKETS] >= count && ctl.stopLevel() < STOP_SENDERS) ctl.stop(STOP_SENDERS);
  writer.flush();
  st.publish();
  return { frames: f[ST_PACKETS], bytes: f[ST_BYTES], partial, seconds: (performance.now() - t0) / 1000 };
}
