/**
 * `sabnetmap bench pipeline [--seconds S] [--rounds N] [--flows N] [--json]`: the pipeline benchmark
 * (bench/pipeline.ts). Bad input is a UsageError: the CLI prints one line, exit 2.
 */
import {
  formatPipelineBench,
  PIPELINE_BENCH_BATCH,
  PIPELINE_BENCH_LEN,
  PIPELINE_BENCH_RING,
  pipelineBenchBufSize,
  runPipelineBench,
} from '../../bench/pipeline.js';
import { isInt, num, parse } from './args.js';

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

const FLAGS = {
  seconds: { type: 'string' },
  rounds: { type: 'string' },
  flows: { type: 'string' },
  ring: { type: 'string' },
  batch: { type: 'string' },
  'buf-size': { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** `sabnetmap bench pipeline ...`. */
export async function benchPipeline(argv: string[], help: string): Promise<void> {
  const values = parse(argv, FLAGS);
  if (values.help) {
    process.stdout.write(help);
    return;
  }
  const seconds = num(values, 'seconds', 2, (x) => x > 0 && x <= 600, 'a number of seconds from 0 to 600');
  const rounds = num(values, 'rounds', 3, (x) => isInt(x) && x >= 1 && x <= 20, 'an integer from 1 to 20');
  const flows = num(values, 'flows', 1024, (x) => isInt(x) && x >= 1 && x <= 1 << 20, 'an integer from 1 to 1048576');
  const ring = num(
    values,
    'ring',
    PIPELINE_BENCH_RING,
    (x) => isInt(x) && x >= 16 && x <= 16384,
    'an integer from 16 to 16384',
  );
  const batch = num(
    values,
    'batch',
    PIPELINE_BENCH_BATCH,
    (x) => isInt(x) && x >= 1 && x <= ring,
    `an integer from 1 to the ring size (${ring})`,
  );
  const minBuf = pipelineBenchBufSize(PIPELINE_BENCH_LEN);
  const bufSize = num(
    values,
    'buf-size',
    minBuf,
    (x) => isInt(x) && x >= minBuf && x <= 65472 && x % 64 === 0,
    `a multiple of 64 from ${minBuf} (the frames fit) to 65472`,
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
