//! The IPv4 FIB as ranges, after DXR (Zec, Rizzo, Mikuc: "DXR: towards a
//! billion routing lookups per second in software", 2012), built in user
//! space exactly as the XDP program reads it (no I/O here).
//!
//! A forwarding table is a function from addresses to next-hop groups that
//! changes value only at a few points: most of the million prefixes of a
//! full table lead to one of a handful of groups (Sluice's groups are
//! *ways out*, not prefixes). DXR keeps only those change points.
//!
//! # Layout (the contract with `ebpf/`)
//!
//! * `direct`: 2^18 `u64` entries (2 MiB), one per /18 *chunk*, indexed by
//!   `addr >> 14`. An entry with bit 63 set is the group for the whole
//!   chunk (bits 0..16); otherwise bits 0..32 are the index of the chunk's
//!   first range and bits 32..48 their count (2..=16384).
//! * `ranges`: `u32` entries, `start << 16 | group`, where `start` is the
//!   offset in the chunk (`addr & 0x3fff`) at which the group begins; a
//!   chunk's ranges are consecutive and sorted, the first starts at 0, and
//!   neighbours differ in group. The lookup is the last range whose start
//!   is ≤ the address's offset: a binary search of at most 14 steps, over
//!   a run that mostly fits one or two cache lines.
//!
//! Group 0 is "no route". Both arrays together are a few MiB for a full
//! table, against 36 MiB of DIR-24-8 arrays whose top level alone is 8,192
//! pages: a random destination costs DIR-24-8 a TLB miss before anything
//! else.
//!
//! # Updating a live map
//!
//! A change rebuilds the chunks it touches ([`Dxr::take_dirty`] lists
//! them). A rebuilt run goes to free space in `ranges`; write the run
//! first, then the chunk's `direct` entry with one aligned 8-byte store:
//! a packet sees the old run or the new, never a mix. The old run is not
//! handed out again until the next `take_dirty` (quarantine), so a reader
//! that loaded the old entry just before finishes on intact ranges.

use std::collections::BTreeSet;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use crate::buddy::{Buddy, Run};
use crate::dir24::{AddrHasher, Prefix, RouteMap};

/// Bits of the address that index `direct`.
pub const DIRECT_BITS: u32 = 18;
/// `direct` entries (2^18).
pub const DIRECT_ENTRIES: usize = 1 << DIRECT_BITS;
/// Addresses per chunk (2^14).
pub const CHUNK: u32 = 1 << (32 - DIRECT_BITS);
/// `direct` flag: the entry is a group, not a run of ranges.
pub const DIRECT_FLAG: u64 = 1 << 63;
/// Default `ranges` capacity (2^21 entries, 8 MiB).
pub const DEFAULT_RANGES: u32 = 1 << 21;
/// The largest run: one range per address of a chunk.
const MAX_ORDER: u32 = 32 - DIRECT_BITS;

/// Errors from building the FIB.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DxrError {
    #[error(
        "the range table is full ({capacity} entries, {quarantined} freed since the last take_dirty)"
    )]
    Full { capacity: u32, quarantined: u32 },
}

/// The `direct` entries and `ranges` runs that changed since the last
/// [`Dxr::take_dirty`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DxrDirty {
    /// Chunks whose `direct` entry changed, ascending.
    pub chunks: Vec<u32>,
    /// Ranges written (index, length), to write before the chunks.
    pub runs: Vec<(u32, u32)>,
}

/// The IPv4 FIB in DXR layout, with the prefixes it was built from.
#[derive(Clone)]
pub struct Dxr {
    /// Prefixes of length ≤ 18 (which cover whole chunks), by length.
    short: Vec<RouteMap>,
    /// Prefixes longer than 18, per chunk: (address, length) → group.
    long: HashMap<u32, Vec<(u32, u8, u16)>, BuildHasherDefault<AddrHasher>>,
    direct: Vec<u64>,
    ranges: Vec<u32>,
    /// Each chunk's run, when its entry is not direct.
    runs: HashMap<u32, Run, BuildHasherDefault<AddrHasher>>,
    buddy: Buddy,
    /// Runs replaced since the last `take_dirty`.
    quarantine: Vec<Run>,
    /// Chunks to rebuild.
    stale: BTreeSet<u32>,
    dirty: DxrDirty,
    len: usize,
}

impl std::fmt::Debug for Dxr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dxr")
            .field("prefixes", &self.len)
            .field("ranged_chunks", &self.runs.len())
            .finish_non_exhaustive()
    }
}

impl Default for Dxr {
    fn default() -> Self {
        Dxr::new(DEFAULT_RANGES)
    }
}

/// The chunk of `addr`.
const fn chunk_of(addr: u32) -> u32 {
    addr >> (32 - DIRECT_BITS)
}

