/**
 * Geometry is the kernel's: a passthrough guest holds its port's whole region and may
 * scribble the user's copy of the geometry in it (the region header, the netmap_if
 * blocks, the constant line of every ring header). The kernel reads only its own copy
 * (kernel memory), so other ports keep forwarding, later attaches work, and the next user
 * of a free interface (a host app, or a guest through passThrough) finds the user copy
 * rewritten.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  IF_NUM_RX,
  IF_NUM_TX,
  IF_RX_IDS,
  IF_TX_IDS,
  IF_WORDS,
  REGION_HEADER_BYTES,
  RH_IFS_OFS,
  RH_MAGIC,
  RH_NUM_IFS,
  RH_NUM_RINGS,
  RH_RINGS_OFS,
  RH_TOTAL_BYTES,
  RING_HDR_WORDS,
  RING_NUM_SLOTS,
  RING_SLOTS_OFS,
  WORDS_PER_LINE,
} from '../shm/layout.js';
import { Netmap } from '../src/netmap.js';
import { GuestPort } from '../src/passthrough/guest.js';
import { passThrough } from '../src/passthrough/hypervisor.js';
import { Kloop } from '../src/passthrough/kloop.js';
import { Port, type PortDescriptor } from '../src/port.js';
import type { NetmapRing } from '../src/ring.js';
import { inlineWorker, prng, requireBuilt } from './helpers.js';

beforeAll(() => requireBuilt());

let namespaces: Netmap[] = [];
let closers: Array<{ close(): void }> = [];
afterEach(() => {
  for (const c of closers.reverse()) c.close();
  for (const nm of namespaces) nm.close();
  closers = [];
  namespaces = [];
});
function ns(): Netmap {
  const nm = new Netmap();
  namespaces.push(nm);
  return nm;
}
function kept<T extends { close(): void }>(c: T): T {
  closers.push(c);
  return c;
}

// ---- the user's copy of the geometry ----

/**
 * Word indices of the user's copy of the geometry in a region: the header (lines 0 and 1),
 * the netmap_if blocks of `ifs` (default all) and the constant line of every ring header.
 * Read from the header before anything is scribbled.
 */
function geometryWords(mem: SharedArrayBuffer, ifs?: number[]): number[] {
  const w = new Int32Array(mem);
  const out: number[] = [];
  for (let i = 0; i < REGION_HEADER_BYTES / 4; i++) out.push(i);
  const which = ifs ?? Array.from({ length: w[RH_NUM_IFS] }, (_, i) => i);
  for (const i of which) for (let j = 0; j < IF_WORDS; j++) out.push(w[RH_IFS_OFS] / 4 + i * IF_WORDS + j);
  for (let id = 0; id < w[RH_NUM_RINGS]; id++) {
    for (let j = 0; j < WORDS_PER_LINE; j++) out.push(w[RH_RINGS_OFS] / 4 + id * RING_HDR_WORDS + j);
  }
  return out;
}

/**
 * Word indices of the geometry words a user of interface `ifIndex` reads (as netmap's
 * library does): the header's fields, the interface's ring counts and ids, and the
 * constant fields of its rings. The rest of those lines is unused.
 */
function definedWords(mem: SharedArrayBuffer, ifIndex: number): number[] {
  const w = new Int32Array(mem);
  const out: number[] = [];
  for (let i = RH_MAGIC; i <= RH_TOTAL_BYTES; i++) out.push(i);
  const f = w[RH_IFS_OFS] / 4 + ifIndex * IF_WORDS;
  out.push(f + IF_NUM_TX, f + IF_NUM_RX);
  const ids: number[] = [];
  for (const [first, count] of [
    [IF_TX_IDS, w[f + IF_NUM_TX]],
    [IF_RX_IDS, w[f + IF_NUM_RX]],
  ]) {
    for (let j = 0; j < count; j++) {
      out.push(f + first + j);
      ids.push(w[f + first + j]);
    }
  }
  for (const id of ids) {
    for (let j = RING_NUM_SLOTS; j <= RING_SLOTS_OFS; j++) out.push(w[RH_RINGS_OFS] / 4 + id * RING_HDR_WORDS + j);
  }
  return out;
}

/** The values of `words` now. */
function wordValues(mem: SharedArrayBuffer, words: number[]): number[] {
  const w = new Int32Array(mem);
  return words.map((i) => w[i]);
}

