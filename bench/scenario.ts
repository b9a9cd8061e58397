/**
 * Benchmark scenarios: the schema (TypeScript types), defaults, and a validator whose
 * errors name the JSON path of the problem (`scenario.sweep.batch[2]: must be a positive
 * integer, got "x"`).
 *
 * The validator is written by hand on purpose: the schema is small (a dozen keys), the
 * messages must name the path and say what *would* be valid for this port and mode (the
 * frame length limit depends on the mode, a VALE port or a guest endpoint gets "not
 * available yet" rather than "must be one of"), and that would need custom messages on
 * top of ajv or zod anyway. No dependency earns its place here.
 *
 * Experiments: `pktgen` (a sender and a receiver over a pipe or VALE port, each side a host
 * app, a passthrough guest or an emulated-NIC guest), `ping` (round trips, the peer awake
 * or asleep), `chain` (N bridges, host apps or VMs), `peers` (a pipe and VALE against
 * postMessage and ringbuf.js). Sweeps vary numbers (len, batch, ring, spinUs, n) and
 * categories (port, endpoints as directions like "guest->host", peer, vms, notify: the
 * notification policy of every port, kloop and NIC of a point); the runner
 * dispatches on `experiment`, so a new kind slots in by adding its case there.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import { DEFAULT_BUF_SIZE, MAX_RING_SLOTS, MIN_RING_SLOTS } from '../shm/layout.js';
import { MAX_CHAIN } from '../src/apps/chain-run.js';
import { MIN_FRAME_LEN, MIN_SEQ_FRAME_LEN } from '../src/apps/frame.js';
import { MAX_MODERATION } from '../src/emulated/nic.js';
import { NetmapError } from '../src/errors.js';
import { NOTIFY_POLICIES, type NotifyPolicy } from '../src/kernel/notify.js';
import { packageRoot } from '../src/paths.js';

export const EXPERIMENTS = ['pktgen', 'peers', 'ping', 'chain'] as const;
export type ExperimentName = (typeof EXPERIMENTS)[number];

/** Port types the runner can build today. */
export const PORT_TYPES = ['pipe', 'vale'] as const;
export type PortType = (typeof PORT_TYPES)[number];
/** Port types that are planned but not built yet, and why. */
const FUTURE_PORTS: Record<string, string> = {
  nic: "'nic' is not a port type: an emulated NIC is an endpoint (endpoints.tx or .rx: 'emulated') on a pipe or vale port",
};

/** Who runs each side: a host app, a guest VM with passthrough, or a guest VM behind an emulated NIC. */
export const ENDPOINT_KINDS = ['host', 'guest', 'emulated'] as const;
export type EndpointKind = (typeof ENDPOINT_KINDS)[number];
const FUTURE_ENDPOINTS: Record<string, string> = {};

export const MODES = ['tx', 'txseq', 'ping'] as const;
export type Mode = (typeof MODES)[number];

/** ping: the peer busy-polls (awake: nobody on the path sleeps) or sleeps at once (asleep: a wake-up per packet). */
export const PEER_STATES = ['awake', 'asleep'] as const;
export type PeerState = (typeof PEER_STATES)[number];
/** An awake ping peer busy-polls this long before it would sleep (it never does within a poll's timeout). */
export const AWAKE_SPIN_US = 1e7;
/** Busy-poll time when spinUs is 'auto' and every thread of the point has a core (else 0). */
export const AUTO_SPIN_US = 200;

/** Every parameter a sweep may vary; which ones depends on the experiment (SWEEPABLE). */
export const SWEEP_PARAMS = [
  'len',
  'batch',
  'ring',
  'spinUs',
  'port',
  'endpoints',
  'peer',
  'n',
  'vms',
  'notify',
] as const;
export type SweepParam = (typeof SWEEP_PARAMS)[number];
/** The numeric parameters; the others are categories (a plot spaces their values evenly, in sweep order). */
export const NUMERIC_PARAMS: readonly SweepParam[] = ['len', 'batch', 'ring', 'spinUs', 'n'];
export const isNumericParam = (k: SweepParam): boolean => NUMERIC_PARAMS.includes(k);

