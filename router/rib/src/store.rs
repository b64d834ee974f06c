//! Where the paths of every prefix live, laid out for a full table.
//!
//! IPv4 prefixes are keyed by one `u64` (address and length), and so are
//! IPv6 ones up to a /56 (every prefix of a full table: [`short6`]);
//! longer IPv6 ones by two `u64`s and the length, each kind in a map of
//! its own. The common case of a single path is stored inline, in 8
//! bytes, and the paths of a prefix with more are a pair or a list of
//! the map's, named by its index ([`paths`]). A route costs 16 bytes of
//! table (key and value in one slot, [`flat`]) before the map's spare
//! room, where a boxed list beside the inline path made 25 (an IPv6 one
//! with its whole address, 33).

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use sluice_wire::Prefix;

use crate::page::{Page, smallest_after};
use crate::table::Path;

mod flat;
mod paths;

use flat::{Entry, FlatKey, FlatMap};
use paths::{Lists, Paths};

fn key4(p: &Ipv4Net) -> u64 {
    (u64::from(u32::from(p.network())) << 8) | u64::from(p.prefix_len())
}

fn unkey4(k: u64) -> Prefix {
    IpNet::V4(Ipv4Net::new_assert(
        Ipv4Addr::from((k >> 8) as u32),
        (k & 0xff) as u8,
    ))
}

/// The address's two halves, then the length: the order of `(u128, u8)`
/// at 8-byte alignment, so a value beside it pads nothing.
type Key6 = (u64, u64, u8);

fn key6(p: &Ipv6Net) -> Key6 {
    let a = u128::from(p.network());
    ((a >> 64) as u64, a as u64, p.prefix_len())
}

/// Longest IPv6 prefix keyed by [`short6`].
const SHORT6_MAX: u8 = 56;

/// An IPv6 prefix of at most [`SHORT6_MAX`] bits: the network's top half,
/// whose low byte such a length leaves clear, holds the length there. The
/// keys sort as their [`Key6`] do.
fn short6(p: &Ipv6Net) -> Option<u64> {
    let (hi, _, len) = key6(p);
    (len <= SHORT6_MAX).then_some(hi | u64::from(len))
}

fn unshort6(k: u64) -> Key6 {
    (k & !0xff, 0, k as u8)
}

fn unkey6((hi, lo, l): Key6) -> Prefix {
    let a = u128::from(hi) << 64 | u128::from(lo);
    IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::from(a), l))
}

