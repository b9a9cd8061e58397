/**
 * VALE, the learning switch: netmap's learning-bridge scenario, flooding, runts and bad
 * slots, payload integrity and copies between private regions, isolation of what a
 * port's user can reach, multi-fragment packets, exact drop accounting, the 254-port
 * limit, unicast to the sender's own port, registering a port again, closing the
 * namespace, and, across workers, pkt-gen over VALE, two senders into one receiver with
 * per-sender sequence checks, ports attached and detached while traffic flows.
 */
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NS_MOREFRAG, SW_GENERATION, VALE_MAX_PORTS } from '../shm/layout.js';
import { RegionViews } from '../shm/views.js';
import { Control, RoleStats, STOP_ALL, STOP_SENDERS } from '../src/apps/control.js';
import { BROADCAST_MAC, type Mac, SEQ_OFFSET, writeFrame } from '../src/apps/frame.js';
import type { PktGenOptions } from '../src/apps/pktgen.js';
import type { PktGenRoleResult } from '../src/apps/pktgen-run.js';
import { runPktGenPair } from '../src/apps/pktgen-run.js';
import { NetmapError } from '../src/errors.js';
import { valeCounters } from '../src/kernel/vale.js';
import { createValePortMemory } from '../src/kernel/vale-lease.js';
import { Netmap, type PortOptions } from '../src/netmap.js';
import { POLLIN, Port, type PortDescriptor } from '../src/port.js';
import { RolePool } from '../src/roles.js';
import { DIST_LIB, expectCode, type InlineWorker, inlineWorker, payloadByte, requireBuilt } from './helpers.js';

beforeAll(() => requireBuilt());

// ---- frames ----

const BCAST: Mac = BROADCAST_MAC;
/** A locally administered unicast MAC ending in `n`. */
const mac = (n: number): Mac => [0x02, 0, 0, 0, 0, n];

interface Frag {
  len: number;
  /** Pattern seed of the bytes (after the MACs in a first fragment). */
  seed: number;
  dst?: Mac;
  src?: Mac;
  flags?: number;
  /** Raw buf_idx written into the slot instead of the slot's own buffer. */
  idx?: number;
}

/** The bytes a fragment carries: MACs first (when given, as far as len reaches), then the pattern. */
function frameBytes(f: Frag): Uint8Array {
  const b = new Uint8Array(f.len);
  for (let i = 0; i < f.len; i++) b[i] = payloadByte(f.seed, i);
  if (f.dst) b.set(f.dst.slice(0, Math.min(6, f.len)), 0);
  if (f.src && f.len > 6) b.set(f.src.slice(0, Math.min(6, f.len - 6)), 6);
  return b;
}

/** Ports opened by a test, closed after it. */
let opened: Port[] = [];
afterEach(() => {
  for (const p of opened) p.close();
  opened = [];
});

interface VPort {
  port: Port;
  desc: PortDescriptor;
}

function openV(nm: Netmap, name: string, opts: PortOptions = {}): VPort {
  const desc = nm.register(name, opts);
  const port = new Port(desc);
  opened.push(port);
  return { port, desc };
}

/** Writes the fragments into consecutive TX slots from cur, advances and txsyncs. */
function send(port: Port, frags: readonly Frag[]): void {
  const tx = port.tx;
  expect(tx.space(), 'test bug: no room in the TX ring').toBeGreaterThanOrEqual(frags.length);
  let k = tx.cur;
  for (const f of frags) {
    // A len past the buffer (a bad slot) only gets the bytes that fit.
    if (f.idx === undefined) tx.buf(k).set(frameBytes(f).subarray(0, tx.bufSize), 0);
    else tx.u32[tx.slotBase + 2 * k] = f.idx;
    tx.setLen(k, f.len);
    tx.setSlotFlags(k, f.flags ?? 0);
    k = tx.next(k);
  }
  tx.advance(k);
  expect(port.txsync()).toBe(true);
}

/** A broadcast (or `dst`) frame of `len` bytes from `src`. */
function frame(src: Mac, len = 60, seed = 1, dst: Mac = BCAST): Frag {
  return { dst, src, len, seed };
}

interface Got {
  slot: number;
  len: number;
  flags: number;
  bufIdx: number;
  bytes: Uint8Array;
  /** The SharedArrayBuffer the received buffer lives in. */
  buffer: ArrayBufferLike;
}

/** rxsync, takes up to `max` slots (copies of their bytes), releases them with a second rxsync. */
function recv(port: Port, max = Number.POSITIVE_INFINITY): Got[] {
  expect(port.rxsync()).toBe(true);
  const rx = port.rx;
  const out: Got[] = [];
  let k = rx.cur;
  while (k !== rx.tail && out.length < max) {
    const view = rx.buf(k);
    const len = rx.len(k);
    out.push({
      slot: k,
      len,
      flags: rx.slotFlags(k),
      bufIdx: rx.bufIdx(k),
      bytes: view.slice(0, len),
      buffer: view.buffer,
    });
    k = rx.next(k);
  }
  rx.advance(k);
  expect(port.rxsync()).toBe(true);
  return out;
}

function expectFrag(got: Got, f: Frag, flags = 0): void {
  expect(got.len).toBe(f.len);
  expect(got.flags).toBe(flags);
  expect(Buffer.from(got.bytes).equals(Buffer.from(frameBytes(f))), `payload of a ${f.len}-byte fragment`).toBe(true);
}

type VC = ReturnType<typeof valeCounters>;
function vc(v: VPort | PortDescriptor): VC {
  return valeCounters('desc' in v ? v.desc.kmem : v.kmem);
}
function zero(): VC {
  return { rx: 0, tx: 0, drops: 0, floods: 0, bad: 0, lockSpins: 0, revoked: 0 };
}

// ---- 1. learning bridge ----

