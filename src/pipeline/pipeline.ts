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
 * Links are pipes sharing one memory region (links.ts): a stage forwards by swapping
 * buffers, zero copy. When a node has several workers, the flow hash picks the worker
 * for each packet (both directions of a connection meet in one worker).
 *
 * Everything that can be checked is checked before anything starts (`validate()`), with
 * a NetmapError naming the node: an unknown or missing module, a module that exports no
 * stage, a cycle, an output nobody consumes or that the stage does not declare, a node
 * nothing feeds, 0 workers. At the end every packet is accounted for: delivered (consumed
 * by a last stage or sink), dropped (by a stage, by lb for a full output), discarded after
 * a failure, or lost with a thread that died; `stats().inFlight` is what is still moving.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { KC_NOTIFIES, KC_PACKETS, KR_COUNTERS_BYTE } from '../../shm/layout.js';
import { kringWordBase } from '../../shm/region.js';
import { readSchedstat } from '../apps/cputime.js';
import { NetmapError } from '../errors.js';
import { workerFile } from '../paths.js';
import type { Port } from '../port.js';
import { checkLbOptions, type LbOptions } from './lb.js';
import {
  CONSUMER,
  createLinkRegion,
  createThreadBell,
  LINKS_PER_REGION,
  type LinkRegion,
  linkDescriptor,
  PRODUCER,
} from './links.js';
import { mainSinkBatches, runMainSink, runMainSource } from './main-nodes.js';
import {
  createControl,
  DONE_DEAD,
  RunControl,
  S_BATCHES,
  S_BYTES,
  S_CONSUMED,
  S_DROPPED,
  S_EMPTY,
  S_ERROR_DROPS,
  S_FIXED,
  S_IN,
  S_LB_PER_OUTPUT,
  S_LOST,
  S_NON_IP,
  S_OUT,
  S_SLEEPS,
  S_TID,
  statsBytes,
  ThreadStats,
  wakeAll,
} from './runtime.js';
import type { CounterSink, MainSink, PcapSink } from './sinks.js';
import { type MainSource, moduleUrl, type SourceSpec } from './sources.js';
import { type Batch, type StageDefinition, type StageFailure, stageOf } from './stage.js';
import { type LinkEnd, makeIo, type NodeSpec, type ThreadResult, type ThreadTask } from './worker.js';

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

/**
 * Where a node's outputs go: a node name (the default output), null (nowhere: the node
 * consumes), `{ default?: name, [output]: name }` for named outputs, or, for lb, a list of
 * node names: its groups, in the order a packet visits them.
 */
export type OutputsTo = string | null | Record<string, string> | readonly string[];

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
  /** Bytes per buffer (default 2048): the longest frame. */
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

/** One node's figures (summed over its workers). */
export interface NodeStats {
  name: string;
  kind: string;
  workers: number;
  /** Packets taken from its inputs (a source: produced). */
  in: number;
  bytes: number;
  /** Forwarded to its outputs. */
  out: number;
  /** Dropped by the stage's decision (lb: for a full output of its first group). */
  dropped: number;
  /** Ended here (a last stage, a sink). */
  consumed: number;
  /** Discarded after the stage failed. */
  errorDrops: number;
  /** Held for a consumer that died. */
  lost: number;
  /** Empty slots skipped. */
  empty: number;
  batches: number;
  /** Packets per batch. */
  avgBatch: number;
  sleeps: number;
  /**
   * CPU time its worker threads used since the go (ns), read live from each thread's
   * /proc schedstat (null on the main thread or where the OS does not say), and per packet taken.
   */
  cpuNs: number | null;
  cpuNsPerPacket: number | null;
  /** lb: per output (groups in order), and frames that were not IP. */
  lb?: { outputs: Array<{ forwarded: number; dropped: number; queued: number }>; nonIp: number };
}

/** One link's figures: packets sent and slots released, and wake-ups sent each way. */
export interface LinkStats {
  from: string;
  to: string;
  /** The memory region the link lives in: links of one region share buffers (a stage swaps between them, zero copy). */
  region: number;
  /** Packets the producer published, and slots the consumer released. */
  sent: number;
  released: number;
  /** Wake-ups sent: to the consumer (news), and to the producer (room). */
  consumerWakeups: number;
  producerWakeups: number;
}

