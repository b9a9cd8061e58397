/**
 * The main thread's side of a pipeline: declare a source and stages, `run()` it.
 *
 * ```js
 * const p = new Pipeline()
 *   .source(generator({ flows: 64, count: 1_000_000 }))
 *   .stage('lb', lb())                                       // netmap's lb, one worker
 *   .stage('count', new URL('./count.js', import.meta.url), { workers: 2 });
 * const r = await p.run();                                   // until the source ends
 * ```
 *
 * Each node runs in its own worker thread(s) (piscina; stage modules are imported there)
 * or, for `fromFrames`/`fromFunction` sources and `toMain` sinks, on the main thread. A
 * node's default output goes to the next node declared unless `to` says otherwise;
 * named outputs (a stage definition's `outputs`) and lb's groups are wired with `to`.
 * Links are pipes sharing one memory region (links.ts, the kernel's pipe sets): a stage
 * forwards by swapping buffers, zero copy. When a node has several workers, the flow hash picks the worker
 * for each packet (both directions of a connection meet in one worker).
 *
 * Everything that can be checked is checked before anything starts (`validate()`), with
 * a NetmapError naming the node: an unknown or missing module, a module that exports no
 * stage, a cycle, an output nobody consumes or that the stage does not declare, a node
 * nothing feeds, 0 workers. At the end every packet is accounted for: delivered (consumed
 * by a last stage or sink), dropped (by a stage, by lb for a full output), discarded after
 * a failure, or lost with a thread that died; `stats().inFlight` is what is still moving.
 *
 * This file is the builder (what a user declares); the rest of a pipeline's main-thread
 * side is graph.ts (validation), plan.ts (threads and links), links.ts (their memory),
 * run.ts (a run's states), stats.ts (figures) and main-output.ts (`output()`).
 */
import { NetmapError } from '../errors.js';
import { isSource, type NodeDef, type OutputsTo, validateGraph } from './graph.js';
import { checkLbOptions, type LbOptions } from './lb.js';
import { MainOutputs } from './main-output.js';
import { planRun } from './plan.js';
import { LiveRun, PipelineError } from './run.js';
import type { CounterSink, MainSink, PcapSink } from './sinks.js';
import { moduleUrl, type SourceSpec } from './sources.js';
import type { Batch } from './stage.js';
import type { LinkStats, NodeStats, PipelineResult, PipelineStats, ThreadFigures } from './stats.js';

export type { LinkStats, NodeStats, OutputsTo, PipelineResult, PipelineStats, ThreadFigures };
export { PipelineError };

/** netmap's lb as a pipeline stage (see lb.ts); its groups are the nodes its `to` names. */
export interface LbStage {
  kind: 'lb';
  options: LbOptions;
}

/** lb as a stage: `.stage('lb', lb({ extraBufs: 4096 }), { to: ['count', 'audit'] })` (one group per name). */
export function lb(options: LbOptions = {}): LbStage {
  checkLbOptions(options);
  return { kind: 'lb', options: { ...options } };
}

/** What `stage()` accepts: a module (path or URL) or a built-in. */
export type StageRef = string | URL | LbStage | CounterSink | PcapSink | MainSink;

/** Options of a pipeline stage: its worker threads, where its outputs go, and the options its create(ctx) gets. */
export interface StageOptions {
  /** Worker threads (default 1); the flow hash picks the worker for each packet. */
  workers?: number;
  /** Where the outputs go (default: the default output to the next node declared). */
  to?: OutputsTo;
  /** Given to the stage's create(ctx) as ctx.options (structured-cloned). */
  options?: unknown;
  /**
   * Isolate the stage (VALE's use in netmap: stages that must not see each other's memory):
   * each link into it gets a memory region of its own and packets are copied into it, so
   * the stage's threads hold none of the buffers of the stages before it. Default false
   * (zero copy). lb is zero copy and can neither be isolated nor feed an isolated stage.
   */
  isolate?: boolean;
}

/** Options of a Pipeline: ring size, batch, buffer size and spin of its links. */
export interface PipelineOptions {
  /** Slots per link ring (default 1024). */
  ring?: number;
  /** Most packets per batch a stage sees (default 256). */
  batch?: number;
  /**
   * Bytes per buffer (default 2048, netmap's): the longest frame. For small frames, size it
   * to them (64 for 60-byte frames): a stage touches one line per frame either way, but
   * 2048-byte buffers put two frames per 4 KiB page and lb's swaps shuffle them (bench
   * pipeline on 2 cores: 4.4-5.1 Mpps with 2048, 5.4-7.4 with 64; most likely TLB misses).
   */
  bufSize?: number;
  /**
   * Busy-poll before sleeping (µs). Default 50 when every thread of the pipeline has a
   * core, else 0: a spinning thread would keep the one it waits for off its core.
   */
  spinUs?: number;
}

