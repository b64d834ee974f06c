//! The top level's 4-bit codes (`fib4_codes`, layout in ebpf/sluice.h).
//!
//! A full table's /24 entries name a handful of next-hop groups, so each
//! top entry also gets a 4-bit code: the palette slot holding its value,
//! or [`FIB4_CODE_TOP`] for "read the top level" (a tbl8 group, or a group
//! the palette has no room for). The program reads the codes first, an
//! 8 MiB array where the top level is 32 MiB: a random destination touches
//! a quarter of the pages and fewer cache lines.
//!
//! Whoever writes a top word writes its four codes after it ([`Codes::store`]),
//! so a code never names a value its entry does not hold yet. Slots are
//! given out first come; a group that finds none is read from the top
//! level. Only then are the codes scanned for slots no code names (at a
//! batch's end, at most once a second: 8 MiB to read); such a slot gets a
//! new value only if nothing named it until the end of the next batch
//! ([`Codes::end_batch`]), the quarantine tbl8 groups get: a packet that
//! read the slot's old code cannot read its new value. Writes themselves
//! count nothing, so a table's load pays only for the codes it writes.

use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use aya::maps::{Array, IterableMap, MapData};

use super::{MAX_NEXT_HOP_GROUP, TBL8_FLAG};
use crate::layout::{
    FIB4_CODE_TOP, FIB4_CODE_WORDS, FIB4_CODES_PER_WORD, FIB4_PALETTE_SLOTS, FIB4_PALETTE_WORDS,
    fib4_palette_position,
};
use crate::loader::mmap::MappedWords;

/// `slot_of` for a value without a slot.
const NONE: u8 = u8::MAX;
/// Top words whose codes share one codes word.
const TOP_WORDS_PER_WORD: usize = FIB4_CODES_PER_WORD / super::ENTRIES_PER_WORD;
/// Words of `fib4_codes`, palette included.
pub(crate) const WORDS: usize = FIB4_CODE_WORDS + FIB4_PALETTE_WORDS;

/// How often the codes may be scanned for free slots at most.
const SCAN_EVERY: Duration = Duration::from_secs(1);

/// Words of the map mapped at a time (8 pages).
const WINDOW_WORDS: usize = 8 * 512;

/// Where the codes live.
enum Store {
    /// All of them mapped: shared anonymous memory standing in for the map.
    Whole(Arc<MappedWords>),
    /// The map, a window of it mapped at a time: a whole mapping would
    /// count its 8 MiB in the daemon's memory for as long as it runs (a
    /// BPF array maps every page at once). A word whose window cannot be
    /// mapped goes through the system call instead.
    Map {
        array: Array<MapData, u64>,
        window: Option<(usize, MappedWords)>,
    },
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Store::Whole(_) => f.write_str("Whole"),
            Store::Map { window, .. } => f
                .debug_struct("Map")
                .field("window", &window.as_ref().map(|(first, _)| first))
                .finish(),
        }
    }
}

impl Store {
    /// The mapped word `w`, mapping its window if need be.
    fn mapped(&mut self, w: usize) -> Option<&std::sync::atomic::AtomicU64> {
        match self {
            Store::Whole(map) => map.words().get(w),
            Store::Map { array, window } => {
                let first = w / WINDOW_WORDS * WINDOW_WORDS;
                if window.as_ref().is_none_or(|(f, _)| *f != first) {
                    *window = None;
                    let len = WINDOW_WORDS.min(WORDS - first);
                    let fd = array.map().fd().as_fd();
                    *window = MappedWords::window(fd, first, len).ok().map(|m| (first, m));
                }
                let (first, m) = window.as_ref()?;
                m.words().get(w - first)
            }
        }
    }

    /// Mapped words `w..w + n`, all in one window.
    fn mapped_run(&mut self, w: usize, n: usize) -> Option<&[std::sync::atomic::AtomicU64]> {
        self.mapped(w)?;
        match self {
            Store::Whole(map) => map.words().get(w..w + n),
            Store::Map { window, .. } => {
                let (first, m) = window.as_ref()?;
                m.words().get(w - first..w - first + n)
            }
        }
    }