/**
 * What a guest does to the geometry it holds: every word gets a seeded value other than
 * its own, half of them off by a little (plausible-looking), half anything at all.
 */
function scribble(mem: SharedArrayBuffer, words: number[], seed: number): void {
  const w = new Int32Array(mem);
  const rnd = prng(seed);
  for (const i of words) {
    const near = rnd() < 0.5;
    const v = near ? w[i] + 1 + Math.floor(rnd() * 7) : Math.floor(rnd() * 2 ** 32) | 0;
    w[i] = v === w[i] ? v + 1 : v;
  }
}

// ---- frames: broadcast, the sender's id in the source MAC, a sequence number after the header ----

interface Endpoint {
  readonly txRings: readonly NetmapRing[];
  readonly rxRings: readonly NetmapRing[];
  txsync(): unknown;
  rxsync(): unknown;
}
const FRAME_LEN = 60;
const SEQ_BYTE = 14;

/** Sends `count` frames from sender `src` with sequence numbers from `seq`. */
function sendFrames(ep: Endpoint, src: number, seq: number, count: number): void {
  ep.txsync();
  const tx = ep.txRings[0];
  expect(tx.space(), 'test bug: no room in the TX ring').toBeGreaterThanOrEqual(count);
  let k = tx.cur;
  for (let i = 0; i < count; i++) {
    const b = tx.buf(k);
    b.fill(0xff, 0, 6);
    b.set([0x02, 0, 0, 0, 0, src], 6);
    new DataView(b.buffer, b.byteOffset).setUint32(SEQ_BYTE, seq + i, true);
    tx.setLen(k, FRAME_LEN);
    tx.setSlotFlags(k, 0);
    k = tx.next(k);
  }
  tx.advance(k);
  ep.txsync();
}

/** Takes everything that arrived as "src:seq" strings and gives the slots back. */
function recvFrames(ep: Endpoint): string[] {
  ep.rxsync();
  const rx = ep.rxRings[0];
  const out: string[] = [];
  for (let k = rx.cur; k !== rx.tail; k = rx.next(k)) {
    const b = rx.buf(k);
    out.push(`${b[11]}:${new DataView(b.buffer, b.byteOffset).getUint32(SEQ_BYTE, true)}`);
  }
  rx.advance(rx.tail);
  ep.rxsync();
  return out;
}

