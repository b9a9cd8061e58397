/**
 * The memory layout: the single definition of every offset, size and field of a
 * region (netmap_if + rings + slots + buffers), of the kernel-private kring block,
 * of the CSB, and of the small control/stats blocks used by worker roles.
 *
 * All word offsets are in 32-bit words unless the name says BYTES. Words written by
 * different threads are kept on different 64-byte lines.
 */

/** Bytes in a cache line: words written by different threads are kept on different lines. */
export const CACHE_LINE_BYTES = 64;
/** 32-bit words in a cache line. */
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
/** Bytes in a packet buffer (netmap's default): the longest frame one slot holds. */
export const DEFAULT_BUF_SIZE = 2048;
/** Buffers 0 and 1 are reserved: never handed out; a bad buf_idx maps to buffer 0. */
export const RESERVED_BUFS = 2;
/** The fewest slots a ring may have. */
export const MIN_RING_SLOTS = 2;
/** The most slots a ring may have. */
export const MAX_RING_SLOTS = 16384;
/** Slots per ring when a port's options name none. */
export const DEFAULT_RING_SLOTS = 1024;
/** The most TX (and the most RX) rings one interface (a port end) sees. */
export const MAX_RINGS_PER_IF = 8;

// ---- slot: 8 bytes = [buf_idx u32][len u16][flags u16] ----
/** Bytes in a slot: buf_idx (u32), len (u16), flags (u16). */
export const SLOT_BYTES = 8;
/** 32-bit words in a slot. */
export const SLOT_WORDS = 2;
/** Word offset of buf_idx inside a slot (Uint32 view). */
export const SLOT_BUF_IDX = 0;
/** Half-word offsets inside a slot (Uint16 view). */
export const SLOT_LEN_HALF = 2;
/** Half-word offset of a slot's flags (NS_*) inside the slot (Uint16 view). */
export const SLOT_FLAGS_HALF = 3;

// ---- region header (line 0: the geometry as the port's user reads it; line 1 unused) ----
// The user's copy only: the kernel keeps its own copy in kernel memory (KG_* below) and
// never reads these words, so a user (a guest) that writes them only confuses itself.
/** Region header: the magic number of a region ("NMSB"). */
export const REGION_MAGIC = 0x4e4d5342;
/** Region header: the layout version a region was made with. */
export const REGION_VERSION = 2;
/** Region header word: REGION_MAGIC. */
export const RH_MAGIC = 0;
/** Region header word: REGION_VERSION. */
export const RH_VERSION = 1;
/** Region header word: rings in the region. */
export const RH_NUM_RINGS = 2;
/** Region header word: slots per ring. */
export const RH_NUM_SLOTS = 3;
/** Region header word: bytes per buffer. */
export const RH_BUF_SIZE = 4;
/** Region header word: buffers in the region. */
export const RH_NUM_BUFS = 5;
/** Region header word: byte offset of the first ring header. */
export const RH_RINGS_OFS = 6;
/** Region header word: byte offset of buffer 0. */
export const RH_BUFS_OFS = 7;
/** Region header word: interfaces (port ends) in the region. */
export const RH_NUM_IFS = 8;
/** Region header word: byte offset of the first netmap_if. */
export const RH_IFS_OFS = 9;
/** Region header word: the region's size in bytes. */
export const RH_TOTAL_BYTES = 10;
/** Bytes of the region header (two cache lines). */
export const REGION_HEADER_BYTES = 2 * CACHE_LINE_BYTES;

// ---- netmap_if: which rings an interface (a port end) sees ----
/** netmap_if word: how many TX rings the interface sees. */
export const IF_NUM_TX = 0;
/** netmap_if word: how many RX rings the interface sees. */
export const IF_NUM_RX = 1;
/** netmap_if words: the ids of its TX rings (MAX_RINGS_PER_IF words from here). */
export const IF_TX_IDS = 2;
/** netmap_if words: the ids of its RX rings (MAX_RINGS_PER_IF words from here). */
export const IF_RX_IDS = IF_TX_IDS + MAX_RINGS_PER_IF;
/** 32-bit words of a netmap_if. */
export const IF_WORDS = 2 * WORDS_PER_LINE;
/** Bytes of a netmap_if. */
export const IF_BYTES = IF_WORDS * 4;

