/**
 * One pipeline thread, in a worker: attaches its link ends, builds its node (a stage from
 * its module, lb, a counter, a pcap sink, a source), waits for the go, runs the node's loop
 * (measuring the thread's CPU and what it allocated), says it is done and returns its
 * result. Everything it needs arrives in one task (one structured clone: the link region's
 * SharedArrayBuffer is then one object, so links of one region share memory here too).
 */
import { readlinkSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { setImmediate as tick } from 'node:timers/promises';
import { getHeapStatistics } from 'node:v8';
import { CpuWindow, type ThreadCpu } from '../apps/cputime.js';
import { attachPort } from '../netmap.js';
import { openCapture } from '../pcap/index.js';
import type { Port } from '../port.js';
import { spinIterations } from '../spin.js';
import { Inputs, linkWords, Output, Sleeper } from './io.js';
import { checkLbOptions, type LbOptions } from './lb.js';
// The links' port type (the kernel's pipe sets) is registered with the kernel's attach.
import type { LinkDescriptor } from './links.js';
import { runLb, runSource } from './nodes.js';
import { DONE_DEAD, RunControl, S_IN, S_TID, ThreadStats, wakeAll } from './runtime.js';
import { counterStage, pcapStage } from './sinks.js';
import { type FrameSource, Generator, type GeneratorSource, isSourceDefinition, PcapFrames } from './sources.js';
import { failRun, finishThread, type NodeIo, runStage, type Stage, type StageFailure, stageOf } from './stage.js';

/** What a worker thread runs. */
export type NodeSpec =
  | { kind: 'stage'; url: string; options: unknown; outputs: string[] }
  | { kind: 'counter' }
  | { kind: 'pcap-sink'; path: string }
  | { kind: 'lb'; options: LbOptions }
  | { kind: 'generator'; options: GeneratorSource['options'] }
  | { kind: 'pcap-source'; path: string; loop: number }
  | { kind: 'module-source'; url: string; options: unknown };

/** One end of a link in a task: the descriptor and the thread at the other end. */
export interface LinkEnd {
  desc: LinkDescriptor;
  peer: number;
}

/** One pipeline thread's task, as a worker receives it (one structured clone). */
export interface ThreadTask {
  kind: 'pipeline';
  node: string;
  worker: number;
  workers: number;
  self: number;
  spec: NodeSpec;
  inputs: LinkEnd[];
  /** The default output first, then the named ones (lb: its groups). */
  outputs: Array<{ name: string; links: LinkEnd[] }>;
  ctl: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  bell: SharedArrayBuffer;
  allBells: SharedArrayBuffer[];
  batch: number;
  spinUs: number;
}

/** What a pipeline thread returns at its end. */
export interface ThreadResult {
  node: string;
  worker: number;
  self: number;
  result?: unknown;
  failure?: StageFailure;
  /**
   * What the thread's loop allocated, as pkt-gen checks it (src/apps/alloc.ts), after its
   * warm-up (the first WARM_PACKETS packets: the JIT's and the loop's one-time allocations,
   * about a megabyte whatever the run's length): garbage collections in that window, the
   * heap growth and the packets it took. No warm-up reached: all zero.
   */
  gcs: number;
  heapBytes: number;
  packets: number;
  cpu: ThreadCpu;
}

/** Packets a thread takes before its allocation is measured. */
export const WARM_PACKETS = 1 << 17;

/** Heap growth and GCs from a thread's warm point to the end of its loop. */
class SteadyAlloc {
  private gcTimes: number[] = [];
  private readonly obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) this.gcTimes.push(e.startTime);
  });
  private t0 = -1;
  private h0 = 0;
  private p0 = 0;
  private t1 = 0;
  private h1 = 0;
  constructor() {
    this.obs.observe({ entryTypes: ['gc'] });
  }
  /** The warm point (called once from the loop: allocates one heap-statistics object). */
  warm(packets: number): void {
    this.t0 = performance.now();
    this.h0 = getHeapStatistics().used_heap_size;
    this.p0 = packets;
  }
  end(): void {
    this.t1 = performance.now();
    this.h1 = getHeapStatistics().used_heap_size;
  }
  async report(packets: number): Promise<{ gcs: number; heapBytes: number; packets: number }> {
    // GC entries are delivered asynchronously: let them arrive before counting.
    await tick();
    await tick();
    this.obs.disconnect();
    if (this.t0 < 0) return { gcs: 0, heapBytes: 0, packets: 0 };
    const gcs = this.gcTimes.filter((t) => t >= this.t0 && t <= this.t1).length;
    return { gcs, heapBytes: this.h1 - this.h0, packets: packets - this.p0 };
  }
}

/** The thread's node and how to run its loop (built before the go, so failures show before anything flows). */
interface Built {
  run(io: NodeIo): { result?: unknown; failure?: StageFailure };
  close(): void;
}

