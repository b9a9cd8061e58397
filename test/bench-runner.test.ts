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
import { plotSvg } from '../bench/describe.js';
import { renderPlot } from '../bench/plot.js';
import { CSV_COLUMNS } from '../bench/report.js';
import { EXPERIMENTS, FILES, makeMetrics, type PointRecord, type ResultsDoc, runScenario } from '../bench/runner.js';
import {
  baseDefaults,
  builtinScenarios,
  checkScenario,
  expandPoints,
  formatParam,
  isNicScenario,
  lineKeys,
  loadScenario,
  paramValue,
  type Scenario,
  ScenarioError,
  validateScenario,
} from '../bench/scenario.js';
import { NetmapError } from '../src/errors.js';
import { lineRateMpps } from '../src/nic/line.js';
import { BAD_SCENARIOS as BAD, good } from './fixtures/scenarios.js';
import { requireBuilt } from './helpers.js';

const CLI = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));

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
      validateScenario({ ...good(), port: 'tap', sweep: { batch: [1, 2, 'x'] }, series: undefined });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ScenarioError);
    expect(err).toBeInstanceOf(NetmapError);
    const e = err as ScenarioError;
    expect(e.code).toBe('EINVAL');
    expect(e.problems.map((p) => p.path)).toEqual(['scenario.port', 'scenario.sweep.batch[2]']);
    expect(e.message).toMatch(/^scenario\.port: must be one of pipe, vale, nic, got "tap" \(and 1 more problem\)$/);
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
    // Awake spins only where every thread has a core: a guest's kloop makes three on two.
    expect(pts.map((q) => [q.endpoints, q.peer, q.spinUs, q.batch])).toEqual([
      ['guest<->host', 'awake', 0, 1],
      ['guest<->host', 'asleep', 0, 1],
      ['host<->host', 'awake', 1e7, 1],
      ['host<->host', 'asleep', 0, 1],
    ]);
    expect(expandPoints(p, 3)[0].spinUs).toBe(1e7);
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

  it('a NIC port: host->wire by default, a 10G line in its base and no moderation; pipes keep their base', () => {
    const s = validateScenario({ name: 'n', experiment: 'pktgen', port: 'nic', sweep: { batch: [1, 64] } });
    expect(s.port).toBe('nic');
    expect(s.endpoints).toEqual({ tx: 'host', rx: 'wire' });
    expect(s.base).toEqual(baseDefaults('pktgen', 'nic'));
    expect(s.base.line).toBe('10G');
    expect(s.base.moderation).toBeUndefined();
    // A pipe's base has no line rate, and keeps the emulated NIC's moderation.
    expect(baseDefaults('pktgen')).not.toHaveProperty('line');
    expect(baseDefaults('pktgen').moderation).toBe(1);
  });

  it('a NIC port sweeps directions to and from the wire and line rates: every point has its line, endpoints and spin', () => {
    const s = validateScenario({
      name: 'pp',
      experiment: 'pktgen',
      port: 'nic',
      base: { line: '40G' },
      sweep: {
        endpoints: ['host->wire', ' guest -> wire ', 'wire->host', 'wire->guest'],
        line: ['10G', '25G'],
        batch: [16],
      },
    });
    expect(s.sweep.endpoints).toEqual(['host->wire', 'guest->wire', 'wire->host', 'wire->guest']);
    expect(s.series).toBe('endpoints');
    expect(s.x).toBe('batch');
    expect(lineKeys(s)).toEqual(['endpoints', 'line']);
    expect(isNicScenario(s)).toBe(true);
    // A host app and the wire are 2 threads (200 us of spin on 2 cores); a guest adds its kloop (none).
    expect(expandPoints(s, 2).map((p) => [p.endpoints, p.line, p.spinUs, p.port])).toEqual([
      ['host->wire', '10G', 200, 'nic'],
      ['host->wire', '25G', 200, 'nic'],
      ['guest->wire', '10G', 0, 'nic'],
      ['guest->wire', '25G', 0, 'nic'],
      ['wire->host', '10G', 200, 'nic'],
      ['wire->host', '25G', 200, 'nic'],
      ['wire->guest', '10G', 0, 'nic'],
      ['wire->guest', '25G', 0, 'nic'],
    ]);
  });

  it('a NIC port takes its endpoints as an object with the wire on one side, and mode txseq', () => {
    const s = validateScenario({
      name: 'n',
      experiment: 'pktgen',
      sweep: { port: ['nic'], batch: [1] },
      endpoints: { tx: 'wire', rx: 'guest' },
      mode: 'txseq',
    });
    expect(s.endpoints).toEqual({ tx: 'wire', rx: 'guest' });
    expect(s.mode).toBe('txseq');
    expect(isNicScenario(s)).toBe(true);
    expect(expandPoints(s, 2)[0]).toMatchObject({ port: 'nic', endpoints: 'wire->guest', line: '10G', spinUs: 0 });
  });

  it('the built-in physical-port: host and guest, TX and RX, batch 1 to 512 at 10G and 40G, under 2.5 minutes', () => {
    const { scenario: s, builtin } = loadScenario('physical-port');
    expect(builtin).toBe(true);
    expect(s).toMatchObject({ experiment: 'pktgen', port: 'nic', mode: 'tx', series: 'endpoints', x: 'batch' });
    expect(s.base).toMatchObject({ len: 60, ring: 1024, seconds: 1 });
    expect(s.sweep).toEqual({
      endpoints: ['host->wire', 'guest->wire', 'wire->host', 'wire->guest'],
      line: ['10G', '40G'],
      batch: [1, 4, 16, 64, 256, 512],
    });
    const points = expandPoints(s).length;
    expect(points * EXPERIMENTS.pktgen.estimate(s)).toBeLessThan(150);
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
        'physical-port',
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

  it('draws a reference line dashed across the plot with its label, and the y axis reaches it', () => {
    const svg = renderPlot({
      title: 't',
      xLabel: 'batch',
      xName: 'batch',
      yLabel: 'Mpps',
      yUnit: 'Mpps',
      xLog2: true,
      refLines: [{ y: 14.88, label: '10G line rate' }],
      series: [{ label: 'a', points: [1, 4].map((x) => ({ x, y: 2 })) }],
    });
    const ref =
      /<g class="ref-line" data-y="14.88"><line [^>]*stroke-dasharray="7 4"\/><text [^>]*>10G line rate<\/text><\/g>/;
    expect(svg).toMatch(ref);
    // The highest y tick is at or above the line (the data alone would stop at 2).
    const ticks = [
      ...svg
        .split('<g class="y-ticks"')[1]
        .split('</g>')[0]
        .matchAll(/>([\d.]+)<\/text>/g),
    ].map((m) => Number(m[1]));
    expect(Math.max(...ticks)).toBeGreaterThanOrEqual(14.88);
  });

  it("a NIC scenario's plot draws each line rate at the points' frame length, labelled", () => {
    const s = validateScenario({
      name: 'pp',
      experiment: 'pktgen',
      port: 'nic',
      sweep: { endpoints: ['host->wire', 'wire->guest'], line: ['10G', '40G'], batch: [16, 64] },
    });
    const svg = plotSvg(syntheticDoc(s));
    expect(svg.match(/<g class="ref-line"/g)).toHaveLength(2);
    // 60-byte frames: 84 byte-times each on the wire.
    expect(svg).toContain(`data-y="${lineRateMpps(10e9, 60)}"`);
    expect(svg).toContain('>10G line rate (14.88 Mpps)</text>');
    expect(svg).toContain('>40G line rate (59.52 Mpps)</text>');
  });

  it("a NIC scenario sweeping the frame length names the length on each line rate's label", () => {
    const s = validateScenario({ name: 'pl', experiment: 'pktgen', port: 'nic', sweep: { len: [60, 1514] } });
    const svg = plotSvg(syntheticDoc(s));
    expect(svg.match(/<g class="ref-line"/g)).toHaveLength(2);
    expect(svg).toContain('>10G line rate, 60 B (14.88 Mpps)</text>');
    expect(svg).toContain(`>10G line rate, 1514 B (${lineRateMpps(10e9, 1514).toFixed(2)} Mpps)</text>`);
  });

  it("a pipe scenario's plot draws no line rate", () => {
    const svg = plotSvg(syntheticDoc(validateScenario(good())));
    expect(svg).not.toContain('ref-line');
    expect(svg).not.toContain('line rate');
  });
});

