/**
 * One run of a pipeline: its memory (the link regions, wired by links.ts), its threads (a
 * piscina pool of worker threads, and the main-thread nodes) and the run's states:
 *
 * - start: every worker attaches its links and builds its node, then says it is ready
 *   (a barrier in the control block, runtime.ts); a worker that dies or a stage that fails
 *   before the go ends the run there;
 * - go: sources start; the run stops when the source ends, `seconds` pass or the signal
 *   aborts (the stop flag: sources stop, every stage drains what is in its links);
 * - drain: every thread ends once its inputs are done; a drain longer than `drainMs` after
 *   the stop is given up (a PipelineError, 'drain');
 * - abort: a thread that died outside a stage's code is marked dead, so its consumers stop
 *   waiting for it and its producers count what they hold as lost.
 *
 * The result counts every packet (stats.ts); the first stage failure (not one during the
 * drain, often a consequence) is the run's PipelineError.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { workerFile } from '../paths.js';
import type { Port } from '../port.js';
import { wireLinks } from './links.js';
import { mainSinkBatches, runMainSink, runMainSource } from './main-nodes.js';
import type { RunPlan, Thread } from './plan.js';
import { createControl, DONE_DEAD, RunControl, ThreadStats, wakeAll } from './runtime.js';
import type { MainSink, PcapSink } from './sinks.js';
import type { MainSource, SourceSpec } from './sources.js';
import type { Batch, StageFailure } from './stage.js';
import { type PipelineResult, type PipelineStats, RunStats, type ThreadFigures, threadFigures } from './stats.js';
import { makeIo, type NodeSpec, type ThreadResult, type ThreadTask } from './worker.js';

/** A stage failed: the run rejects with where and why; `stats` shows that every packet was accounted for. */
export class PipelineError extends Error {
  override name = 'PipelineError';
  constructor(
    message: string,
    readonly stage: string,
    readonly worker: number,
    /** The position of the packet in that worker's input (-1: not in a batch). */
    readonly position: number,
    readonly during: string,
    readonly stats: PipelineStats,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
  }
}

/** One run: the memory, the threads and their results. */
export class LiveRun {
  readonly sinks = new Map<string, AsyncGenerator<Batch, void, undefined>>();
  private readonly ctl: RunControl;
  private readonly threadStats: ThreadStats[];
  /** The run's figures (live). */
  readonly figures: RunStats;
  private readonly bells: Int32Array[];
  private readonly mainPorts: Port[] = [];
  private readonly mainRuns: Array<Promise<{ failure?: StageFailure }>> = [];
  private readonly mainThreads: Thread[];
  private readonly workerThreads: Thread[];
  private readonly sinkState = new Map<string, { failed: boolean }>();
  private readonly spinUs: number;

  constructor(
    private readonly p: RunPlan,
    ring: number,
    bufSize: number,
    private readonly batch: number,
    spinUs: number | undefined,
  ) {
    const regions = wireLinks(p.links, ring, bufSize);
    this.ctl = new RunControl(createControl(p.threads.length));
    const threadStats = p.threads.map((t) => new ThreadStats(t.stats));
    this.threadStats = threadStats;
    this.figures = new RunStats(p, regions, threadStats, this.ctl);
    this.bells = p.threads.map((t) => new Int32Array(t.bell));
    this.mainThreads = p.threads.filter((t) => t.main);
    this.workerThreads = p.threads.filter((t) => !t.main);
    const cores = availableParallelism();
    this.spinUs = spinUs ?? (this.workerThreads.length + (this.mainThreads.length > 0 ? 1 : 0) <= cores ? 50 : 0);
    // Main-thread sinks exist from the start, so output(name) can hand them out.
    for (const t of this.mainThreads) {
      if (t.node.kind !== 'main-sink') continue;
      const state = { failed: false };
      this.sinkState.set(t.node.name, state);
      this.sinks.set(t.node.name, mainSinkBatches(this.io(t), state));
    }
  }

