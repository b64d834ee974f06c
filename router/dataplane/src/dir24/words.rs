//! Where a DIR-24-8 array's words live.
//!
//! A builder that only computes (a bulk build, a test, a FIB whose routes
//! go to the kernel alone) owns its words. The daemon's builder writes into
//! the kernel's map itself, through its shared mapping, instead of keeping
//! a copy of it (the top level alone is 32 MiB): a word it changes goes into
//! an overlay page, copied from the map on the page's first write, and the
//! overlay is published (tbl8 before top, see the module above) when the
//! batch is written out, then dropped. A placement batch touches a few
//! pages, so the overlay stays small; a batch over the whole table holds a
//! copy while it lasts, as the builder always did.

use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use super::codes::Codes;
use crate::dirty::DirtyBits;
use crate::loader::mmap::MappedWords;

/// Words per overlay page (4 KiB).
const PAGE_WORDS: usize = 512;

/// Published pages kept for reuse at most (1 MiB): about what a chunk of
/// a loading table touches.
const SPARE_PAGES: usize = 256;

pub(crate) enum Words {
    /// The words, and which of them changed since the last write-out.
    Owned(Vec<u64>, DirtyBits),
    Live(Live),
}

pub(crate) struct Live {
    map: Arc<MappedWords>,
    /// Pages changed since the last publish.
    pages: Vec<Option<Box<[u64; PAGE_WORDS]>>>,
    /// Which of `pages` are there, in the order first written.
    touched: Vec<u32>,
    /// Pages published, kept for the next changes: a fresh allocation
    /// maps the zero page and faults again on the first write, which with
    /// the route owner on the other CPU also flushes its TLB by interrupt.
    spare: Vec<Box<[u64; PAGE_WORDS]>>,
    /// The map holds what another builder wrote (adopted pins): this one
    /// reads zeros where it has not written, and its first publish
    /// rewrites every page.
    fresh: bool,
    /// The top level's codes, written after each word that changed.
    codes: Option<Arc<Mutex<Codes>>>,
}

impl Clone for Words {
    /// A live builder's copy is a snapshot of what it sees, owned: never a
    /// second writer to the same maps.
    fn clone(&self) -> Words {
        match self {
            Words::Owned(v, dirty) => Words::Owned(v.clone(), dirty.clone()),
            Words::Live(_) => Words::Owned(
                (0..self.len()).map(|w| self.get(w)).collect(),
                DirtyBits::new(self.len()),
            ),
        }
    }
}

impl Words {
    pub(crate) fn owned(len: usize) -> Words {
        Words::Owned(vec![0; len], DirtyBits::new(len))
    }

