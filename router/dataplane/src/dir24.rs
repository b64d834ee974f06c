//! The IPv4 FIB in DIR-24-8 layout, built in user space exactly as the XDP
//! program reads it (no system calls here): in words of its own, which a
//! loader copies, or in the kernel's maps themselves, through their shared
//! mapping ([`Dataplane::live_fib4`](crate::loader::Dataplane::live_fib4), see `words.rs`).
//!
//! # Layout (the contract with `ebpf/`)
//!
//! Every logical entry is a `u16`:
//!
//! * `0` — no route;
//! * bit 15 set (`0x8000 | g`) — go to tbl8 group `g = v & 0x7fff`
//!   (only ever found in `top`);
//! * otherwise a next-hop-group id `1..=32767` (32767 is
//!   [`crate::layout::GROUP_DISCARD`]: a discard route).
//!
//! `top` has 2^24 logical entries indexed by the top 24 bits of the
//! destination address (`addr >> 8`). Entries are packed four per `u64`
//! array element: logical index `i` lives in word `i >> 2` at bits
//! `16 * (i & 3) .. 16 * (i & 3) + 15` (the value is
//! `(word >> (16 * (i & 3))) & 0xffff`). So `top` is 2^22 words (32 MiB).
//!
//! `tbl8` holds groups of 256 logical entries, one per value of the last
//! octet: group `g` entry `b` is logical index `g * 256 + b`, packed the same
//! way (word `(g * 256 + b) >> 2`, slot `(g * 256 + b) & 3`); a group is 64
//! words. The capacity is configurable ([`DEFAULT_TBL8_GROUPS`] = 8192 groups
//! = 4 MiB, at most [`MAX_TBL8_GROUPS`]). tbl8 entries never have bit 15 set.
//!
//! A lookup is therefore at most two reads; [`lookup_in`] is the reference
//! implementation (it is what [`Dir24::lookup`] runs).
//!
//! The program reads a 4-bit code per top entry first (`fib4_codes`, see
//! `codes.rs`): a palette slot holding the entry, or "read `top`". The
//! kernel's maps get their codes with their top words, whoever writes them
//! (a live builder's `take_dirty`, or the loader).
//!
//! # Updating a live map
//!
//! [`Dir24::take_dirty`] returns the word ranges of `top` and `tbl8` that
//! changed since the previous call. Write the **tbl8 ranges first, then the
//! top ranges**, each word with one aligned 8-byte store: a group newly
//! referenced by a top entry is then complete before the top entry points to
//! it. A group freed by a collapse is not handed out again until the next
//! `take_dirty` (it is "quarantined"), so within one batch no group that the
//! kernel's current `top` may still point to is refilled for another /24.
//! A live builder's `take_dirty` does those writes itself, in that order.
//!
//! # Longest-prefix match under any update order
//!
//! The set of installed prefixes is kept (one hash map per length but /24,
//! whose prefixes the words themselves record: see [`Dir24::get`]), and every
//! logical entry carries the length of the prefix that owns it (a parallel
//! "depth", `len + 1`, 0 = none; as in DPDK's `rte_lpm`: a byte per tbl8
//! entry, four bits per top entry, see `depth.rs`). An insert
//! only writes entries whose depth is ≤ its own; a delete rewrites the entries
//! whose depth equals its own with the best remaining covering prefix. For a
//! top entry that points to a tbl8 group, the top depth is that of the best
//! covering prefix of length ≤ 24, and the group's entries owned by that
//! prefix carry its depth too.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::Ipv4Addr;
use std::ops::Range;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use crate::loader::mmap::MappedWords;
pub(crate) use codes::{Codes, WORDS as CODE_WORDS};
use depth::{SHORT, SHORT_BLOCK_BITS, SHORT_MAX, TopDepths};
use words::Words;

mod codes;
mod depth;
mod words;

/// Logical entries in `top` (2^24).
pub const TOP_ENTRIES: usize = 1 << 24;
/// `u64` words in `top` (2^22, 32 MiB).
pub const TOP_WORDS: usize = TOP_ENTRIES / ENTRIES_PER_WORD;
/// Logical `u16` entries packed into one `u64` word.
pub const ENTRIES_PER_WORD: usize = 4;
/// Logical entries in one tbl8 group.
pub const TBL8_GROUP_ENTRIES: usize = 256;
/// `u64` words in one tbl8 group.
pub const TBL8_GROUP_WORDS: usize = TBL8_GROUP_ENTRIES / ENTRIES_PER_WORD;
/// Default number of tbl8 groups (4 MiB).
pub const DEFAULT_TBL8_GROUPS: u32 = 8192;
/// Most tbl8 groups a 15-bit group id can address.
pub const MAX_TBL8_GROUPS: u32 = 0x8000;
/// Bit 15 of a top entry: the rest is a tbl8 group id.
pub const TBL8_FLAG: u16 = 0x8000;
/// Largest next-hop-group id an entry can hold.
pub const MAX_NEXT_HOP_GROUP: u16 = 0x7fff;
const LIVE: &str = "a builder over the kernel's maps has no words of its own";

