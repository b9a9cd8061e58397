import type { NotifyPolicy } from '../kernel/notify.js';
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
import { type Traced, traced } from './traced.js';

/** The bridge app from `from` (its RX) to `to` (its TX). */
export interface BridgeAppTask {
  role: 'bridge';
  from: AppPortDescriptor;
  to: AppPortDescriptor;
  opts: BridgeOptions;
  /** When a sleeping peer is worth waking (both ports' policy; default asleep). */
  notify?: NotifyPolicy;
  /** Threads outnumber cores (the adaptive policy then never spins). */
  oversubscribed?: boolean;
  /** Record this thread's events (src/trace.ts). */
  trace?: boolean;
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
  /** When the guest is worth an interrupt and how the kloop sleeps (default asleep). */
  notify?: NotifyPolicy;
  /** Record this thread's events (src/trace.ts). */
  trace?: boolean;
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

export function runBridgeTask(task: BridgeTask): Promise<Traced<BridgeRoleResult>> | Traced<WithThread<KloopResult>> {
  if (!('kloop' in task)) return traced(task.trace, () => bridgeApp(task));
  return traced(task.trace, () => {
    const { result, thread } = withThreadCpu('kloop', () => runKloopTask(task));
    return { ...result, thread };
  });
}

async function bridgeApp(task: BridgeAppTask): Promise<BridgeRoleResult> {
  const ports: Array<NetmapPort & { close(): void }> = [];
  try {
    ports.push(openAppPort(task.from, { notify: task.notify, oversubscribed: task.oversubscribed }));
    ports.push(openAppPort(task.to, { notify: task.notify, oversubscribed: task.oversubscribed }));
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
