/**
 * The bridge app and the chain experiment (experiment 5 of the talk): the bridge in one
 * thread (copy between regions, zero copy within one, len and flags kept, every packet
 * once and in order), then chains of bridges in workers — host apps and VMs, over pipes
 * and VALE — with count-bounded txseq runs.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NS_FORWARD, NS_MOREFRAG, NS_REPORT } from '../shm/layout.js';
import { Bridge, checkBridgeOptions, runBridge, sharesMemory } from '../src/apps/bridge.js';
import { runChain } from '../src/apps/chain-run.js';
import { Control, RoleStats, STOP_FORWARDERS } from '../src/apps/control.js';
import { NetmapError } from '../src/errors.js';
import { Netmap } from '../src/netmap.js';
import type { Port } from '../src/port.js';
import type { NetmapRing } from '../src/ring.js';
import { createStopOrder, StopOrder } from '../src/stop-order.js';
import { dist, expectCode, loopGuard, payloadByte, payloadLen, prng } from './helpers.js';

/** Slot flags of packet `s`: a mix of flags, and every 5th pair a two-fragment packet. */
function flagsOf(s: number): number {
  switch (s % 5) {
    case 0:
      return NS_REPORT;
    case 1:
      return NS_FORWARD;
    case 3:
      return NS_MOREFRAG;
    default:
      return 0;
  }
}

/** Sends packets seq.. (up to max, at most what fits); returns how many. Records buffers. */
function send(port: Port, seq: number, max: number, bufs?: Map<number, number>): number {
  const ring = port.tx;
  let cur = ring.cur;
  const room = Math.min(dist(cur, ring.tail, ring.numSlots), max);
  for (let i = 0; i < room; i++) {
    const s = seq + i;
    const len = payloadLen(s, ring.bufSize);
    const buf = ring.buf(cur);
    for (let j = 0; j < len; j++) buf[j] = payloadByte(s, j);
    ring.setLen(cur, len);
    ring.setSlotFlags(cur, flagsOf(s));
    bufs?.set(s, ring.bufIdx(cur));
    cur = ring.next(cur);
  }
  ring.advance(cur);
  port.txsync();
  return room;
}

/** Receives whatever is there, checking packets seq.. byte for byte, len and flags. */
function receive(port: Port, seq: number, bufs?: Map<number, number>): number {
  port.rxsync();
  const ring: NetmapRing = port.rx;
  let cur = ring.cur;
  const avail = dist(cur, ring.tail, ring.numSlots);
  for (let i = 0; i < avail; i++) {
    const s = seq + i;
    const len = payloadLen(s, ring.bufSize);
    if (ring.len(cur) !== len) throw new Error(`packet ${s}: len ${ring.len(cur)}, expected ${len}`);
    if (ring.slotFlags(cur) !== flagsOf(s)) throw new Error(`packet ${s}: flags ${ring.slotFlags(cur)}`);
    const buf = ring.buf(cur);
    for (let j = 0; j < len; j++) {
      if (buf[j] !== payloadByte(s, j)) throw new Error(`packet ${s}: byte ${j} is ${buf[j]}`);
    }
    // Zero copy: the packet comes back in the very buffer it was written into.
    if (bufs !== undefined && ring.bufIdx(cur) !== bufs.get(s)) {
      throw new Error(`packet ${s}: buffer ${ring.bufIdx(cur)}, sent in ${bufs.get(s)}`);
    }
    cur = ring.next(cur);
  }
  ring.advance(cur);
  port.rxsync();
  return avail;
}

/** Pushes `total` packets through send -> bridge.step -> receive with random batch sizes. */
function pump(tx: Port, bridge: Bridge, rx: Port, total: number, seed: number, bufs?: Map<number, number>): number {
  const rnd = prng(seed);
  const guard = loopGuard(1_000_000, 'bridge pump');
  let sent = 0;
  let got = 0;
  let moved = 0;
  while (got < total) {
    guard();
    if (sent < total) sent += send(tx, sent, Math.min(total - sent, 1 + Math.floor(rnd() * 40)), bufs);
    moved += bridge.step(1 + Math.floor(rnd() * 40));
    got += receive(rx, got, bufs);
  }
  return moved;
}

