/**
 * Notification policies (src/kernel/notify.ts): the waker's rule (wake only for news worth
 * what the sleeper asked), the sleeper's choices per policy, and what adaptive learns.
 * Sleeping threads themselves are exercised by the stress runs (no lost wake-up under
 * any policy) and the worker tests.
 */
import { describe, expect, it } from 'vitest';
import { BELL_SLEEP, KR_EV_START, KR_EV_WANT, SLEEP_RX, SLEEP_TX } from '../shm/layout.js';
import { AWAKE_SPIN_US, pingWaits } from '../src/apps/endpoint.js';
import {
  checkNotifyPolicy,
  MAX_DELAY_MS,
  NOTIFY_POLICIES,
  reached,
  SPIN_MAX_US,
  SpinWindow,
  WakeWant,
  wakeIfWorth,
} from '../src/kernel/notify.js';
import { expectCode } from './helpers.js';

describe('reached: has the tail moved `want` slots past `start`?', () => {
  it.each([
    // start, want, now, n, expected
    [2, 4, 5, 16, false],
    [2, 4, 6, 16, true],
    [14, 4, 1, 16, false],
    [14, 4, 2, 16, true], // across the wrap
    [3, 1, 3, 16, true], // want 1: any news (the waker calls only after moving something)
    [3, 0, 3, 16, true],
    [99, 4, 0, 16, true], // a start outside the ring (guest-written): wake
  ] as const)('start %i want %i now %i (ring %i) -> %s', (start, want, now, n, expected) => {
    expect(reached(start, want, now, n)).toBe(expected);
  });
});

describe('wakeIfWorth: the waker side of a host ring', () => {
  function sleeper(bit: number, start: number, want: number) {
    const bell = new Int32Array(new SharedArrayBuffer(64));
    const k = new Int32Array(64);
    k[KR_EV_START] = start;
    k[KR_EV_WANT] = want;
    bell[BELL_SLEEP] = bit;
    return { bell, k };
  }

  it('does not wake a sleeper for less news than it asked: its bit stays set', () => {
    const { bell, k } = sleeper(SLEEP_RX, 2, 4);
    expect(wakeIfWorth(bell, SLEEP_RX, k, 0, 5, 16)).toBe(false);
    expect(bell[BELL_SLEEP]).toBe(SLEEP_RX);
  });

  it('wakes it once the news reaches what it asked, clearing the word', () => {
    const { bell, k } = sleeper(SLEEP_RX, 2, 4);
    expect(wakeIfWorth(bell, SLEEP_RX, k, 0, 6, 16)).toBe(true);
    expect(bell[BELL_SLEEP]).toBe(0);
  });

  it('a flush wakes it for any news, whatever it asked', () => {
    const { bell, k } = sleeper(SLEEP_RX, 2, 8);
    expect(wakeIfWorth(bell, SLEEP_RX, k, 0, 3, 16, true)).toBe(true);
  });

  it('a flush without news since the sleeper asked wakes nobody', () => {
    const { bell, k } = sleeper(SLEEP_RX, 2, 8);
    expect(wakeIfWorth(bell, SLEEP_RX, k, 0, 2, 16, true)).toBe(false);
  });

  it('a sleeper waiting for the other bit is left alone', () => {
    const { bell, k } = sleeper(SLEEP_TX, 2, 1);
    expect(wakeIfWorth(bell, SLEEP_RX, k, 0, 9, 16)).toBe(false);
    expect(bell[BELL_SLEEP]).toBe(SLEEP_TX);
  });
});

