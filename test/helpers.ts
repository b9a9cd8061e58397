/**
 * Shared test helpers: pipe pairs, kernel-state readers (straight from kernel memory,
 * see KR_* in shm/layout.ts), region snapshots and small send/receive loops.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type TransferListItem, Worker } from 'node:worker_threads';
import { afterEach, expect } from 'vitest';
import {
  COUNTER_NAMES,
  type CounterName,
  KC_COUNT,
  KR_COUNTERS_BYTE,
  KR_HWCUR,
  KR_HWTAIL,
  KR_PEER_TAIL,
  RING_CUR,
  RING_HEAD,
  RING_TAIL,
  SLOT_WORDS,
} from '../shm/layout.js';
import { kringWordBase } from '../shm/region.js';
import { RegionViews } from '../shm/views.js';
import { NetmapError, type NetmapErrorCode } from '../src/errors.js';
import { Netmap, type PortOptions } from '../src/netmap.js';
import { Port, type PortDescriptor } from '../src/port.js';
import type { NetmapRing } from '../src/ring.js';
import { transferList } from '../src/transfer.js';

export interface Pair {
  nm: Netmap;
  /** Master end (`name{`) and slave end (`name}`). */
  a: Port;
  b: Port;
  da: PortDescriptor;
  db: PortDescriptor;
  region: RegionViews;
  n: number;
}

let pipeSeq = 0;

/** Opens both ends of a fresh pipe. */
export function openPair(opts: PortOptions = {}): Pair {
  const nm = new Netmap();
  const name = `tp${pipeSeq++}`;
  const da = nm.register(`${name}{`, opts);
  const db = nm.register(`${name}}`);
  const a = new Port(da);
  const b = new Port(db);
  return { nm, a, b, da, db, region: RegionViews.kernel(da.mem, da.kmem), n: a.numSlots };
}

export function closePair(p: Pair): void {
  p.a.close();
  p.b.close();
}

/** Kernel state of one kring, read from kernel memory. */
export interface KState {
  hwcur: number;
  hwtail: number;
  peerTail: number;
}

export function kstate(desc: PortDescriptor, ringId: number): KState {
  const i32 = new Int32Array(desc.kmem);
  const kb = kringWordBase(ringId);
  return {
    hwcur: Atomics.load(i32, kb + KR_HWCUR),
    hwtail: Atomics.load(i32, kb + KR_HWTAIL),
    peerTail: Atomics.load(i32, kb + KR_PEER_TAIL),
  };
}

/** The private kernel state a Port keeps for its krings (what `save()` copies out). */
export interface PrivateKring {
  id: number;
  hwcur: number;
  hwtail: number;
  rhead: number;
  rcur: number;
}

export function privateKrings(port: Port): { tx: PrivateKring[]; rx: PrivateKring[] } {
  const p = port as unknown as { txk: PrivateKring[]; rxk: PrivateKring[] };
  return { tx: p.txk, rx: p.rxk };
}

/** One ring's counters, by name (from port.counters()). */
export function ringCounters(port: Port, ringId: number): Record<CounterName, number> {
  const c = port.counters().rings.find((r) => r.ring === ringId);
  if (c === undefined) throw new Error(`ring ${ringId} is not on ${port.name}`);
  return c;
}

/** Byte range of kring `id`'s counter block in kernel memory. */
export function counterBytes(ringId: number): [number, number] {
  const start = kringWordBase(ringId) * 4 + KR_COUNTERS_BYTE;
  return [start, start + KC_COUNT * 8];
}

export function counterNames(): readonly CounterName[] {
  return COUNTER_NAMES;
}

export function snapshot(sab: SharedArrayBuffer): Uint8Array {
  return new Uint8Array(sab).slice();
}

/** Byte offsets at which two snapshots differ. */
export function diffBytes(a: Uint8Array, b: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) out.push(i);
  return out;
}

/** Byte offset of ring `id`'s header word `word` in the region. */
export function headerByte(region: RegionViews, id: number, word: number): number {
  return (region.ringWordBase(id) + word) * 4;
}

/** Byte offset of slot `k` of ring `id` in the region. */
export function slotByte(region: RegionViews, id: number, k: number): number {
  return (region.slotWordBase(id) + k * SLOT_WORDS) * 4;
}

/** Raw header word access (bypasses NetmapRing, e.g. to write tail). */
export function setHeader(region: RegionViews, id: number, word: number, v: number): void {
  region.i32[region.ringWordBase(id) + word] = v;
}
export function getHeader(region: RegionViews, id: number, word: number): number {
  return region.i32[region.ringWordBase(id) + word];
}
export function userHeader(region: RegionViews, id: number): { head: number; cur: number; tail: number } {
  return {
    head: getHeader(region, id, RING_HEAD),
    cur: getHeader(region, id, RING_CUR),
    tail: getHeader(region, id, RING_TAIL),
  };
}

/** Circular distance from a to b in a ring of n slots. */
export function dist(a: number, b: number, n: number): number {
  const d = b - a;
  return d < 0 ? d + n : d;
}

/** True when k lies in the circular range [from, to). */
export function inRange(k: number, from: number, to: number, n: number): boolean {
  return dist(from, k, n) < dist(from, to, n);
}

/** A deterministic byte pattern for packet `seq`. */
export function payloadLen(seq: number, bufSize: number): number {
  return 1 + ((seq * 37) % Math.min(bufSize, 300));
}
export function payloadByte(seq: number, i: number): number {
  return (seq * 131 + i * 7 + (seq >>> 8)) & 0xff;
}

