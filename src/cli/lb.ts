/**
 * `sabnetmap lb`: netmap's lb as a command. The input is pkt-gen frames or a capture file
 * (there is no NIC name to open here); every output pipe has a consumer that counts what
 * it gets, in its own worker thread. lb's options where they make sense:
 *
 *   -i gen|FILE       input: pkt-gen frames (default) or a pcap/pcapng file
 *   -p [prefix:]N     a group of N output pipes (repeatable: each group sees every packet)
 *   -B N              extra buffers for the overflow queues
 *   -b N              batch (2048)
 *   -W                busy-wait: threads poll, never sleep
 *   -s S              print per-output stats (JSON lines) every S seconds (1; 0: never)
 *
 * plus --seconds, --count, --flows, --len, --ring, --wait (a full output waits instead of
 * dropping: lossless), --json. lb's -w (wait for the link) has no link to wait for here.
 * Bad input is a NetmapError: the CLI prints one line and exits 2.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { NetmapError } from '../errors.js';
import { LB_DEFAULT_BATCH } from '../pipeline/lb.js';
import { lb, Pipeline, type PipelineResult } from '../pipeline/pipeline.js';
import { counter } from '../pipeline/sinks.js';
import { generator, MIN_GENERATOR_LEN, pcapSource } from '../pipeline/sources.js';

/** The lb lines of the CLI's help. */
export const LB_HELP = `  lb           netmap's load balancer: an input fanned out to pipes by a symmetric 5-tuple hash,
               each pipe's consumer counting in its own thread: [-i gen|FILE (gen)] [-p [prefix:]N
               (a group of N pipes; repeatable, each group sees every packet; 2)] [-B extra bufs (0)]
               [-b batch (2048)] [-W busy-wait] [-s stats every S s (1; 0 off)] [--wait (lossless)]
               [--seconds S] [--count N] [--flows N (1024)] [--len N (60)] [--ring N (1024)] [--json]
`;

function int(v: string | undefined, name: string, dflt: number, lo: number, hi: number): number {
  if (v === undefined) return dflt;
  const x = Number(v);
  if (v.trim() === '' || !Number.isInteger(x) || x < lo || x > hi) {
    throw new NetmapError('EINVAL', `${name} must be an integer from ${lo} to ${hi}, got '${v}'`);
  }
  return x;
}

/** -p [prefix:]N, as lb parses it: an optional name, then the number of pipes (default 2). */
export function parseGroup(spec: string, i: number): { name: string; pipes: number } {
  const colon = spec.indexOf(':');
  const prefix = colon < 0 ? '' : spec.slice(0, colon);
  const n = colon < 0 ? spec : spec.slice(colon + 1);
  if (colon === 0) throw new NetmapError('EINVAL', `-p '${spec}': missing prefix before ':'`);
  if (prefix !== '' && !/^[A-Za-z0-9_.-]{1,48}$/.test(prefix)) {
    throw new NetmapError('EINVAL', `-p '${spec}': a prefix is letters, digits, '_', '.' or '-'`);
  }
  const pipes = n === '' ? 2 : Number(n);
  if (!Number.isInteger(pipes) || pipes < 1 || pipes > 14) {
    throw new NetmapError('EINVAL', `-p '${spec}': the number of pipes must be an integer from 1 to 14`);
  }
  return { name: prefix === '' ? `pipe${i}` : prefix, pipes };
}

