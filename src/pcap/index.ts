/**
 * pcap / pcapng reading and writing for Ethernet captures (replay into ports, recording from
 * them). Everything but file.ts is byte-level (bytes.ts) and runs in a browser too.
 */
export * from './bytes.js';
export { createCapture, FileSink, FileSource, openCapture } from './file.js';
