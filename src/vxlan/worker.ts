/**
 * A VXLAN endpoint thread (started by attachVxlan; one, or two: the inbound and the
 * outbound half): attaches the ports it was handed,
 * binds the sockets, says 'ready' (or 'error', after closing the ports again, so they
 * leave the switch), then lives on its event loop until the parent says 'close'.
 */
import '../node-platform.js';
import { parentPort, workerData } from 'node:worker_threads';
import type { PortDescriptor } from '../port.js';
import { Port } from '../port.js';
import { type EndpointConfig, type EndpointRole, VxlanEndpoint } from './endpoint.js';
import type { UdpAddress } from './wire.js';

export interface VxlanWorkerData {
  config: EndpointConfig;
  /** The half this thread runs (its descriptors are registered /T for 'in', /R for 'out'). */
  role: EndpointRole;
  descs: PortDescriptor[];
  /** The counters block (Float64, statsWords(remotes) words) the parent reads. */
  stats: SharedArrayBuffer;
}

export type VxlanWorkerMessage =
  | { type: 'ready'; local: UdpAddress }
  | { type: 'error'; code: string | undefined; message: string }
  | { type: 'closed' };

async function main(): Promise<void> {
  const parent = parentPort;
  if (parent === null) throw new Error('the VXLAN endpoint runs in a worker thread');
  const d = workerData as VxlanWorkerData;
  const ports: Port[] = [];
  try {
    // The endpoint's TX rings are pushed by its own txsyncs, never by a poll.
    for (const desc of d.descs) ports.push(new Port(desc, { noTxPoll: true }));
  } catch (e) {
    for (const p of ports) p.close();
    throw e;
  }
  const ep = new VxlanEndpoint(
    d.config,
    ports,
    d.descs.map((x) => x.bells[0]),
    new Float64Array(d.stats),
    d.role,
  );
  let local: UdpAddress;
  try {
    local = await ep.start();
  } catch (e) {
    await ep.close();
    const err = e as NodeJS.ErrnoException;
    parent.postMessage({ type: 'error', code: err.code, message: err.message } satisfies VxlanWorkerMessage);
    parent.close();
    return;
  }
  parent.on('message', (m: { type?: string }) => {
    if (m?.type !== 'close') return;
    ep.close().then(() => {
      parent.postMessage({ type: 'closed' } satisfies VxlanWorkerMessage);
      parent.close();
    });
  });
  parent.postMessage({ type: 'ready', local } satisfies VxlanWorkerMessage);
}

await main();
