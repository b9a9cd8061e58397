/**
 * The zero-allocation header readers (src/pipeline/headers.ts), the symmetric flow hash
 * (hash.ts) and the flow table (flows.ts): known packets, and seeded properties over
 * frames built from random fields.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FlowTable, topFlows } from '../src/pipeline/flows.js';
import { buildFrame, type FrameSpec, writeFrameTo } from '../src/pipeline/frames.js';
import { flowHash, NON_IP, symmetricHash } from '../src/pipeline/hash.js';
import {
  decrementTtl,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  internetChecksum,
  ipv4ChecksumOk,
  ipv4ToString,
  ipv6ToString,
  PacketHeaders,
  parseIpv4,
  swapMacs,
} from '../src/pipeline/headers.js';

const h = new PacketHeaders();
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const port = fc.integer({ min: 0, max: 0xffff });

/** A random IPv4 or IPv6 frame spec (UDP, TCP or ICMP; sometimes VLAN-tagged). */
const specArb = fc
  .record({
    v6: fc.boolean(),
    proto: fc.constantFrom(IPPROTO_UDP, IPPROTO_TCP, 'icmp'),
    src: fc.array(u32, { minLength: 4, maxLength: 4 }),
    dst: fc.array(u32, { minLength: 4, maxLength: 4 }),
    srcPort: port,
    dstPort: port,
    ttl: fc.integer({ min: 0, max: 255 }),
    vlan: fc.option(fc.integer({ min: 0, max: 4095 }), { nil: undefined }),
    extra: fc.integer({ min: 0, max: 200 }),
  })
  .map((r): FrameSpec => {
    const proto = r.proto === 'icmp' ? (r.v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP) : (r.proto as number);
    const spec: FrameSpec = {
      ipVersion: r.v6 ? 6 : 4,
      proto,
      src: r.v6 ? r.src : r.src[0],
      dst: r.v6 ? r.dst : r.dst[0],
      srcPort: r.srcPort,
      dstPort: r.dstPort,
      ttl: r.ttl,
      vlan: r.vlan,
    };
    const base = 14 + (r.vlan === undefined ? 0 : 4) + (r.v6 ? 40 : 20) + (proto === IPPROTO_TCP ? 20 : 8);
    return { ...spec, len: Math.max(60, base + r.extra) };
  });

function reversed(s: FrameSpec): FrameSpec {
  return { ...s, src: s.dst, dst: s.src, srcPort: s.dstPort, dstPort: s.srcPort };
}

