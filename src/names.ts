import { NetmapError } from './errors.js';

export type ParsedName =
  | { type: 'pipe'; name: string; pipe: string; end: 0 | 1 }
  | { type: 'vale'; name: string; switchName: string; port: string };

const PIPE = /^([A-Za-z0-9_.-]+)([{}])([A-Za-z0-9_]*)$/;
const VALE = /^(vale[A-Za-z0-9_]*):([A-Za-z0-9_]+)$/;

/**
 * Parses a netmap port name: `pipe0{` / `pipe0}` (or netmap's `name{N` / `name}N`) for
 * the master and slave ends of a pipe, `valeX:Y` for a VALE port. `netmap:` is optional.
 */
export function parsePortName(input: string): ParsedName {
  if (typeof input !== 'string' || input.length === 0) throw new NetmapError('EINVAL', 'port name is empty');
  const name = input.startsWith('netmap:') ? input.slice('netmap:'.length) : input;
  const p = PIPE.exec(name);
  if (p) return { type: 'pipe', name, pipe: `${p[1]}|${p[3]}`, end: p[2] === '{' ? 0 : 1 };
  const v = VALE.exec(name);
  if (v) return { type: 'vale', name, switchName: v[1], port: v[2] };
  throw new NetmapError('ENOENT', `unknown port name '${input}' (expected pipeN{, pipeN} or valeX:Y)`);
}
