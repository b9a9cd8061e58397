/**
 * The library's way in: `attachVxlan(netmap, 'vale0', { local, remotes })` gives switch
 * vale0 one port per remote tunnel endpoint (`vale0:NAME`) and starts the endpoint thread
 * (src/vxlan/worker.ts) that carries their frames over VXLAN. The ports are registered
 * here, by the namespace's thread, and handed to the worker in their descriptors (a VALE
 * descriptor's update channel is moved with transferList): nothing is joined by name.
 *
 * The handle reads the endpoint's counters from a shared block the worker writes, the
 * switch's per-port counters (valeCtl) and its learning table, with no message to the
 * worker, so `stats()` is synchronous and costs the forwarding nothing.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { SW_LEARN, SW_LEARN_ENTRIES, SW_PORTS, VALE_MAX_PORTS } from '../../shm/layout.js';
import { NetmapError } from '../errors.js';
import { attachPort, type Netmap } from '../netmap.js';
import { packageRoot } from '../paths.js';
import type { PortDescriptor, ValeDescriptor } from '../port.js';
import { transferList } from '../transfer.js';
import {
  type EndpointConfig,
  type EndpointCounter,
  type EndpointRemote,
  type EndpointRole,
  EP_COUNTERS,
  REMOTE_COUNTERS,
  type RemoteCounter,
  statsWords,
  VXLAN_WAKES,
  type VxlanWake,
} from './endpoint.js';
import {
  checkMtu,
  checkRemoteName,
  checkUdpPort,
  checkVni,
  DEFAULT_MTU,
  DEFAULT_VNI,
  type Family,
  familyOf,
  formatUdpAddress,
  maxFrameFor,
  parseRemoteSpec,
  parseUdpAddress,
  type UdpAddress,
  VXLAN_PORT,
} from './wire.js';
import type { VxlanWorkerData, VxlanWorkerMessage } from './worker.js';

/** A remote tunnel endpoint: its port is `SWITCH:name`. */
export interface VxlanRemote {
  name: string;
  address: string;
  /** UDP port the remote listens on (default 4789). */
  port?: number;
  /** Its VNI (default: the options' `vni`, else 42). */
  vni?: number;
}

/**
 * Options of attachVxlan: the local address, the remotes, the default VNI, the underlay
 * MTU, how the endpoint wakes, ring and buffer sizes.
 */
export interface VxlanOptions {
  /** Where the endpoint listens: 'ADDR:PORT' (port 0: any free one), or an object. */
  local: string | UdpAddress;
  /** One port per remote: objects, or the CLI's 'NAME=ADDR:PORT[,vni=N]'. At least one. */
  remotes: ReadonlyArray<VxlanRemote | string>;
  /** The VNI of remotes that name none (default 42). */
  vni?: number;
  /** The underlay's IP MTU (default 1500): frames up to mtu - 36 bytes (IPv4; - 56 over IPv6). */
  mtu?: number;
  /** How the endpoint notices frames other threads send to its ports (default 'async'). */
  wake?: VxlanWake;
  /**
   * Endpoint threads: 2 (default where the machine has 2 cores or more) runs the inbound
   * half (the listening socket and the ports' TX rings) and the outbound half (a connected
   * socket per remote and the ports' RX rings) in threads of their own, each port
   * registered /T by one and /R by the other; 1 runs both in one thread.
   */
  threads?: 1 | 2;
  /** wake 'poll': busy-poll time after the last frame before a 1 ms timer takes over (µs; default 50). */
  spinUs?: number;
  /** The ports' ring size and buffer size (the switch's other ports must share its buffer size). */
  ringSize?: number;
  bufSize?: number;
  /** SO_RCVBUF asked for the listening socket (default 4 MiB; the kernel caps it at net.core.rmem_max). */
  recvBufferSize?: number;
}

/** One remote's figures: the tunnel's counters and the switch's for its port. */
export interface VxlanRemoteStats {
  name: string;
  /** Its VALE port. */
  port: string;
  remote: string;
  vni: number;
  /** Frames from the remote into the switch, and the datagrams dropped on the way by reason. */
  in: {
    frames: number;
    bytes: number;
    /** toSender: sent to the source port of our datagrams instead of the listening one (two threads only). */
    drops: { short: number; flags: number; vni: number; tooBig: number; ringFull: number; toSender: number };
  };
  /** Frames from the switch to the remote, and those dropped on the way by reason. */
  out: {
    frames: number;
    bytes: number;
    drops: { tooBig: number; sendError: number };
    /** Empty slots skipped (a VALE lease revoked from a dead sender). */
    empty: number;
    /** ICMP errors the kernel reported for the remote (port or host unreachable). */
    unreachable: number;
    /** Times its send queue was full and its frames waited in the ring. */
    blocked: number;
    /** The last error's errno (negative, libuv's), 0 if none. */
    lastErrno: number;
  };
  /** The switch's counters for the port: rx (frames the switch gave it), tx, drops, floods, bad... */
  vale: Record<string, number> | null;
}