/** What each experiment may sweep. */
export const SWEEPABLE: Record<ExperimentName, readonly SweepParam[]> = {
  pktgen: ['len', 'batch', 'ring', 'spinUs', 'port', 'endpoints', 'notify'],
  peers: ['len', 'batch'],
  ping: ['len', 'ring', 'port', 'endpoints', 'peer', 'notify'],
  chain: ['len', 'batch', 'ring', 'spinUs', 'port', 'n', 'vms', 'notify'],
};

export interface Endpoints {
  tx: EndpointKind;
  rx: EndpointKind;
}

export interface Base {
  /** Frame length in bytes (60). */
  len: number;
  /** Slots per sync (64). */
  batch: number;
  /** Slots per ring (1024). */
  ring: number;
  /** Measured seconds per point, after the warm-up (1). */
  seconds: number;
  /** How long poll busy-polls before it sleeps, µs; 'auto' (the default): 200 if every thread of the point has a core, else 0. */
  spinUs: number | 'auto';
  /** Warm-up before the first interval, ms (250). */
  warmupMs: number;
  /** Report interval, ms (250): a point's rate is the median of its intervals. */
  reportMs: number;
  /** Guests: how long a kloop or NIC device thread stays awake after its last work, µs (1000). */
  lingerUs: number;
  /** Guests: kloops and device threads never sleep, so guests never kick (false). */
  busyWait: boolean;
  /** Emulated NIC: at most one interrupt per this many completions (1). */
  moderation: number;
  /** ping: the peer awake (busy-polling) or asleep ('asleep'). */
  peer: PeerState;
  /** chain: bridges in the chain (4). */
  n: number;
  /** chain: each bridge in a guest VM (true) or a host app (false). */
  vms: boolean;
  /**
   * pktgen, ping, chain: when a sleeping thread is worth waking, on every port, kloop and
   * NIC of the point ('asleep': any news wakes; 'event-idx'; 'adaptive'; src/kernel/notify.ts).
   */
  notify: NotifyPolicy;
}

/** The swept values per parameter. */
export interface Sweep {
  len?: number[];
  batch?: number[];
  ring?: number[];
  spinUs?: number[];
  port?: PortType[];
  /** Directions: "guest->host" (pktgen: tx->rx), "guest<->host" (ping: ping side <-> pong side). */
  endpoints?: string[];
  peer?: PeerState[];
  n?: number[];
  vms?: boolean[];
  notify?: NotifyPolicy[];
}

export interface Scenario {
  /** Names the result directory: letters, digits, '.', '_', '-'. */
  name: string;
  description?: string;
  experiment: ExperimentName;
  /** pktgen, ping, chain: the port type (default pipe); a swept port replaces it per point. */
  port?: PortType;
  /** pktgen, ping: who sends and who receives (default host, host); swept endpoints replace it per point. */
  endpoints?: Endpoints;
  mode: Mode;
  /** The experiment's base values (only the keys it uses, defaults filled in). */
  base: Base;
  /** Values per parameter; the points are their cartesian product (first key outermost). */
  sweep: Sweep;
  /** A swept parameter drawn as one line per value (default: endpoints, when swept with something else). */
  series?: SweepParam;
  /** The swept parameter on the plot's x axis (default: batch if swept, else the first other numeric key, else the first other key). */
  x: SweepParam;
}

/** What a scenario file may leave out. */
export type ScenarioInput = Omit<Scenario, 'base' | 'endpoints' | 'x' | 'mode' | 'port'> & {
  base?: Partial<Base>;
  endpoints?: Endpoints | string;
  mode?: Mode;
  port?: PortType;
  x?: SweepParam;
};

export const BASE_DEFAULTS: Readonly<Base> = {
  len: 60,
  batch: 64,
  ring: 1024,
  seconds: 1,
  spinUs: 'auto',
  warmupMs: 250,
  reportMs: 250,
  lingerUs: 1000,
  busyWait: false,
  moderation: 1,
  peer: 'asleep',
  n: 4,
  vms: false,
  notify: 'asleep',
};

