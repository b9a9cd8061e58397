/**
 * The VXLAN endpoint: the UDP sockets and one VALE port per remote tunnel endpoint, and
 * the frames between them. It runs in one thread (role 'both') or in two (the default with
 * 2 cores or more): the inbound half ('in': the listening socket, each port registered /T)
 * and the outbound half ('out': the connected sockets, each port registered /R), so the
 * kernel work that each sendmsg runs for the receiving side (the kernel's share was about
 * 60 % of the single thread's CPU per frame, most of it in sendmsg) no longer waits behind
 * the receives. Datagrams that reach the outbound half's connected sockets are dropped and
 * counted (`toSender`: a remote sends to the listening port). Each thread lives on
 * its event loop (Node's `dgram` delivers datagrams there), so nothing here blocks:
 *
 * - Inbound: each datagram's 'message' handler checks it (a known source address, the
 *   length, the I flag, the remote's VNI, the path's MTU) and copies the inner frame
 *   into that remote's port TX ring (several slots chained with NS_MOREFRAG when it is
 *   longer than a buffer). One txsync per port per event-loop turn (setImmediate) hands
 *   the turn's frames to the switch, which forwards them in this thread (learning,
 *   flooding, copies). A TX ring that fills within a turn is synced at once (a VALE
 *   txsync forwards and hands back every slot); only if it is still full (another user
 *   of the port is inside a sync) is the frame dropped and counted (`ringFull`).
 * - Outbound: after the txsyncs, the same turn drains every port's RX ring: each frame
 *   (or NS_MOREFRAG chain) is copied behind its remote's 8-byte header in a staging
 *   buffer and leaves as one datagram on the remote's own connected socket. Up to 256
 *   frames a port a turn; more, and the next turn comes after the I/O waiting (another
 *   setImmediate). Frames that other threads put into a port's RX ring meanwhile are
 *   noticed with Atomics.waitAsync on the port's bell (`wake: 'async'`, Port.pollAsync)
 *   or by polling the rings from the event loop (`wake: 'poll'`: every turn while busy,
 *   setImmediate for `spinUs` after the last frame, then a 1 ms timer).
 *
 * Sends never block: a send the kernel cannot take at once (EAGAIN) is queued by libuv
 * with its staging buffer; a remote keeps STAGE staging buffers, and when its socket's
 * queue holds STAGE - 1 the port's frames wait in its RX ring (counted `blocked`), so a
 * full ring makes the switch drop frames for that port (its VALE `drops`) and nothing
 * else. Errors a remote causes (ICMP port or host unreachable, reported by the kernel on
 * the remote's connected socket, at a send or as an 'error' event) are counted on its
 * port; the other ports forward on.
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { BELL_SLEEP, NS_MOREFRAG } from '../../shm/layout.js';
import { readSchedstat } from '../apps/cputime.js';
import { NetmapError } from '../errors.js';
import { POLLIN, type Port } from '../port.js';
import type { NetmapRing } from '../ring.js';
import { BAD_SHORT, checkHeader, type Family, maxFrameFor, type UdpAddress, VXLAN_HLEN, writeHeader } from './wire.js';

/**
 * Which half of the endpoint a thread runs: both (one thread), or with two threads the
 * inbound half (the listening socket, the ports' TX rings: frames into the switch) or the
 * outbound half (a connected socket per remote, the ports' RX rings: frames out).
 */
export type EndpointRole = 'both' | 'in' | 'out';

/** How the endpoint notices frames other threads put into its ports' RX rings. */
export type VxlanWake = 'async' | 'poll';
export const VXLAN_WAKES: readonly VxlanWake[] = ['async', 'poll'];

