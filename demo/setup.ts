/**
 * One setup: a Netmap namespace (the "kernel"), its ports, what the hypervisor makes for
 * guests (passThrough, emulateNic), the Web Workers that run the apps, kloops and device
 * threads, and the views the page samples. Built on the page's main thread, which never
 * blocks: it registers ports, posts descriptors (a VALE descriptor with its channel in the
 * transfer list), and afterwards only reads shared memory and stores to the control block.
 *
 * A restart terminates the workers and closes the namespace; nothing is reused (a VALE
 * port's channel was moved to its worker, and ports whose users are gone are not re-attached).
 */
import {
  ATOK_APPL_NEED_KICK,
  BELL_SLEEP,
  csbEntryWord,
  csbIrqWord,
  type E1000GuestDescriptor,
  e1kDescBytes,
  emulateNic,
  type GuestDescriptor,
  KM_HEADER_BYTES,
  KR_COUNTERS_BYTE,
  KRING_BYTES,
  Netmap,
  type PortDescriptor,
  passThrough,
  RegionViews,
  SLEEP_KICK,
  SLEEP_RX,
  SLEEP_TX,
  transferList,
  type ValeDescriptor,
} from '../src/browser.js';
import type { Config } from './lessons.js';
import {
  CT_GO,
  CT_MODE,
  CT_PAUSE_MS,
  CT_PAUSE_WAKE,
  CTL_BYTES,
  gateWord,
  type Job,
  MAX_THREADS,
  MODE_STEP,
  type Side,
  STATS_BYTES,
  type WorkerMessage,
} from './protocol.js';

/** Word index of kring `id`'s block in kernel memory (shm/region.ts's kringWordBase). */
export function kringWord(id: number): number {
  return (KM_HEADER_BYTES + id * KRING_BYTES) / 4;
}
/** Float64 index of kring `id`'s counters (KC_*) in kernel memory. */
export function kringCounters(id: number): number {
  return (kringWord(id) * 4 + KR_COUNTERS_BYTE) / 8;
}

/** A netmap ring the page draws. */
export interface RingSpec {
  title: string;
  /** Who uses it, in a few words. */
  caption: string;
  /** Whose memory its buffers are in (a pipe's two ends share one region; VALE ports and guests have their own). */
  region: string;
  tx: boolean;
  views: RegionViews;
  /** The ring's id in its region, and its kernel memory (hwcur, hwtail, the peer's tail). */
  id: number;
  km: Int32Array;
  /** Whether the kring's peer-tail word is the news a sync will pick up (RX rings, and a pipe's TX ring). */
  peerTail: boolean;
}

/** An emulated e1000 descriptor ring. */
export interface DescSpec {
  title: string;
  tx: boolean;
  n: number;
  descs: Int32Array;
  regs: Int32Array;
  /** Word of the first descriptor of this ring. */
  base: number;
  /** The guest kernel's memory: its RX kring's hwtail is where its driver imports next. */
  gk: Int32Array;
}

export interface CsbSpec {
  title: string;
  i32: Int32Array;
  /** The CSB's entries: the guest interface's TX ring, then its RX ring. */
  entries: Array<{ label: 'TX' | 'RX'; e: number }>;
  irq: number;
}

/** How the page tells asleep from spinning for a thread in poll: its sleep word. */
export interface SleepProbe {
  i32: Int32Array;
  words: number[];
  mask: number;
}

export interface ThreadSpec {
  name: string;
  kind: 'app' | 'kloop' | 'device';
  role: string;
  job: Job;
  probe: SleepProbe;
}

export interface ValeSpec {
  sw: Int32Array;
  ports: Array<{ name: string; index: number; kmem: SharedArrayBuffer; listener: boolean }>;
}

/** The counters the page sums: notifies per kring, an emulated driver's doorbells. */
export interface CounterSource {
  kf: Float64Array;
  cb: number;
}

/** The e1000 register file of an emulated guest. */
export interface NicSpec {
  title: string;
  regs: Int32Array;
  /** The device thread's index (its counters: doorbells seen, host txsyncs, interrupts). */
  thread: number;
}

