/**
 * The namespace of ports ("the kernel"): creates pipe memory and VALE switches on first
 * use and hands out descriptors that the thread it chooses can attach with `attachPort`.
 * Nothing is found by name from another thread: a port's memory reaches a thread only in
 * a descriptor this namespace made and someone holding it passed on.
 */
import { DEFAULT_BUF_SIZE, DEFAULT_RING_SLOTS, MAX_RING_SLOTS, MIN_RING_SLOTS } from '../shm/layout.js';
import { BufPool } from '../shm/pool.js';
import { RegionViews } from '../shm/views.js';
import { NetmapError } from './errors.js';
import type { BaseDescriptor, PortDescriptor, ValeDescriptor } from './kernel/attach.js';
import { createNicMemory, type NicMemory } from './kernel/nic.js';
import { createPipeMemory, type PipeMemory } from './kernel/pipe.js';
import { valeCounters } from './kernel/vale.js';
import { ValeSwitch } from './kernel/vale-switch.js';
import { parsePortName } from './names.js';
import { checkLineRate, type LineRate } from './nic/line.js';
import { type AttachPortOptions, Port } from './port.js';

/**
 * How a port is made (the sizes count only when the registration makes it). A region
 * holds at most 2 GiB of buffers (MAX_REGION_BUF_BYTES): more is ENOMEM, naming the sizes.
 */
export interface PortOptions {
  /** Slots per ring (any size in [2, 16384], power of two or not). Default 1024. */
  ringSize?: number;
  /** Bytes per buffer, a multiple of 64 up to 65472. Default 2048. */
  bufSize?: number;
  /**
   * Spare buffers (netmap's extra buffers). A region's pool is made with the first
   * registration; a later one gets what the pool holds then, which the descriptor's
   * `extraBufs` (and the Port's) reports, as netmap's nr_extra_bufs does. Default 0.
   */
  extraBufs?: number;
  /** poll() without POLLOUT leaves pending TX slots alone (netmap's NETMAP_NO_TX_POLL). */
  noTxPoll?: boolean;
}

interface PipeEntry extends PipeMemory {
  ringSize: number;
  bufSize: number;
}

/** How a NIC is made: its rings (PortOptions) and its wire's line rate. */
export interface NicOptions extends Omit<PortOptions, 'noTxPoll'> {
  /** The wire's line rate (default 10G). */
  line?: LineRate;
}

/**
 * The hardware side of a NIC, for the thread that runs its wire (src/nic/wire-role.ts):
 * its memory with the hardware block and its user's bell. Kernel memory: trusted hands only.
 */
export interface NicHardware {
  name: string;
  mem: SharedArrayBuffer;
  kmem: SharedArrayBuffer;
  bell: SharedArrayBuffer;
  line: LineRate;
}

interface NicEntry extends NicMemory {
  ringSize: number;
  bufSize: number;
  line: LineRate;
  /** The switch it is attached to (vale-ctl -a): its rings are then the switch's, not a user's. */
  attachedTo: string | null;
}

export const MAX_BUF_SIZE = 65472;

/**
 * Checks a port's options and fills in the defaults (ring size, buffer size, extra
 * buffers); throws EINVAL naming the bad one.
 */
export function checkPortOptions(opts: PortOptions): Required<Omit<PortOptions, 'noTxPoll'>> {
  const ringSize = opts.ringSize ?? DEFAULT_RING_SLOTS;
  const bufSize = opts.bufSize ?? DEFAULT_BUF_SIZE;
  const extraBufs = opts.extraBufs ?? 0;
  if (!Number.isInteger(ringSize) || ringSize < MIN_RING_SLOTS || ringSize > MAX_RING_SLOTS) {
    throw new NetmapError(
      'EINVAL',
      `ring size must be an integer from ${MIN_RING_SLOTS} to ${MAX_RING_SLOTS}, got ${ringSize}`,
    );
  }
  if (!Number.isInteger(bufSize) || bufSize < 64 || bufSize > MAX_BUF_SIZE || bufSize % 64 !== 0) {
    throw new NetmapError('EINVAL', `buffer size must be a multiple of 64 from 64 to ${MAX_BUF_SIZE}, got ${bufSize}`);
  }
  if (!Number.isInteger(extraBufs) || extraBufs < 0 || extraBufs > 1 << 20) {
    throw new NetmapError('EINVAL', `extra buffers must be an integer from 0 to ${1 << 20}, got ${extraBufs}`);
  }
  return { ringSize, bufSize, extraBufs };
}

/**
 * A port that exists is shared as it was made (another user): sizes asked for explicitly
 * must be its own, as netmap refuses a second registration with other sizes (EINVAL).
 */