/// Errors from building the FIB.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Dir24Error {
    #[error("prefix length {0} is longer than 32")]
    BadLength(u8),
    #[error("invalid IPv4 prefix {0:?}")]
    BadPrefix(String),
    #[error("next-hop-group id {0} is outside 1..=32767")]
    BadGroup(u16),
    #[error(
        "all {capacity} tbl8 groups are in use ({quarantined} of them freed since the last take_dirty)"
    )]
    Tbl8Exhausted { capacity: u32, quarantined: u32 },
}

/// An IPv4 prefix; host bits are cleared on construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    addr: u32,
    len: u8,
}

impl Prefix {
    /// `addr/len` with the host bits of `addr` cleared (like `Ipv4Net::trunc`).
    pub const fn new(addr: u32, len: u8) -> Result<Prefix, Dir24Error> {
        if len > 32 {
            return Err(Dir24Error::BadLength(len));
        }
        Ok(Prefix {
            addr: addr & mask(len),
            len,
        })
    }

    /// From an [`Ipv4Addr`] (e.g. `Ipv4Net::network()` and `prefix_len()`).
    pub fn from_ipv4(addr: Ipv4Addr, len: u8) -> Result<Prefix, Dir24Error> {
        Prefix::new(u32::from(addr), len)
    }

    /// The network address as a host-order integer.
    pub const fn addr(self) -> u32 {
        self.addr
    }

    pub const fn prefix_len(self) -> u8 {
        self.len
    }

    pub fn network(self) -> Ipv4Addr {
        Ipv4Addr::from(self.addr)
    }

    pub const fn contains(self, addr: u32) -> bool {
        addr & mask(self.len) == self.addr
    }
}

impl TryFrom<(u32, u8)> for Prefix {
    type Error = Dir24Error;
    fn try_from((addr, len): (u32, u8)) -> Result<Self, Self::Error> {
        Prefix::new(addr, len)
    }
}

impl TryFrom<(Ipv4Addr, u8)> for Prefix {
    type Error = Dir24Error;
    fn try_from((addr, len): (Ipv4Addr, u8)) -> Result<Self, Self::Error> {
        Prefix::from_ipv4(addr, len)
    }
}

impl FromStr for Prefix {
    type Err = Dir24Error;
    /// `a.b.c.d/len`; a bare address is a /32.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || Dir24Error::BadPrefix(s.to_owned());
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, l.parse::<u8>().map_err(|_| bad())?),
            None => (s, 32),
        };
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        Prefix::from_ipv4(addr, l)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network(), self.len)
    }
}

/// Word ranges (indices into [`Dir24::top_words`] / [`Dir24::tbl8_words`])
/// changed since the previous [`Dir24::take_dirty`]: half-open, sorted,
/// disjoint and not adjacent (touching ranges are merged).
///
/// Write `tbl8` before `top` (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dirty {
    pub top: Vec<Range<u32>>,
    pub tbl8: Vec<Range<u32>>,
}

impl Dirty {
    pub fn is_empty(&self) -> bool {
        self.top.is_empty() && self.tbl8.is_empty()
    }

    /// Changed `top` words.
    pub fn top_word_count(&self) -> usize {
        self.top.iter().map(|r| r.len()).sum()
    }

    /// Changed `tbl8` words.
    pub fn tbl8_word_count(&self) -> usize {
        self.tbl8.iter().map(|r| r.len()).sum()
    }
}

/// Reads a DIR-24-8 FIB the way the XDP program does: the top entry for
/// `addr >> 8`, then, if bit 15 is set, entry `addr & 0xff` of that tbl8
/// group. Returns the next-hop-group id, 0 for no route. Out-of-range group
/// ids (which the builder never writes) read as 0, as the bounds-checked map
/// lookup in the program would miss.
///
/// Usable on words read back from the kernel maps.
#[inline]
pub fn lookup_in(top: &[u64], tbl8: &[u64], addr: u32) -> u16 {
    lookup_by(|i| read_packed(top, i), |i| read_packed(tbl8, i), addr)
}

/// [`lookup_in`] over any reader of the two arrays' logical entries.
#[inline]
pub(crate) fn lookup_by(
    top: impl Fn(usize) -> Option<u16>,
    tbl8: impl Fn(usize) -> Option<u16>,
    addr: u32,
) -> u16 {
    let v = top((addr >> 8) as usize).unwrap_or(0);
    if v & TBL8_FLAG == 0 {
        return v;
    }
    tbl8((usize::from(v & MAX_NEXT_HOP_GROUP) << 8) | (addr & 0xff) as usize).unwrap_or(0)
}