/** Base keys each experiment uses; the others are refused so nothing is silently ignored. */
export const BASE_KEYS: Record<ExperimentName, readonly (keyof Base)[]> = {
  pktgen: [
    'len',
    'batch',
    'ring',
    'seconds',
    'spinUs',
    'warmupMs',
    'reportMs',
    'lingerUs',
    'busyWait',
    'moderation',
    'notify',
  ],
  // runPeersBench fixes its ring, spin, warm-up and interval so every variant is comparable.
  peers: ['len', 'batch', 'seconds'],
  // ping is one packet at a time; the peer state sets the spin and busy-wait.
  ping: ['len', 'ring', 'seconds', 'warmupMs', 'reportMs', 'lingerUs', 'moderation', 'peer', 'notify'],
  chain: [
    'len',
    'batch',
    'ring',
    'seconds',
    'spinUs',
    'warmupMs',
    'reportMs',
    'lingerUs',
    'busyWait',
    'n',
    'vms',
    'notify',
  ],
};

/** The base an experiment starts from: its keys' defaults. */
export function baseDefaults(experiment: ExperimentName): Base {
  const out: Partial<Record<keyof Base, unknown>> = {};
  for (const k of BASE_KEYS[experiment]) out[k] = BASE_DEFAULTS[k];
  return out as Base;
}

/** The mode each experiment runs when the scenario names none, and the modes it accepts. */
const MODE_RULES: Record<ExperimentName, { dflt: Mode; allowed: readonly Mode[]; why: string }> = {
  pktgen: { dflt: 'tx', allowed: MODES, why: '' },
  peers: { dflt: 'tx', allowed: ['tx'], why: "the peers experiment streams one way: mode must be 'tx'" },
  ping: {
    dflt: 'ping',
    allowed: ['ping'],
    why: "the ping experiment measures round trips: mode must be 'ping' (or left out)",
  },
  chain: {
    dflt: 'tx',
    allowed: ['tx', 'txseq'],
    why: 'the chain experiment streams one way through its bridges: mode must be tx or txseq',
  },
};

/** Top-level keys an experiment does not use, and what to say. */
const UNUSED_TOP: Record<ExperimentName, Partial<Record<'port' | 'endpoints', string>>> = {
  pktgen: {},
  ping: {},
  peers: {
    port: 'not used by the peers experiment (it always measures a pipe and a VALE port against postMessage, batched postMessage and ringbuf.js)',
    endpoints: 'not used by the peers experiment (its two sides are host worker threads)',
  },
  chain: {
    endpoints:
      'not used by the chain experiment (pkt-gen tx and rx are host apps; the bridges run in VMs with base.vms or sweep.vms)',
  },
};

export const MAX_POINTS = 1000;
const MAX_VALUES = 64;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const TOP_KEYS = ['name', 'description', 'experiment', 'port', 'endpoints', 'mode', 'base', 'sweep', 'series', 'x'];

export interface Problem {
  /** JSON path, from `scenario` (or the file, for a file that cannot be read). */
  path: string;
  problem: string;
}

/** A scenario that does not validate; `message` is the first problem (one line). */
export class ScenarioError extends NetmapError {
  readonly problems: Problem[];
  constructor(problems: Problem[]) {
    const [first] = problems;
    const more =
      problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
    super('EINVAL', `${first.path}: ${first.problem}${more}`);
    this.name = 'ScenarioError';
    this.problems = problems;
  }
}

/** A value as a problem message shows it: JSON, cut short. */
function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

interface NumSpec {
  ok: (v: number) => boolean;
  what: string;
}

const int = (min: number, max: number, what?: string): NumSpec => ({
  ok: (v) => Number.isInteger(v) && v >= min && v <= max,
  what: what ?? `an integer from ${min} to ${max}`,
});
const real = (min: number, max: number, what: string): NumSpec => ({
  ok: (v) => Number.isFinite(v) && v >= min && v <= max,
  what,
});

type NumKey =
  | 'len'
  | 'batch'
  | 'ring'
  | 'seconds'
  | 'spinUs'
  | 'warmupMs'
  | 'reportMs'
  | 'lingerUs'
  | 'moderation'
  | 'n';

