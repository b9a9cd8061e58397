/**
 * Sync validation: the kernel never trusts the ring header. Every violation resets the
 * ring, returns false, counts an error and touches no slot. Bad TX slots are dropped
 * and counted; fragments publish only when complete; NS_BUF_CHANGED on RX hands the
 * swapped-in buffer back to the sender's slot.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  NS_BUF_CHANGED,
  NS_MOREFRAG,
  NS_REPORT,
  RING_CUR,
  RING_FLAGS,
  RING_HEAD,
  RING_TAIL,
  SLOT_WORDS,
} from '../shm/layout.js';
import { POLLIN, POLLOUT, type Port, type PortDescriptor } from '../src/port.js';
import type { NetmapRing } from '../src/ring.js';
import {
  closePair,
  counterBytes,
  counterNames,
  diffBytes,
  dist,
  drainSeq,
  getHeader,
  headerByte,
  kstate,
  openPair,
  type Pair,
  pairsClosedAfterEach,
  payloadByte,
  payloadLen,
  recvSeq,
  ringCounters,
  sendSeq,
  setHeader,
  snapshot,
  userHeader,
} from './helpers.js';

const pair = pairsClosedAfterEach();

const N = 8;

/**
 * A pipe a -> b in a wrapped state (ring 8):
 *   TX (a): hwcur 5, hwtail 1: the user owns 5,6,7,0; slots 2,3,4 are in flight.
 *   RX (b): hwcur 2, hwtail 5: the user owns 2,3,4 (packets 2,3,4).
 */
function wrapped(): Pair {
  const p = pair(N);
  expect(sendSeq(p.a, p.a.tx, 0, 5)).toBe(5);
  expect(recvSeq(p.b, p.b.rx, 0, 2)).toBe(2);
  expect(p.a.txsync()).toBe(true);
  expect(kstate(p.da, p.a.tx.id)).toMatchObject({ hwcur: 5, hwtail: 1 });
  expect(kstate(p.db, p.b.rx.id)).toMatchObject({ hwcur: 2, hwtail: 5 });
  expect(userHeader(p.region, p.a.tx.id)).toEqual({ head: 5, cur: 5, tail: 1 });
  expect(userHeader(p.region, p.b.rx.id)).toEqual({ head: 2, cur: 2, tail: 5 });
  return p;
}

interface Side {
  port: Port;
  desc: PortDescriptor;
  ring: NetmapRing;
  sync: () => boolean;
}
function side(p: Pair, which: 'tx' | 'rx'): Side {
  return which === 'tx'
    ? { port: p.a, desc: p.da, ring: p.a.tx, sync: () => p.a.txsync() }
    : { port: p.b, desc: p.db, ring: p.b.rx, sync: () => p.b.rxsync() };
}

/**
 * Runs `sync` on a ring whose header was made invalid and checks everything a rejected
 * sync must (and must not) do.
 */
function expectRejected(p: Pair, s: Side, sync: () => unknown = s.sync): void {
  const id = s.ring.id;
  const k0 = kstate(s.desc, id);
  const mem0 = snapshot(p.da.mem);
  const km0 = snapshot(p.da.kmem);
  const c0 = ringCounters(s.port, id);
  const r = sync();
  if (typeof r === 'boolean') expect(r).toBe(false);
  // The ring is reset to exactly what the kernel knows.
  expect(userHeader(p.region, id)).toEqual({ head: k0.hwcur, cur: k0.hwcur, tail: k0.hwtail });
  expect(kstate(s.desc, id)).toEqual(k0);
  // The error is counted, nothing else moves.
  const c1 = ringCounters(s.port, id);
  expect(c1.errors).toBe(c0.errors + 1);
  for (const name of counterNames()) if (name !== 'errors') expect(c1[name], name).toBe(c0[name]);
  // No slot, buffer or other ring changed: only this ring's head/cur/tail words.
  const allowed = new Set<number>();
  for (const w of [RING_HEAD, RING_CUR, RING_TAIL]) {
    const b = headerByte(p.region, id, w);
    for (let i = 0; i < 4; i++) allowed.add(b + i);
  }
  const changed = diffBytes(mem0, snapshot(p.da.mem)).filter((b) => !allowed.has(b));
  expect(changed).toEqual([]);
  // Kernel memory: only this ring's counters.
  const [c0s, c0e] = counterBytes(id);
  const kchanged = diffBytes(km0, snapshot(p.da.kmem)).filter((b) => b < c0s || b >= c0e);
  expect(kchanged).toEqual([]);
}

