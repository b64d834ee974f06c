//! [`Local::entry`] resolved under any uplink states must equal what
//! [`full`] computes for those states: the data plane and the validator
//! then agree (DESIGN.md, principle 1).

use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;
use sluice_config::{Source, parse};
use sluice_wire::update::AS_SEQUENCE;

use super::*;
use crate::attrs::PathAttrs;
use crate::decision::PeerInfo;

fn config(ecmp: u32) -> Config {
    let mut yaml = format!("router: {{ id: 192.0.2.1, asn: 64500, ecmp: {ecmp} }}\ninterfaces:\n");
    for i in 1..=4 {
        yaml += &format!(
            "  - {{ name: eth{i}, addresses: [203.0.113.{}/30] }}\n",
            4 * i + 2
        );
    }
    yaml += "  - { name: eth9, addresses: [10.0.0.1/24] }\nuplinks:\n";
    for i in 1..=4 {
        yaml += &format!(
            "  - {{ name: iap-{i}, interface: eth{i}, weight: {i}, peer: {{ address: 203.0.113.{}, asn: {} }} }}\n",
            4 * i + 1,
            65000 + i
        );
    }
    yaml += "announce: [198.51.100.0/24]\nstatic_routes:\n  - { prefix: 172.16.0.0/12, via: 10.0.0.254 }\n";
    parse(&Source::new("t.yaml", &yaml)).unwrap()
}

/// (local_pref, AS-path length, origin, MED) of one path, or none.
type PathSpec = Option<(u32, u8, u8, u32)>;

fn rib_with(paths: &[PathSpec]) -> Rib {
    let mut rib = Rib::default();
    for (i, spec) in paths.iter().enumerate() {
        let n = i as u8 + 1;
        // Peers 1-4 are the uplinks, 5 an iBGP neighbour.
        let uplink = (n <= 4).then_some(i);
        let peer = rib.add_peer(PeerInfo {
            name: format!("p{n}"),
            address: IpAddr::from([203, 0, 113, 4 * n + 1]),
            asn: if uplink.is_some() {
                65000 + u32::from(n)
            } else {
                64500
            },
            router_id: Ipv4Addr::new(10, 9, 9, 10 - n),
            ebgp: uplink.is_some(),
            uplink,
        });
        let Some((lp, len, origin, med)) = *spec else {
            continue;
        };
        let mut as_path = vec![AS_SEQUENCE, len];
        for _ in 0..len {
            as_path.extend((65000 + u32::from(n)).to_be_bytes());
        }
        let attrs = PathAttrs {
            as_path,
            local_pref: Some(lp),
            med: Some(med),
            origin,
            next_hop: Some(IpAddr::from([203, 0, 113, 4 * n + 1])),
            ..Default::default()
        };
        for prefix in ["0.0.0.0/0", "198.51.100.0/24", "172.16.0.0/12"] {
            rib.announce_attrs(peer, prefix.parse().unwrap(), attrs.clone());
        }
        // More-specifics only some uplinks offer: covered by the default
        // (and one of them by a covering /8) when those are drained.
        if n <= 2 {
            rib.announce_attrs(peer, "20.1.0.0/16".parse().unwrap(), attrs.clone());
            rib.announce_attrs(peer, "30.1.0.0/16".parse().unwrap(), attrs.clone());
        }
        if n >= 3 {
            rib.announce_attrs(peer, "30.0.0.0/8".parse().unwrap(), attrs.clone());
        }
    }
    rib
}

fn path() -> impl Strategy<Value = PathSpec> {
    proptest::option::of((
        prop_oneof![Just(100u32), Just(200)],
        1u8..3,
        0u8..2,
        prop_oneof![Just(0u32), Just(5)],
    ))
}

proptest! {
    #[test]
    fn entries_resolve_like_the_fib_function(
        paths in proptest::collection::vec(path(), 5),
        active in proptest::collection::vec(any::<bool>(), 4),
        ecmp in 1u32..5,
    ) {
        let config = config(ecmp);
        let rib = rib_with(&paths);
        let view = View { config: &config, active: &active };
        let local = Local::new(&config);
        let full = full(&rib, &view);
        for prefix in ["0.0.0.0/0", "198.51.100.0/24", "172.16.0.0/12", "192.0.2.0/24", "10.0.0.0/24", "20.1.0.0/16", "30.1.0.0/16", "30.0.0.0/8"] {
            let prefix: Prefix = prefix.parse().unwrap();
            let entry = local.entry_under(&rib, &prefix, &active).map(|e| resolve(&e, &view));
            prop_assert_eq!(entry.as_ref(), full.get(&prefix), "{}", prefix);
        }
    }
}

#[test]
fn ibgp_routes_forward() {
    let config = config(4);
    let rib = rib_with(&[None, None, None, None, Some((100, 1, 0, 0))]);
    let view = View {
        config: &config,
        active: &[true; 4],
    };
    let (route, _) = learned(&rib, &"0.0.0.0/0".parse().unwrap(), &view).unwrap();
    assert_eq!(
        route,
        FibRoute::Forward {
            next_hops: vec![NextHop {
                address: IpAddr::from([203, 0, 113, 21]),
                uplink: None,
                weight: 1
            }]
        }
    );
}

#[test]
fn a_prefix_only_a_drained_uplink_offers_follows_the_covering_route() {
    let config = config(4);
    // iap-1 offers everything; iap-3 only the default (and a /8).
    let rib = rib_with(&[Some((200, 1, 0, 0)), None, Some((100, 1, 0, 0)), None, None]);
    let local = Local::new(&config);
    let specific: Prefix = "20.1.0.0/16".parse().unwrap();
    let all = [true; 4];
    assert!(local.entry_under(&rib, &specific, &all).is_some());
    let drained = [false, true, true, true];
    assert_eq!(local.entry_under(&rib, &specific, &drained), None);
    let view = View {
        config: &config,
        active: &drained,
    };
    assert!(!full(&rib, &view).contains_key(&specific));
    // With nothing active at all, the drained uplink still beats no way out.
    let none = [false; 4];
    assert!(local.entry_under(&rib, &specific, &none).is_some());
}
