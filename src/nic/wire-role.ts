/**
 * A NIC's wire as a worker role: builds its two lanes from the task (the NIC's TX side to
 * its far end, the far end to its RX side; through a VALE port when the NIC is attached to
 * a switch) and runs them until the stop level it answers to. A generating wire stops with
 * the senders; a sinking one after them, so everything the apps posted goes out first.
 */
import { ST_BATCHES, ST_BYTES, ST_PACKETS } from '../../shm/layout.js';
import { Control, RoleStats, STOP_ALL, STOP_SENDERS } from '../apps/control.js';
import type { ValeDescriptor } from '../kernel/attach.js';
import { nicCounters } from '../kernel/nic.js';
import type { LogLevel } from '../log.js';
import type { NicHardware } from '../netmap.js';
import { CountSink, GenSource, type GenSpec } from './gen-ends.js';
import { lineBps, lineRateMpps } from './line.js';
import { NicRxSink, NicTxSource } from './nic-ends.js';
import { PcapWireSink, PcapWireSource } from './pcap-ends.js';
import { valeEnds } from './vale-ends.js';
import { Lane, runWire, type WireSink, type WireSource } from './wire.js';

/** Where the frames the NIC sends go. */
export type WireTxEnd =
  | { kind: 'sink' }
  | { kind: 'pcap'; path: string }
  /** A cable: into another NIC's RX ring. */
  | { kind: 'nic'; hw: NicHardware };

/** What arrives on the NIC's RX side. */
export type WireRxEnd = { kind: 'none' } | { kind: 'gen'; gen: GenSpec } | { kind: 'pcap'; path: string; loop: number };

/**
 * What a wire worker runs: the NIC's hardware side, where its TX frames go and what
 * arrives on its RX side, and its control blocks.
 */
export interface WireTask {
  role: 'wire';
  hw: NicHardware;
  tx: WireTxEnd;
  rx: WireRxEnd;
  /** The NIC is attached to a switch: its lanes serve this VALE port instead of its own rings. */
  vale?: ValeDescriptor;
  /** Busy time before sleeping when idle (µs). */
  spinUs?: number;
  /** Which lane's frames the stats block reports. */
  measure: 'tx' | 'rx';
  /** A generating wire stops with the senders; a sinking one last. */
  sender: boolean;
  ctl: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  logLevel?: LogLevel;
}

/** One lane's figures: frames, missed frames, bytes, time lost behind, its rate, the line rate and the utilisation. */
export interface LaneResult {
  name: string;
  frames: number;
  missed: number;
  bytes: number;
  /** Wire time lost because the thread fell behind (ms). */
  behindMs: number;
  /** Rate over the run (frames + missed, the wire's rate) and the line rate for the lane's mean frame. */
  mpps: number;
  lineRateMpps: number;
  /** Busy wire time / run time. */
  utilisation: number;
}

/** What a NIC's wire did over a run: its line rate, sleeps, each lane's figures and the NIC's counters. */
export interface WireResult {
  nic: string;
  line: string;
  seconds: number;
  sleeps: number;
  lanes: LaneResult[];
  counters: Record<string, number>;
}

function lanesOf(task: WireTask): Lane[] {
  const hw = task.hw;
  const bps = lineBps(hw.line);
  let out: WireSource;
  let into: WireSink | null;
  if (task.vale !== undefined) {
    const v = valeEnds(task.vale, hw);
    out = v.src;
    into = v.sink;
  } else {
    out = new NicTxSource(hw);
    into = task.rx.kind === 'none' ? null : new NicRxSink(hw);
  }
  const far: WireSink =
    task.tx.kind === 'sink'
      ? new CountSink()
      : task.tx.kind === 'pcap'
        ? new PcapWireSink(task.tx.path)
        : new NicRxSink(task.tx.hw);
  const lanes = [new Lane(`${hw.name} tx`, out, far, bps)];
  if (task.rx.kind !== 'none' && into !== null) {
    const src = task.rx.kind === 'gen' ? new GenSource(task.rx.gen) : new PcapWireSource(task.rx.path, task.rx.loop);
    lanes.push(new Lane(`${hw.name} rx`, src, into, bps));
  } else if (into !== null) {
    // Attached to a switch with nothing arriving: the port's TX side is unused.
    into.close?.();
  }
  return lanes;
}

/** Runs a NIC's wire in this thread (a worker role) until its stop level, and returns its figures. */
export function runWireTask(task: WireTask): WireResult {
  const ctl = new Control(task.ctl);
  const st = new RoleStats(task.stats);
  const lanes = lanesOf(task);
  const measured = lanes[task.measure === 'tx' ? 0 : Math.min(1, lanes.length - 1)];
  const level = task.sender ? STOP_SENDERS : STOP_ALL;
  // A generating wire is a sender: once its source has ended (a count), it is done.
  const driver = task.sender && lanes.length > 1 ? lanes[1] : null;
  let passes = 0;
  ctl.arriveAndWait();
  const t0 = performance.now();
  const { sleeps } = runWire(lanes, {
    stop: () => ctl.stopLevel() >= level || driver?.ended === true,
    spinUs: task.spinUs,
    onPass: () => {
      // Published every 64 passes: the coordinator samples once per report interval.
      if ((++passes & 63) !== 0) return;
      st.f64[ST_PACKETS] = measured.frames;
      st.f64[ST_BYTES] = measured.bytes;
      st.f64[ST_BATCHES] = passes;
      st.publish();
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  st.f64[ST_PACKETS] = measured.frames;
  st.f64[ST_BYTES] = measured.bytes;
  st.publish();
  return {
    nic: task.hw.name,
    line: task.hw.line,
    seconds,
    sleeps,
    lanes: lanes.map((l) => {
      const n = l.frames + l.missed;
      const mean = l.frames > 0 ? l.bytes / l.frames : 60;
      return {
        name: l.name,
        frames: l.frames,
        missed: l.missed,
        bytes: l.bytes,
        behindMs: l.behindNs / 1e6,
        mpps: seconds > 0 ? n / seconds / 1e6 : 0,
        lineRateMpps: lineRateMpps(l.bps, mean),
        utilisation: seconds > 0 ? l.busyNs / 1e9 / seconds : 0,
      };
    }),
    counters: nicCounters(task.hw.kmem),
  };
}