    fn load(&mut self, w: usize) -> u64 {
        if let Some(word) = self.mapped(w) {
            return word.load(Ordering::Acquire);
        }
        match self {
            Store::Map { array, .. } => array.get(&(w as u32), 0).unwrap_or(0),
            Store::Whole(_) => 0,
        }
    }

    /// Stores `v` in word `w`; false if it could not.
    fn put(&mut self, w: usize, v: u64) -> bool {
        if let Some(word) = self.mapped(w) {
            word.store(v, Ordering::Release);
            return true;
        }
        match self {
            Store::Map { array, .. } => array.set(w as u32, v, 0).is_ok(),
            Store::Whole(_) => false,
        }
    }
}

pub(crate) struct Codes {
    store: Store,
    palette: [u16; FIB4_PALETTE_SLOTS],
    /// The slot holding each next-hop group, if one does (index: group id).
    slot_of: Box<[u8]>,
    /// Bit s: slot s holds a group.
    used: u16,
    /// Bit s: the last scan found no code naming slot s, nor has one been
    /// written since.
    unnamed: u16,
    /// Bit s: slot s was unnamed at the end of a batch after the scan that
    /// found it, and has been since: free to take another group.
    reusable: u16,
    /// A group found no slot since the last scan.
    wanted: bool,
    last_scan: Option<Instant>,
    scan_every: Duration,
    /// Words that could not be written (neither mapped nor by system call).
    failed: u64,
}

impl Codes {
    /// The codes in `map` (the `fib4_codes` map), as whoever wrote them
    /// left them: a fresh map's are all 0 (no route), an adopted one's
    /// agree with its top level.
    pub(crate) fn of_map(array: Array<MapData, u64>) -> Codes {
        Codes::new(Store::Map {
            array,
            window: None,
        })
    }

    /// [`Self::of_map`] over shared anonymous memory (`map`, [`WORDS`]
    /// words) in place of the map.
    pub(crate) fn over(map: Arc<MappedWords>) -> Codes {
        assert_eq!(map.words().len(), WORDS, "fib4_codes has {WORDS} words");
        Codes::new(Store::Whole(map))
    }

    /// [`Self::over`] fresh memory: for a builder that stands in for the
    /// daemon's away from a kernel.
    pub(crate) fn in_memory() -> Codes {
        Codes::over(Arc::new(MappedWords::anonymous(WORDS)))
    }

    fn new(store: Store) -> Codes {
        let mut codes = Codes {
            store,
            palette: [0; FIB4_PALETTE_SLOTS],
            slot_of: vec![NONE; usize::from(MAX_NEXT_HOP_GROUP) + 1].into_boxed_slice(),
            used: 0,
            unnamed: 0,
            reusable: 0,
            wanted: false,
            last_scan: None,
            scan_every: SCAN_EVERY,
            failed: 0,
        };
        for s in 1..usize::from(FIB4_CODE_TOP) {
            let (w, shift) = fib4_palette_position(s);
            let v = (codes.store.load(w) >> shift) as u16;
            codes.palette[s] = v;
            if v == 0 || v & TBL8_FLAG != 0 {
                continue;
            }
            codes.used |= 1 << s;
            if codes.slot_of[usize::from(v)] == NONE {
                codes.slot_of[usize::from(v)] = s as u8;
            }
        }
        codes
    }

    /// Word `w` of the map (codes, then the palette).
    pub(crate) fn word(&mut self, w: usize) -> u64 {
        self.store.load(w)
    }

    /// Top word `w` (entries `4w..4w + 3`) now holds `word`: writes its
    /// codes where they differ.
    pub(crate) fn store(&mut self, w: usize, word: u64) {
        let new = self.encode(word);
        let shift = 16 * (w % TOP_WORDS_PER_WORD);
        let held = self.store.load(w / TOP_WORDS_PER_WORD);
        let next = (held & !(0xffff << shift)) | (u64::from(new) << shift);
        self.replace(w / TOP_WORDS_PER_WORD, held, next);
    }

