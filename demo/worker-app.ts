/**
 * The apps: a sender and a receiver in pkt-gen's manner (60-byte frames by default, a
 * batch per poll), the same code whether the port is a host port, a passthrough guest's
 * (GuestPort) or an emulated-NIC guest's own netmap port over its e1000 driver.
 *
 * One loop turn is one "sync" of the thread: poll (which runs txsync or rxsync, and may
 * busy-poll, then sleep in Atomics.wait until a peer notifies), then one batch. In single
 * step the thread waits at its gate before each turn; in slow motion it pauses after each
 * batch. At full speed a turn costs pkt-gen's work plus one Atomics.load (the mode) and
 * the state stores around poll.
 *
 * Hazards:
 * - Worker only: poll() blocks in Atomics.wait.
 * - Allocation-free loops: counters live in the stats block's Float64Array (a JS number
 *   that outgrows 2^31 would be boxed per update), indices are small ints, no views are
 *   made per packet (ring.i32 and slot words directly).
 * - In slow motion and single step the receiver holds each batch until its next turn, so
 *   the page shows netmap's received/held/released slots; it releases them before it
 *   would sleep, or a ring full of held slots would leave its sender no room.
 */
import {
  attachPort,
  type E1000GuestDescriptor,
  type GuestDescriptor,
  GuestPort,
  type NetmapPort,
  type NetmapRing,
  POLLIN,
  POLLOUT,
  type PortDescriptor,
} from '../src/browser.js';
import {
  type AppConfig,
  MODE_FULL,
  MODE_STEP,
  RECEIVER_MAC,
  SENDER_MAC,
  SEQ_OFFSET,
  SF_KICKS,
  SF_PACKETS,
  SF_SLEEPS,
  T_POLLING,
  T_RUNNING,
} from './protocol.js';
import type { ThreadCtl } from './worker-ctl.js';

/** A poll that waits longer than this returns 0 and the turn starts over (the mode is looked at again). */
const POLL_MS = 500;
/** A VALE sender drains its RX ring (the receiver's answer lands there) every this many batches. */
const DRAIN_EVERY = 255;

export type AppPort = NetmapPort & { readonly kicks?: number; readonly sleeps?: number };

/** Attaches the app's port: a host port, a passthrough guest's, or an emulated guest's own. */
export function openApp(
  side: 'host' | 'guest' | 'emulated',
  desc: PortDescriptor | GuestDescriptor | E1000GuestDescriptor,
  app: AppConfig,
): AppPort {
  const o = { notify: app.notify, oversubscribed: app.oversubscribed };
  if (side === 'guest') return new GuestPort(desc as GuestDescriptor, o);
  return attachPort(desc as PortDescriptor, o);
}

/** An Ethernet frame header from `src` to `dst` (IPv4 type), then a byte pattern: written once per buffer. */
function writeFrame(b: Uint8Array, len: number, dst: readonly number[], src: readonly number[]): void {
  b.set(dst, 0);
  b.set(src, 6);
  b[12] = 0x08;
  b[13] = 0x00;
  for (let i = 14; i < len && i < b.length; i++) b[i] = i & 0xff;
}

/** Sends forever: a batch per turn into the TX ring, handed to the kernel by the next poll's txsync. */
export function runSender(port: AppPort, app: AppConfig, t: ThreadCtl): void {
  const ring = port.tx;
  const n = ring.numSlots;
  const w = ring.i32;
  const base = ring.slotBase;
  const len = app.len;
  const f = t.f;
  // Every TX buffer gets the frame once: afterwards a send only sets len (and the sequence number).
  for (let k = 0; k < n; k++) writeFrame(ring.buf(k), len, RECEIVER_MAC, SENDER_MAC);
  const seqOn = app.seq;
  const guest = port instanceof GuestPort ? port : null;
  let seq = 0;
  let iter = 0;
  for (;;) {
    const stepped = t.passGate();
    const mode = t.mode();
    t.set(T_POLLING);
    const ready = port.poll(POLLOUT, POLL_MS, mode === MODE_STEP ? 0 : app.spinUs);
    t.set(T_RUNNING);
    if ((ready & POLLOUT) === 0) continue;
    let cur = ring.cur;
    let room = ring.tail - cur;
    if (room < 0) room += n;
    const todo = Math.min(room, app.batch);
    for (let i = 0; i < todo; i++) {
      w[base + 2 * cur + 1] = len; // len, flags 0
      if (seqOn) {
        w[(ring.bufOffset(cur) + SEQ_OFFSET) >>> 2] = seq;
        seq = (seq + 1) | 0;
      }
      cur = cur + 1 === n ? 0 : cur + 1;
    }
    // head = cur: the slots are the kernel's now; the next turn's poll runs the txsync.
    ring.advance(cur);
    f[SF_PACKETS] += todo;
    if (!stepped) t.countSync();
    if (guest !== null) {
      f[SF_KICKS] = guest.kicks;
      f[SF_SLEEPS] = guest.sleeps;
    }
    if (app.vale && (iter++ & DRAIN_EVERY) === 0) drain(port);
    t.pauseIfSlow();
  }
}

