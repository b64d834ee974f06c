//! The IPv6 FIB in the kernel: the [`Poptrie`] builder and the four array
//! maps it is published to.
//!
//! `fib6_direct` and `fib6_fans` are small (0.75 MiB together) and written
//! through a shared mapping: their entries switch a chunk or a slot over
//! to a new subtree, and only a single aligned store makes that atomic.
//! `fib6_nodes` and `fib6_leaves` (56 MiB of capacity) are mapped only a
//! window at a time, for a moment, to write a batch's new runs or to read
//! them back: a lasting mapping would count their whole capacity in the
//! daemon's RSS, and nothing points at a run before it is complete.

use std::net::Ipv6Addr;
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::Ordering;

use aya::maps::{Array, IterableMap, LpmTrie, Map, MapData, MapError};

use crate::layout::{self, FIB6_CAPACITY, NH_GROUPS_MAX, map as m};
use crate::loader::mmap::MappedWords;
use crate::loader::{Dataplane, Error, MappedArray, check_range, map_err, store_changed};
use crate::poptrie::{self, Array6, Dirty6, Keep, NODE_WORDS, Poptrie};

/// The IPv6 FIB's maps and the builder that writes them (keeping a copy of
/// all but the nodes, [`Keep::Fresh`]).
pub(crate) struct Fib6 {
    direct: MappedArray,
    fans: MappedArray,
    nodes: Array<MapData, [u64; NODE_WORDS]>,
    leaves: Array<MapData, u64>,
    trie: Poptrie,
    /// The DXR build's `LPM_TRIE` ([`layout::FibMode::Trie6`]).
    lpm: Option<LpmTrie<MapData, [u8; 16], u16>>,
}

/// `nodes` and `leaves`, mapped for reading.
struct Mapped {
    nodes: MappedWords,
    leaves: MappedWords,
}

fn batch_err(map: &'static str) -> impl Fn((usize, std::io::Error)) -> Error {
    move |(_, e)| Error::Map {
        map,
        source: MapError::IoError(e),
    }
}

impl Fib6 {
    /// Takes the maps and starts the builder from what they hold: nothing
    /// when they are fresh, a previous run's FIB when they are pinned.
    pub(crate) fn new(
        direct: MappedArray,
        fans: MappedArray,
        nodes: Map,
        leaves: Map,
        lpm: Option<Map>,
    ) -> Result<Fib6, Error> {
        let nodes = Array::try_from(nodes).map_err(map_err(m::FIB6_NODES))?;
        let leaves = Array::try_from(leaves).map_err(map_err(m::FIB6_LEAVES))?;
        let lpm = lpm
            .map(|map| LpmTrie::try_from(map).map_err(map_err(m::FIB6_TRIE)))
            .transpose()?;
        let nodes_needed = nodes_reachable(&direct, &fans);
        let trie = if nodes_needed == 0 {
            let none: &[std::sync::atomic::AtomicU64] = &[];
            Poptrie::adopt(
                FIB6_CAPACITY,
                Keep::Fresh,
                direct.words.words(),
                fans.words.words(),
                none,
                none,
            )?
        } else {
            let mapped = Self::map(&nodes, &leaves, nodes_needed, layout::FIB6_LEAF_WORDS)?;
            Poptrie::adopt(
                FIB6_CAPACITY,
                Keep::Fresh,
                direct.words.words(),
                fans.words.words(),
                mapped.nodes.words(),
                mapped.leaves.words(),
            )?
        };
        Ok(Fib6 {
            direct,
            fans,
            nodes,
            leaves,
            trie,
            lpm,
        })
    }

    /// The first `nodes_needed` nodes and the first `leaf_words` leaf
    /// words, mapped for reading (for as long as the result lives).
    fn map(
        nodes: &Array<MapData, [u64; NODE_WORDS]>,
        leaves: &Array<MapData, u64>,
        nodes_needed: usize,
        leaf_words: usize,
    ) -> Result<Mapped, Error> {
        let mmap = |map: &MapData, name, words: usize| {
            MappedWords::window(map.fd().as_fd(), 0, words.max(1))
                .map_err(|source| Error::Mmap { map: name, source })
        };
        Ok(Mapped {
            nodes: mmap(nodes.map(), m::FIB6_NODES, nodes_needed * NODE_WORDS)?,
            leaves: mmap(leaves.map(), m::FIB6_LEAVES, leaf_words)?,
        })
    }