  private ios = new Map<Thread, ReturnType<typeof makeIo>>();
  private io(t: Thread): ReturnType<typeof makeIo> {
    let io = this.ios.get(t);
    if (io === undefined) {
      io = makeIo(this.taskBase(t), this.mainPorts, 0);
      this.ios.set(t, io);
    }
    return io;
  }

  private taskBase(t: Thread) {
    return {
      node: t.node.name,
      worker: t.worker,
      workers: t.node.workers,
      self: t.id,
      inputs: t.inputs,
      outputs: t.outputs,
      ctl: this.ctl.sab,
      stats: t.stats,
      bell: t.bell,
      allBells: this.p.threads.map((x) => x.bell),
      batch: this.batch,
      spinUs: this.spinUs,
    };
  }

  private spec(t: Thread): NodeSpec {
    const d = t.node;
    switch (d.kind) {
      case 'stage':
        return { kind: 'stage', url: d.url as string, options: d.options, outputs: [...(d.def?.outputs ?? [])] };
      case 'lb':
        return { kind: 'lb', options: d.lb ?? {} };
      case 'counter':
        return { kind: 'counter' };
      case 'pcap-sink':
        return { kind: 'pcap-sink', path: (d.sink as PcapSink).path };
      default: {
        const s = d.source as SourceSpec;
        if (s.kind === 'generator') return { kind: 'generator', options: s.options };
        if (s.kind === 'pcap') return { kind: 'pcap-source', path: s.path, loop: s.loop };
        if (s.kind === 'module') return { kind: 'module-source', url: s.url, options: s.options };
        throw new Error(`no worker for ${d.kind}`);
      }
    }
  }

  async run(seconds: number | undefined, signal: AbortSignal | undefined, drainMs: number): Promise<PipelineResult> {
    const pool =
      this.workerThreads.length > 0
        ? new Piscina({
            filename: workerFile('pipeline'),
            minThreads: this.workerThreads.length,
            maxThreads: this.workerThreads.length,
            idleTimeout: Number.POSITIVE_INFINITY,
            concurrentTasksPerWorker: 1,
            // Threads block in Atomics.wait themselves.
            atomics: 'disabled',
          })
        : null;
    const died: Array<{ thread: Thread; error: unknown }> = [];
    const stopAll = () => {
      this.ctl.stop();
      wakeAll(this.bells);
    };
    const onAbort = () => stopAll();
    let timer: NodeJS.Timeout | undefined;
    try {
      const runs = this.workerThreads.map((t) => {
        const task: ThreadTask = { kind: 'pipeline', ...this.taskBase(t), spec: this.spec(t) };
        return (pool as Piscina).run(task).then(
          (r: ThreadResult) => r,
          (error: unknown) => {
            // The thread died outside a stage's code: its consumers must not wait for it.
            died.push({ thread: t, error });
            this.ctl.fail();
            if (this.ctl.done(t.id) === 0) this.ctl.setDone(t.id, DONE_DEAD);
            wakeAll(this.bells);
            return null;
          },
        );
      });
      const ready = await this.ctl.waitReady(
        this.workerThreads.length,
        60_000,
        () => died.length > 0 || this.ctl.failed(),
      );
      if (!ready && !this.ctl.failed() && died.length === 0)
        throw new Error('pipeline threads did not start within 60 s');
      this.figures.go();
      this.ctl.go();
      if (signal !== undefined) {
        if (signal.aborted) stopAll();
        else signal.addEventListener('abort', onAbort, { once: true });
      }
      if (seconds !== undefined) timer = setTimeout(stopAll, seconds * 1000);
      for (const t of this.mainThreads) this.mainRuns.push(this.runMain(t));
      // Wait for every thread; after the stop, for at most drainMs.
      const all = Promise.all([Promise.all(runs), Promise.all(this.mainRuns)]);
      let drainTimer: NodeJS.Timeout | undefined;
      const stuck = new Promise<'stuck'>((resolve) => {
        const arm = () => {
          drainTimer = setTimeout(() => resolve('stuck'), drainMs);
        };
        const poll = setInterval(() => {
          if (this.ctl.stopped()) {
            clearInterval(poll);
            arm();
          }
        }, 20);
        void all.finally(() => clearInterval(poll));
      });
      const outcome = await Promise.race([all, stuck]);
      clearTimeout(drainTimer);
      this.figures.end();
      if (outcome === 'stuck') {
        this.ctl.fail();
        wakeAll(this.bells);
        throw new PipelineError(
          `the pipeline did not drain within ${drainMs} ms of the stop`,
          '',
          -1,
          -1,
          'drain',
          this.figures.read(),
        );
      }
      const [results, mains] = outcome;
      return this.finish(
        results.filter((r): r is ThreadResult => r !== null),
        mains,
        died,
      );
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      for (const p of this.mainPorts) p.close();
      await pool?.destroy();
    }
  }

