/**
 * docs/figures.md's making (bench/figures.ts), without running a benchmark: a run's
 * report.md becomes a section whose plots are copied beside the page, the head names the
 * machine, date, commit and load, and the commit is dirty only for changes other than
 * the page's own files. `npm run figures` itself runs for minutes: not here.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type FiguresFacts, figuresHead, gitCommit, reportSection, writeFiguresPage } from '../bench/figures.js';
import { machineFacts } from '../bench/runner.js';

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
