/**
 * The no-lost-wake-up stress, reduced: every direction over a pipe and VALE with random
 * pauses on both apps, every packet delivered in order (pipes) or accounted for as a
 * switch drop (VALE), sleeps counted on both sides, no sleep that timed out with its news
 * already there. Plus the pause knob's validation and reproducibility, the watchdog's
 * way out, and the CLI's bad input. No timing asserts: only counters.
 */
import { describe, expect, it } from 'vitest';
import { Control } from '../src/apps/control.js';
import { SEQ_OFFSET } from '../src/apps/frame.js';
import { checkPktGenOptions, MAX_PAUSE_US, RandomPause, runPktGen } from '../src/apps/pktgen.js';
import { runPktGenPair } from '../src/apps/pktgen-run.js';
import { runStress, STRESS_DIRECTIONS, STRESS_PORTS } from '../src/apps/stress.js';
import { NetmapError } from '../src/errors.js';
import { NOTIFY_POLICIES } from '../src/kernel/notify.js';
import { Netmap } from '../src/netmap.js';
import { cli } from './helpers.js';

describe('pkt-gen random pauses', () => {
  it.each([
    [{ pauseUs: -1 }, /pauseUs must be an integer from 0/],
    [{ pauseUs: 1.5 }, /pauseUs must be an integer/],
    [{ pauseUs: MAX_PAUSE_US + 1 }, /pauseUs must be an integer from 0 to 1000000/],
    [{ pauseUs: Number.NaN }, /pauseUs/],
    [{ pauseEvery: 0 }, /pauseEvery must be an integer from 1/],
    [{ pauseEvery: 2.5 }, /pauseEvery/],
    [{ seed: -1 }, /seed must be an integer from 0 to 2\^32-1/],
    [{ seed: 2 ** 32 }, /seed/],
  ])('refuses %o with EINVAL', (bad, msg) => {
    const call = () => checkPktGenOptions({ mode: 'txseq', ...bad }, 2048);
    expect(call).toThrow(NetmapError);
    expect(call).toThrow(msg);
    try {
      call();
    } catch (e) {
      expect((e as NetmapError).code).toBe('EINVAL');
    }
  });

  it('pauses are off by default: pauseUs 0 is the same run as no option', () => {
    expect(checkPktGenOptions({ mode: 'tx', pauseUs: 0 }, 2048)).toEqual(checkPktGenOptions({ mode: 'tx' }, 2048));
    expect(checkPktGenOptions({ mode: 'tx' }, 2048).pauseUs).toBe(0);
    // The same sender, in this thread, with and without the option: the same slots.
    const send = (extra: object) => {
      const nm = new Netmap();
      const tx = nm.open('pipe0{', { ringSize: 1024 });
      const rx = nm.open('pipe0}', { ringSize: 1024 });
      const ctl = new Control();
      ctl.go();
      const r = runPktGen(tx, { mode: 'txseq', count: 700, batch: 7, ...extra }, ctl);
      rx.rxsync();
      const slots = Array.from({ length: 700 }, (_, k) => [
        rx.rx.len(k),
        rx.rx.u32[(rx.rx.bufOffset(k) + SEQ_OFFSET) >>> 2],
      ]);
      nm.close();
      return { r: { ...r, seconds: 0 }, slots, tail: rx.rx.tail };
    };
    const plain = send({});
    expect(send({ pauseUs: 0, pauseEvery: 3, seed: 99 })).toEqual(plain);
    expect(plain.r.packets).toBe(700);
    expect(plain.tail).toBe(700);
  });

  it('a pausing sender still sends the same packets', () => {
    const nm = new Netmap();
    const tx = nm.open('pipe0{', { ringSize: 256 });
    const rx = nm.open('pipe0}', { ringSize: 256 });
    const ctl = new Control();
    ctl.go();
    const r = runPktGen(tx, { mode: 'txseq', count: 200, batch: 4, pauseUs: 60, pauseEvery: 2, seed: 5 }, ctl);
    rx.rxsync();
    expect(r.packets).toBe(200);
    expect(rx.rx.tail).toBe(200);
    nm.close();
  });

  it('the PRNG is xorshift32, reproducible for a seed, and pauses about every `every` batches', () => {
    const draw = (seed: number) => {
      const p = new RandomPause(1, 4, seed);
      return Array.from({ length: 8 }, () => p.random());
    };
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
    expect(draw(0)).not.toEqual(draw(1));
    for (const v of draw(3)) expect(Number.isInteger(v) && v >= 0 && v < 2 ** 32).toBe(true);
    // every = 1: a pause after each batch; every = 4: gaps of 1..7, mean 4.
    const each = new RandomPause(1, 1, 1);
    for (let i = 0; i < 10; i++) each.tick();
    expect(each.count).toBe(10);
    const some = new RandomPause(1, 4, 1);
    for (let i = 0; i < 4000; i++) some.tick();
    expect(some.count).toBeGreaterThan(4000 / 7);
    expect(some.count).toBeLessThanOrEqual(4000);
  });
});

