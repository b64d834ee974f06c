// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Sluice XDP forwarder.
 *
 * Ethernet (one optional 802.1Q tag) carrying IPv4 or IPv6, arriving on an
 * interface or VLAN Sluice routes on (ifaces) and addressed to its MAC:
 * longest-prefix lookup -> next-hop group -> member picked by a flow hash
 * (seeded per start) over resilient buckets -> the next hop's VLAN tag
 * pushed, rewritten or popped, MAC rewrite, TTL / hop-limit decrement
 * (RFC 1624 incremental IPv4 checksum) -> bpf_redirect_map through
 * tx_ports (parents only: a VLAN device is never a redirect target).
 *
 * Two FIB modes, chosen per packet by settings.fib_mode (the one array read
 * of `settings` per IP packet also says whether any interface checks
 * sources):
 * FIB_MODE_SLUICE looks up Sluice's own maps as above; FIB_MODE_KERNEL asks
 * bpf_fib_lookup() (the kernel FIB and neighbour table of the ingress
 * device's namespace, which needs forwarding enabled on that device) and
 * takes egress ifindex and MACs from its answer. Everything before the
 * route lookup (the punt rules, anti-spoofing) and after it (MAC rewrite,
 * TTL decrement, tx_ports check, redirect) is the same in both modes.
 *
 * Verdict rule: a frame whose headers are truncated or inconsistent (the
 * kernel would drop it too) is dropped and counted (VERDICT_DROP_*);
 * everything this program does not fully understand, or must not forward
 * itself, goes to the kernel (XDP_PASS) untouched and is counted by reason;
 * only a frame that passes every check is rewritten and forwarded. The
 * first rule that applies decides, in this order:
 *
 *   DROP malformed:  frame shorter than an Ethernet header; 802.1Q tag cut
 *                    off.
 *   PASS ARP/ND:     ARP (tagged or not).
 *   PASS not IP:     any other ether type than IPv4/IPv6; stacked tags.
 *   PASS not routed: (ingress ifindex, VLAN id or 0) has no ifaces entry:
 *                    a VLAN Sluice is not configured for.
 *   PASS not for us: unicast Ethernet destination other than the ifaces
 *                    entry's MAC (unknown unicast flooded by a switch,
 *                    promiscuous mode): never routed twice.
 *   DROP malformed:  IPv4/IPv6 header not fully in the frame; IPv4 version
 *                    != 4, IHL < 5, total length below the header length or
 *                    beyond the frame; IPv6 version != 6 or payload length
 *                    beyond the frame. (Ethernet padding after the IP packet
 *                    is fine and kept.)
 *   PASS ARP/ND:     ICMPv6 types 133-137 (RS, RA, NS, NA, redirect).
 *   DROP spoofed:    BCP 38: the ingress interface has IF_F_ANTISPOOF in
 *                    if_settings and the source is not covered by src4 /
 *                    src6. Exempt (they go on to the rules below, which
 *                    punt them): IPv4 sources in 0/8 (DHCP) and 169.254/16,
 *                    IPv6 :: (DAD) and fe80::/10. The check comes before
 *                    every other punt, so spoofed packets to the router's
 *                    own addresses, with options, or to multicast are
 *                    dropped too (as rp_filter would), and only ARP/ND
 *                    reaches the kernel whatever its source.
 *   PASS options:    IPv4 IHL > 5.
 *   DROP checksum:   IPv4 header checksum wrong (RFC 1812 5.2.2).
 *   PASS special:    group (multicast/broadcast) Ethernet destination; IPv4
 *                    source or destination in 0/8, 127/8 or 224/3
 *                    (multicast, class E, limited broadcast); IPv6 source or
 *                    destination ::, ::1 or multicast (so all ICMPv6 to a
 *                    multicast group).
 *   PASS link-local: source or destination in 169.254/16 or fe80::/10 (so
 *                    all ICMPv6 to a link-local address).
 *   PASS local:      destination in own4 / own6.
 *   DROP martian:    the ifaces entry has IF_F_MARTIAN (an uplink) and
 *                    martian4 / martian6 mark the source for this port (the
 *                    site's own announced space, bogons; the uplink's
 *                    connected subnet exempt). After local delivery, so
 *                    BGP and probes to the router are never touched.
 *   PASS IPv6 ext:   IPv6 next header not TCP, UDP or ICMPv6 (hop-by-hop,
 *                    routing, fragment, ... and anything else not parsed).
 *   PASS TTL:        TTL / hop limit <= 1 (the kernel sends time-exceeded).
 * then, in FIB_MODE_SLUICE:
 *   PASS no route:   FIB lookup yields 0 (or an unusable group id).
 *   DROP discard:    FIB lookup yields GROUP_DISCARD.
 *   PASS no nexthop: the chosen bucket is empty or its next hop not valid.
 *   PASS no MAC:     the next hop's MAC is unknown (the kernel resolves it).
 *   PASS MTU:        IP length above the next hop's MTU (the kernel sends
 *                    fragmentation-needed / packet-too-big, or fragments).
 * or, in FIB_MODE_KERNEL, by bpf_fib_lookup()'s answer:
 *   PASS fwd disabled: FWD_DISABLED (forwarding off on the ingress device).
 *   PASS unreachable: BLACKHOLE, UNREACHABLE, PROHIBIT (the kernel drops or
 *                    answers with ICMP).
 *   PASS no route:   NOT_FWDED (no route, or a local/broadcast one),
 *                    UNSUPP_LWT, NO_SRC_ADDR, anything unknown.
 *   PASS no MAC:     NO_NEIGH.
 *   PASS MTU:        FRAG_NEEDED (IP length above the route's MTU).
 * and in both:
 *   PASS no port:    the egress ifindex is not in tx_ports.
 *
 * IPv4 fragments are forwarded; every fragment of a datagram (MF set or a
 * non-zero offset) is hashed on (source, destination, protocol) so they all
 * take the same path. Other packets hash on the 5-tuple (ports 0 when the
 * protocol is not TCP/UDP or the ports are not in the frame). In kernel FIB
 * mode the kernel picks among multipath routes by its own hash.
 *
 * Counters: nh_stats counts per next hop in FIB_MODE_SLUICE only (kernel
 * routes have no next-hop id here); verdicts count in both modes.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "sluice.h"

_Static_assert(sizeof(struct nexthop) == 24, "struct nexthop layout");
_Static_assert(sizeof(struct nh_group) == 2 * NH_BUCKETS, "struct nh_group layout");
_Static_assert(sizeof(struct nh_stats) == 16, "struct nh_stats layout");
_Static_assert(sizeof(struct fib6_key) == 20, "struct fib6_key layout");
_Static_assert(sizeof(struct fib6_node) == 24, "struct fib6_node layout");
_Static_assert(FIB6_ROOT_DEPTH + 6 * (FIB6_LEVELS - 1) + 6 >= 128, "levels reach bit 128");
_Static_assert(sizeof(struct src4_key) == 8, "struct src4_key layout");
_Static_assert(sizeof(struct if_key) == 8, "struct if_key layout");
_Static_assert(sizeof(struct iface) == 16, "struct iface layout");
_Static_assert(sizeof(struct martian4_key) == 16, "struct martian4_key layout");
_Static_assert(sizeof(struct martian6_key) == 28, "struct martian6_key layout");
_Static_assert(sizeof(struct settings) == 16, "struct settings layout");
_Static_assert(VERDICT_COUNT <= VERDICTS_MAX, "verdicts map too small");
_Static_assert(GROUP_DISCARD == NH_GROUPS_MAX - 1, "GROUP_DISCARD is the last group id");

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* ---- maps (names are the pin names) ---------------------------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, FIB4_TOP_WORDS);
	__uint(map_flags, BPF_F_MMAPABLE);
} fib4_top SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, FIB4_TBL8_WORDS);
	__uint(map_flags, BPF_F_MMAPABLE);
} fib4_tbl8 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, FIB4_CODE_WORDS + FIB4_PALETTE_WORDS);
	__uint(map_flags, BPF_F_MMAPABLE);
} fib4_codes SEC(".maps");

