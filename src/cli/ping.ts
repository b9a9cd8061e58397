/**
 * `sabnetmap ping`: round-trip times between two endpoints over a pipe or VALE, the peer
 * awake (busy-polling: the cost of the path alone) or asleep (every packet a wake-up).
 */
import { availableParallelism } from 'node:os';
import { pingWaits } from '../apps/endpoint.js';
import { runPktGenPair } from '../apps/pktgen-run.js';
import { isInt, num, parse, UsageError } from './args.js';
import type { CliContext } from './context.js';
import { endpoint, notifyPolicy, portType, traceFile } from './options.js';

/** `ping`: round-trip times between two endpoints, the peer awake (busy-polling) or asleep. */
export async function pingCommand(argv: string[], ctx: CliContext): Promise<void> {
  const o = parse(argv, {
    port: { type: 'string' },
    a: { type: 'string' },
    b: { type: 'string' },
    peer: { type: 'string' },
    count: { type: 'string' },
    len: { type: 'string' },
    notify: { type: 'string' },
    trace: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (o.help) return void process.stdout.write(ctx.help);
  const port = portType(o);
  const notify = notifyPolicy(o);
  const trace = traceFile(o);
  const ends = [endpoint(o, 'a'), endpoint(o, 'b')];
  const peer = (o.peer as string | undefined) ?? 'asleep';
  if (peer !== 'awake' && peer !== 'asleep') throw new UsageError(`--peer must be awake or asleep, got '${peer}'`);
  const count = num(o, 'count', 10_000, (v) => isInt(v) && v >= 1 && v <= 1e8, 'an integer from 1 to 1e8');
  const len = num(o, 'len', 60, isInt, 'an integer');
  // Awake with more threads than cores (a guest adds its kloop): what the cores allow (pingWaits).
  const waits = pingWaits(peer === 'awake', 2 + ends.filter((e) => e !== 'host').length, availableParallelism());
  const r = await runPktGenPair({
    port,
    mode: 'ping',
    count,
    len,
    batch: 1,
    ...waits,
    tx: ends[0],
    rx: ends[1],
    notify,
    trace,
  });
  const rtt = r.rtt ?? { count: 0, min: 0, median: 0, p99: 0, max: 0 };
  const out = {
    port,
    a: ends[0],
    b: ends[1],
    peer,
    notify,
    len,
    count: rtt.count,
    rttUs: { min: rtt.min, median: rtt.median, p99: rtt.p99, max: rtt.max },
    notifiesPerPacket: r.notifiesPerPacket,
    sleepsPerPacket: r.sleepsPerPacket,
    kicksPerPacket: r.kicksPerPacket,
    irqsPerPacket: r.irqsPerPacket,
    threads: r.threads,
    cores: r.cores,
    cpuModel: r.cpuModel,
    node: r.node,
  };
  if (o.json === true) process.stdout.write(`${JSON.stringify(out)}\n`);
  else {
    process.stdout.write(
      `ping over ${port}, ${ends[0]} <-> ${ends[1]}, peer ${peer}: ${rtt.count} round trips, RTT min ${rtt.min.toFixed(2)} us, ` +
        `median ${rtt.median.toFixed(2)} us, p99 ${rtt.p99.toFixed(2)} us (${r.cores} cores, Node ${r.node})\n`,
    );
  }
}
