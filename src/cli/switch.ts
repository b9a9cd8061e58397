/**
 * `sabnetmap switch vale0 --vxlan LOCAL_ADDR:PORT --remote NAME=ADDR:PORT[,vni=N] ...`:
 * a VALE switch with one VXLAN port per remote (src/vxlan/), printing its ports, learned
 * MACs and counters every few seconds (vale-ctl style) or one JSON line per
 * `--json-stats S` seconds, until Ctrl-C (exit 130) or SIGTERM (143), which close the
 * ports and print the last figures. Bad input is one line and exit code 2 (a NetmapError,
 * which main.ts prints so).
 */
import { parseArgs } from 'node:util';
import { NetmapError } from '../errors.js';
import { Netmap } from '../netmap.js';
import { attachVxlan, type VxlanStats } from '../vxlan/attach.js';
import { VXLAN_WAKES, type VxlanWake } from '../vxlan/endpoint.js';
import { untilSignal } from './context.js';

export const SWITCH_HELP = `usage: sabnetmap switch SWITCH --vxlan LOCAL_ADDR:PORT --remote NAME=ADDR:PORT[,vni=N] ... [options]
  a VALE switch (valeX) with one VXLAN port per remote (SWITCH:NAME), until Ctrl-C
  --vxlan ADDR:PORT      where the tunnel endpoint listens (an IP address; [v6]:PORT)
  --remote SPEC          NAME=ADDR:PORT[,vni=N], repeatable (at least one)
  --vni N                the VNI of remotes that name none (42)
  --mtu N                the underlay's IP MTU (1500): frames up to mtu - 36 bytes (IPv6: 56)
  --stats S              seconds between vale-ctl style reports (5)
  --json-stats S         one JSON line of counters every S seconds instead
  --ring N / --buf-size N   the ports' ring and buffer sizes (1024 / 2048)
  --wake async|poll      how the endpoint notices frames from other threads (async)
  --threads 1|2          endpoint threads: 2 runs the inbound and outbound halves apart
                         (default 2 with 2 cores or more)
`;

function usage(msg: string): NetmapError {
  return new NetmapError('EINVAL', msg);
}

/** A positive number of seconds for `--name`. */
function seconds(v: string | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0.05 || n > 86400) {
    throw usage(`--${name} must be a number of seconds from 0.05 to 86400, got '${v}'`);
  }
  return n;
}

function integer(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw usage(`--${name} must be a non-negative integer, got '${v}'`);
  return Number(v);
}

/** Runs the command; resolves with the exit code (130 after Ctrl-C, 143 after SIGTERM). */
export async function switchCommand(argv: string[]): Promise<number> {
  let values: Record<string, string | string[] | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: {
        vxlan: { type: 'string' },
        remote: { type: 'string', multiple: true },
        vni: { type: 'string' },
        mtu: { type: 'string' },
        stats: { type: 'string' },
        'json-stats': { type: 'string' },
        ring: { type: 'string' },
        'buf-size': { type: 'string' },
        wake: { type: 'string' },
        threads: { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: true,
    }));
  } catch (e) {
    throw usage((e as Error).message.split('\n')[0].split('. ')[0].replace(/\.$/, ''));
  }
  if (values.help === true) {
    process.stdout.write(SWITCH_HELP);
    return 0;
  }
  if (positionals.length === 0)
    throw usage('switch needs a switch name (valeX), e.g. sabnetmap switch vale0 --vxlan ...');
  if (positionals.length > 1) throw usage(`unexpected argument '${positionals[1]}'`);
  const sw = positionals[0];
  const local = values.vxlan as string | undefined;
  if (local === undefined) throw usage('switch needs --vxlan LOCAL_ADDR:PORT');
  const remotes = (values.remote as string[] | undefined) ?? [];
  if (remotes.length === 0) throw usage('switch needs at least one --remote NAME=ADDR:PORT[,vni=N]');
  const wake = (values.wake as string | undefined) ?? 'async';
  if (!(VXLAN_WAKES as readonly string[]).includes(wake)) {
    throw usage(`--wake must be ${VXLAN_WAKES.join(' or ')}, got '${wake}'`);
  }
  const jsonEvery =
    values['json-stats'] === undefined ? null : seconds(values['json-stats'] as string, 'json-stats', 1);
  const every = seconds(values.stats as string | undefined, 'stats', 5);
  const netmap = new Netmap();
  const h = await attachVxlan(netmap, sw, {
    local,
    remotes,
    vni: integer(values.vni as string | undefined, 'vni'),
    mtu: integer(values.mtu as string | undefined, 'mtu'),
    ringSize: integer(values.ring as string | undefined, 'ring'),
    bufSize: integer(values['buf-size'] as string | undefined, 'buf-size'),
    wake: wake as VxlanWake,
    threads: integer(values.threads as string | undefined, 'threads') as 1 | 2 | undefined,
  });
  const t0 = performance.now();
  let last: VxlanStats | null = null;
  let lastT = t0;
  const report = (final: boolean) => {
    const s = h.stats();
    const now = performance.now();
    if (jsonEvery !== null) {
      process.stdout.write(
        `${JSON.stringify({ t: Number(((now - t0) / 1000).toFixed(3)), ...(final ? { final } : {}), ...s })}\n`,
      );
    } else {
      process.stdout.write(formatSwitchStats(s, (now - t0) / 1000, last, (now - lastT) / 1000));
    }
    last = s;
    lastT = now;
  };
  if (jsonEvery === null) {
    process.stdout.write(
      `${sw}: VXLAN on ${h.stats().local} (mtu ${h.mtu}: frames up to ${h.maxFrame} bytes), ports ${h.ports.join(', ')}; Ctrl-C stops\n`,
    );
  }
  const timer = setInterval(() => report(false), (jsonEvery ?? every) * 1000);
  return untilSignal(() => {
    clearInterval(timer);
    // The last figures while the ports are still on the switch (its counters go with them).
    report(true);
    return h.close().then(() => netmap.close());
  });
}

