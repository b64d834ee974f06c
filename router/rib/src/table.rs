//! The routing table: every path of every peer per prefix (the Adj-RIBs-In
//! after import policy), and best-path selection over them (the Loc-RIB).
//!
//! One map holds all paths; a path is a peer id and an interned attribute
//! id, so a route costs its prefix and eight bytes.

use sluice_wire::Prefix;
use smallvec::SmallVec;

use crate::attrs::{AttrId, Interner, PathAttrs};
use crate::decision::{self, Candidate, PeerInfo, Reason};
use crate::store::PrefixMap;

/// How far ahead of its use a prefix is prefetched ([`Rib::prefetch`]):
/// enough misses in flight to fill the memory pipeline, few enough that
/// the first is still in cache when its turn comes.
const PREFETCH_AHEAD: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u16);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Path {
    pub peer: PeerId,
    pub attrs: AttrId,
    /// Kept from before a graceful restart until the peer's End-of-RIB.
    pub stale: bool,
}

/// The outcome of best-path selection for one prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    pub best: Path,
    /// Equal-cost paths sharing traffic with `best` (best first), at most `ecmp`.
    pub multipath: Vec<Path>,
    /// Why `best` beat the runner-up.
    pub reason: Reason,
}

#[derive(Debug, Default)]
pub struct Rib {
    pub attrs: Interner,
    peers: Vec<Option<PeerInfo>>,
    table: PrefixMap,
    counts: Vec<u32>,
}

impl Rib {
    pub fn add_peer(&mut self, info: PeerInfo) -> PeerId {
        let id = match self.peers.iter().position(Option::is_none) {
            Some(i) => {
                self.peers[i] = Some(info);
                i
            }
            None => {
                self.peers.push(Some(info));
                self.counts.push(0);
                self.peers.len() - 1
            }
        };
        PeerId(id as u16)
    }

    /// Forgets a peer; its routes must have been removed first.
    pub fn remove_peer(&mut self, id: PeerId) {
        debug_assert_eq!(self.counts[usize::from(id.0)], 0);
        self.peers[usize::from(id.0)] = None;
    }

    /// A reload moved the peer's session to another uplink (or none).
    pub fn set_uplink(&mut self, id: PeerId, uplink: Option<usize>) {
        if let Some(Some(p)) = self.peers.get_mut(usize::from(id.0)) {
            p.uplink = uplink;
        }
    }

    /// Every live peer.
    pub fn peers(&self) -> impl Iterator<Item = (PeerId, &PeerInfo)> {
        self.peers
            .iter()
            .enumerate()
            .filter_map(|(i, p)| Some((PeerId(i as u16), p.as_ref()?)))
    }

    pub fn peer(&self, id: PeerId) -> &PeerInfo {
        self.peers[usize::from(id.0)]
            .as_ref()
            .expect("a live peer id")
    }

    /// Routes received from `peer` and kept.
    pub fn count(&self, peer: PeerId) -> u32 {
        self.counts[usize::from(peer.0)]
    }

    pub fn prefixes(&self) -> usize {
        self.table.len()
    }

    /// Installs or replaces `peer`'s path to `prefix` (an UPDATE implicitly
    /// withdraws the previous one). Takes over one reference of `attrs`.
    pub fn announce(&mut self, peer: PeerId, prefix: Prefix, attrs: AttrId) {
        let path = Path {
            peer,
            attrs,
            stale: false,
        };
        match self.table.upsert(prefix, path) {
            Some(previous) => self.attrs.release(previous.attrs),
            None => self.counts[usize::from(peer.0)] += 1,
        }
    }

    /// Interns `attrs` and announces.
    pub fn announce_attrs(&mut self, peer: PeerId, prefix: Prefix, attrs: PathAttrs) {
        let id = self.attrs.intern(attrs);
        self.announce(peer, prefix, id);
    }

    /// Removes `peer`'s path to `prefix`; false if it had none.
    pub fn withdraw(&mut self, peer: PeerId, prefix: &Prefix) -> bool {
        let mut gone = Vec::new();
        self.table
            .remove_where(prefix, |p| p.peer == peer, &mut gone);
        let Some(path) = gone.pop() else {
            return false;
        };
        self.attrs.release(path.attrs);
        self.counts[usize::from(peer.0)] -= 1;
        true
    }

    /// Removes every path of `peer` (session down) and returns the prefixes touched.
    pub fn flush_peer(&mut self, peer: PeerId) -> Vec<Prefix> {
        self.retain_peer(peer, |_| false)
    }

