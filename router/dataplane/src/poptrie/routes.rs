//! The prefixes a [`Poptrie`](super::Poptrie) was built from, in three
//! parts that each give a slot's or a chunk's prefixes in (network,
//! length) order.
//!
//! Nearly every prefix of a full IPv6 table is longer than a slot's /24
//! and at most a /64 (the /48s alone are half of it). Those are kept per
//! slot, by the top half of the network: a rebuild takes its slot's list
//! whole, and a change costs one hash lookup and a short sorted insert,
//! where a B-tree of 200k keys cost a walk of cache misses per prefix
//! (a sixth of the writer thread's time on a full table). The few
//! prefixes up to a /24, which paint whole slots and chunks, and the
//! rarer ones past a /64 keep ordered maps, of 9 and 17-byte keys.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;

use super::{ROOT_DEPTH, slot_of};

/// A prefix: (network, length).
pub(super) type Key = (u128, u8);

/// The network's top 8 bytes big-endian, then the length: byte order is
/// (network, length) order.
type Short = [u8; 9];
/// All 16 bytes, then the length.
type Long = [u8; 17];

/// A slot's prefix of /25 to /64: the network's top half, the length,
/// the group. Tuples compare as (network, length).
type Mid = (u64, u8, u16);

fn short((addr, len): Key) -> Short {
    let mut k = [0; 9];
    k[..8].copy_from_slice(&((addr >> 64) as u64).to_be_bytes());
    k[8] = len;
    k
}

fn unshort(k: &Short) -> Key {
    let mut a = [0; 8];
    a.copy_from_slice(&k[..8]);
    (u128::from(u64::from_be_bytes(a)) << 64, k[8])
}

fn long((addr, len): Key) -> Long {
    let mut k = [0; 17];
    k[..16].copy_from_slice(&addr.to_be_bytes());
    k[16] = len;
    k
}

fn unlong(k: &Long) -> Key {
    let mut a = [0; 16];
    a.copy_from_slice(&k[..16]);
    (u128::from_be_bytes(a), k[16])
}

/// The parts of [`Routes`].
enum Part {
    Short,
    Mid,
    Long,
}

/// Which part keeps a prefix of length `len`.
fn part(len: u8) -> Part {
    match u32::from(len) {
        l if l <= ROOT_DEPTH => Part::Short,
        l if l <= 64 => Part::Mid,
        _ => Part::Long,
    }
}

/// Where `key`, a /25 to /64 of a slot, is in that slot's sorted list
/// (or would go).
fn find_mid(list: &[Mid], (addr, len): Key) -> Result<usize, usize> {
    let hi = (addr >> 64) as u64;
    list.binary_search_by_key(&(hi, len), |&(h, l, _)| (h, l))
}

/// Prefixes (host bits clear) to groups.
#[derive(Clone, Debug, Default)]
pub(super) struct Routes {
    /// Up to a /24.
    short: BTreeMap<Short, u16>,
    /// /25 to /64, per slot, each list sorted.
    mid: FxHashMap<u32, Vec<Mid>>,
    /// The slots `mid` has, in order: a chunk's are a range of them.
    mid_slots: BTreeSet<u32>,
    mid_len: usize,
    /// Past a /64.
    long: BTreeMap<Long, u16>,
}

impl Routes {
    pub(super) fn insert(&mut self, key: Key, group: u16) -> Option<u16> {
        match part(key.1) {
            Part::Short => self.short.insert(short(key), group),
            Part::Long => self.long.insert(long(key), group),
            Part::Mid => {
                let slot = slot_of(key.0);
                let list = self.mid.entry(slot).or_insert_with(|| {
                    self.mid_slots.insert(slot);
                    Vec::new()
                });
                match find_mid(list, key) {
                    Ok(i) => Some(std::mem::replace(&mut list[i].2, group)),
                    Err(i) => {
                        list.insert(i, ((key.0 >> 64) as u64, key.1, group));
                        self.mid_len += 1;
                        None
                    }
                }
            }
        }
    }

    pub(super) fn remove(&mut self, key: Key) -> Option<u16> {
        match part(key.1) {
            Part::Short => self.short.remove(&short(key)),
            Part::Long => self.long.remove(&long(key)),
            Part::Mid => {
                let slot = slot_of(key.0);
                let list = self.mid.get_mut(&slot)?;
                let (_, _, group) = list.remove(find_mid(list, key).ok()?);
                if list.is_empty() {
                    self.mid.remove(&slot);
                    self.mid_slots.remove(&slot);
                }
                self.mid_len -= 1;
                Some(group)
            }
        }
    }

    pub(super) fn get(&self, key: Key) -> Option<u16> {
        match part(key.1) {
            Part::Short => self.short.get(&short(key)).copied(),
            Part::Long => self.long.get(&long(key)).copied(),
            Part::Mid => {
                let list = self.mid.get(&slot_of(key.0))?;
                Some(list[find_mid(list, key).ok()?].2)
            }
        }
    }