function frames(src: number, seq: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${src}:${seq + i}`);
}

/** A guest's endpoint: every sync also runs its kloop's pass (the host side of the port). */
function viaKloop(guest: GuestPort, k: Kloop): Endpoint {
  return {
    txRings: guest.txRings,
    rxRings: guest.rxRings,
    txsync: () => {
      guest.txsync();
      k.step();
      guest.txsync();
    },
    rxsync: () => {
      guest.rxsync();
      k.step();
      guest.rxsync();
    },
  };
}

const A = 1;
const B = 2;
const G = 3;
const C = 4;

/** Rounds of traffic both ways between `x` and `y` (sender ids sx, sy), every frame in order. */
function expectExchange(x: Endpoint, sx: number, y: Endpoint, sy: number): void {
  for (let round = 0; round < 8; round++) {
    sendFrames(x, sx, round * 16, 16);
    expect(recvFrames(y)).toEqual(frames(sx, round * 16, 16));
    sendFrames(y, sy, round * 16, 16);
    expect(recvFrames(x)).toEqual(frames(sy, round * 16, 16));
  }
}

/**
 * A host app on VALE port `desc` in a worker, sender id `src`: sends frames or receives
 * them (as "src:seq") when asked. A throw in its syncs fails the call that asked.
 */
async function peerWorker(desc: PortDescriptor, src: number) {
  const w = inlineWorker(
    `const port = lib.attachPort(workerData.desc);
const view = (b) => new DataView(b.buffer, b.byteOffset);
parentPort.on('message', (m) => {
  if (m.send !== undefined) {
    port.txsync();
    const tx = port.tx;
    let k = tx.cur;
    for (let i = 0; i < m.send; i++) {
      const b = tx.buf(k);
      b.fill(0xff, 0, 6);
      b.set([2, 0, 0, 0, 0, workerData.src], 6);
      view(b).setUint32(${SEQ_BYTE}, m.seq + i, true);
      tx.setLen(k, ${FRAME_LEN});
      tx.setSlotFlags(k, 0);
      k = tx.next(k);
    }
    tx.advance(k);
    port.txsync();
    parentPort.postMessage('sent');
  } else {
    const got = [];
    while (got.length < m.recv && port.poll(lib.POLLIN, 10000) !== 0) {
      const rx = port.rx;
      for (let j = rx.cur; j !== rx.tail; j = rx.next(j)) got.push(rx.buf(j)[11] + ':' + view(rx.buf(j)).getUint32(${SEQ_BYTE}, true));
      rx.advance(rx.tail);
      port.rxsync();
    }
    parentPort.postMessage(got);
  }
});
parentPort.postMessage('attached');`,
    { desc, src },
  );
  expect(await w.next()).toBe('attached');
  return {
    send: async (seq: number, count: number) => {
      w.worker.postMessage({ send: count, seq });
      expect(await w.next()).toBe('sent');
    },
    recv: (count: number) => {
      w.worker.postMessage({ recv: count });
      return w.next();
    },
    stop: () => w.worker.terminate(),
  };
}

describe('VALE: a guest that scribbles its geometry hurts only itself', () => {
  /** Port a (a host app here) and port g (registered: for a guest). */
  function setup() {
    const nm = ns();
    const a = kept(nm.open('vale0:a', { ringSize: 64 }));
    const g = nm.register('vale0:g', { ringSize: 64 });
    return { nm, a, g };
  }

  it('a port of another thread keeps forwarding to and from the scribbled port', async () => {
    const nm = ns();
    const b = kept(nm.open('vale0:b', { ringSize: 64 }));
    // Attached before g exists: its first sync after the scribble meets g (the old kernel
    // read g's geometry from the region then, and threw).
    const w = await peerWorker(nm.register('vale0:a', { ringSize: 64 }), A);
    try {
      const g = nm.register('vale0:g', { ringSize: 64 });
      const pt = passThrough(g);
      const gp = viaKloop(new GuestPort(pt.guest), kept(new Kloop(pt.kloop)));
      scribble(pt.guest.mem, geometryWords(pt.guest.mem), 1);
      for (let round = 0; round < 4; round++) {
        await w.send(round * 16, 16);
        expect(recvFrames(b)).toEqual(frames(A, round * 16, 16));
        expect(recvFrames(gp)).toEqual(frames(A, round * 16, 16));
        // The guest's driver read its geometry before the scribble; the switch never reads it.
        sendFrames(gp, G, round * 16, 16);
        expect(await w.recv(16)).toEqual(frames(G, round * 16, 16));
        expect(recvFrames(b)).toEqual(frames(G, round * 16, 16));
      }
    } finally {
      await w.stop();
    }
  }, 30_000);

  it('a port registered and attached in another thread after the scribble attaches and forwards', async () => {
    const { nm, a, g } = setup();
    const pt = passThrough(g);
    const gp = viaKloop(new GuestPort(pt.guest), kept(new Kloop(pt.kloop)));
    scribble(pt.guest.mem, geometryWords(pt.guest.mem), 2);
    // A new thread makes its views of every port of the switch, the scribbled one included.
    const w = await peerWorker(nm.register('vale0:c', { ringSize: 64 }), C);
    try {
      await w.send(0, 16);
      expect(recvFrames(a)).toEqual(frames(C, 0, 16));
      expect(recvFrames(gp)).toEqual(frames(C, 0, 16));
      sendFrames(gp, G, 0, 16);
      expect(await w.recv(16)).toEqual(frames(G, 0, 16));
      expect(recvFrames(a)).toEqual(frames(G, 0, 16));
    } finally {
      await w.stop();
    }
  }, 30_000);

  // A VALE port leaves its switch with its last user, so the same port is passed through
  // again only if its first guest never got a kloop (its VM died first).
  it('a new passThrough of a port whose first guest scribbled it gives a guest that works', () => {
    const { a, g } = setup();
    const first = passThrough(g);
    const words = definedWords(g.mem, g.ifIndex);
    const good = wordValues(g.mem, words);
    scribble(first.guest.mem, geometryWords(first.guest.mem), 3);
    const again = passThrough(g);
    expect(wordValues(again.guest.mem, words)).toEqual(good);
    const guest = new GuestPort(again.guest);
    expectExchange(viaKloop(guest, kept(new Kloop(again.kloop))), G, a, A);
  });

  it('a host app attaching a port whose guest scribbled it works and finds the user copy rewritten', () => {
    const { a, g } = setup();
    const pt = passThrough(g);
    const words = definedWords(g.mem, g.ifIndex);
    const good = wordValues(g.mem, words);
    scribble(pt.guest.mem, geometryWords(pt.guest.mem), 4);
    const app = kept(new Port(g));
    expect(wordValues(g.mem, words)).toEqual(good);
    expectExchange(app, G, a, A);
  });
});

describe('pipes: a guest that scribbles the geometry hurts only itself', () => {
  it('the other end keeps forwarding to and from an end whose guest scribbled the whole region', () => {
    const nm = ns();
    const g = nm.register('gp{', { ringSize: 64 });
    const peer = kept(nm.open('gp}'));
    const pt = passThrough(g);
    const guest = new GuestPort(pt.guest);
    const k = kept(new Kloop(pt.kloop));
    // The guest holds the pipe's whole region: the peer's netmap_if and rings too.
    scribble(pt.guest.mem, geometryWords(pt.guest.mem), 5);
    expectExchange(viaKloop(guest, k), G, peer, B);
  });

  it('the other end attached after the scribble attaches and forwards', () => {
    const nm = ns();
    const g = nm.register('gp{', { ringSize: 64 });
    const pt = passThrough(g);
    const guest = new GuestPort(pt.guest);
    const k = kept(new Kloop(pt.kloop));
    scribble(pt.guest.mem, geometryWords(pt.guest.mem), 6);
    const peer = kept(nm.open('gp}'));
    expectExchange(viaKloop(guest, k), G, peer, B);
  });

  it('after the scribbling guest is gone, a new passThrough of its end gives a guest that works', () => {
    const nm = ns();
    const g = nm.register('gp{', { ringSize: 64 });
    const peer = kept(nm.open('gp}'));
    const first = passThrough(g);
    const words = definedWords(g.mem, g.ifIndex);
    const good = wordValues(g.mem, words);
    const k1 = new Kloop(first.kloop);
    // The header, its own end's netmap_if (the peer's: see the last test), every ring's constants.
    scribble(first.guest.mem, geometryWords(first.guest.mem, [g.ifIndex]), 7);
    k1.close();
    const again = passThrough(g);
    expect(wordValues(again.guest.mem, words)).toEqual(good);
    const guest = new GuestPort(again.guest);
    expectExchange(viaKloop(guest, kept(new Kloop(again.kloop))), G, peer, B);
  });

  it('after the guests are gone, a host app opening the end works and finds its user copy rewritten', () => {
    const nm = ns();
    const g = nm.register('gp{', { ringSize: 64 });
    const peer = kept(nm.open('gp}'));
    const pt = passThrough(g);
    const words = definedWords(g.mem, g.ifIndex);
    const good = wordValues(g.mem, words);
    const k = new Kloop(pt.kloop);
    // Everything, the peer's netmap_if included: a host app reads none of it.
    scribble(pt.guest.mem, geometryWords(pt.guest.mem), 8);
    k.close();
    const app = kept(nm.open('gp{'));
    expect(wordValues(g.mem, words)).toEqual(good);
    expectExchange(app, A, peer, B);
  });

  // A guest reads every netmap_if of the region (Geometry.readUser): the reinit at
  // passThrough and at the first attach rewrites all of them, not only the end attached
  // (constants like the header: harmless to the other end, in use).
  it("after a guest scribbled the other end's netmap_if, a new passThrough of its end gives a guest that works", () => {
    const nm = ns();
    const g = nm.register('gp{', { ringSize: 64 });
    const peer = kept(nm.open('gp}'));
    const first = passThrough(g);
    const k1 = new Kloop(first.kloop);
    scribble(first.guest.mem, geometryWords(first.guest.mem, [1 - g.ifIndex]), 9);
    k1.close();
    const again = passThrough(g);
    const guest = new GuestPort(again.guest);
    expectExchange(viaKloop(guest, kept(new Kloop(again.kloop))), G, peer, B);
  });
});
