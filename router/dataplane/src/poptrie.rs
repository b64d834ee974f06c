//! The IPv6 FIB as a multibit trie of popcount-compressed nodes, after
//! Poptrie (Asai, Ohara: "Poptrie: a compressed trie with population count
//! for fast and scalable software IP routing table lookup", SIGCOMM 2015),
//! built in user space exactly as the XDP program reads it (no I/O here).
//!
//! A kernel `LPM_TRIE` walks one pointer per branching bit and loses to
//! anything compact at a full table's 220k prefixes (docs/benchmarks.md).
//! Here a lookup is two direct reads and then one 24-byte node per six
//! bits of the prefix: a /48 costs the direct entry, the fan entry and
//! four nodes (at /24, /30, /36 and /42, the last holding its leaves
//! itself), from arrays a few MiB large. With random destinations every
//! read past the fan is a cache miss, so the fan ends at /24, where the
//! strides line up with /48, half the table.
//!
//! # Layout (the contract with `ebpf/`)
//!
//! * `direct`: 2^16 `u32` entries, two per `u64` word, one per /16
//!   *chunk*, indexed by the address's top 16 bits. Bit 31 set: bits
//!   0..31 are the index of the chunk's fan. Otherwise the group of the
//!   whole chunk (bits 0..16), so that zeroed maps read as no route.
//! * `fans`: 256 `u32` entries per fan (128 words), one per /24 *slot* of
//!   the chunk, indexed by address bits 16..24. Bit 31 set: the index of the
//!   slot's root node. Otherwise the slot's group.
//! * `nodes`: three `u64` words each: `vector`, `leafvec`, and
//!   `base0 | base1 << 32`. A node at depth `d` (24, 30, … 126) decides on
//!   the six address bits from `d` (bits past 128 read as 0), `v`. If bit
//!   `v` of `vector` is set the walk goes on at node
//!   `base1 + popcount(vector & mask(v)) - 1`, where `mask(v)` keeps bits
//!   0..=v; otherwise the group is leaf
//!   `base0 + popcount(leafvec & mask(v)) - 1`. `leafvec` marks the leaf
//!   positions where a run of equal leaves starts (where the group changes,
//!   and right after a child), so a node whose 64 positions hold three
//!   groups and no child stores three leaves. A node with no child and at
//!   most four runs keeps them itself, which bit 31 of `base1` says
//!   ([`INLINE`]): the group is then entry `popcount(leafvec & mask(v)) - 1`
//!   of the `u16`s packed in its first word. Most walks end in such a node,
//!   and a leaf read saved is a cache miss saved.
//! * `leaves`: `u16` groups, four per `u64` word.
//!
//! Group 0 is "no route". Of the offsets 24 + 6k only 60 straddles the two
//! halves of the address; the program reads that stride from both.
//!
//! # Updating a live map
//!
//! A slot's nodes are one buddy-allocated run and its leaves another, so a
//! change rebuilds the slots it touches beside the live ones: write the new
//! runs, then the fan entry (one aligned store), and a packet sees the old
//! subtree or the new, never a mix. A chunk that gains its first prefix
//! longer than /16 gets a fan, written whole before the `direct` entry that
//! points at it. Write in the order [`Dirty6`] lists: leaves, nodes, fans,
//! direct. Runs and fans replaced are not handed out again until the next
//! [`Poptrie::take_dirty`] (quarantine), so a reader that loaded an old
//! entry just before finishes on intact nodes.

use std::collections::BTreeSet;
use std::ops::Range;

use rustc_hash::FxHashMap;

use crate::buddy::{Buddy, Run, order_for};
use crate::dirty::DirtyBits;
use crate::readback::Word;

