#!/usr/bin/env node
/**
 * The sabnetmap command line. Bad input is one line on stderr and exit code 2.
 *
 * Two ways a run ends early, both through one AbortSignal (`stop`) that the long commands
 * hand to the library: Ctrl-C during `bench run` or `start` (the report of the finished
 * points is written, exit 130; a second Ctrl-C quits at once), and a closed stdout or
 * stderr (`sabnetmap ... | head`: the workers stop and the CLI exits 0 with nothing on
 * stderr, as a pipeline expects, instead of an EPIPE stack trace). `demo` serves until
 * Ctrl-C or SIGTERM, which close its server: exit 130 or 143 (src/cli/demo.ts).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { runFlagship } from '../../bench/flagship.js';
import { formatMicro, runMicroBench } from '../../bench/micro.js';
import { runPeersBench } from '../../bench/peers.js';
import { formatTable, partialLine } from '../../bench/report.js';
import { runScenario } from '../../bench/runner.js';
import { builtinScenarios, loadScenario } from '../../bench/scenario.js';
import { ISOLATION_GUESTS, type IsolationGuest, runIsolation } from '../apps/isolation.js';
import type { NicRunResult } from '../apps/nic-run.js';
import { ENDPOINTS, type Endpoint, runPktGenPair } from '../apps/pktgen-run.js';
import { runStress, STRESS_DIRECTIONS, STRESS_PORTS, type StressResult } from '../apps/stress.js';
import { MAX_MODERATION } from '../emulated/nic.js';
import { NetmapError } from '../errors.js';
import { NOTIFY_POLICIES, type NotifyPolicy } from '../kernel/notify.js';
import { LOG_LEVELS } from '../log.js';
import { LINE_RATES, type LineRate } from '../nic/line.js';
import { packageRoot } from '../paths.js';
import { isInt, num, type Opts, parse, parseWithArgs, UsageError } from './args.js';
import { BENCH_PIPELINE_HELP, benchPipeline } from './bench-pipeline.js';
import { benchVxlanCommand } from './bench-vxlan.js';
import { startDemoServer } from './demo.js';
import {
  formatPeers,
  formatPktGenHeader,
  formatPktGenInterval,
  formatPktGenSummary,
  formatStressHeader,
  formatStressRow,
} from './format.js';
import { formatIsolation } from './isolation-format.js';
import { LB_HELP, lbCommand } from './lb.js';
import { captureCommand, replayCommand } from './replay.js';
import { switchCommand } from './switch.js';

/** Exit code of a run stopped by Ctrl-C (128 + SIGINT), as shells report one. */
const EXIT_INTERRUPTED = 130;

/** Aborted by the first Ctrl-C or a closed output: the running command stops early. */
const stop = new AbortController();
/** Whether the running command passes `stop` on (else a closed output exits at once: nothing to stop cleanly). */
let stoppable = false;
/** Set by the first Ctrl-C: the command ends with EXIT_INTERRUPTED. */
let interrupted = false;
/** Set when stdout or stderr is closed (EPIPE): whatever else happens, the exit code is 0. */
let outputGone = false;

/**
 * A closed stdout (EPIPE; the reader of a pipe is gone) is the normal end of
 * `sabnetmap ... | head`: stop the work and exit 0, quietly, as a process killed by
 * SIGPIPE would (Node ignores SIGPIPE, so the write fails instead). Without this listener
 * the stream's 'error' is unhandled: a stack trace and exit 1. stderr gets the same
 * (`2>&1 | head`: progress lines hit the closed pipe first). Later writes to the dead
 * stream are dropped silently by Node, so the command may run on to its end.
 */
function onOutputError(name: 'stdout' | 'stderr'): (e: NodeJS.ErrnoException) => void {
  return (e) => {
    if (e.code !== 'EPIPE') {
      if (name === 'stdout') process.stderr.write(`sabnetmap: cannot write to stdout: ${e.message}\n`);
      process.exit(1);
    }
    if (outputGone) return;
    outputGone = true;
    if (!stoppable) process.exit(0);
    stop.abort();
  };
}

