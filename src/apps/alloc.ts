/**
 * How we check "zero bytes allocated per packet": a role counts the garbage
 * collections of its own isolate and the heap growth while it runs. With no GC in the
 * window, the heap growth is exactly what the role allocated; divided by hundreds of
 * millions of packets it shows whether anything is allocated per packet.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { setImmediate as tick } from 'node:timers/promises';
import { getHeapStatistics } from 'node:v8';

export interface AllocReport {
  /** Garbage collections (any kind) in this thread while the role ran. */
  gcs: number;
  /** Heap growth over the role's run (bytes); meaningful when gcs is 0. */
  heapBytes: number;
}

export async function measureAlloc<T>(fn: () => T): Promise<{ result: T; alloc: AllocReport }> {
  let gcs = 0;
  let t0 = 0;
  let t1 = Number.POSITIVE_INFINITY;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (e.startTime >= t0 && e.startTime <= t1) gcs++;
  });
  obs.observe({ entryTypes: ['gc'] });
  t0 = performance.now();
  const h0 = getHeapStatistics().used_heap_size;
  const result = fn();
  const h1 = getHeapStatistics().used_heap_size;
  t1 = performance.now();
  // GC entries are delivered asynchronously: let them arrive before counting.
  await tick();
  await tick();
  obs.disconnect();
  return { result, alloc: { gcs, heapBytes: h1 - h0 } };
}
