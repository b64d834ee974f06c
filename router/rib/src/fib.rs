//! The route-to-FIB function (DESIGN.md, principle 1): from the RIB, the
//! config and the uplink states to what forwarding should do per prefix.
//! Pure, so the daemon and the validator's simulations share it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use serde::Serialize;
use sluice_config::Config;
use sluice_wire::Prefix;

use crate::decision::PeerInfo;
use crate::table::{Rib, Selection};
use crate::ways::{Way, Ways};

/// One way out for a prefix.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct NextHop {
    pub address: IpAddr,
    /// The uplink it belongs to, by name (None for internal next hops).
    pub uplink: Option<String>,
    /// Share of flows, from the uplink's `weight`.
    pub weight: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum FibRoute {
    Forward {
        next_hops: Vec<NextHop>,
    },
    /// Traffic to an announced aggregate that no more-specific covers is dropped
    /// here rather than sent back out the default route.
    Discard,
    /// A subnet of one of the router's interfaces: delivered on the link.
    Connected,
}

/// Everything the forwarding decision needs besides the RIB.
#[derive(Debug)]
pub struct View<'a> {
    pub config: &'a Config,
    /// Whether uplink `i` (config order) is active.
    pub active: &'a [bool],
}

impl View<'_> {
    fn usable(&self, peer: &PeerInfo) -> bool {
        peer.uplink
            .is_none_or(|u| self.active.get(u).copied().unwrap_or(false))
    }

    fn ecmp(&self) -> usize {
        self.config.router.ecmp.value as usize
    }
}

/// The forwarding entry for a learned prefix, from its selection.
pub fn learned(rib: &Rib, prefix: &Prefix, view: &View<'_>) -> Option<(FibRoute, Selection)> {
    let sel = rib.select(prefix, |p| view.usable(p), view.ecmp())?;
    let next_hops = sel
        .multipath
        .iter()
        .filter_map(|path| {
            let peer = rib.peer(path.peer);
            let address = rib.attrs.get(path.attrs).next_hop?;
            let uplink = peer.uplink.and_then(|u| view.config.uplinks.get(u));
            Some(NextHop {
                address,
                uplink: uplink.map(|u| u.name.value.clone()),
                weight: uplink.map_or(1, |u| u.weight.value),
            })
        })
        .collect::<Vec<_>>();
    if next_hops.is_empty() {
        return None;
    }
    Some((FibRoute::Forward { next_hops }, sel))
}

/// The whole FIB: learned routes, static routes and discard routes for the
/// announced aggregates. Static routes beat learned ones for the same prefix.
pub fn full(rib: &Rib, view: &View<'_>) -> BTreeMap<Prefix, FibRoute> {
    let any_active = view.active.iter().any(|a| *a);
    let mut fib: BTreeMap<Prefix, FibRoute> = rib
        .iter()
        .filter_map(|(p, _)| {
            let (route, sel) = learned(rib, &p, view)?;
            // Principle 2: a prefix only non-active uplinks offer is left
            // out when an active path covers it, so its traffic follows that.
            if any_active && !view.usable(rib.peer(sel.best.peer)) && covered(rib, &p, view) {
                return None;
            }
            Some((p, route))
        })
        .collect();
    for a in &view.config.announce {
        fib.entry(a.value.0).or_insert(FibRoute::Discard);
    }
    for s in &view.config.static_routes {
        if connected(view.config).any(|c| c == s.prefix.value.0) {
            continue;
        }
        fib.insert(
            s.prefix.value.0,
            FibRoute::Forward {
                next_hops: vec![NextHop {
                    address: s.via.value,
                    uplink: None,
                    weight: 1,
                }],
            },
        );
    }
    for c in connected(view.config) {
        fib.insert(c, FibRoute::Connected);
    }
    fib
}

/// Whether a shorter prefix with a usable path (or a static or connected
/// route) covers `prefix`: the longest such match, skipping covering
/// prefixes that have no usable path themselves; an announce's discard
/// route stops the search. Written apart from [`Local::entry_under`]'s
/// twin on purpose: the proptest checks one against the other.
fn covered(rib: &Rib, prefix: &Prefix, view: &View<'_>) -> bool {
    for len in (0..prefix.prefix_len()).rev() {
        let Ok(q) = Prefix::new(prefix.addr(), len).map(|q| q.trunc()) else {
            continue;
        };
        if connected(view.config).any(|c| c == q)
            || view
                .config
                .static_routes
                .iter()
                .any(|s| s.prefix.value.0 == q)
        {
            return true;
        }
        if let Some(sel) = rib.select(&q, |p| view.usable(p), view.ecmp()) {
            if view.usable(rib.peer(sel.best.peer)) {
                return true;
            }
            continue;
        }
        if view.config.announce.iter().any(|a| a.value.0 == q) {
            return false;
        }
    }
    false
}

/// The subnets of the router's interfaces.
fn connected(config: &Config) -> impl Iterator<Item = Prefix> + '_ {
    config
        .interfaces
        .iter()
        .flat_map(|i| i.addresses.iter().map(|a| a.subnet()))
}

