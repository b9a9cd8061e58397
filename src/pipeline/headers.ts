/**
 * Zero-allocation readers (and the few writers an in-place edit needs) for the headers
 * people look at: Ethernet, VLAN (802.1Q and 802.1ad, up to two tags), IPv4, IPv6 (with
 * its extension headers), UDP, TCP, ICMP and ICMPv6.
 *
 * `PacketHeaders` is made once per stage and `parse()`d per packet: every field is a plain
 * number, so parsing a packet allocates nothing. Every read is bounded by the frame's
 * length: a truncated header leaves the fields after it at their "absent" value (-1),
 * never a value read from the bytes past the frame (which, in a netmap buffer, are the
 * last packet's). Byte order on the wire is big-endian; the readers return host numbers.
 * Addresses: IPv4 as an unsigned 32-bit number, IPv6 as four such words (`ipv6Word`).
 */

/** Bytes of an Ethernet header without a VLAN tag. */
export const ETH_HLEN = 14;
/** EtherType of IPv4. */
export const ETHERTYPE_IPV4 = 0x0800;
/** EtherType of ARP. */
export const ETHERTYPE_ARP = 0x0806;
/** EtherType of an 802.1Q VLAN tag. */
export const ETHERTYPE_VLAN = 0x8100;
/** EtherType of an 802.1ad (QinQ) outer tag. */
export const ETHERTYPE_QINQ = 0x88a8;
/** EtherType of IPv6. */
export const ETHERTYPE_IPV6 = 0x86dd;
/** IP protocol number of ICMP. */
export const IPPROTO_ICMP = 1;
/** IP protocol number of TCP. */
export const IPPROTO_TCP = 6;
/** IP protocol number of UDP. */
export const IPPROTO_UDP = 17;
/** IP protocol number of ICMPv6. */
export const IPPROTO_ICMPV6 = 58;

/** IPv6 extension headers walked to find the transport header (RFC 8200 order does not matter here). */
const IPV6_HOPOPTS = 0;
const IPV6_ROUTING = 43;
const IPV6_FRAGMENT = 44;
const IPV6_AH = 51;
const IPV6_DSTOPTS = 60;
/** At most this many extension headers are walked (a chain longer than this is not parsed further). */
const MAX_IPV6_EXT = 8;

/** Reads a big-endian u16 at `off`. */
export function readU16(b: Uint8Array, off: number): number {
  return (b[off] << 8) | b[off + 1];
}
/** Reads a big-endian u32 at `off` (as an unsigned number). */
export function readU32(b: Uint8Array, off: number): number {
  return ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
}
/** Writes `v` as a big-endian u16 at `off`. */
export function writeU16(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 8;
  b[off + 1] = v;
}
/** Writes `v` as a big-endian u32 at `off`. */
export function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = v >>> 16;
  b[off + 2] = v >>> 8;
  b[off + 3] = v;
}

/**
 * The headers of one frame, parsed in place. Reuse one per stage: `parse()` resets every
 * field, so nothing from the last packet survives. Offsets are into `data` (absolute), -1
 * when the header is absent or truncated.
 */
export class PacketHeaders {
  /** The bytes the last parse() read (the region of a link, for a pipeline stage). */
  data: Uint8Array = new Uint8Array(0);
  /** The frame's first byte in `data`, and its length. */
  off = 0;
  len = 0;
  /** The EtherType after the VLAN tags (0 if the frame is shorter than an Ethernet header). */
  ethType = 0;
  /** VLAN tags seen (0 to 2), and the outer tag's VLAN id (-1 without a tag). */
  vlanCount = 0;
  vlanId = -1;
  /** Offset of the IP header (-1: not IP, or truncated). */
  l3 = -1;
  /** 4, 6, or 0 (not IP). */
  ipVersion = 0;
  /** The transport protocol (IPv4 protocol, IPv6 last next-header), -1 if not IP. */
  proto = -1;
  /** IPv4 header length in bytes (IPv6: 40 plus the extension headers walked). */
  ipHeaderLength = 0;
  /** IPv4 TTL / IPv6 hop limit (-1 if not IP). */
  ttl = -1;
  /** A fragment (IPv4 MF or offset, IPv6 fragment header): ports are only in the first. */
  fragment = false;
  /** The offset of a non-first fragment is not 0: it has no transport header. */
  laterFragment = false;
  /** IPv4 addresses as unsigned 32-bit numbers (0 for IPv6: see ipv6Word). */
  ipv4Src = 0;
  ipv4Dst = 0;
  /** Offset of the transport header (-1 when absent: not IP, a later fragment, or truncated). */
  l4 = -1;
  /** UDP and TCP ports (-1 otherwise). */
  srcPort = -1;
  dstPort = -1;
  /** TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10), -1 if not TCP. */
  tcpFlags = -1;
  /** ICMP / ICMPv6 type and code (-1 otherwise). */
  icmpType = -1;
  icmpCode = -1;
  /** Offset of the transport payload (after the UDP/TCP/ICMP header), -1 when absent. */
  payload = -1;
  /** A DataView of `data`, made again only when another array is parsed (big-endian reads are faster through it). */
  private dv: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  private dvOf: Uint8Array | null = null;

