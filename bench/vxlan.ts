/**
 * Real hosts on a sabnetmap switch: two Linux network namespaces, each joined to the root
 * namespace by a veth pair and holding a kernel vxlan device whose remote is the
 * switch's address (the lab), and `sabnetmap bench vxlan`: the same TCP transfer between
 * them through the sabnetmap switch and through a Linux bridge of two kernel vxlan
 * devices (the anchor), in one run.
 *
 *   ns A: vxlan0 10.213.N.1/24 (VNI a) --- veth A1 10.213.N+1.2 === A0 10.213.N+1.1 (root)
 *   ns B: vxlan0 10.213.N.2/24 (VNI b) --- veth B1 10.213.N+2.2 === B0 10.213.N+2.1 (root)
 *
 * Both namespaces' vxlan devices send to 10.213.N+1.1:PORT (ns B routes it via B0): the
 * switch listens there, or, for the anchor, the root namespace's own vxlan devices (one
 * per namespace, VNIs a and b, in one bridge). Everything the lab makes carries its
 * prefix, and is removed at the end and, from a failed run before, at the start. It
 * needs root (network namespaces), iproute2 and ethtool; ping (iputils) for the ping.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { NetmapError } from '../src/errors.js';
import { Netmap } from '../src/netmap.js';
import { attachVxlan, type VxlanHandle, type VxlanStats } from '../src/vxlan/attach.js';
import type { VxlanWake } from '../src/vxlan/endpoint.js';

export interface LabOptions {
  /** Names of everything made start with it (at most 6 characters: interface names are short). */
  prefix: string;
  /** Third octet of the overlay subnet 10.213.N.0/24; the underlays are N+1 and N+2. */
  net: number;
  /** UDP port of the tunnels (both ends). */
  port: number;
  /** The two namespaces' VNIs. */
  vnis: [number, number];
  /** The veth pairs' MTU (the underlay's). */
  mtu: number;
}

export const LAB_DEFAULTS: LabOptions = { prefix: 'sbvx', net: 0, port: 48789, vnis: [42, 43], mtu: 1500 };

function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs `ip`, ignoring failure (for cleanup of what may not exist). */
function ipQuiet(args: string[]): void {
  try {
    ip(args);
  } catch {
    // not there
  }
}