/** After a reset the pipe keeps working: packets 2,3,4 are still there, new ones flow. */
function expectStillFlows(p: Pair): void {
  let got = 2;
  let sent = 5;
  for (let lap = 0; lap < 3 * N; lap++) {
    got += recvSeq(p.b, p.b.rx, got, 3);
    sent += sendSeq(p.a, p.a.tx, sent, 3);
  }
  got = drainSeq(p.b, p.b.rx, got, sent);
  expect(got).toBe(sent);
  expect(sent).toBeGreaterThan(5 + 2 * N);
}

type Case = { name: string; head?: number; cur?: number; tail?: number };

// TX: hwcur 5, hwtail 1 (user owns 5,6,7,0).
const TX_CASES: Case[] = [
  { name: 'head out of range (N)', head: N, cur: N },
  { name: 'head out of range (huge)', head: 1_000_000, cur: 5 },
  { name: 'head out of range, cur fine', head: N + 1, cur: 6 },
  { name: 'cur out of range (N)', cur: N },
  { name: 'cur out of range (int32 max)', cur: 0x7fffffff },
  { name: 'negative head', head: -1, cur: 5 },
  { name: 'negative cur', cur: -1 },
  { name: 'negative head and cur (int32 min)', head: -0x80000000, cur: -0x80000000 },
  { name: 'head beyond tail', head: 3, cur: 3 },
  { name: 'head moves backwards (behind hwcur)', head: 4, cur: 4 },
  { name: 'head one past tail', head: 2, cur: 2 },
  { name: 'cur < head', head: 7, cur: 6 },
  { name: 'cur < head across the wrap', head: 0, cur: 7 },
  { name: 'cur beyond tail', head: 6, cur: 2 },
  { name: 'cur behind hwcur', head: 5, cur: 3 },
  { name: 'user writes tail (plausible)', tail: 2 },
  { name: 'user writes tail (hwcur)', tail: 5 },
  { name: 'user writes tail (out of range)', tail: N },
  { name: 'user writes tail (negative)', tail: -1 },
  { name: 'valid head/cur but tail written', head: 7, cur: 0, tail: 3 },
];

// RX: hwcur 2, hwtail 5 (user owns 2,3,4).
const RX_CASES: Case[] = [
  { name: 'head out of range (N)', head: N },
  { name: 'head out of range (huge)', head: 1 << 30, cur: 3 },
  { name: 'cur out of range', head: 3, cur: N + 3 },
  { name: 'negative head', head: -1 },
  { name: 'negative cur', cur: -7 },
  { name: 'head beyond tail', head: 6, cur: 6 },
  { name: 'head moves backwards (behind hwcur)', head: 1, cur: 1 },
  { name: 'cur < head', head: 4, cur: 3 },
  { name: 'cur beyond tail', head: 3, cur: 6 },
  { name: 'cur far beyond tail (before hwcur)', head: 2, cur: 0 },
  { name: 'user writes tail to claim more packets', tail: 7 },
  { name: 'user writes tail to hwcur', tail: 2 },
  { name: 'user writes tail (out of range)', tail: 100 },
  { name: 'user writes tail (negative)', tail: -3 },
  { name: 'valid head/cur but tail written', head: 4, cur: 4, tail: 6 },
];

function apply(p: Pair, id: number, c: Case): void {
  if (c.head !== undefined) setHeader(p.region, id, RING_HEAD, c.head);
  if (c.cur !== undefined) setHeader(p.region, id, RING_CUR, c.cur);
  if (c.tail !== undefined) setHeader(p.region, id, RING_TAIL, c.tail);
}

