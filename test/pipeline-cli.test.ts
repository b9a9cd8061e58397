/**
 * The pipeline commands of the CLI (from dist/: `npm run build` first): `sabnetmap lb`
 * and `sabnetmap bench pipeline`. Bad input is one line and exit code 2.
 */
import { describe, expect, it } from 'vitest';
import { cli } from './helpers.js';

describe('sabnetmap lb', () => {
  it('forwards every packet of a counted input to its pipes, each group seeing all of them', async () => {
    const r = await cli(['lb', '--count', '30000', '--flows', '64', '-p', '3', '-p', 'audit:1', '--wait', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.received).toBe(30000);
    expect(out.dropped).toBe(0);
    expect(out.forwarded).toBe(60000);
    expect(out.groups).toEqual([
      { name: 'pipe0', pipes: 3, consumed: 30000 },
      { name: 'audit', pipes: 1, consumed: 30000 },
    ]);
    expect(out.outputs).toHaveLength(4);
  });

  it("prints lb's per-output stats as JSON lines, then lb's last line", async () => {
    const r = await cli(['lb', '--count', '20000', '-s', '0.05', '-B', '256']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[lines.length - 1]).toMatch(/^\d+ packets forwarded\. {2}\d+ packets dropped\. Total 20000$/);
  });

  it('refuses bad options with one line and exit code 2', async () => {
    for (const [args, text] of [
      [['lb', '-p', '0'], "-p '0': the number of pipes"],
      [['lb', '-i', '/nonexistent.pcap'], 'no such file'],
      [['lb', '-B', 'x'], '-B must be an integer'],
      [['lb', '--bogus'], "Unknown option '--bogus'"],
    ] as const) {
      const r = await cli([...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(text);
    }
  });
});

describe('sabnetmap bench pipeline', () => {
  it('runs the four builds (sabnetmap also without an lb thread) and reports each in JSON', async () => {
    const r = await cli(['bench', 'pipeline', '--seconds', '0.3', '--json'], 180_000);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.results.map((l: { name: string }) => l.name)).toEqual([
      'sabnetmap',
      'sabnetmap-fanout',
      'postMessage',
      'ringbuf.js',
      'single-thread',
    ]);
    for (const l of out.results) expect(l.mpps, l.name).toBeGreaterThan(0);
    expect(out.sabnetmapThreads.map((t: { node: string }) => t.node)).toEqual(['source', 'lb', 'count', 'count']);
    expect(out).toMatchObject({ ring: 4096, batch: 64, bufSize: 64, len: 60, rounds: 3 });
  });

  it('with rounds, the ratio is the median of the rounds: between their lowest and highest', async () => {
    const r = await cli(['bench', 'pipeline', '--seconds', '0.3', '--rounds', '2', '--json'], 180_000);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.rounds).toBe(2);
    expect(out.ratioMin).toBeGreaterThan(0);
    expect(out.ratioMin).toBeLessThanOrEqual(out.ratioToBestMultiThread);
    expect(out.ratioToBestMultiThread).toBeLessThanOrEqual(out.ratioMax);
    const sab = out.results.find((l: { name: string }) => l.name === 'sabnetmap');
    expect(sab.mppsMin).toBeLessThanOrEqual(sab.mpps);
    expect(sab.mpps).toBeLessThanOrEqual(sab.mppsMax);
  });

  it('refuses a bad --rounds with one line and exit code 2', async () => {
    const r = await cli(['bench', 'pipeline', '--rounds', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe("sabnetmap: --rounds must be an integer from 1 to 20, got '0'");
  });

  it('refuses a bad --seconds with one line and exit code 2', async () => {
    const r = await cli(['bench', 'pipeline', '--seconds', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe("sabnetmap: --seconds must be a number of seconds from 0 to 600, got 'x'");
  });

  it('refuses a --buf-size the frames do not fit in, with one line and exit code 2', async () => {
    const r = await cli(['bench', 'pipeline', '--buf-size', '32']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      "sabnetmap: --buf-size must be a multiple of 64 from 64 (the frames fit) to 65472, got '32'",
    );
  });

  it('is in the help', async () => {
    const r = await cli(['help']);
    expect(r.stdout).toContain('bench pipeline');
    expect(r.stdout).toMatch(/\n {2}lb {11}netmap's load balancer/);
  });
});
