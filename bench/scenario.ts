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
 * bench/scenario.schema.json says the same rules as a JSON Schema, for editors (a scenario
 * file names it with `"$schema"`, which the validator accepts and ignores). Measured against
 * it, ajv's errors name the schema's machinery, not what would be valid (`/endpoints must
 * match pattern "^\s*((host|guest)\s*->\s*wire|...)$"`, `must match "then" schema`, `/port
 * boolean schema is false`), so ajv stays a test-only dependency: test/scenario-schema.test.ts
 * feeds the same scenarios to both and checks that they agree.
 *
 * Experiments: `pktgen` (a sender and a receiver over a pipe or VALE port, each side a host
 * app, a passthrough guest or an emulated-NIC guest; or one app on a NIC port, nic0,
 * whose wire sinks or generates at a line rate), `ping` (round trips, the peer awake
 * or asleep), `chain` (N bridges, host apps or VMs), `peers` (a pipe and VALE against
 * postMessage and ringbuf.js). Sweeps vary numbers (len, batch, ring, spinUs, n) and
 * categories (port, endpoints as directions like "guest->host" or, on a NIC port,
 * "guest->wire", peer, vms, notify: the notification policy of every port, kloop and NIC
 * of a point, line: a NIC's line rate); the runner dispatches on `experiment`, so a new
 * kind slots in by adding its case there.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import { DEFAULT_BUF_SIZE, MAX_RING_SLOTS, MIN_RING_SLOTS } from '../shm/layout.js';
import { MAX_CHAIN } from '../src/apps/chain-run.js';
import { pingWaits } from '../src/apps/endpoint.js';
import { MIN_FRAME_LEN, MIN_SEQ_FRAME_LEN } from '../src/apps/frame.js';
import { MAX_MODERATION } from '../src/emulated/nic.js';
import { NetmapError } from '../src/errors.js';
import { NOTIFY_POLICIES, type NotifyPolicy } from '../src/kernel/notify.js';
import { LINE_RATES, type LineRate } from '../src/nic/line.js';
import { packageRoot } from '../src/paths.js';

export const EXPERIMENTS = ['pktgen', 'peers', 'ping', 'chain'] as const;
export type ExperimentName = (typeof EXPERIMENTS)[number];

/**
 * Port types the runner can build: a pipe and a VALE switch between two apps, and a NIC
 * port (nic0) with one app and the NIC's wire on the other side (pktgen only).
 */
export const PORT_TYPES = ['pipe', 'vale', 'nic'] as const;
export type PortType = (typeof PORT_TYPES)[number];
/** The ports between two apps (the NIC port has one app and the wire). */
const APP_PORTS = ['pipe', 'vale'] as const;
/** What to say about a port type an experiment cannot use (or a word that is not one). */
const PORT_HINTS: Record<string, string> = {
  wire: "'wire' is not a port type: it is the far side of port 'nic' (endpoints like \"host->wire\")",
  e1000: "'e1000' is not a port type: an emulated NIC is an endpoint ('emulated') on a pipe or vale port",
};
const NIC_PORT_ONLY_PKTGEN = (experiment: string) =>
  `'nic' is not a port for the ${experiment} experiment: a NIC port has one app and the wire on the other side (pktgen only); ` +
  "an emulated NIC is an endpoint ('emulated') on a pipe or vale port";

/** Who runs each side of a pipe or VALE port: a host app, a guest VM with passthrough, or a guest VM behind an emulated NIC. */
export const ENDPOINT_KINDS = ['host', 'guest', 'emulated'] as const;
/** The far side of a NIC port: its wire sinks what the app sends, or generates what the app receives. */
export const WIRE = 'wire';
export type EndpointKind = (typeof ENDPOINT_KINDS)[number] | typeof WIRE;
/** Who runs the app on a NIC port: a host app, or an app in a guest the NIC is passed through to. */
export const NIC_APP_KINDS = ['host', 'guest'] as const;
/** A NIC port's directions: the app sends and the wire sinks, or the wire generates and the app receives. */
export const NIC_DIRECTIONS = ['host->wire', 'guest->wire', 'wire->host', 'wire->guest'] as const;
const NIC_DIRECTIONS_SAID =
  'host->wire, guest->wire (the app sends, the wire sinks), wire->host, wire->guest (the wire generates)';

export const MODES = ['tx', 'txseq', 'ping'] as const;
export type Mode = (typeof MODES)[number];

/** ping: the peer busy-polls (awake: nobody on the path sleeps) or sleeps at once (asleep: a wake-up per packet). */
export const PEER_STATES = ['awake', 'asleep'] as const;
export type PeerState = (typeof PEER_STATES)[number];
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
  'line',
] as const;
export type SweepParam = (typeof SWEEP_PARAMS)[number];
/** The numeric parameters; the others are categories (a plot spaces their values evenly, in sweep order). */
export const NUMERIC_PARAMS: readonly SweepParam[] = ['len', 'batch', 'ring', 'spinUs', 'n'];
export const isNumericParam = (k: SweepParam): boolean => NUMERIC_PARAMS.includes(k);

