/**
 * Stage 1 of examples/chain.mjs: rewrites the Ethernet addresses in place (as a router's
 * next hop would): destination = options.dst, source = options.src ("02:..:..").
 */
import { defineStage, writeMac } from 'sabnetmap';

const mac = (s) => s.split(':').map((x) => Number.parseInt(x, 16));

export default defineStage((ctx) => {
  const dst = mac(ctx.options.dst);
  const src = mac(ctx.options.src);
  return {
    batch(b) {
      for (let i = 0; i < b.length; i++) {
        const off = b.offset(i);
        writeMac(b.data, off, dst);
        writeMac(b.data, off + 6, src);
      }
    },
  };
});
