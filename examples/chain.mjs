#!/usr/bin/env node
/**
 * A 3-stage chain with edits in place: pkt-gen frames -> rewrite the MACs -> decrement
 * the TTL and fix the IPv4 checksum -> verify and count. The buffers travel from stage to
 * stage by zero-copy swaps: each edit is made once, in the packet's own buffer.
 *
 *   node examples/chain.mjs [--count N (1000000)] [--flows N (64)] [--json]
 */
import { parseArgs } from 'node:util';
import { generator, Pipeline } from 'sabnetmap';

const { values: o } = parseArgs({
  options: {
    count: { type: 'string', default: '1000000' },
    flows: { type: 'string', default: '64' },
    json: { type: 'boolean', default: false },
  },
});
const macs = { dst: '02:aa:bb:cc:dd:02', src: '02:aa:bb:cc:dd:01' };
const stage = (name) => new URL(`./stages/${name}.mjs`, import.meta.url);

const r = await new Pipeline()
  .source(generator({ flows: Number(o.flows), count: Number(o.count) }))
  .stage('macs', stage('rewrite-macs'), { options: macs })
  .stage('ttl', stage('decrement-ttl'))
  .stage('verify', stage('verify'), { options: { dst: macs.dst, ttl: 63 } })
  .run();

const t = r.results.verify[0];
const out = { ...t, produced: r.produced, dropped: r.dropped, mpps: r.mpps };
if (o.json) process.stdout.write(`${JSON.stringify(out)}\n`);
else {
  console.log(
    `${t.packets} of ${r.produced} packets through 3 stages (${r.mpps.toFixed(2)} Mpps): ` +
      `MACs rewritten ${t.macOk}, TTL 64 -> 63 ${t.ttlOk}, IPv4 checksum valid ${t.checksumOk}`,
  );
}