/** What each experiment may sweep. */
export const SWEEPABLE: Record<ExperimentName, readonly SweepParam[]> = {
  // line: port 'nic' only (the wire's line rate).
  pktgen: ['len', 'batch', 'ring', 'spinUs', 'port', 'endpoints', 'notify', 'line'],
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
  /** pktgen on port 'nic' only: the line rate of the NIC's wire ('10G'). */
  line?: LineRate;
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
  /** pktgen on port 'nic': line rates of the NIC's wire. */
  line?: LineRate[];
}

export interface Scenario {
  /** Names the result directory: letters, digits, '.', '_', '-'. */
  name: string;
  description?: string;
  experiment: ExperimentName;
  /** pktgen, ping, chain: the port type (default pipe; nic: pktgen only); a swept port replaces it per point. */
  port?: PortType;
  /**
   * pktgen, ping: who sends and who receives (default host, host; port nic: host, wire);
   * swept endpoints replace it per point.
   */
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
  line: '10G',
};

/**
 * Base keys each experiment uses; the others are refused so nothing is silently ignored.
 * pktgen's depend on the port too (baseKeys): `line` only with port nic, `moderation` (the
 * emulated NIC's) only without.
 */
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
    'line',
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

/** The base keys an experiment takes on a port: a NIC port has a line rate and no emulated NIC (no moderation). */
export function baseKeys(experiment: ExperimentName, port: PortType = 'pipe'): readonly (keyof Base)[] {
  return BASE_KEYS[experiment].filter((k) => (k === 'line' ? port === 'nic' : !(k === 'moderation' && port === 'nic')));
}

