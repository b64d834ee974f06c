//! Where the paths of every prefix live, laid out for a full table.
//!
//! IPv4 prefixes are keyed by one `u64` (address and length) and IPv6 ones
//! by `(u128, u8)`, in separate maps; the common case of a single path is
//! stored inline, more paths go to the heap. An IPv4 route costs about 25
//! bytes of table (key, value, control byte) before the map's spare room.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use rustc_hash::FxHashMap;
use sluice_wire::Prefix;

use crate::page::{Page, smallest_after};
use crate::table::Path;

/// The paths of one prefix: never empty.
#[derive(Clone, Debug)]
pub enum Paths {
    One(Path),
    Many(Box<Vec<Path>>),
}

impl Paths {
    pub fn as_slice(&self) -> &[Path] {
        match self {
            Paths::One(p) => std::slice::from_ref(p),
            Paths::Many(v) => v,
        }
    }

    pub fn as_mut_slice(&mut self) -> &mut [Path] {
        match self {
            Paths::One(p) => std::slice::from_mut(p),
            Paths::Many(v) => v,
        }
    }

    pub fn push(&mut self, path: Path) {
        match self {
            Paths::One(first) => *self = Paths::Many(Box::new(vec![*first, path])),
            Paths::Many(v) => v.push(path),
        }
    }

    /// Removes the paths `drop` selects and returns them; `None` left means
    /// the prefix has no path any more.
    pub fn remove_where(
        &mut self,
        mut drop: impl FnMut(&Path) -> bool,
        removed: &mut Vec<Path>,
    ) -> Option<()> {
        match self {
            Paths::One(p) if drop(p) => {
                removed.push(*p);
                None
            }
            Paths::One(_) => Some(()),
            Paths::Many(v) => {
                v.retain(|p| {
                    let d = drop(p);
                    if d {
                        removed.push(*p);
                    }
                    !d
                });
                match v.len() {
                    0 => None,
                    1 => {
                        *self = Paths::One(v[0]);
                        Some(())
                    }
                    _ => Some(()),
                }
            }
        }
    }
}

fn key4(p: &Ipv4Net) -> u64 {
    (u64::from(u32::from(p.network())) << 8) | u64::from(p.prefix_len())
}

fn unkey4(k: u64) -> Prefix {
    IpNet::V4(Ipv4Net::new_assert(
        Ipv4Addr::from((k >> 8) as u32),
        (k & 0xff) as u8,
    ))
}

fn key6(p: &Ipv6Net) -> (u128, u8) {
    (u128::from(p.network()), p.prefix_len())
}

fn unkey6((a, l): (u128, u8)) -> Prefix {
    IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::from(a), l))
}

/// Shards of a map that grows to a full table: a hash map doubles all at
/// once, holding old and new tables together, which at a million IPv4
/// prefixes was a 34 MB spike on top of the RIB (a quarter of the peak).
/// Shards double one at a time, each a 64th of the table.
#[derive(Debug)]
struct Sharded<K, V> {
    shards: Box<[FxHashMap<K, V>]>,
}

const SHARDS: usize = 64;

/// The shard of a key: the top bits of a multiplicative hash with another
/// constant than the maps' own Fx hash, so that keys of one shard still
/// spread over its buckets and control bytes.
trait ShardKey {
    fn shard(&self) -> usize;
}

impl ShardKey for u64 {
    fn shard(&self) -> usize {
        (self.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize
    }
}

impl ShardKey for (u128, u8) {
    fn shard(&self) -> usize {
        let folded = (self.0 as u64) ^ ((self.0 >> 64) as u64) ^ u64::from(self.1);
        folded.shard()
    }
}

impl<K, V> Default for Sharded<K, V> {
    fn default() -> Self {
        Sharded {
            shards: (0..SHARDS).map(|_| FxHashMap::default()).collect(),
        }
    }
}

impl<K: ShardKey + Eq + std::hash::Hash, V> Sharded<K, V> {
    fn len(&self) -> usize {
        self.shards.iter().map(FxHashMap::len).sum()
    }

    fn get(&self, k: &K) -> Option<&V> {
        self.shards[k.shard()].get(k)
    }

    fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.shards[k.shard()].get_mut(k)
    }

    /// True if `k` is new.
    fn insert(&mut self, k: K, v: V) -> bool {
        self.shards[k.shard()].insert(k, v).is_none()
    }

    /// True if `k` was there.
    fn remove(&mut self, k: &K) -> bool {
        self.shards[k.shard()].remove(k).is_some()
    }

    fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.shards.iter().flatten()
    }

    fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.shards.iter_mut().flat_map(FxHashMap::values_mut)
    }

    fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        for shard in self.shards.iter_mut() {
            shard.retain(&mut keep);
        }
    }
}

/// Which prefixes a page holds ([`PrefixMap::page_where`]).
pub type KeepPrefix<'a> = dyn FnMut(&Prefix, &Paths) -> bool + 'a;

