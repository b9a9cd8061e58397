/**
 * Isolation: a hostile guest (random writes into its rings, slots, buffers, CSB and the
 * user's copy of the geometry: region header, netmap_if) never
 * makes the host kloop throw, leave its ring or touch another port; a guest that throws
 * or is killed mid-flow is detached cleanly, its port carries traffic again, and another
 * flow running at the same time delivers every packet in order.
 */
import { setImmediate as tick } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { IF_BYTES, IF_WORDS, REGION_HEADER_BYTES, RING_CUR, RING_HEAD, RING_TAIL, SLOT_WORDS } from '../shm/layout.js';
import { RegionViews } from '../shm/views.js';
import { runIsolation } from '../src/apps/isolation.js';
import { runSession } from '../src/apps/session.js';
import { runHostLoop } from '../src/host-loop.js';
import { Netmap } from '../src/netmap.js';
import { Csb } from '../src/passthrough/csb.js';
import { GuestPort } from '../src/passthrough/guest.js';
import { HostileGuest } from '../src/passthrough/hostile.js';
import { passThrough } from '../src/passthrough/hypervisor.js';
import { Kloop } from '../src/passthrough/kloop.js';
import type { Port, PortDescriptor } from '../src/port.js';
import { diffBytes, snapshot } from './helpers.js';

/** Every SharedArrayBuffer of a descriptor, snapshotted. */
function snapAll(d: PortDescriptor): Array<[SharedArrayBuffer, Uint8Array]> {
  const sabs = [d.mem, d.kmem, ...d.bells];
  return sabs.map((s) => [s, snapshot(s)]);
}
function changedBytes(snaps: Array<[SharedArrayBuffer, Uint8Array]>): number {
  return snaps.reduce((t, [s, before]) => t + diffBytes(before, snapshot(s)).length, 0);
}

/** The kloop's private kernel state stays in the ring (ktoa is the guest's to scribble too). */
function expectInRange(k: Kloop): void {
  const n = k.port.region.numSlots;
  for (const kr of [...k.port.txk, ...k.port.rxk]) {
    for (const v of [kr.hwcur, kr.hwtail, kr.rhead, kr.rcur]) {
      if (!(Number.isInteger(v) && v >= 0 && v < n)) throw new Error(`${kr.name}: kernel index ${v} out of [0, ${n})`);
    }
  }
}

/** Slots the kernel published to a host port's RX ring: a real buffer (or buffer 0, empty) and len <= buf_size. */
function expectSaneRx(port: Port, numBufs: number): void {
  const r = port.rx;
  for (let k = r.head; k !== r.tail; k = r.next(k)) {
    const idx = r.bufIdx(k);
    const len = r.len(k);
    if (len > r.bufSize) throw new Error(`${port.name} slot ${k}: len ${len} > buf_size`);
    if (idx === 0 ? len !== 0 : idx < 2 || idx >= numBufs) {
      throw new Error(`${port.name} slot ${k}: buf_idx ${idx} with len ${len}`);
    }
  }
}

/** The host app on the peer: takes what arrived and gives it back. */
function drain(port: Port): void {
  port.rxsync();
  port.rx.advance(port.rx.tail);
  port.rxsync();
}

