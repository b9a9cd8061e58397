/**
 * VXLAN on the wire (RFC 7348): a UDP datagram whose payload is an 8-byte header and the
 * inner Ethernet frame.
 *
 *   byte 0     flags: I (0x08) set when the VNI is valid; the other 7 bits are reserved
 *   bytes 1-3  reserved (0)
 *   bytes 4-6  VNI, 24 bits, big-endian
 *   byte 7     reserved (0)
 *
 * Reserved bits are written as 0 and ignored on receipt, as the RFC says. The parsing
 * here reads bytes in place (no view, no object per datagram): `checkHeader` returns the
 * VNI or a negative drop reason.
 *
 * Also here: the datagram size limit (the underlay's MTU minus the IP and UDP headers
 * and this header) and the parsers of the `ADDR:PORT` and `NAME=ADDR:PORT[,vni=N]`
 * strings the CLI and the library take.
 */
import { isIP } from 'node:net';
import { NetmapError } from '../errors.js';

/** The VXLAN header's length. */
export const VXLAN_HLEN = 8;
/** The I flag: the VNI field is valid. */
export const VXLAN_FLAG_I = 0x08;
/** IANA's UDP port for VXLAN. */
export const VXLAN_PORT = 4789;
/** The VNI used when none is given (Linux's vxlan devices need an id; any works if both ends agree). */
export const DEFAULT_VNI = 42;
export const MAX_VNI = 0xffffff;
/** An Ethernet header: the shortest inner frame the switch takes. */
export const ETH_HLEN = 14;
/** The shortest datagram worth looking at: the header and an Ethernet header. */
export const MIN_DATAGRAM = VXLAN_HLEN + ETH_HLEN;
/** The underlay's MTU when none is given: Ethernet's. */
export const DEFAULT_MTU = 1500;
export const MIN_MTU = 128;
export const MAX_MTU = 65535;

/** checkHeader's results below 0: why a datagram is not a frame for us. */
export const BAD_SHORT = -1;
export const BAD_FLAGS = -2;

/** Writes the 8-byte header for `vni` at `off` of `out` (reserved bits 0). */
export function writeHeader(out: Uint8Array, off: number, vni: number): void {
  out[off] = VXLAN_FLAG_I;
  out[off + 1] = 0;
  out[off + 2] = 0;
  out[off + 3] = 0;
  out[off + 4] = (vni >>> 16) & 0xff;
  out[off + 5] = (vni >>> 8) & 0xff;
  out[off + 6] = vni & 0xff;
  out[off + 7] = 0;
}

/** A new 8-byte header for `vni`. */
export function encodeHeader(vni: number): Uint8Array {
  checkVni(vni, 'vni');
  const h = new Uint8Array(VXLAN_HLEN);
  writeHeader(h, 0, vni);
  return h;
}

/**
 * Looks at a received datagram of `len` bytes: the VNI (0 .. 2^24-1) when it is a VXLAN
 * frame (I flag set, room for an Ethernet header), else BAD_SHORT or BAD_FLAGS. Reads
 * four bytes in place; allocates nothing.
 */
export function checkHeader(b: Uint8Array, len: number): number {
  if (len < MIN_DATAGRAM) return BAD_SHORT;
  if ((b[0] & VXLAN_FLAG_I) === 0) return BAD_FLAGS;
  return (b[4] << 16) | (b[5] << 8) | b[6];
}

/** A whole datagram: the header for `vni`, then `frame`. */
export function encapsulate(vni: number, frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(VXLAN_HLEN + frame.length);
  checkVni(vni, 'vni');
  writeHeader(out, 0, vni);
  out.set(frame, VXLAN_HLEN);
  return out;
}

/** The parts of a datagram, or why it is none (for tests and tools: it allocates). */
export function decapsulate(b: Uint8Array): { vni: number; frame: Uint8Array } | { drop: 'short' | 'flags' } {
  const r = checkHeader(b, b.length);
  if (r === BAD_SHORT) return { drop: 'short' };
  if (r === BAD_FLAGS) return { drop: 'flags' };
  return { vni: r, frame: b.subarray(VXLAN_HLEN) };
}

export type Family = 4 | 6;

/** Bytes of IP and UDP header a datagram carries on the underlay. */
export function underlayOverhead(family: Family): number {
  return (family === 4 ? 20 : 40) + 8;
}

/**
 * The largest inner frame that fits one datagram on a path of `mtu` bytes (IP MTU of the
 * underlay): mtu - IP (20 or 40) - UDP (8) - VXLAN (8). 1500 over IPv4: 1464 bytes, an
 * inner MTU of 1450 (Linux's vxlan default over a 1500-byte device).
 */