#ifdef SLUICE_DXR
/* Only in the build that measures the structures the FIB did not choose
 * (sluice-dxr.o): DXR against DIR-24-8, the LPM trie against fib6_*. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, DXR_DIRECT_ENTRIES);
	__uint(map_flags, BPF_F_MMAPABLE);
} fib4_direct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, DXR_RANGE_WORDS);
	__uint(map_flags, BPF_F_MMAPABLE);
} fib4_ranges SEC(".maps");

/* IPv4 in the IPv6 FIB's poptrie layout (FIB_MODE_POP4); the direct table
 * is fib6_direct's size, of which the first 1,024 entries are used. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, FIB6_DIRECT_WORDS);
	__uint(map_flags, BPF_F_MMAPABLE);
} pop4_direct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, POP4_FAN_WORDS);
	__uint(map_flags, BPF_F_MMAPABLE);
} pop4_fans SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct fib6_node);
	__uint(max_entries, POP4_NODES);
	__uint(map_flags, BPF_F_MMAPABLE);
} pop4_nodes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, POP4_LEAF_WORDS);
	__uint(map_flags, BPF_F_MMAPABLE);
} pop4_leaves SEC(".maps");

/* The kernel's LPM trie, which the IPv6 FIB replaced (FIB_MODE_TRIE6). */

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct fib6_key);
	__type(value, __u16);
	__uint(max_entries, FIB6_TRIE_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} fib6_trie SEC(".maps");
