/**
 * docs/figures.md, the one page of measured figures (`npm run figures`): on the machine it
 * runs on, the flagship run, the key scenarios (FIGURE_SCENARIOS) and the benchmarks that
 * are commands of their own (FIGURE_TOOLS: bench pipeline, bench micro, the isolation
 * runs, bench vxlan where network namespaces can be made), then a page with the
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
import { type IsolationResult, runIsolation } from '../src/apps/isolation.js';
import { formatIsolation } from '../src/cli/isolation-format.js';
import { packageRoot } from '../src/paths.js';
import { flagshipEstimate, runFlagship } from './flagship.js';
import { formatMicro, type MicroResult, runMicroBench } from './micro.js';
import { formatPipelineBench, PIPELINE_BENCH_BUILDS, type PipelineBenchResult, runPipelineBench } from './pipeline.js';
import { EXPERIMENTS, type Machine, machineFacts, makeRunDir, runScenario, version } from './runner.js';
import { expandPoints, loadScenario } from './scenario.js';
import { formatVxlanBench, netnsUnavailable, runVxlanBench, type VxlanBenchResult } from './vxlan.js';

/** The built-in scenarios the page shows after the flagship run. */
export const FIGURE_SCENARIOS = [
  'pipe-batch',
  'vale-batch',
  'passthrough-vs-emulated',
  'notify-policies',
  'latency',
  'physical-port',
  'peers',
];

/** The benchmarks with commands of their own that the page shows after the scenarios, in this order. */
export const FIGURE_TOOLS = ['bench-pipeline', 'bench-micro', 'isolation', 'bench-vxlan'] as const;
/** One of FIGURE_TOOLS. */
export type FigureTool = (typeof FIGURE_TOOLS)[number];

