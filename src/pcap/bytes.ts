/**
 * pcap / pcapng reading and writing over bytes in memory and any byte source or sink: what
 * runs in a browser too (files: file.ts, re-exported by index.ts for Node).
 */
export { LINKTYPE_ETHERNET, linkTypeName, MAX_BLOCK, MAX_RECORD, PcapError } from './errors.js';
export {
  type CaptureFormat,
  CaptureReader,
  type CaptureReaderOptions,
  CaptureRecord,
  readCaptureBytes,
} from './read.js';
export { type ByteSource, BytesSource } from './source.js';
export { type TsUnit, tsUnit, unitsToNs } from './timestamp.js';
export {
  type ByteSink,
  type CaptureWriteFormat,
  type CaptureWriter,
  type CaptureWriterOptions,
  createCaptureWriter,
  MemorySink,
  PcapngWriter,
  PcapWriter,
} from './write.js';
