/**
 * Per-thread event tracing: sleeps (with their length), wake-ups sent, kicks, interrupts
 * and syncs (with the slots they moved), written as Chrome Trace Event JSON that Perfetto
 * and chrome://tracing open: the feedback between work and sleeping, on a timeline.
 *
 * Off, it costs one load of a module variable and a branch at each traced point. On, each
 * event is three numbers in a Float64Array ring made once (the newest `capacity` events
 * are kept; older ones are overwritten): no allocation while tracing, one clock read per
 * event. Timestamps are the process's absolute clock (timeOrigin + now, µs), so events of
 * different threads line up.
 */

/** Event kinds: what each traced point records (the third number is its argument). */
export const TR_SLEEP = 1; // argument: the sleep's length (µs); the timestamp is its start
export const TR_NOTIFY = 2; // a wake-up sent to a sleeping peer
export const TR_KICK = 3; // guest -> host
export const TR_IRQ = 4; // host -> guest (kloop, emulated NIC)
export const TR_TXSYNC = 5; // argument: slots moved
export const TR_RXSYNC = 6; // argument: slots moved
export const TR_DOORBELL = 7; // an emulated NIC's tail register written

const NAMES: Record<number, string> = {
  [TR_SLEEP]: 'sleep',
  [TR_NOTIFY]: 'notify',
  [TR_KICK]: 'kick',
  [TR_IRQ]: 'irq',
  [TR_TXSYNC]: 'txsync',
  [TR_RXSYNC]: 'rxsync',
  [TR_DOORBELL]: 'doorbell',
};

/** Events kept per thread by default: the last ~1 s of a busy thread. */
export const TRACE_CAPACITY = 1 << 17;

export class Tracer {
  private readonly ev: Float64Array;
  private next = 0;
  private count = 0;
  /** Events overwritten by newer ones (the ring's bound). */
  overwritten = 0;
  private readonly origin = performance.timeOrigin;
  constructor(readonly capacity = TRACE_CAPACITY) {
    this.ev = new Float64Array(capacity * 3);
  }

  /** Now, in µs of the process's clock. */
  now(): number {
    return (this.origin + performance.now()) * 1000;
  }

  add(kind: number, ts: number, arg: number): void {
    const i = this.next * 3;
    this.ev[i] = kind;
    this.ev[i + 1] = ts;
    this.ev[i + 2] = arg;
    this.next = this.next + 1 === this.capacity ? 0 : this.next + 1;
    if (this.count < this.capacity) this.count++;
    else this.overwritten++;
  }

  /** The kept events, oldest first: three numbers each (kind, µs, argument); postable. */
  export(): ThreadTrace {
    const out = new Float64Array(this.count * 3);
    const first = this.count < this.capacity ? 0 : this.next;
    for (let j = 0; j < this.count; j++) {
      const i = ((first + j) % this.capacity) * 3;
      out[j * 3] = this.ev[i];
      out[j * 3 + 1] = this.ev[i + 1];
      out[j * 3 + 2] = this.ev[i + 2];
    }
    return { events: out, overwritten: this.overwritten };
  }
}

/** A thread's kept events (Tracer.export), as posted from its worker. */
export interface ThreadTrace {
  events: Float64Array;
  overwritten: number;
}

/** Chrome Trace Event JSON (the object form) for threads named by their roles. */
export function chromeTrace(threads: Array<{ role: string; trace: ThreadTrace }>): {
  traceEvents: ChromeTraceEvent[];
  displayTimeUnit: 'ns';
  otherData: Record<string, unknown>;
} {
  const traceEvents: ChromeTraceEvent[] = [];
  threads.forEach(({ role, trace }, tid) => {
    traceEvents.push({ name: 'thread_name', ph: 'M', pid: 1, tid, args: { name: role } });
    const ev = trace.events;
    for (let i = 0; i + 2 < ev.length; i += 3) {
      const kind = ev[i];
      const ts = ev[i + 1];
      const arg = ev[i + 2];
      const name = NAMES[kind] ?? `event ${kind}`;
      if (kind === TR_SLEEP) traceEvents.push({ name, ph: 'X', ts, dur: arg, pid: 1, tid });
      else if (kind === TR_TXSYNC || kind === TR_RXSYNC) {
        traceEvents.push({ name, ph: 'i', s: 't', ts, pid: 1, tid, args: { slots: arg } });
      } else traceEvents.push({ name, ph: 'i', s: 't', ts, pid: 1, tid });
    }
  });
  const overwritten = Object.fromEntries(threads.map(({ role, trace }) => [role, trace.overwritten]));
  return { traceEvents, displayTimeUnit: 'ns', otherData: { eventsOverwrittenPerThread: overwritten } };
}

export interface ChromeTraceEvent {
  name: string;
  ph: 'X' | 'i' | 'M';
  ts?: number;
  dur?: number;
  s?: 't';
  pid: number;
  tid: number;
  args?: Record<string, unknown>;
}

/** This thread's tracer, or null (tracing off: every traced point tests this and moves on). */
export let tracer: Tracer | null = null;

export function startTracing(capacity = TRACE_CAPACITY): Tracer {
  tracer = new Tracer(capacity);
  return tracer;
}

export function stopTracing(): void {
  tracer = null;
}

/** Records an instant event `kind` (with `arg`) if tracing is on. */
export function trace(kind: number, arg = 0): void {
  const t = tracer;
  if (t !== null) t.add(kind, t.now(), arg);
}

/** Records a sleep that began at `startMs` (performance.now()) and ends now, if tracing is on. */
export function traceSleep(startMs: number): void {
  const t = tracer;
  if (t !== null) {
    const dur = (performance.now() - startMs) * 1000;
    t.add(TR_SLEEP, t.now() - dur, dur);
  }
}
