/**
 * The emulated e1000 NIC in one thread: the guest app uses its own netmap port (the
 * native e1000 driver underneath), the test steps the device by hand, and a host app
 * sits on the other end of the host pipe or VALE port.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BELL_SLEEP, E1K_DESC_WORDS, E1K_ICR, E1K_RDT, E1K_TDT, NS_MOREFRAG, SLEEP_KICK } from '../shm/layout.js';
import { E1000Device } from '../src/emulated/e1000.js';
import { emulateNic } from '../src/emulated/nic.js';
import { NetmapError } from '../src/errors.js';
import { Netmap } from '../src/netmap.js';
import { passThrough } from '../src/passthrough/hypervisor.js';
import { Port } from '../src/port.js';
import type { NetmapRing } from '../src/ring.js';

let seq = 0;
function setup(o: { ringSize?: number; moderation?: number; vale?: boolean } = {}) {
  const nm = new Netmap();
  const id = seq++;
  const [hn, pn] = o.vale ? [`vale${id}e:nic`, `vale${id}e:peer`] : [`em${id}{`, `em${id}}`];
  const host = nm.register(hn, { ringSize: o.ringSize ?? 16 });
  const peer = nm.open(pn, { ringSize: o.ringSize ?? 16 });
  const nic = emulateNic(host, { moderation: o.moderation });
  const guest = new Port(nic.guest);
  const dev = new E1000Device(nic.device);
  return { nm, host, peer, nic, guest, dev };
}

/** Writes `n` frames whose first bytes carry a counter, lengths varying from 14 to 1514. */
function send(ring: NetmapRing, n: number, first: number, lenOf = (k: number) => 14 + ((k * 37) % 1501)): void {
  let cur = ring.cur;
  for (let i = 0; i < n; i++) {
    const k = first + i;
    const len = lenOf(k);
    const b = ring.buf(cur);
    b.fill(0, 0, 14);
    // Unicast to a MAC nobody owns (VALE floods it to the one other port).
    b[0] = 0x02;
    new DataView(b.buffer, b.byteOffset).setUint32(6, k);
    b[len - 1] = k & 0xff;
    ring.setLen(cur, len);
    ring.setSlotFlags(cur, 0);
    cur = ring.next(cur);
  }
  ring.advance(cur);
}

/** Reads what arrived: the counter and checks length and last byte. */
function drain(ring: NetmapRing, lenOf = (k: number) => 14 + ((k * 37) % 1501)): number[] {
  const got: number[] = [];
  let cur = ring.cur;
  while (cur !== ring.tail) {
    const b = ring.buf(cur);
    const k = new DataView(b.buffer, b.byteOffset).getUint32(6);
    expect(ring.len(cur)).toBe(lenOf(k));
    expect(b[lenOf(k) - 1]).toBe(k & 0xff);
    got.push(k);
    cur = ring.next(cur);
  }
  ring.advance(cur);
  return got;
}

describe('emulated e1000: transmit (guest -> host)', () => {
  for (const vale of [false, true]) {
    it(`every packet arrives intact and in order, one descriptor each (${vale ? 'VALE' : 'pipe'})`, () => {
      const { guest, dev, peer } = setup({ vale });
      let next = 0;
      let seen = 0;
      for (let round = 0; round < 60; round++) {
        guest.txsync();
        const room = Math.min(guest.tx.space(), 1 + (round % 9));
        send(guest.tx, room, next);
        next += room;
        guest.txsync();
        dev.step();
        peer.rxsync();
        for (const k of drain(peer.rx)) expect(k).toBe(seen++);
        peer.rxsync();
      }
      expect(seen).toBe(next);
      expect(dev.counters.txPackets).toBe(next);
      // One txsync of the host port per packet: the back-end's interface is one packet wide.
      expect(dev.counters.hostTxsyncs).toBeGreaterThanOrEqual(next);
      const c = guest.counters().rings[0];
      expect(c.kicks).toBeGreaterThan(0);
      expect(dev.counters.txBad).toBe(0);
      guest.close();
      dev.close();
    });
  }

  it('waits for room in the host ring instead of dropping', () => {
    const { guest, dev, peer } = setup({ ringSize: 8 });
    let next = 0;
    // Three ring-fulls with the host receiver not reading: the device stops at a full ring.
    for (let i = 0; i < 3; i++) {
      guest.txsync();
      const room = guest.tx.space();
      send(guest.tx, room, next);
      next += room;
      guest.txsync();
      dev.step();
    }
    expect(dev.counters.txPackets).toBeLessThan(next);
    let seen = 0;
    for (let i = 0; i < 20 && seen < next; i++) {
      peer.rxsync();
      for (const k of drain(peer.rx)) expect(k).toBe(seen++);
      peer.rxsync();
      dev.step();
    }
    expect(seen).toBe(next);
    guest.close();
    dev.close();
  });

  it('bad slots become counted drops; the device is never fooled', () => {
    const { guest, dev, peer } = setup();
    const r = guest.tx;
    send(r, 3, 0, () => 60);
    r.setBufIdx(0, 99999); // not a buffer
    r.setLen(1, 0); // empty
    guest.txsync();
    dev.step();
    peer.rxsync();
    expect(drain(peer.rx, () => 60)).toEqual([2]);
    expect(guest.counters().rings[0].drops).toBe(2);
    expect(dev.counters.txEmpty).toBe(2);
    guest.close();
    dev.close();
  });
});

