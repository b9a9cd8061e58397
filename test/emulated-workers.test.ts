/**
 * The emulated NIC across workers: a guest VM worker (app + native e1000 driver), a
 * device thread (e1000 + netmap back-end) and a host app. Every packet arrives in order
 * both ways, over pipes and VALE; doorbells and interrupts are counted.
 */
import { describe, expect, it } from 'vitest';
import { runPktGenPair } from '../src/apps/pktgen-run.js';

describe('emulated NIC across workers', () => {
  // Two host threads on the path (one per guest): at the stop, packets still in flight
  // (in the sender's ring, the pipe, the receiver's ring) must all arrive, while the
  // apps pause at random so the stop finds a backlog.
  it.each([
    ['emulated', 'emulated'],
    ['guest', 'guest'],
    ['emulated', 'guest'],
    ['guest', 'emulated'],
  ] as const)('pipe, %s -> %s with pausing apps: the stop drains everything in flight', async (tx, rx) => {
    const count = 20_000;
    const r = await runPktGenPair({
      port: 'pipe',
      mode: 'txseq',
      tx,
      rx,
      count,
      ring: 64,
      batch: 32,
      spinUs: 0,
      lingerUs: 0,
      pauseUs: 2000,
      pauseEvery: 8,
    });
    expect(r.sent).toBe(count);
    expect(r.packets).toBe(count);
    expect(r.seqErrors).toBe(0);
  });

  it.each([
    ['pipe', 'emulated', 'host'],
    ['pipe', 'host', 'emulated'],
    ['pipe', 'emulated', 'emulated'],
    ['vale', 'emulated', 'host'],
    ['vale', 'host', 'emulated'],
  ] as const)(
    'txseq over %s, %s -> %s: 200k packets on a ring of 64, all delivered in order',
    async (port, tx, rx) => {
      const count = 200_000;
      const r = await runPktGenPair({
        port,
        mode: 'txseq',
        tx,
        rx,
        count,
        ring: 64,
        batch: 32,
        spinUs: 0,
        lingerUs: 50,
      });
      expect(r.sent).toBe(count);
      // A VALE switch drops what finds the receiver's ring full, and counts it.
      expect(r.packets + r.drops).toBe(count);
      if (port === 'pipe') expect(r.drops).toBe(0);
      expect(r.seqErrors).toBeLessThanOrEqual(r.drops);
      expect(r.threads).toBe(2 + (tx === 'emulated' ? 1 : 0) + (rx === 'emulated' ? 1 : 0));
      // Each guest sync that moved slots rang a doorbell; completions raised interrupts.
      expect(r.kicksPerPacket).toBeGreaterThan(0);
      expect(r.irqsPerPacket).toBeGreaterThan(0);
      const devs = r.devices ?? [];
      // On VALE the receiver first announces its MAC: one packet from the receiving guest.
      const announce = port === 'vale' && rx === 'emulated' ? 1 : 0;
      expect(devs.reduce((t, d) => t + d.txPackets, 0)).toBe((tx === 'emulated' ? count : 0) + announce);
      expect(devs.every((d) => d.txBad === 0 && d.rxBad === 0 && d.badTails === 0)).toBe(true);
    },
    60_000,
  );

  it('ping through an emulated NIC: every round trip completes', async () => {
    const r = await runPktGenPair({ mode: 'ping', tx: 'emulated', count: 2000, batch: 1, spinUs: 0 });
    expect(r.rtt?.count).toBe(2000);
    expect(r.seqErrors).toBe(0);
  }, 60_000);

  it('moderation holds interrupts back without losing packets', async () => {
    const base = { mode: 'txseq', rx: 'emulated', count: 100_000, ring: 256, batch: 64, spinUs: 0 } as const;
    const a = await runPktGenPair({ ...base, moderation: 1 });
    const b = await runPktGenPair({ ...base, moderation: 64 });
    expect(a.packets).toBe(100_000);
    expect(b.packets).toBe(100_000);
    expect(b.seqErrors).toBe(0);
    // With 1 every received packet raises one; with 64, at most one per 64 (plus idle flushes).
    expect(a.irqsPerPacket).toBe(1);
    expect(b.irqsPerPacket).toBeLessThan(a.irqsPerPacket);
  }, 60_000);
});
