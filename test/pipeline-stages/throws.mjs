// Test stage: throws at its input's packet number ctx.options.at (counting from 0).
import { defineStage } from 'sabnetmap';

export default defineStage((ctx) => ({
  batch(b) {
    for (let i = 0; i < b.length; i++) {
      b.len(i);
      if (b.position + i === ctx.options.at) throw new Error(`bad packet ${ctx.options.at}`);
    }
  },
}));