// ---- ring header: line 0 constants, line 1 user-written, line 2 kernel-written ----
/** Ring header word (line 0, constant): slots in the ring. */
export const RING_NUM_SLOTS = 0;
/** Ring header word (line 0, constant): bytes per buffer. */
export const RING_BUF_SIZE = 1;
/** Ring header word (line 0, constant): the ring's id in the region. */
export const RING_ID = 2;
/** Ring header word (line 0, constant): the ring's direction, DIR_TX (0) or DIR_RX (1). */
export const RING_DIR = 3;
/** Ring header word (line 0, constant): byte offset of the ring's slot 0. */
export const RING_SLOTS_OFS = 4;
/** Ring header word (line 1, written by the user): head, the first slot the user owns. */
export const RING_HEAD = WORDS_PER_LINE + 0;
/** Ring header word (line 1, written by the user): cur, where the user wants to be woken from. */
export const RING_CUR = WORDS_PER_LINE + 1;
/** Ring header word (line 1, written by the user): the ring's flags. */
export const RING_FLAGS = WORDS_PER_LINE + 2;
/** Ring header word (line 2, written by the kernel): tail, the end of the slots the user owns. */
export const RING_TAIL = 2 * WORDS_PER_LINE + 0;
/** 32-bit words of a ring header (three cache lines). */
export const RING_HDR_WORDS = 3 * WORDS_PER_LINE;
/** Bytes of a ring header. */
export const RING_HDR_BYTES = RING_HDR_WORDS * 4;
/** RING_DIR of a TX ring. */
export const DIR_TX = 0;
/** RING_DIR of an RX ring. */
export const DIR_RX = 1;

