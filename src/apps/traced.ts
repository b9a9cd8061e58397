/**
 * A worker role's tracing wrapper, shared by every role (workers/role.ts, the bridge
 * roles): runs the role with this thread's events recorded (src/trace.ts) when asked, and
 * hands them back with its result, to be written as one Chrome trace by whoever ran the
 * session (src/apps/trace-file.ts).
 */
import { startTracing, stopTracing, type ThreadTrace } from '../trace.js';

/** A role's result, with its thread's events when the run was traced. */
export type Traced<R> = R & { trace?: ThreadTrace };

/**
 * Runs `fn` with this thread's events recorded when `on` (the result then carries them in
 * `trace`); works for a role that returns its result and for one that returns a promise
 * of it. Tracing stops when the role ends, however it ends.
 */
export function traced<R extends object>(on: boolean | undefined, fn: () => Promise<R>): Promise<Traced<R>>;
export function traced<R extends object>(on: boolean | undefined, fn: () => R): Traced<R>;
export function traced<R extends object>(
  on: boolean | undefined,
  fn: () => R | Promise<R>,
): Traced<R> | Promise<Traced<R>> {
  if (!on) return fn();
  const t = startTracing();
  let r: R | Promise<R>;
  try {
    r = fn();
  } catch (e) {
    stopTracing();
    throw e;
  }
  if (r instanceof Promise) {
    return r.then((v) => ({ ...v, trace: t.export() })).finally(stopTracing);
  }
  stopTracing();
  return { ...r, trace: t.export() };
}