/** The endpoint's own counters (Float64 words at the start of the stats block). */
export const EP_COUNTERS = [
  'datagrams', // datagrams received on the endpoint's sockets
  'unknownSource', // dropped: from an address that is no remote's
  'socketErrors', // 'error' events on the listening socket
  'turns', // event-loop turns that synced or drained the ports
  'wakeups', // waitAsync wake-ups that found frames (wake: async)
  'cpuNs', // the thread's CPU time since start (Linux schedstat; -1 where unavailable)
  'wallNs', // wall time since start, when cpuNs was read
  'userNs', // of cpuNs, in user space and in the kernel (Linux /proc/thread-self/stat, 10 ms ticks)
  'sysNs',
] as const;
/** Per remote (a block each after the endpoint's). */
export const REMOTE_COUNTERS = [
  'inFrames', // frames from the remote handed to the switch
  'inBytes',
  'inShort', // dropped: shorter than the header and an Ethernet header
  'inFlags', // dropped: I flag clear
  'inVni', // dropped: from this remote's address with a VNI no remote there has
  'inTooBig', // dropped: a frame larger than the path's MTU allows
  'inRingFull', // dropped: no room in the port's TX ring (even after a sync)
  'inToSender', // dropped: sent to the remote's connected socket, not the listening port (two threads)
  'outFrames', // datagrams sent to the remote (the kernel took them)
  'outBytes', // their frames' bytes
  'outTooBig', // dropped: a frame from the switch larger than the path's MTU allows
  'outEmpty', // skipped: empty slots (a VALE lease revoked from a dead sender)
  'sendErrors', // dropped: datagrams whose send failed (the errno is in lastErrno)
  'unreachable', // ICMP errors the kernel reported for the remote (port or host unreachable)
  'blocked', // times the remote's send queue was full and its frames waited in the ring
  'lastErrno', // the last error's errno (negative, as libuv's), 0 if none
] as const;
export type EndpointCounter = (typeof EP_COUNTERS)[number];
export type RemoteCounter = (typeof REMOTE_COUNTERS)[number];

export function statsWords(remotes: number): number {
  return EP_COUNTERS.length + remotes * REMOTE_COUNTERS.length;
}
const E = Object.fromEntries(EP_COUNTERS.map((n, i) => [n, i])) as Record<EndpointCounter, number>;
const R = Object.fromEntries(REMOTE_COUNTERS.map((n, i) => [n, i])) as Record<RemoteCounter, number>;

/** A remote as the endpoint gets it (checked by attachVxlan). */
export interface EndpointRemote extends UdpAddress {
  name: string;
  vni: number;
}

export interface EndpointConfig {
  local: UdpAddress;
  family: Family;
  /** The underlay's IP MTU. */
  mtu: number;
  remotes: EndpointRemote[];
  wake: VxlanWake;
  /** wake 'poll': how long the loop keeps polling by setImmediate after the last frame (µs). */
  spinUs: number;
  /** SO_RCVBUF asked for the listening socket (the kernel caps it at net.core.rmem_max). */
  recvBufferSize: number;
}

/** Staging buffers per remote: sends libuv may hold (queued on EAGAIN) while we go on. */
const STAGE = 64;
/** Frames drained from one port per turn before I/O gets its turn. */
const BUDGET = 256;
/**
 * pollAsync's bound: none. Its arm / re-check / wait protocol loses no wake-up, and a
 * bound costs V8 a timer task per wait (measured: ~10 % more CPU per wake-up at 1000
 * frames/s); close() wakes the waiters itself.
 */
const WAIT_MS = -1;
const MOREFRAG = NS_MOREFRAG;
/** errnos (libuv's, negative) that mean the remote or the way to it is not there. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN']);

class Remote {
  readonly tx: NetmapRing;
  readonly rx: NetmapRing;
  /** STAGE datagram buffers, each starting with this remote's header. */
  readonly stage: Buffer;
  stageNext = 0;
  dirty = false;
  waiting = false;
  blocked = false;
  sock: dgram.Socket | null = null;
  readonly onSent: (err: Error | null, bytes?: number) => void;
  readonly onWoken: (ready: number) => void;
  readonly onWaitFailed: () => void;

  constructor(
    readonly cfg: EndpointRemote,
    readonly port: Port,
    readonly bell: Int32Array,
    readonly base: number,
    readonly stride: number,
    ep: VxlanEndpoint,
  ) {
    this.tx = port.tx;
    this.rx = port.rx;
    this.stage = Buffer.alloc(STAGE * stride);
    for (let i = 0; i < STAGE; i++) writeHeader(this.stage, i * stride, cfg.vni);
    this.onSent = (err, bytes) => ep.sent(this, err, bytes ?? 0);
    this.onWoken = (ready) => ep.woken(this, ready);
    this.onWaitFailed = () => ep.woken(this, 0);
  }
}

