/**
 * `sabnetmap replay` (netmap's nmreplay) and `sabnetmap capture` (a tcpdump for ports):
 * flags to options, one report or one JSON object. Bad input (a flag, or a capture file
 * that is not one) is a one-line error and exit code 2 (the caller's UsageError and
 * NetmapError handling).
 */
import { ENDPOINTS, type Endpoint } from '../apps/endpoint.js';
import { REPLAY_TIMINGS, type ReplayTiming } from '../apps/pcap-io.js';
import { REPLAY_PORTS, type ReplayPort, runCaptureRun, runReplay } from '../apps/replay-run.js';
import { LINE_RATES, type LineRate } from '../nic/line.js';
import { isInt, num, parseWithArgs, UsageError } from './args.js';

const f = (v: number, d = 2) => v.toFixed(d);

/** --rate N[pps|bps|kbps|Mbps|Gbps|Kpps|Mpps]: a packet rate or a bit rate. */
export function parseRate(raw: string): { pps?: number; bps?: number } {
  const m = /^(\d+(?:\.\d+)?(?:e\d+)?)\s*([kKMG]?)(pps|bps)?$/.exec(raw.trim());
  if (m === null) throw new UsageError(`--rate must be a number with pps or bps (e.g. 1Mpps, 100Mbps), got '${raw}'`);
  const scale = { '': 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9 }[m[2]] as number;
  const v = Number(m[1]) * scale;
  if (!(v > 0)) throw new UsageError(`--rate must be > 0, got '${raw}'`);
  return m[3] === 'bps' ? { bps: v } : { pps: v };
}