const n = (x: number) => String(Math.round(x));

/** The vale-ctl style report: ports with their remote and counters, learned MACs, drops by reason. */
export function formatSwitchStats(s: VxlanStats, t: number, prev: VxlanStats | null, dt: number): string {
  const rate = (now: number, before: number | undefined) =>
    prev === null || before === undefined || dt <= 0 ? '' : ` (${n((now - before) / dt)}/s)`;
  const out: string[] = [
    `${s.switch} at ${t.toFixed(1)} s, VXLAN on ${s.local}${s.error ? `, ENDPOINT FAILED: ${s.error}` : ''}`,
  ];
  const row = (port: string, remote: string, vni: string, from: string, to: string, sw: string) =>
    `  ${port.padEnd(16)} ${remote.padEnd(23)} ${vni.padStart(8)}  ${from.padEnd(20)} ${to.padEnd(20)} ${sw}`;
  out.push(row('port', 'remote', 'vni', 'from remote', 'to remote', 'switch rx/tx/drops'));
  for (const r of s.remotes) {
    const p = prev?.remotes.find((x) => x.name === r.name);
    const v = r.vale;
    out.push(
      row(
        r.port,
        r.remote,
        String(r.vni),
        n(r.in.frames) + rate(r.in.frames, p?.in.frames),
        n(r.out.frames) + rate(r.out.frames, p?.out.frames),
        v ? `${n(v.rx)}/${n(v.tx)}/${n(v.drops)}` : '-',
      ),
    );
  }
  for (const p of s.ports.filter((x) => !s.remotes.some((r) => r.name === x.name))) {
    const c = p.counters;
    out.push(row(`${s.switch}:${p.name}`, '(another port)', '', '', '', `${n(c.rx)}/${n(c.tx)}/${n(c.drops)}`));
  }
  out.push(`  learned MACs: ${s.macs.length === 0 ? 'none' : s.macs.map((m) => `${m.mac} ${m.port}`).join(', ')}`);
  const drops: string[] = [];
  if (s.endpoint.unknownSource > 0) drops.push(`unknown source ${n(s.endpoint.unknownSource)}`);
  for (const r of s.remotes) {
    const d = [
      ['short', r.in.drops.short],
      ['no I flag', r.in.drops.flags],
      ['other VNI', r.in.drops.vni],
      ['over mtu in', r.in.drops.tooBig],
      ['ring full', r.in.drops.ringFull],
      ['to our source port', r.in.drops.toSender],
      ['over mtu out', r.out.drops.tooBig],
      ['send errors', r.out.drops.sendError],
      ['unreachable', r.out.unreachable],
    ].filter(([, v]) => (v as number) > 0);
    if (d.length > 0) drops.push(`${r.name}: ${d.map(([k, v]) => `${k} ${n(v as number)}`).join(', ')}`);
  }
  out.push(
    `  drops: ${drops.length === 0 ? 'none' : drops.join('; ')} (frames up to ${s.maxFrame} bytes for mtu ${s.mtu})`,
  );
  return `${out.join('\n')}\n`;
}