describe('ring header violations reset the ring', () => {
  describe.each([
    ['tx', TX_CASES],
    ['rx', RX_CASES],
  ] as const)('%s', (which, cases) => {
    it.each(cases)('$name', (c) => {
      const p = wrapped();
      const s = side(p, which);
      apply(p, s.ring.id, c);
      expectRejected(p, s);
      // A second sync of the reset ring is fine and moves nothing.
      expect(s.sync()).toBe(true);
      expect(ringCounters(s.port, s.ring.id).errors).toBe(1);
      expectStillFlows(p);
      expect(ringCounters(s.port, s.ring.id).errors).toBe(1);
    });
  });

  it('poll with a bad header resets the ring too (POLLIN and POLLOUT)', () => {
    const p = wrapped();
    setHeader(p.region, p.b.rx.id, RING_HEAD, 6);
    expectRejected(p, side(p, 'rx'), () => p.b.poll(POLLIN, 0));
    setHeader(p.region, p.a.tx.id, RING_TAIL, 4);
    expectRejected(p, side(p, 'tx'), () => p.a.poll(POLLOUT, 0));
    expectStillFlows(p);
  });

  it("the ring flags word is the user's: not validated, not reset", () => {
    const p = wrapped();
    setHeader(p.region, p.a.tx.id, RING_FLAGS, -1);
    expect(p.a.txsync()).toBe(true);
    expect(getHeader(p.region, p.a.tx.id, RING_FLAGS)).toBe(-1);
    expectStillFlows(p);
  });

  it('exhaustive: every head/cur in [-1, N] and three tails, accepted exactly when hwcur <= head <= cur <= tail', () => {
    for (const which of ['tx', 'rx'] as const) {
      for (let head = -1; head <= N; head++) {
        for (let cur = -1; cur <= N; cur++) {
          for (const dt of [0, 1, -1]) {
            const p = openPair({ ringSize: N });
            try {
              expect(sendSeq(p.a, p.a.tx, 0, 5)).toBe(5);
              expect(recvSeq(p.b, p.b.rx, 0, 2)).toBe(2);
              expect(p.a.txsync()).toBe(true);
              const s = side(p, which);
              const k = kstate(s.desc, s.ring.id);
              const tail = (k.hwtail + dt + N) % N;
              setHeader(p.region, s.ring.id, RING_HEAD, head);
              setHeader(p.region, s.ring.id, RING_CUR, cur);
              setHeader(p.region, s.ring.id, RING_TAIL, tail);
              const valid =
                tail === k.hwtail &&
                head >= 0 &&
                head < N &&
                cur >= 0 &&
                cur < N &&
                dist(k.hwcur, head, N) <= dist(k.hwcur, cur, N) &&
                dist(k.hwcur, cur, N) <= dist(k.hwcur, k.hwtail, N);
              const label = `${which} head ${head} cur ${cur} tail ${tail} (hwcur ${k.hwcur} hwtail ${k.hwtail})`;
              if (valid) {
                expect(s.sync(), label).toBe(true);
                expect(ringCounters(s.port, s.ring.id).errors, label).toBe(0);
                expect(kstate(s.desc, s.ring.id).hwcur, label).toBe(head);
              } else {
                expectRejected(p, s);
              }
            } finally {
              closePair(p);
            }
          }
        }
      }
    }
  });
});

