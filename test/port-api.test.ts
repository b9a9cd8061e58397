/**
 * Small API promises of registration and ports: a region too big for memory is ENOMEM
 * naming what was asked; the extra buffers a registration gets are reported (netmap's
 * nr_extra_bufs, out); a worker holding only a VALE port reads the switch's counters for
 * it through port.counters().
 */
import { afterEach, describe, expect, it } from 'vitest';
import { valeCounters } from '../src/kernel/vale.js';
import { Netmap } from '../src/netmap.js';
import { Port, type PortDescriptor } from '../src/port.js';
import { expectCode, type InlineWorker, inlineWorker } from './helpers.js';

let opened: Port[] = [];
const workers: InlineWorker[] = [];
afterEach(async () => {
  for (const p of opened) p.close();
  opened = [];
  for (const w of workers.splice(0)) await w.worker.terminate();
});
function open(desc: PortDescriptor): Port {
  const p = new Port(desc);
  opened.push(p);
  return p;
}

// 1 Mi extra buffers of 64 KiB (the largest options) are 64 GiB of buffers: more than a
// region can hold (its buffers are addressed with 32-bit words), whatever the machine has.
const TOO_BIG = { ringSize: 16384, bufSize: 65472, extraBufs: 1 << 20 };

describe('a region too big for memory', () => {
  it.each([
    ['a pipe', 'bigpipe{'],
    ['a VALE port', 'valeBig:a'],
  ])('%s is ENOMEM naming the sizes asked for', (_what, name) => {
    const nm = new Netmap();
    const err = expectCode(() => nm.register(name, TOO_BIG), 'ENOMEM');
    expect(err.message).toContain(name);
    for (const size of [TOO_BIG.ringSize, TOO_BIG.bufSize, TOO_BIG.extraBufs]) {
      expect(err.message).toContain(String(size));
    }
  });

  it('a VALE port that could not be made leaves no port behind, and its switch takes others', () => {
    const nm = new Netmap();
    expectCode(() => nm.register('valeBig2:a', TOO_BIG), 'ENOMEM');
    const d = nm.register('valeBig2:b', { ringSize: 8 });
    expect(
      nm
        .valeCtl()
        .find((s) => s.switch === 'valeBig2')
        ?.ports.map((p) => p.name),
    ).toEqual(['b']);
    open(d);
  });
});

describe('extra buffers granted to a registration (nr_extra_bufs)', () => {
  it('the first registration of a pipe gets what it asked for: descriptor and port say so', () => {
    const nm = new Netmap();
    const d = nm.register('xb1{', { ringSize: 8, extraBufs: 6 });
    expect(d.extraBufs).toBe(6);
    const p = open(d);
    expect(p.extraBufs).toBe(6);
    expect(p.freeBufCount()).toBe(6);
  });

  it('a later registration gets at most what the pool holds then, and says so', () => {
    const nm = new Netmap();
    const a = open(nm.register('xb2{', { ringSize: 8, extraBufs: 4 }));
    // The pool was made with the first registration: asking for more does not grow it.
    const db = nm.register('xb2}', { extraBufs: 10 });
    expect(db.extraBufs).toBe(4);
    expect(open(db).extraBufs).toBe(4);
    expect(a.allocBufs(3)).toHaveLength(3);
    const again = nm.register('xb2{', { extraBufs: 2 });
    expect(again.extraBufs).toBe(1);
    expect(open(again).extraBufs).toBe(1);
    expect(nm.register('xb2}').extraBufs).toBe(0);
  });

  it('a pipe made without extra buffers grants none to a later registration asking for some', () => {
    const nm = new Netmap();
    open(nm.register('xb3{', { ringSize: 8 }));
    const d = nm.register('xb3}', { extraBufs: 5 });
    expect(d.extraBufs).toBe(0);
    const p = open(d);
    expect(p.extraBufs).toBe(0);
    expect(p.allocBufs(5)).toEqual([]);
  });

  it('a VALE port registered again gets at most what its pool holds', () => {
    const nm = new Netmap();
    const d1 = nm.register('valeXB:a', { ringSize: 8, extraBufs: 3 });
    expect(d1.extraBufs).toBe(3);
    const a = open(d1);
    expect(a.allocBufs(1)).toHaveLength(1);
    const d2 = nm.register('valeXB:a', { extraBufs: 8 });
    expect(d2.extraBufs).toBe(2);
    expect(open(d2).extraBufs).toBe(2);
  });
});

describe('VALE counters in a worker', () => {
  it('a worker holding only a VALE port reads its rx, tx and drops from port.counters().vale', async () => {
    const nm = new Netmap();
    // a's RX ring holds 3 packets: of 5 broadcasts from b, 3 arrive and 2 are a's drops.
    const da = nm.register('valeKW:a', { ringSize: 4 });
    const b = open(nm.register('valeKW:b', { ringSize: 16 }));
    const tx = b.tx;
    let k = tx.cur;
    for (let i = 0; i < 5; i++) {
      const buf = tx.buf(k);
      buf.fill(0xff, 0, 6);
      buf.set([2, 0, 0, 0, 0, 2], 6);
      tx.setLen(k, 60);
      tx.setSlotFlags(k, 0);
      k = tx.next(k);
    }
    tx.advance(k);
    expect(b.txsync()).toBe(true);
    const w = inlineWorker(
      `
const port = lib.attachPort(workerData.desc);
const tx = port.tx;
let k = tx.cur;
for (let i = 0; i < 2; i++) {
  const buf = tx.buf(k);
  buf.fill(0xff, 0, 6);
  buf.set([2, 0, 0, 0, 0, 1], 6);
  tx.setLen(k, 60);
  tx.setSlotFlags(k, 0);
  k = tx.next(k);
}
tx.advance(k);
port.txsync();
parentPort.postMessage(port.counters().vale);
port.close();
`,
      { desc: da },
    );
    workers.push(w);
    const vale = (await w.next()) as Record<string, number> | undefined;
    expect(await w.exited).toBe(0);
    expect(vale).toMatchObject({ rx: 3, tx: 2, drops: 2 });
    // ...the counters the switch keeps for a (what vale-ctl lists).
    expect(vale).toEqual(valeCounters(da.kmem));
  });
});
