/**
 * The replay and capture experiments (netmap's nmreplay, and tcpdump on ports): a sender
 * app replays a capture into a port from a host app, a guest or an emulated guest; at the
 * other end a host app writes what arrives into a capture (or counts it), or, on a NIC,
 * the wire does as it sends. A capture run records what crosses a VALE port or a whole
 * switch through a monitor port while pkt-gen or a replay drives the traffic.
 */
import { availableParallelism } from 'node:os';
import { NetmapError } from '../errors.js';
import { checkNotifyPolicy, type NotifyPolicy } from '../kernel/notify.js';
import { valeCounters } from '../kernel/vale.js';
import { logLevel } from '../log.js';
import { Netmap } from '../netmap.js';
import { checkLineRate, type LineRate } from '../nic/line.js';
import type { WireResult, WireTask } from '../nic/wire-role.js';
import { openCapture } from '../pcap/index.js';
import type { PortDescriptor } from '../port.js';
import { createStopOrder } from '../stop-order.js';
import type { WithThread } from './cputime.js';
import { appEndpoint, ENDPOINTS, type Endpoint, type HostThread } from './endpoint.js';
import type { AppPortDescriptor } from './open.js';
import type { CaptureResult, ReplayOptions, ReplayResult } from './pcap-io.js';
import { checkReplayOptions } from './pcap-io.js';
import { checkPktGenOptions, type PktGenOptions } from './pktgen.js';
import { runSession, type SessionRole } from './session.js';

/** The ports a replay runs on: a pipe, a VALE switch, or a NIC (out on its wire). */
export const REPLAY_PORTS = ['pipe', 'vale', 'nic'] as const;
/** One of REPLAY_PORTS. */
export type ReplayPort = (typeof REPLAY_PORTS)[number];

/** Options of runReplay: the capture, the port, who replays, where what arrives is written, the line rate, pacing. */
export interface ReplayRunOptions extends ReplayOptions {
  /** The capture to replay (pcap or pcapng). */
  file: string;
  /** pipe: pipe0{ -> pipe0}; vale: vale0:a -> vale0:b; nic: into nic0, out on its wire (default pipe). */
  port?: ReplayPort;
  /** Who replays: a host app, a guest (passthrough), an emulated guest (pipe and VALE only) (default host). */
  tx?: Endpoint;
  /** Write what arrives at the other end here (pcap, or pcapng by extension); without it, count. */
  out?: string;
  /** nic: the wire's line rate (default 10G). */
  line?: LineRate;
  ring?: number;
  notify?: NotifyPolicy;
  signal?: AbortSignal;
}

/** The result of runReplay: what was sent, what arrived at the other end, the switch's drops or the wire's figures. */
export interface ReplayRunResult {
  port: ReplayPort;
  tx: Endpoint;
  sent: ReplayResult;
  /** What arrived at the other end (frames the receiver or the wire took). */
  received: { frames: number; bytes: number };
  /** VALE: frames the switch dropped (no room, or a frame for a MAC learned on the sender's own port). */
  switchDrops: number;
  /** NIC: the wire's figures. */
  wire?: WireResult;
  out: string | null;
  seconds: number;
}

/** Opens a capture's header here: a missing file or a bad header is a clear error before any thread starts. */
function checkCaptureFile(file: string): void {
  try {
    openCapture(file).close();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new NetmapError('ENOENT', `${file}: no such file`);
    if (code === 'EACCES' || code === 'EISDIR') throw new NetmapError('EINVAL', `${file}: cannot read it (${code})`);
    throw e;
  }
}

/** Checks what can be checked before any thread starts (and the capture's header: a bad file is a clear error). */
function checkReplayRun(o: ReplayRunOptions): { port: ReplayPort; tx: Endpoint } {
  const port = o.port ?? 'pipe';
  if (!REPLAY_PORTS.includes(port))
    throw new NetmapError('EINVAL', `port must be ${REPLAY_PORTS.join(', ')}; got '${port}'`);
  const tx = o.tx ?? 'host';
  if (!ENDPOINTS.includes(tx)) throw new NetmapError('EINVAL', `tx must be ${ENDPOINTS.join(', ')}; got '${tx}'`);
  if (port === 'nic' && tx === 'emulated')
    throw new NetmapError('EINVAL', 'a NIC is replayed into from a host app or a guest (passthrough)');
  checkReplayOptions(o);
  checkCaptureFile(o.file);
  return { port, tx };
}