export class VxlanEndpoint {
  readonly maxFrame: number;
  private readonly remotes: Remote[];
  /** Remotes by source address (several when they share one, told apart by VNI). */
  private readonly bySource = new Map<string, Remote[]>();
  private readonly st: Float64Array;
  private listen: dgram.Socket | null = null;
  /** Turns wait until every socket is there (frames that arrive before stay in their TX rings). */
  private started = false;
  private scheduled = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private statsTimer: ReturnType<typeof setInterval> | null = null;
  private idleSince = 0;
  private closed = false;
  private readonly t0 = performance.now();
  private readonly cpu0: number;
  private readonly times0: [number, number] | null;
  private readonly turnFn = () => this.turn();
  private readonly timerFn = () => {
    this.timer = null;
    this.turn();
  };

  constructor(
    private readonly cfg: EndpointConfig,
    ports: Port[],
    bells: SharedArrayBuffer[],
    stats: Float64Array,
    /** This thread's half (ports registered /T for 'in', /R for 'out'). */
    private readonly role: EndpointRole = 'both',
  ) {
    if (ports.length !== cfg.remotes.length || bells.length !== ports.length) {
      throw new NetmapError('EINVAL', 'vxlan endpoint: one port and one bell per remote');
    }
    if (stats.length < statsWords(ports.length))
      throw new NetmapError('EINVAL', 'vxlan endpoint: stats block too small');
    this.st = stats;
    this.maxFrame = maxFrameFor(cfg.mtu, cfg.family);
    const stride = VXLAN_HLEN + this.maxFrame;
    this.remotes = cfg.remotes.map(
      (r, i) =>
        new Remote(
          r,
          ports[i],
          new Int32Array(bells[i]),
          EP_COUNTERS.length + i * REMOTE_COUNTERS.length,
          stride,
          this,
        ),
    );
    for (const r of this.remotes) {
      const list = this.bySource.get(r.cfg.address) ?? [];
      list.push(r);
      this.bySource.set(r.cfg.address, list);
    }
    this.cpu0 = readSchedstat()?.cpuNs ?? -1;
    this.times0 = threadTimes();
  }

  /** Binds the listening socket and one connected socket per remote; resolves with the bound address. */
  async start(): Promise<UdpAddress> {
    const type = this.cfg.family === 4 ? 'udp4' : 'udp6';
    const onMessage = (msg: Buffer, rinfo: dgram.RemoteInfo) => this.inbound(msg, rinfo.address);
    let bound: UdpAddress = this.cfg.local;
    if (this.role !== 'out') {
      const listen = dgram.createSocket({ type });
      this.listen = listen;
      listen.on('message', onMessage);
      await bind(listen, this.cfg.local.port, this.cfg.local.address);
      listen.removeAllListeners('error');
      listen.on('error', () => {
        this.st[E.socketErrors]++;
      });
      try {
        listen.setRecvBufferSize(this.cfg.recvBufferSize);
      } catch {
        // Capped or refused: the kernel's default stays.
      }
      const a = listen.address();
      bound = { address: a.address, port: a.port };
    }
    if (this.role !== 'in') {
      for (const r of this.remotes) {
        const s = dgram.createSocket({ type });
        r.sock = s;
        // Datagrams a remote sends to this socket's port are frames too; with two threads
        // only the inbound half touches the TX rings (a remote sends to the listening port):
        // the outbound half drops them, counted.
        if (this.role === 'both') s.on('message', onMessage);
        else
          s.on('message', () => {
            this.st[E.datagrams]++;
            this.st[r.base + R.inToSender]++;
          });
        await bind(s, 0, this.cfg.local.address);
        s.removeAllListeners('error');
        // ICMP errors about datagrams already sent (the kernel reports them on a connected socket).
        s.on('error', (e: NodeJS.ErrnoException) => this.remoteError(r, e));
        await new Promise<void>((resolve, reject) => {
          s.once('error', reject);
          s.connect(r.cfg.port, r.cfg.address, () => {
            s.off('error', reject);
            resolve();
          });
        });
      }
    }
    this.statsTimer = setInterval(() => this.sample(), 100);
    this.statsTimer.unref();
    this.sample();
    this.started = true;
    this.turn();
    return bound;
  }

