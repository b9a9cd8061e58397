/**
 * NIC ports: the driver (txsync/rxsync over the NIC's descriptors) and the wire's lanes,
 * run in this thread on a virtual clock (each lane pass is given its own `now`), so the
 * pacing is checked exactly and without timing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NS_MOREFRAG } from '../shm/layout.js';
import type { NicRunResult } from '../src/apps/nic-run.js';
import { runPktGenPair } from '../src/apps/pktgen-run.js';
import { nicCounters } from '../src/kernel/nic.js';
import { Netmap, type NicHardware } from '../src/netmap.js';
import { CountSink, GenSource } from '../src/nic/gen-ends.js';
import { lineBps, lineRateMpps } from '../src/nic/line.js';
import { NicRxSink, NicTxSource } from '../src/nic/nic-ends.js';
import { valeEnds } from '../src/nic/vale-ends.js';
import { Lane, type WireSink, type WireSource } from '../src/nic/wire.js';
import { GuestPort } from '../src/passthrough/guest.js';
import { passThrough } from '../src/passthrough/hypervisor.js';
import { Kloop } from '../src/passthrough/kloop.js';
import type { Port } from '../src/port.js';
import type { NetmapRing } from '../src/ring.js';
import { expectCode, requireBuilt } from './helpers.js';

/** A sink that keeps a copy of every frame (tests only: it allocates). */
class KeepSink implements WireSink {
  readonly frames: Uint8Array[] = [];
  room(): boolean {
    return true;
  }
  put(src: WireSource, len: number): void {
    const b = new Uint8Array((len + 3) & ~3);
    src.read(b, new Int32Array(b.buffer), 0, 0, len);
    this.frames.push(b.slice(0, len));
  }
  publish(): void {}
}

/** Sends `frames` on a port's TX ring, splitting each into fragments of the ring's buffer size. */
function send(port: Port, frames: Uint8Array[]): void {
  const r = port.tx;
  for (const f of frames) {
    for (let off = 0; off < f.length || off === 0; ) {
      const c = Math.min(r.bufSize, f.length - off);
      const s = r.head;
      r.buf(s).set(f.subarray(off, off + c));
      off += c;
      r.setSlot(s, r.bufIdx(s), c, off < f.length ? NS_MOREFRAG : 0);
      r.advance(r.next(s));
      if (c === 0) break;
    }
  }
  port.txsync();
}

/** Receives every frame waiting on an RX ring, joining fragment chains. */
function receive(port: Port): Uint8Array[] {
  port.rxsync();
  const r: NetmapRing = port.rx;
  const out: Uint8Array[] = [];
  let parts: Uint8Array[] = [];
  while (r.head !== r.tail) {
    const s = r.head;
    parts.push(r.buf(s).slice(0, r.len(s)));
    if ((r.slotFlags(s) & NS_MOREFRAG) === 0) {
      const total = parts.reduce((t, p) => t + p.length, 0);
      const f = new Uint8Array(total);
      let o = 0;
      for (const p of parts) {
        f.set(p, o);
        o += p.length;
      }
      out.push(f);
      parts = [];
    }
    r.advance(r.next(s));
  }
  port.rxsync();
  return out;
}

function frame(len: number, seed: number): Uint8Array {
  const f = new Uint8Array(len);
  for (let i = 0; i < len; i++) f[i] = (i * 31 + seed * 7) & 0xff;
  return f;
}

/** Runs a lane until its source is idle, a virtual second at a time. */
function drain(lane: Lane, from = 0): number {
  let now = from;
  for (let i = 0; i < 10_000; i++) {
    now += 1e9;
    if (!lane.pass(now)) break;
  }
  return now;
}

function nic(nm: Netmap, name: string, o: Parameters<Netmap['createNic']>[1] = {}): NicHardware {
  return nm.createNic(name, o);
}

