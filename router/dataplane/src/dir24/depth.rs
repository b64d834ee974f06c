//! The owner length of each top-level entry, four bits each: 8 MiB for
//! the 2^24 entries where a byte each was 16 MiB of a full table's RSS.
//!
//! A depth is the owning prefix's length + 1 (0: no owner). Depths of
//! prefixes longer than [`SHORT_MAX`] get a code of their own; shorter
//! ones, a few dozen in a full table but each owning a large share of the
//! entries, share [`SHORT`], and a change that needs their exact depth asks
//! the prefix maps (once per /10 block, see `Dir24::short_owner`).

/// Longest prefix length coded as [`SHORT`].
pub(super) const SHORT_MAX: u8 = 10;
/// The code of an entry owned by a prefix of length ≤ [`SHORT_MAX`].
pub(super) const SHORT: u8 = 15;
/// Top entries per /10 block: every entry of a block has the same short
/// owner, if any.
pub(super) const SHORT_BLOCK_BITS: u32 = 24 - SHORT_MAX as u32;

/// Codes: 0 none, 1..=14 depths 12..=25 (lengths 11..=24), [`SHORT`].
const FIRST_LONG_DEPTH: u8 = SHORT_MAX + 2;

#[derive(Clone)]
pub(super) struct TopDepths {
    nibbles: Vec<u8>,
    /// Which 4 KiB pages of `nibbles` were ever written; the others are
    /// all zero and never read. A zeroed allocation maps the shared zero
    /// page on the first read, and the first write after that faults again
    /// and flushes the TLB of every CPU the process runs on, by interrupt:
    /// loading a full table did that 2,048 times, the route owner
    /// interrupted each time. A page whose first access is a store costs
    /// one plain fault.
    written: Vec<u64>,
}

/// Bytes of `TopDepths::nibbles` per page of `TopDepths::written`.
const PAGE_BITS: u32 = 12;

impl PartialEq for TopDepths {
    fn eq(&self, other: &Self) -> bool {
        self.nibbles == other.nibbles
    }
}

impl Eq for TopDepths {}

impl std::fmt::Debug for TopDepths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopDepths")
            .field("entries", &(self.nibbles.len() * 2))
            .finish()
    }
}

/// The code of `depth` (0..=25).
#[inline]
pub(super) const fn code(depth: u8) -> u8 {
    match depth {
        0 => 0,
        d if d < FIRST_LONG_DEPTH => SHORT,
        d => d - FIRST_LONG_DEPTH + 1,
    }
}

/// The depth of a code other than [`SHORT`].
#[inline]
pub(super) const fn long_depth(code: u8) -> u8 {
    if code == 0 {
        0
    } else {
        code - 1 + FIRST_LONG_DEPTH
    }
}

impl TopDepths {
    /// `entries` entries (even), all without owner.
    pub(super) fn new(entries: usize) -> TopDepths {
        let bytes = entries / 2;
        TopDepths {
            nibbles: vec![0; bytes],
            written: vec![0; (bytes >> PAGE_BITS).div_ceil(64) + 1],
        }
    }

    /// Whether the page of byte `b` was ever written.
    #[inline]
    fn is_written(&self, b: usize) -> bool {
        let p = b >> PAGE_BITS;
        self.written[p >> 6] & 1 << (p & 63) != 0
    }

    /// Marks the pages of bytes `lo..hi` (not empty) written.
    #[inline]
    fn mark(&mut self, lo: usize, hi: usize) {
        debug_assert!(lo < hi, "an empty range {lo}..{hi}");
        for p in lo >> PAGE_BITS..=(hi - 1) >> PAGE_BITS {
            self.written[p >> 6] |= 1 << (p & 63);
        }
    }

    #[inline]
    pub(super) fn code(&self, i: usize) -> u8 {
        if !self.is_written(i >> 1) {
            return 0;
        }
        (self.nibbles[i >> 1] >> ((i & 1) * 4)) & 15
    }