    /// Every prefix, in (network, length) order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u128, u8, u16)> + '_ {
        let shorts = self.short.iter().map(|(k, &g)| (unshort(k), g));
        let mids = self.mid_slots.iter().flat_map(|&s| self.mid_list(s));
        let longs = self.long.iter().map(|(k, &g)| (unlong(k), g));
        merge(merge(shorts, mids), longs).map(|((a, l), g)| (a, l, g))
    }

    /// Slot `s`'s prefixes of /25 to /64, in order.
    fn mid_list(&self, s: u32) -> impl Iterator<Item = (Key, u16)> + '_ {
        self.mid
            .get(&s)
            .into_iter()
            .flatten()
            .map(|&(hi, l, g)| ((u128::from(hi) << 64, l), g))
    }

    pub(super) fn len(&self) -> usize {
        self.short.len() + self.mid_len + self.long.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The prefixes at least `min_len` long whose network is in `[lo, hi]`,
    /// in (network, length) order: the three parts' ranges merged.
    pub(super) fn within(&self, lo: u128, hi: u128, min_len: u8) -> Vec<(u128, u8, u16)> {
        let in_range = move |&((a, l), _): &(Key, u16)| l >= min_len && a >= lo && a <= hi;
        // The top halves of lo and hi bound the short range; a network
        // below lo or above hi can only be one with the same top half.
        let shorts = (u32::from(min_len) <= ROOT_DEPTH)
            .then(|| self.short.range(short((lo, 0))..=short((hi, 64))))
            .into_iter()
            .flatten()
            .map(|(k, &g)| (unshort(k), g))
            .filter(in_range);
        let mids = (min_len <= 64)
            .then(|| self.mid_slots.range(slot_of(lo)..=slot_of(hi)))
            .into_iter()
            .flatten()
            .flat_map(|&s| self.mid_list(s))
            .filter(in_range);
        let longs = self
            .long
            .range(long((lo, 0))..=long((hi, 128)))
            .map(|(k, &g)| (unlong(k), g))
            .filter(move |&((_, l), _)| l >= min_len);
        merge(merge(shorts, mids), longs)
            .map(|((a, l), g)| (a, l, g))
            .collect()
    }
}

/// Two key-ordered sequences as one.
fn merge(
    short: impl Iterator<Item = (Key, u16)>,
    long: impl Iterator<Item = (Key, u16)>,
) -> impl Iterator<Item = (Key, u16)> {
    let (mut s, mut l) = (short.peekable(), long.peekable());
    std::iter::from_fn(move || match (s.peek(), l.peek()) {
        (Some(a), Some(b)) if a.0 <= b.0 => s.next(),
        (Some(_), Some(_)) => l.next(),
        (Some(_), None) => s.next(),
        (None, _) => l.next(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_both_maps_in_network_then_length_order() {
        let mut r = Routes::default();
        let a = |s: &str| u128::from(s.parse::<std::net::Ipv6Addr>().unwrap());
        let keys = [
            (a("2001:db8::"), 32),
            (a("2001:db8::"), 64),
            (a("2001:db8::"), 65),
            (a("2001:db8::"), 128),
            (a("2001:db8::8000:0:0:0"), 65),
            (a("2001:db8:0:1::"), 64),
            (a("2001:db8:0:1::1"), 128),
            (a("2001:db9::"), 48),
        ];
        for (i, &k) in keys.iter().rev().enumerate() {
            assert_eq!(r.insert(k, i as u16), None);
        }
        assert_eq!(r.len(), keys.len());
        let got: Vec<Key> = r
            .within(a("2001:db8::"), a("2001:db8:0:1:ffff:ffff:ffff:ffff"), 0)
            .into_iter()
            .map(|(a, l, _)| (a, l))
            .collect();
        assert_eq!(
            got,
            keys[..7].to_vec(),
            "sorted, and 2001:db9::/48 left out"
        );
        // Bounds inside a /64's top half: networks outside them are not
        // in the range, short or long.
        assert!(
            r.within(a("2001:db8::1"), a("2001:db8::ffff"), 0)
                .is_empty()
        );
        let got: Vec<u8> = r
            .within(a("2001:db8::"), a("2001:db8::ffff"), 0)
            .into_iter()
            .map(|(_, l, _)| l)
            .collect();
        assert_eq!(got, [32, 64, 65, 128]);
        assert_eq!(r.within(a("2001:db8::"), a("2001:db8::"), 65).len(), 2);
        assert_eq!(r.get((a("2001:db8::"), 65)), Some(5));
        assert_eq!(r.remove((a("2001:db8::"), 64)), Some(6));
        assert_eq!(r.get((a("2001:db8::"), 64)), None);
        assert_eq!(r.len(), keys.len() - 1);
    }

    #[test]
    fn slots_come_in_order_across_chunks_and_wide_ranges() {
        let mut r = Routes::default();
        let a = |s: &str| u128::from(s.parse::<std::net::Ipv6Addr>().unwrap());
        // /48s in slots of three chunks, a /20 painting slots, a /96.
        let keys = [
            (a("2001:db8::"), 48),
            (a("2001:db8:1::"), 48),
            (a("2001:db9:ff00::"), 40),
            (a("2400::"), 20),
            (a("2400:cb00::"), 32),
            (a("2400:cb00::"), 96),
            (a("2a00:1450::"), 32),
        ];
        for (i, &k) in keys.iter().rev().enumerate() {
            assert_eq!(r.insert(k, i as u16 + 1), None);
        }
        let all: Vec<Key> = r.iter().map(|(a, l, _)| (a, l)).collect();
        assert_eq!(all, keys.to_vec());
        // Wider than a chunk: the slots there are, in order.
        let got: Vec<Key> = r
            .within(a("2001::"), a("2a00:ffff::"), 21)
            .into_iter()
            .map(|(a, l, _)| (a, l))
            .collect();
        let want: Vec<Key> = keys.iter().copied().filter(|k| k.1 >= 21).collect();
        assert_eq!(got, want);
        assert_eq!(r.remove((a("2001:db8:1::"), 48)), Some(6));
        assert_eq!(r.remove((a("2001:db8:1::"), 48)), None);
        assert_eq!(r.len(), keys.len() - 1);
    }
}