/** Whether this process may make network namespaces: null if so, else why not. */
export function netnsUnavailable(): string | null {
  if (process.platform !== 'linux') return 'not Linux';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'not root (network namespaces need root)';
  for (const [cmd, pkg] of [
    ['ip', 'iproute2'],
    ['ethtool', 'ethtool'],
  ]) {
    try {
      execFileSync(cmd, ['--version'], { stdio: 'ignore' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return `no '${cmd}' command (apt-get install ${pkg})`;
    }
  }
  const probe = `sbvxprobe${process.pid}`;
  try {
    ip(['netns', 'add', probe]);
  } catch (e) {
    return `'ip netns add' failed: ${String((e as { stderr?: string }).stderr ?? (e as Error).message).trim()}`;
  }
  ipQuiet(['netns', 'del', probe]);
  return null;
}

/** Two namespaces with vxlan devices aimed at the switch's address. */
export class NetnsLab {
  readonly o: LabOptions;
  readonly ns: [string, string];
  readonly veth: [string, string];
  /** The namespaces' overlay addresses (vxlan0). */
  readonly overlay: [string, string];
  /** The namespaces' underlay addresses (their veth ends). */
  readonly underlay: [string, string];
  /** Where the switch listens (the root end of A's veth). */
  readonly switchAddress: string;
  private anchorUp = false;

  constructor(o: Partial<LabOptions> = {}) {
    this.o = { ...LAB_DEFAULTS, ...o };
    const { prefix: p, net } = this.o;
    if (!/^[a-z][a-z0-9]{0,5}$/.test(p))
      throw new NetmapError('EINVAL', `lab prefix '${p}': 1-6 lower-case letters and digits`);
    if (!(Number.isInteger(net) && net >= 0 && net <= 250)) throw new NetmapError('EINVAL', `lab net ${net}: 0..250`);
    this.ns = [`${p}-a`, `${p}-b`];
    this.veth = [`${p}a`, `${p}b`];
    this.overlay = [`10.213.${net}.1`, `10.213.${net}.2`];
    this.underlay = [`10.213.${net + 1}.2`, `10.213.${net + 2}.2`];
    this.switchAddress = `10.213.${net + 1}.1`;
  }

  /** The switch's remotes for the two namespaces (names a and b). */
  remotes(): Array<{ name: string; address: string; port: number; vni: number }> {
    return [0, 1].map((i) => ({
      name: i === 0 ? 'a' : 'b',
      address: this.underlay[i],
      port: this.o.port,
      vni: this.o.vnis[i],
    }));
  }

  /** Removes whatever this lab's names left (a failed run before, or this one). */
  cleanup(): void {
    const p = this.o.prefix;
    for (const n of this.ns) ipQuiet(['netns', 'del', n]);
    // Root-namespace links of ours: the veth ends (gone with their peers), anchor devices.
    let links: Array<{ ifname: string }> = [];
    try {
      links = JSON.parse(ip(['-j', 'link', 'show'])) as Array<{ ifname: string }>;
    } catch {
      links = [];
    }
    for (const l of links) if (l.ifname.startsWith(p)) ipQuiet(['link', 'del', l.ifname]);
    this.anchorUp = false;
  }

  /** Makes the namespaces (after removing leftovers); throws if the subnets are in use on this machine. */
  create(): void {
    this.cleanup();
    const { net, port, vnis, mtu } = this.o;
    const used = (
      JSON.parse(ip(['-j', 'addr', 'show'])) as Array<{ ifname: string; addr_info?: Array<{ local: string }> }>
    )
      .flatMap((l) => (l.addr_info ?? []).map((a) => ({ ifname: l.ifname, local: a.local })))
      .filter((a) => [net, net + 1, net + 2].some((n) => a.local.startsWith(`10.213.${n}.`)));
    if (used.length > 0) {
      throw new NetmapError(
        'EBUSY',
        `lab subnets 10.213.${net}-${net + 2}.0/24 are in use here (${used.map((u) => `${u.local} on ${u.ifname}`).join(', ')})`,
      );
    }
    try {
      for (let i = 0; i < 2; i++) {
        const ns = this.ns[i];
        const root = `${this.veth[i]}0`;
        const inner = `${this.veth[i]}1`;
        const sub = `10.213.${net + 1 + i}`;
        ip(['netns', 'add', ns]);
        // Quiet namespaces: no IPv6 (router solicitations, MLD) to blur the counters.
        execFileSync('ip', [
          'netns',
          'exec',
          ns,
          'sh',
          '-c',
          'for f in all default; do echo 1 > /proc/sys/net/ipv6/conf/$f/disable_ipv6; done 2>/dev/null; true',
        ]);
        ip([
          'link',
          'add',
          root,
          'mtu',
          String(mtu),
          'type',
          'veth',
          'peer',
          'name',
          inner,
          'mtu',
          String(mtu),
          'netns',
          ns,
        ]);
        ip(['addr', 'add', `${sub}.1/24`, 'dev', root]);
        ip(['link', 'set', root, 'up']);
        ip(['-n', ns, 'link', 'set', 'lo', 'up']);
        ip(['-n', ns, 'addr', 'add', `${sub}.2/24`, 'dev', inner]);
        ip(['-n', ns, 'link', 'set', inner, 'up']);
        // A veth hands the kernel's packets on with the inner TCP checksum unfinished
        // (CHECKSUM_PARTIAL, "the device will do it"); a UDP socket receives them so, and
        // the frame would reach the other namespace with a bad checksum. With TX checksum
        // offload off, the kernel finishes every checksum before the veth (as for any
        // userspace tunnel endpoint behind a veth). Both paths run with it off.
        execFileSync('ip', ['netns', 'exec', ns, 'ethtool', '-K', inner, 'tx', 'off'], { stdio: 'ignore' });
        if (i === 1) ip(['-n', ns, 'route', 'add', `${this.switchAddress}/32`, 'via', `${sub}.1`]);
        ip([
          '-n',
          ns,
          'link',
          'add',
          'vxlan0',
          'mtu',
          String(mtu - 50),
          'type',
          'vxlan',
          'id',
          String(vnis[i]),
          'local',
          `${sub}.2`,
          'remote',
          this.switchAddress,
          'dstport',
          String(port),
          'dev',
          inner,
        ]);
        ip(['-n', ns, 'addr', 'add', `${this.overlay[i]}/24`, 'dev', 'vxlan0']);
        ip(['-n', ns, 'link', 'set', 'vxlan0', 'up']);
      }
    } catch (e) {
      this.cleanup();
      throw e;
    }
  }

  /** The anchor: the root namespace's own vxlan devices for both namespaces, in a Linux bridge. */
  anchorUpNow(): void {
    const p = this.o.prefix;
    const { port, vnis } = this.o;
    ip(['link', 'add', `${p}br`, 'type', 'bridge']);
    this.anchorUp = true;
    for (let i = 0; i < 2; i++) {
      const dev = `${p}v${i === 0 ? 'a' : 'b'}`;
      ip([
        'link',
        'add',
        dev,
        'mtu',
        String(this.o.mtu - 50),
        'type',
        'vxlan',
        'id',
        String(vnis[i]),
        'local',
        this.switchAddress,
        'remote',
        this.underlay[i],
        'dstport',
        String(port),
        'dev',
        `${this.veth[i]}0`,
      ]);
      ip(['link', 'set', dev, 'master', `${p}br`]);
      ip(['link', 'set', dev, 'up']);
    }
    ip(['link', 'set', `${p}br`, 'up']);
  }

  anchorDown(): void {
    if (!this.anchorUp) return;
    const p = this.o.prefix;
    for (const d of [`${p}va`, `${p}vb`, `${p}br`]) ipQuiet(['link', 'del', d]);
    this.anchorUp = false;
  }

  /** `ping -c count -i interval` from A to B's overlay address: packets sent and received. */
  ping(count: number, interval = 0.01): { sent: number; received: number; out: string } {
    let out: string;
    try {
      out = execFileSync(
        'ip',
        [
          'netns',
          'exec',
          this.ns[0],
          'ping',
          '-q',
          '-c',
          String(count),
          '-i',
          String(interval),
          '-W',
          '2',
          this.overlay[1],
        ],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
      );
    } catch (e) {
      out = String((e as { stdout?: string }).stdout ?? '') + String((e as { stderr?: string }).stderr ?? '');
    }
    const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(out);
    return { sent: m ? Number(m[1]) : 0, received: m ? Number(m[2]) : 0, out };
  }

  /** The MAC of namespace i's vxlan0. */
  mac(i: number): string {
    const l = JSON.parse(ip(['-n', this.ns[i], '-j', 'link', 'show', 'vxlan0'])) as Array<{ address: string }>;
    return l[0].address;
  }

  /** What namespace i's neighbour table says of the other's overlay address (lladdr, state). */
  neighbour(i: number): { lladdr?: string; state?: string[] } | null {
    const other = this.overlay[1 - i];
    const l = JSON.parse(ip(['-n', this.ns[i], '-j', 'neigh', 'show', other])) as Array<{
      lladdr?: string;
      state?: string[];
    }>;
    return l[0] ?? null;
  }

  /** Namespace i's vxlan0 packet counters (what it sent into the tunnel and got out of it). */
  vxlanCounters(i: number): { txPackets: number; rxPackets: number; txDropped: number; rxDropped: number } {
    const l = JSON.parse(ip(['-n', this.ns[i], '-s', '-j', 'link', 'show', 'vxlan0'])) as Array<{
      stats64: { rx: { packets: number; dropped: number }; tx: { packets: number; dropped: number } };
    }>;
    const s = l[0].stats64;
    return { txPackets: s.tx.packets, rxPackets: s.rx.packets, txDropped: s.tx.dropped, rxDropped: s.rx.dropped };
  }

  /**
   * A TCP transfer of `bytes` from A to B (a Node client and server run in the
   * namespaces): the server's figures (bytes, seconds from the first byte to the end,
   * sha256) and the client's (bytes sent, sha256). `hash` off: one random megabyte sent
   * over and over, nothing hashed (the benchmark: hashing would take the switch's CPU).
   */
  async transfer(bytes: number, o: { hash: boolean; timeoutMs?: number; tcpPort?: number }): Promise<TransferResult> {
    const tcpPort = String(o.tcpPort ?? 5201);
    const timeoutMs = o.timeoutMs ?? 120_000;
    const server = runInNs(
      this.ns[1],
      ['server', this.overlay[1], tcpPort, String(bytes), o.hash ? '1' : '0'],
      timeoutMs,
    );
    await server.started;
    const client = runInNs(
      this.ns[0],
      ['client', this.overlay[1], tcpPort, String(bytes), o.hash ? '1' : '0'],
      timeoutMs,
    );
    let s: PeerResult;
    let c: PeerResult;
    try {
      [s, c] = await Promise.all([server.done, client.done]);
    } catch (e) {
      // One failed: the other must not outlive the run (or its namespace).
      server.kill();
      client.kill();
      await Promise.allSettled([server.done, client.done]);
      throw e;
    }
    return {
      bytes: s.bytes,
      seconds: s.seconds,
      gbps: (s.bytes * 8) / s.seconds / 1e9,
      sha256Received: s.sha256,
      sha256Sent: c.sha256,
      bytesSent: c.bytes,
      serverCpuUs: s.cpuUs,
      clientCpuUs: c.cpuUs,
    };
  }
}

export interface TransferResult {
  bytes: number;
  seconds: number;
  gbps: number;
  sha256Received: string | null;
  sha256Sent: string | null;
  bytesSent: number;
  serverCpuUs: number;
  clientCpuUs: number;
}

/** The TCP peers, run in a namespace with `node -e` (argv: mode host port bytes hash). */
const TCP_PEER = `
import net from 'node:net';
import { createHash, randomFillSync } from 'node:crypto';
const [mode, host, port, bytesS, hashS] = process.argv.slice(1);
const total = Number(bytesS);
const hash = hashS === '1' ? createHash('sha256') : null;
const done = (o) => { const u = process.cpuUsage(); console.log(JSON.stringify({ ...o, cpuUs: u.user + u.system })); };
if (mode === 'server') {
  const srv = net.createServer((c) => {
    let n = 0, t0 = 0;
    c.on('data', (d) => { if (n === 0) t0 = performance.now(); n += d.length; hash?.update(d); });
    c.on('end', () => {
      done({ bytes: n, seconds: (performance.now() - t0) / 1000, sha256: hash ? hash.digest('hex') : null });
      c.end(); srv.close();
    });
    c.on('error', (e) => { console.log(JSON.stringify({ error: e.message })); process.exit(1); });
  });
  srv.listen(Number(port), host, () => console.log(JSON.stringify({ listening: true })));
} else {
  const CH = 1 << 20;
  const shared = hash ? null : randomFillSync(Buffer.allocUnsafe(CH));
  let sent = 0;
  const sock = net.connect(Number(port), host);
  sock.setNoDelay(false);
  const pump = () => {
    while (sent < total) {
      const n = Math.min(CH, total - sent);
      const b = shared ? shared.subarray(0, n) : randomFillSync(Buffer.allocUnsafe(n));
      hash?.update(b);
      sent += n;
      if (!sock.write(b)) { sock.once('drain', pump); return; }
    }
    sock.end();
  };
  sock.on('connect', pump);
  sock.on('error', (e) => { console.log(JSON.stringify({ error: e.message })); process.exit(1); });
  sock.on('close', () => done({ bytes: sent, sha256: hash ? hash.digest('hex') : null }));
}
`;

interface PeerResult {
  bytes: number;
  seconds: number;
  sha256: string | null;
  cpuUs: number;
}

interface PeerRun {
  started: Promise<void>;
  done: Promise<PeerResult>;
  kill(): void;
}

function runInNs(ns: string, args: string[], timeoutMs: number): PeerRun {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', TCP_PEER, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  let out = '';
  let err = '';
  let onStart: () => void = () => {};
  const started = new Promise<void>((resolve) => {
    onStart = resolve;
  });
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    if (out.includes('"listening"')) onStart();
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const done = new Promise<PeerResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      onStart();
      const last = out.trim().split('\n').pop() ?? '';
      try {
        const r = JSON.parse(last) as PeerResult & { error?: string };
        if (r.error !== undefined || code !== 0) throw new Error(r.error ?? `exit ${code}`);
        resolve(r);
      } catch (e) {
        reject(
          new Error(
            `TCP ${args[0]} in ${ns} failed (${signal ? `killed: ${signal}, after ${timeoutMs} ms` : `exit ${code}`}): ${(e as Error).message} ${err.trim()}`,
          ),
        );
      }
    });
  });
  return { started, done, kill: () => child.kill('SIGKILL') };
}