// ---- kernel memory: the header (geometry, buffer pool), then a block per kring ----
// Kernel memory is never handed to a guest: what is here is the kernel's truth.
// Lines written by different threads are 128 bytes apart: the adjacent-line prefetcher
// pairs lines, so 64 bytes is not enough to stop two writers from sharing a pair.
/** 32-bit words in a pair of cache lines: kernel-memory fields written by different threads are this far apart. */
export const PAIR_WORDS = 2 * WORDS_PER_LINE;
/** Pair 0 of the header: the region's geometry, written once when the memory is made. */
export const KG_MAGIC_VALUE = 0x4b4d5342; // "KMSB"
/** Kernel geometry word: KG_MAGIC_VALUE. */
export const KG_MAGIC = 0;
/** Kernel geometry word: rings in the region. */
export const KG_NUM_RINGS = 1;
/** Kernel geometry word: slots per ring. */
export const KG_NUM_SLOTS = 2;
/** Kernel geometry word: bytes per buffer. */
export const KG_BUF_SIZE = 3;
/** Kernel geometry word: buffers in the region. */
export const KG_NUM_BUFS = 4;
/** Kernel geometry word: interfaces (port ends) in the region. */
export const KG_NUM_IFS = 5;
/** Ring directions, bit `id` set for an RX ring. */
export const KG_RX_MASK = 6;
/** Per interface: its ring counts (tx | rx << 8), then the tx and the rx ring ids, a byte each. */
export const KG_IFS = 7;
/** Kernel geometry: words per interface entry from KG_IFS (its counts, then its ring ids a byte each). */
export const KG_IF_WORDS = 1 + MAX_RINGS_PER_IF / 2;
/** At most this many interfaces (port ends) and rings in a region. */
export const MAX_IFS = 2;
/** At most this many rings in a region. */
export const MAX_RINGS = 32;
/** Pair 1 of the header: the pool of extra buffers, a free list linked through each free buffer's first word. */
export const KP_LOCK = PAIR_WORDS + 0;
/** Buffer pool word: the first free extra buffer (each free buffer's first word links to the next). */
export const KP_FREE_HEAD = PAIR_WORDS + 1;
/** Buffer pool word: how many extra buffers are free. */
export const KP_FREE_COUNT = PAIR_WORDS + 2;
/** Bytes of kernel memory's header (the geometry pair and the buffer pool pair), before the krings. */
export const KM_HEADER_BYTES = 2 * PAIR_WORDS * 4;
// pair 0: written by the peer (the pipe's other end publishes our tail here)
/** Kring word (pair 0, written by the peer): the tail the pipe's other end publishes for this ring. */
export const KR_PEER_TAIL = 0;
// pair 1: written by whoever syncs the ring: its private state, saved after each sync so
// another user (or thread) takes over from it, and the busy word (netmap's nm_kr_tryget:
// one sync at a time on a ring, whoever the users are).
/** Kring word (pair 1, written by whoever syncs): hwcur, saved after each sync. */
export const KR_HWCUR = PAIR_WORDS + 0;
/** Kring word (pair 1, written by whoever syncs): hwtail, saved after each sync. */
export const KR_HWTAIL = PAIR_WORDS + 1;
/** Kring word (pair 1): the busy lock, one sync at a time on a ring (netmap's nm_kr_tryget). */
export const KR_BUSY = PAIR_WORDS + 2;
// The ring's sleeper, before it sleeps, says how much news is worth waking it for: wake
// it once the tail has moved KR_EV_WANT slots past KR_EV_START (0 or 1: any news). Read by
// wakers only when the sleep bit is set (src/kernel/notify.ts).
/** Kring word: the slot the sleeper counts news from (see KR_EV_WANT). */
export const KR_EV_START = PAIR_WORDS + 3;
/** Kring word: wake the sleeper once the tail moved this many slots past KR_EV_START (0 or 1: any news). */
export const KR_EV_WANT = PAIR_WORDS + 4;
// pair 2: counters (Float64), written by the owner only
/** Byte offset of a kring's counters (Float64, written by the owner only) in its block. */
export const KR_COUNTERS_BYTE = 4 * CACHE_LINE_BYTES;
/** Kring counter: syncs. */
export const KC_SYNCS = 0;
/** Kring counter: slots moved by this kring's syncs. */
export const KC_PACKETS = 1;
/** Kring counter: wake-ups this kring sent to a sleeping peer. */
export const KC_NOTIFIES = 2;
/** Kring counter: times the owner was woken from a sleep on this kring. */
export const KC_WAKEUPS = 3;
/** Kring counter: syncs rejected by validation (the ring was reset). */
export const KC_ERRORS = 4;
/** Kring counter: TX slots dropped (a bad buf_idx or len). */
export const KC_DROPS = 5;
/** Kring counter: times the owner went to sleep waiting on this kring. */
export const KC_SLEEPS = 6;
/** Kring counter: doorbells a guest driver rang for this ring (emulated NIC: MMIO writes). */
export const KC_KICKS = 7;
/** How many kring counters there are. */
export const KC_COUNT = 8;
/** The kring counters' names, in KC_* order. */
export const COUNTER_NAMES = ['syncs', 'packets', 'notifies', 'wakeups', 'errors', 'drops', 'sleeps', 'kicks'] as const;
/** A kring counter's name. */
export type CounterName = (typeof COUNTER_NAMES)[number];
/** Bytes of a kring's block in kernel memory. */
export const KRING_BYTES = 6 * CACHE_LINE_BYTES;

// ---- kernel memory: one block per interface (port end) after the krings ----
// pair 0: the attach word: the number of users holding this end, KIF_EXCLUSIVE added
// while one holds it alone (netmap's NR_EXCLUSIVE), KIF_GONE once a VALE port has left
// its switch.
/** Interface word: the users holding this end, plus KIF_EXCLUSIVE while one holds it alone, or KIF_GONE. */
export const KIF_USERS = 0;
/** Added to KIF_USERS while one user holds the end alone (netmap's NR_EXCLUSIVE). */
export const KIF_EXCLUSIVE = 0x40000000;
/** KIF_USERS once a VALE port has left its switch: nobody attaches it again. */
export const KIF_GONE = -1;
/** Bytes of an interface's block in kernel memory. */
export const KIF_BYTES = 2 * CACHE_LINE_BYTES;

// ---- the bell: one small SAB per interface holding its sleep word (a futex) ----
// Kept apart from kernel memory because a passthrough guest must hold it (a kick is a
// notify on it) and must never hold kernel memory; whoever sleeps for the interface (its
// user's poll, or its kloop) waits on this one word, whatever is to wake it.
/** Bell word: the interface's sleep word (a futex), SLEEP_* bits for what its sleeper waits for. */
export const BELL_SLEEP = 0;
/** Bits in the sleep word: what the sleeper waits for. */
export const SLEEP_TX = 1;
/** Sleep word bit: the sleeper waits for RX news. */
export const SLEEP_RX = 2;
/** Sleep word bit: the sleeper (a kloop) waits for a guest's kick. */
export const SLEEP_KICK = 4;
/** Bytes of a bell (one cache line, in its own SharedArrayBuffer). */
export const BELL_BYTES = CACHE_LINE_BYTES;