/// Bits of the address that index `direct`.
pub const DIRECT_BITS: u32 = 16;
/// `direct` entries (2^16).
pub const DIRECT_ENTRIES: usize = 1 << DIRECT_BITS;
/// Bits of the address that index a fan.
pub const FAN_BITS: u32 = 8;
/// Entries per fan.
pub const FAN_ENTRIES: usize = 1 << FAN_BITS;
/// Where root nodes start deciding: after direct and fan bits.
pub const ROOT_DEPTH: u32 = DIRECT_BITS + FAN_BITS;
/// Bits a node decides on.
pub const STRIDE: u32 = 6;
/// Node levels below a slot: depths 24, 30, … 126.
pub const MAX_LEVELS: u32 = (128 - ROOT_DEPTH).div_ceil(STRIDE);
/// `direct` and fan flag: the entry is an index (of a fan, of a root
/// node), not a group.
pub const INDEX_FLAG: u32 = 1 << 31;
/// `u64` words per node.
pub const NODE_WORDS: usize = 3;
/// In a node's third word: its leaves are in its first word, not in
/// `leaves` (bit 31 of `base1`).
pub const INLINE: u64 = 1 << 63;
/// The most leaves a node keeps itself: four `u16`s in one word.
pub const INLINE_MAX: u32 = 4;
/// Default capacities: fans, nodes and leaves.
/// A full table uses about a hundred /16 chunks (the RIRs' /12 blocks and
/// 2001::/16); 512 fans take 512 KiB, mapped into the daemon.
pub const DEFAULT_FANS: u32 = 1 << 9;
pub const DEFAULT_NODES: u32 = 1 << 21;
pub const DEFAULT_LEAVES: u32 = 1 << 22;
/// The largest run of nodes or leaves one slot may take.
pub const MAX_ORDER: u32 = 16;

/// Errors from building the FIB.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoptrieError {
    #[error("prefix length {0} is longer than 128")]
    Length(u8),
    #[error(
        "the IPv6 FIB's {what} are full ({capacity}); {slots} slot(s) kept their previous entries"
    )]
    Full {
        what: &'static str,
        capacity: u32,
        slots: usize,
    },
    #[error("the live IPv6 FIB is not one this builder wrote: {0}")]
    Foreign(String),
}

/// The capacities of the four arrays (fans, nodes, leaves; `direct` is
/// fixed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub fans: u32,
    pub nodes: u32,
    pub leaves: u32,
}

impl Default for Capacity {
    fn default() -> Self {
        Capacity {
            fans: DEFAULT_FANS,
            nodes: DEFAULT_NODES,
            leaves: DEFAULT_LEAVES,
        }
    }
}

/// Word ranges changed since the previous [`Poptrie::take_dirty`],
/// half-open and sorted, per array. Write them in field order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dirty6 {
    pub leaves: Vec<Range<u32>>,
    pub nodes: Vec<Range<u32>>,
    pub fans: Vec<Range<u32>>,
    pub direct: Vec<Range<u32>>,
    /// Set when some slots could not be rebuilt for want of space: they
    /// keep forwarding as before the change.
    pub full: Option<PoptrieError>,
    /// The words of `nodes`, from a builder that keeps only fresh nodes
    /// ([`Keep::Fresh`]); empty from one that keeps them all.
    pub fresh_nodes: FreshNodes,
}

impl Dirty6 {
    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
            && self.nodes.is_empty()
            && self.fans.is_empty()
            && self.direct.is_empty()
    }

    /// Words to write, all arrays.
    pub fn word_count(&self) -> usize {
        [&self.leaves, &self.nodes, &self.fans, &self.direct]
            .iter()
            .flat_map(|v| v.iter())
            .map(|r| r.len())
            .sum()
    }
}

/// One of the arrays, mirrored, with its dirty words.
#[derive(Clone)]
struct Words {
    words: Vec<u64>,
    dirty: DirtyBits,
}

impl Words {
    fn new(words: usize, fill: u64) -> Words {
        Words {
            words: vec![fill; words],
            dirty: DirtyBits::new(words),
        }
    }

    fn u32_at(&self, i: usize) -> u32 {
        (self.words[i / 2] >> ((i % 2) * 32)) as u32
    }

    fn set_u32(&mut self, i: usize, v: u32) {
        self.set_packed(i, 32, u64::from(v));
    }

    fn set_u16(&mut self, i: usize, v: u16) {
        self.set_packed(i, 16, u64::from(v));
    }

