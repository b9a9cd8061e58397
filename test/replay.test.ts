/**
 * Replay and capture: captures round-trip through pipes, VALE and NIC ports byte for byte
 * and in order (frames longer than a buffer as NS_MOREFRAG chains, up to 64 KiB), bad
 * captures are clear errors after what came before them, the replay's schedule, and the
 * VALE monitor behind `capture`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ReplaySchedule, replayInto } from '../src/apps/pcap-io.js';
import { type ReplayPort, runReplay } from '../src/apps/replay-run.js';
import { attachPort, Netmap } from '../src/netmap.js';
import { createCapture, openCapture, readCaptureBytes } from '../src/pcap/index.js';
import { cli, expectCode, requireBuilt } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'sabnetmap-replay-'));
afterAll(() => {
  execFileSync('rm', ['-rf', dir]);
});

interface Frame {
  bytes: Uint8Array;
  tsSec: number;
  tsNsec: number;
}

/** Frames of the given lengths, broadcast (so VALE floods them), each with its own bytes. */
function frames(lens: number[]): Frame[] {
  return lens.map((len, i) => {
    const b = new Uint8Array(len);
    for (let j = 0; j < len; j++) b[j] = (j * 7 + i * 31) & 0xff;
    b.fill(0xff, 0, 6);
    b.set([2, 0, 0, 0, 9, (i % 200) + 1], 6);
    return { bytes: b, tsSec: 1_700_000_000 + Math.floor(i / 1000), tsNsec: (i % 1000) * 1000 };
  });
}

function write(path: string, fs: Frame[]): string {
  const w = createCapture(path);
  for (const f of fs) w.write(f.bytes, 0, f.bytes.length, f.bytes.length, f.tsSec, f.tsNsec);
  w.close();
  return path;
}

function read(path: string): Uint8Array[] {
  const r = openCapture(path);
  const out: Uint8Array[] = [];
  for (let rec = r.next(); rec !== null; rec = r.next()) out.push(rec.data.slice(rec.offset, rec.offset + rec.caplen));
  r.close();
  return out;
}

const LENS = [60, 61, 1514, 2048, 2049, 9000, 65535, 100, 4096, 64];
const mixed = frames(Array.from({ length: 120 }, (_, i) => LENS[i % LENS.length]));

describe('replay: a capture through a port arrives unchanged', () => {
  requireBuilt();
  const input = write(join(dir, 'in.pcap'), mixed);

  for (const [port, tx] of [
    ['pipe', 'host'],
    ['vale', 'host'],
    ['nic', 'host'],
    ['pipe', 'guest'],
    ['nic', 'guest'],
    ['vale', 'emulated'],
  ] as Array<[ReplayPort, 'host' | 'guest' | 'emulated']>) {
    it(`${port}, replayed by a ${tx} app: every frame (64 KiB ones as fragment chains) byte for byte, in order`, async () => {
      const out = join(dir, `out-${port}-${tx}.pcap`);
      const r = await runReplay({ file: input, port, tx, timing: 'fast', out });
      expect(r.sent.frames).toBe(mixed.length);
      expect(r.sent.slots).toBeGreaterThan(mixed.length);
      expect(read(out)).toEqual(mixed.map((f) => f.bytes));
    });
  }

  it('a pcapng capture replays too, and --out FILE.pcapng writes pcapng', async () => {
    const ng = write(join(dir, 'in.pcapng'), mixed.slice(0, 20));
    const out = join(dir, 'out.pcapng');
    await runReplay({ file: ng, timing: 'fast', out });
    expect(openCapture(out).format).toBe('pcapng');
    expect(read(out)).toEqual(mixed.slice(0, 20).map((f) => f.bytes));
  });

  it('--loop 3 sends the capture three times, in order each time', async () => {
    const small = write(join(dir, 'small.pcap'), mixed.slice(0, 5));
    const out = join(dir, 'loop.pcap');
    await runReplay({ file: small, timing: 'fast', loop: 3, out });
    const want = mixed.slice(0, 5).map((f) => f.bytes);
    expect(read(out)).toEqual([...want, ...want, ...want]);
  });
});