describe('learning bridge', () => {
  it("netmap's scenario: port 2's broadcast reaches 0 and 1 (no echo); 0's unicast to 2's MAC reaches only 2", () => {
    const nm = new Netmap();
    const p = [0, 1, 2].map((i) => openV(nm, `valeL:p${i}`, { ringSize: 16 }));
    const bc = frame(mac(2), 60, 7);
    send(p[2].port, [bc]);
    const r = p.map((x) => recv(x.port));
    expect(r[0]).toHaveLength(1);
    expect(r[1]).toHaveLength(1);
    expect(r[2]).toHaveLength(0);
    expectFrag(r[0][0], bc);
    expectFrag(r[1][0], bc);

    const uc = frame(mac(0), 100, 8, mac(2));
    send(p[0].port, [uc]);
    const r2 = p.map((x) => recv(x.port));
    expect(r2[2]).toHaveLength(1);
    expectFrag(r2[2][0], uc);
    expect(r2[1]).toHaveLength(0);
    expect(r2[0]).toHaveLength(0);

    // The answer: 0 was learned from its unicast, so 2 -> 0 is not flooded either.
    const back = frame(mac(2), 64, 9, mac(0));
    send(p[2].port, [back]);
    const r3 = p.map((x) => recv(x.port));
    expect(r3.map((g) => g.length)).toEqual([1, 0, 0]);
    expectFrag(r3[0][0], back);

    expect(vc(p[0])).toEqual({ ...zero(), rx: 2, tx: 1 });
    expect(vc(p[1])).toEqual({ ...zero(), rx: 1 });
    expect(vc(p[2])).toEqual({ ...zero(), rx: 1, tx: 2, floods: 1 });
    // vale-ctl lists the same ports and counters.
    const ctl = nm.valeCtl().find((s) => s.switch === 'valeL');
    expect(ctl?.ports.map((x) => x.name)).toEqual(['p0', 'p1', 'p2']);
    expect(ctl?.ports[2].counters).toEqual(vc(p[2]));
  });

  it('unknown unicast and multicast are flooded to every other port, never echoed to the sender', () => {
    const nm = new Netmap();
    const p = [0, 1, 2, 3].map((i) => openV(nm, `valeF:p${i}`, { ringSize: 8 }));
    const unknown = frame(mac(0), 60, 3, mac(0x99));
    const multicast = frame(mac(0), 70, 4, [0x01, 0x00, 0x5e, 0, 0, 1]);
    send(p[0].port, [unknown, multicast]);
    const r = p.map((x) => recv(x.port));
    expect(r[0]).toHaveLength(0);
    for (const i of [1, 2, 3]) {
      expect(r[i]).toHaveLength(2);
      expectFrag(r[i][0], unknown);
      expectFrag(r[i][1], multicast);
    }
    expect(vc(p[0])).toEqual({ ...zero(), tx: 2, floods: 2 });
    // Once 3 has spoken, unicast to it is no longer flooded.
    send(p[3].port, [frame(mac(3), 60, 5)]);
    for (const x of p) recv(x.port);
    send(p[0].port, [frame(mac(0), 60, 6, mac(3))]);
    expect(p.map((x) => recv(x.port).length)).toEqual([0, 0, 0, 1]);
    expect(vc(p[0]).floods).toBe(2);
  });

  it("unicast to a MAC learned on the sender's own port goes nowhere and counts as the sender's drop", () => {
    const nm = new Netmap();
    const p = [0, 1, 2].map((i) => openV(nm, `valeSelf:p${i}`, { ringSize: 16 }));
    // The switch learns mac(1) on p1 and mac(0) on p0.
    send(p[1].port, [frame(mac(1), 60, 1)]);
    send(p[0].port, [frame(mac(0), 60, 2)]);
    for (const x of p) recv(x.port);
    const before = p.map((x) => vc(x));
    // Self-destined and ordinary unicast interleaved: the learned lookup and the
    // batch's remembered destination both see the self-destined ones.
    const toSelf = (seed: number) => frame(mac(0), 60, seed, mac(0));
    const toP1 = (seed: number) => frame(mac(0), 60, seed, mac(1));
    const batch = [toSelf(3), toSelf(4), toP1(5), toSelf(6), toP1(7)];
    send(p[0].port, batch);
    const got = p.map((x) => recv(x.port));
    expect(got.map((g) => g.length)).toEqual([0, 2, 0]);
    expectFrag(got[1][0], batch[2]);
    expectFrag(got[1][1], batch[4]);
    const after = p.map((x) => vc(x));
    expect(after[0]).toEqual({ ...before[0], tx: before[0].tx + 5, drops: 3 });
    expect(after[1]).toEqual({ ...before[1], rx: before[1].rx + 2 });
    expect(after[2]).toEqual(before[2]);
    // What pkt-gen sums (rx and drops over the ports) accounts for every unicast sent.
    const accounted = (c: VC[]) => c.reduce((t, k) => t + k.rx + k.drops, 0);
    expect(accounted(after) - accounted(before)).toBe(batch.length);
  });

  it('runt frames (< 14 bytes) are dropped and counted as bad; the TX slots still come back', () => {
    const nm = new Netmap();
    const a = openV(nm, 'valeR:a', { ringSize: 16 });
    const b = openV(nm, 'valeR:b', { ringSize: 16 });
    const ok = frame(mac(1), 14, 2);
    send(a.port, [frame(mac(1), 0), frame(mac(1), 1), frame(mac(1), 13), ok, frame(mac(1), 6)]);
    const got = recv(b.port);
    expect(got).toHaveLength(1);
    expectFrag(got[0], ok);
    expect(vc(a)).toEqual({ ...zero(), tx: 1, bad: 4, floods: 1 });
    expect(vc(b)).toEqual({ ...zero(), rx: 1 });
    expect(a.port.tx.space()).toBe(15);
  });

  it('a bad buf_idx or len > bufSize in a TX slot (any fragment) does not throw: dropped and counted', () => {
    const nm = new Netmap();
    const a = openV(nm, 'valeX:a', { ringSize: 32 });
    const b = openV(nm, 'valeX:b', { ringSize: 32 });
    const numBufs = RegionViews.kernel(a.desc.mem, a.desc.kmem).numBufs;
    const bufSize = a.port.bufSize;
    const good = frame(mac(1), 60, 11);
    const first: Frag = { ...frame(mac(1), 60, 12), flags: NS_MOREFRAG };
    send(a.port, [
      { len: 60, seed: 0, idx: 0 },
      { len: 60, seed: 0, idx: 1 },
      { len: 60, seed: 0, idx: numBufs },
      { len: 60, seed: 0, idx: 0xffffffff },
      frame(mac(1), bufSize + 1),
      { ...frame(mac(1), 60), len: 0xffff },
      // Two-fragment packets whose second fragment is bad: the whole packet goes.
      first,
      { len: bufSize + 64, seed: 13 },
      first,
      { len: 100, seed: 14, idx: numBufs + 3 },
      good,
    ]);
    const got = recv(b.port);
    expect(got.map((g) => g.len)).toEqual([60]);
    expectFrag(got[0], good);
    expect(vc(a)).toMatchObject({ tx: 1, bad: 8 });
    expect(vc(b)).toEqual({ ...zero(), rx: 1 });
    // The switch still works afterwards.
    send(a.port, [good]);
    expect(recv(b.port)).toHaveLength(1);
  });
});

// ---- 2. payload integrity and copies ----

