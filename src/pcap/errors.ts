/**
 * The capture module's error type, its size limits and the link-type names it uses when it
 * refuses a capture that is not Ethernet. Byte-level only: no Node imports, so a browser can
 * use the parser and the writers.
 */
import { NetmapError } from '../errors.js';

/**
 * The longest frame a record may carry (256 KiB). libpcap's own ceiling for ordinary link
 * types is the same, and it bounds the reader's buffer: one record never needs more.
 */
export const MAX_RECORD = 262144;

/**
 * The longest pcapng block the reader holds in memory at once: one maximal frame, its
 * 32 bytes of block framing and up to 64 KiB of options. Blocks the reader skips (unknown
 * types, section headers' options) may be longer: it steps over them without loading them.
 */
export const MAX_BLOCK = MAX_RECORD + 32 + 65536;

/** LINKTYPE_ETHERNET: the only link type a capture may have to be replayed on a port. */
export const LINKTYPE_ETHERNET = 1;

/**
 * Bad or unsupported capture input. `file` is the name the source was opened with and
 * `offset` the byte offset of the record or block at fault (0 for the file header); the
 * message is one line, `file: byte N: what`, so a CLI can print it as is.
 */
export class PcapError extends NetmapError {
  /** The capture's name (its path for a file, the name given for bytes in memory). */
  readonly file: string;
  /** Byte offset, in the file, of the record or block at fault. */
  readonly offset: number;
  /** An EINVAL error reading `file: byte offset: what`. */
  constructor(file: string, offset: number, what: string) {
    super('EINVAL', `${file}: byte ${offset}: ${what}`);
    this.name = 'PcapError';
    this.file = file;
    this.offset = offset;
  }
}

// Names from the tcpdump.org link-type registry, for the types people most often capture by
// mistake (a Linux "any" capture is LINUX_SLL/SLL2, a tun device is RAW, Wi-Fi monitor mode
// is RADIOTAP). Numbers not listed are still reported, just without a name.
const LINK_NAMES: Record<number, string> = {
  0: 'NULL',
  1: 'ETHERNET',
  9: 'PPP',
  50: 'PPP_HDLC',
  101: 'RAW',
  105: 'IEEE802_11',
  108: 'LOOP',
  113: 'LINUX_SLL',
  127: 'IEEE802_11_RADIOTAP',
  147: 'USER0',
  195: 'IEEE802_15_4_WITHFCS',
  220: 'USB_LINUX_MMAPPED',
  228: 'IPV4',
  229: 'IPV6',
  253: 'NETLINK',
  276: 'LINUX_SLL2',
};

/** The registry name of a link type (`113` → `'LINUX_SLL'`), or undefined when not known here. */
export function linkTypeName(linkType: number): string | undefined {
  return Object.hasOwn(LINK_NAMES, linkType) ? LINK_NAMES[linkType] : undefined;
}

/** The sentence the reader uses to refuse a non-Ethernet link type, e.g. `link type 113 (LINUX_SLL) ...`. */
export function notEthernet(linkType: number): string {
  const name = linkTypeName(linkType);
  return `link type ${linkType}${name ? ` (${name})` : ''} is not Ethernet (1): only Ethernet captures can be replayed`;
}
