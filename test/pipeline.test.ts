/**
 * Pipelines end to end: stages in worker threads (from dist/: `npm run build` first), the
 * main thread's sources and sinks, stop and drain, failures, and the accounting that says
 * every packet was delivered or counted.
 */
import { describe, expect, it } from 'vitest';
import {
  buildFrame,
  counter,
  decrementTtl,
  fromFrames,
  fromFunction,
  generator,
  ipv4ChecksumOk,
  lb,
  PacketHeaders,
  Pipeline,
  PipelineError,
  type PipelineResult,
  toMain,
} from '../src/index.js';
import { generatorFlow } from '../src/pipeline/sources.js';
import { requireBuilt } from './helpers.js';

const stage = (name: string) => new URL(`./pipeline-stages/${name}.mjs`, import.meta.url);

/** Every node took what it was given and passed on, ended or counted all of it. */
function expectAccounted(r: PipelineResult): void {
  expect(r.inFlight).toBe(0);
  for (const n of r.nodes) {
    expect(n.in, n.name).toBe(n.out + n.dropped + n.consumed + n.errorDrops + n.lost);
  }
  for (const l of r.links) expect(l.released, `${l.from} > ${l.to}`).toBe(l.sent);
}

describe('pipeline', () => {
  requireBuilt();

  it('delivers every packet a generator produced through lb to two workers', async () => {
    const r = await new Pipeline({ ring: 256 })
      .source(generator({ flows: 64, count: 50_000 }))
      .stage('lb', lb({ onFull: 'wait' }))
      .stage('count', counter(), { workers: 2 })
      .run();
    expect(r.produced).toBe(50_000);
    expect(r.delivered).toBe(50_000);
    expect(r.dropped).toBe(0);
    expectAccounted(r);
    const lbStats = r.nodes.find((n) => n.name === 'lb')?.lb;
    expect(lbStats?.outputs.reduce((t, o) => t + o.forwarded, 0)).toBe(50_000);
    // Both workers got traffic (64 flows over 2 outputs).
    const perWorker = r.links.filter((l) => l.from === 'lb#0').map((l) => l.sent);
    expect(perWorker.every((n) => n > 0)).toBe(true);
  });

  it('sends both directions of a connection to the same worker when a stage has several', async () => {
    const r = await new Pipeline()
      .source(generator({ flows: 40, count: 4000, bidirectional: true }))
      .stage('flows', stage('flows-by-worker'), { workers: 3 })
      .run();
    const byWorker = r.results.flows as Array<{ worker: number; flows: string[] }>;
    const owner = new Map<string, number>();
    for (const w of byWorker) {
      for (const f of w.flows) {
        expect(owner.has(f), `${f} seen by workers ${owner.get(f)} and ${w.worker}`).toBe(false);
        owner.set(f, w.worker);
      }
    }
    expect(owner.size).toBe(40);
    expectAccounted(r);
  });

  it('carries an in-place edit to the next stage: TTL decremented, checksum still right', async () => {
    const seen: number[] = [];
    let badChecksums = 0;
    const h = new PacketHeaders();
    const r = await new Pipeline()
      .source(generator({ flows: 5, count: 3000 }))
      .stage('ttl', stage('ttl'))
      .stage('ttl2', stage('ttl'))
      .stage(
        'out',
        toMain((b) => {
          for (let i = 0; i < b.length; i++) {
            h.parse(b.data, b.offset(i), b.len(i));
            seen.push(h.ttl);
            if (!ipv4ChecksumOk(b.data, h.l3)) badChecksums++;
          }
        }),
      )
      .run();
    expect(seen.length).toBe(3000);
    expect(new Set(seen)).toEqual(new Set([62]));
    expect(badChecksums).toBe(0);
    expectAccounted(r);
  });

  it('routes to a named output: the filter sends one flow to another stage', async () => {
    const rejectedPort = generatorFlow(0).dstPort;
    const r = await new Pipeline()
      .source(generator({ flows: 4, count: 4000 }))
      .stage('filter', stage('filter'), { options: { port: rejectedPort }, to: { default: 'kept', rejected: 'rej' } })
      .stage('kept', counter())
      .stage('rej', counter())
      .run();
    // Every generator flow goes to the same port: all are rejected.
    expect(r.nodes.find((n) => n.name === 'rej')?.consumed).toBe(4000);
    expect(r.nodes.find((n) => n.name === 'kept')?.consumed).toBe(0);
    expectAccounted(r);
  });

  it('rejects run() with the stage name and the packet position when a stage throws; the rest drains and counts', async () => {
    const p = new Pipeline({ ring: 64, batch: 16 })
      .source(generator({ flows: 8, count: 20_000 }))
      .stage('bad', stage('throws'), { options: { at: 1234 } })
      .stage('sink', counter());
    const err = await p.run().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PipelineError);
    const e = err as PipelineError;
    expect(e.stage).toBe('bad');
    expect(e.worker).toBe(0);
    expect(e.position).toBe(1234);
    expect(e.message).toContain("stage 'bad'");
    expect(e.message).toContain('packet 1234');
    expect((e.cause as Error).message).toBe('bad packet 1234');
    // Nothing lost uncounted: what the source made was delivered or dropped (the failed
    // stage's input counted as error drops).
    expect(e.stats.inFlight).toBe(0);
    const bad = e.stats.nodes.find((n) => n.name === 'bad');
    expect(bad?.errorDrops).toBeGreaterThan(0);
    expect(e.stats.produced).toBe(e.stats.delivered + e.stats.dropped);
  });

  it('rejects run() when a stage fails to start, before any packet flows', async () => {
    const err = await new Pipeline()
      .source(generator({ count: 1000 }))
      .stage('s', stage('create-throws'))
      .run()
      .then(
        () => null,
        (e: unknown) => e as PipelineError,
      );
    expect(err).toBeInstanceOf(PipelineError);
    expect(err?.stage).toBe('s');
    expect(err?.during).toBe('create');
    expect(err?.message).toContain('cannot start');
    expect(err?.stats.produced).toBe(0);
  });

  it('stops on an AbortSignal and drains: every packet produced is delivered', async () => {
    const ac = new AbortController();
    const p = new Pipeline()
      .source(generator({ flows: 16 }))
      .stage('lb', lb({ onFull: 'wait' }))
      .stage('count', counter(), { workers: 2 });
    const run = p.run({ signal: ac.signal });
    // Abort once packets flow (the stats say so), not after a fixed time.
    for (let i = 0; i < 2000 && !(p.stats().delivered > 1000); i++) await new Promise((r) => setTimeout(r, 5));
    ac.abort();
    const r = await run;
    expect(r.produced).toBeGreaterThan(1000);
    expect(r.delivered).toBe(r.produced);
    expectAccounted(r);
  });

  it('stops after `seconds` and drains', async () => {
    const r = await new Pipeline().source(generator()).stage('count', counter()).run({ seconds: 0.3 });
    expect(r.produced).toBeGreaterThan(0);
    expect(r.delivered).toBe(r.produced);
    expectAccounted(r);
  });

  it('feeds frames from the main thread and hands batches back with for await', async () => {
    const frames = Array.from({ length: 500 }, (_, i) =>
      buildFrame({ src: i + 1, dst: 2, srcPort: i, len: 60 + (i % 7) }),
    );
    const p = new Pipeline({ ring: 32, batch: 8 })
      .source(fromFrames(frames))
      .stage('ttl', stage('ttl'), { workers: 2 })
      .stage('out', toMain());
    const run = p.run();
    const h = new PacketHeaders();
    const srcs: number[] = [];
    let lens = 0;
    for await (const b of p.output('out')) {
      for (let i = 0; i < b.length; i++) {
        h.parse(b.data, b.offset(i), b.len(i));
        srcs.push(h.ipv4Src);
        lens += b.len(i);
        expect(h.ttl).toBe(63);
      }
    }
    const r = await run;
    expect(srcs.sort((a, b) => a - b)).toEqual(frames.map((_, i) => i + 1));
    expect(lens).toBe(frames.reduce((t, f) => t + f.length, 0));
    expectAccounted(r);
  });

  it('takes frames from a fill function on the main thread until it returns -1', async () => {
    let left = 300;
    const frame = buildFrame({ len: 64 });
    const r = await new Pipeline()
      .source(
        fromFunction((w, max) => {
          if (left === 0) return -1;
          const k = Math.min(max, left);
          for (let i = 0; i < k; i++) {
            w.data.set(frame, w.offset(i));
            w.setLen(i, frame.length);
          }
          left -= k;
          return k;
        }),
      )
      .stage('count', counter())
      .run();
    expect(r.produced).toBe(300);
    expect(r.delivered).toBe(300);
    expect(r.nodes.find((n) => n.name === 'count')?.bytes).toBe(300 * 64);
  });

  it("gives every packet to each of lb's groups in turn", async () => {
    const r = await new Pipeline({ ring: 64 })
      .source(generator({ flows: 32, count: 10_000 }))
      .stage('lb', lb({ onFull: 'wait' }), { to: ['first', 'second'] })
      .stage('first', counter(), { workers: 2 })
      .stage('second', counter())
      .run();
    expect(r.nodes.find((n) => n.name === 'first')?.consumed).toBe(10_000);
    expect(r.nodes.find((n) => n.name === 'second')?.consumed).toBe(10_000);
    expect(r.inFlight).toBe(0);
  });

  it('counts what a stage drops', async () => {
    const frames = [buildFrame({ ttl: 0 }), buildFrame({ ttl: 5 }), buildFrame({ ttl: 0 })];
    const r = await new Pipeline()
      .source(fromFrames(frames))
      .stage('ttl', stage('ttl'))
      .stage('count', counter())
      .run();
    expect(r.nodes.find((n) => n.name === 'ttl')?.dropped).toBe(2);
    expect(r.delivered).toBe(1);
    expect(r.produced).toBe(r.delivered + r.dropped);
  });

  it('keeps the stage loops free of per-packet allocation', async () => {
    const r = await new Pipeline()
      .source(generator({ flows: 256, count: 2_000_000 }))
      .stage('lb', lb({ onFull: 'wait' }))
      .stage('count', counter(), { workers: 2 })
      .run();
    for (const t of r.threads) {
      // A GC in the window makes the heap growth meaningless; otherwise well under a byte
      // a packet (what a run allocates once, spread over its packets).
      if (t.allocBytesPerPacket !== null) expect(t.allocBytesPerPacket, `${t.node}#${t.worker}`).toBeLessThan(1);
    }
    expect(r.delivered).toBe(2_000_000);
  });
});