/// splitmix64's finalizer: every bit of `k` moves the top bits.
fn mix64(k: u64) -> u64 {
    let z = (k ^ (k >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// No IPv4 key (length at most 32) nor short IPv6 one (at most 56) has
/// 0xff in its length byte.
impl FlatKey for u64 {
    const EMPTY: u64 = u64::MAX;
    fn mix(&self) -> u64 {
        mix64(*self)
    }
}

impl FlatKey for Key6 {
    const EMPTY: Key6 = (u64::MAX, u64::MAX, u8::MAX);
    fn mix(&self) -> u64 {
        mix64(self.0 ^ self.1.rotate_left(29) ^ u64::from(self.2))
    }
}

/// Shards of a map that grows to a full table: a hash map doubles all at
/// once, holding old and new tables together, which at a million IPv4
/// prefixes was a 34 MB spike on top of the RIB (a quarter of the peak).
/// Shards double one at a time.
///
/// They are of graded sizes: shard `i` takes a share of the keys
/// proportional to 2^(i/64), so their loads are spread over one doubling
/// and the map's buckets grow with the table (about 63% full whatever its
/// size) instead of in steps of two. Equal shards all doubled at the same
/// size, and a full table of 1M IPv4 prefixes had just passed it: its
/// buckets were 48% full.
#[derive(Debug)]
struct Sharded<K, V> {
    shards: Box<[FlatMap<K, V>]>,
}

const SHARDS: usize = 64;

/// Bits of the shard hash that pick a slot of [`GRADES`].
const GRADE_BITS: u32 = 10;

/// Slot → shard: shard `i` owns a number of the 1024 slots proportional
/// to 2^(i/64) (11 to 22 of them), in order.
static GRADES: [u8; 1 << GRADE_BITS] = grades();

const fn grades() -> [u8; 1 << GRADE_BITS] {
    const STEP: f64 = 1.010_889_286_051_700_5; // 2^(1/64)
    let mut weights = [0.0f64; SHARDS];
    let (mut w, mut total, mut i) = (1.0, 0.0, 0);
    while i < SHARDS {
        weights[i] = w;
        total += w;
        w *= STEP;
        i += 1;
    }
    let slots = (1 << GRADE_BITS) as f64;
    let mut table = [0u8; 1 << GRADE_BITS];
    let (mut shard, mut end, mut j) = (0, weights[0] / total * slots, 0);
    while j < table.len() {
        // A slot goes to the shard whose share its middle falls in.
        while j as f64 + 0.5 > end && shard + 1 < SHARDS {
            shard += 1;
            end += weights[shard] / total * slots;
        }
        table[j] = shard as u8;
        j += 1;
    }
    table
}

/// The shard of a key: the top bits of a multiplicative hash, apart
/// from the shards' own ([`mix64`]), so that keys of one shard still
/// spread over its slots.
trait ShardKey {
    fn shard(&self) -> usize;
}

impl ShardKey for u64 {
    fn shard(&self) -> usize {
        let slot = self.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - GRADE_BITS);
        usize::from(GRADES[slot as usize])
    }
}

impl ShardKey for Key6 {
    fn shard(&self) -> usize {
        (self.0 ^ self.1 ^ u64::from(self.2)).shard()
    }
}

impl<K, V> Default for Sharded<K, V> {
    fn default() -> Self {
        Sharded {
            shards: (0..SHARDS).map(|_| FlatMap::default()).collect(),
        }
    }
}

impl<K: ShardKey + FlatKey, V: flat::Filler> Sharded<K, V> {
    fn len(&self) -> usize {
        self.shards.iter().map(FlatMap::len).sum()
    }

    fn get(&self, k: &K) -> Option<&V> {
        self.shards[k.shard()].get(k)
    }

    fn prefetch(&self, k: &K) {
        self.shards[k.shard()].prefetch(k);
    }

    fn entry(&mut self, k: K) -> Entry<'_, K, V> {
        self.shards[k.shard()].entry(k)
    }

    fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.shards.iter().flat_map(FlatMap::iter)
    }

    fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.shards.iter_mut().flat_map(FlatMap::values_mut)
    }

    fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        for shard in self.shards.iter_mut() {
            shard.retain(&mut keep);
        }
    }
}

/// Which prefixes a page holds ([`PrefixMap::page_where`]).
pub type KeepPrefix<'a> = dyn FnMut(&Prefix, &[Path]) -> bool + 'a;

/// Prefix → paths, for both families.
#[derive(Debug)]
pub struct PrefixMap {
    v4: Sharded<u64, Paths>,
    /// IPv6 up to a /56, by [`short6`].
    v6: Sharded<u64, Paths>,
    /// Longer IPv6 prefixes.
    v6_long: Sharded<Key6, Paths>,
    lists: Lists,
    /// Prefixes per length, IPv4 then IPv6: who enumerates the
    /// more-specifics of a prefix probes only the lengths in use.
    per_len: [u32; 33 + 129],
}

impl Default for PrefixMap {
    fn default() -> Self {
        PrefixMap {
            v4: Sharded::default(),
            v6: Sharded::default(),
            v6_long: Sharded::default(),
            lists: Lists::default(),
            per_len: [0; 33 + 129],
        }
    }
}

/// The index of a prefix's length in [`PrefixMap::per_len`].
fn len_slot(prefix: &Prefix) -> usize {
    match prefix {
        IpNet::V4(p) => usize::from(p.prefix_len()),
        IpNet::V6(p) => 33 + usize::from(p.prefix_len()),
    }
}

