#!/usr/bin/env node
/**
 * The sabnetmap command line: the usage text, the dispatch to each command's file (each
 * gets the argv after its name and a CliContext, context.ts), error handling and the
 * process's signals. Bad input is one line on stderr and exit code 2.
 *
 * Two ways a run ends early, both through one AbortSignal (the session's) that the long
 * commands ask for (CliContext.stoppable, .interruptible) and hand to the library: Ctrl-C
 * during `bench run` or `start` (the report of the finished points is written, exit 130;
 * a second Ctrl-C quits at once), and a closed stdout or stderr (`sabnetmap ... | head`:
 * the workers stop and the CLI exits 0 with nothing on stderr, as a pipeline expects,
 * instead of an EPIPE stack trace). `demo` serves until
 * Ctrl-C or SIGTERM, which close its server: exit 130 or 143 (src/cli/demo.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NetmapError } from '../errors.js';
import { LOG_LEVELS } from '../log.js';
import { packageRoot } from '../paths.js';
import { UsageError } from './args.js';
import { benchMicroCommand, benchPeersCommand, benchRunCommand, builtinList } from './bench.js';
import { BENCH_PIPELINE_HELP, benchPipeline } from './bench-pipeline.js';
import { benchVxlanCommand } from './bench-vxlan.js';
import { type CliContext, EXIT_INTERRUPTED } from './context.js';
import { demoCommand } from './demo-command.js';
import { isolationCommand } from './isolation.js';
import { LB_HELP, lbCommand } from './lb.js';
import { pingCommand } from './ping.js';
import { pktgenCommand } from './pktgen.js';
import { captureCommand, replayCommand } from './replay.js';
import { startCommand } from './start.js';
import { stressCommand } from './stress.js';
import { switchCommand } from './switch.js';

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

/**
 * The process's run state, handed to each command as its CliContext: the stop signal
 * (aborted by the first Ctrl-C or a closed output), whether the running command takes it,
 * whether Ctrl-C came, whether an output is gone. The handlers below read and set it.
 */
class CliSession implements CliContext {
  readonly help = HELP;
  private readonly stop = new AbortController();
  /** Whether the running command passes the signal on (else a closed output exits at once: nothing to stop cleanly). */
  isStoppable = false;
  /** Set by the first Ctrl-C: the command ends with EXIT_INTERRUPTED. */
  private wasInterrupted = false;
  /** Set when stdout or stderr is closed (EPIPE): whatever else happens, the exit code is 0. */
  outputGone = false;

  stoppable(): AbortSignal {
    this.isStoppable = true;
    return this.stop.signal;
  }

  /**
   * Ctrl-C during a long run (`bench run`, `start`): the first stops the point in progress
   * (senders stop, the rest drain) and lets the command write the report of the points that
   * finished; the second quits at once, for when that stop hangs (points.json on disk then
   * holds the finished points, `complete: false`). Returns the signal to pass on.
   */
  interruptible(): AbortSignal {
    const signal = this.stoppable();
    process.on('SIGINT', () => {
      if (this.wasInterrupted) {
        process.stderr.write('sabnetmap: interrupted again: quitting without the report\n');
        process.exit(EXIT_INTERRUPTED);
      }
      this.wasInterrupted = true;
      this.stop.abort();
      // After the abort: the runner has just ended its open progress line. On a terminal
      // the progress bar owns the last line: clear it first (it is redrawn below).
      process.stderr.write(
        `${process.stderr.isTTY ? '\r\x1b[2K' : ''}sabnetmap: interrupted: stopping the point in progress, then writing the report (Ctrl-C again to quit at once)\n`,
      );
    });
    return signal;
  }

  interrupted(): boolean {
    return this.wasInterrupted;
  }

  /** A closed output: the running command stops early. */
  abort(): void {
    this.stop.abort();
  }
}

const session = new CliSession();

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
    if (session.outputGone) return;
    session.outputGone = true;
    if (!session.isStoppable) process.exit(0);
    session.abort();
  };
}

/** `sabnetmap 0.1.0`: read from the package's own package.json (found from this module's file, in dist/ or installed). */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: unknown };
  if (typeof pkg.version !== 'string') throw new Error(`no version in ${join(packageRoot(), 'package.json')}`);
  return pkg.version;
}

/** Runs the command `argv` names with the session `ctx`; resolves to the exit code. */
export async function main(argv: string[], ctx: CliContext): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'pkt-gen':
        await pktgenCommand(rest, ctx);
        return 0;
      case 'bench':
        if (rest[0] === 'peers') {
          await benchPeersCommand(rest.slice(1), ctx);
          return 0;
        }
        if (rest[0] === 'run') return await benchRunCommand(rest.slice(1), ctx);
        if (rest[0] === 'vxlan') return await benchVxlanCommand(rest.slice(1));
        if (rest[0] === 'micro') {
          await benchMicroCommand(rest.slice(1), ctx);
          return 0;
        }
        if (rest[0] === 'pipeline') {
          await benchPipeline(rest.slice(1), ctx.help);
          return 0;
        }
        throw new UsageError(
          rest[0] === undefined
            ? 'bench needs a subcommand: peers, run, micro, vxlan, pipeline'
            : `unknown benchmark '${rest[0]}' (peers, run, micro, vxlan, pipeline)`,
        );
      case 'ping':
        await pingCommand(rest, ctx);
        return 0;
      case 'start':
        return await startCommand(rest, ctx);
      case 'isolation':
        await isolationCommand(rest, ctx);
        return 0;
      case 'stress':
        return await stressCommand(rest, ctx);
      case 'switch':
        return await switchCommand(rest);
      case 'demo':
        return await demoCommand(rest, ctx);
      case 'lb':
        await lbCommand(rest, ctx.help);
        return 0;
      case 'replay':
        await replayCommand(rest, ctx.interruptible(), ctx.help);
        return ctx.interrupted() ? EXIT_INTERRUPTED : 0;
      case 'capture':
        await captureCommand(rest, ctx.interruptible(), ctx.help);
        return ctx.interrupted() ? EXIT_INTERRUPTED : 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(ctx.help);
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
main(process.argv.slice(2), session).then((code) => {
  process.exitCode = session.outputGone ? 0 : code;
});
