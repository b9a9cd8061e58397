/**
 * The memory layout: the single definition of every offset, size and field of a
 * region (netmap_if + rings + slots + buffers), of the kernel-private kring block,
 * of the CSB, and of the small control/stats blocks used by worker roles.
 *
 * All word offsets are in 32-bit words unless the name says BYTES. Words written by
 * different threads are kept on different 64-byte lines.
 */

export const CACHE_LINE_BYTES = 64;
export const WORDS_PER_LINE = CACHE_LINE_BYTES / 4;

// ---- slot flags (netmap values) ----
/** The user changed buf_idx: the kernel must reload the buffer address. */
export const NS_BUF_CHANGED = 0x0001;
/** Ask the kernel to report when this slot's packet has been sent. */
export const NS_REPORT = 0x0002;
/** Forward this packet to the other side (host stack <-> NIC). */
export const NS_FORWARD = 0x0004;
/** Every fragment of a multi-slot packet but the last. `len` is per fragment. */
export const NS_MOREFRAG = 0x0020;

// ---- sizes and limits ----
export const DEFAULT_BUF_SIZE = 2048;
/** Buffers 0 and 1 are reserved: never handed out; a bad buf_idx maps to buffer 0. */
export const RESERVED_BUFS = 2;
export const MIN_RING_SLOTS = 2;
export const MAX_RING_SLOTS = 16384;
export const DEFAULT_RING_SLOTS = 1024;
export const MAX_RINGS_PER_IF = 8;

// ---- slot: 8 bytes = [buf_idx u32][len u16][flags u16] ----
export const SLOT_BYTES = 8;
export const SLOT_WORDS = 2;
/** Word offset of buf_idx inside a slot (Uint32 view). */
export const SLOT_BUF_IDX = 0;
/** Half-word offsets inside a slot (Uint16 view). */
export const SLOT_LEN_HALF = 2;
export const SLOT_FLAGS_HALF = 3;

// ---- region header (line 0: the geometry as the port's user reads it; line 1 unused) ----
// The user's copy only: the kernel keeps its own copy in kernel memory (KG_* below) and
// never reads these words, so a user (a guest) that writes them only confuses itself.
export const REGION_MAGIC = 0x4e4d5342; // "NMSB"
export const REGION_VERSION = 2;
export const RH_MAGIC = 0;
export const RH_VERSION = 1;
export const RH_NUM_RINGS = 2;
export const RH_NUM_SLOTS = 3;
export const RH_BUF_SIZE = 4;
export const RH_NUM_BUFS = 5;
export const RH_RINGS_OFS = 6; // byte offset of the first ring header
export const RH_BUFS_OFS = 7; // byte offset of buffer 0
export const RH_NUM_IFS = 8;
export const RH_IFS_OFS = 9; // byte offset of the first netmap_if
export const RH_TOTAL_BYTES = 10;
export const REGION_HEADER_BYTES = 2 * CACHE_LINE_BYTES;

// ---- netmap_if: which rings an interface (a port end) sees ----
export const IF_NUM_TX = 0;
export const IF_NUM_RX = 1;
export const IF_TX_IDS = 2; // MAX_RINGS_PER_IF ring ids
export const IF_RX_IDS = IF_TX_IDS + MAX_RINGS_PER_IF;
export const IF_WORDS = 2 * WORDS_PER_LINE;
export const IF_BYTES = IF_WORDS * 4;

// ---- ring header: line 0 constants, line 1 user-written, line 2 kernel-written ----
export const RING_NUM_SLOTS = 0;
export const RING_BUF_SIZE = 1;
export const RING_ID = 2;
export const RING_DIR = 3; // 0 tx, 1 rx
export const RING_SLOTS_OFS = 4; // byte offset of slot 0
export const RING_HEAD = WORDS_PER_LINE + 0;
export const RING_CUR = WORDS_PER_LINE + 1;
export const RING_FLAGS = WORDS_PER_LINE + 2;
export const RING_TAIL = 2 * WORDS_PER_LINE + 0;
export const RING_HDR_WORDS = 3 * WORDS_PER_LINE;
export const RING_HDR_BYTES = RING_HDR_WORDS * 4;
export const DIR_TX = 0;
export const DIR_RX = 1;

