/**
 * The benchmark runner's newer kinds end to end, tiny: a sweep over endpoints (host and
 * passthrough guest), the ping experiment (peer awake/asleep) and the chain experiment
 * (host apps/VMs), each writing JSON, CSV, two SVG plots and a report whose numbers
 * agree; the live progress bar; the flagship run. No timing assertions.
 * Workers run from dist/ (`npm run build` first).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENTS } from '../bench/describe.js';
import { runFlagship } from '../bench/flagship.js';
import { escapeXml } from '../bench/plot.js';
import { LiveProgress } from '../bench/progress.js';
import { CSV_COLUMNS, csvParamColumn } from '../bench/report.js';
import { type PointRecord, type ResultsDoc, type RunResult, runScenario } from '../bench/runner.js';
import { type SweepParam, validateScenario } from '../bench/scenario.js';
import { NetmapError } from '../src/errors.js';
import { lineRateMpps } from '../src/nic/line.js';
import { requireBuilt } from './helpers.js';

const TINY = { seconds: 0.2, warmupMs: 50, reportMs: 100 };

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

/** The SVG's series groups: label -> markers (data-x as written, data-y, data-y-min, data-y-max). */
function svgSeries(svg: string): Map<string, Array<{ x: string; y: number; lo?: number; hi?: number }>> {
  const out = new Map<string, Array<{ x: string; y: number; lo?: number; hi?: number }>>();
  for (const g of svg.split('<g class="series"').slice(1)) {
    const label = /data-series="([^"]+)"/.exec(g)![1];
    const marks = [
      ...g.matchAll(/data-x="([^"]+)" data-y="([^"]+)"(?: data-y-min="([^"]+)")?(?: data-y-max="([^"]+)")?/g),
    ];
    out.set(
      label,
      marks.map(([, x, y, lo, hi]) => ({
        x,
        y: Number(y),
        ...(lo === undefined ? {} : { lo: Number(lo) }),
        ...(hi === undefined ? {} : { hi: Number(hi) }),
      })),
    );
  }
  return out;
}

/**
 * Every file of a run agrees with points.json: CSV cells, the main plot's markers (y, and
 * the bars from `lo`/`hi`), the events plot's series (one per line and kind that
 * happened), and the report's table (each figure as printed).
 */
