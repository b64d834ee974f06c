//! One shard of the prefix map: open addressing with linear probing, key
//! and value side by side in one array.
//!
//! A `hashbrown` lookup reads a control group and then, from what it
//! found there, the bucket: two dependent cache misses per prefix on a
//! table far bigger than the cache, which made inserting a full table,
//! and finding its prefixes again to place them, mostly waiting for
//! memory. Here a key's slot is known from its hash alone, so one read
//! usually finds it, and a caller that knows which keys come next can
//! have them fetched together ([`FlatMap::prefetch`]). Removal shifts the
//! rest of the run back (no tombstones), so lookups stay short however
//! the table churns.

/// A key with a value no real key has, which marks an empty slot.
pub(super) trait FlatKey: Copy + Eq {
    const EMPTY: Self;
    /// A well-mixed 64-bit hash: its top bits pick the slot.
    fn mix(&self) -> u64;
}

/// A value that empty slots hold (never read as a value).
pub(super) trait Filler: Copy {
    const FILLER: Self;
}

/// Slots at most this full (`LOAD_NUM / LOAD_DEN`) before the table
/// doubles, as `hashbrown`'s: the same memory per prefix. A miss then
/// scans some 30 slots, 8 cache lines in a row, but only in the shards
/// about to double (their graded sizes keep the others emptier).
const LOAD_NUM: usize = 7;
const LOAD_DEN: usize = 8;
/// The first allocation.
const MIN_SLOTS: usize = 16;

#[derive(Debug, Clone)]
pub(super) struct FlatMap<K, V> {
    slots: Box<[(K, V)]>,
    len: usize,
}

impl<K, V> Default for FlatMap<K, V> {
    fn default() -> Self {
        FlatMap {
            slots: Box::new([]),
            len: 0,
        }
    }
}

/// A key's place in a [`FlatMap`], as [`std::collections::hash_map::Entry`]
/// gives it.
pub(super) enum Entry<'a, K, V> {
    Occupied(Occupied<'a, K, V>),
    Vacant(Vacant<'a, K, V>),
}

pub(super) struct Occupied<'a, K, V> {
    map: &'a mut FlatMap<K, V>,
    at: usize,
}

pub(super) struct Vacant<'a, K, V> {
    map: &'a mut FlatMap<K, V>,
    key: K,
    /// The empty slot the lookup ended on (none in a table without
    /// slots): where the key goes unless the table grows first.
    at: Option<usize>,
}

impl<K: FlatKey, V: Filler> FlatMap<K, V> {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Slots allocated (for tests of how full tables run).
    #[cfg(test)]
    pub(super) fn slots(&self) -> usize {
        self.slots.len()
    }

    fn home(&self, key: &K) -> usize {
        // Only called with slots: a power of two, at least MIN_SLOTS.
        let bits = self.slots.len().trailing_zeros();
        (key.mix() >> (64 - bits)) as usize
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// The slot holding `key`, or the empty one ending its run.
    fn find(&self, key: &K) -> Result<usize, usize> {
        let mask = self.mask();
        let mut at = self.home(key);
        loop {
            let k = self.slots[at].0;
            if k == *key {
                return Ok(at);
            }
            if k == K::EMPTY {
                return Err(at);
            }
            at = (at + 1) & mask;
        }
    }

    pub(super) fn get(&self, key: &K) -> Option<&V> {
        if self.len == 0 {
            return None;
        }
        self.find(key).ok().map(|at| &self.slots[at].1)
    }

    /// Asks the CPU to fetch `key`'s slot now: a caller about to look up
    /// many keys issues these first, and their misses overlap.
    #[inline]
    pub(super) fn prefetch(&self, key: &K) {
        if self.slots.is_empty() {
            return;
        }
        prefetch(&self.slots[self.home(key)]);
    }

    pub(super) fn entry(&mut self, key: K) -> Entry<'_, K, V> {
        debug_assert!(key != K::EMPTY, "the empty key is never stored");
        if self.slots.is_empty() {
            return Entry::Vacant(Vacant {
                map: self,
                key,
                at: None,
            });
        }
        match self.find(&key) {
            Ok(at) => Entry::Occupied(Occupied { map: self, at }),
            Err(at) => Entry::Vacant(Vacant {
                map: self,
                key,
                at: Some(at),
            }),
        }
    }

    fn grow(&mut self) {
        let n = (self.slots.len() * 2).max(MIN_SLOTS);
        let old = std::mem::replace(&mut self.slots, vec![(K::EMPTY, V::FILLER); n].into());
        for (k, v) in old.iter() {
            if *k != K::EMPTY {
                let Err(at) = self.find(k) else {
                    unreachable!("keys are unique");
                };
                self.slots[at] = (*k, *v);
            }
        }
    }

