/**
 * The wire of a NIC: the hardware side, one thread. A lane carries frames from a source
 * (the NIC's TX descriptors, a generator, a pcap file, a VALE port the NIC is attached
 * to) to a sink (the NIC's RX descriptors, a counter, a pcap file) at the line rate: each
 * frame occupies the wire for its own bytes (padded to 60) plus 24 byte-times (preamble,
 * gap, FCS). What reaches a full RX ring is dropped and counted (a NIC's missed packets).
 *
 * Pacing: a lane keeps the wire's clock `t` (ns). A frame goes when `t` <= now and then
 * moves `t` on by its time on the wire, so over a run the rate is the line rate while
 * the source has frames. An idle lane (no frame ready) gets no credit: its clock restarts
 * at now. A lane whose thread fell behind (descheduled, or too slow for the line) catches
 * up by at most CATCHUP_NS; the rest is counted as `behindNs`: the wire says it could not
 * keep up instead of pretending.
 *
 * Hazards: the loop reads the clock once per pass (not per frame); a pass moves at most
 * PASS_FRAMES frames per lane so that publishing (RDH/TDH stores, interrupts) happens at
 * least that often. The hot loop allocates nothing. The wire sleeps only when every lane's
 * source is idle and can say so (the NIC's TX: the driver's txsync wakes it), and then in
 * bounded sleeps (a stop is seen within SLEEP_MS).
 */
import { idleNs } from '../spin.js';
import { wireBytes } from './line.js';

/** Where a lane's frames come from. */
export interface WireSource {
  /** Makes the next frame current: its length, -1 when none is ready now, -2 when the source has ended. */
  next(): number;
  /** Copies `len` bytes of the current frame from its byte `from` to `dst[off..]` (`di`: dst's words). */
  read(dst: Uint8Array, di: Int32Array, off: number, from: number, len: number): void;
  /** The current frame's length before a capture cut it (pcap), else its length. */
  origLen(): number;
  /** The current frame is gone (sent or missed): the source may reuse it. */
  done(): void;
  /** Once per pass: publishes progress (the NIC's TDH and its TX interrupt). */
  publish(): void;
  /**
   * About to sleep: arms the source's wake-up and re-checks. Returns the word to wait on
   * (`sleepArray()[sleepIndex()]` holding `sleepValue()`), or false if a frame appeared
   * or the source cannot wake the wire (a generator never idles).
   */
  armSleep?(): boolean;
  sleepArray?(): Int32Array;
  sleepIndex?(): number;
  sleepValue?(): number;
  disarmSleep?(): void;
  /** The lane ends: let go of what the source holds (a port, a file). */
  close?(): void;
}

/** Where a lane's frames go. */
export interface WireSink {
  /** True when a frame of `len` bytes fits now (a full RX ring: missed). */
  room(len: number): boolean;
  /** Takes the source's current frame of `len` bytes. */
  put(src: WireSource, len: number): void;
  /** A frame found no room (counted by the lane; a NIC also counts it as missed). */
  miss?(): void;
  /** Once per pass: publishes progress (the NIC's RDH and its RX interrupt; a pcap flush). */
  publish(): void;
  /** The lane ends: flush and close what the sink holds. */
  close?(): void;
}

/**
 * How long a lane may catch up after falling behind (ns): beyond it the wire says it is
 * behind. A stalled wire thread is the simulation failing, not the wire: dumping a long
 * stall's frames at once would flood the receiver with a burst no real wire sends (measured:
 * at 20 ms a host app at 1G got 0.68 Mpps instead of 1.45, most of the burst missed). So a
 * short stall is made up, a long one is counted (behindMs) and the report says so.
 */
export const CATCHUP_NS = 1e6;
const PASS_FRAMES = 256;
const SLEEP_MS = 50;

/**
 * One direction of a NIC's wire: carries frames from a source to a sink at the line rate,
 * counting missed frames and time behind.
 */
export class Lane {
  /** Frames the sink took, frames it had no room for, and bytes (without FCS) it took. */
  frames = 0;
  missed = 0;
  bytes = 0;
  /** Wire time the lane could not use because its thread fell behind (ns). */
  behindNs = 0;
  /** Wire time the lane was busy sending (ns). */
  busyNs = 0;
  ended = false;
  private t = -1;
  private idle = true;
  private readonly nsPerByte: number;

  constructor(
    readonly name: string,
    readonly src: WireSource,
    readonly sink: WireSink,
    /** The line rate, bits per second. */
    readonly bps: number,
  ) {
    this.nsPerByte = 8e9 / bps;
  }

