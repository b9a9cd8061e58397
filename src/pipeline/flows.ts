/**
 * A flow table for stages that count per connection without allocating per packet: open
 * addressing over typed arrays, keyed by the connection (both directions are one flow: the
 * two endpoints are stored in a canonical order), with packet and byte counts. Its size is
 * fixed when it is made (no growth on the per-packet path): packets of flows that do not
 * fit are counted in `untracked`, never lost silently. Reports (`entries`, `top`) allocate.
 */
import { NetmapError } from '../errors.js';
import { flowHash, NON_IP, symmetricMix } from './hash.js';
import { ipv4ToString, ipv6ToString, type PacketHeaders } from './headers.js';

/** One flow as reported: endpoint A is the smaller (address, port) of the two. */
export interface FlowEntry {
  /** IP version (4 or 6) and transport protocol. */
  ipVersion: number;
  proto: number;
  a: string;
  aPort: number;
  b: string;
  bPort: number;
  packets: number;
  bytes: number;
}

/** Words per entry: tag (1 | version << 8 | proto << 16), A's address (4), B's address (4), ports (A << 16 | B). */
const W = 10;
const MAX_CAPACITY = 1 << 24;

/**
 * A fixed-size flow table that counts packets and bytes per connection (both directions
 * one flow) without allocating per packet.
 */
export class FlowTable {
  /** Slots in the table (a power of two); at most 3/4 of them are used. */
  readonly capacity: number;
  /** Flows in the table. */
  size = 0;
  /** Packets not counted in a flow: not IP, or the table was full. */
  untracked = 0;
  private readonly keys: Int32Array;
  private readonly packets: Float64Array;
  private readonly bytes: Float64Array;
  private readonly mask: number;
  private readonly limit: number;
  /** The key being looked up (made once). */
  private readonly k = new Int32Array(W);

  /** `flows`: how many flows it must hold (the table is made 4/3 of that, rounded up to a power of two). */
  constructor(flows = 65536) {
    if (!Number.isInteger(flows) || flows < 1 || flows > (MAX_CAPACITY * 3) / 4) {
      throw new NetmapError('EINVAL', `a flow table holds 1 to ${(MAX_CAPACITY * 3) / 4} flows, got ${flows}`);
    }
    let cap = 16;
    while ((cap * 3) / 4 < flows) cap *= 2;
    this.capacity = cap;
    this.mask = cap - 1;
    this.limit = flows;
    this.keys = new Int32Array(cap * W);
    this.packets = new Float64Array(cap);
    this.bytes = new Float64Array(cap);
  }

  /**
   * Counts `bytes` (default: the frame's length) for the packet whose headers `h` holds.
   * Returns false when the packet is not IP or its flow does not fit (counted in `untracked`).
   */
  add(h: PacketHeaders, bytes = h.len): boolean {
    if (h.ipVersion === 4) {
      const ports = !h.fragment && h.srcPort >= 0;
      return this.add4(h.ipv4Src | 0, h.ipv4Dst | 0, ports ? h.srcPort : 0, ports ? h.dstPort : 0, h.proto, bytes);
    }
    const hash = flowHash(h);
    if (hash === NON_IP) {
      this.untracked++;
      return false;
    }
    // IPv4 went to add4 and anything not IP has no hash: this is IPv6.
    const k = this.k;
    const sa0 = h.ipv6Word(true, 0);
    const sa1 = h.ipv6Word(true, 1);
    const sa2 = h.ipv6Word(true, 2);
    const sa3 = h.ipv6Word(true, 3);
    const da0 = h.ipv6Word(false, 0);
    const da1 = h.ipv6Word(false, 1);
    const da2 = h.ipv6Word(false, 2);
    const da3 = h.ipv6Word(false, 3);
    const ports = !h.fragment && h.srcPort >= 0;
    const sp = ports ? h.srcPort : 0;
    const dp = ports ? h.dstPort : 0;
    // Canonical order: the smaller endpoint (address words, then port; unsigned) first.
    const srcFirst =
      sa0 !== da0 ? sa0 < da0 : sa1 !== da1 ? sa1 < da1 : sa2 !== da2 ? sa2 < da2 : sa3 !== da3 ? sa3 < da3 : sp <= dp;
    k[0] = 1 | (h.ipVersion << 8) | (h.proto << 16);
    if (srcFirst) {
      k[1] = sa0;
      k[2] = sa1;
      k[3] = sa2;
      k[4] = sa3;
      k[5] = da0;
      k[6] = da1;
      k[7] = da2;
      k[8] = da3;
      k[9] = (sp << 16) | dp;
    } else {
      k[1] = da0;
      k[2] = da1;
      k[3] = da2;
      k[4] = da3;
      k[5] = sa0;
      k[6] = sa1;
      k[7] = sa2;
      k[8] = sa3;
      k[9] = (dp << 16) | sp;
    }
    const keys = this.keys;
    let i = hash & this.mask;
    for (;;) {
      const b = i * W;
      if (keys[b] === 0) {
        if (this.size >= this.limit) {
          this.untracked++;
          return false;
        }
        for (let w = 0; w < W; w++) keys[b + w] = k[w];
        this.size++;
        this.packets[i] = 1;
        this.bytes[i] = bytes;
        return true;
      }
      if (
        keys[b] === k[0] &&
        keys[b + 1] === k[1] &&
        keys[b + 5] === k[5] &&
        keys[b + 9] === k[9] &&
        keys[b + 2] === k[2] &&
        keys[b + 3] === k[3] &&
        keys[b + 4] === k[4] &&
        keys[b + 6] === k[6] &&
        keys[b + 7] === k[7] &&
        keys[b + 8] === k[8]
      ) {
        this.packets[i]++;
        this.bytes[i] += bytes;
        return true;
      }
      i = (i + 1) & this.mask;
    }
  }

