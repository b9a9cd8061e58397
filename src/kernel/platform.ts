/**
 * What the kernel may use of its platform, set from above (the kernel imports no `node:`
 * module, so the same code runs in a browser's Web Workers).
 *
 * `receiveNow` takes a message off a MessagePort synchronously, if one is queued (Node's
 * receiveMessageOnPort). With it, a thread busy in a loop (or asleep in Atomics.wait)
 * picks up a new VALE port at its next sync; without it (a browser), at the next turn of
 * its event loop.
 */
/**
 * What the kernel uses of a MessagePort (the global one, in browsers and in Node): typed
 * here so that no `node:` type is needed.
 */
export interface Channel {
  postMessage(value: unknown): void;
  close(): void;
  onmessage: ((e: { data: unknown }) => void) | null;
  /** Node only: lets the thread end while the port is open. */
  unref?(): void;
}

/** True for a MessagePort of this platform. */
export function isChannel(v: unknown): v is Channel {
  return typeof MessagePort !== 'undefined' && v instanceof MessagePort;
}

/** A new pair of entangled ports. */
export function newChannel(): { port1: Channel; port2: Channel } {
  const ch = new MessageChannel();
  return { port1: ch.port1 as unknown as Channel, port2: ch.port2 as unknown as Channel };
}

export type ReceiveNow = (port: Channel) => { message: unknown } | undefined;

let receiveNow: ReceiveNow | null = null;

export function setReceiveNow(fn: ReceiveNow | null): void {
  receiveNow = fn;
}

export function platformReceiveNow(): ReceiveNow | null {
  return receiveNow;
}