#[inline]
fn read_packed(words: &[u64], i: usize) -> Option<u16> {
    words.get(i >> 2).map(|w| (w >> ((i & 3) * 16)) as u16)
}

#[inline]
fn get16(words: &Words, i: usize) -> u16 {
    (words.get(i >> 2) >> ((i & 3) * 16)) as u16
}

#[inline]
fn set16(words: &mut Words, i: usize, v: u16) {
    let sh = (i & 3) * 16;
    let w = words.get(i >> 2);
    words.set(i >> 2, (w & !(0xffff << sh)) | (u64::from(v) << sh));
}

/// Sets logical entries `lo..hi` to `v`.
fn fill16(words: &mut Words, lo: usize, hi: usize, v: u16) {
    let mut i = lo;
    while i < hi && i & 3 != 0 {
        set16(words, i, v);
        i += 1;
    }
    let (wlo, whi) = (i >> 2, hi >> 2);
    if wlo < whi {
        words.fill(wlo..whi, u64::from(v) * 0x0001_0001_0001_0001);
        i = whi << 2;
    }
    while i < hi {
        set16(words, i, v);
        i += 1;
    }
}

const fn mask(len: u8) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - len) }
}

/// A cheap hasher for `u32` keys (the prefix maps are keyed by masked
/// addresses; SipHash would dominate the bulk load).
#[derive(Default)]
pub(crate) struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u32(&mut self, i: u32) {
        self.0 = (self.0 ^ u64::from(i)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        // High bits are well mixed; fold them into the low (bucket) bits.
        self.0 ^ (self.0 >> 32)
    }
}

pub(crate) type RouteMap = HashMap<u32, u16, BuildHasherDefault<AddrHasher>>;

/// The DIR-24-8 IPv4 FIB builder. See the module documentation for the layout.
///
/// Its words are its own ([`Dir24::new`]), for a loader to copy from
/// ([`Dir24::take_dirty`]), or the kernel's maps ([`Dataplane::live_fib4`](crate::loader::Dataplane::live_fib4)), which
/// `take_dirty` then writes itself. A clone's words are its own.
#[derive(Clone)]
pub struct Dir24 {
    top: Words,
    /// Owner length + 1 of each top entry (0 = none); for an entry pointing
    /// to a tbl8 group, the best covering prefix of length ≤ 24.
    top_depth: TopDepths,
    tbl8: Words,
    tbl8_depth: Vec<u8>,
    /// Per group: installed prefixes of length 25..=32 under its /24.
    tbl8_refs: Vec<u16>,
    /// Per group: the group of the top entry's owner (the best covering
    /// prefix of length ≤ 24), which longer prefixes may hide in every
    /// entry of the group.
    tbl8_cover: Vec<u16>,
    /// Free group ids; popped from the end (initially 0 first).
    free: Vec<u32>,
    /// Groups freed since the last `take_dirty`; not reusable until then.
    quarantine: Vec<u32>,
    capacity: u32,
    /// Installed prefixes: `routes[len]` maps the masked address to its
    /// group; `routes[24]` stays empty (a /24 is installed where its top
    /// entry's depth is 25: over half a full table, 9 MiB of map saved).
    routes: Vec<RouteMap>,
    /// Installed /24s per block of [`SLASH24_BLOCK`] top entries: a scan
    /// for them reads only the blocks that have some.
    slash24s: Vec<u16>,
    /// Installed prefixes of each length 17..=23 per /16 ([`mid_slot`]):
    /// the maps of these lengths are a full table's biggest, and
    /// [`Dir24::covering`] looks one up only where it has some, where each
    /// lookup was a cache miss on every withdrawal.
    mid: Vec<u8>,
    count: usize,
}

/// Lengths counted per /16 in `Dir24::mid` (at most 128 of them, /23s,
/// fit a /16, and a `u8`).
const MID: std::ops::RangeInclusive<u8> = 17..=23;

/// The index of `addr`'s /16 and length `len` (in [`MID`]) in `Dir24::mid`.
#[inline]
fn mid_slot(addr: u32, len: u8) -> usize {
    ((addr >> 16) as usize) << 3 | usize::from(len - MID.start())
}

/// Top entries per block counted in `Dir24::slash24s` (a /12).
const SLASH24_BLOCK: usize = 1 << 12;

impl fmt::Debug for Dir24 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dir24")
            .field("prefixes", &self.count)
            .field("tbl8_capacity", &self.capacity)
            .field("tbl8_in_use", &self.tbl8_groups_in_use())
            .field("tbl8_quarantined", &self.quarantine.len())
            .finish_non_exhaustive()
    }
}

impl Default for Dir24 {
    fn default() -> Self {
        Dir24::new(DEFAULT_TBL8_GROUPS)
    }
}

