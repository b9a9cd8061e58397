/**
 * pkt-gen across two piscina workers over a pipe: descriptors posted to workers, small
 * and non-power-of-two rings (backpressure on every lap), sequence checks, and a ping
 * where both sides sleep in poll between packets (no lost wake-up).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { runPktGenPair } from '../src/apps/pktgen-run.js';
import { requireBuilt } from './helpers.js';

beforeAll(() => requireBuilt());

type Result = Awaited<ReturnType<typeof runPktGenPair>>;

function expectClean(r: Result, count: number): void {
  expect(r.packets).toBe(count);
  expect(r.sent).toBe(count);
  expect(r.seqErrors).toBe(0);
  expect(r.drops).toBe(0);
  expect(r.bytes).toBe(count * r.len);
  // Kernel counters agree with the apps: every packet went through both krings once.
  expect(r.counters.sender.packets).toBe(count);
  expect(r.counters.receiver.packets).toBe(count);
  expect(r.counters.sender.errors).toBe(0);
  expect(r.counters.receiver.errors).toBe(0);
  expect(r.counters.sender.drops).toBe(0);
  expect(r.counters.receiver.drops).toBe(0);
  expect(r.threads).toBe(2);
}

describe('pkt-gen pair across workers', () => {
  it('txseq 10M packets on a ring of 64, batch 32, spin 50 µs: all delivered in order', async () => {
    const count = 10_000_000;
    const r = await runPktGenPair({ mode: 'txseq', count, ring: 64, batch: 32, spinUs: 50 });
    expectClean(r, count);
    expect(r.ring).toBe(64);
    expect(r.batch).toBe(32);
    // A ring of 64 holds at most 63 packets: batches can never be larger.
    expect(r.avgBatch).toBeGreaterThan(0);
    expect(r.avgBatch).toBeLessThanOrEqual(63);
  }, 150_000);

  it('txseq 1M packets on a ring of 7 (not a power of two)', async () => {
    const count = 1_000_000;
    const r = await runPktGenPair({ mode: 'txseq', count, ring: 7, batch: 32, spinUs: 50 });
    expectClean(r, count);
    expect(r.ring).toBe(7);
    expect(r.avgBatch).toBeLessThanOrEqual(6);
  }, 120_000);

  it('ping 100k with both sides sleeping in poll: every reply arrives, sleeps and wake-ups happen', async () => {
    const count = 100_000;
    const r = await runPktGenPair({ mode: 'ping', count, spinUs: 0 });
    expect(r.rtt?.count).toBe(count);
    expect(r.packets).toBe(count);
    expect(r.sent).toBe(count);
    expect(r.seqErrors).toBe(0);
    expect(r.drops).toBe(0);
    const { sender, receiver } = r.counters;
    expect(receiver.sleeps).toBeGreaterThan(0);
    expect(sender.sleeps).toBeGreaterThan(0);
    expect(receiver.wakeups).toBeGreaterThan(0);
    expect(sender.wakeups).toBeGreaterThan(0);
    // A wake-up is a notify from the other side; nothing else notifies a port.
    expect(receiver.wakeups).toBeLessThanOrEqual(sender.notifies);
    expect(sender.wakeups).toBeLessThanOrEqual(receiver.notifies);
    expect(sender.errors + receiver.errors).toBe(0);
    // RTT summary is ordered.
    const rtt = r.rtt!;
    expect(rtt.min).toBeGreaterThan(0);
    expect(rtt.min).toBeLessThanOrEqual(rtt.median);
    expect(rtt.median).toBeLessThanOrEqual(rtt.p99);
    expect(rtt.p99).toBeLessThanOrEqual(rtt.max);
  }, 120_000);

  it('a bad option is refused before any worker starts', async () => {
    await expect(runPktGenPair({ mode: 'txseq', count: 10, len: 5000 })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(runPktGenPair({ mode: 'txseq', count: 10, ring: 1 })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(runPktGenPair({ mode: 'tx', count: 10, batch: 0 })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(runPktGenPair({ mode: 'tx', seconds: -1 })).rejects.toMatchObject({ code: 'EINVAL' });
  });

  it('neither seconds nor count (seconds: 0, no count) is EINVAL, not a run that never ends', async () => {
    // A hang guard, not a timing assertion: the answer must come before any worker runs.
    const outcome = await Promise.race([
      runPktGenPair({ mode: 'tx', seconds: 0 }).then(
        () => 'resolved',
        (e: unknown) => e,
      ),
      sleep(5_000).then(() => 'still running after 5 s'),
    ]);
    expect(outcome).toMatchObject({ name: 'NetmapError', code: 'EINVAL' });
  }, 30_000);
});