/// What the data plane installs for a prefix: independent of uplink states,
/// which it applies itself, per next-hop group, through [`Ways::resolve`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Entry {
    Forward(Ways),
    /// An announced aggregate that nothing more specific covers.
    Discard,
    /// A subnet of one of the router's interfaces (it beats everything).
    Connected,
}

/// The config's part of the FIB, indexed: static routes, announced
/// aggregates, ECMP width and uplink weights.
#[derive(Debug, Clone, Default)]
pub struct Local {
    connected: HashSet<Prefix>,
    statics: HashMap<Prefix, IpAddr>,
    announce: HashSet<Prefix>,
    ecmp: usize,
    weights: Vec<u32>,
}

impl Local {
    pub fn new(config: &Config) -> Local {
        Local {
            connected: connected(config).collect(),
            statics: config
                .static_routes
                .iter()
                .map(|s| (s.prefix.value.0, s.via.value))
                .collect(),
            announce: config.announce.iter().map(|a| a.value.0).collect(),
            ecmp: config.router.ecmp.value as usize,
            weights: config.uplinks.iter().map(|u| u.weight.value).collect(),
        }
    }

    /// The entry for `prefix`, the same choice as [`full`]: a connected
    /// subnet beats a static route, which beats learned routes, which beat
    /// an announce's discard route.
    pub fn entry(&self, rib: &Rib, prefix: &Prefix) -> Option<Entry> {
        if self.connected.contains(prefix) {
            return Some(Entry::Connected);
        }
        if let Some(via) = self.statics.get(prefix) {
            return Some(Entry::Forward(Ways::single(Way {
                next_hop: *via,
                uplink: None,
                weight: 1,
            })));
        }
        if let Some(ways) = Ways::of(rib, prefix, self.ecmp, |u| {
            self.weights.get(u).copied().unwrap_or(1)
        }) {
            return Some(Entry::Forward(ways));
        }
        self.announce.contains(prefix).then_some(Entry::Discard)
    }

    /// [`Self::entry`] under uplink states `active` (config order): `None`
    /// for a prefix that only non-active uplinks offer while an active path
    /// covers it (DESIGN.md, principle 2), so longest match falls through
    /// to that path. The same rule as [`full`].
    pub fn entry_under(&self, rib: &Rib, prefix: &Prefix, active: &[bool]) -> Option<Entry> {
        let entry = self.entry(rib, prefix)?;
        let ok = |w: &Way| {
            w.uplink
                .is_none_or(|u| active.get(u).copied().unwrap_or(false))
        };
        if let Entry::Forward(ways) = &entry
            && active.iter().any(|a| *a)
            && !ways.any_usable(ok)
            && self.covered(rib, prefix, ok)
        {
            return None;
        }
        Some(entry)
    }

    fn covered(&self, rib: &Rib, prefix: &Prefix, ok: impl Fn(&Way) -> bool) -> bool {
        for len in (0..prefix.prefix_len()).rev() {
            let Ok(q) = Prefix::new(prefix.addr(), len).map(|q| q.trunc()) else {
                continue;
            };
            if self.connected.contains(&q) || self.statics.contains_key(&q) {
                return true;
            }
            if !rib.paths(&q).is_empty() {
                match self.entry(rib, &q) {
                    Some(Entry::Forward(ways)) if ways.any_usable(&ok) => return true,
                    Some(Entry::Forward(_)) => continue,
                    _ => {}
                }
            }
            if self.announce.contains(&q) {
                return false;
            }
        }
        false
    }

    /// Whether learned prefixes resolve the same under `other` (ECMP width
    /// and uplink weights).
    pub fn same_paths(&self, other: &Local) -> bool {
        self.ecmp == other.ecmp && self.weights == other.weights
    }

    /// Whether `prefix` is a static route or an announced aggregate.
    pub fn has(&self, prefix: &Prefix) -> bool {
        self.statics.contains_key(prefix) || self.announce.contains(prefix)
    }

    /// Prefixes with an entry whatever the RIB holds.
    pub fn prefixes(&self) -> impl Iterator<Item = Prefix> + '_ {
        self.connected
            .iter()
            .chain(self.statics.keys())
            .chain(self.announce.iter())
            .copied()
    }
}

/// The forwarding route an entry gives under `view`'s uplink states.
pub fn resolve(entry: &Entry, view: &View<'_>) -> FibRoute {
    match entry {
        Entry::Discard => FibRoute::Discard,
        Entry::Connected => FibRoute::Connected,
        Entry::Forward(ways) => FibRoute::Forward {
            next_hops: ways
                .resolve(|w| {
                    w.uplink
                        .is_none_or(|u| view.active.get(u).copied().unwrap_or(false))
                })
                .into_iter()
                .map(|w| NextHop {
                    address: w.next_hop,
                    uplink: w.uplink.map(|u| view.config.uplinks[u].name.value.clone()),
                    weight: w.weight,
                })
                .collect(),
        },
    }
}

#[cfg(test)]
mod tests;