    /// Entry `i` of `bits`-wide entries packed into the words, marking
    /// the word dirty if it changed.
    fn set_packed(&mut self, i: usize, bits: usize, v: u64) {
        let per = 64 / bits;
        let (w, sh) = (i / per, (i % per) * bits);
        let mask = (u64::MAX >> (64 - bits)) << sh;
        let new = (self.words[w] & !mask) | (v << sh);
        if new != self.words[w] {
            self.words[w] = new;
            self.dirty.mark(w);
        }
    }
}

/// The network mask of a prefix length.
pub const fn mask(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    }
}

/// The six bits a node at depth `d` decides on.
#[inline]
const fn stride_bits(addr: u128, d: u32) -> usize {
    (if d + STRIDE <= 128 {
        addr >> (128 - STRIDE - d)
    } else {
        addr << (d + STRIDE - 128)
    } & 63) as usize
}

/// The slot (top 24 bits) of an address.
const fn slot_of(addr: u128) -> u32 {
    (addr >> (128 - ROOT_DEPTH)) as u32
}

/// Bits 0..=v.
#[inline]
const fn upto(v: usize) -> u64 {
    let bit = 1u64 << v;
    bit | (bit - 1)
}

/// The IPv6 FIB in the program's layout, with the prefixes it was built
/// from.
#[derive(Clone)]
pub struct Poptrie {
    routes: Routes,
    /// Routes per prefix length: LPM probes only the lengths in use.
    counts: [u32; 129],
    direct: Words,
    fans: Words,
    nodes: Nodes,
    leaves: Words,
    /// Each chunk's fan, when its entry is not a group.
    chunk_fans: FxHashMap<u32, u32>,
    /// Each slot's (nodes, leaves) runs, when its entry is not a group.
    slot_runs: FxHashMap<u32, (Run, Run)>,
    fan_alloc: Buddy,
    node_alloc: Buddy,
    leaf_alloc: Buddy,
    quarantine: Vec<Freed>,
    stale_chunks: BTreeSet<u32>,
    stale_slots: BTreeSet<u32>,
    /// Reused between subtree builds.
    scratch: Subtree,
    run_words: Vec<u64>,
}

#[derive(Debug, Clone, Copy)]
enum Freed {
    Fan(u32),
    Nodes(Run),
    Leaves(Run),
}

impl std::fmt::Debug for Poptrie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poptrie")
            .field("prefixes", &self.routes.len())
            .field("fans", &self.chunk_fans.len())
            .field("slots", &self.slot_runs.len())
            .finish_non_exhaustive()
    }
}

impl Default for Poptrie {
    fn default() -> Self {
        Poptrie::new(Capacity::default())
    }
}

/// A subtree laid out from index 0: nodes (three words each) and leaves.
#[derive(Default, Clone)]
struct Subtree {
    nodes: Vec<[u64; 3]>,
    leaves: Vec<u16>,
}

impl Poptrie {
    /// An empty FIB (every address: no route) that keeps a copy of all
    /// its arrays.
    pub fn new(cap: Capacity) -> Poptrie {
        Poptrie::keeping(cap, Keep::Whole)
    }

    /// An empty FIB that keeps what `keep` says of its nodes.
    pub fn keeping(cap: Capacity, keep: Keep) -> Poptrie {
        Poptrie {
            routes: Routes::default(),
            counts: [0; 129],
            direct: Words::new(DIRECT_ENTRIES / 2, 0),
            fans: Words::new(cap.fans as usize * FAN_ENTRIES / 2, 0),
            nodes: Nodes::new(keep, cap.nodes as usize * NODE_WORDS),
            leaves: Words::new((cap.leaves as usize).div_ceil(4), 0),
            chunk_fans: FxHashMap::default(),
            slot_runs: FxHashMap::default(),
            fan_alloc: Buddy::new(cap.fans, 0),
            node_alloc: Buddy::new(cap.nodes, MAX_ORDER),
            leaf_alloc: Buddy::new(cap.leaves, MAX_ORDER),
            quarantine: Vec::new(),
            stale_chunks: BTreeSet::new(),
            stale_slots: BTreeSet::new(),
            scratch: Subtree::default(),
            run_words: Vec::new(),
        }
    }

