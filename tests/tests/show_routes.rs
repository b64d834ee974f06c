//! `sluice show routes` shows every attribute a BIRD upstream sets and
//! filters by session, community (standard, large, extended), AS-path
//! regular expression and RPKI state.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::Value;
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
    import: full-table
    max_prefix: 100
policies:
  bogons: []
dataplane: { xdp: off, kernel_fib: off }
maintenance: { min_active_uplinks: 0 }
validate:
  waive:
    - { rule: SINGLE-POINT-OF-FAILURE, uplink: iap-a, reason: \"one access point in this test\" }
    - { rule: UPLINK-NO-PROBE, uplink: iap-a, reason: \"nothing to probe\" }
";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The prefixes `show routes ARGS` lists.
fn listed(sluice: &Sluice<'_>, args: &[&str]) -> Vec<String> {
    let mut all = vec!["show", "routes"];
    all.extend(args);
    let v = sluice.json(&all);
    v["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .map(|r| r["prefix"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
#[ignore = "needs root: network namespaces"]
fn every_attribute_is_shown_and_every_filter_filters() {
    must_be_root();
    let lab = Lab::new("show-routes");
    let (r, up) = (lab.node("r"), lab.node("up"));
    lab.link(&r, "eth1", &up, "eth1");
    r.addr("eth1", "203.0.113.2/30");
    up.addr("eth1", "203.0.113.1/30");
    let _bird = Peer::start(
        &up,
        PeerSpec::new(Kind::Bird, 65001, "203.0.113.1".parse().unwrap())
            .neighbor(NeighborSpec::new(ip("203.0.113.2"), 64500))
            .announce(
                Announce::new("20.1.0.0/24")
                    .as_path(&[3356])
                    .community("65001:1")
                    .community("65001:1:2")
                    .ext_community("target:65001:10"),
            )
            .announce(Announce::new("20.2.0.0/24").as_path(&[3356, 13335]).med(5)),
    );
    let sluice = Sluice::start(&r, CONFIG);
    sluice.wait_established("203.0.113.1", UP);
    wait_until(UP, "both routes", || listed(&sluice, &[]).len() == 2);

    let path: Value = sluice.best("20.1.0.0/24").expect("a path");
    assert_eq!(
        path["communities"],
        serde_json::json!(["65001:1"]),
        "{path}"
    );
    assert_eq!(
        path["large_communities"],
        serde_json::json!(["65001:1:2"]),
        "{path}"
    );
    assert_eq!(
        path["extended_communities"],
        serde_json::json!(["target:65001:10"]),
        "{path}"
    );
    assert_eq!(path["as_path"], serde_json::json!([65001, 3356]), "{path}");
    // As best-path selection sees them: the default local-pref, no MED as 0.
    assert_eq!(
        (&path["local_pref"], &path["med"]),
        (&100.into(), &0.into()),
        "{path}"
    );
    assert_eq!(path["unknown_attributes"], serde_json::json!([]), "{path}");
    let other = sluice.best("20.2.0.0/24").expect("a path");
    assert_eq!(other["med"], 5, "{other}");
    assert!(
        other.get("rpki").is_none(),
        "no rpki section, no state: {other}"
    );

    assert_eq!(
        listed(&sluice, &["--community", "65001:1"]),
        ["20.1.0.0/24"]
    );
    assert_eq!(
        listed(&sluice, &["--community", "65001:1:2"]),
        ["20.1.0.0/24"]
    );
    assert_eq!(
        listed(&sluice, &["--community", "target:65001:10"]),
        ["20.1.0.0/24"]
    );
    assert!(listed(&sluice, &["--community", "65001:2"]).is_empty());
    // Patterns, of each kind.
    assert_eq!(
        listed(&sluice, &["--community", "65001:*"]),
        ["20.1.0.0/24"]
    );
    assert_eq!(listed(&sluice, &["--community", "*:1:2"]), ["20.1.0.0/24"]);
    assert_eq!(
        listed(&sluice, &["--community", "target:65001:*"]),
        ["20.1.0.0/24"]
    );
    assert!(listed(&sluice, &["--community", "origin:*:10"]).is_empty());
    assert_eq!(listed(&sluice, &["--as-path", "_13335$"]), ["20.2.0.0/24"]);
    assert_eq!(
        listed(&sluice, &["--as-path", "^65001_3356_"]),
        ["20.1.0.0/24", "20.2.0.0/24"]
    );
    assert!(
        listed(&sluice, &["--as-path", "_335_"]).is_empty(),
        "a boundary, not a substring"
    );
    assert_eq!(
        listed(&sluice, &["--peer", "iap-a", "--as-path", "_3356$"]),
        ["20.1.0.0/24"]
    );
    assert!(listed(&sluice, &["--peer", "iap-b"]).is_empty());
    assert_eq!(listed(&sluice, &["--rpki", "unknown"]).len(), 2);
    // A page at a time, filtered.
    let page = sluice.json(&["show", "routes", "--as-path", "3356", "--limit", "1"]);
    assert_eq!(page["next"], "20.1.0.0/24", "{page}");
    assert_eq!(
        listed(&sluice, &["--as-path", "3356", "--after", "20.1.0.0/24"]),
        ["20.2.0.0/24"]
    );
    // Bad filters are bad usage, named.
    let err = sluice
        .try_cli(&["show", "routes", "--as-path", "("])
        .unwrap_err();
    assert!(err.contains("--as-path"), "{err}");
    let err = sluice
        .try_cli(&["show", "routes", "--rpki", "maybe"])
        .unwrap_err();
    assert!(err.contains("not-found"), "{err}");
    // The human table carries the communities of every kind.
    let text = sluice.cli(&["show", "routes", "20.1.0.0/24"]);
    assert!(text.contains("65001:1 65001:1:2 target:65001:10"), "{text}");
}