#endif

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, FIB6_DIRECT_WORDS);
	__uint(map_flags, BPF_F_MMAPABLE);
} fib6_direct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, FIB6_FAN_WORDS);
	__uint(map_flags, BPF_F_MMAPABLE);
} fib6_fans SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct fib6_node);
	__uint(max_entries, FIB6_NODES);
	__uint(map_flags, BPF_F_MMAPABLE);
} fib6_nodes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, FIB6_LEAF_WORDS);
	__uint(map_flags, BPF_F_MMAPABLE);
} fib6_leaves SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct nh_group);
	__uint(max_entries, NH_GROUPS_MAX);
} nh_groups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct nexthop);
	__uint(max_entries, NEXTHOPS_MAX);
} nexthops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
	__uint(max_entries, TX_PORTS_MAX);
} tx_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32); /* network byte order */
	__type(value, __u8);
	__uint(max_entries, OWN_ADDRS_MAX);
} own4 SEC(".maps");

struct own6_key {
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct own6_key);
	__type(value, __u8);
	__uint(max_entries, OWN_ADDRS_MAX);
} own6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct nh_stats);
	__uint(max_entries, NEXTHOPS_MAX);
} nh_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	/* enum verdict; the kernel wants an INT as an array's BTF key */
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, VERDICTS_MAX);
} verdicts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct if_key);
	__type(value, struct iface);
	__uint(max_entries, IFACES_MAX);
} ifaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct martian4_key);
	__type(value, __u8);
	__uint(max_entries, MARTIANS_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} martian4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct martian6_key);
	__type(value, __u8);
	__uint(max_entries, MARTIANS_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} martian6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct src4_key);
	__type(value, __u8);
	__uint(max_entries, SRC_PREFIXES_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} src4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct fib6_key);
	__type(value, __u8);
	__uint(max_entries, SRC_PREFIXES_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} src6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct settings);
	__uint(max_entries, 1);
} settings SEC(".maps");

/* ---- helpers --------------------------------------------------------------- */

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

#define IPV4_MF 0x2000
#define IPV4_OFFSET 0x1fff
#define ICMPV6_ND_FIRST 133 /* router solicitation */
#define ICMPV6_ND_LAST 137  /* redirect */
#define IPPROTO_ICMPV6_ 58
#define AF_INET_ 2
#define AF_INET6_ 10

static __always_inline int count(enum verdict reason, int action)
{
	__u64 *c = bpf_map_lookup_elem(&verdicts, &reason);

	if (c)
		*c += 1;
	return action;
}

#define PASS(reason) count(reason, XDP_PASS)
#define DROP(reason) count(reason, XDP_DROP)