    /// Marks every path of `peer` stale (the peer restarts gracefully).
    pub fn mark_stale(&mut self, peer: PeerId) {
        self.table.for_each_path_mut(|p| {
            if p.peer == peer {
                p.stale = true;
            }
        });
    }

    /// Removes `peer`'s paths still stale (End-of-RIB or restart timer).
    pub fn sweep_stale(&mut self, peer: PeerId) -> Vec<Prefix> {
        self.retain_peer(peer, |p| !p.stale)
    }

    fn retain_peer(&mut self, peer: PeerId, keep: impl Fn(&Path) -> bool) -> Vec<Prefix> {
        let mut touched = Vec::new();
        let mut released = Vec::new();
        self.table
            .remove_everywhere(|p| p.peer == peer && !keep(p), &mut released, &mut touched);
        self.counts[usize::from(peer.0)] -= released.len() as u32;
        for p in released {
            self.attrs.release(p.attrs);
        }
        touched
    }

    /// Whether some prefix of that family (IPv4 if `v4`) has length `len`.
    pub fn has_length(&self, v4: bool, len: u8) -> bool {
        self.table.has_length(v4, len)
    }

    pub fn paths(&self, prefix: &Prefix) -> &[Path] {
        self.table.get(prefix).unwrap_or_default()
    }

    /// Has the CPU fetch where `prefix` is (or would go) in the table.
    #[inline]
    pub fn prefetch(&self, prefix: &Prefix) {
        self.table.prefetch(prefix);
    }