// ---- kernel memory: the header (geometry, buffer pool), then a block per kring ----
// Kernel memory is never handed to a guest: what is here is the kernel's truth.
// Lines written by different threads are 128 bytes apart: the adjacent-line prefetcher
// pairs lines, so 64 bytes is not enough to stop two writers from sharing a pair.
export const PAIR_WORDS = 2 * WORDS_PER_LINE;
/** Pair 0 of the header: the region's geometry, written once when the memory is made. */
export const KG_MAGIC_VALUE = 0x4b4d5342; // "KMSB"
export const KG_MAGIC = 0;
export const KG_NUM_RINGS = 1;
export const KG_NUM_SLOTS = 2;
export const KG_BUF_SIZE = 3;
export const KG_NUM_BUFS = 4;
export const KG_NUM_IFS = 5;
/** Ring directions, bit `id` set for an RX ring. */
export const KG_RX_MASK = 6;
/** Per interface: its ring counts (tx | rx << 8), then the tx and the rx ring ids, a byte each. */
export const KG_IFS = 7;
export const KG_IF_WORDS = 1 + MAX_RINGS_PER_IF / 2;
/** At most this many interfaces (port ends) and rings in a region. */
export const MAX_IFS = 2;
export const MAX_RINGS = 32;
/** Pair 1 of the header: the pool of extra buffers, a free list linked through each free buffer's first word. */
export const KP_LOCK = PAIR_WORDS + 0;
export const KP_FREE_HEAD = PAIR_WORDS + 1;
export const KP_FREE_COUNT = PAIR_WORDS + 2;
export const KM_HEADER_BYTES = 2 * PAIR_WORDS * 4;
// pair 0: written by the peer (the pipe's other end publishes our tail here)
export const KR_PEER_TAIL = 0;
// pair 1: written by whoever syncs the ring: its private state, saved after each sync so
// another user (or thread) takes over from it, and the busy word (netmap's nm_kr_tryget:
// one sync at a time on a ring, whoever the users are).
export const KR_HWCUR = PAIR_WORDS + 0;
export const KR_HWTAIL = PAIR_WORDS + 1;
export const KR_BUSY = PAIR_WORDS + 2;
// The ring's sleeper, before it sleeps, says how much news is worth waking it for: wake
// it once the tail has moved KR_EV_WANT slots past KR_EV_START (0 or 1: any news). Read by
// wakers only when the sleep bit is set (src/kernel/notify.ts).
export const KR_EV_START = PAIR_WORDS + 3;
export const KR_EV_WANT = PAIR_WORDS + 4;
// pair 2: counters (Float64), written by the owner only
export const KR_COUNTERS_BYTE = 4 * CACHE_LINE_BYTES;
export const KC_SYNCS = 0;
export const KC_PACKETS = 1; // slots moved by this kring's syncs
export const KC_NOTIFIES = 2; // wake-ups this kring sent to a sleeping peer
export const KC_WAKEUPS = 3; // times the owner was woken from a sleep on this kring
export const KC_ERRORS = 4; // syncs rejected by validation (ring reset)
export const KC_DROPS = 5; // TX slots dropped (bad buf_idx or len)
export const KC_SLEEPS = 6; // times the owner went to sleep waiting on this kring
export const KC_KICKS = 7; // doorbells a guest driver rang for this ring (emulated NIC: MMIO writes)
export const KC_COUNT = 8;
export const COUNTER_NAMES = ['syncs', 'packets', 'notifies', 'wakeups', 'errors', 'drops', 'sleeps', 'kicks'] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];
export const KRING_BYTES = 6 * CACHE_LINE_BYTES;

// ---- kernel memory: one block per interface (port end) after the krings ----
// pair 0: the attach word: the number of users holding this end, KIF_EXCLUSIVE added
// while one holds it alone (netmap's NR_EXCLUSIVE), KIF_GONE once a VALE port has left
// its switch.
export const KIF_USERS = 0;
export const KIF_EXCLUSIVE = 0x40000000;
export const KIF_GONE = -1;
export const KIF_BYTES = 2 * CACHE_LINE_BYTES;

// ---- the bell: one small SAB per interface holding its sleep word (a futex) ----
// Kept apart from kernel memory because a passthrough guest must hold it (a kick is a
// notify on it) and must never hold kernel memory; whoever sleeps for the interface (its
// user's poll, or its kloop) waits on this one word, whatever is to wake it.
export const BELL_SLEEP = 0;
/** Bits in the sleep word: what the sleeper waits for. */
export const SLEEP_TX = 1;
export const SLEEP_RX = 2;
export const SLEEP_KICK = 4;
export const BELL_BYTES = CACHE_LINE_BYTES;