impl Dir24 {
    /// An empty FIB (all words zero, nothing dirty) with room for
    /// `tbl8_groups` /24s holding longer prefixes.
    ///
    /// # Panics
    /// If `tbl8_groups` exceeds [`MAX_TBL8_GROUPS`] (15-bit group ids).
    pub fn new(tbl8_groups: u32) -> Dir24 {
        assert!(
            tbl8_groups <= MAX_TBL8_GROUPS,
            "at most {MAX_TBL8_GROUPS} tbl8 groups, asked for {tbl8_groups}"
        );
        let cap = tbl8_groups as usize;
        Dir24::with_words(
            Words::owned(TOP_WORDS),
            Words::owned(cap * TBL8_GROUP_WORDS),
        )
    }

    /// An empty FIB whose words are the kernel's maps `top` and `tbl8`
    /// (2^22 and a multiple of 64 words), with the top level's `codes`: a
    /// change is written into them by the next [`Self::take_dirty`]. With
    /// `fresh`, what the maps hold was written by another builder (adopted
    /// pins): it keeps forwarding until the first `take_dirty` rewrites all
    /// of it.
    pub(crate) fn live(
        top: Arc<MappedWords>,
        tbl8: Arc<MappedWords>,
        codes: Arc<Mutex<Codes>>,
        fresh: bool,
    ) -> Dir24 {
        Dir24::with_words(
            Words::live(top, Some(codes), fresh),
            Words::live(tbl8, None, fresh),
        )
    }

    /// [`Self::live`] over shared anonymous memory in place of the maps:
    /// the daemon's builder, for benchmarks.
    pub fn live_in_memory(tbl8_groups: u32) -> Dir24 {
        assert!(
            (1..=MAX_TBL8_GROUPS).contains(&tbl8_groups),
            "1 to {MAX_TBL8_GROUPS} tbl8 groups, asked for {tbl8_groups}"
        );
        let top = MappedWords::anonymous(TOP_WORDS);
        let tbl8 = MappedWords::anonymous(tbl8_groups as usize * TBL8_GROUP_WORDS);
        let codes = Arc::new(Mutex::new(Codes::in_memory()));
        Dir24::live(Arc::new(top), Arc::new(tbl8), codes, false)
    }

    fn with_words(top: Words, tbl8: Words) -> Dir24 {
        assert_eq!(top.len(), TOP_WORDS, "the top level has 2^22 words");
        let tbl8_groups = (tbl8.len() / TBL8_GROUP_WORDS) as u32;
        assert!(
            tbl8_groups <= MAX_TBL8_GROUPS,
            "at most {MAX_TBL8_GROUPS} tbl8 groups, asked for {tbl8_groups}"
        );
        let cap = tbl8_groups as usize;
        Dir24 {
            top,
            top_depth: TopDepths::new(TOP_ENTRIES),
            tbl8,
            tbl8_depth: vec![0; cap * TBL8_GROUP_ENTRIES],
            tbl8_refs: vec![0; cap],
            tbl8_cover: vec![0; cap],
            free: (0..tbl8_groups).rev().collect(),
            quarantine: Vec::new(),
            capacity: tbl8_groups,
            routes: (0..=32).map(|_| RouteMap::default()).collect(),
            slash24s: vec![0; TOP_ENTRIES / SLASH24_BLOCK],
            mid: vec![0; mid_slot(u32::MAX, *MID.end()) + 1],
            count: 0,
        }
    }

