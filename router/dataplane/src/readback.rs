//! Reading back what the maps hold, for `sluice show fib` (which shows the
//! data plane, not the RIB): the IPv4 FIB reconstructed from the DIR-24-8
//! words, the IPv6 trie's routes, the valid next hops and the non-empty
//! groups.
//!
//! The DIR-24-8 arrays do not remember which prefixes were installed, only
//! what each address resolves to. [`fib4_entries_in`] therefore returns the
//! effective FIB: the address space cut into maximal runs of one group,
//! each run written as the fewest covering prefixes. A /8 with a /24 of
//! another group inside comes back as that /24 and the 16 prefixes around
//! it; two adjacent /25s of one group come back as their /24.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::dir24::{Prefix, TBL8_FLAG};
use crate::layout::{self, GROUP_DISCARD, NEXTHOPS_MAX, NextHop, NhGroup};
use crate::loader::{Dataplane, Error, map_err};

/// A word of the DIR-24-8 arrays: a copy, or the live mapping (read in
/// place: a page of a full table must not copy 32 MB first).
pub trait Word {
    fn get(&self) -> u64;
}

impl Word for u64 {
    fn get(&self) -> u64 {
        *self
    }
}

impl Word for AtomicU64 {
    fn get(&self) -> u64 {
        self.load(Ordering::Acquire)
    }
}

/// Logical entry `i` of packed words, 0 when out of range.
fn entry<W: Word>(words: &[W], i: usize) -> u16 {
    words
        .get(i >> 2)
        .map_or(0, |w| (w.get() >> ((i & 3) * 16)) as u16)
}

/// Collects runs of equal groups and cuts them into prefixes.
struct Runs {
    out: Vec<(Prefix, u16)>,
    start: u64,
    group: u16,
}

impl Runs {
    /// Addresses `at..` (up to the next call) resolve to `group`.
    fn next(&mut self, at: u64, group: u16) {
        if group != self.group {
            self.close(at);
            self.start = at;
            self.group = group;
        }
    }

    /// Ends the current run at `end` (exclusive) and emits its prefixes.
    fn close(&mut self, end: u64) {
        if self.group == 0 {
            return;
        }
        let mut lo = self.start;
        while lo < end {
            // The largest aligned block at `lo` that fits.
            let mut size = if lo == 0 {
                1u64 << 32
            } else {
                1u64 << lo.trailing_zeros()
            };
            while lo + size > end {
                size >>= 1;
            }
            let len = 32 - size.trailing_zeros() as u8;
            let prefix = Prefix::new(lo as u32, len).expect("len <= 32");
            self.out.push((prefix, self.group));
            lo += size;
        }
    }
}

/// The effective IPv4 FIB of DIR-24-8 words (`top`: 2^22 words or fewer,
/// missing ones read as no route; `tbl8`: the groups), as the program
/// resolves it: (prefix, next-hop group) in address order, disjoint, each
/// maximal run of one group as the fewest prefixes. Entries pointing to a
/// tbl8 group beyond `tbl8`, and tbl8 entries with bit 15 set, read as no
/// route, as in the program.
pub fn fib4_entries_in<W: Word>(top: &[W], tbl8: &[W]) -> Vec<(Prefix, u16)> {
    fib4_page_in(top, tbl8, 0, usize::MAX)
}

/// The entries of [`fib4_entries_in`] from address `from` on, at most
/// `max`. A run is cut into prefixes greedily from its start, so a page
/// that starts where an earlier one's last prefix ended cuts as the whole
/// walk would; the scan stops once the page is full.
pub fn fib4_page_in<W: Word>(top: &[W], tbl8: &[W], from: u64, max: usize) -> Vec<(Prefix, u16)> {
    let mut runs = Runs {
        out: Vec::new(),
        start: from,
        group: 0,
    };
    let top_entries = (top.len() * 4).min(layout::FIB4_TOP_ENTRIES);
    let mut i = (from >> 8) as usize;
    // Within the first /24, the page may start part way.
    let mut first = (from & 0xff) as usize;
    while i < top_entries && runs.out.len() < max {
        // Fast path: four /24s of the current group (or of no route).
        if i & 3 == 0 && first == 0 && runs.group & TBL8_FLAG == 0 {
            let same = u64::from(runs.group) * 0x0001_0001_0001_0001;
            if top[i >> 2].get() == same {
                i += 4;
                continue;
            }
        }
        let v = entry(top, i);
        let base = (i as u64) << 8;
        if v & TBL8_FLAG == 0 {
            runs.next(base + first as u64, v);
        } else {
            let g = usize::from(v & layout::FIB4_VALUE_MASK);
            for b in first..256 {
                let e = entry(tbl8, g * 256 + b);
                let e = if e & TBL8_FLAG != 0 { 0 } else { e };
                runs.next(base + b as u64, e);
            }
        }
        first = 0;
        i += 1;
    }
    if runs.out.len() < max {
        runs.next(((top_entries as u64) << 8).max(from), 0);
        runs.close(1 << 32);
    }
    runs.out.truncate(max);
    runs.out
}

