/**
 * The form: reads a setup's configuration and the speed from the controls (clamped to
 * what the page allows) and writes a lesson's values into them. Every control has a
 * <label> in index.html.
 */
import { type Config, LIMITS, type Speed } from './lessons.js';
import { MODE_NAMES, type ModeName, POLICIES, type Policy, SIDES, type Side } from './protocol.js';

function byId<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (e === null) throw new Error(`index.html lacks #${id}`);
  return e as T;
}

function clampInt(v: string, [lo, hi]: readonly [number, number], fallback: number): number {
  const n = Math.round(Number(v));
  if (!Number.isFinite(n)) return fallback;
  return Math.min(hi, Math.max(lo, n));
}

function oneOf<T extends string>(v: string, all: readonly T[], fallback: T): T {
  return (all as readonly string[]).includes(v) ? (v as T) : fallback;
}

export class Controls {
  readonly lesson = byId<HTMLSelectElement>('lesson');
  readonly lessonText = byId<HTMLElement>('lesson-text');
  readonly apply = byId<HTMLButtonElement>('apply');
  readonly step = byId<HTMLButtonElement>('step');
  readonly stepThread = byId<HTMLSelectElement>('step-thread');
  readonly pause = byId<HTMLInputElement>('pause');
  readonly status = byId<HTMLElement>('status');
  private readonly port = byId<HTMLSelectElement>('port');
  private readonly tx = byId<HTMLSelectElement>('tx');
  private readonly rx = byId<HTMLSelectElement>('rx');
  private readonly batch = byId<HTMLInputElement>('batch');
  private readonly ring = byId<HTMLInputElement>('ring');
  private readonly len = byId<HTMLInputElement>('len');
  private readonly spin = byId<HTMLInputElement>('spin');
  private readonly linger = byId<HTMLInputElement>('linger');
  private readonly busy = byId<HTMLInputElement>('busy');
  private readonly notify = byId<HTMLSelectElement>('notify');

  /** The configuration the controls show, clamped (and written back clamped). */
  readConfig(fallback: Config): Config {
    const c: Config = {
      port: this.port.value === 'vale' ? 'vale' : 'pipe',
      tx: oneOf<Side>(this.tx.value, SIDES, fallback.tx),
      rx: oneOf<Side>(this.rx.value, SIDES, fallback.rx),
      batch: clampInt(this.batch.value, LIMITS.batch, fallback.batch),
      ring: clampInt(this.ring.value, LIMITS.ring, fallback.ring),
      len: clampInt(this.len.value, LIMITS.len, fallback.len),
      spinUs: clampInt(this.spin.value, LIMITS.spinUs, fallback.spinUs),
      lingerUs: clampInt(this.linger.value, LIMITS.lingerUs, fallback.lingerUs),
      busyWait: this.busy.checked,
      notify: oneOf<Policy>(this.notify.value, POLICIES, fallback.notify),
    };
    this.writeConfig(c);
    return c;
  }

  writeConfig(c: Config): void {
    this.port.value = c.port;
    this.tx.value = c.tx;
    this.rx.value = c.rx;
    this.batch.value = String(c.batch);
    this.ring.value = String(c.ring);
    this.len.value = String(c.len);
    this.spin.value = String(c.spinUs);
    this.linger.value = String(c.lingerUs);
    this.busy.checked = c.busyWait;
    this.notify.value = c.notify;
  }

  readSpeed(fallback: Speed): Speed {
    const checked = document.querySelector<HTMLInputElement>('input[name=speed]:checked');
    const mode = oneOf<ModeName>(checked?.value ?? '', MODE_NAMES, fallback.mode);
    const pauseMs = clampInt(this.pause.value, LIMITS.pauseMs, fallback.pauseMs);
    this.pause.value = String(pauseMs);
    return { mode, pauseMs };
  }

  writeSpeed(s: Speed): void {
    for (const m of MODE_NAMES) byId<HTMLInputElement>(`speed-${m}`).checked = m === s.mode;
    this.pause.value = String(s.pauseMs);
    this.step.disabled = s.mode !== 'step';
  }

  /** The threads a step can pick: "the next one waiting", then each by name. */
  setThreads(names: readonly string[]): void {
    const keep = this.stepThread.value;
    this.stepThread.replaceChildren();
    const next = document.createElement('option');
    next.value = 'next';
    next.textContent = 'next held';
    this.stepThread.append(next);
    names.forEach((n, i) => {
      const o = document.createElement('option');
      o.value = String(i);
      o.textContent = n;
      this.stepThread.append(o);
    });
    this.stepThread.value = keep !== '' && Number(keep) < names.length ? keep : 'next';
  }

  say(text: string, error = false): void {
    this.status.textContent = text;
    this.status.classList.toggle('error', error);
  }

  /** Calls `fn` when any speed control changes. */
  onSpeed(fn: () => void): void {
    for (const m of MODE_NAMES) byId<HTMLInputElement>(`speed-${m}`).addEventListener('change', fn);
    this.pause.addEventListener('change', fn);
  }
}