/** A results document for a scenario's points with made-up figures (no workers: for the plots). */
function syntheticDoc(s: Scenario): ResultsDoc {
  const points = expandPoints(s, 2).map(
    (params, i): PointRecord => ({
      point: i + 1,
      params,
      variant: null,
      line: lineKeys(s)
        .map((k) => formatParam(k, paramValue(params, k)))
        .join(' '),
      error: null,
      metrics: makeMetrics({ mpps: i + 1, mppsMin: i, mppsMax: i + 2, packets: 1000, threads: 2, cores: 2 }),
      intervalMpps: [],
      cpuThreads: null,
    }),
  );
  return {
    tool: { name: 'sabnetmap', version: '0' },
    scenario: s,
    source: null,
    command: null,
    machine: {
      cpuModel: 'cpu',
      cores: 2,
      node: 'v20',
      platform: 'linux',
      arch: 'x64',
      memoryBytes: 1,
      loadavg: [0, 0, 0],
    },
    started: new Date(0).toISOString(),
    finished: new Date(1000).toISOString(),
    complete: true,
    partial: false,
    plannedPoints: points.length,
    plot: {
      file: 'plot.svg',
      x: s.x,
      series: s.series ?? null,
      y: 'mpps',
      lines: [...new Set(points.map((p) => p.line))],
      events: null,
    },
    points,
  };
}

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
    [
      'an emulated endpoint on a NIC port',
      { ...good(), port: 'nic', endpoints: 'emulated->wire', sweep: { batch: [1] }, series: undefined },
      /^sabnetmap: scenario\.endpoints: 'emulated' is not an endpoint on port 'nic': an emulated NIC is a guest's endpoint/,
    ],
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