impl PrefixMap {
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len() + self.v6_long.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn entry(&self, prefix: &Prefix) -> Option<&Paths> {
        match prefix {
            IpNet::V4(p) => self.v4.get(&key4(p)),
            IpNet::V6(p) => match short6(p) {
                Some(k) => self.v6.get(&k),
                None => self.v6_long.get(&key6(p)),
            },
        }
    }

    pub fn get(&self, prefix: &Prefix) -> Option<&[Path]> {
        self.entry(prefix).map(|v| self.lists.slice(v))
    }

    /// Has the CPU fetch `prefix`'s slot: looking up or inserting many
    /// prefixes, a caller prefetches some way ahead, and the cache misses
    /// of a whole window overlap instead of coming one after another.
    pub fn prefetch(&self, prefix: &Prefix) {
        match prefix {
            IpNet::V4(p) => self.v4.prefetch(&key4(p)),
            IpNet::V6(p) => match short6(p) {
                Some(k) => self.v6.prefetch(&k),
                None => self.v6_long.prefetch(&key6(p)),
            },
        }
    }

    /// Installs `path`, in place of the path of the same peer if there is
    /// one (returned).
    pub fn upsert(&mut self, prefix: Prefix, path: Path) -> Option<Path> {
        let (new, old) = match prefix {
            IpNet::V4(p) => self.lists.upsert(self.v4.entry(key4(&p)), path),
            IpNet::V6(p) => match short6(&p) {
                Some(k) => self.lists.upsert(self.v6.entry(k), path),
                None => self.lists.upsert(self.v6_long.entry(key6(&p)), path),
            },
        };
        if new {
            self.per_len[len_slot(&prefix)] += 1;
        }
        old
    }

    /// Removes the paths of `prefix` that `drop` selects into `removed`,
    /// and the prefix once it has none.
    pub fn remove_where(
        &mut self,
        prefix: &Prefix,
        drop: impl FnMut(&Path) -> bool,
        removed: &mut Vec<Path>,
    ) {
        let gone = match prefix {
            IpNet::V4(p) => self.lists.remove_at(self.v4.entry(key4(p)), drop, removed),
            IpNet::V6(p) => match short6(p) {
                Some(k) => self.lists.remove_at(self.v6.entry(k), drop, removed),
                None => self
                    .lists
                    .remove_at(self.v6_long.entry(key6(p)), drop, removed),
            },
        };
        if gone {
            self.per_len[len_slot(prefix)] -= 1;
        }
    }

    /// Every path, to change in place.
    pub fn for_each_path_mut(&mut self, mut f: impl FnMut(&mut Path)) {
        let lists = &mut self.lists;
        let v6 = self.v6.values_mut().chain(self.v6_long.values_mut());
        for paths in self.v4.values_mut().chain(v6) {
            lists.slice_mut(paths).iter_mut().for_each(&mut f);
        }
    }

    /// Removes, from every prefix, the paths `drop` selects into
    /// `removed`; the prefixes that lost one go to `touched`, and those
    /// left with none leave the map.
    pub fn remove_everywhere(
        &mut self,
        mut drop: impl FnMut(&Path) -> bool,
        removed: &mut Vec<Path>,
        touched: &mut Vec<Prefix>,
    ) {
        let PrefixMap {
            v4,
            v6,
            v6_long,
            lists,
            per_len,
        } = self;
        let mut keep = |prefix: Prefix, paths: &mut Paths| {
            let before = removed.len();
            let left = lists.remove_where(paths, &mut drop, removed);
            if removed.len() != before {
                touched.push(prefix);
            }
            if !left {
                per_len[len_slot(&prefix)] -= 1;
            }
            left
        };
        v4.retain(|k, v| keep(unkey4(*k), v));
        v6.retain(|k, v| keep(unkey6(unshort6(*k)), v));
        v6_long.retain(|k, v| keep(unkey6(*k), v));
    }