/** The rule for each numeric parameter (len depends on the mode: sequence modes carry a seq number). */
function paramSpec(key: NumKey, mode: Mode): NumSpec {
  switch (key) {
    case 'len': {
      const min = mode === 'tx' ? MIN_FRAME_LEN : MIN_SEQ_FRAME_LEN;
      return int(
        min,
        DEFAULT_BUF_SIZE,
        `an integer from ${min} to ${DEFAULT_BUF_SIZE} (the buffer size) for mode ${mode}`,
      );
    }
    case 'batch':
      return int(1, 1 << 20, 'a positive integer');
    case 'ring':
      return int(MIN_RING_SLOTS, MAX_RING_SLOTS);
    case 'seconds':
      return real(Number.MIN_VALUE, 3600, 'a number of seconds above 0, at most 3600');
    case 'spinUs':
      return real(0, 1e7, 'a number of microseconds from 0 to 1e7');
    case 'warmupMs':
      return real(0, 60_000, 'a number of milliseconds from 0 to 60000');
    case 'reportMs':
      return real(10, 60_000, 'a number of milliseconds from 10 to 60000');
    case 'lingerUs':
      return real(0, 1e7, 'a number of microseconds from 0 to 1e7');
    case 'moderation':
      return int(1, MAX_MODERATION);
    case 'n':
      return int(1, MAX_CHAIN, `an integer from 1 to ${MAX_CHAIN} (bridges in the chain)`);
  }
}

/** "guest->host" for a stream, "guest<->host" for ping (ping side <-> pong side). */
export function directionOf(e: Endpoints, experiment: ExperimentName): string {
  return experiment === 'ping' ? `${e.tx}<->${e.rx}` : `${e.tx}->${e.rx}`;
}

/** The two sides of a direction string; a string is the problem with it. */
export function parseDirection(v: unknown, experiment: ExperimentName): Endpoints | string {
  const ping = experiment === 'ping';
  const like = ping
    ? 'a pair like "guest<->host" (ping side <-> pong side, each host, guest or emulated)'
    : 'a direction like "guest->host" (tx->rx, each host, guest or emulated)';
  const m = typeof v === 'string' ? /^\s*([A-Za-z]+)\s*(<->|->)\s*([A-Za-z]+)\s*$/.exec(v) : null;
  if (m === null || (m[2] === '<->' && !ping)) {
    const oneWay = m !== null ? ': a stream goes one way' : '';
    return `must be ${like}${oneWay}, got ${show(v)}`;
  }
  const kinds = ENDPOINT_KINDS as readonly string[];
  for (const side of [m[1], m[3]]) {
    if (!kinds.includes(side)) return `'${side}' is not an endpoint (host, guest or emulated) in ${show(v)}`;
  }
  return { tx: m[1] as EndpointKind, rx: m[3] as EndpointKind };
}

class Checker {
  readonly problems: Problem[] = [];
  add(path: string, problem: string): void {
    this.problems.push({ path, problem });
  }
  /** Reports keys of `obj` that are not in `allowed`. */
  keys(path: string, obj: Record<string, unknown>, allowed: readonly string[], extra?: (k: string) => string): void {
    for (const k of Object.keys(obj)) {
      if (!allowed.includes(k)) this.add(`${path}.${k}`, extra?.(k) ?? `unknown key (expected ${allowed.join(', ')})`);
    }
  }
  oneOf<T extends string>(
    path: string,
    v: unknown,
    allowed: readonly T[],
    future: Record<string, string> = {},
  ): T | undefined {
    if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
    if (typeof v === 'string' && future[v] !== undefined) this.add(path, future[v]);
    else
      this.add(
        path,
        `must be ${allowed.length === 1 ? `'${allowed[0]}'` : `one of ${allowed.join(', ')}`}, got ${show(v)}`,
      );
    return undefined;
  }
  num(path: string, v: unknown, spec: NumSpec): number | undefined {
    if (typeof v === 'number' && spec.ok(v)) return v;
    this.add(path, `must be ${spec.what}, got ${show(v)}`);
    return undefined;
  }
  bool(path: string, v: unknown, what: string): boolean | undefined {
    if (typeof v === 'boolean') return v;
    this.add(path, `must be ${what}, got ${show(v)}`);
    return undefined;
  }
}

