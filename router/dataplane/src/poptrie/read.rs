//! Reading the poptrie's arrays: the lookup exactly as the XDP program
//! does it (`ebpf/fib_lookup.h`), over copies, live mappings or map
//! lookups, and the walk that reads the effective FIB back as prefixes.

use super::{
    DIRECT_BITS, DIRECT_ENTRIES, FAN_ENTRIES, INDEX_FLAG, INLINE, MAX_LEVELS, NODE_WORDS,
    ROOT_DEPTH, STRIDE, slot_of, stride_bits, upto,
};
use crate::readback::Word;

/// The four arrays, for [`lookup_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Array6 {
    Direct,
    Fans,
    Nodes,
    Leaves,
}

/// Reads the FIB the way the XDP program does. Out-of-range indexes read
/// as no route, as the program's bounds-checked map lookups would.
pub fn lookup_in<W: Word>(direct: &[W], fans: &[W], nodes: &[W], leaves: &[W], addr: u128) -> u16 {
    lookup_with(addr, |array, i| {
        let words = match array {
            Array6::Direct => direct,
            Array6::Fans => fans,
            Array6::Nodes => nodes,
            Array6::Leaves => leaves,
        };
        words.get(i).map(Word::get)
    })
}

/// [`lookup_in`] over any source of words (`word(array, index)`, `None`
/// past the end), e.g. map lookups one element at a time.
pub fn lookup_with(addr: u128, word: impl Fn(Array6, usize) -> Option<u64>) -> u16 {
    let u32_at = |a, i: usize| word(a, i / 2).map(|x| (x >> ((i % 2) * 32)) as u32);
    let Some(e) = u32_at(Array6::Direct, (addr >> (128 - DIRECT_BITS)) as usize) else {
        return 0;
    };
    if e & INDEX_FLAG == 0 {
        return e as u16;
    }
    let slot = (slot_of(addr) as usize) & (FAN_ENTRIES - 1);
    let fan = (e & !INDEX_FLAG) as usize;
    let Some(e) = u32_at(Array6::Fans, fan * FAN_ENTRIES + slot) else {
        return 0;
    };
    if e & INDEX_FLAG == 0 {
        return e as u16;
    }
    let mut n = e & !INDEX_FLAG;
    for k in 0..MAX_LEVELS {
        let v = stride_bits(addr, ROOT_DEPTH + k * STRIDE);
        let w = n as usize * NODE_WORDS;
        let (Some(vector), Some(bases)) = (word(Array6::Nodes, w), word(Array6::Nodes, w + 2))
        else {
            return 0;
        };
        if bases & INLINE != 0 {
            return word(Array6::Nodes, w + 1).map_or(0, |l| inline_leaf(vector, l, v));
        }
        if vector & (1 << v) != 0 {
            n = ((bases >> 32) as u32).wrapping_add((vector & upto(v)).count_ones() - 1);
            continue;
        }
        let Some(leafvec) = word(Array6::Nodes, w + 1) else {
            return 0;
        };
        let leaf =
            (bases as u32 as usize + (leafvec & upto(v)).count_ones() as usize).wrapping_sub(1);
        return word(Array6::Leaves, leaf / 4).map_or(0, |x| (x >> ((leaf % 4) * 16)) as u16);
    }
    0
}

/// The group of position `v` of a node that keeps its leaves (at most
/// four) in its first word.
fn inline_leaf(packed: u64, leafvec: u64, v: usize) -> u16 {
    let k = (leafvec & upto(v)).count_ones().wrapping_sub(1) % 4;
    (packed >> (16 * k)) as u16
}

/// Collects address runs of equal groups and cuts them into prefixes.
struct Runs6 {
    out: Vec<(u128, u8, u16)>,
    start: u128,
    group: u16,
}

impl Runs6 {
    /// Addresses from `at` on (up to the next call) resolve to `group`.
    fn next(&mut self, at: u128, group: u16) {
        if group != self.group {
            if at > self.start {
                self.close(at - 1);
            }
            self.start = at;
            self.group = group;
        }
    }

