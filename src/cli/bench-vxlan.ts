/**
 * `sabnetmap bench vxlan`: one TCP flow between two network namespaces through the
 * sabnetmap switch's VXLAN ports and through a Linux bridge (the anchor), in one run
 * (bench/vxlan.ts). Needs root; without it, one line saying why and exit code 1.
 */
import { formatVxlanBench, netnsUnavailable, runVxlanBench } from '../../bench/vxlan.js';
import { NetmapError } from '../errors.js';
import { VXLAN_WAKES, type VxlanWake } from '../vxlan/endpoint.js';
import { parse } from './args.js';

export const BENCH_VXLAN_HELP = `usage: sabnetmap bench vxlan [--mb N (100)] [--runs N (1)] [--mtu N (1500)] [--wake async|poll] [--threads 1|2] [--json]
  a TCP transfer of N MB between two network namespaces (kernel vxlan devices, veth pairs)
  through the sabnetmap switch and through a Linux bridge, Gbit/s for each and the ratio;
  the switch's frames/s and its endpoint threads' CPU per frame (--threads: the endpoint's,
  default 2 with 2 cores or more). Needs root.
`;

export async function benchVxlanCommand(argv: string[]): Promise<number> {
  const values = parse(argv, {
    mb: { type: 'string' },
    runs: { type: 'string' },
    mtu: { type: 'string' },
    wake: { type: 'string' },
    threads: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help === true) {
    process.stdout.write(BENCH_VXLAN_HELP);
    return 0;
  }
  const int = (name: string, dflt: number, lo: number, hi: number): number => {
    const v = values[name] as string | undefined;
    if (v === undefined) return dflt;
    if (!/^\d+$/.test(v) || Number(v) < lo || Number(v) > hi) {
      throw new NetmapError('EINVAL', `--${name} must be an integer from ${lo} to ${hi}, got '${v}'`);
    }
    return Number(v);
  };
  const mb = int('mb', 100, 1, 100_000);
  const runs = int('runs', 1, 1, 20);
  const mtu = int('mtu', 1500, 576, 65535);
  const wake = (values.wake as string | undefined) ?? 'async';
  if (!(VXLAN_WAKES as readonly string[]).includes(wake)) {
    throw new NetmapError('EINVAL', `--wake must be ${VXLAN_WAKES.join(' or ')}, got '${wake}'`);
  }
  const threadsArg = values.threads === undefined ? undefined : int('threads', 2, 1, 2);
  const why = netnsUnavailable();
  if (why !== null) {
    process.stderr.write(`sabnetmap: bench vxlan needs network namespaces: ${why}\n`);
    return 1;
  }
  const json = values.json === true;
  const ac = new AbortController();
  process.once('SIGINT', () => {
    process.stderr.write('sabnetmap: interrupted: finishing the transfer in progress, then cleaning up\n');
    ac.abort();
    process.once('SIGINT', () => process.exit(130));
  });
  const r = await runVxlanBench({
    bytes: mb * 1e6,
    runs,
    mtu,
    wake: wake as VxlanWake,
    ...(threadsArg === undefined ? {} : { threads: threadsArg as 1 | 2 }),
    signal: ac.signal,
    onProgress: (line) => process.stderr.write(`${line}\n`),
  });
  if (json) {
    const { sabnetmap, ...rest } = r;
    // The per-run switch stats are large: their summary is enough on one line.
    const runsOut = sabnetmap.runs.map(({ switchStats, ...x }) => ({ ...x, endpoint: switchStats?.endpoint }));
    process.stdout.write(`${JSON.stringify({ ...rest, sabnetmap: { ...sabnetmap, runs: runsOut } })}\n`);
  } else process.stdout.write(formatVxlanBench(r));
  return ac.signal.aborted ? 130 : 0;
}