    /// Whether some prefix of `prefix`'s family has length `len`.
    pub fn has_length(&self, v4: bool, len: u8) -> bool {
        let slot = if v4 {
            usize::from(len)
        } else {
            33 + usize::from(len)
        };
        self.per_len.get(slot).is_some_and(|&n| n > 0)
    }

    pub fn iter(&self) -> impl Iterator<Item = (Prefix, &[Path])> {
        let v4 = self.v4.iter().map(|(k, v)| (unkey4(*k), v));
        let v6 = self.v6_keyed().map(|(k, v)| (unkey6(k), v));
        v4.chain(v6).map(|(p, v)| (p, self.lists.slice(v)))
    }

    /// Every IPv6 entry, by its [`Key6`].
    fn v6_keyed(&self) -> impl Iterator<Item = (Key6, &Paths)> {
        let short = self.v6.iter().map(|(k, v)| (unshort6(*k), v));
        short.chain(self.v6_long.iter().map(|(k, v)| (*k, v)))
    }

    /// The first `limit` prefixes after `after` in prefix order (IPv4
    /// first, then by address and length), compared as the keys are stored.
    pub fn page(&self, after: Option<&Prefix>, limit: usize) -> Page<Prefix> {
        self.page_where(after, limit, None)
    }

    /// [`Self::page`] of the prefixes `keep` accepts, found in the same
    /// single walk. Without `keep`, keys are compared as stored, never
    /// turned into prefixes.
    pub fn page_where(
        &self,
        after: Option<&Prefix>,
        limit: usize,
        mut keep: Option<&mut KeepPrefix<'_>>,
    ) -> Page<Prefix> {
        let lists = &self.lists;
        let mut page = match after {
            Some(IpNet::V6(_)) => Page {
                items: Vec::new(),
                more: false,
            },
            _ => {
                let keys = self
                    .v4
                    .iter()
                    .filter(|(k, v)| {
                        keep.as_mut()
                            .is_none_or(|f| f(&unkey4(**k), lists.slice(v)))
                    })
                    .map(|(k, _)| *k);
                let after = after.and_then(|a| match a {
                    IpNet::V4(p) => Some(key4(p)),
                    IpNet::V6(_) => None,
                });
                smallest_after(keys, after, limit).map(unkey4)
            }
        };
        if !page.more {
            let after = after.and_then(|a| match a {
                IpNet::V6(p) => Some(key6(p)),
                IpNet::V4(_) => None,
            });
            let keys = self
                .v6_keyed()
                .filter(|(k, v)| keep.as_mut().is_none_or(|f| f(&unkey6(*k), lists.slice(v))))
                .map(|(k, _)| k);
            let v6 = smallest_after(keys, after, limit - page.items.len());
            page.more = v6.more;
            page.items.extend(v6.items.into_iter().map(unkey6));
        }
        page
    }

    /// How many parts [`Self::part`] cuts the table into.
    pub fn parts(&self) -> usize {
        2 * SHARDS
    }

