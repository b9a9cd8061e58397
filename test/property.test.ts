/**
 * Property test: a hostile (or buggy) user writes random values into head/cur/tail,
 * other header words and slot words, interleaved with well-formed sends and receives and
 * with syncs and polls on both ends of a pipe, in both directions. After every step:
 *  - the kernel never throws;
 *  - each sync returns exactly what the validation rule says (hwcur <= head <= cur <=
 *    tail, all < N, tail untouched), and leaves the header as netmap would;
 *  - the kernel state (KR_HWCUR/KR_HWTAIL/KR_PEER_TAIL in kernel memory, and the Port's
 *    private krings) satisfies its invariants and agrees with the peer;
 *  - a sync writes nothing but its own header, the peer slots for [hwcur, head) it
 *    accepted, and (flags of) its own slots in that range: never a slot the peer's user
 *    owns. Checked by diffing the whole region and kernel memory around every sync.
 * And a second property: honest users sending bad slots and swapping buffers on receive
 * never lose or duplicate a buffer of the pipe (see Conservation).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DIR_TX,
  KC_ERRORS,
  KR_HWCUR,
  KR_HWTAIL,
  KR_PEER_TAIL,
  NS_BUF_CHANGED,
  NS_MOREFRAG,
  NS_REPORT,
  RING_BUF_SIZE,
  RING_CUR,
  RING_DIR,
  RING_FLAGS,
  RING_HEAD,
  RING_ID,
  RING_NUM_SLOTS,
  RING_SLOTS_OFS,
  RING_TAIL,
  SLOT_WORDS,
} from '../shm/layout.js';
import { createRegion, kringWordBase } from '../shm/region.js';
import { copyFrame, RegionViews } from '../shm/views.js';
import { POLLERR, POLLIN, POLLOUT, type Port } from '../src/port.js';
import type { NetmapRing } from '../src/ring.js';
import {
  closePair,
  counterBytes,
  dist,
  inRange,
  kstate,
  openPair,
  type Pair,
  privateKrings,
  ringCounters,
} from './helpers.js';

const BUF_SIZE = 64;
const EXTRA = 4;

type End = 0 | 1;
type Which = 'tx' | 'rx';

type Op =
  | { kind: 'send'; end: End; k: number; len: number }
  | { kind: 'recv'; end: End; k: number; swap: boolean }
  | { kind: 'hdr'; end: End; ring: Which; word: number; value: number }
  | { kind: 'slot'; end: End; ring: Which; slot: number; word: 0 | 1; value: number }
  | { kind: 'sync'; end: End; ring: Which; via: 'sync' | 'poll' };

function opArb(n: number): fc.Arbitrary<Op> {
  const numBufs = 2 + 2 * n + EXTRA;
  const end = fc.constantFrom<End>(0, 1);
  const ring = fc.constantFrom<Which>('tx', 'rx');
  const index = fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: -2, max: n + 2 }) },
    { weight: 1, arbitrary: fc.integer() },
    { weight: 1, arbitrary: fc.constantFrom(0x7fffffff, -0x80000000, 1 << 16, -n) },
  );
  const hdrWord = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(RING_HEAD, RING_CUR, RING_TAIL) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(RING_FLAGS, RING_NUM_SLOTS, RING_BUF_SIZE, RING_ID, RING_DIR, RING_SLOTS_OFS),
    },
  );
  const bufIdx = fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: 2, max: numBufs - 1 }) },
    { weight: 2, arbitrary: fc.constantFrom(0, 1, numBufs, numBufs + 1) },
    { weight: 1, arbitrary: fc.integer() },
  );
  const flagBits = fc.constantFrom(0, NS_BUF_CHANGED, NS_MOREFRAG, NS_REPORT, NS_MOREFRAG | NS_BUF_CHANGED, 0xffff);
  const lenFlags = fc.oneof(
    {
      weight: 4,
      arbitrary: fc
        .tuple(fc.oneof(fc.integer({ min: 0, max: BUF_SIZE + 2 }), fc.constant(0xffff)), flagBits)
        .map(([len, flags]) => len | (flags << 16) | 0),
    },
    { weight: 1, arbitrary: fc.integer() },
  );
  return fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant('send' as const),
        end,
        k: fc.integer({ min: 1, max: n + 1 }),
        len: fc.integer({ min: 1, max: BUF_SIZE }),
      }),
    },
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant('recv' as const),
        end,
        k: fc.integer({ min: 1, max: n + 1 }),
        swap: fc.boolean(),
      }),
    },
    {
      weight: 4,
      arbitrary: fc.record({ kind: fc.constant('hdr' as const), end, ring, word: hdrWord, value: index }),
    },
    {
      weight: 4,
      arbitrary: fc.oneof(
        fc.record({
          kind: fc.constant('slot' as const),
          end,
          ring,
          slot: fc.integer({ min: 0, max: n - 1 }),
          word: fc.constant<0 | 1>(0),
          value: bufIdx,
        }),
        fc.record({
          kind: fc.constant('slot' as const),
          end,
          ring,
          slot: fc.integer({ min: 0, max: n - 1 }),
          word: fc.constant<0 | 1>(1),
          value: lenFlags,
        }),
      ),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('sync' as const),
        end,
        ring,
        via: fc.constantFrom<'sync' | 'poll'>('sync', 'poll'),
      }),
    },
  );
}

function same(a: unknown, b: unknown, what: string): void {
  if (a !== b) throw new Error(`${what}: got ${String(a)}, expected ${String(b)}`);
}
function ok(cond: boolean, what: string): void {
  if (!cond) throw new Error(what);
}

class World {
  readonly p: Pair;
  readonly n: number;
  readonly ports: [Port, Port];
  syncs = 0;
  rejects = 0;
  /** Slot and header bases, read once: the hostile user may overwrite RING_SLOTS_OFS later. */
  private readonly slotBases: number[];
  private readonly hdrBases: number[];

  constructor(n: number) {
    this.p = openPair({ ringSize: n, bufSize: BUF_SIZE, extraBufs: EXTRA });
    this.n = n;
    this.ports = [this.p.a, this.p.b];
    const r = this.p.region;
    this.slotBases = Array.from({ length: r.numRings }, (_, id) => r.slotWordBase(id));
    this.hdrBases = Array.from({ length: r.numRings }, (_, id) => r.ringWordBase(id));
  }

  ring(end: End, which: Which): NetmapRing {
    return which === 'tx' ? this.ports[end].tx : this.ports[end].rx;
  }
  /** The ring on the other end of the pipe from `ring` of `end`. */
  peer(end: End, which: Which): { end: End; which: Which; ring: NetmapRing } {
    const other: End = end === 0 ? 1 : 0;
    const w: Which = which === 'tx' ? 'rx' : 'tx';
    return { end: other, which: w, ring: this.ring(other, w) };
  }
  k(id: number) {
    return kstate(this.p.da, id);
  }
  hdrWord(id: number, word: number): number {
    return this.hdrBases[id] + word;
  }
  slotWord(id: number, slot: number, word: number): number {
    return this.slotBases[id] + slot * SLOT_WORDS + word;
  }

  apply(op: Op): void {
    const i32 = this.p.region.i32;
    switch (op.kind) {
      case 'hdr':
        i32[this.hdrWord(this.ring(op.end, op.ring).id, op.word)] = op.value;
        return;
      case 'slot':
        i32[this.slotWord(this.ring(op.end, op.ring).id, op.slot, op.word)] = op.value;
        return;
      case 'sync': {
        // poll(POLLIN) first pushes out what the user queued on the TX ring (netmap's
        // default, without NETMAP_NO_TX_POLL): that part is checked as the txsync it is.
        const tx = this.ring(op.end, 'tx');
        if (op.via === 'poll' && op.ring === 'rx' && i32[this.hdrWord(tx.id, RING_HEAD)] !== this.k(tx.id).hwcur) {
          this.checkedSync(op.end, 'tx', 'sync');
        }
        this.checkedSync(op.end, op.ring, op.via);
        return;
      }
      case 'send': {
        // A well-behaved sender: sync, fill what fits, push.
        const tx = this.ring(op.end, 'tx');
        this.checkedSync(op.end, 'tx', 'sync');
        let cur = tx.cur;
        const room = Math.min(op.k, dist(cur, tx.tail, this.n));
        for (let i = 0; i < room; i++) {
          i32[this.slotWord(tx.id, cur, 1)] = op.len; // len, no flags
          cur = tx.next(cur);
        }
        tx.advance(cur);
        this.checkedSync(op.end, 'tx', 'sync');
        return;
      }
      case 'recv': {
        // A well-behaved receiver; with `swap`, it keeps the first packet's buffer and
        // gives back a spare one (NS_BUF_CHANGED), when the pool has one.
        const rx = this.ring(op.end, 'rx');
        this.checkedSync(op.end, 'rx', 'sync');
        let cur = rx.cur;
        const avail = Math.min(op.k, dist(cur, rx.tail, this.n));
        if (op.swap && avail > 0) {
          const [b] = this.ports[op.end].allocBufs(1);
          if (b !== undefined) rx.setBufIdx(cur, b);
        }
        for (let i = 0; i < avail; i++) cur = rx.next(cur);
        rx.advance(cur);
        this.checkedSync(op.end, 'rx', 'sync');
        return;
      }
    }
  }

  /** One sync (or the poll that runs it), checked against the rules. */
  checkedSync(end: End, which: Which, via: 'sync' | 'poll'): void {
    const n = this.n;
    const port = this.ports[end];
    const ring = this.ring(end, which);
    const peer = this.peer(end, which);
    const id = ring.id;
    const pid = peer.ring.id;
    const i32 = this.p.region.i32;
    const head = i32[this.hdrWord(id, RING_HEAD)];
    const cur = i32[this.hdrWord(id, RING_CUR)];
    const tail = i32[this.hdrWord(id, RING_TAIL)];
    const k0 = this.k(id);
    const pk0 = this.k(pid);
    const valid =
      tail === k0.hwtail &&
      head >= 0 &&
      head < n &&
      cur >= 0 &&
      cur < n &&
      dist(k0.hwcur, head, n) <= dist(k0.hwcur, cur, n) &&
      dist(k0.hwcur, cur, n) <= dist(k0.hwcur, k0.hwtail, n);
    const mem0 = new Int32Array(this.p.da.mem).slice();
    const km0 = new Int32Array(this.p.da.kmem).slice();
    const errors0 = this.errors(end, id);

    let r: boolean | number;
    if (via === 'sync') r = which === 'tx' ? port.txsync() : port.rxsync();
    else r = port.poll(which === 'tx' ? POLLOUT : POLLIN, 0);
    this.syncs++;
    if (via === 'sync') same(r, valid, 'sync result');
    const errors1 = this.errors(end, id);
    same(errors1, errors0 + (valid ? 0 : 1), 'error counter');
    if (!valid) this.rejects++;

    const k1 = this.k(id);
    const h1 = valid ? head : k0.hwcur;
    same(k1.hwcur, h1, 'hwcur after sync');
    // The header as netmap leaves it: the user's head/cur if accepted, reset otherwise; tail = hwtail.
    same(i32[this.hdrWord(id, RING_HEAD)], valid ? head : k0.hwcur, 'head after sync');
    same(i32[this.hdrWord(id, RING_CUR)], valid ? cur : k0.hwcur, 'cur after sync');
    same(i32[this.hdrWord(id, RING_TAIL)], k1.hwtail, 'tail after sync');
    if (!valid) same(JSON.stringify(k1), JSON.stringify(k0), 'kernel state after a rejected sync');

    // What this sync may have written in the region.
    const allowed = new Set<number>();
    for (const w of [RING_HEAD, RING_CUR, RING_TAIL]) allowed.add(this.hdrWord(id, w));
    for (let s = k0.hwcur; s !== h1; s = s + 1 === n ? 0 : s + 1) {
      allowed.add(this.slotWord(pid, s, 0)); // descriptor to the peer RX / buffer back to the peer TX
      allowed.add(this.slotWord(pid, s, 1));
      allowed.add(this.slotWord(id, s, 1)); // NS_BUF_CHANGED cleared on our own slot
    }
    // ...and buffer 0's first word? Never: a sync writes no buffer at all.
    const mem1 = new Int32Array(this.p.da.mem);
    for (let w = 0; w < mem0.length; w++) {
      if (mem0[w] !== mem1[w] && !allowed.has(w)) {
        throw new Error(
          `${which}sync of end ${end} (ring ${id}, ${via}) wrote word ${w} (${mem0[w]} -> ${mem1[w]}); hwcur ${k0.hwcur} -> ${h1}`,
        );
      }
    }
    // Explicitly: the slots the peer's user owns are untouched.
    //  TX sync: the peer RX user owns [rx hwcur, rx hwtail); everything in [rx hwcur, our old hwcur) is in flight.
    //  RX sync: the peer TX user owns [tx hwcur, tx hwtail).
    const [from, to] = which === 'tx' ? [pk0.hwcur, k0.hwcur] : [pk0.hwcur, pk0.hwtail];
    for (let s = 0; s < n; s++) {
      if (!inRange(s, from, to, n)) continue;
      for (const w of [0, 1]) {
        const at = this.slotWord(pid, s, w);
        if (mem0[at] !== mem1[at]) throw new Error(`${which}sync wrote peer-owned slot ${s} of ring ${pid}`);
      }
    }

    // What it may have written in kernel memory: its own hwcur/hwtail and counters, the
    // peer's published tail.
    const kallowed = new Set<number>([
      kringWordBase(id) + KR_HWCUR,
      kringWordBase(id) + KR_HWTAIL,
      kringWordBase(pid) + KR_PEER_TAIL,
    ]);
    const [cs, ce] = counterBytes(id);
    for (let b = cs; b < ce; b += 4) kallowed.add(b / 4);
    const km1 = new Int32Array(this.p.da.kmem);
    for (let w = 0; w < km0.length; w++) {
      if (km0[w] !== km1[w] && !kallowed.has(w)) throw new Error(`${which}sync wrote kernel word ${w}`);
    }
    // The peer's own state is the peer's: only its published tail may move.
    const pk1 = this.k(pid);
    same(pk1.hwcur, pk0.hwcur, 'peer hwcur');
    same(pk1.hwtail, pk0.hwtail, 'peer hwtail');
    this.checkInvariants();
  }

  /** The ring's error counter, read straight from kernel memory (KC_ERRORS). */
  errors(_end: End, id: number): number {
    return new Float64Array(this.p.da.kmem)[counterBytes(id)[0] / 8 + KC_ERRORS];
  }

  checkInvariants(): void {
    const n = this.n;
    for (const end of [0, 1] as const) {
      const port = this.ports[end];
      const priv = privateKrings(port);
      for (const kr of [...priv.tx, ...priv.rx]) {
        const k = this.k(kr.id);
        // The saved state is the private state, and every index is in the ring.
        same(kr.hwcur, k.hwcur, `ring ${kr.id} private vs saved hwcur`);
        same(kr.hwtail, k.hwtail, `ring ${kr.id} private vs saved hwtail`);
        for (const v of [k.hwcur, k.hwtail, k.peerTail, kr.rhead, kr.rcur]) {
          ok(Number.isInteger(v) && v >= 0 && v < n, `ring ${kr.id}: index ${v} out of [0, ${n})`);
        }
      }
      // One direction: TX of `end` feeds RX of the other end.
      const T = this.k(this.ring(end, 'tx').id);
      const R = this.k(this.peer(end, 'tx').ring.id);
      // The sender may fill up to the slot before the receiver's hwcur: one slot stays empty.
      same(T.peerTail, (R.hwcur - 1 + n) % n, 'sender tail vs receiver hwcur');
      // The receiver sees only what was sent: R.hwcur <= R.hwtail <= published <= T.hwcur.
      ok(dist(R.hwcur, R.hwtail, n) <= dist(R.hwcur, R.peerTail, n), 'receiver hwtail beyond published tail');
      ok(dist(R.hwcur, R.peerTail, n) <= dist(R.hwcur, T.hwcur, n), 'published tail beyond what was sent');
      // The sender's tail never passes what the receiver released.
      ok(dist(T.hwcur, T.hwtail, n) <= dist(T.hwcur, T.peerTail, n), 'sender hwtail beyond what the receiver released');
    }
  }
}

