/**
 * bridge, netmap's forwarding app, over the NetmapPort interface: it moves packets from
 * port A's RX ring into port B's TX ring in batches, so it runs unchanged on host ports
 * and on a guest's passed-through ports. When both ports live in one memory region it
 * swaps buffer indices (zero copy), as netmap's bridge does when both descriptors share
 * one mmap; otherwise it copies each payload with set() between pre-made views (no
 * allocation per packet). Slot len and flags travel with the packet.
 *
 * As a session role it is a forwarder: at STOP_FORWARDERS (the senders are done) it
 * drains — keeps forwarding until its input is empty — and in a chain it first waits for
 * the stage before it (src/stop-order.ts), so nothing in flight is lost.
 */
import { NS_BUF_CHANGED, NS_MOREFRAG, ST_BATCHES, ST_BYTES, ST_EMPTY, ST_PACKETS } from '../../shm/layout.js';
import { copyFrame, type RegionViews } from '../../shm/views.js';
import { NetmapError } from '../errors.js';
import { log } from '../log.js';
import { type NetmapPort, POLLIN, POLLOUT } from '../port.js';
import type { NetmapRing } from '../ring.js';
import { DRAIN_TIMEOUT_MS, StopOrder, type StopOrderRef } from '../stop-order.js';
import { type Control, RoleStats, STOP_ALL, STOP_FORWARDERS } from './control.js';

/**
 * Options of a bridge (netmap's bridge): batch, count, spin, poll timeout, zero-copy, and
 * its place in a chain's stop order.
 */
export interface BridgeOptions {
  /** Most slots moved per pass (netmap's burst; default 64). */
  batch?: number;
  /** Forward this many slots, then stop (0 = until stopped; default 0). */
  count?: number;
  /** Busy-poll this long before sleeping in poll (µs; default 0). */
  spinUs?: number;
  /** How long one poll may block before the stop flag is looked at again (ms; default 50). */
  pollMs?: number;
  /** Swap buffers when both ports share memory (default true; netmap's `bridge -c` says false). */
  zeroCopy?: boolean;
  /** In a chain: at the stop, wait for the stage before this one, then drain and say so. */
  order?: StopOrderRef;
}

/** What a bridge forwarded: slots, bytes, passes, empty slots, whether it swapped buffers, and for how long. */
export interface BridgeResult {
  /** Slots forwarded with a payload (a fragmented packet counts once per fragment). */
  packets: number;
  bytes: number;
  /** Passes that moved at least one slot. */
  batches: number;
  /** Slots forwarded empty (len 0, or a bad buffer or len: forwarded as len 0). */
  empty: number;
  /** True when buffers were swapped rather than copied. */
  zeroCopy: boolean;
  seconds: number;
}

/** Checks a bridge's options and fills in the defaults; throws EINVAL naming the bad one. */
export function checkBridgeOptions(o: BridgeOptions): Required<Omit<BridgeOptions, 'order'>> {
  if (o === null || typeof o !== 'object') throw new NetmapError('EINVAL', 'bridge options must be an object');
  const batch = o.batch ?? 64;
  const count = o.count ?? 0;
  const spinUs = o.spinUs ?? 0;
  const pollMs = o.pollMs ?? 50;
  const zeroCopy = o.zeroCopy ?? true;
  if (!Number.isInteger(batch) || batch < 1 || batch > 16384) {
    throw new NetmapError('EINVAL', `bridge batch must be an integer from 1 to 16384, got ${batch}`);
  }
  if (!Number.isInteger(count) || count < 0) {
    throw new NetmapError('EINVAL', `bridge count must be a non-negative integer, got ${count}`);
  }
  if (!(spinUs >= 0) || !Number.isFinite(spinUs)) throw new NetmapError('EINVAL', `spinUs must be >= 0, got ${spinUs}`);
  if (!(pollMs > 0)) throw new NetmapError('EINVAL', `pollMs must be > 0, got ${pollMs}`);
  if (typeof zeroCopy !== 'boolean') throw new NetmapError('EINVAL', `zeroCopy must be a boolean, got ${zeroCopy}`);
  return { batch, count, spinUs, pollMs, zeroCopy };
}

