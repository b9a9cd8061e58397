/**
 * Stage 3 of examples/chain.mjs: checks what the first two did (the MACs, the TTL, the
 * IPv4 checksum) and counts; its result is the tally.
 */
import { defineStage, ipv4ChecksumOk, PacketHeaders } from 'sabnetmap';

const mac = (s) => s.split(':').map((x) => Number.parseInt(x, 16));

export default defineStage((ctx) => {
  const h = new PacketHeaders();
  const dst = mac(ctx.options.dst);
  const ttl = ctx.options.ttl;
  const t = { packets: 0, macOk: 0, ttlOk: 0, checksumOk: 0 };
  return {
    batch(b) {
      for (let i = 0; i < b.length; i++) {
        const off = b.offset(i);
        h.parse(b.data, off, b.len(i));
        t.packets++;
        let same = true;
        for (let k = 0; k < 6; k++) if (b.data[off + k] !== dst[k]) same = false;
        if (same) t.macOk++;
        if (h.ttl === ttl) t.ttlOk++;
        if (h.ipVersion === 4 && ipv4ChecksumOk(b.data, h.l3)) t.checksumOk++;
      }
    },
    finish: () => t,
  };
});
