/**
 * docs/figures.md, the one page of measured figures (`npm run figures`): on the machine it
 * runs on, the flagship run and the key scenarios (FIGURE_SCENARIOS), then a page with the
 * machine (CPU, cores, memory, Node, the load average before and after), the date (UTC),
 * the commit (short hash, "dirty" when the working tree differs from it) and each run's
 * report: its table and plots, as `sabnetmap start` and `sabnetmap bench run` write them
 * (report.md, read back: one formatting for both). The plots are copied next to the page
 * (docs/figures/), since the run directories (results/) are not committed; each section
 * names its run directory for the rest (points.json, points.csv).
 *
 * The docs quote no figure this page does not produce: a figure elsewhere points here.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { packageRoot } from '../src/paths.js';
import { flagshipEstimate, runFlagship } from './flagship.js';
import { EXPERIMENTS, type Machine, machineFacts, runScenario, version } from './runner.js';
import { expandPoints, loadScenario } from './scenario.js';

/** The built-in scenarios the page shows after the flagship run. */
export const FIGURE_SCENARIOS = ['pipe-batch', 'vale-batch', 'passthrough-vs-emulated', 'physical-port', 'peers'];

export interface FiguresOptions {
  /** Measured seconds per point, for the flagship and every scenario (default 1). */
  seconds?: number;
  /** Parent of the run directories (default results/figures). */
  outDir?: string;
  /** The page (default docs/figures.md); its plots go into `figures/` beside it. */
  page?: string;
  /** The scenarios after the flagship (default FIGURE_SCENARIOS). */
  scenarios?: string[];
  /** Where the runs' headlines go (default stdout); progress goes to stderr. */
  out?: (text: string) => void;
  /** Stops the runs; no page is written then. */
  signal?: AbortSignal;
}

/** One run the page shows: its name (it prefixes its plots' copies), section title, the command that reproduces it, its directory and report. */
export interface FiguresRun {
  name: string;
  title: string;
  command: string;
  dir: string;
  report: string;
}

/** The facts the page starts with. */
export interface FiguresFacts {
  machine: Machine;
  /** 1, 5 and 15 minute load averages before the first run and after the last. */
  loadBefore: number[];
  loadAfter: number[];
  /** ISO 8601, UTC. */
  started: string;
  finished: string;
  /** Short hash and whether the working tree differs from it (the page's own files aside); null outside git. */
  commit: { hash: string; dirty: boolean } | null;
  version: string;
  seconds: number;
  /** The command that made the page. */
  command: string;
}

const round2 = (v: number) => Math.round(v * 100) / 100;

