/**
 * The one worker entry point: piscina runs one long task per role (a pkt-gen, a guest,
 * a kloop...). Roles stop through the shared control block, never by abort.
 */
import '../src/node-platform.js';
import { type PeerTask, runPeer } from '../bench/peers-roles.js';
import { ST_PACKETS } from '../shm/layout.js';
import { measureAlloc } from '../src/apps/alloc.js';
import { type BridgeTask, runBridgeTask } from '../src/apps/bridge-role.js';
import { Control, RoleStats, STOP_SENDERS } from '../src/apps/control.js';
import { type WithThread, withThreadCpu } from '../src/apps/cputime.js';
import { type Fault, withFault } from '../src/apps/fault.js';
import { type AppPortDescriptor, openAppPort } from '../src/apps/open.js';
import {
  type CaptureOptions,
  type CaptureResult,
  captureFrom,
  type ReplayOptions,
  type ReplayResult,
  replayInto,
} from '../src/apps/pcap-io.js';
import { type PktGenOptions, runPktGen } from '../src/apps/pktgen.js';
import type { PktGenRoleResult } from '../src/apps/pktgen-run.js';
import { wireError } from '../src/apps/session.js';
import { traced } from '../src/apps/traced.js';
import { E1000Device, type E1000DeviceDescriptor, type E1000Result } from '../src/emulated/e1000.js';
import { NetmapError } from '../src/errors.js';
import type { NotifyPolicy } from '../src/kernel/notify.js';
import { type LogLevel, setLogLevel } from '../src/log.js';
import { runWireTask, type WireResult, type WireTask } from '../src/nic/wire-role.js';
import { GuestPort } from '../src/passthrough/guest.js';
import { HostileGuest, type HostileOptions } from '../src/passthrough/hostile.js';
import type { GuestDescriptor, KloopDescriptor } from '../src/passthrough/hypervisor.js';
import { type KloopResult, runKloopTask } from '../src/passthrough/kloop.js';
import { createCapture, createCaptureWriter, openCapture } from '../src/pcap/index.js';
import { Port } from '../src/port.js';
import { runHostThread, type StopOrderRef } from '../src/stop-order.js';

export interface PktGenTask {
  role: 'pktgen';
  /** A host port, or a guest's view of a passed-through one (the app runs "in the VM"). */
  port: AppPortDescriptor;
  opts: PktGenOptions;
  /** Make the app fail mid-flow (see src/apps/fault.ts). */
  fault?: Fault;
  /** When a sleeping peer is worth waking (the port's policy). */
  notify?: NotifyPolicy;
  /** Threads outnumber cores (the adaptive policy then never spins). */
  oversubscribed?: boolean;
  /** Record this thread's events (src/trace.ts). */
  trace?: boolean;
  ctl: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  logLevel?: LogLevel;
}

/** A hostile guest scribbling over its passed-through port until the senders stop. */
export interface HostileTask {
  role: 'hostile';
  guest: GuestDescriptor;
  opts: HostileOptions;
  ctl: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  logLevel?: LogLevel;
}

export interface HostileResult {
  writes: number;
  kicks: number;
}

/** What a kloop role returns: its counters and its thread's CPU figures. */
export type KloopRoleResult = WithThread<KloopResult>;

/** The host kloop of a passed-through port. */
export interface KloopTask {
  role: 'kloop';
  kloop: KloopDescriptor;
  lingerUs: number;
  busyWait: boolean;
  notify?: NotifyPolicy;
  trace?: boolean;
  /** Its place in the path's stop order, when the path has several host threads. */
  order?: StopOrderRef;
  ctl: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  logLevel?: LogLevel;
}

/** The device thread of an emulated NIC (QEMU's e1000 and its netmap back-end). */
export interface E1000Task {
  role: 'e1000';
  device: E1000DeviceDescriptor;
  lingerUs: number;
  busyWait: boolean;
  notify?: NotifyPolicy;
  trace?: boolean;
  /** Its place in the path's stop order, when the path has several host threads. */
  order?: StopOrderRef;
  ctl: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  logLevel?: LogLevel;
}

/** An app replaying a capture into its port (nmreplay). */
export interface ReplayTask {
  role: 'replay';
  port: AppPortDescriptor;
  file: string;
  opts: ReplayOptions;
  notify?: NotifyPolicy;
  oversubscribed?: boolean;
  ctl: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  logLevel?: LogLevel;
}

/** An app writing what its port receives into a capture (or counting it: out null). */
export interface CaptureTask {
  role: 'capture';
  port: AppPortDescriptor;
  out: string | null;
  opts: CaptureOptions;
  notify?: NotifyPolicy;
  ctl: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  logLevel?: LogLevel;
}

export type RoleTask =
  | PktGenTask
  | PeerTask
  | KloopTask
  | E1000Task
  | BridgeTask
  | HostileTask
  | WireTask
  | ReplayTask
  | CaptureTask;

