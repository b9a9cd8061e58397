/**
 * The Node half of the capture module: a file ByteSource (positional readSync into the
 * reader's chunk buffer, so a capture larger than memory streams) and a file ByteSink
 * (writeSync of whole staging buffers). Every `node:fs` use of src/pcap is in this file, so
 * the rest bundles for a browser.
 *
 * Hazard: positional reads need a seekable file; a pipe or a FIFO (e.g. /dev/stdin from a
 * shell pipe) fails with ESPIPE. Node's own fs errors (ENOENT, EACCES, ...) are thrown as is.
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { CaptureReader, type CaptureReaderOptions } from './read.js';
import type { ByteSource } from './source.js';
import { type ByteSink, type CaptureWriter, type CaptureWriterOptions, createCaptureWriter } from './write.js';

/** A capture file read by offset; the descriptor stays open until close(). */
export class FileSource implements ByteSource {
  /** The path, as given. */
  readonly name: string;
  private fd: number;
  /** Opens `path` for reading (Node fs errors, e.g. ENOENT, are thrown as they are). */
  constructor(path: string) {
    this.name = path;
    this.fd = openSync(path, 'r');
  }
  /** See ByteSource.read. */
  read(dst: Uint8Array, dstOffset: number, length: number, position: number): number {
    if (this.fd < 0) return 0;
    return readSync(this.fd, dst, dstOffset, length, position);
  }
  /** Closes the descriptor; idempotent. */
  close(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    closeSync(fd);
  }
}

/** A file written from the start (created or truncated), by whole buffers. */
export class FileSink implements ByteSink {
  /** The path, as given. */
  readonly name: string;
  private fd: number;
  /** Creates or truncates `path`. */
  constructor(path: string) {
    this.name = path;
    this.fd = openSync(path, 'w');
  }
  /** See ByteSink.write: loops until the kernel took every byte. */
  write(bytes: Uint8Array, offset: number, length: number): void {
    if (this.fd < 0) throw new Error(`${this.name}: write after close`);
    let done = 0;
    while (done < length) done += writeSync(this.fd, bytes, offset + done, length - done);
  }
  /** Closes the descriptor; idempotent. */
  close(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    closeSync(fd);
  }
}

/**
 * Opens a pcap or pcapng file for streaming reads (chunkSize bytes at a time, 1 MiB by
 * default). Throws PcapError for a bad header; the file is closed again in that case.
 */
export function openCapture(path: string, options?: CaptureReaderOptions): CaptureReader {
  const source = new FileSource(path);
  try {
    return new CaptureReader(source, options);
  } catch (e) {
    source.close();
    throw e;
  }
}

/**
 * Creates (or truncates) a capture file: pcapng when `options.format` says so or, without a
 * format, when the path ends in `.pcapng`; classic pcap otherwise. Close it to flush.
 */
export function createCapture(path: string, options: CaptureWriterOptions = {}): CaptureWriter {
  const format = options.format ?? (path.toLowerCase().endsWith('.pcapng') ? 'pcapng' : 'pcap');
  return createCaptureWriter(new FileSink(path), { ...options, format });
}