export interface FiguresOptions {
  /** Measured seconds per point, for the flagship and every scenario (default 1). */
  seconds?: number;
  /** Parent of the run directories (default results/figures). */
  outDir?: string;
  /** The page (default docs/figures.md); its plots go into `figures/` beside it. */
  page?: string;
  /** The scenarios after the flagship (default FIGURE_SCENARIOS). */
  scenarios?: string[];
  /** The benchmarks after the scenarios (default FIGURE_TOOLS; [] for none). */
  tools?: readonly FigureTool[];
  /** Where the runs' headlines go (default stdout); progress goes to stderr. */
  out?: (text: string) => void;
  /** A line of progress for the tools' runs (default: stderr). */
  progress?: (line: string) => void;
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
  /** What else the run directory holds (default 'points.json, points.csv'). */
  files?: string;
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

/** Seconds the runs take, roughly (the runner's own estimates, and each tool's). */
export function figuresEstimate(
  seconds: number,
  scenarios: readonly string[] = FIGURE_SCENARIOS,
  tools: readonly FigureTool[] = FIGURE_TOOLS,
): number {
  let total = flagshipEstimate({ seconds });
  for (const name of scenarios) {
    const s = loadScenario(name).scenario;
    s.base.seconds = seconds;
    total += expandPoints(s).length * EXPERIMENTS[s.experiment].estimate(s);
  }
  for (const t of tools) total += TOOLS[t].estimate(seconds);
  return total;
}

// ---- the tools: benchmarks that are commands of their own ----

/** A tool's run: its result (result.json) and its section's Markdown (report.md). */
interface ToolRun {
  result: unknown;
  markdown: string;
}

interface Tool {
  /** The page's section title (its anchor: figureAnchor(title)). */
  title: string;
  /** The command that reproduces it at `seconds` per point. */
  command(seconds: number): string;
  /** Rough seconds it takes. */
  estimate(seconds: number): number;
  run(seconds: number, say: (line: string) => void): Promise<ToolRun>;
}

const f2 = (v: number, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : '-');
const textBlock = (text: string) => ['```text', text.trimEnd(), '```'].join('\n');
/** Text for a Markdown table cell: a '|' would end the cell. */
const cell = (text: string) => text.replace(/\|/g, '\\|');

/** bench micro's time per task at `seconds` per point (its default, 300 ms, at 1 s). */
const microTimeMs = (seconds: number) => Math.min(60_000, Math.max(10, Math.round(300 * seconds)));
/** Tasks bench micro times (copies 2 x 6, forwarding 2, guest paths 2, lb 1, slots, lookup, Atomics 3). */
const MICRO_TASKS = 22;
/** The isolation runs: each is an honest-guest baseline, then the guest named, next to flow A. */
export const FIGURE_ISOLATION: ReadonlyArray<{ port: 'pipe' | 'vale'; guest: 'hostile' | 'kick-storm' }> = [
  { port: 'pipe', guest: 'hostile' },
  { port: 'vale', guest: 'hostile' },
  { port: 'pipe', guest: 'kick-storm' },
  { port: 'vale', guest: 'kick-storm' },
];
/** Seconds of flow A per isolation phase: two points' worth (its intervals are 500 ms). */
const isolationSeconds = (seconds: number) => Math.max(1, 2 * seconds);
/** bench vxlan: MB per transfer (100 at 1 s per point, at least 10), and the underlay MTUs. */
const vxlanMb = (seconds: number) => Math.max(10, Math.round(100 * seconds));
export const FIGURE_VXLAN_MTUS = [1500, 9000];
/** bench pipeline: rounds of every build (one run's ratio on 2 cores is the scheduler's as much as the build's). */
const PIPELINE_ROUNDS = 3;

/** bench pipeline's section: the builds' table, the ratio and the sabnetmap threads' figures. */
export function pipelineMarkdown(r: PipelineBenchResult): string {
  const sab = r.results.find((l) => l.name === 'sabnetmap')?.mpps ?? 0;
  const rows = r.results.map((l) =>
    l.skipped
      ? `| ${l.name} | ${l.threads} | skipped: ${cell(l.skipped)} | | |`
      : `| ${l.name} | ${l.threads} | ${f2(l.mpps)} | ${f2(l.mppsMin)}-${f2(l.mppsMax)} | ${
          l.name.startsWith('sabnetmap') || l.mpps <= 0 ? '' : `${f2(sab / l.mpps)}x`
        } |`,
  );
  return [
    `The same pipeline, generator -> lb -> 2 counting workers (${r.len}-byte frames, ${r.flows} flows), built ${r.results.length} ways, one after another: ring ${r.ring}, batch ${r.batch}, ${r.bufSize}-byte buffers; ${
      r.rounds > 1
        ? `${r.rounds} rounds (builds alternated); Mpps is the median round's median of 250 ms intervals over ${r.seconds} s per build (min-max: over the rounds).`
        : `Mpps is the median of 250 ms intervals over ${r.seconds} s per build (min-max).`
    }`,
    '',
    '| build | threads | Mpps | min-max | sabnetmap is |',
    '| :--- | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    `sabnetmap over the best other multi-thread build (postMessage, ringbuf.js): ${f2(r.ratioToBestMultiThread)}x${
      r.rounds > 1 ? ` (the median of the rounds' ratios; rounds ${f2(r.ratioMin)}-${f2(r.ratioMax)})` : ''
    }; the source fanning out without lb's thread: ${f2(r.fanoutRatioToBestMultiThread)}x.`,
    '',
    "The CLI's report, with the sabnetmap threads' heap growth and CPU per packet:",
    '',
    textBlock(formatPipelineBench(r)),
  ].join('\n');
}

/** bench micro's section: ns per operation, and for copies Gbit/s and the time against Buffer.copy. */
export function microMarkdown(r: MicroResult, timeMs: number): string {
  return [
    `Each primitive timed in one thread with tinybench for ${timeMs} ms (a sample is a loop of 1024 operations; per operation: the median, min-p99). ${r.cores} cores, ${r.cpuModel}, Node ${r.node}.`,
    '',
    '| operation | ns | min-p99 | Gbit/s | x Buffer.copy |',
    '| :--- | ---: | ---: | ---: | ---: |',
    ...r.results.map(
      (l) =>
        `| ${cell(l.name)} | ${f2(l.ns)} | ${f2(l.nsMin)}-${f2(l.nsP99)} | ${l.gbps === undefined ? '' : f2(l.gbps, 1)} | ${
          l.vsBufferCopy === undefined ? '' : f2(l.vsBufferCopy)
        } |`,
    ),
  ].join('\n');
}