  /**
   * Parses the frame `data[off, off + len)`. Returns true when it is at least an Ethernet
   * header; the IP and transport fields are set as far as the frame goes.
   */
  parse(data: Uint8Array, off: number, len: number): boolean {
    if (data !== this.dvOf) {
      this.dvOf = data;
      this.dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    }
    if (off + len > data.length) len = Math.max(0, data.length - off);
    this.data = data;
    this.off = off;
    this.len = len;
    if (len >= 42 && this.fastIpv4(data, off, len)) return true;
    this.ethType = 0;
    this.vlanCount = 0;
    this.vlanId = -1;
    this.l3 = -1;
    this.ipVersion = 0;
    this.proto = -1;
    this.ipHeaderLength = 0;
    this.ttl = -1;
    this.fragment = false;
    this.laterFragment = false;
    this.ipv4Src = 0;
    this.ipv4Dst = 0;
    this.l4 = -1;
    this.srcPort = -1;
    this.dstPort = -1;
    this.tcpFlags = -1;
    this.icmpType = -1;
    this.icmpCode = -1;
    this.payload = -1;
    if (len < ETH_HLEN) return false;
    const end = off + len;
    const v = this.dv;
    let p = off + 12;
    let type = v.getUint16(p);
    p += 2;
    while ((type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ) && this.vlanCount < 2) {
      if (p + 4 > end) {
        this.ethType = type;
        return true;
      }
      if (this.vlanCount === 0) this.vlanId = v.getUint16(p) & 0x0fff;
      this.vlanCount++;
      type = v.getUint16(p + 2);
      p += 4;
    }
    this.ethType = type;
    if (type === ETHERTYPE_IPV4) this.parseIpv4(data, p, end);
    else if (type === ETHERTYPE_IPV6) this.parseIpv6(data, p, end);
    return true;
  }

  /**
   * The usual frame in one go: untagged IPv4 with a 20-byte header, not a fragment, and a
   * whole UDP or TCP header (`len` is at least 42). Sets every field as the general path
   * would and returns true; false (nothing written) for anything else. Why: the general
   * path's steps (VLAN loop, IPv4, transport) took a 60-byte frame 37-42 ns in one thread,
   * this takes 25-27, and in bench pipeline a counting stage spends about that much again
   * on everything else. Literals, not the imported constants: an imported binding is a
   * load and a check each time.
   */
  private fastIpv4(b: Uint8Array, off: number, len: number): boolean {
    const v = this.dv;
    const p = off + 14;
    if (v.getUint16(off + 12) !== 0x0800 || b[p] !== 0x45 || (v.getUint16(p + 6) & 0x3fff) !== 0) return false;
    const proto = b[p + 9];
    const l4 = p + 20;
    let flags = -1;
    let payload = l4 + 8;
    if (proto === 6) {
      if (len < 54) return false;
      flags = b[l4 + 13];
      const doff = (b[l4 + 12] >>> 4) << 2;
      payload = doff >= 20 && doff <= len - 34 ? l4 + doff : -1;
    } else if (proto !== 17) {
      return false;
    }
    this.ethType = 0x0800;
    this.vlanCount = 0;
    this.vlanId = -1;
    this.l3 = p;
    this.ipVersion = 4;
    this.proto = proto;
    this.ipHeaderLength = 20;
    this.ttl = b[p + 8];
    this.fragment = false;
    this.laterFragment = false;
    this.ipv4Src = v.getUint32(p + 12);
    this.ipv4Dst = v.getUint32(p + 16);
    this.l4 = l4;
    this.srcPort = v.getUint16(l4);
    this.dstPort = v.getUint16(l4 + 2);
    this.tcpFlags = flags;
    this.icmpType = -1;
    this.icmpCode = -1;
    this.payload = payload;
    return true;
  }