describe('kernel vs hostile user (fast-check)', () => {
  it('random header/slot writes interleaved with valid traffic: no throw, invariants hold, no foreign slot written', () => {
    let totalSyncs = 0;
    let totalRejects = 0;
    fc.assert(
      fc.property(
        fc
          .integer({ min: 2, max: 12 })
          .chain((n) => fc.tuple(fc.constant(n), fc.array(opArb(n), { minLength: 1, maxLength: 120, size: 'max' }))),
        ([n, ops]) => {
          const w = new World(n);
          try {
            w.checkInvariants();
            for (const op of ops) w.apply(op);
            // Whatever happened, a well-behaved user can still move packets both ways
            // (the ring may hold garbage descriptors; they are dropped, never trusted).
            for (let i = 0; i < 2 * n; i++) {
              w.apply({ kind: 'send', end: 0, k: 1, len: 10 });
              w.apply({ kind: 'recv', end: 1, k: n, swap: false });
              w.apply({ kind: 'send', end: 1, k: 1, len: 10 });
              w.apply({ kind: 'recv', end: 0, k: n, swap: false });
            }
            totalSyncs += w.syncs;
            totalRejects += w.rejects;
          } finally {
            closePair(w.p);
          }
        },
      ),
      { numRuns: 1000 },
    );
    // The generator really exercised both paths.
    expect(totalRejects).toBeGreaterThan(3000);
    expect(totalSyncs - totalRejects).toBeGreaterThan(50_000);
  });

  it('a pipe drained after random traffic gives the sender back N-1 slots', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 2, max: 12 })
          .chain((n) => fc.tuple(fc.constant(n), fc.array(opArb(n), { minLength: 1, maxLength: 60, size: 'max' }))),
        ([n, ops]) => {
          const w = new World(n);
          try {
            for (const op of ops) w.apply(op);
            // Repair headers the way a restarted user would: sync (reset) and drain.
            for (let i = 0; i < 3; i++) {
              for (const end of [0, 1] as const) {
                w.checkedSync(end, 'tx', 'sync');
                w.apply({ kind: 'recv', end, k: n, swap: false });
              }
            }
            for (const end of [0, 1] as const) {
              // Fragments that never completed stay in flight (the sender never finished
              // them): the sender's space is N-1 minus those.
              const tx = w.ring(end, 'tx');
              const R = w.k(w.peer(end, 'tx').ring.id);
              const T = w.k(tx.id);
              const unpublished = dist(R.peerTail, T.hwcur, n);
              expect(dist(tx.head, tx.tail, n)).toBe(n - 1 - unpublished);
              expect(R.hwcur).toBe(R.peerTail);
            }
          } finally {
            closePair(w.p);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('copyFrame (fast-check)', () => {
  // Two regions of one TX ring with its own buffers, for each buffer size.
  const region = (bufSize: number) =>
    RegionViews.user(createRegion({ rings: [DIR_TX], numSlots: 8, bufSize, ifs: [{ tx: [0], rx: [] }] }));
  const edges = [0, 1, 59, 60, 63, 64, 65, 127, 128, 129, 191, 192, 193, 2047, 2048];

  it('copies exactly the first len bytes into the one destination buffer, for every length', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(64, 128, 192, 2048, 4096),
        fc.oneof(fc.constantFrom(...edges), fc.nat(4096)),
        fc.nat(5),
        fc.nat(5),
        fc.integer(),
        (bufSize, rawLen, s, d, seed) => {
          const len = Math.min(rawLen, bufSize);
          const src = region(bufSize);
          const dst = region(bufSize);
          let x = seed | 1;
          for (let i = 0; i < src.u8.length; i++) {
            x ^= x << 13;
            x ^= x >>> 17;
            x ^= x << 5;
            src.u8[i] = x;
            dst.u8[i] = ~x;
          }
          const before = dst.u8.slice();
          const sb = 2 + s;
          const db = 2 + d;
          copyFrame(src, sb, dst, db, len);
          const so = src.bufOffset(sb);
          const dof = dst.bufOffset(db);
          expect(Buffer.compare(dst.u8.subarray(dof, dof + len), src.u8.subarray(so, so + len))).toBe(0);
          // Outside the destination buffer nothing changed.
          expect(Buffer.compare(dst.u8.subarray(0, dof), before.subarray(0, dof))).toBe(0);
          const end = dof + bufSize;
          expect(Buffer.compare(dst.u8.subarray(end), before.subarray(end))).toBe(0);
        },
      ),
      { numRuns: 400 },
    );
  });
});