describe('replay: bad captures', () => {
  requireBuilt();
  const good = readFileSync(write(join(dir, 'good.pcap'), mixed.slice(0, 10)));

  it('a truncated capture: exit 2 naming the file and byte offset, and the frames before it arrive', async () => {
    // Cut inside the 7th record (65535 bytes): six whole records come before it.
    const path = join(dir, 'trunc.pcap');
    writeFileSync(path, good.subarray(0, 24 + 6 * 16 + LENS.slice(0, 6).reduce((a, b) => a + b, 0) + 100));
    const out = join(dir, 'trunc-out.pcap');
    const r = await cli(['replay', path, '--timing', 'fast', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(
      `${path}: byte ${24 + 6 * 16 + LENS.slice(0, 6).reduce((a, b) => a + b, 0)}: record truncated`,
    );
    expect(read(out)).toEqual(mixed.slice(0, 6).map((f) => f.bytes));
  });

  it('a file that is no capture: exit 2 with its magic, before any thread starts', async () => {
    const path = join(dir, 'text.pcap');
    writeFileSync(path, 'hello, this is not a capture\n');
    const r = await cli(['replay', path]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('bad magic');
  });

  it('a file that does not exist: exit 2, no such file', async () => {
    const r = await cli(['replay', join(dir, 'nope.pcap')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no such file');
  });

  it('bad flags: exit 2 with one line each', async () => {
    for (const args of [
      ['replay'],
      ['replay', 'x.pcap', '--rate', 'fast'],
      ['replay', 'x.pcap', '--timing', 'slow'],
      ['replay', 'x.pcap', '--port', 'tap'],
      ['replay', 'x.pcap', '--port', 'nic', '--tx', 'emulated'],
      ['replay', 'x.pcap', '--timing', 'fast', '--speedup', '2'],
      ['capture'],
      ['capture', '--out', 'x.pcap', '--watch', 'c'],
    ]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
  });

  it('a frame longer than the ring can hold as a chain is counted and not sent', () => {
    const nm = new Netmap();
    const a = nm.open('pipe9{', { ringSize: 8 });
    const b = nm.open('pipe9}', { ringSize: 8 });
    const bytes = new Uint8Array(readFileSync(write(join(dir, 'long.pcap'), frames([60, 65535, 60]))).buffer.slice(0));
    const r = replayInto(a, readCaptureBytes(bytes, 'long.pcap'), { timing: 'fast' });
    expect(r.frames).toBe(2);
    expect(r.tooLong).toBe(1);
    b.rxsync();
    expect(b.rx.space()).toBe(2);
    a.close();
    b.close();
  });
});

describe('replay: the schedule', () => {
  it('recorded timing: each frame is due at its gap from the first, divided by the speedup', () => {
    const s = new ReplaySchedule({ timing: 'recorded', pps: 0, bps: 0, speedup: 2 });
    expect(s.due(100, 0, 60, 5)).toBe(5);
    expect(s.due(100, 4_000_000, 60, 9)).toBe(5 + 2);
    expect(s.due(101, 0, 60, 9)).toBe(5 + 500);
  });

  it('a new round restarts the recorded clock when its first frame goes', () => {
    const s = new ReplaySchedule({ timing: 'recorded', pps: 0, bps: 0, speedup: 1 });
    s.due(100, 0, 60, 0);
    s.due(100, 10_000_000, 60, 1);
    s.newRound();
    expect(s.due(100, 0, 60, 30)).toBe(30);
    expect(s.due(100, 10_000_000, 60, 31)).toBe(40);
  });

  it('a timestamp earlier than the first is due at once (never before the round started)', () => {
    const s = new ReplaySchedule({ timing: 'recorded', pps: 0, bps: 0, speedup: 1 });
    s.due(100, 500, 60, 3);
    expect(s.due(99, 0, 60, 4)).toBe(3);
  });

  it('a constant packet rate spaces frames 1/pps apart, a bit rate by their bits', () => {
    const p = new ReplaySchedule({ timing: 'recorded', pps: 1000, bps: 0, speedup: 1 });
    expect([p.due(0, 0, 60, 0), p.due(0, 0, 60, 0), p.due(0, 0, 60, 0)]).toEqual([0, 1, 2]);
    const b = new ReplaySchedule({ timing: 'recorded', pps: 0, bps: 8000, speedup: 1 });
    expect([b.due(0, 0, 100, 0), b.due(0, 0, 50, 0), b.due(0, 0, 10, 0)]).toEqual([0, 100, 150]);
  });
});

describe('capture: a monitor on a VALE switch', () => {
  /** Sends `n` frames from `p` to `dst` (a MAC, or broadcast). */
  function send(p: ReturnType<Netmap['open']>, n: number, dst: number[], src: number): void {
    const t = p.tx;
    for (let i = 0; i < n; i++) {
      const k = t.head;
      const buf = t.buf(k);
      buf.set(dst, 0);
      buf.set([2, 0, 0, 0, 0, src], 6);
      t.setLen(k, 60);
      t.advance(t.next(k));
    }
    p.txsync();
  }
  const BCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

  it('watching the whole switch: the monitor gets every frame any port sends', () => {
    const nm = new Netmap();
    const a = nm.open('vale1:a');
    const b = nm.open('vale1:b');
    const mon = attachPort(nm.monitor('vale1:mon'));
    send(a, 5, BCAST, 1);
    send(b, 3, BCAST, 2);
    mon.rxsync();
    expect(mon.rx.space()).toBe(8);
    for (const p of [a, b, mon]) p.close();
  });

  it('watching one port: the monitor gets what it sends and what is delivered to it, nothing else', () => {
    const nm = new Netmap();
    const a = nm.open('vale2:a');
    const b = nm.open('vale2:b');
    const c = nm.open('vale2:c');
    send(b, 1, BCAST, 2); // b learned
    send(c, 1, BCAST, 3); // c learned
    const mon = attachPort(nm.monitor('vale2:mon', { watch: 'a' }));
    send(a, 4, [2, 0, 0, 0, 0, 2], 1); // a -> b: watched (sent by a)
    send(b, 2, [2, 0, 0, 0, 0, 1], 2); // b -> a: watched (delivered to a)
    send(b, 3, [2, 0, 0, 0, 0, 3], 2); // b -> c: not watched
    mon.rxsync();
    expect(mon.rx.space()).toBe(6);
    // The monitor is no destination: flooding never reaches it as traffic.
    expect(nm.valeCtl()[0].ports.find((p) => p.name === 'mon')?.counters.rx).toBe(6);
    for (const p of [a, b, c, mon]) p.close();
  });

  it('a monitor that cannot keep up counts its drops and the switch forwards on', () => {
    const nm = new Netmap();
    const a = nm.open('vale3:a', { ringSize: 64 });
    const b = nm.open('vale3:b', { ringSize: 64 });
    const mon = attachPort(nm.monitor('vale3:mon', { ringSize: 8 }));
    send(a, 40, BCAST, 1);
    b.rxsync();
    expect(b.rx.space()).toBe(40);
    const ports = nm.valeCtl()[0].ports;
    expect(ports.find((p) => p.name === 'mon')?.counters.drops).toBe(33);
    for (const p of [a, b, mon]) p.close();
  });

  it('the monitor goes with its port, and a switch has one monitor at a time', () => {
    const nm = new Netmap();
    const a = nm.open('vale4:a');
    const b = nm.open('vale4:b');
    const m1 = attachPort(nm.monitor('vale4:m1'));
    expectCode(() => nm.monitor('vale4:m2'), 'EBUSY');
    expectCode(() => nm.monitor('vale4:m3', { watch: 'zz' }), 'ENOENT');
    m1.close();
    const m2 = attachPort(nm.monitor('vale4:m2'));
    send(a, 2, BCAST, 1);
    m2.rxsync();
    expect(m2.rx.space()).toBe(2);
    for (const p of [a, b, m2]) p.close();
  });

  it('sabnetmap capture --count N writes N frames that tcpdump reads', async () => {
    requireBuilt();
    const out = join(dir, 'cap.pcap');
    const r = await cli(['capture', '--out', out, '--count', '500', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as { captured: number; missed: number };
    expect(res.captured).toBe(500);
    expect(read(out)).toHaveLength(500);
    let tcpdump = '';
    try {
      tcpdump = execFileSync('tcpdump', ['-r', out, '-nn'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      console.log('capture test: tcpdump is not installed, the pcap is checked with our reader only');
      return;
    }
    expect(tcpdump.trim().split('\n')).toHaveLength(500);
  });
});
