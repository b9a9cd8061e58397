/**
 * `sabnetmap isolation`: a hostile, honest or crashing guest on one port next to a host
 * flow on another (src/apps/isolation.ts); phases on stderr, the report on stdout.
 */
import { ISOLATION_GUESTS, type IsolationGuest, runIsolation } from '../apps/isolation.js';
import { isInt, num, parse, UsageError } from './args.js';
import type { CliContext } from './context.js';
import { formatIsolation } from './isolation-format.js';
import { portType } from './options.js';

/** `isolation`: flow A's rate and order next to a hostile, honest or crashing guest (src/apps/isolation.ts). */
export async function isolationCommand(argv: string[], ctx: CliContext): Promise<void> {
  const o = parse(argv, {
    port: { type: 'string' },
    guest: { type: 'string' },
    seconds: { type: 'string' },
    seed: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (o.help) return void process.stdout.write(ctx.help);
  const port = portType(o);
  const guest = (o.guest as string | undefined) ?? 'hostile';
  if (!(ISOLATION_GUESTS as readonly string[]).includes(guest)) {
    throw new UsageError(`--guest must be ${ISOLATION_GUESTS.join(', ')}; got '${guest}'`);
  }
  const seconds = num(o, 'seconds', 4, (v) => v > 0 && v <= 600, 'a number of seconds above 0, at most 600');
  const seed = num(o, 'seed', 1, (v) => isInt(v) && v >= 1 && v < 2 ** 31, 'an integer from 1 to 2^31-1');
  const json = o.json === true;
  const r = await runIsolation({
    port,
    guest: guest as IsolationGuest,
    seconds,
    seed,
    onPhase: json ? undefined : (p) => process.stderr.write(`${p} (${seconds} s)...\n`),
  });
  process.stdout.write(json ? `${JSON.stringify(r)}\n` : formatIsolation(r));
}