// ---- buffer conservation on pipes (issue 11) ----

/**
 * What a sender writes into one TX slot: a good one, one whose len is past the buffer
 * (the kernel drops the packet), or one whose buf_idx names no buffer (the sender keeps
 * the slot's real buffer in its hand meanwhile); any of them may carry NS_MOREFRAG.
 */
interface SlotFill {
  kind: 'good' | 'long' | 'badIdx';
  more: boolean;
  /** len for 'good' and 'badIdx' (at most the buffer), or past it for 'long'. */
  len: number;
  /** The index written by 'badIdx': reserved or past the last buffer. */
  badIdx: number;
}

type ConsOp =
  | { kind: 'fill'; end: End; slots: SlotFill[]; push: boolean }
  | { kind: 'recv'; end: End; swaps: boolean[] }
  | { kind: 'sync'; end: End; how: 'txsync' | 'rxsync' | 'pollin' | 'pollout' }
  | { kind: 'free'; end: End; k: number };

interface Sent {
  len: number;
  more: boolean;
  dropped: boolean;
}

const CONS_BUF_SIZE = 64;
const CONS_EXTRA = 4;

function consOpArb(n: number): fc.Arbitrary<ConsOp> {
  const numBufs = 2 + 2 * n + CONS_EXTRA;
  const end = fc.constantFrom<End>(0, 1);
  const slot: fc.Arbitrary<SlotFill> = fc.record({
    kind: fc.constantFrom<SlotFill['kind']>('good', 'good', 'long', 'badIdx'),
    more: fc.boolean(),
    len: fc.integer({ min: 0, max: CONS_BUF_SIZE }),
    badIdx: fc.constantFrom(0, 1, numBufs, numBufs + 1, 0xffffffff),
  });
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('fill' as const),
        end,
        slots: fc.array(slot, { minLength: 1, maxLength: n }),
        push: fc.boolean(),
      }),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('recv' as const),
        end,
        swaps: fc.array(fc.boolean(), { minLength: 1, maxLength: n }),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('sync' as const),
        end,
        how: fc.constantFrom<'txsync' | 'rxsync' | 'pollin' | 'pollout'>('txsync', 'rxsync', 'pollin', 'pollout'),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('free' as const), end, k: fc.integer({ min: 1, max: 3 }) }) },
  );
}

