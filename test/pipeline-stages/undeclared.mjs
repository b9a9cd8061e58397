// Test stage: asks for an output it did not declare.
import { defineStage } from 'sabnetmap';

export default defineStage((ctx) => {
  ctx.output('missing');
  return { batch() {} };
});
