/**
 * The CLI's argument helpers: node:util parseArgs with the common flags (--log-level,
 * --help), one-line usage errors, and numeric options checked with a message that says
 * what would be valid. Every command file uses these.
 */
import { parseArgs } from 'node:util';
import { LOG_LEVELS, type LogLevel, setLogLevel } from '../log.js';

/** A usage error: the message names the problem; the CLI exits with 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export type Opts = Record<string, string | boolean | undefined>;

export function num(opts: Opts, name: string, dflt: number, check: (v: number) => boolean, what: string): number {
  const raw = opts[name];
  if (raw === undefined) return dflt;
  const v = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(v) || !check(v)) {
    throw new UsageError(`--${name} must be ${what}, got '${raw}'`);
  }
  return v;
}
export const isInt = (v: number) => Number.isInteger(v);

export function parse(argv: string[], options: Record<string, { type: 'string' | 'boolean' }>): Opts {
  return parseWithArgs(argv, options, 0).opts;
}

/** Like parse, with up to `maxArgs` positional arguments. */
export function parseWithArgs(
  argv: string[],
  options: Record<string, { type: 'string' | 'boolean' }>,
  maxArgs: number,
): { opts: Opts; args: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...options, 'log-level': { type: 'string' }, help: { type: 'boolean' } },
      strict: true,
      allowPositionals: true,
    });
    if (positionals.length > maxArgs) throw new UsageError(`unexpected argument '${positionals[maxArgs]}'`);
    const level = values['log-level'];
    if (level !== undefined) {
      if (!(LOG_LEVELS as readonly string[]).includes(level as string)) {
        throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got '${level}'`);
      }
      setLogLevel(level as LogLevel);
    }
    return { opts: values as Opts, args: positionals };
  } catch (e) {
    if (e instanceof UsageError) throw e;
    const msg = (e as Error).message;
    const ambiguous = /Option '(--[\w-]+)' argument is ambiguous/.exec(msg);
    if (ambiguous) throw new UsageError(`${ambiguous[1]}: write a value that starts with '-' as ${ambiguous[1]}=VALUE`);
    // node:util's messages run over several sentences and lines; keep the first.
    throw new UsageError(msg.split('\n')[0].split('. ')[0].replace(/\.$/, ''));
  }
}
