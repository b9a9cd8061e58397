import type { LogLevel } from '../log.js';
import { GuestPort } from '../passthrough/guest.js';
import type { KloopDescriptor } from '../passthrough/hypervisor.js';
import { type KloopResult, runKloopTask } from '../passthrough/kloop.js';
import { type NetmapPort, Port, type RingCounters } from '../port.js';
import { StopOrder, type StopOrderRef } from '../stop-order.js';
import { type AllocReport, measureAlloc } from './alloc.js';
import { type BridgeOptions, type BridgeResult, runBridge } from './bridge.js';
import { Control, RoleStats } from './control.js';
import { type WithThread, withThreadCpu } from './cputime.js';
import { type AppPortDescriptor, openAppPort } from './open.js';

/** The bridge app from `from` (its RX) to `to` (its TX). */
export interface BridgeAppTask {
  role: 'bridge';
  from: AppPortDescriptor;
  to: AppPortDescriptor;
  opts: BridgeOptions;
  ctl: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  logLevel?: LogLevel;
}

/** The host kloop of a bridge VM's port, stopping in the chain's order. */
export interface BridgeKloopTask {
  role: 'bridge';
  kloop: KloopDescriptor;
  order: StopOrderRef;
  lingerUs: number;
  busyWait: boolean;
  ctl: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  logLevel?: LogLevel;
}

export type BridgeTask = BridgeAppTask | BridgeKloopTask;

/** What the bridge app returns from its worker (with its thread's CPU figures). */
export type BridgeRoleResult = WithThread<
  BridgeResult & {
    /** Host ports: their kernel ring counters (from's rings, then to's). */
    counters: RingCounters[];
    alloc: AllocReport;
    /** In a VM: the guest driver's kicks, sleeps and interrupts taken, both ports together. */
    guest?: { kicks: number; sleeps: number; wakeups: number };
  }
>;

export function runBridgeTask(task: BridgeTask): Promise<BridgeRoleResult> | WithThread<KloopResult> {
  if (!('kloop' in task)) return bridgeApp(task);
  const { result, thread } = withThreadCpu('kloop', () => runKloopTask(task));
  return { ...result, thread };
}

async function bridgeApp(task: BridgeAppTask): Promise<BridgeRoleResult> {
  const ports: Array<NetmapPort & { close(): void }> = [];
  try {
    ports.push(openAppPort(task.from));
    ports.push(openAppPort(task.to));
    const [from, to] = ports;
    const { result: run, alloc } = await measureAlloc(() =>
      withThreadCpu('bridge', () => runBridge(from, to, task.opts, new Control(task.ctl), new RoleStats(task.stats))),
    );
    const result = run.result;
    const guests = ports.filter((p): p is GuestPort => p instanceof GuestPort).map((g) => g.counters());
    return {
      ...result,
      counters: ports.flatMap((p) => (p instanceof Port ? p.counters().rings : [])),
      alloc,
      thread: run.thread,
      ...(guests.length > 0
        ? {
            guest: {
              kicks: guests.reduce((t, g) => t + g.kicks, 0),
              sleeps: guests.reduce((t, g) => t + g.sleeps, 0),
              wakeups: guests.reduce((t, g) => t + g.wakeups, 0),
            },
          }
        : {}),
    };
  } catch (e) {
    // The stages after this one must not wait for it.
    if (task.opts?.order !== undefined) new StopOrder(task.opts.order).abort();
    throw e;
  } finally {
    for (const p of ports) p.close();
  }
}