describe('payload integrity', () => {
  it('bytes received equal bytes sent (14..2048 bytes), always copied into the receiver region', () => {
    const nm = new Netmap();
    const n = 16;
    const a = openV(nm, 'valeP:a', { ringSize: n });
    const b = openV(nm, 'valeP:b', { ringSize: n });
    const rxRegion = RegionViews.kernel(b.desc.mem, b.desc.kmem);
    fc.assert(
      fc.property(
        fc.array(fc.record({ len: fc.integer({ min: 14, max: 2048 }), seed: fc.nat() }), {
          minLength: 1,
          maxLength: n - 1,
        }),
        (pkts) => {
          const frags = pkts.map((p) => frame(mac(1), p.len, p.seed));
          send(a.port, frags);
          const got = recv(b.port);
          expect(got).toHaveLength(frags.length);
          got.forEach((g, i) => {
            expectFrag(g, frags[i]);
            // A copy: in the receiver's own region, in one of its own buffers.
            expect(g.buffer).toBe(b.desc.mem);
            expect(g.buffer).not.toBe(a.desc.mem);
            expect(rxRegion.validBuf(g.bufIdx)).toBe(true);
          });
          // The sender may reuse its buffers at once: what was received does not change.
          const tx = a.port.tx;
          for (let k = 0; k < n; k++) tx.buf(k).fill(0xee);
          const rx = b.port.rx;
          got.forEach((g, i) => {
            const now = rx.buf(g.slot).subarray(0, g.len);
            expect(Buffer.from(now).equals(Buffer.from(frameBytes(frags[i])))).toBe(true);
          });
        },
      ),
      { numRuns: 60 },
    );
    expect(vc(a).tx).toBe(vc(b).rx);
    expect(vc(b).drops).toBe(0);
  });

  it('buffers larger than 2048 bytes: frames up to the buffer size arrive whole', () => {
    const nm = new Netmap();
    const a = openV(nm, 'valeJ:a', { ringSize: 8, bufSize: 8192 });
    const b = openV(nm, 'valeJ:b', { ringSize: 8, bufSize: 8192 });
    const frags = [2049, 3000, 4096, 5555, 8192].map((len, i) => frame(mac(1), len, 40 + i));
    send(a.port, frags);
    const got = recv(b.port);
    expect(got.map((g) => g.len)).toEqual(frags.map((f) => f.len));
    got.forEach((g, i) => {
      expectFrag(g, frags[i]);
    });
  });

  it('ports with different buffer sizes on one switch: refused, or forwarding never throws nor truncates', () => {
    const nm = new Netmap();
    const a = openV(nm, 'valeZ:a', { ringSize: 8, bufSize: 2048 });
    let small: VPort;
    try {
      small = openV(nm, 'valeZ:b', { ringSize: 8, bufSize: 512 });
    } catch (e) {
      expect(e).toBeInstanceOf(NetmapError);
      expect((e as NetmapError).code).toBe('EINVAL');
      expect((e as NetmapError).message).toMatch(/buffer size/);
      return;
    }
    const big = frame(mac(1), 1000, 5);
    const fits = frame(mac(1), 300, 6);
    expect(() => send(a.port, [big, fits])).not.toThrow();
    const got = recv(small.port);
    // Whatever arrives is whole; the 1000-byte frame cannot fit a 512-byte buffer.
    for (const g of got) expect(g.len).toBeLessThanOrEqual(512);
    expect(got.map((g) => g.len)).toEqual([300]);
    expectFrag(got[0], fits);
    // And the destination ring is not wedged by it.
    send(a.port, [fits]);
    expect(recv(small.port)).toHaveLength(1);
  });

  it('a hand-made descriptor with another buffer size cannot make the switch throw: its packets are dropped', () => {
    const nm = new Netmap();
    const b = openV(nm, 'valeZ2:b', { ringSize: 8 });
    // A real descriptor of the switch (its index, serial and channel), with a region of
    // its own with 4096-byte buffers in place of the port's.
    const forged: PortDescriptor = {
      ...nm.register('valeZ2:forged', { ringSize: 8 }),
      ...createValePortMemory(8, 4096, 0),
    };
    const f = new Port(forged);
    opened.push(f);
    expect(() => send(f, [frame(mac(9), 3000, 1), frame(mac(9), 1000, 2), frame(mac(9), 60, 3)])).not.toThrow();
    expect(recv(b.port)).toHaveLength(0);
    expect(vc(b)).toEqual({ ...zero(), drops: 3 });
    // The switch is not wedged: a real port still gets through.
    const a = openV(nm, 'valeZ2:a', { ringSize: 8 });
    send(a.port, [frame(mac(1), 60, 4)]);
    expect(recv(b.port)).toHaveLength(1);
  });
});

// ---- 3. isolation ----

/**
 * Every SharedArrayBuffer reachable from `root` through enumerable own properties,
 * array elements, Map keys and values, and typed arrays' `.buffer`, with the first
 * path that reaches it.
 */
function reachableSabs(root: unknown, rootName: string): Map<SharedArrayBuffer, string> {
  const out = new Map<SharedArrayBuffer, string>();
  const seen = new Set<object>();
  const walk = (v: unknown, path: string): void => {
    if (v === null || (typeof v !== 'object' && typeof v !== 'function')) return;
    const o = v as object;
    if (seen.has(o)) return;
    seen.add(o);
    if (o instanceof SharedArrayBuffer) {
      if (!out.has(o)) out.set(o, path);
      return;
    }
    if (o instanceof ArrayBuffer) return;
    if (ArrayBuffer.isView(o)) {
      walk(o.buffer, `${path}.buffer`);
      return;
    }
    if (o instanceof Map) {
      let i = 0;
      for (const [k, val] of o) {
        walk(k, `${path}.<key ${i}>`);
        walk(val, `${path}.get(<key ${i}>)`);
        i++;
      }
    }
    if (Array.isArray(o)) {
      o.forEach((x, i) => {
        walk(x, `${path}[${i}]`);
      });
      return;
    }
    for (const key of Object.keys(o)) walk((o as Record<string, unknown>)[key], `${path}.${key}`);
  };
  walk(root, rootName);
  return out;
}

describe('isolation', () => {
  it("a Port reaches its own mem, kmem and bell only; the switch and the other ports stay the kernel's", () => {
    const nm = new Netmap();
    const ports = [0, 1, 2].map((i) => openV(nm, `valeI:p${i}`, { ringSize: 8 }));
    // Traffic both ways, so every thread-side structure (views, learning) is populated.
    for (const [i, x] of ports.entries()) send(x.port, [frame(mac(i), 60, i)]);
    send(ports[0].port, [frame(mac(0), 60, 9, mac(1))]);
    for (const x of ports) recv(x.port);
    const owner = new Map<SharedArrayBuffer, string>();
    ports.forEach((x, i) => {
      owner.set(x.desc.mem, `p${i}.mem`);
      owner.set(x.desc.kmem, `p${i}.kmem`);
      for (const b of x.desc.bells) owner.set(b, `p${i}.bell`);
    });
    for (const [i, x] of ports.entries()) {
      const allowed = new Set<SharedArrayBuffer>([x.desc.mem, x.desc.kmem, ...x.desc.bells]);
      for (const [root, name] of [
        [x.port, 'port'],
        [x.port.tx.buf(0), 'port.tx.buf(0)'],
        [x.port.counters(), 'port.counters()'],
      ] as const) {
        const leaks = [...reachableSabs(root, name)]
          .filter(([sab]) => !allowed.has(sab))
          .map(([sab, path]) => `p${i}: ${path} -> ${owner.get(sab) ?? 'an unknown SharedArrayBuffer'}`);
        expect(leaks, `what p${i}'s ${name} leads to`).toEqual([]);
      }
      const fromPort = reachableSabs(x.port, 'port');
      expect(fromPort.has(x.desc.mem)).toBe(true);
      expect(fromPort.has(x.desc.kmem)).toBe(true);
    }
  });

  it("a descriptor carries the switch's table for the kernel side of the thread it goes to, and nothing else", () => {
    const nm = new Netmap();
    const ports = [0, 1, 2].map((i) => nm.register(`valeI2:p${i}`, { ringSize: 8 }));
    const last = ports[2];
    if (last.type !== 'vale') throw new Error('not a VALE descriptor');
    const table = new Set<SharedArrayBuffer>([last.switch.swmem]);
    for (const d of ports) for (const b of [d.mem, d.kmem, ...d.bells]) table.add(b);
    expect(new Set(reachableSabs(last, 'descriptor').keys())).toEqual(table);
    // No name to join: the update channel is this descriptor's own MessagePort.
    expect(last.switch.updates).toBeInstanceOf(MessagePort);
    for (const d of ports) if (d.type === 'vale') d.switch.updates.close();
  });
});

// ---- 4. multi-fragment packets ----

