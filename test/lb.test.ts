/**
 * netmap's lb core in one thread, over pipeline links (pipes sharing one region): a
 * producer feeds lb's input link, lb swaps buffers into its outputs' rings, consumers
 * read and release. Symmetry, conservation (every packet forwarded or counted as
 * dropped), buffer conservation (no buffer lost or duplicated), groups, overflow queues.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { attachPort } from '../src/netmap.js';
import { writeFrameTo } from '../src/pipeline/frames.js';
import { symmetricHash } from '../src/pipeline/hash.js';
import { IPPROTO_TCP, IPPROTO_UDP, PacketHeaders } from '../src/pipeline/headers.js';
import { LbCore, type LbOnFull } from '../src/pipeline/lb.js';
import { CONSUMER, createLinkRegion, createThreadBell, linkDescriptor, PRODUCER } from '../src/pipeline/links.js';
import type { Port } from '../src/port.js';

interface Harness {
  src: Port;
  lbIn: Port;
  lbOut: Port[];
  sinks: Port[];
  lb: LbCore;
  ring: number;
  total: number;
}

const open: Port[] = [];
afterEach(() => {
  for (const p of open.splice(0)) p.close();
});

function attach(...a: Parameters<typeof linkDescriptor>): Port {
  const p = attachPort(linkDescriptor(...a));
  open.push(p);
  return p;
}

/** lb with `groups` (outputs per group), rings of `ring` slots, `extra` extra buffers. */
function harness(groups: number[], ring: number, extra: number, onFull: LbOnFull = 'drop'): Harness {
  const outs = groups.reduce((t, n) => t + n, 0);
  const region = createLinkRegion(1 + outs, ring, 2048, [extra]);
  const bell = createThreadBell();
  const bells: [SharedArrayBuffer, SharedArrayBuffer] = [bell, bell];
  const src = attach(region, 0, PRODUCER, bells, 'in');
  const lbIn = attach(region, 0, CONSUMER, bells, 'in', extra);
  const lbOut: Port[] = [];
  const sinks: Port[] = [];
  for (let i = 1; i <= outs; i++) {
    lbOut.push(attach(region, i, PRODUCER, bells, `out${i}`));
    sinks.push(attach(region, i, CONSUMER, bells, `out${i}`));
  }
  const rings = lbOut.map((p) => p.tx);
  const byGroup: (typeof rings)[] = [];
  let at = 0;
  for (const n of groups) {
    byGroup.push(rings.slice(at, at + n));
    at += n;
  }
  const lb = new LbCore(lbIn.rx, byGroup, { extraBufs: lbIn.allocBufs(extra), onFull });
  return { src, lbIn, lbOut, sinks, lb, ring, total: (1 + outs) * ring + extra };
}

interface Flow {
  v6: boolean;
  proto: number;
  a: number;
  b: number;
  pa: number;
  pb: number;
}

/** Writes up to `frames.length` frames into the source's TX ring; returns how many. */
function send(h: Harness, frames: Array<{ flow: Flow; reverse: boolean } | null>): number {
  const r = h.src.tx;
  let k = r.cur;
  let n = 0;
  for (const f of frames) {
    if (k === r.tail) break;
    let len: number;
    if (f === null) {
      // Not IP: an ARP-typed frame.
      const off = r.bufOffset(k);
      r.mem.fill(0, off, off + 60);
      r.mem[off + 12] = 0x08;
      r.mem[off + 13] = 0x06;
      len = 60;
    } else {
      const { flow, reverse } = f;
      const wordsA = [0xfd000000, 0, flow.a, flow.b];
      const wordsB = [0xfd000000, 1, flow.b, flow.a];
      len = writeFrameTo(r.mem, r.bufOffset(k), {
        ipVersion: flow.v6 ? 6 : 4,
        proto: flow.proto,
        src: flow.v6 ? (reverse ? wordsB : wordsA) : reverse ? flow.b : flow.a,
        dst: flow.v6 ? (reverse ? wordsA : wordsB) : reverse ? flow.a : flow.b,
        srcPort: reverse ? flow.pb : flow.pa,
        dstPort: reverse ? flow.pa : flow.pb,
        len: flow.v6 ? 80 : 64,
      });
    }
    r.setLen(k, len);
    k = r.next(k);
    n++;
  }
  r.advance(k);
  h.src.txsync();
  return n;
}

