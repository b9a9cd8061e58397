/**
 * Real hosts through a sabnetmap switch: two Linux network namespaces, each joined to the
 * root namespace by a veth pair and holding a kernel vxlan device whose remote is the
 * switch's VXLAN endpoint (bench/vxlan.ts builds them, in 10.213.0-2.0/24, names
 * starting 'sbvxt'; leftovers of a failed run are removed first, and everything at the
 * end, also when a test fails). Needs root, iproute2, ethtool and ping (iputils); without
 * them it is skipped and says why. The endpoint thread starts from dist/ (npm run build).
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsLab, netnsUnavailable } from '../bench/vxlan.js';
import { Netmap } from '../src/netmap.js';
import { attachVxlan, type VxlanHandle, type VxlanStats } from '../src/vxlan/attach.js';

function unavailable(): string | null {
  const why = netnsUnavailable();
  if (why !== null) return why;
  try {
    execFileSync('ping', ['-V'], { stdio: 'ignore' });
  } catch {
    return "no 'ping' command (apt-get install iputils-ping)";
  }
  return null;
}

const why = unavailable();
if (why !== null) console.log(`test/vxlan-netns.test.ts: SKIPPED: ${why}`);

/** Waits until the switch's counters stop moving (the kernel's retransmits and ARP are done). */
async function settled(h: VxlanHandle): Promise<VxlanStats> {
  let prev = JSON.stringify(h.stats().remotes);
  for (let i = 0; i < 200; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const now = JSON.stringify(h.stats().remotes);
    if (now === prev) return h.stats();
    prev = now;
  }
  throw new Error('the switch never went quiet');
}

describe.skipIf(why !== null)('two network namespaces with kernel vxlan devices, through the switch', () => {
  const lab = new NetnsLab({ prefix: 'sbvxt', net: 0 });
  const nm = new Netmap();
  let h: VxlanHandle | null = null;

  beforeAll(async () => {
    lab.create();
    h = await attachVxlan(nm, 'vale0', { local: `${lab.switchAddress}:${lab.o.port}`, remotes: lab.remotes() });
  });

  afterAll(async () => {
    try {
      await h?.close();
      nm.close();
    } finally {
      lab.cleanup();
    }
  });

  const sw = () => h as VxlanHandle;

  it('the namespaces resolve each other by ARP through the switch', () => {
    expect(lab.ping(1, 0.2).received).toBe(1);
    expect(lab.neighbour(0)?.lladdr).toBe(lab.mac(1));
    expect(lab.neighbour(1)?.lladdr).toBe(lab.mac(0));
    const macs = sw().stats().macs;
    expect(macs).toContainEqual({ mac: lab.mac(0), port: 'vale0:a' });
    expect(macs).toContainEqual({ mac: lab.mac(1), port: 'vale0:b' });
  });

  it('100 of 100 pings between the namespaces are answered', () => {
    const r = lab.ping(100, 0.01);
    expect(r.out).toContain('100 packets transmitted');
    expect(r.received).toBe(100);
  });

  it("the switch's counters match the kernel vxlan devices' for every frame of a ping", async () => {
    const s0 = await settled(sw());
    const k0 = [lab.vxlanCounters(0), lab.vxlanCounters(1)];
    expect(lab.ping(20, 0.01).received).toBe(20);
    const s1 = await settled(sw());
    const k1 = [lab.vxlanCounters(0), lab.vxlanCounters(1)];
    for (let i = 0; i < 2; i++) {
      const r0 = s0.remotes[i];
      const r1 = s1.remotes[i];
      const sentByNs = k1[i].txPackets - k0[i].txPackets;
      const gotByNs = k1[i].rxPackets - k0[i].rxPackets;
      // What the namespace sent is what the switch took from it; what it got, what the switch sent it.
      expect(r1.in.frames - r0.in.frames).toBe(sentByNs);
      expect(r1.out.frames - r0.out.frames).toBe(gotByNs);
      expect(sentByNs).toBeGreaterThanOrEqual(20);
    }
  });

  it('a 100 MB TCP transfer between the namespaces arrives intact (sha256 compared)', async () => {
    const t = await lab.transfer(100e6, { hash: true, timeoutMs: 240_000 });
    expect(t.bytes).toBe(100e6);
    expect(t.bytesSent).toBe(100e6);
    expect(t.sha256Received).toMatch(/^[0-9a-f]{64}$/);
    expect(t.sha256Received).toBe(t.sha256Sent);
  });

  it("the switch's counters account for every frame it carried", async () => {
    const s = await settled(sw());
    let datagrams = s.endpoint.unknownSource;
    for (const r of s.remotes) {
      const v = r.vale;
      expect(v).not.toBeNull();
      if (v === null) return;
      const inDrops = Object.values(r.in.drops).reduce((a, b) => a + b, 0);
      datagrams += r.in.frames + inDrops;
      // Taken from the remote = handed to the switch (forwarded or counted bad there).
      expect(v.tx + v.bad).toBe(r.in.frames);
      // Given to the port by the switch = sent to the remote or dropped for a reason.
      expect(v.rx).toBe(r.out.frames + r.out.drops.tooBig + r.out.drops.sendError + r.out.empty);
      expect(r.in.frames).toBeGreaterThan(0);
      expect(r.out.frames).toBeGreaterThan(0);
    }
    // Every datagram the sockets received: into the switch, or dropped for a named reason.
    expect(datagrams).toBe(s.endpoint.datagrams);
    // Two ports: every frame one sends reaches the other or is a counted drop.
    const [a, b] = s.remotes.map((r) => r.vale as Record<string, number>);
    expect(a.tx + b.tx).toBe(a.rx + b.rx + a.drops + b.drops);
  });
});