/**
 * Two honest users of a pipe, each a sender and a receiver, and where every buffer is.
 *
 * Where a buffer lives: in a slot of one of the two TX rings, in a user's hand (spares it
 * took from the pool or swapped out of an RX slot, and the real buffers of slots it sent
 * with a bad index), or on the pool's free list. RX slots are not counted: slot k of a TX
 * ring and slot k of the peer's RX ring are one slot in one index space. While slot k is
 * with the receiver, its RX slot holds what txsync copied from the TX slot, which the
 * kernel and the honest sender leave alone until it comes back; when the receiver swaps
 * (NS_BUF_CHANGED) its rxsync writes the new buffer back into the TX slot, and a recv op
 * always ends with that rxsync. So after every op the TX slots hold every buffer that is
 * in a ring, each once: an RX slot with the receiver repeats its TX slot (or holds buffer
 * 0, for a slot sent with a bad index, which carries no buffer), and one that is not is a
 * stale copy that names nothing (its buffer may be in a hand by now).
 */
class Conservation {
  readonly p: Pair;
  readonly n: number;
  readonly numBufs: number;
  readonly ports: [Port, Port];
  /** Each user's hand: spare buffers. */
  readonly spares: [number[], number[]] = [[], []];
  /** Each user's hand: the real buffer of each TX slot it sent with a bad index, by slot. */
  readonly held: [Map<number, number>, Map<number, number>] = [new Map(), new Map()];
  /** What the pool holds, as allocBufs/freeBufs moved buffers (checked against its count). */
  readonly pool = new Set<number>();
  /** Per end, per TX slot: the len and MOREFRAG the receiver must see (len 0 for a dropped slot). */
  readonly sent: [Sent[], Sent[]];
  /** Bad slots each sender filled (each one dropped and counted when it is sent). */
  readonly badFilled: [number, number] = [0, 0];
  swapsDone = 0;
  droppedSwapped = 0;

