//! The data plane and the validator agree (docs/architecture.md, principle 1): the
//! programmer, taken through the path `sluice drain` takes (every uplink
//! active, then new states, then the clean-up), forwards each address
//! exactly where the validator's evaluator says its traffic goes in that
//! state. Random learned routes in both families from three uplinks and
//! an iBGP neighbour, random static routes (bound by peer, by subnet, or
//! internal), random states. Entries are read back from the programmer:
//! IPv4 through the DIR-24-8 arrays, IPv6 by longest match over its
//! routes.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;
use sluice_config::{Source, parse};
use sluice_rib::fib::Local;
use sluice_rib::{PathAttrs, PeerInfo};
use sluice_whatif::{Evaluator, Fate};
use sluice_wire::update::AS_SEQUENCE;

use super::*;
use crate::fib::program::{GROUP_DISCARD, GROUP_LOCAL};

const CONFIG: &str = "\
router: { id: 192.0.2.1, asn: 64500, ecmp: 2 }
interfaces:
  - { name: eth1, addresses: [203.0.113.2/29, \"2001:db8:1::2/64\"] }
  - { name: eth2, addresses: [203.0.113.10/29, \"2001:db8:2::2/64\"] }
  - { name: eth3, addresses: [203.0.113.18/29, \"2001:db8:3::2/64\"] }
  - { name: lan, addresses: [10.0.0.1/24, \"2001:db8:ff::1/64\"] }
uplinks:
  - { name: a, interface: eth1, peer: [{ address: 203.0.113.1, asn: 65001 }, { address: \"2001:db8:1::1\", asn: 65001 }], import: full-table }
  - { name: b, interface: eth2, peer: [{ address: 203.0.113.9, asn: 65002 }, { address: \"2001:db8:2::1\", asn: 65002 }], import: full-table }
  - { name: c, interface: eth3, peer: [{ address: 203.0.113.17, asn: 65003 }, { address: \"2001:db8:3::1\", asn: 65003 }], import: full-table }
neighbors: [{ address: 10.0.0.2, asn: 64500 }]
announce: [198.51.100.0/24, \"2001:db8:100::/48\"]
";

/// Prefixes paths and statics are drawn from: nested, in both families.
const PREFIXES: &[&str] = &[
    "0.0.0.0/0",
    "20.0.0.0/8",
    "20.1.0.0/16",
    "20.1.2.0/24",
    "30.0.0.0/8",
    "198.51.100.0/24",
    "198.51.100.128/25",
    "::/0",
    "2001:db8:a000::/36",
    "2001:db8:a100::/40",
    "2001:db8:100::/48",
];

/// Next hops statics are drawn from: uplink peers, other addresses of
/// their subnets, the LAN.
const VIAS: &[&str] = &[
    "203.0.113.1",
    "203.0.113.12",
    "203.0.113.20",
    "10.0.0.254",
    "2001:db8:1::1",
    "2001:db8:2::99",
    "2001:db8:ff::254",
];

/// Peer `n`'s path: (local_pref, AS-path length); peers 0-2 are the
/// uplinks, 3 the iBGP neighbour.
type Spec = Vec<(usize, usize, u32, u8)>;

fn config(statics: &[(usize, usize)]) -> sluice_config::Config {
    let mut text = CONFIG.to_string();
    text += "static_routes: [";
    for &(p, v) in statics {
        let (prefix, via) = (PREFIXES[p], VIAS[v]);
        if prefix.contains(':') != via.contains(':') {
            continue;
        }
        text += &format!("{{ prefix: \"{prefix}\", via: \"{via}\" }}, ");
    }
    text += "]\n";
    parse(&Source::new("t.yaml", text)).unwrap()
}

fn rib(spec: &Spec) -> Rib {
    let mut rib = Rib::default();
    let peers: Vec<_> = (0..4usize)
        .map(|n| {
            let (v4, asn, uplink) = match n {
                3 => (IpAddr::from([10, 0, 0, 2]), 64500, None),
                _ => (
                    IpAddr::from([203, 0, 113, 8 * n as u8 + 1]),
                    65001 + n as u32,
                    Some(n),
                ),
            };
            let v6: IpAddr = format!("2001:db8:{:x}::1", if n == 3 { 0xff } else { n + 1 })
                .parse()
                .unwrap();
            let id = |address: IpAddr, rib: &mut Rib| {
                rib.add_peer(PeerInfo {
                    name: format!("p{n}"),
                    address,
                    asn,
                    router_id: Ipv4Addr::new(10, 9, 9, n as u8 + 1),
                    ebgp: uplink.is_some(),
                    uplink,
                })
            };
            (id(v4, &mut rib), id(v6, &mut rib), asn, v4, v6)
        })
        .collect();
    for &(peer, prefix, lp, len) in spec {
        let (id4, id6, asn, v4, v6) = peers[peer];
        let prefix: sluice_wire::Prefix = PREFIXES[prefix].parse().unwrap();
        let v6p = prefix.addr().is_ipv6();
        let mut as_path = vec![AS_SEQUENCE, len];
        for _ in 0..len {
            as_path.extend(asn.to_be_bytes());
        }
        let attrs = PathAttrs {
            as_path,
            local_pref: Some(lp),
            next_hop: Some(if v6p { v6 } else { v4 }),
            ..Default::default()
        };
        rib.announce_attrs(if v6p { id6 } else { id4 }, prefix, attrs);
    }
    rib
}

/// Where the programmer sends `addr`: the next hops of the longest match.
fn programmed(p: &Programmer, addr: IpAddr) -> Option<BTreeSet<String>> {
    let group = match addr {
        IpAddr::V4(a) => Some(p.fib4.lookup(u32::from(a))).filter(|g| *g != 0),
        IpAddr::V6(_) => p
            .routes()
            .filter(|(prefix, _)| prefix.contains(&addr))
            .max_by_key(|(prefix, _)| prefix.prefix_len())
            .map(|(_, g)| g),
    }?;
    Some(match group {
        GROUP_DISCARD => BTreeSet::from(["discard".to_string()]),
        GROUP_LOCAL => BTreeSet::from(["connected".to_string()]),
        g => {
            let (_, group) = p.groups().find(|(id, _)| *id == g)?;
            group
                .members
                .iter()
                .filter_map(|(h, _)| p.hop(*h).map(|h| h.addr.to_string()))
                .collect()
        }
    })
}

fn judged(fate: &Fate) -> Option<BTreeSet<String>> {
    match fate {
        Fate::Own(n) | Fate::Covered { next_hops: n, .. } => {
            Some(n.iter().map(|h| h.address.to_string()).collect())
        }
        Fate::Discarded => Some(BTreeSet::from(["discard".to_string()])),
        Fate::Connected => Some(BTreeSet::from(["connected".to_string()])),
        Fate::Unrouted => None,
    }
}

fn spec() -> impl Strategy<Value = Spec> {
    proptest::collection::vec(
        (
            0usize..4,
            0..PREFIXES.len(),
            prop_oneof![Just(100u32), Just(200)],
            1u8..3,
        ),
        0..14,
    )
}

proptest! {
    // Slow in a debug build: 48 cases by default, PROPTEST_CASES for more.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(48)
    ))]
    #[test]
    fn the_programmer_forwards_where_the_validator_says(
        spec in spec(),
        statics in proptest::collection::vec((0..PREFIXES.len(), 0..VIAS.len()), 0..4),
        states in proptest::collection::vec(proptest::collection::vec(any::<bool>(), 3), 1..4),
    ) {
        let config = config(&statics);
        let rib = rib(&spec);
        let local = Local::new(&config);
        let eval = Evaluator::cached(&config, &local, &rib);
        let mut placer = Placer::offline(&config, &rib, &[true; 3]);
        let prefixes: Vec<_> = rib.iter().map(|(p, _)| p).chain(placer.local.prefixes()).collect();
        // Every network and last address of every prefix, and a few others.
        let mut addrs: BTreeSet<IpAddr> = ["9.9.9.9", "20.1.2.77", "2001:db8:a1ff::1", "2001:db9::1"]
            .iter().map(|a| a.parse().unwrap()).collect();
        for p in PREFIXES.iter().map(|p| p.parse::<sluice_wire::Prefix>().unwrap()).chain(prefixes.iter().copied()) {
            addrs.insert(p.network());
            addrs.insert(p.broadcast());
        }
        for active in states {
            // The drain path: new states, then the clean-up.
            placer.set_active(&active);
            placer.clean_up(&rib);
            placer.program.take();
            for addr in &addrs {
                let fate = eval.fate(&sluice_wire::Prefix::from(*addr), &active);
                prop_assert_eq!(
                    programmed(&placer.program, *addr),
                    judged(&fate),
                    "{} under {:?}: the validator says {:?}", addr, active, fate
                );
            }
        }
    }
}
