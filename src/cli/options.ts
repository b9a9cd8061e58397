/**
 * Options several commands share, each checked one way with one message: --notify (the
 * notification policy), --trace FILE, --port pipe|vale, and who runs a side (--tx/--rx of
 * pkt-gen, --a/--b of ping). A bad value is a UsageError naming the flag and what is valid.
 */
import { ENDPOINTS, type Endpoint } from '../apps/pktgen-run.js';
import { NOTIFY_POLICIES, type NotifyPolicy } from '../kernel/notify.js';
import { type Opts, UsageError } from './args.js';

/** --notify: the notification policy. */
export function notifyPolicy(o: Opts): NotifyPolicy {
  const v = (o.notify as string | undefined) ?? 'asleep';
  if (!(NOTIFY_POLICIES as readonly string[]).includes(v)) {
    throw new UsageError(`--notify must be ${NOTIFY_POLICIES.join(', ')}; got '${v}'`);
  }
  return v as NotifyPolicy;
}

/** --trace FILE: where the Chrome trace goes (the file must be writable). */
export function traceFile(o: Opts): string | undefined {
  const f = o.trace as string | undefined;
  if (f === undefined) return undefined;
  if (f === '') throw new UsageError('--trace needs a file name');
  return f;
}

/** --port: a pipe or a VALE switch. */
export function portType(o: Opts): 'pipe' | 'vale' {
  const port = (o.port as string | undefined) ?? 'pipe';
  if (port !== 'pipe' && port !== 'vale') throw new UsageError(`--port must be pipe or vale, got '${port}'`);
  return port;
}

/** --tx/--rx (--a/--b for ping): who runs that side. */
export function endpoint(o: Opts, side: 'tx' | 'rx' | 'a' | 'b'): Endpoint {
  const v = (o[side] as string | undefined) ?? 'host';
  if (!(ENDPOINTS as readonly string[]).includes(v)) {
    throw new UsageError(`--${side} must be ${ENDPOINTS.join(', ')}; got '${v}'`);
  }
  return v as Endpoint;
}