describe('emulated e1000: receive (host -> guest)', () => {
  for (const vale of [false, true]) {
    it(`every packet arrives intact and in order (${vale ? 'VALE' : 'pipe'})`, () => {
      const { guest, dev, peer } = setup({ vale });
      let next = 0;
      let seen = 0;
      for (let round = 0; round < 60; round++) {
        peer.txsync();
        const room = Math.min(peer.tx.space(), 1 + (round % 11));
        send(peer.tx, room, next);
        next += room;
        peer.txsync();
        dev.step();
        guest.rxsync();
        for (const k of drain(guest.rx)) expect(k).toBe(seen++);
        guest.rxsync();
      }
      for (let i = 0; i < 10 && seen < next; i++) {
        dev.step();
        guest.rxsync();
        for (const k of drain(guest.rx)) expect(k).toBe(seen++);
        guest.rxsync();
      }
      expect(seen).toBe(next);
      expect(dev.counters.rxPackets).toBe(next);
      guest.close();
      dev.close();
    });
  }

  it('a guest that does not read holds packets in the host ring; nothing is lost', () => {
    const { guest, dev, peer } = setup({ ringSize: 8 });
    let next = 0;
    for (let i = 0; i < 4; i++) {
      peer.txsync();
      const room = peer.tx.space();
      send(peer.tx, room, next);
      next += room;
      peer.txsync();
      dev.step();
    }
    // The guest ring holds 7; the rest waits in the host port.
    expect(dev.counters.rxPackets).toBe(7);
    let seen = 0;
    for (let i = 0; i < 40 && seen < next; i++) {
      guest.rxsync();
      for (const k of drain(guest.rx)) expect(k).toBe(seen++);
      guest.rxsync();
      dev.step();
      peer.txsync();
      if (peer.tx.space() > 0 && next < 40) {
        const room = Math.min(peer.tx.space(), 40 - next);
        send(peer.tx, room, next);
        next += room;
        peer.txsync();
      }
    }
    expect(seen).toBe(next);
    guest.close();
    dev.close();
  });

  it('multi-fragment host packets arrive as NS_MOREFRAG chains', () => {
    const { guest, dev, peer } = setup();
    const r = peer.tx;
    let cur = r.cur;
    for (let f = 0; f < 3; f++) {
      r.buf(cur).fill(f + 1, 0, 100);
      r.setLen(cur, 100);
      r.setSlotFlags(cur, f < 2 ? NS_MOREFRAG : 0);
      cur = r.next(cur);
    }
    r.advance(cur);
    peer.txsync();
    dev.step();
    guest.rxsync();
    const g = guest.rx;
    const flags: number[] = [];
    for (let s = g.cur; s !== g.tail; s = g.next(s)) {
      expect(g.len(s)).toBe(100);
      expect(g.buf(s)[99]).toBe(flags.length + 1);
      flags.push(g.slotFlags(s) & NS_MOREFRAG);
    }
    expect(flags).toEqual([NS_MOREFRAG, NS_MOREFRAG, 0]);
    guest.close();
    dev.close();
  });
});

