/**
 * The guest netmap driver of a passed-through port (ptnetmap's guest side): the guest
 * app uses the same rings as on the host, and its txsync/rxsync go through the CSB only
 * — publish cur then head in atok, kick the host only if the ring moved and the kloop
 * asked for kicks, and take the host's hwtail from ktoa as the ring's tail.
 */
import { BELL_SLEEP, RING_CUR, RING_HEAD, RING_TAIL, SLEEP_KICK } from '../../shm/layout.js';
import { RegionViews } from '../../shm/views.js';
import { NetmapError } from '../errors.js';
import { wakeSleeper } from '../kernel/kring.js';
import { NetmapRing } from '../ring.js';
import { Csb } from './csb.js';
import type { GuestDescriptor } from './hypervisor.js';

export class GuestPort {
  readonly name: string;
  readonly txRings: readonly NetmapRing[];
  readonly rxRings: readonly NetmapRing[];
  /** Kicks sent (guest -> host notifications, each a VM exit in a real hypervisor). */
  kicks = 0;
  private readonly region: RegionViews;
  private readonly csb: Csb;
  private readonly bell: Int32Array;
  /** Per CSB entry: the ring's header word base and the head last published. */
  private readonly hdr: number[];
  private readonly published: Int32Array;

  constructor(desc: GuestDescriptor) {
    if (desc === null || typeof desc !== 'object' || desc.type !== 'ptnet') {
      throw new NetmapError('EINVAL', 'not a guest port descriptor');
    }
    try {
      this.region = new RegionViews(desc.mem);
    } catch (e) {
      throw new NetmapError('EINVAL', `bad guest descriptor for ${desc.name}: ${(e as Error).message}`);
    }
    const ids = [...desc.tx, ...desc.rx];
    if (!ids.every((id) => Number.isInteger(id) && id >= 0 && id < this.region.numRings)) {
      throw new NetmapError('EINVAL', `bad guest descriptor for ${desc.name}: ring ids`);
    }
    if (!(desc.bell instanceof SharedArrayBuffer)) throw new NetmapError('EINVAL', 'guest descriptor lacks a bell');
    this.csb = new Csb(desc.csb, ids.length);
    this.bell = new Int32Array(desc.bell);
    this.name = desc.name;
    this.hdr = ids.map((id) => this.region.ringWordBase(id));
    this.published = Int32Array.from(ids.map((_, e) => Atomics.load(this.csb.i32, this.csb.head(e))));
    this.txRings = desc.tx.map((id) => new NetmapRing(this.region, id));
    this.rxRings = desc.rx.map((id) => new NetmapRing(this.region, id));
  }

  get tx(): NetmapRing {
    return this.txRings[0];
  }
  get rx(): NetmapRing {
    return this.rxRings[0];
  }
  get numSlots(): number {
    return this.region.numSlots;
  }
  get bufSize(): number {
    return this.region.bufSize;
  }

  txsync(): boolean {
    for (let e = 0; e < this.txRings.length; e++) this.sync(e);
    return true;
  }
  rxsync(): boolean {
    for (let e = this.txRings.length; e < this.hdr.length; e++) this.sync(e);
    return true;
  }

  /** One ring's sync through the CSB. The guest's own ring header is plain memory. */
  private sync(e: number): void {
    const c = this.csb;
    const i32 = this.region.i32;
    const h = this.hdr[e];
    const head = i32[h + RING_HEAD];
    // We are syncing: no interrupt needed for this ring right now.
    Atomics.store(c.i32, c.applNeedKick(e), 0);
    // cur before head: the host never sees a head past cur.
    Atomics.store(c.i32, c.cur(e), i32[h + RING_CUR]);
    Atomics.store(c.i32, c.head(e), head);
    if (head !== this.published[e]) {
      this.published[e] = head;
      // Kick only when the kloop said it sleeps; otherwise it will see the new head.
      if (Atomics.load(c.i32, c.kernNeedKick(e)) !== 0) {
        this.kicks++;
        wakeSleeper(this.bell, BELL_SLEEP, SLEEP_KICK);
      }
    }
    const t = Atomics.load(c.i32, c.hwtail(e));
    if (t >>> 0 < this.region.numSlots) i32[h + RING_TAIL] = t;
  }
}
