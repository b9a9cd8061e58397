/**
 * No lock a user or a dead thread can hold forever. A VALE destination's lease lock is a
 * SharedLock (shm/lock.ts): a holder that stays on it past LOCK_STALE_MS is taken over. A
 * lease left unfinished at the front of a destination's RX ring (its sender was killed
 * mid-copy) is revoked after the same time: its slots reach the receiver empty and later
 * packets pass. Senders that would hang on the old code run in workers, raced against a
 * generous hang guard, so a regression fails instead of hanging the suite.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { VL_LEASE, VL_LEASE_FIRST, VL_LOCK, VLR_STATE, valeRecordWord } from '../shm/layout.js';
import { LOCK_STALE_MS, SharedLock } from '../shm/lock.js';
import { valeCounters } from '../src/kernel/vale.js';
import { DestPort, leaseBase } from '../src/kernel/vale-lease.js';
import { Netmap } from '../src/netmap.js';
import { Port, type PortDescriptor, type ValeDescriptor } from '../src/port.js';
import { type InlineWorker, inlineWorker, prng, requireBuilt } from './helpers.js';

beforeAll(() => requireBuilt());

/** Far longer than any wait the code may take (LOCK_STALE_MS): only a hang reaches it. */
const HANG_GUARD_MS = 20_000;

const SEQ_BYTE = 14;
const mac = (n: number) => [2, 0, 0, 0, 0, n];
const BCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

/**
 * A sender in a worker: `batch` frames of `len` bytes (dst, src id, a sequence number) per
 * txsync, until the stop word (if any) is set; or, given `count`, that many in one txsync.
 * Posts 'running' after its first txsync and the number sent when it stops.
 */
const SENDER = `const { desc, len, batch, src, dst, stop, count } = workerData;
const port = lib.attachPort(desc);
const tx = port.tx;
const stopW = stop ? new Int32Array(stop) : null;
let seq = 0;
let first = true;
do {
  port.txsync();
  let k = tx.cur;
  for (let i = 0; i < (count ?? batch) && k !== tx.tail; i++) {
    const b = tx.buf(k);
    b.set(dst, 0);
    b.set([2, 0, 0, 0, 0, src], 6);
    new DataView(b.buffer, b.byteOffset).setUint32(${SEQ_BYTE}, seq++, true);
    tx.setLen(k, len);
    tx.setSlotFlags(k, 0);
    k = tx.next(k);
  }
  tx.advance(k);
  port.txsync();
  if (first) parentPort.postMessage('running');
  first = false;
} while (count === undefined && (stopW === null || Atomics.load(stopW, 0) === 0));
parentPort.postMessage(seq);
port.close();`;

function sender(
  desc: PortDescriptor,
  o: { len: number; batch: number; src: number; dst: number[] } & Record<string, unknown>,
): InlineWorker {
  return inlineWorker(SENDER, { desc, ...o });
}