/**
 * A pipeline's figures (pipeline.stats(), live): packets produced, delivered, dropped and
 * in flight, per node and per link.
 */
export interface PipelineStats {
  /** Seconds since the go. */
  seconds: number;
  /** Packets the source produced. */
  produced: number;
  /** Packets consumed by last stages and sinks (with lb groups, by every group's consumers). */
  delivered: number;
  /** Dropped, discarded after a failure, or lost with a dead thread (all counted, per node). */
  dropped: number;
  /** Packets still in links or held by a node (0 once a run has drained). */
  inFlight: number;
  nodes: NodeStats[];
  links: LinkStats[];
}

/**
 * One worker thread's figures: garbage collections and bytes allocated per packet after
 * its warm-up, and its CPU per packet.
 */
export interface ThreadFigures {
  node: string;
  worker: number;
  /**
   * After the thread's warm-up (its first 131072 packets: the JIT's and the loop's one-time
   * allocations): garbage collections, packets, and heap bytes allocated per packet (null
   * if a GC ran or the warm-up never ended), as pkt-gen checks "nothing allocated per packet".
   */
  gcs: number;
  steadyPackets: number;
  allocBytesPerPacket: number | null;
  /** CPU time per packet taken (ns; null where the OS does not say). */
  cpuNsPerPacket: number | null;
}

/**
 * The result of pipeline.run(): its figures, the delivered rate, each worker's finish()
 * result and per-thread figures.
 */
export interface PipelineResult extends PipelineStats {
  /** Delivered packets per second over the run (millions). */
  mpps: number;
  /** Per node, every worker's finish() result. */
  results: Record<string, unknown[]>;
  threads: ThreadFigures[];
}

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

interface NodeDef {
  name: string;
  kind: 'source' | 'stage' | 'lb' | 'counter' | 'pcap-sink' | 'main-sink' | 'main-source';
  workers: number;
  to: OutputsTo | undefined;
  /** Stages: the module URL; its definition once validated. */
  url?: string;
  def?: StageDefinition;
  options?: unknown;
  /** Its input links are in memory of their own (packets copied in, as through VALE). */
  isolate?: boolean;
  source?: SourceSpec;
  sink?: MainSink | PcapSink;
  lb?: LbOptions;
  /** Resolved at validation: per output (default first, then named), its target node (or null). */
  outs: Array<{ name: string; target: string | null }>;
}

interface Thread {
  id: number;
  node: NodeDef;
  worker: number;
  main: boolean;
  inputs: LinkEnd[];
  outputs: Array<{ name: string; links: LinkEnd[] }>;
  bell: SharedArrayBuffer;
  stats: SharedArrayBuffer;
}