type ParamValue = number | string | boolean;

/** Checks one base value. */
function baseValue(c: Checker, path: string, k: keyof Base, v: unknown, m: Mode): ParamValue | undefined {
  switch (k) {
    case 'spinUs':
      if (v === 'auto') return v;
      return c.num(path, v, {
        ...paramSpec('spinUs', m),
        what: `'auto' or ${paramSpec('spinUs', m).what}`,
      });
    case 'busyWait':
      return c.bool(path, v, 'true or false');
    case 'vms':
      return c.bool(path, v, 'true (each bridge in a guest VM) or false (host apps)');
    case 'peer':
      return c.oneOf(path, v, PEER_STATES);
    case 'notify':
      return c.oneOf(path, v, NOTIFY_POLICIES);
    default:
      return c.num(path, v, paramSpec(k, m));
  }
}

/** Checks one swept value. */
function sweepValue(
  c: Checker,
  path: string,
  k: SweepParam,
  v: unknown,
  m: Mode,
  experiment: ExperimentName,
): ParamValue | undefined {
  switch (k) {
    case 'port':
      return c.oneOf(path, v, PORT_TYPES, FUTURE_PORTS);
    case 'endpoints': {
      const e = parseDirection(v, experiment);
      if (typeof e === 'string') {
        c.add(path, e);
        return undefined;
      }
      return directionOf(e, experiment);
    }
    case 'peer':
      return c.oneOf(path, v, PEER_STATES);
    case 'vms':
      return c.bool(path, v, 'true (each bridge in a guest VM) or false (host apps)');
    case 'notify':
      return c.oneOf(path, v, NOTIFY_POLICIES);
    default:
      return c.num(path, v, paramSpec(k as NumKey, m));
  }
}