/**
 * Ctrl-C during a long run (`bench run`, `start`): the first stops the point in progress
 * (senders stop, the rest drain) and lets the command write the report of the points that
 * finished; the second quits at once, for when that stop hangs (points.json on disk then
 * holds the finished points, `complete: false`). Returns the signal to pass on.
 */
function interruptible(): AbortSignal {
  stoppable = true;
  process.on('SIGINT', () => {
    if (interrupted) {
      process.stderr.write('sabnetmap: interrupted again: quitting without the report\n');
      process.exit(EXIT_INTERRUPTED);
    }
    interrupted = true;
    stop.abort();
    // After the abort: the runner has just ended its open progress line. On a terminal
    // the progress bar owns the last line: clear it first (it is redrawn below).
    process.stderr.write(
      `${process.stderr.isTTY ? '\r\x1b[2K' : ''}sabnetmap: interrupted: stopping the point in progress, then writing the report (Ctrl-C again to quit at once)\n`,
    );
  });
  return stop.signal;
}

/** `sabnetmap 0.1.0`: read from the package's own package.json (found from this module's file, in dist/ or installed). */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: unknown };
  if (typeof pkg.version !== 'string') throw new Error(`no version in ${join(packageRoot(), 'package.json')}`);
  return pkg.version;
}

function builtinList(): string {
  try {
    return builtinScenarios().join(', ') || 'none';
  } catch {
    return 'none';
  }
}

