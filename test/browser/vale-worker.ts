/**
 * Web Worker for the VALE test: attaches the port it is sent (through the package's
 * browser entry) and sends broadcast frames, or receives them. The senders yield to
 * their event loop between batches: in a browser a port made after a worker attached
 * reaches it as a message event (no synchronous receive, unlike Node).
 */
import { attachPort, POLLIN, POLLOUT, type Port } from '../../src/browser.js';

type PortDescriptor = Parameters<typeof attachPort>[0];

const SEQ = 44;
const LEN = 60;
const POLL_MS = 10_000;

/**
 * A sender sends `count` frames; a receiver receives until told to stop (VALE drops what
 * does not fit, so it cannot know how much comes: the switch counts the rest).
 */
export type ValeJob = { role: 'tx'; desc: PortDescriptor; count: number } | { role: 'rx'; desc: PortDescriptor };

export interface ValeReport {
  role: string;
  packets: number;
  /** Frames whose sequence number was not above the previous one's (VALE may drop, never reorder). */
  outOfOrder: number;
  badLen: number;
  first: number;
  last: number;
  /** The switch's counters for this port (port.counters().vale). */
  vale?: Record<string, number>;
}

// No DOM lib in tsconfig (Node types only): the worker scope, typed as far as used here.
const scope = globalThis as unknown as {
  onmessage: ((e: { data: ValeJob | 'go' | 'stop' }) => void) | null;
  postMessage(m: ValeReport | 'ready'): void;
};

/** Lets queued message events run (a MessageChannel round trip: no timer clamping). */
function yieldToEvents(): Promise<void> {
  // The browser's MessageChannel (Node's types have no onmessage on MessagePort).
  const ch = new MessageChannel() as unknown as {
    port1: { onmessage: (() => void) | null; close(): void };
    port2: { postMessage(v: unknown): void };
  };
  return new Promise((resolve) => {
    ch.port1.onmessage = () => {
      ch.port1.close();
      resolve();
    };
    ch.port2.postMessage(0);
  });
}

async function send(port: Port, count: number): Promise<ValeReport> {
  const ring = port.tx;
  let seq = 0;
  while (seq < count) {
    if ((await port.pollAsync(POLLOUT, POLL_MS)) === 0) throw new Error(`tx: no room for ${POLL_MS} ms at ${seq}`);
    let cur = ring.cur;
    for (let k = 0; cur !== ring.tail && seq < count && k < 64; cur = ring.next(cur), seq++, k++) {
      const b = ring.buf(cur);
      b.fill(0xff, 0, 6); // broadcast: every other port of the switch gets a copy
      b.set([2, 0, 0, 0, 0, 1], 6);
      b.fill(0xab, 12, LEN);
      new DataView(b.buffer, b.byteOffset).setUint32(SEQ, seq, true);
      ring.setLen(cur, LEN);
    }
    ring.advance(cur);
    port.txsync();
    await yieldToEvents();
  }
  return { role: 'tx', packets: seq, outOfOrder: 0, badLen: 0, first: 0, last: seq - 1 };
}

/** Takes what the RX ring holds, checking that sequence numbers only go up. */
function take(port: Port, r: ValeReport): void {
  const ring = port.rx;
  let cur = ring.cur;
  for (; cur !== ring.tail; cur = ring.next(cur)) {
    const b = ring.buf(cur);
    const seq = new DataView(b.buffer, b.byteOffset).getUint32(SEQ, true);
    if (r.packets === 0) r.first = seq;
    else if (seq <= r.last) r.outOfOrder++;
    r.last = seq;
    if (ring.len(cur) !== LEN) r.badLen++;
    r.packets++;
  }
  ring.advance(cur);
  port.rxsync();
}

let stop = false;
let go: () => void = () => {};
const started = new Promise<void>((resolve) => {
  go = resolve;
});

async function receive(port: Port): Promise<ValeReport> {
  const r: ValeReport = { role: 'rx', packets: 0, outOfOrder: 0, badLen: 0, first: -1, last: -1 };
  while (!stop) {
    await port.pollAsync(POLLIN, 50);
    take(port, r);
  }
  take(port, r);
  r.vale = port.counters().vale;
  return r;
}

scope.onmessage = ({ data }) => {
  if (data === 'go') return go();
  if (data === 'stop') {
    stop = true;
    return;
  }
  const port = attachPort(data.desc);
  const job = data;
  scope.postMessage('ready');
  const run = async (): Promise<ValeReport> => {
    if (job.role === 'tx') {
      await started;
      return send(port, job.count);
    }
    return receive(port);
  };
  run().then(
    (r) => {
      port.close();
      scope.postMessage(r);
    },
    (e: Error) => {
      throw e;
    },
  );
};