/** Attaches a thread's link ends (into `ports`) and builds what its loop needs. */
export function makeIo(
  t: Pick<
    ThreadTask,
    | 'node'
    | 'worker'
    | 'workers'
    | 'self'
    | 'inputs'
    | 'outputs'
    | 'ctl'
    | 'stats'
    | 'bell'
    | 'allBells'
    | 'batch'
    | 'spinUs'
  >,
  ports: Port[],
  spinIters: number,
): NodeIo {
  const ctl = new RunControl(t.ctl);
  const attach = (e: LinkEnd) => {
    const p = attachPort(e.desc);
    ports.push(p);
    return p;
  };
  const allBells = t.allBells.map((b) => new Int32Array(b));
  const words = (e: LinkEnd) => linkWords(e.desc.kmem, e.desc.link);
  const inputs = new Inputs(
    t.inputs.map(attach),
    t.inputs.map((e) => e.peer),
    t.inputs.map(words),
  );
  const outputs = t.outputs.map(
    (o) =>
      new Output(
        o.name,
        o.links.map(attach),
        o.links.map((e) => e.peer),
        ctl,
        o.links.map(words),
        o.links.map((e) => allBells[e.peer]),
      ),
  );
  const consumers = new Set(t.outputs.flatMap((o) => o.links.map((e) => e.peer)));
  const sleeper = new Sleeper(new Int32Array(t.bell), spinIters);
  sleeper.outputs = outputs;
  return {
    name: t.node,
    worker: t.worker,
    workers: t.workers,
    self: t.self,
    inputs,
    outputs,
    ctl,
    sleeper,
    stats: new ThreadStats(t.stats),
    batch: t.batch,
    allBells,
    consumerBells: [...consumers].map((c) => allBells[c]),
  };
}

async function build(t: ThreadTask, io: NodeIo): Promise<Built> {
  const spec = t.spec;
  const stageRun = (s: Stage): Built => ({ run: (x) => runStage(x, s), close: () => {} });
  const sourceRun = (s: FrameSource): Built => {
    const staging = io.outputs[0].n > 1 ? io.outputs[0].ports[0].allocBufs(io.outputs[0].ports[0].extraBufs) : [];
    return {
      run: (x) => runSource(x, s, staging),
      close: () => {
        s.close?.();
        if (staging.length > 0) io.outputs[0].ports[0].freeBufs(staging);
      },
    };
  };
  switch (spec.kind) {
    case 'stage': {
      const mod = (await import(spec.url)) as Record<string, unknown>;
      const { def } = stageOf(mod);
      if (def === null) throw new Error(`${spec.url} exports no stage`);
      const s = await def.create({
        name: t.node,
        worker: t.worker,
        workers: t.workers,
        options: spec.options,
        outputs: def.outputs,
        forwards: t.outputs.length > 0,
        output(name: string) {
          const i = t.outputs.findIndex((o) => o.name === name);
          if (i < 1) throw new Error(`stage '${t.node}' has no output named '${name}'`);
          return i;
        },
      });
      if (s === null || typeof s !== 'object' || typeof s.batch !== 'function') {
        throw new Error(`stage '${t.node}': create() must return an object with a batch(b) method`);
      }
      return stageRun(s);
    }
    case 'counter':
      return stageRun(counterStage());
    case 'pcap-sink':
      return stageRun(pcapStage(spec.path, t.worker));
    case 'lb': {
      const o = checkLbOptions(spec.options);
      return { run: (x) => runLb(x, o), close: () => {} };
    }
    case 'generator':
      return sourceRun(new Generator(spec.options));
    case 'pcap-source':
      return sourceRun(new PcapFrames(openCapture(spec.path), spec.loop));
    case 'module-source': {
      const mod = (await import(spec.url)) as Record<string, unknown>;
      const def = [mod.default, mod.source].find(isSourceDefinition);
      if (def === undefined) throw new Error(`${spec.url} exports no source (defineSource)`);
      return sourceRun(await def.create({ options: spec.options }));
    }
  }
}

/**
 * This thread's Linux thread id (/proc/thread-self is "<pid>/task/<tid>"), so the main
 * thread can read its CPU time live from /proc/self/task/<tid>/schedstat; 0 elsewhere.
 */
function threadId(): number {
  try {
    const m = /task\/(\d+)$/.exec(readlinkSync('/proc/thread-self'));
    return m === null ? 0 : Number(m[1]);
  } catch {
    return 0;
  }
}

/** Runs one pipeline thread's task to its end (the worker entry calls this). */
export async function runThread(t: ThreadTask): Promise<ThreadResult> {
  const ports: Port[] = [];
  const cpu = new CpuWindow();
  let io: NodeIo | undefined;
  let built: Built | undefined;
  let failure: StageFailure | undefined;
  try {
    io = makeIo(t, ports, spinIterations(t.spinUs));
    try {
      built = await build(t, io);
    } catch (e) {
      failure = failRun(io, e, -1, 'create');
    }
    const alloc = new SteadyAlloc();
    const stats = io.stats;
    stats.f64[S_TID] = threadId();
    stats.whenWarm(WARM_PACKETS, () => alloc.warm(stats.f64[S_IN]));
    io.ctl.arrive();
    io.ctl.waitGo();
    cpu.start();
    const node = built ?? { run: (x: NodeIo) => runStage(x, { batch() {} }, failure), close() {} };
    const result = node.run(io);
    alloc.end();
    const thread = cpu.end(`${t.node}#${t.worker}`);
    failure ??= result.failure;
    finishThread(io);
    return {
      node: t.node,
      worker: t.worker,
      self: t.self,
      result: result.result,
      failure,
      ...(await alloc.report(stats.f64[S_IN])),
      cpu: thread,
    };
  } catch (e) {
    // Outside a stage's code (a broken task, a bug): this thread cannot drain; say it died.
    const ctl = new RunControl(t.ctl);
    ctl.fail();
    ctl.setDone(t.self, DONE_DEAD);
    wakeAll(t.allBells.map((b) => new Int32Array(b)));
    throw e;
  } finally {
    try {
      built?.close();
    } finally {
      for (const p of ports) p.close();
    }
  }
}
