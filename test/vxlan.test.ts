/**
 * VXLAN ports of a VALE switch (src/vxlan/): the wire format, the options, and frames
 * through the switch between loopback UDP sockets standing in for the remote tunnel
 * endpoints (127.0.0.2, .3, ... are the remotes' addresses; no root needed). The
 * endpoint thread starts from dist/ (npm run build).
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NS_MOREFRAG } from '../shm/layout.js';
import { NetmapError } from '../src/errors.js';
import { Netmap } from '../src/netmap.js';
import type { Port } from '../src/port.js';
import { attachVxlan, checkVxlanOptions, type VxlanHandle, type VxlanOptions } from '../src/vxlan/attach.js';
import {
  BAD_FLAGS,
  BAD_SHORT,
  checkHeader,
  decapsulate,
  encapsulate,
  encodeHeader,
  maxFrameFor,
  parseRemoteSpec,
  parseUdpAddress,
} from '../src/vxlan/wire.js';
import { cli, expectCode } from './helpers.js';

const WORKER = fileURLToPath(new URL('../dist/src/vxlan/worker.js', import.meta.url));
const CLI = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));

describe('layers', () => {
  it('nothing below src/vxlan (shm, the kernel, ports, apps, the browser entry) imports it', () => {
    const root = fileURLToPath(new URL('..', import.meta.url));
    const below = ['shm', 'src/kernel', 'src/apps', 'src/passthrough', 'src/emulated']
      .flatMap((d) =>
        readdirSync(join(root, d), { recursive: true, encoding: 'utf8' })
          .filter((f) => f.endsWith('.ts'))
          .map((f) => join(d, f)),
      )
      .concat(['src/port.ts', 'src/ring.ts', 'src/netmap.ts', 'src/browser.ts']);
    expect(below).toContain('src/kernel/vale.ts');
    const bad: string[] = [];
    for (const f of below) {
      for (const imp of ts.preProcessFile(readFileSync(join(root, f), 'utf8'), true, true).importedFiles) {
        if (!imp.fileName.startsWith('.')) continue;
        const target = relative(root, resolve(dirname(join(root, f)), imp.fileName))
          .split(sep)
          .join('/');
        if (target.startsWith('src/vxlan/')) bad.push(`${f}: ${imp.fileName}`);
      }
    }
    expect(bad).toEqual([]);
  });
});

describe('the package entry', () => {
  it('exports attachVxlan and the wire helpers', async () => {
    const api = await import('../src/index.js');
    for (const name of ['attachVxlan', 'vxlanEncapsulate', 'vxlanDecapsulate', 'VXLAN_PORT', 'DEFAULT_VNI']) {
      expect(api, name).toHaveProperty(name);
    }
    expect(api.DEFAULT_VNI).toBe(42);
  });
});

describe('VXLAN wire format (RFC 7348)', () => {
  it('encodes the I flag, the VNI big-endian and zero reserved bits', () => {
    expect([...encodeHeader(0x123456)]).toEqual([0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0]);
  });

  it('decodes what it encodes, at both ends of the 24-bit VNI', () => {
    const frame = new Uint8Array(60).map((_, i) => i);
    for (const vni of [0, 42, 0xffffff]) {
      const d = decapsulate(encapsulate(vni, frame));
      expect(d).toEqual({ vni, frame });
    }
  });

  it('names a short datagram and one without the I flag, and ignores the reserved bits', () => {
    const ok = encapsulate(7, new Uint8Array(14));
    expect(checkHeader(ok, ok.length)).toBe(7);
    expect(checkHeader(ok, 8 + 13)).toBe(BAD_SHORT);
    const noI = ok.slice();
    noI[0] = 0x00;
    expect(checkHeader(noI, noI.length)).toBe(BAD_FLAGS);
    const reserved = ok.slice();
    reserved[0] = 0xff;
    reserved[1] = 0xff;
    reserved[7] = 0xff;
    expect(checkHeader(reserved, reserved.length)).toBe(7);
  });

  it('the largest frame an MTU carries: 1464 bytes over IPv4 at 1500 (inner MTU 1450), 1444 over IPv6', () => {
    expect(maxFrameFor(1500, 4)).toBe(1464);
    expect(maxFrameFor(1500, 6)).toBe(1444);
    expect(maxFrameFor(9000, 4)).toBe(8964);
  });

  it('parses ADDR:PORT, [IPv6]:PORT and NAME=ADDR:PORT,vni=N', () => {
    expect(parseUdpAddress('10.0.0.1:4790', 'x', 4789)).toEqual({ address: '10.0.0.1', port: 4790 });
    expect(parseUdpAddress('10.0.0.1', 'x', 4789)).toEqual({ address: '10.0.0.1', port: 4789 });
    expect(parseUdpAddress('[fd00::1]:5', 'x', 4789)).toEqual({ address: 'fd00::1', port: 5 });
    expect(parseUdpAddress('fd00::1', 'x', 4789)).toEqual({ address: 'fd00::1', port: 4789 });
    expect(parseRemoteSpec('b=10.0.0.3:4789,vni=7')).toEqual({ name: 'b', address: '10.0.0.3', port: 4789, vni: 7 });
  });

  it('refuses bad addresses, ports, VNIs and options with EINVAL naming them', () => {
    expect(expectCode(() => parseUdpAddress('host.example:4789', 'local', 4789), 'EINVAL').message).toContain(
      'not an IP address',
    );
    expect(expectCode(() => parseUdpAddress('10.0.0.1:70000', 'local', 4789), 'EINVAL').message).toContain('70000');
    expect(expectCode(() => parseRemoteSpec('a=10.0.0.2,vni=16777216'), 'EINVAL').message).toContain('16777215');
    expect(expectCode(() => parseRemoteSpec('a=10.0.0.2,ttl=3'), 'EINVAL').message).toContain('ttl=3');
    expect(expectCode(() => parseRemoteSpec('10.0.0.2:4789'), 'EINVAL').message).toContain('NAME=ADDR:PORT');
    expect(expectCode(() => parseRemoteSpec('a-b=10.0.0.2'), 'EINVAL').message).toContain('a-b');
  });
});

describe('attachVxlan options', () => {
  const base: VxlanOptions = { local: '127.0.0.1:0', remotes: [{ name: 'a', address: '127.0.0.2', port: 4789 }] };
  const bad = (sw: string, o: Partial<VxlanOptions>) => () => checkVxlanOptions(sw, { ...base, ...o });

  it('refuses endpoint threads other than 1 or 2', () => {
    const e = expectCode(bad('vale0', { threads: 3 as never }), 'EINVAL');
    expect(e.message).toContain('threads must be 1 or 2');
  });

  it('refuses a remote named twice', () => {
    const e = expectCode(bad('vale0', { remotes: ['a=127.0.0.2:4789', 'a=127.0.0.3:4789'] }), 'EINVAL');
    expect(e.message).toContain('named twice');
  });

  it('refuses a VNI outside 0..2^24-1', () => {
    expectCode(bad('vale0', { vni: -1 }), 'EINVAL');
    expectCode(bad('vale0', { remotes: [{ name: 'a', address: '127.0.0.2', vni: 1 << 24 }] }), 'EINVAL');
  });

  it('refuses bad addresses, a remote of the other IP family, and two remotes it could not tell apart', () => {
    expectCode(bad('vale0', { local: 'localhost:4789' }), 'EINVAL');
    expectCode(bad('vale0', { remotes: [{ name: 'a', address: '127.0.0.2', port: 0 }] }), 'EINVAL');
    expect(expectCode(bad('vale0', { remotes: ['a=[::1]:4789'] }), 'EINVAL').message).toContain('family');
    const same = expectCode(bad('vale0', { remotes: ['a=127.0.0.2:4789', 'b=127.0.0.2:4790'] }), 'EINVAL');
    expect(same.message).toContain('told apart');
    // Same address, other VNIs: told apart by the VNI.
    expect(() =>
      checkVxlanOptions('vale0', { ...base, remotes: ['a=127.0.0.2:4789', 'b=127.0.0.2:4790,vni=9'] }),
    ).not.toThrow();
  });

  it('refuses no remote, a bad switch name, an MTU with no room for a frame or one whose frames a ring cannot hold', () => {
    expectCode(bad('vale0', { remotes: [] }), 'EINVAL');
    expectCode(bad('pipe0', {}), 'EINVAL');
    expectCode(bad('vale0', { mtu: 90 }), 'EINVAL');
    expectCode(bad('vale0', { wake: 'spin' as never }), 'EINVAL');
    // 9000 - 36 bytes in 2048-byte buffers is 5 slots: a ring of 4 (3 usable) cannot hold one.
    expect(expectCode(bad('vale0', { mtu: 9000, ringSize: 4 }), 'EINVAL').message).toContain('5 buffers');
    expect(() => checkVxlanOptions('vale0', { ...base, mtu: 9000, ringSize: 8 })).not.toThrow();
  });

  it('makes no port when it refuses', async () => {
    const nm = new Netmap();
    await expect(attachVxlan(nm, 'vale0', { ...base, remotes: ['a=127.0.0.2', 'a=127.0.0.3'] })).rejects.toThrow(
      NetmapError,
    );
    expect(nm.valeCtl()).toEqual([]);
  });
});

// ---- frames through the switch, between loopback sockets ----

type Mac = number[];
const macOf = (n: number): Mac => [0x02, 0, 0, 0, 0, n];
const BCAST: Mac = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

function frame(dst: Mac, src: Mac, len: number, tag = 0): Uint8Array {
  const f = new Uint8Array(len);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = 0x08;
  for (let i = 14; i < len; i++) f[i] = (i * 7 + tag) & 0xff;
  return f;
}

interface Peer {
  sock: dgram.Socket;
  address: string;
  port: number;
  got: Buffer[];
}

async function peer(address: string): Promise<Peer> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, address, () => r()));
  const p: Peer = { sock, address, port: sock.address().port, got: [] };
  sock.on('message', (m) => p.got.push(m));
  return p;
}

/** Waits until `cond` holds (fails after `ms`: no progress, never a timing claim). */
async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A received datagram's parts, the frame as a plain Uint8Array (comparable with the one sent). */
function decap(b: Buffer): unknown {
  const d = decapsulate(new Uint8Array(b));
  return 'frame' in d ? { vni: d.vni, frame: new Uint8Array(d.frame) } : d;
}