describe('NIC ports: the driver and the wire', () => {
  it('frames a host app sends leave on the wire byte for byte and in order, and their slots come back', () => {
    const nm = new Netmap();
    const hw = nic(nm, 'nic0', { ringSize: 64 });
    const port = nm.open('nic0');
    const frames = Array.from({ length: 40 }, (_, i) => frame(60 + i * 37, i));
    send(port, frames);
    expect(port.tx.space()).toBeLessThan(63 - 39);
    const sink = new KeepSink();
    drain(new Lane('tx', new NicTxSource(hw), sink, lineBps(hw.line)));
    expect(sink.frames).toEqual(frames);
    port.txsync();
    expect(port.tx.space()).toBe(63);
    port.close();
  });

  it('frames the wire generates reach a host app with their sequence numbers, in order', () => {
    const nm = new Netmap();
    const hw = nic(nm, 'nic0', { ringSize: 64 });
    const port = nm.open('nic0');
    const gen = new GenSource({ frame: frame(60, 1), seqOffset: 44, count: 50 });
    const lane = new Lane('rx', gen, new NicRxSink(hw), lineBps(hw.line));
    drain(lane);
    const got = receive(port);
    // 63 slots: all 50 fit.
    expect(got.length).toBe(50);
    got.forEach((f, i) => {
      expect(new DataView(f.buffer).getUint32(44, true)).toBe(i);
    });
    expect(lane.missed).toBe(0);
    port.close();
  });

  it('frames arriving with the RX ring full are dropped and counted as missed, and the NIC counts them', () => {
    const nm = new Netmap();
    const hw = nic(nm, 'nic0', { ringSize: 16 });
    const port = nm.open('nic0');
    const sink = new NicRxSink(hw);
    const lane = new Lane('rx', new GenSource({ frame: frame(60, 1), seqOffset: -1, count: 40 }), sink, 1e10);
    drain(lane);
    expect(lane.frames).toBe(15);
    expect(lane.missed).toBe(25);
    expect(receive(port).length).toBe(15);
    expect(nmNicCounters(hw).rxMissed).toBe(25);
    port.close();
  });

  it('a frame longer than a buffer crosses a cable as a fragment chain and arrives whole', () => {
    const nm = new Netmap();
    const a = nic(nm, 'nic0', { ringSize: 64, bufSize: 2048 });
    const b = nic(nm, 'nic1', { ringSize: 64, bufSize: 1024 });
    const pa = nm.open('nic0');
    const pb = nm.open('nic1');
    const frames = [frame(9000, 3), frame(60, 4), frame(2048, 5), frame(2049, 6)];
    send(pa, frames);
    drain(new Lane('cable', new NicTxSource(a), new NicRxSink(b), 1e10));
    expect(receive(pb)).toEqual(frames);
    pa.close();
    pb.close();
  });

  it('pacing: over one second of wire time a generator sends the line rate, at 1G and 10G', () => {
    for (const line of ['1G', '10G'] as const) {
      const bps = lineBps(line);
      const lane = new Lane(
        'gen',
        new GenSource({ frame: frame(60, 1), seqOffset: -1, count: 0 }),
        new CountSink(),
        bps,
      );
      // A pass every 5 µs of virtual time, as a wire thread polls (a pass moves at most 256 frames).
      for (let now = 0; now <= 1e9; now += 5000) lane.pass(now);
      const want = lineRateMpps(bps, 60) * 1e6;
      expect(Math.abs(lane.frames - want) / want).toBeLessThan(0.01);
      expect(lane.behindNs).toBe(0);
    }
  });

  it('a wire whose thread falls behind catches up 1 ms at most and counts the rest as behind', () => {
    const lane = new Lane(
      'gen',
      new GenSource({ frame: frame(60, 1), seqOffset: -1, count: 0 }),
      new CountSink(),
      1e10,
    );
    lane.pass(0);
    // Descheduled for 50 ms: passes resume at 50 ms, and the owed frames still come (missed or not).
    for (let now = 50e6; now <= 100e6; now += 5000) lane.pass(now);
    expect(lane.behindNs).toBeGreaterThan(48.9e6);
    expect(lane.behindNs).toBeLessThan(49.1e6);
    // 50 ms of frames (after the stall, and the 1 ms before it that was made up).
    const want = lineRateMpps(1e10, 60) * 1e6 * 0.051;
    expect(Math.abs(lane.frames - want) / want).toBeLessThan(0.01);
  });

  it('a TX slot with a bad buffer is not sent: counted as a drop by the driver and as bad by the wire', () => {
    const nm = new Netmap();
    const hw = nic(nm, 'nic0', { ringSize: 16 });
    const port = nm.open('nic0');
    const r = port.tx;
    r.setSlot(r.head, 0, 60);
    r.advance(r.next(r.head));
    send(port, [frame(60, 2)]);
    const sink = new KeepSink();
    drain(new Lane('tx', new NicTxSource(hw), sink, 1e10));
    expect(sink.frames).toEqual([frame(60, 2)]);
    expect(nmNicCounters(hw).txBad).toBe(1);
    expect(port.counters().rings[0].drops).toBe(1);
    port.close();
  });

  it('an RX buffer swapped by the user (NS_BUF_CHANGED) is the one the wire fills next time round', () => {
    const nm = new Netmap();
    const hw = nic(nm, 'nic0', { ringSize: 4, extraBufs: 2 });
    const port = nm.open('nic0', { extraBufs: 2 });
    const [spare] = port.allocBufs(1);
    const lane = new Lane(
      'rx',
      new GenSource({ frame: frame(60, 1), seqOffset: -1, count: 0 }),
      new NicRxSink(hw),
      1e10,
    );
    lane.pass(1e9);
    port.rxsync();
    const r = port.rx;
    const s = r.head;
    const old = r.bufIdx(s);
    r.setBufIdx(s, spare);
    r.advance(r.tail);
    port.rxsync();
    // Round the ring until slot s is filled again.
    for (let i = 0; i < 3; i++) {
      lane.pass(2e9 + i * 1e9);
      port.rxsync();
      r.advance(r.tail);
      port.rxsync();
    }
    lane.pass(9e9);
    port.rxsync();
    expect(r.bufIdx(s)).toBe(spare);
    expect(r.buf(s).subarray(0, 60)).toEqual(frame(60, 1));
    expect(old).not.toBe(spare);
    port.close();
  });

  it('a NIC attached to a VALE switch: the switch sends to it on the wire and the wire sends into the switch', () => {
    const nm = new Netmap();
    const hw = nic(nm, 'nic0', { ringSize: 64 });
    const vd = nm.valeAttach('vale0', 'nic0');
    const app = nm.open('vale0:a', { ringSize: 64 });
    // Broadcast from the app: it reaches nic0 and leaves on the wire.
    const bcast = frame(100, 9);
    bcast.fill(0xff, 0, 6);
    bcast.set([2, 0, 0, 0, 0, 0xa], 6);
    send(app, [bcast]);
    const out = new KeepSink();
    const { src, sink } = valeEnds(vd, hw);
    drain(new Lane('vale->wire', src, out, 1e10));
    expect(out.frames).toEqual([bcast]);
    // From the wire into the switch: unicast to the app's learned MAC.
    const reply = frame(80, 2);
    reply.set([2, 0, 0, 0, 0, 0xa], 0);
    reply.set([2, 0, 0, 0, 0, 0xb], 6);
    drain(new Lane('wire->vale', new GenSource({ frame: reply, seqOffset: -1, count: 3 }), sink, 1e10));
    expect(receive(app)).toEqual([reply, reply, reply]);
    expect(expectCode(() => nm.register('nic0'), 'EBUSY').message).toContain('vale0');
    src.close();
    sink.close();
    app.close();
  });

  it('a NIC passed through to a guest: the guest sends and receives through its kloop', () => {
    const nm = new Netmap();
    const hw = nic(nm, 'nic0', { ringSize: 32 });
    const { guest, kloop } = passThrough(nm.register('nic0'));
    const g = new GuestPort(guest);
    const k = new Kloop(kloop);
    const tx = g.tx;
    for (let i = 0; i < 5; i++) {
      tx.buf(tx.head).set(frame(64, i));
      tx.setLen(tx.head, 64);
      tx.advance(tx.next(tx.head));
    }
    g.txsync();
    k.step();
    const sink = new KeepSink();
    drain(new Lane('tx', new NicTxSource(hw), sink, 1e10));
    expect(sink.frames).toEqual(Array.from({ length: 5 }, (_, i) => frame(64, i)));
    drain(new Lane('rx', new GenSource({ frame: frame(70, 7), seqOffset: -1, count: 4 }), new NicRxSink(hw), 1e10));
    k.step();
    g.rxsync();
    expect(g.rx.space()).toBe(4);
    expect(g.rx.buf(g.rx.head).subarray(0, 70)).toEqual(frame(70, 7));
    g.close();
    k.close();
  });

  it('names and options: nicN only, a NIC that does not exist, a second NIC of one name, a bad line rate', () => {
    const nm = new Netmap();
    expectCode(() => nm.register('nic3'), 'ENOENT');
    expectCode(() => nm.createNic('eth0'), 'ENOENT');
    nm.createNic('nic3');
    expectCode(() => nm.createNic('nic3'), 'EBUSY');
    expect(expectCode(() => nm.createNic('nic4', { line: '7G' as never }), 'EINVAL').message).toContain('1G, 10G');
    expect(lineRateMpps(1e10, 60)).toBeCloseTo(14.88, 2);
  });

  it('property: any mix of frame lengths crosses a cable unchanged and in order (seeded)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 20 }), (lens) => {
        const nm = new Netmap();
        const a = nm.createNic('nic0', { ringSize: 128, bufSize: 512 });
        const b = nm.createNic('nic1', { ringSize: 128, bufSize: 1024 });
        const pa = nm.open('nic0');
        const pb = nm.open('nic1');
        const frames = lens.map((l, i) => frame(l, i));
        send(pa, frames);
        drain(new Lane('cable', new NicTxSource(a), new NicRxSink(b), 1e10));
        expect(receive(pb)).toEqual(frames);
        pa.close();
        pb.close();
      }),
      { seed: 14, numRuns: 60 },
    );
  });
});