describe('PacketHeaders', () => {
  it('reads an Ethernet / IPv4 / UDP frame', () => {
    const f = buildFrame({
      src: parseIpv4('10.1.2.3'),
      dst: parseIpv4('192.168.9.8'),
      srcPort: 5353,
      dstPort: 53,
      ttl: 17,
      len: 80,
    });
    expect(h.parse(f, 0, f.length)).toBe(true);
    expect(h.ethType).toBe(ETHERTYPE_IPV4);
    expect(h.ipVersion).toBe(4);
    expect(h.l3).toBe(14);
    expect(h.proto).toBe(IPPROTO_UDP);
    expect(ipv4ToString(h.ipv4Src)).toBe('10.1.2.3');
    expect(h.dstAddress()).toBe('192.168.9.8');
    expect([h.srcPort, h.dstPort, h.ttl, h.l4, h.payload]).toEqual([5353, 53, 17, 34, 42]);
    expect(h.fragment).toBe(false);
    expect(ipv4ChecksumOk(f, 14)).toBe(true);
  });

  it('reads a VLAN-tagged IPv6 / TCP frame, and its flags', () => {
    const f = buildFrame({
      ipVersion: 6,
      vlan: 42,
      proto: IPPROTO_TCP,
      srcPort: 443,
      dstPort: 50000,
      tcpFlags: 0x12,
      len: 90,
    });
    h.parse(f, 0, f.length);
    expect([h.vlanCount, h.vlanId, h.ethType, h.ipVersion, h.l3]).toEqual([1, 42, ETHERTYPE_IPV6, 6, 18]);
    expect([h.proto, h.srcPort, h.dstPort, h.tcpFlags, h.l4]).toEqual([IPPROTO_TCP, 443, 50000, 0x12, 58]);
    expect(h.srcAddress()).toBe('fd00::1');
  });

  it('reads ICMP type and code', () => {
    const f = buildFrame({ proto: IPPROTO_ICMP, icmpType: 3, icmpCode: 1 });
    h.parse(f, 0, f.length);
    expect([h.proto, h.icmpType, h.icmpCode, h.srcPort]).toEqual([IPPROTO_ICMP, 3, 1, -1]);
  });

  it('walks IPv6 extension headers to the transport header', () => {
    const f = buildFrame({ ipVersion: 6, proto: 0, len: 100 });
    // Next header: hop-by-hop (0) -> fragment (44) -> UDP (17).
    f[14 + 6] = 0;
    const ext = 14 + 40;
    f[ext] = 44; // hop-by-hop's next header
    f[ext + 1] = 0; // 8 bytes
    f[ext + 8] = 17; // fragment header's next header
    f[ext + 10] = 0; // offset 0, first fragment
    f[ext + 11] = 1; // more fragments
    f[ext + 16] = 0x12;
    f[ext + 17] = 0x34; // UDP source port 0x1234
    h.parse(f, 0, f.length);
    expect([h.proto, h.fragment, h.laterFragment, h.l4, h.srcPort]).toEqual([17, true, false, ext + 16, 0x1234]);
  });

  it('gives no ports for a later IPv4 fragment', () => {
    const f = buildFrame({ fragmentOffset: 100, moreFragments: true });
    h.parse(f, 0, f.length);
    expect([h.fragment, h.laterFragment, h.l4, h.srcPort]).toEqual([true, true, -1, -1]);
  });

  it('says not IP for ARP and for a frame shorter than an Ethernet header', () => {
    const arp = new Uint8Array(60);
    arp[12] = 0x08;
    arp[13] = 0x06;
    expect(h.parse(arp, 0, 60)).toBe(true);
    expect([h.ethType, h.isIp, h.proto]).toEqual([ETHERTYPE_ARP, false, -1]);
    expect(h.parse(arp, 0, 13)).toBe(false);
    expect(h.isIp).toBe(false);
  });

  it('recovers every field of a built frame, and nothing from past its end', () => {
    fc.assert(
      fc.property(specArb, fc.integer({ min: 0, max: 100 }), (spec, cut) => {
        const buf = new Uint8Array(512).fill(0xab);
        const len = writeFrameTo(buf, 7, spec);
        h.parse(buf, 7, len);
        expect(h.ipVersion).toBe(spec.ipVersion);
        expect(h.ttl).toBe(spec.ttl);
        if (spec.ipVersion === 4) {
          expect(h.ipv4Src).toBe(spec.src as number);
          expect(h.ipv4Dst).toBe(spec.dst as number);
        } else {
          for (let i = 0; i < 4; i++) expect(h.ipv6Word(true, i)).toBe((spec.src as number[])[i]);
        }
        if (spec.proto === IPPROTO_UDP || spec.proto === IPPROTO_TCP) {
          expect([h.srcPort, h.dstPort]).toEqual([spec.srcPort, spec.dstPort]);
        }
        // Truncated: every offset the parser sets stays inside the frame.
        const short = Math.max(0, len - cut);
        h.parse(buf, 7, short);
        for (const off of [h.l3, h.l4, h.payload]) if (off >= 0) expect(off).toBeLessThanOrEqual(7 + short);
        if (h.l4 >= 0 && h.srcPort >= 0) expect(h.l4 + 8).toBeLessThanOrEqual(7 + short);
      }),
      { seed: 0x4ead, numRuns: 400 },
    );
  });

  // parse() takes untagged IPv4 / UDP or TCP in one step and everything else field by
  // field: a tag in front must change only the VLAN fields and move the offsets by 4.
  it('reads an untagged IPv4 frame as its VLAN-tagged twin, but for the tag', () => {
    const fields = (x: PacketHeaders, shift: number) => ({
      ethType: x.ethType,
      ipVersion: x.ipVersion,
      proto: x.proto,
      ipHeaderLength: x.ipHeaderLength,
      ttl: x.ttl,
      fragment: x.fragment,
      laterFragment: x.laterFragment,
      ipv4Src: x.ipv4Src,
      ipv4Dst: x.ipv4Dst,
      srcPort: x.srcPort,
      dstPort: x.dstPort,
      tcpFlags: x.tcpFlags,
      icmpType: x.icmpType,
      icmpCode: x.icmpCode,
      l3: x.l3 < 0 ? -1 : x.l3 - shift,
      l4: x.l4 < 0 ? -1 : x.l4 - shift,
      payload: x.payload < 0 ? -1 : x.payload - shift,
    });
    const tagged = new PacketHeaders();
    fc.assert(
      fc.property(
        specArb.filter((s) => s.ipVersion === 4 && s.vlan === undefined),
        // Not a fragment (with and without DF, as most frames are), MF, an offset, anything.
        fc.oneof(fc.constantFrom(0, 0x4000, 0x2000, 0x0001, 0x8000), fc.integer({ min: 0, max: 0xffff })),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 70 }),
        (spec, frag, tcpByte12, cut) => {
          const a = new Uint8Array(300).fill(0xcd);
          const len = writeFrameTo(a, 7, spec);
          // Fragment bits and offset, and a TCP data offset, of every kind.
          a[7 + 20] = frag >>> 8;
          a[7 + 21] = frag & 0xff;
          if (spec.proto === IPPROTO_TCP) a[7 + 46] = tcpByte12;
          const b = new Uint8Array(304).fill(0xcd);
          b.set(a.subarray(0, 7 + 12), 0);
          b.set([0x81, 0x00, 0x00, 0x2a], 7 + 12);
          b.set(a.subarray(7 + 12), 7 + 16);
          const n = Math.max(0, len - cut);
          h.parse(a, 7, n);
          tagged.parse(b, 7, n === 0 ? 0 : n + 4);
          expect(h.vlanCount).toBe(0);
          if (n >= 18) expect([tagged.vlanCount, tagged.vlanId]).toEqual([1, 0x2a]);
          if (n >= 14) expect(fields(h, 0)).toEqual(fields(tagged, 4));
        },
      ),
      { seed: 0x7a9, numRuns: 600 },
    );
  });
});