    /// Adds or replaces a route; returns the group it had. Host bits are
    /// cleared. Takes effect in the arrays at the next [`Self::take_dirty`].
    pub fn insert(&mut self, addr: u128, len: u8, group: u16) -> Result<Option<u16>, PoptrieError> {
        if len > 128 {
            return Err(PoptrieError::Length(len));
        }
        let key = (addr & mask(len), len);
        let old = self.routes.insert(key, group);
        if old != Some(group) {
            if old.is_none() {
                self.counts[usize::from(len)] += 1;
            }
            self.mark_stale(key);
        }
        Ok(old)
    }

    /// Removes a route; returns its group.
    pub fn remove(&mut self, addr: u128, len: u8) -> Option<u16> {
        if len > 128 {
            return None;
        }
        let key = (addr & mask(len), len);
        let old = self.routes.remove(key)?;
        self.counts[usize::from(len)] -= 1;
        self.mark_stale(key);
        Some(old)
    }

    /// The group of the longest prefix of at most `len` bits covering
    /// `addr`, 0 for none (what an `LPM_TRIE` lookup of that key gives).
    pub fn longest_match(&self, addr: u128, len: u8) -> u16 {
        (0..=len.min(128))
            .rev()
            .filter(|&l| self.counts[usize::from(l)] > 0)
            .find_map(|l| self.routes.get((addr & mask(l), l)))
            .unwrap_or(0)
    }

    /// The group of exactly `addr/len`, if it is a route.
    pub fn get(&self, addr: u128, len: u8) -> Option<u16> {
        (len <= 128)
            .then(|| self.routes.get((addr & mask(len), len)))
            .flatten()
    }

