/**
 * What an app is given to run on: a host port, a guest's view of a passed-through one (the
 * app runs "in the VM"), or a guest's own port over an emulated NIC. One opener for every
 * app role.
 */
import type { E1000GuestDescriptor } from '../emulated/driver.js';
import type { NotifyPolicy } from '../kernel/notify.js';
import { attachPort } from '../netmap.js';
import { GuestPort } from '../passthrough/guest.js';
import type { GuestDescriptor } from '../passthrough/hypervisor.js';
import type { NetmapPort, PortDescriptor } from '../port.js';

export type AppPortDescriptor = PortDescriptor | GuestDescriptor | E1000GuestDescriptor;

/** Opens an app's port in this thread: a GuestPort for a passed-through one, else a Port. */
export function openAppPort(
  d: AppPortDescriptor,
  o: { notify?: NotifyPolicy; oversubscribed?: boolean } = {},
): NetmapPort & { close(): void } {
  return d.type === 'ptnet' ? new GuestPort(d, o) : attachPort(d, o);
}
