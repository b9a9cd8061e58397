/**
 * Worker roles for the "peers" baselines: pkt-gen's packets moved between two worker
 * threads the ways people do it without sabnetmap (postMessage, batched postMessage,
 * ringbuf.js). bench/peers.ts sets them against a sabnetmap pipe.
 */
import type { MessagePort } from 'node:worker_threads';
import type { RingBuffer } from 'ringbuf.js';
import { ST_BYTES, ST_PACKETS } from '../shm/layout.js';
import { Control, RoleStats, STOP_ALL, STOP_SENDERS } from '../src/apps/control.js';
import { BROADCAST_MAC, writeFrame } from '../src/apps/frame.js';
import type { LogLevel } from '../src/log.js';

export type PeerVia = 'postMessage' | 'postMessage-batch' | 'ringbuf.js';

export interface PeerTask {
  role: 'peer';
  via: PeerVia;
  side: 'tx' | 'rx';
  len: number;
  /** Packets per message (postMessage-batch). */
  batch: number;
  ctl: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  /** postMessage*: Int32 word 0 = messages the receiver has taken (the sender's credit). */
  credit?: SharedArrayBuffer;
  /** postMessage*: this side's end of a MessageChannel made by the coordinator. */
  port?: MessagePort;
  /** ringbuf.js: the ring's storage, from `RingBuffer.getStorageForCapacity`. */
  ring?: SharedArrayBuffer;
  logLevel?: LogLevel;
}

export interface PeerResult {
  packets: number;
}

/** Packets in flight at most on postMessage: bounds the receiver's queue (memory). */
export const WINDOW_PACKETS = 4096;
/** ringbuf.js capacity in records: the same as the pipe's ring. */
export const RING_RECORDS = 1024;
/** Stop flag checks and stats publication: once every 64 packets (an Atomics op is ~10 ns). */
const CHECK_EVERY = 63;
/** How often an idle postMessage receiver looks at the stop flag. */
const STOP_POLL_MS = 5;

/** ringbuf.js is a devDependency: an installed sabnetmap may not have it. */
export async function loadRingBuf(): Promise<typeof RingBuffer | undefined> {
  try {
    return (await import('ringbuf.js')).RingBuffer;
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') return undefined;
    throw e;
  }
}

export function runPeer(t: PeerTask): PeerResult | Promise<PeerResult> {
  const ctl = new Control(t.ctl);
  const st = new RoleStats(t.stats);
  if (t.via === 'ringbuf.js') return t.side === 'tx' ? ringSender(t, ctl, st) : ringReceiver(t, ctl, st);
  return t.side === 'tx' ? postSender(t, ctl, st) : postReceiver(t, ctl, st);
}

/** The frame pkt-gen sends by default (broadcast from 02:00:00:00:00:01). */
function frame(len: number): Uint8Array {
  const f = new Uint8Array(len);
  writeFrame(f, 0, len, BROADCAST_MAC, [0x02, 0, 0, 0, 0, 1]);
  return f;
}

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`peer task needs ${what}`);
  return v;
}

function packetsPerMessage(t: PeerTask): number {
  return t.via === 'postMessage' ? 1 : t.batch;
}

function done(st: RoleStats, packets: number, len: number): PeerResult {
  st.f64[ST_PACKETS] = packets;
  st.f64[ST_BYTES] = packets * len;
  st.publish();
  return { packets };
}

/**
 * Posts one frame per message (cloned by postMessage), or `batch` frames per message in a
 * fresh transferred buffer (a transferred buffer is gone from the sender, so a new one per
 * batch is what a user does). Keeps at most WINDOW_PACKETS in flight, spinning on the credit.
 */
