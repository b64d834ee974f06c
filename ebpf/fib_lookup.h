/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The route lookups over Sluice's own FIB maps: IPv4 in DIR-24-8 arrays
 * (and, in the measuring build, DXR ranges), IPv6 in the poptrie arrays.
 * Each returns a next-hop group id, 0 for no route. Included by sluice.c
 * after the maps; the layouts are in sluice.h, and the user-space
 * builders that write them in router/dataplane/src/{dir24,dxr,poptrie}.rs.
 */
#ifndef SLUICE_FIB_LOOKUP_H
#define SLUICE_FIB_LOOKUP_H

/* ---- IPv4 ------------------------------------------------------------------ */


static __always_inline __u32 fib4_entry(void *map, __u32 index)
{
	__u32 word = index / FIB4_ENTRIES_PER_WORD;
	__u64 *w = bpf_map_lookup_elem(map, &word);

	if (!w)
		return 0;
	return (*w >> (16 * (index & 3))) & 0xffff;
}

static __always_inline __u32 fib4_lookup(__u32 daddr /* host order */)
{
	__u32 i = daddr >> 8, word = i / FIB4_CODES_PER_WORD, code, v;
	__u64 *codes = bpf_map_lookup_elem(&fib4_codes, &word);

	if (!codes)
		return 0;
	code = (*codes >> (4 * (i & (FIB4_CODES_PER_WORD - 1)))) & 0xf;
	if (code != FIB4_CODE_TOP)
		return fib4_entry(&fib4_codes, FIB4_CODE_WORDS * FIB4_ENTRIES_PER_WORD + code);
	v = fib4_entry(&fib4_top, i);

	if (v & FIB4_TBL8_FLAG) {
		v = fib4_entry(&fib4_tbl8, (v & FIB4_VALUE_MASK) * 256 + (daddr & 0xff));
		if (v & FIB4_TBL8_FLAG) /* a tbl8 entry never chains */
			return 0;
	}
	return v;
}

#ifdef SLUICE_DXR
/* Range i of fib4_ranges. */
static __always_inline __u32 dxr_range(__u32 i)
{
	__u32 word = i >> 1;
	__u64 *w = bpf_map_lookup_elem(&fib4_ranges, &word);

	if (!w)
		return 0;
	return (__u32)(*w >> (32 * (i & 1)));
}

/* DXR: the chunk's direct group, or a binary search over its ranges (a
 * run of at most 2^14: 14 halvings). */
static __always_inline __u32 dxr_lookup(__u32 daddr /* host order */)
{
	__u32 chunk = daddr >> (32 - DXR_DIRECT_BITS), off = daddr & DXR_CHUNK_MASK;
	__u32 base, lo = 0, hi;
	__u64 *d = bpf_map_lookup_elem(&fib4_direct, &chunk);
	__u64 v;

	if (!d)
		return 0;
	v = *d; /* one load: the entry is replaced with one 8-byte store */
	if (v & (1ull << 63))
		return v & 0xffff;
	base = (__u32)v;
	hi = (v >> 32) & 0xffff;
	for (int i = 0; i < 15; i++) {
		__u32 mid;

		if (hi - lo <= 1)
			break;
		mid = (lo + hi) >> 1;
		if ((dxr_range(base + mid) >> 16) <= off)
			lo = mid;
		else
			hi = mid;
	}
	return dxr_range(base + lo) & 0xffff;
}
#endif

/* ---- IPv6 FIB lookup ------------------------------------------------------- */

/* u32 entry i of a fib6 array packed two to an element. */
static __always_inline __u32 fib6_entry(void *map, __u32 i)
{
	__u32 word = i >> 1;
	__u64 *w = bpf_map_lookup_elem(map, &word);

	if (!w)
		return 0; /* no route */
	return (__u32)(*w >> (32 * (i & 1)));
}

/* A load whose value is dropped, for its cache miss alone: BPF has no
 * prefetch, and a load the CPU need not wait on overlaps with what follows. */
static __always_inline void touch(const void *p)
{
	asm volatile("" : : "r"(*(const volatile __u64 *)p));
}

/* Starts the misses of the lines a walk from a slot's root is likely to
 * read: a slot's nodes are one run, breadth first, so a walk mostly stays
 * in its first few hundred bytes. Issued together, the misses overlap,
 * where the walk's dependent reads would take them one after the other. */