  /** IPv4 (the usual case): four key words to compare, no scratch key. */
  private add4(a: number, b: number, pa: number, pb: number, proto: number, bytes: number): boolean {
    const aFirst = a !== b ? a >>> 0 < b >>> 0 : pa <= pb;
    const x = aFirst ? a : b;
    const y = aFirst ? b : a;
    const ports = aFirst ? (pa << 16) | pb : (pb << 16) | pa;
    const tag = 1 | (4 << 8) | (proto << 16);
    const keys = this.keys;
    let i = symmetricMix(a, pa, b, pb, proto) & this.mask;
    for (;;) {
      const k = i * W;
      const t = keys[k];
      if (t === tag && keys[k + 1] === x && keys[k + 5] === y && keys[k + 9] === ports) {
        this.packets[i]++;
        this.bytes[i] += bytes;
        return true;
      }
      if (t === 0) {
        if (this.size >= this.limit) {
          this.untracked++;
          return false;
        }
        keys[k] = tag;
        keys[k + 1] = x;
        keys[k + 5] = y;
        keys[k + 9] = ports;
        this.size++;
        this.packets[i] = 1;
        this.bytes[i] = bytes;
        return true;
      }
      i = (i + 1) & this.mask;
    }
  }

  /** Every flow (allocates). */
  entries(): FlowEntry[] {
    const out: FlowEntry[] = [];
    const keys = this.keys;
    for (let i = 0; i < this.capacity; i++) {
      const b = i * W;
      const tag = keys[b];
      if (tag === 0) continue;
      const version = (tag >>> 8) & 0xff;
      const addr = (o: number) =>
        version === 6
          ? ipv6ToString(keys[o] >>> 0, keys[o + 1] >>> 0, keys[o + 2] >>> 0, keys[o + 3] >>> 0)
          : ipv4ToString(keys[o] >>> 0);
      out.push({
        ipVersion: version,
        proto: (tag >>> 16) & 0xff,
        a: addr(b + 1),
        aPort: keys[b + 9] >>> 16,
        b: addr(b + 5),
        bPort: keys[b + 9] & 0xffff,
        packets: this.packets[i],
        bytes: this.bytes[i],
      });
    }
    return out;
  }

  /** The `n` largest flows by `by` (allocates). */
  top(n: number, by: 'bytes' | 'packets' = 'bytes'): FlowEntry[] {
    return topFlows([this.entries()], n, by);
  }

  /** Forgets every flow. */
  clear(): void {
    this.keys.fill(0);
    this.size = 0;
    this.untracked = 0;
  }
}

/**
 * Merges flow lists from several workers (the same flow may appear in more than one if
 * traffic was not balanced by flow) and returns the `n` largest by `by`.
 */
export function topFlows(lists: readonly FlowEntry[][], n: number, by: 'bytes' | 'packets' = 'bytes'): FlowEntry[] {
  const merged = new Map<string, FlowEntry>();
  for (const list of lists) {
    for (const f of list) {
      const key = `${f.ipVersion}/${f.proto}/${f.a}/${f.aPort}/${f.b}/${f.bPort}`;
      const m = merged.get(key);
      if (m === undefined) merged.set(key, { ...f });
      else {
        m.packets += f.packets;
        m.bytes += f.bytes;
      }
    }
  }
  return [...merged.values()]
    .sort((x, y) => y[by] - x[by] || y.packets - x.packets || (x.a < y.a ? -1 : x.a > y.a ? 1 : x.aPort - y.aPort))
    .slice(0, Math.max(0, n));
}