/** A packet of fragments with the given lengths: MOREFRAG on all but the last. */
function packet(lens: readonly number[], seed: number, src: Mac = mac(1), dst: Mac = BCAST): Frag[] {
  return lens.map((len, i) => ({
    len,
    seed: seed * 16 + i,
    ...(i === 0 ? { dst, src } : {}),
    flags: i < lens.length - 1 ? NS_MOREFRAG : 0,
  }));
}

function expectPacket(got: readonly Got[], frags: readonly Frag[]): void {
  expect(got.map((g) => g.len)).toEqual(frags.map((f) => f.len));
  frags.forEach((f, i) => {
    expectFrag(got[i], f, f.flags ?? 0);
  });
}

describe('multi-fragment packets (NS_MOREFRAG)', () => {
  it('are forwarded whole: every fragment, in order, MOREFRAG on all but the last', () => {
    const nm = new Netmap();
    const a = openV(nm, 'valeM1:a', { ringSize: 16 });
    const b = openV(nm, 'valeM1:b', { ringSize: 16 });
    const c = openV(nm, 'valeM1:c', { ringSize: 16 });
    const p1 = packet([2048, 2048, 100], 1);
    const p2 = packet([60], 2);
    const p3 = packet([14, 1, 0, 77], 3);
    send(a.port, [...p1, ...p2, ...p3]);
    for (const x of [b, c]) {
      const got = recv(x.port);
      expectPacket(got, [...p1, ...p2, ...p3]);
      expect(vc(x)).toEqual({ ...zero(), rx: 3 });
    }
    expect(vc(a)).toEqual({ ...zero(), tx: 3, floods: 3 });
  });

  it('an unfinished packet (MOREFRAG on the last slot handed over) waits for its last fragment', () => {
    const nm = new Netmap();
    const a = openV(nm, 'valeM2:a', { ringSize: 16 });
    const b = openV(nm, 'valeM2:b', { ringSize: 16 });
    const p = packet([200, 300, 400], 4);
    send(a.port, [packet([60], 5)[0], p[0], p[1]]);
    expectPacket(recv(b.port), packet([60], 5));
    expect(vc(a).tx).toBe(1);
    send(a.port, [p[2]]);
    expectPacket(recv(b.port), p);
    expect(vc(a).tx).toBe(2);
    expect(vc(b)).toEqual({ ...zero(), rx: 2 });
  });

  it('are dropped whole when they do not fit, and counted once', () => {
    const nm = new Netmap();
    const a = openV(nm, 'valeM3:a', { ringSize: 32 });
    const b = openV(nm, 'valeM3:b', { ringSize: 8 }); // 7 usable slots
    const singles = [packet([60], 1), packet([61], 2), packet([62], 3)].flat();
    send(a.port, singles);
    const big = packet([100, 200, 300, 400, 500], 4); // 5 slots, 4 free
    send(a.port, big);
    expect(vc(b)).toEqual({ ...zero(), rx: 3, drops: 1 });
    expectPacket(recv(b.port), singles);
    // With the ring empty it fits.
    send(a.port, big);
    expectPacket(recv(b.port), big);
    // More fragments than the destination ring can ever hold: never delivered, counted.
    send(a.port, packet([60, 60, 60, 60, 60, 60, 60, 60, 60], 5));
    expect(recv(b.port)).toHaveLength(0);
    expect(vc(b)).toEqual({ ...zero(), rx: 4, drops: 2 });
    expect(vc(a).tx).toBe(6);
  });

  it('property: random packets and drains match a model exactly (whole or nothing, in order, exact counters)', () => {
    type Op = { kind: 'send'; pkts: number[][] } | { kind: 'recv'; max: number };
    const TX = 40;
    const RX = 12;
    const lenArb = fc.integer({ min: 14, max: 300 });
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        kind: fc.constant('send' as const),
        pkts: fc.array(fc.array(lenArb, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 6 }),
      }),
      fc.record({ kind: fc.constant('recv' as const), max: fc.integer({ min: 0, max: RX }) }),
    );
    let run = 0;
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 30 }), (ops) => {
        const nm = new Netmap();
        const sw = `valeMP${run++}`;
        const a = openV(nm, `${sw}:a`, { ringSize: TX });
        const b = openV(nm, `${sw}:b`, { ringSize: RX });
        const pending: Frag[] = []; // delivered to b, not yet released by it
        const model = zero();
        let seed = 0;
        for (const op of ops) {
          if (op.kind === 'send') {
            const pkts = op.pkts.map((lens) => packet(lens, seed++));
            if (pkts.flat().length > TX - 1) continue;
            send(a.port, pkts.flat());
            model.tx += pkts.length;
            // The switch takes whole packets in order while they fit, then drops the rest.
            let room = RX - 1 - pending.length;
            let full = false;
            for (const p of pkts) {
              if (!full && p.length <= room) {
                pending.push(...p);
                room -= p.length;
                model.rx++;
              } else {
                full = true;
                model.drops++;
              }
            }
          } else {
            const got = recv(b.port, op.max);
            expect(got.length).toBe(Math.min(op.max, pending.length));
            for (const g of got) {
              const f = pending.shift() as Frag;
              expectFrag(g, f, f.flags ?? 0);
            }
          }
          expect(vc(b)).toEqual({ ...zero(), rx: model.rx, drops: model.drops });
          expect(vc(a)).toEqual({ ...zero(), tx: model.tx, floods: model.tx });
        }
        a.port.close();
        b.port.close();
      }),
      { numRuns: 40 },
    );
  });
});

// ---- 5. slow receiver ----

describe('drop accounting', () => {
  it('a sender pushes more than the receiver ring holds: received + drops === sent, exactly', () => {
    const nm = new Netmap();
    const a = openV(nm, 'valeS:a', { ringSize: 64 });
    const b = openV(nm, 'valeS:b', { ringSize: 32 });
    const c = openV(nm, 'valeS:c', { ringSize: 7 });
    let sent = 0;
    for (let batch = 0; batch < 20; batch++) {
      send(
        a.port,
        Array.from({ length: 50 }, (_, i) => frame(mac(1), 60 + ((sent + i) % 50), sent + i)),
      );
      sent += 50;
    }
    expect(vc(a)).toMatchObject({ tx: sent, bad: 0 });
    for (const [x, n] of [
      [b, 32],
      [c, 7],
    ] as const) {
      const k = vc(x);
      expect(k.rx).toBe(n - 1);
      expect(k.rx + k.drops).toBe(sent);
      // What is there is what was counted: the first n-1 packets, in order.
      const got = recv(x.port);
      expect(got).toHaveLength(k.rx);
      got.forEach((g, i) => {
        expectFrag(g, frame(mac(1), 60 + (i % 50), i));
      });
    }
    // Draining in between: still exact.
    for (let round = 0; round < 10; round++) {
      send(
        a.port,
        Array.from({ length: 40 }, (_, i) => frame(mac(1), 60, i)),
      );
      sent += 40;
      recv(b.port, round * 3);
    }
    recv(b.port);
    const k = vc(b);
    expect(k.rx + k.drops).toBe(sent);
    expect(vc(c).rx + vc(c).drops).toBe(sent);
    expect(vc(a).tx).toBe(sent);
  });
});

// ---- 6. the port limit ----