/**
 * True when the two ports' rings live in one memory region (one SharedArrayBuffer), so
 * a buffer index means the same buffer on both: netmap's `pa->mem == pb->mem`. The test is
 * SAB identity, which holds within a thread and for SABs posted to a worker in one message.
 */
export function sharesMemory(a: NetmapPort, b: NetmapPort): boolean {
  return a.rx.mem.buffer === b.tx.mem.buffer;
}

// Slot word 1 holds len in its low half and flags in its high half.
const LEN_MASK = 0xffff;
const MOREFRAG_HI = NS_MOREFRAG << 16;
const BUF_CHANGED_HI = NS_BUF_CHANGED << 16;

/** The forwarding step of one bridge direction: A's first RX ring into B's first TX ring. */
export class Bridge {
  readonly zeroCopy: boolean;
  /** Bytes and empty slots of the last move(). */
  lastBytes = 0;
  lastEmpty = 0;
  private readonly rx: NetmapRing;
  private readonly tx: NetmapRing;
  private readonly src: RegionViews;
  private readonly dst: RegionViews;
  private readonly bufSize: number;
  private readonly goodBufs: number;

  constructor(
    readonly from: NetmapPort,
    readonly to: NetmapPort,
    zeroCopy = true,
  ) {
    if (from.bufSize !== to.bufSize) {
      throw new NetmapError(
        'EINVAL',
        `bridge: ${from.name} has ${from.bufSize}-byte buffers and ${to.name} ${to.bufSize}: they must match`,
      );
    }
    this.rx = from.rx;
    this.tx = to.tx;
    this.bufSize = from.bufSize;
    this.zeroCopy = zeroCopy && sharesMemory(from, to);
    // Views of each region made once: copies use set() between reused size-class views.
    this.src = this.rx.region;
    this.dst = this.tx.region;
    this.goodBufs = this.src.numBufs - 2;
  }

  /**
   * netmap's process_rings: moves up to `limit` slots from A's RX [cur, tail) into B's
   * TX [cur, tail) and advances both rings (no sync). Returns the slots moved.
   */
  move(limit: number): number {
    const rx = this.rx;
    const tx = this.tx;
    const rn = rx.numSlots;
    const tn = tx.numSlots;
    let j = rx.cur;
    let k = tx.cur;
    let m = rx.tail - j;
    if (m < 0) m += rn;
    let room = tx.tail - k;
    if (room < 0) room += tn;
    if (room < m) m = room;
    if (limit < m) m = limit;
    const ri = rx.i32;
    const ti = tx.i32;
    const rb = rx.slotBase;
    const tb = tx.slotBase;
    const src = this.src;
    const dst = this.dst;
    const bufSize = this.bufSize;
    const goodBufs = this.goodBufs;
    const zc = this.zeroCopy;
    let bytes = 0;
    let empty = 0;
    for (let i = 0; i < m; i++) {
      const rs = rb + 2 * j;
      const ts = tb + 2 * k;
      const idx = ri[rs];
      const lf = ri[rs + 1];
      const len = lf & LEN_MASK;
      if (len === 0 || len > bufSize || (idx - 2) >>> 0 >= goodBufs) {
        // Nothing (valid) to carry: the slot travels empty, keeping the fragment chain.
        ti[ts + 1] = lf & MOREFRAG_HI;
        empty++;
      } else if (zc) {
        // Swap the buffers and tell both kernels (NS_BUF_CHANGED); flags travel along.
        const t = ti[ts];
        ti[ts] = idx;
        ri[rs] = t;
        ti[ts + 1] = lf | BUF_CHANGED_HI;
        ri[rs + 1] = lf | BUF_CHANGED_HI;
        bytes += len;
      } else {
        // The bytes copied past len land in our own TX buffer.
        copyFrame(src, idx, dst, ti[ts], len);
        ti[ts + 1] = lf & ~BUF_CHANGED_HI;
        bytes += len;
      }
      j = j + 1 === rn ? 0 : j + 1;
      k = k + 1 === tn ? 0 : k + 1;
    }
    if (m > 0) {
      rx.advance(j);
      tx.advance(k);
    }
    this.lastBytes = bytes;
    this.lastEmpty = empty;
    return m;
  }