  /** Stops: sockets closed, waiters woken, ports closed (they leave the switch). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.statsTimer !== null) clearInterval(this.statsTimer);
    this.sample();
    const socks = [this.listen, ...this.remotes.map((r) => r.sock)].filter((s): s is dgram.Socket => s !== null);
    await Promise.all(socks.map((s) => new Promise<void>((done) => s.close(() => done()))));
    for (const r of this.remotes) {
      // A pending pollAsync wakes now, finds the port closed and ends.
      Atomics.notify(r.bell, BELL_SLEEP);
      r.port.close();
    }
  }

  /** A datagram arrived: check it, copy its frame into its remote's TX ring. */
  private inbound(msg: Buffer, from: string): void {
    if (this.closed) return;
    const st = this.st;
    st[E.datagrams]++;
    const cands = this.bySource.get(from);
    if (cands === undefined) {
      st[E.unknownSource]++;
      return;
    }
    const len = msg.length;
    const v = checkHeader(msg, len);
    let r = cands[0];
    if (v < 0) {
      st[r.base + (v === BAD_SHORT ? R.inShort : R.inFlags)]++;
      return;
    }
    if (r.cfg.vni !== v) {
      let found: Remote | undefined;
      for (let i = 1; i < cands.length; i++) if (cands[i].cfg.vni === v) found = cands[i];
      if (found === undefined) {
        st[r.base + R.inVni]++;
        return;
      }
      r = found;
    }
    const flen = len - VXLAN_HLEN;
    if (flen > this.maxFrame) {
      st[r.base + R.inTooBig]++;
      return;
    }
    const tx = r.tx;
    const bs = tx.bufSize;
    const need = flen <= bs ? 1 : Math.ceil(flen / bs);
    if (tx.space() < need) {
      // Full within one turn: forward what is queued now (the switch hands every slot back).
      r.port.txsync();
      if (tx.space() < need) {
        st[r.base + R.inRingFull]++;
        return;
      }
    }
    let cur = tx.cur;
    let off = VXLAN_HLEN;
    for (let left = flen; left > 0; ) {
      const n = Math.min(left, bs);
      msg.copy(tx.mem, tx.bufOffset(cur), off, off + n);
      left -= n;
      off += n;
      tx.setLen(cur, n);
      tx.setSlotFlags(cur, left > 0 ? MOREFRAG : 0);
      cur = tx.next(cur);
    }
    tx.advance(cur);
    st[r.base + R.inFrames]++;
    st[r.base + R.inBytes] += flen;
    if (!r.dirty) {
      r.dirty = true;
      this.schedule();
    }
  }

  private schedule(): void {
    if (this.scheduled || this.closed || !this.started) return;
    this.scheduled = true;
    setImmediate(this.turnFn);
  }

  /** One turn: hand the inbound frames to the switch, then send what the switch has for the remotes. */
  private turn(): void {
    this.scheduled = false;
    if (this.closed) return;
    this.st[E.turns]++;
    const rs = this.remotes;
    for (let i = 0; i < rs.length; i++) {
      const r = rs[i];
      if (r.dirty) {
        r.dirty = false;
        r.port.txsync();
      }
    }
    // The inbound half has no RX rings: the event loop waits on its socket alone.
    if (this.role === 'in') return;
    let more = false;
    let sent = 0;
    for (let i = 0; i < rs.length; i++) {
      const n = this.drain(rs[i]);
      if (n < 0) more = true;
      else sent += n;
    }
    if (more) {
      this.idleSince = 0;
      this.schedule();
    } else {
      if (sent > 0) this.idleSince = 0;
      this.idle();
    }
  }