  /** Moves every frame due by `now` (ns). Returns true when at least one frame moved. */
  pass(now: number): boolean {
    if (this.ended) return false;
    const src = this.src;
    const sink = this.sink;
    if (this.idle) {
      this.t = now;
    } else if (this.t < now - CATCHUP_NS) {
      this.behindNs += now - CATCHUP_NS - this.t;
      this.t = now - CATCHUP_NS;
    }
    let moved = 0;
    let t = this.t;
    const start = t;
    while (moved < PASS_FRAMES && t <= now) {
      const len = src.next();
      if (len < 0) {
        this.idle = true;
        if (len === -2) this.ended = true;
        break;
      }
      this.idle = false;
      if (sink.room(len)) {
        sink.put(src, len);
        this.frames++;
        this.bytes += len;
      } else {
        this.missed++;
        sink.miss?.();
      }
      src.done();
      t += wireBytes(len) * this.nsPerByte;
      moved++;
    }
    this.t = t;
    this.busyNs += t - start;
    if (moved > 0 || this.ended) {
      src.publish();
      sink.publish();
    }
    return moved > 0;
  }
}

/** Options of runWire: when to stop, the spin before sleeping, a callback after each pass. */
export interface WireRunOptions {
  /** Checked once per pass and between sleeps: true ends the run. */
  stop: () => boolean;
  /** Busy time before the wire sleeps when every source is idle (µs; default 50). */
  spinUs?: number;
  /** Called after every pass that moved frames (stats). */
  onPass?: () => void;
}

/** The wire's loop over its lanes until `stop()` or every lane's source has ended. */
export function runWire(lanes: readonly Lane[], o: WireRunOptions): { sleeps: number } {
  const spinNs = (o.spinUs ?? 50) * 1000;
  let idleSince = -1;
  let sleeps = 0;
  let last = -1;
  for (;;) {
    if (o.stop()) {
      drain(lanes);
      break;
    }
    const now = performance.now() * 1e6;
    // The pass before found nothing due: its time was idle spinning (CPU accounting).
    if (last >= 0) idleNs(now - last);
    last = -1;
    let moved = false;
    let live = 0;
    for (let i = 0; i < lanes.length; i++) {
      if (lanes[i].pass(now)) moved = true;
      if (!lanes[i].ended) live++;
    }
    if (live === 0) break;
    if (moved) {
      idleSince = -1;
      o.onPass?.();
      continue;
    }
    last = now;
    if (idleSince < 0) idleSince = now;
    else if (now - idleSince > spinNs && sleepIfIdle(lanes)) {
      sleeps++;
      idleSince = -1;
      last = -1;
    }
  }
  for (const l of lanes) {
    l.src.publish();
    l.sink.publish();
    l.sink.close?.();
    l.src.close?.();
  }
  return { sleeps };
}

/** Longest a stopping wire keeps sending what was posted before the stop (ms). */
const DRAIN_MS = 5000;

/**
 * The stop: sources that never run dry (a generator, a capture) end now; what a NIC's
 * driver posted still goes out, at line rate, until the ring is empty (bounded).
 */
function drain(lanes: readonly Lane[]): void {
  for (const l of lanes) if (l.src.armSleep === undefined) l.ended = true;
  const end = performance.now() + DRAIN_MS;
  let idle = 0;
  while (idle < 1000 && performance.now() < end) {
    const now = performance.now() * 1e6;
    let moved = false;
    for (let i = 0; i < lanes.length; i++) if (lanes[i].pass(now)) moved = true;
    idle = moved ? 0 : idle + 1;
  }
}

/**
 * Sleeps (bounded) when exactly one lane can be woken and every lane is idle; otherwise
 * returns false and the wire keeps polling (a wire with a generator never idles, and one
 * with two wakeable sources could miss one of them).
 */
function sleepIfIdle(lanes: readonly Lane[]): boolean {
  let armed: WireSource | null = null;
  for (const l of lanes) {
    if (l.ended) continue;
    const s = l.src;
    if (s.armSleep === undefined || armed !== null) {
      armed?.disarmSleep?.();
      return false;
    }
    if (!s.armSleep()) return false;
    armed = s;
  }
  if (armed === null) return false;
  const a = armed as Required<WireSource>;
  Atomics.wait(a.sleepArray(), a.sleepIndex(), a.sleepValue(), SLEEP_MS);
  a.disarmSleep();
  return true;
}
