/**
 * Pipes: zero copy (the receiver reads the very buffer the sender wrote, in the same
 * SharedArrayBuffer; syncs move slot descriptors only), within a thread and across a
 * worker, plus the errors of opening, attaching and using a closed port.
 */
import { describe, expect, it } from 'vitest';
import { attachPort, Netmap } from '../src/netmap.js';
import { POLLIN, POLLOUT, type PortDescriptor } from '../src/port.js';
import {
  diffBytes,
  drainSeq,
  expectCode,
  inlineWorker,
  pairsClosedAfterEach,
  payloadByte,
  payloadLen,
  recvSeq,
  ringCounters,
  sendSeq,
  slotByte,
} from './helpers.js';

const pair = pairsClosedAfterEach();

describe('zero copy', () => {
  it('the receiver reads the buffer the sender wrote: same buf_idx, same bytes, same SharedArrayBuffer', () => {
    const n = 16;
    const p = pair(n);
    const tx = p.a.tx;
    const rx = p.b.rx;
    const written: Array<{ slot: number; idx: number; ofs: number; len: number }> = [];
    for (let k = 0; k < 10; k++) {
      const len = payloadLen(k, tx.bufSize);
      const buf = tx.buf(k);
      for (let j = 0; j < len; j++) buf[j] = payloadByte(k, j);
      tx.setLen(k, len);
      tx.setSlotFlags(k, 0);
      written.push({ slot: k, idx: tx.bufIdx(k), ofs: tx.bufOffset(k), len });
    }
    tx.advance(10);
    const bufs0 = new Uint8Array(p.da.mem, p.region.bufsOfs).slice();
    expect(p.a.txsync()).toBe(true);
    expect(p.b.rxsync()).toBe(true);
    // Syncs never move payload bytes.
    expect(diffBytes(bufs0, new Uint8Array(p.da.mem, p.region.bufsOfs))).toEqual([]);
    expect(rx.tail).toBe(10);
    for (const w of written) {
      expect(rx.bufIdx(w.slot)).toBe(w.idx);
      expect(rx.bufOffset(w.slot)).toBe(w.ofs);
      expect(rx.len(w.slot)).toBe(w.len);
      const view = rx.buf(w.slot);
      expect(view.buffer).toBe(p.da.mem);
      expect(view.byteOffset).toBe(w.ofs);
      for (let j = 0; j < w.len; j++) expect(view[j]).toBe(payloadByte(w.slot, j));
    }
    // It is the same memory, not an equal copy: a byte the sender changes now is seen.
    tx.mem[written[3].ofs] ^= 0xff;
    expect(rx.buf(3)[0]).toBe(payloadByte(3, 0) ^ 0xff);
    expect(p.b.rx.mem.buffer).toBe(p.a.tx.mem.buffer);
  });

  it('a sync copies only the 8-byte descriptors: the RX slot equals the TX slot word for word', () => {
    const n = 7;
    const p = pair(n);
    let sent = 0;
    let got = 0;
    for (let lap = 0; lap < 5 * n; lap++) {
      const from = p.a.tx.head;
      const k = sendSeq(p.a, p.a.tx, sent, 4);
      for (let i = 0, s = from; i < k; i++, s = (s + 1) % n) {
        const t = slotByte(p.region, p.a.tx.id, s) / 4;
        const r = slotByte(p.region, p.b.rx.id, s) / 4;
        expect(p.region.u32[r]).toBe(p.region.u32[t]);
        expect(p.region.u32[r + 1]).toBe(p.region.u32[t + 1]);
      }
      sent += k;
      got += recvSeq(p.b, p.b.rx, got, 3);
    }
    got = drainSeq(p.b, p.b.rx, got, sent);
    // The pipe's two rings use the same n buffers and nothing else, lap after lap.
    const ring = new Set(Array.from({ length: n }, (_, k) => p.a.tx.bufIdx(k)));
    for (let k = 0; k < n; k++) expect(ring.has(p.b.rx.bufIdx(k))).toBe(true);
    expect(ring.size).toBe(n);
  });

  it('across threads: a worker writes into its TX buffers, this thread reads them in place', async () => {
    const nm = new Netmap();
    const da = nm.register('zc{', { ringSize: 32 });
    const db = nm.register('zc}');
    const rxPort = attachPort(db);
    try {
      const w = inlineWorker(
        `
const port = lib.attachPort(workerData.desc);
const tx = port.tx;
const sent = [];
for (let k = 0; k < workerData.count; k++) {
  const slot = tx.cur;
  const buf = tx.buf(slot);
  const len = 20 + k;
  for (let j = 0; j < len; j++) buf[j] = (k * 13 + j) & 0xff;
  tx.setLen(slot, len);
  tx.setSlotFlags(slot, 0);
  sent.push({ slot, idx: tx.bufIdx(slot), ofs: tx.bufOffset(slot), len });
  tx.advance(tx.next(slot));
}
port.txsync();
parentPort.postMessage({ sent, counters: port.counters().rings });
port.close();
`,
        { desc: da, count: 20 },
      );
      const msg = (await w.next()) as {
        sent: Array<{ slot: number; idx: number; ofs: number; len: number }>;
      };
      expect(await w.exited).toBe(0);
      expect(rxPort.poll(POLLIN, 0)).toBe(POLLIN);
      const rx = rxPort.rx;
      expect(rx.tail).toBe(20);
      msg.sent.forEach((s, k) => {
        expect(rx.bufIdx(s.slot)).toBe(s.idx);
        expect(rx.bufOffset(s.slot)).toBe(s.ofs);
        expect(rx.len(s.slot)).toBe(s.len);
        const v = rx.buf(s.slot);
        for (let j = 0; j < s.len; j++) expect(v[j]).toBe((k * 13 + j) & 0xff);
      });
      // The worker closed its end: it can be opened again here.
      const txPort = attachPort(da);
      txPort.close();
    } finally {
      rxPort.close();
    }
  });

  it('an end held exclusively (/x) by a worker is EBUSY for every other thread; freed, it opens again', async () => {
    const nm = new Netmap();
    const da = nm.register('busy{/x', { ringSize: 4 });
    const ctl = new Int32Array(new SharedArrayBuffer(8));
    const w = inlineWorker(
      `
const port = lib.attachPort(workerData.desc);
const ctl = new Int32Array(workerData.ctl);
Atomics.store(ctl, 0, 1);
Atomics.notify(ctl, 0);
while (Atomics.load(ctl, 1) === 0) Atomics.wait(ctl, 1, 0, 1000);
port.close();
`,
      { desc: da, ctl: ctl.buffer },
    );
    while (Atomics.load(ctl, 0) === 0) {
      const r = Atomics.waitAsync(ctl, 0, 0, 1000);
      if (r.async) await r.value;
    }
    expect(expectCode(() => nm.open('busy{'), 'EBUSY').message).toMatch(/busy\{ is open exclusively by another user/);
    expectCode(() => nm.open('busy{/x'), 'EBUSY');
    Atomics.store(ctl, 1, 1);
    Atomics.notify(ctl, 1);
    expect(await w.exited).toBe(0);
    const port = nm.open('busy{');
    port.close();
  });
});

describe('open errors', () => {
  it('a second open of an open end shares its rings, as in netmap (by name, alias or descriptor)', () => {
    const nm = new Netmap();
    const a = nm.open('dup{');
    const a2 = nm.open('netmap:dup{');
    const a3 = attachPort(nm.register('dup{'));
    const b = nm.open('dup}');
    // One ring, three users: each continues where the last sync left the ring.
    expect(sendSeq(a, a.tx, 0, 3)).toBe(3);
    expect(a2.txsync()).toBe(true);
    expect(sendSeq(a2, a2.tx, 3, 3)).toBe(3);
    expect(a3.txsync()).toBe(true);
    expect(sendSeq(a3, a3.tx, 6, 3)).toBe(3);
    expect(drainSeq(b, b.rx, 0, 9)).toBe(9);
    for (const p of [a, a2, a3]) expect(ringCounters(p, p.tx.id).errors).toBe(0);
    for (const p of [a, a2, a3, b]) p.close();
  });

  it('an exclusive open (/x) is EBUSY while the end is open, and keeps every other open out', () => {
    const nm = new Netmap();
    const a = nm.open('excl{');
    expect(expectCode(() => nm.open('excl{/x'), 'EBUSY').message).toMatch(/exclusive open needs it free/);
    a.close();
    const x = nm.open('excl{/x');
    expectCode(() => nm.open('excl{'), 'EBUSY');
    expectCode(() => nm.open('excl{/x'), 'EBUSY');
    // The other end is another interface: free.
    const b = nm.open('excl}');
    expect(sendSeq(x, x.tx, 0, 2)).toBe(2);
    expect(drainSeq(b, b.rx, 0, 2)).toBe(2);
    x.close();
    nm.open('excl{').close();
    b.close();
  });

  it('/T and /R bind one direction: a TX-only and an RX-only user of one end share it', () => {
    const nm = new Netmap();
    const t = nm.open('dir{/T');
    const r = nm.open('dir{/R');
    const peer = nm.open('dir}');
    expect([t.txRings.length, t.rxRings.length, r.txRings.length, r.rxRings.length]).toEqual([1, 0, 0, 1]);
    expect(sendSeq(t, t.tx, 0, 3)).toBe(3);
    expect(drainSeq(peer, peer.rx, 0, 3)).toBe(3);
    expect(sendSeq(peer, peer.tx, 0, 2)).toBe(2);
    expect(drainSeq(r, r.rx, 0, 2)).toBe(2);
    for (const p of [t, r, peer]) p.close();
  });

  it.each([
    ['dup{/z', 'ENOTSUP', /monitor ports \(\/z\) are not supported/],
    ['dup{/r', 'ENOTSUP', /monitor ports/],
    ['dup{/q', 'EINVAL', /unknown flag 'q' \(known: x, T, R\)/],
    ['dup{/TR', 'EINVAL', /\/T and \/R together bind no ring/],
    ['vale0:a*', 'ENOTSUP', /host stack rings \(\*\) do not exist/],
    ['vale0:a^', 'ENOTSUP', /host stack rings/],
    ['vale0:a-1', 'ENOENT', /no ring 1 \(every port here has one ring pair, ring 0\)/],
    ['vale0:a@conf:rings=2', 'ENOTSUP', /register options \(@conf:rings=2\) are not supported/],
  ] as const)('netmap suffix %j is refused with %s and says why', (name, code, msg) => {
    expect(expectCode(() => new Netmap().register(name), code).message).toMatch(msg);
  });

  it('ring suffix -0 names the one ring pair: the same port', () => {
    const nm = new Netmap();
    const a = nm.open('zero{-0');
    const b = nm.open('zero}');
    expect(sendSeq(a, a.tx, 0, 2)).toBe(2);
    expect(drainSeq(b, b.rx, 0, 2)).toBe(2);
    a.close();
    b.close();
  });

  it('two pipes with different ids are different pipes', () => {
    const nm = new Netmap();
    const x = nm.open('p{1');
    const y = nm.open('p{2');
    const z = nm.open('p{');
    expect(x.tx.mem.buffer).not.toBe(y.tx.mem.buffer);
    expect(x.tx.mem.buffer).not.toBe(z.tx.mem.buffer);
    for (const p of [x, y, z]) p.close();
  });

  it.each(['nope', 'eth0', 'netmap:eth0', 'pipe0', 'pipe0{1}', 'a b{', '{', 'vale0', 'vale:', 'pipe0{x-y'])(
    'unknown name %j is ENOENT',
    (name) => {
      const nm = new Netmap();
      expectCode(() => nm.open(name), 'ENOENT');
      expectCode(() => nm.register(name), 'ENOENT');
    },
  );

  it.each([0, 1, 16385, 2.5, -1, Number.NaN, Number.POSITIVE_INFINITY, 1 << 20])(
    'ring size %s is EINVAL',
    (ringSize) => {
      const nm = new Netmap();
      expectCode(() => nm.open('rs{', { ringSize }), 'EINVAL');
      // Nothing was created: a good size works afterwards.
      const p = nm.open('rs{', { ringSize: 5 });
      expect(p.numSlots).toBe(5);
      p.close();
    },
  );

  it.each([2, 3, 16384])('ring size %i is accepted', (ringSize) => {
    const nm = new Netmap();
    const p = nm.open('ok{', { ringSize });
    expect(p.numSlots).toBe(ringSize);
    p.close();
  });

  it('the second end must agree with the pipe ring size', () => {
    const nm = new Netmap();
    const a = nm.open('sz{', { ringSize: 9 });
    expectCode(() => nm.open('sz}', { ringSize: 10 }), 'EINVAL');
    const b = nm.open('sz}', { ringSize: 9 });
    expect(b.numSlots).toBe(9);
    a.close();
    b.close();
  });

  it('a bad descriptor is EINVAL, and a refused attach leaves the end free', () => {
    expectCode(() => attachPort(null as never), 'EINVAL');
    expectCode(
      () =>
        attachPort({
          type: 'pipe',
          name: 'x{',
          mem: new SharedArrayBuffer(256),
          kmem: new SharedArrayBuffer(256),
          ifIndex: 0,
          bells: [],
        }),
      'EINVAL',
    );
    const nm = new Netmap();
    const d = nm.register('bd{', { ringSize: 4 });
    for (const ifIndex of [2, -1, 0.5, Number.NaN, '0' as unknown as number, undefined as unknown as number]) {
      expectCode(() => attachPort({ ...d, ifIndex } as PortDescriptor), 'EINVAL');
    }
    expectCode(() => attachPort({ ...d, kmem: new SharedArrayBuffer(64) }), 'EINVAL');
    expectCode(() => attachPort({ ...d, kmem: d.mem }), 'EINVAL');
    expectCode(() => attachPort({ ...d, mem: d.kmem }), 'EINVAL');
    expectCode(() => attachPort({ ...d, bells: [] } as PortDescriptor), 'EINVAL');
    expectCode(() => attachPort({ ...d, bells: [d.mem, d.mem] } as PortDescriptor), 'EINVAL');
    // None of the refused attaches claimed an end.
    const a = attachPort(d);
    const b = nm.open('bd}');
    a.close();
    b.close();
  });
});

describe('extra buffers', () => {
  it('allocBufs hands out distinct spare buffers no ring uses; freeBufs takes them back', () => {
    const p = pair(4, 3);
    const inRings = new Set<number>();
    for (const port of [p.a, p.b]) for (let k = 0; k < 4; k++) inRings.add(port.tx.bufIdx(k));
    expect(p.a.freeBufCount()).toBe(3);
    const got = p.a.allocBufs(5);
    expect(got).toHaveLength(3);
    expect(new Set(got).size).toBe(3);
    for (const b of got) {
      expect(p.region.validBuf(b)).toBe(true);
      expect(inRings.has(b)).toBe(false);
    }
    expect(p.a.freeBufCount()).toBe(0);
    expect(p.b.allocBufs(1)).toEqual([]);
    p.b.freeBufs(got);
    expect(p.a.freeBufCount()).toBe(3);
    expect(new Set(p.a.allocBufs(3))).toEqual(new Set(got));
  });

  it.each([0, 1, 4 * 2 + 2 + 3, -1])('freeBufs refuses buffer %s (EINVAL)', (b) => {
    const p = pair(4, 3);
    expectCode(() => p.a.freeBufs([b]), 'EINVAL');
    expect(p.a.freeBufCount()).toBe(3);
  });

  // BUG (src/shm/views.ts RegionViews.validBuf / freeBufs): validBuf(2.5) is true (it
  // checks the range, not that the index is an integer), so freeBufs([2.5]) is accepted:
  // it writes the link into the middle of buffer 2, stores 2 (truncated) as the list
  // head, and the next allocBufs hands out buffer 2, which TX slot 0 of the master end
  // still uses (two owners), and loses the rest of the list.
  it('freeBufs refuses a non-integer buffer index (EINVAL) and never lets a ring buffer onto the free list', () => {
    const p = pair(4, 3);
    const inRings = new Set<number>();
    for (const port of [p.a, p.b]) for (let k = 0; k < 4; k++) inRings.add(port.tx.bufIdx(k));
    let threw: unknown;
    try {
      p.a.freeBufs([2.5]);
    } catch (e) {
      threw = e;
    }
    const handedOut = p.a.allocBufs(4);
    for (const b of handedOut) expect(inRings.has(b), `allocBufs handed out ring buffer ${b}`).toBe(false);
    expect(threw).toMatchObject({ name: 'NetmapError', code: 'EINVAL' });
  });

  // BUG (src/shm/views.ts RegionViews.allocBufs): the free list is linked through the
  // first word of each free buffer, memory that both ends of a pipe can write. allocBufs
  // follows the links without checking them: one scribbled word makes it hand out
  // 0xffffffff and `undefined` as "buffers" and drives the free count negative.
  it('allocBufs never hands out an invalid buffer, even after a user scribbled on a free one', () => {
    const p = pair(4, 2);
    const head = p.a.allocBufs(1)[0];
    p.a.freeBufs([head]);
    // Any user can write any buffer of the region: here, the link word of a free buffer.
    new Uint32Array(p.da.mem, p.region.bufOffset(head), 1)[0] = 0xffffffff;
    const got = p.b.allocBufs(3);
    for (const b of got) expect(p.region.validBuf(b), `allocBufs returned ${b}`).toBe(true);
    expect(p.a.freeBufCount()).toBeGreaterThanOrEqual(0);
  });
});

describe('closed ports', () => {
  it('close then sync, poll or buffer calls is EBADF; close twice is harmless', async () => {
    const p = pair(4, 2);
    p.a.close();
    expect(p.a.isClosed).toBe(true);
    expectCode(() => p.a.txsync(), 'EBADF');
    expectCode(() => p.a.rxsync(), 'EBADF');
    expectCode(() => p.a.poll(POLLIN, 0), 'EBADF');
    expectCode(() => p.a.poll(POLLOUT, 10), 'EBADF');
    expectCode(() => p.a.allocBufs(1), 'EBADF');
    await expect(p.a.pollAsync(POLLIN, 0)).rejects.toMatchObject({ name: 'NetmapError', code: 'EBADF' });
    expect(() => p.a.close()).not.toThrow();
    // The other end is still usable.
    expect(p.b.txsync()).toBe(true);
    expect(p.b.rxsync()).toBe(true);
  });

  it('closing saves the kernel state: a new attach continues the same rings', () => {
    const nm = new Netmap();
    const a = nm.open('save{', { ringSize: 5 });
    const b = nm.open('save}');
    expect(sendSeq(a, a.tx, 0, 3)).toBe(3);
    a.close();
    const a2 = nm.open('save{');
    // The new user sees the ring where the old one left it.
    expect(a2.tx.head).toBe(3);
    expect(a2.txsync()).toBe(true);
    expect(recvSeq(b, b.rx, 0, 5)).toBe(3);
    expect(a2.txsync()).toBe(true);
    expect(sendSeq(a2, a2.tx, 3, 4)).toBe(4);
    expect(recvSeq(b, b.rx, 3, 5)).toBe(4);
    a2.close();
    b.close();
  });
});
