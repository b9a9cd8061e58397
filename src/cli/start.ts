/**
 * `sabnetmap start` (what `npm start` runs): the flagship run. Ctrl-C stops the point in
 * progress and writes the report of the finished points, marked partial (exit 130).
 */
import { runFlagship } from '../../bench/flagship.js';
import { num, parse, UsageError } from './args.js';
import { type CliContext, EXIT_INTERRUPTED } from './context.js';

/**
 * The flagship run of `npm start`: host apps vs passthrough vs emulated-NIC guests on a
 * pipe and VALE at batch 64, the peers, a results directory with report.md (under 60 s).
 */
export async function startCommand(argv: string[], ctx: CliContext): Promise<number> {
  const o = parse(argv, { out: { type: 'string' }, seconds: { type: 'string' } });
  if (o.help) {
    process.stdout.write(ctx.help);
    return 0;
  }
  const out = o.out as string | undefined;
  if (out === '') throw new UsageError('--out needs a directory');
  const seconds = num(o, 'seconds', 2, (v) => v > 0 && v <= 600, 'a number of seconds above 0, at most 600');
  const r = await runFlagship({
    outDir: out,
    seconds,
    command: ['sabnetmap', 'start', ...argv].join(' '),
    signal: ctx.interruptible(),
  });
  return r.summary.partial && ctx.interrupted() ? EXIT_INTERRUPTED : 0;
}
