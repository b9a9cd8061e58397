/**
 * The no-lost-wake-up stress: txseq -> rxseq in rounds over a pipe or VALE, in one
 * direction (guest/host on each side), both apps pausing at random so their peers run dry
 * or fill up and go to sleep, kloops sleeping as soon as they run out of work. Rounds
 * repeat until the threads' sleep -> wake transitions reach the target. Every packet must
 * arrive in order (pipes) or be accounted for as a switch drop (VALE), no round may stall,
 * and no sleep may time out with its news already waiting (a lost wake-up that a poll
 * timeout papered over).
 */
import { NetmapError } from '../errors.js';
import { checkNotifyPolicy, type NotifyPolicy } from '../kernel/notify.js';
import { MAX_PAUSE_US } from './pktgen.js';
import { type Endpoint, type PktGenRunResult, runPktGenPair } from './pktgen-run.js';

export const STRESS_PORTS = ['pipe', 'vale'] as const;
export type StressPort = (typeof STRESS_PORTS)[number];
export const STRESS_DIRECTIONS = ['guest->host', 'host->guest', 'guest->guest', 'host->host'] as const;
export type StressDirection = (typeof STRESS_DIRECTIONS)[number];

export interface StressOptions {
  /** The notification policy under test (default asleep): no policy may lose a wake-up. */
  notify?: NotifyPolicy;
  port?: StressPort;
  dir?: StressDirection;
  /** Sleep -> wake transitions to reach, all threads summed (default 10^6). */
  transitions?: number;
  /** Seed of the apps' pause PRNGs; round i uses seed + 2i (default 1). */
  seed?: number;
  /** Ring size and batch: small, so rings fill and drain often (64, 8). */
  ring?: number;
  batch?: number;
  /** Longest random pause (µs) and mean batches between pauses (100, 16). */
  pauseUs?: number;
  pauseEvery?: number;
  /** No packet received for this long while senders run: the round stalled (ms, default 5000). */
  stallMs?: number;
  /** Give up after this many rounds without reaching the target (default 200). */
  maxRounds?: number;
  onRound?: (r: StressRound) => void;
}

/** Sleep -> wake transitions, by who slept. */
export interface Transitions {
  /** Apps in a guest: their driver slept waiting for an interrupt. */
  guest: number;
  /** Host threads: host apps sleeping in poll, and kloops. */
  host: number;
  total: number;
  /** The same split by role. */
  sender: number;
  receiver: number;
  kloops: number;
}

export interface StressRound {
  round: number;
  count: number;
  transitions: number;
  seconds: number;
}

export interface StressResult {
  port: StressPort;
  dir: StressDirection;
  notify: NotifyPolicy;
  target: number;
  rounds: number;
  seed: number;
  sent: number;
  received: number;
  /** VALE: packets the switch dropped for the receiver's full ring (pipes: 0). */
  dropped: number;
  seqGaps: number;
  seqReorder: number;
  /** Sleeps (each one ended by a wake-up or a timeout). */
  transitions: Transitions;
  /** Sleeps ended by a notify (the rest timed out or found the word already cleared). */
  wakeups: Transitions;
  /** Guest -> host notifications and host -> guest interrupts. */
  kicks: number;
  irqs: number;
  /** Sleeps that timed out with their news already there. */
  lateWakeups: number;
  elapsed: number;
  ok: boolean;
  /** 'stalled' when a round made no progress within stallMs; otherwise what went wrong. */
  problems: string[];
}

const ENDS: Record<StressDirection, [Endpoint, Endpoint]> = {
  'guest->host': ['guest', 'host'],
  'host->guest': ['host', 'guest'],
  'guest->guest': ['guest', 'guest'],
  'host->host': ['host', 'host'],
};