/**
 * What a VXLAN endpoint reports (handle.stats()): its thread's datagrams and CPU, each
 * remote's figures, the switch's ports and learning table.
 */
export interface VxlanStats {
  switch: string;
  local: string;
  mtu: number;
  /** The largest inner frame the path carries. */
  maxFrame: number;
  endpoint: {
    datagrams: number;
    /** Dropped before any remote was known: from an address that is no remote's. */
    unknownSource: number;
    socketErrors: number;
    turns: number;
    wakeups: number;
    /** The endpoint thread's CPU time since it started (null where Linux schedstat is unavailable). */
    cpuNs: number | null;
    wallNs: number;
    /** Of its CPU time, user space and kernel (10 ms resolution; null where unavailable). */
    userNs: number | null;
    sysNs: number | null;
    /** Per endpoint thread (one, or the inbound and the outbound half): its CPU times as above. */
    threads: Array<{ role: EndpointRole; cpuNs: number | null; userNs: number | null; sysNs: number | null }>;
  };
  remotes: VxlanRemoteStats[];
  /** Every port of the switch (VXLAN or not) with its counters: vale-ctl. */
  ports: Array<{ index: number; name: string; counters: Record<string, number> }>;
  /** The switch's learning table: MAC and the port it was learned on. */
  macs: Array<{ mac: string; port: string }>;
  /** Set when the endpoint thread failed after it started. */
  error?: string;
}

/** A running VXLAN endpoint on a switch (from attachVxlan): its address and ports, its stats, and how to stop it. */
export interface VxlanHandle {
  readonly switch: string;
  /** The bound address (the port the kernel chose, when asked for 0). */
  readonly local: UdpAddress;
  /** The VALE ports, in the remotes' order. */
  readonly ports: readonly string[];
  readonly mtu: number;
  readonly maxFrame: number;
  stats(): VxlanStats;
  /** Stops the endpoint: sockets closed, ports leave the switch. Idempotent. */
  close(): Promise<void>;
}

const SWITCH_NAME = /^vale[A-Za-z0-9_]*$/;

export interface CheckedVxlanOptions {
  config: EndpointConfig;
  threads: 1 | 2;
  ringSize?: number;
  bufSize?: number;
}