  constructor(n: number) {
    this.p = openPair({ ringSize: n, bufSize: CONS_BUF_SIZE, extraBufs: CONS_EXTRA });
    this.n = n;
    this.ports = [this.p.a, this.p.b];
    this.numBufs = 2 + 2 * n + CONS_EXTRA;
    // The extra buffers come after the two TX rings' own.
    for (let b = 2 + 2 * n; b < this.numBufs; b++) this.pool.add(b);
    const none = () => Array.from({ length: n }, () => ({ len: 0, more: false, dropped: false }));
    this.sent = [none(), none()];
  }

  valid(idx: number): boolean {
    return idx >= 2 && idx < this.numBufs;
  }

  alloc(end: End): number | undefined {
    const [b] = this.ports[end].allocBufs(1);
    if (b !== undefined) {
      ok(this.pool.delete(b), `allocBufs handed out buffer ${b}, which is not free`);
    }
    return b;
  }

  apply(op: ConsOp): void {
    const port = this.ports[op.end];
    switch (op.kind) {
      case 'fill':
        this.fill(op.end, op.slots);
        if (op.push) same(port.txsync(), true, 'txsync of an honest sender');
        return;
      case 'recv':
        this.recv(op.end, op.swaps);
        return;
      case 'sync':
        if (op.how === 'txsync') same(port.txsync(), true, 'txsync');
        else if (op.how === 'rxsync') same(port.rxsync(), true, 'rxsync');
        // An honest user's poll never reports POLLERR, whatever is ready.
        else ok((port.poll(op.how === 'pollin' ? POLLIN : POLLOUT, 0) & POLLERR) === 0, 'poll reported an error');
        return;
      case 'free': {
        const give = this.spares[op.end].splice(0, op.k);
        port.freeBufs(give);
        for (const b of give) this.pool.add(b);
        return;
      }
    }
  }

