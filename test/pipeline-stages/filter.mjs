// Test stage: packets to ctx.options.port go to the 'rejected' output, the rest forward.
import { defineStage, PacketHeaders } from 'sabnetmap';

export default defineStage({
  outputs: ['rejected'],
  create(ctx) {
    const h = new PacketHeaders();
    const rejected = ctx.output('rejected');
    const port = ctx.options.port;
    return {
      batch(b) {
        for (let i = 0; i < b.length; i++) {
          h.parse(b.data, b.offset(i), b.len(i));
          if (h.dstPort === port) b.forward(i, rejected);
        }
      },
    };
  },
});