/** Checks the options (NetmapError EINVAL naming the problem); nothing is made. */
export function checkVxlanOptions(switchName: string, opts: VxlanOptions): CheckedVxlanOptions {
  if (typeof switchName !== 'string' || !SWITCH_NAME.test(switchName)) {
    throw new NetmapError('EINVAL', `'${String(switchName)}' is not a VALE switch name (valeX)`);
  }
  if (opts === null || typeof opts !== 'object') throw new NetmapError('EINVAL', 'vxlan options must be an object');
  const local =
    typeof opts.local === 'string'
      ? parseUdpAddress(opts.local, 'local', VXLAN_PORT, true)
      : checkAddress(opts.local, 'local', true);
  const family = familyOf(local.address, 'local');
  const dfltVni = checkVni(opts.vni ?? DEFAULT_VNI, 'vni');
  const mtu = checkMtu(opts.mtu ?? DEFAULT_MTU);
  const wake = opts.wake ?? 'async';
  if (!VXLAN_WAKES.includes(wake))
    throw new NetmapError('EINVAL', `wake must be ${VXLAN_WAKES.join(' or ')}, got '${String(wake)}'`);
  const spinUs = opts.spinUs ?? 50;
  if (!(typeof spinUs === 'number' && spinUs >= 0 && spinUs <= 1e6)) {
    throw new NetmapError('EINVAL', `spinUs must be a number of microseconds from 0 to 1e6, got ${String(spinUs)}`);
  }
  const threads = opts.threads ?? (availableParallelism() >= 2 ? 2 : 1);
  if (threads !== 1 && threads !== 2) throw new NetmapError('EINVAL', `threads must be 1 or 2, got ${String(threads)}`);
  const recvBufferSize = opts.recvBufferSize ?? 4 << 20;
  if (!(Number.isInteger(recvBufferSize) && recvBufferSize >= 4096 && recvBufferSize <= 1 << 30)) {
    throw new NetmapError(
      'EINVAL',
      `recvBufferSize must be an integer from 4096 to 2^30, got ${String(recvBufferSize)}`,
    );
  }
  if (!Array.isArray(opts.remotes) || opts.remotes.length === 0) {
    throw new NetmapError('EINVAL', 'vxlan needs at least one remote');
  }
  const remotes: EndpointRemote[] = [];
  for (const x of opts.remotes) {
    const spec = typeof x === 'string' ? parseRemoteSpec(x) : x;
    if (spec === null || typeof spec !== 'object') throw new NetmapError('EINVAL', `bad remote ${String(spec)}`);
    const name = checkRemoteName(spec.name);
    const at = checkAddress({ address: spec.address, port: spec.port ?? VXLAN_PORT }, `remote ${name}`, false);
    if (familyOf(at.address, `remote ${name}`) !== family) {
      throw new NetmapError(
        'EINVAL',
        `remote ${name}: ${at.address} is not of the local address's family (IPv${family})`,
      );
    }
    const vni = checkVni(spec.vni ?? dfltVni, `remote ${name}: vni`);
    if (remotes.some((r) => r.name === name)) throw new NetmapError('EINVAL', `remote ${name} is named twice`);
    const twin = remotes.find((r) => r.address === at.address && r.vni === vni);
    if (twin !== undefined) {
      throw new NetmapError(
        'EINVAL',
        `remotes ${twin.name} and ${name} share address ${at.address} and VNI ${vni}: their frames could not be told apart`,
      );
    }
    remotes.push({ name, address: at.address, port: at.port, vni });
  }
  const maxFrame = maxFrameFor(mtu, family);
  if (maxFrame < 60) {
    throw new NetmapError('EINVAL', `mtu ${mtu} leaves no room for an Ethernet frame over IPv${family}`);
  }
  const ring = opts.ringSize ?? 1024;
  const buf = opts.bufSize ?? 2048;
  if (typeof ring === 'number' && typeof buf === 'number' && buf > 0 && Math.ceil(maxFrame / buf) > ring - 1) {
    throw new NetmapError(
      'EINVAL',
      `a frame of up to ${maxFrame} bytes (mtu ${mtu}) takes ${Math.ceil(maxFrame / buf)} buffers of ${buf} bytes: more than a ring of ${ring} slots holds`,
    );
  }
  return {
    config: { local, family, mtu, remotes, wake, spinUs, recvBufferSize },
    threads,
    ringSize: opts.ringSize,
    bufSize: opts.bufSize,
  };
}

function checkAddress(a: UdpAddress, what: string, allowZero: boolean): UdpAddress {
  if (a === null || typeof a !== 'object' || typeof a.address !== 'string') {
    throw new NetmapError('EINVAL', `${what}: an address is needed ('ADDR:PORT' or { address, port })`);
  }
  familyOf(a.address, what);
  return { address: a.address, port: checkUdpPort(a.port, what, allowZero) };
}

/** The endpoint thread's entry, compiled (workers always start from dist/). */
function workerPath(): string {
  return `${packageRoot()}/dist/src/vxlan/worker.js`;
}

/**
 * Gives switch `switchName` of `netmap` one VXLAN port per remote and starts the thread
 * that carries them. Rejects with a NetmapError: EINVAL for bad options or an address the
 * socket cannot bind, EBUSY for a port name the switch already has or an address in use.
 */
