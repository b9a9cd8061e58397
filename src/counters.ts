import { COUNTER_NAMES, type CounterName } from '../shm/layout.js';

/** A kring's counters by name (syncs, packets, notifies, wakeups, errors, drops, sleeps, kicks). */
export type CountersByName = Record<CounterName, number>;

/** Names a kring's counter block (the order is the layout's). */
export function countersOf(values: ArrayLike<number>): CountersByName {
  const out = {} as CountersByName;
  COUNTER_NAMES.forEach((name, i) => {
    out[name] = values[i];
  });
  return out;
}

/** Adds counters of several rings together. */
export function sumCounters(list: readonly CountersByName[]): CountersByName {
  const out = countersOf(new Array(COUNTER_NAMES.length).fill(0));
  for (const c of list) for (const name of COUNTER_NAMES) out[name] += c[name];
  return out;
}