  private parseIpv4(b: Uint8Array, p: number, end: number): void {
    if (p + 20 > end || b[p] >>> 4 !== 4) return;
    const hl = (b[p] & 0x0f) << 2;
    if (hl < 20 || p + hl > end) return;
    this.l3 = p;
    this.ipVersion = 4;
    this.ipHeaderLength = hl;
    const v = this.dv;
    this.ttl = b[p + 8];
    this.proto = b[p + 9];
    this.ipv4Src = v.getUint32(p + 12);
    this.ipv4Dst = v.getUint32(p + 16);
    const frag = v.getUint16(p + 6);
    const offset = frag & 0x1fff;
    this.fragment = (frag & 0x2000) !== 0 || offset !== 0;
    this.laterFragment = offset !== 0;
    if (!this.laterFragment) this.parseL4(b, p + hl, end);
  }

  private parseIpv6(b: Uint8Array, p: number, end: number): void {
    if (p + 40 > end || b[p] >>> 4 !== 6) return;
    this.l3 = p;
    this.ipVersion = 6;
    this.ttl = b[p + 7];
    let next = b[p + 6];
    let q = p + 40;
    let truncated = false;
    for (let i = 0; i < MAX_IPV6_EXT; i++) {
      const ext = next === IPV6_FRAGMENT || next === IPV6_HOPOPTS || next === IPV6_ROUTING || next === IPV6_DSTOPTS;
      if (!ext && next !== IPV6_AH) break;
      if (q + 8 > end) {
        truncated = true;
        break;
      }
      if (next === IPV6_FRAGMENT) {
        this.fragment = true;
        this.laterFragment = (readU16(b, q + 2) & 0xfff8) !== 0;
        next = b[q];
        q += 8;
      } else if (next === IPV6_AH) {
        const l = (b[q + 1] + 2) << 2;
        next = b[q];
        q += l;
      } else {
        const l = (b[q + 1] + 1) << 3;
        next = b[q];
        q += l;
      }
    }
    this.endIpv6(next, q, p);
    if (!truncated && !this.laterFragment && q <= end) this.parseL4(b, q, end);
  }

  private endIpv6(next: number, q: number, p: number): void {
    this.proto = next;
    this.ipHeaderLength = q - p;
  }

  private parseL4(b: Uint8Array, p: number, end: number): void {
    const proto = this.proto;
    const v = this.dv;
    if (proto === IPPROTO_UDP) {
      if (p + 8 > end) return;
      this.l4 = p;
      this.srcPort = v.getUint16(p);
      this.dstPort = v.getUint16(p + 2);
      this.payload = p + 8;
    } else if (proto === IPPROTO_TCP) {
      if (p + 20 > end) return;
      this.l4 = p;
      this.srcPort = v.getUint16(p);
      this.dstPort = v.getUint16(p + 2);
      this.tcpFlags = b[p + 13];
      const doff = (b[p + 12] >>> 4) << 2;
      this.payload = doff >= 20 && p + doff <= end ? p + doff : -1;
    } else if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) {
      if (p + 4 > end) return;
      this.l4 = p;
      this.icmpType = b[p];
      this.icmpCode = b[p + 1];
      this.payload = p + 8 <= end ? p + 8 : -1;
    }
  }

  /** True when the frame is IPv4 or IPv6 with a parsed IP header. */
  get isIp(): boolean {
    return this.l3 >= 0;
  }

  /**
   * Word `i` (0..3, most significant first) of the IPv6 source (`src` true) or destination
   * address, as an unsigned number; 0 when the frame is not IPv6.
   */
  ipv6Word(src: boolean, i: number): number {
    if (this.ipVersion !== 6) return 0;
    return this.dv.getUint32(this.l3 + (src ? 8 : 24) + 4 * (i & 3));
  }

  /** The source address as text (allocates: for reports, not for the per-packet path). */
  srcAddress(): string {
    return this.address(true);
  }
  /** The destination address as text (allocates). */
  dstAddress(): string {
    return this.address(false);
  }

  private address(src: boolean): string {
    if (this.ipVersion === 4) return ipv4ToString(src ? this.ipv4Src : this.ipv4Dst);
    if (this.ipVersion === 6) {
      return ipv6ToString(this.ipv6Word(src, 0), this.ipv6Word(src, 1), this.ipv6Word(src, 2), this.ipv6Word(src, 3));
    }
    return '';
  }
}