    /// Part `i` of the table (a shard): together the parts hold every
    /// prefix once, and a prefix never changes part, so a walk may stop
    /// between two parts and go on later without seeing one twice.
    pub fn part(&self, i: usize) -> impl Iterator<Item = (Prefix, &[Path])> {
        let v4 = self.v4.shards.get(i).into_iter().flat_map(FlatMap::iter);
        let j = i.checked_sub(SHARDS);
        let v6 = j.and_then(|j| self.v6.shards.get(j));
        let v6_long = j.and_then(|j| self.v6_long.shards.get(j));
        v4.map(|(k, v)| (unkey4(*k), v))
            .chain(
                v6.into_iter()
                    .flat_map(FlatMap::iter)
                    .map(|(k, v)| (unkey6(unshort6(*k)), v)),
            )
            .chain(
                v6_long
                    .into_iter()
                    .flat_map(FlatMap::iter)
                    .map(|(k, v)| (unkey6(*k), v)),
            )
            .map(|(p, v)| (p, self.lists.slice(v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::AttrId;
    use crate::table::PeerId;

    fn path(peer: u16) -> Path {
        Path {
            peer: PeerId(peer),
            attrs: AttrId(7),
            stale: false,
        }
    }

    #[test]
    fn shards_are_graded_over_one_doubling() {
        let owned = |i: usize| GRADES.iter().filter(|&&s| usize::from(s) == i).count();
        assert!(GRADES.is_sorted(), "each shard's slots in one run");
        assert_eq!((owned(0), owned(SHARDS - 1)), (11, 22));
        assert!((0..SHARDS).all(|i| owned(i) > 0));
    }

    #[test]
    fn a_table_of_a_million_ipv4_prefixes_fills_most_of_its_buckets() {
        // Equal shards doubled together just below 1M keys: 48% full.
        let mut m = PrefixMap::default();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..1_000_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let p = Ipv4Net::new_assert(Ipv4Addr::from((x >> 8) as u32 & !0xff), 24);
            m.upsert(IpNet::V4(p), path(1));
        }
        let buckets: usize = m.v4.shards.iter().map(FlatMap::slots).sum();
        let full = m.v4.len() as f64 / buckets as f64;
        assert!(full > 0.55, "{:.0}% of the buckets in use", full * 100.0);
    }

    #[test]
    fn ipv6_prefixes_past_a_56_keep_their_whole_address() {
        let mut m = PrefixMap::default();
        let all = [
            "2001:db8::/48",
            "2001:db8::/56",
            "2001:db8::/57",
            "2001:db8::/64",
            "2001:db8::1/128",
            "2001:db8:0:0:8000::/65",
            "::/0",
        ];
        for (i, p) in all.iter().enumerate() {
            assert!(m.upsert(p.parse().unwrap(), path(i as u16)).is_none());
        }
        assert_eq!((m.v6.len(), m.v6_long.len()), (3, 4));
        for (i, p) in all.iter().enumerate() {
            let paths = m.get(&p.parse().unwrap()).unwrap();
            assert_eq!(paths[0].peer, PeerId(i as u16), "{p}");
        }
        // One order across both kinds of key: network, then length.
        let page = m.page(None, 10);
        let got: Vec<String> = page.items.iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            [
                "::/0",
                "2001:db8::/48",
                "2001:db8::/56",
                "2001:db8::/57",
                "2001:db8::/64",
                "2001:db8::1/128",
                "2001:db8:0:0:8000::/65"
            ]
        );
        let mut removed = Vec::new();
        m.remove_where(&"2001:db8::/64".parse().unwrap(), |_| true, &mut removed);
        m.remove_where(&"2001:db8::/56".parse().unwrap(), |_| true, &mut removed);
        assert_eq!(removed.len(), 2);
        assert_eq!((m.v6.len(), m.v6_long.len()), (2, 3));
        let parts: usize = (0..m.parts()).map(|i| m.part(i).count()).sum();
        assert_eq!(parts, 5, "every prefix in one part");
    }

    #[test]
    fn keys_round_trip_and_families_stay_apart() {
        let mut m = PrefixMap::default();
        for p in [
            "0.0.0.0/0",
            "198.51.100.0/24",
            "255.255.255.255/32",
            "::/0",
            "2001:db8::/32",
            "2001:db8::/33",
        ] {
            assert!(m.upsert(p.parse().unwrap(), path(1)).is_none());
        }
        assert_eq!(m.len(), 6);
        let mut got: Vec<String> = m.iter().map(|(p, _)| p.to_string()).collect();
        got.sort();
        assert_eq!(
            got,
            [
                "0.0.0.0/0",
                "198.51.100.0/24",
                "2001:db8::/32",
                "2001:db8::/33",
                "255.255.255.255/32",
                "::/0"
            ]
        );
        assert!(m.get(&"198.51.100.0/25".parse().unwrap()).is_none());
        // Pages in prefix order, IPv4 first, across the families.
        let mut paged = Vec::new();
        let mut after = None;
        loop {
            let page = m.page(after.as_ref(), 4);
            paged.extend(page.items.iter().map(ToString::to_string));
            if !page.more {
                break;
            }
            after = page.items.last().copied();
        }
        let mut sorted: Vec<Prefix> = m.iter().map(|(p, _)| p).collect();
        sorted.sort();
        let sorted: Vec<String> = sorted.iter().map(ToString::to_string).collect();
        assert_eq!(paged, sorted);
        assert_eq!(
            paged[..3],
            ["0.0.0.0/0", "198.51.100.0/24", "255.255.255.255/32"]
        );
        let mut parts: Vec<String> = (0..m.parts())
            .flat_map(|i| m.part(i).map(|(p, _)| p.to_string()))
            .collect();
        parts.sort();
        assert_eq!(parts, got, "the parts hold every prefix once");
    }

    #[test]
    fn lengths_in_use_follow_inserts_and_removals() {
        let mut m = PrefixMap::default();
        let pfx = |s: &str| -> Prefix { s.parse().unwrap() };
        for p in ["198.51.100.0/24", "2001:db8::/32", "2001:db8::/33"] {
            m.upsert(pfx(p), path(1));
        }
        assert!(m.has_length(true, 24) && m.has_length(false, 33) && !m.has_length(true, 25));
        assert!(!m.has_length(false, 24), "the families are apart");
        let mut gone = Vec::new();
        m.remove_where(&pfx("2001:db8::/33"), |_| true, &mut gone);
        m.remove_where(&pfx("2001:db8::/33"), |_| true, &mut gone);
        assert_eq!(gone.len(), 1);
        assert!(!m.has_length(false, 33) && m.has_length(false, 32));
        m.upsert(pfx("2001:db8::/33"), path(1));
        m.upsert(pfx("2001:db8::/33"), path(2));
        let (mut removed, mut touched) = (Vec::new(), Vec::new());
        m.remove_everywhere(|_| true, &mut removed, &mut touched);
        assert_eq!((removed.len(), touched.len(), m.len()), (4, 3, 0));
        assert!(
            (0..=32).all(|l| !m.has_length(true, l)) && (0..=128).all(|l| !m.has_length(false, l)),
            "counted once each, and gone with the paths"
        );
    }

    #[test]
    fn one_and_many() {
        let mut m = PrefixMap::default();
        let p: Prefix = "198.51.100.0/24".parse().unwrap();
        let q: Prefix = "2001:db8::/32".parse().unwrap();
        assert!(m.upsert(p, path(1)).is_none());
        assert!(m.upsert(p, path(2)).is_none());
        assert!(m.upsert(p, path(3)).is_none());
        assert_eq!(m.get(&p).unwrap().len(), 3);
        // The same peer again replaces its path.
        let mut again = path(2);
        again.stale = true;
        assert_eq!(m.upsert(p, again), Some(path(2)));
        assert_eq!(m.get(&p).unwrap().len(), 3);
        let mut removed = Vec::new();
        m.remove_where(&p, |x| x.peer != PeerId(2), &mut removed);
        assert_eq!(m.get(&p), Some(&[again][..]));
        assert_eq!(removed.len(), 2);
        // Two paths are a pair, not a list.
        m.upsert(q, path(1));
        m.upsert(q, path(4));
        assert_eq!(m.lists.lists.len(), 1);
        assert_eq!(m.lists.pairs_live(), 1);
        assert_eq!(m.get(&q).unwrap().len(), 2);
        m.for_each_path_mut(|x| x.stale = true);
        assert!(m.iter().flat_map(|(_, v)| v).all(|x| x.stale));
        m.remove_where(&p, |_| true, &mut removed);
        assert!(m.get(&p).is_none());
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn compact() {
        assert_eq!(std::mem::size_of::<Path>(), 8);
        assert_eq!(std::mem::size_of::<Paths>(), 8);
        assert_eq!(std::mem::size_of::<(u64, Paths)>(), 16);
        assert_eq!(std::mem::size_of::<(Key6, Paths)>(), 32);
    }
}
