// Test stage: records the connections (both directions as one) each worker sees.
import { defineStage, PacketHeaders } from 'sabnetmap';

export default defineStage((ctx) => {
  const h = new PacketHeaders();
  const seen = new Set();
  return {
    batch(b) {
      for (let i = 0; i < b.length; i++) {
        h.parse(b.data, b.offset(i), b.len(i));
        const ends = [`${h.srcAddress()}:${h.srcPort}`, `${h.dstAddress()}:${h.dstPort}`].sort();
        seen.add(`${h.proto} ${ends.join(' ')}`);
      }
    },
    finish: () => ({ worker: ctx.worker, flows: [...seen] }),
  };
});