interface LinkPlan {
  from: Thread;
  to: Thread;
  output: number;
  region: number;
  index: number;
  extra: number;
  /** In a region of its own (the link into an isolated stage). */
  exclusive?: boolean;
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
  private readonly waiting = new Map<string, (g: AsyncGenerator<Batch, void, undefined>) => void>();

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
    const ready = new Promise<AsyncGenerator<Batch, void, undefined>>((resolve) => {
      const live = this.live?.sinks.get(name);
      if (live !== undefined) resolve(live);
      else this.waiting.set(name, resolve);
    });
    return {
      [Symbol.asyncIterator]: () => {
        let g: AsyncGenerator<Batch, void, undefined> | null = null;
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

  /** Checks everything that can be checked before a run (run() does it first); resolves, or throws a NetmapError. */
  async validate(): Promise<void> {
    const defs = this.defs;
    const src = defs.find((d) => d.kind === 'source' || d.kind === 'main-source');
    if (src === undefined) throw new NetmapError('EINVAL', 'a pipeline needs a source (pipeline.source(...))');
    if (defs.length < 2) throw new NetmapError('EINVAL', 'a pipeline needs at least one stage after its source');
    const byName = new Map(defs.map((d) => [d.name, d]));
    // Stage modules: imported here too, so a missing one or one without a stage fails now.
    for (const d of defs) {
      if (d.kind !== 'stage' || d.url === undefined) continue;
      let mod: Record<string, unknown>;
      try {
        mod = (await import(d.url)) as Record<string, unknown>;
      } catch (e) {
        const code = (e as { code?: string }).code;
        const missing = code === 'ERR_MODULE_NOT_FOUND' || code === 'ENOENT';
        throw new NetmapError(
          missing ? 'ENOENT' : 'EINVAL',
          `stage '${d.name}': cannot load ${d.url}: ${(e as Error).message.split('\n')[0]}`,
        );
      }
      const { def, exports } = stageOf(mod);
      if (def === null) {
        throw new NetmapError(
          'EINVAL',
          `stage '${d.name}': ${d.url} exports no stage (export default defineStage(...)); it exports: ${exports.join(', ') || 'nothing'}`,
        );
      }
      d.def = def;
    }
    // Outputs and where they go.
    defs.forEach((d, i) => {
      const next = defs.slice(i + 1).find((x) => x.kind !== 'source' && x.kind !== 'main-source');
      d.outs = this.resolveOutputs(d, next?.name ?? null, byName);
    });
    // Inputs: every node but the source is fed by something.
    const feeds = new Map<string, string[]>();
    for (const d of defs)
      for (const o of d.outs) if (o.target !== null) feeds.set(o.target, [...(feeds.get(o.target) ?? []), d.name]);
    for (const d of defs) {
      if (d === src) continue;
      if (!feeds.has(d.name)) throw new NetmapError('EINVAL', `stage '${d.name}' has no input: nothing sends to it`);
    }
    // No cycles.
    const state = new Map<string, number>();
    const visit = (n: string, path: string[]): void => {
      const s = state.get(n) ?? 0;
      if (s === 2) return;
      if (s === 1) throw new NetmapError('EINVAL', `the pipeline has a cycle: ${[...path, n].join(' -> ')}`);
      state.set(n, 1);
      for (const o of byName.get(n)?.outs ?? []) if (o.target !== null) visit(o.target, [...path, n]);
      state.set(n, 2);
    };
    for (const d of defs) visit(d.name, []);
    // lb: fed by one thread; every group but the last only reads (a terminal stage).
    for (const d of defs) {
      if (d.kind !== 'lb') continue;
      const ups = feeds.get(d.name) ?? [];
      const threads = ups.reduce((t, u) => t + (byName.get(u)?.workers ?? 0), 0);
      if (threads !== 1) {
        throw new NetmapError(
          'EINVAL',
          `lb '${d.name}' reads one input: it is fed by ${threads} threads (${ups.join(', ')})`,
        );
      }
      for (const o of d.outs) {
        if (o.target !== null && byName.get(o.target)?.isolate) {
          throw new NetmapError('EINVAL', `lb '${d.name}' is zero copy: its group '${o.target}' cannot be isolated`);
        }
      }
      d.outs.forEach((o, g) => {
        if (g === d.outs.length - 1 || o.target === null) return;
        const t = byName.get(o.target) as NodeDef;
        if (t.outs.some((x) => x.target !== null)) {
          throw new NetmapError(
            'EINVAL',
            `lb '${d.name}': group '${t.name}' is not the last group, so it must only read (no outputs): lb passes each buffer on to the next group when it is released`,
          );
        }
      });
    }
    // Links: every region holds 16; lb's input and outputs must share one (lb is zero copy).
    let links = 0;
    for (const d of defs) {
      for (const o of d.outs) if (o.target !== null) links += d.workers * (byName.get(o.target) as NodeDef).workers;
      if (d.kind === 'lb') {
        const own =
          1 + d.outs.reduce((t, o) => t + (o.target === null ? 0 : (byName.get(o.target) as NodeDef).workers), 0);
        if (own > LINKS_PER_REGION) {
          throw new NetmapError(
            'EINVAL',
            `lb '${d.name}' has ${own - 1} outputs: at most ${LINKS_PER_REGION - 1} (one memory region)`,
          );
        }
      }
    }
    if (links > 256) throw new NetmapError('EINVAL', `the pipeline needs ${links} links: at most 256`);
  }

  private resolveOutputs(d: NodeDef, next: string | null, byName: Map<string, NodeDef>): NodeDef['outs'] {
    const terminal = d.kind === 'counter' || d.kind === 'pcap-sink' || d.kind === 'main-sink';
    const named = d.def?.outputs ?? [];
    const check = (target: string, what: string): string => {
      const t = byName.get(target);
      if (t === undefined)
        throw new NetmapError('EINVAL', `${what} of '${d.name}' goes to '${target}', which is not a stage`);
      if (t.kind === 'source' || t.kind === 'main-source')
        throw new NetmapError('EINVAL', `${what} of '${d.name}' goes to the source`);
      if (t === d) throw new NetmapError('EINVAL', `the pipeline has a cycle: ${d.name} -> ${d.name}`);
      return target;
    };
    const to = d.to;
    if (terminal) {
      if (to !== undefined && to !== null) throw new NetmapError('EINVAL', `'${d.name}' is a sink: it has no output`);
      return [];
    }
    if (d.kind === 'lb') {
      const groups = to === undefined ? (next === null ? [] : [next]) : typeof to === 'string' ? [to] : to;
      if (!Array.isArray(groups) || groups.length === 0) {
        throw new NetmapError('EINVAL', `lb '${d.name}' needs its groups: to: ['a', 'b'] (or the next stage)`);
      }
      return groups.map((g, i) => ({ name: `group${i}`, target: check(g, `group ${i}`) }));
    }
    if (Array.isArray(to)) {
      throw new NetmapError(
        'EINVAL',
        `'${d.name}': a list in 'to' is for lb's groups; name outputs with { output: stage }`,
      );
    }
    let def: string | null;
    const extra: Record<string, string> = {};
    if (to === undefined) def = next;
    else if (to === null) def = null;
    else if (typeof to === 'string') def = to;
    else if (typeof to === 'object') {
      def = null;
      for (const [k, v] of Object.entries(to as Record<string, string>)) {
        if (typeof v !== 'string')
          throw new NetmapError('EINVAL', `'${d.name}': output '${k}' must go to a stage name`);
        if (k === 'default') def = v;
        else if (!named.includes(k)) {
          throw new NetmapError(
            'EINVAL',
            `'${d.name}' has no output '${k}' (it declares ${named.length > 0 ? named.map((x) => `'${x}'`).join(', ') : 'none'})`,
          );
        } else extra[k] = v;
      }
    } else {
      throw new NetmapError('EINVAL', `'${d.name}': to must be a stage name, null, or { output: stage }`);
    }
    for (const k of named) {
      if (extra[k] === undefined) {
        throw new NetmapError(
          'EINVAL',
          `output '${k}' of '${d.name}' goes nowhere: nobody consumes it (give it a stage in 'to')`,
        );
      }
    }
    const outs: NodeDef['outs'] = [{ name: 'default', target: def === null ? null : check(def, 'the default output') }];
    for (const k of named) outs.push({ name: k, target: check(extra[k], `output '${k}'`) });
    // A stage whose default output goes nowhere and that has no named outputs consumes.
    return outs.length === 1 && outs[0].target === null ? [] : outs;
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
    const src = this.defs.find((d) => d.kind === 'source' || d.kind === 'main-source') as NodeDef;
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
    const live = new LiveRun(this.plan(), this.ring, this.bufSize, this.batch, this.spinUs);
    this.live = live;
    for (const [name, resolve] of this.waiting) {
      const g = live.sinks.get(name);
      if (g !== undefined) resolve(g);
    }
    this.waiting.clear();
    try {
      return await live.run(seconds, o.signal, drainMs);
    } finally {
      this.state = 'done';
    }
  }

  /** Live figures (any time during a run; the final ones after it). */
  stats(): PipelineStats {
    if (this.live !== null) return this.live.stats();
    if (this.state === 'new') throw new NetmapError('EINVAL', 'the pipeline has not run yet');
    // Started, still validating: nothing has moved.
    return { seconds: 0, produced: 0, delivered: 0, dropped: 0, inFlight: 0, nodes: [], links: [] };
  }

  private plan(): { threads: Thread[]; links: LinkPlan[]; defs: NodeDef[] } {
    const threads: Thread[] = [];
    const byNode = new Map<string, Thread[]>();
    for (const d of this.defs) {
      const ts: Thread[] = [];
      for (let w = 0; w < d.workers; w++) {
        const t: Thread = {
          id: threads.length,
          node: d,
          worker: w,
          main: d.kind === 'main-sink' || d.kind === 'main-source',
          inputs: [],
          outputs: d.outs.map((x) => ({ name: x.name, links: [] })),
          bell: createThreadBell(),
          stats: new SharedArrayBuffer(statsBytes(d.kind === 'lb' ? this.lbOutputs(d) : 0)),
        };
        threads.push(t);
        ts.push(t);
      }
      byNode.set(d.name, ts);
    }
    // Links, grouped so that lb's input and outputs land in one region.
    const links: LinkPlan[] = [];
    const groups: LinkPlan[][] = [];
    const lbGroup = new Map<string, LinkPlan[]>();
    for (const d of this.defs) {
      d.outs.forEach((o, oi) => {
        if (o.target === null) return;
        const target = this.defs.find((x) => x.name === o.target) as NodeDef;
        for (const from of byNode.get(d.name) as Thread[]) {
          for (const to of byNode.get(target.name) as Thread[]) {
            const l: LinkPlan = { from, to, output: oi, region: -1, index: -1, extra: 0 };
            links.push(l);
            // lb's input link joins lb's group, lb's outputs too (lb swaps buffers between
            // them); a source fanning out swaps its staged buffers into all its links.
            // An isolated stage's links each get a region of their own.
            const key = target.isolate
              ? null
              : target.kind === 'lb'
                ? target.name
                : d.kind === 'lb'
                  ? d.name
                  : d.kind === 'source'
                    ? `${d.name}>${target.name}`
                    : null;
            if (target.isolate) {
              l.exclusive = true;
              groups.push([l]);
            } else if (key !== null) {
              const g = lbGroup.get(key) ?? [];
              if (!lbGroup.has(key)) {
                lbGroup.set(key, g);
                groups.push(g);
              }
              g.push(l);
            } else groups.push([l]);
          }
        }
      });
    }
    // Extra buffers: lb's input link has lb's; a source fanning out stages a batch in its first link's.
    for (const l of links) {
      if (l.to.node.kind === 'lb') l.extra = l.to.node.lb?.extraBufs ?? 0;
    }
    for (const t of threads) {
      if (t.node.kind === 'source' && byNode.get(t.node.outs[0]?.target ?? '')?.length !== 1) {
        const first = links.find((l) => l.from === t);
        if (first !== undefined) first.extra = this.batch;
      }
    }
    // First fit, in declaration order.
    const fill: number[] = [];
    const exclusive = new Set<number>();
    for (const g of groups) {
      let r = g[0].exclusive ? -1 : fill.findIndex((n, i) => !exclusive.has(i) && n + g.length <= LINKS_PER_REGION);
      if (g[0].exclusive) exclusive.add(fill.length);
      if (r < 0) {
        r = fill.length;
        fill.push(0);
      }
      for (const l of g) {
        l.region = r;
        l.index = fill[r]++;
      }
    }
    return { threads, links, defs: this.defs };
  }

  private lbOutputs(d: NodeDef): number {
    return d.outs.reduce((t, o) => t + (this.defs.find((x) => x.name === o.target)?.workers ?? 0), 0);
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

/** One run: the memory, the threads and their results. */
class LiveRun {
  readonly sinks = new Map<string, AsyncGenerator<Batch, void, undefined>>();
  private readonly regions: LinkRegion[] = [];
  private readonly ctl: RunControl;
  private readonly threadStats: ThreadStats[];
  private readonly bells: Int32Array[];
  private readonly mainPorts: Port[] = [];
  private readonly mainRuns: Array<Promise<{ failure?: StageFailure }>> = [];
  private readonly mainThreads: Thread[];
  private readonly workerThreads: Thread[];
  private readonly sinkState = new Map<string, { failed: boolean }>();
  private t0 = 0;
  private t1 = 0;
  private readonly spinUs: number;

  constructor(
    private readonly p: { threads: Thread[]; links: LinkPlan[]; defs: NodeDef[] },
    ring: number,
    bufSize: number,
    private readonly batch: number,
    spinUs: number | undefined,
  ) {
    const nRegions = Math.max(0, ...p.links.map((l) => l.region + 1));
    for (let r = 0; r < nRegions; r++) {
      const ls = p.links.filter((l) => l.region === r).sort((a, b) => a.index - b.index);
      this.regions.push(
        createLinkRegion(
          ls.length,
          ring,
          bufSize,
          ls.map((l) => l.extra),
        ),
      );
    }
    for (const l of p.links) {
      const region = this.regions[l.region];
      const bells: [SharedArrayBuffer, SharedArrayBuffer] = [l.from.bell, l.to.bell];
      const name = `${l.from.node.name}#${l.from.worker}>${l.to.node.name}#${l.to.worker}`;
      // The extra buffers are the link's (its pool): lb takes them at the consumer end, a
      // fanning-out source at the producer end.
      l.from.outputs[l.output].links.push({
        desc: linkDescriptor(region, l.index, PRODUCER, bells, name, l.extra),
        peer: l.to.id,
      });
      l.to.inputs.push({ desc: linkDescriptor(region, l.index, CONSUMER, bells, name, l.extra), peer: l.from.id });
    }
    this.ctl = new RunControl(createControl(p.threads.length));
    this.threadStats = p.threads.map((t) => new ThreadStats(t.stats));
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
      this.markCpuAtGo();
      this.t0 = performance.now();
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
      this.t1 = performance.now();
      if (outcome === 'stuck') {
        this.ctl.fail();
        wakeAll(this.bells);
        throw new PipelineError(
          `the pipeline did not drain within ${drainMs} ms of the stop`,
          '',
          -1,
          -1,
          'drain',
          this.stats_(),
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
    const s = this.stats_();
    const byNode: Record<string, unknown[]> = {};
    for (const d of this.p.defs) byNode[d.name] = new Array(d.workers).fill(null);
    for (const r of results) byNode[r.node][r.worker] = r.result ?? null;
    const threads: ThreadFigures[] = results.map((r) => {
      const st = this.threadStats[r.self].f64;
      const packets = Math.max(st[S_IN], 1);
      return {
        node: r.node,
        worker: r.worker,
        gcs: r.gcs,
        steadyPackets: r.packets,
        allocBytesPerPacket: r.gcs === 0 && r.packets > 0 ? Math.max(0, r.heapBytes) / r.packets : null,
        cpuNsPerPacket: r.cpu.cpuNs === null ? null : r.cpu.cpuNs / packets,
      };
    });
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

  stats(): PipelineStats {
    return this.stats_();
  }

  /** Thread t's CPU time (ns) at the go, read when first asked after it (null: not a worker, or no schedstat). */
  private readonly cpuAtGo = new Map<number, number | null>();
  private readonly cpuAtEnd = new Map<number, number | null>();

  private cpuNow(tid: number): number | null {
    if (!(tid > 0)) return null;
    return readSchedstat(`/proc/self/task/${tid}/schedstat`)?.cpuNs ?? null;
  }

  /** Reads every worker thread's CPU time at the go (the baseline of the live figures). */
  private markCpuAtGo(): void {
    for (const t of this.workerThreads) {
      const tid = this.threadStats[t.id].snapshot()[S_TID];
      this.cpuAtGo.set(t.id, this.cpuNow(tid));
    }
  }

  private cpuSinceGo(t: Thread, tid: number): number | null {
    if (t.main) return null;
    // A thread that has ended keeps its last reading (its /proc entry goes with it).
    if (this.cpuAtEnd.has(t.id)) return this.cpuAtEnd.get(t.id) ?? null;
    const at = this.cpuAtGo.get(t.id);
    const now = this.cpuNow(tid);
    if (at === undefined || at === null || now === null) return null;
    const v = now - at;
    if (this.ctl.done(t.id) !== 0) this.cpuAtEnd.set(t.id, v);
    return v;
  }

  private stats_(): PipelineStats {
    const snaps = this.threadStats.map((s) => s.snapshot());
    const nodes: NodeStats[] = this.p.defs.map((d) => {
      const ts = this.p.threads.filter((t) => t.node === d);
      const sum = (k: number) => ts.reduce((a, t) => a + snaps[t.id][k], 0);
      const n: NodeStats = {
        name: d.name,
        kind: d.kind,
        workers: d.workers,
        in: sum(S_IN),
        bytes: sum(S_BYTES),
        out: sum(S_OUT),
        dropped: sum(S_DROPPED),
        consumed: sum(S_CONSUMED),
        errorDrops: sum(S_ERROR_DROPS),
        lost: sum(S_LOST),
        empty: sum(S_EMPTY),
        batches: sum(S_BATCHES),
        avgBatch: 0,
        sleeps: sum(S_SLEEPS),
        cpuNs: null,
        cpuNsPerPacket: null,
      };
      n.avgBatch = n.batches > 0 ? n.in / n.batches : 0;
      const cpu = ts.map((t) => this.cpuSinceGo(t, snaps[t.id][S_TID]));
      if (cpu.length > 0 && cpu.every((c) => c !== null)) {
        n.cpuNs = cpu.reduce((a: number, c) => a + (c as number), 0);
        n.cpuNsPerPacket = n.in > 0 ? n.cpuNs / n.in : null;
      }
      if (d.kind === 'lb') {
        const f = snaps[ts[0].id];
        const outs = (f.length - S_FIXED) / S_LB_PER_OUTPUT;
        n.lb = {
          nonIp: f[S_NON_IP],
          outputs: Array.from({ length: Math.floor(outs) }, (_, i) => ({
            forwarded: f[S_FIXED + i * S_LB_PER_OUTPUT],
            dropped: f[S_FIXED + i * S_LB_PER_OUTPUT + 1],
            queued: f[S_FIXED + i * S_LB_PER_OUTPUT + 2],
          })),
        };
      }
      return n;
    });
    const links: LinkStats[] = this.p.links.map((l) => {
      const km = new Float64Array(this.regions[l.region].kmems[l.index]);
      const at = (ring: number, c: number) => (kringWordBase(ring) * 4 + KR_COUNTERS_BYTE) / 8 + c;
      return {
        from: `${l.from.node.name}#${l.from.worker}`,
        to: `${l.to.node.name}#${l.to.worker}`,
        region: l.region,
        sent: km[at(2 * l.index, KC_PACKETS)],
        released: km[at(2 * l.index + 1, KC_PACKETS)],
        consumerWakeups: km[at(2 * l.index, KC_NOTIFIES)],
        producerWakeups: km[at(2 * l.index + 1, KC_NOTIFIES)],
      };
    });
    const src = nodes.find((n) => n.kind === 'source' || n.kind === 'main-source') as NodeStats;
    // What a node took and has not yet passed on or ended (lb: its overflow queues).
    let held = 0;
    for (const n of nodes) held += n.in - n.out - n.dropped - n.consumed - n.errorDrops - n.lost;
    let inLinks = 0;
    for (const l of links) inLinks += l.sent - l.released;
    const now = this.t1 > 0 ? this.t1 : performance.now();
    return {
      seconds: this.t0 > 0 ? (now - this.t0) / 1000 : 0,
      produced: src.in,
      delivered: nodes.reduce((a, n) => a + n.consumed, 0),
      dropped: nodes.reduce((a, n) => a + n.dropped + n.errorDrops + n.lost, 0),
      inFlight: held + inLinks,
      nodes,
      links,
    };
  }
}
