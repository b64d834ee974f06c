//! The route-to-FIB function (docs/architecture.md, principle 1): from the RIB, the
//! config and the uplink states to what forwarding should do per prefix.
//! Pure, so the daemon and the validator's simulations share it.

use std::borrow::Cow;
use std::collections::BTreeMap;

use rustc_hash::{FxHashMap, FxHashSet};
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
        self.usable_via(peer.uplink)
    }

    /// Whether a way out through `uplink` (None: an internal next hop) is
    /// usable: internal ones always, an uplink's while it is active.
    fn usable_via(&self, uplink: Option<usize>) -> bool {
        uplink.is_none_or(|u| self.active.get(u).copied().unwrap_or(false))
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
/// announced aggregates, each prefix as [`route`] places it.
pub fn full(rib: &Rib, view: &View<'_>) -> BTreeMap<Prefix, FibRoute> {
    let mut prefixes: Vec<Prefix> = rib.iter().map(|(p, _)| p).collect();
    prefixes.extend(view.config.announce.iter().map(|a| a.value.0));
    prefixes.extend(view.config.static_routes.iter().map(|s| s.prefix.value.0));
    prefixes.extend(connected(view.config));
    prefixes
        .into_iter()
        .filter_map(|p| Some((p, route(rib, &p, view)?)))
        .collect()
}

/// The FIB entry of one prefix under `view`. A connected subnet beats a
/// static route, which beats learned routes while it is usable: unbound
/// (an internal next hop) or bound to an active uplink
/// ([`Config::uplink_of_next_hop`]). Principle 2: a prefix only
/// non-active uplinks offer is left out when a usable path (an active
/// uplink's, or an internal one such as a partner edge router's) covers
/// it, so its traffic follows that (an announced aggregate keeps its
/// discard route then).
pub fn route(rib: &Rib, prefix: &Prefix, view: &View<'_>) -> Option<FibRoute> {
    let config = view.config;
    if connected(config).any(|c| c == *prefix) {
        return Some(FibRoute::Connected);
    }
    let announced = config.announce.iter().any(|a| a.value.0 == *prefix);
    let yielded = || announced.then_some(FibRoute::Discard);
    // The last static route for a prefix wins.
    if let Some(i) = config
        .static_routes
        .iter()
        .rposition(|s| s.prefix.value.0 == *prefix)
    {
        return match static_outcome(rib, view, i) {
            StaticOutcome::Forwards | StaticOutcome::Keeps => Some(static_route(view, i)),
            StaticOutcome::FollowsLearned => learned(rib, prefix, view).map(|(r, _)| r),
            StaticOutcome::FollowsCovering(_) => yielded(),
        };
    }
    match learned(rib, prefix, view) {
        Some((_, sel))
            if !view.usable(rib.peer(sel.best.peer)) && covering(rib, prefix, view).is_some() =>
        {
            yielded()
        }
        Some((route, _)) => Some(route),
        None => yielded(),
    }
}

/// What static route `i` (config order) does under `view`'s uplink states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StaticOutcome {
    /// Unbound, or bound to an active uplink: it forwards.
    Forwards,
    /// Its uplink is not active; a usable path to the same prefix (an
    /// active uplink's, or an internal one) takes its traffic.
    FollowsLearned,
    /// Its uplink is not active; it leaves the FIB and its traffic follows
    /// this shorter prefix, which an active path serves.
    FollowsCovering(Prefix),
    /// Its uplink is not active and nothing usable covers it: it keeps
    /// forwarding through its uplink (a drained uplink beats no way out).
    Keeps,
}

/// Static route `i` under `view` (docs/architecture.md, principle 2): one bound to an
/// uplink that is not active yields to any active route covering its
/// prefix, at equal or shorter length.
pub fn static_outcome(rib: &Rib, view: &View<'_>, i: usize) -> StaticOutcome {
    let s = &view.config.static_routes[i];
    let prefix = s.prefix.value.0;
    if view.usable_via(view.config.uplink_of_next_hop(s.via.value)) {
        return StaticOutcome::Forwards;
    }
    if learned(rib, &prefix, view).is_some_and(|(_, sel)| view.usable(rib.peer(sel.best.peer))) {
        return StaticOutcome::FollowsLearned;
    }
    match covering(rib, &prefix, view) {
        Some(q) => StaticOutcome::FollowsCovering(q),
        None => StaticOutcome::Keeps,
    }
}