describe('symmetric flow hash', () => {
  it('hashes both directions of a connection alike', () => {
    fc.assert(
      fc.property(specArb, (spec) => {
        const a = buildFrame(spec);
        const b = buildFrame(reversed(spec));
        expect(symmetricHash(a, 0, a.length)).toBe(symmetricHash(b, 0, b.length));
      }),
      { seed: 0x5e11, numRuns: 500 },
    );
  });

  it('equals flowHash of the parsed headers, and is a non-negative small integer', () => {
    fc.assert(
      fc.property(specArb, fc.integer({ min: 0, max: 60 }), (spec, cut) => {
        const f = buildFrame(spec);
        const len = Math.max(0, f.length - cut);
        const x = symmetricHash(f, 0, len);
        h.parse(f, 0, len);
        expect(x).toBe(flowHash(h));
        if (x !== NON_IP) expect(x >= 0 && x < 2 ** 31 && Number.isInteger(x)).toBe(true);
      }),
      { seed: 0xf10e, numRuns: 500 },
    );
  });

  it('says NON_IP for frames that are not IP', () => {
    const arp = new Uint8Array(60);
    arp[12] = 0x08;
    arp[13] = 0x06;
    expect(symmetricHash(arp, 0, 60)).toBe(NON_IP);
    expect(symmetricHash(arp, 0, 10)).toBe(NON_IP);
  });

  it('spreads flows evenly over outputs', () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) {
      const f = buildFrame({ src: 0x0a000000 + i, dst: 0xc0a80001, srcPort: 1024 + i, dstPort: 80 });
      counts[symmetricHash(f, 0, f.length) % 4]++;
    }
    for (const c of counts) expect(Math.abs(c - 1000)).toBeLessThan(150);
  });
});