/** One lb pass: pick up input, move, push outputs, release the input. */
function lbPass(h: Harness, limit = 1 << 30): number {
  h.lbIn.rxsync();
  for (const p of h.lbOut) p.txsync();
  const m = h.lb.step(limit);
  for (const p of h.lbOut) p.txsync();
  h.lbIn.rxsync();
  h.src.txsync();
  return m;
}

/** A consumer reads up to `max` packets (calling `see` for each) and releases them. */
function consume(h: Harness, i: number, max: number, see?: (hdr: PacketHeaders) => void): number {
  const p = h.sinks[i];
  p.rxsync();
  const r = p.rx;
  let k = r.cur;
  let n = 0;
  const hdr = new PacketHeaders();
  while (k !== r.tail && n < max) {
    if (r.len(k) === 0) {
      // An empty slot (lb's flush at the end): skipped, not a packet.
      k = r.next(k);
      continue;
    }
    if (see) {
      hdr.parse(r.mem, r.bufOffset(k), r.len(k));
      see(hdr);
    }
    k = r.next(k);
    n++;
  }
  r.advance(k);
  p.rxsync();
  return n;
}

function sum(a: Float64Array): number {
  return a.reduce((t, x) => t + x, 0);
}

/** Every buffer of the region is in exactly one place: a TX ring slot of some link, or held by lb. */
function expectBuffersConserved(h: Harness): void {
  const seen = new Set<number>();
  const all = [h.src, ...h.lbOut].flatMap((p) => {
    const r = p.tx;
    return Array.from({ length: r.numSlots }, (_, k) => r.bufIdx(k));
  });
  for (const b of [...all, ...h.lb.heldBufs()]) {
    expect(seen.has(b), `buffer ${b} in two places`).toBe(false);
    seen.add(b);
  }
  expect(seen.size).toBe(h.total);
}

/** A UDP flow that lb sends to output `o` of `n` (found by trying flows). */
function flowTo(o: number, n: number): Flow {
  const f = new Uint8Array(64);
  for (let a = 1; ; a++) {
    const flow = { v6: false, proto: IPPROTO_UDP, a, b: 2, pa: 3, pb: 4 };
    writeFrameTo(f, 0, { src: a, dst: 2, srcPort: 3, dstPort: 4, len: 64 });
    if (symmetricHash(f, 0, 64) % n === o) return flow;
  }
}

const flowArb = fc.record({
  v6: fc.boolean(),
  proto: fc.constantFrom(IPPROTO_UDP, IPPROTO_TCP),
  a: fc.integer({ min: 0, max: 0xffffffff }),
  b: fc.integer({ min: 0, max: 0xffffffff }),
  pa: fc.integer({ min: 0, max: 0xffff }),
  pb: fc.integer({ min: 0, max: 0xffff }),
});