    /// Rebuilds what changed and writes it in the builder's order: leaves,
    /// nodes, fans, direct. Returns the words written.
    fn flush(&mut self) -> Result<usize, Error> {
        let d = self.trie.take_dirty();
        self.write_dirty(&self.trie, &d)
    }

    /// Writes what `t`'s [`Poptrie::take_dirty`] returned, `d`.
    fn write_dirty(&self, t: &Poptrie, d: &Dirty6) -> Result<usize, Error> {
        let mut n = 0;
        // Only fresh runs are dirty in these two (nothing points at them
        // yet), so plain stores do; the fan and direct entries that switch
        // slots over come after, with release stores.
        let leaves = |r: Range<usize>| t.leaf_words()[r].iter().copied();
        n += write_mapped(self.leaves.map(), m::FIB6_LEAVES, &d.leaves, leaves)?;
        let nodes = |r: Range<usize>| d.fresh_nodes.words(r);
        n += write_mapped(self.nodes.map(), m::FIB6_NODES, &d.nodes, nodes)?;
        for (array, words, ranges, name) in [
            (&self.fans, t.fan_words(), &d.fans, m::FIB6_FANS),
            (&self.direct, t.direct_words(), &d.direct, m::FIB6_DIRECT),
        ] {
            for r in ranges {
                let (from, to) = (r.start as usize, r.end as usize);
                n += store_changed(array, from, &words[from..to], name)?;
            }
        }
        match &d.full {
            Some(e) => Err(e.clone().into()),
            None => Ok(n),
        }
    }
}

/// Nodes a reader of the live arrays can reach: none when no fan is in use
/// (fresh maps), else up to the end of the last root's largest run (the
/// allocator hands out the lowest runs first). Mapping the nodes puts every
/// page of the mapping into the RSS, so only these are mapped to read them.
fn nodes_reachable(direct: &MappedArray, fans: &MappedArray) -> usize {
    let index = |e: u32| (e & poptrie::INDEX_FLAG != 0).then_some(e & !poptrie::INDEX_FLAG);
    let entries = |a: &MappedArray| -> Vec<u32> {
        let words = a.words.words().iter().map(|w| w.load(Ordering::Acquire));
        words.flat_map(|w| [w as u32, (w >> 32) as u32]).collect()
    };
    let fans_used: Vec<u32> = entries(direct).into_iter().filter_map(index).collect();
    if fans_used.is_empty() {
        return 0;
    }
    let fan_entries = entries(fans);
    let last_root = fans_used
        .iter()
        .flat_map(|&f| {
            let at = f as usize * poptrie::FAN_ENTRIES;
            fan_entries
                .get(at..at + poptrie::FAN_ENTRIES)
                .unwrap_or(&[])
        })
        .filter_map(|&e| index(e))
        .max()
        .unwrap_or(0) as usize;
    (last_root + (1 << poptrie::MAX_ORDER)).min(layout::FIB6_NODES)
}

/// Dirty ranges this close (in words, 64 KiB) share a window rather than
/// each costing an mmap(2) and munmap(2) of its own.
const WINDOW_GAP: u32 = 8192;

/// Stores the words `ranges` (as `words` gives them) into the array map `map` through
/// windows of its mapping, one per cluster of nearby ranges, each unmapped
/// before the next: a window's pages count in the RSS only while it lasts,
/// and a placement batch's new runs lie together at the allocator's low
/// end. Returns the words stored. (Element by element, `BPF_MAP_UPDATE_BATCH`
/// took a fifth of a full table's placement.)
fn write_mapped<I>(
    map: &MapData,
    name: &'static str,
    ranges: &[Range<u32>],
    words: impl Fn(Range<usize>) -> I,
) -> Result<usize, Error>
where
    I: Iterator<Item = u64>,
{
    let mut stored = 0;
    let mut rest = ranges;
    while let Some(first) = rest.first() {
        let together = 1 + rest
            .windows(2)
            .take_while(|w| w[1].start - w[0].end <= WINDOW_GAP)
            .count();
        let (cluster, after) = rest.split_at(together);
        let (start, end) = (first.start as usize, cluster[together - 1].end as usize);
        let window = MappedWords::window(map.fd().as_fd(), start, end - start)
            .map_err(|source| Error::Mmap { map: name, source })?;
        let live = window.words();
        for r in cluster {
            let r = r.start as usize..r.end as usize;
            for (l, w) in live[r.start - start..r.end - start]
                .iter()
                .zip(words(r.clone()))
            {
                l.store(w, Ordering::Relaxed);
            }
            stored += r.len();
        }
        rest = after;
    }
    std::sync::atomic::fence(Ordering::Release);
    Ok(stored)
}