export async function attachVxlan(netmap: Netmap, switchName: string, opts: VxlanOptions): Promise<VxlanHandle> {
  const checked = checkVxlanOptions(switchName, opts);
  const { config } = checked;
  const existing = new Set(
    netmap
      .valeCtl()
      .filter((s) => s.switch === switchName)
      .flatMap((s) => s.ports.map((p) => p.name)),
  );
  for (const r of config.remotes) {
    if (existing.has(r.name))
      throw new NetmapError('EBUSY', `${switchName}:${r.name} exists: a VXLAN port needs a port of its own`);
  }
  const roles: EndpointRole[] = checked.threads === 2 ? ['in', 'out'] : ['both'];
  // Each thread its own registration of every port: the inbound half binds the TX rings
  // (netmap's /T), the outbound half the RX rings (/R). The port leaves the switch with its
  // last user.
  const suffix: Record<EndpointRole, string> = { both: '', in: '/T', out: '/R' };
  const descs: PortDescriptor[][] = roles.map(() => []);
  const sizes = {
    ...(checked.ringSize === undefined ? {} : { ringSize: checked.ringSize }),
    ...(checked.bufSize === undefined ? {} : { bufSize: checked.bufSize }),
  };
  try {
    for (const r of config.remotes) {
      roles.forEach((role, k) => {
        descs[k].push(netmap.register(`${switchName}:${r.name}${suffix[role]}`, sizes));
      });
    }
  } catch (e) {
    leave(descs[0]);
    throw e;
  }
  const swmem = (descs[0][0] as ValeDescriptor).switch.swmem;
  const threads: EndpointThread[] = [];
  let local: UdpAddress = config.local;
  for (let k = 0; k < roles.length; k++) {
    let t: EndpointThread;
    try {
      t = await startEndpointThread({
        config,
        descs: descs[k],
        stats: new SharedArrayBuffer(statsWords(descs[k].length) * 8),
        role: roles[k],
      });
    } catch (e) {
      // The threads started close their ports; those of a thread that never started leave here.
      await Promise.all(threads.map((x) => x.close()));
      if (k === 0) leave(descs[0]);
      throw e;
    }
    threads.push(t);
    // The outbound half binds only its connected sockets: the inbound half's address is the endpoint's.
    if (roles[k] !== 'out') local = t.local;
  }
  const names = config.remotes.map((r) => `${switchName}:${r.name}`);
  const blocks = threads.map((t) => new Float64Array(t.stats));
  // The threads' counters add up (each remote counter is written by one half only, the
  // other's stays 0); of the endpoint's, CPU times add (-1: unavailable) and the wall time
  // is the longest; an errno is whichever half saw one.
  const word = (i: number, how: 'sum' | 'max' | 'cpu' | 'errno'): number => {
    let v = 0;
    for (const b of blocks) {
      const x = b[i];
      if (how === 'max') v = Math.max(v, x);
      else if (how === 'errno') v = x !== 0 ? x : v;
      else if (how === 'cpu') v = x < 0 || v < 0 ? -1 : v + x;
      else v += x;
    }
    return v;
  };
  /** The first endpoint thread's failure after it started, if any. */
  const failure = (): string | undefined => threads.map((t) => t.failure()).find((f) => f !== undefined);
  const epHow = (n: EndpointCounter) =>
    n === 'wallNs' ? 'max' : n === 'cpuNs' || n === 'userNs' || n === 'sysNs' ? 'cpu' : 'sum';
  const maxFrame = maxFrameFor(config.mtu, config.family as Family);
  let closing: Promise<void> | null = null;

  const read = (): VxlanStats => {
    const failed = failure();
    const ep = Object.fromEntries(EP_COUNTERS.map((n, i) => [n, word(i, epHow(n))])) as Record<EndpointCounter, number>;
    let ports: VxlanStats['ports'] = [];
    try {
      ports = netmap.valeCtl().find((s) => s.switch === switchName)?.ports ?? [];
    } catch {
      // The namespace was closed: the switch's counters are gone with it.
    }
    const remotes = config.remotes.map((r, i): VxlanRemoteStats => {
      const b = EP_COUNTERS.length + i * REMOTE_COUNTERS.length;
      const c = Object.fromEntries(
        REMOTE_COUNTERS.map((n, j) => [n, word(b + j, n === 'lastErrno' ? 'errno' : 'sum')]),
      ) as Record<RemoteCounter, number>;
      return {
        name: r.name,
        port: names[i],
        remote: formatUdpAddress(r),
        vni: r.vni,
        in: {
          frames: c.inFrames,
          bytes: c.inBytes,
          drops: {
            short: c.inShort,
            flags: c.inFlags,
            vni: c.inVni,
            tooBig: c.inTooBig,
            ringFull: c.inRingFull,
            toSender: c.inToSender,
          },
        },
        out: {
          frames: c.outFrames,
          bytes: c.outBytes,
          drops: { tooBig: c.outTooBig, sendError: c.sendErrors },
          empty: c.outEmpty,
          unreachable: c.unreachable,
          blocked: c.blocked,
          lastErrno: c.lastErrno,
        },
        vale: ports.find((p) => p.name === r.name)?.counters ?? null,
      };
    });
    return {
      switch: switchName,
      local: formatUdpAddress(local),
      mtu: config.mtu,
      maxFrame,
      endpoint: {
        datagrams: ep.datagrams,
        unknownSource: ep.unknownSource,
        socketErrors: ep.socketErrors,
        turns: ep.turns,
        wakeups: ep.wakeups,
        cpuNs: ep.cpuNs < 0 ? null : ep.cpuNs,
        wallNs: ep.wallNs,
        userNs: ep.userNs < 0 ? null : ep.userNs,
        sysNs: ep.sysNs < 0 ? null : ep.sysNs,
        threads: blocks.map((b, k) => {
          const at = (n: EndpointCounter) => {
            const v = b[EP_COUNTERS.indexOf(n)];
            return v < 0 ? null : v;
          };
          return { role: roles[k], cpuNs: at('cpuNs'), userNs: at('userNs'), sysNs: at('sysNs') };
        }),
      },
      remotes,
      ports,
      macs: learnedMacs(
        swmem,
        ports.map((p) => ({ index: p.index, name: `${switchName}:${p.name}` })),
      ),
      ...(failed === undefined ? {} : { error: failed }),
    };
  };

  return {
    switch: switchName,
    local,
    ports: names,
    mtu: config.mtu,
    maxFrame,
    stats: read,
    close: () => {
      closing ??= Promise.all(threads.map((t) => t.close())).then(() => {});
      return closing;
    },
  };
}