/// Prefix → paths, for both families.
#[derive(Debug)]
pub struct PrefixMap {
    v4: Sharded<u64, Paths>,
    v6: Sharded<(u128, u8), Paths>,
    /// Prefixes per length, IPv4 then IPv6: who enumerates the
    /// more-specifics of a prefix probes only the lengths in use.
    per_len: [u32; 33 + 129],
}

impl Default for PrefixMap {
    fn default() -> Self {
        PrefixMap {
            v4: Sharded::default(),
            v6: Sharded::default(),
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
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, prefix: &Prefix) -> Option<&Paths> {
        match prefix {
            IpNet::V4(p) => self.v4.get(&key4(p)),
            IpNet::V6(p) => self.v6.get(&key6(p)),
        }
    }

    pub fn get_mut(&mut self, prefix: &Prefix) -> Option<&mut Paths> {
        match prefix {
            IpNet::V4(p) => self.v4.get_mut(&key4(p)),
            IpNet::V6(p) => self.v6.get_mut(&key6(p)),
        }
    }

    pub fn insert(&mut self, prefix: Prefix, paths: Paths) {
        let new = match prefix {
            IpNet::V4(p) => self.v4.insert(key4(&p), paths),
            IpNet::V6(p) => self.v6.insert(key6(&p), paths),
        };
        if new {
            self.per_len[len_slot(&prefix)] += 1;
        }
    }

    pub fn remove(&mut self, prefix: &Prefix) {
        let was = match prefix {
            IpNet::V4(p) => self.v4.remove(&key4(p)),
            IpNet::V6(p) => self.v6.remove(&key6(p)),
        };
        if was {
            self.per_len[len_slot(prefix)] -= 1;
        }
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

    pub fn iter(&self) -> impl Iterator<Item = (Prefix, &Paths)> {
        self.v4
            .iter()
            .map(|(k, v)| (unkey4(*k), v))
            .chain(self.v6.iter().map(|(k, v)| (unkey6(*k), v)))
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Paths> {
        self.v4.values_mut().chain(self.v6.values_mut())
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
        let mut page = match after {
            Some(IpNet::V6(_)) => Page {
                items: Vec::new(),
                more: false,
            },
            _ => {
                let keys = self
                    .v4
                    .iter()
                    .filter(|(k, v)| keep.as_mut().is_none_or(|f| f(&unkey4(**k), v)))
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
                .v6
                .iter()
                .filter(|(k, v)| keep.as_mut().is_none_or(|f| f(&unkey6(**k), v)))
                .map(|(k, _)| *k);
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
    pub fn part(&self, i: usize) -> impl Iterator<Item = (Prefix, &Paths)> {
        let v4 = self.v4.shards.get(i).into_iter().flatten();
        let v6 = i.checked_sub(SHARDS).and_then(|j| self.v6.shards.get(j));
        v4.map(|(k, v)| (unkey4(*k), v))
            .chain(v6.into_iter().flatten().map(|(k, v)| (unkey6(*k), v)))
    }

    /// Keeps the prefixes for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(Prefix, &mut Paths) -> bool) {
        let per_len = &mut self.per_len;
        let mut keep_counted = |p: Prefix, v: &mut Paths| {
            let kept = keep(p, v);
            if !kept {
                per_len[len_slot(&p)] -= 1;
            }
            kept
        };
        self.v4.retain(|k, v| keep_counted(unkey4(*k), v));
        self.v6.retain(|k, v| keep_counted(unkey6(*k), v));
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
            m.insert(p.parse().unwrap(), Paths::One(path(1)));
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
        for p in ["198.51.100.0/24", "2001:db8::/32", "2001:db8::/33"] {
            m.insert(p.parse().unwrap(), Paths::One(path(1)));
        }
        assert!(m.has_length(true, 24) && m.has_length(false, 33) && !m.has_length(true, 25));
        assert!(!m.has_length(false, 24), "the families are apart");
        m.remove(&"2001:db8::/33".parse().unwrap());
        m.remove(&"2001:db8::/33".parse().unwrap());
        assert!(!m.has_length(false, 33) && m.has_length(false, 32));
        m.insert("2001:db8::/33".parse().unwrap(), Paths::One(path(1)));
        m.insert("2001:db8::/33".parse().unwrap(), Paths::One(path(2)));
        m.retain(|p, _| p.prefix_len() != 33);
        assert!(
            !m.has_length(false, 33),
            "counted once, and gone with retain"
        );
        assert!(m.has_length(false, 32));
    }

    #[test]
    fn one_and_many() {
        let mut p = Paths::One(path(1));
        p.push(path(2));
        p.push(path(3));
        assert_eq!(p.as_slice().len(), 3);
        let mut removed = Vec::new();
        assert!(
            p.remove_where(|x| x.peer != PeerId(2), &mut removed)
                .is_some()
        );
        assert!(matches!(p, Paths::One(x) if x.peer == PeerId(2)));
        assert_eq!(removed.len(), 2);
        assert!(p.remove_where(|_| true, &mut removed).is_none());
    }

    #[test]
    fn compact() {
        assert!(std::mem::size_of::<Paths>() <= 16);
        assert_eq!(std::mem::size_of::<Path>(), 8);
    }
}
