import './node-platform.js';

export * from '../shm/layout.js';
export { RegionViews } from '../shm/views.js';
export {
  Bridge,
  type BridgeOptions,
  type BridgeResult,
  checkBridgeOptions,
  runBridge,
  sharesMemory,
} from './apps/bridge.js';
export {
  type ChainBridgeStats,
  type ChainKloopStats,
  type ChainMode,
  type ChainPort,
  type ChainRunOptions,
  type ChainRunResult,
  MAX_CHAIN,
  runChain,
} from './apps/chain-run.js';
export { Control, RoleStats, STOP_ALL, STOP_SENDERS } from './apps/control.js';
export { BROADCAST_MAC, type Mac, parseMac, SEQ_OFFSET, writeFrame } from './apps/frame.js';
export {
  PKTGEN_MODES,
  type PktGenMode,
  type PktGenOptions,
  type PktGenResult,
  runPktGen,
} from './apps/pktgen.js';
export {
  type IntervalReport,
  type PairMode,
  type PktGenRunOptions,
  type PktGenRunResult,
  runPktGenPair,
} from './apps/pktgen-run.js';
export { type CountersByName, countersOf, sumCounters } from './counters.js';
export { NetmapError, type NetmapErrorCode } from './errors.js';
export { type PortAttachment, type PortType, registerPortType } from './kernel/attach.js';
export { valeCounters } from './kernel/vale.js';
export { LOG_LEVELS, type LogLevel, setLogLevel } from './log.js';
export { type OpenMode, type ParsedName, parsePortName, type RingBinding } from './names.js';
export { attachPort, checkPortOptions, Netmap, type PortOptions } from './netmap.js';
export { Csb } from './passthrough/csb.js';
export { GuestPort } from './passthrough/guest.js';
export { type GuestDescriptor, type KloopDescriptor, passThrough } from './passthrough/hypervisor.js';
export { Kloop, type KloopResult } from './passthrough/kloop.js';
export type { NetmapPort } from './port.js';
export {
  type AttachPortOptions,
  type BaseDescriptor,
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
export { createStopOrder, StopOrder, type StopOrderRef } from './stop-order.js';
export { transferList } from './transfer.js';