/** Checks a parsed scenario; returns it with defaults filled in, or every problem found. */
export function checkScenario(input: unknown): { scenario?: Scenario; problems: Problem[] } {
  const c = new Checker();
  const P = 'scenario';
  if (!isObject(input)) {
    c.add(P, `must be a JSON object, got ${show(input)}`);
    return { problems: c.problems };
  }
  c.keys(P, input, TOP_KEYS);

  let name = '';
  if (typeof input.name !== 'string' || !NAME_RE.test(input.name)) {
    c.add(
      `${P}.name`,
      `must be 1 to 64 letters, digits, '.', '_' or '-' (it names the result directory), got ${show(input.name)}`,
    );
  } else name = input.name;
  if (input.description !== undefined && typeof input.description !== 'string') {
    c.add(`${P}.description`, `must be a string, got ${show(input.description)}`);
  }
  const experiment = c.oneOf(`${P}.experiment`, input.experiment, EXPERIMENTS);
  // Rules that depend on the experiment are checked against pktgen's when it is bad.
  const exp: ExperimentName = experiment ?? 'pktgen';
  const unused = UNUSED_TOP[exp];

  let port: PortType | undefined = 'pipe';
  if (input.port !== undefined) {
    if (unused.port) {
      c.add(`${P}.port`, unused.port);
      port = undefined;
    } else port = c.oneOf(`${P}.port`, input.port, PORT_TYPES, FUTURE_PORTS);
  } else if (unused.port) port = undefined;

  let endpoints: Endpoints | undefined = unused.endpoints ? undefined : { tx: 'host', rx: 'host' };
  if (input.endpoints !== undefined) {
    const e = input.endpoints;
    if (unused.endpoints) c.add(`${P}.endpoints`, unused.endpoints);
    else if (typeof e === 'string') {
      const d = parseDirection(e, exp);
      if (typeof d === 'string') c.add(`${P}.endpoints`, d);
      else endpoints = d;
    } else if (!isObject(e)) {
      c.add(
        `${P}.endpoints`,
        `must be an object like {"tx": "host", "rx": "host"} or a direction like "guest->host", got ${show(e)}`,
      );
    } else {
      c.keys(`${P}.endpoints`, e, ['tx', 'rx']);
      const tx = c.oneOf(`${P}.endpoints.tx`, e.tx, ENDPOINT_KINDS, FUTURE_ENDPOINTS);
      const rx = c.oneOf(`${P}.endpoints.rx`, e.rx, ENDPOINT_KINDS, FUTURE_ENDPOINTS);
      if (tx && rx) endpoints = { tx, rx };
    }
  }

  const rule = MODE_RULES[exp];
  let mode: Mode | undefined = rule.dflt;
  if (input.mode !== undefined) {
    mode = c.oneOf(`${P}.mode`, input.mode, MODES);
    if (experiment !== undefined && mode !== undefined && !rule.allowed.includes(mode)) {
      c.add(`${P}.mode`, `${rule.why}, got ${show(mode)}`);
    }
  }
  // Limits that depend on the mode are checked against the experiment's default when the mode itself is bad.
  const m: Mode = mode ?? rule.dflt;
  const usable = BASE_KEYS[exp];

  const base: Base = baseDefaults(exp);
  if (input.base !== undefined) {
    if (!isObject(input.base)) c.add(`${P}.base`, `must be an object, got ${show(input.base)}`);
    else {
      const all = Object.keys(BASE_DEFAULTS);
      c.keys(`${P}.base`, input.base, usable, (k) =>
        all.includes(k)
          ? `not used by the ${experiment} experiment (it takes ${usable.join(', ')})`
          : `unknown key (expected ${usable.join(', ')})`,
      );
      for (const k of usable) {
        const v = input.base[k];
        if (v === undefined) continue;
        const got = baseValue(c, `${P}.base.${k}`, k, v, m);
        if (got !== undefined) (base as unknown as Record<string, ParamValue>)[k] = got;
      }
    }
  }

  const sweep: Sweep = {};
  const sweepable = SWEEPABLE[exp];
  if (!isObject(input.sweep)) {
    c.add(`${P}.sweep`, `must be an object like {"batch": [1, 2, 4]}, got ${show(input.sweep)}`);
  } else {
    const keys = Object.keys(input.sweep);
    if (keys.length === 0) c.add(`${P}.sweep`, `must vary at least one of ${sweepable.join(', ')}`);
    c.keys(`${P}.sweep`, input.sweep, sweepable, (k) =>
      (SWEEP_PARAMS as readonly string[]).includes(k)
        ? `the ${experiment} experiment cannot vary ${k} (it varies ${sweepable.join(', ')})`
        : `cannot be swept (sweepable: ${sweepable.join(', ')})`,
    );
    // In the file's key order: the first key is the outermost loop.
    for (const k of keys.filter((k): k is SweepParam => (sweepable as readonly string[]).includes(k))) {
      const list = input.sweep[k];
      const path = `${P}.sweep.${k}`;
      if (!Array.isArray(list) || list.length === 0 || list.length > MAX_VALUES) {
        c.add(path, `must be a list of 1 to ${MAX_VALUES} values, got ${show(list)}`);
        continue;
      }
      const vals: ParamValue[] = [];
      list.forEach((v, i) => {
        const got = sweepValue(c, `${path}[${i}]`, k, v, m, exp);
        if (got === undefined) return;
        if (vals.includes(got)) c.add(`${path}[${i}]`, `${show(got)} is already in the list`);
        else vals.push(got);
      });
      if (vals.length === list.length) (sweep as Record<string, ParamValue[]>)[k] = vals;
    }
    const points = Object.values(sweep).reduce((n: number, v: unknown[]) => n * v.length, 1);
    if (points > MAX_POINTS) c.add(`${P}.sweep`, `${points} points is more than ${MAX_POINTS}: sweep fewer values`);
  }

  const swept = Object.keys(sweep) as SweepParam[];
  let series: SweepParam | undefined;
  if (input.series !== undefined) {
    series = c.oneOf(`${P}.series`, input.series, sweepable);
    if (series !== undefined && isObject(input.sweep) && input.sweep[series] === undefined) {
      c.add(`${P}.series`, `'${series}' is not swept: series must name a key of scenario.sweep`);
      series = undefined;
    }
  } else if (sweep.endpoints !== undefined && swept.length > 1 && input.x !== 'endpoints') {
    // The talk draws one line per direction.
    series = 'endpoints';
  }
  let x: SweepParam | undefined;
  if (input.x !== undefined) {
    x = c.oneOf(`${P}.x`, input.x, sweepable);
    if (x !== undefined && isObject(input.sweep) && input.sweep[x] === undefined) {
      c.add(`${P}.x`, `'${x}' is not swept: x must name a key of scenario.sweep`);
      x = undefined;
    }
  } else {
    const rest = swept.filter((k) => k !== series);
    x = rest.includes('batch') ? 'batch' : (rest.find(isNumericParam) ?? rest[0]);
    if (x === undefined && series !== undefined) {
      c.add(
        `${P}.series`,
        `'${series}' is the only swept parameter, so it is the x axis: sweep another parameter too, or drop series`,
      );
    }
  }
  if (series !== undefined && series === x) c.add(`${P}.series`, `series must differ from the x axis ('${x}')`);

  if (c.problems.length > 0 || !experiment || !mode || !x) return { problems: c.problems };
  const scenario: Scenario = { name, experiment, mode, base, sweep, x };
  // A swept port or direction the file does not also name has no one value: left out.
  if (port !== undefined && (input.port !== undefined || sweep.port === undefined)) scenario.port = port;
  if (endpoints !== undefined && (input.endpoints !== undefined || sweep.endpoints === undefined)) {
    scenario.endpoints = endpoints;
  }
  if (typeof input.description === 'string') scenario.description = input.description;
  if (series !== undefined) scenario.series = series;
  return { scenario: orderKeys(scenario), problems: [] };
}

