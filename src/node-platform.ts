/**
 * Node's side of the kernel's platform hooks (src/kernel/platform.ts): a VALE port made
 * after this thread attached is taken off its channel synchronously at the next sync, so
 * a thread that never returns to its event loop (a role blocked in Atomics.wait, a busy
 * sender) still sees it. Imported by the package entry and the worker entry; a browser
 * bundle leaves it out (there, new ports arrive with the event loop).
 */
import { type MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import { setReceiveNow } from './kernel/platform.js';

setReceiveNow((port) => receiveMessageOnPort(port as unknown as MessagePort));