    /// For a caller at the `k`th of `prefixes`, about to look it up or
    /// change it: prefetches the one [`PREFETCH_AHEAD`] further on (at the
    /// first, the whole window before it too), so a full table's lookups
    /// wait for memory a window at a time, not one by one.
    #[inline]
    pub fn prefetch_ahead(&self, prefixes: &[Prefix], k: usize) {
        if k == 0 {
            prefixes
                .iter()
                .take(PREFETCH_AHEAD)
                .for_each(|p| self.prefetch(p));
        }
        if let Some(p) = prefixes.get(k + PREFETCH_AHEAD) {
            self.prefetch(p);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (Prefix, &[Path])> {
        self.table.iter()
    }

    /// The first `limit` prefixes after `after`, in prefix order.
    pub fn page(&self, after: Option<&Prefix>, limit: usize) -> crate::page::Page<Prefix> {
        self.table.page(after, limit)
    }

    /// [`Self::page`] of the prefixes with a path `keep` accepts.
    pub fn page_where(
        &self,
        after: Option<&Prefix>,
        limit: usize,
        mut keep: impl FnMut(&Prefix, &Path) -> bool,
    ) -> crate::page::Page<Prefix> {
        let mut any = |prefix: &Prefix, paths: &[Path]| paths.iter().any(|p| keep(prefix, p));
        self.table.page_where(after, limit, Some(&mut any))
    }

    /// How many parts [`Self::iter_part`] cuts the table into.
    pub fn parts(&self) -> usize {
        self.table.parts()
    }

    /// Part `i` of the table: a walk over it may stop between parts and go
    /// on later, seeing each prefix once (routes that changed meanwhile
    /// show as they are then).
    pub fn iter_part(&self, i: usize) -> impl Iterator<Item = (Prefix, &[Path])> {
        self.table.part(i)
    }

    /// Best path and multipath set for `prefix`. `usable` says whether a
    /// peer's uplink (if any) is active; `ecmp` caps the multipath set.
    pub fn select(
        &self,
        prefix: &Prefix,
        usable: impl Fn(&PeerInfo) -> bool,
        ecmp: usize,
    ) -> Option<Selection> {
        let paths = self.table.get(prefix)?;
        let cand = |p: &Path| {
            let peer = self.peer(p.peer);
            Candidate {
                peer,
                key: self.attrs.key(p.attrs),
                usable: usable(peer),
            }
        };
        let mut order: SmallVec<[(Path, Candidate<'_>); 4]> =
            paths.iter().map(|p| (*p, cand(p))).collect();
        order.sort_by(|a, b| decision::compare(&a.1, &b.1).0);
        let (best, best_c) = order[0];
        let reason = order
            .get(1)
            .map_or(Reason::Only, |(_, c)| decision::compare(&best_c, c).1);
        // With no usable path at all, the best unusable one still forwards:
        // a drained uplink is better than no way out.
        // The best path always forwards; others join it if they may share
        // (external and equal enough: iBGP paths forward alone).
        let multipath = if best_c.usable {
            std::iter::once(best)
                .chain(
                    order[1..]
                        .iter()
                        .filter(|(_, c)| decision::multipath(&best_c, c))
                        .map(|(p, _)| *p),
                )
                .take(ecmp.max(1))
                .collect()
        } else {
            vec![best]
        };
        Some(Selection {
            best,
            multipath,
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use sluice_wire::update::AS_SEQUENCE;

    fn peer(n: u8) -> PeerInfo {
        PeerInfo {
            name: format!("p{n}"),
            address: IpAddr::from([203, 0, 113, n]),
            asn: 65000 + u32::from(n),
            router_id: Ipv4Addr::new(10, 0, 0, n),
            ebgp: true,
            uplink: Some(usize::from(n)),
        }
    }

    fn attrs(first_as: u32, len: usize) -> PathAttrs {
        let mut as_path = vec![AS_SEQUENCE, len as u8];
        for _ in 0..len {
            as_path.extend(first_as.to_be_bytes());
        }
        PathAttrs {
            as_path,
            ..Default::default()
        }
    }

    fn pfx(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    #[test]
    fn implicit_withdraw_and_counts() {
        let mut rib = Rib::default();
        let a = rib.add_peer(peer(1));
        rib.announce_attrs(a, pfx("198.51.100.0/24"), attrs(65001, 1));
        rib.announce_attrs(a, pfx("198.51.100.0/24"), attrs(65001, 2));
        assert_eq!(rib.count(a), 1);
        assert_eq!(
            rib.attrs.len(),
            1,
            "the replaced attribute set was released"
        );
        assert!(rib.withdraw(a, &pfx("198.51.100.0/24")));
        assert!(!rib.withdraw(a, &pfx("198.51.100.0/24")));
        assert_eq!((rib.count(a), rib.prefixes(), rib.attrs.len()), (0, 0, 0));
    }

    #[test]
    fn prefetch_is_only_a_hint() {
        let mut rib = Rib::default();
        let asked = ["198.51.100.0/24", "2001:db8::/32", "2001:db8::1/128"].map(pfx);
        // Empty maps have no slots to fetch.
        asked.iter().for_each(|p| rib.prefetch(p));
        let a = rib.add_peer(peer(1));
        rib.announce_attrs(a, asked[0], attrs(65001, 1));
        (0..asked.len()).for_each(|k| rib.prefetch_ahead(&asked, k));
        assert_eq!(rib.paths(&asked[0]).len(), 1);
        assert!(rib.paths(&asked[1]).is_empty());
    }

    #[test]
    fn selection_prefers_usable_then_attributes_and_caps_ecmp() {
        let mut rib = Rib::default();
        let ids: Vec<PeerId> = (1..=3).map(|n| rib.add_peer(peer(n))).collect();
        let p = pfx("0.0.0.0/0");
        for (i, id) in ids.iter().enumerate() {
            rib.announce_attrs(*id, p, attrs(65001 + i as u32, 2));
        }
        let all = rib.select(&p, |_| true, 4).unwrap();
        assert_eq!(all.best.peer, ids[0]);
        assert_eq!(all.reason, Reason::RouterId);
        assert_eq!(all.multipath.len(), 3);
        assert_eq!(rib.select(&p, |_| true, 2).unwrap().multipath.len(), 2);

        let none_usable = rib.select(&p, |_| false, 4).unwrap();
        assert_eq!(
            (none_usable.best.peer, none_usable.multipath.len()),
            (ids[0], 1),
            "the best unusable path still forwards"
        );

        let without_first = rib.select(&p, |peer| peer.name != "p1", 4).unwrap();
        assert_eq!(without_first.best.peer, ids[1]);
        assert_eq!(
            without_first
                .multipath
                .iter()
                .map(|m| m.peer)
                .collect::<Vec<_>>(),
            [ids[1], ids[2]]
        );
    }

    #[test]
    fn flush_and_stale_sweep() {
        let mut rib = Rib::default();
        let (a, b) = (rib.add_peer(peer(1)), rib.add_peer(peer(2)));
        for i in 0..10u8 {
            let prefix = pfx(&format!("10.{i}.0.0/16"));
            rib.announce_attrs(a, prefix, attrs(65001, 1));
            rib.announce_attrs(b, prefix, attrs(65002, 1));
        }
        rib.mark_stale(a);
        rib.announce_attrs(a, pfx("10.0.0.0/16"), attrs(65001, 1));
        let swept = rib.sweep_stale(a);
        assert_eq!(swept.len(), 9);
        assert_eq!(rib.count(a), 1);
        let flushed = rib.flush_peer(b);
        assert_eq!(flushed.len(), 10);
        assert_eq!((rib.count(b), rib.prefixes()), (0, 1));
    }
}