describe('a hostile guest against the kloop, in one thread', () => {
  it('pipe: 3000 rounds of random writes: the kloop never throws, stays in range, counts errors, and no other port changes', () => {
    const nm = new Netmap();
    const host = nm.register('hp{', { ringSize: 64 });
    const peer = nm.open('hp}');
    const nmOther = new Netmap();
    const other = nmOther.register('other{', { ringSize: 64 });
    nmOther.register('other}');
    const sameNs = nm.register('hq{', { ringSize: 64 }); // another pipe of the same namespace
    const snaps = [...snapAll(other), ...snapAll(sameNs)];
    const bufs = RegionViews.kernel(host.mem, host.kmem).numBufs;
    const { guest, kloop } = passThrough(host);
    const g = new HostileGuest(guest, { seed: 7 });
    const k = new Kloop(kloop);
    let moved = 0;
    for (let i = 0; i < 3000; i++) {
      g.step(200);
      if (k.step()) moved++;
      expectInRange(k);
      drain(peer);
      expectSaneRx(peer, bufs);
    }
    const r = k.result();
    expect(r.errors).toBeGreaterThan(1000); // refused syncs, counted
    expect(r.syncs).toBeGreaterThan(100); // and many accepted ones ran over garbage slots
    expect(r.drops).toBeGreaterThan(0); // bad buf_idx / len, dropped and counted
    expect(moved).toBeGreaterThan(0);
    expect(peer.rxsync()).toBe(true); // the peer's own kernel state was never disturbed
    expect(changedBytes(snaps)).toBe(0);
    k.close();
    peer.close();
  });

  it('VALE: a hostile port floods garbage; the switch copies only sane frames and no port outside it changes', () => {
    const nm = new Netmap();
    const host = nm.register('vale0:h', { ringSize: 64 });
    const sink = nm.open('vale0:s', { ringSize: 64 }); // drained
    const full = nm.open('vale0:f', { ringSize: 64 }); // never drained: its ring fills up
    const nmOther = new Netmap();
    const other = nmOther.register('vale0:o', { ringSize: 64 });
    const snaps = snapAll(other);
    const bufs = RegionViews.kernel(host.mem, host.kmem).numBufs;
    const { guest, kloop } = passThrough(host);
    const g = new HostileGuest(guest, { seed: 11 });
    const k = new Kloop(kloop);
    for (let i = 0; i < 3000; i++) {
      g.step(200);
      k.step();
      expectInRange(k);
      sink.rxsync();
      expectSaneRx(sink, bufs);
      sink.rx.advance(sink.rx.tail);
      sink.rxsync();
    }
    full.rxsync();
    expectSaneRx(full, bufs);
    const sw = nm.valeCtl()[0].ports.find((p) => p.name === 'h')?.counters ?? {};
    expect(sw.tx).toBeGreaterThan(0); // frames that looked like frames were forwarded
    expect(sw.bad).toBeGreaterThan(0); // the rest were counted as bad
    expect(k.result().errors).toBeGreaterThan(1000);
    expect(changedBytes(snaps)).toBe(0);
    k.close();
    sink.close();
    full.close();
    nm.close();
    nmOther.close();
  });

  it('a hostile guest kicks once per step as a guest does after a sync; a kick storm kicks on its writes', () => {
    const nm = new Netmap();
    const host = nm.register('hk{', { ringSize: 32 });
    const calm = new HostileGuest(passThrough(host).guest, { seed: 7 });
    calm.step(4096);
    calm.step(4096);
    expect(calm.kicks).toBe(2);
    // The calm guest scribbled the region header: the next guest needs the port passed
    // through again (which rewrites the user's copy of the geometry) to find its rings.
    const storm = new HostileGuest(passThrough(host).guest, { seed: 7, kickStorm: true });
    storm.step(4096);
    // One write in 16 is aimed at the bell, and each of those kicks.
    expect(storm.kicks).toBeGreaterThan(100);
    nm.close();
  });

  it("a hostile guest scribbles the region header and its netmap_if (the user's geometry) unless told not to", () => {
    const run = (header: boolean) => {
      const nm2 = new Netmap();
      const host = nm2.register('hg{', { ringSize: 32 });
      nm2.register('hg}');
      const pt = passThrough(host);
      const before = new Int32Array(pt.guest.mem).slice();
      new HostileGuest(pt.guest, { seed: 13, header }).step(20_000);
      const after = new Int32Array(pt.guest.mem);
      const changed = (from: number, words: number) =>
        Array.from({ length: words }, (_, i) => from + i).filter((w) => after[w] !== before[w]).length;
      const ifWord = (REGION_HEADER_BYTES + host.ifIndex * IF_BYTES) / 4;
      const otherIf = (REGION_HEADER_BYTES + (1 - host.ifIndex) * IF_BYTES) / 4;
      nm2.close();
      return {
        header: changed(0, REGION_HEADER_BYTES / 4),
        ownIf: changed(ifWord, IF_WORDS),
        otherIf: changed(otherIf, IF_WORDS),
      };
    };
    const on = run(true);
    // Both lines of the header (RH_* words and the unused line) and most netmap_if words.
    expect(on.header).toBeGreaterThan(REGION_HEADER_BYTES / 4 / 2);
    expect(on.ownIf).toBeGreaterThan(IF_WORDS / 2);
    expect(on.otherIf).toBe(0); // its own interface only
    expect(run(false)).toEqual({ header: 0, ownIf: 0, otherIf: 0 });
  });

  it('the same seed makes the same writes', () => {
    const run = () => {
      const nm2 = new Netmap();
      const pt = passThrough(nm2.register('hs{', { ringSize: 32 }));
      const h = new HostileGuest(pt.guest, { seed: 3 });
      h.step(10_000);
      return [snapshot(pt.guest.mem), snapshot(pt.guest.csb)];
    };
    const [m1, c1] = run();
    const [m2, c2] = run();
    expect(diffBytes(m1, m2)).toHaveLength(0);
    expect(diffBytes(c1, c2)).toHaveLength(0);
  });

  it('after a hostile guest, passing the port through again resets its ring headers: a new guest carries traffic in order', () => {
    const nm = new Netmap();
    const host = nm.register('hr{', { ringSize: 32 });
    const peer = nm.open('hr}');
    const first = passThrough(host);
    // Only the user-written header words: the constant ones are the subject of the report.
    const g = new HostileGuest(first.guest, { seed: 5, constants: false });
    const k1 = new Kloop(first.kloop);
    for (let i = 0; i < 500; i++) {
      g.step(100);
      k1.step();
      drain(peer);
    }
    k1.close();
    drain(peer);
    const region = RegionViews.kernel(host.mem, host.kmem);
    const again = passThrough(host);
    const guest = new GuestPort(again.guest);
    const k2 = new Kloop(again.kloop);
    const h = region.ringWordBase(again.guest.tx[0]);
    const hw = new Csb(again.guest.csb, 2);
    expect(region.i32[h + RING_HEAD]).toBe(Atomics.load(hw.i32, hw.hwcur(0)));
    expect(region.i32[h + RING_CUR]).toBe(region.i32[h + RING_HEAD]);
    expect(region.i32[h + RING_TAIL]).toBe(Atomics.load(hw.i32, hw.hwtail(0)));
    // The hostile guest left buf_idx values all over the TX ring: the new guest's driver
    // puts its own buffers back first (what a guest does with a ring it found).
    const tx = guest.tx;
    const firstBuf = 2 + 32 * again.guest.tx[0];
    for (let s = 0; s < tx.numSlots; s++) {
      region.u32[region.slotWordBase(again.guest.tx[0]) + s * SLOT_WORDS] = firstBuf + s;
    }
    let sent = 0;
    let got = 0;
    for (let round = 0; round < 50; round++) {
      guest.txsync();
      let cur = tx.cur;
      while (cur !== tx.tail) {
        tx.buf(cur)[0] = sent++ & 0xff;
        tx.setLen(cur, 60);
        tx.setSlotFlags(cur, 0);
        cur = tx.next(cur);
      }
      tx.advance(cur);
      guest.txsync();
      k2.step();
      peer.rxsync();
      const rx = peer.rx;
      let c = rx.cur;
      while (c !== rx.tail) {
        if (rx.len(c) > 0) expect(rx.buf(c)[0]).toBe(got++ & 0xff);
        c = rx.next(c);
      }
      rx.advance(c);
      peer.rxsync();
      k2.step();
    }
    expect(got).toBeGreaterThan(500);
    expect(got).toBeGreaterThan(sent - 32);
    k2.close();
    peer.close();
  });

  it('a kloop stops even if the guest never stops publishing: the drain is bounded', () => {
    let steps = 0;
    const r = runHostLoop(
      {
        step: () => {
          steps++;
          return true;
        },
        bell: new Int32Array(new SharedArrayBuffer(64)),
        beforeSleep() {},
        afterSleep() {},
      },
      { lingerUs: 0, busyWait: true, pollMs: 10, stop: () => true, drainMs: 20 },
    );
    // It returned (a hang fails the test) after draining for a while, without sleeping.
    expect(r.sleeps).toBe(0);
    expect(steps).toBeGreaterThan(1);
  });
});

