/**
 * The counting stage of the pipeline benchmark (bench/pipeline.ts), as a stage module: the
 * same work per packet as the baselines' counters (bench/pipeline-roles.ts CountWork):
 * parse the headers, count the packet by protocol and destination port.
 */

import { defineStage } from '../src/pipeline/stage.js';
import { CountWork } from './pipeline-roles.js';

export default defineStage(() => {
  const work = new CountWork();
  return {
    batch(b) {
      for (let i = 0; i < b.length; i++) work.frame(b.data, b.offset(i), b.len(i));
    },
    finish() {
      return { packets: work.packets, buckets: work.buckets() };
    },
  };
});