describe('bridge in one thread', () => {
  it('copies between two regions: every packet once, in order, len, flags and bytes kept', () => {
    const nm = new Netmap();
    const tx = nm.open('b0{', { ringSize: 64 });
    const a = nm.open('b0}');
    const b = nm.open('b1{', { ringSize: 37 });
    const rx = nm.open('b1}');
    const bridge = new Bridge(a, b);
    expect(sharesMemory(a, b)).toBe(false);
    expect(bridge.zeroCopy).toBe(false);
    const total = 5000;
    expect(pump(tx, bridge, rx, total, 1)).toBe(total);
    for (const p of [tx, a, b, rx]) {
      expect(p.counters().rings.reduce((t, c) => t + c.errors + c.drops, 0)).toBe(0);
      p.close();
    }
  });

  it('swaps buffers when both ports share memory (loopback on one pipe end): no copy, no buffer lost', () => {
    const nm = new Netmap();
    const host = nm.open('z0{', { ringSize: 50 });
    const lo = nm.open('z0}');
    const bridge = new Bridge(lo, lo);
    expect(sharesMemory(lo, lo)).toBe(true);
    expect(bridge.zeroCopy).toBe(true);
    const bufs = new Map<number, number>();
    const total = 4000;
    expect(pump(host, bridge, host, total, 2, bufs)).toBe(total);
    lo.rxsync(); // the bridge hands back the RX slots of its last pass
    // The two TX rings still own 2N distinct buffers between them: swaps lose none.
    const owned = new Set<number>();
    for (const r of [host.tx, lo.tx]) for (let k = 0; k < r.numSlots; k++) owned.add(r.bufIdx(k));
    expect(owned.size).toBe(2 * host.tx.numSlots);
    expect([...owned].every((i) => i >= 2)).toBe(true);
    for (const p of [host, lo]) {
      expect(p.counters().rings.reduce((t, c) => t + c.errors + c.drops, 0)).toBe(0);
      p.close();
    }
  });

  it('copies within one region when zero copy is turned off (netmap bridge -c)', () => {
    const nm = new Netmap();
    const host = nm.open('c0{', { ringSize: 32 });
    const lo = nm.open('c0}');
    const bridge = new Bridge(lo, lo, false);
    expect(bridge.zeroCopy).toBe(false);
    expect(pump(host, bridge, host, 1000, 3)).toBe(1000);
    host.close();
    lo.close();
  });

  it('runBridge forwards `count` slots and counts packets and bytes into its stats', () => {
    const nm = new Netmap();
    const tx = nm.open('r0{', { ringSize: 128 });
    const a = nm.open('r0}');
    const b = nm.open('r1{', { ringSize: 128 });
    const rx = nm.open('r1}');
    const count = 100; // fits in both rings: one thread can do it all in turn
    expect(send(tx, 0, count)).toBe(count);
    const ctl = new Control();
    ctl.go();
    const stats = new RoleStats();
    const r = runBridge(a, b, { count, batch: 16 }, ctl, stats);
    let bytes = 0;
    for (let s = 0; s < count; s++) bytes += payloadLen(s, tx.bufSize);
    expect(r).toMatchObject({ packets: count, bytes, empty: 0, zeroCopy: false });
    expect(r.batches).toBeGreaterThanOrEqual(count / 16);
    expect(stats.snapshot()[0]).toBe(count);
    expect(receive(rx, 0)).toBe(count);
    for (const p of [tx, a, b, rx]) p.close();
  });

  it('drains at STOP_FORWARDERS: forwards what is queued, then stops; says so in its stop order', () => {
    const nm = new Netmap();
    const tx = nm.open('d0{', { ringSize: 64 });
    const a = nm.open('d0}');
    const b = nm.open('d1{', { ringSize: 64 });
    const rx = nm.open('d1}');
    expect(send(tx, 0, 40)).toBe(40);
    const ctl = new Control();
    ctl.go();
    ctl.stop(STOP_FORWARDERS);
    const sab = createStopOrder(2);
    new StopOrder({ sab, self: 0, after: -1 }).finish(); // the stage before is done
    const r = runBridge(a, b, { order: { sab, self: 1, after: 0 } }, ctl);
    expect(r.packets).toBe(40);
    expect(StopOrder.finished(sab, 1)).toBe(true);
    expect(receive(rx, 0)).toBe(40);
    for (const p of [tx, a, b, rx]) p.close();
  });

  it('refuses bad options and ports with different buffer sizes (EINVAL)', () => {
    expectCode(() => checkBridgeOptions({ batch: 0 }), 'EINVAL');
    expectCode(() => checkBridgeOptions({ count: -1 }), 'EINVAL');
    expectCode(() => checkBridgeOptions({ spinUs: -1 }), 'EINVAL');
    expectCode(() => checkBridgeOptions({ pollMs: 0 }), 'EINVAL');
    const nm = new Netmap();
    const a = nm.open('m0}', { bufSize: 2048 });
    const b = nm.open('m1{', { bufSize: 1024 });
    expect(expectCode(() => new Bridge(a, b), 'EINVAL').message).toMatch(/buffers/);
    a.close();
    b.close();
  });
});

