//! Route origin validation end to end: StayRTR serves a JSON file of ROAs
//! on the router's loopback, BIRD as the upstream announces valid, invalid
//! (wrong origin, too specific for maxLength) and not-found routes, and
//! Sluice classifies them and rejects the invalid ones. A changed ROA file
//! moves routes in and out without resetting the session, and when the
//! cache goes away the VRPs last until `stale_after`.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use sluice_e2e::peers::{Announce, Kind, NeighborSpec, Peer, PeerSpec};
use sluice_e2e::sluice::Sluice;
use sluice_testns::{Lab, Node, ProcessHandle, must_be_root, wait_until};

const UP: Duration = Duration::from_secs(20);
/// StayRTR re-reads its file every second and notifies at once.
const FOLLOW: Duration = Duration::from_secs(15);

fn config(invalid: &str, port: u16) -> String {
    format!(
        "\
router: {{ id: 192.0.2.1, asn: 64500 }}
interfaces:
  - {{ name: eth1, addresses: [203.0.113.2/30] }}
uplinks:
  - name: iap-a
    interface: eth1
    peer: {{ address: 203.0.113.1, asn: 65001 }}
    import: full-table
    max_prefix: 100
policies:
  bogons: []
rpki:
  caches: [{{ address: 127.0.0.1, port: {port} }}]
  invalid: {invalid}
  stale_after: 4s
dataplane: {{ xdp: off, kernel_fib: off }}
maintenance: {{ min_active_uplinks: 0 }}
validate:
  waive:
    - {{ rule: SINGLE-POINT-OF-FAILURE, uplink: iap-a, reason: \"one access point in this test\" }}
    - {{ rule: UPLINK-NO-PROBE, uplink: iap-a, reason: \"nothing to probe\" }}
"
    )
}

fn write_roas(path: &Path, roas: &[(&str, u8, u32)]) {
    let entries: Vec<String> = roas
        .iter()
        .map(|(p, max, asn)| format!(r#"{{"prefix":"{p}","maxLength":{max},"asn":"AS{asn}"}}"#))
        .collect();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!(r#"{{"roas":[{}]}}"#, entries.join(","))).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Sessions established so far: one per OPEN exchange.
fn opens(sluice: &Sluice<'_>) -> usize {
    sluice.json(&["show", "events"])["events"]
        .as_array()
        .map_or(0, |e| {
            e.iter().filter(|e| e["kind"] == "session-up").count()
        })
}

/// The router and its upstream on one link.
fn site(lab: &Lab) -> (Node<'_>, Node<'_>) {
    let (r, up) = (lab.node("r"), lab.node("up"));
    lab.link(&r, "eth1", &up, "eth1");
    r.addr("eth1", "203.0.113.2/30");
    up.addr("eth1", "203.0.113.1/30");
    (r, up)
}

/// StayRTR on `node`'s loopback serving `roas`, re-reading it every second.
fn cache(node: &Node<'_>, roas: &Path, port: u16, extra: &[&str]) -> ProcessHandle {
    let bind = format!("127.0.0.1:{port}");
    let mut args = vec!["stayrtr", "-bind", &bind, "-cache", roas.to_str().unwrap()];
    args.extend(["-checktime=false", "-metrics.addr", "", "-refresh", "1"]);
    args.extend(extra);
    node.spawn(args)
}

/// The rpki state of the path to `prefix`, or None without one.
fn state(sluice: &Sluice<'_>, prefix: &str) -> Option<String> {
    sluice
        .paths(prefix)
        .first()
        .map(|p| p["rpki"].as_str().unwrap_or("(none)").to_owned())
}

fn wait_state(sluice: &Sluice<'_>, prefix: &str, want: Option<&str>) {
    let mut last = None;
    let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until(FOLLOW, &format!("{prefix} to be {want:?}"), || {
            last = state(sluice, prefix);
            last.as_deref() == want
        })
    }));
    assert!(
        ok.is_ok(),
        "{prefix}: {last:?}, want {want:?}\nrpki: {}\nevents: {}",
        sluice.cli(&["show", "rpki"]),
        sluice.events()
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn invalid_routes_are_rejected_and_follow_the_cache() {
    must_be_root();
    let lab = Lab::new("rpki");
    let (r, up) = site(&lab);

    let roas = lab.log_dir().join("roas.json");
    write_roas(
        &roas,
        &[("20.1.0.0/16", 24, 65001), ("20.2.0.0/16", 24, 65002)],
    );
    let port = 8282;
    let cache = cache(&r, &roas, port, &[]);
    let _bird = Peer::start(
        &up,
        PeerSpec::new(Kind::Bird, 65001, "203.0.113.1".parse().unwrap())
            .neighbor(NeighborSpec::new(ip("203.0.113.2"), 64500))
            // Valid, invalid by origin, invalid by length, not found.
            .announce("20.1.0.0/24")
            .announce(Announce::new("20.2.0.0/24").as_path(&[65009]))
            .announce("20.1.1.128/25")
            .announce("20.3.0.0/24"),
    );
    let sluice = Sluice::start(&r, &config("reject", port));
    sluice.wait_established("203.0.113.1", UP);
    wait_state(&sluice, "20.1.0.0/24", Some("valid"));
    wait_state(&sluice, "20.3.0.0/24", Some("not-found"));
    wait_until(FOLLOW, "both invalid routes held", || {
        sluice.json(&["show", "rpki"])["invalid_routes"] == 2
    });
    assert_eq!(
        state(&sluice, "20.2.0.0/24"),
        None,
        "wrong origin: rejected"
    );
    assert_eq!(
        state(&sluice, "20.1.1.128/25"),
        None,
        "beyond maxLength: rejected"
    );
    let rpki = sluice.json(&["show", "rpki"]);
    assert_eq!(rpki["vrps_v4"], 2, "{rpki}");
    assert_eq!(rpki["invalid_routes"], 2, "{rpki}");
    assert_eq!(rpki["caches"][0]["state"], "synced", "{rpki}");
    assert_eq!(rpki["caches"][0]["version"], 1, "{rpki}");
    let since = sluice.peer("203.0.113.1")["since"].clone();

    // A ROA for the second origin: its route becomes valid and is learned;
    // the first ROA narrowed to /16: its /24 becomes invalid and goes.
    write_roas(
        &roas,
        &[
            ("20.1.0.0/16", 16, 65001),
            ("20.2.0.0/16", 24, 65002),
            ("20.2.0.0/16", 24, 65009),
        ],
    );
    wait_state(&sluice, "20.2.0.0/24", Some("valid"));
    wait_state(&sluice, "20.1.0.0/24", None);
    assert_eq!(state(&sluice, "20.3.0.0/24").as_deref(), Some("not-found"));
    let rpki = sluice.json(&["show", "rpki"]);
    assert_eq!(
        (&rpki["vrps_v4"], &rpki["invalid_routes"]),
        (&3.into(), &2.into()),
        "{rpki}"
    );
    // No session reset and no route refresh: the routes were kept.
    sluice.assert_session_kept("203.0.113.1", &since);
    assert_eq!(opens(&sluice), 1, "one OPEN exchange: {}", sluice.events());

    // The cache goes away: the VRPs hold until stale_after, then every
    // route is unknown and nothing is rejected.
    cache.stop();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        state(&sluice, "20.1.0.0/24"),
        None,
        "still rejected while fresh"
    );
    wait_state(&sluice, "20.1.0.0/24", Some("unknown"));
    wait_state(&sluice, "20.1.1.128/25", Some("unknown"));
    let rpki: Value = sluice.json(&["show", "rpki"]);
    assert_eq!(
        (&rpki["vrps_v4"], &rpki["invalid_routes"]),
        (&0.into(), &0.into()),
        "{rpki}"
    );
    assert!(rpki["source"].is_null(), "{rpki}");
}

#[test]
#[ignore = "needs root: network namespaces"]
fn deprefer_keeps_an_invalid_route_below_every_other() {
    must_be_root();
    let lab = Lab::new("rpki-deprefer");
    let (r, up) = site(&lab);
    let roas = lab.log_dir().join("roas.json");
    write_roas(&roas, &[("20.2.0.0/16", 24, 65002)]);
    let port = 8282;
    // A cache of RFC 6810 only: the client falls back to version 0.
    let _cache = cache(&r, &roas, port, &["-protocol", "0"]);
    let _bird = Peer::start(
        &up,
        PeerSpec::new(Kind::Bird, 65001, "203.0.113.1".parse().unwrap())
            .neighbor(NeighborSpec::new(ip("203.0.113.2"), 64500))
            .announce(Announce::new("20.2.0.0/24").as_path(&[65009])),
    );
    let sluice = Sluice::start(&r, &config("deprefer", port));
    sluice.wait_established("203.0.113.1", UP);
    wait_state(&sluice, "20.2.0.0/24", Some("invalid"));
    let path = sluice.best("20.2.0.0/24").expect("learned");
    assert_eq!(path["local_pref"], 0, "{path}");
    let rpki = sluice.json(&["show", "rpki"]);
    assert_eq!(rpki["caches"][0]["version"], 0, "{rpki}");
    assert_eq!(rpki["invalid_routes"], 1, "{rpki}");

    // Valid again: the route's own attributes come back.
    write_roas(&roas, &[("20.2.0.0/16", 24, 65009)]);
    wait_state(&sluice, "20.2.0.0/24", Some("valid"));
    let path = sluice.best("20.2.0.0/24").expect("learned");
    assert!(path["local_pref"] != 0, "{path}");
    // A reload that turns rejecting on acts on what is held now.
    write_roas(&roas, &[("20.2.0.0/16", 24, 65002)]);
    wait_state(&sluice, "20.2.0.0/24", Some("invalid"));
    sluice.reload(&config("reject", port));
    wait_state(&sluice, "20.2.0.0/24", None);
}

/// An import policy that matches on the state: it is run again on the
/// routes as received when VRPs change, without a route refresh.
#[test]
#[ignore = "needs root: network namespaces"]
fn a_policy_matching_rpki_decides_again_when_vrps_change() {
    must_be_root();
    let lab = Lab::new("rpki-policy");
    let (r, up) = site(&lab);
    let roas = lab.log_dir().join("roas.json");
    write_roas(&roas, &[("20.1.0.0/16", 24, 65001)]);
    let port = 8282;
    let cache = cache(&r, &roas, port, &[]);
    let _bird = Peer::start(
        &up,
        PeerSpec::new(Kind::Bird, 65001, "203.0.113.1".parse().unwrap())
            .neighbor(NeighborSpec::new(ip("203.0.113.2"), 64500))
            .announce("20.1.0.0/24")
            .announce(Announce::new("20.2.0.0/24").as_path(&[65009]))
            .announce(Announce::new("20.1.1.0/24").as_path(&[65009])),
    );
    let config = config("accept", port)
        .replace("import: full-table", "import: by-rpki")
        .replace(
            "policies:\n  bogons: []\n",
            "policies:\n  bogons: []\n  route_policies:\n    by-rpki:\n      \
             - { match: { rpki: invalid }, action: reject }\n      \
             - { match: { rpki: not-found }, action: accept, set: { local_pref: 50 } }\n      \
             - { action: accept, set: { local_pref: 200 } }\n",
        );
    let sluice = Sluice::start(&r, &config);
    sluice.wait_established("203.0.113.1", UP);
    let lp = |prefix: &str| {
        sluice
            .best(prefix)
            .map(|p| p["local_pref"].as_u64().unwrap())
    };
    let wait_lp = |prefix: &str, want: Option<u64>| {
        let mut last = None;
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_until(FOLLOW, &format!("{prefix} at local-pref {want:?}"), || {
                last = lp(prefix);
                last == want
            })
        }));
        assert!(
            ok.is_ok(),
            "{prefix}: {last:?}, want {want:?}\n{}",
            sluice.cli(&["show", "rpki"])
        );
    };
    wait_lp("20.1.0.0/24", Some(200));
    wait_lp("20.2.0.0/24", Some(50));
    assert_eq!(lp("20.1.1.0/24"), None, "invalid: the policy rejects it");
    let since = sluice.peer("203.0.113.1")["since"].clone();

    // 20.2.0.0/24 becomes invalid, 20.1.1.0/24 valid.
    write_roas(
        &roas,
        &[
            ("20.1.0.0/16", 24, 65001),
            ("20.1.0.0/16", 24, 65009),
            ("20.2.0.0/16", 24, 65002),
        ],
    );
    wait_lp("20.1.1.0/24", Some(200));
    wait_lp("20.2.0.0/24", None);
    assert_eq!(lp("20.1.0.0/24"), Some(200));
    sluice.assert_session_kept("203.0.113.1", &since);
    assert_eq!(opens(&sluice), 1, "one OPEN exchange: {}", sluice.events());

    // No cache for stale_after: every route unknown, which the policy's
    // last term accepts.
    cache.stop();
    wait_lp("20.2.0.0/24", Some(200));
    assert_eq!(lp("20.1.1.0/24"), Some(200));
}

/// ExaBGP as the upstream (Debian's `exabgp`): its routes are classified
/// the same way (a wrong origin and a prefix longer than the ROA's
/// maxLength are both invalid), and every attribute it sets is shown, in
/// JSON and to people.
#[test]
#[ignore = "needs root: network namespaces"]
fn routes_from_exabgp_are_classified_and_fully_shown() {
    must_be_root();
    let lab = Lab::new("rpki-exabgp");
    let (r, up) = site(&lab);
    let roas = lab.log_dir().join("roas.json");
    write_roas(
        &roas,
        &[("20.1.0.0/16", 24, 65001), ("20.2.0.0/16", 24, 65002)],
    );
    let port = 8282;
    let _cache = cache(&r, &roas, port, &[]);
    let conf = lab.log_dir().join("exabgp.conf");
    std::fs::write(
        &conf,
        "neighbor 203.0.113.2 {
    router-id 203.0.113.1;
    local-address 203.0.113.1;
    local-as 65001;
    peer-as 64500;
    static {
        route 20.1.0.0/24 next-hop 203.0.113.1 as-path [ 65001 ] community [ 65001:1 ] large-community [ 65001:1:2 ] extended-community [ target:65001:10 ];
        route 20.2.0.0/24 next-hop 203.0.113.1 as-path [ 65001 65009 ];
        route 20.1.0.0/25 next-hop 203.0.113.1 as-path [ 65001 ];
        route 20.3.0.0/24 next-hop 203.0.113.1 as-path [ 65001 ] aggregator ( 65001:192.0.2.1 ) atomic-aggregate attribute [ 0x63 0xc0 0x11223344 ];
    }
}
",
    )
    .unwrap();
    let _exabgp = up.spawn([
        "env",
        "exabgp.daemon.user=root",
        "exabgp.daemon.drop=false",
        "exabgp.api.cli=false",
        "exabgp",
        conf.to_str().unwrap(),
    ]);
    let sluice = Sluice::start(&r, &config("accept", port));
    sluice.wait_established("203.0.113.1", UP);
    wait_state(&sluice, "20.1.0.0/24", Some("valid"));
    wait_state(&sluice, "20.2.0.0/24", Some("invalid"));
    wait_state(&sluice, "20.3.0.0/24", Some("not-found"));
    wait_state(&sluice, "20.1.0.0/25", Some("invalid"));
    let p = sluice.best("20.1.0.0/24").expect("a path");
    assert_eq!(p["communities"], serde_json::json!(["65001:1"]), "{p}");
    assert_eq!(
        p["large_communities"],
        serde_json::json!(["65001:1:2"]),
        "{p}"
    );
    assert_eq!(
        p["extended_communities"],
        serde_json::json!(["target:65001:10"]),
        "{p}"
    );
    assert_eq!(
        p["local_pref"], 100,
        "the uplink's default, as the decision uses it: {p}"
    );
    let invalid = sluice.json(&["show", "routes", "--rpki", "invalid"]);
    let prefixes: Vec<&str> = invalid["routes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["prefix"].as_str())
        .collect();
    assert_eq!(prefixes, ["20.1.0.0/25", "20.2.0.0/24"], "{invalid}");

    let other = sluice.best("20.3.0.0/24").expect("a path");
    assert_eq!(other["aggregator"], "AS65001 192.0.2.1", "{other}");
    assert_eq!(other["atomic_aggregate"], true, "{other}");
    assert_eq!(
        other["unknown_attributes"],
        serde_json::json!([{ "code": 99, "flags": 0xc0, "length": 4 }]),
        "{other}"
    );
    let human = sluice.cli(&["show", "routes", "20.3.0.0/24"]);
    assert!(
        human.contains(
            "aggregator AS65001 192.0.2.1; atomic-aggregate; attribute 99 (flags 0xc0, 4 octets)"
        ),
        "{human}"
    );
}

/// Two caches, the preferred one listed last: Sluice syncs with the
/// preferred one only; when it goes away the next one takes over within
/// a retry, and the routes follow its VRPs with no session reset.
#[test]
#[ignore = "needs root: network namespaces"]
fn the_preferred_cache_is_used_and_the_next_takes_over() {
    must_be_root();
    let lab = Lab::new("rpki-caches");
    let (r, up) = site(&lab);
    let (first, second) = (
        lab.log_dir().join("first.json"),
        lab.log_dir().join("second.json"),
    );
    // The preferred cache says 20.1.0.0/24 is AS65001's, the other AS65099's.
    write_roas(&first, &[("20.1.0.0/16", 24, 65001)]);
    write_roas(&second, &[("20.1.0.0/16", 24, 65099)]);
    let preferred = cache(&r, &first, 8282, &[]);
    let _next = cache(&r, &second, 8283, &[]);
    let _bird = Peer::start(
        &up,
        PeerSpec::new(Kind::Bird, 65001, "203.0.113.1".parse().unwrap())
            .neighbor(NeighborSpec::new(ip("203.0.113.2"), 64500))
            .announce("20.1.0.0/24"),
    );
    let caches = "caches: [{ address: 127.0.0.1, port: 8283, preference: 2 }, \
                  { address: 127.0.0.1, port: 8282, preference: 1 }]";
    let config =
        config("accept", 8282).replace("caches: [{ address: 127.0.0.1, port: 8282 }]", caches);
    assert!(config.contains("8283"), "{config}");
    let sluice = Sluice::start(&r, &config);
    sluice.wait_established("203.0.113.1", UP);
    wait_state(&sluice, "20.1.0.0/24", Some("valid"));
    let cache_state = |port: &str| -> Value {
        let rpki = sluice.json(&["show", "rpki"]);
        rpki["caches"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["cache"] == format!("127.0.0.1:{port}")))
            .cloned()
            .unwrap_or_else(|| panic!("no cache {port} in {rpki}"))
    };
    assert_eq!(cache_state("8282")["state"], "synced");
    assert_ne!(
        cache_state("8283")["state"],
        "synced",
        "one cache at a time"
    );
    assert_eq!(sluice.json(&["show", "rpki"])["source"], "127.0.0.1:8282");
    let since = sluice.peer("203.0.113.1")["since"].clone();

    preferred.stop();
    wait_state(&sluice, "20.1.0.0/24", Some("invalid"));
    assert_eq!(cache_state("8283")["state"], "synced");
    assert_eq!(sluice.json(&["show", "rpki"])["source"], "127.0.0.1:8283");
    // A session that is up asks again before `stale_after` (4 s here) runs
    // out, whatever refresh interval the cache names (StayRTR: 3600 s).
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(state(&sluice, "20.1.0.0/24").as_deref(), Some("invalid"));
    sluice.assert_session_kept("203.0.113.1", &since);
    assert_eq!(opens(&sluice), 1, "one OPEN exchange: {}", sluice.events());
}

/// A policy matching the RPKI state decides as BIRD's `roa_check` does:
/// a reference BIRD with its own StayRTR on the same ROAs runs the same
/// policy in its filter language on the same routes.
#[test]
#[ignore = "needs root: network namespaces"]
fn an_rpki_policy_decides_as_birds_roa_check() {
    must_be_root();
    let lab = Lab::new("rpki-vs-bird");
    let (r, up) = site(&lab);
    let reference = lab.node("ref");
    lab.link(&reference, "eth1", &up, "eth2");
    up.addr("eth2", "203.0.113.5/30");
    reference.addr("eth1", "203.0.113.6/30");
    let roas = lab.log_dir().join("roas.json");
    write_roas(&roas, &[("20.1.0.0/16", 24, 65001)]);
    let _ours = cache(&r, &roas, 8282, &[]);
    let _theirs = cache(&reference, &roas, 8282, &[]);
    let reference = Peer::start(
        &reference,
        PeerSpec::new(Kind::Bird, 64500, "203.0.113.6".parse().unwrap())
            .bird_config(
                "roa4 table r4;
protocol rpki rtr1 { roa4 { table r4; }; remote 127.0.0.1 port 8282; retry keep 1; }",
            )
            .neighbor(NeighborSpec::new(ip("203.0.113.5"), 65001).import_filter(
                "case roa_check(r4, net, bgp_path.last) {
  ROA_INVALID: reject;
  ROA_VALID: { bgp_local_pref = 200; accept; }
  else: { bgp_local_pref = 50; accept; }
}",
            )),
    );
    let _bird = Peer::start(
        &up,
        PeerSpec::new(Kind::Bird, 65001, "203.0.113.1".parse().unwrap())
            .neighbor(NeighborSpec::new(ip("203.0.113.2"), 64500))
            .neighbor(NeighborSpec::new(ip("203.0.113.6"), 64500))
            // Valid, invalid by origin, invalid by length, not found.
            .announce("20.1.0.0/24")
            .announce(Announce::new("20.1.2.0/24").as_path(&[65009]))
            .announce("20.1.1.128/25")
            .announce("20.3.0.0/24"),
    );
    let policy = "  route_policies:
    rov:
      - { match: { rpki: invalid }, action: reject }
      - { match: { rpki: valid }, action: accept, set: { local_pref: 200 } }
      - { action: accept, set: { local_pref: 50 } }
";
    let config = config("accept", 8282)
        .replace("import: full-table", "import: rov")
        .replace("  bogons: []\n", &format!("  bogons: []\n{policy}"));
    let sluice = Sluice::start(&r, &config);
    sluice.wait_established("203.0.113.1", UP);
    reference.wait_established(ip("203.0.113.5"), UP);
    let prefixes = ["20.1.0.0/24", "20.1.2.0/24", "20.1.1.128/25", "20.3.0.0/24"];
    let ours = || -> Vec<(&str, Option<u64>)> {
        let lp = |p| sluice.best(p).and_then(|p| p["local_pref"].as_u64());
        prefixes.iter().map(|&p| (p, lp(p))).collect()
    };
    let theirs = || -> Vec<(&str, Option<u64>)> {
        let routes = reference.received_routes(None);
        let lp = |p: &str| {
            let r = routes.iter().find(|r| r.prefix == p)?;
            r.local_pref.map(u64::from)
        };
        prefixes.iter().map(|&p| (p, lp(p))).collect()
    };
    let want = vec![
        ("20.1.0.0/24", Some(200)),
        ("20.1.2.0/24", None),
        ("20.1.1.128/25", None),
        ("20.3.0.0/24", Some(50)),
    ];
    wait_until(FOLLOW, "Sluice's policy on the VRPs", || ours() == want);
    // BIRD may have imported before its VRPs came: it runs the filter again.
    let mut last = Vec::new();
    let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until(FOLLOW, "BIRD's roa_check", || {
            reference.cli("reload in all");
            last = theirs();
            last == want
        })
    }));
    assert!(ok.is_ok(), "BIRD decided {last:?}, Sluice {:?}", ours());
}

