/**
 * Notification policy: when a sleeping thread is worth waking. A wake-up costs 20-40 µs
 * here (a futex wait and wake, a VM exit in the talk), so how often threads sleep and
 * are woken, not the work, sets the rate of a pipeline that sleeps. One mechanism for
 * every sleeper and waker: host poll (pipes, VALE), the CSB (guest appl_need_kick, kloop
 * kern_need_kick) and the emulated NIC's interrupts.
 *
 * The sleeper, before it sleeps on a ring, says how much news is worth a wake-up: "wake
 * me once the tail has moved `want` slots past `start`" (virtio's event index, VIRTIO_RING_
 * F_EVENT_IDX, as a distance). A waker that finds the sleep bit set notifies only once its
 * update reaches that point. `want` <= 1 is today's rule: any news wakes.
 *
 * - `asleep`: want 1 everywhere.
 * - `event-idx`: virtio's choices: a consumer (RX, a kloop waiting for kicks) wants the
 *   next slot; a producer waiting for room wants 3/4 of what it has in flight back
 *   (Linux's virtqueue_enable_cb_delayed).
 * - `adaptive`: a consumer asks for more news after a wake-up that brought much more than
 *   it asked (heavy traffic: a batch worth the wake-up), for less after one that brought
 *   less (light traffic: a ping is woken at once). A producer asks for a share of what it
 *   has in flight (1/16 to 3/4): a larger share after a wake-up that still found slots in
 *   flight (fewer wake-ups for the same work), a smaller one after a wake-up that found
 *   everything drained (its consumer ran dry while it slept). The busy-poll window before a sleep (and
 *   a kloop's linger) grows when a wake-up came soon after the window ended and shrinks
 *   when it came long after, within the budget given (guest halt-polling's rule), so with
 *   no budget (threads outnumber cores) it never spins a core away.
 *
 * Hazards: a sleeper that asks for more than will come waits until its sleep bound
 * (MAX_DELAY_MS) ends it; a producer about to sleep flushes (wakes its consumer whatever it
 * asked), since it cannot add news. Values read from memory a guest writes are only ever
 * compared, never trusted as indices.
 */
import { BELL_SLEEP, KR_EV_START, KR_EV_WANT } from '../../shm/layout.js';
import { NetmapError } from '../errors.js';

export const NOTIFY_POLICIES = ['asleep', 'event-idx', 'adaptive'] as const;
export type NotifyPolicy = (typeof NOTIFY_POLICIES)[number];

export function checkNotifyPolicy(p: unknown): NotifyPolicy {
  if (!NOTIFY_POLICIES.includes(p as NotifyPolicy)) {
    throw new NetmapError('EINVAL', `notify must be ${NOTIFY_POLICIES.join(', ')}; got '${String(p)}'`);
  }
  return p as NotifyPolicy;
}

/** The longest a sleeper that asked for more than one slot sleeps without its news (ms). */
export const MAX_DELAY_MS = 0.2;

/**
 * True when the tail, now at `now`, has moved at least `want` slots past `start` in a ring
 * of `n` (want <= 1: any news is enough). A start outside the ring (written by a guest)
 * counts as reached: a waker errs toward waking.
 */
export function reached(start: number, want: number, now: number, n: number): boolean {
  if (!(want > 1) || start >>> 0 >= n) return true;
  let d = now - start;
  if (d < 0) d += n;
  return d >= want;
}

/**
 * A waker's side for a host ring: if the sleep word says its owner waits for `bit` and the
 * ring's news (its tail now at `now`) reaches what the sleeper asked (kmem `k`, kring block
 * `kb`), clears the word and notifies. `force` (a flush) wakes for any news. Returns
 * true when a notify was sent. One load when nobody sleeps.
 */
export function wakeIfWorth(
  bell: Int32Array,
  bit: number,
  k: Int32Array,
  kb: number,
  now: number,
  n: number,
  force = false,
): boolean {
  for (;;) {
    const v = Atomics.load(bell, BELL_SLEEP);
    if ((v & bit) === 0) return false;
    const start = Atomics.load(k, kb + KR_EV_START);
    // A flush wakes for any news; otherwise for what the sleeper asked.
    if (force ? start === now : !reached(start, Atomics.load(k, kb + KR_EV_WANT), now, n)) return false;
    if (Atomics.compareExchange(bell, BELL_SLEEP, v, 0) === v) {
      Atomics.notify(bell, BELL_SLEEP);
      return true;
    }
  }
}