/** Takes whatever the RX ring holds and gives it back (a VALE sender's mailbox for the receiver's answer). */
function drain(port: AppPort): void {
  port.rxsync();
  const r = port.rx;
  r.advance(r.tail);
  port.rxsync();
}

/**
 * Receives forever. Full speed: takes at most a batch per turn and releases it at once
 * (pkt-gen). Slow motion and single step: the batch stays held until the next turn, and
 * the turn's end releases the previous one, so the ring shows released, held and
 * received slots.
 */
export function runReceiver(port: AppPort, app: AppConfig, t: ThreadCtl): void {
  const ring = port.rx;
  const n = ring.numSlots;
  const w = ring.i32;
  const base = ring.slotBase;
  const f = t.f;
  const guest = port instanceof GuestPort ? port : null;
  let answered = !app.vale;
  for (;;) {
    const stepped = t.passGate();
    const mode = t.mode();
    const spin = mode === MODE_STEP ? 0 : app.spinUs;
    t.set(T_POLLING);
    // Full speed: poll as pkt-gen does. Otherwise look first without sleeping: a held batch
    // is released only when the thread would sleep.
    let ready = mode === MODE_FULL ? port.poll(POLLIN, POLL_MS, spin) : port.poll(POLLIN, 0);
    if ((ready & POLLIN) === 0 && mode !== MODE_FULL) {
      // About to sleep: nothing may stay held (the sender may need those slots).
      if (ring.head !== ring.cur) ring.head = ring.cur;
      ready = port.poll(POLLIN, POLL_MS, spin);
    }
    t.set(T_RUNNING);
    if ((ready & POLLIN) === 0) continue;
    const from = ring.cur;
    let cur = from;
    let avail = ring.tail - cur;
    if (avail < 0) avail += n;
    const todo = Math.min(avail, app.batch);
    let got = 0;
    for (let i = 0; i < todo; i++) {
      if ((w[base + 2 * cur + 1] & 0xffff) !== 0) got++;
      cur = cur + 1 === n ? 0 : cur + 1;
    }
    if (mode === MODE_FULL) {
      ring.advance(cur);
    } else {
      // Release the previous batch (head = where this one starts), hold this one (cur past it).
      ring.head = from;
      ring.cur = cur;
    }
    f[SF_PACKETS] += got;
    if (!stepped) t.countSync();
    if (guest !== null) {
      f[SF_KICKS] = guest.kicks;
      f[SF_SLEEPS] = guest.sleeps;
    }
    if (!answered && got > 0) answered = answer(port, ring);
    t.pauseIfSlow();
  }
}

/**
 * VALE: one frame back from the receiver's MAC to the sender's, as a reply would be: the
 * switch learns where the receiver is and stops flooding the sender's frames.
 */
function answer(port: AppPort, rx: NetmapRing): boolean {
  const tx = port.tx;
  if (tx === undefined || rx === undefined) return true;
  port.txsync();
  if (tx.cur === tx.tail) return false;
  const k = tx.cur;
  writeFrame(tx.buf(k), 60, SENDER_MAC, RECEIVER_MAC);
  tx.setLen(k, 60);
  tx.advance(tx.next(k));
  port.txsync();
  return true;
}