describe('isolation across workers (flow A: host txseq -> rxseq; flow B: a guest on another port)', () => {
  it('pipe: a hostile guest on port B; flow A delivers 1M packets in order; the kloop counts errors', async () => {
    const count = 1_000_000;
    const r = await runIsolation({ port: 'pipe', guest: 'hostile', count, seed: 9 });
    expect(r.sharedWithA).toBe(0);
    for (const run of [r.baseline, r.hostile]) {
      expect(run?.flowA.packets).toBe(count);
      expect(run?.flowA.seqErrors).toBe(0);
      expect(run?.flowA.drops).toBe(0);
      expect(run?.flowB.error).toBeUndefined();
    }
    expect(r.hostile?.flowB.writes).toBeGreaterThan(0);
    expect(r.hostile?.flowB.kloop.errors).toBeGreaterThan(0);
    expect(r.baseline?.flowB.kloop.errors).toBe(0);
    // The guest left its geometry words wrong, and nothing on the host noticed (above).
    expect(r.hostile?.flowB.geometryWordsOff).toBeGreaterThan(0);
    expect(r.baseline?.flowB.geometryWordsOff).toBe(0);
    // What the neighbour costs flow A is measured, per packet, next to each guest.
    if (r.baseline?.flowA.busyNsPerPacket !== null) {
      expect(r.baseline?.flowA.busyNsPerPacket).toBeGreaterThan(0);
      expect(r.hostile?.busyRatio).toBeGreaterThan(0);
    }
  }, 30_000);

  it('VALE: a hostile guest on a port of another switch; every gap in flow A is a counted switch drop', async () => {
    const r = await runIsolation({ port: 'vale', guest: 'hostile', count: 500_000, seed: 4 });
    expect(r.sharedWithA).toBe(0);
    const h = r.hostile;
    expect(h?.flowB.error).toBeUndefined();
    expect(h?.flowA.sent).toBe(500_000);
    expect((h?.flowA.packets ?? 0) + (h?.flowA.drops ?? 0)).toBe(500_000);
    // Drops after the last packet received show as no gap: at most the drops.
    expect(h?.flowA.seqErrors).toBeLessThanOrEqual(h?.flowA.drops ?? 0);
    expect(h?.flowB.kloop.errors).toBeGreaterThan(0);
    expect(h?.flowB.vale?.bad).toBeGreaterThan(0);
    expect(h?.flowB.geometryWordsOff).toBeGreaterThan(0);
  }, 30_000);

  it.each([
    ['pipe', 'crash-throw', /guest txseq on pipe0\{: .*injected fault \(throw\)/],
    ['pipe', 'crash-exit', /guest txseq on pipe0\{: .*worker exited with code: 70/],
    ['vale', 'crash-exit', /guest txseq on vale0:a: .*worker exited/],
  ] as const)(
    '%s, %s: the error names the guest; flow A completes in order; a new guest on the port carries traffic',
    async (port, guest, message) => {
      const count = 1_500_000;
      const r = await runIsolation({ port, guest, count, crashAfterPackets: 30_000, reattachCount: 100_000 });
      const c = r.crash;
      expect(c?.error).toMatch(message);
      expect(c?.flowA.sent).toBe(count);
      if (port === 'pipe') {
        expect(c?.flowA.packets).toBe(count);
        expect(c?.flowA.seqErrors).toBe(0);
      } else {
        expect((c?.flowA.packets ?? 0) + (c?.flowA.drops ?? 0)).toBe(count);
        expect(c?.flowA.seqErrors).toBeLessThanOrEqual(c?.flowA.drops ?? 0);
      }
      expect(c?.reattach.error).toBeUndefined();
      expect(c?.reattach.sent).toBe(100_000);
      if (port === 'pipe') {
        expect(c?.reattach.packets).toBe(100_000);
        expect(c?.reattach.seqErrors).toBe(0);
      } else {
        expect((c?.reattach.packets ?? 0) + (c?.reattach.drops ?? 0)).toBe(100_000);
      }
    },
    30_000,
  );

  // Known bug, in src/kernel/vale.ts (not fixed here): ValeTx.copy() reads the slot's len
  // again after lookup() validated it, so a guest rewriting its slots while the switch
  // forwards them gets len > buf_size published in other ports' RX slots (the copy itself
  // stays inside the buffers). Marked `fails` until copy() clamps or snapshots len: this
  // test then passes and vitest says so.
  it('VALE: a guest racing its own slots cannot make the switch publish len > buf_size', async () => {
    const nm = new Netmap();
    const host = nm.register('vale0:h', { ringSize: 256 });
    const sink = nm.open('vale0:s', { ringSize: 256 });
    const pt = passThrough(host);
    const stop = new AbortController();
    const run = runSession(
      [
        { task: { role: 'hostile', guest: pt.guest, opts: { seed: 3 } }, sender: true, measured: true },
        { task: { role: 'kloop', kloop: pt.kloop, lingerUs: 0, busyWait: true }, sender: false, forwarder: true },
      ],
      { seconds: 3600, reportMs: 1000, warmupMs: 0, signal: stop.signal },
    );
    let tooLong = 0;
    try {
      // The switch's table is served by this thread's event loop: yield between passes.
      for (const end = performance.now() + 1500; performance.now() < end && tooLong === 0; await tick()) {
        sink.rxsync();
        const r = sink.rx;
        for (let k = r.head; k !== r.tail; k = r.next(k)) if (r.len(k) > r.bufSize) tooLong++;
        r.advance(r.tail);
        sink.rxsync();
      }
    } finally {
      stop.abort();
      await run;
      sink.close();
      nm.close();
    }
    expect(tooLong).toBe(0);
  }, 30_000);
});