describe('emulated e1000: interrupts and doorbells', () => {
  function traffic(moderation: number): { irqs: number; got: number[] } {
    const { guest, dev, peer } = setup({ ringSize: 64, moderation });
    let next = 0;
    const got: number[] = [];
    for (let round = 0; round < 20; round++) {
      send(peer.tx, 32, next, () => 60);
      next += 32;
      peer.txsync();
      dev.step();
      dev.step(); // an idle pass: held-back interrupts go out
      guest.rxsync();
      got.push(...drain(guest.rx, () => 60));
      guest.rxsync();
      peer.txsync();
    }
    guest.close();
    dev.close();
    return { irqs: dev.counters.irqs, got };
  }

  it('moderation changes the interrupt count, not the packets delivered', () => {
    const a = traffic(1);
    const b = traffic(16);
    const c = traffic(1000);
    expect(b.got).toEqual(a.got);
    expect(c.got).toEqual(a.got);
    expect(a.got.length).toBe(640);
    // One per packet, at most two per 32-packet burst, one per burst (flushed when idle).
    expect(a.irqs).toBe(640);
    expect(b.irqs).toBe(40);
    expect(c.irqs).toBe(20);
  });

  it('an interrupt wakes a halted guest: poll() returns the packet', () => {
    const { guest, dev, peer } = setup();
    // Pretend the guest is halted in poll waiting for RX (its sleep word says so).
    // biome-ignore lint/complexity/useLiteralKeys: a private member, read on purpose by the test
    Atomics.store(new Int32Array(guest['bell'].buffer), BELL_SLEEP, 2);
    send(peer.tx, 1, 7, () => 60);
    peer.txsync();
    dev.step();
    dev.step();
    // biome-ignore lint/complexity/useLiteralKeys: a private member, read on purpose by the test
    expect(Atomics.load(new Int32Array(guest['bell'].buffer), BELL_SLEEP)).toBe(0); // woken
    // biome-ignore lint/complexity/useLiteralKeys: a private member, read on purpose by the test
    expect(Atomics.load(new Int32Array(dev['regs'].buffer), E1K_ICR) & 0x80).toBe(0x80);
    guest.close();
    dev.close();
  });

  it('a doorbell wakes a sleeping device: the kick bit on the host port bell is cleared', () => {
    const { guest, dev, nic } = setup();
    const bell = new Int32Array(nic.guest.doorbell);
    Atomics.store(bell, BELL_SLEEP, SLEEP_KICK);
    send(guest.tx, 1, 0, () => 60);
    guest.txsync();
    expect(Atomics.load(bell, BELL_SLEEP)).toBe(0);
    guest.close();
    dev.close();
  });
});

describe('emulated e1000: a hostile guest', () => {
  it('random descriptors and tail registers are counted, never thrown on, never leave guest memory', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(63), fc.integer(), fc.boolean()), { minLength: 1, maxLength: 200 }),
        fc.integer({ min: -5, max: 40 }),
        fc.integer({ min: -5, max: 40 }),
        (writes, tdt, rdt) => {
          const { guest, dev, peer, nic } = setup();
          const d = new Int32Array(nic.guest.descs);
          const regs = new Int32Array(nic.guest.regs);
          for (const [w, v, tx] of writes) d[(tx ? 0 : 16 * E1K_DESC_WORDS) + (w % (16 * E1K_DESC_WORDS))] = v;
          send(peer.tx, 5, 0, () => 60);
          peer.txsync();
          Atomics.store(regs, E1K_TDT, tdt);
          Atomics.store(regs, E1K_RDT, rdt);
          for (let i = 0; i < 4; i++) expect(() => dev.step()).not.toThrow();
          // Whatever the guest wrote, the host's packets were delivered, held, or counted.
          expect(dev.counters.rxPackets + dev.counters.rxBad).toBeLessThanOrEqual(5);
          const c = dev.counters;
          expect(c.txPackets + c.txBad + c.txEmpty).toBeLessThanOrEqual(c.txDescs);
          guest.close();
          dev.close();
          peer.close();
        },
      ),
      { numRuns: 60 },
    );
  });

  it('bad RX buffer addresses give empty slots and count rxBad', () => {
    const { guest, dev, peer, nic } = setup();
    const d = new Int32Array(nic.guest.descs);
    d[16 * E1K_DESC_WORDS] = -64; // RX descriptor 0: an address outside guest memory
    d[16 * E1K_DESC_WORDS + E1K_DESC_WORDS] = 0x7fff0000;
    send(peer.tx, 3, 0, () => 60);
    peer.txsync();
    dev.step();
    guest.rxsync();
    const r = guest.rx;
    expect([r.len(0), r.len(1), r.len(2)]).toEqual([0, 0, 60]);
    expect(dev.counters.rxBad).toBe(2);
    guest.close();
    dev.close();
  });

  it('the guest holds only its own memory and the doorbell, never the host port', () => {
    const { nic, host } = setup();
    const held = Object.values(nic.guest).filter((v) => v instanceof SharedArrayBuffer);
    expect(held).not.toContain(host.mem);
    expect(held).not.toContain(host.kmem);
    expect(held).toContain(host.bells[0]); // the doorbell is the device thread's sleep word
  });

  it('bad options are typed errors', () => {
    const nm = new Netmap();
    const host = nm.register('emx{');
    expect(() => emulateNic(host, { moderation: 0 })).toThrow(NetmapError);
    const nic = emulateNic(host);
    expect(() => emulateNic(nic.guest as never)).toThrow(/guest's port/);
    expect(() => passThrough(nic.guest as never)).toThrow(NetmapError);
  });
});