function checkSameSizes(
  name: string,
  what: string,
  have: { ringSize: number; bufSize: number },
  opts: PortOptions,
): void {
  for (const [key, label] of [
    ['ringSize', 'ring size'],
    ['bufSize', 'buffer size'],
  ] as const) {
    const want = opts[key];
    if (want !== undefined && want !== have[key]) {
      throw new NetmapError('EINVAL', `${name}: the ${what} exists with ${label} ${have[key]}, not ${want}`);
    }
  }
}

/**
 * Turns the allocator's RangeError (a size the machine cannot give, or more buffers than a
 * region can hold) into ENOMEM naming the sizes asked for: the allocator's own message
 * may name only what it checked ("bad geometry: buffer count").
 */
function allocating<T>(name: string, o: Required<Omit<PortOptions, 'noTxPoll'>>, make: () => T): T {
  try {
    return make();
  } catch (e) {
    if (e instanceof RangeError) {
      throw new NetmapError(
        'ENOMEM',
        `${name}: no memory for rings of ${o.ringSize} slots, ${o.bufSize}-byte buffers and ${o.extraBufs} extra buffers (${e.message})`,
      );
    }
    throw e;
  }
}

/**
 * The namespace of ports ("the kernel"): makes pipes and VALE switches on first use and
 * NICs with createNic, and hands out descriptors that a thread attaches with attachPort.
 */
export class Netmap {
  private readonly pipes = new Map<string, PipeEntry>();
  private readonly switches = new Map<string, ValeSwitch>();
  private readonly nics = new Map<string, NicEntry>();
  private closed = false;

  /**
   * A NIC appears (a driver probing its hardware): `nicN` with rings of `ringSize` slots
   * and a wire at `line`. Returns its hardware side, for the thread that runs its wire;
   * `register('nicN')` then gives its users their descriptors. EEXIST-like EBUSY if it exists.
   */
  createNic(name: string, o: NicOptions = {}): NicHardware {
    this.checkOpen();
    const parsed = parsePortName(name);
    if (parsed.type !== 'nic' || parsed.name !== name) {
      throw new NetmapError('EINVAL', `'${name}' is not a NIC name (nicN, e.g. nic0)`);
    }
    if (this.nics.has(name)) throw new NetmapError('EBUSY', `${name} exists already`);
    const line = checkLineRate(o.line ?? '10G');
    const p = checkPortOptions(o);
    const mem = allocating(name, p, () => createNicMemory(p.ringSize, p.bufSize, p.extraBufs));
    this.nics.set(name, { ...mem, ringSize: p.ringSize, bufSize: p.bufSize, line, attachedTo: null });
    return { name, mem: mem.mem, kmem: mem.kmem, bell: mem.bell, line };
  }

  /**
   * vale-ctl -a: attaches NIC `nic` to switch `sw` as port `sw:nic`. From then on the
   * NIC's wire serves that VALE port (give the returned descriptor to its wire thread):
   * what the switch sends there leaves on the wire, what arrives enters the switch. The
   * NIC itself is busy (EBUSY to register) until the namespace closes.
   */
  valeAttach(sw: string, nic: string): ValeDescriptor {
    this.checkOpen();
    const e = this.nics.get(nic);
    if (e === undefined) throw new NetmapError('ENOENT', `no NIC ${nic} (Netmap.createNic makes one)`);
    if (e.attachedTo !== null) throw new NetmapError('EBUSY', `${nic} is attached to ${e.attachedTo} already`);
    const d = this.register(`${sw}:${nic}`, { ringSize: e.ringSize, bufSize: e.bufSize });
    if (d.type !== 'vale') throw new NetmapError('EINVAL', `'${sw}' is not a VALE switch name (valeX)`);
    e.attachedTo = sw;
    return d;
  }

