//! Prefixes packed for the collections that hold a whole table at times:
//! the backlog while one loads ([`crate::routing`]), the kernel writer's
//! sets while the kernel takes it (tens of seconds). 8 bytes an IPv4 key
//! and 17 an IPv6 one, where an `IpNet` takes 18 and an `(IpAddr, u8)` too;
//! both keys sort in address, then length, order.
//!
//! In a [`PrefixMap`] an IPv4 entry is one `u64`: the 40-bit key above a
//! 24-bit value ([`Packed`]). A map of a million IPv4 prefixes is then 9
//! bytes a bucket where a `(u64, value)` pair takes 17.

use std::hash::{BuildHasher, Hash};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::fib::kernel::KernelPrefix;

/// A value small enough to share an IPv4 entry's `u64` with its key.
pub trait Packed: Copy {
    /// At most 24 bits.
    fn pack(self) -> u32;
    fn unpack(bits: u32) -> Self;
}

impl Packed for () {
    fn pack(self) -> u32 {
        0
    }
    fn unpack(_: u32) -> Self {}
}

/// Bits of an IPv4 entry below its key.
const VALUE_BITS: u32 = 24;

#[derive(Debug)]
pub struct PrefixMap<V> {
    /// `key4 << 24 | value`.
    v4: HashTable<u64>,
    /// The address's octets, then the length.
    v6: FxHashMap<[u8; 17], V>,
}

pub type PrefixSet = PrefixMap<()>;

impl<V> Default for PrefixMap<V> {
    fn default() -> Self {
        PrefixMap {
            v4: HashTable::new(),
            v6: FxHashMap::default(),
        }
    }
}

/// `addr << 8 | len`.
pub fn key4(addr: Ipv4Addr, len: u8) -> u64 {
    u64::from(u32::from(addr)) << 8 | u64::from(len)
}

/// The address's octets, then the length.
pub fn key6(addr: Ipv6Addr, len: u8) -> [u8; 17] {
    let mut k = [0; 17];
    k[..16].copy_from_slice(&addr.octets());
    k[16] = len;
    k
}

pub fn unkey4(k: u64) -> (Ipv4Addr, u8) {
    (Ipv4Addr::from((k >> 8) as u32), k as u8)
}

pub fn unkey6(k: &[u8; 17]) -> (Ipv6Addr, u8) {
    let mut octets = [0; 16];
    octets.copy_from_slice(&k[..16]);
    (Ipv6Addr::from(octets), k[16])
}

fn prefix4(k: u64) -> KernelPrefix {
    let (addr, len) = unkey4(k);
    (IpAddr::V4(addr), len)
}

fn prefix6(k: &[u8; 17]) -> KernelPrefix {
    let (addr, len) = unkey6(k);
    (IpAddr::V6(addr), len)
}

/// The key of an IPv4 entry.
fn key_of(entry: u64) -> u64 {
    entry >> VALUE_BITS
}

fn hash4(key: u64) -> u64 {
    FxBuildHasher.hash_one(key)
}

/// An entry's hash, for the table to move it when it grows or shrinks.
fn rehash4(entry: &u64) -> u64 {
    hash4(key_of(*entry))
}

/// Whether an entry is `key`'s.
fn is4(key: u64) -> impl Fn(&u64) -> bool {
    move |&e| key_of(e) == key
}

fn entry4<V: Packed>(key: u64, v: V) -> u64 {
    let bits = v.pack();
    debug_assert!(bits >> VALUE_BITS == 0, "a packed value has 24 bits");
    key << VALUE_BITS | u64::from(bits)
}

fn value4<V: Packed>(entry: u64) -> V {
    V::unpack((entry & ((1 << VALUE_BITS) - 1)) as u32)
}

/// Small tables are left alone; a large one is cut once a quarter full.
const SMALL: usize = 1 << 12;

/// Halves-or-more the capacity of `map` once it is a quarter full.
fn shrink<K: Eq + Hash, V>(map: &mut FxHashMap<K, V>) {
    if map.capacity() > SMALL && map.len() < map.capacity() / 4 {
        map.shrink_to(map.len() * 2);
    }
}

fn shrink4(table: &mut HashTable<u64>) {
    if table.capacity() > SMALL && table.len() < table.capacity() / 4 {
        table.shrink_to(table.len() * 2, rehash4);
    }
}

impl<V: Packed> PrefixMap<V> {
    pub fn insert(&mut self, (addr, len): KernelPrefix, v: V) -> Option<V> {
        match addr {
            IpAddr::V4(a) => {
                let key = key4(a, len);
                let new = entry4(key, v);
                match self.v4.entry(hash4(key), is4(key), rehash4) {
                    hashbrown::hash_table::Entry::Occupied(mut o) => {
                        Some(value4(std::mem::replace(o.get_mut(), new)))
                    }
                    hashbrown::hash_table::Entry::Vacant(slot) => {
                        slot.insert(new);
                        None
                    }
                }
            }
            IpAddr::V6(a) => self.v6.insert(key6(a, len), v),
        }
    }

    /// Inserts `v` unless `prefix` has a value already.
    pub fn insert_new(&mut self, (addr, len): KernelPrefix, v: V) {
        match addr {
            IpAddr::V4(a) => {
                let key = key4(a, len);
                self.v4
                    .entry(hash4(key), is4(key), rehash4)
                    .or_insert(entry4(key, v));
            }
            IpAddr::V6(a) => {
                self.v6.entry(key6(a, len)).or_insert(v);
            }
        }
    }