/** The root namespace's UDP counters (/proc/net/snmp): datagrams the kernel dropped for full socket buffers. */
export function udpRcvbufErrors(): number {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('Udp:'));
    const names = lines[0].split(/\s+/);
    const values = lines[1].split(/\s+/);
    return Number(values[names.indexOf('RcvbufErrors')]);
  } catch {
    return Number.NaN;
  }
}

// ---- the benchmark ----

export interface VxlanBenchOptions {
  /** Bytes per TCP transfer (default 100 MB). */
  bytes?: number;
  /** Runs, each through both paths (default 1). */
  runs?: number;
  /** The underlay MTU (veth pairs; the switch's --mtu). Default 1500. */
  mtu?: number;
  wake?: VxlanWake;
  /** Endpoint threads (attachVxlan's `threads`; default its own). */
  threads?: 1 | 2;
  /** Called with a line of progress. */
  onProgress?: (line: string) => void;
  signal?: AbortSignal;
}

export interface VxlanPathRun {
  gbps: number;
  seconds: number;
  /** sabnetmap only: frames through the switch per second, the endpoint thread's CPU. */
  framesPerSecond?: number;
  /** The endpoint thread's CPU per frame through the switch (ns), and its share of one core. */
  cpuNsPerFrame?: number;
  cpuPercent?: number;
  /** Of cpuNsPerFrame, in user space (JS, V8, libuv) and in the kernel (the syscalls, and the softirq work they run). */
  userNsPerFrame?: number;
  sysNsPerFrame?: number;
  /**
   * The rate if each endpoint thread had a core to itself, its CPU per frame unchanged:
   * gbps * 100 / the busiest thread's % of a core (the endpoint is the stage that bounds this path).
   */
  projectedGbps?: number;
  /** Endpoint threads (1, or 2: inbound and outbound halves) and the busiest one's % of a core. */
  endpointThreads?: number;
  busiestPercent?: number;
  /** Datagrams per frame each way, event-loop turns per frame (epoll waits), socket drops. */
  turnsPerFrame?: number;
  rcvbufErrors: number;
  /** CPU of the TCP peers' processes (s), for scale. */
  peersCpuSeconds: number;
  switchStats?: VxlanStats;
}