function nmNicCounters(hw: NicHardware): Record<string, number> {
  return nicCounters(hw.kmem);
}

describe('NIC ports with their wire in a worker thread', () => {
  requireBuilt();

  it('the wire generates with sequence numbers: the host app gets every frame the NIC did not miss, in order', async () => {
    const r = (await runPktGenPair({
      port: 'nic',
      rx: 'host',
      mode: 'txseq',
      count: 200_000,
      line: '1G',
    })) as NicRunResult;
    const lane = r.wire.lanes[1];
    expect(lane.frames + lane.missed).toBe(200_000);
    expect(r.packets).toBe(lane.frames);
    // Gaps are missed frames (those missed after the last frame received show no gap).
    expect(r.seqGaps).toBeLessThanOrEqual(lane.missed);
    expect(r.seqReorder).toBe(0);
    expect(r.lineRateMpps).toBeCloseTo(1.488, 3);
  });

  it('a guest sends through its kloop into the NIC: the wire sends every frame', async () => {
    const r = (await runPktGenPair({ port: 'nic', tx: 'guest', count: 100_000 })) as NicRunResult;
    expect(r.sent).toBe(100_000);
    expect(r.wire.lanes[0].frames).toBe(100_000);
    expect(r.wire.counters.txFrames).toBe(100_000);
  });

  it('a NIC attached to VALE: every frame the app sends leaves on the wire or is a counted switch drop', async () => {
    const r = (await runPktGenPair({ port: 'nic', attach: 'vale0', tx: 'host', count: 100_000 })) as NicRunResult;
    expect(r.sent).toBe(100_000);
    const drops = (r.valeCtl ?? [])[0].ports.reduce((t, p) => t + p.counters.drops, 0);
    expect(r.wire.lanes[0].frames + drops).toBe(100_000);
    expect(r.wire.lanes[0].frames).toBeGreaterThan(0);
  });

  it('a NIC attached to VALE: what its wire generates reaches an app on the switch in order', async () => {
    const r = (await runPktGenPair({
      port: 'nic',
      attach: 'vale0',
      rx: 'host',
      mode: 'txseq',
      count: 50_000,
      line: '1G',
    })) as NicRunResult;
    const lane = r.wire.lanes[1];
    expect(lane.frames).toBeGreaterThan(0);
    expect(r.seqReorder).toBe(0);
    const drops = (r.valeCtl ?? [])[0].ports.reduce((t, p) => t + p.counters.drops, 0);
    // Every frame the wire generated arrived, or the NIC missed it, or the switch dropped it.
    expect(r.packets + lane.missed + drops).toBe(50_000);
    expect(r.seqGaps).toBeLessThanOrEqual(lane.missed + drops);
  });
});
