/**
 * `sabnetmap pkt-gen`: netmap's traffic generator. Over a pipe or a VALE switch, a sender
 * and a receiver in two worker threads (each a host app, or an app in a guest behind
 * passthrough or an emulated e1000); with --port nic, one app on nic0 whose wire runs at
 * line rate (the wire sinks what the app sends, or generates what it receives). Intervals
 * are reported as the run goes, then a summary (or one JSON object with --json). A closed
 * stdout stops the run (the context's signal).
 */
import { availableParallelism } from 'node:os';
import type { NicRunResult } from '../apps/nic-run.js';
import { type Endpoint, runPktGenPair } from '../apps/pktgen-run.js';
import { MAX_MODERATION } from '../emulated/nic.js';
import { LINE_RATES, type LineRate } from '../nic/line.js';
import { isInt, num, type Opts, parse, UsageError } from './args.js';
import type { CliContext } from './context.js';
import { formatPktGenHeader, formatPktGenInterval, formatPktGenSummary } from './format.js';
import { endpoint, notifyPolicy, portType, traceFile } from './options.js';

/** pkt-gen's flags (pipe, VALE and NIC runs take one table: each run refuses the flags that are not its own). */
const PKTGEN_FLAGS = {
  port: { type: 'string' },
  line: { type: 'string' },
  attach: { type: 'string' },
  mode: { type: 'string' },
  len: { type: 'string' },
  batch: { type: 'string' },
  ring: { type: 'string' },
  seconds: { type: 'string' },
  count: { type: 'string' },
  'spin-us': { type: 'string' },
  'report-ms': { type: 'string' },
  senders: { type: 'string' },
  tx: { type: 'string' },
  rx: { type: 'string' },
  'linger-us': { type: 'string' },
  'busy-wait': { type: 'boolean' },
  moderation: { type: 'string' },
  notify: { type: 'string' },
  trace: { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** Threads a pair of endpoints runs: each guest adds its kloop or device thread. */
function pairThreads(senders: number, a: Endpoint, b: Endpoint): number {
  return senders + 1 + (a === 'host' ? 0 : 1) + (b === 'host' ? 0 : 1);
}

/** `pkt-gen`: netmap's traffic generator, a sender and a receiver (pipe, VALE) or one app on a NIC. */
export async function pktgenCommand(argv: string[], ctx: CliContext): Promise<void> {
  const o = parse(argv, PKTGEN_FLAGS);
  if (o.help) return void process.stdout.write(ctx.help);
  if (o.port === 'nic') return pktgenNic(o, ctx);
  if (o.line !== undefined) throw new UsageError('--line is for --port nic');
  if (o.attach !== undefined) throw new UsageError('--attach is for --port nic');
  const port = portType(o);
  const mode = (o.mode as string | undefined) ?? 'tx';
  if (mode !== 'tx' && mode !== 'txseq' && mode !== 'ping') {
    throw new UsageError(`--mode must be tx, txseq or ping, got '${mode}'`);
  }
  const count = num(o, 'count', 0, (v) => isInt(v) && v >= 0, 'a non-negative integer');
  const tx = endpoint(o, 'tx');
  const rx = endpoint(o, 'rx');
  const senders = num(o, 'senders', 1, (v) => isInt(v) && v >= 1 && v <= 16, 'an integer from 1 to 16');
  // Spinning pays only while every thread has a core: with more threads than cores (a
  // guest and its kloop, several senders) a spinner starves the thread it waits for.
  const threads = pairThreads(senders, tx, rx);
  const spinDefault = threads <= availableParallelism() ? 200 : 0;
  const opts = {
    port,
    mode: mode as 'tx' | 'txseq' | 'ping',
    len: num(o, 'len', 60, isInt, 'an integer'),
    batch: num(o, 'batch', 64, (v) => isInt(v) && v >= 1, 'a positive integer'),
    ring: num(o, 'ring', 1024, isInt, 'an integer'),
    seconds: num(o, 'seconds', count > 0 ? 0 : 3, (v) => v >= 0 && v <= 3600, 'a number of seconds from 0 to 3600'),
    count,
    spinUs: num(o, 'spin-us', spinDefault, (v) => v >= 0 && v <= 1e7, 'a number of microseconds from 0 to 1e7'),
    reportMs: num(o, 'report-ms', 1000, (v) => v >= 10, 'at least 10'),
    senders,
    tx,
    rx,
    lingerUs: num(o, 'linger-us', 1000, (v) => v >= 0 && v <= 1e7, 'a number of microseconds from 0 to 1e7'),
    busyWait: o['busy-wait'] === true,
    moderation: num(
      o,
      'moderation',
      1,
      (v) => isInt(v) && v >= 1 && v <= MAX_MODERATION,
      `an integer from 1 to ${MAX_MODERATION}`,
    ),
    notify: notifyPolicy(o),
    trace: traceFile(o),
  };
  if (opts.seconds === 0 && count === 0) throw new UsageError('--seconds 0 needs --count');
  const json = o.json === true;
  // A closed stdout stops the pair (the intervals are written as it runs).
  const signal = ctx.stoppable();
  const r = await runPktGenPair({
    ...opts,
    signal,
    onStart: json ? undefined : () => process.stdout.write(formatPktGenHeader(opts)),
    onInterval: json ? undefined : (iv) => process.stdout.write(formatPktGenInterval(iv)),
  });
  if (json) {
    const { intervals: _i, ...rest } = r;
    process.stdout.write(`${JSON.stringify(rest)}\n`);
  } else {
    process.stdout.write(formatPktGenSummary(r));
  }
}

/** pkt-gen --port nic: one app on nic0 (--tx WHO: the wire sinks; --rx WHO: the wire generates). */
async function pktgenNic(o: Opts, ctx: CliContext): Promise<void> {
  const line = (o.line as string | undefined) ?? '10G';
  if (!(LINE_RATES as readonly string[]).includes(line)) {
    throw new UsageError(`--line must be ${LINE_RATES.join(', ')}; got '${line}'`);
  }
  if ((o.tx === undefined) === (o.rx === undefined)) {
    throw new UsageError(
      '--port nic runs one app: give --tx host|guest (the wire sinks) or --rx host|guest (the wire generates)',
    );
  }
  const dir = o.tx !== undefined ? 'tx' : 'rx';
  const who = o[dir] as string;
  if (who !== 'host' && who !== 'guest')
    throw new UsageError(`--${dir} must be host or guest with --port nic; got '${who}'`);
  for (const flag of ['senders', 'moderation'] as const) {
    if (o[flag] !== undefined) throw new UsageError(`--${flag} does not apply to --port nic`);
  }
  const mode = (o.mode as string | undefined) ?? 'tx';
  if (mode !== 'tx' && mode !== 'txseq')
    throw new UsageError(`--mode must be tx or txseq with --port nic, got '${mode}'`);
  const count = num(o, 'count', 0, (v) => isInt(v) && v >= 0, 'a non-negative integer');
  const attach = o.attach as string | undefined;
  if (attach !== undefined && !/^vale[A-Za-z0-9_]*$/.test(attach)) {
    throw new UsageError(`--attach needs a VALE switch name (valeX), got '${attach}'`);
  }
  const threads = 2 + (who === 'guest' ? 1 : 0);
  const opts = {
    port: 'nic' as const,
    line: line as LineRate,
    attach,
    mode: mode as 'tx' | 'txseq',
    len: num(o, 'len', 60, isInt, 'an integer'),
    batch: num(o, 'batch', 64, (v) => isInt(v) && v >= 1, 'a positive integer'),
    ring: num(o, 'ring', 1024, isInt, 'an integer'),
    seconds: num(o, 'seconds', count > 0 ? 0 : 3, (v) => v >= 0 && v <= 3600, 'a number of seconds from 0 to 3600'),
    count,
    spinUs: num(
      o,
      'spin-us',
      threads <= availableParallelism() ? 200 : 0,
      (v) => v >= 0 && v <= 1e7,
      'a number of microseconds from 0 to 1e7',
    ),
    reportMs: num(o, 'report-ms', 1000, (v) => v >= 10, 'at least 10'),
    [dir]: who as Endpoint,
    lingerUs: num(o, 'linger-us', 1000, (v) => v >= 0 && v <= 1e7, 'a number of microseconds from 0 to 1e7'),
    busyWait: o['busy-wait'] === true,
    notify: notifyPolicy(o),
  };
  if (opts.seconds === 0 && count === 0) throw new UsageError('--seconds 0 needs --count');
  const json = o.json === true;
  const signal = ctx.stoppable();
  const header = { ...opts, nicDir: dir as 'tx' | 'rx', nicWho: who };
  const r = (await runPktGenPair({
    ...opts,
    signal,
    onStart: json ? undefined : () => process.stdout.write(formatPktGenHeader(header)),
    onInterval: json ? undefined : (iv) => process.stdout.write(formatPktGenInterval(iv)),
  })) as NicRunResult;
  if (json) {
    const { intervals: _i, ...rest } = r;
    process.stdout.write(`${JSON.stringify(rest)}\n`);
  } else {
    process.stdout.write(formatPktGenSummary(r));
  }
}