    /// The words of `map`; `codes` for the top level, whose codes follow
    /// its words.
    pub(crate) fn live(
        map: Arc<MappedWords>,
        codes: Option<Arc<Mutex<Codes>>>,
        fresh: bool,
    ) -> Words {
        let pages = map.words().len().div_ceil(PAGE_WORDS);
        Words::Live(Live {
            map,
            pages: (0..pages).map(|_| None).collect(),
            touched: Vec::new(),
            spare: Vec::new(),
            fresh,
            codes,
        })
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Words::Owned(v, _) => v.len(),
            Words::Live(l) => l.map.words().len(),
        }
    }

    /// The words, when this builder owns them.
    pub(crate) fn as_slice(&self) -> Option<&[u64]> {
        match self {
            Words::Owned(v, _) => Some(v),
            Words::Live(_) => None,
        }
    }

    /// Logical `u16` entry `i` (four per word), None past the end.
    #[inline]
    pub(crate) fn entry(&self, i: usize) -> Option<u16> {
        (i >> 2 < self.len()).then(|| (self.get(i >> 2) >> ((i & 3) * 16)) as u16)
    }

    #[inline]
    pub(crate) fn get(&self, w: usize) -> u64 {
        match self {
            Words::Owned(v, _) => v[w],
            Words::Live(l) => match &l.pages[w / PAGE_WORDS] {
                Some(page) => page[w % PAGE_WORDS],
                None if l.fresh => 0,
                None => l.map.words()[w].load(Ordering::Relaxed),
            },
        }
    }

    #[inline]
    pub(crate) fn set(&mut self, w: usize, v: u64) {
        match self {
            Words::Owned(words, dirty) => {
                words[w] = v;
                dirty.mark(w);
            }
            Words::Live(l) => l.page(w / PAGE_WORDS)[w % PAGE_WORDS] = v,
        }
    }

    /// Sets words `range` to `v`.
    pub(crate) fn fill(&mut self, range: Range<usize>, v: u64) {
        match self {
            Words::Owned(words, dirty) => {
                dirty.mark_range(range.start, range.end);
                words[range].fill(v);
            }
            Words::Live(l) => {
                let mut w = range.start;
                while w < range.end {
                    let end = range.end.min((w / PAGE_WORDS + 1) * PAGE_WORDS);
                    l.page(w / PAGE_WORDS)[w % PAGE_WORDS..(end - 1) % PAGE_WORDS + 1].fill(v);
                    w = end;
                }
            }
        }
    }

    /// Counts words `range` as changed, to be written out again.
    pub(crate) fn mark(&mut self, range: Range<usize>) {
        if let Words::Owned(_, dirty) = self {
            dirty.mark_range(range.start, range.end);
        }
    }

    /// What changed since the last call, written out: owned words return
    /// their ranges for a loader to copy; live ones store their overlay into
    /// the map, each word with one aligned store and only where it differs,
    /// and return nothing left to write.
    pub(crate) fn write_out(&mut self) -> Vec<Range<u32>> {
        match self {
            Words::Owned(_, dirty) => dirty.take(),
            Words::Live(l) => {
                l.publish();
                Vec::new()
            }
        }
    }
}

impl Live {
    /// Page `p` of the overlay, copied from the map on first use.
    fn page(&mut self, p: usize) -> &mut [u64; PAGE_WORDS] {
        let (map, fresh) = (&self.map, self.fresh);
        let (touched, spare) = (&mut self.touched, &mut self.spare);
        self.pages[p].get_or_insert_with(|| {
            touched.push(p as u32);
            let mut page = match spare.pop() {
                Some(mut page) => {
                    page.fill(0);
                    page
                }
                None => Box::new([0; PAGE_WORDS]),
            };
            if !fresh {
                let live = &map.words()[page_range(p, map.words().len())];
                for (w, l) in page.iter_mut().zip(live) {
                    *w = l.load(Ordering::Relaxed);
                }
            }
            page
        })
    }

    fn publish(&mut self) {
        let words = self.map.words();
        let mut codes = self
            .codes
            .as_ref()
            .map(|c| c.lock().expect("fib4 codes lock"));
        let fresh = self.fresh;
        let mut store = |p: usize, page: Option<&[u64; PAGE_WORDS]>| {
            let range = page_range(p, words.len());
            let (first, len) = (range.start, range.len());
            let mut changed = fresh; // a fresh builder's codes are another's too
            for (i, w) in words[range].iter().enumerate() {
                let v = page.map_or(0, |page| page[i]);
                if w.load(Ordering::Relaxed) != v {
                    w.store(v, Ordering::Release);
                    changed = true;
                }
            }
            if let Some(codes) = codes.as_deref_mut()
                && changed
            {
                codes.store_all(first, &page.unwrap_or(&[0; PAGE_WORDS])[..len]);
            }
        };
        if self.fresh {
            for (p, page) in self.pages.iter().enumerate() {
                store(p, page.as_deref());
            }
            self.fresh = false;
        } else {
            // In address order: the stores stream through the map.
            self.touched.sort_unstable();
            for &p in &self.touched {
                store(p as usize, self.pages[p as usize].as_deref());
            }
        }
        if let Some(codes) = codes.as_deref_mut() {
            codes.end_batch();
        }
        drop(codes);
        for p in self.touched.drain(..) {
            if let Some(page) = self.pages[p as usize].take()
                && self.spare.len() < SPARE_PAGES
            {
                self.spare.push(page);
            }
        }
    }
}

/// The words of page `p` in an array of `len` words.
fn page_range(p: usize, len: usize) -> Range<usize> {
    p * PAGE_WORDS..((p + 1) * PAGE_WORDS).min(len)
}
