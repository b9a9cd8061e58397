/**
 * `sabnetmap stress`: the no-lost-wake-up stress, per port and direction (src/apps/stress.ts);
 * a row per run, exit 1 if any direction fails or stalls.
 */
import { runStress, STRESS_DIRECTIONS, STRESS_PORTS, type StressResult } from '../apps/stress.js';
import { isInt, num, parse, UsageError } from './args.js';
import type { CliContext } from './context.js';
import { formatStressHeader, formatStressRow } from './format.js';
import { notifyPolicy } from './options.js';

/** `stress`: the no-lost-wake-up stress per port and direction (src/apps/stress.ts). */
export async function stressCommand(argv: string[], ctx: CliContext): Promise<number> {
  const o = parse(argv, {
    port: { type: 'string' },
    dir: { type: 'string' },
    transitions: { type: 'string' },
    seed: { type: 'string' },
    notify: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (o.help) {
    process.stdout.write(ctx.help);
    return 0;
  }
  const notify = notifyPolicy(o);
  const pick = <T extends string>(name: string, all: readonly T[]): T[] => {
    const v = (o[name] as string | undefined) ?? 'all';
    if (v === 'all') return [...all];
    if (!(all as readonly string[]).includes(v))
      throw new UsageError(`--${name} must be ${all.join(', ')} or all; got '${v}'`);
    return [v as T];
  };
  const ports = pick('port', STRESS_PORTS);
  const dirs = pick('dir', STRESS_DIRECTIONS);
  const transitions = num(o, 'transitions', 1e6, (v) => isInt(v) && v >= 1 && v <= 1e9, 'an integer from 1 to 1e9');
  const seed = num(o, 'seed', 1, (v) => isInt(v) && v >= 0 && v <= 0xffffffff, 'an integer from 0 to 2^32-1');
  const json = o.json === true;
  if (!json) process.stdout.write(formatStressHeader());
  const results: StressResult[] = [];
  for (const port of ports) {
    for (const dir of dirs) {
      const r = await runStress({ port, dir, transitions, seed, notify });
      results.push(r);
      if (!json) process.stdout.write(formatStressRow(r));
    }
  }
  if (json) process.stdout.write(`${JSON.stringify(results)}\n`);
  return results.every((r) => r.ok) ? 0 : 1;
}