export class Setup {
  readonly rings: RingSpec[] = [];
  readonly descRings: DescSpec[] = [];
  /** The order the page draws rings and descriptor rings in: along the packets' path. */
  readonly order: Array<{ kind: 'ring' | 'desc'; i: number }> = [];
  readonly csbs: CsbSpec[] = [];
  readonly nics: NicSpec[] = [];
  readonly threads: ThreadSpec[] = [];
  /** Kernel counters summed for the totals (per kring). */
  readonly krings: CounterSource[] = [];
  /** Emulated guests' krings: their KC_KICKS are the doorbells the drivers rang. */
  readonly guestKrings: CounterSource[] = [];
  vale: ValeSpec | null = null;
  /** VALE: vale0:c, a port nobody attaches (the flooded frames' witness). */
  private valeListener: ValeDescriptor | null = null;
  readonly ctl: Int32Array;
  readonly statsSab: SharedArrayBuffer;
  /** The stats block as the page reads it (state words, counters). */
  readonly statsI32: Int32Array;
  readonly statsF64: Float64Array;
  private readonly ctlSab: SharedArrayBuffer;
  private readonly nm = new Netmap();
  private workers: Worker[] = [];
  private stopped = false;

  constructor(readonly cfg: Config) {
    this.ctlSab = new SharedArrayBuffer(CTL_BYTES);
    this.ctl = new Int32Array(this.ctlSab);
    this.statsSab = new SharedArrayBuffer(STATS_BYTES);
    this.statsI32 = new Int32Array(this.statsSab);
    this.statsF64 = new Float64Array(this.statsSab);
    const opts = { ringSize: cfg.ring };
    let txDesc: PortDescriptor;
    let rxDesc: PortDescriptor;
    let txName: string;
    let rxName: string;
    if (cfg.port === 'pipe') {
      txName = 'pipe0{';
      rxName = 'pipe0}';
      txDesc = this.nm.register(txName, opts);
      rxDesc = this.nm.register(rxName, opts);
      this.countKrings(txDesc, [0, 1, 2, 3]);
    } else {
      txName = 'vale0:a';
      rxName = 'vale0:b';
      // Make every port first, then register again for the descriptors the workers attach:
      // each then holds a snapshot of all three ports, and no worker depends on its event
      // loop delivering the switch's news. The first descriptors are never attached.
      const first = ['vale0:a', 'vale0:b', 'vale0:c'].map((n) => this.nm.register(n, opts) as ValeDescriptor);
      for (const d of first) d.switch.updates.close();
      txDesc = this.nm.register(txName, opts);
      rxDesc = this.nm.register(rxName, opts);
      this.valeListener = first[2];
      this.vale = {
        sw: new Int32Array(first[2].switch.swmem),
        ports: first.map((d, i) => ({ name: d.name, index: d.portIndex, kmem: d.kmem, listener: i === 2 })),
      };
      for (const d of first) this.countKrings(d, [0, 1]);
    }
    this.addSide('tx', cfg.tx, txDesc, txName);
    this.addSide('rx', cfg.rx, rxDesc, rxName);
    if (this.vale !== null) {
      const c = this.valeListener as ValeDescriptor;
      this.pushRing({
        title: 'vale0:c RX',
        caption: 'nobody reads it: floods pile up here',
        region: 'vale0:c memory',
        tx: false,
        views: RegionViews.kernel(c.mem, c.kmem),
        id: 1,
        km: new Int32Array(c.kmem),
        peerTail: true,
      });
    }
    if (this.threads.length > MAX_THREADS) throw new Error(`at most ${MAX_THREADS} threads`);
  }

  private pushRing(r: RingSpec): void {
    this.order.push({ kind: 'ring', i: this.rings.length });
    this.rings.push(r);
  }
  private pushDesc(d: DescSpec): void {
    this.order.push({ kind: 'desc', i: this.descRings.length });
    this.descRings.push(d);
  }

  private countKrings(desc: { kmem: SharedArrayBuffer }, ids: number[], into = this.krings): void {
    const kf = new Float64Array(desc.kmem);
    for (const id of ids) into.push({ kf, cb: kringCounters(id) });
  }

