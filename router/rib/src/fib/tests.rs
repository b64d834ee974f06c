//! [`Local::entry`] resolved under any uplink states must equal what
//! [`full`] computes for those states: the data plane and the validator
//! then agree (docs/architecture.md, principle 1).

use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;
use sluice_config::{Source, parse};
use sluice_wire::update::AS_SEQUENCE;

use super::*;
use crate::attrs::PathAttrs;
use crate::decision::PeerInfo;

/// Static routes the property test picks from: bound to an uplink by its
/// peer's address or by its interface's subnet, or internal.
const STATICS: &[(&str, &str)] = &[
    ("20.1.0.0/16", "203.0.113.9"), // iap-1's peer; learned from iap-1 and iap-2 too
    ("30.0.0.0/8", "203.0.113.19"), // iap-2's subnet; learned from iap-3 and iap-4 too
    ("40.0.0.0/8", "203.0.113.25"), // iap-3's peer; nothing learned
    ("40.1.0.0/16", "203.0.113.35"), // iap-4's subnet, inside the one above
    ("0.0.0.0/0", "203.0.113.17"),  // a default through iap-2
    ("172.16.0.0/12", "10.0.0.254"), // internal: follows no uplink
    ("198.51.100.0/24", "203.0.113.9"), // over an announced aggregate
];

fn config(ecmp: u32) -> Config {
    config_with(ecmp, &[5])
}

/// Uplink i (1-4) is on eth{i}, 203.0.113.{8i+2}/29, its peer at 8i+1.
fn config_with(ecmp: u32, statics: &[usize]) -> Config {
    let mut yaml = format!("router: {{ id: 192.0.2.1, asn: 64500, ecmp: {ecmp} }}\ninterfaces:\n");
    for i in 1..=4 {
        yaml += &format!(
            "  - {{ name: eth{i}, addresses: [203.0.113.{}/29] }}\n",
            8 * i + 2
        );
    }
    yaml += "  - { name: eth9, addresses: [10.0.0.1/24] }\nuplinks:\n";
    for i in 1..=4 {
        yaml += &format!(
            "  - {{ name: iap-{i}, interface: eth{i}, weight: {i}, peer: {{ address: 203.0.113.{}, asn: {} }} }}\n",
            8 * i + 1,
            65000 + i
        );
    }
    yaml += "announce: [198.51.100.0/24]\nstatic_routes: [";
    for &i in statics {
        let (prefix, via) = STATICS[i];
        yaml += &format!("{{ prefix: {prefix}, via: {via} }}, ");
    }
    yaml += "]\n";
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
            address: IpAddr::from([203, 0, 113, 8 * n + 1]),
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
            next_hop: Some(IpAddr::from([203, 0, 113, 8 * n + 1])),
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

/// Every prefix with an entry in some case, and one with none.
const PREFIXES: &[&str] = &[
    "0.0.0.0/0",
    "198.51.100.0/24",
    "172.16.0.0/12",
    "192.0.2.0/24",
    "10.0.0.0/24",
    "20.1.0.0/16",
    "30.1.0.0/16",
    "30.0.0.0/8",
    "40.0.0.0/8",
    "40.1.0.0/16",
    "40.1.2.0/24",
    "203.0.113.8/29",
    "203.0.113.16/29",
    "203.0.113.24/29",
    "203.0.113.32/29",
];

proptest! {
    #[test]
    fn entries_resolve_like_the_fib_function(
        paths in proptest::collection::vec(path(), 5),
        active in proptest::collection::vec(any::<bool>(), 4),
        ecmp in 1u32..5,
        statics in proptest::sample::subsequence((0..STATICS.len()).collect::<Vec<_>>(), 0..=STATICS.len()),
    ) {
        let config = config_with(ecmp, &statics);
        let rib = rib_with(&paths);
        let view = View { config: &config, active: &active };
        let local = Local::new(&config);
        let full = full(&rib, &view);
        for prefix in PREFIXES {
            let prefix: Prefix = prefix.parse().unwrap();
            let entry = local.entry_under(&rib, &prefix, &active).map(|e| resolve(&e, &view));
            prop_assert_eq!(entry.as_ref(), full.get(&prefix), "{}", prefix);
        }
        for key in full.keys() {
            prop_assert!(PREFIXES.contains(&key.to_string().as_str()), "{} unchecked", key);
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
                address: IpAddr::from([203, 0, 113, 41]),
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

/// The incident: a static route through the preferred access point's
/// gateway kept traffic on it while it was drained.
#[test]
fn a_static_route_follows_its_uplinks_state() {
    let config = config_with(4, &[0, 5]); // 20.1.0.0/16 via iap-1's peer; 172.16/12 internal
    let specific: Prefix = "20.1.0.0/16".parse().unwrap();
    let rib = rib_with(&[Some((200, 1, 0, 0)), None, Some((100, 1, 0, 0)), None, None]);
    let outcome = |active: &[bool]| {
        let view = View {
            config: &config,
            active,
        };
        (
            static_outcome(&rib, &view, 0),
            full(&rib, &view).get(&specific).cloned(),
        )
    };
    // Active: the static forwards, ahead of iap-1's own learned path.
    let (o, route) = outcome(&[true; 4]);
    assert_eq!(o, StaticOutcome::Forwards);
    assert_eq!(
        route,
        Some(FibRoute::Forward {
            next_hops: vec![NextHop {
                address: IpAddr::from([203, 0, 113, 9]),
                uplink: Some("iap-1".into()),
                weight: 1
            }]
        })
    );
    // iap-1 drained: iap-3's default covers it, so the static leaves the FIB.
    let drained = [false, true, true, true];
    let (o, route) = outcome(&drained);
    assert_eq!(
        o,
        StaticOutcome::FollowsCovering("0.0.0.0/0".parse().unwrap())
    );
    assert_eq!(route, None);
    let local = Local::new(&config);
    assert_eq!(local.placement(&rib, &specific, &drained), (None, true));
    // Nothing active covers it: it keeps forwarding (a drained uplink beats no way out).
    let (o, route) = outcome(&[false, true, false, true]);
    assert_eq!(o, StaticOutcome::Keeps);
    assert!(route.is_some());
    // The internal static is unaffected by any uplink state.
    let view = View {
        config: &config,
        active: &[false; 4],
    };
    assert_eq!(static_outcome(&rib, &view, 1), StaticOutcome::Forwards);

    // iap-2 offers the same prefix: with iap-1 drained, its path takes over.
    let rib = rib_with(&[Some((200, 1, 0, 0)), Some((100, 1, 0, 0)), None, None, None]);
    let view = View {
        config: &config,
        active: &drained,
    };
    assert_eq!(
        static_outcome(&rib, &view, 0),
        StaticOutcome::FollowsLearned
    );
    assert_eq!(
        full(&rib, &view).get(&specific),
        Some(&FibRoute::Forward {
            next_hops: vec![NextHop {
                address: IpAddr::from([203, 0, 113, 17]),
                uplink: Some("iap-2".into()),
                weight: 2
            }]
        })
    );
}