/** The scenario's keys in the schema's order (points.json reads like a scenario file). */
function orderKeys(s: Scenario): Scenario {
  const out: Record<string, unknown> = {};
  for (const k of TOP_KEYS) {
    const v = (s as unknown as Record<string, unknown>)[k];
    if (v !== undefined) out[k] = v;
  }
  return out as unknown as Scenario;
}

/** Validates a parsed scenario; throws a ScenarioError naming the first problem. */
export function validateScenario(input: unknown): Scenario {
  const r = checkScenario(input);
  if (r.scenario === undefined) throw new ScenarioError(r.problems);
  return r.scenario;
}

/**
 * The values of every parameter at one point: the four numbers always (what the point
 * ran with), and the experiment's others (pktgen: port, endpoints, notify; ping: port,
 * endpoints, peer, notify; chain: port, n, vms, notify).
 */
export interface PointParams {
  len: number;
  batch: number;
  ring: number;
  spinUs: number;
  port?: PortType;
  /** "tx->rx" (pktgen) or "a<->b" (ping). */
  endpoints?: string;
  peer?: PeerState;
  n?: number;
  vms?: boolean;
  /** The notification policy of every port, kloop and NIC of the point. */
  notify?: NotifyPolicy;
}

/** One parameter's value at a point (undefined if the experiment has no such parameter). */
export function paramValue(p: PointParams, k: SweepParam): number | string | boolean | undefined {
  return p[k];
}

/** The sides of a point's endpoints ("guest->host" or "guest<->host"); host, host if none. */
export function pointEndpoints(p: PointParams): Endpoints {
  const m = /^(\w+)(?:<->|->)(\w+)$/.exec(p.endpoints ?? '');
  return m ? { tx: m[1] as EndpointKind, rx: m[2] as EndpointKind } : { tx: 'host', rx: 'host' };
}

/** Worker threads a point runs: apps, kloops and NIC device threads, bridges. */
export function pointThreads(s: Scenario, p: PointParams): number {
  switch (s.experiment) {
    case 'peers':
      return 2;
    case 'chain':
      return 2 + (p.n ?? 4) * (p.vms ? 3 : 1);
    default: {
      const e = pointEndpoints(p);
      return 2 + (e.tx === 'host' ? 0 : 1) + (e.rx === 'host' ? 0 : 1);
    }
  }
}

