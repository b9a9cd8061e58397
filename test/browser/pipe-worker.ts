/**
 * Web Worker for the pipe test: attaches the descriptor it is sent and either sends
 * `count` sequenced frames or receives them, checking order, then posts its counts.
 * Blocking in poll() (Atomics.wait) is fine here: this is a worker, not the page.
 */
import { attachPort } from '../../src/netmap.js';
import { POLLIN, POLLOUT, type Port } from '../../src/port.js';

/** What attachPort takes (derived: where the type is exported from is moving). */
type PortDescriptor = Parameters<typeof attachPort>[0];

/** Where the sequence number lives (pkt-gen's SEQ_OFFSET, little endian). */
const SEQ = 44;
const LEN = 60;
/** One poll longer than this means the peer is gone: report instead of hanging. */
const POLL_MS = 10_000;

export interface Job {
  role: 'tx' | 'rx';
  desc: PortDescriptor;
  count: number;
}
export interface Report {
  role: 'tx' | 'rx';
  packets: number;
  /** rx: frames whose sequence number was not the next one, or whose length was not LEN. */
  outOfOrder: number;
  badLen: number;
  firstBad?: { index: number; seq: number; len: number };
}

function send(port: Port, count: number): Report {
  const ring = port.tx;
  let seq = 0;
  while (seq < count) {
    if (port.poll(POLLOUT, POLL_MS) === 0) throw new Error(`tx: no room for ${POLL_MS} ms at packet ${seq}`);
    let cur = ring.cur;
    for (; cur !== ring.tail && seq < count; cur = ring.next(cur), seq++) {
      const b = ring.buf(cur);
      b.fill(0xab, 0, LEN);
      b[SEQ] = seq;
      b[SEQ + 1] = seq >>> 8;
      b[SEQ + 2] = seq >>> 16;
      b[SEQ + 3] = seq >>> 24;
      ring.setLen(cur, LEN);
    }
    ring.advance(cur);
  }
  port.txsync(); // hands the last batch over (poll only syncs before it looks)
  return { role: 'tx', packets: seq, outOfOrder: 0, badLen: 0 };
}

function receive(port: Port, count: number): Report {
  const ring = port.rx;
  const r: Report = { role: 'rx', packets: 0, outOfOrder: 0, badLen: 0 };
  while (r.packets < count) {
    if (port.poll(POLLIN, POLL_MS) === 0) throw new Error(`rx: nothing for ${POLL_MS} ms after ${r.packets} packets`);
    let cur = ring.cur;
    for (; cur !== ring.tail; cur = ring.next(cur), r.packets++) {
      const b = ring.buf(cur);
      const seq = (b[SEQ] | (b[SEQ + 1] << 8) | (b[SEQ + 2] << 16) | (b[SEQ + 3] << 24)) >>> 0;
      const len = ring.len(cur);
      if (len !== LEN) r.badLen++;
      if (seq !== r.packets) r.outOfOrder++;
      if ((len !== LEN || seq !== r.packets) && r.firstBad === undefined) r.firstBad = { index: r.packets, seq, len };
    }
    ring.advance(cur);
  }
  port.rxsync(); // gives the last slots back
  return r;
}

// No DOM lib in tsconfig (Node types only): the worker scope, typed as far as used here.
const scope = globalThis as unknown as {
  onmessage: ((e: { data: Job }) => void) | null;
  postMessage(m: Report): void;
};

scope.onmessage = ({ data }) => {
  const port = attachPort(data.desc);
  scope.postMessage(data.role === 'tx' ? send(port, data.count) : receive(port, data.count));
  port.close();
};
