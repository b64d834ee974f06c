//! The route model: what each uplink would offer, without a running
//! router, as a RIB the evaluator places like the daemon does.
//!
//! Destinations are equivalence classes, not a million prefixes: every
//! prefix the config names anywhere (static routes, announces, prefix-list
//! entries and the lengths around their bounds, probe targets, peer
//! addresses), each family's default route, and one representative
//! more-specific per family that stands for "the rest of the table".
//!
//! Each uplink offers, through its `import` and the daemon's own import
//! function (`Policies::import_prefix`, bogon filter included):
//! `full-table` every destination but the defaults, `default-only` the
//! defaults, a named policy what passes it, nothing without one (RFC
//! 8212); each only to a peer of the destination's family, never the
//! site's own space (loop detection drops it). Attributes are what the
//! session would give: the peer's AS, its address as next hop, the
//! uplink's `local_pref`.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use sluice_config::Config;
use sluice_config::prefix_list::PrefixListEntry;
use sluice_config::values::PolicyRef;
use sluice_rib::attrs::{IGP, PathAttrs};
use sluice_rib::policy::Policies;
use sluice_rib::{PeerInfo, Rib};
use sluice_wire::Prefix;

/// Candidates for the representative more-specific of each family: the
/// first that is neither special-purpose space nor overlaps anything the
/// config names.
const REPRESENTATIVES: &[&str] = &[
    "1.0.0.0/24",
    "5.5.5.0/24",
    "45.67.89.0/24",
    "91.198.174.0/24",
    "2a00:1450::/32",
    "2600:1f00::/32",
    "2c0f:f248::/32",
];

#[derive(Debug)]
pub struct Model {
    pub rib: Rib,
    /// The destination classes, sorted.
    pub destinations: Vec<Prefix>,
}

impl Model {
    /// The model of `config` alone.
    pub fn of_config(config: &Config) -> Model {
        Model::of_config_over(config, Model::destinations(config))
    }

    /// What `config`'s uplinks offer of `destinations` (those of another
    /// version of the config too, say, to compare the two).
    pub fn of_config_over(config: &Config, destinations: Vec<Prefix>) -> Model {
        let policies = Policies::new(config);
        let rib = offers(config, &policies, &destinations);
        Model { rib, destinations }
    }

    /// `config`'s destination classes.
    pub fn destinations(config: &Config) -> Vec<Prefix> {
        let policies = Policies::new(config);
        let mut destinations = named(config);
        destinations.extend(["0.0.0.0/0", "::/0"].map(|d| d.parse::<Prefix>().expect("literal")));
        for v4 in [true, false] {
            let rep = REPRESENTATIVES
                .iter()
                .map(|r| r.parse::<Prefix>().expect("literal"))
                .filter(|r| r.addr().is_ipv4() == v4 && !policies.is_bogon(r))
                .find(|r| {
                    !destinations
                        .iter()
                        .any(|d| d.prefix_len() > 0 && (d.contains(r) || r.contains(d)))
                });
            destinations.extend(rep);
        }
        destinations.sort();
        destinations.dedup();
        destinations
    }

    /// The model over routes a running daemon learned: `rib`'s prefixes
    /// and what the config names.
    pub fn with_rib(config: &Config, rib: Rib) -> Model {
        let mut destinations = named(config);
        destinations.extend(rib.iter().map(|(p, _)| p));
        destinations.extend(["0.0.0.0/0", "::/0"].map(|d| d.parse::<Prefix>().expect("literal")));
        destinations.sort();
        destinations.dedup();
        Model { rib, destinations }
    }
}

/// Every prefix the config names.
pub fn named(config: &Config) -> Vec<Prefix> {
    let host = |a: IpAddr| Prefix::from(a);
    let mut out: Vec<Prefix> = Vec::new();
    out.extend(config.static_routes.iter().map(|s| s.prefix.value.0));
    out.extend(config.announce.iter().map(|a| a.value.0));
    for u in &config.uplinks {
        out.extend(u.probes.iter().map(|p| host(p.target.value)));
        out.extend(u.peer.0.iter().map(|p| host(p.address.value)));
    }
    out.extend(config.neighbors.iter().map(|n| host(n.address.value)));
    for entries in config.policies.prefix_lists.values() {
        for e in entries
            .iter()
            .filter_map(|e| e.parse::<PrefixListEntry>().ok())
        {
            out.extend(bounds(&e));
        }
    }
    out
}