// ---- VALE: the switch's shared memory (port table, learning table) ----
// Held by host threads only (the namespace and the threads that attach its ports).
/** The most ports on one VALE switch. */
export const VALE_MAX_PORTS = 254;
/** Switch memory: the magic number of a VALE switch's memory ("VALE"). */
export const SW_MAGIC = 0x56414c45;
/** Switch memory word: SW_MAGIC. */
export const SW_MAGIC_WORD = 0;
/** Set once when the namespace closes the switch (Netmap.close()): no port attaches after. */
export const SW_CLOSED = 1;
/** Two random words (2 and 3) naming the switch inside one thread (views are shared per thread). */
export const SW_ID = 2;
/**
 * A monitor (netmap's copy monitors, /t /r): low 16 bits the monitor port's index + 1 (0:
 * none), high 16 bits the watched port's index + 1 (SW_MON_ALL: every port, the whole
 * switch). One word, so a sender reads a consistent pair with one load per txsync.
 */
export const SW_MONITOR = 4;
/** SW_MONITOR's watched-port half when the monitor watches the whole switch. */
export const SW_MON_ALL = 0xffff;
/** Bumped whenever a port joins or leaves: a forwarding thread re-reads the table then. */
export const SW_GENERATION = PAIR_WORDS;
/** Port table: one word per port, 0 = free, else the serial number of the port there. */
export const SW_PORTS = 2 * PAIR_WORDS;
/** Learning table: direct-mapped, 2 words an entry: MAC bytes 0-3 (a little-endian word), then bytes 4-5 << 16 | port + 1. */
export const SW_LEARN_ENTRIES = 1024;
/** Switch memory: word offset of the learning table. */
export const SW_LEARN = alignUp(SW_PORTS + VALE_MAX_PORTS, 2 * PAIR_WORDS);
/** 32-bit words of a switch's memory. */
export const SW_WORDS = SW_LEARN + 2 * SW_LEARN_ENTRIES;
/** Bytes of a switch's memory. */
export const SW_BYTES = SW_WORDS * 4;

// ---- VALE: per port, the lease block of its RX ring (after the kmem of the region) ----
// Senders from any thread take slots of a destination RX ring under its lock (shm/lock.ts:
// bounded, and taken over from a holder that stays on it past LOCK_STALE_MS). A lease is
// committed by one store (VL_LEASE packs the next slot to lease and the next record), so a
// holder killed anywhere leaves the block consistent.
/** Lease block word: the lock senders take a destination RX ring's slots under (shm/lock.ts). */
export const VL_LOCK = 0;
/** Next slot to lease (low 16 bits) | next lease record << 16. */
export const VL_LEASE = PAIR_WORDS + 0;
/** Lease block word: the oldest lease not yet folded into the tail. */
export const VL_LEASE_FIRST = PAIR_WORDS + 1;
/** Lease block word: the last lease token handed out (1 .. 2^31 - 1). */
export const VL_TOKEN = PAIR_WORDS + 2;
/** Per-port counters (Float64), written by senders under the lock or by the owner. */
export const VL_COUNTERS_BYTE = 2 * PAIR_WORDS * 4;
/** VALE port counter: packets delivered into this port. */
export const VC_RX = 0;
/** VALE port counter: packets this port sent into the switch. */
export const VC_TX = 1;
// Packets lost at this port: those for it that did not fit, and those it sent to a MAC
// learned on itself (a switch never sends a frame back out its port; counted, so that
// sent = received + drops summed over the ports stays exact).
/** VALE port counter: packets lost at this port (no room for them, or sent to a MAC learned on itself). */
export const VC_DROPS = 2;
/** VALE port counter: packets this port sent that were flooded or broadcast. */
export const VC_FLOODS = 3;
/** VALE port counter: frames this port sent that were too short or malformed. */
export const VC_BAD = 4;
/** VALE port counter: failed tries on this port's lease lock (contention between senders). */
export const VC_LOCK_SPINS = 5;
// Leases into this port that a sender left unfinished past LOCK_STALE_MS (a sender thread
// killed mid-copy): their slots were handed to the receiver empty (len 0).
/** VALE port counter: leases a sender left unfinished past LOCK_STALE_MS, handed to the receiver empty. */
export const VC_REVOKED = 6;
/** How many VALE port counters there are. */
export const VC_COUNT = 7;
/** The VALE port counters' names, in VC_* order. */
export const VALE_COUNTER_NAMES = ['rx', 'tx', 'drops', 'floods', 'bad', 'lockSpins', 'revoked'] as const;
/**
 * Then three arrays of numSlots words, one entry per lease record: its state (the lease's
 * token while its sender copies, 0 once done), its first slot and the slot after its last.
 */