    /// Builds a FIB from a full table in one pass: prefixes are bucketed by
    /// length and written shortest first, each simply overwriting (no depth
    /// checks). A prefix given twice keeps its last group.
    ///
    /// Every `top` word and every allocated tbl8 group is marked dirty, so
    /// `take_dirty` describes a complete load (into a fresh or a stale map).
    pub fn from_routes<I>(tbl8_groups: u32, routes: I) -> Result<Dir24, Dir24Error>
    where
        I: IntoIterator<Item = (Prefix, u16)>,
    {
        let mut fib = Dir24::new(tbl8_groups);
        let routes: Vec<(Prefix, u16)> = routes.into_iter().collect();
        let mut per_len = [0usize; 33];
        for (p, group) in &routes {
            check_group(*group)?;
            per_len[usize::from(p.len)] += 1;
        }
        for (map, n) in fib.routes.iter_mut().zip(per_len) {
            map.reserve(n);
        }
        for (p, group) in routes {
            if fib.routes[usize::from(p.len)]
                .insert(p.addr, group)
                .is_none()
                && MID.contains(&p.len)
            {
                fib.mid[mid_slot(p.addr, p.len)] += 1;
            }
        }
        fib.count = fib.routes.iter().map(HashMap::len).sum();
        // /24s are written from this map, then kept in the words only.
        let slash24 = std::mem::take(&mut fib.routes[24]);

        let mut sorted: Vec<(u32, u16)> = Vec::new();
        for len in 0..=32u8 {
            let map = if len == 24 {
                &slash24
            } else {
                &fib.routes[usize::from(len)]
            };
            if map.is_empty() {
                continue;
            }
            // Address order keeps the writes roughly sequential.
            sorted.clear();
            sorted.extend(map.iter().map(|(&a, &g)| (a, g)));
            sorted.sort_unstable_by_key(|&(a, _)| a);
            let depth = len + 1;
            if len <= 24 {
                for &(addr, group) in &sorted {
                    let lo = (addr >> 8) as usize;
                    if len == 24 {
                        fib.slash24s[lo / SLASH24_BLOCK] += 1;
                    }
                    let hi = lo + (1usize << (24 - len));
                    fill16(&mut fib.top, lo, hi, group);
                    fib.top_depth.fill(lo, hi, depth);
                }
            } else {
                for &(addr, group) in &sorted {
                    let i = (addr >> 8) as usize;
                    let cur = get16(&fib.top, i);
                    let g = if cur & TBL8_FLAG != 0 {
                        usize::from(cur & MAX_NEXT_HOP_GROUP)
                    } else {
                        fib.extend(i)?
                    };
                    fib.tbl8_refs[g] += 1;
                    let lo = g * TBL8_GROUP_ENTRIES + (addr & 0xff) as usize;
                    let hi = lo + (1usize << (32 - len));
                    fill16(&mut fib.tbl8, lo, hi, group);
                    fib.tbl8_depth[lo..hi].fill(depth);
                }
            }
        }
        fib.top.mark(0..TOP_WORDS);
        Ok(fib)
    }

    /// Installs `prefix` → `group`, replacing the group of the same prefix if
    /// present. Fails, changing nothing, if `group` is not in `1..=32767` or
    /// the prefix is longer than /24 and needs a tbl8 group when none is free.
    pub fn insert(&mut self, prefix: Prefix, group: u16) -> Result<(), Dir24Error> {
        self.replace(prefix, group).map(|_| ())
    }

    /// [`Self::insert`], returning the group `prefix` had: one lookup for
    /// a caller that needs both (the programmer's reference counts).
    pub fn replace(&mut self, prefix: Prefix, group: u16) -> Result<Option<u16>, Dir24Error> {
        check_group(group)?;
        let Prefix { addr, len } = prefix;
        let depth = len + 1;
        let old;
        if len <= 24 {
            old = if len == 24 {
                let old = self.route24(addr);
                if old.is_none() {
                    self.slash24s[(addr >> 8) as usize / SLASH24_BLOCK] += 1;
                }
                old
            } else {
                self.routes[usize::from(len)].insert(addr, group)
            };
            if old.is_none() {
                self.count += 1;
                if MID.contains(&len) {
                    self.mid[mid_slot(addr, len)] += 1;
                }
            }
            let lo = (addr >> 8) as usize;
            let hi = lo + (1usize << (24 - len));
            // An entry is this prefix's unless a longer prefix owns it. A
            // short owner is shorter than a long prefix; against a short
            // one, it is this or a longer one (now in `routes`).
            self.rewrite_top(
                lo..hi,
                (group, depth),
                |fib, first, _| takes_all(fib.top_depth.codes4(first), len),
                |fib, i, block| {
                    let owner = match fib.top_depth.code(i) {
                        SHORT if len > SHORT_MAX => 0,
                        SHORT => fib.short_owner(i, block),
                        c => depth::long_depth(c),
                    };
                    owner <= depth
                },
                move |d| d <= depth,
            );
        } else {
            let i = (addr >> 8) as usize;
            let cur = get16(&self.top, i);
            // Allocate first: on exhaustion nothing has been touched.
            let g = if cur & TBL8_FLAG != 0 {
                usize::from(cur & MAX_NEXT_HOP_GROUP)
            } else {
                self.extend(i)?
            };
            old = self.routes[usize::from(len)].insert(addr, group);
            if old.is_none() {
                self.count += 1;
                self.tbl8_refs[g] += 1;
            }
            let lo = (addr & 0xff) as usize;
            let hi = lo + (1usize << (32 - len));
            self.tbl8_write_if(g, lo..hi, |d| d <= depth, group, depth);
        }
        Ok(old)
    }

    /// Removes `prefix`; the entries it owned fall back to the next-longest
    /// installed covering prefix (or no route). Returns whether it was
    /// installed. A tbl8 group whose last longer-than-/24 prefix goes is
    /// collapsed back into its top entry and freed (reusable after the next
    /// [`take_dirty`](Self::take_dirty)).
    pub fn remove(&mut self, prefix: Prefix) -> bool {
        self.take(prefix).is_some()
    }