/// The reference lookup: what the XDP program computes from the arrays.
pub fn lookup_in(direct: &[u64], ranges: &[u32], addr: u32) -> u16 {
    let d = direct[chunk_of(addr) as usize];
    if d & DIRECT_FLAG != 0 {
        return d as u16;
    }
    let (base, count) = (d as u32, (d >> 32) as u32 & 0xffff);
    in_run(
        &ranges[base as usize..(base + count) as usize],
        addr & (CHUNK - 1),
    )
}

/// The group of offset `off` in a chunk's `run` of ranges: the last range
/// starting at or before it (0 for an empty run).
pub fn in_run(run: &[u32], off: u32) -> u16 {
    let i = run.partition_point(|r| r >> 16 <= off);
    run.get(i.wrapping_sub(1)).map_or(0, |&r| r as u16)
}

impl Dxr {
    /// An empty FIB with room for `ranges` range entries (a multiple of
    /// 2^14).
    pub fn new(ranges: u32) -> Dxr {
        let ranges = ranges.max(CHUNK) / CHUNK * CHUNK;
        Dxr {
            short: vec![RouteMap::default(); DIRECT_BITS as usize + 1],
            long: HashMap::default(),
            direct: vec![DIRECT_FLAG; DIRECT_ENTRIES],
            ranges: vec![0; ranges as usize],
            runs: HashMap::default(),
            buddy: Buddy::new(ranges, MAX_ORDER),
            quarantine: Vec::new(),
            stale: BTreeSet::new(),
            dirty: DxrDirty::default(),
            len: 0,
        }
    }

    /// Builds from a whole table at once (later entries of a prefix win).
    pub fn from_routes<I>(ranges: u32, routes: I) -> Result<Dxr, DxrError>
    where
        I: IntoIterator<Item = (Prefix, u16)>,
    {
        let mut dxr = Dxr::new(ranges);
        for (p, g) in routes {
            dxr.stage(p, Some(g), false);
        }
        // Every chunk once: backgrounds by a sweep over the short prefixes,
        // shortest first, so each chunk ends with its longest cover's.
        let mut background = vec![0u16; DIRECT_ENTRIES];
        for (len, map) in dxr.short.iter().enumerate() {
            let span = 1usize << (DIRECT_BITS as usize - len);
            for (&addr, &g) in map {
                let first = chunk_of(addr) as usize;
                background[first..first + span].fill(g);
            }
        }
        for (c, &bg) in background.iter().enumerate() {
            if !dxr.long.contains_key(&(c as u32)) {
                dxr.direct[c] = DIRECT_FLAG | u64::from(bg);
            }
        }
        let chunks: Vec<u32> = dxr.long.keys().copied().collect();
        for c in chunks {
            let bg = background[c as usize];
            dxr.rebuild_with(c, bg)?;
        }
        dxr.dirty = DxrDirty::default();
        Ok(dxr)
    }

    /// Records `prefix → group` (or its removal) and marks the chunks it
    /// covers; [`Self::commit`] rebuilds them.
    fn stage(&mut self, prefix: Prefix, group: Option<u16>, mark: bool) -> Option<u16> {
        let (addr, len) = (prefix.addr(), prefix.prefix_len());
        let old = if u32::from(len) <= DIRECT_BITS {
            let map = &mut self.short[len as usize];
            let old = match group {
                Some(g) => map.insert(addr, g),
                None => map.remove(&addr),
            };
            if mark {
                let span = 1u32 << (DIRECT_BITS - u32::from(len));
                let first = chunk_of(addr);
                self.stale.extend(first..first + span);
            }
            old
        } else {
            let c = chunk_of(addr);
            let list = self.long.entry(c).or_default();
            let at = list.binary_search_by_key(&(addr, len), |&(a, l, _)| (a, l));
            let old = match (at, group) {
                (Ok(i), Some(g)) => Some(std::mem::replace(&mut list[i].2, g)),
                (Ok(i), None) => Some(list.remove(i).2),
                (Err(i), Some(g)) => {
                    list.insert(i, (addr, len, g));
                    None
                }
                (Err(_), None) => None,
            };
            if list.is_empty() {
                self.long.remove(&c);
            }
            if mark {
                self.stale.insert(c);
            }
            old
        };
        match (old, group) {
            (None, Some(_)) => self.len += 1,
            (Some(_), None) => self.len -= 1,
            _ => {}
        }
        old
    }

    /// Routes `prefix` to `group` and rebuilds what it touches; returns the
    /// group it had.
    pub fn replace(&mut self, prefix: Prefix, group: u16) -> Result<Option<u16>, DxrError> {
        let old = self.stage(prefix, Some(group), true);
        self.commit()?;
        Ok(old)
    }

    /// Removes `prefix`; returns its group.
    pub fn take(&mut self, prefix: Prefix) -> Result<Option<u16>, DxrError> {
        let old = self.stage(prefix, None, true);
        self.commit()?;
        Ok(old)
    }

    /// Rebuilds every chunk a staged change touched.
    fn commit(&mut self) -> Result<(), DxrError> {
        while let Some(c) = self.stale.pop_first() {
            let bg = self.background(c);
            if let Err(e) = self.rebuild_with(c, bg) {
                self.stale.insert(c);
                return Err(e);
            }
        }
        Ok(())
    }

