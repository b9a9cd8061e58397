/**
 * The examples (examples/*.mjs) run with their documented commands on small inputs, in
 * child processes, and say what they should (their --json output). They import the
 * package by name, so they run against dist/ (`npm run build` first).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { openCapture } from '../src/pcap/index.js';
import { PacketHeaders, parseIpv4 } from '../src/pipeline/headers.js';
import { requireBuilt, runNode } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'sabnetmap-examples-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function example(name: string, args: string[]): Promise<{ code: number | null; out: unknown; stderr: string }> {
  const r = await runNode([join('examples', `${name}.mjs`), ...args, '--json'], { cwd: ROOT, timeoutMs: 120_000 });
  let out: unknown = null;
  try {
    out = JSON.parse(r.stdout);
  } catch {
    out = r.stdout;
  }
  return { code: r.code, out, stderr: r.stderr };
}

describe('examples', () => {
  requireBuilt();
  const passed = join(dir, 'passed.pcap');

  it('chain: rewrites MACs, decrements the TTL with a valid checksum, in three stages', async () => {
    const r = await example('chain', ['--count', '20000', '--flows', '16']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.out).toMatchObject({
      packets: 20000,
      macOk: 20000,
      ttlOk: 20000,
      checksumOk: 20000,
      produced: 20000,
      dropped: 0,
    });
  });

  it('filter: drops the packets of a network, writes the rest to a pcap file', async () => {
    // Flows 0..7 come from 10.0.0.1..10.0.0.8: 10.0.0.0/30 holds flows 0, 1 and 2.
    const r = await example('filter', ['--out', passed, '--net', '10.0.0.0/30', '--flows', '8', '--count', '8000']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.out).toEqual({ in: 8000, passed: 5000, dropped: 3000, written: 5000, file: passed });
    expect(existsSync(passed)).toBe(true);
    const reader = openCapture(passed);
    const h = new PacketHeaders();
    let n = 0;
    const net = parseIpv4('10.0.0.0');
    for (let rec = reader.next(); rec !== null; rec = reader.next()) {
      h.parse(rec.data, rec.offset, rec.caplen);
      expect((h.ipv4Src & 0xfffffffc) >>> 0).not.toBe(net);
      n++;
    }
    reader.close();
    expect(n).toBe(5000);
  });

  it('flow counter: counts every flow once (both directions together) across its two workers', async () => {
    const r = await example('flow-counter', ['--flows', '50', '--count', '20000', '--top', '3']);
    expect(r.code, r.stderr).toBe(0);
    const out = r.out as {
      packets: number;
      flows: number;
      perWorker: Array<{ flows: number }>;
      top: Array<{ packets: number }>;
    };
    expect(out.packets).toBe(20000);
    expect(out.flows).toBe(50);
    expect(out.perWorker.reduce((t, w) => t + w.flows, 0)).toBe(50);
    expect(out.top).toHaveLength(3);
    expect(out.top[0].packets).toBe(400);
  });

  it('flow counter reads a pcap file (the filter example wrote it)', async () => {
    const r = await example('flow-counter', ['--pcap', passed, '--top', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.out).toMatchObject({ packets: 5000, flows: 5 });
  });

  it('filter without --out says what is missing and exits 2', async () => {
    const r = await example('filter', []);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--out FILE is needed');
  });
});
