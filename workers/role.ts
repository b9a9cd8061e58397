/**
 * The one worker entry point: piscina runs one long task per role (a pkt-gen, a guest,
 * a kloop...). Roles stop through the shared control block, never by abort.
 */
import { Control, RoleStats } from '../src/apps/control.js';
import { type PktGenOptions, type PktGenResult, runPktGen } from '../src/apps/pktgen.js';
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

export type RoleTask = PktGenTask;

export default async function role(task: RoleTask): Promise<unknown> {
  if (task.logLevel) setLogLevel(task.logLevel);
  switch (task.role) {
    case 'pktgen':
      return pktgen(task);
    default:
      throw new Error(`unknown role ${(task as { role: string }).role}`);
  }
}

function pktgen(task: PktGenTask): PktGenResult & { counters: ReturnType<ReturnType<typeof attachPort>['counters']> } {
  const port = attachPort(task.port);
  try {
    const r = runPktGen(port, task.opts, new Control(task.ctl), new RoleStats(task.stats));
    return { ...r, counters: port.counters() };
  } finally {
    port.close();
  }
}
