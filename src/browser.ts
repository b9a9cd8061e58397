/**
 * The package entry for browsers (the "browser" export condition): the library without
 * its Node apps (pkt-gen runners, worker pools, the CLI). Everything here runs in a Web
 * Worker; on a page's main thread use pollAsync (Atomics.wait throws there). A VALE port
 * made after a worker attached reaches that worker when its event loop runs.
 *
 * @module sabnetmap (browser)
 */
export * from '../shm/layout.js';
export { RegionViews } from '../shm/views.js';
export { type CountersByName, countersOf, sumCounters } from './counters.js';
export type { E1000GuestDescriptor } from './emulated/driver.js';
export { E1000Device, type E1000DeviceDescriptor } from './emulated/e1000.js';
export { type EmulateOptions, emulateNic } from './emulated/nic.js';
export { NetmapError, type NetmapErrorCode } from './errors.js';
export { type PortAttachment, type PortType, registerPortType } from './kernel/attach.js';
// NIC ports' wire (the hardware side; pcap ends and the worker role are Node's: index.ts).
export { nicCounters } from './kernel/nic.js';
export { valeCounters } from './kernel/vale.js';
export { LOG_LEVELS, type LogLevel, setLogLevel } from './log.js';
export { type OpenMode, type ParsedName, parsePortName, type RingBinding } from './names.js';
export {
  attachPort,
  checkPortOptions,
  Netmap,
  type NicHardware,
  type NicOptions,
  type PortOptions,
} from './netmap.js';
export { CountSink, GenSource, type GenSpec } from './nic/gen-ends.js';
export { checkLineRate, LINE_RATES, type LineRate, lineBps, lineRateMpps, wireBytes } from './nic/line.js';
export { copyBytes, type NicHw, NicRxSink, NicTxSource } from './nic/nic-ends.js';
export { ValePortView, ValeRxSource, ValeTxSink, valeEnds } from './nic/vale-ends.js';
export { CATCHUP_NS, Lane, runWire, type WireRunOptions, type WireSink, type WireSource } from './nic/wire.js';
export { Csb } from './passthrough/csb.js';
export { GuestPort } from './passthrough/guest.js';
export { type GuestDescriptor, type KloopDescriptor, passThrough } from './passthrough/hypervisor.js';
export { Kloop, type KloopResult } from './passthrough/kloop.js';
// pcap and pcapng over bytes in memory (files: openCapture and createCapture, Node's index.ts).
export * from './pcap/bytes.js';
export {
  type AttachPortOptions,
  type BaseDescriptor,
  type NetmapPort,
  type NicDescriptor,
  type PipeDescriptor,
  POLLERR,
  POLLIN,
  POLLOUT,
  Port,
  type PortCounters,
  type PortDescriptor,
  type RingCounters,
  type ValeDescriptor,
} from './port.js';
export { NetmapRing, ringEmpty, ringNext, ringSpace } from './ring.js';
export { transferList } from './transfer.js';
