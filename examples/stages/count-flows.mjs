/**
 * Counts packets and bytes per connection (both directions are one flow) without
 * allocating per packet (a FlowTable of typed arrays); its result is this worker's
 * top flows, which the main thread merges. Used by examples/flow-counter.mjs.
 */
import { defineStage, FlowTable, PacketHeaders } from 'sabnetmap';

export default defineStage((ctx) => {
  const h = new PacketHeaders();
  const flows = new FlowTable(ctx.options?.maxFlows ?? 1 << 16);
  return {
    batch(b) {
      for (let i = 0; i < b.length; i++) {
        h.parse(b.data, b.offset(i), b.len(i));
        flows.add(h);
      }
    },
    finish() {
      return {
        worker: ctx.worker,
        flows: flows.size,
        untracked: flows.untracked,
        top: flows.top(ctx.options?.top ?? 10),
      };
    },
  };
});
