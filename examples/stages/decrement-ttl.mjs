/**
 * Stage 2 of examples/chain.mjs: decrements the IPv4 TTL (IPv6 hop limit) in place and
 * fixes the header checksum incrementally (RFC 1624); a packet whose TTL was 0 is dropped.
 */
import { decrementTtl, defineStage, PacketHeaders } from 'sabnetmap';

export default defineStage(() => {
  const h = new PacketHeaders();
  return {
    batch(b) {
      for (let i = 0; i < b.length; i++) {
        h.parse(b.data, b.offset(i), b.len(i));
        if (h.ipVersion === 0 || decrementTtl(b.data, h.l3) < 0) b.drop(i);
      }
    },
  };
});
