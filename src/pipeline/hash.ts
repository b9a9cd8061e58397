/**
 * The symmetric flow hash lb balances with: both directions of a connection (A:a -> B:b
 * and B:b -> A:a) hash alike, so they land on the same output.
 *
 * netmap's lb gets symmetry from a Toeplitz-style key that repeats every 16 bits; here
 * each endpoint (address, port) is mixed on its own and the two are added, which commutes:
 *
 *   h = fmix(endpoint(srcAddr, srcPort) + endpoint(dstAddr, dstPort) + proto * K)
 *
 * with murmur3's 32-bit finaliser as the mixer (every input bit reaches every output bit).
 * An IPv6 address is folded to 32 bits (xor of its words) before mixing, for the same
 * reason on both sides. Fragments hash on the addresses and protocol only (ports are in
 * the first fragment only; a datagram's fragments must stay together). VLAN tags are
 * skipped. Non-IP frames get NON_IP: the caller sends them to its fallback output.
 *
 * The result is a non-negative 31-bit integer (a V8 small integer: no heap number), so
 * `hash % outputs` picks an output without allocating. Nothing here allocates.
 */
import {
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ETHERTYPE_QINQ,
  ETHERTYPE_VLAN,
  IPPROTO_TCP,
  IPPROTO_UDP,
  PacketHeaders,
} from './headers.js';

/** What symmetricHash returns for a frame that is not IPv4 or IPv6 (or is truncated before the addresses). */
export const NON_IP = -1;

const C1 = 0x85ebca6b;
const C2 = 0xc2b2ae35;
const PORT_K = 0x27d4eb2d;
const PROTO_K = 0x9e3779b1;

/** murmur3's fmix32. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, C1);
  h ^= h >>> 13;
  h = Math.imul(h, C2);
  h ^= h >>> 16;
  return h;
}

function endpoint(addr: number, port: number, seed: number): number {
  return fmix32(addr ^ Math.imul(port + seed + 1, PORT_K));
}

/** Combines the two endpoints and the protocol: symmetric in (a, pa) <-> (b, pb). */
export function symmetricMix(a: number, pa: number, b: number, pb: number, proto: number, seed = 0): number {
  return fmix32((endpoint(a, pa, seed) + endpoint(b, pb, seed) + Math.imul(proto + 1, PROTO_K)) | 0) >>> 1;
}

/**
 * A DataView of the last array hashed: multi-byte big-endian reads through it are about
 * twice as fast as byte loads and shifts here (TurboFan inlines them). Made again only
 * when another array comes (lb hashes one region all its life).
 */
let dvOf: Uint8Array | null = null;
let dv: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

function viewOf(d: Uint8Array): DataView<ArrayBufferLike> {
  if (d !== dvOf) {
    dvOf = d;
    dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
  }
  return dv;
}

/**
 * The symmetric 5-tuple hash of the frame `d[off, off + len)`, read straight from the
 * bytes (lb's per-packet path: no header object); NON_IP for anything else.
 */
export function symmetricHash(d: Uint8Array, off: number, len: number, seed = 0): number {
  const end = off + len;
  if (len < 34 || end > d.length) return len < 14 ? NON_IP : hashOther(d, off, len, seed);
  const v = viewOf(d);
  const p = off + 14;
  // The usual frame first: untagged IPv4 with a 20-byte header (literals: an imported
  // constant is a live binding, a load and a check each time).
  if (v.getUint16(off + 12) === 0x0800 && d[p] === 0x45) {
    const proto = d[p + 9];
    const a = v.getInt32(p + 12);
    const b = v.getInt32(p + 16);
    if ((v.getUint16(p + 6) & 0x3fff) === 0 && ((proto === 17 && p + 28 <= end) || (proto === 6 && p + 40 <= end))) {
      return symmetricMix(a, v.getUint16(p + 20), b, v.getUint16(p + 22), proto, seed);
    }
    return symmetricMix(a, 0, b, 0, proto, seed);
  }
  return hashOther(d, off, len, seed);
}

/** Everything but an untagged IPv4 frame with a 20-byte header: VLAN tags, IPv4 options, IPv6, not IP. */
function hashOther(d: Uint8Array, off: number, len: number, seed: number): number {
  const end = off + len;
  if (len < 14 || end > d.length) return NON_IP;
  const v = viewOf(d);
  let p = off + 12;
  let type = v.getUint16(p);
  p += 2;
  for (let i = 0; i < 2 && (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ); i++) {
    if (p + 4 > end) return NON_IP;
    type = v.getUint16(p + 2);
    p += 4;
  }
  let a: number;
  let b: number;
  let proto: number;
  let l4: number;
  let frag: boolean;
  if (type === ETHERTYPE_IPV4) {
    if (p + 20 > end || d[p] >>> 4 !== 4) return NON_IP;
    const hl = (d[p] & 0x0f) << 2;
    if (hl < 20 || p + hl > end) return NON_IP;
    proto = d[p + 9];
    a = v.getInt32(p + 12);
    b = v.getInt32(p + 16);
    frag = (v.getUint16(p + 6) & 0x3fff) !== 0;
    l4 = p + hl;
  } else if (type === ETHERTYPE_IPV6) {
    if (p + 40 > end || d[p] >>> 4 !== 6) return NON_IP;
    a = v.getInt32(p + 8) ^ v.getInt32(p + 12) ^ v.getInt32(p + 16) ^ v.getInt32(p + 20);
    b = v.getInt32(p + 24) ^ v.getInt32(p + 28) ^ v.getInt32(p + 32) ^ v.getInt32(p + 36);
    proto = d[p + 6];
    frag = false;
    l4 = p + 40;
    if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP) {
      // Extension headers (rare): the full parser walks them.
      return ipv6Slow(d, off, len, seed);
    }
  } else {
    return NON_IP;
  }
  // Ports count only with the whole transport header there, as PacketHeaders reads them.
  const need = proto === IPPROTO_TCP ? 20 : proto === IPPROTO_UDP ? 8 : 0;
  if (!frag && need > 0 && l4 + need <= end) {
    return symmetricMix(a, v.getUint16(l4), b, v.getUint16(l4 + 2), proto, seed);
  }
  return symmetricMix(a, 0, b, 0, proto, seed);
}

/** One parser per thread for the rare IPv6 frames with extension headers (made on first use). */
let slow: PacketHeaders | null = null;

function ipv6Slow(d: Uint8Array, off: number, len: number, seed: number): number {
  slow ??= new PacketHeaders();
  slow.parse(d, off, len);
  return flowHash(slow, seed);
}

/**
 * The same hash from parsed headers (equal to symmetricHash of the same frame): for
 * stages that have parsed a packet already.
 */
export function flowHash(h: PacketHeaders, seed = 0): number {
  let a: number;
  let b: number;
  if (h.ipVersion === 4) {
    a = h.ipv4Src | 0;
    b = h.ipv4Dst | 0;
  } else if (h.ipVersion === 6) {
    a = h.ipv6Word(true, 0) ^ h.ipv6Word(true, 1) ^ h.ipv6Word(true, 2) ^ h.ipv6Word(true, 3);
    b = h.ipv6Word(false, 0) ^ h.ipv6Word(false, 1) ^ h.ipv6Word(false, 2) ^ h.ipv6Word(false, 3);
  } else {
    return NON_IP;
  }
  const ports = !h.fragment && (h.proto === IPPROTO_TCP || h.proto === IPPROTO_UDP) && h.srcPort >= 0;
  return symmetricMix(a, ports ? h.srcPort : 0, b, ports ? h.dstPort : 0, h.proto, seed);
}