/** Checks the options and fills in the defaults (a NetmapError EINVAL on bad input). */
export function checkStressOptions(o: StressOptions): Required<Omit<StressOptions, 'onRound'>> {
  const port = o.port ?? 'pipe';
  const dir = o.dir ?? 'guest->host';
  if (!(STRESS_PORTS as readonly string[]).includes(port)) {
    throw new NetmapError('EINVAL', `port must be ${STRESS_PORTS.join(' or ')}, got '${port}'`);
  }
  if (!(STRESS_DIRECTIONS as readonly string[]).includes(dir)) {
    throw new NetmapError('EINVAL', `direction must be ${STRESS_DIRECTIONS.join(', ')}; got '${dir}'`);
  }
  const r = {
    port,
    dir,
    transitions: o.transitions ?? 1e6,
    seed: o.seed ?? 1,
    notify: checkNotifyPolicy(o.notify ?? 'asleep'),
    ring: o.ring ?? 64,
    batch: o.batch ?? 8,
    pauseUs: o.pauseUs ?? 100,
    pauseEvery: o.pauseEvery ?? 16,
    stallMs: o.stallMs ?? 5000,
    maxRounds: o.maxRounds ?? 200,
  };
  const int = (name: string, v: number, lo: number, hi: number) => {
    if (!Number.isInteger(v) || v < lo || v > hi) {
      throw new NetmapError('EINVAL', `${name} must be an integer from ${lo} to ${hi}, got ${v}`);
    }
  };
  int('transitions', r.transitions, 1, 1e9);
  int('seed', r.seed, 0, 0xffffffff);
  int('pauseUs', r.pauseUs, 1, MAX_PAUSE_US);
  int('stallMs', r.stallMs, 100, 600_000);
  int('maxRounds', r.maxRounds, 1, 10_000);
  // ring, batch, pauseEvery: runPktGenPair and pkt-gen check them with their own messages.
  if (r.stallMs <= r.pauseUs / 1000) {
    throw new NetmapError('EINVAL', `stallMs (${r.stallMs}) must exceed the longest pause (${r.pauseUs} us)`);
  }
  return r;
}

const zero = (): Transitions => ({ guest: 0, host: 0, total: 0, sender: 0, receiver: 0, kloops: 0 });

/** Adds one round's sleeps (or wake-ups) to `t`, split by side and by role. */
function addTransitions(t: Transitions, r: PktGenRunResult, field: 'sleeps' | 'wakeups', ends: Endpoint[]): void {
  // A host app's sleeps are its rings' kernel counters; a guest app's, its driver's.
  const sender = ends[0] === 'guest' ? (r.guests?.sender?.[field] ?? 0) : r.counters.sender[field];
  const receiver = ends[1] === 'guest' ? (r.guests?.receiver?.[field] ?? 0) : r.counters.receiver[field];
  const kloops = (r.kloops ?? []).reduce((s, k) => s + k[field], 0);
  t.sender += sender;
  t.receiver += receiver;
  t.kloops += kloops;
  t.guest += (ends[0] === 'guest' ? sender : 0) + (ends[1] === 'guest' ? receiver : 0);
  t.host += (ends[0] === 'host' ? sender : 0) + (ends[1] === 'host' ? receiver : 0) + kloops;
  t.total += sender + receiver + kloops;
}

/** Packets of the first round, before the transitions per packet are known. */
const FIRST_ROUND = 20_000;
/** A round is at most this many times the one before (the estimate may be off). */
const GROWTH = 8;

