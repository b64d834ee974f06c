//! The route-policy language against a BIRD upstream: AS-path regular
//! expressions, origin AS, AS-path length, community patterns of each
//! kind, next hop, any/all, `next` terms, community deletion and
//! extended communities set, each seen in what Sluice learned, and the
//! same policy written in BIRD's filter language, run by a second BIRD on
//! the same routes, deciding the same.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use sluice_e2e::peers::{Announce, Kind, NeighborSpec, Peer, PeerSpec};
use sluice_e2e::sluice::Sluice;
use sluice_testns::{Lab, must_be_root, wait_until};

const UP: Duration = Duration::from_secs(20);

const CONFIG: &str = "\
router: { id: 192.0.2.1, asn: 64500 }
interfaces:
  - { name: eth1, addresses: [203.0.113.2/30] }
uplinks:
  - name: iap-a
    interface: eth1
    peer: { address: 203.0.113.1, asn: 65001 }
    import: from-transit
    max_prefix: 100
policies:
  bogons: []
  route_policies:
    from-transit:
      # Nobody but us sets our communities.
      - { set: { delete_communities: [\"64500:*\"], delete_large_communities: [\"64500:*:*\"] }, action: next }
      - { match: { as_path: \"_64666_\" }, action: reject }
      - { match: { origin_as: [65010] }, action: accept, set: { local_pref: 110 } }
      - { match: { as_path_length: \"4-\" }, action: accept, set: { local_pref: 60 } }
      - match: { any: [{ large_communities: [\"65001:9:*\"] }, { extended_communities: [\"target:65001:10\"] }] }
        action: accept
        set: { local_pref: 130, extended_communities: [\"origin:64500:1\"] }
      - { match: { all: [{ next_hop: [203.0.113.0/29] }, { communities: [\"*:100\"] }] }, action: accept, set: { local_pref: 140 } }
      - { action: reject }
dataplane: { xdp: off, kernel_fib: off }
maintenance: { min_active_uplinks: 0 }
validate:
  waive:
    - { rule: SINGLE-POINT-OF-FAILURE, uplink: iap-a, reason: \"one access point in this test\" }
    - { rule: UPLINK-NO-PROBE, uplink: iap-a, reason: \"nothing to probe\" }
";

/// CONFIG's policy in BIRD's filter language.
const BIRD_FILTER: &str = "\
bgp_community.delete([(64500, *)]);
bgp_large_community.delete([(64500, *, *)]);
if bgp_path ~ [= * 64666 * =] then reject;
if bgp_path.last = 65010 then { bgp_local_pref = 110; accept; }
if bgp_path.len >= 4 then { bgp_local_pref = 60; accept; }
if bgp_large_community ~ [(65001, 9, *)] || (rt, 65001, 10) ~ bgp_ext_community then {
  bgp_local_pref = 130; bgp_ext_community.add((ro, 64500, 1)); accept;
}
if bgp_next_hop ~ 203.0.113.0/29 && bgp_community ~ [(*, 100)] then { bgp_local_pref = 140; accept; }
reject;
";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// (local-pref, communities of both kinds, extended ones), sorted.
type Outcome = (Option<u64>, Vec<String>, Vec<String>);

#[test]
#[ignore = "needs root: network namespaces"]
fn each_match_and_set_takes_effect_on_real_routes() {
    must_be_root();
    let lab = Lab::new("policy-lang");
    let (r, up, reference) = (lab.node("r"), lab.node("up"), lab.node("ref"));
    lab.link(&r, "eth1", &up, "eth1");
    lab.link(&reference, "eth1", &up, "eth2");
    r.addr("eth1", "203.0.113.2/30");
    up.addr("eth1", "203.0.113.1/30");
    up.addr("eth2", "203.0.113.5/30");
    reference.addr("eth1", "203.0.113.6/30");
    let reference = Peer::start(
        &reference,
        PeerSpec::new(Kind::Bird, 64500, "203.0.113.6".parse().unwrap())
            .neighbor(NeighborSpec::new(ip("203.0.113.5"), 65001).import_filter(BIRD_FILTER)),
    );
    let _bird = Peer::start(
        &up,
        PeerSpec::new(Kind::Bird, 65001, "203.0.113.1".parse().unwrap())
            .neighbor(NeighborSpec::new(ip("203.0.113.2"), 64500))
            .neighbor(NeighborSpec::new(ip("203.0.113.6"), 64500))
            .announce(Announce::new("20.1.0.0/24").as_path(&[64666, 65010]))
            .announce(
                Announce::new("20.2.0.0/24")
                    .as_path(&[65010])
                    .community("64500:1")
                    .community("65001:5")
                    .community("64500:2:3"),
            )
            .announce(Announce::new("20.3.0.0/24").as_path(&[1, 2, 3]))
            .announce(Announce::new("20.4.0.0/24").community("65001:9:7"))
            .announce(Announce::new("20.5.0.0/24").ext_community("target:65001:10"))
            .announce(Announce::new("20.6.0.0/24").community("65001:100"))
            .announce(Announce::new("20.7.0.0/24").community("65001:101")),
    );
    let sluice = Sluice::start(&r, CONFIG);
    sluice.wait_established("203.0.113.1", UP);
    let lp = |prefix: &str| {
        sluice
            .best(prefix)
            .map(|p| p["local_pref"].as_u64().unwrap())
    };
    wait_until(UP, "the accepted routes", || lp("20.6.0.0/24").is_some());
    // Give the rejected ones as long to arrive as the accepted did.
    std::thread::sleep(Duration::from_secs(1));

    assert_eq!(
        lp("20.1.0.0/24"),
        None,
        "as_path _64666_ rejects before origin_as accepts"
    );
    let p2 = sluice.best("20.2.0.0/24").expect("origin 65010");
    assert_eq!(p2["local_pref"], 110, "{p2}");
    assert_eq!(
        p2["communities"],
        serde_json::json!(["65001:5"]),
        "ours deleted: {p2}"
    );
    assert_eq!(
        p2["large_communities"],
        serde_json::json!([]),
        "ours deleted: {p2}"
    );
    assert_eq!(lp("20.3.0.0/24"), Some(60), "65001 1 2 3 is 4 long");
    let p4 = sluice
        .best("20.4.0.0/24")
        .expect("a large community pattern");
    assert_eq!(p4["local_pref"], 130);
    assert_eq!(
        p4["extended_communities"],
        serde_json::json!(["origin:64500:1"]),
        "{p4}"
    );
    let p5 = sluice.best("20.5.0.0/24").expect("a route target");
    assert_eq!(p5["local_pref"], 130);
    assert_eq!(
        p5["extended_communities"],
        serde_json::json!(["target:65001:10", "origin:64500:1"]),
        "{p5}"
    );
    assert_eq!(lp("20.6.0.0/24"), Some(140), "next hop and *:100 both hold");
    assert_eq!(
        lp("20.7.0.0/24"),
        None,
        "*:100 does not hold: the last term rejects"
    );

    // BIRD's filter on the same routes decides the same, route by route.
    reference.wait_established(ip("203.0.113.5"), UP);
    wait_until(UP, "the reference BIRD's routes", || {
        reference
            .received_routes(None)
            .iter()
            .any(|r| r.prefix == "20.6.0.0/24")
    });
    let theirs: BTreeMap<String, Outcome> = reference
        .received_routes(None)
        .into_iter()
        .map(|r| {
            let (mut c, mut e) = (r.communities, r.ext_communities);
            c.sort();
            e.sort();
            (r.prefix, (r.local_pref.map(u64::from), c, e))
        })
        .collect();
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    let ours: BTreeMap<String, Outcome> = (1..=7)
        .filter_map(|i| {
            let prefix = format!("20.{i}.0.0/24");
            let p = sluice.best(&prefix)?;
            let mut c = strings(&p["communities"]);
            c.extend(strings(&p["large_communities"]));
            c.sort();
            let mut e = strings(&p["extended_communities"]);
            e.sort();
            Some((prefix, (p["local_pref"].as_u64(), c, e)))
        })
        .collect();
    assert_eq!(ours, theirs, "Sluice's policy and BIRD's filter disagree");
}
