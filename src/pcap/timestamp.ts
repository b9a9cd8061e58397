/**
 * pcapng timestamps: a 64-bit count of units since 1970, the unit set per interface by
 * if_tsresol (10^-n or 2^-n seconds, default 10^-6). Records carry seconds + nanoseconds as
 * plain numbers, so the conversion must be exact where the result fits in nanoseconds.
 *
 * Hazard: a double holds integers exactly only up to 2^53, and a nanosecond count of today
 * (~1.7e18) is far past that. So the 64-bit count is kept as two 32-bit halves and divided
 * by long division in 16-bit digits: every intermediate stays below 2^47 and every quotient
 * digit below 2^16, so each `Math.floor(a / d)` is exact. No BigInt: it would allocate on
 * every record.
 */

/** How one interface's timestamp units convert to seconds + nanoseconds (made once per interface). */
export interface TsUnit {
  /** Which conversion: see the MODE_ constants below. */
  readonly mode: number;
  /** The mode's first divisor. */
  readonly a: number;
  /** The mode's second factor or divisor. */
  readonly b: number;
  /** if_tsoffset: whole seconds added to every timestamp of the interface. */
  readonly offsetSec: number;
}

/** Where a conversion writes its result (the reader's reused record). */
export interface TsTarget {
  tsSec: number;
  tsNsec: number;
}

const MODE_DEC = 0; // 10^-n, n <= 9: exact; a = 10^n, b = 10^(9-n)
const MODE_DEC_FINE = 1; // 10^-n, 10 <= n <= 18: exact to the nearest ns; a = 10^(n-9)
const MODE_DEC_FLOAT = 2; // 10^-n, n >= 19: the whole value is under 2 s, a double is plenty
const MODE_BIN = 3; // 2^-n, n <= 32: a = 2^n, b = 2^(32-n)
const MODE_BIN_BIG = 4; // 2^-n, n > 32: a = 2^(n-32), b = 2^n
const TWO32 = 4294967296;

/**
 * The unit for an if_tsresol byte (high bit clear: 10^-n seconds; set: 2^-n) and an
 * if_tsoffset in seconds. `tsUnit(6)` is pcapng's default (microseconds), `tsUnit(9)` ns.
 */
export function tsUnit(resolution: number, offsetSec = 0): TsUnit {
  const n = resolution & 0x7f;
  if (resolution & 0x80) {
    if (n <= 32) return { mode: MODE_BIN, a: 2 ** n, b: 2 ** (32 - n), offsetSec };
    return { mode: MODE_BIN_BIG, a: 2 ** (n - 32), b: 2 ** n, offsetSec };
  }
  if (n <= 9) return { mode: MODE_DEC, a: 10 ** n, b: 10 ** (9 - n), offsetSec };
  if (n <= 18) return { mode: MODE_DEC_FINE, a: 10 ** (n - 9), b: 0, offsetSec };
  return { mode: MODE_DEC_FLOAT, a: 10 ** (n - 9), b: 0, offsetSec };
}

// Results of divmod64; module-level so the hot path allocates nothing. Single-threaded use.
let qHi = 0;
let qLo = 0;
let rem = 0;

/** (hi * 2^32 + lo) / d for d < 2^30, in 16-bit digits; sets qHi, qLo (each < 2^32) and rem. */
function divmod64(hi: number, lo: number, d: number): void {
  const h = Math.floor(hi / d);
  let r = hi - h * d;
  let cur = r * 65536 + (lo >>> 16);
  const m = Math.floor(cur / d);
  r = cur - m * d;
  cur = r * 65536 + (lo & 0xffff);
  const l = Math.floor(cur / d);
  qHi = h;
  qLo = m * 65536 + l;
  rem = cur - l * d;
}

/**
 * Converts a 64-bit timestamp (high and low 32-bit words) in `unit` into `out.tsSec` and
 * `out.tsNsec`. Exact for 10^-n with n <= 9 and 2^-n with n <= 32; finer units are rounded
 * to the nearest nanosecond. Allocates nothing.
 */
export function unitsToNs(hi: number, lo: number, unit: TsUnit, out: TsTarget): void {
  let sec: number;
  let nsec: number;
  switch (unit.mode) {
    case MODE_DEC:
      divmod64(hi, lo, unit.a);
      sec = qHi * TWO32 + qLo;
      nsec = rem * unit.b;
      break;
    case MODE_DEC_FINE: {
      // First to whole nanoseconds (rounded half up), then to seconds: both divisors < 2^30.
      divmod64(hi, lo, unit.a);
      let h = qHi;
      let l = qLo;
      if (2 * rem >= unit.a && ++l === TWO32) {
        l = 0;
        h++;
      }
      divmod64(h, l, 1e9);
      sec = qHi * TWO32 + qLo;
      nsec = rem;
      break;
    }
    case MODE_DEC_FLOAT: {
      const ns = Math.round((hi * TWO32 + lo) / unit.a);
      sec = Math.floor(ns / 1e9);
      nsec = ns - sec * 1e9;
      break;
    }
    case MODE_BIN: {
      // frac < 2^32 and 1e9 = 2^9 * 1953125 with 1953125 < 2^21, so frac * 1e9 is exact.
      const q = Math.floor(lo / unit.a);
      sec = hi * unit.b + q;
      nsec = Math.round(((lo - q * unit.a) * 1e9) / unit.a);
      break;
    }
    default: {
      sec = Math.floor(hi / unit.a);
      nsec = Math.round((((hi - sec * unit.a) * TWO32 + lo) * 1e9) / unit.b);
      break;
    }
  }
  if (nsec >= 1e9) {
    // Rounding to the nearest ns can reach the next second.
    nsec -= 1e9;
    sec++;
  }
  out.tsSec = sec + unit.offsetSec;
  out.tsNsec = nsec;
}

/** Where nsToUnits writes the two 32-bit words of a 64-bit nanosecond count. */
export interface Words64 {
  hi: number;
  lo: number;
}

/**
 * sec * 1e9 + nsec as two exact 32-bit words (pcapng with if_tsresol 9), for 0 <= sec < 2^34
 * and 0 <= nsec < 1e9 (the caller checks). Split so no product passes 2^53.
 */
export function nsToWords(sec: number, nsec: number, out: Words64): void {
  const sh = Math.floor(sec / 65536);
  const y = sh * 1e9; // < 2^48
  const yh = Math.floor(y / 65536);
  const low = (y - yh * 65536) * 65536 + (sec - sh * 65536) * 1e9 + nsec; // < 2^48
  const carry = Math.floor(low / TWO32);
  out.hi = yh + carry;
  out.lo = low - carry * TWO32;
}