fn static_route(view: &View<'_>, i: usize) -> FibRoute {
    let s = &view.config.static_routes[i];
    FibRoute::Forward {
        next_hops: vec![NextHop {
            address: s.via.value,
            uplink: view
                .config
                .uplink_of_next_hop(s.via.value)
                .map(|u| view.config.uplinks[u].name.value.clone()),
            weight: 1,
        }],
    }
}

/// The longest shorter prefix with a usable path (or a connected subnet,
/// or a static route that forwards) that covers `prefix`, skipping
/// covering prefixes that have no usable path themselves; an announce's
/// discard route stops the search. Written apart from
/// [`Local::entry_under`]'s twin on purpose: the proptest checks one
/// against the other.
pub fn covering(rib: &Rib, prefix: &Prefix, view: &View<'_>) -> Option<Prefix> {
    for len in (0..prefix.prefix_len()).rev() {
        let Ok(q) = Prefix::new(prefix.addr(), len).map(|q| q.trunc()) else {
            continue;
        };
        if connected(view.config).any(|c| c == q) {
            return Some(q);
        }
        if view
            .config
            .static_routes
            .iter()
            .rfind(|s| s.prefix.value.0 == q)
            .is_some_and(|s| view.usable_via(view.config.uplink_of_next_hop(s.via.value)))
        {
            return Some(q);
        }
        if rib
            .select(&q, |p| view.usable(p), view.ecmp())
            .is_some_and(|sel| view.usable(rib.peer(sel.best.peer)))
        {
            return Some(q);
        }
        // Neither a static bound to a non-active uplink nor the announced
        // aggregate (its discard route, or its unusable routes) serves
        // what falls through to it.
        if view.config.announce.iter().any(|a| a.value.0 == q) {
            return None;
        }
    }
    None
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

/// The config's part of the FIB, indexed: static routes (each bound to
/// its uplink, if any), announced aggregates, ECMP width and uplink weights.
#[derive(Debug, Clone, Default)]
pub struct Local {
    connected: FxHashSet<Prefix>,
    statics: FxHashMap<Prefix, Way>,
    announce: FxHashSet<Prefix>,
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
                .map(|s| {
                    let way = Way {
                        next_hop: s.via.value,
                        uplink: config.uplink_of_next_hop(s.via.value),
                        weight: 1,
                    };
                    (s.prefix.value.0, way)
                })
                .collect(),
            announce: config.announce.iter().map(|a| a.value.0).collect(),
            ecmp: config.router.ecmp.value as usize,
            weights: config.uplinks.iter().map(|u| u.weight.value).collect(),
        }
    }

    /// The entry for `prefix`, the same choice as [`full`]: a connected
    /// subnet beats a static route, which goes ahead of learned routes
    /// (they take over while its uplink is not active), which beat an
    /// announce's discard route.
    pub fn entry(&self, rib: &Rib, prefix: &Prefix) -> Option<Entry> {
        if self.connected.contains(prefix) {
            return Some(Entry::Connected);
        }
        let learned = || {
            Ways::of(rib, prefix, self.ecmp, |u| {
                self.weights.get(u).copied().unwrap_or(1)
            })
        };
        if let Some(way) = self.statics.get(prefix) {
            return Some(Entry::Forward(Ways::with_static(way.clone(), learned())));
        }
        if let Some(ways) = learned() {
            return Some(Entry::Forward(ways));
        }
        self.announce.contains(prefix).then_some(Entry::Discard)
    }

    /// [`Self::entry`] under uplink states `active` (config order): `None`
    /// for a prefix that only non-active uplinks offer (a static route
    /// bound to one included) while an active path covers it (docs/architecture.md,
    /// principle 2), so longest match falls through to that path; an
    /// announced aggregate keeps its discard route then. The same rule as
    /// [`full`].
    pub fn entry_under(&self, rib: &Rib, prefix: &Prefix, active: &[bool]) -> Option<Entry> {
        self.placement(rib, prefix, active).0
    }

    /// [`Self::entry_under`], and whether the prefix's own ways yielded to
    /// a covering route: such an entry depends on uplink states beyond its
    /// own group, so it is re-evaluated whenever they change.
    pub fn placement(&self, rib: &Rib, prefix: &Prefix, active: &[bool]) -> (Option<Entry>, bool) {
        // `placement_in` over `Live`, without its `Cow`: a loading table
        // computes a million of these, and each layer moved the entry.
        let Some(entry) = self.entry(rib, prefix) else {
            return (None, false);
        };
        if self.yields(&Live { local: self, rib }, prefix, &entry, active) {
            return (self.discard(prefix), true);
        }
        (Some(entry), false)
    }

    /// [`Self::placement`], with the entries of `prefix` and the prefixes
    /// covering it from `entries` (a cache, say: entries do not depend on
    /// uplink states, so an evaluator of many states computes them once).
    pub fn placement_in<'e>(
        &self,
        entries: &'e impl Entries,
        prefix: &Prefix,
        active: &[bool],
    ) -> (Option<Cow<'e, Entry>>, bool) {
        let Some(entry) = entries.entry(prefix) else {
            return (None, false);
        };
        if self.yields(entries, prefix, &entry, active) {
            return (self.discard(prefix).map(Cow::Owned), true);
        }
        (Some(entry), false)
    }

    /// Whether `prefix`, whose entry is `entry`, yields to a covering
    /// route under uplink states `active`: none of its ways is usable and
    /// a usable route covers it.
    fn yields(
        &self,
        entries: &impl Entries,
        prefix: &Prefix,
        entry: &Entry,
        active: &[bool],
    ) -> bool {
        let ok = |w: &Way| {
            w.uplink
                .is_none_or(|u| active.get(u).copied().unwrap_or(false))
        };
        matches!(entry, Entry::Forward(ways) if !ways.any_usable(ok))
            && self.covered(entries, prefix, ok)
    }

    /// What a prefix that yields keeps: an announced aggregate its
    /// discard route.
    fn discard(&self, prefix: &Prefix) -> Option<Entry> {
        self.announce.contains(prefix).then_some(Entry::Discard)
    }

    fn covered(&self, entries: &impl Entries, prefix: &Prefix, ok: impl Fn(&Way) -> bool) -> bool {
        for len in (0..prefix.prefix_len()).rev() {
            let Ok(q) = Prefix::new(prefix.addr(), len).map(|q| q.trunc()) else {
                continue;
            };
            match entries.entry(&q).as_deref() {
                None => continue,
                Some(Entry::Connected) => return true,
                Some(Entry::Forward(ways)) if ways.any_usable(&ok) => return true,
                // An aggregate's discard route (or its unusable routes)
                // stops the search: what falls through to it is not served.
                Some(_) if self.announce.contains(&q) => return false,
                Some(_) => {}
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

/// Where [`Local::placement_in`] finds a prefix's entry.
pub trait Entries {
    fn entry(&self, prefix: &Prefix) -> Option<Cow<'_, Entry>>;
}

/// Entries computed from the RIB as they are asked for (what the data
/// plane does: it places a few prefixes at a time).
#[derive(Debug)]
pub struct Live<'a> {
    pub local: &'a Local,
    pub rib: &'a Rib,
}

impl Entries for Live<'_> {
    fn entry(&self, prefix: &Prefix) -> Option<Cow<'_, Entry>> {
        self.local.entry(self.rib, prefix).map(Cow::Owned)
    }
}

/// Entries computed once.
impl Entries for FxHashMap<Prefix, Entry> {
    fn entry(&self, prefix: &Prefix) -> Option<Cow<'_, Entry>> {
        self.get(prefix).map(Cow::Borrowed)
    }
}

/// The forwarding route an entry gives under `view`'s uplink states.
pub fn resolve(entry: &Entry, view: &View<'_>) -> FibRoute {
    match entry {
        Entry::Discard => FibRoute::Discard,
        Entry::Connected => FibRoute::Connected,
        Entry::Forward(ways) => FibRoute::Forward {
            next_hops: ways
                .resolve(|w| view.usable_via(w.uplink))
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
