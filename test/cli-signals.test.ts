/**
 * How the CLI ends early: a closed stdout (`sabnetmap ... | head`) ends quietly with exit
 * 0; Ctrl-C (SIGINT) during `bench run` or `start` stops the point in progress, writes the
 * report of the finished points marked partial and exits 130, and a second Ctrl-C quits
 * at once. The library's side of it: runScenario's `signal`. No timing assertions: the
 * sweeps are long enough that an interruption always lands with points left to run.
 * The CLI and the workers run from dist/ (`npm run build` first).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FlagshipSummary } from '../bench/flagship.js';
import { FILES, type ResultsDoc, runScenario } from '../bench/runner.js';
import { validateScenario } from '../bench/scenario.js';
import { requireBuilt } from './helpers.js';

const CLI = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));

interface Child {
  proc: ChildProcessWithoutNullStreams;
  out: () => string;
  err: () => string;
  /** Resolves once stderr matches `re`; rejects if the process ends first. */
  waitErr: (re: RegExp) => Promise<void>;
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running: Child[] = [];

/** Starts the built CLI with stdout and stderr piped to this process. */
function start(args: string[]): Child {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run 'npm run build' first`);
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: Array<{ re: RegExp; resolve: () => void }> = [];
  proc.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  proc.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    for (const w of waiters.splice(0)) {
      if (w.re.test(err)) w.resolve();
      else waiters.push(w);
    }
  });
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    proc.on('error', reject);
    proc.on('close', (code, signal) => resolve({ code, signal }));
  });
  const c: Child = {
    proc,
    out: () => out,
    err: () => err,
    waitErr: (re) =>
      re.test(err)
        ? Promise.resolve()
        : Promise.race([
            new Promise<void>((resolve) => waiters.push({ re, resolve })),
            closed.then(() => {
              throw new Error(
                `the CLI ended before stderr matched ${re}\n--- stderr ---\n${err}--- stdout ---\n${out}`,
              );
            }),
          ]),
    closed,
  };
  running.push(c);
  return c;
}

// A test that fails half-way must not leave a CLI (and its workers) running.
afterEach(() => {
  for (const c of running.splice(0)) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
});

let tmp: string;
beforeAll(() => {
  requireBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'sabnetmap-signals-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A pkt-gen sweep of `points` points over a pipe, written to a file for `bench run`. */
function scenarioFile(name: string, points: number): string {
  const file = join(tmp, `${name}.json`);
  const scenario = {
    name,
    experiment: 'pktgen',
    port: 'pipe',
    mode: 'tx',
    // --seconds overrides base.seconds.
    base: { seconds: 5, warmupMs: 50, reportMs: 100 },
    sweep: { batch: [4, 8, 16, 32, 64, 128, 256, 512].slice(0, points) },
  };
  writeFileSync(file, JSON.stringify(scenario));
  return file;
}

/** The one run directory `bench run --out parent` made. */
function runDir(parent: string): string {
  const dirs = readdirSync(parent);
  expect(dirs).toHaveLength(1);
  return join(parent, dirs[0]);
}

describe('a closed stdout (or stderr)', () => {
  // [what, args, close stdout after the first chunk (else before anything is written)]
  const CASES: Array<[string, string[], boolean]> = [
    ['help', ['help'], false],
    ['pkt-gen, its intervals written as it runs (the run stops)', ['pkt-gen', '--seconds', '100'], true],
    ['pkt-gen --json', ['pkt-gen', '--seconds', '0.3', '--json'], false],
  ];

  it.each(CASES)(
    'ends quietly with exit 0: %s',
    async (_what, args, afterFirst) => {
      const c = start(args);
      if (afterFirst) c.proc.stdout.once('data', () => c.proc.stdout.destroy());
      else c.proc.stdout.destroy();
      const r = await c.closed;
      const where = `sabnetmap ${args.join(' ')}\n--- stderr ---\n${c.err()}`;
      expect(r.signal, where).toBeNull();
      expect(r.code, where).toBe(0);
      expect(c.err(), where).toBe('');
    },
    60_000,
  );

  it('ends quietly with exit 0: bench run --json (the report is written; stderr holds only the progress)', async () => {
    const out = join(tmp, 'epipe-out');
    const c = start(['bench', 'run', scenarioFile('epipe', 1), '--seconds', '0.3', '--out', out, '--json']);
    c.proc.stdout.destroy();
    const r = await c.closed;
    const where = `--- stderr ---\n${c.err()}`;
    expect(r.signal, where).toBeNull();
    expect(r.code, where).toBe(0);
    expect(c.err(), where).not.toMatch(/EPIPE|sabnetmap: |\n {4}at /);
    expect(existsSync(join(runDir(out), FILES.report)), where).toBe(true);
  }, 60_000);
  it('ends quietly with exit 0: bench run with stderr (its progress) closed', async () => {
    const c = start(['bench', 'run', scenarioFile('epipe2', 2), '--seconds', '0.3', '--out', join(tmp, 'epipe2-out')]);
    c.proc.stderr.destroy();
    const r = await c.closed;
    const where = `--- stdout ---\n${c.out()}`;
    expect(r.signal, where).toBeNull();
    expect(r.code, where).toBe(0);
    expect(c.out(), where).not.toMatch(/EPIPE|\n {4}at /);
  }, 60_000);
});

describe('Ctrl-C', () => {
  it('during bench run: writes the report of the finished points, marked partial, and exits 130', async () => {
    const out = join(tmp, 'sigint-out');
    const c = start(['bench', 'run', scenarioFile('sigint', 6), '--seconds', '1', '--out', out]);
    // The first point's line is complete: it finished; the second is running.
    await c.waitErr(/\[1\/6\][^\n]*\n/);
    c.proc.kill('SIGINT');
    const r = await c.closed;
    const where = `--- stderr ---\n${c.err()}--- stdout ---\n${c.out()}`;
    expect(r.signal, where).toBeNull();
    expect(r.code, where).toBe(130);
    expect(c.err(), where).toContain('interrupted');
    expect(c.err(), where).not.toMatch(/\n {4}at /);

    const dir = runDir(out);
    for (const f of Object.values(FILES)) expect(existsSync(join(dir, f)), f).toBe(true);
    const doc = JSON.parse(readFileSync(join(dir, FILES.json), 'utf8')) as ResultsDoc;
    expect(doc.partial).toBe(true);
    expect(doc.complete).toBe(false);
    expect(doc.finished).not.toBeNull();
    expect(doc.plannedPoints).toBe(6);
    // Only finished points, in order, each measured: the cut one is dropped.
    const n = doc.points.length;
    expect(n).toBeGreaterThanOrEqual(1);
    expect(n).toBeLessThan(6);
    expect(doc.points.map((p) => p.point)).toEqual([...Array(n).keys()].map((i) => i + 1));
    for (const p of doc.points) {
      expect(p.error).toBeNull();
      expect(p.metrics?.packets).toBeGreaterThan(0);
    }
    const csv = readFileSync(join(dir, FILES.csv), 'utf8').trimEnd().split('\n');
    expect(csv).toHaveLength(1 + n);
    const line = `partial: interrupted after ${n} of 6 points`;
    expect(readFileSync(join(dir, FILES.report), 'utf8')).toContain(line);
    // The table and where the report is, on stdout.
    expect(c.out(), where).toContain(line);
    expect(c.out(), where).toContain(`report: ${join(dir, FILES.report)}\n`);
  }, 90_000);

  it('twice during bench run: quits at once with exit 130', async () => {
    const c = start(['bench', 'run', scenarioFile('sigint2', 6), '--seconds', '1', '--out', join(tmp, 'sigint2-out')]);
    await c.waitErr(/\[1\/6\][^\n]*\n/);
    c.proc.kill('SIGINT');
    // The first was seen (else two signals sent back to back could arrive as one).
    await c.waitErr(/sabnetmap: interrupted:/);
    c.proc.kill('SIGINT');
    const r = await c.closed;
    const where = `--- stderr ---\n${c.err()}--- stdout ---\n${c.out()}`;
    expect(r.signal, where).toBeNull();
    expect(r.code, where).toBe(130);
    expect(c.err(), where).not.toMatch(/\n {4}at /);
  }, 90_000);

  it('during start: writes the flagship report of the finished points, marked partial, and exits 130', async () => {
    const out = join(tmp, 'start-out');
    const c = start(['start', '--seconds', '0.5', '--out', out]);
    await c.waitErr(/\[ ?1\/\d+\][^\n]*\n/);
    c.proc.kill('SIGINT');
    const r = await c.closed;
    const where = `--- stderr ---\n${c.err()}--- stdout ---\n${c.out()}`;
    expect(r.signal, where).toBeNull();
    expect(r.code, where).toBe(130);
    const dir = runDir(out);
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as FlagshipSummary;
    expect(summary.partial).toBe(true);
    expect(summary.finishedPoints).toBeGreaterThanOrEqual(1);
    expect(summary.finishedPoints).toBeLessThan(summary.plannedPoints);
    expect(summary.rows.length).toBeLessThanOrEqual(summary.finishedPoints); // a point that failed has no row
    // Interrupted in the pkt-gen sweep: the peers never started.
    expect(summary.files.peers).toBeNull();
    expect(summary.peers).toEqual([]);
    const line = `partial: interrupted after ${summary.finishedPoints} of ${summary.plannedPoints} points`;
    expect(readFileSync(join(dir, 'report.md'), 'utf8')).toContain(line);
    expect(c.out(), where).toContain(line);
    expect(c.out(), where).toMatch(/report: .*report\.md\n/);
  }, 90_000);
});

describe('runScenario with a signal', () => {
  it('stops when it aborts: the finished points are kept and the files say partial', async () => {
    const s = validateScenario({
      name: 'abort',
      experiment: 'pktgen',
      port: 'pipe',
      mode: 'tx',
      base: { seconds: 0.2, warmupMs: 20, reportMs: 50 },
      sweep: { batch: [8, 16, 32, 64] },
    });
    const stop = new AbortController();
    let progress = '';
    const r = await runScenario(s, {
      outDir: join(tmp, 'lib-out'),
      progress: (t) => void (progress += t),
      signal: stop.signal,
      // Abort once the first point is in: no further point starts.
      onPoint: () => stop.abort(),
    });
    expect(r.doc.partial).toBe(true);
    expect(r.doc.complete).toBe(false);
    expect(r.doc.points.map((p) => p.point)).toEqual([1]);
    expect(progress).not.toContain('[2/4]');
    const doc = JSON.parse(readFileSync(r.files.json, 'utf8')) as ResultsDoc;
    expect(doc.partial).toBe(true);
    expect(doc.points).toHaveLength(1);
    expect(readFileSync(r.files.report, 'utf8')).toContain('partial: interrupted after 1 of 4 points');
  }, 60_000);
});