const HELP = `usage: sabnetmap <command> [options]

commands:
  pkt-gen      netmap's traffic generator: a sender and a receiver in two worker threads
  ping         round-trip times: --port pipe|vale --a/--b host|guest|emulated --peer awake|asleep
               --count N [--notify P] [--trace FILE] [--json]
  isolation    a hostile or crashing guest on one port vs a host flow on another:
               --port pipe|vale --guest hostile|kick-storm|honest|crash-throw|crash-exit --seconds S (4)
               [--seed N] [--json]
  stress       no lost wake-up: txseq -> rxseq with random pauses until N sleep -> wake transitions,
               every packet accounted for: [--port pipe|vale|all (all)] [--dir guest->host|
               host->guest|guest->guest|host->host|all (all)] [--transitions N per direction
               (1000000)] [--seed S (1)] [--notify P] [--json]; exit 1 if a direction fails or stalls
  bench peers  the same packets over postMessage, postMessage batches, ringbuf.js and a pipe
${BENCH_PIPELINE_HELP}  bench run    run a scenario (a JSON file, or a built-in name) and write a report
  bench micro  tinybench timings of the hot primitives (copies, slot fill, lookup, Atomics)
  start        the flagship run (what npm start runs, under a minute): host vs passthrough vs
               emulated-NIC guests on a pipe and VALE at batch 64, the peers, a report
               [--seconds S per point (2)] [--out DIR]
${LB_HELP}  demo         the teaching demo: serves the page built in dist/demo (npm run build) on
               http://127.0.0.1:<a free port>/ with the headers SharedArrayBuffer needs, prints
               'demo: URL', until Ctrl-C (exit 130): [--port N (0: a free one)] [--host H (127.0.0.1)]
  replay FILE  netmap's nmreplay: a pcap or pcapng capture into a port: [--port pipe|vale|nic (pipe)]
               [--tx host|guest|emulated (host)] [--timing recorded|fast (recorded)]
               [--rate N(pps|bps, k/M/G), e.g. 1Mpps, 100Mbps] [--speedup X (recorded timing)]
               [--loop N (1; 0: until Ctrl-C)] [--out FILE: what arrives at the other end
               (pipe0}, vale0:b, or nic0's wire), pcap or .pcapng] [--line R (nic)] [--json];
               frames longer than a buffer go as NS_MOREFRAG chains
  capture      a monitor on switch vale0 records what crosses it while traffic runs (pkt-gen
               vale0:a -> vale0:b, or --replay FILE into vale0:a): --out FILE [--watch a|b|switch
               (switch)] [--count N] [--seconds S (3)] [--len N] [--json]; frames the monitor
               could not keep up with are counted, never waited for
  switch       a VALE switch with a VXLAN port per remote host, until Ctrl-C: SWITCH --vxlan ADDR:PORT
               --remote NAME=ADDR:PORT[,vni=N] ... [--mtu N] [--json-stats S] (switch --help)
  bench vxlan  TCP between two network namespaces through the switch and through a Linux
               bridge (root): [--mb N (100)] [--runs N (1)] [--mtu N (1500)] [--json]
  help         this text (also --help, -h)
  --version    the version (also -v)

pkt-gen options:
  --port pipe|vale|nic   a pipe (pipe0{ -> pipe0}), a VALE switch (vale0:a -> vale0:b), or a NIC
                         (nic0) whose wire runs at --line: with --tx WHO the app sends and the
                         wire sinks, with --rx WHO the wire generates and the app receives
                         (WHO: host or guest); --json adds lineRateMpps and the wire's figures
  --line 1G|10G|25G|40G|100G
                         the NIC's line rate, counting preamble, gap and FCS (10G: 14.88 Mpps
                         at 60 B) (10G)
  --attach valeX         --port nic: attach nic0 to switch valeX (vale-ctl -a valeX:nic0); the app
                         runs on valeX:a and its frames cross the switch to and from the wire
  --mode tx|txseq|ping   tx -> rx, txseq -> rxseq (sequence checks), ping <-> pong (RTT)
  --len N                frame length in bytes (60)
  --batch N              slots per sync (64)
  --ring N               slots per ring, 2..16384, any size (1024)
  --seconds S            measured time after warm-up (3); 0 with --count runs to the count
  --count N              packets to send (0 = until --seconds)
  --spin-us N            busy-poll time before poll() sleeps (200 while every thread has a
                         core, else 0: a spinner would starve the thread it waits for)
  --report-ms N          report interval (1000)
  --senders N            VALE: N sender workers (vale0:a, vale0:a2 ...) into vale0:b (1)
  --tx host|guest|emulated
                         who sends: a host app, an app in a guest VM with passthrough, or
                         an app in a guest VM behind an emulated e1000 NIC (host)
  --rx host|guest|emulated
                         who receives (host)
  --linger-us N          guests: a kloop or NIC device thread stays awake this long after its
                         last work (1000)
  --busy-wait            guests: kloops and device threads never sleep, so guests never kick
  --moderation N         emulated NIC: at most one interrupt per N completions (1)
  --notify P             when a sleeping thread is worth waking, on every port, kloop and NIC:
                         asleep (any news wakes), event-idx (virtio's event index), adaptive
                         (learns from each wake-up) (asleep)
  --trace FILE           write every thread's sleeps, wake-ups, kicks, interrupts and syncs
                         to FILE as Chrome Trace Event JSON (Perfetto, chrome://tracing)
  --json                 print one JSON object instead of the report
bench run <file.json | built-in name> options:
  --out DIR              parent directory of the run's directory (results)
  --seconds S            measured seconds per point (overrides base.seconds)
  --trace                trace every point: trace-<point>.json in the run's directory
                         (Chrome Trace Event JSON; pktgen, ping and chain scenarios)
  --json                 print the results (points.json) on stdout
  built-in scenarios:    ${builtinList()}
  (a progress bar and the table as it grows on stderr when it is a terminal)
bench run and start: Ctrl-C stops the point in progress and writes the report of the
  finished points, marked partial (exit 130); a second Ctrl-C quits at once
common:
  --log-level L          ${LOG_LEVELS.join('|')} (silent)
`;

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

/** --notify: the notification policy. */
function notifyPolicy(o: Opts): NotifyPolicy {
  const v = (o.notify as string | undefined) ?? 'asleep';
  if (!(NOTIFY_POLICIES as readonly string[]).includes(v)) {
    throw new UsageError(`--notify must be ${NOTIFY_POLICIES.join(', ')}; got '${v}'`);
  }
  return v as NotifyPolicy;
}

/** --trace FILE: where the Chrome trace goes (the file must be writable). */
function traceFile(o: Opts): string | undefined {
  const f = o.trace as string | undefined;
  if (f === undefined) return undefined;
  if (f === '') throw new UsageError('--trace needs a file name');
  return f;
}

/** --port: a pipe or a VALE switch. */
function portType(o: Opts): 'pipe' | 'vale' {
  const port = (o.port as string | undefined) ?? 'pipe';
  if (port !== 'pipe' && port !== 'vale') throw new UsageError(`--port must be pipe or vale, got '${port}'`);
  return port;
}