export function maxFrameFor(mtu: number, family: Family): number {
  return mtu - underlayOverhead(family) - VXLAN_HLEN;
}

export function checkVni(vni: unknown, what: string): number {
  if (!(typeof vni === 'number' && Number.isInteger(vni) && vni >= 0 && vni <= MAX_VNI)) {
    throw new NetmapError('EINVAL', `${what} must be an integer from 0 to ${MAX_VNI} (24 bits), got ${String(vni)}`);
  }
  return vni;
}

export function checkMtu(mtu: unknown): number {
  if (!(typeof mtu === 'number' && Number.isInteger(mtu) && mtu >= MIN_MTU && mtu <= MAX_MTU)) {
    throw new NetmapError('EINVAL', `mtu must be an integer from ${MIN_MTU} to ${MAX_MTU}, got ${String(mtu)}`);
  }
  return mtu;
}

/** A UDP endpoint: an IP address (no name: nothing is looked up) and a port. */
export interface UdpAddress {
  address: string;
  port: number;
}

/** The IP family of an address, or a NetmapError naming `what`. */
export function familyOf(address: string, what: string): Family {
  const f = isIP(address);
  if (f === 0) throw new NetmapError('EINVAL', `${what}: '${address}' is not an IP address`);
  return f as Family;
}

export function checkUdpPort(port: unknown, what: string, allowZero: boolean): number {
  const lo = allowZero ? 0 : 1;
  if (!(typeof port === 'number' && Number.isInteger(port) && port >= lo && port <= 65535)) {
    throw new NetmapError(
      'EINVAL',
      `${what}: the UDP port must be an integer from ${lo} to 65535, got ${String(port)}`,
    );
  }
  return port;
}

/**
 * `ADDR:PORT`, `[IPv6]:PORT`, or an address alone (port `dflt`). Addresses are IP
 * literals: a name would need a lookup, and a tunnel endpoint is an address.
 */
export function parseUdpAddress(s: string, what: string, dflt: number, allowZero = false): UdpAddress {
  let address: string;
  let port: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(.*))?$/.exec(s);
  if (v6) {
    address = v6[1];
    port = v6[2];
  } else if (isIP(s) === 6) {
    address = s;
  } else {
    const i = s.lastIndexOf(':');
    address = i < 0 ? s : s.slice(0, i);
    port = i < 0 ? undefined : s.slice(i + 1);
  }
  familyOf(address, what);
  let p = dflt;
  if (port !== undefined) {
    if (!/^\d{1,5}$/.test(port)) throw new NetmapError('EINVAL', `${what}: bad UDP port '${port}' in '${s}'`);
    p = Number(port);
  }
  checkUdpPort(p, what, allowZero);
  return { address, port: p };
}

/** A remote tunnel endpoint as the CLI names it: `NAME=ADDR:PORT[,vni=N]`. */
export interface RemoteSpec extends UdpAddress {
  name: string;
  vni?: number;
}

const PORT_NAME = /^[A-Za-z0-9_]+$/;

export function checkRemoteName(name: unknown): string {
  if (!(typeof name === 'string' && PORT_NAME.test(name))) {
    throw new NetmapError(
      'EINVAL',
      `a remote's name must be letters, digits and '_' (a VALE port name), got '${String(name)}'`,
    );
  }
  return name;
}

/** Parses `NAME=ADDR:PORT[,vni=N]` (the port defaults to 4789). */
export function parseRemoteSpec(s: string): RemoteSpec {
  const eq = s.indexOf('=');
  if (eq <= 0) throw new NetmapError('EINVAL', `remote '${s}': expected NAME=ADDR:PORT[,vni=N]`);
  const name = checkRemoteName(s.slice(0, eq));
  const [where, ...opts] = s.slice(eq + 1).split(',');
  const spec: RemoteSpec = { name, ...parseUdpAddress(where, `remote ${name}`, VXLAN_PORT) };
  for (const o of opts) {
    const m = /^vni=(\d+)$/.exec(o);
    if (m === null) throw new NetmapError('EINVAL', `remote ${name}: unknown option '${o}' (known: vni=N)`);
    spec.vni = checkVni(Number(m[1]), `remote ${name}: vni`);
  }
  return spec;
}

/** How an address and port print: `10.0.0.1:4789`, `[fd00::1]:4789`. */
export function formatUdpAddress(a: UdpAddress): string {
  return isIP(a.address) === 6 ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}