export default async function role(task: RoleTask): Promise<unknown> {
  if (task.logLevel) setLogLevel(task.logLevel);
  try {
    return await roleOf(task);
  } catch (e) {
    // A worker's error reaches the coordinator as a structured clone, which keeps only the
    // message of a class of ours: the code goes into the message (see wireError).
    throw e instanceof NetmapError ? new Error(wireError(e)) : e;
  }
}

function roleOf(task: RoleTask): Promise<unknown> | unknown {
  switch (task.role) {
    case 'pktgen':
      return pktgen(task);
    case 'peer':
      return runPeer(task);
    case 'kloop':
      return kloop(task);
    case 'e1000':
      return e1000(task);
    case 'bridge':
      return runBridgeTask(task);
    case 'hostile':
      return hostile(task);
    case 'wire':
      return wire(task);
    case 'replay':
      return replay(task);
    case 'capture':
      return capture(task);
    default:
      throw new Error(`unknown role ${(task as { role: string }).role}`);
  }
}

function pktgen(task: PktGenTask): Promise<PktGenRoleResult> {
  return traced(task.trace, () => pktgenRun(task));
}

async function pktgenRun(task: PktGenTask): Promise<PktGenRoleResult> {
  const port = openAppPort(task.port, { notify: task.notify, oversubscribed: task.oversubscribed });
  const guest = port instanceof GuestPort ? port : null;
  const stats = new RoleStats(task.stats);
  const app = task.fault ? withFault(port, task.fault, stats) : port;
  const who = task.port.type === 'ptnet' ? 'guest' : task.port.type === 'e1000' ? 'emulated' : 'host';
  try {
    const { result: run, alloc } = await measureAlloc(() =>
      withThreadCpu(`${who} ${task.opts.mode}`, () => runPktGen(app, task.opts, new Control(task.ctl), stats)),
    );
    return {
      ...run.result,
      counters: port instanceof Port ? port.counters().rings : [],
      alloc,
      guest: guest?.counters(),
      thread: run.thread,
    };
  } finally {
    port.close();
  }
}

function hostile(task: HostileTask): WithThread<HostileResult> {
  const g = new HostileGuest(task.guest, task.opts);
  const ctl = new Control(task.ctl);
  const st = new RoleStats(task.stats);
  const { thread } = withThreadCpu('hostile guest', () => {
    ctl.arriveAndWait();
    // Its writes are its "packets": the session samples them like any sender's.
    g.run(() => {
      st.f64[ST_PACKETS] = g.writes;
      st.publish();
      return ctl.stopLevel() >= STOP_SENDERS;
    });
  });
  return { writes: g.writes, kicks: g.kicks, thread };
}

function replay(task: ReplayTask): WithThread<ReplayResult> {
  const port = openAppPort(task.port, { notify: task.notify, oversubscribed: task.oversubscribed });
  const reader = openCapture(task.file);
  const ctl = new Control(task.ctl);
  try {
    ctl.arriveAndWait();
    const { result, thread } = withThreadCpu('replay', () =>
      replayInto(port, reader, task.opts, ctl, new RoleStats(task.stats)),
    );
    return { ...result, thread };
  } finally {
    reader.close();
    port.close();
  }
}

function capture(task: CaptureTask): WithThread<CaptureResult> {
  const port = openAppPort(task.port, { notify: task.notify });
  const writer = task.out === null ? createCaptureWriter(new NullSink()) : createCapture(task.out);
  const ctl = new Control(task.ctl);
  try {
    ctl.arriveAndWait();
    const { result, thread } = withThreadCpu('capture', () =>
      captureFrom(port, writer, task.opts, ctl, new RoleStats(task.stats)),
    );
    return { ...result, thread };
  } finally {
    writer.close();
    port.close();
  }
}

/** A byte sink that keeps nothing (a capture role that only counts). */
class NullSink {
  readonly name = 'null';
  write(): void {}
  close(): void {}
}

/** A NIC's wire (the hardware): its lanes until its stop level. */
function wire(task: WireTask): WithThread<WireResult> {
  const { result, thread } = withThreadCpu('wire', () => runWireTask(task));
  return { ...result, thread };
}

function kloop(task: KloopTask): KloopRoleResult {
  return traced(task.trace, () => {
    const { result, thread } = withThreadCpu('kloop', () => runKloopTask(task));
    return { ...result, thread };
  });
}

function e1000(task: E1000Task): WithThread<E1000Result> {
  return traced(task.trace, () => e1000Run(task));
}

function e1000Run(task: E1000Task): WithThread<E1000Result> {
  const { result, thread } = withThreadCpu('e1000', () =>
    runHostThread(
      new Control(task.ctl),
      task.order,
      task,
      () => new E1000Device(task.device),
      (dev): E1000Result => ({ ...dev.counters, host: dev.host.counters().rings }),
    ),
  );
  return { ...result, thread };
}