export const VL_RECORDS = VL_COUNTERS_BYTE / 4 + 2 * PAIR_WORDS;
/** Lease record field: its token while its sender copies, 0 once done. */
export const VLR_STATE = 0;
/** Lease record field: its first slot. */
export const VLR_START = 1;
/** Lease record field: the slot after its last. */
export const VLR_END = 2;
/** Word index (from the lease block's base) of field `f` of record `r` in a ring of `n` slots. */
export function valeRecordWord(n: number, f: number, r: number): number {
  return VL_RECORDS + f * n + r;
}
/** Bytes of a VALE port's lease block for an RX ring of `numSlots` slots. */
export function valeLeaseBytes(numSlots: number): number {
  return VL_RECORDS * 4 + alignUp(3 * numSlots * 4, CACHE_LINE_BYTES);
}

// ---- CSB (passthrough): per ring, atok (guest writes) and ktoa (host writes) ----
/** Bytes of a CSB entry (one per ring): the atok line, then the ktoa line. */
export const CSB_ENTRY_BYTES = 2 * CACHE_LINE_BYTES;
/** Word offset of the atok line (written by the guest) inside a CSB entry. */
export const CSB_ATOK = 0;
/** atok word: the guest's head. */
export const ATOK_HEAD = 0;
/** atok word: the guest's cur. */
export const ATOK_CUR = 1;
/** atok word: the guest wants an interrupt (it is about to sleep). */
export const ATOK_APPL_NEED_KICK = 2;
/** atok word: netmap's sync_flags (kept for the layout; not read here). */
export const ATOK_SYNC_FLAGS = 3;
/** With appl_need_kick: interrupt the guest once hwtail has moved WANT slots past START (virtio's used_event). */
export const ATOK_APPL_EV_START = 4;
/** atok word: with ATOK_APPL_EV_START, how many slots hwtail must move before the guest is interrupted. */
export const ATOK_APPL_EV_WANT = 5;
/** Word offset of the ktoa line (written by the host) inside a CSB entry. */
export const CSB_KTOA = WORDS_PER_LINE;
/** ktoa word: the host's hwcur. */
export const KTOA_HWCUR = 0;
/** ktoa word: the host's hwtail. */
export const KTOA_HWTAIL = 1;
/** ktoa word: the host (the kloop) wants a kick (it is about to sleep). */
export const KTOA_KERN_NEED_KICK = 2;
/** With kern_need_kick: the guest kicks once head has moved WANT slots past START (virtio's avail_event). */
export const KTOA_KERN_EV_START = 3;
/** ktoa word: with KTOA_KERN_EV_START, how many slots head must move before the guest kicks. */
export const KTOA_KERN_EV_WANT = 4;
/**
 * After the entries, one line: the irq word (host -> guest). A kick (guest -> host) is a
 * wake-up on the interface's bell, which also carries the peer's news to the kloop.
 */
export function csbBytes(numRings: number): number {
  return numRings * CSB_ENTRY_BYTES + CACHE_LINE_BYTES;
}
/** Word offset of ring `ring`'s CSB entry. */
export function csbEntryWord(ring: number): number {
  return (ring * CSB_ENTRY_BYTES) / 4;
}
/** Word offset of the CSB's irq word (host -> guest) after the entries of `numRings` rings. */
export function csbIrqWord(numRings: number): number {
  return (numRings * CSB_ENTRY_BYTES) / 4;
}