  /** One side of the path: the app, and for a guest its kloop or its NIC's device thread. */
  private addSide(role: 'tx' | 'rx', side: Side, desc: PortDescriptor, portName: string): void {
    const tx = role === 'tx';
    const who = tx ? 'sender' : 'receiver';
    const views = RegionViews.kernel(desc.mem, desc.kmem);
    const ids = views.ifRings(desc.ifIndex);
    const hostRing = tx ? ids.tx[0] : ids.rx[0];
    const region = this.cfg.port === 'pipe' ? 'pipe0 memory' : `${portName} memory`;
    const hostBell = new Int32Array(desc.bells[desc.bells.length > 1 ? desc.ifIndex : 0]);
    const hostSpec: RingSpec = {
      title: `${portName} ${tx ? 'TX' : 'RX'} ring ${hostRing}`,
      caption: '',
      region,
      tx,
      views,
      id: hostRing,
      km: new Int32Array(desc.kmem),
      peerTail: !tx || this.cfg.port === 'pipe',
    };
    const app = { batch: this.cfg.batch, len: this.cfg.len, spinUs: this.cfg.spinUs, notify: this.cfg.notify };
    const common = { ctl: this.ctlSab, stats: this.statsSab };
    const host = { lingerUs: this.cfg.lingerUs, busyWait: this.cfg.busyWait, notify: this.cfg.notify };
    const appCfg = {
      ...app,
      oversubscribed: false, // set in start(), when the thread count is known
      seq: this.cfg.ring <= 64,
      vale: this.cfg.port === 'vale',
    };
    if (side === 'host') {
      hostSpec.caption = `the ${who}'s ring (a host app)`;
      this.pushRing(hostSpec);
      this.addThread(
        `${who} (host)`,
        'app',
        role,
        { i32: hostBell, words: [BELL_SLEEP], mask: SLEEP_TX | SLEEP_RX },
        {
          ...common,
          index: this.threads.length,
          kind: 'app',
          role,
          side: 'host',
          desc,
          app: appCfg,
        },
      );
      return;
    }
    if (side === 'guest') {
      const { guest, kloop } = passThrough(desc);
      hostSpec.caption = `passed through: the ${who} guest moves head/cur, the kloop syncs`;
      this.pushRing(hostSpec);
      const csb = new Int32Array(guest.csb);
      const entries = [
        { label: 'TX' as const, e: 0 },
        { label: 'RX' as const, e: 1 },
      ];
      this.csbs.push({ title: `CSB of the ${who} guest (${portName})`, i32: csb, entries, irq: csbIrqWord(2) });
      // appl_need_kick is set while the guest sleeps waiting for an interrupt.
      const probe = { i32: csb, words: entries.map(({ e }) => csbEntryWord(e) + ATOK_APPL_NEED_KICK), mask: 1 };
      this.addThread(`${who} (guest)`, 'app', role, probe, {
        ...common,
        index: this.threads.length,
        kind: 'app',
        role,
        side: 'guest',
        desc: guest as GuestDescriptor,
        app: appCfg,
      });
      this.addThread(
        `kloop (${who}'s)`,
        'kloop',
        'kloop',
        {
          i32: hostBell,
          words: [BELL_SLEEP],
          mask: SLEEP_KICK,
        },
        { ...common, index: this.threads.length, kind: 'kloop', desc: kloop, host },
      );
      return;
    }
    const { guest, device } = emulateNic(desc, { moderation: 1 });
    const g = guest as E1000GuestDescriptor;
    const gviews = RegionViews.kernel(g.mem, g.kmem);
    const gid = tx ? 0 : 1;
    const n = this.cfg.ring;
    const guestRing: RingSpec = {
      title: `guest ${tx ? 'TX' : 'RX'} ring`,
      caption: `the ${who} guest's own ring (e1000 driver)`,
      region: 'guest memory',
      tx,
      views: gviews,
      id: gid,
      km: new Int32Array(g.kmem),
      peerTail: !tx,
    };
    const regs = new Int32Array(g.regs);
    const descSpec: DescSpec = {
      title: `e1000 ${tx ? 'TX' : 'RX'} descriptors`,
      tx,
      n,
      descs: new Int32Array(g.descs, 0, e1kDescBytes(n) / 4),
      regs,
      base: tx ? 0 : n * 4,
      gk: new Int32Array(g.kmem),
    };
    hostSpec.caption = `the ${who}'s NIC thread uses it (a txsync a packet)`;
    if (tx) {
      this.pushRing(guestRing);
      this.pushDesc(descSpec);
      this.pushRing(hostSpec);
    } else {
      this.pushRing(hostSpec);
      this.pushDesc(descSpec);
      this.pushRing(guestRing);
    }
    // The guest app's thread comes first, then the device's.
    this.nics.push({ title: `e1000 of the ${who} guest`, regs, thread: this.threads.length + 1 });
    this.countKrings(g, [0, 1], this.guestKrings);
    this.addThread(
      `${who} (e1000 guest)`,
      'app',
      role,
      {
        i32: new Int32Array(g.bells[0]),
        words: [BELL_SLEEP],
        mask: SLEEP_TX | SLEEP_RX,
      },
      { ...common, index: this.threads.length, kind: 'app', role, side: 'emulated', desc: g, app: appCfg },
    );
    this.addThread(
      `NIC thread (${who}'s)`,
      'device',
      'device',
      {
        i32: hostBell,
        words: [BELL_SLEEP],
        mask: SLEEP_KICK,
      },
      { ...common, index: this.threads.length, kind: 'device', desc: device, host },
    );
  }