fn check_len(len: u8) -> Result<(), Error> {
    check_range("IPv6 prefix length", len.into(), 0, 129)
}

impl Dataplane {
    /// Routes `prefix/len` to next-hop group `group` (1..32768;
    /// [`layout::GROUP_DISCARD`] makes it a discard route).
    pub fn set_route6(&mut self, prefix: Ipv6Addr, len: u8, group: u16) -> Result<(), Error> {
        check_range("next-hop group id", group.into(), 1, NH_GROUPS_MAX.into())?;
        check_len(len)?;
        self.fib6.trie.insert(u128::from(prefix), len, group)?;
        self.fib6.flush().map(drop)
    }

    /// [`Self::set_route6`] for many routes, rebuilt and written once.
    /// Returns the routes that could not be written, with why.
    pub fn set_routes6(&mut self, routes: &[(Ipv6Addr, u8, u16)]) -> Vec<(usize, Error)> {
        let changes: Vec<(Ipv6Addr, u8, Option<u16>)> =
            routes.iter().map(|&(a, l, g)| (a, l, Some(g))).collect();
        self.update_routes6(&changes)
    }

    /// Sets (`Some(group)`) and removes (`None`) routes in order, then
    /// rebuilds and writes once: a batch of withdrawals costs one rebuild
    /// of each slot it touches, not one per prefix. Returns the changes
    /// that could not be written, with why.
    pub fn update_routes6(
        &mut self,
        changes: &[(Ipv6Addr, u8, Option<u16>)],
    ) -> Vec<(usize, Error)> {
        let mut failed = Vec::new();
        let mut placed = Vec::with_capacity(changes.len());
        for (i, &(prefix, len, group)) in changes.iter().enumerate() {
            let checked = check_len(len).and_then(|()| match group {
                Some(g) => check_range("next-hop group id", g.into(), 1, NH_GROUPS_MAX.into())
                    .and_then(|()| Ok(self.fib6.trie.insert(u128::from(prefix), len, g)?))
                    .map(|_| placed.push(i)),
                None => {
                    self.fib6.trie.remove(u128::from(prefix), len);
                    Ok(())
                }
            });
            if let Err(e) = checked {
                failed.push((i, e));
            }
        }
        match self.fib6.flush() {
            Ok(_) => {}
            // Full: the routes whose slots kept their old entries.
            Err(Error::Fib6(e)) => {
                for &i in &placed {
                    let (prefix, _, group) = changes[i];
                    if self.lookup6(prefix).ok() != group {
                        failed.push((i, Error::Fib6(e.clone())));
                    }
                }
            }
            Err(e) => failed.push((0, e)),
        }
        failed
    }

    /// Removes the route for `prefix/len` (absent is not an error).
    pub fn remove_route6(&mut self, prefix: Ipv6Addr, len: u8) -> Result<(), Error> {
        check_len(len)?;
        self.fib6.trie.remove(u128::from(prefix), len);
        self.fib6.flush().map(drop)
    }

    /// Hands over the IPv6 FIB's builder (what the maps held at load: a
    /// previous run's FIB when they were pinned), for a caller that keeps
    /// its routes in it and writes its changes with
    /// [`Self::write_fib6_dirty`]. This value's own IPv6 route methods then
    /// start from nothing: use one or the other.
    pub fn take_fib6(&mut self) -> Poptrie {
        let empty = Poptrie::keeping(FIB6_CAPACITY, Keep::Fresh);
        std::mem::replace(&mut self.fib6.trie, empty)
    }

    /// Writes what `trie.take_dirty()` returned, in the builder's order;
    /// returns the words written. Some slots kept their previous entries
    /// when the arrays were full: [`Error::Fib6`], after the rest is
    /// written.
    pub fn write_fib6_dirty(&self, trie: &Poptrie, dirty: &Dirty6) -> Result<usize, Error> {
        self.fib6.write_dirty(trie, dirty)
    }

