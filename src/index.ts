/**
 * The package entry for Node: the library (everything the browser entry has) and the
 * Node apps (pkt-gen pairs, chains and bridges on worker pools).
 */
import './node-platform.js';

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
export type { CpuAccounting, ThreadCpu, ThreadCpuFigures } from './apps/cputime.js';
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
export * from './browser.js';
export { createStopOrder, StopOrder, type StopOrderRef } from './stop-order.js';