/// An entry's prefix at the lengths that decide whether it matches: its
/// own, its bounds, one past the longest, and one shorter than its own.
fn bounds(e: &PrefixListEntry) -> Vec<Prefix> {
    let len = e.prefix.prefix_len();
    let max = e.prefix.max_prefix_len();
    let mut lengths = vec![len, e.min_len, e.max_len];
    if e.max_len < max {
        lengths.push(e.max_len + 1);
    }
    if len > 0 {
        lengths.push(len - 1);
    }
    lengths.sort_unstable();
    lengths.dedup();
    lengths
        .into_iter()
        .filter_map(|l| IpNet::new(e.prefix.addr(), l).ok().map(|p| p.trunc()))
        .collect()
}

/// The RIB of what each uplink offers of `destinations`.
fn offers(config: &Config, policies: &Policies, destinations: &[Prefix]) -> Rib {
    let mut rib = Rib::default();
    let asn = config.router.asn.value;
    let own = |d: &Prefix| config.announce.iter().any(|a| a.value.0.contains(d));
    for (i, u) in config.uplinks.iter().enumerate() {
        let import = u.import.as_ref().map(|p| p.value.clone());
        for peer in &u.peer.0 {
            let address = peer.address.value;
            let ebgp = peer.asn.value != asn;
            let id = rib.add_peer(PeerInfo {
                name: u.name.value.clone(),
                address,
                asn: peer.asn.value,
                router_id: match address {
                    IpAddr::V4(v4) => v4,
                    IpAddr::V6(_) => Ipv4Addr::from(u32::try_from(i + 1).unwrap_or(0)),
                },
                ebgp,
                uplink: Some(i),
            });
            let mut base = PathAttrs {
                origin: IGP,
                next_hop: Some(address),
                local_pref: u.local_pref.as_ref().map(|l| l.value),
                ..Default::default()
            };
            // The path as the peer sends it: its own AS.
            base.prepend(peer.asn.value, 1);
            let shared = rib.attrs.intern(base.clone());
            for d in destinations {
                if d.addr().is_ipv4() != address.is_ipv4()
                    || own(d)
                    || (import == Some(PolicyRef::FullTable) && d.prefix_len() == 0)
                {
                    continue;
                }
                let mut a = base.clone();
                if !policies.import_prefix(import.as_ref(), ebgp, true, d, &mut a) {
                    continue;
                }
                if a == base {
                    rib.attrs.retain(shared);
                    rib.announce(id, *d, shared);
                } else {
                    rib.announce_attrs(id, *d, a);
                }
            }
            rib.attrs.release(shared);
        }
    }
    rib
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_config::{Source, parse};

    #[test]
    fn uplinks_offer_what_their_imports_pass() {
        let config = parse(&Source::new(
            "t.yaml",
            "router: { id: 192.0.2.1, asn: 64500 }
interfaces:
  - { name: eth1, addresses: [203.0.113.2/30, 2001:db8:1::2/64] }
  - { name: eth2, addresses: [203.0.113.6/30] }
uplinks:
  - { name: a, interface: eth1, peer: [{ address: 203.0.113.1, asn: 65001 }, { address: 2001:db8:1::1, asn: 65001 }], import: full-table }
  - { name: b, interface: eth2, peer: { address: 203.0.113.5, asn: 65002 }, import: default-only,
      probes: [{ target: 9.9.9.9 }] }
announce: [198.51.100.0/24]
static_routes: [{ prefix: 20.0.0.0/8, via: 203.0.113.1 }]
policies:
  prefix_lists: { pl: [\"30.0.0.0/8 le 16\"] }
",
        ))
        .unwrap();
        let m = Model::of_config(&config);
        let has = |p: &str| m.destinations.contains(&p.parse().unwrap());
        for p in [
            "20.0.0.0/8",
            "198.51.100.0/24",
            "9.9.9.9/32",
            "203.0.113.1/32",
            "30.0.0.0/8",
            "30.0.0.0/16",
            "30.0.0.0/17",
            "30.0.0.0/7",
            "0.0.0.0/0",
            "::/0",
            "1.0.0.0/24",
            "2a00:1450::/32",
        ] {
            assert!(has(p), "{p} missing from {:?}", m.destinations);
        }
        let offered = |p: &str| -> Vec<String> {
            m.rib
                .paths(&p.parse().unwrap())
                .iter()
                .map(|x| m.rib.peer(x.peer).name.clone())
                .collect()
        };
        assert_eq!(offered("0.0.0.0/0"), ["b"], "full-table: no default");
        assert_eq!(offered("1.0.0.0/24"), ["a"]);
        assert_eq!(offered("2a00:1450::/32"), ["a"], "the IPv6 session");
        assert!(offered("::/0").is_empty(), "b has no IPv6 peer");
        assert!(offered("198.51.100.0/24").is_empty(), "our own space");
        assert!(offered("203.0.113.1/32").is_empty(), "a bogon");
        assert_eq!(offered("20.0.0.0/8"), ["a"]);
    }
}