// ---- emulated NIC (e1000-style): descriptors in guest memory, a register file ----
// Legacy e1000 descriptors, 16 bytes = 4 words. TX: buffer address (64-bit), then
// length | cso << 16 | cmd << 24, then status | css << 8 | special << 16. RX: buffer
// address, then length | checksum << 16, then status | errors << 8 | special << 16.
/** Bytes of a legacy e1000 descriptor. */
export const E1K_DESC_BYTES = 16;
/** 32-bit words of an e1000 descriptor. */
export const E1K_DESC_WORDS = 4;
/** e1000 descriptor word: the buffer address, low 32 bits. */
export const E1K_DESC_ADDR_LO = 0;
/** e1000 descriptor word: the buffer address, high 32 bits. */
export const E1K_DESC_ADDR_HI = 1;
/** e1000 descriptor word: length (TX: with cso << 16 and cmd << 24; RX: with the checksum << 16). */
export const E1K_DESC_LEN = 2;
/** e1000 descriptor word: status (with css or errors << 8, special << 16). */
export const E1K_DESC_STATUS = 3;
/** TX cmd bits (in the byte at bits 24..31 of the LEN word). */
export const E1K_TXD_CMD_EOP = 0x01;
/** e1000 TX cmd bit: insert the FCS. */
export const E1K_TXD_CMD_IFCS = 0x02;
/** e1000 TX cmd bit: report status (write DD back when sent). */
export const E1K_TXD_CMD_RS = 0x08;
/** Status bits: descriptor done; RX end of packet. */
export const E1K_STA_DD = 0x01;
/** e1000 RX status bit: end of packet. */
export const E1K_RXD_STA_EOP = 0x02;
/** Interrupt causes (ICR bits): TX descriptor written back, RX timer (a packet arrived). */
export const E1K_ICR_TXDW = 0x01;
/** e1000 interrupt cause: RX timer (a packet arrived). */
export const E1K_ICR_RXT0 = 0x80;
/** Descriptor memory: the TX descriptor ring, then the RX one. */
export function e1kDescBytes(numSlots: number): number {
  return 2 * numSlots * E1K_DESC_BYTES;
}
// The register file (BAR 0). Pair 0: written by the guest driver (the doorbells: an
// MMIO write of a tail register is a VM exit). Pair 1: written by the device.
/** e1000 register (written by the driver): the TX tail, its doorbell. */
export const E1K_TDT = 0;
/** e1000 register (written by the driver): the RX tail, its doorbell. */
export const E1K_RDT = 1;
/** e1000 register (written by the device): the TX head. */
export const E1K_TDH = PAIR_WORDS + 0;
/** e1000 register (written by the device): the RX head. */
export const E1K_RDH = PAIR_WORDS + 1;
/** e1000 register (written by the device): the interrupt causes (E1K_ICR_* bits). */
export const E1K_ICR = PAIR_WORDS + 2;
/** Bytes of the e1000 register file. */
export const E1K_REGS_BYTES = 2 * PAIR_WORDS * 4;