/**
 * Replays a capture into a port from a host app or a guest in worker threads (netmap's
 * nmreplay), writing or counting what arrives.
 */
export async function runReplay(o: ReplayRunOptions): Promise<ReplayRunResult> {
  const { port, tx } = checkReplayRun(o);
  const notify = checkNotifyPolicy(o.notify ?? 'asleep');
  const nm = new Netmap();
  const ring = o.ring ?? 1024;
  const level = logLevel();
  const hostThreads: Array<{ t: HostThread; name: string }> = [];
  const side = (d: PortDescriptor, who: Endpoint): AppPortDescriptor => {
    const e = appEndpoint(d, who);
    if (e.host !== null) hostThreads.push({ t: e.host, name: e.hostName });
    return e.port;
  };
  let a: PortDescriptor;
  let b: PortDescriptor | null = null;
  let wire: Omit<WireTask, 'ctl' | 'stats'> | null = null;
  if (port === 'nic') {
    const hw = nm.createNic('nic0', { line: checkLineRate(o.line ?? '10G'), ringSize: ring });
    a = nm.register('nic0');
    wire = {
      role: 'wire',
      hw,
      tx: o.out !== undefined ? { kind: 'pcap', path: o.out } : { kind: 'sink' },
      rx: { kind: 'none' },
      measure: 'tx',
      sender: false,
      logLevel: level,
    };
  } else {
    a = nm.register(port === 'vale' ? 'vale0:a' : 'pipe0{', { ringSize: ring });
    b = nm.register(port === 'vale' ? 'vale0:b' : 'pipe0}', { ringSize: ring });
  }
  const replayOpts: ReplayOptions = {
    timing: o.timing,
    pps: o.pps,
    bps: o.bps,
    speedup: o.speedup,
    loop: o.loop,
    batch: o.batch,
  };
  const threads = 2 + (tx === 'host' ? 0 : 1);
  const roles: SessionRole[] = [
    {
      task: {
        role: 'replay',
        port: side(a, tx),
        file: o.file,
        opts: replayOpts,
        notify,
        oversubscribed: threads > availableParallelism(),
        logLevel: level,
      },
      name: `${tx} replay of ${o.file} into ${a.name}`,
      sender: true,
    },
  ];
  if (b !== null) {
    roles.push({
      task: { role: 'capture', port: b, out: o.out ?? null, opts: {}, notify, logLevel: level },
      name: `capture on ${b.name}`,
      sender: false,
      measured: true,
    });
  } else if (wire !== null) {
    roles.push({ task: { ...wire }, name: 'wire of nic0', sender: false, measured: true });
  }
  const order = hostThreads.length > 1 ? createStopOrder(hostThreads.length) : null;
  hostThreads.forEach((h, i) => {
    roles.push({
      task: {
        ...h.t,
        lingerUs: 1000,
        busyWait: false,
        notify,
        logLevel: level,
        ...(order === null ? {} : { order: { sab: order, after: i - 1, self: i } }),
      },
      sender: false,
      forwarder: true,
    });
  });
  const s = await runSession<unknown>(roles, { seconds: 0, reportMs: 1000, warmupMs: 0, signal: o.signal });
  const sent = s.results[0] as WithThread<ReplayResult>;
  const other = s.results[1] as WithThread<CaptureResult> | WithThread<WireResult>;
  const w = 'lanes' in other ? other : undefined;
  const received = w ? { frames: w.lanes[0].frames, bytes: w.lanes[0].bytes } : (other as CaptureResult);
  const { thread: _t, ...sentOnly } = sent;
  let wireOnly: WireResult | undefined;
  if (w) {
    const { thread: _w, ...rest } = w;
    wireOnly = rest;
  }
  return {
    port,
    tx,
    sent: sentOnly,
    received: { frames: received.frames, bytes: received.bytes },
    switchDrops: port === 'vale' && b !== null ? valeCounters(a.kmem).drops + valeCounters(b.kmem).drops : 0,
    ...(wireOnly ? { wire: wireOnly } : {}),
    out: o.out ?? null,
    seconds: s.elapsed,
  };
}

