// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmark helpers for the XDP forwarding benchmark (bench/src/xdp/):
 *
 *   xdpgen_tx    the sender. Run with BPF_PROG_RUN and
 *                BPF_F_TEST_XDP_LIVE_FRAMES on the source veth: every run
 *                writes a complete Ethernet/IPv4/UDP header (live frames are
 *                recycled pages that the forwarder already rewrote, so
 *                nothing of the previous packet may be trusted) with the next
 *                destination of gen_dsts, and returns XDP_TX, which the test
 *                run turns into a redirect out of the source veth.
 *   xdpgen_tx6   the same with Ethernet/IPv6/UDP headers, gen_config6 and
 *                the destinations of gen_dsts6.
 *   xdpgen_sink  the receiver on the far veth(s): counts the benchmark's UDP
 *                packets (IPv4 or IPv6) per ingress interface and drops everything. Being an
 *                XDP program it also gives that veth the NAPI context a veth
 *                needs to accept redirected frames.
 *   xdpgen_pass  returns XDP_PASS: the floor of a BPF_PROG_TEST_RUN
 *                measurement.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* What the sender writes; set once by user space before a run. */
struct gen_config {
	__u8 dmac[6];    /* the forwarder's ingress MAC */
	__u8 smac[6];    /* the source veth's MAC */
	__u32 saddr;     /* network order */
	__u32 ndst;      /* entries of gen_dsts in use, >= 1 */
	__u16 sport;     /* network order */
	__u16 dport;     /* network order; the sink counts only this port */
	__u16 frame_len; /* bytes from the Ethernet header on, >= 42 */
	__u16 pad;
};

/* What the IPv6 sender writes. */
struct gen_config6 {
	__u8 dmac[6];
	__u8 smac[6];
	__u8 saddr[16];
	__u32 ndst;      /* entries of gen_dsts6 in use, >= 1 */
	__u16 sport;     /* network order */
	__u16 dport;     /* network order */
	__u16 frame_len; /* bytes from the Ethernet header on, >= 62 */
	__u16 pad;
};

struct addr6 {
	__u8 a[16];
};

#define GEN_DSTS_MAX (1u << 20)
#define GEN_DSTS6_MAX (1u << 18)
#define SINK_SLOTS 64u /* sink counters are indexed by ingress ifindex % 64 */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct gen_config);
	__uint(max_entries, 1);
} gen_config SEC(".maps");

/* Destination addresses, network order, walked in order (user space shuffles). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, GEN_DSTS_MAX);
} gen_dsts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct gen_config6);
	__uint(max_entries, 1);
} gen_config6 SEC(".maps");

/* IPv6 destinations, walked in order like gen_dsts. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct addr6);
	__uint(max_entries, GEN_DSTS6_MAX);
} gen_dsts6 SEC(".maps");

/* Per-CPU sender state: no atomics on the sender's hot path. */
struct gen_state {
	__u32 pos;  /* next index into gen_dsts */
	__u32 pad;
	__u64 sent; /* frames written (offered; the veth may still drop them) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct gen_state);
	__uint(max_entries, 1);
} gen_state SEC(".maps");

struct sink_count {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct sink_count);
	__uint(max_entries, SINK_SLOTS);
} sink_counts SEC(".maps");

/* The UDP port the sink counts; 0 until user space sets it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u16);
	__uint(max_entries, 1);
} sink_port SEC(".maps");

static __always_inline __u16 ip_checksum(const __u16 *w)
{
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < 10; i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* The next destination's index, and one more frame counted. */
static __always_inline __u32 next_dst(struct gen_state *st, __u32 ndst)
{
	__u32 idx = st->pos;

	if (idx >= ndst)
		idx = 0;
	st->pos = idx + 1;
	st->sent += 1;
	return idx;
}

SEC("xdp")
int xdpgen_tx(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	struct gen_config *cfg;
	struct gen_state *st;
	__u32 zero = 0, *daddr, idx;

	if ((void *)(udp + 1) > data_end)
		return XDP_ABORTED;
	cfg = bpf_map_lookup_elem(&gen_config, &zero);
	st = bpf_map_lookup_elem(&gen_state, &zero);
	if (!cfg || !st || cfg->ndst == 0)
		return XDP_ABORTED;
	idx = next_dst(st, cfg->ndst);
	daddr = bpf_map_lookup_elem(&gen_dsts, &idx);
	if (!daddr)
		return XDP_ABORTED;

	__builtin_memcpy(eth->h_dest, cfg->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, cfg->smac, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);

	ip->version = 4;
	ip->ihl = 5;
	ip->tos = 0;
	ip->tot_len = bpf_htons(cfg->frame_len - sizeof(*eth));
	ip->id = 0;
	ip->frag_off = 0;
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->check = 0;
	ip->saddr = cfg->saddr;
	ip->daddr = *daddr;
	ip->check = ip_checksum((__u16 *)ip);

	udp->source = cfg->sport;
	udp->dest = cfg->dport;
	udp->len = bpf_htons(cfg->frame_len - sizeof(*eth) - sizeof(*ip));
	udp->check = 0; /* optional for IPv4 */
	return XDP_TX;
}

SEC("xdp")
int xdpgen_tx6(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip6 + 1);
	struct gen_config6 *cfg;
	struct gen_state *st;
	struct addr6 *daddr;
	__u32 zero = 0, idx;