/** Dotted-quad text of an IPv4 address held as an unsigned number. */
export function ipv4ToString(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** An IPv4 address in dotted-quad text as an unsigned number (RangeError if it is not one). */
export function parseIpv4(s: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (m === null || m.slice(1).some((x) => Number(x) > 255)) throw new RangeError(`not an IPv4 address: '${s}'`);
  return ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
}

/** RFC 5952 text of an IPv6 address given as four words (the longest run of zero groups as ::). */
export function ipv6ToString(w0: number, w1: number, w2: number, w3: number): string {
  const g = [w0, w1, w2, w3].flatMap((w) => [w >>> 16, w & 0xffff]);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** The Internet checksum (RFC 1071) of `len` bytes at `off`, folded, as stored in a header. */
export function internetChecksum(b: Uint8Array, off: number, len: number): number {
  let sum = 0;
  const even = len & ~1;
  for (let i = 0; i < even; i += 2) sum += (b[off + i] << 8) | b[off + i + 1];
  if (len & 1) sum += b[off + len - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Recomputes and stores the IPv4 header checksum of the header at `l3`. */
export function setIpv4Checksum(b: Uint8Array, l3: number): void {
  const hl = (b[l3] & 0x0f) << 2;
  b[l3 + 10] = 0;
  b[l3 + 11] = 0;
  writeU16(b, l3 + 10, internetChecksum(b, l3, hl));
}

/** True when the IPv4 header at `l3` has a correct checksum. */
export function ipv4ChecksumOk(b: Uint8Array, l3: number): boolean {
  return internetChecksum(b, l3, (b[l3] & 0x0f) << 2) === 0;
}

/**
 * Decrements the TTL (IPv4) or hop limit (IPv6) of the IP header at `l3`, fixing the IPv4
 * checksum incrementally (RFC 1624: HC' = ~(~HC + ~m + m'), over the TTL|protocol word).
 * Returns the new TTL, or -1 when it was already 0 (nothing written: a router drops it).
 */
export function decrementTtl(b: Uint8Array, l3: number): number {
  const v = b[l3] >>> 4;
  if (v === 6) {
    const hop = b[l3 + 7];
    if (hop === 0) return -1;
    b[l3 + 7] = hop - 1;
    return hop - 1;
  }
  const ttl = b[l3 + 8];
  if (ttl === 0) return -1;
  const old = (ttl << 8) | b[l3 + 9];
  const now = old - 0x100;
  b[l3 + 8] = ttl - 1;
  let sum = (~readU16(b, l3 + 10) & 0xffff) + (~old & 0xffff) + now;
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  writeU16(b, l3 + 10, ~sum & 0xffff);
  return ttl - 1;
}

/** Writes a 6-byte MAC address (an array of 6 numbers, or 6 bytes of another buffer) at `off`. */
export function writeMac(b: Uint8Array, off: number, mac: ArrayLike<number>): void {
  for (let i = 0; i < 6; i++) b[off + i] = mac[i];
}

/** Swaps the destination and source MAC addresses of the frame at `off` in place. */
export function swapMacs(b: Uint8Array, off: number): void {
  for (let i = 0; i < 6; i++) {
    const t = b[off + i];
    b[off + i] = b[off + 6 + i];
    b[off + 6 + i] = t;
  }
}