/** Retries `check` (expects) until it passes: counters a thread updates after the fact. */
async function eventually(check: () => void, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      check();
      return;
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

function sendTo(from: Peer, h: VxlanHandle, bytes: Uint8Array): void {
  from.sock.send(bytes, h.local.port, h.local.address);
}

/** Sends one frame from `port` (a host port in this thread) through its TX ring. */
function portSend(port: Port, f: Uint8Array): void {
  const ring = port.tx;
  const cur = ring.cur;
  ring.buf(cur).set(f);
  ring.setLen(cur, f.length);
  ring.advance(ring.next(cur));
  port.txsync();
}

describe('VXLAN ports through the switch (loopback UDP)', () => {
  beforeAll(() => {
    if (!existsSync(WORKER)) throw new Error(`${WORKER} is missing: run 'npm run build' first`);
  });

  let open: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const f of open.reverse()) await f();
    open = [];
  });

  /** A switch with one VXLAN port per peer (names a, b, c...), and the peers. */
  async function rig(
    n: number,
    o: Partial<VxlanOptions> = {},
    vnis: number[] = [],
  ): Promise<{ nm: Netmap; h: VxlanHandle; peers: Peer[] }> {
    const peers: Peer[] = [];
    for (let i = 0; i < n; i++) peers.push(await peer(`127.0.0.${i + 2}`));
    const nm = new Netmap();
    const h = await attachVxlan(nm, 'vale0', {
      local: '127.0.0.1:0',
      remotes: peers.map((p, i) => ({
        name: String.fromCharCode(97 + i),
        address: p.address,
        port: p.port,
        ...(vnis[i] === undefined ? {} : { vni: vnis[i] }),
      })),
      ...o,
    });
    open.push(() => {
      for (const p of peers) p.sock.close();
    });
    open.push(async () => {
      await h.close();
      nm.close();
    });
    return { nm, h, peers };
  }

  it.each([1, 2] as const)(
    'a broadcast from one remote leaves to every other remote as one datagram with its VNI, and reaches a local port (%i endpoint thread(s))',
    async (threads) => {
      const { nm, h, peers } = await rig(3, { threads }, [42, 7, 9]);
      expect(h.stats().endpoint.threads.map((t) => t.role)).toEqual(threads === 2 ? ['in', 'out'] : ['both']);
      const local = nm.open('vale0:local');
      open.push(() => local.close());
      const f = frame(BCAST, macOf(1), 100);
      sendTo(peers[0], h, encapsulate(42, f));
      await until(() => peers[1].got.length === 1 && peers[2].got.length === 1, 'the flooded copies');
      expect(decap(peers[1].got[0])).toEqual({ vni: 7, frame: f });
      expect(decap(peers[2].got[0])).toEqual({ vni: 9, frame: f });
      expect(peers[0].got).toEqual([]);
      local.rxsync();
      expect(local.rx.len(local.rx.cur)).toBe(100);
      expect([...local.rx.buf(local.rx.cur).subarray(0, 100)]).toEqual([...f]);
      // A send is counted once the kernel took it (its callback, just after).
      await eventually(() => expect(h.stats().remotes.map((r) => r.out.frames)).toEqual([0, 1, 1]));
      expect(h.stats().macs).toEqual([{ mac: '02:00:00:00:00:01', port: 'vale0:a' }]);
    },
  );

  it('with two endpoint threads, a datagram sent back to the source port of ours is dropped and counted (toSender)', async () => {
    const { h, peers } = await rig(2, { threads: 2 });
    let from = 0;
    peers[1].sock.on('message', (_m, rinfo) => {
      from = rinfo.port;
    });
    sendTo(peers[0], h, encapsulate(42, frame(BCAST, macOf(1), 60)));
    await until(() => from !== 0, 'the flooded copy at b');
    // b answers to the port the datagram came from (the outbound half's connected socket).
    peers[1].sock.send(encapsulate(42, frame(macOf(1), macOf(2), 60)), from, h.local.address);
    await eventually(() => expect(h.stats().remotes[1].in.drops.toSender).toBe(1));
    expect(h.stats().remotes[1].in.frames).toBe(0);
    expect(peers[0].got).toEqual([]);
  });

  it('unicast to a learned MAC goes only to the port it was learned on', async () => {
    const { h, peers } = await rig(3);
    // b speaks first: its MAC is learned on vale0:b.
    sendTo(peers[1], h, encapsulate(42, frame(BCAST, macOf(2), 60)));
    await until(() => peers[0].got.length === 1 && peers[2].got.length === 1, 'the broadcast');
    sendTo(peers[0], h, encapsulate(42, frame(macOf(2), macOf(1), 80, 1)));
    await until(() => peers[1].got.length === 1, 'the unicast');
    await eventually(() => expect(h.stats().remotes.map((r) => r.out.frames)).toEqual([1, 1, 1]));
    expect(peers[2].got.length).toBe(1);
    expect(h.stats().macs).toEqual([
      { mac: '02:00:00:00:00:01', port: 'vale0:a' },
      { mac: '02:00:00:00:00:02', port: 'vale0:b' },
    ]);
  });

  it('counts every drop reason: short, no I flag, another VNI, unknown source, over the MTU', async () => {
    const { h, peers } = await rig(2, { mtu: 600 });
    const stranger = await peer('127.0.0.9');
    open.push(() => void stranger.sock.close());
    const f = frame(BCAST, macOf(1), 60);
    sendTo(peers[0], h, encapsulate(42, f).subarray(0, 8 + 13)); // short
    const noI = encapsulate(42, f);
    noI[0] = 0;
    sendTo(peers[0], h, noI); // no I flag
    sendTo(peers[0], h, encapsulate(43, f)); // another VNI
    sendTo(stranger, h, encapsulate(42, f)); // unknown source
    sendTo(peers[0], h, encapsulate(42, frame(BCAST, macOf(1), 600 - 36 + 1))); // over the MTU
    sendTo(peers[0], h, encapsulate(42, frame(BCAST, macOf(1), 600 - 36))); // just fits
    const handled = () => {
      const s = h.stats();
      const r = s.remotes[0].in;
      return s.endpoint.unknownSource + r.frames + Object.values(r.drops).reduce((a, b) => a + b, 0);
    };
    await until(() => handled() === 6, 'six datagrams handled');
    await until(() => peers[1].got.length === 1, 'the one good frame');
    const s = h.stats();
    expect(s.endpoint.unknownSource).toBe(1);
    expect(s.remotes[0].in).toEqual({
      frames: 1,
      bytes: 564,
      drops: { short: 1, flags: 1, vni: 1, tooBig: 1, ringFull: 0, toSender: 0 },
    });
    // Every datagram is accounted for: handed to the switch or dropped for a reason.
    const r = s.remotes[0].in;
    const dropped = Object.values(r.drops).reduce((a, b) => a + b, 0);
    expect(r.frames + dropped + s.endpoint.unknownSource).toBe(s.endpoint.datagrams);
    expect(s.remotes[0].vale?.tx).toBe(1);
  });

  it('a frame from the switch larger than the MTU allows is dropped and counted, not sent', async () => {
    const { nm, h, peers } = await rig(1, { mtu: 600 });
    const local = nm.open('vale0:local');
    open.push(() => local.close());
    portSend(local, frame(BCAST, macOf(5), 565)); // mtu - 36 + 1
    portSend(local, frame(BCAST, macOf(5), 564));
    await until(() => h.stats().remotes[0].out.frames === 1 && h.stats().remotes[0].out.drops.tooBig === 1, 'both');
    await until(() => peers[0].got.length === 1, 'the frame that fits');
    expect(peers[0].got[0].length).toBe(8 + 564);
    expect(h.stats().remotes[0].vale?.rx).toBe(2);
  });

  it('a frame longer than a buffer crosses as an NS_MOREFRAG chain and leaves as one datagram', async () => {
    const { nm, h, peers } = await rig(2, { bufSize: 256 });
    const local = nm.open('vale0:local', { bufSize: 256 });
    open.push(() => local.close());
    const f = frame(BCAST, macOf(1), 1200, 3);
    sendTo(peers[0], h, encapsulate(42, f));
    await until(() => peers[1].got.length === 1, 'the long frame');
    expect(decap(peers[1].got[0])).toEqual({ vni: 42, frame: f });
    // The local port got it as ceil(1200 / 256) = 5 slots, all but the last with NS_MOREFRAG.
    local.rxsync();
    const rx = local.rx;
    const slots: Array<[number, boolean]> = [];
    for (let k = rx.cur; k !== rx.tail; k = rx.next(k)) slots.push([rx.len(k), (rx.slotFlags(k) & NS_MOREFRAG) !== 0]);
    expect(slots).toEqual([
      [256, true],
      [256, true],
      [256, true],
      [256, true],
      [176, false],
    ]);
  });

  it('a burst larger than the TX ring all gets through: a full ring is synced at once', async () => {
    // vale0:a has 8 slots (7 usable); libuv hands over up to 32 datagrams a turn.
    const { nm, h, peers } = await rig(1, { ringSize: 8 });
    const local = nm.open('vale0:local', { ringSize: 1024 });
    open.push(() => local.close());
    const n = 200;
    for (let i = 0; i < n; i++) sendTo(peers[0], h, encapsulate(42, frame(BCAST, macOf(1), 64, i)));
    await until(() => h.stats().endpoint.datagrams === n, `${n} datagrams`);
    await until(() => h.stats().remotes[0].vale?.tx === n, `${n} frames into the switch`);
    local.rxsync();
    const rx = local.rx;
    const tags: number[] = [];
    for (let k = rx.cur; k !== rx.tail; k = rx.next(k)) tags.push((rx.buf(k)[14] - 14 * 7) & 0xff);
    expect(tags).toEqual(Array.from({ length: n }, (_, i) => i & 0xff));
    expect(h.stats().remotes[0].in.drops.ringFull).toBe(0);
  });

  it('an unreachable remote counts its errors and the other ports keep forwarding', async () => {
    const { nm, h, peers } = await rig(2);
    // Remote c: an address with nobody listening (ICMP port unreachable comes back).
    const gone = await peer('127.0.0.4');
    const port = gone.port;
    await new Promise<void>((r) => gone.sock.close(() => r()));
    // A second endpoint on the same switch, for c.
    const h2 = await attachVxlan(nm, 'vale0', {
      local: '127.0.0.1:0',
      remotes: [{ name: 'c', address: '127.0.0.4', port }],
    });
    open.push(() => h2.close());
    const n = 50;
    for (let i = 0; i < n; i++) {
      sendTo(peers[0], h, encapsulate(42, frame(BCAST, macOf(1), 60, i)));
      // One at a time: each frame's ICMP error has come back before the next is sent.
      await until(() => peers[1].got.length === i + 1, `frame ${i}`);
    }
    await until(() => {
      const c = h2.stats().remotes[0].out;
      return c.frames + c.drops.sendError === n;
    }, 'the sends to c');
    const c = h2.stats().remotes[0];
    // The kernel reports the ICMP errors on c's socket: at a send (that frame is lost) or
    // as an 'error' event, whichever comes first.
    expect(c.out.unreachable).toBeGreaterThan(0);
    expect(peers[1].got.length).toBe(n);
    await eventually(() => expect(h.stats().remotes[1].out.frames).toBe(n));
  });

  it.each(['async', 'poll'] as const)(
    'frames another thread sends into the switch reach the remote (wake %s)',
    async (wake) => {
      const { nm, h, peers } = await rig(1, { wake });
      const local = nm.open('vale0:local');
      open.push(() => local.close());
      const n = 300;
      for (let i = 0; i < n; i++) {
        portSend(local, frame(BCAST, macOf(5), 60, i));
        // Now and then let the endpoint run dry, so it must be woken again.
        if (i % 50 === 0) await until(() => peers[0].got.length === i + 1, `frame ${i}`);
      }
      await until(() => peers[0].got.length === n, `${n} frames`);
      await eventually(() => expect(h.stats().remotes[0].out.frames).toBe(n));
    },
  );

  it('close() takes its ports off the switch and frees the address', async () => {
    const peers = [await peer('127.0.0.2')];
    open.push(() => void peers[0].sock.close());
    const nm = new Netmap();
    const h = await attachVxlan(nm, 'vale0', {
      local: '127.0.0.1:0',
      remotes: [{ name: 'a', address: '127.0.0.2', port: peers[0].port }],
    });
    expect(nm.valeCtl()[0].ports.map((p) => p.name)).toEqual(['a']);
    await h.close();
    expect(nm.valeCtl()[0].ports).toEqual([]);
    const again = await attachVxlan(nm, 'vale0', { local: `127.0.0.1:${h.local.port}`, remotes: ['a=127.0.0.2'] });
    await again.close();
    nm.close();
  });

  it('an address in use is EBUSY, and the ports made for it leave the switch', async () => {
    const taken = await peer('127.0.0.1');
    open.push(() => void taken.sock.close());
    const nm = new Netmap();
    const err = await attachVxlan(nm, 'vale0', { local: `127.0.0.1:${taken.port}`, remotes: ['a=127.0.0.2'] }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(NetmapError);
    expect(err.code).toBe('EBUSY');
    expect(nm.valeCtl()[0].ports).toEqual([]);
    nm.close();
  });

  it('refuses a port name the switch already has (EBUSY)', async () => {
    const nm = new Netmap();
    const p = nm.open('vale0:a');
    await expect(attachVxlan(nm, 'vale0', { local: '127.0.0.1:0', remotes: ['a=127.0.0.2'] })).rejects.toMatchObject({
      code: 'EBUSY',
    });
    p.close();
    nm.close();
  });
});

