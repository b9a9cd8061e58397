/**
 * The CLI's error contract: every bad input is ONE line on stderr starting with
 * `sabnetmap: ` that names the problem, exit code 2, no stack trace. And a good
 * `pkt-gen --json` run prints one JSON object whose fields are typed and consistent.
 * The CLI runs from dist/ (`npx tsc -p tsconfig.build.json` first).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from './helpers.js';

const BAD: Array<[string, string[], RegExp]> = [
  ['an unknown port type', ['pkt-gen', '--port', 'nope'], /nope|port/],
  ['a ring of 0 slots', ['pkt-gen', '--ring', '0'], /ring/],
  ['a ring of 100000 slots', ['pkt-gen', '--ring', '100000'], /ring/],
  ['len above the buffer size', ['pkt-gen', '--len', '5000'], /len/],
  ['batch 0', ['pkt-gen', '--batch', '0'], /batch/],
  ['an unknown option', ['pkt-gen', '--frobnicate'], /frobnicate/],
  ['negative seconds', ['pkt-gen', '--seconds', '-1'], /seconds/],
  ['negative seconds (--seconds=-1)', ['pkt-gen', '--seconds=-1'], /seconds/],
  ['negative count', ['pkt-gen', '--count', '-5'], /count/],
  ['seconds 0 without a count (a run that would never end)', ['pkt-gen', '--seconds', '0'], /seconds|count/],
  ['an unknown command', ['nope'], /nope/],
  ['a ping endpoint that does not exist', ['ping', '--a', 'vm'], /host, guest, emulated/],
  ['an unknown ping peer mode', ['ping', '--peer', 'drowsy'], /peer/],
  ['a ping count of 0', ['ping', '--count', '0'], /count/],
  ['a flagship run of 0 seconds a point', ['start', '--seconds', '0'], /--seconds must be/],
  ['a flagship run with an unknown option', ['start', '--fast'], /fast/],
  ['an isolation guest that does not exist', ['isolation', '--guest', 'evil'], /--guest must be hostile/],
  ['an isolation port that does not exist', ['isolation', '--port', 'nic'], /--port must be pipe or vale/],
  ['an isolation run of 0 seconds', ['isolation', '--seconds', '0'], /--seconds must be/],
  ['an isolation seed of 0', ['isolation', '--seed', '0'], /--seed must be/],
  ['--version with an argument', ['--version', 'now'], /--version takes no argument/],
];

describe('sabnetmap CLI errors', () => {
  it.each(BAD)('%s: one line on stderr, exit 2, no stack', async (_what, args, names) => {
    const r = await cli(args);
    const where = `sabnetmap ${args.join(' ')}\n--- stderr ---\n${r.stderr}--- stdout ---\n${r.stdout}`;
    expect(r.signal, where).toBeNull();
    expect(r.code, where).toBe(2);
    const lines = r.stderr.replace(/\n$/, '').split('\n');
    expect(lines, where).toHaveLength(1);
    expect(lines[0].startsWith('sabnetmap: '), where).toBe(true);
    expect(lines[0].length, where).toBeGreaterThan('sabnetmap: '.length);
    expect(lines[0], where).toMatch(names);
    expect(r.stderr, where).not.toContain('    at ');
    expect(r.stdout, where).not.toContain('    at ');
  });
});

describe('sabnetmap --version', () => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

  it.each(['--version', '-v'])('%s prints the version from package.json on one line, exit 0', async (flag) => {
    const r = await cli([flag]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`sabnetmap ${pkg.version}\n`);
  });

  it('help lists --version', async () => {
    const r = await cli(['help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ {2}--version +the version/m);
  });
});

describe('sabnetmap pkt-gen --json', () => {
  it('prints one JSON object with typed, consistent fields', async () => {
    const r = await cli(['pkt-gen', '--port', 'pipe', '--seconds', '1', '--json'], 90_000);
    const where = `--- stderr ---\n${r.stderr}--- stdout ---\n${r.stdout}`;
    expect(r.code, where).toBe(0);
    expect(r.stderr, where).not.toContain('    at ');
    let out: Record<string, unknown> = {};
    expect(() => {
      out = JSON.parse(r.stdout.trim());
    }, where).not.toThrow();
    expect(typeof out, where).toBe('object');
    expect(Array.isArray(out), where).toBe(false);
    const numeric = [
      'mpps',
      'mppsMin',
      'mppsMax',
      'packets',
      'bytes',
      'seconds',
      'avgBatch',
      'drops',
      'seqErrors',
      'notifiesPerPacket',
      'cores',
    ];
    for (const k of numeric) {
      expect(typeof out[k], `${k}: ${JSON.stringify(out[k])}`).toBe('number');
      expect(Number.isFinite(out[k]), k).toBe(true);
      expect(out[k] as number, k).toBeGreaterThanOrEqual(0);
    }
    expect(typeof out.node).toBe('string');
    expect(out.node).toBe(process.version);
    const n = out as Record<string, number>;
    expect(n.packets).toBeGreaterThan(0);
    expect(Number.isInteger(n.packets)).toBe(true);
    expect(n.bytes).toBe(n.packets * 60);
    expect(n.seconds).toBeGreaterThan(0);
    expect(n.mppsMin).toBeLessThanOrEqual(n.mpps);
    expect(n.mpps).toBeLessThanOrEqual(n.mppsMax);
    expect(n.mppsMax).toBeGreaterThan(0);
    expect(n.avgBatch).toBeGreaterThan(0);
    expect(n.avgBatch).toBeLessThanOrEqual(64); // the default batch
    expect(n.drops).toBe(0);
    expect(n.seqErrors).toBe(0);
    expect(Number.isInteger(n.cores) && n.cores >= 1).toBe(true);
  }, 120_000);
});

describe('sabnetmap pkt-gen --trace FILE', () => {
  it('writes Chrome trace JSON: a named thread per role, syncs, and sleeps with their length', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sabnetmap-pktgen-trace-'));
    try {
      const file = join(dir, 'run.json');
      // Spin 0: both apps sleep as soon as they run out of work.
      const r = await cli(['pkt-gen', '--seconds', '0.3', '--spin-us', '0', '--trace', file, '--json'], 90_000);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { threads: number };
      expect(existsSync(file)).toBe(true);
      const t = JSON.parse(readFileSync(file, 'utf8')) as {
        traceEvents: Array<{ name: string; ph: string; tid: number; dur?: number; args?: { name?: string } }>;
      };
      expect(Array.isArray(t.traceEvents)).toBe(true);
      const names = t.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name');
      expect(names).toHaveLength(out.threads);
      expect(names.map((e) => e.args?.name)).toEqual(['host tx', 'host rx']);
      expect(t.traceEvents.some((e) => e.name === 'txsync' || e.name === 'rxsync')).toBe(true);
      const sleeps = t.traceEvents.filter((e) => e.name === 'sleep');
      expect(sleeps.length).toBeGreaterThan(0);
      for (const e of sleeps) {
        expect(e.ph).toBe('X');
        expect(typeof e.dur).toBe('number');
        expect(e.dur).toBeGreaterThanOrEqual(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('sabnetmap ping --json', () => {
  it('a guest endpoint, asleep: the round trips go through the CSB, with interrupts', async () => {
    const r = await cli(['ping', '--a', 'guest', '--peer', 'asleep', '--count', '300', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ a: 'guest', b: 'host', count: 300, threads: 3 });
    expect(out.rttUs.min).toBeLessThanOrEqual(out.rttUs.median);
    expect(out.irqsPerPacket).toBeGreaterThan(0);
  });

  it.each([
    ['pipe', 'asleep'],
    ['vale', 'awake'],
  ])('over %s with the peer %s: every round trip timed, min <= median <= p99', async (port, peer) => {
    const r = await cli(['ping', '--port', port, '--peer', peer, '--count', '300', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ port, peer, count: 300, a: 'host', b: 'host' });
    const { min, median, p99 } = out.rttUs;
    for (const v of [min, median, p99]) expect(typeof v).toBe('number');
    expect(min).toBeGreaterThan(0);
    expect(min).toBeLessThanOrEqual(median);
    expect(median).toBeLessThanOrEqual(p99);
    // Asleep means every packet wakes the peer: sleeps happen; awake peers do not sleep per packet.
    if (peer === 'asleep') expect(out.sleepsPerPacket).toBeGreaterThan(0.5);
    else expect(out.sleepsPerPacket).toBeLessThan(0.5);
  });
});
