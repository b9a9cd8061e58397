/**
 * poll and pollAsync: timeouts, readiness without sleeping, wake-ups from another
 * thread (POLLIN via pollAsync on this thread, POLLOUT via a blocking poll), and
 * round trips where both sides sleep with no timeout at all: a lost wake-up hangs. And
 * netmap's poll rules: pending TX goes out even without POLLOUT (unless noTxPoll), and a
 * ring with impossible head/cur is reset and reported with POLLERR.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { BELL_SLEEP, KC_SLEEPS, SLEEP_RX, SLEEP_TX } from '../shm/layout.js';
import * as api from '../src/index.js';
import { attachPort, Netmap } from '../src/netmap.js';
import { POLLERR, POLLIN, POLLOUT, Port, type PortDescriptor } from '../src/port.js';
import { type NetmapRing, ringEmpty, ringSpace } from '../src/ring.js';
import {
  closePair,
  counterBytes,
  expectCode,
  type InlineWorker,
  inlineWorker,
  kstate,
  openPair,
  type Pair,
  payloadByte,
  payloadLen,
  recvSeq,
  ringCounters,
  sendSeq,
} from './helpers.js';

let open: Pair[] = [];
const workers: InlineWorker[] = [];
function pair(ringSize: number): Pair {
  const p = openPair({ ringSize });
  open.push(p);
  return p;
}
afterEach(async () => {
  for (const p of open) closePair(p);
  open = [];
  // A failed test must not leave a worker blocked forever.
  for (const w of workers.splice(0)) await w.worker.terminate();
});
function worker(body: string, data: Record<string, unknown>): InlineWorker {
  const w = inlineWorker(body, data);
  workers.push(w);
  return w;
}

function sleepWord(desc: PortDescriptor): number {
  return Atomics.load(new Int32Array(desc.bells[desc.ifIndex]), BELL_SLEEP);
}

describe('poll in one thread', () => {
  it('an empty RX with a timeout returns 0, counts a sleep and no wake-up, and leaves no sleep flag', () => {
    const p = pair(8);
    expect(p.b.poll(POLLIN, 15)).toBe(0);
    const c = ringCounters(p.b, p.b.rx.id);
    expect(c.sleeps).toBeGreaterThanOrEqual(1);
    expect(c.wakeups).toBe(0);
    expect(c.errors).toBe(0);
    expect(sleepWord(p.db)).toBe(0);
    // Nobody sleeps now, so the sender does not notify.
    expect(sendSeq(p.a, p.a.tx, 0, 1)).toBe(1);
    expect(ringCounters(p.a, p.a.tx.id).notifies).toBe(0);
    expect(p.b.poll(POLLIN, 15)).toBe(POLLIN);
  });

  it('a timeout of 0 never sleeps', () => {
    const p = pair(8);
    expect(p.b.poll(POLLIN, 0)).toBe(0);
    expect(ringCounters(p.b, p.b.rx.id).sleeps).toBe(0);
  });

  it('a packet sent before the poll: POLLIN at once, no sleep', () => {
    const p = pair(8);
    expect(sendSeq(p.a, p.a.tx, 0, 2)).toBe(2);
    expect(p.b.poll(POLLIN, 10_000)).toBe(POLLIN);
    const c = ringCounters(p.b, p.b.rx.id);
    expect(c.sleeps).toBe(0);
    expect(c.wakeups).toBe(0);
    // poll synced the ring: the packets are there.
    expect(ringSpace(p.b.rx)).toBe(2);
    expect(recvSeq(p.b, p.b.rx, 0, 2)).toBe(2);
  });

  it('POLLIN looks past cur, not head: packets held back by cur do not make it ready', () => {
    const p = pair(8);
    expect(sendSeq(p.a, p.a.tx, 0, 2)).toBe(2);
    expect(p.b.rxsync()).toBe(true);
    p.b.rx.cur = 2; // seen both, released none
    expect(p.b.poll(POLLIN, 0)).toBe(0);
    expect(sendSeq(p.a, p.a.tx, 2, 1)).toBe(1);
    expect(p.b.poll(POLLIN, 0)).toBe(POLLIN);
  });

  it('POLLOUT on a ring with room is immediate; on a full ring it times out', () => {
    const p = pair(5);
    expect(p.a.poll(POLLOUT, 10_000)).toBe(POLLOUT);
    expect(sendSeq(p.a, p.a.tx, 0, 10)).toBe(4);
    expect(p.a.poll(POLLOUT, 0)).toBe(0);
    expect(p.a.poll(POLLOUT, 15)).toBe(0);
    const c = ringCounters(p.a, p.a.tx.id);
    expect(c.sleeps).toBeGreaterThanOrEqual(1);
    expect(c.wakeups).toBe(0);
    expect(sleepWord(p.da)).toBe(0);
    // POLLIN | POLLOUT together report what is ready.
    expect(p.b.poll(POLLIN | POLLOUT, 0)).toBe(POLLIN | POLLOUT);
    expect(p.a.poll(POLLIN | POLLOUT, 0)).toBe(0);
  });

  it('poll without POLLIN or POLLOUT is EINVAL', () => {
    const p = pair(5);
    expectCode(() => p.a.poll(0, 10), 'EINVAL');
  });

  it('pollAsync times out with 0 on an empty ring and resolves at once when ready', async () => {
    const p = pair(8);
    expect(await p.b.pollAsync(POLLIN, 15)).toBe(0);
    expect(ringCounters(p.b, p.b.rx.id).sleeps).toBeGreaterThanOrEqual(1);
    expect(ringCounters(p.b, p.b.rx.id).wakeups).toBe(0);
    expect(sleepWord(p.db)).toBe(0);
    expect(sendSeq(p.a, p.a.tx, 0, 1)).toBe(1);
    expect(await p.b.pollAsync(POLLIN, 10_000)).toBe(POLLIN);
  });
});

describe('wake-ups across threads', () => {
  it('pollAsync on this thread resolves with POLLIN when a worker sends', async () => {
    const nm = new Netmap();
    const da = nm.register('pa{', { ringSize: 16 });
    const db = nm.register('pa}');
    const port = nm.open('pa}');
    try {
      const ctl = new Int32Array(new SharedArrayBuffer(8));
      const w = worker(
        `
const port = lib.attachPort(workerData.desc);
const ctl = new Int32Array(workerData.ctl);
while (Atomics.load(ctl, 0) === 0) Atomics.wait(ctl, 0, 0);
const tx = port.tx;
tx.buf(0).set([1, 2, 3, 4, 5]);
tx.setLen(0, 5);
tx.setSlotFlags(0, 0);
tx.advance(1);
port.txsync();
parentPort.postMessage(port.counters().rings);
port.close();
`,
        { desc: da, ctl: ctl.buffer },
      );
      // pollAsync says it sleeps and starts waiting before it returns the promise.
      const pending = port.pollAsync(POLLIN, 60_000);
      expect(ringCounters(port, port.rx.id).sleeps).toBe(1);
      expect(sleepWord(db) & SLEEP_RX).toBe(SLEEP_RX);
      Atomics.store(ctl, 0, 1);
      Atomics.notify(ctl, 0);
      expect(await pending).toBe(POLLIN);
      const senderCounters = (await w.next()) as Array<{ dir: string; notifies: number; packets: number }>;
      expect(await w.exited).toBe(0);
      const c = ringCounters(port, port.rx.id);
      expect(c.wakeups).toBe(1);
      expect(c.sleeps).toBe(1);
      const txc = senderCounters.find((x) => x.dir === 'tx');
      expect(txc?.notifies).toBe(1);
      expect(txc?.packets).toBe(1);
      expect(port.rx.tail).toBe(1);
      expect(port.rx.len(0)).toBe(5);
      expect(Array.from(port.rx.buf(0).subarray(0, 5))).toEqual([1, 2, 3, 4, 5]);
      expect(sleepWord(db)).toBe(0);
    } finally {
      port.close();
    }
  });

  it('POLLOUT on a full TX ring blocks until the peer releases', async () => {
    const n = 6;
    const nm = new Netmap();
    const da = nm.register('po{', { ringSize: n });
    const db = nm.register('po}');
    const port = nm.open('po{');
    try {
      expect(sendSeq(port, port.tx, 0, n)).toBe(n - 1);
      expect(port.poll(POLLOUT, 0)).toBe(0);
      const sleepsBefore = ringCounters(port, port.tx.id).sleeps;
      // The worker waits until this thread has gone to sleep in poll (its sleep count
      // moved; the flag is set before the count and cleared only by a wake-up or a
      // timeout), then releases every slot.
      const sleepsIdx = counterBytes(port.tx.id)[0] / 8 + KC_SLEEPS;
      const w = worker(
        `
const port = lib.attachPort(workerData.desc);
const f64 = new Float64Array(workerData.desc.kmem);
const nap = new Int32Array(new SharedArrayBuffer(4));
while (f64[workerData.sleepsIdx] <= workerData.sleepsBefore) Atomics.wait(nap, 0, 0, 1);
// The count moves just before Atomics.wait: give the poller time to get into it, so the
// release below wakes a real waiter (the assertion is on counters, not on time).
Atomics.wait(nap, 0, 0, 20);
const sleepWord = Atomics.load(new Int32Array(workerData.desc.bells[workerData.peerIf]), 0);
port.rxsync();
const got = (port.rx.tail - port.rx.head + port.numSlots) % port.numSlots;
port.rx.advance(port.rx.tail);
port.rxsync();
parentPort.postMessage({ got, sleepWord, counters: port.counters().rings });
port.close();
`,
        { desc: db, sleepsIdx, sleepsBefore, peerIf: da.ifIndex },
      );
      // Blocks this thread (no timeout that could end it first: 60 s).
      const r = port.poll(POLLOUT, 60_000);
      expect(r).toBe(POLLOUT);
      const msg = (await w.next()) as {
        got: number;
        sleepWord: number;
        counters: Array<{ dir: string; notifies: number }>;
      };
      expect(await w.exited).toBe(0);
      expect(msg.got).toBe(n - 1);
      // When the peer released, this thread was asleep waiting for TX room...
      expect(msg.sleepWord & SLEEP_TX).toBe(SLEEP_TX);
      // ...and the release woke it (a notify sent, a wake-up received: not a timeout).
      expect(msg.counters.find((x) => x.dir === 'rx')?.notifies).toBe(1);
      expect(ringCounters(port, port.tx.id).wakeups).toBe(1);
      expect(ringCounters(port, port.tx.id).sleeps).toBeGreaterThan(sleepsBefore);
      expect(ringSpace(port.tx)).toBe(n - 1);
      expect(ringEmpty(port.tx)).toBe(false);
      expect(sleepWord(da)).toBe(0);
    } finally {
      port.close();
    }
  });

  // Both sides sleep in poll with no timeout (-1): a lost wake-up hangs them. A blocked
  // thread cannot run a test timeout, so the blocking sides run in workers and this
  // thread only waits for them, with a hang guard that terminates them.
  const ECHO = `
const port = lib.attachPort(workerData.desc);
const { rx, tx } = port;
let echoed = 0;
while (echoed < workerData.count) {
  if (port.poll(lib.POLLIN, -1) === 0) throw new Error('poll(-1) returned 0');
  let cur = rx.cur;
  const tail = rx.tail;
  while (cur !== tail) {
    if (tx.cur === tx.tail) throw new Error('echo: no TX room with one packet in flight');
    const t = tx.cur;
    const len = rx.len(cur);
    tx.buf(t).set(rx.buf(cur).subarray(0, len));
    tx.setLen(t, len);
    tx.setSlotFlags(t, 0);
    tx.advance(tx.next(t));
    cur = rx.next(cur);
    echoed++;
  }
  rx.advance(cur);
  port.txsync();
  port.rxsync();
}
parentPort.postMessage(port.counters().rings);
port.close();
`;

  const PING = `
const port = lib.attachPort(workerData.desc);
const { rx, tx } = port;
for (let i = 0; i < workerData.count; i++) {
  const t = tx.cur;
  new DataView(tx.mem.buffer, tx.bufOffset(t), 8).setUint32(0, i, true);
  tx.setLen(t, 8);
  tx.setSlotFlags(t, 0);
  tx.advance(tx.next(t));
  if (!port.txsync()) throw new Error('txsync failed');
  let back = false;
  while (!back) {
    if (port.poll(lib.POLLIN, -1) !== lib.POLLIN) throw new Error('poll(-1) returned without POLLIN');
    let cur = rx.cur;
    while (cur !== rx.tail) {
      const v = new DataView(rx.mem.buffer, rx.bufOffset(cur), 8).getUint32(0, true);
      if (v !== i || rx.len(cur) !== 8) throw new Error('round trip ' + i + ': got ' + v);
      back = true;
      cur = rx.next(cur);
    }
    rx.advance(cur);
    port.rxsync();
  }
  if (tx.cur === tx.tail) port.txsync();
}
parentPort.postMessage(port.counters().rings);
port.close();
`;

  type Counters = Array<{ dir: string; packets: number; notifies: number; sleeps: number; wakeups: number }>;

  function expectSleptAndWoken(a: Counters, b: Counters, count: number): void {
    const rxOf = (c: Counters) => c.find((x) => x.dir === 'rx');
    const txOf = (c: Counters) => c.find((x) => x.dir === 'tx');
    const notifies = (c: Counters) => c.reduce((s, x) => s + x.notifies, 0);
    expect(txOf(a)?.packets).toBe(count);
    expect(txOf(b)?.packets).toBe(count);
    for (const [me, peer] of [
      [a, b],
      [b, a],
    ]) {
      // Both sides really slept and were really woken...
      expect(rxOf(me)?.sleeps).toBeGreaterThan(0);
      expect(rxOf(me)?.wakeups).toBeGreaterThan(0);
      // ...and every wake-up was a notify from the other side (nobody else notifies).
      expect(rxOf(me)?.wakeups ?? 0).toBeLessThanOrEqual(notifies(peer));
    }
  }

  it('50 000 round trips between two workers, both asleep in poll(-1) between packets', async () => {
    const count = 50_000;
    const nm = new Netmap();
    const da = nm.register('rt{', { ringSize: 8 });
    const db = nm.register('rt}');
    const echo = worker(ECHO, { desc: db, count });
    const ping = worker(PING, { desc: da, count });
    const outcome = await Promise.race([
      Promise.all([ping.next(), echo.next(), ping.exited, echo.exited]),
      sleep(90_000).then(() => 'hung'),
    ]);
    // A hang here is a lost wake-up (or a dead worker): afterEach terminates both.
    expect(outcome, 'ping/echo did not finish: a wake-up was lost').not.toBe('hung');
    const [pc, ec, pExit, eExit] = outcome as [Counters, Counters, number, number];
    expect([pExit, eExit]).toEqual([0, 0]);
    expectSleptAndWoken(pc, ec, count);
  }, 120_000);

  it('10 000 round trips with pollAsync(-1) on this thread and poll(-1) in a worker', async () => {
    const count = 10_000;
    const nm = new Netmap();
    const port = nm.open('ra{', { ringSize: 8 });
    const db = nm.register('ra}');
    try {
      const w = worker(ECHO, { desc: db, count });
      const { tx, rx } = port;
      for (let i = 0; i < count; i++) {
        const t = tx.cur;
        new DataView(tx.mem.buffer, tx.bufOffset(t), 8).setUint32(0, i, true);
        tx.setLen(t, 8);
        tx.setSlotFlags(t, 0);
        tx.advance(tx.next(t));
        if (!port.txsync()) throw new Error('txsync failed');
        let back = false;
        while (!back) {
          const r = await port.pollAsync(POLLIN, -1);
          if (r !== POLLIN) throw new Error(`pollAsync(-1) returned ${r}`);
          let cur = rx.cur;
          while (cur !== rx.tail) {
            const v = new DataView(rx.mem.buffer, rx.bufOffset(cur), 8).getUint32(0, true);
            if (v !== i || rx.len(cur) !== 8) throw new Error(`round trip ${i}: got ${v} (len ${rx.len(cur)})`);
            back = true;
            cur = rx.next(cur);
          }
          rx.advance(cur);
          port.rxsync();
        }
        if (tx.cur === tx.tail) port.txsync();
      }
      const peer = (await w.next()) as Counters;
      expect(await w.exited).toBe(0);
      expectSleptAndWoken(port.counters().rings, peer, count);
    } finally {
      port.close();
    }
  }, 90_000);
});

/** Fills `k` packets (seq, seq+1 ...) from cur and hands them over (advance) without a txsync. */
function queueSeq(ring: NetmapRing, seq: number, k: number): void {
  let cur = ring.cur;
  for (let i = 0; i < k; i++) {
    const len = payloadLen(seq + i, ring.bufSize);
    const buf = ring.buf(cur);
    for (let j = 0; j < len; j++) buf[j] = payloadByte(seq + i, j);
    ring.setLen(cur, len);
    ring.setSlotFlags(cur, 0);
    cur = ring.next(cur);
  }
  ring.advance(cur);
}