describe('bad TX slots are dropped, never trusted', () => {
  // Ring 8, no extra buffers: numBufs = 2 + 2 * 8 = 18.
  const badIdx = [
    ['buffer 0 (reserved)', 0],
    ['buffer 1 (reserved)', 1],
    ['numBufs', 18],
    ['numBufs + 1000', 1018],
    ['int32 max', 0x7fffffff],
    ['2^31 (negative as int32)', 0x80000000],
    ['u32 max', 0xffffffff],
  ] as const;

  function bufferBytes(p: Pair): Uint8Array {
    return new Uint8Array(p.da.mem, p.region.bufsOfs).slice();
  }

  /** Slot 1 of three carries the damage; 0 and 2 are good packets 0 and 2. */
  function sendThree(p: Pair, damage: (ring: NetmapRing) => void): { txDrops: number; bufsBefore: Uint8Array } {
    const tx = p.a.tx;
    for (const k of [0, 1, 2]) {
      const len = payloadLen(k, tx.bufSize);
      const buf = tx.buf(k);
      for (let j = 0; j < len; j++) buf[j] = payloadByte(k, j);
      tx.setLen(k, len);
      tx.setSlotFlags(k, 0);
    }
    damage(tx);
    tx.advance(3);
    const bufsBefore = bufferBytes(p);
    expect(() => p.a.txsync()).not.toThrow();
    return { txDrops: ringCounters(p.a, tx.id).drops, bufsBefore };
  }

  /**
   * The receiver sees three slots: packets 0 and 2 intact, the dropped one empty. A bad
   * buffer index travels as buffer 0; a good buffer with a bad len travels with its slot
   * (`carried`), as netmap's pipe carries it, so no buffer is lost or duplicated.
   */
  function expectThree(p: Pair, carried = -1): void {
    const rx = p.b.rx;
    expect(p.b.rxsync()).toBe(true);
    expect(rx.tail).toBe(3);
    for (const k of [0, 2]) {
      expect(rx.len(k)).toBe(payloadLen(k, rx.bufSize));
      expect(rx.bufIdx(k)).toBe(p.a.tx.bufIdx(k));
      const buf = rx.buf(k);
      for (let j = 0; j < rx.len(k); j++) expect(buf[j]).toBe(payloadByte(k, j));
    }
    // The dropped packet still occupies its slot (one index space) but carries nothing.
    expect(rx.len(1)).toBe(0);
    if (carried < 0) expect(p.region.validBuf(rx.bufIdx(1))).toBe(false);
    else expect(rx.bufIdx(1)).toBe(carried);
    rx.advance(3);
    expect(p.b.rxsync()).toBe(true);
  }

  /** Later packets flow normally, through every slot, including the one that was bad. */
  function expectLaterFlow(p: Pair): void {
    expect(p.a.txsync()).toBe(true);
    let sent = 100;
    let got = 100;
    for (let i = 0; i < 4 * N; i++) {
      sent += sendSeq(p.a, p.a.tx, sent, 3);
      got += recvSeq(p.b, p.b.rx, got, 4);
    }
    got = drainSeq(p.b, p.b.rx, got, sent);
    expect(sent).toBeGreaterThan(100 + 3 * N);
    expect(ringCounters(p.a, p.a.tx.id).errors).toBe(0);
    expect(ringCounters(p.b, p.b.rx.id).errors).toBe(0);
  }

  describe.each([
    ['with NS_BUF_CHANGED', true],
    ['raw write, no flag', false],
  ] as const)('bad buf_idx, %s', (_label, flagged) => {
    it.each(badIdx)('%s', (_name, idx) => {
      const p = pair(N);
      const orig = p.a.tx.bufIdx(1);
      const { txDrops, bufsBefore } = sendThree(p, (tx) => {
        if (flagged) tx.setBufIdx(1, idx);
        else tx.u32[tx.slotBase + SLOT_WORDS] = idx;
      });
      expect(txDrops).toBe(1);
      const c = ringCounters(p.a, p.a.tx.id);
      expect(c.errors).toBe(0);
      expect(c.packets).toBe(2);
      // No buffer byte moved (nothing was written to buffer 0 or anywhere else).
      expect(diffBytes(bufsBefore, bufferBytes(p))).toEqual([]);
      expectThree(p);
      // The user repairs the slot; the next laps go through it.
      p.a.tx.setBufIdx(1, orig);
      expectLaterFlow(p);
      expect(ringCounters(p.a, p.a.tx.id).drops).toBe(1);
    });
  });

  it.each([2049, 4096, 0xffff])('len %i > buf_size 2048 is dropped, its buffer travels with the slot', (len) => {
    const p = pair(N);
    const buf = p.a.tx.bufIdx(1);
    const { txDrops, bufsBefore } = sendThree(p, (tx) => tx.setLen(1, len));
    expect(txDrops).toBe(1);
    expect(diffBytes(bufsBefore, bufferBytes(p))).toEqual([]);
    expectThree(p, buf);
    expectLaterFlow(p);
    expect(ringCounters(p.a, p.a.tx.id).drops).toBe(1);
  });

  it('len == buf_size is fine; flags other than MOREFRAG/BUF_CHANGED travel', () => {
    const p = pair(N);
    const tx = p.a.tx;
    tx.buf(0).fill(0xab);
    tx.setLen(0, tx.bufSize);
    tx.setSlotFlags(0, NS_REPORT);
    tx.advance(1);
    expect(p.a.txsync()).toBe(true);
    expect(ringCounters(p.a, tx.id).drops).toBe(0);
    expect(p.b.rxsync()).toBe(true);
    expect(p.b.rx.tail).toBe(1);
    expect(p.b.rx.len(0)).toBe(tx.bufSize);
    expect(p.b.rx.slotFlags(0) & NS_REPORT).toBe(NS_REPORT);
    expect(p.b.rx.buf(0).every((b) => b === 0xab)).toBe(true);
  });

  it('a whole ring of garbage slots: nothing throws, every slot is dropped and counted', () => {
    const p = pair(N);
    const tx = p.a.tx;
    const saved = Array.from({ length: N }, (_, k) => tx.bufIdx(k));
    for (let k = 0; k < N; k++) {
      tx.u32[tx.slotBase + k * SLOT_WORDS] = 0xdead0000 + k;
      tx.u32[tx.slotBase + k * SLOT_WORDS + 1] = 0xffffffff;
    }
    tx.advance(N - 1);
    expect(() => p.a.txsync()).not.toThrow();
    expect(ringCounters(p.a, tx.id).drops).toBe(N - 1);
    // Every slot said MOREFRAG, so no packet completed: the receiver sees nothing.
    expect(p.b.rxsync()).toBe(true);
    expect(p.b.rx.tail).toBe(0);
    for (let k = 0; k < N; k++) tx.u32[tx.slotBase + k * SLOT_WORDS] = saved[k];
  });

  it('a bad fragment keeps its place in the chain (zero length, NS_MOREFRAG kept)', () => {
    const p = pair(N);
    const tx = p.a.tx;
    tx.setLen(0, 100);
    tx.setSlotFlags(0, NS_MOREFRAG);
    tx.setLen(1, 100);
    tx.setSlotFlags(1, NS_MOREFRAG);
    tx.u32[tx.slotBase + SLOT_WORDS] = 1; // reserved buffer
    tx.setLen(2, 50);
    tx.setSlotFlags(2, 0);
    tx.advance(3);
    expect(p.a.txsync()).toBe(true);
    expect(ringCounters(p.a, tx.id).drops).toBe(1);
    expect(p.b.rxsync()).toBe(true);
    expect(p.b.rx.tail).toBe(3);
    expect(p.b.rx.len(1)).toBe(0);
    expect(p.b.rx.slotFlags(1) & NS_MOREFRAG).toBe(NS_MOREFRAG);
    expect(p.b.rx.slotFlags(2) & NS_MOREFRAG).toBe(0);
  });
});

