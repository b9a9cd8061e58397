// Test stage: decrements the IPv4 TTL in place (checksum fixed) and forwards.
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