export interface VxlanBenchResult {
  bytes: number;
  mtu: number;
  maxFrame: number;
  runs: number;
  sabnetmap: {
    gbps: Stats;
    framesPerSecond: Stats;
    cpuNsPerFrame: Stats;
    userNsPerFrame: Stats;
    sysNsPerFrame: Stats;
    cpuPercent: Stats;
    turnsPerFrame: Stats;
    projectedGbps: Stats;
    runs: VxlanPathRun[];
  };
  bridge: { gbps: Stats; runs: VxlanPathRun[] };
  /** sabnetmap / bridge, median of the per-run ratios. */
  ratio: Stats;
  machine: { cores: number; cpuModel: string; node: string; loadavg: number[] };
}

export interface Stats {
  median: number;
  min: number;
  max: number;
}

function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const m =
    s.length === 0 ? Number.NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return { median: m, min: s[0] ?? Number.NaN, max: s[s.length - 1] ?? Number.NaN };
}

function framesThrough(s: VxlanStats): number {
  return s.remotes.reduce((t, r) => t + r.in.frames, 0);
}

/** Runs the benchmark (root only): see the module comment. */
export async function runVxlanBench(o: VxlanBenchOptions = {}): Promise<VxlanBenchResult> {
  const bytes = o.bytes ?? 100e6;
  const runs = o.runs ?? 1;
  const mtu = o.mtu ?? 1500;
  const say = o.onProgress ?? (() => {});
  const why = netnsUnavailable();
  if (why !== null) throw new NetmapError('ENOTSUP', `bench vxlan needs network namespaces: ${why}`);
  const lab = new NetnsLab({ prefix: 'sbvxb', net: 10, mtu });
  const sab: VxlanPathRun[] = [];
  const br: VxlanPathRun[] = [];
  let maxFrame = 0;
  lab.create();
  try {
    for (let run = 0; run < runs && !o.signal?.aborted; run++) {
      // sabnetmap
      const nm = new Netmap();
      let h: VxlanHandle | null = null;
      try {
        h = await attachVxlan(nm, 'vale0', {
          local: `${lab.switchAddress}:${lab.o.port}`,
          remotes: lab.remotes(),
          mtu,
          wake: o.wake,
          ...(o.threads === undefined ? {} : { threads: o.threads }),
          ...(mtu - 36 > 2048 ? { bufSize: Math.ceil((mtu - 36) / 64) * 64 } : {}),
        });
        maxFrame = h.maxFrame;
        lab.ping(3, 0.2);
        const before = h.stats();
        const rb0 = udpRcvbufErrors();
        const t = await lab.transfer(bytes, { hash: false });
        const after = h.stats();
        const frames = framesThrough(after) - framesThrough(before);
        const cpuNs = (after.endpoint.cpuNs ?? Number.NaN) - (before.endpoint.cpuNs ?? Number.NaN);
        // Over the transfer itself (the server's first byte to its last): the peers'
        // start-up is in the stats window but carries no frames and costs the endpoint nothing.
        const wallNs = t.seconds * 1e9;
        // Per thread over the same window: the busiest bounds the path.
        const busiest = Math.max(
          ...after.endpoint.threads.map(
            (x, k) => (x.cpuNs ?? Number.NaN) - (before.endpoint.threads[k]?.cpuNs ?? Number.NaN),
          ),
        );
        const r: VxlanPathRun = {
          gbps: t.gbps,
          seconds: t.seconds,
          framesPerSecond: frames / (wallNs / 1e9),
          cpuNsPerFrame: cpuNs / frames,
          cpuPercent: (100 * cpuNs) / wallNs,
          userNsPerFrame: ((after.endpoint.userNs ?? Number.NaN) - (before.endpoint.userNs ?? Number.NaN)) / frames,
          sysNsPerFrame: ((after.endpoint.sysNs ?? Number.NaN) - (before.endpoint.sysNs ?? Number.NaN)) / frames,
          projectedGbps: (t.gbps * wallNs) / busiest,
          endpointThreads: after.endpoint.threads.length,
          busiestPercent: (100 * busiest) / wallNs,
          turnsPerFrame: (after.endpoint.turns - before.endpoint.turns) / frames,
          rcvbufErrors: udpRcvbufErrors() - rb0,
          peersCpuSeconds: (t.serverCpuUs + t.clientCpuUs) / 1e6,
          switchStats: after,
        };
        sab.push(r);
        say(
          `run ${run + 1}/${runs} sabnetmap: ${r.gbps.toFixed(2)} Gbit/s, ${Math.round(r.framesPerSecond ?? 0)} frames/s, ` +
            `${Math.round(r.cpuNsPerFrame ?? 0)} ns CPU/frame (${(r.cpuPercent ?? 0).toFixed(0)} % of a core` +
            `${(r.endpointThreads ?? 1) > 1 ? ` over ${r.endpointThreads} threads, the busiest ${(r.busiestPercent ?? 0).toFixed(0)} %` : ''})`,
        );
      } finally {
        await h?.close();
        nm.close();
      }
      if (o.signal?.aborted) break;
      // the anchor
      try {
        lab.anchorUpNow();
        lab.ping(3, 0.2);
        const rb0 = udpRcvbufErrors();
        const t = await lab.transfer(bytes, { hash: false });
        br.push({
          gbps: t.gbps,
          seconds: t.seconds,
          rcvbufErrors: udpRcvbufErrors() - rb0,
          peersCpuSeconds: (t.serverCpuUs + t.clientCpuUs) / 1e6,
        });
        say(`run ${run + 1}/${runs} linux bridge: ${t.gbps.toFixed(2)} Gbit/s`);
      } finally {
        lab.anchorDown();
      }
    }
  } finally {
    lab.cleanup();
  }
  const n = Math.min(sab.length, br.length);
  return {
    bytes,
    mtu,
    maxFrame,
    runs: n,
    sabnetmap: {
      gbps: stats(sab.map((r) => r.gbps)),
      framesPerSecond: stats(sab.map((r) => r.framesPerSecond ?? Number.NaN)),
      cpuNsPerFrame: stats(sab.map((r) => r.cpuNsPerFrame ?? Number.NaN)),
      userNsPerFrame: stats(sab.map((r) => r.userNsPerFrame ?? Number.NaN)),
      sysNsPerFrame: stats(sab.map((r) => r.sysNsPerFrame ?? Number.NaN)),
      cpuPercent: stats(sab.map((r) => r.cpuPercent ?? Number.NaN)),
      turnsPerFrame: stats(sab.map((r) => r.turnsPerFrame ?? Number.NaN)),
      projectedGbps: stats(sab.map((r) => r.projectedGbps ?? Number.NaN)),
      runs: sab,
    },
    bridge: { gbps: stats(br.map((r) => r.gbps)), runs: br },
    ratio: stats(sab.slice(0, n).map((r, i) => r.gbps / br[i].gbps)),
    machine: {
      cores: availableParallelism(),
      cpuModel: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      loadavg: loadavg(),
    },
  };
}