describe('port limit', () => {
  it('254 ports work; the 255th is refused with ENOSPC and a clear message; a freed index is reused', () => {
    const nm = new Netmap();
    const opts = { ringSize: 4, bufSize: 64 };
    const descs = Array.from({ length: VALE_MAX_PORTS }, (_, i) => nm.register(`valeN:p${i}`, opts));
    expect(new Set(descs.map((d) => (d.type === 'vale' ? d.portIndex : -1))).size).toBe(254);
    const err = expectCode(() => nm.register('valeN:extra', opts), 'ENOSPC');
    expect(err.message).toMatch(/valeN/);
    expect(err.message).toMatch(/254 ports/);
    // An existing port can still be registered again.
    const again = nm.register('valeN:p7', opts);
    expect(again.mem).toBe(descs[7].mem);
    // Every one of the 254 works: a broadcast reaches the 253 others.
    const ports = descs.map((d) => new Port(d));
    opened.push(...ports);
    send(ports[0], [frame(mac(1), 60, 3)]);
    const counts = ports.map((p) => recv(p).length);
    expect(counts[0]).toBe(0);
    expect(counts.slice(1).every((k) => k === 1)).toBe(true);
    // Closing one frees its index for the next port; then the switch is full again.
    ports[5].close();
    const extra = nm.register('valeN:extra', opts);
    expect(extra.type === 'vale' && extra.portIndex).toBe(5);
    expectCode(() => nm.register('valeN:extra2', opts), 'ENOSPC');
    expect(nm.valeCtl().find((s) => s.switch === 'valeN')?.ports).toHaveLength(254);
  });
});

// ---- port life cycle ----

describe('port life cycle', () => {
  it('a closed port is gone: its old descriptor is refused (ENOENT); registering the name gives a new port', () => {
    const nm = new Netmap();
    const a = openV(nm, 'valeC:a', { ringSize: 8 });
    const b = openV(nm, 'valeC:b', { ringSize: 8 });
    b.port.close();
    const err = expectCode(() => opened.push(new Port(b.desc)), 'ENOENT');
    expect(err.message).toMatch(/valeC:b/);
    const b2 = openV(nm, 'valeC:b', { ringSize: 8 });
    expect(b2.desc.mem).not.toBe(b.desc.mem);
    send(a.port, [frame(mac(1), 60, 1)]);
    expect(recv(b2.port)).toHaveLength(1);
    expect(vc(b)).toEqual(zero());
    expect(
      nm
        .valeCtl()
        .find((s) => s.switch === 'valeC')
        ?.ports.map((p) => p.name),
    ).toEqual(['a', 'b']);
  });

  it('registering a port again: the same port with the same or no sizes, EINVAL with other sizes', () => {
    const nm = new Netmap();
    const sizes = { ringSize: 8, bufSize: 1024 };
    const d = nm.register('valeE:a', sizes);
    for (const opts of [{}, sizes, { ringSize: 8 }, { bufSize: 1024 }]) {
      const again = nm.register('valeE:a', opts);
      expect(again.mem, JSON.stringify(opts)).toBe(d.mem);
      expect(again.type === 'vale' && d.type === 'vale' && again.portIndex === d.portIndex).toBe(true);
    }
    const ring = expectCode(() => nm.register('valeE:a', { ringSize: 16, bufSize: 1024 }), 'EINVAL');
    expect(ring.message).toMatch(/valeE:a: the VALE port exists with ring size 8, not 16/);
    const buf = expectCode(() => nm.register('valeE:a', { bufSize: 2048 }), 'EINVAL');
    expect(buf.message).toMatch(/valeE:a: the VALE port exists with buffer size 1024, not 2048/);
    // Refused, nothing changed: still the one port, attachable as it was made.
    expect(
      nm
        .valeCtl()
        .find((s) => s.switch === 'valeE')
        ?.ports.map((x) => x.name),
    ).toEqual(['a']);
    const a = new Port(d);
    expect(a.numSlots).toBe(8);
    expect(a.bufSize).toBe(1024);
    // Once its last user closes it the name is free: a fresh port, made with the new sizes.
    a.close();
    const fresh = nm.register('valeE:a', { ringSize: 16, bufSize: 1024 });
    expect(fresh.mem).not.toBe(d.mem);
    const f = new Port(fresh);
    opened.push(f);
    expect(f.numSlots).toBe(16);
  });

  it('a port closed in a worker leaves the switch without another register (its memory is not kept)', async () => {
    const nm = new Netmap();
    const a = openV(nm, 'valeK:a', { ringSize: 8 });
    const db = nm.register('valeK:b', { ringSize: 8 });
    if (db.type !== 'vale') throw new Error('not a VALE descriptor');
    const gen = new Int32Array(db.switch.swmem);
    const before = Atomics.load(gen, SW_GENERATION);
    const w = inlineWorker('lib.attachPort(workerData.desc).close(); parentPort.postMessage("closed");', { desc: db });
    expect(await w.next()).toBe('closed');
    expect(await w.exited).toBe(0);
    // The close takes the port off the table itself (one bump), no message to anyone.
    expect(Atomics.load(gen, SW_GENERATION)).toBe(before + 1);
    expect(
      nm
        .valeCtl()
        .find((s) => s.switch === 'valeK')
        ?.ports.map((p) => p.name),
    ).toEqual(['a']);
    // And it is out of the table: a broadcast no longer goes there.
    send(a.port, [frame(mac(1), 60, 1)]);
    expect(valeCounters(db.kmem)).toEqual(zero());
  });

  it('a worker that closed its last port of a switch attaches another one later (its view is made again)', async () => {
    const nm = new Netmap();
    const a = openV(nm, 'valeRe:a', { ringSize: 8 });
    const d1 = nm.register('valeRe:w1', { ringSize: 8 });
    const d2 = nm.register('valeRe:w2', { ringSize: 8 });
    const w = inlineWorker(
      `
lib.attachPort(workerData.d1).close();
// The thread has no port of the switch left: this attach asks the namespace again.
const port = lib.attachPort(workerData.d2);
const tx = port.tx;
const k = tx.cur;
const b = tx.buf(k);
b.fill(0xff, 0, 6);
b.set([2, 0, 0, 0, 0, 7], 6);
tx.setLen(k, 60);
tx.setSlotFlags(k, 0);
tx.advance(tx.next(k));
port.txsync();
port.close();
parentPort.postMessage('sent');
`,
      { d1, d2 },
    );
    try {
      expect(await w.next()).toBe('sent');
      expect(await w.exited).toBe(0);
    } finally {
      await w.worker.terminate();
    }
    expect(recv(a.port).map((g) => g.len)).toEqual([60]);
  });
});

// ---- closing the namespace ----