	if ((void *)(udp + 1) > data_end)
		return XDP_ABORTED;
	cfg = bpf_map_lookup_elem(&gen_config6, &zero);
	st = bpf_map_lookup_elem(&gen_state, &zero);
	if (!cfg || !st || cfg->ndst == 0)
		return XDP_ABORTED;
	idx = next_dst(st, cfg->ndst);
	daddr = bpf_map_lookup_elem(&gen_dsts6, &idx);
	if (!daddr)
		return XDP_ABORTED;

	__builtin_memcpy(eth->h_dest, cfg->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, cfg->smac, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IPV6);

	*(__u32 *)ip6 = bpf_htonl(6u << 28); /* version, no class, no flow label */
	ip6->payload_len = bpf_htons(cfg->frame_len - sizeof(*eth) - sizeof(*ip6));
	ip6->nexthdr = IPPROTO_UDP;
	ip6->hop_limit = 64;
	__builtin_memcpy(&ip6->saddr, cfg->saddr, 16);
	__builtin_memcpy(&ip6->daddr, daddr->a, 16);

	udp->source = cfg->sport;
	udp->dest = cfg->dport;
	udp->len = ip6->payload_len;
	/* Zero, which IPv6 forbids at the receiver; nothing on the path
	 * (the forwarders, the sink) checks UDP checksums. */
	udp->check = 0;
	return XDP_TX;
}

SEC("xdp")
int xdpgen_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct udphdr *udp;
	struct sink_count *c;
	__u32 zero = 0, slot;
	__u16 *port;

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		udp = (void *)(ip + 1);
		if ((void *)(udp + 1) > data_end || ip->ihl != 5 ||
		    ip->protocol != IPPROTO_UDP)
			return XDP_DROP;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		udp = (void *)(ip6 + 1);
		if ((void *)(udp + 1) > data_end || ip6->nexthdr != IPPROTO_UDP)
			return XDP_DROP;
	} else {
		return XDP_DROP;
	}
	port = bpf_map_lookup_elem(&sink_port, &zero);
	if (!port || udp->dest != *port)
		return XDP_DROP;
	slot = ctx->ingress_ifindex % SINK_SLOTS;
	c = bpf_map_lookup_elem(&sink_counts, &slot);
	if (c) {
		c->packets += 1;
		c->bytes += data_end - data;
	}
	return XDP_DROP;
}

SEC("xdp")
int xdpgen_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}