describe('what a sleeper asks for, per policy', () => {
  it('asleep asks for any news, producer or consumer', () => {
    expect(new WakeWant('asleep', 1024, true).ask(1000)).toBe(1);
    expect(new WakeWant('asleep', 1024, false).ask(0)).toBe(1);
  });

  it("event-idx: a producer asks for 3/4 of what it has in flight (virtio's delayed callback), a consumer for the next slot", () => {
    expect(new WakeWant('event-idx', 1024, true).ask(1000)).toBe(750);
    expect(new WakeWant('event-idx', 1024, true).ask(1)).toBe(1);
    expect(new WakeWant('event-idx', 1024, false).ask(0)).toBe(1);
  });

  it('adaptive: a consumer that keeps finding twice what it asked doubles its ask, up to half the ring', () => {
    const w = new WakeWant('adaptive', 64, false);
    const seen: number[] = [];
    for (let i = 0; i < 8; i++) {
      const want = w.ask(0);
      seen.push(want);
      w.learn(want, 2 * want);
    }
    expect(seen).toEqual([1, 2, 4, 8, 16, 32, 32, 32]);
  });

  it('adaptive: a consumer that finds less than it asked halves its ask, down to 1', () => {
    const w = new WakeWant('adaptive', 64, false);
    for (let i = 0; i < 5; i++) w.learn(w.ask(0), 2 * w.ask(0));
    expect(w.ask(0)).toBe(32);
    const seen: number[] = [];
    for (let i = 0; i < 7; i++) {
      w.learn(w.ask(0), 1);
      seen.push(w.ask(0));
    }
    expect(seen).toEqual([16, 8, 4, 2, 1, 1, 1]);
  });

  it('adaptive: a ping (one packet per wake-up) keeps asking for one', () => {
    const w = new WakeWant('adaptive', 1024, false);
    for (let i = 0; i < 100; i++) w.learn(w.ask(0), 1);
    expect(w.ask(0)).toBe(1);
  });

  it('adaptive: a producer asks back a quarter of its in-flight slots at first', () => {
    expect(new WakeWant('adaptive', 1024, true).ask(1000)).toBe(250);
  });

  it('adaptive: a producer that wakes with slots still in flight asks for a larger share, up to 3/4', () => {
    const w = new WakeWant('adaptive', 1024, true);
    const seen: number[] = [];
    for (let i = 0; i < 10; i++) {
      const want = w.ask(800);
      seen.push(want);
      w.learn(want, want);
    }
    expect(seen).toEqual([200, 250, 300, 350, 400, 450, 500, 550, 600, 600]);
  });

  it('adaptive: a producer that wakes to find everything drained (its consumer ran dry) halves its share', () => {
    const w = new WakeWant('adaptive', 1024, true);
    w.learn(w.ask(800), 800);
    expect(w.ask(800)).toBe(100);
    w.learn(w.ask(800), 800);
    w.learn(w.ask(800), 800);
    w.learn(w.ask(800), 800);
    expect(w.ask(800)).toBe(50);
  });

  it('a wait for more than one slot is bounded; a wait for one keeps its timeout', () => {
    const w = new WakeWant('event-idx', 1024, true);
    expect(w.bound(750, -1)).toBe(MAX_DELAY_MS);
    expect(w.bound(750, 1000)).toBe(MAX_DELAY_MS);
    expect(w.bound(750, MAX_DELAY_MS / 2)).toBe(MAX_DELAY_MS / 2);
    expect(w.bound(1, 1000)).toBe(1000);
  });
});

describe('the busy-poll window', () => {
  it('asleep and event-idx poll the whole budget, whatever happens', () => {
    const w = new SpinWindow('event-idx', 200);
    w.learn(10_000);
    expect(w.us).toBe(200);
  });

  it('adaptive grows the window when a wake-up came within the budget, up to the budget', () => {
    const w = new SpinWindow('adaptive', 100);
    const seen: number[] = [];
    for (let i = 0; i < 6; i++) {
      w.learn(50);
      seen.push(w.us);
    }
    expect(seen).toEqual([16, 32, 64, 100, 100, 100]);
  });

  it('adaptive shrinks it when a wake-up came long after the budget', () => {
    const w = new SpinWindow('adaptive', 100);
    for (let i = 0; i < 4; i++) w.learn(50);
    w.learn(5000);
    expect(w.us).toBe(50);
  });

  it('with no budget adaptive never polls', () => {
    const w = new SpinWindow('adaptive', 0);
    for (let i = 0; i < 4; i++) w.learn(1);
    expect(w.us).toBe(0);
  });

  it('adaptive never polls past SPIN_MAX_US, whatever the budget (a sleep costs less than that)', () => {
    const w = new SpinWindow('adaptive', 1e7);
    for (let i = 0; i < 10; i++) w.learn(1);
    expect(w.us).toBe(SPIN_MAX_US);
  });

  it('oversubscribed (threads outnumber cores), adaptive never polls: the peer needs the core', () => {
    const w = new SpinWindow('adaptive', 1e7, true);
    for (let i = 0; i < 4; i++) w.learn(1);
    expect(w.us).toBe(0);
  });

  it('oversubscribed does not change asleep: it polls what it is told', () => {
    expect(new SpinWindow('asleep', 200, true).us).toBe(200);
  });
});

describe('how a ping path waits (pingWaits)', () => {
  it('asleep: nothing spins, nothing busy-waits', () => {
    expect(pingWaits(false, 2, 2, 200)).toEqual({ spinUs: 0, busyWait: false });
  });
  it('awake with a core per thread: the apps spin and the host threads busy-wait', () => {
    expect(pingWaits(true, 3, 4, 200)).toEqual({ spinUs: AWAKE_SPIN_US, busyWait: true });
  });
  it('awake with more threads than cores: nobody spins, the host threads linger', () => {
    expect(pingWaits(true, 3, 2, 200)).toEqual({ spinUs: 0, busyWait: false, lingerUs: 200 });
  });
});

describe('policy names', () => {
  it('are asleep, event-idx and adaptive', () => {
    expect([...NOTIFY_POLICIES]).toEqual(['asleep', 'event-idx', 'adaptive']);
  });
  it('anything else is EINVAL naming them', () => {
    expect(expectCode(() => checkNotifyPolicy('often'), 'EINVAL').message).toMatch(
      /notify must be asleep, event-idx, adaptive; got 'often'/,
    );
  });
});