  /** A sender fills what it owns from cur and hands it over (advance); see SlotFill. */
  private fill(end: End, slots: SlotFill[]): void {
    const tx = this.ports[end].tx;
    const held = this.held[end];
    let cur = tx.cur;
    const room = Math.min(slots.length, dist(cur, tx.tail, this.n));
    for (let i = 0; i < room; i++) {
      const f = slots[i];
      // The slot is back: if the receiver swapped a buffer into it, the one in hand is a
      // spare now; else it goes back into its slot.
      const mine = held.get(cur);
      if (mine !== undefined) {
        held.delete(cur);
        if (this.valid(tx.bufIdx(cur))) this.spares[end].push(mine);
        else tx.setBufIdx(cur, mine);
      }
      if (f.kind === 'badIdx') {
        held.set(cur, tx.bufIdx(cur));
        tx.setBufIdx(cur, f.badIdx);
      }
      tx.setLen(cur, f.kind === 'long' ? CONS_BUF_SIZE + 1 + f.len * 997 : f.len);
      tx.setSlotFlags(cur, f.more ? NS_MOREFRAG : 0);
      this.sent[end][cur] = { len: f.kind === 'good' ? f.len : 0, more: f.more, dropped: f.kind !== 'good' };
      if (f.kind !== 'good') this.badFilled[end]++;
      cur = tx.next(cur);
    }
    tx.advance(cur);
  }