describe('pipeline misuse is refused before anything starts', () => {
  const base = () => new Pipeline().source(generator({ count: 10 }));
  const refused = async (p: Pipeline, code: string, text: string) => {
    const err = await p.run().then(
      () => null,
      (e: unknown) => e as { code?: string; message: string },
    );
    expect(err, text).not.toBeNull();
    expect(err?.code).toBe(code);
    expect(err?.message).toContain(text);
  };

  it('a stage module that does not exist', async () => {
    await refused(base().stage('x', stage('nope')), 'ENOENT', "stage 'x': cannot load");
  });
  it('a module that exports no stage', async () => {
    await refused(base().stage('x', stage('no-stage')), 'EINVAL', 'exports no stage');
  });
  it('a cycle', async () => {
    const p = base().stage('a', stage('ttl'), { to: 'b' }).stage('b', stage('ttl'), { to: 'a' });
    await refused(p, 'EINVAL', 'cycle');
  });
  it('a named output nobody consumes', async () => {
    await refused(
      base()
        .stage('f', stage('filter'), { options: { port: 1 } })
        .stage('c', counter()),
      'EINVAL',
      "output 'rejected' of 'f' goes nowhere",
    );
  });
  it('an output the stage does not declare', async () => {
    const p = base()
      .stage('t', stage('ttl'), { to: { default: 'c', extra: 'c' } })
      .stage('c', counter());
    await refused(p, 'EINVAL', "'t' has no output 'extra'");
  });
  it('an output to a stage that does not exist', async () => {
    await refused(base().stage('t', stage('ttl'), { to: 'nowhere' }), 'EINVAL', "'nowhere', which is not a stage");
  });
  it('0 workers', () => {
    expect(() => base().stage('c', counter(), { workers: 0 })).toThrow(/workers must be an integer from 1/);
  });
  it('a stage nothing feeds', async () => {
    await refused(base().stage('a', counter()).stage('b', counter()), 'EINVAL', "stage 'b' has no input");
  });
  it('lb fed by several threads', async () => {
    const p = base().stage('t', stage('ttl'), { workers: 2 }).stage('lb', lb()).stage('c', counter());
    await refused(p, 'EINVAL', "lb 'lb' reads one input");
  });
  it('an lb group before the last that forwards', async () => {
    const p = base()
      .stage('lb', lb(), { to: ['t', 'c'] })
      .stage('t', stage('ttl'), { to: 'c2' })
      .stage('c', counter())
      .stage('c2', counter());
    await refused(p, 'EINVAL', 'must only read');
  });
  it('an endless source with no way to stop', async () => {
    await refused(new Pipeline().source(generator()).stage('c', counter()), 'EINVAL', 'the run needs an end');
  });
  it('no source, two sources, a duplicate name', () => {
    expect(() => new Pipeline().stage('a', counter()).stage('a', counter())).toThrow(/two stages are named 'a'/);
    expect(() => new Pipeline().source(generator()).source(generator())).toThrow(/one source/);
  });
  it('a stage asking for an output it did not declare fails at start, naming it', async () => {
    const err = await base()
      .stage('u', stage('undeclared'))
      .run()
      .then(
        () => null,
        (e: unknown) => e as PipelineError,
      );
    expect(err?.message).toContain("no output named 'missing'");
  });
});