describe('sabnetmap switch (the CLI)', () => {
  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run 'npm run build' first`);
  });

  it.each([
    [['switch'], 'switch name'],
    [['switch', 'vale0', '--remote', 'a=127.0.0.2'], '--vxlan'],
    [['switch', 'vale0', '--vxlan', '127.0.0.1:0'], '--remote'],
    [
      ['switch', 'vale0', '--vxlan', '127.0.0.1:0', '--remote', 'a=127.0.0.2', '--remote', 'a=127.0.0.3'],
      'named twice',
    ],
    [['switch', 'vale0', '--vxlan', '127.0.0.1:0', '--remote', 'a=127.0.0.2,vni=99999999'], 'vni'],
    [['switch', 'vale0', '--vxlan', 'nowhere:1', '--remote', 'a=127.0.0.2'], 'not an IP address'],
  ])('bad input %j is one line naming it and exit code 2', async (args, what) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(what);
  });

  it('prints a JSON line of counters per interval and stops on Ctrl-C with exit code 130', async () => {
    const a = await peer('127.0.0.2');
    const b = await peer('127.0.0.3');
    try {
      const child = spawn(
        process.execPath,
        [
          CLI,
          'switch',
          'vale0',
          '--vxlan',
          '127.0.0.1:0',
          '--remote',
          `a=127.0.0.2:${a.port}`,
          '--remote',
          `b=127.0.0.3:${b.port},vni=7`,
          '--json-stats',
          '0.1',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
      });
      const closed = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
      await until(() => out.includes('\n'), 'the first JSON line');
      const first = JSON.parse(out.split('\n')[0]);
      const port = Number(String(first.local).split(':')[1]);
      a.sock.send(encapsulate(42, frame(BCAST, macOf(1), 60)), port, '127.0.0.1');
      await until(() => b.got.length === 1, 'the frame through the CLI switch');
      // A send is counted when the kernel has taken it (its callback): wait for a line that says so.
      const sentLine = () =>
        out
          .split('\n')
          .slice(0, -1) // complete lines only
          .some((l) => JSON.parse(l).remotes[1].out.frames === 1);
      await until(sentLine, 'a JSON line counting the frame sent to b');
      child.kill('SIGINT');
      expect(await closed).toBe(130);
      const lines = out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      const last = lines[lines.length - 1];
      expect(last.final).toBe(true);
      expect(last.remotes.map((r: { out: { frames: number } }) => r.out.frames)).toEqual([0, 1]);
      expect(last.macs).toEqual([{ mac: '02:00:00:00:00:01', port: 'vale0:a' }]);
    } finally {
      a.sock.close();
      b.sock.close();
    }
  });
});