    /// The next-hop group the program would use for `addr` (0: no route),
    /// read from the maps.
    pub fn lookup6(&self, addr: Ipv6Addr) -> Result<u16, Error> {
        let f = &self.fib6;
        let mapped =
            |a: &MappedArray, i: usize| a.words.words().get(i).map(|w| w.load(Ordering::Acquire));
        Ok(poptrie::lookup_with(
            u128::from(addr),
            |array, i| match array {
                Array6::Direct => mapped(&f.direct, i),
                Array6::Fans => mapped(&f.fans, i),
                Array6::Nodes => {
                    let node = f.nodes.get(&u32::try_from(i / NODE_WORDS).ok()?, 0);
                    node.ok().map(|n| n[i % NODE_WORDS])
                }
                Array6::Leaves => f.leaves.get(&u32::try_from(i).ok()?, 0).ok(),
            },
        ))
    }

    /// The group of the longest route that covers `prefix/len` (0: none):
    /// the route itself when there is one.
    pub fn route6(&self, prefix: Ipv6Addr, len: u8) -> Result<u16, Error> {
        check_len(len)?;
        Ok(self.fib6.trie.longest_match(u128::from(prefix), len))
    }

    /// The effective IPv6 FIB: (prefix, length, group) in address order,
    /// each maximal run of one group as the fewest prefixes (as
    /// [`Self::fib4_entries`]). Read from the maps, through a window over
    /// the node and leaf runs in use that lasts as long as the read.
    pub fn fib6_entries(&self) -> Result<Vec<(Ipv6Addr, u8, u16)>, Error> {
        let f = &self.fib6;
        let nodes = nodes_reachable(&f.direct, &f.fans);
        let leaf_words = if nodes == 0 {
            0
        } else {
            layout::FIB6_LEAF_WORDS
        };
        let mapped = Fib6::map(&f.nodes, &f.leaves, nodes, leaf_words)?;
        let entries = poptrie::entries_in(
            f.direct.words.words(),
            f.fans.words.words(),
            mapped.nodes.words(),
            mapped.leaves.words(),
        );
        Ok(entries
            .into_iter()
            .map(|(a, l, g)| (Ipv6Addr::from(a), l, g))
            .collect())
    }

    /// Bytes of the IPv6 FIB's arrays in use (fans, node and leaf runs),
    /// and their capacity.
    pub fn fib6_bytes(&self) -> (usize, usize) {
        let (fans, nodes, leaves) = self.fib6.trie.in_use();
        let fan_bytes = poptrie::FAN_ENTRIES * 4;
        let used = poptrie::DIRECT_ENTRIES * 4
            + fans * fan_bytes
            + nodes as usize * NODE_WORDS * 8
            + leaves as usize * 2;
        let cap = poptrie::DIRECT_ENTRIES * 4
            + FIB6_CAPACITY.fans as usize * fan_bytes
            + FIB6_CAPACITY.nodes as usize * NODE_WORDS * 8
            + FIB6_CAPACITY.leaves as usize * 2;
        (used, cap)
    }

    /// Whether this is the DXR build, which also has the IPv6 LPM trie.
    pub(crate) fn has_trie6(&self) -> bool {
        self.fib6.lpm.is_some()
    }

    /// Writes routes into the DXR build's `LPM_TRIE` ([`layout::FibMode::Trie6`]),
    /// one `BPF_MAP_UPDATE_BATCH` call for all, for measuring the trie
    /// against the FIB.
    pub fn set_routes6_trie(&mut self, routes: &[(Ipv6Addr, u8, u16)]) -> Result<(), Error> {
        let Some(lpm) = &self.fib6.lpm else {
            return Err(Error::Missing("fib6_trie (load the DXR build)"));
        };
        let mut keys = Vec::with_capacity(routes.len() * 20);
        let mut values = Vec::with_capacity(routes.len() * 2);
        for &(prefix, len, group) in routes {
            check_len(len)?;
            // `struct bpf_lpm_trie_key`: prefix length, then the address.
            keys.extend(u32::from(len).to_ne_bytes());
            keys.extend((u128::from(prefix) & poptrie::mask(len)).to_be_bytes());
            values.extend(group.to_ne_bytes());
        }
        let fd = lpm.map().fd().as_fd().as_raw_fd();
        crate::batch::update(fd, &keys, &values, routes.len()).map_err(batch_err(m::FIB6_TRIE))
    }
}