static __always_inline void poptrie_touch(void *nodes, __u32 root, __u32 lines)
{
#pragma unroll
	for (__u32 k = 0; k < lines; k++) {
		__u32 r = root + k * 8 / 3; /* 24-byte nodes, 64-byte lines */
		struct fib6_node *n = bpf_map_lookup_elem(nodes, &r);

		if (n)
			touch(n);
	}
}

/* The walk from root node e down the key hi:lo, one node per six bits from
 * FIB6_ROOT_DEPTH (poptrie.rs has the layout and the reference). */
static __always_inline __u32 poptrie_walk(void *nodes, void *leaves, __u32 e, __u64 hi,
					  __u64 lo, __u32 levels)
{
	for (__u32 k = 0; k < levels; k++) {
		__u32 d = FIB6_ROOT_DEPTH + 6 * k, leaf;
		struct fib6_node *node = bpf_map_lookup_elem(nodes, &e);
		__u64 v, bit, upto;
		__u64 *w;

		if (!node)
			return 0;
		/* Strides start at 24 + 6k: only 60 spans both halves. */
		if (d <= 58)
			v = (hi >> (58 - d)) & 63;
		else if (d < 64)
			v = (hi << (d - 58) | lo >> (122 - d)) & 63;
		else if (d <= 122)
			v = (lo >> (122 - d)) & 63;
		else
			v = (lo << (d - 122)) & 63;
		bit = 1ull << v;
		upto = bit | (bit - 1);
		if (node->base1 & FIB6_INLINE) { /* no child; its leaves in vector */
			leaf = __builtin_popcountll(node->leafvec & upto) - 1;
			return (node->vector >> (16 * (leaf & 3))) & 0xffff;
		}
		if (node->vector & bit) {
			e = node->base1 + __builtin_popcountll(node->vector & upto) - 1;
			continue;
		}
		leaf = node->base0 + __builtin_popcountll(node->leafvec & upto) - 1;
		w = bpf_map_lookup_elem(leaves, &(__u32){ leaf >> 2 });
		return w ? (*w >> (16 * (leaf & 3))) & 0xffff : 0;
	}
	return 0;
}

/* The key's direct entry, then its fan entry: the group (FIB6_INDEX clear)
 * or, with FIB6_INDEX set, the slot's root node. */
static __always_inline __u32 poptrie_slot(void *direct, void *fans, __u64 hi)
{
	__u32 e = fib6_entry(direct, hi >> 48);

	if (!(e & FIB6_INDEX))
		return e;
	return fib6_entry(fans, (e & ~FIB6_INDEX) * FIB6_FAN_ENTRIES + ((hi >> 40) & 0xff));
}

/* The group for daddr: the chunk's direct entry, the slot's fan entry, then
 * one node per six bits. */
static __always_inline __u32 fib6_lookup(const struct in6_addr *daddr)
{
	__u64 hi = (__u64)bpf_ntohl(daddr->in6_u.u6_addr32[0]) << 32 |
		   bpf_ntohl(daddr->in6_u.u6_addr32[1]);
	__u64 lo = (__u64)bpf_ntohl(daddr->in6_u.u6_addr32[2]) << 32 |
		   bpf_ntohl(daddr->in6_u.u6_addr32[3]);
	__u32 e = poptrie_slot(&fib6_direct, &fib6_fans, hi);

	if (!(e & FIB6_INDEX))
		return e & 0xffff;
	e &= ~FIB6_INDEX;
	poptrie_touch(&fib6_nodes, e, FIB6_TOUCH_LINES);
	return poptrie_walk(&fib6_nodes, &fib6_leaves, e, hi, lo, FIB6_LEVELS);
}

#ifdef SLUICE_DXR
/* IPv4 over the same layout, the address at bits 6..37 of the key: direct
 * by /10, fan by /18, nodes at /18, /24 and /30. */
static __always_inline __u32 pop4_lookup(__u32 daddr /* host order */)
{
	__u64 hi = (__u64)daddr << POP4_SHIFT;
	__u32 e = poptrie_slot(&pop4_direct, &pop4_fans, hi);

	if (!(e & FIB6_INDEX))
		return e & 0xffff;
	return poptrie_walk(&pop4_nodes, &pop4_leaves, e & ~FIB6_INDEX, hi, 0, POP4_LEVELS);
}
#endif

#endif /* SLUICE_FIB_LOOKUP_H */