/**
 * A sleeper's side for one ring: how much news to ask for before sleeping, and (adaptive)
 * what it learns from each wake-up. Plain numbers: nothing allocated.
 */
export class WakeWant {
  private w = 1;
  /** Adaptive producer: the share of its in-flight slots it asks back, in 16ths. */
  private share = 4;
  /** What it had in flight when it last asked (for learning). */
  private inFlight = 0;
  private readonly cap: number;
  constructor(
    readonly policy: NotifyPolicy,
    readonly n: number,
    /** A producer waits for room (its TX ring); a consumer for news (RX, kicks). */
    readonly producer: boolean,
  ) {
    this.cap = Math.max(1, n >> 1);
  }

  /** Slots of news to sleep for; `inFlight`: what the peer holds of a producer's slots. */
  ask(inFlight: number): number {
    if (this.policy === 'asleep') return 1;
    if (this.policy === 'event-idx') return this.producer ? Math.max(1, Math.ceil((inFlight * 3) / 4)) : 1;
    if (!this.producer) return this.w;
    this.inFlight = inFlight;
    return Math.max(1, (inFlight * this.share) >> 4);
  }

  /** The sleep's bound (ms): a wait for more than one slot must end even if the news stops short. */
  bound(want: number, timeoutMs: number): number {
    if (want <= 1) return timeoutMs;
    return timeoutMs < 0 || timeoutMs > MAX_DELAY_MS ? MAX_DELAY_MS : timeoutMs;
  }

  /** Adaptive: learns from a wake-up that asked for `want` and found `got` slots of news. */
  learn(want: number, got: number): void {
    if (this.policy !== 'adaptive') return;
    if (this.producer) {
      // Everything came back: the consumer ran dry while we slept, ask for less next time.
      if (got >= this.inFlight) this.share = Math.max(1, this.share >> 1);
      else if (got >= want) this.share = Math.min(12, this.share + 1);
      return;
    }
    // Much more than asked: the traffic is heavy, a bigger batch is worth waiting for.
    if (got >= 2 * want) this.w = Math.min(this.w * 2, this.cap);
    // Less than asked: the sleep ran to its bound; the traffic is light.
    else if (got < want) this.w = Math.max(1, this.w >> 1);
  }

  /** What the sleeper asks for now (adaptive's learnt value; for reports and tests). */
  get learnt(): number {
    return this.w;
  }
}

/**
 * Adaptive busy-poll window (µs) within a budget, guest halt-polling's rule: a wake-up that
 * came soon after the window ended (within the cap) would have been caught by polling a
 * little longer: grow; one that came long after (beyond the cap): shrink. The cap is the
 * budget, at most SPIN_MAX_US (KVM's halt_poll_ns default: past it a sleep costs less than
 * the spin), and 0 when threads outnumber cores (`oversubscribed`): a spinner would keep
 * from its core the very thread it waits for. Other policies poll the whole budget.
 */
export class SpinWindow {
  us: number;
  private readonly cap: number;
  constructor(
    readonly policy: NotifyPolicy,
    readonly budgetUs: number,
    readonly oversubscribed = false,
  ) {
    this.cap = policy !== 'adaptive' ? budgetUs : oversubscribed ? 0 : Math.min(budgetUs, SPIN_MAX_US);
    this.us = policy === 'adaptive' ? Math.min(this.cap, SPIN_START_US) : budgetUs;
  }
  /** After a sleep that lasted `sleptUs`. */
  learn(sleptUs: number): void {
    if (this.policy !== 'adaptive' || this.cap <= 0) return;
    if (sleptUs <= this.cap) this.us = Math.min(this.cap, Math.max(SPIN_START_US, this.us * 2));
    else this.us = this.us >> 1;
  }
}

/**
 * A poll's spin window for whatever budget the caller passes (poll takes one per call):
 * made again only when the budget changes, so what adaptive learnt is kept.
 */
export class SpinWindows {
  /** The window of the last budget asked for (the one to learn from after a sleep). */
  last: SpinWindow | null = null;
  constructor(
    readonly policy: NotifyPolicy,
    readonly oversubscribed: boolean,
  ) {}
  for(budgetUs: number): SpinWindow {
    let w = this.last;
    if (w === null || w.budgetUs !== budgetUs) {
      w = new SpinWindow(this.policy, budgetUs, this.oversubscribed);
      this.last = w;
    }
    return w;
  }
}

/** Where an adaptive poll window starts and the least it grows to (µs). */
const SPIN_START_US = 8;
/** The longest an adaptive window polls (µs). */
export const SPIN_MAX_US = 200;