describe('in-place edits', () => {
  it('keeps the IPv4 checksum valid when the TTL is decremented incrementally', () => {
    fc.assert(
      fc.property(specArb, (spec) => {
        fc.pre(spec.ipVersion === 4);
        const f = buildFrame(spec);
        const ttl = spec.ttl as number;
        const l3 = spec.vlan === undefined ? 14 : 18;
        expect(decrementTtl(f, l3)).toBe(ttl === 0 ? -1 : ttl - 1);
        expect(ipv4ChecksumOk(f, l3)).toBe(true);
        expect(internetChecksum(f, l3, 20)).toBe(0);
      }),
      { seed: 0x771, numRuns: 300 },
    );
  });

  it('swaps MAC addresses', () => {
    const f = buildFrame({ dstMac: [1, 2, 3, 4, 5, 6], srcMac: [7, 8, 9, 10, 11, 12] });
    swapMacs(f, 0);
    expect(Array.from(f.subarray(0, 12))).toEqual([7, 8, 9, 10, 11, 12, 1, 2, 3, 4, 5, 6]);
  });

  it('prints IPv6 addresses as RFC 5952 says', () => {
    expect(ipv6ToString(0x20010db8, 0, 0, 1)).toBe('2001:db8::1');
    expect(ipv6ToString(0, 0, 0, 0)).toBe('::');
    expect(ipv6ToString(0x20010db8, 0x00010000, 0, 0x00010001)).toBe('2001:db8:1::1:1');
  });
});

describe('FlowTable', () => {
  it('counts both directions of a connection as one flow, and tells the top talkers', () => {
    const t = new FlowTable(16);
    const a = { src: 1, dst: 2, srcPort: 10, dstPort: 20, len: 100 };
    for (let i = 0; i < 3; i++) {
      for (const s of [a, reversed(a)]) {
        const f = buildFrame(s);
        h.parse(f, 0, f.length);
        t.add(h);
      }
    }
    const f = buildFrame({ src: 5, dst: 6, len: 60 });
    h.parse(f, 0, f.length);
    t.add(h);
    expect(t.size).toBe(2);
    const top = t.top(1);
    expect(top).toEqual([
      { ipVersion: 4, proto: 17, a: '0.0.0.1', aPort: 10, b: '0.0.0.2', bPort: 20, packets: 6, bytes: 600 },
    ]);
  });

  it('counts both directions of an IPv6 connection as one flow, with its addresses', () => {
    const t = new FlowTable(16);
    const a: FrameSpec = {
      ipVersion: 6,
      src: [0x20010db8, 0, 0, 1],
      dst: [0x20010db8, 0, 0, 2],
      srcPort: 10,
      dstPort: 20,
      len: 100,
    };
    for (const s of [a, reversed(a), a]) {
      const f = buildFrame(s);
      h.parse(f, 0, f.length);
      expect(t.add(h)).toBe(true);
    }
    expect(t.size).toBe(1);
    expect(t.top(1)).toEqual([
      { ipVersion: 6, proto: 17, a: '2001:db8::1', aPort: 10, b: '2001:db8::2', bPort: 20, packets: 3, bytes: 300 },
    ]);
  });

  it('counts what does not fit instead of growing', () => {
    const t = new FlowTable(3);
    for (let i = 0; i < 10; i++) {
      const f = buildFrame({ src: i + 1 });
      h.parse(f, 0, f.length);
      t.add(h);
    }
    expect(t.size).toBe(3);
    expect(t.untracked).toBe(7);
  });

  it('merges per-worker lists into top flows', () => {
    const e = (a: string, packets: number) => ({
      ipVersion: 4,
      proto: 6,
      a,
      aPort: 1,
      b: 'x',
      bPort: 2,
      packets,
      bytes: packets * 10,
    });
    expect(topFlows([[e('a', 1), e('b', 5)], [e('a', 7)]], 1)).toEqual([e('a', 8)]);
  });
});