/** The base an experiment starts from on a port (default pipe): its keys' defaults. */
export function baseDefaults(experiment: ExperimentName, port: PortType = 'pipe'): Base {
  const out: Partial<Record<keyof Base, unknown>> = {};
  for (const k of baseKeys(experiment, port)) out[k] = BASE_DEFAULTS[k];
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

/**
 * The port a scenario's endpoints are checked against: a NIC port (one app, the wire on
 * the other side) or ports between two apps; `said` names it in messages ("pipe or vale").
 */
export interface PortContext {
  nic: boolean;
  said: string;
}
const APP_CONTEXT: PortContext = { nic: false, said: 'pipe' };

/** An emulated endpoint on a NIC port: the hint that an emulated NIC is a guest's endpoint, not a port. */
const EMULATED_ON_NIC =
  "'emulated' is not an endpoint on port 'nic': an emulated NIC is a guest's endpoint on a pipe or vale port; " +
  `on a NIC port the app is host or guest and the other side is the wire (${NIC_DIRECTIONS.join(', ')})`;
/** 'nic' written as an endpoint: it is the port; an emulated NIC guest is the endpoint 'emulated'. */
const NIC_AS_ENDPOINT =
  "'nic' is not an endpoint: it is a port type (port 'nic', endpoints like \"host->wire\"); a guest behind an emulated NIC is the endpoint 'emulated'";
/** The wire on a pipe or VALE port. */
const wireOnAppPort = (said: string) =>
  `'wire' is an endpoint only with port 'nic' (the NIC's far side); on a ${said} port each side is host, guest or emulated`;

/** What is wrong with a pair of sides on the port (a NIC port: exactly one side is the wire), or undefined. */
function pairProblem(e: Endpoints, ctx: PortContext, shown: string): string | undefined {
  if (ctx.nic) {
    if (e.tx === 'emulated' || e.rx === 'emulated') return `${EMULATED_ON_NIC}, in ${shown}`;
    if ((e.tx === WIRE) === (e.rx === WIRE)) {
      return `with port 'nic' exactly one side is the NIC's wire: must be one of ${NIC_DIRECTIONS_SAID}, got ${shown}`;
    }
    return undefined;
  }
  if (e.tx === WIRE || e.rx === WIRE) return `${wireOnAppPort(ctx.said)}, in ${shown}`;
  return undefined;
}

/**
 * The two sides of a direction string; a string is the problem with it. On a NIC port
 * (`ctx.nic`) one side is the wire: "host->wire", "wire->guest".
 */
export function parseDirection(
  v: unknown,
  experiment: ExperimentName,
  ctx: PortContext = APP_CONTEXT,
): Endpoints | string {
  const ping = experiment === 'ping';
  const like = ctx.nic
    ? `a direction on a NIC port: ${NIC_DIRECTIONS_SAID}`
    : ping
      ? 'a pair like "guest<->host" (ping side <-> pong side, each host, guest or emulated)'
      : 'a direction like "guest->host" (tx->rx, each host, guest or emulated)';
  const m = typeof v === 'string' ? /^\s*([A-Za-z]+)\s*(<->|->)\s*([A-Za-z]+)\s*$/.exec(v) : null;
  if (m === null || (m[2] === '<->' && !ping)) {
    const oneWay = m !== null ? ': a stream goes one way' : '';
    return `must be ${like}${oneWay}, got ${show(v)}`;
  }
  const kinds: readonly string[] = [...ENDPOINT_KINDS, WIRE];
  for (const side of [m[1], m[3]]) {
    if (side === 'nic') return `${NIC_AS_ENDPOINT}, in ${show(v)}`;
    if (!kinds.includes(side)) {
      const which = ctx.nic ? "with port 'nic': host or guest, and the wire" : 'host, guest or emulated';
      return `'${side}' is not an endpoint (${which}) in ${show(v)}`;
    }
  }
  const e: Endpoints = { tx: m[1] as EndpointKind, rx: m[3] as EndpointKind };
  return pairProblem(e, ctx, show(v)) ?? e;
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

/** Checks a port type for an experiment (nic: pktgen only). */
function portValue(c: Checker, path: string, v: unknown, experiment: ExperimentName): PortType | undefined {
  const allowed: readonly PortType[] = experiment === 'pktgen' ? PORT_TYPES : APP_PORTS;
  const hints = experiment === 'pktgen' ? PORT_HINTS : { ...PORT_HINTS, nic: NIC_PORT_ONLY_PKTGEN(experiment) };
  return c.oneOf(path, v, allowed, hints);
}

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
    case 'line':
      return c.oneOf(path, v, LINE_RATES);
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
  ctx: PortContext,
): ParamValue | undefined {
  switch (k) {
    case 'port':
      return portValue(c, path, v, experiment);
    case 'line':
      return c.oneOf(path, v, LINE_RATES);
    case 'endpoints': {
      const e = parseDirection(v, experiment, ctx);
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
  // `$schema` names the JSON Schema for editors (bench/scenario.schema.json): accepted, then ignored.
  c.keys(P, input, [...TOP_KEYS, '$schema'], () => `unknown key (expected ${TOP_KEYS.join(', ')})`);
  if (input.$schema !== undefined && typeof input.$schema !== 'string') {
    c.add(`${P}.$schema`, `must be a string (the path or URL of the scenario schema), got ${show(input.$schema)}`);
  }

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
    } else port = portValue(c, `${P}.port`, input.port, exp);
  } else if (unused.port) port = undefined;

  // The port the endpoints, mode, base and sweep are checked against: the swept ports if
  // any (a NIC port is not swept with pipe or vale: checked with the sweep), else the port.
  const rawSweptPorts =
    isObject(input.sweep) && Array.isArray(input.sweep.port) && SWEEPABLE[exp].includes('port')
      ? (input.sweep.port as unknown[]).filter((v): v is PortType => (PORT_TYPES as readonly unknown[]).includes(v))
      : undefined;
  const ports: PortType[] = rawSweptPorts && rawSweptPorts.length > 0 ? rawSweptPorts : port ? [port] : [];
  const appPorts = [...new Set(ports.filter((p) => p !== 'nic'))];
  const ctx: PortContext = {
    nic: ports.length > 0 && appPorts.length === 0,
    said: appPorts.length > 0 ? appPorts.join(' or ') : ports.length > 0 ? 'nic' : 'pipe',
  };

  let endpoints: Endpoints | undefined = unused.endpoints
    ? undefined
    : ctx.nic
      ? { tx: 'host', rx: WIRE }
      : { tx: 'host', rx: 'host' };
  if (input.endpoints !== undefined) {
    const e = input.endpoints;
    if (unused.endpoints) c.add(`${P}.endpoints`, unused.endpoints);
    else if (typeof e === 'string') {
      const d = parseDirection(e, exp, ctx);
      if (typeof d === 'string') c.add(`${P}.endpoints`, d);
      else endpoints = d;
    } else if (!isObject(e)) {
      const like = ctx.nic
        ? '{"tx": "host", "rx": "wire"} or a direction like "host->wire"'
        : '{"tx": "host", "rx": "host"} or a direction like "guest->host"';
      c.add(`${P}.endpoints`, `must be an object like ${like}, got ${show(e)}`);
    } else {
      c.keys(`${P}.endpoints`, e, ['tx', 'rx']);
      const kinds: readonly EndpointKind[] = ctx.nic ? [...NIC_APP_KINDS, WIRE] : ENDPOINT_KINDS;
      const hints: Record<string, string> = {
        nic: NIC_AS_ENDPOINT,
        ...(ctx.nic ? { emulated: EMULATED_ON_NIC } : { wire: wireOnAppPort(ctx.said) }),
      };
      const tx = c.oneOf(`${P}.endpoints.tx`, e.tx, kinds, hints);
      const rx = c.oneOf(`${P}.endpoints.rx`, e.rx, kinds, hints);
      if (tx && rx) {
        const problem = pairProblem({ tx, rx }, ctx, show(directionOf({ tx, rx }, exp)));
        if (problem !== undefined) c.add(`${P}.endpoints`, problem);
        else endpoints = { tx, rx };
      }
    }
  }

  const rule = MODE_RULES[exp];
  let mode: Mode | undefined = rule.dflt;
  if (input.mode !== undefined) {
    mode = c.oneOf(`${P}.mode`, input.mode, MODES);
    if (experiment !== undefined && mode !== undefined && !rule.allowed.includes(mode)) {
      c.add(`${P}.mode`, `${rule.why}, got ${show(mode)}`);
    } else if (ctx.nic && mode === 'ping') {
      c.add(
        `${P}.mode`,
        `a NIC port has one app (the wire is the other side): mode must be tx or txseq with port 'nic', got ${show(mode)}`,
      );
    }
  }
  // Limits that depend on the mode are checked against the experiment's default when the mode itself is bad.
  const m: Mode = mode ?? rule.dflt;
  const usable = baseKeys(exp, ctx.nic ? 'nic' : 'pipe');

  const base: Base = baseDefaults(exp, ctx.nic ? 'nic' : 'pipe');
  if (input.base !== undefined) {
    if (!isObject(input.base)) c.add(`${P}.base`, `must be an object, got ${show(input.base)}`);
    else {
      const all = Object.keys(BASE_DEFAULTS);
      c.keys(`${P}.base`, input.base, usable, (k) =>
        k === 'line' && exp === 'pktgen'
          ? `only for port 'nic' (the line rate of the NIC's wire); this scenario's port is ${ctx.said}`
          : k === 'moderation' && exp === 'pktgen' && ctx.nic
            ? "not used with port 'nic' (the emulated NIC's interrupt moderation: a NIC port has no emulated endpoint)"
            : all.includes(k)
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
  // What the messages list: line only where it applies (a NIC port).
  const varies = sweepable.filter((k) => k !== 'line' || ctx.nic).join(', ');
  if (!isObject(input.sweep)) {
    c.add(`${P}.sweep`, `must be an object like {"batch": [1, 2, 4]}, got ${show(input.sweep)}`);
  } else {
    const keys = Object.keys(input.sweep);
    if (keys.length === 0) c.add(`${P}.sweep`, `must vary at least one of ${varies}`);
    c.keys(`${P}.sweep`, input.sweep, sweepable, (k) =>
      (SWEEP_PARAMS as readonly string[]).includes(k)
        ? `the ${experiment} experiment cannot vary ${k} (it varies ${varies})`
        : `cannot be swept (sweepable: ${varies})`,
    );
    // In the file's key order: the first key is the outermost loop.
    for (const k of keys.filter((k): k is SweepParam => (sweepable as readonly string[]).includes(k))) {
      const list = input.sweep[k];
      const path = `${P}.sweep.${k}`;
      if (k === 'line' && !ctx.nic) {
        c.add(path, `only for port 'nic' (the line rates of the NIC's wire); this scenario's port is ${ctx.said}`);
        continue;
      }
      if (!Array.isArray(list) || list.length === 0 || list.length > MAX_VALUES) {
        c.add(path, `must be a list of 1 to ${MAX_VALUES} values, got ${show(list)}`);
        continue;
      }
      const vals: ParamValue[] = [];
      list.forEach((v, i) => {
        const got = sweepValue(c, `${path}[${i}]`, k, v, m, exp, ctx);
        if (got === undefined) return;
        if (vals.includes(got)) c.add(`${path}[${i}]`, `${show(got)} is already in the list`);
        else vals.push(got);
      });
      if (k === 'port' && vals.includes('nic') && vals.length > 1) {
        c.add(
          path,
          `'nic' cannot be swept with ${vals.filter((v) => v !== 'nic').join(' or ')}: a NIC port's endpoints are ` +
            `directions to or from its wire ("host->wire"), a pipe's or VALE's are between two apps; run them as two scenarios`,
        );
        continue;
      }
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
 * ran with), and the experiment's others (pktgen: port, endpoints, notify, and line on a
 * NIC port; ping: port, endpoints, peer, notify; chain: port, n, vms, notify).
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
  /** Port nic: the line rate of the NIC's wire. */
  line?: LineRate;
}

/** One parameter's value at a point (undefined if the experiment has no such parameter). */
export function paramValue(p: PointParams, k: SweepParam): number | string | boolean | undefined {
  return p[k];
}

/** Whether a scenario runs on a NIC port (one app and the wire): its port, or its swept ports (never mixed with others). */
export function isNicScenario(s: Scenario): boolean {
  return s.sweep.port !== undefined ? s.sweep.port.includes('nic') : s.port === 'nic';
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
      // A guest adds its kloop, an emulated endpoint its device thread; a NIC's wire is one thread, like an app.
      const e = pointEndpoints(p);
      const extra = (k: EndpointKind) => (k === 'guest' || k === 'emulated' ? 1 : 0);
      return 2 + extra(e.tx) + extra(e.rx);
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
  if (b.line !== undefined) first.line = b.line;
  let points: PointParams[] = [first];
  for (const [k, values] of Object.entries(s.sweep) as [SweepParam, ParamValue[]][]) {
    points = points.flatMap((p) => values.map((v) => ({ ...p, [k]: v })));
  }
  for (const p of points) {
    if (s.experiment === 'ping') p.spinUs = pingWaits(p.peer === 'awake', pointThreads(s, p), cores).spinUs;
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
  if (k === 'line') return String(v);
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
