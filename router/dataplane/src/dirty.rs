//! Which words of a FIB array changed since they were last written out:
//! the builders mark words as they change them, and hand the dirty ranges
//! to the loader, which writes only those (a full table's arrays are tens
//! of MiB; a route change touches a few words).

use std::ops::Range;

/// One dirty bit per word, with a summary bit per 64 dirty bits so that
/// collecting a few changes does not scan the whole bitmap.
#[derive(Clone)]
pub(crate) struct DirtyBits {
    bits: Vec<u64>,
    summary: Vec<u64>,
}

impl DirtyBits {
    pub(crate) fn new(words: usize) -> DirtyBits {
        let n = words.div_ceil(64);
        DirtyBits {
            bits: vec![0; n],
            summary: vec![0; n.div_ceil(64)],
        }
    }

    #[inline]
    pub(crate) fn mark(&mut self, w: usize) {
        let b = w / 64;
        self.bits[b] |= 1 << (w % 64);
        self.summary[b / 64] |= 1 << (b % 64);
    }

    /// Marks words `lo..hi`.
    pub(crate) fn mark_range(&mut self, lo: usize, hi: usize) {
        if lo >= hi {
            return;
        }
        let (first, last) = (lo / 64, (hi - 1) / 64);
        for b in first..=last {
            let from = if b == first { lo % 64 } else { 0 };
            let to = if b == last { (hi - 1) % 64 + 1 } else { 64 };
            let m = if to - from == 64 {
                u64::MAX
            } else {
                ((1u64 << (to - from)) - 1) << from
            };
            self.bits[b] |= m;
            self.summary[b / 64] |= 1 << (b % 64);
        }
    }

    pub(crate) fn take(&mut self) -> Vec<Range<u32>> {
        let mut out: Vec<Range<u32>> = Vec::new();
        let DirtyBits { bits, summary } = self;
        for (si, s) in summary.iter_mut().enumerate() {
            let mut sm = std::mem::take(s);
            while sm != 0 {
                let b = si * 64 + sm.trailing_zeros() as usize;
                sm &= sm - 1;
                let mut bm = std::mem::take(&mut bits[b]);
                while bm != 0 {
                    let start = bm.trailing_zeros();
                    let run = (bm >> start).trailing_ones();
                    let lo = (b * 64) as u32 + start;
                    let hi = lo + run;
                    match out.last_mut() {
                        Some(r) if r.end == lo => r.end = hi,
                        _ => out.push(lo..hi),
                    }
                    bm = if run == 64 {
                        0
                    } else {
                        bm & !(((1u64 << run) - 1) << start)
                    };
                }
            }
        }
        out
    }
}