    /// Empties slot `at` and moves the rest of its run back over the hole,
    /// each key no further than its home: every key stays reachable from
    /// its home without crossing an empty slot.
    fn remove_at(&mut self, mut hole: usize) {
        let mask = self.mask();
        let mut at = hole;
        loop {
            at = (at + 1) & mask;
            let k = self.slots[at].0;
            if k == K::EMPTY {
                break;
            }
            // The key may fill the hole if its home is not in (hole, at].
            let home = self.home(&k);
            if (at.wrapping_sub(home) & mask) >= (at.wrapping_sub(hole) & mask) {
                self.slots[hole] = self.slots[at];
                hole = at;
            }
        }
        self.slots[hole] = (K::EMPTY, V::FILLER);
        self.len -= 1;
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.slots
            .iter()
            .filter(|(k, _)| *k != K::EMPTY)
            .map(|(k, v)| (k, v))
    }

    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.slots
            .iter_mut()
            .filter(|(k, _)| *k != K::EMPTY)
            .map(|(_, v)| v)
    }

    /// Keeps the entries `keep` says to, each asked once.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        if self.len == 0 {
            return;
        }
        // From just past an empty slot once around: a removal pulls keys
        // back only from further on in the same run, so none is asked
        // twice or skipped.
        let n = self.slots.len();
        let start = (0..n)
            .find(|&i| self.slots[i].0 == K::EMPTY)
            .expect("a table is never full");
        let mut step = 1;
        while step <= n {
            let at = (start + step) & self.mask();
            let (k, v) = &mut self.slots[at];
            if *k != K::EMPTY && !keep(k, v) {
                // The slot may now hold a key not yet asked: ask it.
                self.remove_at(at);
                continue;
            }
            step += 1;
        }
    }
}

impl<'a, K: FlatKey, V: Filler> Occupied<'a, K, V> {
    pub(super) fn get_mut(&mut self) -> &mut V {
        &mut self.map.slots[self.at].1
    }

    pub(super) fn remove(self) {
        self.map.remove_at(self.at);
    }
}

impl<'a, K: FlatKey, V: Filler> Vacant<'a, K, V> {
    pub(super) fn insert(self, value: V) {
        let map = self.map;
        let at = match self.at {
            Some(at) if (map.len + 1) * LOAD_DEN <= map.slots.len() * LOAD_NUM => at,
            // Growing moves every key: find the key's slot anew.
            _ => {
                map.grow();
                let Err(at) = map.find(&self.key) else {
                    unreachable!("a vacant key is absent");
                };
                at
            }
        };
        map.slots[at] = (self.key, value);
        map.len += 1;
    }
}

/// A hint to fetch the cache line of `slot`; nothing on other targets.
#[inline]
#[allow(unsafe_code)]
fn prefetch<T>(slot: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing the program can observe and never
    // faults; the address is of a live reference anyway.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(slot).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = slot;
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    /// A key whose hash has four bits: long runs that wrap around the end.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
    struct K(u64);

    impl FlatKey for K {
        const EMPTY: K = K(u64::MAX);
        fn mix(&self) -> u64 {
            self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15) & 0xf000_0000_0000_0000
        }
    }

    impl Filler for u32 {
        const FILLER: u32 = u32::MAX;
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64, u32),
        Remove(u64),
        Retain(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..300u64, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            2 => (0..300u64).prop_map(Op::Remove),
            1 => (2..7u64).prop_map(Op::Retain),
        ]
    }

    proptest! {
        /// Any mix of inserts, removals and retains leaves what a std map
        /// does, with every key found from its home.
        #[test]
        fn behaves_as_a_hash_map(ops in prop::collection::vec(op(), 1..600)) {
            let mut flat: FlatMap<K, u32> = FlatMap::default();
            let mut model: HashMap<K, u32> = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        let k = K(k);
                        match flat.entry(k) {
                            Entry::Occupied(mut o) => *o.get_mut() = v,
                            Entry::Vacant(e) => e.insert(v),
                        }
                        model.insert(k, v);
                    }
                    Op::Remove(k) => {
                        let k = K(k);
                        if let Entry::Occupied(o) = flat.entry(k) {
                            o.remove();
                        }
                        model.remove(&k);
                    }
                    Op::Retain(m) => {
                        let mut asked = Vec::new();
                        flat.retain(|k, _| {
                            asked.push(*k);
                            k.0 % m != 0
                        });
                        asked.sort_unstable();
                        let mut want: Vec<K> = model.keys().copied().collect();
                        want.sort_unstable();
                        prop_assert_eq!(asked, want, "each key asked once");
                        model.retain(|k, _| k.0 % m != 0);
                    }
                }
                prop_assert_eq!(flat.len(), model.len());
            }
            for k in (0..300).map(K) {
                prop_assert_eq!(flat.get(&k), model.get(&k));
            }
            let mut all: Vec<(K, u32)> = flat.iter().map(|(k, v)| (*k, *v)).collect();
            all.sort_unstable();
            let mut want: Vec<(K, u32)> = model.into_iter().collect();
            want.sort_unstable();
            prop_assert_eq!(all, want);
        }
    }

    #[test]
    fn grows_at_its_load_limit() {
        let mut flat: FlatMap<K, u32> = FlatMap::default();
        for k in (0..1000).map(K) {
            if let Entry::Vacant(e) = flat.entry(k) {
                e.insert(1);
            }
            assert!(flat.len() * LOAD_DEN <= flat.slots() * LOAD_NUM);
        }
        assert_eq!(flat.slots(), 2048);
    }
}
