/**
 * The package entry for Node: the library (everything the browser entry has) and the
 * Node apps (pkt-gen pairs, chains and bridges on worker pools).
 *
 * @module sabnetmap
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
// Real packets: captures in and out of ports, NIC ports' runs and their wire role.
export { type AppEndpoint, appEndpoint, ENDPOINTS, type Endpoint } from './apps/endpoint.js';
export { BROADCAST_MAC, type Mac, parseMac, SEQ_OFFSET, writeFrame } from './apps/frame.js';
export { type NicRunResult, runNicPktGen } from './apps/nic-run.js';
export {
  type CaptureOptions,
  type CaptureResult,
  captureFrom,
  REPLAY_TIMINGS,
  type ReplayOptions,
  type ReplayResult,
  ReplaySchedule,
  type ReplayTiming,
  replayInto,
} from './apps/pcap-io.js';
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
export {
  type CaptureRunOptions,
  type CaptureRunResult,
  REPLAY_PORTS,
  type ReplayPort,
  type ReplayRunOptions,
  type ReplayRunResult,
  runCaptureRun,
  runReplay,
} from './apps/replay-run.js';
export * from './browser.js';
export { PcapWireSink, PcapWireSource } from './nic/pcap-ends.js';
export {
  type LaneResult,
  runWireTask,
  type WireResult,
  type WireRxEnd,
  type WireTask,
  type WireTxEnd,
} from './nic/wire-role.js';
export { createCapture, FileSink, FileSource, openCapture } from './pcap/file.js';
// Packet pipelines (src/pipeline/): stages in worker threads over zero-copy links, netmap's lb.
export { type FlowEntry, FlowTable, topFlows } from './pipeline/flows.js';
export { buildFrame, type FrameSpec, headersLength, writeFrameTo } from './pipeline/frames.js';
export { flowHash, NON_IP, symmetricHash } from './pipeline/hash.js';
export {
  decrementTtl,
  ETH_HLEN,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ETHERTYPE_QINQ,
  ETHERTYPE_VLAN,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  internetChecksum,
  ipv4ChecksumOk,
  ipv4ToString,
  ipv6ToString,
  PacketHeaders,
  parseIpv4,
  readU16,
  readU32,
  setIpv4Checksum,
  swapMacs,
  writeMac,
  writeU16,
  writeU32,
} from './pipeline/headers.js';
export { BUF_REVOKE, LbCore, type LbCoreOptions, type LbOnFull, type LbOptions } from './pipeline/lb.js';
export {
  type LbStage,
  type LinkStats,
  lb,
  type NodeStats,
  type OutputsTo,
  Pipeline,
  PipelineError,
  type PipelineOptions,
  type PipelineResult,
  type PipelineStats,
  type RunOptions,
  type StageOptions,
  type StageRef,
  type ThreadFigures,
} from './pipeline/pipeline.js';
export { type CounterSink, counter, type MainSink, type PcapSink, pcapSink, toMain } from './pipeline/sinks.js';
export {
  defineSource,
  type FrameSource,
  type FrameWriter,
  fromFrames,
  fromFunction,
  type GeneratorOptions,
  generator,
  moduleSource,
  pcapSource,
  type SourceDefinition,
  type SourceSpec,
} from './pipeline/sources.js';
export { Batch, defineStage, type Stage, type StageContext, type StageDefinition } from './pipeline/stage.js';
export { createStopOrder, StopOrder, type StopOrderRef } from './stop-order.js';
export {
  attachVxlan,
  type VxlanHandle,
  type VxlanOptions,
  type VxlanRemote,
  type VxlanRemoteStats,
  type VxlanStats,
} from './vxlan/attach.js';
export type { VxlanWake } from './vxlan/endpoint.js';
export {
  checkHeader as checkVxlanHeader,
  DEFAULT_VNI,
  decapsulate as vxlanDecapsulate,
  encapsulate as vxlanEncapsulate,
  maxFrameFor as vxlanMaxFrame,
  VXLAN_HLEN,
  VXLAN_PORT,
} from './vxlan/wire.js';
