/**
 * The plan of a run: the threads (each worker of each node, and the main-thread nodes) and
 * the links between them, each placed in a memory region (links.ts makes them). Links are
 * grouped so that what must share buffers does: lb's input and its outputs (lb swaps
 * buffers between them, zero copy), a source fanning out to several workers (it swaps its
 * staged buffers into all its links); a link into an isolated stage gets a region of its
 * own. Groups are placed first fit, in declaration order, at most LINKS_PER_REGION a region.
 */
import type { NodeDef } from './graph.js';
import { createThreadBell, LINKS_PER_REGION } from './links.js';
import { statsBytes } from './runtime.js';
import type { LinkEnd } from './worker.js';

/** One pipeline thread of a run: a worker thread, or a main-thread node. */
export interface Thread {
  /** Its number across the run (control block, stats). */
  id: number;
  node: NodeDef;
  worker: number;
  main: boolean;
  /** Its link ends, filled by wireLinks. */
  inputs: LinkEnd[];
  outputs: Array<{ name: string; links: LinkEnd[] }>;
  bell: SharedArrayBuffer;
  stats: SharedArrayBuffer;
}

/** One link of a run: from a thread's output to a thread, where it lives and its extra buffers. */
export interface LinkPlan {
  from: Thread;
  to: Thread;
  output: number;
  region: number;
  index: number;
  extra: number;
  /** In a region of its own (the link into an isolated stage). */
  exclusive?: boolean;
}

/** A run's threads and links, and the graph they come from. */
export interface RunPlan {
  threads: Thread[];
  links: LinkPlan[];
  defs: NodeDef[];
}

/**
 * Plans a run of the validated graph `defs`: its threads (each worker of each node, main-
 * thread nodes too) and its links (every thread of a node to every thread of the node an
 * output goes to), each link placed in a region. `batch`: a fanning-out source stages a
 * batch in its first link's extra buffers.
 */
export function planRun(defs: NodeDef[], batch: number): RunPlan {
  const threads: Thread[] = [];
  const byNode = new Map<string, Thread[]>();
  for (const d of defs) {
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
        stats: new SharedArrayBuffer(statsBytes(d.kind === 'lb' ? lbOutputs(defs, d) : 0)),
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
  for (const d of defs) {
    d.outs.forEach((o, oi) => {
      if (o.target === null) return;
      const target = defs.find((x) => x.name === o.target) as NodeDef;
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
      if (first !== undefined) first.extra = batch;
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
  return { threads, links, defs };
}

/** Threads lb node `d` outputs to (its groups' workers): its stats block has a slot each. */
function lbOutputs(defs: NodeDef[], d: NodeDef): number {
  return d.outs.reduce((t, o) => t + (defs.find((x) => x.name === o.target)?.workers ?? 0), 0);
}