    #[inline]
    pub(super) fn set(&mut self, i: usize, depth: u8) {
        let sh = (i & 1) * 4;
        // A page's first access must be a store: see `written`.
        let old = if self.is_written(i >> 1) {
            self.nibbles[i >> 1]
        } else {
            self.mark(i >> 1, (i >> 1) + 1);
            0
        };
        self.nibbles[i >> 1] = (old & !(15 << sh)) | (code(depth) << sh);
    }

    /// The codes of entries `i..i + 4` (`i` a multiple of four), entry
    /// `i + k`'s in bits `4k..4k + 4`.
    #[inline]
    pub(super) fn codes4(&self, i: usize) -> u16 {
        // Both bytes lie in one page: `i >> 1` is even.
        if !self.is_written(i >> 1) {
            return 0;
        }
        u16::from_le_bytes([self.nibbles[i >> 1], self.nibbles[(i >> 1) + 1]])
    }

    /// Sets entries `i..i + 4` (`i` a multiple of four) to `depth`.
    #[inline]
    pub(super) fn set4(&mut self, i: usize, depth: u8) {
        let c = code(depth) * 0x11;
        self.mark(i >> 1, (i >> 1) + 2);
        self.nibbles[i >> 1] = c;
        self.nibbles[(i >> 1) + 1] = c;
    }

    /// Sets entries `lo..hi` to `depth`.
    pub(super) fn fill(&mut self, lo: usize, hi: usize, depth: u8) {
        let mut i = lo;
        if i < hi && i & 1 == 1 {
            self.set(i, depth);
            i += 1;
        }
        let whole = (hi - i) & !1;
        let c = code(depth);
        if whole > 0 {
            self.mark(i >> 1, (i + whole) >> 1);
        }
        self.nibbles[i >> 1..(i + whole) >> 1].fill(c | c << 4);
        i += whole;
        if i < hi {
            self.set(i, depth);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_depth_keeps_its_code_and_order() {
        for d in 0..=25u8 {
            let c = code(d);
            assert!(c < 16);
            if d == 0 || d >= FIRST_LONG_DEPTH {
                assert_eq!(long_depth(c), d);
            } else {
                assert_eq!(c, SHORT, "depth {d}");
            }
        }
        let mut t = TopDepths::new(16);
        t.fill(1, 6, 25);
        t.set(6, 3);
        assert_eq!(
            (0..8).map(|i| t.code(i)).collect::<Vec<_>>(),
            [0, 14, 14, 14, 14, 14, SHORT, 0]
        );
        t.fill(2, 4, 0);
        assert_eq!(
            (0..8).map(|i| t.code(i)).collect::<Vec<_>>(),
            [0, 14, 0, 0, 14, 14, SHORT, 0]
        );
        assert_eq!(t.codes4(0), 0x00e0);
        assert_eq!(t.codes4(4), u16::from(SHORT) << 8 | 0x00ee);
        t.set4(4, 13);
        assert_eq!((0..8).map(|i| t.code(i)).collect::<Vec<_>>()[4..], [2; 4]);
    }

    /// Pages never written read as no owner; each kind of write makes
    /// its pages read what it wrote, and only those pages.
    #[test]
    fn only_written_pages_are_read() {
        let page = 2 << PAGE_BITS; // entries per page
        let mut t = TopDepths::new(8 * page);
        assert!((0..8).all(|p| t.code(p * page) == 0 && t.codes4(p * page) == 0));
        t.set(page + 1, 25);
        t.set4(3 * page, 25);
        t.fill(5 * page - 2, 6 * page + 2, 13);
        let written: Vec<usize> = (0..8).filter(|&p| t.is_written(p * page / 2)).collect();
        assert_eq!(written, [1, 3, 4, 5, 6]);
        assert_eq!(t.code(page + 1), 14);
        assert_eq!(t.codes4(3 * page), 0xeeee);
        assert_eq!(t.code(5 * page - 1), 2);
        assert_eq!(t.code(6 * page + 1), 2);
        assert_eq!(t.code(6 * page + 2), 0);
        assert_eq!(t, t.clone());
    }
}
