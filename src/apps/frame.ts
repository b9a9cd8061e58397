/** The Ethernet/IPv4/UDP frame pkt-gen sends, and where its sequence number lives. */

export const ETH_HLEN = 14;
/** Offset of the 32-bit sequence number: in the UDP payload, 4-byte aligned. */
export const SEQ_OFFSET = 44;
/** Offset of a 64-bit timestamp field used by ping/pong (after the sequence number). */
export const TS_OFFSET = 48;
export const MIN_FRAME_LEN = 16;
export const MIN_SEQ_FRAME_LEN = SEQ_OFFSET + 4;

/** A MAC address: six bytes. */
export type Mac = readonly [number, number, number, number, number, number];
/** The broadcast MAC address, ff:ff:ff:ff:ff:ff. */
export const BROADCAST_MAC: Mac = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

/** Parses a MAC address written as six hex bytes with colons ("02:00:00:00:00:01"); throws a RangeError otherwise. */
export function parseMac(s: string): Mac {
  const parts = s.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) {
    throw new RangeError(`bad MAC address '${s}'`);
  }
  return parts.map((p) => Number.parseInt(p, 16)) as unknown as Mac;
}

function ipChecksum(b: Uint8Array, off: number, len: number): number {
  let sum = 0;
  for (let i = 0; i < len; i += 2) sum += (b[off + i] << 8) | b[off + i + 1];
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Writes a UDP frame of `len` bytes at `off` (headers are cut short for tiny frames). */
export function writeFrame(b: Uint8Array, off: number, len: number, dst: Mac, src: Mac): void {
  const f = new Uint8Array(Math.max(len, 42));
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = 0x08; // IPv4
  f[13] = 0x00;
  const ipLen = Math.max(len - ETH_HLEN, 28);
  f[14] = 0x45;
  f[16] = ipLen >>> 8;
  f[17] = ipLen & 0xff;
  f[22] = 64; // ttl
  f[23] = 17; // udp
  f.set([10, 0, 0, 1], 26);
  f.set([10, 1, 0, 1], 30);
  const c = ipChecksum(f, 14, 20);
  f[24] = c >>> 8;
  f[25] = c & 0xff;
  f[34] = 0x04; // sport 1234
  f[35] = 0xd2;
  f[36] = 0x10; // dport 4321
  f[37] = 0xe1;
  const udpLen = ipLen - 20;
  f[38] = udpLen >>> 8;
  f[39] = udpLen & 0xff;
  for (let i = 42; i < f.length; i++) f[i] = i & 0xff;
  b.set(f.subarray(0, len), off);
}