  /** One pass without waiting: pick up A's packets, move up to `limit`, push them out of B. */
  step(limit: number): number {
    this.from.rxsync();
    this.to.txsync();
    const m = this.move(limit);
    if (m > 0) this.to.txsync();
    return m;
  }
}

/** The stop flag is read and the stats published once every 8 passes (as pkt-gen does). */
const PUBLISH_EVERY = 7;
/** While draining, polls wake this often to look at the stage before (ms). */
const DRAIN_POLL_MS = 1;

/**
 * Runs the bridge from `from` to `to` until `count` slots are through or `ctl` says stop
 * (a forwarder: at STOP_FORWARDERS it drains its input, after the stage before it in a
 * chain). Sleeps in poll when idle: POLLIN on A when it has nothing, POLLOUT on B when
 * B's TX ring is full.
 */
export function runBridge(
  from: NetmapPort,
  to: NetmapPort,
  opts: BridgeOptions,
  ctl: Control,
  stats = new RoleStats(),
): BridgeResult {
  const o = checkBridgeOptions(opts);
  const order = opts.order === undefined ? null : new StopOrder(opts.order);
  const br = new Bridge(from, to, o.zeroCopy);
  const rx = from.rx;
  const tx = to.tx;
  const f = stats.f64;
  ctl.arriveAndWait();
  const t0 = performance.now();
  let level = 0;
  let iter = 0;
  let upstreamDone = false;
  let drainEnd = 0;
  // Totals live in the stats block (Float64): a JS number past 2^31 would be boxed on
  // every update. Loop locals stay small int32s.
  for (;;) {
    if ((iter++ & PUBLISH_EVERY) === 0) level = ctl.stopLevel();
    if (o.count !== 0 && f[ST_PACKETS] + f[ST_EMPTY] >= o.count) break;
    const draining = level >= STOP_FORWARDERS;
    if (draining) {
      // STOP_ALL while a forwarder still runs means a role failed: stop waiting for others.
      if (!upstreamDone) upstreamDone = order === null || level >= STOP_ALL || order.upstreamDone();
      // A drain takes milliseconds; one that cannot finish (the next stage is gone and
      // B stays full) must not hang the run.
      const now = performance.now();
      if (drainEnd === 0) drainEnd = now + DRAIN_TIMEOUT_MS;
      else if (now > drainEnd) {
        log().warn({ from: from.name, to: to.name }, 'bridge: drain did not finish; stopping');
        break;
      }
    }
    if (upstreamDone) {
      // Everything upstream has been pushed to A: forward what is left, then stop.
      from.rxsync();
      if (rx.cur === rx.tail) break;
    } else if (from.poll(POLLIN, draining ? DRAIN_POLL_MS : o.pollMs, o.spinUs) === 0) {
      iter = 0; // a timeout: look at the stop flag now
      continue;
    }
    if (tx.cur === tx.tail && to.poll(POLLOUT, draining ? DRAIN_POLL_MS : o.pollMs, o.spinUs) === 0) {
      iter = 0;
      continue;
    }
    const m = br.move(o.count === 0 ? o.batch : Math.min(o.batch, o.count - f[ST_PACKETS] - f[ST_EMPTY]));
    to.txsync();
    f[ST_PACKETS] += m - br.lastEmpty;
    f[ST_BYTES] += br.lastBytes;
    f[ST_EMPTY] += br.lastEmpty;
    if (m > 0) f[ST_BATCHES]++;
    if ((iter & PUBLISH_EVERY) === 0) stats.publish();
  }
  // Push the last batch and hand A's slots back.
  to.txsync();
  from.rxsync();
  stats.publish();
  order?.finish();
  return {
    packets: f[ST_PACKETS],
    bytes: f[ST_BYTES],
    batches: f[ST_BATCHES],
    empty: f[ST_EMPTY],
    zeroCopy: br.zeroCopy,
    seconds: (performance.now() - t0) / 1000,
  };
}
