/**
 * The "peers" benchmark: the same 60-byte packets streamed from one worker thread to
 * another over a sabnetmap pipe (and, if asked, a VALE port) and over what people use without it (postMessage one
 * packet per message, postMessage with transferred batches, ringbuf.js), each measured
 * like pkt-gen: a warm-up, then receiver-side rates per interval (median, min, max).
 * Variants run one after another, never concurrently.
 */

import { availableParallelism, cpus } from 'node:os';
import { MessageChannel } from 'node:worker_threads';
import { runPktGenPair } from '../src/apps/pktgen-run.js';
import { runSession } from '../src/apps/session.js';
import { NetmapError } from '../src/errors.js';
import { loadRingBuf, type PeerResult, type PeerTask, type PeerVia, RING_RECORDS } from './peers-roles.js';

export interface PeersOptions {
  /** Measured seconds per variant, after the warm-up (default 3). */
  seconds?: number;
  /** Packet length in bytes (default 60). */
  len?: number;
  /** Packets per pipe sync and per batched postMessage (default 64). */
  batch?: number;
  /** Also measure a VALE port (vale0:a -> vale0:b, a copy per packet) after the pipe (default false). */
  vale?: boolean;
  /** Called as each variant finishes. */
  onResult?: (r: PeerLine) => void;
  /** Ends the variant running early and starts no other (a Ctrl-C in the runner: `AbortError`). */
  signal?: AbortSignal;
}

export interface PeerLine {
  name: string;
  /** Median of the per-interval receive rates, and their spread. */
  mpps: number;
  mppsMin: number;
  mppsMax: number;
  /** Packets received over the whole run (warm-up included). */
  packets: number;
  /** sabnetmap pipe Mpps / this line's Mpps (1 for the pipe; 0 when skipped). */
  ratioToPipe: number;
  /** Why the line was not measured (its figures are then 0). */
  skipped?: string;
}

export interface PeersResult {
  /** In run order: the pipe first (the reference), VALE if asked, then postMessage, batched, ringbuf.js. */
  results: PeerLine[];
  cores: number;
  node: string;
  cpuModel: string;
  /** Measured seconds per variant. */
  seconds: number;
}

const WARMUP_MS = 250;
const INTERVAL_MS = 500;

type Rates = Pick<PeerLine, 'mpps' | 'mppsMin' | 'mppsMax' | 'packets'>;

export async function runPeersBench(o: PeersOptions = {}): Promise<PeersResult> {
  const seconds = o.seconds ?? 3;
  const len = o.len ?? 60;
  const batch = o.batch ?? 64;
  if (!(seconds > 0) || !Number.isFinite(seconds))
    throw new NetmapError('EINVAL', `seconds must be > 0, got ${seconds}`);
  const results: PeerLine[] = [];
  let pipeMpps = 0;
  const add = (name: string, r: Rates, skipped?: string): void => {
    const { mpps, mppsMin, mppsMax, packets } = r;
    const line: PeerLine = { name, mpps, mppsMin, mppsMax, packets, ratioToPipe: mpps > 0 ? pipeMpps / mpps : 0 };
    if (skipped !== undefined) line.skipped = skipped;
    results.push(line);
    o.onResult?.(line);
  };
  // The pipe runs first so every later line's ratio is known when it is reported; it also
  // validates len and batch (pkt-gen's checks) before any baseline starts.
  const signal = o.signal;
  const sabnetmap = (port: 'pipe' | 'vale') =>
    runPktGenPair({
      port,
      mode: 'tx',
      len,
      batch,
      ring: RING_RECORDS,
      seconds,
      spinUs: 200,
      warmupMs: WARMUP_MS,
      reportMs: INTERVAL_MS, // the baselines' interval, so every median is over the same spans
      signal,
    });
  // Each variant is its own session: once aborted, none more starts.
  const next = <T>(run: () => Promise<T>): Promise<T> => {
    signal?.throwIfAborted();
    return run();
  };
  const pipe = await next(() => sabnetmap('pipe'));
  pipeMpps = pipe.mpps;
  add('sabnetmap-pipe', pipe);
  if (o.vale === true) add('sabnetmap-vale', await next(() => sabnetmap('vale')));
  const p = { len, batch, seconds, signal };
  add('postMessage', await next(() => runPeerPair('postMessage', p)));
  add(`postMessage-batch${batch}`, await next(() => runPeerPair('postMessage-batch', p)));
  const RingBuffer = await loadRingBuf();
  if (RingBuffer === undefined) {
    add('ringbuf.js', { mpps: 0, mppsMin: 0, mppsMax: 0, packets: 0 }, 'ringbuf.js not installed');
  } else {
    const ring = RingBuffer.getStorageForCapacity(RING_RECORDS * len, Uint8Array);
    add('ringbuf.js', await next(() => runPeerPair('ringbuf.js', p, ring)));
  }
  return {
    results,
    cores: availableParallelism(),
    node: process.version,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    seconds,
  };
}

/** One baseline: a sender and a receiver role, run as a measured session. */
async function runPeerPair(
  via: PeerVia,
  p: { len: number; batch: number; seconds: number; signal?: AbortSignal },
  ring?: SharedArrayBuffer,
): Promise<Rates> {
  const task = { role: 'peer', via, len: p.len, batch: p.batch } as const;
  const tx: Omit<PeerTask, 'ctl' | 'stats'> = { ...task, side: 'tx' };
  const rx: Omit<PeerTask, 'ctl' | 'stats'> = { ...task, side: 'rx' };
  if (ring) tx.ring = rx.ring = ring;
  const ch = via === 'ringbuf.js' ? undefined : new MessageChannel();
  if (ch) {
    tx.credit = rx.credit = new SharedArrayBuffer(64);
    tx.port = ch.port1;
    rx.port = ch.port2;
  }
  const s = await runSession<PeerResult>(
    [
      { task: tx, transfer: ch && [ch.port1], sender: true },
      { task: rx, transfer: ch && [ch.port2], sender: false, measured: true },
    ],
    { seconds: p.seconds, reportMs: INTERVAL_MS, warmupMs: WARMUP_MS, signal: p.signal },
  );
  const packets = s.results[1].packets;
  if (s.intervals.length > 0) return { mpps: s.mpps, mppsMin: s.mppsMin, mppsMax: s.mppsMax, packets };
  // A run shorter than one interval (a quick pass): the whole run's rate, as pkt-gen does.
  const whole = s.elapsed > 0 ? packets / (s.elapsed * 1e6) : 0;
  return { mpps: whole, mppsMin: whole, mppsMax: whole, packets };
}