let noTxPollPipes = 0;

describe("poll as netmap's: pending TX is pushed, a broken ring is POLLERR", () => {
  it('POLLERR is exported by the package entry, apart from POLLIN and POLLOUT', () => {
    expect(api.POLLERR).toBe(POLLERR);
    expect(POLLERR & (POLLIN | POLLOUT)).toBe(0);
    expect(POLLERR).toBeGreaterThan(0);
  });

  it('poll(POLLIN) pushes out TX slots the user queued: the peer receives them', () => {
    const p = pair(8);
    queueSeq(p.a.tx, 0, 3);
    // Nothing to receive on a's side: 0, but the queued slots went out on the way.
    expect(p.a.poll(POLLIN, 0)).toBe(0);
    expect(kstate(p.da, p.a.tx.id).hwcur).toBe(3);
    expect(ringCounters(p.a, p.a.tx.id).packets).toBe(3);
    expect(recvSeq(p.b, p.b.rx, 0, 8)).toBe(3);
  });

  it.each([
    ['registered with noTxPoll', (nm: Netmap, name: string) => new Port(nm.register(name, { noTxPoll: true }))],
    ['attached with noTxPoll', (nm: Netmap, name: string) => attachPort(nm.register(name), { noTxPoll: true })],
  ])('a port %s: poll(POLLIN) leaves queued TX slots until a txsync', (_how, open) => {
    const nm = new Netmap();
    const name = `ntp${noTxPollPipes++}`;
    const port = open(nm, `${name}{`);
    const peer = nm.open(`${name}}`);
    try {
      expect(port.txPoll).toBe(false);
      queueSeq(port.tx, 0, 2);
      expect(port.poll(POLLIN, 0)).toBe(0);
      expect(recvSeq(peer, peer.rx, 0, 8)).toBe(0);
      expect(port.txsync()).toBe(true);
      expect(recvSeq(peer, peer.rx, 0, 8)).toBe(2);
    } finally {
      port.close();
      peer.close();
    }
  });

  it('port.txPoll = false stops poll(POLLIN) pushing queued TX slots, true again restores it', () => {
    const p = pair(8);
    p.a.txPoll = false;
    queueSeq(p.a.tx, 0, 2);
    expect(p.a.poll(POLLIN, 0)).toBe(0);
    expect(recvSeq(p.b, p.b.rx, 0, 8)).toBe(0);
    p.a.txPoll = true;
    expect(p.a.poll(POLLIN, 0)).toBe(0);
    expect(recvSeq(p.b, p.b.rx, 0, 8)).toBe(2);
  });

  it('poll(POLLIN) on an RX ring with a broken head returns POLLERR and resets the ring to the kernel state', () => {
    const p = pair(8);
    expect(sendSeq(p.a, p.a.tx, 0, 3)).toBe(3);
    expect(recvSeq(p.b, p.b.rx, 0, 1)).toBe(1); // hwcur 1, hwtail 3
    const rx = p.b.rx;
    rx.head = 6; // past tail: impossible
    const r = p.b.poll(POLLIN, 0);
    expect(r & POLLERR).toBe(POLLERR);
    // The two packets the ring still holds are reported too, as netmap's poll does.
    expect(r & ~POLLERR).toBe(POLLIN);
    expect([rx.head, rx.cur, rx.tail]).toEqual([1, 1, 3]);
    expect(kstate(p.db, rx.id)).toMatchObject({ hwcur: 1, hwtail: 3 });
    expect(ringCounters(p.b, rx.id).errors).toBe(1);
    // Nothing was released by the broken poll: the packets are still there, in order.
    expect(recvSeq(p.b, rx, 1, 8)).toBe(2);
  });

  it('poll(POLLOUT) on a TX ring with a broken cur returns POLLERR and resets the ring to the kernel state', () => {
    const p = pair(8);
    expect(sendSeq(p.a, p.a.tx, 0, 2)).toBe(2); // hwcur 2, hwtail 7
    const tx = p.a.tx;
    queueSeq(tx, 2, 1);
    tx.cur = 8 + 1; // out of the ring
    const r = p.a.poll(POLLOUT, 0);
    expect(r & POLLERR).toBe(POLLERR);
    expect(r & ~POLLERR).toBe(POLLOUT);
    expect([tx.head, tx.cur, tx.tail]).toEqual([2, 2, 7]);
    expect(kstate(p.da, tx.id)).toMatchObject({ hwcur: 2, hwtail: 7 });
    expect(ringCounters(p.a, tx.id).errors).toBe(1);
    // The slot queued with the broken cur never went out.
    expect(recvSeq(p.b, p.b.rx, 0, 8)).toBe(2);
  });

  it('poll(POLLIN) pushing a TX ring with a broken head returns POLLERR and resets that ring', () => {
    const p = pair(8);
    expect(sendSeq(p.a, p.a.tx, 0, 2)).toBe(2);
    const tx = p.a.tx;
    tx.advance(1); // behind hwcur 2: impossible
    const r = p.a.poll(POLLIN, 0);
    expect(r & POLLERR).toBe(POLLERR);
    expect([tx.head, tx.cur, tx.tail]).toEqual([2, 2, 7]);
    expect(ringCounters(p.a, tx.id).errors).toBe(1);
    expect(recvSeq(p.b, p.b.rx, 0, 8)).toBe(2);
  });
});