    /// Top words `first..` now hold `words`: [`Self::store`] for each,
    /// a codes word (four top words) at a time.
    pub(crate) fn store_all(&mut self, first: usize, words: &[u64]) {
        /// Codes words computed before they are written, in one window.
        const CHUNK: usize = 256;
        let end = first + words.len();
        let mut w = first;
        let mut buf = [0u64; CHUNK];
        while w < end {
            if !w.is_multiple_of(TOP_WORDS_PER_WORD) || w + TOP_WORDS_PER_WORD > end {
                self.store(w, words[w - first]);
                w += 1;
                continue;
            }
            let cw = w / TOP_WORDS_PER_WORD;
            let n = ((end - w) / TOP_WORDS_PER_WORD)
                .min(CHUNK)
                .min(WINDOW_WORDS - cw % WINDOW_WORDS);
            // Runs of equal words (a short prefix's fill) encode once.
            let mut last = (u64::MAX, 0u16);
            for (k, next) in buf[..n].iter_mut().enumerate() {
                let at = w - first + k * TOP_WORDS_PER_WORD;
                *next = 0;
                for (i, &word) in words[at..at + TOP_WORDS_PER_WORD].iter().enumerate() {
                    if word != last.0 {
                        last = (word, self.encode(word));
                    }
                    *next |= u64::from(last.1) << (16 * i);
                }
            }
            match self.store.mapped_run(cw, n) {
                Some(run) => {
                    for (slot, &next) in run.iter().zip(&buf[..n]) {
                        if slot.load(Ordering::Relaxed) != next {
                            slot.store(next, Ordering::Release);
                        }
                    }
                }
                None => {
                    for (k, &next) in buf[..n].iter().enumerate() {
                        let held = self.store.load(cw + k);
                        self.replace(cw + k, held, next);
                    }
                }
            }
            w += n * TOP_WORDS_PER_WORD;
        }
    }

    /// The four codes of a top word.
    #[inline]
    fn encode(&mut self, word: u64) -> u16 {
        // A prefix of /23 or shorter fills whole words with one entry.
        let first = word as u16;
        if word == u64::from(first) * 0x0001_0001_0001_0001 {
            return u16::from(self.code(first)) * 0x1111;
        }
        (0..super::ENTRIES_PER_WORD).fold(0, |new, k| {
            new | u16::from(self.code((word >> (16 * k)) as u16)) << (4 * k)
        })
    }

    /// Codes word `cw`, holding `held`, gets `next`.
    fn replace(&mut self, cw: usize, held: u64, next: u64) {
        if held != next && !self.store.put(cw, next) {
            self.failed += 1;
        }
    }

    /// Words that could not be written so far: their entries read stale
    /// codes (an error the caller reports).
    pub(crate) fn failures(&self) -> u64 {
        self.failed
    }

    /// The end of a batch of writes: slots found unnamed and not named
    /// since may take another group in the next batch. Scans for such
    /// slots when a group wanted one.
    pub(crate) fn end_batch(&mut self) {
        self.reusable |= self.unnamed;
        self.unnamed = 0;
        if self.wanted
            && self.reusable == 0
            && self
                .last_scan
                .is_none_or(|t| t.elapsed() >= self.scan_every)
        {
            self.scan();
        }
    }

    /// Finds the slots no code names.
    fn scan(&mut self) {
        let mut named = 0u16;
        for w in 0..FIB4_CODE_WORDS {
            let mut w = self.store.load(w);
            while w != 0 {
                named |= 1 << (w & 0xf);
                w >>= 4;
            }
        }
        self.unnamed = self.used & !named;
        self.wanted = false;
        self.last_scan = Some(Instant::now());
    }