describe('stop order', () => {
  it('a stage waits for the one before it; an abort releases everyone', () => {
    const sab = createStopOrder(3);
    const first = new StopOrder({ sab, self: 0, after: -1 });
    const second = new StopOrder({ sab, self: 1, after: 0 });
    const third = new StopOrder({ sab, self: 2, after: 1 });
    expect(first.upstreamDone()).toBe(true);
    expect(second.upstreamDone()).toBe(false);
    first.finish();
    expect(second.upstreamDone()).toBe(true);
    expect(third.upstreamDone()).toBe(false);
    second.abort();
    expect(third.upstreamDone()).toBe(true);
    expectCode(() => new StopOrder({ sab, self: 3, after: 0 }), 'EINVAL');
    expectCode(() => new StopOrder({ sab, self: 1, after: 1 }), 'EINVAL');
    expectCode(() => createStopOrder(0), 'EINVAL');
  });
});

describe('runChain: options', () => {
  it.each([
    [{ n: 0 }, /n \(bridges in the chain\) must be an integer from 1 to 8, got 0/],
    [{ n: 9 }, /from 1 to 8, got 9/],
    [{ n: 2.5 }, /got 2.5/],
    [{ port: 'nic' }, /port must be pipe or vale/],
    [{ mode: 'ping' }, /mode must be tx or txseq/],
    [{ lingerUs: -1 }, /lingerUs/],
    [{ spinUs: -1 }, /spinUs/],
    [{ seconds: 0 }, /a run needs an end/],
    [{ ring: 1 }, /ring size/],
    [{ len: 10, count: 10 }, /len must be/],
    [{ mode: 'txseq', len: 40, count: 10 }, /len must be/],
    [{ batch: 0, count: 10 }, /batch must be/],
    [{ notify: 'lazy', count: 10 }, /notify must be asleep, event-idx, adaptive; got 'lazy'/],
    [{ trace: '', count: 10 }, /trace must be a file name/],
  ] as const)('%j is refused', async (opts, message) => {
    const err = await runChain(opts as Parameters<typeof runChain>[0]).catch((e) => e);
    expect(err).toBeInstanceOf(NetmapError);
    expect((err as NetmapError).code).toBe('EINVAL');
    expect((err as Error).message).toMatch(message);
  });
});