describe('Netmap.close()', () => {
  it('is idempotent; then register, open, valeCtl and destroy are EBADF; attached ports keep working', () => {
    const nm = new Netmap();
    const a = openV(nm, 'valeQ:a', { ringSize: 8 });
    const b = openV(nm, 'valeQ:b', { ringSize: 8 });
    const later = nm.register('valeQ:c', { ringSize: 8 });
    const pipeEnd = nm.register('pipeQ}', { ringSize: 8 });
    nm.close();
    nm.close();
    for (const [what, call] of [
      ['register', () => nm.register('valeQ:d')],
      ['register of an existing port', () => nm.register('valeQ:a')],
      ['register of a pipe', () => nm.register('pipeQ{')],
      ['open', () => nm.open('valeQ:e')],
      ['valeCtl', () => nm.valeCtl()],
      ['destroy', () => nm.destroy('pipeQ{')],
    ] as const) {
      expect(expectCode(call, 'EBADF').message, what).toMatch(/Netmap namespace is closed/);
    }
    // The ports belong to their users: they still forward to each other.
    send(a.port, [frame(mac(1), 60, 1)]);
    expect(recv(b.port)).toHaveLength(1);
    // A VALE descriptor from before no longer attaches (nobody keeps the switch's table),
    // at once; a pipe end does (a pipe needs no namespace).
    const err = expectCode(() => opened.push(new Port(later)), 'ENOENT');
    expect(err.message).toMatch(/valeQ:c: its VALE switch was closed with its namespace/);
    const pe = new Port(pipeEnd);
    opened.push(pe);
    expect(pe.numSlots).toBe(8);
    // Closing the ports afterwards is fine.
    a.port.close();
    b.port.close();
  });

  it('a worker attaching a descriptor of a closed namespace is refused with ENOENT, without waiting for an answer', async () => {
    const nm = new Netmap();
    const d = nm.register('valeQ2:a', { ringSize: 8 });
    nm.close();
    const w = inlineWorker(
      `try { lib.attachPort(workerData.desc); parentPort.postMessage('attached'); }
catch (e) { parentPort.postMessage({ code: e.code, message: e.message }); }`,
      { desc: d },
    );
    try {
      const got = (await w.next()) as { code: string; message: string };
      expect(got.code).toBe('ENOENT');
      expect(got.message).toMatch(/closed with its namespace/);
      expect(await w.exited).toBe(0);
    } finally {
      await w.worker.terminate();
    }
  });

  it('a process that made a VALE switch and closed its namespace exits by itself', async () => {
    const script = `
import { Netmap } from ${JSON.stringify(pathToFileURL(DIST_LIB).href)};
const nm = new Netmap();
const a = nm.open('vale0:a', { ringSize: 8 });
const b = nm.open('vale0:b', { ringSize: 8 });
const tx = a.tx;
tx.buf(tx.cur).fill(0xff, 0, 12);
tx.setLen(tx.cur, 60);
tx.advance(tx.next(tx.cur));
a.txsync();
await b.pollAsync(1, 1000);
a.close();
b.close();
nm.close();
console.log('closed');
`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // A hang guard, generous for a busy machine: the process must end on its own.
      timeout: 30_000,
    });
    let out = '';
    let errOut = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      out += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      errOut += s;
    });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c, sig) => resolve([c, sig]));
    });
    expect(signal, 'the process did not exit by itself (killed after 30 s)').toBeNull();
    expect(code, errOut).toBe(0);
    expect(out.trim()).toBe('closed');
  }, 40_000);
});

// ---- workers ----

interface RxStats {
  received: number;
  gaps: number;
  reorder: number;
  last: number;
  corrupt: number;
  firstCorrupt: string | null;
}

/**
 * A receiver worker: counts, per source (last byte of the source MAC), packets, sequence
 * gaps and reorders, and compares every byte but the sequence number with the frame the
 * source sends. Stops when the stop word is set and its ring is empty.
 */
const RECEIVER = `
const { desc, stop, seqOffset, templates, announce } = workerData;
const port = lib.attachPort(desc);
const stopW = new Int32Array(stop);
if (announce) {
  const tx = port.tx;
  const k = tx.cur;
  const b = tx.buf(k);
  b.fill(0xff, 0, 6);
  b.set(announce, 6);
  b.fill(0, 12, 60);
  tx.setLen(k, 60);
  tx.setSlotFlags(k, 0);
  tx.advance(tx.next(k));
  port.txsync();
}
parentPort.postMessage('ready');
const rx = port.rx;
const mem = rx.mem;
const i32 = rx.i32;
const per = {};
for (;;) {
  if (Atomics.load(stopW, 0) !== 0) {
    port.rxsync();
    if (rx.cur === rx.tail) break;
  } else if (port.poll(lib.POLLIN, 20, 20) === 0) continue;
  let cur = rx.cur;
  const tail = rx.tail;
  while (cur !== tail) {
    const off = rx.bufOffset(cur);
    const len = rx.len(cur);
    const s = mem[off + 11];
    let st = per[s];
    if (st === undefined) st = per[s] = { received: 0, gaps: 0, reorder: 0, last: -1, corrupt: 0, firstCorrupt: null };
    st.received++;
    const seq = i32[(off + seqOffset) >> 2];
    if (seq > st.last) {
      st.gaps += seq - st.last - 1;
      st.last = seq;
    } else st.reorder++;
    const t = templates[s];
    let bad = t === undefined || len !== t.length || rx.slotFlags(cur) !== 0;
    for (let i = 0; !bad && i < len; i++) {
      if ((i < seqOffset || i >= seqOffset + 4) && mem[off + i] !== t[i]) bad = true;
    }
    if (bad) {
      if (st.corrupt++ === 0) st.firstCorrupt = 'seq ' + seq + ' len ' + len + ' flags ' + rx.slotFlags(cur);
    }
    cur = rx.next(cur);
  }
  rx.advance(cur);
}
port.rxsync();
port.close();
parentPort.postMessage(per);
`;

/** The frame pkt-gen sends from `src` to `dst` (its sequence number aside). */
function template(len: number, dst: Mac, src: Mac): Uint8Array {
  const b = new Uint8Array(len);
  writeFrame(b, 0, len, dst, src);
  return b;
}

interface Receiver {
  w: InlineWorker;
  stop: Int32Array;
  /** Stops it (after the senders) and returns its per-source stats. */
  finish(): Promise<Record<number, RxStats>>;
}

async function startReceiver(desc: PortDescriptor, templates: Record<number, Uint8Array>, announce?: Mac) {
  const stopSab = new SharedArrayBuffer(4);
  const stop = new Int32Array(stopSab);
  const w = inlineWorker(RECEIVER, { desc, stop: stopSab, seqOffset: SEQ_OFFSET, templates, announce });
  expect(await w.next()).toBe('ready');
  return {
    w,
    stop,
    async finish() {
      Atomics.store(stop, 0, 1);
      const per = (await w.next()) as Record<number, RxStats>;
      expect(await w.exited).toBe(0);
      return per;
    },
  } satisfies Receiver;
}

/** pkt-gen senders in a role pool; `count` 0 runs until stopped. */
function startSenders(tasks: Array<{ desc: PortDescriptor; opts: PktGenOptions }>) {
  const ctl = new Control();
  const pool = new RolePool(tasks.length);
  const runs = tasks.map((t) =>
    pool.run<PktGenRoleResult>({
      role: 'pktgen',
      port: t.desc,
      opts: t.opts,
      ctl: ctl.sab,
      stats: new RoleStats().sab,
    }),
  );
  // A failing role stops the others at once.
  Promise.all(runs).catch(() => ctl.stop(STOP_ALL));
  return {
    ctl,
    runs,
    async go(): Promise<void> {
      if (!(await ctl.waitReady(tasks.length, 30_000))) throw new Error('senders did not start');
      ctl.go();
    },
    async close(): Promise<void> {
      ctl.stop(STOP_ALL);
      await Promise.allSettled(runs);
      await pool.close();
    },
  };
}

// ---- 7. pkt-gen over VALE ----

