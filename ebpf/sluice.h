/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Sluice XDP forwarder: the layout contract between ebpf/sluice.c and user
 * space. Every type, constant and enum value here is mirrored by
 * router/dataplane/src/layout.rs, and tests there compare the two (the
 * verdict enum is read from this file; map sizes from the object's BTF).
 * Change both together; pinned maps of an older layout are incompatible.
 */
#ifndef SLUICE_H
#define SLUICE_H

#include <linux/types.h>

/* ---- IPv4 FIB, DIR-24-8 --------------------------------------------------
 * 16-bit entries: 0 = no route; bit 15 set = "look in tbl8 group
 * (v & 0x7fff)"; otherwise a next-hop-group id 1..=32767.
 * Four entries are packed into one u64 array element: logical entry i is
 * element i >> 2, bits 16 * (i & 3) .. +15 (native byte order).
 * fib4_top is indexed by the destination's top 24 bits; tbl8 group g with
 * the destination's last octet b is logical entry g * 256 + b of fib4_tbl8.
 */
#define FIB4_TOP_ENTRIES   (1u << 24)
#define FIB4_ENTRIES_PER_WORD 4u
#define FIB4_TOP_WORDS     (FIB4_TOP_ENTRIES / FIB4_ENTRIES_PER_WORD)
#define FIB4_TBL8_GROUPS   8192u
#define FIB4_TBL8_WORDS    (FIB4_TBL8_GROUPS * 256u / FIB4_ENTRIES_PER_WORD)
#define FIB4_TBL8_FLAG     0x8000u
#define FIB4_VALUE_MASK    0x7fffu

/* ---- IPv4 FIB, the top level's codes --------------------------------------
 * fib4_codes holds a 4-bit code per top entry, sixteen per u64 element
 * (entry i: element i >> 4, bits 4 * (i & 15) .. +3), then the palette:
 * FIB4_PALETTE_WORDS elements of four u16 entries (slot s: element
 * FIB4_CODE_WORDS + (s >> 2), bits 16 * (s & 3)). A code other than
 * FIB4_CODE_TOP is the slot holding the entry (slot 0 always holds 0, no
 * route); FIB4_CODE_TOP says read fib4_top (a tbl8 group, or a next-hop
 * group the palette has no slot for). A random destination then reads an
 * 8 MiB array, not the 32 MiB top level: fewer pages and cache lines.
 * An entry is written to fib4_top before its code. */
#define FIB4_CODES_PER_WORD 16u
#define FIB4_CODE_WORDS    (FIB4_TOP_ENTRIES / FIB4_CODES_PER_WORD)
#define FIB4_PALETTE_SLOTS 16u
#define FIB4_PALETTE_WORDS (FIB4_PALETTE_SLOTS / FIB4_ENTRIES_PER_WORD)
#define FIB4_CODE_TOP      15u

/* ---- IPv4 FIB, DXR ranges (FIB_MODE_DXR, SLUICE_DXR builds only) --------
 * fib4_direct: one u64 per /18 chunk (index daddr >> 14): bit 63 set = the
 * group for the whole chunk (bits 0..15); else bits 0..31 index the chunk's
 * first range and bits 32..47 count them. Ranges are u32
 * `start << 16 | group` (start = offset in the chunk), two per u64 element
 * of fib4_ranges (range i: element i >> 1, bits 32 * (i & 1) ..), sorted;
 * the answer is the last range starting at or before daddr & 0x3fff. */
#define DXR_DIRECT_BITS    18u
#define DXR_DIRECT_ENTRIES (1u << 18)
#define DXR_CHUNK_MASK     0x3fffu
#define DXR_RANGES         (1u << 21)
#define DXR_RANGE_WORDS    (DXR_RANGES / 2u)

/* ---- IPv4 FIB, poptrie (FIB_MODE_POP4, SLUICE_DXR builds only) ----------
 * The IPv6 layout below over the key daddr << 90 (a 128-bit key whose bits
 * 6..37 are the address): the direct entry is the /10, the fan entry the
 * /18, and nodes decide on bits 18..23, 24..29 and 30..31. */
#define POP4_SHIFT         26u /* the key's high 64 bits: daddr << 26 */
#define POP4_FANS          1024u
#define POP4_FAN_WORDS     (POP4_FANS * FIB6_FAN_ENTRIES / 2u)
#define POP4_NODES         (1u << 20)
#define POP4_LEAVES        (1u << 23)
#define POP4_LEAF_WORDS    (POP4_LEAVES / 4u)
#define POP4_LEVELS        3u

/* ---- IPv6 FIB: a Poptrie-style multibit trie (router/dataplane/src/poptrie.rs)
 * fib6_direct: u32 per /16 chunk (daddr's top 16 bits), two per u64 element
 * (entry i: element i >> 1, bits 32 * (i & 1) ..). FIB6_INDEX set = bits
 * 0..30 index the chunk's fan; else the group (bits 0..15) for the chunk,
 * so zeroed maps read as no route.
 * fib6_fans: FIB6_FAN_ENTRIES u32 per fan, packed the same way; entry
 * fan * 256 + daddr bits 16..23. FIB6_INDEX set = a root node; else the group.
 * fib6_nodes: a node at depth d (24, 30, .. 126) takes v = daddr bits
 * d..d+5 (past bit 127: zeros); bit v of vector set = go on at node
 * base1 + popcount(vector & bits 0..v) - 1; else the group is leaf
 * base0 + popcount(leafvec & bits 0..v) - 1 of fib6_leaves (u16, four per
 * u64 element, as fib4). A node with FIB6_INLINE in base1 has no child and
 * keeps its (at most four) leaves in vector: the group is u16 number
 * popcount(leafvec & bits 0..v) - 1 of it. */
#define FIB6_DIRECT_ENTRIES (1u << 16)
#define FIB6_DIRECT_WORDS  (FIB6_DIRECT_ENTRIES / 2u)
#define FIB6_FAN_ENTRIES   256u
#define FIB6_FANS          512u
#define FIB6_FAN_WORDS     (FIB6_FANS * FIB6_FAN_ENTRIES / 2u)
#define FIB6_NODES         (1u << 21)
#define FIB6_LEAVES        (1u << 22)
#define FIB6_LEAF_WORDS    (FIB6_LEAVES / 4u)
#define FIB6_INDEX         0x80000000u
#define FIB6_INLINE        0x80000000u
#define FIB6_ROOT_DEPTH    24u
#define FIB6_LEVELS        18u
/* Lines of a slot's node run the program loads before the walk (fib6_touch). */
#define FIB6_TOUCH_LINES   12u
struct fib6_node {
	__u64 vector;
	__u64 leafvec;
	__u32 base0; /* first leaf */
	__u32 base1; /* first child node */
};

/* An LPM trie key: (prefix length, IPv6 address), for src6 and, in the
 * SLUICE_DXR build, the trie the IPv6 FIB is measured against. */
#define FIB6_TRIE_ENTRIES  262144u
struct fib6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* ---- next-hop groups ------------------------------------------------------
 * Resilient hashing: a flow's hash picks one of NH_BUCKETS buckets; each
 * bucket holds a next-hop id (0 = empty). User space fills the buckets in
 * proportion to the members' weights and, on a member change, rewrites only
 * the buckets that must move.
 */
#define NH_BUCKETS         64u
#define NH_GROUPS_MAX      32768u
/* A FIB entry (either family) naming this group drops the packet
 * (VERDICT_DROP_DISCARD): a discard route, e.g. for an announced aggregate.
 * Its nh_groups slot is never read. Ordinary group ids are 1..32766. */
#define GROUP_DISCARD      32767u /* NH_GROUPS_MAX - 1 */
struct nh_group {
	__u16 buckets[NH_BUCKETS];
};

/* ---- next hops (id 0 is never used) --------------------------------------- */
#define NEXTHOPS_MAX       65536u
#define NH_F_VALID         0x1u
#define NH_F_MAC_KNOWN     0x2u
struct nexthop {
	__u32 ifindex; /* egress interface (a VLAN's parent); also the tx_ports key */
	__u8 dmac[6];  /* the next hop's MAC */
	__u8 smac[6];  /* the egress interface's MAC */
	__u16 mtu;     /* egress L3 MTU; a larger IP packet is punted (0 punts all) */
	__u16 flags;   /* NH_F_* */
	__u16 vlan;    /* 802.1Q VLAN id to leave with; 0: untagged */
	__u16 _pad;
};

/* ---- egress ports: DEVMAP_HASH keyed by ifindex (any ifindex) ---------- */
#define TX_PORTS_MAX       1024u

/* ---- the router's own addresses -------------------------------------------- */
#define OWN_ADDRS_MAX      4096u

/* ---- interfaces Sluice routes on: HASH keyed by (ingress ifindex, VLAN) ---
 * A frame is routed only if its (ingress ifindex, VLAN id or 0) has an
 * entry and its unicast destination MAC is the entry's. A VLAN
 * sub-interface (eth1.100) is an entry of its parent's ifindex. */
#define IFACES_MAX         1024u
#define IF_F_ANTISPOOF     0x1u /* BCP 38: drop sources outside src4 / src6 */
#define IF_F_MARTIAN       0x2u /* uplink: drop sources martian4 / martian6 mark */
struct if_key {
	__u32 ifindex; /* the interface the program is attached to */
	__u32 vlan;    /* 802.1Q VLAN id; 0: untagged (or priority-tagged) */
};
struct iface {
	__u32 flags;   /* IF_F_* */
	__u32 ifindex; /* the logical interface (the VLAN device), for bpf_fib_lookup */
	__u8 mac[6];   /* its MAC: other unicast destinations are not routed */
	__u16 _pad;
};

/* ---- martian sources per uplink: LPM tries keyed by (port, source) -------
 * The key's first 64 bits are the struct if_key of the ingress port, so
 * every entry has prefixlen >= 64. Value 1: drop (the site's own announced
 * space, bogons); value 0: allowed (the uplink's connected subnet, a more
 * specific entry that wins). */
#define MARTIANS_MAX       8192u
struct martian4_key {
	__u32 prefixlen;
	struct if_key port;
	__u8 addr[4];
};
struct martian6_key {
	__u32 prefixlen;
	struct if_key port;
	__u8 addr[16];
};

/* ---- the site's own address space (anti-spoofing): LPM tries, value 1 ----- */
#define SRC_PREFIXES_MAX   1024u
struct src4_key {
	__u32 prefixlen;
	__u8 addr[4];
};
/* src6 is keyed by struct fib6_key. */

/* ---- global settings: ARRAY with one entry (key 0) ------------------------- */
#define FIB_MODE_SLUICE    0u /* fib4_top / fib4_tbl8 / fib6_* -> nh_groups -> nexthops */
#define FIB_MODE_KERNEL    1u /* bpf_fib_lookup() on the kernel FIB and neighbours */
#define FIB_MODE_DXR       2u /* as SLUICE, IPv4 from fib4_direct / fib4_ranges
                                 * (only built with SLUICE_DXR, for measuring) */
#define FIB_MODE_TRIE6     3u /* as SLUICE, IPv6 from the LPM trie fib6_trie
                                 * (only built with SLUICE_DXR, for measuring) */
#define FIB_MODE_POP4      4u /* as SLUICE, IPv4 from the poptrie pop4_*
                                 * (only built with SLUICE_DXR, for measuring) */
/* settings.flags in the measuring build (SLUICE_DXR): return XDP_DROP
 * after a stage, so a benchmark can time each stage of the forwarding path
 * by difference. */
#define STOP_PARSE         1u /* before the route lookup: parsing and checks */
#define STOP_LOOKUP        2u /* after the lookup */
#define STOP_NEXTHOP       3u /* after the flow hash and the next hop's bucket */
#define STOP_REWRITE       4u /* after the VLAN tag and the TTL (before the MACs,
                                 * counters and bpf_redirect_map) */