/** The next message of `w`, or a failure once HANG_GUARD_MS pass (the worker is stuck). */
async function nextOrHang(w: InlineWorker, what: string): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${HANG_GUARD_MS} ms (hung)`)), HANG_GUARD_MS);
  });
  try {
    return await Promise.race([w.next(), guard]);
  } finally {
    clearTimeout(timer);
  }
}

/** Receives what arrived at `port`: frames from sender `src` as sequence numbers (others and empty slots skipped). */
function receiveFrom(port: Port, src: number): number[] {
  port.rxsync();
  const rx = port.rx;
  const out: number[] = [];
  for (let k = rx.cur; k !== rx.tail; k = rx.next(k)) {
    const b = rx.buf(k);
    if (rx.len(k) > 0 && b[11] === src) out.push(new DataView(b.buffer, b.byteOffset).getUint32(SEQ_BYTE, true));
  }
  rx.advance(rx.tail);
  port.rxsync();
  return out;
}

/** Gives back everything that arrived at `port` (unread). */
function drain(port: Port): void {
  port.rxsync();
  port.rx.advance(port.rx.tail);
  port.rxsync();
}

/** The lease block of a VALE port's RX ring, read from its kmem. */
function leaseState(desc: PortDescriptor, n: number): { lock: number; frontState: number } {
  const k = new Int32Array(desc.kmem);
  const lb = leaseBase();
  const first = k[lb + VL_LEASE_FIRST];
  const pending = first !== k[lb + VL_LEASE] >>> 16;
  return { lock: Atomics.load(k, lb + VL_LOCK), frontState: pending ? k[lb + valeRecordWord(n, VLR_STATE, first)] : 0 };
}

describe('VALE senders against a lock or a lease nobody releases', () => {
  it('a lease lock word a host app set and left is taken over: another sender delivers', async () => {
    const nm = new Netmap();
    const db = nm.register('vale0:b', { ringSize: 64 });
    const b = new Port(db);
    const da = nm.register('vale0:a', { ringSize: 64 });
    // A host app runs the kernel's code and holds kmem: it can write the lock word.
    Atomics.store(new Int32Array(db.kmem), leaseBase() + VL_LOCK, 0x1234567);
    const w = sender(da, { len: 60, batch: 0, count: 32, src: 1, dst: BCAST });
    try {
      expect(await nextOrHang(w, 'the sender')).toBe('running');
      expect(receiveFrom(b, 1)).toEqual(Array.from({ length: 32 }, (_, i) => i));
      expect(valeCounters(db.kmem).lockSpins).toBeGreaterThan(0);
    } finally {
      await w.worker.terminate();
      b.close();
      nm.close();
    }
  }, 60_000);

  it('a sender terminated holding a lease or the lock does not stop another sender: it delivers in order', async () => {
    const sizes = { ringSize: 256, bufSize: 8192 };
    const nm = new Netmap();
    const db = nm.register('vale0:b', sizes);
    const b = new Port(db);
    // b speaks first: the switch learns its MAC, so the senders' frames go to b alone.
    const tx = b.tx;
    tx.buf(tx.cur).set([...BCAST, ...mac(2)]);
    tx.setLen(tx.cur, 60);
    tx.advance(tx.next(tx.cur));
    b.txsync();
    // Big-frame senders, each terminated while b drains once a lease of it shows in b's
    // kmem (its copy of 128 x 8000 bytes is most of its time), or at a seeded moment;
    // until one dies inside a lease or holding the lock (termination is asynchronous).
    const rnd = prng(11);
    let caught = { lock: 0, frontState: 0 };
    for (let attempt = 0; attempt < 40 && caught.lock === 0 && caught.frontState <= 0; attempt++) {
      const w = sender(nm.register(`vale0:s${attempt}`, sizes), { len: 8000, batch: 128, src: 9, dst: mac(2) });
      expect(await nextOrHang(w, 'a big sender')).toBe('running');
      for (const end = performance.now() + 1 + rnd() * 8; performance.now() < end; ) {
        drain(b);
        if (leaseState(db, sizes.ringSize).frontState > 0) break;
      }
      await w.worker.terminate();
      caught = leaseState(db, sizes.ringSize);
    }
    expect(caught.lock !== 0 || caught.frontState > 0, 'no sender was caught inside a lease or the lock').toBe(true);
    const stop = new SharedArrayBuffer(4);
    const c = sender(nm.register('vale0:c', sizes), { len: 60, batch: 16, src: 3, dst: mac(2), stop });
    try {
      expect(await nextOrHang(c, 'the second sender')).toBe('running');
      const got: number[] = [];
      // A hang guard, not a timing assert: the stuck lease or lock goes after LOCK_STALE_MS.
      for (const end = performance.now() + HANG_GUARD_MS; got.length < 2000 && performance.now() < end; ) {
        got.push(...receiveFrom(b, 3));
      }
      expect(got.length).toBeGreaterThanOrEqual(2000);
      // In order: gaps are frames that found b's ring full (dropped, counted), never reordered.
      expect(got.every((s, i) => i === 0 || s > got[i - 1])).toBe(true);
      if (caught.frontState > 0) expect(valeCounters(db.kmem).revoked).toBeGreaterThanOrEqual(1);
      if (caught.lock !== 0) expect(leaseState(db, sizes.ringSize).lock).not.toBe(caught.lock);
    } finally {
      Atomics.store(new Int32Array(stop), 0, 1);
      await c.worker.terminate();
      b.close();
      nm.close();
    }
  }, 120_000);
});

describe('the lease protocol in one thread (two DestPorts on one port: two senders)', () => {
  const N = 64;

  /** A receiver port and two sender views of it: `dead` leases 5 slots and never completes. */
  function withDeadLease() {
    const nm = new Netmap();
    const desc = nm.register('vale0:r', { ringSize: N }) as ValeDescriptor;
    const rx = new Port(desc);
    const ref = { mem: desc.mem, kmem: desc.kmem, bell: desc.bells[0], serial: desc.serial };
    const dead = new DestPort(ref);
    const live = new DestPort(ref);
    const tok = dead.lock();
    expect(dead.room(5)).toBeGreaterThanOrEqual(5);
    const rec = dead.lease(5);
    const lease = { rec, tok: dead.leaseTok };
    dead.unlock(tok);
    return { nm, desc, rx, dead, live, lease };
  }

  /** What a sender does for `count` packets: lease, "copy" (seq in the buffer, len 60), complete. */
  function deliver(dp: DestPort, seq: number, count: number): void {
    let tok = dp.lock();
    expect(dp.room(count)).toBeGreaterThanOrEqual(count);
    const rec = dp.lease(count);
    const { leaseStart, leaseTok } = dp;
    dp.unlock(tok);
    for (let i = 0, j = leaseStart; i < count; i++, j = j + 1 === dp.n ? 0 : j + 1) {
      const s = dp.rxSlots + 2 * j;
      new DataView(dp.r.sab, dp.r.bufOffset(dp.r.i32[s])).setUint32(0, seq + i, true);
      dp.r.i32[s + 1] = 60;
    }
    tok = dp.lock();
    dp.complete(rec, leaseTok, count, 0);
    dp.unlock(tok);
  }

  /** The receiver's slots: -1 for an empty one, else the sequence number it carries. */
  function received(rx: Port): number[] {
    rx.rxsync();
    const r = rx.rx;
    const out: number[] = [];
    for (let k = r.cur; k !== r.tail; k = r.next(k)) {
      out.push(r.len(k) === 0 ? -1 : new DataView(r.mem.buffer, r.bufOffset(k)).getUint32(0, true));
    }
    r.advance(r.tail);
    rx.rxsync();
    return out;
  }

  const seqs = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

  it('an unfinished lease that is young holds later packets back (order is kept)', () => {
    const { nm, rx, live } = withDeadLease();
    deliver(live, 0, 8);
    // The first look at the front lease only starts its clock.
    expect(received(rx)).toEqual([]);
    rx.close();
    nm.close();
  });

  it('after the stale time the lease is revoked: its slots arrive empty, then the later packets in order', async () => {
    const { nm, desc, rx, live } = withDeadLease();
    deliver(live, 0, 8);
    await sleep(LOCK_STALE_MS + 50);
    deliver(live, 8, 8);
    expect(received(rx)).toEqual([-1, -1, -1, -1, -1, ...seqs(0, 16)]);
    expect(valeCounters(desc.kmem).revoked).toBe(1);
    rx.close();
    nm.close();
  });

  it('a sender whose lease was revoked counts its packets as drops and publishes nothing', async () => {
    const { nm, desc, rx, dead, live, lease } = withDeadLease();
    deliver(live, 0, 8);
    await sleep(LOCK_STALE_MS + 50);
    deliver(live, 8, 8);
    expect(received(rx)).toHaveLength(5 + 16);
    const before = valeCounters(desc.kmem);
    // The "dead" sender was only stalled: it comes back and completes its lease.
    const tok = dead.lock();
    dead.complete(lease.rec, lease.tok, 5, 0);
    dead.unlock(tok);
    const after = valeCounters(desc.kmem);
    expect(after.drops - before.drops).toBe(5);
    expect(after.rx).toBe(before.rx);
    expect(received(rx)).toEqual([]);
    rx.close();
    nm.close();
  });

  // Not only a sender's txsync folds leases: a sender that waits for an answer (ping)
  // may never send again, so the receiver's rxsync folds (and revokes a stale lease)
  // when leases are pending and its tail did not move.
  it('packets behind a dead lease reach the receiver even if nobody sends to it again', async () => {
    const { nm, rx } = withDeadLease();
    const s = nm.open('vale0:s', { ringSize: N });
    const tx = s.tx;
    let k = tx.cur;
    for (let i = 0; i < 4; i++, k = tx.next(k)) {
      new DataView(tx.mem.buffer, tx.bufOffset(k)).setUint32(0, 0xffffffff); // broadcast
      tx.setLen(k, 60);
    }
    tx.advance(k);
    s.txsync();
    try {
      expect(received(rx)).toEqual([]);
      await sleep(LOCK_STALE_MS + 50);
      expect(received(rx)).toEqual([-1, -1, -1, -1, -1, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff]);
    } finally {
      s.close();
      rx.close();
      nm.close();
    }
  });
});

describe('SharedLock', () => {
  const word = () => new Int32Array(new SharedArrayBuffer(4));

  /** tryLock until it succeeds; fails (instead of spinning forever) after HANG_GUARD_MS. */
  function tryUntilTaken(l: SharedLock): number {
    for (const end = performance.now() + HANG_GUARD_MS; performance.now() < end; ) {
      const t = l.tryLock();
      if (t !== 0) return t;
    }
    throw new Error('the lock was never taken over');
  }

  it('an uncontended lock is taken and given back at once', () => {
    const i32 = word();
    const l = new SharedLock(i32, 0);
    const t = l.lock();
    expect(t).not.toBe(0);
    expect(Atomics.load(i32, 0)).toBe(t);
    l.unlock(t);
    expect(Atomics.load(i32, 0)).toBe(0);
    expect([l.spins, l.steals]).toEqual([0, 0]);
  });

  it('a holder seen on the lock past the stale time is taken over, and the steal counted', () => {
    const i32 = word();
    Atomics.store(i32, 0, 777); // a holder that died with the lock
    const l = new SharedLock(i32, 0, 20);
    // The first look only starts the holder's clock: a live holder is never robbed at once.
    expect(l.tryLock()).toBe(0);
    const t = tryUntilTaken(l);
    expect(Atomics.load(i32, 0)).toBe(t);
    expect(l.steals).toBe(1);
  });

  it('a holder whose lock was taken over cannot free the new holder', () => {
    const i32 = word();
    const old = new SharedLock(i32, 0, 20);
    const stalled = old.lock();
    const taker = new SharedLock(i32, 0, 20);
    const t = tryUntilTaken(taker);
    old.unlock(stalled); // it comes back and gives back what it thinks it holds
    expect(Atomics.load(i32, 0)).toBe(t);
    taker.unlock(t);
    expect(Atomics.load(i32, 0)).toBe(0);
  });
});