const f = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const spread = (s: Stats, d = 2) => `${f(s.median, d)} (${f(s.min, d)}-${f(s.max, d)})`;

/** The benchmark's table. */
export function formatVxlanBench(r: VxlanBenchResult): string {
  const lines = [
    `TCP, one flow, ${r.bytes / 1e6} MB from namespace A to B over VXLAN (underlay MTU ${r.mtu}, frames up to ${r.maxFrame} B), ${r.runs} run(s): median (min-max)`,
    `  sabnetmap switch   ${spread(r.sabnetmap.gbps)} Gbit/s   ${spread(r.sabnetmap.framesPerSecond, 0)} frames/s   ` +
      `${spread(r.sabnetmap.cpuNsPerFrame, 0)} ns CPU/frame (endpoint, ${r.sabnetmap.runs[0]?.endpointThreads ?? 1} thread(s), ${spread(r.sabnetmap.cpuPercent, 0)} % of a core)`,
    `                     of which user ${spread(r.sabnetmap.userNsPerFrame, 0)} ns, kernel ${spread(r.sabnetmap.sysNsPerFrame, 0)} ns; ` +
      `syscalls per frame: 1 recvmsg + 1 sendmsg + ${spread(r.sabnetmap.turnsPerFrame, 3)} event-loop turns (epoll_wait)`,
    `                     with a core for each endpoint thread (its CPU per frame as measured): ${spread(r.sabnetmap.projectedGbps)} Gbit/s`,
    `  linux bridge       ${spread(r.bridge.gbps)} Gbit/s`,
    `  sabnetmap / bridge ${spread(r.ratio)}`,
    `  CPU of the TCP peers' processes (s, with the kernel work they run): sabnetmap ${r.sabnetmap.runs.map((x) => f(x.peersCpuSeconds)).join(', ')}; ` +
      `bridge ${r.bridge.runs.map((x) => f(x.peersCpuSeconds)).join(', ')}`,
    `  socket drops (UDP RcvbufErrors, root namespace): sabnetmap ${r.sabnetmap.runs.map((x) => x.rcvbufErrors).join(', ')}`,
    `machine: ${r.machine.cores} cores, ${r.machine.cpuModel}, Node ${r.machine.node}, load average ${r.machine.loadavg.map((x) => x.toFixed(2)).join(' ')}`,
  ];
  return `${lines.join('\n')}\n`;
}