    /// Every route, in (network, length) order.
    pub fn routes(&self) -> impl Iterator<Item = (u128, u8, u16)> + '_ {
        self.routes.iter()
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The group the arrays give for `addr` (the program's lookup).
    ///
    /// # Panics
    /// For a builder that keeps only fresh nodes ([`Keep::Fresh`]).
    pub fn lookup(&self, addr: u128) -> u16 {
        lookup_in(
            &self.direct.words,
            &self.fans.words,
            self.nodes.whole(),
            &self.leaves.words,
            addr,
        )
    }

    pub fn direct_words(&self) -> &[u64] {
        &self.direct.words
    }

    pub fn fan_words(&self) -> &[u64] {
        &self.fans.words
    }

    /// # Panics
    /// For a builder that keeps only fresh nodes ([`Keep::Fresh`]).
    pub fn node_words(&self) -> &[u64] {
        self.nodes.whole()
    }

    /// Node words up to the end of the last run in use: all a reader of
    /// the arrays can reach.
    pub fn node_words_in_use(&self) -> usize {
        let end = self.slot_runs.values().map(|(n, _)| n.at + n.len());
        end.max().unwrap_or(0) as usize * NODE_WORDS
    }

    /// Leaf words up to the end of the last run in use.
    pub fn leaf_words_in_use(&self) -> usize {
        let end = self.slot_runs.values().map(|(_, l)| l.at + l.len());
        (end.max().unwrap_or(0) as usize).div_ceil(4)
    }

    pub fn leaf_words(&self) -> &[u64] {
        &self.leaves.words
    }

    /// The effective FIB of the arrays ([`entries_in`]).
    ///
    /// # Panics
    /// For a builder that keeps only fresh nodes ([`Keep::Fresh`]).
    pub fn entries(&self) -> Vec<(u128, u8, u16)> {
        entries_in(
            &self.direct.words,
            &self.fans.words,
            self.nodes.whole(),
            &self.leaves.words,
        )
    }

    /// (fans, nodes, leaves) in use, runs rounded up to powers of two.
    pub fn in_use(&self) -> (usize, u32, u32) {
        let runs = self.slot_runs.values();
        (
            self.chunk_fans.len(),
            runs.clone().map(|r| r.0.len()).sum(),
            runs.map(|r| r.1.len()).sum(),
        )
    }

    fn mark_stale(&mut self, (addr, len): Key) {
        let len = u32::from(len);
        if len <= DIRECT_BITS {
            let first = (addr >> (128 - DIRECT_BITS)) as u32;
            self.stale_chunks
                .extend(first..first + (1 << (DIRECT_BITS - len)));
        } else if len <= ROOT_DEPTH {
            self.stale_chunks
                .insert((addr >> (128 - DIRECT_BITS)) as u32);
        } else {
            self.stale_slots.insert(slot_of(addr));
        }
    }

    /// Rebuilds what changed and returns the words to write. Releases the
    /// runs replaced before the previous call: no reader can still be on
    /// them once the caller has written that batch.
    pub fn take_dirty(&mut self) -> Dirty6 {
        for freed in std::mem::take(&mut self.quarantine) {
            match freed {
                Freed::Fan(f) => self.fan_alloc.release(Run { at: f, order: 0 }),
                Freed::Nodes(r) => self.node_alloc.release(r),
                Freed::Leaves(r) => self.leaf_alloc.release(r),
            }
        }
        let mut full: Option<PoptrieError> = None;
        let mut failed = 0;
        let mut note = |e: PoptrieError| {
            failed += 1;
            full.get_or_insert(e);
        };
        let chunks = std::mem::take(&mut self.stale_chunks);
        for &c in &chunks {
            if let Err(e) = self.rebuild_chunk(c) {
                note(e);
            }
        }
        for s in std::mem::take(&mut self.stale_slots) {
            if chunks.contains(&(s >> FAN_BITS)) {
                continue;
            }
            if let Err(e) = self.rebuild_slot(s) {
                note(e);
            }
        }
        if let Some(PoptrieError::Full { slots, .. }) = full.as_mut() {
            *slots = failed;
        }
        let (nodes, fresh_nodes) = self.nodes.take();
        Dirty6 {
            leaves: self.leaves.dirty.take(),
            nodes,
            fans: self.fans.dirty.take(),
            direct: self.direct.dirty.take(),
            full,
            fresh_nodes,
        }
    }

    /// The routes at least `min_len` long whose network is in `[lo, hi]`, in
    /// (address, length) order.
    fn routes_within(&self, lo: u128, hi: u128, min_len: u8) -> Vec<(u128, u8, u16)> {
        self.routes.within(lo, hi, min_len)
    }

    /// Recomputes a chunk's `direct` entry, its fan and all its slots.
    fn rebuild_chunk(&mut self, c: u32) -> Result<(), PoptrieError> {
        let lo = u128::from(c) << (128 - DIRECT_BITS);
        let hi = lo | !mask(DIRECT_BITS as u8);
        let inherited = self.longest_match(lo, DIRECT_BITS as u8);
        let within = self.routes_within(lo, hi, DIRECT_BITS as u8 + 1);
        if within.is_empty() {
            self.direct.set_u32(c as usize, u32::from(inherited));
            if let Some(fan) = self.chunk_fans.remove(&c) {
                self.quarantine.push(Freed::Fan(fan));
                for s in 0..FAN_ENTRIES as u32 {
                    self.free_slot(c << FAN_BITS | s);
                }
            }
            return Ok(());
        }
        let fan = match self.chunk_fans.get(&c) {
            Some(&f) => f,
            None => {
                let f = self.fan_alloc.alloc(0).ok_or(PoptrieError::Full {
                    what: "fans",
                    capacity: self.fan_alloc.capacity(),
                    slots: 0,
                })?;
                self.chunk_fans.insert(c, f);
                f
            }
        };
        // Prefixes /17../24 paint slots, shortest first; longer ones go to
        // their slot's subtree.
        let mut paint = [inherited; FAN_ENTRIES];
        let mut mids: Vec<&(u128, u8, u16)> = within
            .iter()
            .filter(|r| u32::from(r.1) <= ROOT_DEPTH)
            .collect();
        mids.sort_by_key(|r| r.1);
        for &(a, l, g) in mids {
            let first = (slot_of(a) & (FAN_ENTRIES as u32 - 1)) as usize;
            paint[first..first + (1 << (ROOT_DEPTH - u32::from(l)))].fill(g);
        }
        let mut long = within
            .iter()
            .filter(|r| u32::from(r.1) > ROOT_DEPTH)
            .peekable();
        let mut result = Ok(());
        for (s, &bg) in paint.iter().enumerate() {
            let slot = c << FAN_BITS | s as u32;
            let mut mine = Vec::new();
            while let Some(r) = long.next_if(|r| slot_of(r.0) == slot) {
                mine.push(*r);
            }
            if let Err(e) = self.place_slot(fan, slot, bg, &mine) {
                result = Err(e);
            }
        }
        // Last: the fan is whole before anything points at it.
        self.direct.set_u32(c as usize, INDEX_FLAG | fan);
        result
    }

    /// Recomputes one slot of a chunk whose other slots are unchanged.
    fn rebuild_slot(&mut self, s: u32) -> Result<(), PoptrieError> {
        let c = s >> FAN_BITS;
        let Some(&fan) = self.chunk_fans.get(&c) else {
            return self.rebuild_chunk(c);
        };
        let lo = u128::from(s) << (128 - ROOT_DEPTH);
        let hi = lo | !mask(ROOT_DEPTH as u8);
        let bg = self.longest_match(lo, ROOT_DEPTH as u8);
        let long = self.routes_within(lo, hi, ROOT_DEPTH as u8 + 1);
        self.place_slot(fan, s, bg, &long)?;
        // A fan whose slots all say one group is that group.
        let first = fan as usize * FAN_ENTRIES;
        let e = self.fans.u32_at(first);
        if e & INDEX_FLAG == 0 && (first..first + FAN_ENTRIES).all(|i| self.fans.u32_at(i) == e) {
            self.direct.set_u32(c as usize, e);
            self.chunk_fans.remove(&c);
            self.quarantine.push(Freed::Fan(fan));
        }
        Ok(())
    }

    /// Writes slot `s` of `fan`: group `bg` if `long` is empty, else a
    /// subtree of `long` over `bg` in fresh runs. On failure the slot keeps
    /// what it had.
    fn place_slot(
        &mut self,
        fan: u32,
        s: u32,
        bg: u16,
        long: &[(u128, u8, u16)],
    ) -> Result<(), PoptrieError> {
        let at = fan as usize * FAN_ENTRIES + (s as usize & (FAN_ENTRIES - 1));
        if long.is_empty() {
            self.free_slot(s);
            self.fans.set_u32(at, u32::from(bg));
            return Ok(());
        }
        let mut tree = std::mem::take(&mut self.scratch);
        build_subtree(bg, long, &mut tree);
        let placed = self.place_tree(s, at, &tree);
        self.scratch = tree;
        placed
    }

    /// Writes a built subtree for slot `s` into fresh runs and points fan
    /// entry `at` at it.
    fn place_tree(&mut self, s: u32, at: usize, tree: &Subtree) -> Result<(), PoptrieError> {
        let (nodes, leaves) = (tree.nodes.len() as u32, tree.leaves.len() as u32);
        let full = |what, capacity| PoptrieError::Full {
            what,
            capacity,
            slots: 0,
        };
        let Some(n_at) = self.node_alloc.alloc(order_for(nodes)) else {
            return Err(full("nodes", self.node_alloc.capacity()));
        };
        let n_run = Run {
            at: n_at,
            order: order_for(nodes),
        };
        let Some(l_at) = self.leaf_alloc.alloc(order_for(leaves)) else {
            self.node_alloc.release(n_run);
            return Err(full("leaves", self.leaf_alloc.capacity()));
        };
        let l_run = Run {
            at: l_at,
            order: order_for(leaves),
        };
        // Relocated from index 0 to the runs.
        self.run_words.clear();
        self.run_words.extend(tree.nodes.iter().flat_map(|n| {
            // An inline node's base1 is only the flag.
            let n_at = if n[2] & INLINE == 0 { n_at } else { 0 };
            let bases = (n[2] as u32 + l_at, (n[2] >> 32) as u32 + n_at);
            [n[0], n[1], u64::from(bases.0) | u64::from(bases.1) << 32]
        }));
        self.nodes
            .write_run(n_at as usize * NODE_WORDS, &self.run_words);
        for (i, &g) in tree.leaves.iter().enumerate() {
            self.leaves.set_u16(l_at as usize + i, g);
        }
        self.free_slot(s);
        self.fans.set_u32(at, INDEX_FLAG | n_at);
        self.slot_runs.insert(s, (n_run, l_run));
        Ok(())
    }

    /// Quarantines slot `s`'s runs, if it has any.
    fn free_slot(&mut self, s: u32) {
        if let Some((n, l)) = self.slot_runs.remove(&s) {
            self.quarantine.push(Freed::Nodes(n));
            self.quarantine.push(Freed::Leaves(l));
        }
    }

    /// Takes over arrays a previous run wrote (e.g. adopted pinned maps):
    /// the structure stays as it is, its fans and runs are marked in use,
    /// and its routes are the effective ones it resolves (each maximal run
    /// of one group as the fewest prefixes), which later changes replace.
    /// `nodes` and `leaves` may be shorter than the capacity when the rest
    /// is known to be unused. It keeps what `keep` says of the nodes.
    pub fn adopt<W: Word>(
        cap: Capacity,
        keep: Keep,
        direct: &[W],
        fans: &[W],
        nodes: &[W],
        leaves: &[W],
    ) -> Result<Poptrie, PoptrieError> {
        let mut p = Poptrie::keeping(cap, keep);
        let foreign = |what: String| PoptrieError::Foreign(what);
        let node_words = cap.nodes as usize * NODE_WORDS;
        if nodes.len() > node_words {
            return Err(foreign(format!(
                "nodes has {} words, expected {node_words}",
                nodes.len()
            )));
        }
        p.nodes.adopt(nodes.iter().map(Word::get));
        for (mine, theirs, what) in [
            (&mut p.direct, direct, "direct"),
            (&mut p.fans, fans, "fans"),
            (&mut p.leaves, leaves, "leaves"),
        ] {
            // Leaves may come short: the rest reads as zero.
            let short_ok = what == "leaves";
            if mine.words.len() < theirs.len() || (!short_ok && mine.words.len() != theirs.len()) {
                return Err(foreign(format!(
                    "{what} has {} words, expected {}",
                    theirs.len(),
                    mine.words.len()
                )));
            }
            // Word by word: zero pages of the mirror stay unresident.
            for (m, t) in mine.words.iter_mut().zip(theirs) {
                let t = t.get();
                if t != 0 {
                    *m = t;
                }
            }
        }
        for c in 0..DIRECT_ENTRIES as u32 {
            let e = p.direct.u32_at(c as usize);
            if e & INDEX_FLAG == 0 {
                continue;
            }
            let fan = e & !INDEX_FLAG;
            if !p.fan_alloc.reserve(Run { at: fan, order: 0 }) {
                return Err(foreign(format!(
                    "chunk {c:#x}: fan {fan} taken or out of range"
                )));
            }
            p.chunk_fans.insert(c, fan);
            for i in 0..FAN_ENTRIES {
                let e = p.fans.u32_at(fan as usize * FAN_ENTRIES + i);
                if e & INDEX_FLAG == 0 {
                    continue;
                }
                let root = e & !INDEX_FLAG;
                let slot = c << FAN_BITS | i as u32;
                let (n_run, l_run) = subtree_runs(nodes, root)
                    .ok_or_else(|| foreign(format!("slot {slot:#x}: subtree out of range")))?;
                if !p.node_alloc.reserve(n_run) || !p.leaf_alloc.reserve(l_run) {
                    return Err(foreign(format!("slot {slot:#x}: runs overlap")));
                }
                p.slot_runs.insert(slot, (n_run, l_run));
            }
        }
        for (a, l, g) in entries_in(direct, fans, nodes, leaves) {
            p.routes.insert((a, l), g);
            p.counts[usize::from(l)] += 1;
        }
        Ok(p)
    }
}

/// The runs a builder-made subtree at `root` occupies: its nodes from
/// `root` on (breadth first, so the highest index reached is the last),
/// its leaves from the root's `base0` on.
fn subtree_runs<W: Word>(nodes: &[W], root: u32) -> Option<(Run, Run)> {
    let node = |n: u32| {
        let w = nodes.get(n as usize * NODE_WORDS..n as usize * NODE_WORDS + 3)?;
        Some([w[0].get(), w[1].get(), w[2].get()])
    };
    let first_leaf = node(root)?[2] as u32;
    let (mut last_node, mut leaf_end) = (root, first_leaf);
    let mut level = vec![root];
    let mut seen = 0u32;
    for _ in 0..MAX_LEVELS {
        let mut next = Vec::new();
        for &n in &level {
            // A slot's run holds at most 2^MAX_ORDER nodes.
            seen += 1;
            if seen > 1 << MAX_ORDER {
                return None;
            }
            let w = node(n)?;
            if w[2] & INLINE != 0 {
                continue;
            }
            let (base0, base1) = (w[2] as u32, (w[2] >> 32) as u32);
            leaf_end = leaf_end.max(base0.checked_add(w[1].count_ones())?);
            for k in 0..w[0].count_ones() {
                last_node = last_node.max(base1.checked_add(k)?);
                next.push(base1 + k);
            }
        }
        if next.is_empty() {
            break;
        }
        level = next;
    }
    Some((
        Run {
            at: root,
            order: order_for(last_node.checked_sub(root)? + 1),
        },
        Run {
            at: first_leaf,
            order: order_for(leaf_end.checked_sub(first_leaf)?),
        },
    ))
}

/// The subtree of one slot into `tree`: `long` (its prefixes longer than
/// /24, sorted by address then length) over background group `bg`,
/// breadth first so that each node's children are consecutive.
///
/// Sorted by address, a node's prefixes that fall under one of its 64
/// positions are consecutive, and those that end within the node come
/// first (a prefix starts at its lowest address, and ties sort shorter
/// first); so each child's prefixes are a sub-slice, and painting the
/// short ones in address order paints every outer prefix before the ones
/// inside it.
fn build_subtree(bg: u16, long: &[(u128, u8, u16)], tree: &mut Subtree) {
    tree.nodes.clear();
    tree.leaves.clear();
    tree.nodes.push([0; 3]);
    let mut queue = std::collections::VecDeque::new();
    queue.push_back((0usize, ROOT_DEPTH, bg, 0..long.len()));
    // (position, first, end) of each child of the node being built.
    let mut kids: Vec<(usize, usize, usize)> = Vec::with_capacity(64);
    while let Some((at, d, bg, range)) = queue.pop_front() {
        let mut paint = [bg; 64];
        let mut vector = 0u64;
        kids.clear();
        for i in range {
            let (a, l, g) = long[i];
            let v = stride_bits(a, d);
            if u32::from(l) <= d + STRIDE {
                let n = 1usize << (d + STRIDE - u32::from(l));
                paint[v..(v + n).min(64)].fill(g);
            } else if vector & (1 << v) == 0 {
                vector |= 1 << v;
                kids.push((v, i, i + 1));
            } else if let Some(k) = kids.last_mut() {
                k.2 = i + 1;
            }
        }
        let base1 = tree.nodes.len() as u64;
        for &(v, first, end) in &kids {
            // Final: every short prefix covering v sorts before v's children.
            queue.push_back((tree.nodes.len(), d + STRIDE, paint[v], first..end));
            tree.nodes.push([0; 3]);
        }
        // A run of leaves starts at the first leaf position, where the
        // group changes, and after each child (so no walk back is needed).
        let mut changes = 1u64;
        for v in 1..64 {
            changes |= u64::from(paint[v] != paint[v - 1]) << v;
        }
        let leafvec = !vector & (changes | vector << 1);
        let base0 = tree.leaves.len() as u64;
        let leaves = (0..leafvec.count_ones()).scan(leafvec, |left, _| {
            let g = paint[left.trailing_zeros() as usize];
            *left &= *left - 1;
            Some(g)
        });
        if vector == 0 && leafvec.count_ones() <= INLINE_MAX {
            let packed = leaves
                .enumerate()
                .fold(0u64, |w, (k, g)| w | u64::from(g) << (16 * k));
            tree.nodes[at] = [packed, leafvec, base0 | INLINE];
            continue;
        }
        tree.leaves.extend(leaves);
        tree.nodes[at] = [vector, leafvec, base0 | base1 << 32];
    }
}

mod nodes;
mod read;
mod routes;

use nodes::Nodes;
pub use nodes::{FreshNodes, Keep};
pub use read::{Array6, entries_in, lookup_in, lookup_with};
use routes::{Key, Routes};

#[cfg(test)]
mod tests;