// ---- NIC ports (nicN): the hardware's block after a NIC's kernel memory ----
// A NIC port's kernel side is its driver (txsync/rxsync in the user's thread); the NIC
// itself is a wire thread. They share this block, which only the kernel and the wire
// hold (a guest the NIC is passed through to never sees it). Netmap's native drivers map
// slot k to NIC descriptor k; so do we: the descriptor rings hold the buffer index and
// length the driver validated, so nothing the port's user writes later reaches the wire.
// Block 0 (TX, written by the driver): the tail register (TDT): slots before it are posted.
/** NIC block word (TX, written by the driver): the tail register TDT, slots before it are posted. */
export const NIC_TDT = 0;
// Block 1 (TX, written by the wire): the head register (TDH): slots before it are sent.
/** NIC block word (TX, written by the wire): the head register TDH, slots before it are sent. */
export const NIC_TDH = PAIR_WORDS + 0;
// Block 2 (RX, written by the driver): the driver's hwcur: the wire fills slot RDH only
// while the slot after it is not this one (one slot stays empty, as in netmap).
/** NIC block word (RX, written by the driver): its hwcur; the wire leaves the slot before it empty. */
export const NIC_RX_HWCUR = 2 * PAIR_WORDS + 0;
// RX, written by the wire: the next slot to fill (RDH) is the RX kring's peer tail
// (KR_PEER_TAIL), which poll reads as for any port.
// Block 3: the wire's sleep word (1 while it sleeps waiting for TX work: the driver's
// txsync notifies it, as a write of TDT wakes a real NIC's DMA engine).
/** NIC block word: 1 while the wire sleeps waiting for TX work (the driver's txsync wakes it). */
export const NIC_WIRE_SLEEP = 3 * PAIR_WORDS + 0;
// Block 4: the wire's counters (Float64), written by the wire only.
/** Byte offset of the wire's counters (Float64, written by the wire only) in a NIC's block. */
export const NIC_COUNTERS_BYTE = 4 * PAIR_WORDS * 4;
/** NIC counter: frames the wire sent out of this NIC. */
export const NICC_TX_FRAMES = 0;
/** NIC counter: bytes the wire sent out of this NIC. */
export const NICC_TX_BYTES = 1;
/** NIC counter: frames the wire put into this NIC's RX ring. */
export const NICC_RX_FRAMES = 2;
/** NIC counter: bytes the wire put into this NIC's RX ring. */
export const NICC_RX_BYTES = 3;
/** NIC counter: frames that arrived with the RX ring full (a NIC's missed packets). */
export const NICC_RX_MISSED = 4;
/** NIC counter: TX descriptors the driver posted empty (a bad slot it dropped). */
export const NICC_TX_BAD = 5;
/** NIC counter: times the driver woke the sleeping wire. */
export const NICC_WIRE_WAKEUPS = 6;
/** NIC counter: frames longer than the RX ring can take as a fragment chain. */
export const NICC_RX_TOO_LONG = 7;
/** How many NIC counters there are. */
export const NICC_COUNT = 8;
/** The NIC counters' names, in NICC_* order. */
export const NIC_COUNTER_NAMES = [
  'txFrames',
  'txBytes',
  'rxFrames',
  'rxBytes',
  'rxMissed',
  'txBad',
  'wireWakeups',
  'rxTooLong',
] as const;
// Then the descriptor rings: TX, then RX, 2 words a descriptor: buffer index, then
// length (low 16 bits) | flags << 16 (NS_MOREFRAG on every fragment but a frame's last).
/** Byte offset of a NIC's descriptor rings (TX, then RX) in its block. */
export const NIC_DESC_BYTE = 5 * PAIR_WORDS * 4;
/** 32-bit words of a NIC descriptor: the buffer index, then length | flags << 16. */
export const NIC_DESC_WORDS = 2;
/** Bytes of a NIC's hardware block for rings of `numSlots` slots. */
export function nicHwBytes(numSlots: number): number {
  return NIC_DESC_BYTE + 2 * numSlots * NIC_DESC_WORDS * 4;
}
/** Ethernet's overhead per frame on the wire: preamble + SFD (8), inter-frame gap (12), FCS (4). */
export const ETH_WIRE_OVERHEAD = 24;
/** The shortest frame on the wire without its FCS: shorter ones are padded to it. */
export const ETH_MIN_FRAME = 60;

// ---- control block shared by a scenario's roles: stop flag and start barrier ----
/** Control block word: the stop flag of a run's roles (STOP_* levels). */
export const CTL_STOP = 0;
/** Control block word: how many roles reached their loop. */
export const CTL_READY = WORDS_PER_LINE + 0;
/** Control block word: set by the coordinator to start the roles. */
export const CTL_GO = 2 * WORDS_PER_LINE + 0;
/** Bytes of a control block. */
export const CTL_BYTES = 3 * CACHE_LINE_BYTES;

// ---- per-role stats block: one line written by the role, Float64 fields ----
/** Role stats field (Float64): packets. */
export const ST_PACKETS = 0;
/** Role stats field (Float64): bytes. */
export const ST_BYTES = 1;
/** Role stats field (Float64): syncs that moved at least one packet. */
export const ST_BATCHES = 2;
/** Role stats field (Float64): sequence numbers missing (rxseq). */
export const ST_SEQ_GAPS = 3;
/** Role stats field (Float64): sequence numbers out of order (rxseq). */
export const ST_SEQ_REORDER = 4;
/** Role stats field (Float64): zero-length slots received (dropped by the kernel). */
export const ST_EMPTY = 5;
/** Role stats: the Int32 word index inside the block that the role bumps after each update. */
export const ST_EPOCH_WORD = 14;
/** How many Float64 fields a role's stats block has. */
export const ST_FIELDS = 6;
/** Bytes of a role's stats block (one cache line). */
export const STATS_BYTES = CACHE_LINE_BYTES;

/** `n` rounded up to a multiple of `a`. */
export function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}
