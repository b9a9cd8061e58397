/**
 * Drops packets by a rule on addresses and ports, forwards the rest. Options (from the
 * pipeline): `net` ("10.0.0.0/30": drop if the source or the destination is in it) and
 * `port` (drop if either port is it); non-IPv4 frames pass. Used by examples/filter.mjs.
 */
import { defineStage, PacketHeaders, parseIpv4 } from 'sabnetmap';

export default defineStage((ctx) => {
  const h = new PacketHeaders();
  const o = ctx.options ?? {};
  let net = 0;
  let mask = 0;
  if (o.net) {
    const [addr, bits = '32'] = o.net.split('/');
    mask = Number(bits) === 0 ? 0 : (0xffffffff << (32 - Number(bits))) >>> 0;
    net = (parseIpv4(addr) & mask) >>> 0;
  }
  const port = o.port ?? -1;
  const hasNet = o.net !== undefined;
  return {
    batch(b) {
      for (let i = 0; i < b.length; i++) {
        h.parse(b.data, b.offset(i), b.len(i));
        if (h.ipVersion !== 4) continue;
        const netHit = hasNet && ((h.ipv4Src & mask) >>> 0 === net || (h.ipv4Dst & mask) >>> 0 === net);
        const portHit = port >= 0 && (h.srcPort === port || h.dstPort === port);
        if (netHit || portHit) b.drop(i);
      }
    },
  };
});