/** Runs the stress in one direction over one port type. Never throws for a failed run: see `ok`. */
export async function runStress(opts: StressOptions = {}): Promise<StressResult> {
  const o = checkStressOptions(opts);
  const ends = ENDS[o.dir];
  const res: StressResult = {
    port: o.port,
    dir: o.dir,
    notify: o.notify,
    target: o.transitions,
    rounds: 0,
    seed: o.seed,
    sent: 0,
    received: 0,
    dropped: 0,
    seqGaps: 0,
    seqReorder: 0,
    transitions: zero(),
    wakeups: zero(),
    kicks: 0,
    irqs: 0,
    lateWakeups: 0,
    elapsed: 0,
    ok: false,
    problems: [],
  };
  let count = FIRST_ROUND;
  while (res.transitions.total < o.transitions && res.rounds < o.maxRounds) {
    const round = res.rounds++;
    const before = res.transitions.total;
    const { r, stalled } = await watchedRound(o, ends, count, (o.seed + 2 * round) >>> 0);
    const dropped = o.port === 'vale' ? valeDrops(r) : r.drops;
    res.sent += r.sent;
    res.received += r.packets;
    res.dropped += dropped;
    res.seqGaps += r.seqGaps;
    res.seqReorder += r.seqReorder;
    addTransitions(res.transitions, r, 'sleeps', ends);
    addTransitions(res.wakeups, r, 'wakeups', ends);
    res.kicks += (r.guests?.sender?.kicks ?? 0) + (r.guests?.receiver?.kicks ?? 0);
    res.irqs += (r.kloops ?? []).reduce((t, k) => t + k.irqs, 0);
    res.lateWakeups += r.lateWakeups;
    res.elapsed += r.seconds;
    const got = res.transitions.total - before;
    opts.onRound?.({ round, count, transitions: got, seconds: r.seconds });
    const p = problems(o.port, count, r, dropped, stalled);
    if (p.length > 0) {
      res.problems.push(...p.map((x) => `round ${round}: ${x}`));
      break;
    }
    // Size the next round to finish the job, from this round's transitions per packet.
    const left = o.transitions - res.transitions.total;
    const next = got > 0 ? Math.ceil((left * count * 1.1) / got) : count * GROWTH;
    count = Math.max(1000, Math.min(next, count * GROWTH));
  }
  if (res.problems.length === 0 && res.transitions.total < o.transitions) {
    res.problems.push(`${res.transitions.total} transitions after ${res.rounds} rounds, short of ${o.transitions}`);
  }
  if (res.lateWakeups > 0) res.problems.push(`${res.lateWakeups} lost wake-up(s) (sleeps that timed out with news)`);
  res.ok = res.problems.length === 0;
  return res;
}

/** What a finished round did wrong (empty when it is right). */
function problems(port: StressPort, count: number, r: PktGenRunResult, dropped: number, stalled: boolean): string[] {
  if (stalled) return [`stalled: ${r.packets} of ${count} packets received, no progress`];
  const out: string[] = [];
  if (r.sent !== count) out.push(`sent ${r.sent} of ${count}`);
  if (port === 'pipe') {
    if (r.packets !== r.sent) out.push(`received ${r.packets} of ${r.sent}`);
    if (r.seqErrors !== 0) out.push(`${r.seqErrors} sequence errors`);
    if (r.drops !== 0) out.push(`${r.drops} drops on a pipe`);
  } else {
    if (r.packets + dropped !== r.sent) out.push(`received ${r.packets} + dropped ${dropped} != sent ${r.sent}`);
    if (r.seqReorder !== 0) out.push(`${r.seqReorder} packets out of order`);
  }
  return out;
}

/** VALE: what the switch dropped for the receiver's port (vale0:b): its ring was full. */
function valeDrops(r: PktGenRunResult): number {
  return r.valeCtl?.[0]?.ports.find((p) => p.name === 'b')?.counters.drops ?? 0;
}

/**
 * One round with a watchdog: no packet received for `stallMs` while the senders should
 * be sending ends it early (a stall). The run's stop is bounded by the roles' poll
 * timeouts, so the round always returns.
 */
async function watchedRound(
  o: ReturnType<typeof checkStressOptions>,
  ends: [Endpoint, Endpoint],
  count: number,
  seed: number,
): Promise<{ r: PktGenRunResult; stalled: boolean }> {
  const abort = new AbortController();
  let last = performance.now();
  let stalled = false;
  const dog = setInterval(
    () => {
      if (performance.now() - last > o.stallMs) {
        stalled = true;
        abort.abort();
      }
    },
    Math.min(250, o.stallMs / 4),
  );
  try {
    const r = await runPktGenPair({
      port: o.port,
      mode: 'txseq',
      tx: ends[0],
      rx: ends[1],
      count,
      ring: o.ring,
      batch: o.batch,
      // Everyone sleeps as soon as it runs out of work: that is what is stressed.
      spinUs: 0,
      lingerUs: 0,
      notify: o.notify,
      busyWait: false,
      warmupMs: 0,
      reportMs: 100,
      pauseUs: o.pauseUs,
      pauseEvery: o.pauseEvery,
      seed,
      signal: abort.signal,
      onInterval: (iv) => {
        if (iv.packets > 0) last = performance.now();
      },
    });
    return { r, stalled };
  } finally {
    clearInterval(dog);
  }
}