  /**
   * A receiver (netmap's bridge does this to every slot): picks up packets, and for each
   * slot it consumes with `swap`, takes the slot's buffer into its hand (if it is one) and
   * puts a spare in its place (from its hand, else the pool); then releases with rxsync.
   */
  private recv(end: End, swaps: boolean[]): void {
    const port = this.ports[end];
    const rx = port.rx;
    const other: End = end === 0 ? 1 : 0;
    same(port.rxsync(), true, 'rxsync');
    let cur = rx.cur;
    const avail = Math.min(swaps.length, dist(cur, rx.tail, this.n));
    for (let i = 0; i < avail; i++) {
      const want = this.sent[other][cur];
      same(rx.len(cur), want.len, `len of slot ${cur} at the receiver`);
      same((rx.slotFlags(cur) & NS_MOREFRAG) !== 0, want.more, `NS_MOREFRAG of slot ${cur} at the receiver`);
      if (swaps[i]) {
        const spare = this.spares[end].pop() ?? this.alloc(end);
        if (spare !== undefined) {
          const b = rx.bufIdx(cur);
          if (this.valid(b)) this.spares[end].push(b);
          if (want.dropped) this.droppedSwapped++;
          rx.setBufIdx(cur, spare);
          this.swapsDone++;
        }
      }
      cur = rx.next(cur);
    }
    rx.advance(cur);
    same(port.rxsync(), true, 'rxsync');
  }

