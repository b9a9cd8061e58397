/**
 * A pipeline's graph as declared (its nodes, NodeDef) and its validation: everything that
 * can be checked before anything starts, with a NetmapError naming the node. An unknown
 * or missing module, a module that exports no stage, a cycle, an output nobody consumes or
 * that the stage does not declare, a node nothing feeds, lb fed by more than one thread
 * or with more outputs than one region holds, more links than a run may have.
 */
import { NetmapError } from '../errors.js';
import type { LbOptions } from './lb.js';
import { LINKS_PER_REGION } from './links.js';
import type { MainSink, PcapSink } from './sinks.js';
import type { SourceSpec } from './sources.js';
import { type StageDefinition, stageOf } from './stage.js';

/**
 * Where a node's outputs go: a node name (the default output), null (nowhere: the node
 * consumes), `{ default?: name, [output]: name }` for named outputs, or, for lb, a list of
 * node names: its groups, in the order a packet visits them.
 */
export type OutputsTo = string | null | Record<string, string> | readonly string[];

/** A node as declared (pipeline.source / pipeline.stage), resolved by validateGraph. */
export interface NodeDef {
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

/** Links a run may have (over all its regions). */
const MAX_LINKS = 256;

/** True for the source node (in a worker or on the main thread). */
export function isSource(d: NodeDef): boolean {
  return d.kind === 'source' || d.kind === 'main-source';
}

/**
 * Checks the graph `defs` declares, in place: imports each stage module (a missing one
 * or one without a stage fails now, not in a worker) and resolves each node's outputs
 * (`d.def`, `d.outs`). Resolves, or throws a NetmapError naming the node.
 */
export async function validateGraph(defs: NodeDef[]): Promise<void> {
  const src = defs.find(isSource);
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
    const next = defs.slice(i + 1).find((x) => !isSource(x));
    d.outs = resolveOutputs(d, next?.name ?? null, byName);
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
  if (links > MAX_LINKS) throw new NetmapError('EINVAL', `the pipeline needs ${links} links: at most ${MAX_LINKS}`);
}

/** Node `d`'s outputs and their targets (`next`: the next node declared, the default's default). */
function resolveOutputs(d: NodeDef, next: string | null, byName: Map<string, NodeDef>): NodeDef['outs'] {
  const terminal = d.kind === 'counter' || d.kind === 'pcap-sink' || d.kind === 'main-sink';
  const named = d.def?.outputs ?? [];
  const check = (target: string, what: string): string => {
    const t = byName.get(target);
    if (t === undefined)
      throw new NetmapError('EINVAL', `${what} of '${d.name}' goes to '${target}', which is not a stage`);
    if (isSource(t)) throw new NetmapError('EINVAL', `${what} of '${d.name}' goes to the source`);
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
      if (typeof v !== 'string') throw new NetmapError('EINVAL', `'${d.name}': output '${k}' must go to a stage name`);
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
