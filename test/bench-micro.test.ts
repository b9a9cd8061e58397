import { describe, expect, it } from 'vitest';
import { runMicroBench } from '../bench/micro.js';

describe('bench micro', () => {
  it('times every primitive and relates each copy to Buffer.copy of the same bytes', async () => {
    const r = await runMicroBench({ timeMs: 10 });
    const names = r.results.map((l) => l.name);
    for (const len of [60, 1514]) {
      for (const how of ['word loop', 'set() on size-class views', 'Buffer.copy', 'copyWithin']) {
        expect(names.some((n) => n.startsWith(`copy ${len} B: ${how}`))).toBe(true);
      }
      const ref = r.results.find((l) => l.name === `copy ${len} B: Buffer.copy`);
      expect(ref?.vsBufferCopy).toBe(1);
    }
    for (const l of r.results) {
      expect(l.ns).toBeGreaterThan(0);
      expect(l.nsMin).toBeLessThanOrEqual(l.ns);
      expect(l.nsP99).toBeGreaterThanOrEqual(l.ns);
      if (l.name.startsWith('copy ')) {
        const len = Number(l.name.split(' ')[1]);
        expect(l.gbps).toBeCloseTo((len * 8) / l.ns, 6);
      } else {
        expect(l.gbps).toBeUndefined();
      }
    }
    expect(r.cores).toBeGreaterThan(0);
  });
});