// ---- VALE: the switch's shared memory (port table, learning table) ----
// Held by host threads only (the namespace and the threads that attach its ports).
export const VALE_MAX_PORTS = 254;
export const SW_MAGIC = 0x56414c45; // "VALE"
export const SW_MAGIC_WORD = 0;
/** Set once when the namespace closes the switch (Netmap.close()): no port attaches after. */
export const SW_CLOSED = 1;
/** A random number naming the switch inside one thread (views are shared per thread). */
export const SW_ID = 2;
/** Bumped whenever a port joins or leaves: a forwarding thread re-reads the table then. */
export const SW_GENERATION = PAIR_WORDS;
/** Port table: one word per port, 0 = free, else the serial number of the port there. */
export const SW_PORTS = 2 * PAIR_WORDS;
/** Learning table: direct-mapped, 2 words an entry: MAC bytes 2-5, then bytes 0-1 << 16 | port + 1. */
export const SW_LEARN_ENTRIES = 1024;
export const SW_LEARN = alignUp(SW_PORTS + VALE_MAX_PORTS, 2 * PAIR_WORDS);
export const SW_WORDS = SW_LEARN + 2 * SW_LEARN_ENTRIES;
export const SW_BYTES = SW_WORDS * 4;

// ---- VALE: per port, the lease block of its RX ring (after the kmem of the region) ----
// Senders from any thread take slots of a destination RX ring under its lock (shm/lock.ts:
// bounded, and taken over from a holder that stays on it past LOCK_STALE_MS). A lease is
// committed by one store (VL_LEASE packs the next slot to lease and the next record), so a
// holder killed anywhere leaves the block consistent.
export const VL_LOCK = 0;
/** Next slot to lease (low 16 bits) | next lease record << 16. */
export const VL_LEASE = PAIR_WORDS + 0;
export const VL_LEASE_FIRST = PAIR_WORDS + 1; // oldest lease not yet folded into the tail
export const VL_TOKEN = PAIR_WORDS + 2; // last lease token handed out (1 .. 2^31 - 1)
/** Per-port counters (Float64), written by senders under the lock or by the owner. */
export const VL_COUNTERS_BYTE = 2 * PAIR_WORDS * 4;
export const VC_RX = 0; // packets delivered into this port
export const VC_TX = 1; // packets this port sent into the switch
// Packets lost at this port: those for it that did not fit, and those it sent to a MAC
// learned on itself (a switch never sends a frame back out its port; counted, so that
// sent = received + drops summed over the ports stays exact).
export const VC_DROPS = 2;
export const VC_FLOODS = 3; // packets this port sent that were flooded or broadcast
export const VC_BAD = 4; // frames this port sent that were too short or malformed
export const VC_LOCK_SPINS = 5; // failed tries on this port's lease lock (contention between senders)
// Leases into this port that a sender left unfinished past LOCK_STALE_MS (a sender thread
// killed mid-copy): their slots were handed to the receiver empty (len 0).
export const VC_REVOKED = 6;
export const VC_COUNT = 7;
export const VALE_COUNTER_NAMES = ['rx', 'tx', 'drops', 'floods', 'bad', 'lockSpins', 'revoked'] as const;
/**
 * Then three arrays of numSlots words, one entry per lease record: its state (the lease's
 * token while its sender copies, 0 once done), its first slot and the slot after its last.
 */
export const VL_RECORDS = VL_COUNTERS_BYTE / 4 + 2 * PAIR_WORDS;
export const VLR_STATE = 0;
export const VLR_START = 1;
export const VLR_END = 2;
/** Word index (from the lease block's base) of field `f` of record `r` in a ring of `n` slots. */
export function valeRecordWord(n: number, f: number, r: number): number {
  return VL_RECORDS + f * n + r;
}
export function valeLeaseBytes(numSlots: number): number {
  return VL_RECORDS * 4 + alignUp(3 * numSlots * 4, CACHE_LINE_BYTES);
}

