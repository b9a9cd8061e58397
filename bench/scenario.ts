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
 * Later issues extend the enums below (VALE ports, guest and emulated-NIC endpoints,
 * more sweepable parameters); the runner dispatches on `experiment`, `port` and
 * `endpoints`, so a new kind slots in by adding its case there.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { DEFAULT_BUF_SIZE, MAX_RING_SLOTS, MIN_RING_SLOTS } from '../shm/layout.js';
import { MIN_FRAME_LEN, MIN_SEQ_FRAME_LEN } from '../src/apps/frame.js';
import { NetmapError } from '../src/errors.js';
import { packageRoot } from '../src/paths.js';

export const EXPERIMENTS = ['pktgen', 'peers'] as const;
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

/** The parameters a sweep may vary; each point gets all of them (base + sweep). */
export const SWEEP_PARAMS = ['len', 'batch', 'ring', 'spinUs'] as const;
export type SweepParam = (typeof SWEEP_PARAMS)[number];

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
  /** How long poll busy-polls before it sleeps, µs (200). */
  spinUs: number;
  /** Warm-up before the first interval, ms (250). */
  warmupMs: number;
  /** Report interval, ms (250): a point's rate is the median of its intervals. */
  reportMs: number;
}

export interface Scenario {
  /** Names the result directory: letters, digits, '.', '_', '-'. */
  name: string;
  description?: string;
  experiment: ExperimentName;
  port: PortType;
  endpoints: Endpoints;
  mode: Mode;
  base: Base;
  /** Values per parameter; the points are their cartesian product (first key outermost). */
  sweep: Partial<Record<SweepParam, number[]>>;
  /** A swept parameter drawn as one line per value. */
  series?: SweepParam;
  /** The swept parameter on the plot's x axis (default: batch if swept, else the first other key). */
  x: SweepParam;
}

/** What a scenario file may leave out. */
export type ScenarioInput = Omit<Scenario, 'base' | 'endpoints' | 'x'> & {
  base?: Partial<Base>;
  endpoints?: Endpoints;
  x?: SweepParam;
};

export const BASE_DEFAULTS: Readonly<Base> = {
  len: 60,
  batch: 64,
  ring: 1024,
  seconds: 1,
  spinUs: 200,
  warmupMs: 250,
  reportMs: 250,
};

/** Base keys each experiment uses; the others are refused so nothing is silently ignored. */
const BASE_KEYS: Record<ExperimentName, readonly (keyof Base)[]> = {
  pktgen: ['len', 'batch', 'ring', 'seconds', 'spinUs', 'warmupMs', 'reportMs'],
  // runPeersBench fixes its ring, spin, warm-up and interval so every variant is comparable.
  peers: ['len', 'batch', 'seconds'],
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

/** The rule for each numeric parameter (len depends on the mode: sequence modes carry a seq number). */
function paramSpec(key: keyof Base, mode: Mode): NumSpec {
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
  }
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
  const port = c.oneOf(`${P}.port`, input.port, PORT_TYPES, FUTURE_PORTS);

  let endpoints: Endpoints = { tx: 'host', rx: 'host' };
  if (input.endpoints !== undefined) {
    const e = input.endpoints;
    if (!isObject(e)) c.add(`${P}.endpoints`, `must be an object like {"tx": "host", "rx": "host"}, got ${show(e)}`);
    else {
      c.keys(`${P}.endpoints`, e, ['tx', 'rx']);
      const tx = c.oneOf(`${P}.endpoints.tx`, e.tx, ENDPOINT_KINDS, FUTURE_ENDPOINTS);
      const rx = c.oneOf(`${P}.endpoints.rx`, e.rx, ENDPOINT_KINDS, FUTURE_ENDPOINTS);
      if (tx && rx) endpoints = { tx, rx };
    }
  }

  const mode = c.oneOf(`${P}.mode`, input.mode, MODES);
  if (experiment === 'peers' && mode !== undefined && mode !== 'tx') {
    c.add(`${P}.mode`, `the peers experiment streams one way: mode must be 'tx', got ${show(mode)}`);
  }
  // Limits that depend on the mode are checked against 'tx' when the mode itself is bad.
  const m: Mode = mode ?? 'tx';
  const usable = BASE_KEYS[experiment ?? 'pktgen'];

  const base: Base = { ...BASE_DEFAULTS };
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
        const got = c.num(`${P}.base.${k}`, v, paramSpec(k, m));
        if (got !== undefined) base[k] = got;
      }
    }
  }

  const sweep: Partial<Record<SweepParam, number[]>> = {};
  const sweepable = SWEEP_PARAMS.filter((k) => usable.includes(k));
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
    for (const k of keys.filter((k): k is SweepParam => (sweepable as string[]).includes(k))) {
      const list = input.sweep[k];
      const path = `${P}.sweep.${k}`;
      if (!Array.isArray(list) || list.length === 0 || list.length > MAX_VALUES) {
        c.add(path, `must be a list of 1 to ${MAX_VALUES} values, got ${show(list)}`);
        continue;
      }
      const spec = paramSpec(k, m);
      const vals: number[] = [];
      list.forEach((v, i) => {
        const got = c.num(`${path}[${i}]`, v, spec);
        if (got === undefined) return;
        if (vals.includes(got)) c.add(`${path}[${i}]`, `${got} is already in the list`);
        else vals.push(got);
      });
      if (vals.length === list.length) sweep[k] = vals;
    }
    const points = Object.values(sweep).reduce((n, v) => n * v.length, 1);
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
    x = rest.includes('batch') ? 'batch' : rest[0];
    if (x === undefined && series !== undefined) {
      c.add(
        `${P}.series`,
        `'${series}' is the only swept parameter, so it is the x axis: sweep another parameter too, or drop series`,
      );
    }
  }
  if (series !== undefined && series === x) c.add(`${P}.series`, `series must differ from the x axis ('${x}')`);

  if (c.problems.length > 0 || !experiment || !port || !mode || !x) return { problems: c.problems };
  const scenario: Scenario = { name, experiment, port, endpoints, mode, base, sweep, x };
  if (typeof input.description === 'string') scenario.description = input.description;
  if (series !== undefined) scenario.series = series;
  return { scenario, problems: [] };
}

/** Validates a parsed scenario; throws a ScenarioError naming the first problem. */
export function validateScenario(input: unknown): Scenario {
  const r = checkScenario(input);
  if (r.scenario === undefined) throw new ScenarioError(r.problems);
  return r.scenario;
}

/** The values of every parameter at one point. */
export type PointParams = Record<SweepParam, number>;

/** The points of a scenario, in run order: the cartesian product, first sweep key outermost. */
export function expandPoints(s: Scenario): PointParams[] {
  let points: PointParams[] = [{ len: s.base.len, batch: s.base.batch, ring: s.base.ring, spinUs: s.base.spinUs }];
  for (const [k, values] of Object.entries(s.sweep) as [SweepParam, number[]][]) {
    points = points.flatMap((p) => values.map((v) => ({ ...p, [k]: v })));
  }
  return points;
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