struct settings {
	__u32 fib_mode;  /* FIB_MODE_* */
	__u32 flags;     /* SLUICE_DXR builds: STOP_* (0 in the daemon's) */
	__u32 hash_seed; /* flow hash seed: random per start, kept on adoption */
	__u32 _pad;
};

/* ---- counters -------------------------------------------------------------- */
struct nh_stats {
	__u64 packets;
	__u64 bytes; /* whole frames as received, Ethernet header included */
};

/* Why a packet got its verdict; index into the per-CPU `verdicts` array.
 * Keep the explicit values: layout.rs is checked against them. */
enum verdict {
	VERDICT_FORWARDED = 0,         /* redirected to the next hop */
	VERDICT_PASS_NOT_IP = 1,       /* not IPv4/IPv6 (or stacked VLAN tags) */
	VERDICT_PASS_ARP_ND = 2,       /* ARP; ICMPv6 RS/RA/NS/NA/redirect */
	VERDICT_PASS_LOCAL = 3,        /* destination is one of our addresses */
	VERDICT_PASS_SPECIAL_ADDR = 4, /* multicast/broadcast/loopback/unspecified/reserved */
	VERDICT_PASS_LINK_LOCAL = 5,   /* link-local source or destination */
	VERDICT_PASS_TTL = 6,          /* TTL / hop limit <= 1 */
	VERDICT_PASS_OPTIONS = 7,      /* IPv4 header with options */
	VERDICT_PASS_IPV6_EXT = 8,     /* IPv6 next header not TCP/UDP/ICMPv6 */
	VERDICT_PASS_NO_ROUTE = 9,     /* no FIB entry */
	VERDICT_PASS_NO_NEXTHOP = 10,  /* empty bucket, or next hop not valid */
	VERDICT_PASS_NO_MAC = 11,      /* next hop's MAC not known yet */
	VERDICT_PASS_MTU = 12,         /* IP packet larger than the egress MTU */
	VERDICT_PASS_NO_TX_PORT = 13,  /* egress ifindex not in tx_ports */
	VERDICT_DROP_MALFORMED = 14,   /* truncated or inconsistent headers */
	VERDICT_DROP_BAD_CHECKSUM = 15, /* IPv4 header checksum wrong */
	VERDICT_DROP_DISCARD = 16,     /* FIB entry names GROUP_DISCARD */
	VERDICT_DROP_SPOOFED = 17,     /* source outside src4/src6 on an antispoof interface */
	VERDICT_PASS_UNREACHABLE = 18, /* kernel FIB: blackhole/unreachable/prohibit route */
	VERDICT_PASS_FWD_DISABLED = 19, /* kernel FIB: forwarding off on the ingress interface */
	VERDICT_PASS_NOT_ROUTED = 20,  /* (ingress interface, VLAN) not in ifaces */
	VERDICT_PASS_NOT_FOR_US = 21,  /* unicast destination MAC is not the interface's */
	VERDICT_DROP_MARTIAN = 22,     /* uplink: source is ours or a bogon (martian4/6) */
	VERDICT_COUNT = 23,
};
#define VERDICTS_MAX       32u /* map size: room to add verdicts */

#endif /* SLUICE_H */