/** Options of pipeline.run(): how long, an abort signal, and how long a drain may take after the stop. */
export interface RunOptions {
  /** Stop after this many seconds (default: when the source ends). */
  seconds?: number;
  /** Stop when aborted (then drain, as at the end of `seconds`). */
  signal?: AbortSignal;
  /** Give up on a drain that takes longer than this after the stop (ms; default 10000). */
  drainTimeoutMs?: number;
}

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_WORKERS = 64;
const DEFAULT_DRAIN_MS = 10_000;

/** A packet pipeline: a source, stages in worker threads, links between them (see the file's header). */
export class Pipeline {
  private readonly defs: NodeDef[] = [];
  private readonly ring: number;
  private readonly batch: number;
  private readonly bufSize: number;
  private readonly spinUs: number | undefined;
  private state: 'new' | 'running' | 'done' = 'new';
  private live: LiveRun | null = null;
  private readonly outputs = new MainOutputs();

  constructor(o: PipelineOptions = {}) {
    if (o === null || typeof o !== 'object') throw new NetmapError('EINVAL', 'pipeline options must be an object');
    this.ring = o.ring ?? 1024;
    this.batch = o.batch ?? 256;
    this.bufSize = o.bufSize ?? 2048;
    this.spinUs = o.spinUs;
    if (!Number.isInteger(this.ring) || this.ring < 4 || this.ring > 16384) {
      throw new NetmapError('EINVAL', `pipeline ring must be an integer from 4 to 16384, got ${this.ring}`);
    }
    if (!Number.isInteger(this.batch) || this.batch < 1 || this.batch > 16384) {
      throw new NetmapError('EINVAL', `pipeline batch must be an integer from 1 to 16384, got ${this.batch}`);
    }
    if (!Number.isInteger(this.bufSize) || this.bufSize < 64 || this.bufSize > 65472 || this.bufSize % 64 !== 0) {
      throw new NetmapError(
        'EINVAL',
        `pipeline bufSize must be a multiple of 64 from 64 to 65472, got ${this.bufSize}`,
      );
    }
    if (this.spinUs !== undefined && !(this.spinUs >= 0 && this.spinUs <= 1e6)) {
      throw new NetmapError('EINVAL', `pipeline spinUs must be from 0 to 1e6, got ${this.spinUs}`);
    }
  }

  /** The source (exactly one): `generator()`, `pcapSource()`, `moduleSource()`, `fromFrames()`, `fromFunction()`. */
  source(src: SourceSpec, o: { name?: string; to?: OutputsTo } = {}): this {
    this.checkNew();
    const kinds = ['generator', 'pcap', 'module', 'main'];
    if (src === null || typeof src !== 'object' || !kinds.includes((src as SourceSpec).kind)) {
      throw new NetmapError(
        'EINVAL',
        'source() takes generator(), pcapSource(), moduleSource(), fromFrames() or fromFunction()',
      );
    }
    if (this.defs.some((d) => d.kind === 'source' || d.kind === 'main-source')) {
      throw new NetmapError('EINVAL', 'a pipeline has one source');
    }
    this.add({
      name: o.name ?? 'source',
      kind: src.kind === 'main' ? 'main-source' : 'source',
      workers: 1,
      to: o.to,
      source: src,
      outs: [],
    });
    return this;
  }

  /** A stage: a module (path or URL exporting defineStage(...)), `lb()`, `counter()`, `pcapSink()` or `toMain()`. */
  stage(name: string, stage: StageRef, o: StageOptions = {}): this {
    this.checkNew();
    if (o === null || typeof o !== 'object')
      throw new NetmapError('EINVAL', `stage '${name}': options must be an object`);
    const workers = o.workers ?? 1;
    if (!Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS) {
      throw new NetmapError(
        'EINVAL',
        `stage '${name}': workers must be an integer from 1 to ${MAX_WORKERS}, got ${workers}`,
      );
    }
    if (o.isolate !== undefined && typeof o.isolate !== 'boolean') {
      throw new NetmapError('EINVAL', `stage '${name}': isolate must be a boolean`);
    }
    const base = { name, workers, to: o.to, options: o.options, isolate: o.isolate === true, outs: [] };
    if (typeof stage === 'string' || stage instanceof URL) {
      this.add({ ...base, kind: 'stage', url: moduleUrl(stage) });
      return this;
    }
    const kind = (stage as { kind?: unknown } | null)?.kind;
    const one = (what: string) => {
      if (workers !== 1) throw new NetmapError('EINVAL', `stage '${name}': ${what} runs in one thread (workers: 1)`);
    };
    switch (kind) {
      case 'lb':
        one('lb');
        if (o.isolate) throw new NetmapError('EINVAL', `lb '${name}' is zero copy: it cannot be isolated`);
        checkLbOptions((stage as LbStage).options);
        this.add({ ...base, kind: 'lb', lb: (stage as LbStage).options });
        return this;
      case 'counter':
        this.add({ ...base, kind: 'counter' });
        return this;
      case 'pcap':
        this.add({ ...base, kind: 'pcap-sink', sink: stage as PcapSink });
        return this;
      case 'main':
        one('a main-thread sink');
        this.add({ ...base, kind: 'main-sink', sink: stage as MainSink });
        return this;
      default:
        throw new NetmapError(
          'EINVAL',
          `stage '${name}': a stage is a module path or URL, lb(), counter(), pcapSink() or toMain()`,
        );
    }
  }

