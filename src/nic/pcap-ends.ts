/**
 * pcap files as the far end of a NIC's wire (Node only: files). A PcapWireSource replays a
 * capture (pcap or pcapng, streamed) onto the wire at line rate; a PcapWireSink records what
 * the NIC sends, timestamped when the wire takes it. A record cut by its capture's snaplen
 * keeps its original length in what is written back.
 *
 * Hazards: a bad record ends the lane with the reader's PcapError (file and byte offset),
 * after every good record before it was sent; the sink's copy goes through one scratch
 * buffer made once (a record is at most 256 KiB).
 */
import {
  type CaptureReader,
  type CaptureRecord,
  type CaptureWriter,
  createCapture,
  MAX_RECORD,
  openCapture,
} from '../pcap/index.js';
import { copyBytes } from './nic-ends.js';
import type { WireSink, WireSource } from './wire.js';

/**
 * Copies bytes of a capture record into a buffer without making a view per record: by
 * words when the reader's buffer allows it (its word view is made again only when the
 * reader's buffer changes, which it does only to grow), else by bytes.
 */
export class RecordCopier {
  private data: Uint8Array | null = null;
  private words: Int32Array | null = null;

  /** Copies `len` bytes of `rec`'s frame from its byte `from` to `dst[off..]` (`di`: dst's words). */
  copy(rec: CaptureRecord, from: number, dst: Uint8Array, di: Int32Array, off: number, len: number): void {
    const d = rec.data;
    if (d !== this.data) {
      this.data = d;
      this.words = (d.byteOffset & 3) === 0 ? new Int32Array(d.buffer, d.byteOffset, d.byteLength >> 2) : null;
    }
    const so = rec.offset + from;
    if (this.words !== null) {
      copyBytes(d, this.words, so, dst, di, off, len);
    } else {
      for (let b = 0; b < len; b++) dst[off + b] = d[so + b];
    }
  }
}

/** A capture replayed `loop` times (0: forever). */
export class PcapWireSource implements WireSource {
  private readonly reader: CaptureReader;
  private rec: CaptureRecord | null = null;
  private rounds = 0;
  /** Records read in this round (a capture with none is not replayed forever). */
  private inRound = 0;
  private readonly copier = new RecordCopier();

  constructor(
    path: string,
    private readonly loop = 1,
  ) {
    this.reader = openCapture(path);
  }

  next(): number {
    if (this.rec !== null) return this.rec.caplen;
    let r = this.reader.next();
    if (r === null) {
      if (++this.rounds === this.loop || this.inRound === 0) return -2;
      this.inRound = 0;
      this.reader.rewind();
      r = this.reader.next();
      if (r === null) return -2;
    }
    this.inRound++;
    this.rec = r;
    return r.caplen;
  }

  read(dst: Uint8Array, di: Int32Array, off: number, from: number, len: number): void {
    this.copier.copy(this.rec as CaptureRecord, from, dst, di, off, len);
  }

  origLen(): number {
    return (this.rec as CaptureRecord).origLen;
  }

  done(): void {
    this.rec = null;
  }

  publish(): void {}

  close(): void {
    this.reader.close();
  }
}

/** Frames written to a capture file as the wire takes them. */
export class PcapWireSink implements WireSink {
  private readonly w: CaptureWriter;
  private readonly scratch = new Uint8Array(MAX_RECORD);
  private readonly words = new Int32Array(this.scratch.buffer);

  constructor(path: string) {
    this.w = createCapture(path);
  }

  room(): boolean {
    return true;
  }

  put(src: WireSource, len: number): void {
    const n = Math.min(len, MAX_RECORD);
    src.read(this.scratch, this.words, 0, 0, n);
    const t = performance.timeOrigin + performance.now();
    const sec = Math.floor(t / 1000);
    this.w.write(this.scratch, 0, n, Math.max(src.origLen(), len), sec, Math.floor((t - sec * 1000) * 1e6) % 1e9);
  }

  publish(): void {}

  close(): void {
    this.w.close();
  }
}