  /** The multiset of buffers is what the pipe was made with: each buffer exactly once. */
  check(): void {
    const where = new Map<number, string>();
    const put = (b: number, at: string) => {
      const before = where.get(b);
      if (before !== undefined) throw new Error(`buffer ${b} is twice: ${before} and ${at}`);
      where.set(b, at);
    };
    for (const end of [0, 1] as const) {
      const tx = this.ports[end].tx;
      for (let k = 0; k < this.n; k++) {
        const b = tx.bufIdx(k);
        if (this.valid(b)) put(b, `TX slot ${k} of end ${end}`);
      }
      for (const b of this.spares[end]) put(b, `spares of end ${end}`);
      for (const [k, b] of this.held[end]) put(b, `end ${end}'s hand (slot ${k})`);
    }
    for (const b of this.pool) put(b, 'the pool');
    same(this.ports[0].freeBufCount(), this.pool.size, 'free buffers in the pool');
    for (let b = 2; b < this.numBufs; b++) if (!where.has(b)) throw new Error(`buffer ${b} is lost`);
    same(where.size, this.numBufs - 2, 'buffers accounted for');
  }
}

describe('pipes conserve buffers (fast-check)', () => {
  it('bad slots and swapping receivers neither lose nor duplicate a buffer', () => {
    let swaps = 0;
    let droppedSwapped = 0;
    fc.assert(
      fc.property(
        fc
          .integer({ min: 2, max: 8 })
          .chain((n) => fc.tuple(fc.constant(n), fc.array(consOpArb(n), { minLength: 1, maxLength: 80, size: 'max' }))),
        ([n, ops]) => {
          const w = new Conservation(n);
          try {
            w.check();
            for (const op of ops) {
              w.apply(op);
              w.check();
            }
            // Every bad slot handed over was dropped and counted once, on its TX ring.
            for (const end of [0, 1] as const) same(w.ports[end].txsync(), true, 'final txsync');
            for (const end of [0, 1] as const) {
              same(ringCounters(w.ports[end], w.ports[end].tx.id).drops, w.badFilled[end], `drops of end ${end}`);
            }
            swaps += w.swapsDone;
            droppedSwapped += w.droppedSwapped;
          } finally {
            closePair(w.p);
          }
        },
      ),
      { seed: 0x11c0, numRuns: 1000 },
    );
    // The runs really swapped, and swapped dropped slots (the case that lost buffers).
    expect(swaps).toBeGreaterThan(2000);
    expect(droppedSwapped).toBeGreaterThan(1000);
  });
});