/** `sabnetmap lb ...`: runs lb until the input ends, --seconds, or Ctrl-C. */
export async function lbCommand(argv: string[], help: string): Promise<void> {
  let v: Record<string, string | boolean | string[] | undefined>;
  try {
    v = parseArgs({
      args: argv,
      options: {
        input: { type: 'string', short: 'i' },
        pipes: { type: 'string', short: 'p', multiple: true },
        'extra-bufs': { type: 'string', short: 'B' },
        batch: { type: 'string', short: 'b' },
        'busy-wait': { type: 'boolean', short: 'W' },
        stats: { type: 'string', short: 's' },
        wait: { type: 'boolean' },
        seconds: { type: 'string' },
        count: { type: 'string' },
        flows: { type: 'string' },
        len: { type: 'string' },
        ring: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    throw new NetmapError('EINVAL', (e as Error).message.split('\n')[0].split('. ')[0]);
  }
  if (v.help) {
    process.stdout.write(help);
    return;
  }
  const input = (v.input as string | undefined) ?? 'gen';
  const groups = ((v.pipes as string[] | undefined) ?? ['2']).map(parseGroup);
  const names = new Set<string>();
  for (const g of groups) {
    // lb numbers pipes of groups that share a name on from the last: here every group is a stage, so names must differ.
    if (names.has(g.name) || g.name === 'lb' || g.name === 'source') {
      throw new NetmapError('EINVAL', `-p: two groups (or a group and lb) are named '${g.name}'`);
    }
    names.add(g.name);
  }
  const outputs = groups.reduce((t, g) => t + g.pipes, 0);
  if (outputs > 15) throw new NetmapError('EINVAL', `lb has ${outputs} pipes: at most 15`);
  const extraBufs = int(v['extra-bufs'] as string | undefined, '-B', 0, 0, 1 << 20);
  const batch = int(v.batch as string | undefined, '-b', LB_DEFAULT_BATCH, 1, 65536);
  const statsEvery = v.stats === undefined ? 1 : Number(v.stats);
  if (!(statsEvery >= 0 && statsEvery <= 3600))
    throw new NetmapError('EINVAL', `-s must be seconds from 0 to 3600, got '${v.stats}'`);
  const count = int(v.count as string | undefined, '--count', 0, 0, Number.MAX_SAFE_INTEGER);
  const flows = int(v.flows as string | undefined, '--flows', 1024, 1, 1 << 20);
  const len = int(v.len as string | undefined, '--len', 60, MIN_GENERATOR_LEN, 2048);
  const ring = int(v.ring as string | undefined, '--ring', 1024, 4, 16384);
  const seconds = v.seconds === undefined ? (input === 'gen' && count === 0 ? 5 : undefined) : Number(v.seconds);
  if (seconds !== undefined && !(seconds > 0 && seconds <= 86400)) {
    throw new NetmapError('EINVAL', `--seconds must be above 0, at most 86400, got '${v.seconds}'`);
  }
  if (input !== 'gen' && !existsSync(input))
    throw new NetmapError('ENOENT', `-i ${input}: no such file (gen or a capture file)`);
  if (input !== 'gen' && (v.flows !== undefined || v.count !== undefined || v.len !== undefined)) {
    throw new NetmapError('EINVAL', '--flows, --count and --len are for -i gen');
  }
  const json = v.json === true;
  const p = new Pipeline({ ring, batch: Math.min(batch, 1024), spinUs: v['busy-wait'] ? 1e6 : undefined })
    .source(input === 'gen' ? generator({ flows, len, count }) : pcapSource(input))
    .stage('lb', lb({ extraBufs, batch, onFull: v.wait ? 'wait' : 'drop' }), { to: groups.map((g) => g.name) });
  for (const g of groups) p.stage(g.name, counter(), { workers: g.pipes });
  const ac = new AbortController();
  const run = p.run({ seconds, signal: ac.signal });
  const onSigint = () => ac.abort();
  process.once('SIGINT', onSigint);
  let timer: NodeJS.Timeout | undefined;
  if (statsEvery > 0 && !json) {
    let prev: { fw: number[]; dr: number[]; t: number } | null = null;
    timer = setInterval(() => {
      const lbNode = p.stats().nodes.find((n) => n.name === 'lb')?.lb;
      if (lbNode === undefined) return;
      const t = performance.now();
      const fw = lbNode.outputs.map((o) => o.forwarded);
      const dr = lbNode.outputs.map((o) => o.dropped);
      const sec = prev === null ? 0 : (t - prev.t) / 1000;
      let j = 0;
      for (const [gi, g] of groups.entries()) {
        for (let k = 0; k < g.pipes; k++, j++) {
          const o = lbNode.outputs[j];
          const line = {
            input,
            group: gi,
            output_ring: j,
            pipe: `${g.name}}${k}`,
            packets_forwarded: o.forwarded,
            packets_dropped: o.dropped,
            pps: prev === null || sec === 0 ? 0 : Math.round((fw[j] - prev.fw[j]) / sec),
            dps: prev === null || sec === 0 ? 0 : Math.round((dr[j] - prev.dr[j]) / sec),
            overflow_queue: o.queued,
          };
          process.stdout.write(`${JSON.stringify(line)}\n`);
        }
      }
      prev = { fw, dr, t };
    }, statsEvery * 1000);
  }
  let r: PipelineResult;
  try {
    r = await run;
  } finally {
    clearInterval(timer);
    process.removeListener('SIGINT', onSigint);
  }
  const lbNode = r.nodes.find((n) => n.name === 'lb');
  const outs = lbNode?.lb?.outputs ?? [];
  const forwarded = outs.reduce((t, o) => t + o.forwarded, 0);
  const dropped = outs.reduce((t, o) => t + o.dropped, 0);
  if (json) {
    process.stdout.write(
      `${JSON.stringify({
        input,
        received: lbNode?.in ?? 0,
        forwarded,
        dropped,
        nonIp: lbNode?.lb?.nonIp ?? 0,
        outputs: outs,
        groups: groups.map((g) => ({
          name: g.name,
          pipes: g.pipes,
          consumed: r.nodes.find((n) => n.name === g.name)?.consumed ?? 0,
        })),
        seconds: r.seconds,
        mpps: r.seconds > 0 ? (lbNode?.in ?? 0) / r.seconds / 1e6 : 0,
      })}\n`,
    );
  } else {
    // lb's last line.
    process.stdout.write(`${forwarded} packets forwarded.  ${dropped} packets dropped. Total ${forwarded + dropped}\n`);
  }
}