/**
 * The points of a scenario, in run order: the cartesian product, first sweep key
 * outermost, each with its spin time resolved (ping: from the peer state; 'auto': 200 µs
 * if the point's threads all have a core on a machine of `cores`, else 0).
 */
export function expandPoints(s: Scenario, cores = availableParallelism()): PointParams[] {
  const b = s.base;
  const first: PointParams = {
    len: b.len,
    batch: s.experiment === 'ping' ? 1 : b.batch,
    // peers has no ring key: its pipe runs on a ring of the default size.
    ring: b.ring ?? BASE_DEFAULTS.ring,
    spinUs: 0,
  };
  if (s.port !== undefined) first.port = s.port;
  if (s.endpoints !== undefined) first.endpoints = directionOf(s.endpoints, s.experiment);
  if (s.experiment === 'ping') first.peer = b.peer;
  if (s.experiment === 'chain') {
    first.n = b.n;
    first.vms = b.vms;
  }
  if (b.notify !== undefined) first.notify = b.notify;
  let points: PointParams[] = [first];
  for (const [k, values] of Object.entries(s.sweep) as [SweepParam, ParamValue[]][]) {
    points = points.flatMap((p) => values.map((v) => ({ ...p, [k]: v })));
  }
  for (const p of points) {
    if (s.experiment === 'ping') p.spinUs = p.peer === 'awake' ? AWAKE_SPIN_US : 0;
    else if (s.experiment === 'peers')
      p.spinUs = AUTO_SPIN_US; // what runPeersBench's pipe uses
    else if (s.sweep.spinUs === undefined) {
      const spin = b.spinUs;
      p.spinUs = spin !== 'auto' ? spin : pointThreads(s, p) <= cores ? AUTO_SPIN_US : 0;
    }
  }
  return points;
}

/** A parameter's value as a plot line or axis shows it. */
export function formatParam(k: SweepParam, v: number | string | boolean | undefined): string {
  if (k === 'port' || k === 'endpoints') return String(v);
  if (k === 'vms') return v ? 'VMs' : 'host apps';
  if (k === 'peer') return `peer ${v}`;
  if (k === 'notify') return `notify ${v}`;
  return `${k}=${v}`;
}

/**
 * The parameters that split the plot into lines: every swept parameter but x, the
 * series first (a measurement's variant, e.g. the peers transport, splits them too).
 */
export function lineKeys(s: Scenario): SweepParam[] {
  const rest = (Object.keys(s.sweep) as SweepParam[]).filter((k) => k !== s.x && k !== s.series);
  return s.series ? [s.series, ...rest] : rest;
}

/** The directory of the built-in scenarios (shipped in the package). */
export function builtinDir(): string {
  return join(packageRoot(), 'bench', 'scenarios');
}

export function builtinScenarios(): string[] {
  const dir = builtinDir();
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => basename(f, '.json'))
    .sort();
}

export interface LoadedScenario {
  scenario: Scenario;
  /** The file it came from. */
  file: string;
  builtin: boolean;
}

/**
 * Loads a scenario from a file, or a built-in by name (`pipe-batch`). A file that cannot
 * be read or parsed is a ScenarioError whose path is the file.
 */
export function loadScenario(ref: string): LoadedScenario {
  let file = ref;
  let builtin = false;
  if (!existsSync(ref)) {
    const candidate = join(builtinDir(), `${ref.replace(/\.json$/, '')}.json`);
    if (/^[\w.-]+$/.test(ref) && existsSync(candidate)) {
      file = candidate;
      builtin = true;
    } else {
      const names = builtinScenarios();
      throw new ScenarioError([
        { path: ref, problem: `no such file, and not a built-in scenario (${names.join(', ') || 'none installed'})` },
      ]);
    }
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ScenarioError([{ path: ref, problem: `cannot read: ${(e as Error).message}` }]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ScenarioError([{ path: ref, problem: `not valid JSON: ${(e as Error).message.split('\n')[0]}` }]);
  }
  return { scenario: validateScenario(json), file, builtin };
}