    /// [`Self::remove`], returning the group `prefix` had.
    pub fn take(&mut self, prefix: Prefix) -> Option<u16> {
        let Prefix { addr, len } = prefix;
        let old = if len == 24 {
            let old = self.route24(addr)?;
            self.slash24s[(addr >> 8) as usize / SLASH24_BLOCK] -= 1;
            old
        } else {
            let old = self.routes[usize::from(len)].remove(&addr)?;
            if MID.contains(&len) {
                self.mid[mid_slot(addr, len)] -= 1;
            }
            old
        };
        self.count -= 1;
        let depth = len + 1;
        let (rv, rd) = self.covering(addr, len);
        if len <= 24 {
            let lo = (addr >> 8) as usize;
            let hi = lo + (1usize << (24 - len));
            // An entry is this prefix's if its depth is. A short code is
            // if no longer short prefix, still in `routes`, covers the
            // entry (the same for a whole word: it lies in one /10 block).
            let mine = depth::code(depth);
            self.rewrite_top(
                lo..hi,
                (rv, rd),
                |fib, first, block| {
                    fib.top_depth.codes4(first) == u16::from(mine) * 0x1111
                        && (mine != SHORT || fib.short_owner(first, block) < depth)
                },
                |fib, i, block| match fib.top_depth.code(i) {
                    SHORT => len <= SHORT_MAX && fib.short_owner(i, block) < depth,
                    c => depth::long_depth(c) == depth,
                },
                move |d| d == depth,
            );
        } else {
            let i = (addr >> 8) as usize;
            let cur = get16(&self.top, i);
            debug_assert!(cur & TBL8_FLAG != 0, "a /{len} without a tbl8 group");
            let g = usize::from(cur & MAX_NEXT_HOP_GROUP);
            let lo = (addr & 0xff) as usize;
            let hi = lo + (1usize << (32 - len));
            self.tbl8_write_if(g, lo..hi, |d| d == depth, rv, rd);
            self.tbl8_refs[g] -= 1;
            if self.tbl8_refs[g] == 0 {
                // Every entry now belongs to the covering prefix of length ≤ 24.
                let base = g * TBL8_GROUP_ENTRIES;
                let v = get16(&self.tbl8, base);
                debug_assert_eq!(v, self.tbl8_cover[g]);
                debug_assert!((base..base + TBL8_GROUP_ENTRIES).all(
                    |e| get16(&self.tbl8, e) == v && self.tbl8_depth[e] == self.top_depth_of(i)
                ));
                set16(&mut self.top, i, v);
                self.quarantine.push(g as u32);
            }
        }
        Some(old)
    }

    /// The next-hop group for `addr` (0 = no route), read from the packed
    /// words exactly as the XDP program reads them ([`lookup_in`]).
    #[inline]
    pub fn lookup(&self, addr: u32) -> u16 {
        lookup_by(|i| self.top.entry(i), |i| self.tbl8.entry(i), addr)
    }

    /// The group installed for exactly `prefix`.
    pub fn get(&self, prefix: Prefix) -> Option<u16> {
        if prefix.len == 24 {
            return self.route24(prefix.addr);
        }
        self.routes[usize::from(prefix.len)]
            .get(&prefix.addr)
            .copied()
    }

    /// The group of the /24 at `addr`, if one is installed: its top entry
    /// is then its own (depth 25), and holds its group or, extended, points
    /// to a tbl8 group whose cover is it.
    fn route24(&self, addr: u32) -> Option<u16> {
        let i = (addr >> 8) as usize;
        if self.top_depth.code(i) != depth::code(25) {
            return None;
        }
        let v = get16(&self.top, i);
        Some(if v & TBL8_FLAG != 0 {
            self.tbl8_cover[usize::from(v & MAX_NEXT_HOP_GROUP)]
        } else {
            v
        })
    }