    /// The code of top entry `entry`, giving its group a free slot if one
    /// is reusable (written to the map's palette before any code names it).
    #[inline]
    fn code(&mut self, entry: u16) -> u8 {
        if entry == 0 {
            return 0;
        }
        if entry & TBL8_FLAG != 0 {
            return FIB4_CODE_TOP;
        }
        let slot = self.slot_of[usize::from(entry)];
        if slot != NONE {
            if (self.unnamed | self.reusable) & (1 << slot) != 0 {
                self.unnamed &= !(1 << slot);
                self.reusable &= !(1 << slot);
            }
            return slot;
        }
        let free = (self.reusable | !self.used) & !((1u16 << FIB4_CODE_TOP) | 1);
        if free == 0 {
            self.wanted = true;
            return FIB4_CODE_TOP;
        }
        let s = free.trailing_zeros() as u8;
        // The palette word first: no code names the slot before it holds
        // the group.
        let (w, shift) = fib4_palette_position(s.into());
        let held = self.store.load(w);
        let word = (held & !(0xffff << shift)) | (u64::from(entry) << shift);
        if !self.store.put(w, word) {
            self.failed += 1;
            return FIB4_CODE_TOP;
        }
        let old = self.palette[usize::from(s)];
        if old != 0 && self.slot_of[usize::from(old)] == s {
            self.slot_of[usize::from(old)] = NONE;
        }
        self.palette[usize::from(s)] = entry;
        self.slot_of[usize::from(entry)] = s;
        self.used |= 1 << s;
        self.unnamed &= !(1 << s);
        self.reusable &= !(1 << s);
        s
    }