/** Makes ports registered here but attached by no thread leave their switch again. */
function leave(descs: PortDescriptor[]): void {
  for (const d of descs) {
    try {
      attachPort(d).close();
    } catch {
      // Gone already (its last user closed it).
    }
  }
}

/** A started endpoint thread: its bound address, counters, failure and how to stop it. */
interface EndpointThread {
  local: UdpAddress;
  stats: SharedArrayBuffer;
  failure(): string | undefined;
  close(): Promise<void>;
}

/** Starts one endpoint thread and waits for its 'ready' (NetmapError if it cannot start or bind). */
async function startEndpointThread(data: VxlanWorkerData): Promise<EndpointThread> {
  const file = workerPath();
  let worker: Worker;
  try {
    worker = new Worker(file, { workerData: data, transferList: transferList(data) as never });
  } catch (e) {
    throw new NetmapError(
      'ENOENT',
      `cannot start the VXLAN endpoint thread (${file}): ${(e as Error).message}; run 'npm run build'`,
    );
  }
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  let failure: string | undefined;
  worker.on('error', (e) => {
    failure = e.message;
  });
  const first = await new Promise<VxlanWorkerMessage | { type: 'exit' }>((resolve) => {
    worker.once('message', resolve);
    exited.then(() => resolve({ type: 'exit' }));
  });
  if (first.type !== 'ready') {
    await exited;
    if (first.type === 'error') {
      const code = first.code === 'EADDRINUSE' ? 'EBUSY' : 'EINVAL';
      throw new NetmapError(code, `vxlan: cannot bind ${formatUdpAddress(data.config.local)}: ${first.message}`);
    }
    throw new NetmapError(
      'EINVAL',
      `vxlan: the endpoint thread ended before it started${failure ? `: ${failure}` : ''}`,
    );
  }
  let closing: Promise<void> | null = null;
  return {
    local: first.local,
    stats: data.stats,
    failure: () => failure,
    close: () => {
      closing ??= (async () => {
        worker.postMessage({ type: 'close' });
        const timer = setTimeout(() => worker.terminate(), 5000);
        await exited;
        clearTimeout(timer);
      })();
      return closing;
    },
  };
}

/** A MAC as aa:bb:cc:dd:ee:ff. */
function macString(bytes: number[]): string {
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * The switch's learning table (src/kernel/vale.ts): per entry, MAC bytes 0-3 as a
 * little-endian word, then bytes 4-5 << 16 | port index + 1. Entries of ports that are
 * not on the switch now are left out.
 */
export function learnedMacs(
  swmem: SharedArrayBuffer,
  ports: ReadonlyArray<{ index: number; name: string }>,
): Array<{ mac: string; port: string }> {
  const sw = new Int32Array(swmem);
  const names = new Map(ports.map((p) => [p.index, p.name]));
  const out: Array<{ mac: string; port: string }> = [];
  for (let i = 0; i < SW_LEARN_ENTRIES; i++) {
    const a = sw[SW_LEARN + 2 * i];
    const t = sw[SW_LEARN + 2 * i + 1];
    const index = (t & 0xffff) - 1;
    if (index < 0 || index >= VALE_MAX_PORTS || Atomics.load(sw, SW_PORTS + index) === 0) continue;
    const name = names.get(index);
    if (name === undefined) continue;
    out.push({
      mac: macString([a & 0xff, (a >>> 8) & 0xff, (a >>> 16) & 0xff, a >>> 24, (t >>> 16) & 0xff, (t >>> 24) & 0xff]),
      port: name,
    });
  }
  return out.sort((x, y) => x.port.localeCompare(y.port) || x.mac.localeCompare(y.mac));
}
