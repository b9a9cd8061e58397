#!/usr/bin/env node
/**
 * The sabnetmap command line. Bad input is one line on stderr and exit code 2.
 */
import { parseArgs } from 'node:util';
import { runPeersBench } from '../../bench/peers.js';
import { runPktGenPair } from '../apps/pktgen-run.js';
import { NetmapError } from '../errors.js';
import { LOG_LEVELS, type LogLevel, setLogLevel } from '../log.js';
import { formatPeers, formatPktGenHeader, formatPktGenInterval, formatPktGenSummary } from './format.js';

/** A usage error: the message names the problem; the CLI exits with 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

const HELP = `usage: sabnetmap <command> [options]

commands:
  pkt-gen      netmap's traffic generator: a sender and a receiver in two worker threads
  bench peers  the same packets over postMessage, postMessage batches, ringbuf.js and a pipe
  start        the flagship run (what npm start runs)
  help         this text

pkt-gen options:
  --port pipe            port type (VALE comes with the VALE issue)
  --mode tx|txseq|ping   tx -> rx, txseq -> rxseq (sequence checks), ping <-> pong (RTT)
  --len N                frame length in bytes (60)
  --batch N              slots per sync (64)
  --ring N               slots per ring, 2..16384, any size (1024)
  --seconds S            measured time after warm-up (3); 0 with --count runs to the count
  --count N              packets to send (0 = until --seconds)
  --spin-us N            busy-poll time before poll() sleeps (200; 0 sleeps at once)
  --report-ms N          report interval (1000)
  --json                 print one JSON object instead of the report
common:
  --log-level L          ${LOG_LEVELS.join('|')} (silent)
`;

type Opts = Record<string, string | boolean | undefined>;

function num(opts: Opts, name: string, dflt: number, check: (v: number) => boolean, what: string): number {
  const raw = opts[name];
  if (raw === undefined) return dflt;
  const v = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(v) || !check(v)) {
    throw new UsageError(`--${name} must be ${what}, got '${raw}'`);
  }
  return v;
}
const isInt = (v: number) => Number.isInteger(v);

function parse(argv: string[], options: Record<string, { type: 'string' | 'boolean' }>): Opts {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...options, 'log-level': { type: 'string' }, help: { type: 'boolean' } },
      strict: true,
      allowPositionals: true,
    });
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    const level = values['log-level'];
    if (level !== undefined) {
      if (!(LOG_LEVELS as readonly string[]).includes(level as string)) {
        throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got '${level}'`);
      }
      setLogLevel(level as LogLevel);
    }
    return values as Opts;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    // node:util's messages are multi-sentence; keep the first one.
    throw new UsageError((e as Error).message.split('. ')[0].replace(/\.$/, ''));
  }
}

const PKTGEN_FLAGS = {
  port: { type: 'string' },
  mode: { type: 'string' },
  len: { type: 'string' },
  batch: { type: 'string' },
  ring: { type: 'string' },
  seconds: { type: 'string' },
  count: { type: 'string' },
  'spin-us': { type: 'string' },
  'report-ms': { type: 'string' },
  json: { type: 'boolean' },
} as const;

async function pktgen(argv: string[]): Promise<void> {
  const o = parse(argv, PKTGEN_FLAGS);
  if (o.help) return void process.stdout.write(HELP);
  const port = (o.port as string | undefined) ?? 'pipe';
  if (port === 'vale') throw new UsageError('--port vale: VALE ports are not available yet');
  if (port !== 'pipe') throw new UsageError(`--port must be pipe, got '${port}'`);
  const mode = (o.mode as string | undefined) ?? 'tx';
  if (mode !== 'tx' && mode !== 'txseq' && mode !== 'ping') {
    throw new UsageError(`--mode must be tx, txseq or ping, got '${mode}'`);
  }
  const count = num(o, 'count', 0, (v) => isInt(v) && v >= 0, 'a non-negative integer');
  const opts = {
    port: 'pipe' as const,
    mode: mode as 'tx' | 'txseq' | 'ping',
    len: num(o, 'len', 60, isInt, 'an integer'),
    batch: num(o, 'batch', 64, (v) => isInt(v) && v >= 1, 'a positive integer'),
    ring: num(o, 'ring', 1024, isInt, 'an integer'),
    seconds: num(o, 'seconds', count > 0 ? 0 : 3, (v) => v >= 0 && v <= 3600, 'a number of seconds from 0 to 3600'),
    count,
    spinUs: num(o, 'spin-us', 200, (v) => v >= 0 && v <= 1e7, 'a number of microseconds from 0 to 1e7'),
    reportMs: num(o, 'report-ms', 1000, (v) => v >= 10, 'at least 10'),
  };
  if (opts.seconds === 0 && count === 0) throw new UsageError('--seconds 0 needs --count');
  const json = o.json === true;
  if (!json) process.stdout.write(formatPktGenHeader(opts));
  const r = await runPktGenPair({
    ...opts,
    onInterval: json ? undefined : (iv) => process.stdout.write(formatPktGenInterval(iv)),
  });
  if (json) {
    const { intervals: _i, ...rest } = r;
    process.stdout.write(`${JSON.stringify(rest)}\n`);
  } else {
    process.stdout.write(formatPktGenSummary(r));
  }
}

async function benchPeers(argv: string[]): Promise<void> {
  const o = parse(argv, { seconds: { type: 'string' }, json: { type: 'boolean' } });
  if (o.help) return void process.stdout.write(HELP);
  const seconds = num(o, 'seconds', 2, (v) => v > 0 && v <= 600, 'a number of seconds from 0 to 600');
  const r = await runPeersBench({ seconds });
  process.stdout.write(o.json === true ? `${JSON.stringify(r)}\n` : formatPeers(r));
}

/** The flagship run of `npm start`: the pipe pkt-gen and the peers comparison. */
async function start(argv: string[]): Promise<void> {
  parse(argv, {});
  process.stdout.write('sabnetmap: netmap pipes on SharedArrayBuffer, two worker threads\n\n');
  const opts = { port: 'pipe' as const, mode: 'tx' as const, len: 60, batch: 64, ring: 1024, seconds: 3, spinUs: 200 };
  process.stdout.write(formatPktGenHeader(opts));
  const r = await runPktGenPair({ ...opts, onInterval: (iv) => process.stdout.write(formatPktGenInterval(iv)) });
  process.stdout.write(formatPktGenSummary(r));
  process.stdout.write('\nThe same 60-byte packets between two worker threads:\n');
  process.stdout.write(formatPeers(await runPeersBench({ seconds: 2 })));
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'pkt-gen':
        await pktgen(rest);
        return 0;
      case 'bench':
        if (rest[0] === 'peers') {
          await benchPeers(rest.slice(1));
          return 0;
        }
        throw new UsageError(
          rest[0] === undefined ? 'bench needs a benchmark name: peers' : `unknown benchmark '${rest[0]}' (peers)`,
        );
      case 'start':
        await start(rest);
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(HELP);
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command '${cmd}' (pkt-gen, bench peers, start, help)`);
    }
  } catch (e) {
    if (e instanceof UsageError || e instanceof NetmapError) {
      process.stderr.write(`sabnetmap: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`sabnetmap: internal error: ${(e as Error)?.message ?? String(e)}\n`);
    if (process.env.SABNETMAP_DEBUG) process.stderr.write(`${(e as Error)?.stack}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
