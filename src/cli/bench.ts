/**
 * `sabnetmap bench peers|micro|run`: the peers comparison, the microbenchmarks, and a
 * scenario sweep (one point at a time, progress on stderr, a report on disk; Ctrl-C stops
 * the point in progress and writes the report of the finished ones, exit 130). `bench
 * pipeline` and `bench vxlan` have files of their own.
 */
import { formatMicro, runMicroBench } from '../../bench/micro.js';
import { runPeersBench } from '../../bench/peers.js';
import { formatTable, partialLine } from '../../bench/report.js';
import { runScenario } from '../../bench/runner.js';
import { builtinScenarios, loadScenario } from '../../bench/scenario.js';
import { num, parse, parseWithArgs, UsageError } from './args.js';
import { type CliContext, EXIT_INTERRUPTED } from './context.js';
import { formatPeers } from './format.js';

/** The built-in scenarios' names, for the usage text and errors ('none' when none can be read). */
export function builtinList(): string {
  try {
    return builtinScenarios().join(', ') || 'none';
  } catch {
    return 'none';
  }
}

/** `bench peers`: the same packets over postMessage, its batches, ringbuf.js and a pipe. */
export async function benchPeersCommand(argv: string[], ctx: CliContext): Promise<void> {
  const o = parse(argv, { seconds: { type: 'string' }, json: { type: 'boolean' } });
  if (o.help) return void process.stdout.write(ctx.help);
  const seconds = num(o, 'seconds', 2, (v) => v > 0 && v <= 600, 'a number of seconds from 0 to 600');
  const r = await runPeersBench({ seconds });
  process.stdout.write(o.json === true ? `${JSON.stringify(r)}\n` : formatPeers(r));
}

/** `bench micro`: tinybench timings of the hot primitives. */
export async function benchMicroCommand(argv: string[], ctx: CliContext): Promise<void> {
  const o = parse(argv, { 'time-ms': { type: 'string' }, json: { type: 'boolean' } });
  if (o.help) return void process.stdout.write(ctx.help);
  const timeMs = num(o, 'time-ms', 300, (v) => v >= 10 && v <= 60_000, 'a number of milliseconds from 10 to 60000');
  const r = await runMicroBench({ timeMs });
  process.stdout.write(o.json === true ? `${JSON.stringify(r)}\n` : formatMicro(r));
}

/** `bench run <scenario>`: a sweep, one point at a time, progress on stderr, a report on disk. */
export async function benchRunCommand(argv: string[], ctx: CliContext): Promise<number> {
  const { opts: o, args } = parseWithArgs(
    argv,
    { out: { type: 'string' }, seconds: { type: 'string' }, trace: { type: 'boolean' }, json: { type: 'boolean' } },
    1,
  );
  if (o.help) {
    process.stdout.write(ctx.help);
    return 0;
  }
  const ref = args[0];
  if (ref === undefined) {
    throw new UsageError(`bench run needs a scenario file or a built-in name (${builtinList()})`);
  }
  const seconds =
    o.seconds === undefined
      ? undefined
      : num(o, 'seconds', 0, (v) => v > 0 && v <= 3600, 'a number of seconds above 0, at most 3600');
  const out = o.out as string | undefined;
  if (out === '') throw new UsageError('--out needs a directory');
  const { scenario, file } = loadScenario(ref); // a bad scenario: 'sabnetmap: <path>: <problem>', exit 2
  const trace = o.trace === true;
  if (trace && scenario.experiment === 'peers') {
    throw new UsageError('--trace needs a pktgen, ping or chain scenario (peers has no traced threads)');
  }
  const r = await runScenario(scenario, {
    trace,
    outDir: out,
    seconds,
    source: file,
    command: ['sabnetmap', 'bench', 'run', ...argv].join(' '),
    signal: ctx.interruptible(),
  });
  if (o.json === true) process.stdout.write(`${JSON.stringify({ dir: r.dir, ...r.doc })}\n`);
  else {
    // On a terminal the table already grew above the progress bar: not twice (but the
    // partial line, which formatTable adds under the table, still once).
    if (!(r.shownLive && process.stdout.isTTY)) process.stdout.write(formatTable(r.doc));
    else if (r.doc.partial) process.stdout.write(`${partialLine(r.doc)}\n`);
    process.stdout.write(`report: ${r.files.report}\n`);
  }
  if (r.doc.partial && ctx.interrupted()) return EXIT_INTERRUPTED;
  if (r.failed > 0) {
    process.stderr.write(`sabnetmap: ${r.failed} point(s) failed: see the error column in ${r.files.csv}\n`);
    return 1;
  }
  return 0;
}
