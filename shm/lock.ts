/**
 * A lock word in shared memory that nobody can hold forever. The word is 0 when free, else
 * the token of its holder (a number unique to one acquisition). A waiter spins, naps now
 * and then so a descheduled holder gets a core, and takes the lock over from a holder it
 * has seen on it, with the same token, for longer than LOCK_STALE_MS: that holder is
 * presumed dead (a worker terminated inside its critical section). The critical sections
 * guarded here are a few loads and stores, so a live holder is never that slow unless the
 * machine stalls it that long; code under such a lock must leave shared state consistent
 * at every store (commit with one store), because a taker-over finds it as it was left.
 *
 * Hazards: a holder presumed dead that was only stalled comes back inside its critical
 * section while the taker-over is in it too; release is a compare-exchange, so it never
 * frees a lock it no longer holds, but its stores in between may race. Nothing here
 * allocates on the uncontended path; the clock is read only while waiting.
 */

/** How long a lock (or a VALE lease) may stay with one holder before others take it over. */
export const LOCK_STALE_MS = 200;

// Tokens: per thread, a random start and a counter, so two threads rarely share a run of
// tokens and the same holder taking the lock again shows a new token.
let nextTok = (Math.floor(Math.random() * 0x3fffffff) | 1) >>> 0;

/** A token for one acquisition (1 .. 2^31 - 1). */
export function lockToken(): number {
  nextTok = (nextTok + 1) & 0x7fffffff;
  if (nextTok === 0) nextTok = 1;
  return nextTok;
}

let napWord: Int32Array | null = null;
let canNap = true;

/**
 * Sleeps about 50 µs: lets a holder that lost its core run again. Atomics.wait throws on a
 * browser's main thread: there the waiter only spins.
 */
function nap(): void {
  if (!canNap) return;
  napWord ??= new Int32Array(new SharedArrayBuffer(4));
  try {
    Atomics.wait(napWord, 0, 0, 0.05);
  } catch {
    canNap = false;
  }
}

/** Spins between two looks at the clock (and naps) while the lock is held by another. */
const SPINS_PER_LOOK = 1024;

/**
 * Watches what a waiter sees of one holder: true once the same token has been seen on the
 * word for longer than `staleMs`. One per lock and thread; the clock is read only here.
 */
export class StaleWatch {
  private tok = 0;
  private since = 0;
  constructor(readonly staleMs = LOCK_STALE_MS) {}
  /** True when `tok` has been the holder for longer than staleMs (as seen from here). */
  stale(tok: number): boolean {
    const now = performance.now();
    if (tok !== this.tok) {
      this.tok = tok;
      this.since = now;
      return false;
    }
    return now - this.since > this.staleMs;
  }
}

/**
 * A lock word in shared memory that a waiter takes over from a holder stuck on it past LOCK_STALE_MS (presumed dead).
 */
export class SharedLock {
  /** Failed tries while waiting, and locks taken over from a presumed-dead holder. */
  spins = 0;
  steals = 0;
  private readonly watch: StaleWatch;
  constructor(
    readonly i32: Int32Array,
    readonly word: number,
    staleMs = LOCK_STALE_MS,
  ) {
    this.watch = new StaleWatch(staleMs);
  }

  /** Takes the lock (waiting as long as a live holder holds it); returns the token to unlock with. */
  lock(): number {
    const tok = lockToken();
    const v = Atomics.compareExchange(this.i32, this.word, 0, tok);
    return v === 0 ? tok : this.contended(tok, v);
  }

  /** One try: the token, or 0 if a live holder has it (a stale one is taken over). */
  tryLock(): number {
    const tok = lockToken();
    const v = Atomics.compareExchange(this.i32, this.word, 0, tok);
    if (v === 0) return tok;
    if (this.watch.stale(v) && Atomics.compareExchange(this.i32, this.word, v, tok) === v) {
      this.steals++;
      return tok;
    }
    return 0;
  }

  /** Gives the lock back, unless it was taken over meanwhile (then it is not ours to free). */
  unlock(tok: number): void {
    Atomics.compareExchange(this.i32, this.word, tok, 0);
  }

  private contended(tok: number, held: number): number {
    let v = held;
    for (let tries = 1; ; tries++) {
      if (tries % SPINS_PER_LOOK === 0) {
        if (this.watch.stale(v) && Atomics.compareExchange(this.i32, this.word, v, tok) === v) {
          this.steals++;
          this.spins += tries;
          return tok;
        }
        nap();
      }
      v = Atomics.compareExchange(this.i32, this.word, 0, tok);
      if (v === 0) {
        this.spins += tries;
        return tok;
      }
    }
  }
}
