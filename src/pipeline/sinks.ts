/**
 * Where a pipeline's packets end: a counter (packets and bytes, in a worker), a pcap file
 * (in a worker), or the main thread (a function called per batch, or `for await` over
 * `pipeline.output(name)`). The worker sinks are stages like any other (built in), so they
 * drain, count and stop as every stage does.
 */
import { NetmapError } from '../errors.js';
import { createCapture } from '../pcap/index.js';
import type { Batch, Stage } from './stage.js';

/** A sink that counts packets and bytes (counter()). */
export interface CounterSink {
  kind: 'counter';
}
/** A sink that writes the packets to a capture file (pcapSink(path)). */
export interface PcapSink {
  kind: 'pcap';
  path: string;
}
/** A sink on the main thread: `fn` per batch, or the batches of `pipeline.output(name)`. */
export interface MainSink {
  kind: 'main';
  fn?: (b: Batch) => void | Promise<void>;
}

/** Counts packets and bytes (its result: `{ packets, bytes }` per worker). */
export function counter(): CounterSink {
  return { kind: 'counter' };
}

/** Writes every packet to a pcap (or, for a `.pcapng` path, pcapng) file, stamped with the time it was written. */
export function pcapSink(path: string): PcapSink {
  if (typeof path !== 'string' || path === '') throw new NetmapError('EINVAL', 'pcapSink needs a file path');
  return { kind: 'pcap', path };
}

/**
 * A sink on the main thread: `fn(batch)` per batch (it may be async: the next batch waits
 * for it), or, without `fn`, the batches of `pipeline.output(name)` (`for await`). The
 * batch is valid until `fn` returns (the iterator's next step).
 */
export function toMain(fn?: (b: Batch) => void | Promise<void>): MainSink {
  if (fn !== undefined && typeof fn !== 'function')
    throw new NetmapError('EINVAL', 'toMain takes a function or nothing');
  return { kind: 'main', fn };
}

/** The counter stage: everything it sees ends here (the loop counts packets and bytes). */
export function counterStage(): Stage<null> {
  return {
    batch() {},
    finish: () => null,
  };
}

/** The pcap sink stage (one file per worker: `name.pcap`, `name-1.pcap`... for several). */
export function pcapStage(path: string, worker: number): Stage<{ records: number; path: string }> {
  const file = worker === 0 ? path : path.replace(/(\.pcap(ng)?)?$/, (ext) => `-${worker}${ext}`);
  const w = createCapture(file);
  return {
    batch(b: Batch) {
      // One timestamp a batch: a clock read per packet would cost more than the write.
      const now = Date.now();
      const sec = Math.floor(now / 1000);
      const nsec = (now % 1000) * 1e6;
      for (let i = 0; i < b.length; i++) {
        const len = b.len(i);
        w.write(b.data, b.offset(i), len, len, sec, nsec);
      }
    },
    finish() {
      w.close();
      return { records: w.records, path: file };
    },
  };
}
