/**
 * Passthrough, in one thread: the guest driver and the host kloop talk only through the
 * CSB (and the bell for kicks); here the test steps the kloop by hand.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BELL_SLEEP, SLEEP_KICK } from '../shm/layout.js';
import { Netmap } from '../src/netmap.js';
import { GuestPort } from '../src/passthrough/guest.js';
import { passThrough } from '../src/passthrough/hypervisor.js';
import { Kloop } from '../src/passthrough/kloop.js';
import { POLLERR, POLLIN, POLLOUT, type Port } from '../src/port.js';

function setup(ringSize = 16) {
  const nm = new Netmap();
  const host = nm.register('pt{', { ringSize });
  const peer = nm.open('pt}');
  const { guest, kloop } = passThrough(host);
  const g = new GuestPort(guest);
  const k = new Kloop(kloop);
  return { nm, host, peer, guest, g, k };
}

function send(ring: GuestPort['tx'] | Port['tx'], n: number, first: number): void {
  let cur = ring.cur;
  for (let i = 0; i < n; i++) {
    ring.buf(cur)[0] = (first + i) & 0xff;
    ring.setLen(cur, 60);
    ring.setSlotFlags(cur, 0);
    cur = ring.next(cur);
  }
  ring.advance(cur);
}

function drain(ring: GuestPort['rx'] | Port['rx']): number[] {
  const got: number[] = [];
  let cur = ring.cur;
  while (cur !== ring.tail) {
    got.push(ring.buf(cur)[0]);
    cur = ring.next(cur);
  }
  ring.advance(cur);
  return got;
}

describe('passthrough through the CSB', () => {
  it('a guest that sends before its kloop attaches loses nothing (the kloop leaves the guest its ring headers)', () => {
    const nm = new Netmap();
    const host = nm.register('pt{', { ringSize: 16 });
    const peer = nm.open('pt}');
    const { guest, kloop } = passThrough(host);
    const g = new GuestPort(guest);
    // As a guest app that announces itself before its kloop thread has started.
    send(g.tx, 1, 1);
    g.txsync();
    const k = new Kloop(kloop);
    k.step();
    send(g.tx, 1, 2);
    g.txsync();
    k.step();
    peer.rxsync();
    expect(drain(peer.rx)).toEqual([1, 2]);
  });

  it('guest -> host: the guest txsync publishes head, the kloop moves it, the peer receives in order', () => {
    const { peer, g, k } = setup();
    let next = 0;
    let seen = 0;
    for (let round = 0; round < 20; round++) {
      g.txsync(); // picks up the tail the kloop published
      const room = g.tx.space();
      send(g.tx, room, next);
      next += room;
      g.txsync();
      expect(k.step()).toBe(room > 0);
      peer.rxsync();
      for (const b of drain(peer.rx)) expect(b).toBe(seen++ & 0xff);
      peer.rxsync(); // releases: the host TX ring gets its slots back
      k.step();
    }
    expect(seen).toBe(next);
    expect(next).toBe(20 * 15); // every round the whole ring but one slot came back
  });

  it('host -> guest: the kloop publishes hwtail, the guest rxsync turns it into the ring tail', () => {
    const { peer, g, k } = setup(7);
    let sent = 0;
    let got = 0;
    for (let round = 0; round < 30; round++) {
      peer.txsync();
      const room = peer.tx.space();
      send(peer.tx, room, sent);
      sent += room;
      peer.txsync();
      k.step();
      g.rxsync();
      for (const b of drain(g.rx)) expect(b).toBe(got++ & 0xff);
      g.rxsync(); // releases through atok
      k.step();
    }
    expect(got).toBe(sent);
  });

  it('the guest kicks only when the kloop asked (kern_need_kick), and then rings the bell', () => {
    const { guest, g, k } = setup();
    const bell = new Int32Array(guest.bell);
    send(g.tx, 1, 0);
    g.txsync();
    expect(g.kicks).toBe(0);
    // The kloop is going to sleep: it asks for kicks and waits on the bell.
    Atomics.store(k.csb.i32, k.csb.kernNeedKick(0), 1);
    Atomics.store(bell, BELL_SLEEP, SLEEP_KICK);
    g.txsync(); // head did not move: no kick
    expect(g.kicks).toBe(0);
    send(g.tx, 1, 1);
    g.txsync();
    expect(g.kicks).toBe(1);
    expect(Atomics.load(bell, BELL_SLEEP)).toBe(0); // woken
  });

  it('the kloop raises an interrupt only when the guest asked (appl_need_kick) and there is news', () => {
    const { peer, g, k } = setup();
    const c = k.csb;
    const rxEntry = 1;
    const irq0 = Atomics.load(c.i32, c.irq);
    peer.txsync();
    send(peer.tx, 2, 0);
    peer.txsync();
    k.step();
    expect(k.irqs).toBe(0); // nobody asked
    Atomics.store(c.i32, c.applNeedKick(rxEntry), 1); // the guest is going to sleep on RX
    expect(k.step()).toBe(false); // no news: no interrupt
    expect(k.irqs).toBe(0);
    send(peer.tx, 1, 2);
    peer.txsync();
    k.step();
    expect(k.irqs).toBe(1);
    expect(Atomics.load(c.i32, c.irq)).toBe(irq0 + 1);
    g.rxsync();
    expect(drain(g.rx)).toEqual([0, 1, 2]);
  });

  it('the guest holds the region, the CSB and its bell, never kernel memory', () => {
    const { host, guest } = setup();
    const sabs = Object.values(guest).filter((v) => v instanceof SharedArrayBuffer);
    expect(sabs).toContain(host.mem);
    expect(sabs).not.toContain(host.kmem);
    expect(sabs.length).toBe(3);
  });

  it('a hostile guest writing random CSB words never makes the kloop throw or move kernel state out of range', () => {
    const { host, k } = setup(11);
    const c = k.csb;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: c.i32.length - 1 }), fc.integer()), { maxLength: 40 }),
        (writes) => {
          for (const [w, v] of writes) Atomics.store(c.i32, w, v);
          expect(() => k.step()).not.toThrow();
          for (const kr of [...k.port.txk, ...k.port.rxk]) {
            expect(kr.hwcur >= 0 && kr.hwcur < 11).toBe(true);
            expect(kr.hwtail >= 0 && kr.hwtail < 11).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
    const errors = [...k.port.txk, ...k.port.rxk].reduce((t, kr) => t + kr.counters()[4], 0);
    expect(errors).toBeGreaterThan(0);
    expect(host.name).toBe('pt{');
  });
});

describe("the guest kernel's sync prologue (netmap's, in the guest)", () => {
  it('a broken head on a guest TX ring: poll returns POLLERR, the ring is reset and nothing reaches the host', () => {
    const { peer, g, k } = setup();
    send(g.tx, 3, 0);
    g.txsync();
    k.step();
    const hdr = { head: g.tx.head, tail: g.tx.tail };
    g.tx.head = 99; // outside a ring of 16
    expect(g.poll(POLLOUT, 0) & POLLERR).toBe(POLLERR);
    expect(g.counters().errors).toBe(1);
    expect({ head: g.tx.head, cur: g.tx.cur, tail: g.tx.tail }).toEqual({
      head: hdr.head,
      cur: hdr.head,
      tail: hdr.tail,
    });
    k.step();
    peer.rxsync();
    expect(drain(peer.rx)).toEqual([0, 1, 2]);
  });

  it('a head moved backwards on a guest RX ring: rxsync is refused, poll(POLLIN) returns POLLERR', () => {
    const { peer, g, k } = setup();
    send(peer.tx, 4, 0);
    peer.txsync();
    k.step();
    g.rxsync();
    expect(drain(g.rx)).toEqual([0, 1, 2, 3]);
    expect(g.rxsync()).toBe(true);
    g.rx.head = 1; // behind what it released: impossible
    expect(g.rxsync()).toBe(false);
    expect(g.rx.head).toBe(4);
    g.rx.cur = 7; // past the tail
    expect(g.poll(POLLIN, 0) & POLLERR).toBe(POLLERR);
    expect(g.counters().errors).toBe(2);
  });
});