impl Dataplane {
    /// The effective IPv4 FIB read from the live arrays
    /// ([`fib4_entries_in`]); a route to [`GROUP_DISCARD`] is a discard
    /// route.
    pub fn fib4_entries(&self) -> Vec<(Prefix, u16)> {
        self.fib4_page(0, usize::MAX)
    }

    /// At most `max` entries of [`Self::fib4_entries`] from address `from`
    /// on ([`fib4_page_in`]).
    pub fn fib4_page(&self, from: u64, max: usize) -> Vec<(Prefix, u16)> {
        let (top, tbl8) = self.fib4_live_words();
        fib4_page_in(top, tbl8, from, max)
    }

    /// The next hops with [`NextHop::VALID`] set, by id.
    pub fn next_hops(&self) -> Result<Vec<(u16, NextHop)>, Error> {
        let mut out = Vec::new();
        for id in 1..NEXTHOPS_MAX {
            let bytes = self
                .nexthops
                .get(&id, 0)
                .map_err(map_err(layout::map::NEXTHOPS))?;
            let nh = NextHop::from_bytes(&bytes);
            if nh.flags & NextHop::VALID != 0 {
                out.push((id as u16, nh));
            }
        }
        Ok(out)
    }

    /// The groups with at least one non-empty bucket, by id.
    pub fn groups(&self) -> Result<Vec<(u16, NhGroup)>, Error> {
        let mut out = Vec::new();
        for id in 1..u32::from(GROUP_DISCARD) {
            let buckets = self
                .nh_groups
                .get(&id, 0)
                .map_err(map_err(layout::map::NH_GROUPS))?;
            if buckets.iter().any(|&b| b != 0) {
                out.push((id as u16, NhGroup { buckets }));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dir24::Dir24;
    use proptest::prelude::*;

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    fn entries_of(routes: &[(&str, u16)]) -> Vec<(String, u16)> {
        let fib = Dir24::from_routes(16, routes.iter().map(|&(s, g)| (p(s), g))).unwrap();
        fib4_entries_in(fib.top_words(), fib.tbl8_words())
            .into_iter()
            .map(|(p, g)| (p.to_string(), g))
            .collect()
    }

    fn owned(v: &[(&str, u16)]) -> Vec<(String, u16)> {
        v.iter().map(|&(s, g)| (s.to_string(), g)).collect()
    }

    #[test]
    fn exact_prefixes_come_back() {
        assert_eq!(entries_of(&[]), owned(&[]));
        assert_eq!(entries_of(&[("0.0.0.0/0", 5)]), owned(&[("0.0.0.0/0", 5)]));
        assert_eq!(
            entries_of(&[("10.0.0.0/8", 1), ("192.0.2.7/32", 2)]),
            owned(&[("10.0.0.0/8", 1), ("192.0.2.7/32", 2)])
        );
        assert_eq!(
            entries_of(&[("255.255.255.255/32", 3)]),
            owned(&[("255.255.255.255/32", 3)])
        );
    }

    #[test]
    fn adjacent_runs_of_one_group_coalesce() {
        assert_eq!(
            entries_of(&[("10.0.0.0/9", 1), ("10.128.0.0/9", 1)]),
            owned(&[("10.0.0.0/8", 1)])
        );
        // Through tbl8 groups, and across the /24 boundary.
        assert_eq!(
            entries_of(&[("10.1.2.0/25", 1), ("10.1.2.128/25", 1)]),
            owned(&[("10.1.2.0/24", 1)])
        );
        assert_eq!(
            entries_of(&[("10.1.2.128/25", 3), ("10.1.3.0/24", 3)]),
            owned(&[("10.1.2.128/25", 3), ("10.1.3.0/24", 3)])
        );
        // A more specific of the same group disappears into its cover.
        assert_eq!(
            entries_of(&[("10.0.0.0/8", 1), ("10.1.2.3/32", 1)]),
            owned(&[("10.0.0.0/8", 1)])
        );
    }

    #[test]
    fn a_hole_splits_the_cover_into_the_fewest_prefixes() {
        let e = entries_of(&[("10.0.0.0/8", 1), ("10.1.2.0/24", 2)]);
        assert_eq!(e.iter().filter(|(_, g)| *g == 1).count(), 16);
        assert!(e.contains(&("10.1.2.0/24".into(), 2)));
        assert!(e.contains(&("10.128.0.0/9".into(), 1)));
        assert!(e.contains(&("10.1.3.0/24".into(), 1)));
        let e = entries_of(&[("10.0.0.0/8", 1), ("10.1.2.77/32", 2)]);
        assert_eq!(e.iter().filter(|(_, g)| *g == 1).count(), 24);
    }

    /// Pages from where the last one ended add up to the whole walk.
    #[test]
    fn pages_cut_as_the_whole_walk_does() {
        let fib = Dir24::from_routes(
            64,
            [
                ("10.0.0.0/8", 1),
                ("10.1.2.77/32", 2),
                ("10.1.2.128/25", 3),
                ("192.0.2.0/24", 4),
            ]
            .map(|(s, g)| (p(s), g)),
        )
        .unwrap();
        let (top, tbl8) = (fib.top_words(), fib.tbl8_words());
        let whole = fib4_entries_in(top, tbl8);
        assert!(whole.len() > 20, "{}", whole.len());
        for size in [1, 2, 5, 7] {
            let mut pages = Vec::new();
            let mut from = 0u64;
            loop {
                let page = fib4_page_in(top, tbl8, from, size);
                assert!(page.len() <= size);
                let Some((last, _)) = page.last() else { break };
                from = u64::from(last.addr()) + (1u64 << (32 - last.prefix_len()));
                pages.extend(page);
            }
            assert_eq!(pages, whole, "pages of {size}");
        }
    }

    #[test]
    fn bad_references_read_as_no_route() {
        let mut top = vec![0u64; 4];
        // /24 #0 -> tbl8 group 9 (beyond the array), /24 #1 -> group 0,
        // whose entry 0 has the flag set.
        top[0] = u64::from(TBL8_FLAG | 9) | (u64::from(TBL8_FLAG) << 16);
        let mut tbl8 = vec![0u64; 64];
        tbl8[0] = u64::from(TBL8_FLAG | 1) | (4 << 16);
        assert_eq!(
            fib4_entries_in(&top, &tbl8),
            vec![(Prefix::new(0x0000_0101, 32).unwrap(), 4)]
        );
    }

    #[test]
    fn a_full_scan_is_fast() {
        let fib = Dir24::from_routes(
            DEFAULT,
            (0..2000u32).map(|i| {
                (
                    Prefix::new(i << 20, 12 + (i % 21) as u8).unwrap(),
                    1 + (i % 7) as u16,
                )
            }),
        )
        .unwrap();
        let t = std::time::Instant::now();
        let e = fib4_entries_in(fib.top_words(), fib.tbl8_words());
        let took = t.elapsed();
        assert!(!e.is_empty());
        eprintln!("full scan: {} entries in {took:?}", e.len());
        // Debug build; release is ~10x faster.
        assert!(took < std::time::Duration::from_secs(3), "{took:?}");
    }
    const DEFAULT: u32 = crate::dir24::DEFAULT_TBL8_GROUPS;

    fn arb_routes() -> impl Strategy<Value = Vec<(Prefix, u16)>> {
        // Clustered in 10.0.0.0/10 so that prefixes overlap and tbl8
        // groups are used.
        prop::collection::vec(
            (0u32..1 << 18, 6u8..=32, 1u16..4)
                .prop_map(|(a, len, g)| (Prefix::new(0x0a00_0000 | (a << 4), len).unwrap(), g)),
            0..24,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn entries_resolve_like_the_fib_and_are_minimal(routes in arb_routes()) {
            let fib = Dir24::from_routes(64, routes.clone()).unwrap();
            let e = fib4_entries_in(fib.top_words(), fib.tbl8_words());
            // Sorted, disjoint, no group 0.
            for w in e.windows(2) {
                let end = u64::from(w[0].0.addr()) + (1u64 << (32 - w[0].0.prefix_len()));
                prop_assert!(end <= u64::from(w[1].0.addr()));
                // Minimal: two equal-group neighbours never form one prefix.
                let (a, b) = (w[0].0, w[1].0);
                if w[0].1 == w[1].1 && a.prefix_len() == b.prefix_len() && end == u64::from(b.addr()) {
                    let len = a.prefix_len();
                    prop_assert!(len == 0 || Prefix::new(a.addr(), len - 1).unwrap().addr() != a.addr(),
                        "{a} and {b} should be one prefix");
                }
            }
            prop_assert!(e.iter().all(|&(_, g)| g != 0));
            // Rebuilt from the entries, the FIB resolves every probe alike.
            let again = Dir24::from_routes(64, e.clone()).unwrap();
            let mut probes: Vec<u32> = vec![0, u32::MAX, 0x0a00_0000, 0x0a04_0000];
            for (p, _) in routes.iter().chain(e.iter()) {
                let last = p.addr() | (u32::MAX.checked_shr(u32::from(p.prefix_len())).unwrap_or(0));
                probes.extend([p.addr(), p.addr().wrapping_sub(1), last, last.wrapping_add(1)]);
            }
            for a in probes {
                prop_assert_eq!(again.lookup(a), fib.lookup(a), "{}", std::net::Ipv4Addr::from(a));
            }
        }
    }
}