function checkAgreement(
  r: RunResult,
  y: {
    y: keyof NonNullable<PointRecord['metrics']>;
    lo: keyof NonNullable<PointRecord['metrics']>;
    hi: keyof NonNullable<PointRecord['metrics']>;
  },
): ResultsDoc {
  const doc = JSON.parse(readFileSync(r.files.json, 'utf8')) as ResultsDoc;
  expect(doc.complete).toBe(true);
  expect(
    doc.points.every((p) => p.metrics !== null && p.error === null),
    JSON.stringify(doc.points),
  ).toBe(true);

  // CSV: every cell is the JSON's value, parameters (strings too) and metrics, and the machine.
  const [header, ...rows] = parseCsv(readFileSync(r.files.csv, 'utf8'));
  expect(header).toEqual(CSV_COLUMNS.map(([n]) => n));
  expect(rows).toHaveLength(doc.points.length);
  rows.forEach((row, i) => {
    const p = doc.points[i];
    const col = (n: string) => row[header.indexOf(n)];
    expect(col('line')).toBe(p.line);
    for (const [k, v] of Object.entries(p.params)) expect(col(csvParamColumn(k as SweepParam)), k).toBe(String(v));
    for (const [k, v] of Object.entries(p.metrics!)) expect(col(k), k).toBe(v === null ? '' : String(v));
    expect(col('cpuModel')).toBe(doc.machine.cpuModel);
    expect(col('node')).toBe(doc.machine.node);
  });

  // Main plot: a series per line, each marker at its point's JSON values.
  const x = doc.scenario.x as SweepParam;
  const svg = readFileSync(r.files.svg, 'utf8');
  const series = svgSeries(svg);
  expect([...series.keys()]).toEqual(doc.plot.lines.map(escapeXml));
  for (const line of doc.plot.lines) expect(svg).toContain(`>${escapeXml(line)}</text>`); // the legend
  for (const [label, marks] of series) {
    const recs = doc.points.filter((p) => escapeXml(p.line) === label);
    expect(marks).toHaveLength(recs.length);
    for (const mk of marks) {
      const p = recs.find((q) => escapeXml(String(q.params[x])) === mk.x)!;
      expect(p, `${label} ${x}=${mk.x}`).toBeDefined();
      expect(mk.y).toBe(p.metrics![y.y]);
      expect(mk.lo).toBe(p.metrics![y.lo]);
      expect(mk.hi).toBe(p.metrics![y.hi]);
    }
  }

  // Events plot: exactly the (line, kind) pairs with a non-zero rate somewhere, at their values.
  const ev = svgSeries(readFileSync(r.files.events!, 'utf8'));
  const want = new Map<string, PointRecord[]>();
  for (const line of doc.plot.lines) {
    for (const e of EVENTS) {
      const recs = doc.points.filter((p) => p.line === line && (p.metrics![e.key] ?? 0) > 0);
      if (recs.length > 0) want.set(escapeXml(`${line}: ${e.name}`), recs);
    }
  }
  expect([...ev.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [label, recs] of want) {
    const kind = EVENTS.find((e) => label.endsWith(`: ${e.name}`))!;
    expect(ev.get(label)!.map((m) => m.y)).toEqual(recs.map((p) => p.metrics![kind.key]));
  }

  // Report: both plots embedded, and each point's row with its figures as printed.
  const md = readFileSync(r.files.report, 'utf8');
  expect(md).toContain('](plot.svg)');
  expect(md).toContain('](events.svg)');
  expect(md).toContain(doc.machine.cpuModel);
  for (const p of doc.points) {
    const rowLine = md.split('\n').find((l) => l.startsWith(`| ${p.point} |`));
    expect(rowLine, `row ${p.point}`).toBeDefined();
    for (const k of Object.keys(doc.scenario.sweep)) {
      expect(rowLine).toContain(`| ${String(p.params[k as SweepParam])} |`);
    }
    expect(rowLine).toContain(`| ${p.metrics!.threads}/${p.metrics!.cores} |`);
    if (doc.scenario.experiment === 'ping') expect(rowLine).toContain(`| ${p.metrics!.rttMedianUs!.toFixed(2)} |`);
    else expect(rowLine).toContain(`| ${p.metrics!.mpps.toFixed(2)} |`);
  }
  return doc;
}

describe('bench kinds end to end (tiny)', () => {
  let out: string;
  beforeAll(() => {
    requireBuilt();
    out = mkdtempSync(join(tmpdir(), 'sabnetmap-kinds-'));
  });
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('a sweep over endpoints: one line per direction in JSON, CSV, both plots and the report', async () => {
    const s = validateScenario({
      name: 'dirs',
      experiment: 'pktgen',
      base: TINY,
      sweep: { endpoints: ['host->host', 'guest->host'], batch: [16, 64] },
    });
    expect(s.series).toBe('endpoints');
    let progress = '';
    const r = await runScenario(s, { outDir: out, progress: (t) => void (progress += t) });
    expect(r.failed).toBe(0);
    expect(progress).toMatch(/\[3\/4\] endpoints=guest->host batch=16 \.\.\. [\d.]+ Mpps/);
    const doc = checkAgreement(r, { y: 'mpps', lo: 'mppsMin', hi: 'mppsMax' });
    expect(doc.plot.lines).toEqual(['host->host', 'guest->host']);
    expect(doc.points.map((p) => [p.params.endpoints, p.params.batch, p.metrics!.threads])).toEqual([
      ['host->host', 16, 2],
      ['host->host', 64, 2],
      ['guest->host', 16, 3],
      ['guest->host', 64, 3],
    ]);
    for (const p of doc.points) {
      expect(p.metrics!.packets).toBeGreaterThan(0);
      expect(p.metrics!.drops).toBe(0);
      expect(p.metrics!.kicksPerPacket).not.toBeNull();
      expect(p.metrics!.irqsPerPacket).not.toBeNull();
      // Host apps have no kicks or interrupts.
      if (p.params.endpoints === 'host->host') expect(p.metrics!.kicksPerPacket! + p.metrics!.irqsPerPacket!).toBe(0);
    }
    const md = readFileSync(r.files.report, 'utf8');
    expect(md).toMatch(/one line per direction/);
    expect(md).toMatch(/Wake-ups per packet against batch/);
  }, 60_000);

  it('ping: RTT median (min, p99) per direction, the peer awake and asleep', async () => {
    const s = validateScenario({
      name: 'lat',
      experiment: 'ping',
      base: TINY,
      sweep: { endpoints: ['host<->host', 'guest<->host'], peer: ['awake', 'asleep'] },
    });
    const r = await runScenario(s, { outDir: out, progress: () => {} });
    expect(r.failed).toBe(0);
    const doc = checkAgreement(r, { y: 'rttMedianUs', lo: 'rttMinUs', hi: 'rttP99Us' });
    expect(doc.plot.y).toBe('rttMedianUs');
    expect(doc.plot.lines).toEqual(['host<->host', 'guest<->host']);
    for (const p of doc.points) {
      const m = p.metrics!;
      expect(m.rttMinUs!).toBeGreaterThan(0);
      expect(m.rttMinUs!).toBeLessThanOrEqual(m.rttMedianUs!);
      expect(m.rttMedianUs!).toBeLessThanOrEqual(m.rttP99Us!);
      // Awake busy-polls where every thread has a core (pingWaits).
      const threads = p.params.endpoints === 'host<->host' ? 2 : 3;
      expect(p.params.spinUs).toBe(p.params.peer === 'awake' && threads <= availableParallelism() ? 1e7 : 0);
    }
    const svg = readFileSync(r.files.svg, 'utf8');
    expect(svg).toContain('>awake</text>'); // the category axis
    expect(svg).toContain('>asleep</text>');
    expect(readFileSync(r.files.report, 'utf8')).toMatch(/\| RTT median us \| RTT min us \| RTT p99 us \|/);
  }, 60_000);

  it('chain: host apps against VMs, Mpps', async () => {
    const s = validateScenario({
      name: 'ch',
      experiment: 'chain',
      base: { ...TINY, n: 2 },
      sweep: { vms: [false, true] },
    });
    expect(s.x).toBe('vms');
    const r = await runScenario(s, { outDir: out, progress: () => {} });
    expect(r.failed).toBe(0);
    const doc = checkAgreement(r, { y: 'mpps', lo: 'mppsMin', hi: 'mppsMax' });
    expect(doc.points.map((p) => [p.params.vms, p.metrics!.threads])).toEqual([
      [false, 4],
      [true, 8],
    ]);
    for (const p of doc.points) expect(p.metrics!.packets).toBeGreaterThan(0);
    const svg = readFileSync(r.files.svg, 'utf8');
    expect(svg).toContain('>host apps</text>');
    expect(svg).toContain('>VMs</text>');
  }, 60_000);

  it('a NIC port: the app sends into the wire or receives from it; each point has its line rate, share of it, missed and time behind', async () => {
    const s = validateScenario({
      name: 'nic',
      experiment: 'pktgen',
      port: 'nic',
      base: TINY,
      sweep: { endpoints: ['host->wire', 'wire->guest'], batch: [64] },
      x: 'endpoints',
    });
    const r = await runScenario(s, { outDir: out, progress: () => {} });
    expect(r.failed).toBe(0);
    const doc = checkAgreement(r, { y: 'mpps', lo: 'mppsMin', hi: 'mppsMax' });
    expect(doc.points.map((p) => [p.params.endpoints, p.params.line, p.metrics!.threads])).toEqual([
      ['host->wire', '10G', 2],
      ['wire->guest', '10G', 3],
    ]);
    for (const p of doc.points) {
      const m = p.metrics!;
      expect(m.packets).toBeGreaterThan(0);
      expect(m.lineRateMpps).toBe(lineRateMpps(10e9, 60));
      expect(m.ofLineRate).toBeCloseTo(m.mpps / m.lineRateMpps!, 12);
      expect(m.missed).toBeGreaterThanOrEqual(0);
      expect(m.wireBehindMs).toBeGreaterThanOrEqual(0);
    }
    // The CSV names the line rate lineRate (line is the plot line's column).
    const [header, ...rows] = parseCsv(readFileSync(r.files.csv, 'utf8'));
    expect(rows.map((row) => row[header.indexOf('lineRate')])).toEqual(['10G', '10G']);
    // The table: the share of the line rate, missed frames and the time the wire fell behind.
    const md = readFileSync(r.files.report, 'utf8');
    expect(md).toMatch(/\| Mpps \| min-max \| % of line \|.*\| drops \| missed \| wire behind ms \|/);
    for (const p of doc.points) {
      const rowLine = md.split('\n').find((l) => l.startsWith(`| ${p.point} |`))!;
      expect(rowLine).toContain(`| ${(p.metrics!.ofLineRate! * 100).toFixed(1)}% |`);
      expect(rowLine).toContain(`| ${p.metrics!.missed} |`);
    }
    expect(readFileSync(r.files.svg, 'utf8')).toContain('>10G line rate (14.88 Mpps)</text>');
  }, 60_000);

  it('refuses to trace a NIC scenario before anything runs (EINVAL)', async () => {
    const s = validateScenario({ name: 'nt', experiment: 'pktgen', port: 'nic', base: TINY, sweep: { batch: [64] } });
    const dir = join(out, 'nic-trace');
    const err = await runScenario(s, { dir, trace: true, progress: () => {} }).catch((e) => e);
    expect(err).toBeInstanceOf(NetmapError);
    expect((err as Error).message).toMatch(/trace is not available on port 'nic'/);
    expect(existsSync(dir)).toBe(false);
  });

  it('on a terminal: the table grows above a progress bar over the sweep', async () => {
    const s = validateScenario({ name: 'live', experiment: 'pktgen', base: TINY, sweep: { batch: [8, 32] } });
    let text = '';
    const r = await runScenario(s, {
      outDir: out,
      live: true,
      liveOut: {
        write: (t: string | Uint8Array) => {
          text += String(t);
          return true;
        },
        columns: 200,
      },
    });
    expect(r.shownLive).toBe(true);
    const plain = text.split(`\r${String.fromCharCode(27)}[2K`).join('\n');
    expect(plain).toMatch(/point +batch +Mpps/);
    expect(plain).toMatch(/\[[█░]{24}\] 2\/2 /);
    for (const p of r.doc.points) {
      expect(plain).toMatch(new RegExp(`\\n +${p.point} +${p.params.batch} +${p.metrics!.mpps.toFixed(2)} `));
    }
    expect(existsSync(r.files.report)).toBe(true);
  }, 60_000);
});

describe('LiveProgress', () => {
  it('draws the bar with the point, the percentage and what runs', () => {
    let text = '';
    const bar = new LiveProgress(4, 1, {
      write: (t: string | Uint8Array) => {
        text += String(t);
        return true;
      },
      columns: 120,
    });
    bar.start(1, 'batch=64');
    bar.print('a row');
    bar.stop();
    expect(text).toContain('a row\n');
    expect(bar.line()).toMatch(/^\[[█░]{24}\] 2\/4 +\d+% {2}~\d+s left {2}batch=64$/);
  });
});

describe('the flagship run (tiny)', () => {
  let out: string;
  beforeAll(() => {
    requireBuilt();
    out = mkdtempSync(join(tmpdir(), 'sabnetmap-flagship-'));
  });
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('prints the headline, the passthrough/emulated and peers ratios and the report path; writes the results', async () => {
    let text = '';
    const r = await runFlagship({
      outDir: out,
      seconds: 0.2,
      peersSeconds: 0.2,
      ports: ['pipe'],
      directions: ['host->host', 'guest->host', 'emulated->host'],
      nicDirections: ['host->wire'],
      out: (t) => void (text += t),
      progress: () => {},
    });
    expect(r.dir.startsWith(out)).toBe(true);
    for (const f of [
      'report.md',
      'summary.json',
      'throughput-points.json',
      'throughput-plot.svg',
      'peers-points.csv',
    ]) {
      expect(existsSync(join(r.dir, f)), f).toBe(true);
    }
    const s = r.summary;
    expect(s.rows.map((x) => [x.port, x.direction, x.threads])).toEqual([
      ['pipe', 'host->host', 2],
      ['pipe', 'guest->host', 3],
      ['pipe', 'emulated->host', 3],
      ['nic', 'host->wire', 2],
    ]);
    expect(s.passthroughVsEmulated).toHaveLength(1);
    const pe = s.passthroughVsEmulated[0];
    expect(pe.what).toBe('guest->host / emulated->host');
    expect(pe.ratio).toBe(pe.a / pe.b);
    expect(s.peers.map((p) => p.name)).toEqual(
      expect.arrayContaining(['sabnetmap-pipe', 'sabnetmap-vale', 'postMessage', 'postMessage-batch']),
    );
    // The headline: machine, the table, the ratios, the report's path.
    expect(text).toContain(`machine: ${s.machine.cores} cores, ${s.machine.cpuModel}, Node ${s.machine.node}`);
    for (const row of s.rows) {
      expect(text).toMatch(new RegExp(`${row.port} +${row.direction} +${row.mpps.toFixed(2)} `));
    }
    expect(text).toContain(`guest->host / emulated->host`);
    // The CPU accounting columns: busy ns per packet and the projected rate, per row.
    expect(text).toMatch(/busy ns\/pkt +proj\. Mpps +threads\/cores/);
    for (const row of s.rows) {
      if (process.platform === 'linux') expect(row.busyNsPerPacket, row.direction).toBeGreaterThan(0);
      const busy = row.busyNsPerPacket === null ? '-' : row.busyNsPerPacket.toFixed(1);
      expect(text).toMatch(
        new RegExp(`${row.direction} .* ${busy} +${row.projectedMpps?.toFixed(2) ?? '-'} +${row.threads}/`),
      );
    }
    expect(text).toMatch(/peers ratio: a pipe is [\d.]+x postMessage/);
    expect(text).toMatch(/report: .*report\.md\n/);
    const md = readFileSync(r.report, 'utf8');
    expect(md).toContain(`| pipe | guest->host | ${s.rows[1].mpps.toFixed(2)} |`);
    expect(md).toContain('](throughput-plot.svg)');
    expect(JSON.parse(readFileSync(join(r.dir, 'summary.json'), 'utf8')).rows).toEqual(s.rows);
  }, 90_000);

  it('has a NIC row: a host app sending into nic0 at 10G, its Mpps and share of the line rate', async () => {
    let text = '';
    const r = await runFlagship({
      outDir: out,
      seconds: 0.2,
      peersSeconds: 0.1,
      ports: ['pipe'],
      directions: ['host->host'],
      nicDirections: ['host->wire'],
      out: (t) => void (text += t),
      progress: () => {},
    });
    const nic = r.summary.rows.find((x) => x.port === 'nic')!;
    expect(nic).toMatchObject({ direction: 'host->wire', line: '10G', lineRateMpps: lineRateMpps(10e9, 60) });
    expect(nic.ofLineRate).toBeCloseTo(nic.mpps / nic.lineRateMpps!, 12);
    // Rows of the other ports have no line rate.
    expect(r.summary.rows.find((x) => x.port === 'pipe')).toMatchObject({ line: null, ofLineRate: null });
    const share = `${(nic.ofLineRate! * 100).toFixed(1)}% of 10G`;
    expect(text).toMatch(/threads\/cores +of line rate\n/);
    expect(text).toMatch(
      new RegExp(`nic +host->wire +${nic.mpps.toFixed(2)} .* 2/\\d+ +${share.replace('.', '\\.')}\n`),
    );
    expect(text).toContain("nic: the app sends into nic0 and the NIC's wire sinks at 10G (line rate 14.88 Mpps");
    const md = readFileSync(r.report, 'utf8');
    expect(md).toContain(`| nic | host->wire | ${nic.mpps.toFixed(2)} |`);
    expect(md).toContain(`| ${share} |`);
    expect(md).toContain('](nic-plot.svg)');
    expect(existsSync(join(r.dir, 'nic-points.json'))).toBe(true);
    expect(r.summary.files.nic).not.toBeNull();
  }, 90_000);
});