/** The isolation section: flow A next to an honest and a hostile guest, per port and kind of guest. */
export function isolationMarkdown(rs: IsolationResult[], seconds: number): string {
  const busy = (v: number | null | undefined) => (v === null || v === undefined ? '-' : f2(v, 1));
  const rows = rs.map((r) => {
    const b = r.baseline?.flowA;
    const h = r.hostile;
    return `| ${r.port} | ${r.guest} | ${b ? f2(b.mpps) : '-'} | ${h ? f2(h.flowA.mpps) : '-'} | ${h ? f2(h.ratio) : '-'} | ${busy(b?.busyNsPerPacket)} | ${busy(h?.flowA.busyNsPerPacket)} | ${h?.busyRatio == null ? '-' : f2(h.busyRatio)} | ${h ? `${h.flowA.seqErrors} / ${h.flowA.drops}` : '-'} | ${r.sharedWithA} |`;
  });
  return [
    `Flow A (host txseq -> rxseq) next to flow B, a passed-through port in another namespace whose guest is honest (a pkt-gen at full speed: the baseline) and then hostile (random writes; kick-storm: kicking at full speed), ${seconds} s of flow A each; ${rs[0]?.cores ?? '?'} cores, ${rs[0]?.busyThreads ?? 5} threads. Mpps: flow A's median (500 ms intervals); busy ns/pkt: flow A's CPU minus idle spin per packet, summed over its threads; ratios: next to the hostile guest over next to the honest one.`,
    '',
    '| port | guest | flow A Mpps, honest | hostile | ratio | busy ns/pkt, honest | hostile | ratio | seq errors / drops (hostile) | flow A buffers flow B held |',
    '| :--- | :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    "The CLI's reports (`sabnetmap isolation`), with flow B's figures:",
    '',
    textBlock(rs.map((r) => formatIsolation(r)).join('\n')),
  ].join('\n');
}

/** The bench vxlan section: a run per underlay MTU, or why it was skipped. */
export function vxlanMarkdown(rs: VxlanBenchResult[], skipped: string | null): string {
  if (skipped !== null) {
    return `Skipped: ${skipped}. \`bench vxlan\` makes two network namespaces with kernel vxlan devices and veth pairs, which needs root, \`ip\` (iproute2) and \`ethtool\`; run \`sudo npm run figures\` for this section.`;
  }
  const s = (x: { median: number; min: number; max: number }, d = 2) =>
    `${f2(x.median, d)} (${f2(x.min, d)}-${f2(x.max, d)})`;
  return [
    "One TCP flow between two network namespaces (kernel vxlan devices, veth pairs) through the sabnetmap switch's VXLAN ports, and through a Linux bridge of two kernel vxlan devices (the anchor), per underlay MTU: median (min-max) over the runs.",
    '',
    '| underlay MTU | MB | sabnetmap Gbit/s | bridge Gbit/s | ratio | frames/s | endpoint CPU ns/frame (user + kernel) | with a core per endpoint thread, Gbit/s |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rs.map(
      (r) =>
        `| ${r.mtu} | ${r.bytes / 1e6} | ${s(r.sabnetmap.gbps)} | ${s(r.bridge.gbps)} | ${f2(r.ratio.median)} | ${f2(r.sabnetmap.framesPerSecond.median, 0)} | ${f2(r.sabnetmap.cpuNsPerFrame.median, 0)} (${f2(r.sabnetmap.userNsPerFrame.median, 0)} + ${f2(r.sabnetmap.sysNsPerFrame.median, 0)}) | ${s(r.sabnetmap.projectedGbps)} |`,
    ),
    '',
    textBlock(rs.map((r) => formatVxlanBench(r)).join('\n')),
  ].join('\n');
}

