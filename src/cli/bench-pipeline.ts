/**
 * `sabnetmap bench pipeline [--seconds S] [--rounds N] [--flows N] [--json]`: the pipeline benchmark
 * (bench/pipeline.ts). Bad input is a NetmapError: the CLI prints one line, exit 2.
 */
import { parseArgs } from 'node:util';
import {
  formatPipelineBench,
  PIPELINE_BENCH_BATCH,
  PIPELINE_BENCH_LEN,
  PIPELINE_BENCH_RING,
  pipelineBenchBufSize,
  runPipelineBench,
} from '../../bench/pipeline.js';
import { NetmapError } from '../errors.js';

/** The bench pipeline lines of the CLI's help. */
export const BENCH_PIPELINE_HELP = `  bench pipeline  generator -> lb -> 2 counting workers (60 B frames) built five ways: sabnetmap
               pipes (an lb thread; the source fanning out), postMessage of transferred batches,
               ringbuf.js, one thread:
               [--seconds S per build (2)] [--rounds N: builds alternated, medians (3)]
               [--flows N (1024)] [--ring N: slots per link, records per
               ringbuf.js ring, ring/batch messages in flight (4096)] [--batch N (64)]
               [--buf-size N: sabnetmap buffer bytes (64: the frames';
               2048 is netmap's)] [--json]
`;

function number(v: string | undefined, name: string, dflt: number, ok: (x: number) => boolean, what: string): number {
  if (v === undefined) return dflt;
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || !ok(x))
    throw new NetmapError('EINVAL', `--${name} must be ${what}, got '${v}'`);
  return x;
}

/** `sabnetmap bench pipeline ...`. */
export async function benchPipeline(argv: string[], help: string): Promise<void> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        seconds: { type: 'string' },
        rounds: { type: 'string' },
        flows: { type: 'string' },
        ring: { type: 'string' },
        batch: { type: 'string' },
        'buf-size': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    throw new NetmapError('EINVAL', (e as Error).message.split('\n')[0].split('. ')[0]);
  }
  if (values.help) {
    process.stdout.write(help);
    return;
  }
  const seconds = number(
    values.seconds as string | undefined,
    'seconds',
    2,
    (x) => x > 0 && x <= 600,
    'a number of seconds from 0 to 600',
  );
  const rounds = number(
    values.rounds as string | undefined,
    'rounds',
    3,
    (x) => Number.isInteger(x) && x >= 1 && x <= 20,
    'an integer from 1 to 20',
  );
  const flows = number(
    values.flows as string | undefined,
    'flows',
    1024,
    (x) => Number.isInteger(x) && x >= 1 && x <= 1 << 20,
    'an integer from 1 to 1048576',
  );
  const ring = number(
    values.ring as string | undefined,
    'ring',
    PIPELINE_BENCH_RING,
    (x) => Number.isInteger(x) && x >= 16 && x <= 16384,
    'an integer from 16 to 16384',
  );
  const batch = number(
    values.batch as string | undefined,
    'batch',
    PIPELINE_BENCH_BATCH,
    (x) => Number.isInteger(x) && x >= 1 && x <= ring,
    `an integer from 1 to the ring size (${ring})`,
  );
  const bufSize = number(
    values['buf-size'] as string | undefined,
    'buf-size',
    pipelineBenchBufSize(PIPELINE_BENCH_LEN),
    (x) => Number.isInteger(x) && x >= pipelineBenchBufSize(PIPELINE_BENCH_LEN) && x <= 65472 && x % 64 === 0,
    `a multiple of 64 from ${pipelineBenchBufSize(PIPELINE_BENCH_LEN)} (the frames fit) to 65472`,
  );
  const r = await runPipelineBench({
    seconds,
    rounds,
    flows,
    ring,
    batch,
    bufSize,
    onResult: values.json
      ? undefined
      : (l, k) =>
          process.stderr.write(`  ${rounds > 1 ? `round ${k + 1}: ` : ''}${l.name}: ${l.mpps.toFixed(2)} Mpps\n`),
  });
  process.stdout.write(values.json ? `${JSON.stringify(r)}\n` : formatPipelineBench(r));
}