  /**
   * Sends up to BUDGET frames of `r`'s RX ring, one datagram each. Returns how many, or
   * -1 when frames are left for another turn.
   */
  private drain(r: Remote): number {
    const rx = r.rx;
    r.port.rxsync();
    let cur = rx.cur;
    const tail = rx.tail;
    if (cur === tail || r.blocked) return 0;
    const sock = r.sock as dgram.Socket;
    let room = STAGE - 1 - sock.getSendQueueCount();
    const st = this.st;
    const max = this.maxFrame;
    const stride = r.stride;
    const src = rx.mem;
    let n = 0;
    while (cur !== tail && n < BUDGET) {
      if (room <= 0) {
        // The kernel is behind on this socket: the frames wait in the ring until a
        // queued send completes (its callback schedules a turn).
        r.blocked = true;
        st[r.base + R.blocked]++;
        break;
      }
      const at = r.stageNext * stride + VXLAN_HLEN;
      let k = cur;
      let total = 0;
      for (;;) {
        const len = rx.len(k);
        const flags = rx.slotFlags(k);
        if (total + len <= max) {
          const o = rx.bufOffset(k);
          r.stage.set(src.subarray(o, o + len), at + total);
        }
        total += len;
        k = rx.next(k);
        if ((flags & MOREFRAG) === 0 || k === tail) break;
      }
      cur = k;
      n++;
      if (total > max) st[r.base + R.outTooBig]++;
      else if (total === 0) st[r.base + R.outEmpty]++;
      else {
        sock.send(r.stage, at - VXLAN_HLEN, VXLAN_HLEN + total, r.onSent);
        r.stageNext = r.stageNext + 1 === STAGE ? 0 : r.stageNext + 1;
        room--;
      }
    }
    // The slots are copied: they go back to the switch at the next rxsync.
    rx.advance(cur);
    return cur !== tail && !r.blocked ? -1 : n;
  }

  /** A send completed (at once: on the next tick; queued: when libuv sent it). */
  sent(r: Remote, err: Error | null, bytes: number): void {
    const st = this.st;
    if (err === null) {
      st[r.base + R.outFrames]++;
      st[r.base + R.outBytes] += bytes - VXLAN_HLEN;
    } else {
      st[r.base + R.sendErrors]++;
      this.noteError(r, err as NodeJS.ErrnoException);
    }
    if (r.blocked) {
      r.blocked = false;
      this.schedule();
    }
  }

  private remoteError(r: Remote, e: NodeJS.ErrnoException): void {
    this.noteError(r, e);
  }

  private noteError(r: Remote, e: NodeJS.ErrnoException): void {
    const st = this.st;
    if (typeof e.code === 'string' && UNREACHABLE.has(e.code)) st[r.base + R.unreachable]++;
    if (typeof e.errno === 'number') st[r.base + R.lastErrno] = e.errno;
  }

  /** Out of work: watch the RX rings for frames from other threads. */
  private idle(): void {
    if (this.closed) return;
    if (this.cfg.wake === 'async') {
      for (const r of this.remotes) {
        if (r.waiting) continue;
        r.waiting = true;
        r.port.pollAsync(POLLIN, WAIT_MS).then(r.onWoken, r.onWaitFailed);
      }
      return;
    }
    const now = performance.now();
    if (this.idleSince === 0) this.idleSince = now;
    if ((now - this.idleSince) * 1000 < this.cfg.spinUs) this.schedule();
    else if (this.timer === null && !this.scheduled) this.timer = setTimeout(this.timerFn, 1);
  }

  /** A pollAsync ended: frames (ready), a timeout or the port closing. */
  woken(r: Remote, ready: number): void {
    r.waiting = false;
    if (this.closed) return;
    if (ready !== 0) {
      this.st[E.wakeups]++;
      this.schedule();
    } else if (!this.scheduled) this.idle();
  }

  /** The thread's CPU and wall time since start, into the stats block. */
  private sample(): void {
    const s = readSchedstat();
    this.st[E.cpuNs] = s === null || this.cpu0 < 0 ? -1 : s.cpuNs - this.cpu0;
    this.st[E.wallNs] = (performance.now() - this.t0) * 1e6;
    const t = threadTimes();
    const t0 = this.times0;
    this.st[E.userNs] = t === null || t0 === null ? -1 : t[0] - t0[0];
    this.st[E.sysNs] = t === null || t0 === null ? -1 : t[1] - t0[1];
  }
}

/** This thread's user and system time (ns; Linux, in USER_HZ = 100 ticks), or null. */
function threadTimes(): [number, number] | null {
  try {
    const s = readFileSync('/proc/thread-self/stat', 'utf8');
    // The fields after the command name (which may hold spaces) in parentheses.
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return [Number(f[11]) * 1e7, Number(f[12]) * 1e7];
  } catch {
    return null;
  }
}

function bind(s: dgram.Socket, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(port, address, () => {
      s.off('error', reject);
      resolve();
    });
  });
}