describe('lb core', () => {
  it('sends both directions of a connection to the same output', () => {
    fc.assert(
      fc.property(fc.array(flowArb, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 6 }), (flows, n) => {
        const h = harness([n], 256, 0);
        const where = new Map<string, number>();
        const key = (x: PacketHeaders) => {
          const ends = [`${x.srcAddress()}/${x.srcPort}`, `${x.dstAddress()}/${x.dstPort}`].sort();
          return `${x.proto}|${ends.join('|')}`;
        };
        send(
          h,
          flows.flatMap((flow) => [
            { flow, reverse: false },
            { flow, reverse: true },
          ]),
        );
        lbPass(h);
        for (let i = 0; i < n; i++) {
          consume(h, i, 1 << 30, (x) => {
            const k = key(x);
            const was = where.get(k);
            if (was !== undefined) expect(was).toBe(i);
            where.set(k, i);
          });
        }
        expect(sum(h.lb.forwarded)).toBe(2 * flows.length);
        for (const p of open.splice(0)) p.close();
      }),
      { seed: 0x1b01, numRuns: 60 },
    );
  });

  it('forwards or counts as dropped every packet, and loses or duplicates no buffer, whatever the consumers do', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(8, 16, 37),
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom(0, 5, 64, 300),
        fc.array(
          fc.tuple(fc.integer({ min: 0, max: 40 }), fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 4 })),
          {
            minLength: 1,
            maxLength: 30,
          },
        ),
        fc.array(flowArb, { minLength: 1, maxLength: 8 }),
        (ring, n, extra, rounds, flows) => {
          const h = harness([n], ring, extra);
          let sent = 0;
          let delivered = 0;
          let f = 0;
          for (const [burst, takes] of rounds) {
            const frames = Array.from({ length: burst }, () => ({
              flow: flows[f++ % flows.length],
              reverse: f % 3 === 0,
            }));
            sent += send(h, frames);
            lbPass(h);
            takes.forEach((t, i) => {
              delivered += consume(h, i % n, t);
            });
            expectBuffersConserved(h);
            expect(h.lb.received).toBe(sum(h.lb.forwarded) + sum(h.lb.dropped) + h.lb.queuedTotal());
          }
          // Drain: consumers take everything, lb pushes its queues, until nothing moves.
          for (let i = 0; i < 1000 && (h.lb.queuedTotal() > 0 || h.lb.received < sent); i++) {
            lbPass(h);
            for (let c = 0; c < n; c++) delivered += consume(h, c, 1 << 30);
          }
          for (let c = 0; c < n; c++) delivered += consume(h, c, 1 << 30);
          expect(h.lb.received).toBe(sent);
          expect(h.lb.queuedTotal()).toBe(0);
          expect(delivered).toBe(sum(h.lb.forwarded));
          expect(sent).toBe(delivered + sum(h.lb.dropped));
          expectBuffersConserved(h);
          for (const p of open.splice(0)) p.close();
        },
      ),
      { seed: 0x1b02, numRuns: 80 },
    );
  });

  it('never drops in wait mode: a full output keeps the packet in the input', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(8, 16),
        fc.integer({ min: 1, max: 3 }),
        fc.constantFrom(0, 4),
        fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 20 }),
        fc.array(flowArb, { minLength: 1, maxLength: 5 }),
        (ring, n, extra, takes, flows) => {
          const h = harness([n], ring, extra, 'wait');
          const total = 200;
          let sent = 0;
          let delivered = 0;
          for (let i = 0; i < 2000 && delivered < total; i++) {
            const want = Math.min(total - sent, 50);
            sent += send(
              h,
              Array.from({ length: want }, (_, k) => ({ flow: flows[(sent + k) % flows.length], reverse: false })),
            );
            lbPass(h);
            delivered += consume(h, i % n, takes[i % takes.length] || 1);
            expectBuffersConserved(h);
          }
          expect(delivered).toBe(total);
          expect(sum(h.lb.dropped)).toBe(0);
          for (const p of open.splice(0)) p.close();
        },
      ),
      { seed: 0x1b03, numRuns: 40 },
    );
  });

  it('queues packets for a full output in its overflow queue, drops when the queue is full', () => {
    // One flow, so every packet goes to the same output; ring of 8 (7 usable slots).
    const h = harness([2], 8, 12);
    const flow = flowTo(0, 2);
    send(
      h,
      Array.from({ length: 7 }, () => ({ flow, reverse: false })),
    );
    lbPass(h);
    expect(h.lb.forwarded[0]).toBe(7);
    // The output's ring is full: the next 7 wait in its overflow queue.
    send(
      h,
      Array.from({ length: 7 }, () => ({ flow, reverse: false })),
    );
    lbPass(h);
    expect(h.lb.queued(0)).toBe(7);
    expect(h.lb.freeBufs).toBe(5);
    // 7 more: 5 join the queue (it holds 12 at most), 2 are dropped.
    send(
      h,
      Array.from({ length: 7 }, () => ({ flow, reverse: false })),
    );
    lbPass(h);
    expect(h.lb.queued(0)).toBe(12);
    expect(h.lb.dropped[0]).toBe(2);
    expectBuffersConserved(h);
    // The consumer drains: the queue goes into the ring, oldest first.
    expect(consume(h, 0, 100)).toBe(7);
    lbPass(h);
    expect(consume(h, 0, 100)).toBe(7);
    lbPass(h);
    expect(consume(h, 0, 100)).toBe(5);
    expect(h.lb.forwarded[0]).toBe(19);
    expect(h.lb.queuedTotal()).toBe(0);
    expectBuffersConserved(h);
  });

  it('revokes the oldest packets of the longest queue when the extra buffers run out', () => {
    const h = harness([2], 8, 10);
    const a = flowTo(0, 2);
    const b = flowTo(1, 2);
    const burst = (flow: Flow, n: number) => {
      send(
        h,
        Array.from({ length: n }, () => ({ flow, reverse: false })),
      );
      lbPass(h);
    };
    burst(a, 7);
    burst(b, 7);
    burst(a, 7);
    burst(a, 3);
    expect(h.lb.queued(0)).toBe(10);
    expect(h.lb.freeBufs).toBe(0);
    // b's ring is full and no buffer is free: a's queue (the longest) gives its buffers up.
    burst(b, 5);
    expect(h.lb.dropped[0]).toBe(10);
    expect(h.lb.queued(0)).toBe(0);
    expect(h.lb.queued(1)).toBe(5);
    expect(h.lb.freeBufs).toBe(5);
    expectBuffersConserved(h);
  });

  it('drops a packet for a full output when there is no extra buffer, and counts it', () => {
    const h = harness([1], 4, 0);
    const flow = { v6: false, proto: IPPROTO_UDP, a: 1, b: 2, pa: 3, pb: 4 };
    send(
      h,
      Array.from({ length: 3 }, () => ({ flow, reverse: false })),
    );
    lbPass(h);
    send(
      h,
      Array.from({ length: 2 }, () => ({ flow, reverse: false })),
    );
    lbPass(h);
    expect(Array.from(h.lb.forwarded)).toEqual([3]);
    expect(Array.from(h.lb.dropped)).toEqual([2]);
  });

  it('sends non-IP frames to the fallback output and counts them', () => {
    const region = createLinkRegion(4, 16, 2048);
    const bell = createThreadBell();
    const b: [SharedArrayBuffer, SharedArrayBuffer] = [bell, bell];
    const src = attach(region, 0, PRODUCER, b, 'in');
    const lbIn = attach(region, 0, CONSUMER, b, 'in');
    const outs = [1, 2, 3].map((i) => attach(region, i, PRODUCER, b, `o${i}`));
    const lb = new LbCore(lbIn.rx, [outs.map((p) => p.tx)], { fallback: 2 });
    const h = { src, lbIn, lbOut: outs, sinks: [], lb, ring: 16, total: 0 } as unknown as Harness;
    send(h, [null, null, null]);
    lbPass(h);
    expect(lb.nonIp).toBe(3);
    expect(Array.from(lb.forwarded)).toEqual([0, 0, 3]);
  });

  it('gives every packet to every group in turn, consumers of the first group only reading', () => {
    fc.assert(
      fc.property(
        fc.array(flowArb, { minLength: 1, maxLength: 10 }),
        fc.integer({ min: 1, max: 120 }),
        fc.integer({ min: 1, max: 7 }),
        (flows, total, take) => {
          const h = harness([2, 1], 16, 0, 'wait');
          const seen = [0, 0, 0];
          let sent = 0;
          for (let i = 0; i < 5000 && seen[2] < total; i++) {
            if (sent < total) {
              sent += send(
                h,
                Array.from({ length: Math.min(total - sent, 9) }, (_, k) => ({
                  flow: flows[(sent + k) % flows.length],
                  reverse: (sent + k) % 2 === 1,
                })),
              );
            }
            lbPass(h);
            if (h.lb.received === total) {
              // The end of the input: what group 0 released goes on to group 1.
              h.lb.passOn();
              for (const p of h.lbOut) p.txsync();
            }
            for (let c = 0; c < 3; c++) seen[c] += consume(h, c, take);
          }
          expect(seen[0] + seen[1]).toBe(total);
          expect(seen[2]).toBe(total);
          expect(sum(h.lb.dropped)).toBe(0);
          for (const p of open.splice(0)) p.close();
        },
      ),
      { seed: 0x1b04, numRuns: 40 },
    );
  });
});
