/**
 * Building test and generator frames: Ethernet (an optional 802.1Q tag), IPv4 or IPv6,
 * then UDP, TCP or ICMP(v6), padded to the length asked for. The IPv4 header checksum is
 * computed; transport checksums are left 0 (UDP over IPv4 allows it; nothing here checks
 * them). Used to make the generator's per-flow templates (once, not per packet), by tests
 * and by examples.
 */
import { NetmapError } from '../errors.js';
import {
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ETHERTYPE_VLAN,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  setIpv4Checksum,
  writeMac,
  writeU16,
  writeU32,
} from './headers.js';

/** What buildFrame makes: length, MACs, an optional VLAN tag, IPv4 or IPv6 addresses, the transport and its ports. */
export interface FrameSpec {
  /** Frame length in bytes (default 60; at least the headers' length). */
  len?: number;
  dstMac?: ArrayLike<number>;
  srcMac?: ArrayLike<number>;
  /** One 802.1Q tag with this VLAN id. */
  vlan?: number;
  /** 4 (default) or 6. */
  ipVersion?: 4 | 6;
  /** IPv4: an unsigned 32-bit number; IPv6: four such words, most significant first. */
  src?: number | readonly number[];
  dst?: number | readonly number[];
  /** IPPROTO_UDP (default), IPPROTO_TCP, IPPROTO_ICMP or IPPROTO_ICMPV6 (any other: no transport header). */
  proto?: number;
  srcPort?: number;
  dstPort?: number;
  ttl?: number;
  tcpFlags?: number;
  icmpType?: number;
  icmpCode?: number;
  /** IPv4 fragment offset (in 8-byte units) and more-fragments flag. */
  fragmentOffset?: number;
  moreFragments?: boolean;
}

const DEFAULT_DST_MAC = [0x02, 0, 0, 0, 0, 2];
const DEFAULT_SRC_MAC = [0x02, 0, 0, 0, 0, 1];

/** The length of the headers `spec` asks for (the shortest frame that holds them). */
export function headersLength(spec: FrameSpec): number {
  const proto = spec.proto ?? IPPROTO_UDP;
  const l4 =
    proto === IPPROTO_UDP ? 8 : proto === IPPROTO_TCP ? 20 : proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6 ? 8 : 0;
  return 14 + (spec.vlan !== undefined ? 4 : 0) + ((spec.ipVersion ?? 4) === 6 ? 40 : 20) + l4;
}

/** Writes the frame `spec` describes at `b[off]` and returns its length. */
export function writeFrameTo(b: Uint8Array, off: number, spec: FrameSpec): number {
  const len = spec.len ?? 60;
  const need = headersLength(spec);
  if (!Number.isInteger(len) || len < need || off + len > b.length) {
    throw new NetmapError('EINVAL', `a frame with these headers needs ${need} to ${b.length - off} bytes, got ${len}`);
  }
  b.fill(0, off, off + len);
  writeMac(b, off, spec.dstMac ?? DEFAULT_DST_MAC);
  writeMac(b, off + 6, spec.srcMac ?? DEFAULT_SRC_MAC);
  let p = off + 12;
  if (spec.vlan !== undefined) {
    writeU16(b, p, ETHERTYPE_VLAN);
    writeU16(b, p + 2, spec.vlan & 0x0fff);
    p += 4;
  }
  const v6 = (spec.ipVersion ?? 4) === 6;
  writeU16(b, p, v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4);
  p += 2;
  const l3 = p;
  const proto = spec.proto ?? IPPROTO_UDP;
  const ttl = spec.ttl ?? 64;
  const ipLen = off + len - l3;
  if (v6) {
    b[l3] = 0x60;
    writeU16(b, l3 + 4, ipLen - 40);
    b[l3 + 6] = proto;
    b[l3 + 7] = ttl;
    const words = (a: number | readonly number[] | undefined, dflt: number[]) =>
      typeof a === 'number' ? [0, 0, 0, a] : (a ?? dflt);
    const s = words(spec.src, [0xfd000000, 0, 0, 1]);
    const d = words(spec.dst, [0xfd000000, 0, 0, 2]);
    for (let i = 0; i < 4; i++) {
      writeU32(b, l3 + 8 + 4 * i, s[i] >>> 0);
      writeU32(b, l3 + 24 + 4 * i, d[i] >>> 0);
    }
    p = l3 + 40;
  } else {
    b[l3] = 0x45;
    writeU16(b, l3 + 2, ipLen);
    const frag = ((spec.fragmentOffset ?? 0) & 0x1fff) | (spec.moreFragments ? 0x2000 : 0);
    writeU16(b, l3 + 6, frag);
    b[l3 + 8] = ttl;
    b[l3 + 9] = proto;
    const one = (a: number | readonly number[] | undefined, dflt: number) =>
      typeof a === 'number' ? a : (a?.[3] ?? dflt);
    writeU32(b, l3 + 12, one(spec.src, 0x0a000001) >>> 0);
    writeU32(b, l3 + 16, one(spec.dst, 0x0a000002) >>> 0);
    setIpv4Checksum(b, l3);
    p = l3 + 20;
  }
  if (proto === IPPROTO_UDP) {
    writeU16(b, p, spec.srcPort ?? 1234);
    writeU16(b, p + 2, spec.dstPort ?? 4321);
    writeU16(b, p + 4, off + len - p);
  } else if (proto === IPPROTO_TCP) {
    writeU16(b, p, spec.srcPort ?? 1234);
    writeU16(b, p + 2, spec.dstPort ?? 80);
    b[p + 12] = 5 << 4;
    b[p + 13] = spec.tcpFlags ?? 0x10;
  } else if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) {
    b[p] = spec.icmpType ?? 8;
    b[p + 1] = spec.icmpCode ?? 0;
  }
  return len;
}

/** A new frame (allocates: for tests, templates and main-thread sources). */
export function buildFrame(spec: FrameSpec = {}): Uint8Array {
  const f = new Uint8Array(spec.len ?? 60);
  writeFrameTo(f, 0, spec);
  return f;
}