/** --tx/--rx (--a/--b for ping): who runs that side. */
function endpoint(o: Opts, side: 'tx' | 'rx' | 'a' | 'b'): Endpoint {
  const v = (o[side] as string | undefined) ?? 'host';
  if (!(ENDPOINTS as readonly string[]).includes(v)) {
    throw new UsageError(`--${side} must be ${ENDPOINTS.join(', ')}; got '${v}'`);
  }
  return v as Endpoint;
}

/** Threads a pair of endpoints runs: each guest adds its kloop or device thread. */
function pairThreads(senders: number, a: Endpoint, b: Endpoint): number {
  return senders + 1 + (a === 'host' ? 0 : 1) + (b === 'host' ? 0 : 1);
}

async function pktgen(argv: string[]): Promise<void> {
  const o = parse(argv, PKTGEN_FLAGS);
  if (o.help) return void process.stdout.write(HELP);
  if (o.port === 'nic') return pktgenNic(o);
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
  stoppable = true;
  const r = await runPktGenPair({
    ...opts,
    signal: stop.signal,
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
async function pktgenNic(o: Opts): Promise<void> {
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
  stoppable = true;
  const header = { ...opts, nicDir: dir as 'tx' | 'rx', nicWho: who };
  const r = (await runPktGenPair({
    ...opts,
    signal: stop.signal,
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

async function benchPeers(argv: string[]): Promise<void> {
  const o = parse(argv, { seconds: { type: 'string' }, json: { type: 'boolean' } });
  if (o.help) return void process.stdout.write(HELP);
  const seconds = num(o, 'seconds', 2, (v) => v > 0 && v <= 600, 'a number of seconds from 0 to 600');
  const r = await runPeersBench({ seconds });
  process.stdout.write(o.json === true ? `${JSON.stringify(r)}\n` : formatPeers(r));
}

async function benchMicro(argv: string[]): Promise<void> {
  const o = parse(argv, { 'time-ms': { type: 'string' }, json: { type: 'boolean' } });
  if (o.help) return void process.stdout.write(HELP);
  const timeMs = num(o, 'time-ms', 300, (v) => v >= 10 && v <= 60_000, 'a number of milliseconds from 10 to 60000');
  const r = await runMicroBench({ timeMs });
  process.stdout.write(o.json === true ? `${JSON.stringify(r)}\n` : formatMicro(r));
}

/** `bench run <scenario>`: a sweep, one point at a time, progress on stderr, a report on disk. */
async function benchRun(argv: string[]): Promise<number> {
  const { opts: o, args } = parseWithArgs(
    argv,
    { out: { type: 'string' }, seconds: { type: 'string' }, trace: { type: 'boolean' }, json: { type: 'boolean' } },
    1,
  );
  if (o.help) {
    process.stdout.write(HELP);
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
    signal: interruptible(),
  });
  if (o.json === true) process.stdout.write(`${JSON.stringify({ dir: r.dir, ...r.doc })}\n`);
  else {
    // On a terminal the table already grew above the progress bar: not twice (but the
    // partial line, which formatTable adds under the table, still once).
    if (!(r.shownLive && process.stdout.isTTY)) process.stdout.write(formatTable(r.doc));
    else if (r.doc.partial) process.stdout.write(`${partialLine(r.doc)}\n`);
    process.stdout.write(`report: ${r.files.report}\n`);
  }
  if (r.doc.partial && interrupted) return EXIT_INTERRUPTED;
  if (r.failed > 0) {
    process.stderr.write(`sabnetmap: ${r.failed} point(s) failed: see the error column in ${r.files.csv}\n`);
    return 1;
  }
  return 0;
}

/** `ping`: round-trip times between two endpoints, the peer awake (busy-polling) or asleep. */
async function ping(argv: string[]): Promise<void> {
  const o = parse(argv, {
    port: { type: 'string' },
    a: { type: 'string' },
    b: { type: 'string' },
    peer: { type: 'string' },
    count: { type: 'string' },
    len: { type: 'string' },
    notify: { type: 'string' },
    trace: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (o.help) return void process.stdout.write(HELP);
  const port = portType(o);
  const notify = notifyPolicy(o);
  const trace = traceFile(o);
  const ends = [endpoint(o, 'a'), endpoint(o, 'b')];
  const peer = (o.peer as string | undefined) ?? 'asleep';
  if (peer !== 'awake' && peer !== 'asleep') throw new UsageError(`--peer must be awake or asleep, got '${peer}'`);
  const count = num(o, 'count', 10_000, (v) => isInt(v) && v >= 1 && v <= 1e8, 'an integer from 1 to 1e8');
  const len = num(o, 'len', 60, isInt, 'an integer');
  // Awake: poll never sleeps (it spins for its whole 50 ms timeout, then spins again);
  // asleep: poll sleeps at once and every packet is a wake-up.
  const spinUs = peer === 'awake' ? 1e7 : 0;
  // An awake guest's kloop busy-waits too: nobody on the path sleeps.
  const r = await runPktGenPair({
    port,
    mode: 'ping',
    count,
    len,
    batch: 1,
    spinUs,
    tx: ends[0],
    rx: ends[1],
    busyWait: peer === 'awake',
    notify,
    trace,
  });
  const rtt = r.rtt ?? { count: 0, min: 0, median: 0, p99: 0, max: 0 };
  const out = {
    port,
    a: ends[0],
    b: ends[1],
    peer,
    notify,
    len,
    count: rtt.count,
    rttUs: { min: rtt.min, median: rtt.median, p99: rtt.p99, max: rtt.max },
    notifiesPerPacket: r.notifiesPerPacket,
    sleepsPerPacket: r.sleepsPerPacket,
    kicksPerPacket: r.kicksPerPacket,
    irqsPerPacket: r.irqsPerPacket,
    threads: r.threads,
    cores: r.cores,
    cpuModel: r.cpuModel,
    node: r.node,
  };
  if (o.json === true) process.stdout.write(`${JSON.stringify(out)}\n`);
  else {
    process.stdout.write(
      `ping over ${port}, ${ends[0]} <-> ${ends[1]}, peer ${peer}: ${rtt.count} round trips, RTT min ${rtt.min.toFixed(2)} us, ` +
        `median ${rtt.median.toFixed(2)} us, p99 ${rtt.p99.toFixed(2)} us (${r.cores} cores, Node ${r.node})\n`,
    );
  }
}

/**
 * The flagship run of `npm start`: host apps vs passthrough vs emulated-NIC guests on a
 * pipe and VALE at batch 64, the peers, a results directory with report.md (under 60 s).
 */
async function start(argv: string[]): Promise<number> {
  const o = parse(argv, { out: { type: 'string' }, seconds: { type: 'string' } });
  if (o.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const out = o.out as string | undefined;
  if (out === '') throw new UsageError('--out needs a directory');
  const seconds = num(o, 'seconds', 2, (v) => v > 0 && v <= 600, 'a number of seconds above 0, at most 600');
  const r = await runFlagship({
    outDir: out,
    seconds,
    command: ['sabnetmap', 'start', ...argv].join(' '),
    signal: interruptible(),
  });
  return r.summary.partial && interrupted ? EXIT_INTERRUPTED : 0;
}

/** A host name or an IP address for --host: letters, digits, '.', '-', ':' (IPv6), nothing else. */
function hostOption(o: Opts): string {
  const host = (o.host as string | undefined) ?? '127.0.0.1';
  if (
    isIP(host) === 0 &&
    !/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(host)
  ) {
    throw new UsageError(`--host must be a host name or an IP address, got '${host}'`);
  }
  return host;
}

/** Loopback addresses: the only plain-HTTP origins a browser treats as secure (and so isolates). */
const isLoopback = (host: string) => host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);

/**
 * `demo`: serves dist/demo (built by `npm run build`, never here) until Ctrl-C or SIGTERM,
 * which close the server and its connections; the exit code is then 128 + the signal's
 * number (130 for Ctrl-C), as for `bench run` and `start`. A second signal quits at once.
 */
async function demo(argv: string[]): Promise<number> {
  const o = parse(argv, { port: { type: 'string' }, host: { type: 'string' } });
  if (o.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const port = num(o, 'port', 0, (v) => isInt(v) && v >= 0 && v <= 65535, 'an integer from 0 (a free port) to 65535');
  const host = hostOption(o);
  let server: Awaited<ReturnType<typeof startDemoServer>>;
  try {
    server = await startDemoServer({ port, host });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (e instanceof NetmapError || typeof err.code !== 'string') throw e;
    // The address cannot be had (in use, privileged, not this machine's, unknown name):
    // another --port or --host fixes it.
    throw new UsageError(
      `cannot listen on ${host}:${port}: ${err.code}${err.code === 'EADDRINUSE' ? ' (the port is in use: try another --port, or none for a free one)' : ''}`,
    );
  }
  // The handlers go in before the URL is printed: whoever reads it may signal at once.
  const stopped = new Promise<number>((done) => {
    let stopping = false;
    for (const [name, no] of [
      ['SIGINT', 2],
      ['SIGTERM', 15],
    ] as const) {
      process.on(name, () => {
        if (stopping) process.exit(128 + no);
        stopping = true;
        server.close().then(() => done(128 + no));
      });
    }
  });
  process.stdout.write(`demo: ${server.url}\n`);
  if (!isLoopback(host)) {
    process.stderr.write(
      `sabnetmap: note: browsers isolate plain-HTTP pages only from localhost: elsewhere open it over HTTPS (see ${server.root}/HEADERS.md)\n`,
    );
  }
  return stopped;
}

/** `isolation`: flow A's rate and order next to a hostile, honest or crashing guest (src/apps/isolation.ts). */
async function isolation(argv: string[]): Promise<void> {
  const o = parse(argv, {
    port: { type: 'string' },
    guest: { type: 'string' },
    seconds: { type: 'string' },
    seed: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (o.help) return void process.stdout.write(HELP);
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

/** `stress`: the no-lost-wake-up stress per port and direction (src/apps/stress.ts). */
async function stress(argv: string[]): Promise<number> {
  const o = parse(argv, {
    port: { type: 'string' },
    dir: { type: 'string' },
    transitions: { type: 'string' },
    seed: { type: 'string' },
    notify: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (o.help) {
    process.stdout.write(HELP);
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
        if (rest[0] === 'run') return await benchRun(rest.slice(1));
        if (rest[0] === 'vxlan') return await benchVxlanCommand(rest.slice(1));
        if (rest[0] === 'micro') {
          await benchMicro(rest.slice(1));
          return 0;
        }
        if (rest[0] === 'pipeline') {
          await benchPipeline(rest.slice(1), HELP);
          return 0;
        }
        throw new UsageError(
          rest[0] === undefined
            ? 'bench needs a subcommand: peers, run, micro, vxlan, pipeline'
            : `unknown benchmark '${rest[0]}' (peers, run, micro, vxlan, pipeline)`,
        );
      case 'ping':
        await ping(rest);
        return 0;
      case 'start':
        return await start(rest);
      case 'isolation':
        await isolation(rest);
        return 0;
      case 'stress':
        return await stress(rest);
      case 'switch':
        return await switchCommand(rest);
      case 'demo':
        return await demo(rest);
      case 'lb':
        await lbCommand(rest, HELP);
        return 0;
      case 'replay':
        stoppable = true;
        await replayCommand(rest, stop.signal, HELP);
        return interrupted ? EXIT_INTERRUPTED : 0;
      case 'capture':
        stoppable = true;
        await captureCommand(rest, stop.signal, HELP);
        return interrupted ? EXIT_INTERRUPTED : 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(HELP);
        return cmd === undefined ? 2 : 0;
      case '--version':
      case '-v':
        if (rest.length > 0) throw new UsageError(`${cmd} takes no argument, got '${rest[0]}'`);
        process.stdout.write(`sabnetmap ${packageVersion()}\n`);
        return 0;
      default:
        throw new UsageError(
          `unknown command '${cmd}' (pkt-gen, ping, isolation, stress, bench peers, bench run, bench micro, bench vxlan, bench pipeline, start, demo, lb, switch, replay, capture, help, --version)`,
        );
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

process.stdout.on('error', onOutputError('stdout'));
process.stderr.on('error', onOutputError('stderr'));
main(process.argv.slice(2)).then((code) => {
  process.exitCode = outputGone ? 0 : code;
});
