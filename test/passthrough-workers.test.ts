/**
 * Passthrough across workers: a guest VM worker, a host kloop worker and a host app
 * worker. Every packet arrives, in order, in both directions; the counters show the
 * kick/interrupt protocol at work.
 */
import { describe, expect, it } from 'vitest';
import { runPktGenPair } from '../src/apps/pktgen-run.js';

describe('passthrough across workers', () => {
  it.each([
    ['guest', 'host'],
    ['host', 'guest'],
    ['guest', 'guest'],
  ] as const)(
    'txseq %s -> %s: 300k packets on a ring of 64, all delivered in order',
    async (tx, rx) => {
      const count = 300_000;
      const r = await runPktGenPair({ mode: 'txseq', tx, rx, count, ring: 64, batch: 32, spinUs: 0, lingerUs: 50 });
      expect(r.sent).toBe(count);
      expect(r.packets).toBe(count);
      expect(r.seqErrors).toBe(0);
      expect(r.drops).toBe(0);
      expect(r.threads).toBe(2 + (tx === 'guest' ? 1 : 0) + (rx === 'guest' ? 1 : 0));
      // The apps sleep at once (spinUs 0): the guest side must have taken interrupts.
      expect(r.irqsPerPacket).toBeGreaterThan(0);
    },
    60_000,
  );

  it('a busy-waiting kloop never asks for kicks: the guest never kicks', async () => {
    const r = await runPktGenPair({
      mode: 'txseq',
      tx: 'guest',
      count: 100_000,
      ring: 64,
      batch: 32,
      spinUs: 0,
      busyWait: true,
    });
    expect(r.packets).toBe(100_000);
    expect(r.kicksPerPacket).toBe(0);
    expect(r.kloopWakeupsPerSecond).toBe(0);
  }, 60_000);

  it('irqsPerBatch: the interrupts over the batches of the guest app that takes them', async () => {
    // host -> guest: the interrupts go to the receiving guest, whose batches set avgBatch.
    const r = await runPktGenPair({ mode: 'txseq', rx: 'guest', count: 100_000, ring: 64, batch: 32, spinUs: 0 });
    expect(r.packets).toBe(100_000);
    expect(r.irqsPerBatch).toBeGreaterThan(0);
    const fromPerPacket = r.irqsPerPacket * r.avgBatch;
    expect(Math.abs(r.irqsPerBatch - fromPerPacket)).toBeLessThanOrEqual(1e-9 * fromPerPacket);
  }, 60_000);

  it('irqsPerBatch is 0 between host apps (nothing takes interrupts)', async () => {
    const r = await runPktGenPair({ mode: 'txseq', count: 50_000, ring: 64, batch: 32, spinUs: 0 });
    expect(r.irqsPerPacket).toBe(0);
    expect(r.irqsPerBatch).toBe(0);
  }, 60_000);
});