export async function replayCommand(argv: string[], signal: AbortSignal, help: string): Promise<void> {
  const { opts: o, args } = parseWithArgs(
    argv,
    {
      port: { type: 'string' },
      tx: { type: 'string' },
      timing: { type: 'string' },
      rate: { type: 'string' },
      speedup: { type: 'string' },
      loop: { type: 'string' },
      out: { type: 'string' },
      line: { type: 'string' },
      batch: { type: 'string' },
      ring: { type: 'string' },
      json: { type: 'boolean' },
    },
    1,
  );
  if (o.help) return void process.stdout.write(help);
  const file = args[0];
  if (file === undefined) throw new UsageError('replay needs a capture file: sabnetmap replay FILE [options]');
  const port = (o.port as string | undefined) ?? 'pipe';
  if (!(REPLAY_PORTS as readonly string[]).includes(port)) {
    throw new UsageError(`--port must be ${REPLAY_PORTS.join(', ')}; got '${port}'`);
  }
  const tx = (o.tx as string | undefined) ?? 'host';
  if (!(ENDPOINTS as readonly string[]).includes(tx))
    throw new UsageError(`--tx must be ${ENDPOINTS.join(', ')}; got '${tx}'`);
  const timing = (o.timing as string | undefined) ?? 'recorded';
  if (!(REPLAY_TIMINGS as readonly string[]).includes(timing)) {
    throw new UsageError(`--timing must be ${REPLAY_TIMINGS.join(' or ')}; got '${timing}'`);
  }
  const line = (o.line as string | undefined) ?? '10G';
  if (!(LINE_RATES as readonly string[]).includes(line))
    throw new UsageError(`--line must be ${LINE_RATES.join(', ')}; got '${line}'`);
  if (o.line !== undefined && port !== 'nic') throw new UsageError('--line is for --port nic');
  if (o.speedup !== undefined && (o.rate !== undefined || timing === 'fast')) {
    throw new UsageError('--speedup applies to --timing recorded without --rate');
  }
  const rate = o.rate !== undefined ? parseRate(o.rate as string) : {};
  const r = await runReplay({
    file,
    port: port as ReplayPort,
    tx: tx as Endpoint,
    timing: timing as ReplayTiming,
    ...rate,
    speedup: num(o, 'speedup', 1, (v) => v > 0 && v <= 1e6, 'a number > 0'),
    loop: num(o, 'loop', 1, (v) => isInt(v) && v >= 0, 'an integer >= 0 (0: until Ctrl-C)'),
    out: o.out as string | undefined,
    line: line as LineRate,
    batch: num(o, 'batch', 64, (v) => isInt(v) && v >= 1, 'a positive integer'),
    ring: num(o, 'ring', 1024, (v) => isInt(v) && v >= 2 && v <= 16384, 'an integer from 2 to 16384'),
    signal,
  });
  if (o.json === true) return void process.stdout.write(`${JSON.stringify(r)}\n`);
  const path =
    port === 'nic' ? `nic0 -> its ${line} wire` : port === 'vale' ? 'vale0:a -> vale0:b' : 'pipe0{ -> pipe0}';
  const lines = [
    `replay ${file} (${tx}) over ${path}: sent ${r.sent.frames} frames, ${r.sent.bytes} B in ${r.sent.slots} slots (${f(r.sent.seconds, 3)} s${r.sent.tooLong > 0 ? `; ${r.sent.tooLong} longer than the ring could hold, not sent` : ''})`,
    `received ${r.received.frames} frames, ${r.received.bytes} B${r.out ? ` -> ${r.out}` : ''}${port === 'vale' ? `; switch drops ${r.switchDrops}` : ''}`,
    r.sent.lateMs > 1 ? `the schedule fell behind by up to ${f(r.sent.lateMs, 1)} ms` : 'every frame went on schedule',
  ];
  if (r.wire) {
    const l = r.wire.lanes[0];
    lines.push(`wire: ${f(l.mpps)} Mpps, ${f(l.utilisation * 100, 1)}% of the line busy`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

export async function captureCommand(argv: string[], signal: AbortSignal, help: string): Promise<void> {
  const { opts: o } = parseWithArgs(
    argv,
    {
      out: { type: 'string' },
      watch: { type: 'string' },
      count: { type: 'string' },
      seconds: { type: 'string' },
      replay: { type: 'string' },
      len: { type: 'string' },
      batch: { type: 'string' },
      port: { type: 'string' },
      json: { type: 'boolean' },
    },
    0,
  );
  if (o.help) return void process.stdout.write(help);
  if (o.out === undefined || o.out === '') throw new UsageError('capture needs --out FILE');
  const port = (o.port as string | undefined) ?? 'vale';
  if (port !== 'vale') {
    throw new UsageError(
      `capture watches a VALE port or switch (--port vale); a pipe's or NIC's traffic is captured with replay --out, or pkt-gen --port nic with the wire writing pcap; got '${port}'`,
    );
  }
  const watch = (o.watch as string | undefined) ?? 'switch';
  if (watch !== 'a' && watch !== 'b' && watch !== 'switch')
    throw new UsageError(`--watch must be a, b or switch; got '${watch}'`);
  const count = num(o, 'count', 0, (v) => isInt(v) && v >= 0, 'a non-negative integer');
  const r = await runCaptureRun({
    out: o.out as string,
    watch,
    count,
    seconds: num(o, 'seconds', count > 0 ? 0 : 3, (v) => v >= 0 && v <= 3600, 'a number of seconds from 0 to 3600'),
    replay: o.replay as string | undefined,
    len: num(o, 'len', 60, (v) => isInt(v) && v >= 60 && v <= 2048, 'an integer from 60 to 2048'),
    batch: num(o, 'batch', 64, (v) => isInt(v) && v >= 1, 'a positive integer'),
    signal,
  });
  if (o.json === true) return void process.stdout.write(`${JSON.stringify(r)}\n`);
  process.stdout.write(
    `capture of ${watch === 'switch' ? 'switch vale0' : `vale0:${watch}`} -> ${r.out}: ${r.captured} frames written, ` +
      `${r.missed} the monitor could not keep up with; traffic sent ${r.sent}, received ${r.received} (${f(r.seconds, 3)} s)\n`,
  );
}
