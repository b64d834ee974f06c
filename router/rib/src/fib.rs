//! The route-to-FIB function (DESIGN.md, principle 1): from the RIB, the
//! config and the uplink states to what forwarding should do per prefix.
//! Pure, so the daemon and the validator's simulations share it.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;
use sluice_config::Config;
use sluice_wire::Prefix;

use crate::decision::PeerInfo;
use crate::table::{Rib, Selection};

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
            let uplink = peer.uplink.map(|u| &view.config.uplinks[u]);
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
    let mut fib: BTreeMap<Prefix, FibRoute> = rib
        .iter()
        .filter_map(|(p, _)| learned(rib, &p, view).map(|(r, _)| (p, r)))
        .collect();
    for a in &view.config.announce {
        fib.entry(a.value.0).or_insert(FibRoute::Discard);
    }
    for s in &view.config.static_routes {
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
    fib
}