  private addThread(name: string, kind: ThreadSpec['kind'], role: string, probe: SleepProbe, job: Job): void {
    this.threads.push({ name, kind, role, job, probe });
  }

  /**
   * Starts a worker per thread, posts each its job (with the job's MessagePorts in the
   * transfer list) and sets the start word once every one is attached. Resolves then;
   * rejects with the first worker's error.
   */
  start(workerUrl: string, speed: { mode: number; pauseMs: number }, onError: (m: string) => void): Promise<void> {
    Atomics.store(this.ctl, CT_MODE, speed.mode);
    Atomics.store(this.ctl, CT_PAUSE_MS, speed.pauseMs);
    const cores = navigator.hardwareConcurrency || 1;
    const oversubscribed = this.threads.length + 1 > cores;
    let waiting = this.threads.length;
    return new Promise<void>((ok, fail) => {
      for (const t of this.threads) {
        if (t.job.kind === 'app') t.job.app.oversubscribed = oversubscribed;
        const w = new Worker(workerUrl, { type: 'module', name: t.name });
        w.onmessage = (e: MessageEvent<WorkerMessage>) => {
          const m = e.data;
          if (m.type === 'error') {
            onError(`${t.name}: ${m.message}`);
            fail(new Error(m.message));
          } else if (--waiting === 0 && !this.stopped) {
            Atomics.store(this.ctl, CT_GO, 1);
            Atomics.notify(this.ctl, CT_GO);
            ok();
          }
        };
        w.onerror = (e) => {
          const m = `${t.name}: ${e.message || 'the worker script did not load'}`;
          onError(m);
          fail(new Error(m));
        };
        this.workers.push(w);
        w.postMessage(t.job, transferList(t.job) as unknown as Transferable[]);
      }
    });
  }

  /** Changes the speed mode now (the threads read it at every sync). */
  setSpeed(mode: number, pauseMs: number): void {
    const was = Atomics.load(this.ctl, CT_MODE);
    if (mode === MODE_STEP && was !== MODE_STEP) {
      for (let t = 0; t < this.threads.length; t++) Atomics.store(this.ctl, gateWord(t), 0);
    }
    Atomics.store(this.ctl, CT_PAUSE_MS, pauseMs);
    Atomics.store(this.ctl, CT_MODE, mode);
    // Cut pauses short and let threads waiting at their gates see the new mode.
    Atomics.notify(this.ctl, CT_PAUSE_WAKE);
    for (let t = 0; t < this.threads.length; t++) Atomics.notify(this.ctl, gateWord(t));
  }

  /** Single step: lets thread `t` run one sync. */
  step(t: number): void {
    Atomics.add(this.ctl, gateWord(t), 1);
    Atomics.notify(this.ctl, gateWord(t));
  }

  /** Syncs thread `t` may still run (released, not yet taken). */
  pendingSteps(t: number): number {
    return Atomics.load(this.ctl, gateWord(t));
  }

  stop(): void {
    this.stopped = true;
    for (const w of this.workers) w.terminate();
    this.workers = [];
    this.nm.close();
  }
}
