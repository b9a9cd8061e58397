/**
 * What must be moved, not copied, when a value holding descriptors is posted to another
 * thread: the MessagePorts inside (a VALE descriptor's update channel). postMessage
 * refuses a MessagePort that is not in its transfer list.
 *
 *   worker.postMessage(desc, transferList(desc));
 *   new Worker(file, { workerData: { desc }, transferList: transferList(desc) });
 *
 * A moved port is gone from here: a descriptor attaches in one thread only (register
 * again for another).
 */
import { type Channel, isChannel } from './kernel/platform.js';

/** Every MessagePort in `value` (plain objects and arrays, a few levels deep). */
export function transferList(value: unknown): Channel[] {
  const out: Channel[] = [];
  const seen = new Set<unknown>();
  const walk = (v: unknown, depth: number): void => {
    if (typeof v !== 'object' || v === null || seen.has(v) || depth > 8) return;
    seen.add(v);
    if (isChannel(v)) {
      out.push(v);
      return;
    }
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof SharedArrayBuffer) return;
    for (const x of Array.isArray(v) ? v : Object.values(v)) walk(x, depth + 1);
  };
  walk(value, 0);
  return out;
}
