/**
 * The pool of extra buffers of a region (netmap's extra buffers): a free list whose head
 * and count live in kernel memory, linked through the first word of each free buffer.
 * Every user of the region (both ends of a pipe, several users of one end) takes and
 * gives back through it, under the pool's lock in kernel memory (bounded: see lock.ts).
 *
 * Hazards: the links live in free buffers, which a user can scribble on; a link that is
 * not a buffer index ends the list (the rest is lost, nothing bad is handed out).
 */
import { KP_FREE_COUNT, KP_FREE_HEAD, KP_LOCK } from './layout.js';
import { SharedLock } from './lock.js';
import type { RegionViews } from './views.js';

/**
 * A region's pool of extra buffers (netmap's extra buffers): a free list in kernel
 * memory, taken from and given back to under its lock.
 */
export class BufPool {
  private readonly k: Int32Array;
  private readonly lock: SharedLock;
  constructor(
    private readonly r: RegionViews,
    kmem: SharedArrayBuffer,
  ) {
    this.k = new Int32Array(kmem);
    this.lock = new SharedLock(this.k, KP_LOCK);
  }

  /** Takes up to `n` buffers off the free list; fewer when the pool runs out. */
  alloc(n: number): number[] {
    const out: number[] = [];
    const tok = this.lock.lock();
    let head = this.k[KP_FREE_HEAD];
    while (out.length < n && head !== 0) {
      if (!this.r.validBuf(head)) {
        head = 0;
        break;
      }
      out.push(head);
      head = this.r.u32[this.r.bufOffset(head) / 4];
    }
    this.k[KP_FREE_HEAD] = head;
    Atomics.store(this.k, KP_FREE_COUNT, head === 0 ? 0 : Math.max(0, this.k[KP_FREE_COUNT] - out.length));
    this.lock.unlock(tok);
    return out;
  }

  /** Returns buffers to the free list; the caller has checked every index (validBuf). */
  free(bufs: readonly number[]): void {
    const tok = this.lock.lock();
    let head = this.k[KP_FREE_HEAD];
    for (const b of bufs) {
      this.r.u32[this.r.bufOffset(b) / 4] = head;
      head = b;
    }
    this.k[KP_FREE_HEAD] = head;
    Atomics.store(this.k, KP_FREE_COUNT, this.k[KP_FREE_COUNT] + bufs.length);
    this.lock.unlock(tok);
  }

  count(): number {
    return Atomics.load(this.k, KP_FREE_COUNT);
  }
}