    /// The map's words (codes, then the palette).
    #[cfg(test)]
    fn words(&mut self) -> Vec<u64> {
        (0..WORDS).map(|w| self.word(w)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout;

    /// Top words holding `entries` (four per word) from word 0 on.
    fn store_all(codes: &mut Codes, entries: &[u16]) -> Vec<u64> {
        let mut top = vec![0u64; entries.len().div_ceil(4)];
        for (i, &e) in entries.iter().enumerate() {
            layout::fib4_set(&mut top, i, e);
        }
        for (w, &word) in top.iter().enumerate() {
            codes.store(w, word);
        }
        top
    }

    use layout::fib4_code as code_of;

    #[test]
    fn groups_get_slots_and_tbl8_entries_read_the_top_level() {
        let mut codes = Codes::in_memory();
        store_all(&mut codes, &[0, 7, 9, TBL8_FLAG | 3, 7]);
        let words = codes.words();
        let [none, seven, nine, tbl8, again] = [0, 1, 2, 3, 4].map(|i| code_of(&words, i));
        assert_eq!(none, 0);
        assert_eq!(tbl8, FIB4_CODE_TOP);
        assert_eq!(seven, again);
        assert_ne!(seven, nine);
        let palette = &words[FIB4_CODE_WORDS..];
        assert_eq!(layout::fib4_get(palette, seven.into()), 7);
        assert_eq!(layout::fib4_get(palette, nine.into()), 9);
        assert_eq!(layout::fib4_get(palette, 0), 0);
    }

    #[test]
    fn a_full_palette_sends_the_rest_to_the_top_level() {
        let mut codes = Codes::in_memory();
        let groups: Vec<u16> = (1..=20).collect();
        store_all(&mut codes, &groups);
        let words = codes.words();
        let coded: Vec<u8> = (0..20).map(|i| code_of(&words, i)).collect();
        assert!(coded[..14].iter().all(|&c| c != FIB4_CODE_TOP), "{coded:?}");
        assert!(coded[14..].iter().all(|&c| c == FIB4_CODE_TOP), "{coded:?}");
    }

    #[test]
    fn a_freed_slot_is_reused_only_a_batch_after_a_scan_found_it() {
        let mut codes = Codes::in_memory();
        codes.scan_every = Duration::ZERO;
        let groups: Vec<u16> = (1..=14).collect();
        store_all(&mut codes, &groups);
        codes.end_batch();
        // Group 1 leaves (its entry now group 2) and group 99 finds no
        // slot: the batch's end scans and finds group 1's slot unnamed.
        let mut entries = groups.clone();
        entries[0] = 2;
        entries.extend([0, 99]);
        store_all(&mut codes, &entries);
        assert_eq!(code_of(&codes.words(), 15), FIB4_CODE_TOP);
        codes.end_batch();
        // Not yet: a packet may hold the slot's code from before the scan.
        store_all(&mut codes, &entries);
        assert_eq!(code_of(&codes.words(), 15), FIB4_CODE_TOP);
        codes.end_batch();
        entries.push(99);
        store_all(&mut codes, &entries);
        let words = codes.words();
        let slot = code_of(&words, 16);
        assert_ne!(slot, FIB4_CODE_TOP);
        assert_eq!(code_of(&words, 15), slot, "the whole word is written again");
        assert_eq!(layout::fib4_get(&words[FIB4_CODE_WORDS..], slot.into()), 99);
        assert_eq!(
            code_of(&words, 1),
            code_of(&words, 0),
            "group 2 kept its slot"
        );
    }

    #[test]
    fn a_slot_named_again_after_the_scan_is_not_reused() {
        let mut codes = Codes::in_memory();
        codes.scan_every = Duration::ZERO;
        let mut entries: Vec<u16> = (1..=14).collect();
        store_all(&mut codes, &entries);
        codes.end_batch();
        entries[0] = 2;
        entries.extend([0, 99]);
        store_all(&mut codes, &entries);
        codes.end_batch(); // the scan: group 1's slot is unnamed
        entries[0] = 1; // and named again before the next batch's end
        store_all(&mut codes, &entries);
        codes.end_batch();
        store_all(&mut codes, &entries);
        assert_eq!(
            code_of(&codes.words(), 15),
            FIB4_CODE_TOP,
            "99 still has none"
        );
        let words = codes.words();
        assert_eq!(
            layout::fib4_get(&words[FIB4_CODE_WORDS..], code_of(&words, 0).into()),
            1
        );
    }

    #[test]
    fn adopted_codes_are_counted_and_keep_their_slots() {
        let map = Arc::new(MappedWords::anonymous(WORDS));
        let mut first = Codes::over(Arc::clone(&map));
        store_all(&mut first, &[5, 6, 5]);
        let before = first.words();
        drop(first);
        let mut second = Codes::over(map);
        assert_eq!(second.used.count_ones(), 2);
        store_all(&mut second, &[5, 6, 5, 6]);
        let after = second.words();
        assert_eq!(code_of(&after, 0), code_of(&before, 0));
        assert_eq!(code_of(&after, 3), code_of(&before, 1));
    }

    #[test]
    fn storing_a_range_codes_as_storing_each_word() {
        let mut x = 0x2545_f491u32;
        let mut words = vec![0u64; 2999];
        for w in &mut words {
            for k in 0..4 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *w |= u64::from(x % 5 + (x >> 31) * 0x8000) << (16 * k);
            }
        }
        words[40..60].fill(0x0003_0003_0003_0003);
        let (mut each, mut all) = (Codes::in_memory(), Codes::in_memory());
        for (i, &w) in words.iter().enumerate() {
            each.store(7 + i, w);
        }
        all.store_all(7, &words);
        assert_eq!(each.words(), all.words());
    }

    #[test]
    fn coded_lookups_agree_with_the_top_level() {
        // Pseudo-random entries over a few thousand words, rewritten in
        // rounds with batch ends between: every code names its entry.
        let mut codes = Codes::in_memory();
        codes.scan_every = Duration::ZERO;
        let mut top = vec![0u64; 4096];
        let mut x = 0x9e37_79b9u32;
        for round in 0..20 {
            for _ in 0..3000 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let i = (x as usize) % (top.len() * 4);
                let v = match x >> 28 {
                    0 => 0,
                    1 => TBL8_FLAG | (x >> 8) as u16 & 0xff,
                    _ => 1 + ((x >> 8) % (12 + round)) as u16,
                };
                layout::fib4_set(&mut top, i, v);
                codes.store(i / 4, top[i / 4]);
            }
            codes.end_batch();
            let words = codes.words();
            for i in 0..top.len() * 4 {
                let c = code_of(&words, i);
                let want = layout::fib4_get(&top, i);
                if c == FIB4_CODE_TOP {
                    continue;
                }
                assert_eq!(
                    layout::fib4_get(&words[FIB4_CODE_WORDS..], c.into()),
                    want,
                    "entry {i}"
                );
            }
        }
    }
}