    /// The group of the longest prefix of length ≤ 18 covering chunk `c`.
    fn background(&self, c: u32) -> u16 {
        let addr = c << (32 - DIRECT_BITS);
        (0..=DIRECT_BITS as u8)
            .rev()
            .find_map(|len| {
                let p = Prefix::new(addr, len).ok()?;
                self.short[len as usize].get(&p.addr()).copied()
            })
            .unwrap_or(0)
    }

    /// Recomputes chunk `c` from its long prefixes over `bg`.
    fn rebuild_with(&mut self, c: u32, bg: u16) -> Result<(), DxrError> {
        let mut out: Vec<u32> = Vec::new();
        if let Some(list) = self.long.get(&c) {
            chunk_ranges(list, bg, &mut out);
        }
        let entry = if out.len() <= 1 {
            let g = out.first().map_or(bg, |&r| r as u16);
            DIRECT_FLAG | u64::from(g)
        } else {
            let order = (out.len() as u32).next_power_of_two().trailing_zeros();
            let at = self.buddy.alloc(order).ok_or(DxrError::Full {
                capacity: self.buddy.capacity(),
                quarantined: self.quarantine.iter().map(|r| 1 << r.order).sum(),
            })?;
            self.ranges[at as usize..at as usize + out.len()].copy_from_slice(&out);
            self.dirty.runs.push((at, out.len() as u32));
            self.runs.insert(c, Run { at, order });
            u64::from(at) | (out.len() as u64) << 32
        };
        if entry & DIRECT_FLAG != 0
            && let Some(old) = self.runs.remove(&c)
        {
            self.quarantine.push(old);
        }
        let old = self.direct[c as usize];
        if old != entry {
            // A replaced run: its space waits a batch.
            if entry & DIRECT_FLAG == 0 && old & DIRECT_FLAG == 0 {
                let order = ((old >> 32) as u32 & 0xffff)
                    .next_power_of_two()
                    .trailing_zeros();
                self.quarantine.push(Run {
                    at: old as u32,
                    order,
                });
            }
            self.direct[c as usize] = entry;
            self.dirty.chunks.push(c);
        }
        Ok(())
    }

    /// The group for `addr`.
    pub fn lookup(&self, addr: u32) -> u16 {
        lookup_in(&self.direct, &self.ranges, addr)
    }

    /// Prefixes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no prefix is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `direct` array as the program reads it.
    pub fn direct(&self) -> &[u64] {
        &self.direct
    }

    /// The `ranges` array as the program reads it.
    pub fn ranges(&self) -> &[u32] {
        &self.ranges
    }

    /// Range entries in use (runs rounded up to powers of two).
    pub fn ranges_in_use(&self) -> u32 {
        self.runs.values().map(|r| 1u32 << r.order).sum()
    }

    /// What changed since the last call; releases the runs replaced before
    /// it (no reader can still be on them once the caller has written the
    /// previous batch).
    pub fn take_dirty(&mut self) -> DxrDirty {
        for run in std::mem::take(&mut self.quarantine) {
            self.buddy.release(run);
        }
        let mut d = std::mem::take(&mut self.dirty);
        d.chunks.sort_unstable();
        d.chunks.dedup();
        d
    }
}

/// The ranges of one chunk: `list` (its prefixes longer than /18, sorted by
/// address then length) over background group `bg`, merged where
/// neighbours agree. Prefixes nest or are disjoint, so a stack of open
/// prefixes (innermost last) says which group resumes where one ends.
fn chunk_ranges(list: &[(u32, u8, u16)], bg: u16, out: &mut Vec<u32>) {
    fn emit(out: &mut Vec<u32>, start: u32, group: u16) {
        if let Some(last) = out.last_mut() {
            if *last >> 16 == start {
                *last = start << 16 | u32::from(group);
                let n = out.len();
                if n >= 2 && out[n - 2] as u16 == group {
                    out.pop();
                }
                return;
            }
            if *last as u16 == group {
                return;
            }
        }
        out.push(start << 16 | u32::from(group));
    }
    out.clear();
    emit(out, 0, bg);
    // (end offset, group), the chunk itself at the bottom.
    let mut open: Vec<(u32, u16)> = vec![(CHUNK, bg)];
    for &(addr, len, g) in list {
        let start = addr & (CHUNK - 1);
        let end = start + (1u32 << (32 - u32::from(len)));
        while let Some(&(e, _)) = open.last()
            && e <= start
        {
            open.pop();
            let resume = open.last().map_or(bg, |o| o.1);
            emit(out, e, resume);
        }
        emit(out, start, g);
        open.push((end, g));
    }
    while open.len() > 1 {
        let (e, _) = open.pop().unwrap_or((CHUNK, bg));
        if e < CHUNK {
            let resume = open.last().map_or(bg, |o| o.1);
            emit(out, e, resume);
        }
    }
}

#[cfg(test)]
mod tests;