/// The cache restarts: Sluice connects again and the VRPs stay in force
/// past `stale_after` (4 s), the route valid throughout.
#[test]
#[ignore = "needs root: network namespaces"]
fn a_restarted_cache_is_synced_again() {
    must_be_root();
    let lab = Lab::new("rpki-restart");
    let (r, up) = site(&lab);
    let roas = lab.log_dir().join("roas.json");
    write_roas(&roas, &[("20.1.0.0/16", 24, 65001)]);
    let first = cache(&r, &roas, 8282, &[]);
    let _bird = Peer::start(
        &up,
        PeerSpec::new(Kind::Bird, 65001, "203.0.113.1".parse().unwrap())
            .neighbor(NeighborSpec::new(ip("203.0.113.2"), 64500))
            .announce("20.1.0.0/24"),
    );
    let sluice = Sluice::start(&r, &config("accept", 8282));
    sluice.wait_established("203.0.113.1", UP);
    wait_state(&sluice, "20.1.0.0/24", Some("valid"));
    let since = sluice.peer("203.0.113.1")["since"].clone();

    first.stop();
    let _again = cache(&r, &roas, 8282, &[]);
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(
        state(&sluice, "20.1.0.0/24").as_deref(),
        Some("valid"),
        "{}",
        sluice.cli(&["show", "rpki"])
    );
    let rpki = sluice.json(&["show", "rpki"]);
    assert_eq!(rpki["caches"][0]["state"], "synced", "{rpki}");
    sluice.assert_session_kept("203.0.113.1", &since);
}