// ---- CSB (passthrough): per ring, atok (guest writes) and ktoa (host writes) ----
export const CSB_ENTRY_BYTES = 2 * CACHE_LINE_BYTES;
export const CSB_ATOK = 0; // word offset of the atok line inside an entry
export const ATOK_HEAD = 0;
export const ATOK_CUR = 1;
export const ATOK_APPL_NEED_KICK = 2;
export const ATOK_SYNC_FLAGS = 3;
/** With appl_need_kick: interrupt the guest once hwtail has moved WANT slots past START (virtio's used_event). */
export const ATOK_APPL_EV_START = 4;
export const ATOK_APPL_EV_WANT = 5;
export const CSB_KTOA = WORDS_PER_LINE; // word offset of the ktoa line inside an entry
export const KTOA_HWCUR = 0;
export const KTOA_HWTAIL = 1;
export const KTOA_KERN_NEED_KICK = 2;
/** With kern_need_kick: the guest kicks once head has moved WANT slots past START (virtio's avail_event). */
export const KTOA_KERN_EV_START = 3;
export const KTOA_KERN_EV_WANT = 4;
/**
 * After the entries, one line: the irq word (host -> guest). A kick (guest -> host) is a
 * wake-up on the interface's bell, which also carries the peer's news to the kloop.
 */
export function csbBytes(numRings: number): number {
  return numRings * CSB_ENTRY_BYTES + CACHE_LINE_BYTES;
}
export function csbEntryWord(ring: number): number {
  return (ring * CSB_ENTRY_BYTES) / 4;
}
export function csbIrqWord(numRings: number): number {
  return (numRings * CSB_ENTRY_BYTES) / 4;
}

// ---- emulated NIC (e1000-style): descriptors in guest memory, a register file ----
// Legacy e1000 descriptors, 16 bytes = 4 words. TX: buffer address (64-bit), then
// length | cso << 16 | cmd << 24, then status | css << 8 | special << 16. RX: buffer
// address, then length | checksum << 16, then status | errors << 8 | special << 16.
export const E1K_DESC_BYTES = 16;
export const E1K_DESC_WORDS = 4;
export const E1K_DESC_ADDR_LO = 0;
export const E1K_DESC_ADDR_HI = 1;
export const E1K_DESC_LEN = 2;
export const E1K_DESC_STATUS = 3;
/** TX cmd bits (in the byte at bits 24..31 of the LEN word). */
export const E1K_TXD_CMD_EOP = 0x01;
export const E1K_TXD_CMD_IFCS = 0x02;
export const E1K_TXD_CMD_RS = 0x08;
/** Status bits: descriptor done; RX end of packet. */
export const E1K_STA_DD = 0x01;
export const E1K_RXD_STA_EOP = 0x02;
/** Interrupt causes (ICR bits): TX descriptor written back, RX timer (a packet arrived). */
export const E1K_ICR_TXDW = 0x01;
export const E1K_ICR_RXT0 = 0x80;
/** Descriptor memory: the TX descriptor ring, then the RX one. */
export function e1kDescBytes(numSlots: number): number {
  return 2 * numSlots * E1K_DESC_BYTES;
}
// The register file (BAR 0). Pair 0: written by the guest driver (the doorbells: an
// MMIO write of a tail register is a VM exit). Pair 1: written by the device.
export const E1K_TDT = 0;
export const E1K_RDT = 1;
export const E1K_TDH = PAIR_WORDS + 0;
export const E1K_RDH = PAIR_WORDS + 1;
export const E1K_ICR = PAIR_WORDS + 2;
export const E1K_REGS_BYTES = 2 * PAIR_WORDS * 4;

// ---- control block shared by a scenario's roles: stop flag and start barrier ----
export const CTL_STOP = 0;
export const CTL_READY = WORDS_PER_LINE + 0; // roles that reached their loop
export const CTL_GO = 2 * WORDS_PER_LINE + 0; // set by the coordinator to start
export const CTL_BYTES = 3 * CACHE_LINE_BYTES;

// ---- per-role stats block: one line written by the role, Float64 fields ----
export const ST_PACKETS = 0;
export const ST_BYTES = 1;
export const ST_BATCHES = 2; // syncs that moved at least one packet
export const ST_SEQ_GAPS = 3;
export const ST_SEQ_REORDER = 4;
export const ST_EMPTY = 5; // zero-length slots received (dropped by the kernel)
export const ST_EPOCH_WORD = 14; // Int32 word index inside the block, bumped after each update
export const ST_FIELDS = 6;
export const STATS_BYTES = CACHE_LINE_BYTES;

export function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}
