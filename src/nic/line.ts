/**
 * Line rates of a NIC's wire, with Ethernet's own cost per frame: 8 bytes of preamble and
 * start delimiter, 12 of inter-frame gap and 4 of FCS besides the frame, which is padded
 * to 60 bytes (64 with its FCS). A 60-byte frame takes 84 byte-times: 14.88 Mpps at 10G.
 */
import { ETH_MIN_FRAME, ETH_WIRE_OVERHEAD } from '../../shm/layout.js';
import { NetmapError } from '../errors.js';

/** The line rates a NIC's wire runs at. */
export const LINE_RATES = ['1G', '10G', '25G', '40G', '100G'] as const;
/** One of LINE_RATES. */
export type LineRate = (typeof LINE_RATES)[number];

/** Bits per second of a line rate name ('10G' -> 1e10). */
export function lineBps(line: LineRate): number {
  return Number.parseInt(line, 10) * 1e9;
}

/** Returns `line` as a LineRate, or throws EINVAL naming the line rates. */
export function checkLineRate(line: unknown): LineRate {
  if (!LINE_RATES.includes(line as LineRate)) {
    throw new NetmapError('EINVAL', `line rate must be ${LINE_RATES.join(', ')}; got '${String(line)}'`);
  }
  return line as LineRate;
}

/** Byte-times a frame of `len` bytes (without FCS) takes on the wire. */
export function wireBytes(len: number): number {
  return Math.max(len, ETH_MIN_FRAME) + ETH_WIRE_OVERHEAD;
}

/** The line rate in Mpps for frames of `len` bytes (without FCS): 14.88 for 60 bytes at 10G. */
export function lineRateMpps(bps: number, len: number): number {
  return bps / (8 * wireBytes(len)) / 1e6;
}