describe('runChain: txseq through chains of bridges (workers)', () => {
  const count = 60_000;
  const common = { mode: 'txseq', count, ring: 256, batch: 32, spinUs: 0, lingerUs: 50 } as const;

  it.each([
    [2, false],
    [4, false],
    [2, true],
    [4, true],
  ])(
    'pipes, n=%i, vms=%s: every packet arrives once, in order',
    async (n, vms) => {
      const r = await runChain({ ...common, n, vms, port: 'pipe' });
      expect(r.sent).toBe(count);
      expect(r.packets).toBe(count);
      expect(r.bytes).toBe(count * r.len);
      expect(r.seqErrors).toBe(0);
      expect(r.drops).toBe(0);
      expect(r.bridges.map((b) => b.packets)).toEqual(new Array(n).fill(count));
      expect(r.bridges.every((b) => !b.zeroCopy && b.empty === 0)).toBe(true);
      expect(r.threads).toBe(2 + n * (vms ? 3 : 1));
      expect(r.kloops).toHaveLength(vms ? 2 * n : 0);
      expect(r.kloops.every((k) => k.errors === 0)).toBe(true);
      if (!vms) expect(r.kicksPerPacket + r.irqsPerPacket).toBe(0);
      expect(r.links.map((l) => [l.tx, l.rx])).toEqual(
        Array.from({ length: n + 1 }, (_, k) => [`chain${k}{`, `chain${k}}`]),
      );
    },
    30_000,
  );

  it.each([
    [2, false],
    [4, false],
    [2, true],
    [4, true],
  ])(
    'VALE, n=%i, vms=%s: received + dropped by the switches === sent, no reordering',
    async (n, vms) => {
      const r = await runChain({ ...common, n, vms, port: 'vale' });
      expect(r.sent).toBe(count);
      // A switch drops what does not fit (the sender outruns the bridges): every packet is
      // received or counted as dropped on one link, and a drop shows as at most one gap.
      expect(r.packets + r.drops).toBe(count);
      expect(r.packets).toBeGreaterThan(0);
      expect(r.seqErrors).toBeLessThanOrEqual(r.drops);
      // Bridge k forwards what link k-1 delivered: sent minus the drops on links before it.
      let left = count;
      r.bridges.forEach((b, k) => {
        left -= r.links[k].drops;
        expect(b.packets).toBe(left);
      });
      expect(r.links[n].drops + r.packets).toBe(left);
      expect(r.links.map((l) => l.tx)).toEqual(Array.from({ length: n + 1 }, (_, k) => `vale${k}:a`));
    },
    30_000,
  );
});

describe('runChain: notify policy and trace (workers)', () => {
  const count = 60_000;
  const common = { mode: 'txseq', count, ring: 256, batch: 32, spinUs: 0, lingerUs: 50 } as const;

  it.each([false, true])(
    'notify adaptive, pipes, n=2, vms=%s: every packet arrives once, in order',
    async (vms) => {
      const r = await runChain({ ...common, n: 2, vms, port: 'pipe', notify: 'adaptive' });
      expect(r.notify).toBe('adaptive');
      expect(r.sent).toBe(count);
      expect(r.packets).toBe(count);
      expect(r.seqErrors).toBe(0);
      expect(r.drops).toBe(0);
      expect(r.bridges.map((b) => b.packets)).toEqual([count, count]);
      expect(r.kloops.every((k) => k.errors === 0)).toBe(true);
    },
    30_000,
  );

  it('the default policy is asleep', async () => {
    const r = await runChain({ ...common, count: 5000, n: 1 });
    expect(r.notify).toBe('asleep');
    expect(r.packets).toBe(5000);
  }, 30_000);

  it('trace: one Chrome trace of every thread of the chain, named in path order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sabnetmap-chain-trace-'));
    try {
      const file = join(dir, 'chain.json');
      const r = await runChain({ ...common, count: 20_000, n: 1, vms: true, port: 'pipe', trace: file });
      expect(r.packets).toBe(20_000);
      expect(existsSync(file)).toBe(true);
      const t = JSON.parse(readFileSync(file, 'utf8')) as {
        traceEvents: Array<{ name: string; ph: string; tid: number; args?: { name?: string } }>;
      };
      const names = t.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name');
      // The CPU accounting's threads, in the same order.
      expect(names.map((e) => e.args?.name)).toEqual(r.cpu.threads.map((th) => th.role));
      expect(names.map((e) => e.args?.name)).toEqual([
        'host txseq',
        'kloop chain0}',
        'bridge 1',
        'kloop chain1{',
        'host rxseq',
      ]);
      expect(t.traceEvents.some((e) => e.name === 'txsync')).toBe(true);
      expect(t.traceEvents.some((e) => e.name === 'rxsync')).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
