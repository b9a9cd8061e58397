/**
 * The one worker entry point: piscina runs one long task per role (a pkt-gen, a guest,
 * a kloop...). Roles stop through the shared control block, never by abort.
 */
import { type PeerTask, runPeer } from '../bench/peers-roles.js';
import { measureAlloc } from '../src/apps/alloc.js';
import { Control, RoleStats } from '../src/apps/control.js';
import { type PktGenOptions, runPktGen } from '../src/apps/pktgen.js';
import type { PktGenRoleResult } from '../src/apps/pktgen-run.js';
import { type LogLevel, setLogLevel } from '../src/log.js';
import { attachPort } from '../src/netmap.js';
import type { PortDescriptor } from '../src/port.js';

export interface PktGenTask {
  role: 'pktgen';
  port: PortDescriptor;
  opts: PktGenOptions;
  ctl: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  logLevel?: LogLevel;
}

export type RoleTask = PktGenTask | PeerTask;

export default async function role(task: RoleTask): Promise<unknown> {
  if (task.logLevel) setLogLevel(task.logLevel);
  switch (task.role) {
    case 'pktgen':
      return pktgen(task);
    case 'peer':
      return runPeer(task);
    default:
      throw new Error(`unknown role ${(task as { role: string }).role}`);
  }
}

async function pktgen(task: PktGenTask): Promise<PktGenRoleResult> {
  const port = attachPort(task.port);
  try {
    const { result, alloc } = await measureAlloc(() =>
      runPktGen(port, task.opts, new Control(task.ctl), new RoleStats(task.stats)),
    );
    return { ...result, counters: port.counters(), alloc };
  } finally {
    port.close();
  }
}
