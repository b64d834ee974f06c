//! The builder's side of the `nodes` array, the bulk of an IPv6 full
//! table's FIB: a whole copy, or only the nodes written since the last
//! `take_dirty`.
//!
//! Nothing the builder does reads a node back: a change rebuilds its slots
//! from the routes into fresh runs. So a builder that publishes to the
//! kernel's map need not keep the nodes once they are written; its copy was
//! 18 MiB of a 200k-prefix table's RSS (pages touched by runs since
//! replaced count too). Reading them back is then the map's business.

use std::collections::BTreeMap;
use std::ops::Range;

use crate::dirty::DirtyBits;

/// What a [`Poptrie`](super::Poptrie) keeps of its `nodes` array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// A copy of the whole array: [`Poptrie::node_words`](super::Poptrie::node_words),
    /// [`Poptrie::lookup`](super::Poptrie::lookup) and
    /// [`Poptrie::entries`](super::Poptrie::entries) read it.
    Whole,
    /// Only the nodes written since the last
    /// [`Poptrie::take_dirty`](super::Poptrie::take_dirty), handed over in
    /// [`Dirty6::fresh_nodes`](super::Dirty6::fresh_nodes); reads go to the
    /// map the caller writes them to.
    Fresh,
}

/// Words per page of [`FreshNodes`] (4 KiB).
const PAGE_WORDS: usize = 512;

/// The node words written since the previous `take_dirty`, by page; only
/// the words listed as dirty are meaningful.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FreshNodes {
    pages: BTreeMap<u32, Box<[u64]>>,
}

impl FreshNodes {
    /// Word `i` as written (0 if it was not).
    pub fn word(&self, i: usize) -> u64 {
        self.words(i..i + 1).next().unwrap_or(0)
    }

    /// Words `r` as written (0 where they were not), a page at a time.
    pub fn words(&self, r: Range<usize>) -> impl Iterator<Item = u64> + '_ {
        let pages = (r.start / PAGE_WORDS) as u32..r.end.div_ceil(PAGE_WORDS) as u32;
        pages.flat_map(move |p| {
            let base = p as usize * PAGE_WORDS;
            let (lo, hi) = (
                r.start.max(base) - base,
                r.end.min(base + PAGE_WORDS) - base,
            );
            let page = self.pages.get(&p);
            (lo..hi).map(move |k| page.map_or(0, |page| page[k]))
        })
    }

    fn write(&mut self, first: usize, words: &[u64]) {
        let mut at = first;
        let mut rest = words;
        while !rest.is_empty() {
            let k = at % PAGE_WORDS;
            let n = rest.len().min(PAGE_WORDS - k);
            let page = self
                .pages
                .entry((at / PAGE_WORDS) as u32)
                .or_insert_with(|| vec![0; PAGE_WORDS].into_boxed_slice());
            page[k..k + n].copy_from_slice(&rest[..n]);
            (at, rest) = (at + n, &rest[n..]);
        }
    }
}

pub(super) const FRESH: &str = "this builder keeps only fresh nodes (Keep::Fresh): read the map";

#[derive(Clone)]
enum Store {
    Whole(Vec<u64>),
    Fresh(FreshNodes),
}

/// The `nodes` array as the builder sees it, with its dirty words.
#[derive(Clone)]
pub(super) struct Nodes {
    store: Store,
    dirty: DirtyBits,
}

impl Nodes {
    /// `words` words, all zero.
    pub(super) fn new(keep: Keep, words: usize) -> Nodes {
        let store = match keep {
            Keep::Whole => Store::Whole(vec![0; words]),
            Keep::Fresh => Store::Fresh(FreshNodes::default()),
        };
        Nodes {
            store,
            dirty: DirtyBits::new(words),
        }
    }

    /// Words a previous run wrote, taken over as they are (not dirty).
    /// A fresh-only store keeps none of them.
    pub(super) fn adopt(&mut self, theirs: impl Iterator<Item = u64>) {
        if let Store::Whole(mine) = &mut self.store {
            // Word by word: zero pages of the copy stay unresident.
            for (m, t) in mine.iter_mut().zip(theirs) {
                if t != 0 {
                    *m = t;
                }
            }
        }
    }

    /// Writes a fresh run's words from word `first` on, all marked dirty
    /// (fresh runs are written whole, without comparing).
    pub(super) fn write_run(&mut self, first: usize, words: &[u64]) {
        match &mut self.store {
            Store::Whole(mine) => mine[first..first + words.len()].copy_from_slice(words),
            Store::Fresh(fresh) => fresh.write(first, words),
        }
        self.dirty.mark_range(first, first + words.len());
    }

    /// The dirty ranges, and for a fresh-only store the words in them.
    pub(super) fn take(&mut self) -> (Vec<Range<u32>>, FreshNodes) {
        let fresh = match &mut self.store {
            Store::Whole(_) => FreshNodes::default(),
            Store::Fresh(f) => std::mem::take(f),
        };
        (self.dirty.take(), fresh)
    }

    /// The whole array.
    ///
    /// # Panics
    /// For a [`Keep::Fresh`] store, which has no such thing.
    pub(super) fn whole(&self) -> &[u64] {
        match &self.store {
            Store::Whole(w) => w,
            Store::Fresh(_) => panic!("{FRESH}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_store_hands_over_what_was_written_and_forgets_it() {
        let mut n = Nodes::new(Keep::Fresh, 4096);
        n.write_run(510, &[1, 2, 3]);
        n.write_run(3000, &[7]);
        let (ranges, fresh) = n.take();
        assert_eq!(ranges, vec![510..513, 3000..3001]);
        assert_eq!(
            [510, 511, 512, 3000].map(|i| fresh.word(i)),
            [1, 2, 3, 7],
            "across a page boundary too"
        );
        assert_eq!(fresh.words(509..514).collect::<Vec<_>>(), [0, 1, 2, 3, 0]);
        let (ranges, fresh) = n.take();
        assert!(ranges.is_empty());
        assert_eq!(fresh, FreshNodes::default(), "nothing kept after a take");
    }

    #[test]
    fn a_whole_store_keeps_everything_and_hands_over_nothing() {
        let mut n = Nodes::new(Keep::Whole, 8);
        n.adopt([0, 5, 0, 0].into_iter());
        n.write_run(2, &[9, 9]);
        let (ranges, fresh) = n.take();
        assert_eq!(ranges, vec![2..4]);
        assert_eq!(fresh, FreshNodes::default());
        assert_eq!(n.whole(), &[0, 5, 9, 9, 0, 0, 0, 0]);
    }
}