    pub fn remove(&mut self, (addr, len): &KernelPrefix) -> Option<V> {
        match addr {
            IpAddr::V4(a) => {
                let key = key4(*a, *len);
                let found = self.v4.find_entry(hash4(key), is4(key)).ok()?;
                Some(value4(found.remove().0))
            }
            IpAddr::V6(a) => self.v6.remove(&key6(*a, *len)),
        }
    }

    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (KernelPrefix, V)> + '_ {
        let v4 = self.v4.iter().map(|&e| (prefix4(key_of(e)), value4(e)));
        v4.chain(self.v6.iter().map(|(k, v)| (prefix6(k), *v)))
    }

    pub fn keys(&self) -> impl Iterator<Item = KernelPrefix> + '_ {
        self.iter().map(|(p, _)| p)
    }

    /// Removes and returns up to `n` entries, IPv4 first.
    pub fn take(&mut self, n: usize) -> PrefixMap<V> {
        let mut out = PrefixMap::default();
        let entries: Vec<u64> = self.v4.iter().take(n).copied().collect();
        for e in entries {
            let key = key_of(e);
            if let Ok(found) = self.v4.find_entry(hash4(key), is4(key)) {
                found.remove();
                out.v4.insert_unique(hash4(key), e, rehash4);
            }
        }
        let keys: Vec<[u8; 17]> = self.v6.keys().take(n - out.len()).copied().collect();
        for k in keys {
            if let Some(v) = self.v6.remove(&k) {
                out.v6.insert(k, v);
            }
        }
        // A map that held a table while the kernel took it gives the room
        // back as it drains (a hash map never shrinks by itself), and the
        // next take does not walk a table's worth of empty buckets.
        shrink4(&mut self.v4);
        shrink(&mut self.v6);
        out
    }

    /// Removes every entry, returning the prefixes.
    pub fn drain_keys(&mut self) -> Vec<KernelPrefix> {
        let mut out: Vec<KernelPrefix> = self.v4.drain().map(|e| prefix4(key_of(e))).collect();
        out.extend(self.v6.drain().map(|(k, _)| prefix6(&k)));
        out
    }
}

impl PrefixSet {
    pub fn from_prefixes(prefixes: impl IntoIterator<Item = KernelPrefix>) -> PrefixSet {
        let mut s = PrefixSet::default();
        for p in prefixes {
            s.insert(p, ());
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> KernelPrefix {
        let (a, l) = s.split_once('/').unwrap();
        (a.parse().unwrap(), l.parse().unwrap())
    }

    /// A test value: the 24 bits an IPv4 entry has.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    struct V(u32);

    impl Packed for V {
        fn pack(self) -> u32 {
            self.0
        }
        fn unpack(bits: u32) -> Self {
            V(bits)
        }
    }

    #[test]
    fn keys_round_trip_and_families_stay_apart() {
        let mut m: PrefixMap<V> = PrefixMap::default();
        let all = [
            "0.0.0.0/0",
            "192.0.2.0/24",
            "192.0.2.0/25",
            "255.255.255.255/32",
            "::/0",
            "2001:db8::/32",
            "2001:db8::/48",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
        ];
        for (i, s) in all.iter().enumerate() {
            // The widest value an IPv4 entry holds, beside the widest key.
            let v = if i == 3 { 0xff_ffff } else { i as u32 };
            assert_eq!(m.insert(p(s), V(v)), None);
        }
        assert_eq!(m.insert(p("192.0.2.0/24"), V(99)), Some(V(1)));
        m.insert_new(p("192.0.2.0/24"), V(7));
        m.insert_new(p("10.0.0.0/8"), V(8));
        assert_eq!(m.len(), all.len() + 1);
        let mut got: Vec<(KernelPrefix, V)> = m.iter().collect();
        got.sort();
        let mut want: Vec<(KernelPrefix, V)> = all
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let v = match i {
                    1 => 99,
                    3 => 0xff_ffff,
                    _ => i as u32,
                };
                (p(s), V(v))
            })
            .collect();
        want.push((p("10.0.0.0/8"), V(8)));
        want.sort();
        assert_eq!(got, want);
        let first = m.take(3);
        assert_eq!(first.len(), 3);
        assert_eq!(m.len(), all.len() - 2);
        assert!(first.keys().all(|k| k.0.is_ipv4()), "IPv4 first");
        assert_eq!(m.remove(&p("2001:db8::/48")), Some(V(6)));
        assert_eq!(m.remove(&p("2001:db8::/48")), None);
        let rest = m.take(100);
        assert!(m.is_empty());
        assert_eq!(rest.len(), all.len() - 3);
        let mut s = PrefixSet::from_prefixes(rest.keys());
        assert_eq!(s.drain_keys().len(), rest.len());
        assert!(s.is_empty());
    }

    #[test]
    fn a_map_taken_in_batches_gives_its_room_back() {
        let mut m = PrefixSet::default();
        for i in 0..100_000u32 {
            m.insert((IpAddr::V4(Ipv4Addr::from(i << 8)), 24), ());
        }
        let full = m.v4.capacity();
        let mut taken = 0;
        while !m.is_empty() {
            taken += m.take(20_000).len();
        }
        assert_eq!(taken, 100_000);
        assert!(m.v4.capacity() < full / 8, "{} of {full}", m.v4.capacity());
    }
}