/**
 * Options of runCaptureRun: the capture file, what the monitor watches on vale0, how
 * long, and the traffic that drives it.
 */
export interface CaptureRunOptions {
  /** Where the monitor's frames go (pcap, or pcapng by extension). */
  out: string;
  /** The port watched on vale0 (a, b), or 'switch' for every frame through it (default switch). */
  watch?: 'a' | 'b' | 'switch';
  /** Stop after this many frames captured, or after `seconds` (default 3 s). */
  count?: number;
  seconds?: number;
  /** The traffic: pkt-gen vale0:a -> vale0:b (len, batch), or a capture replayed into vale0:a. */
  replay?: string;
  len?: number;
  batch?: number;
  ring?: number;
  signal?: AbortSignal;
}

/** The result of runCaptureRun: frames captured and missed by the monitor, frames sent and received meanwhile. */
export interface CaptureRunResult {
  watch: string;
  /** Frames the monitor wrote, and frames it could not keep up with (its drops). */
  captured: number;
  missed: number;
  /** Frames the traffic sent and the receiver got meanwhile. */
  sent: number;
  received: number;
  out: string;
  seconds: number;
}

/** Records what crosses vale0 (or one of its ports) through a monitor while traffic runs. */
export async function runCaptureRun(o: CaptureRunOptions): Promise<CaptureRunResult> {
  const watch = o.watch ?? 'switch';
  if (watch !== 'a' && watch !== 'b' && watch !== 'switch') {
    throw new NetmapError('EINVAL', `watch must be a, b or switch; got '${String(watch)}'`);
  }
  const count = o.count ?? 0;
  if (!(Number.isInteger(count) && count >= 0))
    throw new NetmapError('EINVAL', `count must be an integer >= 0, got ${count}`);
  const seconds = o.seconds ?? (count > 0 ? 0 : 3);
  if (o.replay !== undefined) checkCaptureFile(o.replay);
  const nm = new Netmap();
  const ring = o.ring ?? 1024;
  const a = nm.register('vale0:a', { ringSize: ring });
  const b = nm.register('vale0:b', { ringSize: ring });
  const mon = nm.monitor('vale0:mon', { watch: watch === 'switch' ? undefined : watch, ringSize: ring });
  const level = logLevel();
  const len = o.len ?? 60;
  const batch = o.batch ?? 64;
  const rxMac = [0x02, 0, 0, 0, 2, 1] as const;
  const tx: PktGenOptions = { mode: 'tx', len, batch, count: 0, dstMac: rxMac, srcMac: [0x02, 0, 0, 0, 1, 1] };
  if (o.replay === undefined) checkPktGenOptions(tx, 2048);
  const roles: SessionRole[] = [
    o.replay !== undefined
      ? {
          task: { role: 'replay', port: a, file: o.replay, opts: { timing: 'fast', loop: 0 }, logLevel: level },
          sender: true,
          name: `replay of ${o.replay} into vale0:a`,
        }
      : { task: { role: 'pktgen', port: a, opts: tx, logLevel: level }, sender: true, name: 'pkt-gen tx on vale0:a' },
    {
      task: {
        role: 'pktgen',
        port: b,
        opts: { mode: 'rx', len, batch, count: 0, srcMac: rxMac, announce: true },
        logLevel: level,
      },
      sender: false,
      name: 'pkt-gen rx on vale0:b',
    },
    {
      task: { role: 'capture', port: mon, out: o.out, opts: { count, endsRun: true }, logLevel: level },
      sender: false,
      measured: true,
      name: `monitor vale0:mon on ${watch === 'switch' ? 'vale0' : `vale0:${watch}`}`,
    },
  ];
  // A count ends the run once the monitor has it: the capture role stops the senders.
  const s = await runSession<unknown>(roles, { seconds, reportMs: 100, warmupMs: 0, signal: o.signal });
  const sender = s.results[0] as { packets?: number; frames?: number };
  const receiver = s.results[1] as { packets: number };
  const cap = s.results[2] as CaptureResult;
  return {
    watch,
    captured: cap.frames,
    missed: valeCounters(mon.kmem).drops,
    sent: sender.packets ?? sender.frames ?? 0,
    received: receiver.packets,
    out: o.out,
    seconds: s.elapsed,
  };
}