const TOOLS: Record<FigureTool, Tool> = {
  'bench-pipeline': {
    title: 'bench pipeline',
    command: (seconds) => `sabnetmap bench pipeline --seconds ${seconds} --rounds ${PIPELINE_ROUNDS}`,
    // Per build: the measured time, a 500 ms warm-up, the pool's start and stop.
    estimate: (seconds) => PIPELINE_ROUNDS * PIPELINE_BENCH_BUILDS.length * (seconds + 1),
    async run(seconds, say) {
      const r = await runPipelineBench({
        seconds,
        rounds: PIPELINE_ROUNDS,
        onResult: (l, k) => say(`  round ${k + 1}: ${l.name}: ${f2(l.mpps)} Mpps`),
      });
      return { result: r, markdown: pipelineMarkdown(r) };
    },
  },
  'bench-micro': {
    title: 'bench micro',
    command: (seconds) => `sabnetmap bench micro --time-ms ${microTimeMs(seconds)}`,
    estimate: (seconds) => MICRO_TASKS * ((microTimeMs(seconds) + 100) / 1000) + 1,
    async run(seconds) {
      const timeMs = microTimeMs(seconds);
      const r = await runMicroBench({ timeMs });
      return { result: r, markdown: `${microMarkdown(r, timeMs)}\n\n${textBlock(formatMicro(r))}` };
    },
  },
  isolation: {
    title: 'isolation',
    command: (seconds) =>
      `sabnetmap isolation --port pipe|vale --guest hostile|kick-storm --seconds ${isolationSeconds(seconds)}`,
    // Two phases a run (the baseline, then the guest), each the measured time, a warm-up and two sessions' start.
    estimate: (seconds) => FIGURE_ISOLATION.length * 2 * (isolationSeconds(seconds) + 1.5),
    async run(seconds, say) {
      const rs: IsolationResult[] = [];
      for (const { port, guest } of FIGURE_ISOLATION) {
        rs.push(
          await runIsolation({
            port,
            guest,
            seconds: isolationSeconds(seconds),
            seed: 1,
            onPhase: (p) => say(`  ${port}: ${p}`),
          }),
        );
      }
      return { result: rs, markdown: isolationMarkdown(rs, isolationSeconds(seconds)) };
    },
  },
  'bench-vxlan': {
    title: 'bench vxlan',
    command: (seconds) => `sudo sabnetmap bench vxlan --mb ${vxlanMb(seconds)} --mtu 1500|9000`,
    // Only as root (else skipped at once): per MTU the two transfers (~0.2-2 Gbit/s) and the namespaces' set-up.
    estimate: (seconds) =>
      typeof process.getuid === 'function' && process.getuid() === 0
        ? FIGURE_VXLAN_MTUS.length * ((vxlanMb(seconds) * 8) / 200 + 5)
        : 0,
    async run(seconds, say) {
      const why = netnsUnavailable();
      if (why !== null) return { result: { skipped: why }, markdown: vxlanMarkdown([], why) };
      const rs: VxlanBenchResult[] = [];
      for (const mtu of FIGURE_VXLAN_MTUS) {
        rs.push(await runVxlanBench({ bytes: vxlanMb(seconds) * 1e6, runs: 1, mtu, onProgress: (l) => say(`  ${l}`) }));
      }
      return { result: rs, markdown: vxlanMarkdown(rs, null) };
    },
  },
};

/**
 * A heading's anchor as GitHub makes it: lower case, punctuation but '-' and '_' dropped,
 * spaces to '-' (a repeated heading's '-1', '-2' aside).
 */
export function figureAnchor(title: string): string {
  return title
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The page's sections, in order: title and anchor (what docs may link to: figures.md#anchor). */
export function figureSections(
  scenarios: readonly string[] = FIGURE_SCENARIOS,
  tools: readonly FigureTool[] = FIGURE_TOOLS,
): Array<{ title: string; anchor: string }> {
  return [FLAGSHIP_TITLE, ...scenarios, ...tools.map((t) => TOOLS[t].title)].map((title) => ({
    title,
    anchor: figureAnchor(title),
  }));
}

const FLAGSHIP_TITLE = 'The flagship run';

/** Runs a tool into its own run directory (result.json, report.md) and returns the page's run. */
async function runTool(
  name: FigureTool,
  seconds: number,
  outDir: string,
  say: (l: string) => void,
): Promise<FiguresRun> {
  const t = TOOLS[name];
  say(`figures: ${t.title} (about ${Math.round(t.estimate(seconds))} s)`);
  const dir = makeRunDir(outDir, name, new Date());
  const r = await t.run(seconds, say);
  const report = join(dir, 'report.md');
  writeFileSync(join(dir, 'result.json'), `${JSON.stringify(r.result, null, 2)}\n`);
  writeFileSync(report, `# ${t.title}\n\n${r.markdown}\n`);
  return { name, title: t.title, command: t.command(seconds), dir, report };
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
        `\`${r.command}\`; run directory \`${dir.startsWith('..') ? r.dir : dir}\` (not committed: ${r.files ?? 'points.json, points.csv'}).`,
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
  const tools = o.tools ?? FIGURE_TOOLS;
  const say = o.progress ?? ((l: string) => void process.stderr.write(`${l}\n`));
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
    title: FLAGSHIP_TITLE,
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
  for (const name of tools) {
    if (o.signal?.aborted) break;
    runs.push({ ...(await runTool(name, seconds, outDir, say)), files: 'result.json' });
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
