#!/usr/bin/env node
/**
 * `npm run figures`: runs the flagship, the key scenarios and the benchmarks with commands
 * of their own (bench pipeline, bench micro, isolation, bench vxlan as root) on this
 * machine and writes docs/figures.md (bench/figures.ts, run from dist/: `npm run figures`
 * builds first). Ctrl-C stops the run in progress (a tool's run ends first) and writes no page.
 *
 * usage: node scripts/figures.mjs [--seconds S per point (1)] [--out DIR (results/figures)]
 *        [--page FILE (docs/figures.md)] [--scenario NAME ... (the key ones)]
 *        [--tool NAME ... (all; none for none)]
 */
import { parseArgs } from 'node:util';

const HELP = `usage: npm run figures -- [--seconds S per point (1)] [--out DIR (results/figures)]
       [--page FILE (docs/figures.md)] [--scenario NAME ... (default: the flagship's companions)]
       [--tool bench-pipeline|bench-micro|isolation|bench-vxlan|none ... (default: all)]
`;

let values;
try {
  ({ values } = parseArgs({
    options: {
      seconds: { type: 'string' },
      out: { type: 'string' },
      page: { type: 'string' },
      scenario: { type: 'string', multiple: true },
      tool: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (e) {
  process.stderr.write(`figures: ${e.message.split('\n')[0]}\n${HELP}`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const seconds = values.seconds === undefined ? 1 : Number(values.seconds);
if (!(Number.isFinite(seconds) && seconds > 0 && seconds <= 600)) {
  process.stderr.write(`figures: --seconds must be a number above 0, at most 600, got '${values.seconds}'\n`);
  process.exit(2);
}

const { FIGURE_SCENARIOS, FIGURE_TOOLS, figuresEstimate, runFigures } = await import('../dist/bench/figures.js');
const scenarios = values.scenario ?? FIGURE_SCENARIOS;
const tools = (values.tool ?? FIGURE_TOOLS).filter((t) => t !== 'none');
const unknown = tools.filter((t) => !FIGURE_TOOLS.includes(t));
if (unknown.length > 0) {
  process.stderr.write(`figures: --tool must be ${FIGURE_TOOLS.join(', ')} or none, got '${unknown[0]}'\n`);
  process.exit(2);
}
const stop = new AbortController();
process.on('SIGINT', () => {
  if (stop.signal.aborted) process.exit(130);
  process.stderr.write('figures: interrupted: stopping the run in progress; no page is written\n');
  stop.abort();
});
const t0 = Date.now();
process.stderr.write(
  `figures: the flagship run, ${[...scenarios, ...tools].join(', ')} at ${seconds} s per point, about ${Math.round(figuresEstimate(seconds, scenarios, tools))} s\n`,
);
try {
  const { page } = await runFigures({
    seconds,
    outDir: values.out,
    page: values.page,
    scenarios,
    tools,
    signal: stop.signal,
  });
  const took = Math.round((Date.now() - t0) / 1000);
  if (stop.signal.aborted) process.exitCode = 130;
  else process.stderr.write(`figures: wrote ${page} in ${took} s\n`);
} catch (e) {
  process.stderr.write(`figures: ${e?.message ?? e}\n`);
  process.exitCode = e?.name === 'ScenarioError' || e?.code === 'EINVAL' ? 2 : 1;
}