describe('pkt-gen over VALE (two workers)', () => {
  it('txseq 2M on a ring of 256: ends, sent === packets + drops, gaps only (no reordering)', async () => {
    const r = await runPktGenPair({ port: 'vale', mode: 'txseq', count: 2_000_000, ring: 256, batch: 64, spinUs: 50 });
    expect(r.port).toBe('vale');
    expect(r.sent).toBe(2_000_000);
    expect(r.sent).toBe(r.packets + r.drops);
    expect(r.bytes).toBe(r.packets * r.len);
    // Every drop is a gap the receiver saw, except drops of the very last packets
    // (no later packet shows them): seqErrors === drops unless the tail was dropped,
    // and never more (a reorder or a duplicate would push it above).
    expect(r.seqErrors).toBeLessThanOrEqual(r.drops);
    expect(r.counters.sender.errors + r.counters.receiver.errors).toBe(0);
    const ports = r.valeCtl?.[0].ports ?? [];
    const b = ports.find((p) => p.name === 'b');
    const a = ports.find((p) => p.name === 'a');
    expect(a?.counters.tx).toBe(r.sent);
    expect(b?.counters.rx).toBe(r.packets);
    expect((b?.counters.rx ?? 0) + (b?.counters.drops ?? 0)).toBe(r.sent);
    // The receiver announced its MAC: the sender's unicast is not flooded.
    expect(a?.counters.floods).toBe(0);
  }, 60_000);

  it('tx for 1 s: sent === packets + drops', async () => {
    const r = await runPktGenPair({ port: 'vale', mode: 'tx', seconds: 1, ring: 256, batch: 64, spinUs: 50 });
    expect(r.sent).toBeGreaterThan(0);
    expect(r.sent).toBe(r.packets + r.drops);
    expect(r.bytes).toBe(r.packets * r.len);
  }, 60_000);
});

// ---- 8. two senders, one receiver ----

describe('two senders into one receiver (workers)', () => {
  it('per sender: no reordering, no corruption, received + dropped === sent; switch counters agree', async () => {
    const nm = new Netmap();
    const dr = nm.register('valeT:r', { ringSize: 1024 });
    const ds = [nm.register('valeT:s1', { ringSize: 256 }), nm.register('valeT:s2', { ringSize: 256 })];
    const rxMac = mac(0xaa);
    const len = 60;
    const count = 300_000;
    const rcv = await startReceiver(
      dr,
      { 1: template(len, rxMac, mac(1)), 2: template(len, rxMac, mac(2)) },
      rxMac, // announced: the senders' unicast to it is learned, not flooded
    );
    const snd = startSenders(
      ds.map((desc, i) => ({
        desc,
        opts: { mode: 'txseq', len, batch: 64, count, spinUs: 0, srcMac: mac(i + 1), dstMac: rxMac },
      })),
    );
    let per: Record<number, RxStats>;
    let results: PktGenRoleResult[];
    try {
      await snd.go();
      results = await Promise.all(snd.runs);
      per = await rcv.finish();
    } finally {
      Atomics.store(rcv.stop, 0, 1);
      await snd.close();
      await rcv.w.worker.terminate();
    }
    expect(Object.keys(per).sort()).toEqual(['1', '2']);
    for (const r of results) expect(r.packets).toBe(count);
    expectFanIn(per, ds, dr, count);
  }, 60_000);
});

/**
 * A paced txseq sender: `batch` frames per txsync, then a short nap, so a receiver on a
 * busy 2-core machine keeps up and the senders' leases interleave in a ring with room.
 */
const PACED_SENDER = `
const { desc, template, count, batch, seqOffset, go } = workerData;
const port = lib.attachPort(desc);
const tx = port.tx;
for (let k = 0; k < tx.numSlots; k++) tx.buf(k).set(template);
parentPort.postMessage('ready');
const goW = new Int32Array(go);
while (Atomics.load(goW, 0) === 0) Atomics.wait(goW, 0, 0, 50);
const nap = new Int32Array(new SharedArrayBuffer(4));
const i32 = tx.i32;
let seq = 0;
while (seq < count) {
  let k = tx.cur;
  const todo = Math.min(batch, count - seq, tx.space());
  for (let i = 0; i < todo; i++) {
    i32[(tx.bufOffset(k) + seqOffset) >> 2] = seq++;
    tx.setLen(k, template.length);
    tx.setSlotFlags(k, 0);
    k = tx.next(k);
  }
  tx.advance(k);
  port.txsync();
  Atomics.wait(nap, 0, 0, 0.02);
}
port.close();
parentPort.postMessage(seq);
`;

describe('two paced senders into one receiver (workers)', () => {
  it('per sender: no reordering, no corruption, received + dropped === sent; switch counters agree', async () => {
    const nm = new Netmap();
    const dr = nm.register('valeU:r', { ringSize: 256 });
    const ds = [nm.register('valeU:s1', { ringSize: 64 }), nm.register('valeU:s2', { ringSize: 64 })];
    const rxMac = mac(0xbb);
    const len = 128;
    const count = 40_000;
    const tmpl = [template(len, rxMac, mac(1)), template(len, rxMac, mac(2))];
    const rcv = await startReceiver(dr, { 1: tmpl[0], 2: tmpl[1] }, rxMac);
    const go = new SharedArrayBuffer(4);
    const senders = ds.map((desc, i) =>
      inlineWorker(PACED_SENDER, { desc, template: tmpl[i], count, batch: 16, seqOffset: SEQ_OFFSET, go }),
    );
    let per: Record<number, RxStats>;
    try {
      for (const w of senders) expect(await w.next()).toBe('ready');
      Atomics.store(new Int32Array(go), 0, 1);
      Atomics.notify(new Int32Array(go), 0);
      for (const w of senders) expect(await w.next()).toBe(count);
      for (const w of senders) expect(await w.exited).toBe(0);
      per = await rcv.finish();
    } finally {
      Atomics.store(rcv.stop, 0, 1);
      await Promise.all([...senders, rcv.w].map((w) => w.worker.terminate()));
    }
    expectFanIn(per, ds, dr, count);
  }, 60_000);
});

// ---- 9. attach/detach under traffic ----