/** Writes up to `max` packets (seq, seq+1 ...) into the TX ring and txsyncs. Returns how many. */
export function sendSeq(port: Port, ring: NetmapRing, seq: number, max: number): number {
  let cur = ring.cur;
  let room = dist(cur, ring.tail, ring.numSlots);
  if (room > max) room = max;
  for (let i = 0; i < room; i++) {
    const s = seq + i;
    const len = payloadLen(s, ring.bufSize);
    const buf = ring.buf(cur);
    for (let j = 0; j < len; j++) buf[j] = payloadByte(s, j);
    ring.setLen(cur, len);
    ring.setSlotFlags(cur, 0);
    cur = ring.next(cur);
  }
  ring.advance(cur);
  if (!port.txsync()) throw new Error('txsync rejected a well-formed ring');
  return room;
}

/**
 * Receives up to `max` packets, checking each is `seq`, `seq+1`... byte for byte.
 * Returns how many were consumed (released with an rxsync).
 */
export function recvSeq(port: Port, ring: NetmapRing, seq: number, max: number): number {
  if (!port.rxsync()) throw new Error('rxsync rejected a well-formed ring');
  let cur = ring.cur;
  let avail = dist(cur, ring.tail, ring.numSlots);
  if (avail > max) avail = max;
  for (let i = 0; i < avail; i++) {
    const s = seq + i;
    const len = payloadLen(s, ring.bufSize);
    const got = ring.len(cur);
    if (got !== len) throw new Error(`packet ${s} in slot ${cur}: len ${got}, expected ${len}`);
    const buf = ring.buf(cur);
    for (let j = 0; j < len; j++) {
      if (buf[j] !== payloadByte(s, j)) {
        throw new Error(`packet ${s} in slot ${cur}: byte ${j} is ${buf[j]}, expected ${payloadByte(s, j)}`);
      }
    }
    cur = ring.next(cur);
  }
  ring.advance(cur);
  if (!port.rxsync()) throw new Error('rxsync rejected a well-formed ring');
  return avail;
}

/** mulberry32: a small seeded PRNG for deterministic "random" batch sizes. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- worker threads ----

/** The compiled library the inline workers import (workers always run from dist/). */
export const DIST_LIB = fileURLToPath(new URL('../dist/src/index.js', import.meta.url));

export function requireBuilt(): void {
  if (!existsSync(DIST_LIB)) throw new Error(`${DIST_LIB} is missing: run 'npx tsc -p tsconfig.build.json' first`);
}

export interface InlineWorker {
  worker: Worker;
  /** Resolves with the next message the worker posts (in order). */
  next(): Promise<unknown>;
  /** Resolves with the exit code; rejects if the worker throws. */
  exited: Promise<number>;
}

/**
 * Starts a worker from an inline ESM script (`eval: true`). The script sees `lib` (the
 * compiled library), `workerData` and `parentPort`.
 */
export function inlineWorker(body: string, data: Record<string, unknown>): InlineWorker {
  requireBuilt();
  const code = `import { parentPort, workerData } from 'node:worker_threads';
const lib = await import(workerData.__lib);
${body}
`;
  // A VALE descriptor's update channel must be moved, not copied.
  const transfer = transferList(data) as unknown as TransferListItem[];
  const worker = new Worker(code, {
    eval: true,
    workerData: { ...data, __lib: pathToFileURL(DIST_LIB).href },
    transferList: transfer,
  });
  const queue: unknown[] = [];
  const waiters: Array<(m: unknown) => void> = [];
  worker.on('message', (m) => {
    const w = waiters.shift();
    if (w) w(m);
    else queue.push(m);
  });
  const exited = new Promise<number>((resolve, reject) => {
    worker.on('error', reject);
    worker.on('exit', resolve);
  });
  return {
    worker,
    next: () =>
      queue.length > 0
        ? Promise.resolve(queue.shift())
        : Promise.race([
            new Promise<unknown>((resolve) => waiters.push(resolve)),
            exited.then((c) => {
              throw new Error(`worker exited (${c}) before posting a message`);
            }),
          ]),
    exited,
  };
}

/** Expects `fn` to throw a NetmapError with `code`. */
export function expectCode(fn: () => unknown, code: NetmapErrorCode): NetmapError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${code}`).toBeInstanceOf(NetmapError);
  expect((err as NetmapError).code).toBe(code);
  return err as NetmapError;
}

/** Receives until packet `sent - 1` has arrived; fails (instead of spinning) if nothing comes. */
export function drainSeq(port: Port, ring: NetmapRing, got: number, sent: number): number {
  while (got < sent) {
    const k = recvSeq(port, ring, got, ring.numSlots);
    if (k === 0) throw new Error(`drain stalled: ${sent - got} packets sent but not received`);
    got += k;
  }
  return got;
}

/** Throws after `max` calls: turns a would-be infinite loop into a failure. */
export function loopGuard(max: number, what: string): () => void {
  let i = 0;
  return () => {
    if (++i > max) throw new Error(`${what}: no progress after ${max} iterations`);
  };
}

/** Opens pipe pairs for a test file and closes every one of them after each test. */
export function pairsClosedAfterEach(): (ringSize: number, extraBufs?: number) => Pair {
  let open: Pair[] = [];
  afterEach(() => {
    for (const p of open) closePair(p);
    open = [];
  });
  return (ringSize, extraBufs = 0) => {
    const p = openPair({ ringSize, extraBufs });
    open.push(p);
    return p;
  };
}

const CLI = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI in a child process. */
export function cli(args: string[], timeoutMs = 60_000): Promise<CliRun> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p tsconfig.build.json)`);
  return runNode([CLI, ...args], { timeoutMs });
}

/** Runs this Node with `argv` in a child process (in `cwd`), collecting its output. */
export function runNode(argv: string[], o: { cwd?: string; timeoutMs: number }): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: o.timeoutMs,
      ...(o.cwd === undefined ? {} : { cwd: o.cwd }),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
