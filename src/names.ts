import { NetmapError } from './errors.js';
import type { NotifyPolicy } from './kernel/notify.js';

/** Which rings of a port end a registration binds: all of them, or one direction (netmap's /T, /R). */
export type RingBinding = 'all' | 'tx' | 'rx';

/** How a registration holds its port: netmap's register flags that mean something here. */
export interface OpenMode {
  /** Refused while anyone else holds the port, and keeps everyone else out (netmap's /x, NR_EXCLUSIVE). */
  exclusive: boolean;
  rings: RingBinding;
  /** poll() without POLLOUT leaves pending TX slots alone (netmap's NETMAP_NO_TX_POLL). */
  noTxPoll?: boolean;
  /** When a sleeping peer is worth waking (src/kernel/notify.ts); default 'asleep'. */
  notify?: NotifyPolicy;
}

/** A port name taken apart: a pipe end (`pipe0{`), a VALE port (`vale0:a`) or a NIC (`nic0`), and how it is opened. */
export type ParsedName = (
  | { type: 'pipe'; name: string; pipe: string; end: 0 | 1 }
  | { type: 'vale'; name: string; switchName: string; port: string }
  | { type: 'nic'; name: string }
) & { mode: OpenMode };

const PIPE = /^([A-Za-z0-9_.-]+)([{}])([A-Za-z0-9_]*)$/;
const VALE = /^(vale[A-Za-z0-9_]*):([A-Za-z0-9_]+)$/;
const NIC = /^nic[0-9]+$/;
/** The name, then netmap's ring suffix (-N, *, ^...), then /flags, then @options. */
const SUFFIXES = /^([^/@]*?)((?:-\d+|[*^]\d*)?)(?:\/([A-Za-z]*))?(@.*)?$/;

/**
 * Parses a netmap port name: `pipe0{` / `pipe0}` (or netmap's `name{N` / `name}N`) for
 * the master and slave ends of a pipe, `valeX:Y` for a VALE port, `nicN` for a NIC (one
 * made with Netmap.createNic). `netmap:` is optional.
 * netmap's suffixes: `/x` exclusive, `/T` TX rings only, `/R` RX rings only (combinable,
 * as `/Tx`), `-0` ring 0 (every port here has one ring pair). The others name things that
 * do not exist here and are refused with a precise error.
 */
export function parsePortName(input: string): ParsedName {
  if (typeof input !== 'string' || input.length === 0) throw new NetmapError('EINVAL', 'port name is empty');
  const full = input.startsWith('netmap:') ? input.slice('netmap:'.length) : input;
  const m = SUFFIXES.exec(full);
  if (m === null) throw new NetmapError('EINVAL', `'${input}': bad port name`);
  const [, name, ring, flags, options] = m;
  if (options !== undefined) {
    throw new NetmapError('ENOTSUP', `'${input}': register options (${options}) are not supported`);
  }
  if (ring.startsWith('*') || ring.startsWith('^')) {
    throw new NetmapError('ENOTSUP', `'${input}': host stack rings (${ring}) do not exist in sabnetmap`);
  }
  if (ring !== '' && ring !== '-0') {
    throw new NetmapError('ENOENT', `'${input}': no ring ${ring.slice(1)} (every port here has one ring pair, ring 0)`);
  }
  const mode = parseFlags(input, flags ?? '');
  const p = PIPE.exec(name);
  if (p) return { type: 'pipe', name, pipe: `${p[1]}|${p[3]}`, end: p[2] === '{' ? 0 : 1, mode };
  const v = VALE.exec(name);
  if (v) return { type: 'vale', name, switchName: v[1], port: v[2], mode };
  if (NIC.test(name)) return { type: 'nic', name, mode };
  throw new NetmapError('ENOENT', `unknown port name '${input}' (expected pipeN{, pipeN}, valeX:Y or nicN)`);
}

function parseFlags(input: string, flags: string): OpenMode {
  const mode: OpenMode = { exclusive: false, rings: 'all' };
  for (const f of flags) {
    if (f === 'x') mode.exclusive = true;
    else if (f === 'T' || f === 'R') {
      const want = f === 'T' ? 'tx' : 'rx';
      if (mode.rings !== 'all' && mode.rings !== want) {
        throw new NetmapError('EINVAL', `'${input}': /T and /R together bind no ring`);
      }
      mode.rings = want;
    } else if (f === 'z' || f === 't' || f === 'r') {
      throw new NetmapError('ENOTSUP', `'${input}': monitor ports (/${f}) are not supported`);
    } else {
      throw new NetmapError('EINVAL', `'${input}': unknown flag '${f}' (known: x, T, R)`);
    }
  }
  return mode;
}
