/**
 * CPU accounting per thread (src/apps/cputime.ts, src/spin.ts): the schedstat reader, the
 * spin loops' own counts, the per-thread figures and their sums, and a real pkt-gen pair
 * reporting a thread per role. No timing assertions.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Control, whenGo } from '../src/apps/control.js';
import {
  CpuWindow,
  cpuAccounting,
  parseSchedstat,
  readSchedstat,
  type ThreadCpu,
  withThreadCpu,
} from '../src/apps/cputime.js';
import { runPktGenPair } from '../src/apps/pktgen-run.js';
import { formatCpuLine } from '../src/cli/format.js';
import { runHostLoop } from '../src/host-loop.js';
import { type SpinCounts, spinCounts, spinIterations, spinNsBetween, spinPoll } from '../src/spin.js';
import { requireBuilt } from './helpers.js';

const linux = process.platform === 'linux';

describe('schedstat', () => {
  it('parses the three counts: CPU ns, run-queue wait ns, timeslices', () => {
    expect(parseSchedstat('123456789 4242 17\n')).toEqual({ cpuNs: 123456789, runqueueWaitNs: 4242, timeslices: 17 });
  });

  it('refuses text that is not three counts', () => {
    for (const bad of ['', '1 2', '1 2 3 4', '1 x 3', '-1 2 3']) expect(parseSchedstat(bad), bad).toBeNull();
  });

  it('reads a file with the three counts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'schedstat-'));
    try {
      const file = join(dir, 'schedstat');
      writeFileSync(file, '1000 200 3\n');
      expect(readSchedstat(file)).toEqual({ cpuNs: 1000, runqueueWaitNs: 200, timeslices: 3 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a missing file is unavailable: null, and a window over it has null CPU fields', () => {
    const missing = join(tmpdir(), 'no-such-dir-sabnetmap', 'schedstat');
    expect(readSchedstat(missing)).toBeNull();
    const w = new CpuWindow(missing);
    w.start();
    const t = w.end('host tx');
    expect(t.role).toBe('host tx');
    expect(t.cpuNs).toBeNull();
    expect(t.runqueueWaitNs).toBeNull();
    expect(t.wallNs).toBeGreaterThan(0);
    expect(t.spinNs).toBe(0);
  });

  it.runIf(linux)("this thread's schedstat counts CPU time as the thread burns it", () => {
    const a = readSchedstat();
    expect(a).not.toBeNull();
    let x = 0;
    for (let i = 0; i < 2e6; i++) x += Math.sqrt(i);
    const b = readSchedstat();
    expect(x).toBeGreaterThan(0);
    expect(b!.cpuNs).toBeGreaterThan(a!.cpuNs);
  });
});

describe('the window starts at the go', () => {
  it('whenGo runs its hook once, when the next start barrier opens', () => {
    const ctl = new Control();
    ctl.go();
    let calls = 0;
    whenGo(() => calls++);
    expect(calls).toBe(0);
    ctl.arriveAndWait();
    ctl.arriveAndWait();
    expect(calls).toBe(1);
  });

  it("withThreadCpu returns the role's result and its thread's window, named", () => {
    const ctl = new Control();
    ctl.go();
    const { result, thread } = withThreadCpu('bridge', () => {
      ctl.arriveAndWait();
      return 42;
    });
    expect(result).toBe(42);
    expect(thread.role).toBe('bridge');
    expect(thread.wallNs).toBeGreaterThan(0);
    if (linux) expect(thread.cpuNs).toBeGreaterThanOrEqual(0);
  });

  it('a role that ends before any go reports an empty window', () => {
    const { thread } = withThreadCpu('kloop', () => 0);
    expect(thread.wallNs).toBe(0);
    expect(thread.spinNs).toBe(0);
  });
});

describe('the spin loops count their own idle spinning', () => {
  const delta = (a: SpinCounts, b: SpinCounts) => ({
    pollIters: b.pollIters - a.pollIters,
    idleSteps: b.idleSteps - a.idleSteps,
  });

  it('poll: a busy phase that finds nothing counts every iteration', () => {
    const never = { moved: () => false, check: () => 0 };
    const n = spinIterations(20);
    const a = spinCounts();
    expect(spinPoll(never, 1, 20, -1)).toBe(0);
    const b = spinCounts();
    expect(delta(a, b)).toEqual({ pollIters: n, idleSteps: 0 });
    expect(spinNsBetween(a, b)).toBeGreaterThan(0);
  });

  it('poll: iterations before the peer moved count, the one that found news does not', () => {
    let left = 5;
    const soon = { moved: () => --left <= 0, check: () => 1 };
    const a = spinCounts();
    expect(spinPoll(soon, 1, 20, -1)).toBe(1);
    expect(delta(a, spinCounts())).toEqual({ pollIters: 4, idleSteps: 0 });
  });

  it('host loop: idle steps (linger and busy-wait) count, working steps do not', () => {
    const bell = new Int32Array(new SharedArrayBuffer(64));
    let steps = 0;
    let stoppedAt = 0;
    const a = spinCounts();
    // Busy-wait, work on every 10th of the first 1000 steps; the stop is looked at every
    // 64 iterations, so the loop runs some idle steps past the 1000th.
    runHostLoop(
      { step: () => ++steps % 10 === 0 && steps <= 1000, bell, beforeSleep() {}, afterSleep() {} },
      {
        lingerUs: 0,
        busyWait: true,
        pollMs: 1,
        stop: () => {
          if (steps < 1000) return false;
          stoppedAt ||= steps;
          return true;
        },
      },
    );
    expect(delta(a, spinCounts())).toEqual({ pollIters: 0, idleSteps: stoppedAt - 100 });
  });
});

describe('per-thread figures and their sums', () => {
  const t = (role: string, cpuNs: number | null, spinNs: number, waitNs: number | null, wallNs = 2e9): ThreadCpu => ({
    role,
    cpuNs,
    runqueueWaitNs: waitNs,
    spinNs,
    wallNs,
  });

  it('per packet: CPU, spin and run-queue wait as % of the wall time', () => {
    const c = cpuAccounting([t('host tx', 1e9, 2e8, 1e8)], 1e8);
    expect(c.threads).toEqual([{ role: 'host tx', cpuNsPerPacket: 10, spinNsPerPacket: 2, runqueueWaitPct: 5 }]);
    expect(c.available).toBe(true);
  });

  it('busy is CPU minus spin, summed over threads; the projection is 1000 / the busiest thread', () => {
    // tx: 10 - 2 = 8 ns busy, rx: 6 - 1 = 5 ns busy, kloop: 20 - 4 = 16 ns busy.
    const c = cpuAccounting([t('guest tx', 1e9, 2e8, 0), t('kloop', 2e9, 4e8, 0), t('host rx', 6e8, 1e8, 0)], 1e8);
    expect(c.busyNsPerPacket).toBeCloseTo(8 + 16 + 5, 9);
    expect(c.projectedMpps).toBeCloseTo(1000 / 16, 9);
  });

  it('spin is capped at the CPU time (it is a calibrated count)', () => {
    const c = cpuAccounting([t('kloop', 1e9, 3e9, 0)], 1e8);
    expect(c.threads[0].spinNsPerPacket).toBe(10);
    expect(c.busyNsPerPacket).toBe(0);
    expect(c.projectedMpps).toBeNull();
  });

  it('a thread without CPU time makes the sums unavailable, its spin still shown', () => {
    const c = cpuAccounting([t('host tx', 1e9, 2e8, 1e8), t('host rx', null, 3e8, null)], 1e8);
    expect(c.available).toBe(false);
    expect(c.busyNsPerPacket).toBeNull();
    expect(c.projectedMpps).toBeNull();
    expect(c.threads[1]).toEqual({ role: 'host rx', cpuNsPerPacket: null, spinNsPerPacket: 3, runqueueWaitPct: null });
  });

  it('no packets: nothing per packet', () => {
    const c = cpuAccounting([t('host tx', 1e9, 2e8, 1e8)], 0);
    expect(c.threads[0].cpuNsPerPacket).toBeNull();
    expect(c.busyNsPerPacket).toBeNull();
    expect(c.projectedMpps).toBeNull();
  });
});

describe('the pkt-gen summary line', () => {
  const t = (role: string, cpuNs: number | null): ThreadCpu => ({
    role,
    cpuNs,
    runqueueWaitNs: cpuNs === null ? null : 1e8,
    spinNs: 2e8,
    wallNs: 2e9,
  });

  it('per thread CPU, spin and wait, then the busy sum and the projection', () => {
    const line = formatCpuLine(cpuAccounting([t('host tx', 1e9), t('host rx', 1.5e9)], 1e8));
    expect(line).toBe(
      'cpu ns/packet: host tx 10.0 (spin 2.00, wait 5.0%), host rx 15.0 (spin 2.00, wait 5.0%); busy 21.0 ns/packet, projected 76.92 Mpps with a core per thread',
    );
  });

  it('says unavailable where a thread has no CPU time, and still shows the spin', () => {
    const line = formatCpuLine(cpuAccounting([t('host tx', null), t('host rx', 1e9)], 1e8));
    expect(line).toContain('unavailable');
    expect(line).toContain('host tx 2.00');
  });
});

describe('a real run', () => {
  it.runIf(linux)('a pkt-gen pair reports a thread per role, CPU > 0 and spin <= CPU', async () => {
    requireBuilt();
    const r = await runPktGenPair({ tx: 'guest', count: 200_000, spinUs: 0, lingerUs: 50, warmupMs: 0 });
    expect(r.cpu.available).toBe(true);
    expect(r.cpu.threads.map((x) => x.role)).toEqual(['guest tx', 'kloop pipe0{', 'host rx']);
    for (const x of r.cpu.threads) {
      expect(x.cpuNsPerPacket, x.role).toBeGreaterThan(0);
      expect(x.spinNsPerPacket!, x.role).toBeLessThanOrEqual(x.cpuNsPerPacket!);
      expect(x.runqueueWaitPct!, x.role).toBeGreaterThanOrEqual(0);
    }
    expect(r.cpu.busyNsPerPacket).toBeGreaterThan(0);
    expect(r.cpu.projectedMpps).toBeGreaterThan(0);
    expect(typeof r.cpuModel).toBe('string');
  });
});