describe('no lost wake-up stress (reduced), under every notify policy', () => {
  const cases = NOTIFY_POLICIES.flatMap((notify) =>
    STRESS_PORTS.flatMap((port) => STRESS_DIRECTIONS.map((dir) => [notify, port, dir] as const)),
  );
  it.each(cases)(
    '%s, %s %s: 10k sleep -> wake transitions with random pauses, every packet accounted for',
    async (notify, port, dir) => {
      const r = await runStress({ port, dir, transitions: 10_000, seed: 7, notify });
      const why = JSON.stringify(r);
      expect(r.problems, why).toEqual([]);
      expect(r.ok).toBe(true);
      expect(r.lateWakeups).toBe(0);
      expect(r.transitions.total).toBeGreaterThanOrEqual(10_000);
      expect(r.sent).toBeGreaterThan(0);
      expect(r.seqReorder).toBe(0);
      if (port === 'pipe') {
        expect(r.received).toBe(r.sent);
        expect(r.seqGaps).toBe(0);
        expect(r.dropped).toBe(0);
      } else {
        expect(r.received + r.dropped).toBe(r.sent);
      }
      const [tx, rx] = dir.split('->');
      // The receiver runs dry and sleeps on both port types; a sender sleeps on a full
      // ring, which a VALE host port never has (the switch drops instead of blocking).
      expect(r.transitions.receiver).toBeGreaterThan(0);
      if (port === 'pipe' || tx === 'guest') expect(r.transitions.sender).toBeGreaterThan(0);
      expect(r.transitions.host).toBeGreaterThan(0);
      if (tx === 'guest' || rx === 'guest') {
        // Both sides slept: guest drivers waiting for interrupts, kloops waiting for kicks.
        expect(r.transitions.guest).toBeGreaterThan(0);
        expect(r.transitions.kloops).toBeGreaterThan(0);
        expect(r.kicks).toBeGreaterThan(0);
        expect(r.irqs).toBeGreaterThan(0);
      } else {
        expect(r.transitions.guest).toBe(0);
        expect(r.kicks + r.irqs).toBe(0);
      }
      expect(r.wakeups.total).toBeGreaterThan(0);
      expect(r.wakeups.total).toBeLessThanOrEqual(r.transitions.total);
    },
    30_000,
  );

  it('refuses bad options with EINVAL', async () => {
    await expect(runStress({ port: 'nope' as 'pipe' })).rejects.toThrow(/port must be pipe or vale/);
    await expect(runStress({ dir: 'vm->host' as 'host->host' })).rejects.toThrow(/direction must be/);
    await expect(runStress({ transitions: 0 })).rejects.toThrow(/transitions must be an integer/);
    await expect(runStress({ pauseUs: 900_000, stallMs: 500 })).rejects.toThrow(/must exceed the longest pause/);
    await expect(runStress({ pauseEvery: 0, transitions: 1 })).rejects.toThrow(/pauseEvery/);
  });

  it('an aborted run (the watchdog) stops and returns what got through, in order', async () => {
    const ac = new AbortController();
    const count = 1e9; // far more than fits before the abort
    const r = await runPktGenPair({
      mode: 'txseq',
      tx: 'guest',
      count,
      ring: 64,
      batch: 8,
      lingerUs: 0,
      pauseUs: 100,
      signal: ac.signal,
      // The watchdog fires once packets flow (not after a fixed time: start-up varies).
      reportMs: 50,
      warmupMs: 0,
      onInterval: (iv) => {
        if (iv.packets > 0) ac.abort();
      },
    });
    expect(r.sent).toBeGreaterThan(0);
    expect(r.sent).toBeLessThan(count);
    expect(r.seqReorder).toBe(0);
  }, 30_000);
});

describe('sabnetmap stress CLI', () => {
  it.each([
    [['stress', '--port', 'nope'], /--port must be pipe, vale or all; got 'nope'/],
    [['stress', '--dir', 'vm->host'], /--dir must be guest->host, .* or all; got 'vm->host'/],
    [['stress', '--transitions', '0'], /--transitions must be an integer from 1 to 1e9/],
    [['stress', '--transitions', 'lots'], /--transitions/],
    [['stress', '--seed=-1'], /--seed must be an integer from 0/],
    [['stress', '--fast'], /fast/],
  ])('%j: one line, exit 2', async (args, msg) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^sabnetmap: /);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toBe('');
  });

  it('a small run prints one JSON array and exits 0', async () => {
    const r = await cli(['stress', '--port', 'pipe', '--dir', 'host->host', '--transitions', '2000', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ port: 'pipe', dir: 'host->host', ok: true, seqGaps: 0, seqReorder: 0 });
    expect(out[0].received).toBe(out[0].sent);
  }, 60_000);
});