  /**
   * The batches reaching main-thread sink `name` (declared with `toMain()` and no
   * function), for `for await`. Each batch is yours until you ask for the next.
   */
  output(name: string): AsyncIterable<Batch> {
    const d = this.defs.find((x) => x.name === name);
    if (d === undefined || d.kind !== 'main-sink' || d.sink?.kind !== 'main' || (d.sink as MainSink).fn !== undefined) {
      throw new NetmapError('EINVAL', `'${name}' is not a main-thread sink without a function (toMain())`);
    }
    return this.outputs.iterate(name);
  }

  /** Checks everything that can be checked before a run (run() does it first); resolves, or throws a NetmapError. */
  async validate(): Promise<void> {
    return validateGraph(this.defs);
  }

  /**
   * Runs the pipeline: until the source ends, `seconds` pass or `signal` aborts; then the
   * source stops, every stage drains, and the result counts every packet. Rejects with a
   * PipelineError (stage, worker, packet position) when a stage throws, after the others
   * drained; with a NetmapError, before anything starts, for a bad pipeline.
   */
  async run(o: RunOptions = {}): Promise<PipelineResult> {
    if (o === null || typeof o !== 'object') throw new NetmapError('EINVAL', 'run options must be an object');
    const seconds = o.seconds;
    if (seconds !== undefined && !(seconds > 0 && seconds <= 86400)) {
      throw new NetmapError('EINVAL', `seconds must be above 0, at most 86400, got ${seconds}`);
    }
    const drainMs = o.drainTimeoutMs ?? DEFAULT_DRAIN_MS;
    if (!(drainMs > 0)) throw new NetmapError('EINVAL', `drainTimeoutMs must be above 0, got ${drainMs}`);
    this.checkNew();
    this.state = 'running';
    try {
      await this.validate();
    } catch (e) {
      this.state = 'new';
      throw e;
    }
    const src = this.defs.find(isSource) as NodeDef;
    const endless =
      src.source?.kind === 'generator' &&
      src.source.options.count === 0 &&
      seconds === undefined &&
      o.signal === undefined;
    if (endless) {
      this.state = 'new';
      throw new NetmapError(
        'EINVAL',
        'the run needs an end: give seconds, a signal, or a source that ends (generator count)',
      );
    }
    const live = new LiveRun(planRun(this.defs, this.batch), this.ring, this.bufSize, this.batch, this.spinUs);
    this.live = live;
    this.outputs.bind(live.sinks);
    try {
      return await live.run(seconds, o.signal, drainMs);
    } finally {
      this.state = 'done';
    }
  }

  /** Live figures (any time during a run; the final ones after it). */
  stats(): PipelineStats {
    if (this.live !== null) return this.live.figures.read();
    if (this.state === 'new') throw new NetmapError('EINVAL', 'the pipeline has not run yet');
    // Started, still validating: nothing has moved.
    return { seconds: 0, produced: 0, delivered: 0, dropped: 0, inFlight: 0, nodes: [], links: [] };
  }

  private add(d: NodeDef): void {
    if (typeof d.name !== 'string' || !NAME.test(d.name)) {
      throw new NetmapError('EINVAL', `a stage name is 1 to 64 letters, digits, '_', '.' or '-', got '${d.name}'`);
    }
    if (this.defs.some((x) => x.name === d.name)) throw new NetmapError('EINVAL', `two stages are named '${d.name}'`);
    this.defs.push(d);
  }

  private checkNew(): void {
    if (this.state !== 'new') throw new NetmapError('EINVAL', 'a pipeline runs once: build a new one');
  }
}