describe('NS_MOREFRAG: only complete packets are published', () => {
  function frag(ring: NetmapRing, slot: number, len: number, more: boolean): void {
    ring.setLen(slot, len);
    ring.setSlotFlags(slot, more ? NS_MOREFRAG : 0);
  }

  it('a packet becomes visible only when its last fragment is synced', () => {
    const p = pair(N);
    const tx = p.a.tx;
    frag(tx, 0, 100, true);
    frag(tx, 1, 200, true);
    tx.advance(2);
    expect(p.a.txsync()).toBe(true);
    expect(kstate(p.db, p.b.rx.id).peerTail).toBe(0);
    expect(p.b.rxsync()).toBe(true);
    expect(p.b.rx.tail).toBe(0);
    expect(p.b.poll(POLLIN, 0)).toBe(0);
    frag(tx, 2, 300, false);
    tx.advance(3);
    expect(p.a.txsync()).toBe(true);
    expect(p.b.poll(POLLIN, 0)).toBe(POLLIN);
    expect(p.b.rx.tail).toBe(3);
    expect([p.b.rx.len(0), p.b.rx.len(1), p.b.rx.len(2)]).toEqual([100, 200, 300]);
    expect(p.b.rx.slotFlags(0) & NS_MOREFRAG).toBe(NS_MOREFRAG);
    expect(p.b.rx.slotFlags(1) & NS_MOREFRAG).toBe(NS_MOREFRAG);
    expect(p.b.rx.slotFlags(2) & NS_MOREFRAG).toBe(0);
  });

  it('a complete packet and an incomplete one in one sync: only the first is visible', () => {
    const p = pair(N);
    const tx = p.a.tx;
    frag(tx, 0, 60, false);
    frag(tx, 1, 61, true);
    frag(tx, 2, 62, true);
    tx.advance(3);
    expect(p.a.txsync()).toBe(true);
    expect(p.b.rxsync()).toBe(true);
    expect(p.b.rx.tail).toBe(1);
    // The receiver may consume the complete packet while the other is still in pieces.
    p.b.rx.advance(1);
    expect(p.b.rxsync()).toBe(true);
    expect(p.b.rx.tail).toBe(1);
    frag(tx, 3, 63, false);
    tx.advance(4);
    expect(p.a.txsync()).toBe(true);
    expect(p.b.rxsync()).toBe(true);
    expect(p.b.rx.tail).toBe(4);
  });

  it('fragments across the wrap on a ring of 5', () => {
    const n = 5;
    const p = pair(n);
    expect(sendSeq(p.a, p.a.tx, 0, 3)).toBe(3);
    expect(recvSeq(p.b, p.b.rx, 0, 3)).toBe(3);
    expect(p.a.txsync()).toBe(true);
    const tx = p.a.tx;
    expect([tx.head, tx.tail]).toEqual([3, 2]);
    frag(tx, 3, 10, true);
    frag(tx, 4, 11, true);
    frag(tx, 0, 12, true);
    tx.advance(1);
    expect(p.a.txsync()).toBe(true);
    expect(p.b.rxsync()).toBe(true);
    expect(p.b.rx.tail).toBe(3);
    frag(tx, 1, 13, false);
    tx.advance(2);
    expect(p.a.txsync()).toBe(true);
    expect(p.b.rxsync()).toBe(true);
    expect(p.b.rx.tail).toBe(2);
    expect([3, 4, 0, 1].map((k) => p.b.rx.len(k))).toEqual([10, 11, 12, 13]);
  });

  it('property: the receiver tail always sits on a packet boundary', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 4, max: 12 }),
        // Packets of 1..3 fragments, and after each fragment: sync or not.
        fc.array(fc.tuple(fc.integer({ min: 1, max: 3 }), fc.array(fc.boolean(), { minLength: 3, maxLength: 3 })), {
          minLength: 1,
          maxLength: 40,
        }),
        fc.integer({ min: 1, max: 12 }),
        (n, packets, rxBatch) => {
          const p = openPair({ ringSize: n });
          try {
            const tx = p.a.tx;
            const rx = p.b.rx;
            // Slot index -> true when it ends a packet (as the sender wrote it).
            const ends = new Map<number, boolean>();
            let pktSent = 0;
            let pktGot = 0;
            const drain = (max: number) => {
              expect(p.b.rxsync()).toBe(true);
              // The published tail is at a packet boundary: the slot before it ends a packet.
              if (rx.tail !== rx.head || pktSent > pktGot) {
                const last = (rx.tail - 1 + n) % n;
                if (rx.tail !== rx.head) expect(ends.get(last)).toBe(true);
              }
              // Consume whole packets only, up to `max` slots.
              let cur = rx.cur;
              let taken = 0;
              while (cur !== rx.tail && taken < max) {
                let k = cur;
                let len = 1;
                while ((rx.slotFlags(k) & NS_MOREFRAG) !== 0) {
                  k = rx.next(k);
                  len++;
                  expect(k).not.toBe(rx.tail); // an incomplete packet was published
                }
                cur = rx.next(k);
                taken += len;
                pktGot++;
              }
              rx.advance(cur);
              expect(p.b.rxsync()).toBe(true);
            };
            for (const [frags, syncs] of packets) {
              if (frags > n - 1) continue;
              // Wait for room for the whole packet.
              for (let guard = 0; dist(tx.cur, tx.tail, n) < frags; guard++) {
                expect(guard).toBeLessThan(100);
                drain(n);
                expect(p.a.txsync()).toBe(true);
              }
              for (let f = 0; f < frags; f++) {
                const k = tx.cur;
                const last = f === frags - 1;
                tx.setLen(k, 1 + f);
                tx.setSlotFlags(k, last ? 0 : NS_MOREFRAG);
                ends.set(k, last);
                tx.advance(tx.next(k));
                if (last) pktSent++;
                if (syncs[f]) {
                  expect(p.a.txsync()).toBe(true);
                  drain(rxBatch);
                }
              }
            }
            expect(p.a.txsync()).toBe(true);
            for (let i = 0; i < 20 && pktGot < pktSent; i++) drain(n);
            expect(pktGot).toBe(pktSent);
          } finally {
            closePair(p);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('NS_BUF_CHANGED on RX: the swapped buffer goes back to the sender', () => {
  it('the sender slot gets the receiver buffer, flagged; the receiver keeps the packet buffer', () => {
    const p = pair(N, 4);
    expect(sendSeq(p.a, p.a.tx, 0, 1)).toBe(1);
    const x = p.a.tx.bufIdx(0);
    const rx = p.b.rx;
    expect(p.b.rxsync()).toBe(true);
    expect(rx.bufIdx(0)).toBe(x);
    const free0 = p.a.freeBufCount();
    const [y] = p.b.allocBufs(1);
    expect(p.region.validBuf(y)).toBe(true);
    expect(p.a.freeBufCount()).toBe(free0 - 1);
    // Keep the packet: swap in a fresh buffer and release the slot.
    rx.setBufIdx(0, y);
    expect(rx.slotFlags(0) & NS_BUF_CHANGED).toBe(NS_BUF_CHANGED);
    const kept = p.region.buf(x).slice(0, payloadLen(0, p.region.bufSize));
    rx.advance(1);
    expect(p.b.rxsync()).toBe(true);
    expect(ringCounters(p.b, rx.id).drops).toBe(0);
    expect(p.a.tx.bufIdx(0)).toBe(y);
    expect(p.a.tx.slotFlags(0) & NS_BUF_CHANGED).toBe(NS_BUF_CHANGED);
    expect(rx.slotFlags(0) & NS_BUF_CHANGED).toBe(0);
    // Next laps: slot 0 now carries y end to end; x is never written again.
    let sent = 1;
    let got = 1;
    for (let i = 0; i < 3 * N; i++) {
      sent += sendSeq(p.a, p.a.tx, sent, 3);
      got += recvSeq(p.b, rx, got, 3);
    }
    got = drainSeq(p.b, rx, got, sent);
    expect(sent).toBeGreaterThan(2 * N);
    expect(p.a.tx.bufIdx(0)).toBe(y);
    expect(rx.bufIdx(0)).toBe(y);
    expect(p.a.tx.slotFlags(0) & NS_BUF_CHANGED).toBe(0);
    expect(p.region.buf(x).slice(0, kept.length)).toEqual(kept);
    // Every buffer is in exactly one place: sender slots (= receiver slots), x, the pool.
    const inRing = new Set(Array.from({ length: N }, (_, k) => p.a.tx.bufIdx(k)));
    expect(inRing.size).toBe(N);
    expect(inRing.has(x)).toBe(false);
    expect(inRing.has(y)).toBe(true);
  });

  it.each([0, 1, 18 + 4, 0xffffffff])(
    'an invalid buffer (%i) swapped in on RX is dropped, the sender slot is untouched',
    (bad) => {
      const p = pair(N, 4);
      expect(sendSeq(p.a, p.a.tx, 0, 2)).toBe(2);
      const x = p.a.tx.bufIdx(1);
      const rx = p.b.rx;
      expect(p.b.rxsync()).toBe(true);
      rx.setBufIdx(1, bad);
      rx.advance(2);
      expect(() => p.b.rxsync()).not.toThrow();
      expect(ringCounters(p.b, rx.id).drops).toBe(1);
      expect(ringCounters(p.b, rx.id).errors).toBe(0);
      expect(p.a.tx.bufIdx(1)).toBe(x);
      expect(p.a.tx.slotFlags(1) & NS_BUF_CHANGED).toBe(0);
      expect(rx.slotFlags(1) & NS_BUF_CHANGED).toBe(0);
      // The pipe keeps working.
      expect(p.a.txsync()).toBe(true);
      let sent = 2;
      let got = 2;
      for (let i = 0; i < 2 * N; i++) {
        sent += sendSeq(p.a, p.a.tx, sent, 3);
        got += recvSeq(p.b, rx, got, 3);
      }
      got = drainSeq(p.b, rx, got, sent);
    },
  );
});
