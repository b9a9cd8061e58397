#!/usr/bin/env node
/**
 * Filter: drop packets by a rule on addresses and ports, forward the rest, write what
 * passed to a pcap file.
 *
 *   node examples/filter.mjs --out /tmp/passed.pcap --net 10.0.0.0/30 --port 53
 *   options: --pcap IN (a capture to filter; default pkt-gen frames) --flows N (8)
 *            --count N (100000) --json
 *
 * --net drops packets from or to that IPv4 network, --port packets from or to that port.
 */
import { parseArgs } from 'node:util';
import { generator, Pipeline, pcapSink, pcapSource } from 'sabnetmap';

const { values: o } = parseArgs({
  options: {
    out: { type: 'string' },
    pcap: { type: 'string' },
    net: { type: 'string' },
    port: { type: 'string' },
    flows: { type: 'string', default: '8' },
    count: { type: 'string', default: '100000' },
    json: { type: 'boolean', default: false },
  },
});
if (!o.out) {
  console.error('filter: --out FILE is needed (where the packets that pass are written)');
  process.exit(2);
}
const source = o.pcap ? pcapSource(o.pcap) : generator({ flows: Number(o.flows), count: Number(o.count) });
const rule = { net: o.net, port: o.port === undefined ? undefined : Number(o.port) };

const r = await new Pipeline()
  .source(source)
  .stage('filter', new URL('./stages/filter.mjs', import.meta.url), { options: rule })
  .stage('write', pcapSink(o.out))
  .run();

const filter = r.nodes.find((n) => n.name === 'filter');
const out = {
  in: filter.in,
  passed: filter.out,
  dropped: filter.dropped,
  written: r.results.write[0].records,
  file: o.out,
};
if (o.json) process.stdout.write(`${JSON.stringify(out)}\n`);
else console.log(`${out.in} packets: ${out.passed} passed (written to ${out.file}), ${out.dropped} dropped`);
