/**
 * Ring rules: netmap's initial state, the always-empty slot, wrap-around on ring sizes
 * that are not powers of two, the ringNext/ringSpace/ringEmpty helpers, and the slot
 * setters, which never drop the NS_BUF_CHANGED a swapped buffer needs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NS_BUF_CHANGED, NS_MOREFRAG, NS_REPORT, RING_HEAD, RING_TAIL } from '../shm/layout.js';
import { POLLIN, POLLOUT } from '../src/port.js';
import { ringEmpty, ringNext, ringSpace } from '../src/ring.js';
import {
  closePair,
  dist,
  drainSeq,
  kstate,
  loopGuard,
  openPair,
  pairsClosedAfterEach,
  prng,
  recvSeq,
  sendSeq,
  setHeader,
} from './helpers.js';

const pair = pairsClosedAfterEach();

describe('initial state', () => {
  it.each([2, 3, 7, 64, 100, 1000, 1024, 16384])('ring size %i: TX 0/0/N-1, RX 0/0/0, kernel agrees', (n) => {
    const p = pair(n);
    for (const port of [p.a, p.b]) {
      expect(port.numSlots).toBe(n);
      expect(port.tx.numSlots).toBe(n);
      expect([port.tx.head, port.tx.cur, port.tx.tail]).toEqual([0, 0, n - 1]);
      expect([port.rx.head, port.rx.cur, port.rx.tail]).toEqual([0, 0, 0]);
      expect(kstate(port === p.a ? p.da : p.db, port.tx.id)).toMatchObject({ hwcur: 0, hwtail: n - 1 });
      expect(kstate(port === p.a ? p.da : p.db, port.rx.id)).toMatchObject({ hwcur: 0, hwtail: 0 });
      expect(ringSpace(port.tx)).toBe(n - 1);
      expect(ringEmpty(port.rx)).toBe(true);
      expect(ringEmpty(port.tx)).toBe(false);
    }
  });

  it('syncs of an untouched pair change nothing and are not errors', () => {
    const p = pair(7);
    expect(p.a.txsync()).toBe(true);
    expect(p.b.rxsync()).toBe(true);
    expect(p.b.txsync()).toBe(true);
    expect(p.a.rxsync()).toBe(true);
    expect([p.a.tx.head, p.a.tx.cur, p.a.tx.tail]).toEqual([0, 0, 6]);
    expect([p.b.rx.head, p.b.rx.cur, p.b.rx.tail]).toEqual([0, 0, 0]);
    for (const c of [...p.a.counters().rings, ...p.b.counters().rings]) {
      expect(c.errors).toBe(0);
      expect(c.packets).toBe(0);
    }
  });

  it('the two ends of a pipe share one region', () => {
    const p = pair(5);
    expect(p.a.tx.mem.buffer).toBe(p.b.rx.mem.buffer);
    expect(p.da.mem).toBe(p.db.mem);
    expect(p.da.kmem).toBe(p.db.kmem);
    // Each RX ring starts with the buffers of the TX ring that feeds it (same index space).
    for (let k = 0; k < 5; k++) {
      expect(p.b.rx.bufIdx(k)).toBe(p.a.tx.bufIdx(k));
      expect(p.a.rx.bufIdx(k)).toBe(p.b.tx.bufIdx(k));
    }
    // ...and the two TX rings do not share buffers.
    const txa = new Set(Array.from({ length: 5 }, (_, k) => p.a.tx.bufIdx(k)));
    for (let k = 0; k < 5; k++) expect(txa.has(p.b.tx.bufIdx(k))).toBe(false);
  });
});

describe('one slot always stays empty', () => {
  it.each([2, 3, 7, 64])('ring %i: the sender fills N-1 slots, then waits for the receiver', (n) => {
    const p = pair(n);
    const sent = sendSeq(p.a, p.a.tx, 0, n + 10);
    expect(sent).toBe(n - 1);
    // After the sync the TX ring is full: head == tail, no room, POLLOUT not ready.
    expect(p.a.tx.head).toBe(n - 1);
    expect(p.a.tx.tail).toBe(n - 1);
    expect(ringSpace(p.a.tx)).toBe(0);
    expect(ringEmpty(p.a.tx)).toBe(true);
    expect(p.a.poll(POLLOUT, 0)).toBe(0);
    // Trying to push one more: head cannot go past tail (that would be a ring reset).
    expect(sendSeq(p.a, p.a.tx, n - 1, 1)).toBe(0);
    // The receiver sees exactly N-1 packets.
    expect(p.b.rxsync()).toBe(true);
    expect(ringSpace(p.b.rx)).toBe(n - 1);
    expect(p.b.poll(POLLIN, 0)).toBe(POLLIN);
    expect(recvSeq(p.b, p.b.rx, 0, n)).toBe(n - 1);
    // Released: the sender gets N-1 slots back, never N.
    expect(p.a.txsync()).toBe(true);
    expect(ringSpace(p.a.tx)).toBe(n - 1);
    expect(p.a.poll(POLLOUT, 0)).toBe(POLLOUT);
    // The next lap also fills N-1 and no more.
    expect(sendSeq(p.a, p.a.tx, n - 1, n + 10)).toBe(n - 1);
    expect(recvSeq(p.b, p.b.rx, n - 1, n + 10)).toBe(n - 1);
  });

  it('a TX head one past tail (filling all N slots) is refused', () => {
    const n = 5;
    const p = pair(n);
    // head == hwcur would mean "N slots filled" but is indistinguishable from "none":
    // the only way to claim N is a head beyond tail, which validation rejects.
    sendSeq(p.a, p.a.tx, 0, 2); // hwcur 2, tail 4
    p.a.tx.advance(0); // from hwcur 2, slot 0 lies beyond tail 4: it would claim N-1+1 slots
    expect(p.a.txsync()).toBe(false);
    expect([p.a.tx.head, p.a.tx.cur, p.a.tx.tail]).toEqual([2, 2, 4]);
    p.a.tx.advance(1);
    expect(p.a.txsync()).toBe(false);
    p.a.tx.advance(4); // exactly tail: allowed
    expect(p.a.txsync()).toBe(true);
    expect(p.b.rxsync()).toBe(true);
    expect(ringSpace(p.b.rx)).toBe(4);
  });
});

describe('wrap-around across many laps', () => {
  // Ring sizes that are not powers of two, and a couple that are, with random batches
  // on both sides; every packet's len and every payload byte is checked in order.
  it.each([
    [2, 60],
    [3, 60],
    [7, 40],
    [100, 12],
    [1000, 6],
    [1024, 4],
  ])('ring %i, %i laps, random batch sizes', (n, laps) => {
    const p = pair(n);
    const rnd = prng(n * 7919 + laps);
    const total = n * laps;
    let sent = 0;
    let got = 0;
    let txWraps = 0;
    let rxWraps = 0;
    const guard = loopGuard(4 * total + 100, 'wrap-around');
    while (got < total) {
      guard();
      const before = p.a.tx.head;
      const sb = 1 + Math.floor(rnd() * Math.min(n + 3, 2 * n));
      sent += sendSeq(p.a, p.a.tx, sent, Math.min(sb, total - sent));
      if (p.a.tx.head < before) txWraps++;
      const rb = 1 + Math.floor(rnd() * Math.min(n + 3, 2 * n));
      const rBefore = p.b.rx.head;
      got += recvSeq(p.b, p.b.rx, got, rb);
      if (p.b.rx.head < rBefore) rxWraps++;
      // Kernel and user agree after every pair of syncs.
      const tk = kstate(p.da, p.a.tx.id);
      const rk = kstate(p.db, p.b.rx.id);
      expect(tk.hwcur).toBe(p.a.tx.head);
      expect(rk.hwcur).toBe(p.b.rx.head);
      expect(p.a.tx.tail).toBe(tk.hwtail);
      expect(p.b.rx.tail).toBe(rk.hwtail);
      // Packets in flight = sent - received, never more than N-1.
      expect(dist(p.b.rx.head, p.a.tx.head, n)).toBe((sent - got) % n);
      expect(sent - got).toBeLessThanOrEqual(n - 1);
    }
    expect(sent).toBe(total);
    expect(got).toBe(total);
    expect(txWraps).toBeGreaterThanOrEqual(laps - 1);
    expect(rxWraps).toBeGreaterThanOrEqual(laps - 1);
    const txc = p.a.counters().rings.find((c) => c.ring === p.a.tx.id);
    const rxc = p.b.counters().rings.find((c) => c.ring === p.b.rx.id);
    expect(txc?.packets).toBe(total);
    expect(rxc?.packets).toBe(total);
    expect(txc?.errors).toBe(0);
    expect(rxc?.errors).toBe(0);
    expect(txc?.drops).toBe(0);
  });

  it('both directions of a pipe at once on a ring of 7', () => {
    const n = 7;
    const p = pair(n);
    const rnd = prng(42);
    let ab = 0;
    let abGot = 0;
    let ba = 0;
    let baGot = 0;
    const total = n * 30;
    const guard = loopGuard(20 * total, 'both directions');
    while (abGot < total || baGot < total) {
      guard();
      ab += sendSeq(p.a, p.a.tx, ab, Math.min(1 + Math.floor(rnd() * n), total - ab));
      ba += sendSeq(p.b, p.b.tx, ba + 1_000_000, Math.min(1 + Math.floor(rnd() * n), total - ba));
      abGot += recvSeq(p.b, p.b.rx, abGot, 1 + Math.floor(rnd() * n));
      baGot += recvSeq(p.a, p.a.rx, baGot + 1_000_000, 1 + Math.floor(rnd() * n));
    }
    expect([ab, abGot, ba, baGot]).toEqual([total, total, total, total]);
  });

  it('property: any schedule of batch sizes delivers every packet intact and in order', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 40 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 45 }), fc.integer({ min: 0, max: 45 })), {
          minLength: 1,
          maxLength: 60,
        }),
        (n, schedule) => {
          const p = openPair({ ringSize: n });
          try {
            let sent = 0;
            let got = 0;
            for (const [s, r] of schedule) {
              sent += sendSeq(p.a, p.a.tx, sent, s);
              got += recvSeq(p.b, p.b.rx, got, r);
              expect(sent - got).toBeLessThanOrEqual(n - 1);
              expect(sent - got).toBeGreaterThanOrEqual(0);
            }
            // Drain: everything sent arrives.
            got = drainSeq(p.b, p.b.rx, got, sent);
            expect(got).toBe(sent);
          } finally {
            closePair(p);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('ringNext / ringSpace / ringEmpty', () => {
  it.each([2, 3, 7, 100, 1000, 16384])('ringNext on a ring of %i', (n) => {
    const p = pair(n);
    for (const r of [p.a.tx, p.a.rx]) {
      expect(ringNext(r, n - 1)).toBe(0);
      expect(ringNext(r, 0)).toBe(1);
      // Walking N steps from anywhere comes back to the start, visiting every slot once.
      const start = Math.floor(n / 3);
      const seen = new Set<number>();
      let i = start;
      for (let k = 0; k < n; k++) {
        seen.add(i);
        const nx = ringNext(r, i);
        expect(nx).toBe((i + 1) % n);
        i = nx;
      }
      expect(i).toBe(start);
      expect(seen.size).toBe(n);
    }
  });

  it('ringSpace = tail - head (+N if negative), ringEmpty = head == tail, for every head/tail', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 1000 }), fc.nat(), fc.nat(), (n, h, t) => {
        const p = openPair({ ringSize: n });
        try {
          const head = h % n;
          const tail = t % n;
          for (const r of [p.a.tx, p.a.rx]) {
            setHeader(p.region, r.id, RING_HEAD, head);
            setHeader(p.region, r.id, RING_TAIL, tail);
            const expected = tail >= head ? tail - head : tail - head + n;
            expect(ringSpace(r)).toBe(expected);
            expect(ringSpace(r)).toBeGreaterThanOrEqual(0);
            expect(ringSpace(r)).toBeLessThan(n);
            expect(ringEmpty(r)).toBe(head === tail);
            expect(r.space()).toBe(expected);
            expect(r.empty()).toBe(head === tail);
          }
        } finally {
          closePair(p);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('ringSpace tracks a real pipe in a wrapped state', () => {
    const n = 7;
    const p = pair(n);
    sendSeq(p.a, p.a.tx, 0, 5);
    recvSeq(p.b, p.b.rx, 0, 5);
    // The sender has not synced since the release: its tail is still the old one.
    expect(p.a.tx.tail).toBe(6);
    expect(ringSpace(p.a.tx)).toBe(1);
    expect(p.a.txsync()).toBe(true);
    expect(p.a.tx.tail).toBe(4);
    expect(ringSpace(p.a.tx)).toBe(6);
    expect(sendSeq(p.a, p.a.tx, 5, 4)).toBe(4); // wraps: TX head 2
    expect(p.a.tx.head).toBe(2);
    // TX: tail = rx head - 1 = 4, head 2: space 2; the sender has used 4 of its 6.
    expect(p.a.tx.tail).toBe(4);
    expect(ringSpace(p.a.tx)).toBe(2);
    expect(p.b.rxsync()).toBe(true);
    // RX: head 5, tail 2 (wrapped): 4 packets.
    expect([p.b.rx.head, p.b.rx.tail]).toEqual([5, 2]);
    expect(ringSpace(p.b.rx)).toBe(4);
    expect(ringEmpty(p.b.rx)).toBe(false);
    recvSeq(p.b, p.b.rx, 5, 4);
    expect(ringEmpty(p.b.rx)).toBe(true);
    expect(ringSpace(p.b.rx)).toBe(0);
  });
});

describe('slot setters keep NS_BUF_CHANGED', () => {
  it('setSlotFlags after setBufIdx keeps NS_BUF_CHANGED and sets the other flags', () => {
    const p = pair(8, 1);
    const tx = p.a.tx;
    const [spare] = p.a.allocBufs(1);
    tx.setSlotFlags(0, NS_MOREFRAG);
    tx.setBufIdx(0, spare);
    tx.setSlotFlags(0, NS_REPORT);
    expect(tx.slotFlags(0)).toBe(NS_REPORT | NS_BUF_CHANGED);
    tx.setSlotFlags(0, 0);
    expect(tx.slotFlags(0)).toBe(NS_BUF_CHANGED);
  });

  it('a receiver that swaps with setBufIdx, then setSlotFlags, still gives the sender its new buffer', () => {
    const p = pair(8, 1);
    expect(sendSeq(p.a, p.a.tx, 0, 3)).toBe(3);
    expect(p.b.rxsync()).toBe(true);
    const rx = p.b.rx;
    const taken = rx.bufIdx(1);
    const [spare] = p.b.allocBufs(1);
    rx.setBufIdx(1, spare);
    rx.setSlotFlags(1, 0);
    rx.advance(3);
    expect(p.b.rxsync()).toBe(true);
    // The kernel gave the sender's slot the spare (and flagged the change to it).
    expect(p.a.tx.bufIdx(1)).toBe(spare);
    expect(p.a.tx.slotFlags(1) & NS_BUF_CHANGED).toBe(NS_BUF_CHANGED);
    // The buffer the receiver took is in no slot of the sender's any more: it is the receiver's.
    for (let k = 0; k < 8; k++) expect(p.a.tx.bufIdx(k)).not.toBe(taken);
  });

  it('setSlot(slot, bufIdx, len, flags) sets the slot whole and flags a new buffer NS_BUF_CHANGED', () => {
    const p = pair(8, 2);
    const tx = p.a.tx;
    const [spare, other] = p.a.allocBufs(2);
    tx.setSlot(2, spare, 77, NS_MOREFRAG);
    expect([tx.bufIdx(2), tx.len(2), tx.slotFlags(2)]).toEqual([spare, 77, NS_MOREFRAG | NS_BUF_CHANGED]);
    // Flags default to none.
    tx.setSlot(3, other, 5);
    expect([tx.bufIdx(3), tx.len(3), tx.slotFlags(3)]).toEqual([other, 5, NS_BUF_CHANGED]);
  });

  it("setSlot with the slot's own buffer adds no NS_BUF_CHANGED, and keeps one already set", () => {
    const p = pair(8, 1);
    const tx = p.a.tx;
    tx.setSlot(4, tx.bufIdx(4), 60, NS_REPORT);
    expect([tx.len(4), tx.slotFlags(4)]).toEqual([60, NS_REPORT]);
    const [spare] = p.a.allocBufs(1);
    tx.setBufIdx(4, spare);
    tx.setSlot(4, spare, 61);
    expect([tx.bufIdx(4), tx.len(4), tx.slotFlags(4)]).toEqual([spare, 61, NS_BUF_CHANGED]);
  });
});