    /// Installed prefixes: those of [`Self::iter_but_24s`], then the
    /// /24s in address order.
    pub fn iter(&self) -> impl Iterator<Item = (Prefix, u16)> + '_ {
        self.iter_but_24s().chain(self.slash24s_from(0))
    }

    /// Installed prefixes of every length but 24, in no particular order.
    pub fn iter_but_24s(&self) -> impl Iterator<Item = (Prefix, u16)> + '_ {
        self.routes.iter().enumerate().flat_map(|(len, m)| {
            m.iter().map(move |(&addr, &g)| {
                (
                    Prefix {
                        addr,
                        len: len as u8,
                    },
                    g,
                )
            })
        })
    }

    /// Installed /24s from the one holding `addr` on, in address order (a
    /// scan of the top level's depths: a page of them need not read all).
    pub fn slash24s_from(&self, addr: u32) -> impl Iterator<Item = (Prefix, u16)> + '_ {
        let first = (addr >> 8) as usize;
        let blocks = first / SLASH24_BLOCK..self.slash24s.len();
        blocks
            .filter(|&b| self.slash24s[b] > 0)
            .flat_map(move |b| (b * SLASH24_BLOCK).max(first)..(b + 1) * SLASH24_BLOCK)
            .filter_map(move |i| {
                let addr = (i as u32) << 8;
                let g = self.route24(addr)?;
                Some((Prefix { addr, len: 24 }, g))
            })
    }

    /// Number of installed prefixes.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The packed top level: 2^22 words (see the module documentation).
    ///
    /// # Panics
    /// On a builder over the kernel's maps ([`Dataplane::live_fib4`](crate::loader::Dataplane::live_fib4)): its words are
    /// theirs.
    pub fn top_words(&self) -> &[u64] {
        self.top.as_slice().expect(LIVE)
    }

    /// The packed tbl8 groups: `tbl8_capacity() * 64` words.
    ///
    /// # Panics
    /// As [`Self::top_words`].
    pub fn tbl8_words(&self) -> &[u64] {
        self.tbl8.as_slice().expect(LIVE)
    }

    /// Whether the words are the kernel's maps ([`Dataplane::live_fib4`](crate::loader::Dataplane::live_fib4)).
    pub fn is_live(&self) -> bool {
        self.top.as_slice().is_none()
    }

    pub fn tbl8_capacity(&self) -> u32 {
        self.capacity
    }

    /// tbl8 groups referenced from `top`.
    pub fn tbl8_groups_in_use(&self) -> u32 {
        self.capacity - self.free.len() as u32 - self.quarantine.len() as u32
    }

    /// tbl8 groups freed since the last `take_dirty`, not yet reusable.
    pub fn tbl8_groups_quarantined(&self) -> u32 {
        self.quarantine.len() as u32
    }

    /// The words changed since the previous call (write tbl8, then top), and
    /// releases the groups freed meanwhile for reuse. Call it once the
    /// previous batch has been written, or the quarantine guarantee is void.
    ///
    /// A builder over the kernel's maps ([`Dataplane::live_fib4`](crate::loader::Dataplane::live_fib4)) writes the changes
    /// into them here, in that order, and returns nothing left to write.
    pub fn take_dirty(&mut self) -> Dirty {
        self.free.append(&mut self.quarantine);
        let tbl8 = self.tbl8.write_out();
        let top = self.top.write_out();
        Dirty { top, tbl8 }
    }

    /// Marks every top word and every tbl8 group in use dirty, e.g. to
    /// rewrite a map of unknown content (pinned, from an earlier run).
    /// Nothing to do for a builder over the maps themselves: their words
    /// are its own, and a `fresh` one rewrites all of them anyway.
    pub fn mark_all_dirty(&mut self) {
        if self.is_live() {
            return;
        }
        self.top.mark(0..TOP_WORDS);
        for i in 0..TOP_ENTRIES {
            let v = get16(&self.top, i);
            if v & TBL8_FLAG != 0 {
                let w = usize::from(v & MAX_NEXT_HOP_GROUP) * TBL8_GROUP_WORDS;
                self.tbl8.mark(w..w + TBL8_GROUP_WORDS);
            }
        }
    }

    /// Sets the top entries `entries` that `takes` (entry index) to
    /// (`value`, `depth`); in the tbl8 group an entry points to, the
    /// entries whose depth `tbl8_takes`. A word (four entries) at a time:
    /// where `all` (its first entry's index) says all four are taken and
    /// none points to a tbl8 group, one read and at most one write for
    /// them, where a short prefix's million entries made an
    /// entry-by-entry loop most of a table's load.
    fn rewrite_top(
        &mut self,
        entries: Range<usize>,
        (value, depth): (u16, u8),
        all: impl Fn(&Self, usize, &mut Block) -> bool,
        takes: impl Fn(&Self, usize, &mut Block) -> bool,
        tbl8_takes: impl Fn(u8) -> bool + Copy,
    ) {
        let (lo, hi) = (entries.start, entries.end);
        let mut block = Block::default();
        let whole = u64::from(value) * 0x0001_0001_0001_0001;
        for w in lo / ENTRIES_PER_WORD..hi.div_ceil(ENTRIES_PER_WORD) {
            let first = w * ENTRIES_PER_WORD;
            let mut word = self.top.get(w);
            let before = word;
            // The common case (a table loading or leaving in address
            // order): four entries taken whole.
            if first >= lo
                && first + ENTRIES_PER_WORD <= hi
                && word & TBL8_FLAGS == 0
                && all(self, first, &mut block)
            {
                self.top_depth.set4(first, depth);
                if word != whole {
                    self.top.set(w, whole);
                }
                continue;
            }
            for i in lo.max(first)..hi.min(first + ENTRIES_PER_WORD) {
                if !takes(self, i, &mut block) {
                    continue;
                }
                self.top_depth.set(i, depth);
                let sh = (i & 3) * 16;
                let cur = (word >> sh) as u16;
                if cur & TBL8_FLAG != 0 {
                    let g = usize::from(cur & MAX_NEXT_HOP_GROUP);
                    self.tbl8_cover[g] = value;
                    self.tbl8_write_if(g, 0..TBL8_GROUP_ENTRIES, tbl8_takes, value, depth);
                } else {
                    word = (word & !(0xffff << sh)) | (u64::from(value) << sh);
                }
            }
            if word != before {
                self.top.set(w, word);
            }
        }
    }

    /// Allocates a group for top entry `i` (not extended yet), fills it with
    /// the entry's value and depth and points the entry at it.
    fn extend(&mut self, i: usize) -> Result<usize, Dir24Error> {
        let g = self.free.pop().ok_or(Dir24Error::Tbl8Exhausted {
            capacity: self.capacity,
            quarantined: self.quarantine.len() as u32,
        })? as usize;
        let cur = get16(&self.top, i);
        let base = g * TBL8_GROUP_ENTRIES;
        fill16(&mut self.tbl8, base, base + TBL8_GROUP_ENTRIES, cur);
        self.tbl8_cover[g] = cur;
        let depth = self.top_depth_of(i);
        self.tbl8_depth[base..base + TBL8_GROUP_ENTRIES].fill(depth);
        self.tbl8_refs[g] = 0;
        set16(&mut self.top, i, TBL8_FLAG | g as u16);
        Ok(g)
    }

    /// In group `g`, sets entries `range` whose depth passes `pred` to
    /// (`v`, `depth`).
    #[inline]
    fn tbl8_write_if(
        &mut self,
        g: usize,
        range: Range<usize>,
        pred: impl Fn(u8) -> bool,
        v: u16,
        depth: u8,
    ) {
        let base = g * TBL8_GROUP_ENTRIES;
        for e in base + range.start..base + range.end {
            if !pred(self.tbl8_depth[e]) {
                continue;
            }
            self.tbl8_depth[e] = depth;
            if get16(&self.tbl8, e) != v {
                set16(&mut self.tbl8, e, v);
            }
        }
    }

    /// The exact depth of top entry `i`.
    fn top_depth_of(&self, i: usize) -> u8 {
        match self.top_depth.code(i) {
            SHORT => self.short_owner(i, &mut Block::default()),
            c => depth::long_depth(c),
        }
    }

    /// The depth of the longest installed prefix of at most [`SHORT_MAX`]
    /// bits covering top entry `i` (0: none), asked once per /10 block.
    #[inline]
    fn short_owner(&self, i: usize, block: &mut Block) -> u8 {
        let b = i >> SHORT_BLOCK_BITS;
        if block.at != Some(b) {
            let addr = (i as u32) << 8;
            *block = Block {
                at: Some(b),
                depth: self.covering(addr, SHORT_MAX + 1).1,
            };
        }
        block.depth
    }

    /// The longest installed prefix covering `addr` shorter than `len`:
    /// (group, depth), or (0, 0).
    fn covering(&self, addr: u32, len: u8) -> (u16, u8) {
        for l in (0..len).rev() {
            if MID.contains(&l) && self.mid[mid_slot(addr, l)] == 0 {
                continue;
            }
            let prefix = Prefix {
                addr: addr & mask(l),
                len: l,
            };
            if let Some(g) = self.get(prefix) {
                return (g, l + 1);
            }
        }
        (0, 0)
    }
}

