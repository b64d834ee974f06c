//! A prefix's ways out, independent of uplink state (docs/architecture.md, principle 3).
//!
//! [`crate::fib::learned`] resolves a prefix against the uplink states of
//! the moment. The data plane wants the part that does not depend on them,
//! so that a drain or a link failure rewrites next-hop groups (a handful)
//! instead of prefixes (a million): [`Ways`] holds every path's next hop in
//! decision order with every uplink active, and which pairs may share
//! traffic; [`Ways::resolve`] applies the uplink states and gives what
//! `fib::learned` gives for the same states. Prefixes with equal `Ways`
//! share one next-hop group.

use std::net::IpAddr;

use smallvec::SmallVec;

use crate::decision::{self, Candidate};
use crate::table::Rib;
use sluice_wire::Prefix;

/// One path's way out.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Way {
    pub next_hop: IpAddr,
    /// The uplink (config index) the path came from; None for internal ones.
    pub uplink: Option<usize>,
    /// Share of flows among equal-cost ways.
    pub weight: u32,
}

/// Paths beyond this many are dropped from the tail: they could only
/// matter once the first 32 ways are all unusable.
const MAX_WAYS: usize = 32;

/// Every way out of a prefix, best first, with the multipath relation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ways {
    ways: SmallVec<[Way; 2]>,
    /// Bit j of `shares[i]`: way j may share traffic with way i when i is the
    /// best usable one (`decision::multipath`); bit i is always set.
    shares: SmallVec<[u32; 2]>,
    ecmp: u8,
}

impl Ways {
    /// A prefix with one way out (a static route).
    pub fn single(way: Way) -> Ways {
        Ways {
            ways: SmallVec::from_elem(way, 1),
            shares: SmallVec::from_elem(1, 1),
            ecmp: 1,
        }
    }

    /// A static route ahead of the learned ways of its prefix: it forwards
    /// while usable, alone (it shares with none); while its uplink is not
    /// active the learned ways take over, so that moving its traffic is
    /// the same one group write as for learned routes.
    pub fn with_static(way: Way, learned: Option<Ways>) -> Ways {
        let Some(learned) = learned else {
            return Ways::single(way);
        };
        let mut ways = SmallVec::with_capacity(learned.ways.len() + 1);
        ways.push(way);
        ways.extend(learned.ways.into_iter().take(MAX_WAYS - 1));
        let mut shares = SmallVec::with_capacity(ways.len());
        shares.push(1);
        shares.extend(
            learned
                .shares
                .into_iter()
                .take(MAX_WAYS - 1)
                .map(|s| s << 1),
        );
        Ways {
            ways,
            shares,
            ecmp: learned.ecmp,
        }
    }

    /// The ways of `prefix` in `rib`; None when it has no path with a next
    /// hop. `weight` gives an uplink's configured weight.
    pub fn of(
        rib: &Rib,
        prefix: &Prefix,
        ecmp: usize,
        weight: impl Fn(usize) -> u32,
    ) -> Option<Ways> {
        let paths = rib.paths(prefix);
        let ecmp = ecmp.clamp(1, usize::from(u8::MAX)) as u8;
        // Most prefixes have one path: nothing to order or share.
        if let [p] = paths {
            let uplink = rib.peer(p.peer).uplink;
            let way = Way {
                next_hop: rib.attrs.get(p.attrs).next_hop?,
                uplink,
                weight: uplink.map_or(1, &weight),
            };
            return Some(Ways {
                ecmp,
                ..Ways::single(way)
            });
        }
        let mut order: SmallVec<[(Candidate<'_>, IpAddr); 4]> = paths
            .iter()
            .filter_map(|p| {
                let next_hop = rib.attrs.get(p.attrs).next_hop?;
                let candidate = Candidate {
                    peer: rib.peer(p.peer),
                    key: rib.attrs.key(p.attrs),
                    usable: true,
                };
                Some((candidate, next_hop))
            })
            .collect();
        if order.is_empty() {
            return None;
        }
        order.sort_by(|a, b| decision::compare(&a.0, &b.0).0);
        order.truncate(MAX_WAYS);
        let shares = order
            .iter()
            .enumerate()
            .map(|(i, (best, _))| {
                order
                    .iter()
                    .enumerate()
                    .fold(0u32, |bits, (j, (other, _))| {
                        if i == j || decision::multipath(best, other) {
                            bits | 1 << j
                        } else {
                            bits
                        }
                    })
            })
            .collect();
        let ways = order
            .iter()
            .map(|(c, next_hop)| Way {
                next_hop: *next_hop,
                uplink: c.peer.uplink,
                weight: c.peer.uplink.map_or(1, &weight),
            })
            .collect();
        Some(Ways { ways, shares, ecmp })
    }

    /// Every way, best first.
    pub fn all(&self) -> &[Way] {
        &self.ways
    }

    /// The ways that forward when `ok` says which ways are usable (their
    /// uplink active, say): the best usable way and those that may share
    /// with it, at most `ecmp`; with no usable way at all, the best one
    /// anyway (a drained uplink beats no way out; see [`Self::any_usable`]).
    pub fn resolve(&self, ok: impl Fn(&Way) -> bool) -> SmallVec<[&Way; 4]> {
        let Some(best) = self.ways.iter().position(&ok) else {
            return SmallVec::from_elem(&self.ways[0], 1);
        };
        let shares = self.shares[best];
        std::iter::once(&self.ways[best])
            .chain(
                self.ways
                    .iter()
                    .enumerate()
                    .filter(|&(j, w)| j != best && shares & (1 << j) != 0 && ok(w))
                    .map(|(_, w)| w),
            )
            .take(usize::from(self.ecmp))
            .collect()
    }

    /// Whether any way is usable; if none is, [`Self::resolve`] falls back
    /// to the best one.
    pub fn any_usable(&self, ok: impl Fn(&Way) -> bool) -> bool {
        self.ways.iter().any(ok)
    }

    /// The uplinks any way goes through.
    pub fn uplinks(&self) -> impl Iterator<Item = usize> + '_ {
        self.ways.iter().filter_map(|w| w.uplink)
    }
}