  /**
   * NIOCREGIF without the mapping: a descriptor for `name` (netmap's suffixes /x, /T, /R
   * apply), for one attach in the thread the caller passes it to. A VALE descriptor holds
   * a MessagePort: post it with `transferList(desc)`.
   */
  register(name: string, opts: PortOptions = {}): PortDescriptor {
    this.checkOpen();
    const parsed = parsePortName(name);
    const o = checkPortOptions(opts);
    const mode = { ...parsed.mode, ...(opts.noTxPoll ? { noTxPoll: true } : {}) };
    if (parsed.type === 'vale') {
      let sw = this.switches.get(parsed.switchName);
      if (sw === undefined) {
        sw = new ValeSwitch(parsed.switchName);
        this.switches.set(parsed.switchName, sw);
      }
      const s = sw;
      const { index, port, created } = allocating(name, o, () => s.attach(parsed.port, o));
      if (!created) checkSameSizes(name, 'VALE port', port, opts);
      return {
        type: 'vale',
        name: parsed.name,
        mem: port.mem,
        kmem: port.kmem,
        ifIndex: 0,
        bells: [port.bell],
        mode,
        portIndex: index,
        serial: port.serial,
        switch: sw.handle(index),
        extraBufs: granted(port, o.extraBufs),
      };
    }
    if (parsed.type === 'nic') {
      const e = this.nics.get(parsed.name);
      if (e === undefined) throw new NetmapError('ENOENT', `no NIC ${parsed.name} (Netmap.createNic makes one)`);
      if (e.attachedTo !== null) {
        throw new NetmapError(
          'EBUSY',
          `${parsed.name} is attached to switch ${e.attachedTo}: its rings are the switch's`,
        );
      }
      checkSameSizes(name, 'NIC', e, opts);
      return {
        type: 'nic',
        name: parsed.name,
        mem: e.mem,
        kmem: e.kmem,
        ifIndex: 0,
        bells: [e.bell],
        mode,
        extraBufs: granted(e, o.extraBufs),
      };
    }
    let entry = this.pipes.get(parsed.pipe);
    if (entry === undefined) {
      const mem = allocating(name, o, () => createPipeMemory(o.ringSize, o.bufSize, o.extraBufs));
      entry = { ...mem, ringSize: o.ringSize, bufSize: o.bufSize };
      this.pipes.set(parsed.pipe, entry);
    } else {
      checkSameSizes(name, 'pipe', entry, opts);
    }
    return {
      type: 'pipe',
      name: parsed.name,
      mem: entry.mem,
      kmem: entry.kmem,
      ifIndex: parsed.end,
      bells: entry.bells,
      mode,
      extraBufs: granted(entry, o.extraBufs),
    } as PortDescriptor;
  }

  /**
   * A copy monitor on a VALE switch (netmap's /t and /r monitors, in one): registers
   * `name` (valeX:Y, a new port) whose RX ring gets a copy of every frame through switch
   * valeX, or with `watch`, of those sent by or to port valeX:`watch`. Copies that do not
   * fit are the monitor port's drops; the forwarding path never waits for it, and costs
   * one load per txsync when no monitor is set. One monitor per switch (EBUSY).
   */
  monitor(name: string, o: PortOptions & { watch?: string } = {}): ValeDescriptor {
    this.checkOpen();
    const parsed = parsePortName(name);
    if (parsed.type !== 'vale') throw new NetmapError('EINVAL', `a monitor is a VALE port (valeX:Y), got '${name}'`);
    const sw = this.switches.get(parsed.switchName);
    let watched: number | null = null;
    if (o.watch !== undefined) {
      watched = sw?.indexOf(o.watch) ?? -1;
      if (watched < 0) throw new NetmapError('ENOENT', `no port ${parsed.switchName}:${o.watch} to watch`);
    }
    const { watch: _w, ...opts } = o;
    const d = this.register(name, opts);
    if (d.type !== 'vale') throw new NetmapError('EINVAL', `'${name}' is not a VALE port`);
    (this.switches.get(parsed.switchName) as ValeSwitch).setMonitor(d.portIndex, watched);
    return d;
  }

  /** vale-ctl: every switch with its ports and their counters. */
  valeCtl(): Array<{ switch: string; ports: ReturnType<ValeSwitch['list']> }> {
    this.checkOpen();
    return [...this.switches.entries()].map(([name, sw]) => ({ switch: name, ports: sw.list(valeCounters) }));
  }

  /** Registers and attaches in this thread: netmap's nm_open. */
  open(name: string, opts: PortOptions = {}): Port {
    return new Port(this.register(name, opts));
  }

  /** Forgets a pipe's memory once no thread uses it (its SABs are freed with the last view). */
  destroy(name: string): void {
    this.checkOpen();
    const parsed = parsePortName(name);
    if (parsed.type === 'pipe') this.pipes.delete(parsed.pipe);
  }

  /**
   * Closes the namespace (the kernel goes away): every switch closes its channels, so
   * nothing of the namespace is left to hold the thread; pipes and switches are
   * forgotten, and every call but close() then fails with EBADF. Ports already
   * attached are their users': they keep working until they are closed. A VALE
   * descriptor no longer attaches (ENOENT: nobody would tell it of new ports); a pipe end
   * still does (a pipe needs no namespace).
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const sw of this.switches.values()) sw.close();
    this.switches.clear();
    this.pipes.clear();
    this.nics.clear();
  }

  private checkOpen(): void {
    if (this.closed) throw new NetmapError('EBADF', 'this Netmap namespace is closed (Netmap.close())');
  }
}

/** The extra buffers a registration asking for `asked` gets: what the region's pool holds, at most `asked`. */
function granted(m: { mem: SharedArrayBuffer; kmem: SharedArrayBuffer }, asked: number): number {
  if (asked === 0) return 0;
  return Math.min(asked, new BufPool(RegionViews.kernel(m.mem, m.kmem), m.kmem).count());
}

/** Attaches a descriptor received from another thread (or made here). */
export function attachPort(desc: BaseDescriptor, o: AttachPortOptions = {}): Port {
  return new Port(desc, o);
}