describe('pipeline helpers', () => {
  it('decrementTtl keeps the IPv4 checksum valid', () => {
    const f = buildFrame({ ttl: 200 });
    for (let i = 0; i < 200; i++) {
      expect(decrementTtl(f, 14)).toBe(199 - i);
      expect(ipv4ChecksumOk(f, 14)).toBe(true);
    }
    expect(decrementTtl(f, 14)).toBe(-1);
  });
});

describe('isolated stages', () => {
  it('gives each link into an isolated stage a memory region of its own, and copies packets into it', async () => {
    const r = await new Pipeline()
      .source(generator({ flows: 16, count: 5000 }))
      .stage('ttl', stage('ttl'))
      .stage('private', stage('ttl'), { isolate: true, workers: 2 })
      .stage('c', counter())
      .run();
    expect(r.delivered).toBe(5000);
    expectAccounted(r);
    const into = r.links.filter((l) => l.to.startsWith('private#'));
    const others = r.links.filter((l) => !l.to.startsWith('private#'));
    expect(into).toHaveLength(2);
    const regions = new Set(into.map((l) => l.region));
    expect(regions.size).toBe(2);
    for (const l of others) expect(regions.has(l.region), `${l.from} > ${l.to}`).toBe(false);
  });

  it('refuses to isolate lb or a group of lb (lb is zero copy)', async () => {
    expect(() => new Pipeline().stage('lb', lb(), { isolate: true })).toThrow(/cannot be isolated/);
    const err = await new Pipeline()
      .source(generator({ count: 10 }))
      .stage('lb', lb())
      .stage('c', counter(), { isolate: true })
      .run()
      .then(
        () => null,
        (e: unknown) => e as Error,
      );
    expect(err?.message).toContain("its group 'c' cannot be isolated");
  });
});
