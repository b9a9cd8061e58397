/**
 * The benchmark runner: scenario validation names the JSON path of each problem; a tiny
 * sweep runs end to end and writes JSON, CSV, SVG and a report whose numbers agree; the
 * CLI turns a bad scenario into one line and exit 2. No timing assertions.
 * Workers and the CLI run from dist/ (`npx tsc -p tsconfig.build.json` first).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderPlot } from '../bench/plot.js';
import { CSV_COLUMNS } from '../bench/report.js';
import { FILES, type ResultsDoc, runScenario } from '../bench/runner.js';
import {
  baseDefaults,
  builtinScenarios,
  checkScenario,
  expandPoints,
  loadScenario,
  ScenarioError,
  validateScenario,
} from '../bench/scenario.js';
import { NetmapError } from '../src/errors.js';
import { requireBuilt } from './helpers.js';

const CLI = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));

const good = () => ({
  name: 'ok',
  experiment: 'pktgen',
  port: 'pipe',
  mode: 'tx',
  base: { seconds: 0.3, warmupMs: 50, reportMs: 100 },
  sweep: { ring: [128, 512], batch: [16, 64] },
  series: 'ring',
});

type Json = Record<string, unknown>;
const edit = (f: (s: Json) => void): Json => {
  const s = good() as unknown as Json;
  f(s);
  return s;
};

/** [what, scenario, JSON path, message pattern] */
const BAD: Array<[string, unknown, string, RegExp]> = [
  ['not an object', [1, 2], 'scenario', /must be a JSON object, got \[1,2\]/],
  ['no name', edit((s) => delete s.name), 'scenario.name', /names the result directory\), got nothing$/],
  ['a name with a slash', edit((s) => (s.name = '../x')), 'scenario.name', /got "\.\.\/x"/],
  ['an unknown top-level key', edit((s) => (s.ports = 'pipe')), 'scenario.ports', /unknown key \(expected name, /],
  ['an unknown experiment', edit((s) => (s.experiment = 'iperf')), 'scenario.experiment', /one of pktgen, peers/],
  ['a NIC as a port', edit((s) => (s.port = 'nic')), 'scenario.port', /an emulated NIC is an endpoint/],
  ['an unknown port', edit((s) => (s.port = 'tap')), 'scenario.port', /must be one of pipe, vale, got "tap"/],
  [
    'an unknown endpoint',
    edit((s) => (s.endpoints = { tx: 'vm', rx: 'host' })),
    'scenario.endpoints.tx',
    /must be one of host, guest, emulated, got "vm"/,
  ],
  [
    'an unknown endpoint key',
    edit((s) => (s.endpoints = { tx: 'host', rx: 'host', via: 'x' })),
    'scenario.endpoints.via',
    /unknown key \(expected tx, rx\)/,
  ],
  ['an unknown mode', edit((s) => (s.mode = 'rx')), 'scenario.mode', /one of tx, txseq, ping, got "rx"/],
  [
    'a misspelt base key',
    edit((s) => (s.base = { lenght: 60 })),
    'scenario.base.lenght',
    /unknown key \(expected len,/,
  ],
  ['a ring of 1 slot', edit((s) => (s.base = { ring: 1 })), 'scenario.base.ring', /integer from 2 to 16384, got 1/],
  ['seconds 0', edit((s) => (s.base = { seconds: 0 })), 'scenario.base.seconds', /above 0/],
  [
    'a string in a sweep',
    edit((s) => (s.sweep = { batch: [1, 2, 'x'] })),
    'scenario.sweep.batch[2]',
    /^must be a positive integer, got "x"$/,
  ],
  ['an empty sweep', edit((s) => (s.sweep = {})), 'scenario.sweep', /at least one of len, batch, ring, spinUs/],
  ['an empty list', edit((s) => (s.sweep = { batch: [] })), 'scenario.sweep.batch', /list of 1 to 64 values/],
  ['a duplicate value', edit((s) => (s.sweep = { batch: [4, 8, 4] })), 'scenario.sweep.batch[2]', /already/],
  ['an unsweepable key', edit((s) => (s.sweep = { seconds: [1, 2] })), 'scenario.sweep.seconds', /cannot be swept/],
  [
    'a frame too short for sequence numbers',
    edit((s) => {
      s.mode = 'txseq';
      s.sweep = { len: [60, 30] };
      delete s.series;
    }),
    'scenario.sweep.len[1]',
    /from 48 to 2048 \(the buffer size\) for mode txseq, got 30/,
  ],
  [
    'a frame above the buffer size',
    edit((s) => (s.base = { len: 4000 })),
    'scenario.base.len',
    /to 2048 \(the buffer size\)/,
  ],
  ['a series that is not swept', edit((s) => (s.series = 'len')), 'scenario.series', /'len' is not swept/],
  [
    'a series that is the only swept parameter',
    edit((s) => (s.sweep = { ring: [128, 512] })),
    'scenario.series',
    /only swept parameter/,
  ],
  ['x equal to the series', edit((s) => (s.x = 'ring')), 'scenario.series', /must differ from the x axis/],
  [
    'too many points',
    edit(
      (s) =>
        (s.sweep = { batch: [...Array(40).keys()].map((i) => i + 1), ring: [...Array(40).keys()].map((i) => i + 2) }),
    ),
    'scenario.sweep',
    /1600 points is more than 1000/,
  ],
  [
    'peers sweeping the ring',
    edit((s) => (s.experiment = 'peers')),
    'scenario.sweep.ring',
    /the peers experiment cannot vary ring/,
  ],
  [
    'peers in ping mode',
    edit((s) => {
      s.experiment = 'peers';
      s.mode = 'ping';
      s.sweep = { batch: [1] };
      delete s.series;
      delete s.base;
    }),
    'scenario.mode',
    /streams one way/,
  ],
  [
    'peers with a spin time',
    edit((s) => {
      s.experiment = 'peers';
      s.sweep = { batch: [1] };
      s.base = { spinUs: 5 };
      delete s.series;
    }),
    'scenario.base.spinUs',
    /not used by the peers experiment \(it takes len, batch, seconds\)/,
  ],
  // String-valued sweeps: endpoints (directions) and port.
  [
    'an unknown endpoint in a swept direction',
    edit((s) => (s.sweep = { endpoints: ['host->host', 'vm->host'], batch: [1] })),
    'scenario.sweep.endpoints[1]',
    /^'vm' is not an endpoint \(host, guest or emulated\) in "vm->host"$/,
  ],
  [
    'a direction that is not one',
    edit((s) => (s.sweep = { endpoints: ['guest to host'], batch: [1] })),
    'scenario.sweep.endpoints[0]',
    /^must be a direction like "guest->host" \(tx->rx, each host, guest or emulated\), got "guest to host"$/,
  ],
  [
    'a two-way direction for a stream',
    edit((s) => (s.sweep = { endpoints: ['guest<->host'], batch: [1] })),
    'scenario.sweep.endpoints[0]',
    /a stream goes one way, got "guest<->host"/,
  ],
  [
    'a number as a direction',
    edit((s) => (s.sweep = { endpoints: [42], batch: [1] })),
    'scenario.sweep.endpoints[0]',
    /must be a direction like .* got 42$/,
  ],
  [
    'the same direction twice',
    edit((s) => (s.sweep = { endpoints: ['guest->host', ' guest -> host '], batch: [1] })),
    'scenario.sweep.endpoints[1]',
    /^"guest->host" is already in the list$/,
  ],
  [
    'a bad top-level direction',
    edit((s) => (s.endpoints = 'guest=>host')),
    'scenario.endpoints',
    /must be a direction like "guest->host"/,
  ],
  [
    'a NIC as a swept port',
    edit((s) => (s.sweep = { port: ['pipe', 'nic'], batch: [1] })),
    'scenario.sweep.port[1]',
    /an emulated NIC is an endpoint/,
  ],
  [
    'an unknown swept port',
    edit((s) => (s.sweep = { port: ['tap'], batch: [1] })),
    'scenario.sweep.port[0]',
    /^must be one of pipe, vale, got "tap"$/,
  ],
  [
    'pktgen sweeping a chain parameter',
    edit((s) => (s.sweep = { vms: [false, true], batch: [1] })),
    'scenario.sweep.vms',
    /the pktgen experiment cannot vary vms \(it varies len, batch, ring, spinUs, port, endpoints, notify\)/,
  ],
  [
    "a spin that is neither 'auto' nor a number",
    edit((s) => (s.base = { spinUs: 'fast' })),
    'scenario.base.spinUs',
    /'auto' or a number/,
  ],
  // ping: the peer state, and its own mode and keys.
  [
    'ping with mode tx',
    { name: 'p', experiment: 'ping', mode: 'tx', sweep: { peer: ['awake'] } },
    'scenario.mode',
    /measures round trips: mode must be 'ping'/,
  ],
  [
    'ping sweeping batch',
    { name: 'p', experiment: 'ping', sweep: { batch: [1, 2] } },
    'scenario.sweep.batch',
    /the ping experiment cannot vary batch \(it varies len, ring, port, endpoints, peer, notify\)/,
  ],
  [
    'an unknown peer state',
    { name: 'p', experiment: 'ping', sweep: { peer: ['awake', 'dozing'] } },
    'scenario.sweep.peer[1]',
    /^must be one of awake, asleep, got "dozing"$/,
  ],
  [
    'a base peer state',
    { name: 'p', experiment: 'ping', base: { peer: 'sleepy' }, sweep: { len: [60] } },
    'scenario.base.peer',
    /one of awake, asleep/,
  ],
  [
    'ping with a spin time',
    { name: 'p', experiment: 'ping', base: { spinUs: 5 }, sweep: { peer: ['awake'] } },
    'scenario.base.spinUs',
    /not used by the ping experiment/,
  ],
  [
    'a bad ping pair',
    { name: 'p', experiment: 'ping', sweep: { endpoints: ['guest<->vm'], peer: ['awake'] } },
    'scenario.sweep.endpoints[0]',
    /'vm' is not an endpoint/,
  ],
  // chain: vms, n, and the keys it does not take.
  [
    'chain in ping mode',
    { name: 'c', experiment: 'chain', mode: 'ping', sweep: { vms: [false] } },
    'scenario.mode',
    /streams one way through its bridges: mode must be tx or txseq/,
  ],
  [
    'chain with endpoints',
    { name: 'c', experiment: 'chain', endpoints: { tx: 'guest', rx: 'host' }, sweep: { vms: [false] } },
    'scenario.endpoints',
    /not used by the chain experiment/,
  ],
  [
    'a chain of 9 bridges',
    { name: 'c', experiment: 'chain', sweep: { n: [1, 9] } },
    'scenario.sweep.n[1]',
    /from 1 to 8 \(bridges in the chain\), got 9/,
  ],
  [
    "vms as 'yes'",
    { name: 'c', experiment: 'chain', sweep: { vms: ['yes'] } },
    'scenario.sweep.vms[0]',
    /^must be true \(each bridge in a guest VM\) or false \(host apps\), got "yes"$/,
  ],
  [
    'chain with a NIC moderation',
    { name: 'c', experiment: 'chain', base: { moderation: 4 }, sweep: { vms: [false] } },
    'scenario.base.moderation',
    /not used by the chain experiment/,
  ],
  [
    'peers with a port',
    { name: 'q', experiment: 'peers', port: 'vale', sweep: { batch: [64] } },
    'scenario.port',
    /not used by the peers experiment/,
  ],
  // notify: the notification policy, a base value and a category sweep.
  [
    'an unknown base notify policy',
    edit((s) => (s.base = { notify: 'lazy' })),
    'scenario.base.notify',
    /^must be one of asleep, event-idx, adaptive, got "lazy"$/,
  ],
  [
    'a notify policy that is not a string',
    edit((s) => (s.base = { notify: true })),
    'scenario.base.notify',
    /^must be one of asleep, event-idx, adaptive, got true$/,
  ],
  [
    'an unknown swept notify policy',
    edit((s) => {
      s.sweep = { notify: ['asleep', 'eager'], batch: [1] };
      delete s.series;
    }),
    'scenario.sweep.notify[1]',
    /^must be one of asleep, event-idx, adaptive, got "eager"$/,
  ],
  [
    'the same notify policy twice',
    edit((s) => {
      s.sweep = { notify: ['adaptive', 'adaptive'], batch: [1] };
      delete s.series;
    }),
    'scenario.sweep.notify[1]',
    /^"adaptive" is already in the list$/,
  ],
  [
    'a ping notify sweep that is not a list',
    { name: 'p', experiment: 'ping', sweep: { notify: 'adaptive' } },
    'scenario.sweep.notify',
    /must be a list of 1 to 64 values, got "adaptive"/,
  ],
  [
    'a bad chain notify policy',
    { name: 'c', experiment: 'chain', base: { notify: 'event_idx' }, sweep: { vms: [false] } },
    'scenario.base.notify',
    /one of asleep, event-idx, adaptive, got "event_idx"/,
  ],
  [
    'peers with a notify policy',
    { name: 'q', experiment: 'peers', base: { notify: 'adaptive' }, sweep: { batch: [64] } },
    'scenario.base.notify',
    /not used by the peers experiment \(it takes len, batch, seconds\)/,
  ],
  [
    'peers sweeping notify',
    { name: 'q', experiment: 'peers', sweep: { notify: ['asleep'], batch: [64] } },
    'scenario.sweep.notify',
    /the peers experiment cannot vary notify \(it varies len, batch\)/,
  ],
];

describe('scenario validation', () => {
  it.each(BAD)('%s', (_what, input, path, problem) => {
    const r = checkScenario(input);
    expect(r.scenario).toBeUndefined();
    const hit = r.problems.find((p) => p.path === path);
    expect(hit, JSON.stringify(r.problems)).toBeDefined();
    expect(hit!.problem).toMatch(problem);
  });

  it('throws one ScenarioError (EINVAL) whose message is the first problem, and counts the rest', () => {
    let err: unknown;
    try {
      validateScenario({ ...good(), port: 'nic', sweep: { batch: [1, 2, 'x'] }, series: undefined });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ScenarioError);
    expect(err).toBeInstanceOf(NetmapError);
    const e = err as ScenarioError;
    expect(e.code).toBe('EINVAL');
    expect(e.problems.map((p) => p.path)).toEqual(['scenario.port', 'scenario.sweep.batch[2]']);
    expect(e.message).toMatch(/^scenario\.port: 'nic' is not a port type.* \(and 1 more problem\)$/);
    expect(e.message).not.toContain('\n');
  });

  it('fills in defaults, keeps the sweep order and expands the cartesian product, first key outermost', () => {
    const s = validateScenario({
      name: 'd',
      experiment: 'pktgen',
      port: 'pipe',
      mode: 'tx',
      sweep: { ring: [64, 128], batch: [1, 2, 4] },
    });
    // Only the keys the experiment uses; spinUs 'auto' (resolved per point from its threads).
    expect(s.base).toEqual(baseDefaults('pktgen'));
    expect(s.base.spinUs).toBe('auto');
    expect(s.endpoints).toEqual({ tx: 'host', rx: 'host' });
    expect(s.x).toBe('batch');
    expect(Object.keys(s.sweep)).toEqual(['ring', 'batch']);
    const pts = expandPoints(s);
    expect(pts).toHaveLength(6);
    expect(pts.map((p) => [p.ring, p.batch])).toEqual([
      [64, 1],
      [64, 2],
      [64, 4],
      [128, 1],
      [128, 2],
      [128, 4],
    ]);
    // Two host apps: 200 us of spin when both threads have a core.
    const spin = availableParallelism() >= 2 ? 200 : 0;
    expect(pts.every((p) => p.len === 60 && p.spinUs === spin)).toBe(true);
  });

  it('endpoints and port sweep as strings; endpoints become the series unless said otherwise', () => {
    const s = validateScenario({
      name: 'dirs',
      experiment: 'pktgen',
      sweep: { port: ['pipe', 'vale'], endpoints: ['host->host', ' guest -> host '], batch: [1, 64] },
    });
    expect(s.series).toBe('endpoints');
    expect(s.x).toBe('batch');
    // Swept and not named at the top: no single value to record.
    expect(s.port).toBeUndefined();
    expect(s.endpoints).toBeUndefined();
    expect(s.sweep.endpoints).toEqual(['host->host', 'guest->host']);
    const pts = expandPoints(s, 2);
    expect(pts).toHaveLength(8);
    expect(pts[0]).toMatchObject({ port: 'pipe', endpoints: 'host->host', batch: 1, spinUs: 200 });
    // A guest adds its kloop: 3 threads on 2 cores, so 'auto' does not spin.
    expect(pts[2]).toMatchObject({ port: 'pipe', endpoints: 'guest->host', batch: 1, spinUs: 0 });
    expect(pts[7]).toMatchObject({ port: 'vale', endpoints: 'guest->host', batch: 64 });
    // endpoints on x: no series is forced.
    const onX = validateScenario({
      name: 'x',
      experiment: 'pktgen',
      sweep: { endpoints: ['host->host'], port: ['pipe'] },
      x: 'endpoints',
    });
    expect(onX.series).toBeUndefined();
    // Alone, endpoints is the x axis; a string direction at the top level is accepted.
    expect(validateScenario({ name: 'a', experiment: 'pktgen', sweep: { endpoints: ['host->guest'] } }).x).toBe(
      'endpoints',
    );
    expect(
      validateScenario({ name: 'b', experiment: 'pktgen', endpoints: 'emulated->host', sweep: { batch: [1] } })
        .endpoints,
    ).toEqual({
      tx: 'emulated',
      rx: 'host',
    });
  });

  it('ping and chain: defaults, canonical pairs, and spin from the peer state', () => {
    const p = validateScenario({
      name: 'p',
      experiment: 'ping',
      sweep: { endpoints: ['guest->host', 'host<->host'], peer: ['awake', 'asleep'] },
    });
    expect(p.mode).toBe('ping');
    expect(p.sweep.endpoints).toEqual(['guest<->host', 'host<->host']);
    expect(p.series).toBe('endpoints');
    expect(p.x).toBe('peer');
    const pts = expandPoints(p, 2);
    expect(pts.map((q) => [q.endpoints, q.peer, q.spinUs, q.batch])).toEqual([
      ['guest<->host', 'awake', 1e7, 1],
      ['guest<->host', 'asleep', 0, 1],
      ['host<->host', 'awake', 1e7, 1],
      ['host<->host', 'asleep', 0, 1],
    ]);
    const c = validateScenario({ name: 'c', experiment: 'chain', base: { n: 2 }, sweep: { vms: [false, true] } });
    expect(c.mode).toBe('tx');
    expect(c.port).toBe('pipe');
    expect(c.endpoints).toBeUndefined();
    expect(expandPoints(c, 2).map((q) => [q.n, q.vms, q.spinUs])).toEqual([
      [2, false, 0],
      [2, true, 0],
    ]);
  });

  it('notify: a base value (default asleep) and a sweep for pktgen, ping and chain, on every point', () => {
    const s = validateScenario({
      name: 'n',
      experiment: 'pktgen',
      endpoints: 'guest->host',
      sweep: { notify: ['asleep', 'event-idx', 'adaptive'], batch: [1, 64] },
      series: 'notify',
    });
    expect(s.base.notify).toBe('asleep');
    expect(s.sweep.notify).toEqual(['asleep', 'event-idx', 'adaptive']);
    expect(s.series).toBe('notify');
    expect(s.x).toBe('batch');
    expect(expandPoints(s, 2).map((p) => [p.notify, p.batch])).toEqual([
      ['asleep', 1],
      ['asleep', 64],
      ['event-idx', 1],
      ['event-idx', 64],
      ['adaptive', 1],
      ['adaptive', 64],
    ]);
    const ping = validateScenario({
      name: 'p',
      experiment: 'ping',
      base: { notify: 'adaptive' },
      sweep: { peer: ['asleep'] },
    });
    expect(expandPoints(ping, 2).map((p) => p.notify)).toEqual(['adaptive']);
    const chain = validateScenario({
      name: 'c',
      experiment: 'chain',
      base: { notify: 'event-idx' },
      sweep: { vms: [false, true] },
    });
    expect(expandPoints(chain, 2).map((p) => p.notify)).toEqual(['event-idx', 'event-idx']);
    // peers has no policy (its transports are not netmap ports).
    const peers = validateScenario({ name: 'q', experiment: 'peers', sweep: { batch: [64] } });
    expect(peers.base.notify).toBeUndefined();
    expect(expandPoints(peers, 2)[0].notify).toBeUndefined();
  });

  it('loads the built-in scenarios by name, and names the file when it cannot be read', () => {
    expect(builtinScenarios()).toEqual(
      expect.arrayContaining([
        'pipe-batch',
        'pipe-ring-batch',
        'vale-batch',
        'throughput-pipe',
        'throughput-vale',
        'passthrough-vs-emulated',
        'latency',
        'chain',
        'peers',
        'notify-policies',
      ]),
    );
    // Every built-in validates (loadScenario throws otherwise) and stays a few minutes at most.
    for (const n of builtinScenarios())
      expect(expandPoints(loadScenario(n).scenario).length, n).toBeLessThanOrEqual(80);
    const pb = loadScenario('pipe-batch');
    expect(pb.builtin).toBe(true);
    expect(pb.scenario.sweep.batch).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 512]);
    expect(pb.scenario.base.len).toBe(60);
    const prb = loadScenario('pipe-ring-batch').scenario;
    expect(prb.series).toBe('ring');
    expect(prb.sweep.ring).toEqual([256, 512, 1024, 2048]);
    expect(expandPoints(prb).length).toBeLessThanOrEqual(40);
    // The talk's experiment 2: pkt-gen in the guest, sending to the host.
    expect(prb.endpoints).toEqual({ tx: 'guest', rx: 'host' });
    expect(prb.base.notify).toBe('asleep');
    const np = loadScenario('notify-policies').scenario;
    expect(np).toMatchObject({ experiment: 'pktgen', port: 'pipe', series: 'notify', x: 'batch' });
    expect(np.endpoints).toEqual({ tx: 'guest', rx: 'host' });
    expect(np.base).toMatchObject({ ring: 1024, seconds: 1 });
    expect(np.sweep).toEqual({ notify: ['asleep', 'event-idx', 'adaptive'], batch: [1, 4, 16, 64, 256, 1024] });
    expect(() => loadScenario('no-such-scenario')).toThrow(/^no-such-scenario: no such file, and not a built-in/);
    const dir = mkdtempSync(join(tmpdir(), 'sabnetmap-scn-'));
    try {
      const f = join(dir, 'bad.json');
      writeFileSync(f, '{"name": ');
      expect(() => loadScenario(f)).toThrow(/bad\.json: not valid JSON/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('plot', () => {
  it('draws one polyline per series, a legend entry per series, and escapes labels', () => {
    const svg = renderPlot({
      title: 't <1>',
      xLabel: 'batch',
      xName: 'batch',
      yLabel: 'Mpps',
      yUnit: 'Mpps',
      xLog2: true,
      series: ['a<b', 'c&d', 'e'].map((label, i) => ({
        label,
        points: [1, 4, 16].map((x) => ({ x, y: x * (i + 1), yMin: x * (i + 1) - 0.5, yMax: x * (i + 1) + 0.5 })),
      })),
    });
    expect(svg.match(/<polyline /g)).toHaveLength(3);
    expect(svg.match(/<circle class="point"/g)).toHaveLength(9);
    expect(svg).toContain('data-series="a&#60;b"');
    expect(svg).toContain('>c&#38;d</text>');
    expect(svg).not.toContain('a<b');
    expect(svg).toContain('>16</text>'); // a log2 tick
  });
});

/** A minimal CSV reader for the runner's own output (quoted cells only hold commas and quotes). */
function parseCsv(text: string): string[][] {
  return text
    .trimEnd()
    .split('\n')
    .map((line) => {
      const out: string[] = [];
      let cell = '';
      let q = false;
      for (let i = 0; i < line.length; i++) {
        const ch = line[i];
        if (q) {
          if (ch === '"' && line[i + 1] === '"') {
            cell += '"';
            i++;
          } else if (ch === '"') q = false;
          else cell += ch;
        } else if (ch === '"') q = true;
        else if (ch === ',') {
          out.push(cell);
          cell = '';
        } else cell += ch;
      }
      out.push(cell);
      return out;
    });
}

describe('a tiny sweep end to end', () => {
  let out: string;
  beforeAll(() => {
    requireBuilt();
    out = mkdtempSync(join(tmpdir(), 'sabnetmap-bench-'));
  });
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('writes points.json, points.csv, plot.svg and report.md whose numbers agree', async () => {
    // base.seconds 5 is overridden to 0.3 (the CLI's --seconds).
    const s = validateScenario({ ...good(), base: { seconds: 5, warmupMs: 50, reportMs: 100 } });
    let progress = '';
    const r = await runScenario(s, { outDir: out, seconds: 0.3, progress: (t) => void (progress += t) });
    expect(r.failed).toBe(0);
    expect(r.dir.startsWith(out)).toBe(true);
    expect(r.dir).toMatch(/\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ-ok$/);
    for (const f of Object.values(FILES)) expect(existsSync(join(r.dir, f)), f).toBe(true);

    // Progress: one line per point, in sweep order (ring outer, batch inner).
    expect(progress).toMatch(/\[1\/4\] ring=128 batch=16 \.\.\. [\d.]+ Mpps/);
    expect(progress).toMatch(/\[4\/4\] ring=512 batch=64 \.\.\. [\d.]+ Mpps/);

    const doc = JSON.parse(readFileSync(join(r.dir, FILES.json), 'utf8')) as ResultsDoc;
    expect(doc.complete).toBe(true);
    expect(doc.scenario.base.seconds).toBe(0.3);
    expect(doc.machine.cores).toBeGreaterThanOrEqual(1);
    expect(doc.machine.node).toBe(process.version);
    expect(typeof doc.machine.cpuModel).toBe('string');
    expect(doc.points).toHaveLength(4);
    expect(doc.points.map((p) => [p.params.ring, p.params.batch])).toEqual([
      [128, 16],
      [128, 64],
      [512, 16],
      [512, 64],
    ]);
    for (const p of doc.points) {
      expect(p.error).toBeNull();
      expect(p.metrics).not.toBeNull();
      const m = p.metrics!;
      expect(m.packets).toBeGreaterThan(0);
      expect(m.drops).toBe(0);
      expect(m.mppsMin).toBeLessThanOrEqual(m.mpps);
      expect(m.mpps).toBeLessThanOrEqual(m.mppsMax);
      expect(m.threads).toBe(2);
      expect(p.line).toBe(`ring=${p.params.ring}`);
    }
    expect(doc.plot.lines).toEqual(['ring=128', 'ring=512']);

    // CSV: one row per point, every cell equal to the JSON's value.
    const [header, ...rows] = parseCsv(readFileSync(join(r.dir, FILES.csv), 'utf8'));
    expect(header).toEqual(CSV_COLUMNS.map(([n]) => n));
    expect(rows).toHaveLength(doc.points.length);
    rows.forEach((row, i) => {
      const p = doc.points[i];
      const col = (n: string) => row[header.indexOf(n)];
      expect(Number(col('point'))).toBe(p.point);
      expect(col('line')).toBe(p.line);
      for (const k of ['len', 'batch', 'ring', 'spinUs'] as const) expect(Number(col(k)), k).toBe(p.params[k]);
      for (const [k, v] of Object.entries(p.metrics!)) {
        if (v === null) expect(col(k), k).toBe('');
        else expect(Number(col(k)), k).toBe(v);
      }
    });

    // SVG: one polyline per series, the series labels, and every marker at its JSON value.
    const svg = readFileSync(join(r.dir, FILES.svg), 'utf8');
    expect(svg.match(/<polyline /g)).toHaveLength(doc.plot.lines.length);
    for (const line of doc.plot.lines) {
      expect(svg).toContain(`data-series="${line}"`);
      expect(svg).toContain(`>${line}</text>`);
    }
    const groups = svg.split('<g class="series"').slice(1);
    expect(groups).toHaveLength(2);
    for (const g of groups) {
      const label = /data-series="([^"]+)"/.exec(g)![1];
      const markers = [...g.matchAll(/data-x="([^"]+)" data-y="([^"]+)" data-y-min="([^"]+)" data-y-max="([^"]+)"/g)];
      expect(markers).toHaveLength(2);
      for (const [, x, y, lo, hi] of markers) {
        const p = doc.points.find((q) => q.line === label && q.params.batch === Number(x))!;
        expect(p, `${label} batch=${x}`).toBeDefined();
        expect(Number(y)).toBe(p.metrics!.mpps);
        expect(Number(lo)).toBe(p.metrics!.mppsMin);
        expect(Number(hi)).toBe(p.metrics!.mppsMax);
      }
    }

    // The report embeds the plot and says what it shows.
    const md = readFileSync(join(r.dir, FILES.report), 'utf8');
    expect(md).toContain(`](${FILES.svg})`);
    expect(md).toMatch(/against batch .* one line per ring/);
    expect(md).toContain(doc.machine.node);
  }, 30_000);

  it('points.csv has the CPU accounting sums, points.json the per-thread figures', async () => {
    const s = validateScenario({
      name: 'cpu',
      experiment: 'pktgen',
      base: { seconds: 0.2, warmupMs: 50, reportMs: 100 },
      sweep: { batch: [64] },
    });
    const r = await runScenario(s, { outDir: out, progress: () => {} });
    const [header, row] = parseCsv(readFileSync(r.files.csv, 'utf8'));
    for (const k of ['cpuNsPerPacket', 'spinNsPerPacket', 'busyNsPerPacket', 'projectedMpps', 'cpuModel']) {
      expect(header).toContain(k);
    }
    expect(header).not.toContain('cpu');
    const p = r.doc.points[0];
    expect(p.cpuThreads?.map((t) => t.role)).toEqual(['host tx', 'host rx']);
    expect(row[header.indexOf('busyNsPerPacket')]).toBe(String(p.metrics!.busyNsPerPacket ?? ''));
    if (process.platform === 'linux') expect(p.metrics!.busyNsPerPacket).toBeGreaterThan(0);
  }, 30_000);

  it('a sweep over notify: a line per policy, and points.json and points.csv carry the policy of each point', async () => {
    const s = validateScenario({
      name: 'pol',
      experiment: 'pktgen',
      base: { seconds: 0.2, warmupMs: 50, reportMs: 100 },
      sweep: { notify: ['asleep', 'event-idx', 'adaptive'], batch: [32] },
      series: 'notify',
    });
    const r = await runScenario(s, { outDir: out, progress: () => {} });
    expect(r.failed).toBe(0);
    const doc = JSON.parse(readFileSync(r.files.json, 'utf8')) as ResultsDoc;
    expect(doc.points.map((p) => p.params.notify)).toEqual(['asleep', 'event-idx', 'adaptive']);
    expect(doc.points.map((p) => p.line)).toEqual(['notify asleep', 'notify event-idx', 'notify adaptive']);
    expect(doc.plot.lines).toEqual(['notify asleep', 'notify event-idx', 'notify adaptive']);
    for (const p of doc.points) expect(p.metrics!.packets).toBeGreaterThan(0);
    const [header, ...rows] = parseCsv(readFileSync(r.files.csv, 'utf8'));
    expect(header).toContain('notify');
    expect(rows.map((row) => row[header.indexOf('notify')])).toEqual(['asleep', 'event-idx', 'adaptive']);
    // The table shows the swept policy.
    const md = readFileSync(r.files.report, 'utf8');
    expect(md).toMatch(/^\| point \| notify \| batch \|/m);
    expect(md).toMatch(/^\| 2 \| event-idx \| 32 \|/m);
    expect(md).toMatch(/one line per notify policy/);
  }, 30_000);

  it('refuses to trace a peers scenario before anything runs (EINVAL)', async () => {
    const s = validateScenario({ name: 'pt', experiment: 'peers', base: { seconds: 0.1 }, sweep: { batch: [64] } });
    const dir = join(out, 'peers-trace');
    const err = await runScenario(s, { dir, trace: true, progress: () => {} }).catch((e) => e);
    expect(err).toBeInstanceOf(NetmapError);
    expect((err as NetmapError).code).toBe('EINVAL');
    expect((err as Error).message).toMatch(/trace is not available for the peers experiment/);
    expect(existsSync(dir)).toBe(false);
  });
});

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p tsconfig.build.json)`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => void (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => void (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A Chrome trace as the runner and pkt-gen write it. */
interface ChromeTraceFile {
  traceEvents: Array<{ name: string; ph: string; tid: number; ts?: number; dur?: number; args?: { name?: string } }>;
}

describe('sabnetmap bench run --trace', () => {
  let dir: string;
  beforeAll(() => {
    requireBuilt();
    dir = mkdtempSync(join(tmpdir(), 'sabnetmap-trace-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes trace-<point>.json per point: Chrome trace JSON, a named thread per role, its sleeps and syncs', async () => {
    const f = join(dir, 'tr.json');
    // Spin 0: the threads sleep as soon as they run out of work, so there are sleeps to see.
    writeFileSync(
      f,
      JSON.stringify({
        name: 'tr',
        experiment: 'pktgen',
        base: { seconds: 0.2, warmupMs: 50, reportMs: 100, spinUs: 0 },
        sweep: { notify: ['asleep', 'adaptive'] },
      }),
    );
    const r = await cli(['bench', 'run', f, '--trace', '--out', dir, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as ResultsDoc & { dir: string };
    expect(doc.points.map((p) => p.trace)).toEqual(['trace-1.json', 'trace-2.json']);
    for (const p of doc.points) {
      const file = join(doc.dir, p.trace!);
      expect(existsSync(file), file).toBe(true);
      const t = JSON.parse(readFileSync(file, 'utf8')) as ChromeTraceFile;
      expect(Array.isArray(t.traceEvents)).toBe(true);
      const names = t.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name');
      expect(names.map((e) => e.args?.name)).toEqual(['host tx', 'host rx']);
      expect(new Set(names.map((e) => e.tid)).size).toBe(2);
      const sleeps = t.traceEvents.filter((e) => e.name === 'sleep');
      expect(sleeps.length).toBeGreaterThan(0);
      for (const e of sleeps) {
        expect(e.ph).toBe('X');
        expect(e.dur).toBeGreaterThanOrEqual(0);
      }
      expect(t.traceEvents.some((e) => e.name === 'txsync')).toBe(true);
      expect(t.traceEvents.some((e) => e.name === 'rxsync')).toBe(true);
    }
  }, 60_000);
});

describe('sabnetmap bench run: bad input', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sabnetmap-cli-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    [
      'a bad sweep value',
      { ...good(), sweep: { batch: [1, 2, 'x'] }, series: undefined },
      /^sabnetmap: scenario\.sweep\.batch\[2\]: must be a positive integer, got "x"$/,
    ],
    ['a NIC as a port', { ...good(), port: 'nic' }, /^sabnetmap: scenario\.port: 'nic' is not a port type/],
    [
      'a bad swept direction',
      { ...good(), sweep: { endpoints: ['host->vm'], batch: [1] }, series: undefined },
      /^sabnetmap: scenario\.sweep\.endpoints\[0\]: 'vm' is not an endpoint/,
    ],
  ])('%s: one line naming the path, exit 2', async (_what, scenario, line) => {
    const f = join(dir, 'bad.json');
    writeFileSync(f, JSON.stringify(scenario));
    const r = await cli(['bench', 'run', f, '--out', dir]);
    expect(r.code, r.stderr).toBe(2);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(line);
  });

  it('an unknown built-in lists the built-ins', async () => {
    const r = await cli(['bench', 'run', 'pipe-nope']);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd()).toMatch(
      /^sabnetmap: pipe-nope: no such file, and not a built-in scenario \(.*pipe-batch/,
    );
  });

  it('a bad --seconds', async () => {
    const r = await cli(['bench', 'run', 'pipe-batch', '--seconds', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd()).toMatch(/^sabnetmap: --seconds must be/);
  });
});