function postSender(t: PeerTask, ctl: Control, st: RoleStats): PeerResult {
  const port = need(t.port, 'a port');
  const credit = new Int32Array(need(t.credit, 'a credit block'));
  const per = packetsPerMessage(t);
  const window = Math.max(1, Math.floor(WINDOW_PACKETS / per));
  const len = t.len;
  const pkt = frame(len);
  const f = st.f64;
  let msgs = 0;
  let acked = 0;
  ctl.arriveAndWait();
  for (;;) {
    // Counts are compared modulo 2^32: the credit word is an Int32.
    if (((msgs - acked) | 0) >= window) {
      acked = Atomics.load(credit, 0);
      if (((msgs - acked) | 0) >= window) {
        if (ctl.stopLevel() >= STOP_SENDERS) break;
        continue;
      }
    }
    if (per === 1) {
      port.postMessage(pkt);
    } else {
      const b = new Uint8Array(per * len);
      for (let i = 0; i < per; i++) b.set(pkt, i * len);
      port.postMessage(b, [b.buffer]);
    }
    msgs++;
    f[ST_PACKETS] = msgs * per;
    if ((msgs & CHECK_EVERY) === 0) {
      st.publish();
      if (ctl.stopLevel() >= STOP_SENDERS) break;
    }
  }
  // The port is left open: the receiver closes the channel when it stops.
  return done(st, msgs * per, len);
}

/** Counts in the message handler; the task resolves once the coordinator says STOP_ALL. */
function postReceiver(t: PeerTask, ctl: Control, st: RoleStats): Promise<PeerResult> {
  const port = need(t.port, 'a port');
  const credit = new Int32Array(need(t.credit, 'a credit block'));
  const per = packetsPerMessage(t);
  // Return credit in 64 steps per window: often enough to never starve the sender,
  // rarely enough not to bounce the line it spins on at every message.
  const creditEvery = Math.max(1, Math.floor(WINDOW_PACKETS / per) >> 6);
  const len = t.len;
  const f = st.f64;
  let msgs = 0;
  let got = 0;
  let bytes = 0;
  ctl.arriveAndWait();
  port.on('message', (m: Uint8Array) => {
    msgs++;
    got += per;
    bytes += m.byteLength;
    if (msgs % creditEvery === 0) Atomics.store(credit, 0, msgs | 0);
    f[ST_PACKETS] = got;
    f[ST_BYTES] = bytes;
    // A message costs ~1 µs here: publishing each one is noise, and keeps sampling exact.
    st.publish();
  });
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (ctl.stopLevel() < STOP_ALL) return;
      clearInterval(timer);
      port.close();
      resolve(done(st, got, len));
    }, STOP_POLL_MS);
  });
}

async function ring(t: PeerTask): Promise<RingBuffer> {
  const RB = await loadRingBuf();
  if (RB === undefined) throw new Error('ringbuf.js is not installed');
  return new RB(need(t.ring, 'a ring'), Uint8Array);
}

/*
 * ringbuf.js: one record per push/pop. The ring's capacity is a multiple of `len` and every
 * push/pop moves `len` bytes, so each moves a whole record or nothing (0 = full/empty: spin).
 */

async function ringSender(t: PeerTask, ctl: Control, st: RoleStats): Promise<PeerResult> {
  const rb = await ring(t);
  const pkt = frame(t.len);
  const f = st.f64;
  let sent = 0;
  let spins = 0;
  ctl.arriveAndWait();
  for (;;) {
    if (rb.push(pkt) === 0) {
      if ((++spins & CHECK_EVERY) === 0 && ctl.stopLevel() >= STOP_SENDERS) break;
      continue;
    }
    if ((++sent & CHECK_EVERY) === 0) {
      f[ST_PACKETS] = sent;
      st.publish();
      if (ctl.stopLevel() >= STOP_SENDERS) break;
    }
  }
  return done(st, sent, t.len);
}

/** Stops on STOP_ALL once the ring is empty (the sender has stopped by then). */
async function ringReceiver(t: PeerTask, ctl: Control, st: RoleStats): Promise<PeerResult> {
  const rb = await ring(t);
  const rec = new Uint8Array(t.len);
  const f = st.f64;
  let got = 0;
  let spins = 0;
  ctl.arriveAndWait();
  for (;;) {
    if (rb.pop(rec) === 0) {
      if ((++spins & CHECK_EVERY) === 0 && ctl.stopLevel() >= STOP_ALL) break;
      continue;
    }
    if ((++got & CHECK_EVERY) === 0) {
      f[ST_PACKETS] = got;
      st.publish();
    }
  }
  return done(st, got, t.len);
}