/** The commit of the working tree at `root`, and whether it is dirty (the page and its plots do not count). */
export function gitCommit(root: string, own: string[]): { hash: string; dirty: boolean } | null {
  try {
    const git = (...args: string[]) =>
      execFileSync('git', ['-C', root, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const hash = git('rev-parse', '--short', 'HEAD').trim();
    const changed = git('status', '--porcelain', '--untracked-files=all')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => l.slice(3).replace(/^"|"$/g, ''))
      .filter((f) => !own.some((o) => f === o || f.startsWith(`${o}/`)));
    return { hash, dirty: changed.length > 0 };
  } catch {
    return null;
  }
}

/** Seconds the runs take, roughly (the runner's own estimates). */
export function figuresEstimate(seconds: number, scenarios: readonly string[] = FIGURE_SCENARIOS): number {
  let total = flagshipEstimate({ seconds });
  for (const name of scenarios) {
    const s = loadScenario(name).scenario;
    s.base.seconds = seconds;
    total += expandPoints(s).length * EXPERIMENTS[s.experiment].estimate(s);
  }
  return total;
}

/**
 * A run's report.md as a section of the page: its title line goes (the section has its
 * own), its headings go one level down, and each plot it shows is copied to
 * `<pageDir>/figures/<prefix>-<file>` and linked from there. Returns the text and the
 * copies to make ([from, to]).
 */
export function reportSection(
  markdown: string,
  runDir: string,
  pageDir: string,
  prefix: string,
): { text: string; copies: Array<[string, string]> } {
  const copies: Array<[string, string]> = [];
  const lines = markdown.split('\n');
  if (lines[0]?.startsWith('# ')) lines.splice(0, lines[1] === '' ? 2 : 1);
  const text = lines
    .map((l) => (/^#{2,5} /.test(l) ? `#${l}` : l))
    .join('\n')
    .replace(/!\[([^\]]*)\]\(([^)\s]+)\)/g, (all, alt: string, file: string) => {
      if (/^[a-z]+:/i.test(file) || isAbsolute(file)) return all;
      const to = join(pageDir, 'figures', `${prefix}-${basename(file)}`);
      copies.push([join(runDir, file), to]);
      return `![${alt}](${relative(pageDir, to).split('\\').join('/')})`;
    });
  return { text: text.trimEnd(), copies };
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

/** The page's head: what made it, where and when. */
export function figuresHead(f: FiguresFacts): string {
  const m = f.machine;
  const commit =
    f.commit === null ? 'unknown (not a git checkout)' : `${f.commit.hash}${f.commit.dirty ? ' (dirty)' : ''}`;
  const secs = (Date.parse(f.finished) - Date.parse(f.started)) / 1000;
  return [
    '# Figures',
    '',
    `Every figure the docs quote comes from this page. It was generated by \`${f.command}\` from one run on the machine below; rerun it to regenerate the page (do not edit it by hand). Figures depend on the machine and on what else ran on it: compare runs on the same machine only.`,
    '',
    `- Date: ${f.started} to ${f.finished} (UTC), ${Math.round(secs)} s in all, ${f.seconds} s per point.`,
    `- Commit: ${commit}; sabnetmap ${f.version}.`,
    `- CPU: ${m.cpuModel}, ${m.cores} cores available.`,
    `- Memory: ${gib(m.memoryBytes)}; Node ${m.node}, ${m.platform} ${m.arch}.`,
    `- Load average (1, 5, 15 min): ${f.loadBefore.join(', ')} before the first run, ${f.loadAfter.join(', ')} after the last.`,
    '',
  ].join('\n');
}

/** Writes the page: the head, then a section per run; copies the plots beside it (its figures/ directory is replaced). */
export function writeFiguresPage(page: string, facts: FiguresFacts, runs: FiguresRun[]): void {
  const pageDir = dirname(resolve(page));
  const sections: string[] = [];
  const copies: Array<[string, string]> = [];
  for (const r of runs) {
    const s = reportSection(readFileSync(r.report, 'utf8'), r.dir, pageDir, r.name);
    copies.push(...s.copies);
    const dir = relative(process.cwd(), r.dir);
    sections.push(
      [
        `## ${r.title}`,
        '',
        `\`${r.command}\`; run directory \`${dir.startsWith('..') ? r.dir : dir}\` (not committed: points.json, points.csv).`,
        '',
        s.text,
        '',
      ].join('\n'),
    );
  }
  rmSync(join(pageDir, 'figures'), { recursive: true, force: true });
  mkdirSync(join(pageDir, 'figures'), { recursive: true });
  for (const [from, to] of copies) if (existsSync(from)) copyFileSync(from, to);
  writeFileSync(page, [figuresHead(facts), ...sections].join('\n'));
}

/** Runs the flagship and the scenarios on this machine and writes the page. */
export async function runFigures(
  o: FiguresOptions = {},
): Promise<{ page: string; runs: FiguresRun[]; facts: FiguresFacts }> {
  const seconds = o.seconds ?? 1;
  const outDir = o.outDir ?? join('results', 'figures');
  const page = o.page ?? join('docs', 'figures.md');
  const names = o.scenarios ?? FIGURE_SCENARIOS;
  const root = packageRoot();
  const pageRel = relative(root, resolve(page));
  // Taken first: the figures are those of the code as it is when the runs start.
  const commit = gitCommit(root, [pageRel, join(dirname(pageRel), 'figures')]);
  const machine = machineFacts();
  const loadBefore = machine.loadavg;
  const started = new Date();
  const runs: FiguresRun[] = [];
  const flagship = await runFlagship({
    outDir,
    seconds,
    command: `sabnetmap start --seconds ${seconds}`,
    out: o.out,
    signal: o.signal,
  });
  runs.push({
    name: 'flagship',
    title: 'The flagship run',
    command: `sabnetmap start --seconds ${seconds}`,
    dir: flagship.dir,
    report: flagship.report,
  });
  for (const name of names) {
    if (o.signal?.aborted) break;
    const { scenario, file } = loadScenario(name);
    const command = `sabnetmap bench run ${name} --seconds ${seconds}`;
    const r = await runScenario(scenario, { outDir, seconds, source: file, command, signal: o.signal });
    runs.push({ name, title: name, command, dir: r.dir, report: r.files.report });
  }
  const facts: FiguresFacts = {
    machine,
    loadBefore,
    loadAfter: loadavg().map(round2),
    started: started.toISOString(),
    finished: new Date().toISOString(),
    commit,
    version: version(),
    seconds,
    command: `npm run figures -- --seconds ${seconds}`,
  };
  if (!o.signal?.aborted) writeFiguresPage(page, facts, runs);
  return { page, runs, facts };
}
