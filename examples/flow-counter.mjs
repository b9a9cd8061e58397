#!/usr/bin/env node
/**
 * Flow counter: a source -> lb (netmap's load balancer: both directions of a connection
 * go to the same worker) -> 2 workers counting flows -> the workers' top talkers merged
 * on the main thread.
 *
 *   node examples/flow-counter.mjs                     # pkt-gen frames, 1000 flows both ways
 *   node examples/flow-counter.mjs --pcap capture.pcap # a pcap or pcapng file (Ethernet)
 *   options: --flows N (1000) --count N (1000000) --top N (10) --json
 *
 * (Run from the package directory after `npm install`, which builds dist/.)
 */
import { parseArgs } from 'node:util';
import { generator, lb, Pipeline, pcapSource, topFlows } from 'sabnetmap';

const { values: o } = parseArgs({
  options: {
    pcap: { type: 'string' },
    flows: { type: 'string', default: '1000' },
    count: { type: 'string', default: '1000000' },
    top: { type: 'string', default: '10' },
    json: { type: 'boolean', default: false },
  },
});
const top = Number(o.top);
const source = o.pcap
  ? pcapSource(o.pcap)
  : generator({ flows: Number(o.flows), count: Number(o.count), bidirectional: true });

const r = await new Pipeline()
  .source(source)
  .stage('lb', lb({ onFull: 'wait' }))
  .stage('count', new URL('./stages/count-flows.mjs', import.meta.url), { workers: 2, options: { top } })
  .run();

const workers = r.results.count;
const talkers = topFlows(
  workers.map((w) => w.top),
  top,
);
const lbStats = r.nodes.find((n) => n.name === 'lb').lb;
const out = {
  packets: r.delivered,
  flows: workers.reduce((t, w) => t + w.flows, 0),
  perWorker: workers.map((w) => ({
    flows: w.flows,
    packets: r.links.find((l) => l.to === `count#${w.worker}`)?.sent ?? 0,
  })),
  lb: { nonIp: lbStats.nonIp, outputs: lbStats.outputs },
  top: talkers,
  mpps: r.mpps,
};
if (o.json) {
  process.stdout.write(`${JSON.stringify(out)}\n`);
} else {
  console.log(
    `${out.packets} packets, ${out.flows} flows (${out.perWorker.map((w) => w.flows).join(' + ')} per worker), ${r.mpps.toFixed(2)} Mpps`,
  );
  console.log('top talkers (bytes, packets, flow):');
  for (const f of talkers) {
    console.log(
      `  ${String(f.bytes).padStart(10)} ${String(f.packets).padStart(8)}  ${f.a}:${f.aPort} <-> ${f.b}:${f.bPort} proto ${f.proto}`,
    );
  }
}
