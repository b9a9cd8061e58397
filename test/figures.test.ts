/**
 * docs/figures.md's making (bench/figures.ts), without running a benchmark: a run's
 * report.md becomes a section whose plots are copied beside the page, the head names the
 * machine, date, commit and load, and the commit is dirty only for changes other than
 * the page's own files; the tools' sections (bench pipeline, bench micro, isolation, bench
 * vxlan) from results of the right shape; the docs link only to sections the page has;
 * the default run fits its budget. `npm run figures` itself runs for minutes: not here.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  FIGURE_SCENARIOS,
  FIGURE_TOOLS,
  type FiguresFacts,
  figureAnchor,
  figureSections,
  figuresEstimate,
  figuresHead,
  gitCommit,
  isolationMarkdown,
  microMarkdown,
  pipelineMarkdown,
  reportSection,
  vxlanMarkdown,
  writeFiguresPage,
} from '../bench/figures.js';
import type { PipelineBenchResult } from '../bench/pipeline.js';
import { machineFacts } from '../bench/runner.js';
import { builtinScenarios } from '../bench/scenario.js';
import type { IsolationResult } from '../src/apps/isolation.js';

const dir = mkdtempSync(join(tmpdir(), 'sabnetmap-figures-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const REPORT = [
  '# pipe-batch',
  '',
  'Throughput against batch size.',
  '',
  '![pipe-batch: Mpps vs batch](plot.svg)',
  '',
  '## The peers',
  '',
  '| batch | Mpps |',
  '| ---: | ---: |',
  '| 64 | 12.50 |',
  '',
].join('\n');

const facts = (commit: FiguresFacts['commit']): FiguresFacts => ({
  machine: { ...machineFacts(), cpuModel: 'Test CPU 3000', cores: 2, memoryBytes: 8 * 2 ** 30 },
  loadBefore: [0.1, 0.2, 0.3],
  loadAfter: [1.5, 0.9, 0.4],
  started: '2025-01-02T03:04:05.000Z',
  finished: '2025-01-02T03:08:05.000Z',
  commit,
  version: '0.1.0',
  seconds: 1,
  command: 'npm run figures -- --seconds 1',
});

const hasGit = (() => {
  try {
    execFileSync('git', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('the figures page', () => {
  it("turns a run's report into a section: no title, headings a level down, plots copied beside the page", () => {
    const { text, copies } = reportSection(REPORT, '/runs/pipe', '/repo/docs', '2');
    expect(text.split('\n')[0]).toBe('Throughput against batch size.');
    expect(text).toContain('![pipe-batch: Mpps vs batch](figures/2-plot.svg)');
    expect(text).toContain('### The peers');
    expect(text).toContain('| 64 | 12.50 |');
    expect(copies).toEqual([['/runs/pipe/plot.svg', '/repo/docs/figures/2-plot.svg']]);
  });

  it('heads the page with the machine, the date, the commit and the load before and after', () => {
    const head = figuresHead(facts({ hash: 'abc1234', dirty: true }));
    expect(head).toContain('- Date: 2025-01-02T03:04:05.000Z to 2025-01-02T03:08:05.000Z (UTC), 240 s in all');
    expect(head).toContain('- Commit: abc1234 (dirty); sabnetmap 0.1.0.');
    expect(head).toContain('- CPU: Test CPU 3000, 2 cores available.');
    expect(head).toContain('- Memory: 8.0 GiB;');
    expect(head).toContain('0.1, 0.2, 0.3 before the first run, 1.5, 0.9, 0.4 after the last');
    expect(head).toContain('`npm run figures -- --seconds 1`');
    expect(figuresHead(facts(null))).toContain('- Commit: unknown (not a git checkout)');
  });

  it('writes the page with a section per run and the plots in its figures/ directory', () => {
    const run = join(dir, 'run');
    mkdirSync(run, { recursive: true });
    writeFileSync(join(run, 'report.md'), REPORT);
    writeFileSync(join(run, 'plot.svg'), '<svg/>');
    const page = join(dir, 'docs', 'figures.md');
    mkdirSync(join(dir, 'docs', 'figures'), { recursive: true });
    writeFileSync(join(dir, 'docs', 'figures', 'stale.svg'), '<svg/>');
    writeFiguresPage(page, facts({ hash: 'abc1234', dirty: false }), [
      {
        name: 'pipe-batch',
        title: 'pipe-batch',
        command: 'sabnetmap bench run pipe-batch --seconds 1',
        dir: run,
        report: join(run, 'report.md'),
      },
    ]);
    const text = readFileSync(page, 'utf8');
    expect(text).toMatch(/^# Figures\n/);
    expect(text).toContain('## pipe-batch\n\n`sabnetmap bench run pipe-batch --seconds 1`; run directory');
    expect(text).toContain('](figures/pipe-batch-plot.svg)');
    expect(readFileSync(join(dir, 'docs', 'figures', 'pipe-batch-plot.svg'), 'utf8')).toBe('<svg/>');
    expect(existsSync(join(dir, 'docs', 'figures', 'stale.svg'))).toBe(false);
  });

  it.skipIf(!hasGit)("calls the tree dirty for changes to anything but the page's own files", () => {
    const repo = join(dir, 'repo');
    mkdirSync(join(repo, 'docs'), { recursive: true });
    const git = (...args: string[]) =>
      execFileSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { stdio: 'ignore' });
    git('init', '-q');
    writeFileSync(join(repo, 'a.ts'), 'one');
    git('add', '.');
    git('commit', '-q', '-m', 'one');
    const own = ['docs/figures.md', 'docs/figures'];
    writeFileSync(join(repo, 'docs', 'figures.md'), 'page');
    expect(gitCommit(repo, own)).toEqual({ hash: expect.stringMatching(/^[0-9a-f]{7,}$/), dirty: false });
    writeFileSync(join(repo, 'a.ts'), 'two');
    expect(gitCommit(repo, own)?.dirty).toBe(true);
  });
});

const ROOT = fileURLToPath(new URL('..', import.meta.url));

describe("the figures page's runs", () => {
  it('are the flagship, built-in scenarios and the four tools, each with a GitHub anchor', () => {
    for (const name of FIGURE_SCENARIOS) expect(builtinScenarios()).toContain(name);
    const sections = figureSections();
    expect(sections.map((x) => x.anchor)).toEqual([
      'the-flagship-run',
      ...FIGURE_SCENARIOS,
      'bench-pipeline',
      'bench-micro',
      'isolation',
      'bench-vxlan',
    ]);
    expect(FIGURE_TOOLS).toEqual(['bench-pipeline', 'bench-micro', 'isolation', 'bench-vxlan']);
    expect(figureAnchor('The `poll` call: wake-ups')).toBe('the-poll-call-wake-ups');
  });

  it('fit the default run (1 s per point) in about 8 minutes by their own estimates', () => {
    expect(figuresEstimate(1)).toBeLessThan(8 * 60);
    expect(figuresEstimate(1, [], [])).toBeGreaterThan(0);
    expect(figuresEstimate(1)).toBeGreaterThan(figuresEstimate(1, FIGURE_SCENARIOS, []));
  });

  it('are what the docs link to: every figures.md#anchor in README.md and docs/ is a section the page has', () => {
    const have = new Set(figureSections().map((x) => x.anchor));
    const files = [
      'README.md',
      ...readdirSync(join(ROOT, 'docs'))
        .filter((f) => f.endsWith('.md'))
        .map((f) => `docs/${f}`),
    ];
    const linked: string[] = [];
    for (const f of files) {
      for (const m of readFileSync(join(ROOT, f), 'utf8').matchAll(/figures\.md#([\w-]+)/g))
        linked.push(`${f}: #${m[1]}`);
    }
    expect(linked.length).toBeGreaterThan(5);
    expect(linked.filter((l) => !have.has(l.split('#')[1]))).toEqual([]);
  });

  it('bench pipeline: a table of the builds, the ratio, and the CLI report', () => {
    const line = (name: PipelineBenchResult['results'][number]['name'], mpps: number, threads: number) => ({
      name,
      mpps,
      mppsMin: mpps - 0.5,
      mppsMax: mpps + 0.5,
      packets: 1e6,
      threads,
    });
    const r: PipelineBenchResult = {
      results: [
        line('sabnetmap', 6, 4),
        line('sabnetmap-fanout', 6.5, 3),
        line('postMessage', 2, 4),
        { ...line('ringbuf.js', 0, 4), skipped: 'ringbuf.js is not installed' },
        line('single-thread', 8, 1),
      ],
      ring: 4096,
      batch: 64,
      bufSize: 2048,
      ratioToBestMultiThread: 3,
      fanoutRatioToBestMultiThread: 3.25,
      ratioMin: 3,
      ratioMax: 3,
      rounds: 1,
      sabnetmapThreads: [
        { node: 'lb', worker: 0, gcs: 0, steadyPackets: 1e6, allocBytesPerPacket: 0.01, cpuNsPerPacket: 100 },
      ],
      cores: 2,
      cpuModel: 'Test CPU',
      node: 'v20.0.0',
      seconds: 1,
      flows: 1024,
      len: 60,
    };
    const md = pipelineMarkdown(r);
    expect(md).toContain('| sabnetmap | 4 | 6.00 | 5.50-6.50 |  |');
    expect(md).toContain('| postMessage | 4 | 2.00 | 1.50-2.50 | 3.00x |');
    expect(md).toContain('| ringbuf.js | 4 | skipped: ringbuf.js is not installed | | |');
    expect(md).toContain('best other multi-thread build (postMessage, ringbuf.js): 3.00x');
    expect(md).toMatch(/```text\npipeline: generator -> lb -> 2 counting workers/);
  });

  it('bench micro: ns per operation, and Gbit/s and x Buffer.copy for copies', () => {
    const md = microMarkdown(
      {
        results: [
          { name: 'copy 60 B: Buffer.copy', ns: 20, nsMin: 19, nsP99: 30, gbps: 24, vsBufferCopy: 1 },
          { name: 'Atomics.load', ns: 5, nsMin: 4.5, nsP99: 9 },
          { name: 'slot fill (len|flags word)', ns: 2, nsMin: 1, nsP99: 3 },
        ],
        cores: 2,
        cpuModel: 'Test CPU',
        node: 'v20.0.0',
      },
      300,
    );
    expect(md).toContain('tinybench for 300 ms');
    expect(md).toContain('| copy 60 B: Buffer.copy | 20.00 | 19.00-30.00 | 24.0 | 1.00 |');
    expect(md).toContain('| Atomics.load | 5.00 | 4.50-9.00 |  |  |');
    expect(md).toContain('| slot fill (len\\|flags word) | 2.00 | 1.00-3.00 |  |  |');
  });

  it('isolation: flow A next to the honest and the hostile guest, the ratios, and the CLI reports', () => {
    const flowA = (mpps: number, busy: number) => ({
      mpps,
      mppsMin: mpps - 1,
      mppsMax: mpps + 1,
      sent: 1e6,
      packets: 1e6,
      seqErrors: 0,
      drops: 0,
      intervals: 4,
      busyNsPerPacket: busy,
    });
    const flowB = {
      port: 'pipe0{',
      writes: 1e6,
      sent: 0,
      kicks: 10,
      kloop: { irqs: 0, sleeps: 0, wakeups: 0, late: 0, errors: 5, syncs: 100, drops: 3 },
      drained: 7,
      geometryWordsOff: 2,
      stopMs: 1,
    };
    const r: IsolationResult = {
      port: 'pipe',
      guest: 'hostile',
      cores: 2,
      busyThreads: 5,
      sharedWithA: 0,
      baseline: { flowA: flowA(10, 100), flowB },
      hostile: { flowA: flowA(9, 105), flowB, ratio: 0.9, busyRatio: 1.05 },
    };
    const md = isolationMarkdown([r], 2);
    expect(md).toContain('2 s of flow A each; 2 cores, 5 threads');
    expect(md).toContain('| pipe | hostile | 10.00 | 9.00 | 0.90 | 100.0 | 105.0 | 1.05 | 0 / 0 | 0 |');
    expect(md).toContain('isolation over pipe: flow A = host txseq -> rxseq');
  });

  it('bench vxlan: says why it was skipped', () => {
    const md = vxlanMarkdown([], 'not root (network namespaces need root)');
    expect(md).toMatch(/^Skipped: not root \(network namespaces need root\)\./);
    expect(md).toContain('sudo npm run figures');
  });
});