    /// Ends the current run at `last` (inclusive) and emits its prefixes.
    fn close(&mut self, last: u128) {
        if self.group == 0 {
            return;
        }
        // 2^k - 1, for k up to 128.
        let span = |k: u32| {
            if k == 128 {
                u128::MAX
            } else {
                (1u128 << k) - 1
            }
        };
        let mut lo = self.start;
        loop {
            // The largest aligned block at `lo` that fits.
            let mut k = if lo == 0 { 128 } else { lo.trailing_zeros() };
            while span(k) > last - lo {
                k -= 1;
            }
            self.out.push((lo, (128 - k) as u8, self.group));
            let end = lo + span(k);
            if end == last {
                return;
            }
            lo = end + 1;
        }
    }
}

/// The effective FIB of the arrays, as the program resolves it: (network,
/// length, group) in address order, disjoint, each maximal run of one
/// group as the fewest prefixes.
pub fn entries_in<W: Word>(
    direct: &[W],
    fans: &[W],
    nodes: &[W],
    leaves: &[W],
) -> Vec<(u128, u8, u16)> {
    let mut runs = Runs6 {
        out: Vec::new(),
        start: 0,
        group: 0,
    };
    let u32_at = |w: &[W], i: usize| {
        w.get(i / 2)
            .map_or(0, |x| (x.get() >> ((i % 2) * 32)) as u32)
    };
    for c in 0..DIRECT_ENTRIES {
        let base = (c as u128) << (128 - DIRECT_BITS);
        let e = u32_at(direct, c);
        if e & INDEX_FLAG == 0 {
            runs.next(base, e as u16);
            continue;
        }
        let fan = (e & !INDEX_FLAG) as usize;
        for s in 0..FAN_ENTRIES {
            let at = base | (s as u128) << (128 - ROOT_DEPTH);
            let f = u32_at(fans, fan * FAN_ENTRIES + s);
            if f & INDEX_FLAG == 0 {
                runs.next(at, f as u16);
            } else {
                walk(nodes, leaves, f & !INDEX_FLAG, ROOT_DEPTH, at, &mut runs);
            }
        }
    }
    runs.close(u128::MAX);
    runs.out
}

/// Feeds the runs under node `n` (at depth `d`, covering from `base`).
fn walk<W: Word>(nodes: &[W], leaves: &[W], n: u32, d: u32, base: u128, runs: &mut Runs6) {
    let w = n as usize * NODE_WORDS;
    let (Some(vector), Some(leafvec), Some(bases)) =
        (nodes.get(w), nodes.get(w + 1), nodes.get(w + 2))
    else {
        runs.next(base, 0);
        return;
    };
    let (vector, leafvec, bases) = (vector.get(), leafvec.get(), bases.get());
    // Past bit 128 only every fourth position is an address.
    let step = if d + STRIDE > 128 {
        1 << (d + STRIDE - 128)
    } else {
        1
    };
    for v in (0..64).step_by(step) {
        let at = base
            | if d + STRIDE <= 128 {
                (v as u128) << (128 - STRIDE - d)
            } else {
                (v as u128) >> (d + STRIDE - 128)
            };
        if bases & INLINE != 0 {
            runs.next(at, inline_leaf(vector, leafvec, v));
        } else if vector & (1 << v) != 0 && d + STRIDE < 128 {
            let child = ((bases >> 32) as u32).wrapping_add((vector & upto(v)).count_ones() - 1);
            walk(nodes, leaves, child, d + STRIDE, at, runs);
        } else {
            let leaf =
                (bases as u32 as usize + (leafvec & upto(v)).count_ones() as usize).wrapping_sub(1);
            let g = leaves
                .get(leaf / 4)
                .map_or(0, |x| (x.get() >> ((leaf % 4) * 16)) as u16);
            runs.next(at, g);
        }
    }
}
