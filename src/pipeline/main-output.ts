/**
 * The main thread's side of `toMain()` sinks without a function: `pipeline.output(name)`
 * hands out an async iterable before or during a run; its batches come from the run's
 * sink generator (main-nodes.ts) once the run has made it. Asking for the first batch
 * before run() is called waits for the run; `return()` (a `for await` left early) goes to
 * the generator, which hands the batch back and stops taking.
 */
import type { Batch } from './stage.js';

type Batches = AsyncGenerator<Batch, void, undefined>;

/** The sinks' iterables of one pipeline, handed out before the run exists and bound when it starts. */
export class MainOutputs {
  private readonly waiting = new Map<string, (g: Batches) => void>();
  private live: ReadonlyMap<string, Batches> | null = null;

  /** An iterable over sink `name`'s batches (the caller checked that it is such a sink). */
  iterate(name: string): AsyncIterable<Batch> {
    const ready = new Promise<Batches>((resolve) => {
      const live = this.live?.get(name);
      if (live !== undefined) resolve(live);
      else this.waiting.set(name, resolve);
    });
    return {
      [Symbol.asyncIterator]: () => {
        let g: Batches | null = null;
        return {
          next: async () => {
            g ??= await ready;
            return g.next();
          },
          return: async () => {
            g ??= await ready;
            return g.return();
          },
        };
      },
    };
  }

  /** The run started with these sinks: every iterable handed out so far gets its generator. */
  bind(sinks: ReadonlyMap<string, Batches>): void {
    this.live = sinks;
    for (const [name, resolve] of this.waiting) {
      const g = sinks.get(name);
      if (g !== undefined) resolve(g);
    }
    this.waiting.clear();
  }
}