  private async runMain(t: Thread): Promise<{ failure?: StageFailure }> {
    const io = this.io(t);
    if (t.node.kind === 'main-source') return runMainSource(io, t.node.source as MainSource);
    const g = this.sinks.get(t.node.name) as AsyncGenerator<Batch, void, undefined>;
    const fn = (t.node.sink as MainSink).fn;
    if (fn !== undefined) return runMainSink(io, fn, g, this.sinkState.get(t.node.name) as { failed: boolean });
    // Driven by the caller's for-await: wait until the generator has ended.
    return new Promise((resolve) => {
      const check = setInterval(() => {
        if (this.ctl.done(t.id) !== 0) {
          clearInterval(check);
          resolve({});
        }
      }, 5);
    });
  }

  private finish(
    results: ThreadResult[],
    mains: Array<{ failure?: StageFailure }>,
    died: Array<{ thread: Thread; error: unknown }>,
  ): PipelineResult {
    const s = this.figures.read();
    const byNode: Record<string, unknown[]> = {};
    for (const d of this.p.defs) byNode[d.name] = new Array(d.workers).fill(null);
    for (const r of results) byNode[r.node][r.worker] = r.result ?? null;
    const threads: ThreadFigures[] = results.map((r) => threadFigures(r, this.threadStats[r.self]));
    const failures: Array<{ node: string; worker: number; f: StageFailure }> = [];
    for (const r of results)
      if (r.failure !== undefined) failures.push({ node: r.node, worker: r.worker, f: r.failure });
    this.mainThreads.forEach((t, i) => {
      const f = mains[i]?.failure;
      if (f !== undefined) failures.push({ node: t.node.name, worker: t.worker, f });
    });
    // The first failure is the cause (later ones are often its consequences).
    const first = failures.find((x) => x.f.during !== 'drain') ?? failures[0];
    if (first !== undefined) {
      const where = first.f.position >= 0 ? ` at packet ${first.f.position} of its input` : '';
      throw new PipelineError(
        `stage '${first.node}' (worker ${first.worker}) failed in ${first.f.during}${where}: ${first.f.message}`,
        first.node,
        first.worker,
        first.f.position,
        first.f.during,
        s,
        Object.assign(new Error(first.f.message), { stack: first.f.stack }),
      );
    }
    if (died.length > 0) {
      const d = died[0];
      const msg = d.error instanceof Error ? d.error.message : String(d.error);
      throw new PipelineError(
        `stage '${d.thread.node.name}' (worker ${d.thread.worker}) died: ${msg}`,
        d.thread.node.name,
        d.thread.worker,
        -1,
        'thread',
        s,
        d.error,
      );
    }
    return { ...s, mpps: s.seconds > 0 ? s.delivered / s.seconds / 1e6 : 0, results: byNode, threads };
  }
}