static __always_inline __u32 rotl32(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

/* MurmurHash3 (x86_32) rounds: cheap, and good enough to spread flows over
 * 64 buckets. */
static __always_inline __u32 hash_word(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51;
	k = rotl32(k, 15);
	k *= 0x1b873593;
	h ^= k;
	h = rotl32(h, 13);
	return h * 5 + 0xe6546b64;
}

static __always_inline __u32 hash_final(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

/* Both ports as one word, or 0 if the protocol has none or they are not in
 * the packet. `l4` points just after the IP header, `l3_end` at its end. */
static __always_inline __u32 ports_of(void *l4, void *l3_end, void *data_end, __u8 proto)
{
	__u32 *ports = l4;

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return 0;
	if ((void *)(ports + 1) > data_end || (void *)(ports + 1) > l3_end)
		return 0;
	return *ports;
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). One's complement sums do not
 * depend on byte order, so the words stay in network order. */
static __always_inline __u16 csum_replace16(__u16 check, __u16 old, __u16 new)
{
	__u32 sum = (__u16)~check + (__u32)(__u16)~old + new;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* Next-hop group -> member -> checks shared by both families. On success
 * returns VERDICT_FORWARDED and sets *nh_id / *nh_out. */
static __always_inline enum verdict select_nexthop(__u32 group, __u32 hash, __u32 ip_len,
						   __u32 *nh_id, struct nexthop **nh_out)
{
	struct nh_group *g;
	struct nexthop *nh;
	__u32 id, ifindex;

	if (group == 0 || group >= NH_GROUPS_MAX)
		return VERDICT_PASS_NO_ROUTE;
	g = bpf_map_lookup_elem(&nh_groups, &group);
	if (!g)
		return VERDICT_PASS_NO_ROUTE;
	id = g->buckets[hash & (NH_BUCKETS - 1)];
	if (id == 0)
		return VERDICT_PASS_NO_NEXTHOP;
	nh = bpf_map_lookup_elem(&nexthops, &id);
	if (!nh || !(nh->flags & NH_F_VALID))
		return VERDICT_PASS_NO_NEXTHOP;
	if (!(nh->flags & NH_F_MAC_KNOWN))
		return VERDICT_PASS_NO_MAC;
	if (ip_len > nh->mtu)
		return VERDICT_PASS_MTU;
	/* Checked before the packet is rewritten: a failed redirect must not
	 * hand the kernel a packet with a decremented TTL and foreign MACs. */
	ifindex = nh->ifindex;
	if (!bpf_map_lookup_elem(&tx_ports, &ifindex))
		return VERDICT_PASS_NO_TX_PORT;
	*nh_id = id;
	*nh_out = nh;
	return VERDICT_FORWARDED;
}

/* Where the frame came from: the ingress port's entry and its tag. */
struct ingress {
	const struct iface *ifc;
	__u32 vlan;   /* VLAN id of the tag, 0 if none (or priority-tagged) */
	__u32 tagged; /* the frame carries an 802.1Q tag */
};

/* Makes the frame's tag the one `vlan` asks for (0: none): push, pop or
 * rewrite the VLAN id (the priority bits are kept). Pushing and popping
 * move only the head: the EtherType after the tag lands where the
 * untagged one was, and the caller writes both MACs afterwards. Returns
 * nonzero if the head could not move (no headroom: cannot happen with the
 * headroom XDP gives, and then the frame is unchanged). */
static __always_inline int retag(struct xdp_md *ctx, const struct ingress *in, __u32 vlan)
{
	void *data, *data_end;
	struct vlan_hdr *vh;
	struct ethhdr *eth;

	if (in->tagged && !vlan)
		return bpf_xdp_adjust_head(ctx, (int)sizeof(*vh));
	if (!in->tagged && vlan) {
		if (bpf_xdp_adjust_head(ctx, -(int)sizeof(*vh)))
			return -1;
	} else if (!in->tagged || in->vlan == vlan) {
		return 0;
	}
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	vh = (void *)(eth + 1);
	if ((void *)(vh + 1) > data_end)
		return -1;
	if (!in->tagged) {
		eth->h_proto = bpf_htons(ETH_P_8021Q);
		vh->tci = bpf_htons(vlan);
	} else {
		vh->tci = (vh->tci & bpf_htons(0xf000)) | bpf_htons(vlan);
	}
	return 0;
}

/* After retag(): the Ethernet header in *eth and the L3 header returned,
 * or NULL if the frame is shorter than `l3_len` bytes of L3 header. */
static __always_inline void *l3_after(struct xdp_md *ctx, __u32 vlan, __u32 l3_len,
				      struct ethhdr **eth)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	void *l3 = data + sizeof(struct ethhdr);

	if (vlan)
		l3 += sizeof(struct vlan_hdr);
	if (l3 + l3_len > data_end)
		return 0;
	*eth = data;
	return l3;
}

/* MACs, counters, redirect; the frame has been retagged for `nh`. */
static __always_inline int redirect(struct xdp_md *ctx, struct ethhdr *eth, __u32 nh_id,
				    struct nexthop *nh)
{
	struct nh_stats *s;

	__builtin_memcpy(eth->h_dest, nh->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, nh->smac, ETH_ALEN);
	s = bpf_map_lookup_elem(&nh_stats, &nh_id);
	if (s) {
		s->packets += 1;
		s->bytes += ctx->data_end - ctx->data;
	}
	count(VERDICT_FORWARDED, 0);
	/* Fails only if the port vanished since select_nexthop looked: then
	 * XDP_ABORTED (flags 0) drops it visibly (trace_xdp_exception). */
	return bpf_redirect_map(&tx_ports, nh->ifindex, 0);
}

/* bpf_fib_lookup()'s answer as a verdict; on success the caller rewrites
 * with p->smac / p->dmac and redirects to p->ifindex. `p` is filled by the
 * caller except for ifindex (the logical ingress interface, set here: a
 * VLAN device for a tagged frame). */
static __always_inline enum verdict kernel_fib(struct xdp_md *ctx, const struct iface *ifc,
					       struct bpf_fib_lookup *p)
{
	__u32 ifindex;
	long rc;

	p->ifindex = ifc->ifindex;
	rc = bpf_fib_lookup(ctx, p, sizeof(*p), 0);
	switch (rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
		break;
	case BPF_FIB_LKUP_RET_BLACKHOLE:
	case BPF_FIB_LKUP_RET_UNREACHABLE:
	case BPF_FIB_LKUP_RET_PROHIBIT:
		return VERDICT_PASS_UNREACHABLE;
	case BPF_FIB_LKUP_RET_FWD_DISABLED:
		return VERDICT_PASS_FWD_DISABLED;
	case BPF_FIB_LKUP_RET_NO_NEIGH:
		return VERDICT_PASS_NO_MAC;
	case BPF_FIB_LKUP_RET_FRAG_NEEDED:
		return VERDICT_PASS_MTU;
	default: /* NOT_FWDED, UNSUPP_LWT, NO_SRC_ADDR, errors */
		return VERDICT_PASS_NO_ROUTE;
	}
	/* As in select_nexthop: check before the packet is rewritten. */
	ifindex = p->ifindex;
	if (!bpf_map_lookup_elem(&tx_ports, &ifindex))
		return VERDICT_PASS_NO_TX_PORT;
	return VERDICT_FORWARDED;
}

static __always_inline int redirect_kernel(struct ethhdr *eth, struct bpf_fib_lookup *p)
{
	__builtin_memcpy(eth->h_dest, p->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, p->smac, ETH_ALEN);
	count(VERDICT_FORWARDED, 0);
	return bpf_redirect_map(&tx_ports, p->ifindex, 0);
}

#include "fib_lookup.h"

/* The measuring build stops after a stage when settings.flags says so. */
#ifdef SLUICE_DXR
#define STOP_AFTER(set, stage)                    \
	do {                                      \
		if ((set)->flags == (stage))      \
			return XDP_DROP;          \
	} while (0)
#else
#define STOP_AFTER(set, stage) \
	do {                   \
	} while (0)
#endif

/* ---- IPv4 ------------------------------------------------------------------ */

/* 0/8, 127/8, 224/3 (multicast, class E, limited broadcast). */
static __always_inline int special4(__u32 addr /* host order */)
{
	__u32 top = addr >> 24;

	return top == 0 || top == 127 || top >= 224;
}

/* BCP 38 for IPv4: whether `saddr` (host order; `saddr_be` the same in
 * network order) is neither exempt (0/8, 169.254/16) nor in src4. */
static __always_inline int spoofed4(__u32 saddr, __u32 saddr_be)
{
	struct src4_key key = { .prefixlen = 32 };

	if ((saddr >> 24) == 0 || (saddr >> 16) == 0xa9fe)
		return 0;
	__builtin_memcpy(key.addr, &saddr_be, sizeof(key.addr));
	return !bpf_map_lookup_elem(&src4, &key);
}

/* TTL - 1 with the RFC 1624 checksum update; TTL and protocol share one
 * 16-bit word of the header. */
static __always_inline void decrement_ttl4(struct iphdr *ip)
{
	__u16 old = *(__u16 *)&ip->ttl, new;

	ip->ttl -= 1;
	new = *(__u16 *)&ip->ttl;
	ip->check = csum_replace16(ip->check, old, new);
}

/* Martian source check for an uplink (IF_F_MARTIAN): whether the source
 * is marked 1 in martian4 for this port (0 entries exempt). */
static __always_inline int is_martian4(const struct ingress *in, __u32 ingress_ifindex,
				    __u32 saddr_be)
{
	struct martian4_key key = { .prefixlen = 64 + 32 };
	__u8 *v;

	key.port.ifindex = ingress_ifindex;
	key.port.vlan = in->vlan;
	__builtin_memcpy(key.addr, &saddr_be, sizeof(key.addr));
	v = bpf_map_lookup_elem(&martian4, &key);
	return v && *v;
}

static __always_inline int kernel4(struct xdp_md *ctx, const struct ingress *in,
				   struct iphdr *ip, __u32 tot_len, __u32 ports)
{
	struct bpf_fib_lookup p = {};
	struct ethhdr *eth;
	enum verdict why;

	p.family = AF_INET_;
	p.tos = ip->tos;
	p.l4_protocol = ip->protocol;
	/* sport and dport are adjacent, in network order, like `ports`. */
	__builtin_memcpy(&p.sport, &ports, sizeof(ports));
	p.tot_len = tot_len;
	p.ipv4_src = ip->saddr;
	p.ipv4_dst = ip->daddr;
	why = kernel_fib(ctx, in->ifc, &p);
	if (why != VERDICT_FORWARDED)
		return PASS(why);
	/* tx_ports holds no VLAN devices: the frame leaves untagged. */
	if (retag(ctx, in, 0))
		return PASS(VERDICT_PASS_NO_TX_PORT);
	ip = l3_after(ctx, 0, sizeof(*ip), &eth);
	if (!ip)
		return DROP(VERDICT_DROP_MALFORMED);
	decrement_ttl4(ip);
	return redirect_kernel(eth, &p);
}

static __always_inline int forward4(struct xdp_md *ctx, struct ethhdr *eth, struct iphdr *ip,
				    const struct settings *set, const struct ingress *in)
{
	void *data_end = (void *)(long)ctx->data_end;
	__u32 tot_len, sum, daddr, saddr, group, hash, nh_id = 0, vlan;
	enum verdict why;
	struct nexthop *nh = 0;
	__u32 ports = 0;
	__u16 *w;

	if ((void *)(ip + 1) > data_end)
		return DROP(VERDICT_DROP_MALFORMED);
	if (ip->version != 4 || ip->ihl < 5)
		return DROP(VERDICT_DROP_MALFORMED);
	tot_len = bpf_ntohs(ip->tot_len);
	if (tot_len < (__u32)ip->ihl * 4 || (void *)ip + tot_len > data_end)
		return DROP(VERDICT_DROP_MALFORMED);
	daddr = bpf_ntohl(ip->daddr);
	saddr = bpf_ntohl(ip->saddr);
	if ((in->ifc->flags & IF_F_ANTISPOOF) && spoofed4(saddr, ip->saddr))
		return DROP(VERDICT_DROP_SPOOFED);
	if (ip->ihl != 5)
		return PASS(VERDICT_PASS_OPTIONS);

	w = (__u16 *)ip;
	sum = 0;
#pragma unroll
	for (int i = 0; i < 10; i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	if (sum != 0xffff)
		return DROP(VERDICT_DROP_BAD_CHECKSUM);

	if ((eth->h_dest[0] & 1) || special4(daddr) || special4(saddr))
		return PASS(VERDICT_PASS_SPECIAL_ADDR);
	if ((daddr >> 16) == 0xa9fe || (saddr >> 16) == 0xa9fe) /* 169.254/16 */
		return PASS(VERDICT_PASS_LINK_LOCAL);
	if (bpf_map_lookup_elem(&own4, &ip->daddr))
		return PASS(VERDICT_PASS_LOCAL);
	if ((in->ifc->flags & IF_F_MARTIAN) && is_martian4(in, ctx->ingress_ifindex, ip->saddr))
		return DROP(VERDICT_DROP_MARTIAN);
	if (ip->ttl <= 1)
		return PASS(VERDICT_PASS_TTL);

	if (!(ip->frag_off & bpf_htons(IPV4_MF | IPV4_OFFSET)))
		ports = ports_of(ip + 1, (void *)ip + tot_len, data_end, ip->protocol);
	if (set->fib_mode == FIB_MODE_KERNEL)
		return kernel4(ctx, in, ip, tot_len, ports);

	STOP_AFTER(set, STOP_PARSE);
#ifdef SLUICE_DXR
	if (set->fib_mode == FIB_MODE_DXR)
		group = dxr_lookup(daddr);
	else if (set->fib_mode == FIB_MODE_POP4)
		group = pop4_lookup(daddr);
	else
		group = fib4_lookup(daddr);
#else
	group = fib4_lookup(daddr);
#endif
	if (group == 0)
		return PASS(VERDICT_PASS_NO_ROUTE);
	if (group == GROUP_DISCARD)
		return DROP(VERDICT_DROP_DISCARD);
	STOP_AFTER(set, STOP_LOOKUP);

	hash = hash_word(set->hash_seed, ip->saddr);
	hash = hash_word(hash, ip->daddr);
	hash = hash_word(hash, ip->protocol);
	hash = hash_word(hash, ports);
	hash = hash_final(hash);

	why = select_nexthop(group, hash, tot_len, &nh_id, &nh);
	if (why != VERDICT_FORWARDED || !nh)
		return PASS(why);
	STOP_AFTER(set, STOP_NEXTHOP);

	vlan = nh->vlan;
	if (retag(ctx, in, vlan))
		return PASS(VERDICT_PASS_NO_TX_PORT);
	ip = l3_after(ctx, vlan, sizeof(*ip), &eth);
	if (!ip)
		return DROP(VERDICT_DROP_MALFORMED);
	decrement_ttl4(ip);
	STOP_AFTER(set, STOP_REWRITE);
	return redirect(ctx, eth, nh_id, nh);
}

/* ---- IPv6 ------------------------------------------------------------------ */

static __always_inline int v6_multicast(const struct in6_addr *a)
{
	return a->in6_u.u6_addr8[0] == 0xff;
}

static __always_inline int v6_link_local(const struct in6_addr *a)
{
	return a->in6_u.u6_addr8[0] == 0xfe && (a->in6_u.u6_addr8[1] & 0xc0) == 0x80;
}

/* :: or ::1 */
static __always_inline int v6_unspec_or_loopback(const struct in6_addr *a)
{
	return (a->in6_u.u6_addr32[0] | a->in6_u.u6_addr32[1] | a->in6_u.u6_addr32[2]) == 0 &&
	       (a->in6_u.u6_addr32[3] == 0 || a->in6_u.u6_addr32[3] == bpf_htonl(1));
}

/* BCP 38 for IPv6: whether the source is neither exempt (::, fe80::/10)
 * nor in src6. */
static __always_inline int spoofed6(const struct in6_addr *saddr)
{
	struct fib6_key key = { .prefixlen = 128 };

	if (v6_link_local(saddr) ||
	    (saddr->in6_u.u6_addr32[0] | saddr->in6_u.u6_addr32[1] | saddr->in6_u.u6_addr32[2] |
	     saddr->in6_u.u6_addr32[3]) == 0)
		return 0;
	__builtin_memcpy(key.addr, saddr, sizeof(key.addr));
	return !bpf_map_lookup_elem(&src6, &key);
}

/* is_martian4 for IPv6. */
static __always_inline int is_martian6(const struct ingress *in, __u32 ingress_ifindex,
				    const struct in6_addr *saddr)
{
	struct martian6_key key = { .prefixlen = 64 + 128 };
	__u8 *v;

	key.port.ifindex = ingress_ifindex;
	key.port.vlan = in->vlan;
	__builtin_memcpy(key.addr, saddr, sizeof(key.addr));
	v = bpf_map_lookup_elem(&martian6, &key);
	return v && *v;
}

static __always_inline int kernel6(struct xdp_md *ctx, const struct ingress *in,
				   struct ipv6hdr *ip6, __u32 ip_len, __u32 ports)
{
	struct bpf_fib_lookup p = {};
	struct ethhdr *eth;
	enum verdict why;

	p.family = AF_INET6_;
	p.flowinfo = *(__be32 *)ip6 & bpf_htonl(0x0fffffff);
	p.l4_protocol = ip6->nexthdr;
	__builtin_memcpy(&p.sport, &ports, sizeof(ports));
	p.tot_len = ip_len;
	__builtin_memcpy(p.ipv6_src, &ip6->saddr, sizeof(p.ipv6_src));
	__builtin_memcpy(p.ipv6_dst, &ip6->daddr, sizeof(p.ipv6_dst));
	why = kernel_fib(ctx, in->ifc, &p);
	if (why != VERDICT_FORWARDED)
		return PASS(why);
	if (retag(ctx, in, 0))
		return PASS(VERDICT_PASS_NO_TX_PORT);
	ip6 = l3_after(ctx, 0, sizeof(*ip6), &eth);
	if (!ip6)
		return DROP(VERDICT_DROP_MALFORMED);
	ip6->hop_limit -= 1;
	return redirect_kernel(eth, &p);
}

static __always_inline int forward6(struct xdp_md *ctx, struct ethhdr *eth, struct ipv6hdr *ip6,
				    const struct settings *set, const struct ingress *in)
{
	void *data_end = (void *)(long)ctx->data_end;
	__u32 ip_len, group, hash, nh_id = 0, ports = 0, vlan;
	enum verdict why;
	struct nexthop *nh = 0;
	__u8 nexthdr;

	if ((void *)(ip6 + 1) > data_end)
		return DROP(VERDICT_DROP_MALFORMED);
	if (ip6->version != 6)
		return DROP(VERDICT_DROP_MALFORMED);
	ip_len = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
	if ((void *)ip6 + ip_len > data_end)
		return DROP(VERDICT_DROP_MALFORMED);

	nexthdr = ip6->nexthdr;
	if (nexthdr == IPPROTO_ICMPV6_) {
		__u8 *type = (void *)(ip6 + 1);

		/* No type byte: not ND, whatever it is. */
		if ((void *)(type + 1) <= data_end && ip_len > sizeof(*ip6) &&
		    *type >= ICMPV6_ND_FIRST && *type <= ICMPV6_ND_LAST)
			return PASS(VERDICT_PASS_ARP_ND);
	}
	if ((in->ifc->flags & IF_F_ANTISPOOF) && spoofed6(&ip6->saddr))
		return DROP(VERDICT_DROP_SPOOFED);
	if ((eth->h_dest[0] & 1) || v6_multicast(&ip6->daddr) || v6_multicast(&ip6->saddr) ||
	    v6_unspec_or_loopback(&ip6->daddr) || v6_unspec_or_loopback(&ip6->saddr))
		return PASS(VERDICT_PASS_SPECIAL_ADDR);
	if (v6_link_local(&ip6->daddr) || v6_link_local(&ip6->saddr))
		return PASS(VERDICT_PASS_LINK_LOCAL);
	if (bpf_map_lookup_elem(&own6, &ip6->daddr))
		return PASS(VERDICT_PASS_LOCAL);
	if ((in->ifc->flags & IF_F_MARTIAN) && is_martian6(in, ctx->ingress_ifindex, &ip6->saddr))
		return DROP(VERDICT_DROP_MARTIAN);
	if (nexthdr != IPPROTO_TCP && nexthdr != IPPROTO_UDP && nexthdr != IPPROTO_ICMPV6_)
		return PASS(VERDICT_PASS_IPV6_EXT);
	if (ip6->hop_limit <= 1)
		return PASS(VERDICT_PASS_TTL);

	ports = ports_of(ip6 + 1, (void *)ip6 + ip_len, data_end, nexthdr);
	if (set->fib_mode == FIB_MODE_KERNEL)
		return kernel6(ctx, in, ip6, ip_len, ports);

	STOP_AFTER(set, STOP_PARSE);
#ifdef SLUICE_DXR
	if (set->fib_mode == FIB_MODE_TRIE6) {
		struct fib6_key key = { .prefixlen = 128 };
		__u16 *group_p;

		__builtin_memcpy(key.addr, &ip6->daddr, sizeof(key.addr));
		group_p = bpf_map_lookup_elem(&fib6_trie, &key);
		group = group_p ? *group_p : 0;
	} else
#endif
		group = fib6_lookup(&ip6->daddr);
	if (group == 0)
		return PASS(VERDICT_PASS_NO_ROUTE);
	if (group == GROUP_DISCARD)
		return DROP(VERDICT_DROP_DISCARD);
	STOP_AFTER(set, STOP_LOOKUP);

	hash = set->hash_seed;
#pragma unroll
	for (int i = 0; i < 4; i++)
		hash = hash_word(hash, ip6->saddr.in6_u.u6_addr32[i]);
#pragma unroll
	for (int i = 0; i < 4; i++)
		hash = hash_word(hash, ip6->daddr.in6_u.u6_addr32[i]);
	hash = hash_word(hash, nexthdr);
	hash = hash_word(hash, ports);
	hash = hash_final(hash);

	why = select_nexthop(group, hash, ip_len, &nh_id, &nh);
	if (why != VERDICT_FORWARDED || !nh)
		return PASS(why);
	STOP_AFTER(set, STOP_NEXTHOP);

	vlan = nh->vlan;
	if (retag(ctx, in, vlan))
		return PASS(VERDICT_PASS_NO_TX_PORT);
	ip6 = l3_after(ctx, vlan, sizeof(*ip6), &eth);
	if (!ip6)
		return DROP(VERDICT_DROP_MALFORMED);
	ip6->hop_limit -= 1;
	STOP_AFTER(set, STOP_REWRITE);
	return redirect(ctx, eth, nh_id, nh);
}

/* ---- entry ----------------------------------------------------------------- */

SEC("xdp")
int sluice_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	void *l3 = data + sizeof(*eth);
	struct ingress in = {};
	struct settings *set;
	struct if_key port;
	__u32 zero = 0;
	__be16 proto;

	if (l3 > data_end)
		return DROP(VERDICT_DROP_MALFORMED);
	proto = eth->h_proto;
	if (proto == bpf_htons(ETH_P_8021Q)) {
		struct vlan_hdr *vh = l3;

		if ((void *)(vh + 1) > data_end)
			return DROP(VERDICT_DROP_MALFORMED);
		in.tagged = 1;
		in.vlan = bpf_ntohs(vh->tci) & 0x0fff;
		proto = vh->proto;
		l3 = vh + 1;
	}
	if (proto == bpf_htons(ETH_P_ARP))
		return PASS(VERDICT_PASS_ARP_ND);
	if (proto != bpf_htons(ETH_P_IP) && proto != bpf_htons(ETH_P_IPV6))
		return PASS(VERDICT_PASS_NOT_IP);
	port.ifindex = ctx->ingress_ifindex;
	port.vlan = in.vlan;
	in.ifc = bpf_map_lookup_elem(&ifaces, &port);
	if (!in.ifc)
		return PASS(VERDICT_PASS_NOT_ROUTED);
	/* A unicast frame for another station (flooded by a switch, or seen
	 * in promiscuous mode) is not ours to route. */
	if (!(eth->h_dest[0] & 1) && (*(__u32 *)eth->h_dest != *(__u32 *)in.ifc->mac ||
				      *(__u16 *)&eth->h_dest[4] != *(__u16 *)&in.ifc->mac[4]))
		return PASS(VERDICT_PASS_NOT_FOR_US);
	set = bpf_map_lookup_elem(&settings, &zero);
	if (!set) /* cannot happen: a one-entry array always has key 0 */
		return PASS(VERDICT_PASS_NOT_IP);
	if (proto == bpf_htons(ETH_P_IP))
		return forward4(ctx, eth, l3, set, &in);
	return forward6(ctx, eth, l3, set, &in);
}