describe('ports attached and detached while traffic flows', () => {
  it('the flow a -> b loses nothing it would not lose anyway and nothing is corrupted', async () => {
    const nm = new Netmap();
    const da = nm.register('valeD:a', { ringSize: 256 });
    const db = nm.register('valeD:b', { ringSize: 256 });
    const len = 60;
    const tmpl = template(len, BCAST, mac(1));
    const rcv = await startReceiver(db, { 1: tmpl });
    // Broadcast: every port attached meanwhile gets the flow too.
    const snd = startSenders([
      { desc: da, opts: { mode: 'txseq', len, batch: 64, count: 0, spinUs: 0, srcMac: mac(1) } },
    ]);
    let per: Record<number, RxStats>;
    let sent: number;
    let extraGot = 0;
    try {
      await snd.go();
      for (let cycle = 0; cycle < 12; cycle++) {
        const name = `valeD:x${cycle % 3}`;
        const x = openV(nm, name, { ringSize: 64 });
        // The sender's switch view picks the new port up: it gets the flow (or the run fails
        // after 10 s, a hang guard, not a timing assertion).
        expect(await x.port.pollAsync(POLLIN, 10_000), `${name} never got a packet`).toBe(POLLIN);
        for (const g of recv(x.port)) {
          expect(g.len).toBe(len);
          const body = Buffer.from(g.bytes);
          body.writeUInt32LE(0, SEQ_OFFSET);
          const want = Buffer.from(tmpl);
          want.writeUInt32LE(0, SEQ_OFFSET);
          expect(body.equals(want), `${name}: corrupted frame`).toBe(true);
          extraGot++;
        }
        x.port.close();
        if (cycle % 2 === 0) nm.valeCtl(); // lets the namespace reap it now (else on the next register)
        await sleep(2);
      }
      snd.ctl.stop(STOP_SENDERS);
      const [res] = await Promise.all(snd.runs);
      sent = res.packets;
      per = await rcv.finish();
    } finally {
      Atomics.store(rcv.stop, 0, 1);
      await snd.close();
      await rcv.w.worker.terminate();
    }
    expect(extraGot).toBeGreaterThan(0);
    const st = per[1];
    expect(Object.keys(per)).toEqual(['1']);
    expect(st.reorder).toBe(0);
    expect(st.corrupt, `corrupted: ${st.firstCorrupt}`).toBe(0);
    const kb = vc(db);
    expect(vc(da).tx).toBe(sent);
    expect(kb.rx).toBe(st.received);
    expect(kb.rx + kb.drops).toBe(sent);
    expect(st.gaps + (sent - 1 - st.last)).toBe(kb.drops);
  }, 60_000);

  it('a worker whose event loop ran after attaching still learns of ports attached later', async () => {
    const nm = new Netmap();
    const da = nm.register('valeW:a', { ringSize: 16 });
    const w = inlineWorker(
      `
const port = lib.attachPort(workerData.desc);
parentPort.postMessage('attached');
// An async app: its event loop runs (here, waiting for the go).
await new Promise((resolve) => parentPort.once('message', resolve));
const tx = port.tx;
const k = tx.cur;
const b = tx.buf(k);
b.fill(0xff, 0, 6);
b.set([2, 0, 0, 0, 0, 1], 6);
tx.setLen(k, 60);
tx.setSlotFlags(k, 0);
tx.advance(tx.next(k));
port.txsync();
port.close();
parentPort.postMessage('sent');
`,
      { desc: da },
    );
    try {
      expect(await w.next()).toBe('attached');
      const c = openV(nm, 'valeW:c', { ringSize: 16 });
      // Give the worker's thread every chance to see the table message arrive.
      await sleep(50);
      w.worker.postMessage('go');
      expect(await w.next()).toBe('sent');
      expect(await w.exited).toBe(0);
      expect(recv(c.port).map((g) => g.len)).toEqual([60]);
      expect(vc(c).rx).toBe(1);
    } finally {
      await w.worker.terminate();
    }
  });
});

/**
 * Two senders (source MACs 1 and 2) into one receiver: per sender no reordering and no
 * corruption, and what it sent is exactly what arrived plus what the switch dropped.
 */
function expectFanIn(
  per: Record<number, RxStats>,
  ds: Array<VPort | PortDescriptor>,
  dr: VPort | PortDescriptor,
  count: number,
): void {
  let received = 0;
  let dropped = 0;
  for (const [i, s] of [1, 2].entries()) {
    const st = per[s];
    expect(vc(ds[i])).toMatchObject({ tx: count, floods: 0, bad: 0 });
    expect(st.reorder, `sender ${s}: packets out of order`).toBe(0);
    expect(st.corrupt, `sender ${s}: corrupted packets (${st.firstCorrupt})`).toBe(0);
    expect(st.last).toBeLessThan(count);
    // Dropped packets of this sender: the gaps, and any at the very end.
    const lost = st.gaps + (count - 1 - st.last);
    expect(st.received + lost).toBe(count);
    received += st.received;
    dropped += lost;
  }
  const r = vc(dr);
  expect(r.rx).toBe(received);
  expect(r.drops).toBe(dropped);
  expect(r.rx + r.drops).toBe(2 * count);
}

// ---- NS_BUF_CHANGED on sent slots ----

// (Imported here, with the tests that use it: an import is hoisted wherever it stands.)
import { NS_BUF_CHANGED } from '../shm/layout.js';

describe('txsync clears NS_BUF_CHANGED on the slots it takes', () => {
  /**
   * Writes each fragment into a spare buffer (allocBufs) swapped into its TX slot with
   * setBufIdx, which flags the slot NS_BUF_CHANGED (set after the other flags: then the
   * flag is there whatever setSlotFlags keeps), and txsyncs. Returns the slots used.
   */
  function sendSwapped(v: VPort, frags: readonly Frag[], bufIdx: (spare: number) => number = (s) => s): number[] {
    const tx = v.port.tx;
    const spares = v.port.allocBufs(frags.length);
    expect(spares, 'test bug: not enough extra buffers').toHaveLength(frags.length);
    const slots: number[] = [];
    let k = tx.cur;
    frags.forEach((f, i) => {
      tx.bufByIdx(spares[i]).set(frameBytes(f).subarray(0, tx.bufSize), 0);
      tx.setLen(k, f.len);
      tx.setSlotFlags(k, f.flags ?? 0);
      tx.setBufIdx(k, bufIdx(spares[i]));
      expect(tx.slotFlags(k) & NS_BUF_CHANGED).toBe(NS_BUF_CHANGED);
      slots.push(k);
      k = tx.next(k);
    });
    tx.advance(k);
    expect(v.port.txsync()).toBe(true);
    return slots;
  }

  /** The flags each sent slot is left with: its own, without NS_BUF_CHANGED. */
  function flagsOf(v: VPort, slots: readonly number[]): number[] {
    return slots.map((k) => v.port.tx.slotFlags(k));
  }

  it('a single-slot packet: flag cleared, the swapped-in buffer forwarded', () => {
    const nm = new Netmap();
    const a = openV(nm, 'valeBC1:a', { ringSize: 16, extraBufs: 8 });
    const b = openV(nm, 'valeBC1:b', { ringSize: 16 });
    const p = packet([60], 1);
    const slots = sendSwapped(a, p);
    expect(flagsOf(a, slots)).toEqual([0]);
    expectPacket(recv(b.port), p);
  });

  it('a multi-fragment packet: flag cleared on every fragment, NS_MOREFRAG kept', () => {
    const nm = new Netmap();
    const a = openV(nm, 'valeBC2:a', { ringSize: 16, extraBufs: 8 });
    const b = openV(nm, 'valeBC2:b', { ringSize: 16 });
    const p = packet([100, 200, 300], 2);
    const slots = sendSwapped(a, p);
    expect(flagsOf(a, slots)).toEqual([NS_MOREFRAG, NS_MOREFRAG, 0]);
    expectPacket(recv(b.port), p);
  });

  it('bad frames (too short, a fragment past its buffer, a bad buffer index): flag cleared, dropped', () => {
    const nm = new Netmap();
    const a = openV(nm, 'valeBC3:a', { ringSize: 16, extraBufs: 8 });
    const b = openV(nm, 'valeBC3:b', { ringSize: 16 });
    const short = packet([10], 3);
    const long = packet([60, 2049], 4);
    const slots = [...sendSwapped(a, short), ...sendSwapped(a, long)];
    const badIdx = sendSwapped(a, packet([60], 5), () => a.port.tx.region.numBufs + 5);
    expect(flagsOf(a, slots)).toEqual([0, NS_MOREFRAG, 0]);
    expect(flagsOf(a, badIdx)).toEqual([0]);
    expect(vc(a)).toEqual({ ...zero(), bad: 3 });
    expect(recv(b.port)).toHaveLength(0);
  });
});