/// The tbl8 flag of each of a word's four entries.
const TBL8_FLAGS: u64 = (TBL8_FLAG as u64) * 0x0001_0001_0001_0001;

/// Whether a prefix of length `len` (at most 24) owns every one of four
/// entries whose depth codes are `codes` ([`TopDepths::codes4`]): each has
/// no owner or one no longer than it. A short owner's exact length is
/// not in its code: a prefix that may be shorter leaves those to the
/// entry-by-entry path.
#[inline]
fn takes_all(codes: u16, len: u8) -> bool {
    let mine = depth::code(len + 1);
    (0..4).all(|k| {
        let c = ((codes >> (4 * k)) & 15) as u8;
        match (c, mine) {
            (0, _) => true,
            (SHORT, _) => len > SHORT_MAX,
            // A long owner, longer than any short prefix.
            (_, SHORT) => false,
            // Long codes are ordered as their lengths.
            (c, mine) => c <= mine,
        }
    })
}

/// The short owner of the /10 block last asked, within one change.
#[derive(Default)]
struct Block {
    at: Option<usize>,
    depth: u8,
}

fn check_group(group: u16) -> Result<(), Dir24Error> {
    if group == 0 || group > MAX_NEXT_HOP_GROUP {
        Err(Dir24Error::BadGroup(group))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
