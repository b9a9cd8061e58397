/**
 * Who runs an app on a host port: a host app (the port itself), an app in a guest VM
 * with the port passed through (the guest's view, plus a host kloop), or an app in a guest
 * VM behind an emulated e1000 (the guest's own port, plus the NIC's device thread). One
 * place that makes the guest side and the host thread it needs.
 */
import type { E1000DeviceDescriptor } from '../emulated/e1000.js';
import { emulateNic } from '../emulated/nic.js';
import type { PortDescriptor } from '../kernel/attach.js';
import { SPIN_MAX_US } from '../kernel/notify.js';
import { type KloopDescriptor, passThrough } from '../passthrough/hypervisor.js';
import type { AppPortDescriptor } from './open.js';

/**
 * Who runs an app on a port: a host app, an app in a guest VM with passthrough, or one behind an emulated e1000 NIC.
 */
export type Endpoint = 'host' | 'guest' | 'emulated';
/** Every Endpoint. */
export const ENDPOINTS: readonly Endpoint[] = ['host', 'guest', 'emulated'];

/** A host thread a guest endpoint adds: its kloop or its emulated NIC's device thread. */
export type HostThread = { role: 'kloop'; kloop: KloopDescriptor } | { role: 'e1000'; device: E1000DeviceDescriptor };

/**
 * What an app on an endpoint opens, and the host thread (a kloop or an emulated NIC's
 * device thread) to run beside it.
 */
export interface AppEndpoint {
  /** What the app opens (openAppPort). */
  port: AppPortDescriptor;
  /** The host thread to run beside it, and its name in the CPU accounting (none for a host app). */
  host: HostThread | null;
  hostName: string;
}

/** The app side and the host thread of endpoint `who` on host port `d`. */
export function appEndpoint(d: PortDescriptor, who: Endpoint, o: { moderation?: number } = {}): AppEndpoint {
  if (who === 'host') return { port: d, host: null, hostName: '' };
  if (who === 'emulated') {
    const nic = emulateNic(d, { moderation: o.moderation });
    return { port: nic.guest, host: { role: 'e1000', device: nic.device }, hostName: `e1000 ${d.name}` };
  }
  const pt = passThrough(d);
  return { port: pt.guest, host: { role: 'kloop', kloop: pt.kloop }, hostName: `kloop ${d.name}` };
}

/** What `pingWaits` returns: how the apps poll and the host threads wait on a ping's path. */
export interface PingWaits {
  spinUs: number;
  busyWait: boolean;
  /** Set when a host thread lingers instead of busy-waiting. */
  lingerUs?: number;
}

/** An awake ping peer's busy-poll (µs): it never ends within a poll's timeout. */
export const AWAKE_SPIN_US = 1e7;

/**
 * How a ping's path waits, one rule for `sabnetmap ping` and the runner's latency points.
 * Asleep: everything sleeps at once (every packet a wake-up). Awake: the apps busy-poll and
 * a guest's kloop or an emulated NIC's device thread busy-waits (nobody sleeps), which needs
 * a core per thread: with `threads` > `cores` spinners time-slice and a round trip takes
 * milliseconds (measured on 2 cores, guest<->host: 7990 µs median). There awake is what
 * the cores allow: the apps do not spin and the host thread lingers `lingerUs` after its
 * work (default SPIN_MAX_US: the most an adaptive window polls).
 */
export function pingWaits(awake: boolean, threads: number, cores: number, lingerUs = SPIN_MAX_US): PingWaits {
  if (!awake) return { spinUs: 0, busyWait: false };
  if (threads <= cores) return { spinUs: AWAKE_SPIN_US, busyWait: true };
  return { spinUs: 0, busyWait: false, lingerUs };
}
