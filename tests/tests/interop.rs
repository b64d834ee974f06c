//! Sluice against BIRD 2, GoBGP and FRR, each started with its own config
//! in its own namespace: sessions, routes both ways in both families,
//! withdrawals, best path by local-pref and MED, ECMP, an OPEN error, TCP-MD5,
//! graceful restart in both roles, next-hop-self and the default route
//! toward an iBGP neighbour, and the RFC 9003 shutdown message.

use std::net::IpAddr;
use std::time::Duration;

use sluice_e2e::peers::{Announce, Kind, NeighborSpec, Peer, PeerSpec};
use sluice_e2e::sluice::Sluice;
use sluice_testns::{Lab, Node, must_be_root, wait_until};

const UP: Duration = Duration::from_secs(20);
const ROUTE: Duration = Duration::from_secs(10);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn addr6(node: &Node<'_>, ifname: &str, cidr: &str) {
    node.ip(["addr", "add", cidr, "dev", ifname, "nodad"]);
}

/// One upstream of the router: its node, link and addresses.
struct Upstream {
    name: &'static str,
    ifname: &'static str,
    kind: Kind,
    asn: u32,
    /// Last octet of the router's address; the upstream has the one below.
    v4: u8,
    /// The /64 of the link, 2001:db8:N::/64.
    v6: u16,
    local_pref: u32,
}

impl Upstream {
    fn ours4(&self) -> String {
        format!("203.0.113.{}", self.v4)
    }
    fn theirs4(&self) -> String {
        format!("203.0.113.{}", self.v4 - 1)
    }
    fn ours6(&self) -> String {
        format!("2001:db8:{:x}::2", self.v6)
    }
    fn theirs6(&self) -> String {
        format!("2001:db8:{:x}::1", self.v6)
    }
}

/// Links the router to `up`'s node and gives both ends their addresses.
fn wire<'lab>(lab: &'lab Lab, router: &Node<'lab>, up: &Upstream) -> Node<'lab> {
    let node = lab.node(up.name);
    lab.link(router, up.ifname, &node, "eth1");
    router.addr(up.ifname, &format!("{}/30", up.ours4()));
    node.addr("eth1", &format!("{}/30", up.theirs4()));
    addr6(router, up.ifname, &format!("{}/64", up.ours6()));
    addr6(&node, "eth1", &format!("{}/64", up.theirs6()));
    node
}

/// The upstream's daemon, peering with the router over IPv4 and IPv6.
fn peer<'lab>(node: &Node<'lab>, up: &Upstream, announce: &[Announce], gr: bool) -> Peer<'lab> {
    let neighbor = |a: &str| {
        let n = NeighborSpec::new(ip(a), 64500);
        let n = if gr { n.graceful_restart() } else { n };
        // GoBGP's connect retry is at least 5 s: let Sluice connect to it.
        if up.kind == Kind::Gobgp {
            n.passive()
        } else {
            n
        }
    };
    let mut spec = PeerSpec::new(up.kind, up.asn, up.theirs4().parse().unwrap())
        .neighbor(neighbor(&up.ours4()))
        .neighbor(neighbor(&up.ours6()));
    for a in announce {
        spec = spec.announce(a.clone());
    }
    Peer::start(node, spec)
}

/// Sluice's config for `ups` (one uplink each, dual-stack), plus `extra` YAML.
/// One upstream has no redundancy: reloads refuse that unless waived.
const ONE_UPSTREAM: &str = "validate: { waive: [{ rule: SINGLE-POINT-OF-FAILURE, reason: \"a test with one upstream\" }] }\n";

fn config(ups: &[&Upstream], extra: &str) -> String {
    let mut c = String::from("router: { id: 192.0.2.1, asn: 64500, ecmp: 4 }\ninterfaces:\n");
    for u in ups {
        c += &format!(
            "  - {{ name: {}, addresses: [{}/30, \"{}/64\"] }}\n",
            u.ifname,
            u.ours4(),
            u.ours6()
        );
    }
    c += "  - { name: lan, addresses: [10.0.0.1/24] }\nuplinks:\n";
    for u in ups {
        c += &format!(
            "  - name: {}\n    interface: {}\n    peer:\n      - {{ address: {}, asn: {} }}\n      - {{ address: \"{}\", asn: {} }}\n    import: full-table\n    local_pref: {}\n",
            u.name,
            u.ifname,
            u.theirs4(),
            u.asn,
            u.theirs6(),
            u.asn,
            u.local_pref
        );
    }
    c += "announce: [198.51.100.0/24, \"2001:db8:100::/48\"]\npolicies: { bogons: [] }\n";
    if ups.len() == 1 {
        c += ONE_UPSTREAM;
    }
    c += extra;
    c
}

/// An internal router (GoBGP, AS64500, 10.0.0.2) on the router's `lan`
/// interface (10.0.0.1), waiting for Sluice to connect.
fn lan_router<'lab>(lab: &'lab Lab, router: &Node<'lab>) -> Peer<'lab> {
    let lan = lab.node("lan");
    lab.link(router, "lan", &lan, "eth1");
    router.addr("lan", "10.0.0.1/24");
    lan.addr("eth1", "10.0.0.2/24");
    let spec = PeerSpec::new(Kind::Gobgp, 64500, "10.0.0.2".parse().unwrap())
        .neighbor(NeighborSpec::new(ip("10.0.0.1"), 64500).passive());
    Peer::start(&lan, spec)
}

const BIRD_A: Upstream = Upstream {
    name: "bird",
    ifname: "eth1",
    kind: Kind::Bird,
    asn: 65001,
    v4: 2,
    v6: 1,
    local_pref: 200,
};
const GOBGP_B: Upstream = Upstream {
    name: "gobgp",
    ifname: "eth2",
    kind: Kind::Gobgp,
    asn: 65002,
    v4: 6,
    v6: 2,
    local_pref: 100,
};
const FRR_C: Upstream = Upstream {
    name: "frr",
    ifname: "eth3",
    kind: Kind::Frr,
    asn: 65003,
    v4: 10,
    v6: 3,
    local_pref: 100,
};

#[test]
#[ignore = "needs root: network namespaces"]
fn routes_cross_both_ways_with_bird_gobgp_and_frr() {
    must_be_root();
    let lab = Lab::new("interop");
    let r = lab.node("r");
    let ups = [&BIRD_A, &GOBGP_B, &FRR_C];
    let mut peers = Vec::new();
    for (i, u) in ups.iter().enumerate() {
        let node = wire(&lab, &r, u);
        let v4 = format!("100.{}.0.0/16", 64 + i);
        let v6 = format!("2001:db8:{:x}00::/40", 0xa + i);
        peers.push(peer(
            &node,
            u,
            &[
                Announce::new(&v4).as_path(&[65100 + i as u32]),
                Announce::new(&v6),
            ],
            false,
        ));
    }
    let sluice = Sluice::start(&r, &config(&ups, ""));
    for u in ups {
        sluice.wait_established(&u.theirs4(), UP);
        sluice.wait_established(&u.theirs6(), UP);
    }
    // Until every uplink's table is in, announce goes out prepended.
    sluice.wait_warm(UP);
    for (i, (u, p)) in ups.iter().zip(&peers).enumerate() {
        // Theirs at Sluice, with the right next hop and path.
        let v4 = format!("100.{}.0.0/16", 64 + i);
        let best = sluice.wait_best(&v4, ROUTE, &format!("{v4} from {}", u.name), |_| true);
        assert_eq!(best["next_hop"], u.theirs4(), "{best}");
        assert_eq!(
            best["as_path"],
            serde_json::json!([u.asn, 65100 + i as u32]),
            "{best}"
        );
        let v6 = format!("2001:db8:{:x}00::/40", 0xa + i);
        let best = sluice.wait_best(&v6, ROUTE, &format!("{v6} from {}", u.name), |_| true);
        assert_eq!(best["next_hop"], u.theirs6(), "{best}");
        // Ours at theirs: our ASN only, our address as next hop, each family on its session.
        let r4 = p.wait_route(ip(&u.ours4()), "198.51.100.0/24", ROUTE);
        assert_eq!(
            (r4.as_path.as_slice(), r4.next_hop),
            (&[64500][..], Some(ip(&u.ours4()))),
            "{} got {r4:?}",
            u.name
        );
        let r6 = p.wait_route(ip(&u.ours6()), "2001:db8:100::/48", ROUTE);
        assert_eq!(
            (r6.as_path.as_slice(), r6.next_hop),
            (&[64500][..], Some(ip(&u.ours6()))),
            "{} got {r6:?}",
            u.name
        );
        // Never another upstream's routes: no transit between providers.
        let leaked: Vec<_> = p
            .received_routes(None)
            .into_iter()
            .filter(|r| {
                r.prefix.starts_with("100.")
                    || r.prefix.starts_with("2001:db8:a")
                    || r.prefix.starts_with("2001:db8:b")
                    || r.prefix.starts_with("2001:db8:c")
            })
            .collect();
        assert!(
            leaked.is_empty(),
            "{} received other upstreams' routes: {leaked:?}",
            u.name
        );
    }
    // Withdrawals reach Sluice.
    for (i, p) in peers.iter_mut().enumerate() {
        let v4 = format!("100.{}.0.0/16", 64 + i);
        p.withdraw(&v4);
        wait_until(ROUTE, &format!("{v4} withdrawn"), || {
            sluice.paths(&v4).is_empty()
        });
        let v6 = format!("2001:db8:{:x}00::/40", 0xa + i);
        p.withdraw(&v6);
        wait_until(ROUTE, &format!("{v6} withdrawn"), || {
            sluice.paths(&v6).is_empty()
        });
    }
}

#[test]
#[ignore = "needs root: network namespaces"]
fn best_path_by_local_pref_med_and_ecmp() {
    must_be_root();
    let lab = Lab::new("bestpath");
    let r = lab.node("r");
    // iap-a (BIRD) and iap-b (GoBGP) are the same provider, AS65001, both preferred; FRR is a backup.
    let a = Upstream {
        asn: 65001,
        local_pref: 200,
        ..BIRD_A
    };
    let b = Upstream {
        asn: 65001,
        local_pref: 200,
        ..GOBGP_B
    };
    let c = Upstream {
        local_pref: 100,
        ..FRR_C
    };
    let na = wire(&lab, &r, &a);
    let nb = wire(&lab, &r, &b);
    let nc = wire(&lab, &r, &c);
    let _pa = peer(
        &na,
        &a,
        &[
            Announce::new("100.64.0.0/16").med(50),
            Announce::new("100.65.0.0/16").med(50),
            Announce::new("100.66.0.0/16"),
        ],
        false,
    );
    let _pb = peer(
        &nb,
        &b,
        &[
            Announce::new("100.65.0.0/16").med(10),
            Announce::new("100.66.0.0/16"),
        ],
        false,
    );
    let _pc = peer(
        &nc,
        &c,
        &[
            Announce::new("100.64.0.0/16"),
            Announce::new("100.66.0.0/16"),
        ],
        false,
    );
    let sluice = Sluice::start(&r, &config(&[&a, &b, &c], ""));
    for u in [&a, &b, &c] {
        sluice.wait_established(&u.theirs4(), UP);
    }
    let best = sluice.wait_best("100.64.0.0/16", ROUTE, "local-pref decides", |p| {
        p["peer"].as_str().unwrap().starts_with("bird")
    });
    assert_eq!(best["local_pref"], 200);
    wait_until(ROUTE, "both paths of 100.64/16", || {
        sluice.paths("100.64.0.0/16").len() == 2
    });
    assert_eq!(
        sluice.json(&["show", "routes", "100.64.0.0/16"])["routes"][0]["reason"],
        "higher local-pref"
    );

    let best = sluice.wait_best("100.65.0.0/16", ROUTE, "MED decides", |p| {
        p["peer"].as_str().unwrap().starts_with("gobgp")
    });
    assert_eq!(best["med"], 10);
    assert_eq!(
        sluice.json(&["show", "routes", "100.65.0.0/16"])["routes"][0]["reason"],
        "lower MED"
    );

    // Equal paths from the two preferred uplinks share traffic; the backup does not.
    wait_until(ROUTE, "three paths of 100.66/16", || {
        sluice.paths("100.66.0.0/16").len() == 3
    });
    let paths = sluice.paths("100.66.0.0/16");
    let multipath: Vec<&str> = paths
        .iter()
        .filter(|p| p["multipath"] == true)
        .map(|p| p["peer"].as_str().unwrap())
        .collect();
    assert_eq!(multipath.len(), 2, "{paths:#?}");
    assert!(
        multipath
            .iter()
            .all(|p| p.starts_with("bird") || p.starts_with("gobgp")),
        "{multipath:?}"
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn a_wrong_asn_is_refused_with_an_open_error() {
    must_be_root();
    let lab = Lab::new("badasn");
    let r = lab.node("r");
    let up = &BIRD_A;
    let node = wire(&lab, &r, up);
    let bird = peer(&node, up, &[], false);
    // Sluice expects AS65009 where BIRD is AS65001.
    let wrong = Upstream {
        asn: 65009,
        ..BIRD_A
    };
    let sluice = Sluice::start(&r, &config(&[&wrong], ""));
    wait_until(UP, "Sluice reports the bad peer AS", || {
        sluice.peer(&up.theirs4())["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("bad peer AS"))
    });
    wait_until(UP, "BIRD reports the OPEN error", || {
        bird.last_error(ip(&up.ours4())).contains("Bad peer AS")
    });
    assert_ne!(sluice.peer(&up.theirs4())["state"], "established");
}

#[test]
#[ignore = "needs root: network namespaces"]
fn tcp_md5_session_with_frr() {
    must_be_root();
    let lab = Lab::new("md5");
    let r = lab.node("r");
    let up = &FRR_C;
    let node = wire(&lab, &r, up);
    let spec = PeerSpec::new(Kind::Frr, up.asn, up.theirs4().parse().unwrap())
        .neighbor(NeighborSpec::new(ip(&up.ours4()), 64500).md5("s3cret-key"))
        .announce(Announce::new("100.64.0.0/16"));
    let frr = Peer::start(&node, spec);
    let key = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(key.path(), "s3cret-key\n").unwrap();
    let cfg = format!(
        "router: {{ id: 192.0.2.1, asn: 64500 }}\ninterfaces: [{{ name: {}, addresses: [{}/30] }}]\nuplinks:\n  - name: frr\n    interface: {}\n    peer: {{ address: {}, asn: {}, password_file: {} }}\n    import: full-table\nannounce: [198.51.100.0/24]\npolicies: {{ bogons: [] }}\n{ONE_UPSTREAM}",
        up.ifname,
        up.ours4(),
        up.ifname,
        up.theirs4(),
        up.asn,
        key.path().display()
    );
    let sluice = Sluice::start(&r, &cfg);
    sluice.wait_established(&up.theirs4(), UP);
    sluice.wait_best(
        "100.64.0.0/16",
        ROUTE,
        "route over the signed session",
        |_| true,
    );
    frr.wait_route(ip(&up.ours4()), "198.51.100.0/24", ROUTE);
    // The signature is really in use: segments without it are dropped, so a
    // wrong key on our side must keep the session down.
    std::fs::write(key.path(), "wrong-key\n").unwrap();
    let changed = cfg.replace("asn: 65003,", "asn: 65003, multihop: 1,");
    sluice.reload(&changed);
    wait_until(UP, "session down with the wrong key", || {
        sluice.peer(&up.theirs4())["state"] != "established"
    });
    std::thread::sleep(Duration::from_secs(4));
    assert_ne!(
        sluice.peer(&up.theirs4())["state"],
        "established",
        "a wrong TCP-MD5 key still let the session up"
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn graceful_restart_both_ways_with_bird() {
    must_be_root();
    let lab = Lab::new("gr");
    let r = lab.node("r");
    let up = &BIRD_A;
    let node = wire(&lab, &r, up);
    let mut bird = peer(&node, up, &[Announce::new("100.64.0.0/16")], true);
    let mut sluice = Sluice::start(&r, &config(&[up], ""));
    sluice.wait_established(&up.theirs4(), UP);
    sluice.wait_best("100.64.0.0/16", ROUTE, "BIRD's route", |p| {
        p["stale"] == false
    });
    bird.wait_route(ip(&up.ours4()), "198.51.100.0/24", ROUTE);

    // Helper: BIRD dies without a NOTIFICATION; its routes stay, stale.
    bird.kill();
    sluice.wait_best("100.64.0.0/16", ROUTE, "BIRD's route kept stale", |p| {
        p["stale"] == true
    });
    let uplinks = sluice.json(&["show", "uplinks"]);
    assert_eq!(
        uplinks["uplinks"][0]["state"], "active",
        "a gracefully restarting peer keeps its uplink active: {uplinks}"
    );
    bird.restart();
    sluice.wait_best(
        "100.64.0.0/16",
        UP,
        "fresh again after BIRD's End-of-RIB",
        |p| p["stale"] == false,
    );

    // Restarting speaker: Sluice stops (keep_on_exit) and BIRD keeps our prefix meanwhile.
    assert!(sluice.stop(), "sluice stopped cleanly");
    std::thread::sleep(Duration::from_secs(2));
    let kept = bird.received_routes(Some(ip(&up.ours4())));
    assert!(
        kept.iter().any(|r| r.prefix == "198.51.100.0/24"),
        "BIRD dropped our prefix while Sluice restarted: {kept:?}\n{}",
        bird.log()
    );
    sluice.restart_stopped();
    sluice.wait_established(&up.theirs4(), UP);
    bird.wait_route(ip(&up.ours4()), "198.51.100.0/24", ROUTE);
    assert!(sluice.events().contains("restarting gracefully"));
}

#[test]
#[ignore = "needs root: network namespaces"]
fn ibgp_neighbour_gets_next_hop_self_and_loses_the_default_with_the_uplinks() {
    must_be_root();
    let lab = Lab::new("ibgp");
    let r = lab.node("r");
    let up = &BIRD_A;
    let node = wire(&lab, &r, up);
    let mut bird = peer(&node, up, &[Announce::new("100.64.0.0/16")], false);
    let inside = lan_router(&lab, &r);
    let cfg = config(&[up], "neighbors:\n  - { address: 10.0.0.2, asn: 64500 }\n");
    let sluice = Sluice::start(&r, &cfg);
    sluice.wait_established("10.0.0.2", UP);
    sluice.wait_established(&up.theirs4(), UP);
    let default = inside.wait_route(ip("10.0.0.1"), "0.0.0.0/0", ROUTE);
    assert_eq!(
        default.next_hop,
        Some(ip("10.0.0.1")),
        "next-hop-self: {default:?}"
    );
    assert_eq!(default.local_pref, Some(100), "{default:?}");
    // The iBGP default (default-only) carries nothing learned.
    assert!(
        inside
            .received_routes(None)
            .iter()
            .all(|r| r.prefix == "0.0.0.0/0"),
        "{:?}",
        inside.received_routes(None)
    );

    // Every uplink goes away: the default is withdrawn.
    bird.stop();
    inside.wait_no_route("0.0.0.0/0", UP);
    bird.restart();
    inside.wait_route(ip("10.0.0.1"), "0.0.0.0/0", UP);
}

#[test]
#[ignore = "needs root: network namespaces"]
fn clean_shutdown_sends_an_rfc9003_message() {
    must_be_root();
    let lab = Lab::new("shutdown");
    let r = lab.node("r");
    let up = &BIRD_A;
    let node = wire(&lab, &r, up);
    let bird = peer(&node, up, &[], false);
    let mut sluice = Sluice::start(&r, &config(&[up], "dataplane: { keep_on_exit: false }\n"));
    sluice.wait_established(&up.theirs4(), UP);
    assert!(sluice.stop());
    wait_until(ROUTE, "BIRD logs the shutdown message", || {
        bird.log()
            .contains("Administrative shutdown: \"sluice stopping\"")
    });
    bird.wait_no_route("198.51.100.0/24", ROUTE);
}

#[test]
#[ignore = "needs root: network namespaces"]
fn max_prefix_restart_and_warn() {
    must_be_root();
    let lab = Lab::new("maxpfx");
    let r = lab.node("r");
    let up = &BIRD_A;
    let node = wire(&lab, &r, up);
    let routes: Vec<Announce> = (0..5)
        .map(|i| Announce::new(&format!("100.64.{i}.0/24")))
        .collect();
    let bird = peer(&node, up, &routes, false);
    let cfg = config(&[up], "").replace(
        "local_pref: 200\n",
        "local_pref: 200\n    max_prefix: { limit: 3, action: restart, restart_after: 1m }\n",
    );
    let sluice = Sluice::start(&r, &cfg);
    wait_until(UP, "BIRD reports the max-prefix Cease", || {
        bird.last_error(ip(&up.ours4()))
            .contains("Maximum number of prefixes reached")
    });
    let p = sluice.peer(&up.theirs4());
    assert_ne!(p["state"], "established", "{p}");
    assert!(
        p["last_error"]
            .as_str()
            .unwrap()
            .contains("maximum number of prefixes"),
        "{p}"
    );
    assert!(
        sluice.paths("100.64.0.0/24").is_empty(),
        "routes of a closed session are gone"
    );

    // With action warn the session stays and an event says why.
    let warn = cfg.replace("action: restart, restart_after: 1m", "action: warn");
    sluice.reload(&warn);
    sluice.wait_established(&up.theirs4(), UP);
    wait_until(ROUTE, "all five routes kept", || {
        (0..5).all(|i| !sluice.paths(&format!("100.64.{i}.0/24")).is_empty())
    });
    assert!(sluice.events().contains("above max_prefix 3"));
}

#[test]
#[ignore = "needs root: network namespaces"]
fn an_import_change_on_reload_refreshes_routes_and_gtsm_holds() {
    must_be_root();
    let lab = Lab::new("refresh");
    let r = lab.node("r");
    let up = &BIRD_A;
    let node = wire(&lab, &r, up);
    // GTSM on both sides: BIRD sends and expects TTL 255, as Sluice does with ttl_security.
    let spec = PeerSpec::new(Kind::Bird, up.asn, up.theirs4().parse().unwrap())
        .neighbor(NeighborSpec::new(ip(&up.ours4()), 64500).ttl_security())
        .announce(Announce::new("100.64.0.0/16"));
    let bird = Peer::start(&node, spec);
    let cfg = format!(
        "router: {{ id: 192.0.2.1, asn: 64500 }}\ninterfaces: [{{ name: eth1, addresses: [{}/30] }}]\nuplinks:\n  - name: bird\n    interface: eth1\n    peer: {{ address: {}, asn: 65001, ttl_security: true }}\n    import: full-table\n    local_pref: 150\npolicies: {{ bogons: [] }}\n{ONE_UPSTREAM}",
        up.ours4(),
        up.theirs4()
    );
    let sluice = Sluice::start(&r, &cfg);
    sluice.wait_established(&up.theirs4(), UP);
    sluice.wait_best("100.64.0.0/16", ROUTE, "local-pref 150", |p| {
        p["local_pref"] == 150
    });
    sluice.reload(&cfg.replace("local_pref: 150", "local_pref: 250"));
    sluice.wait_best(
        "100.64.0.0/16",
        ROUTE,
        "local-pref 250 after the refresh",
        |p| p["local_pref"] == 250,
    );
    assert_eq!(
        sluice.peer(&up.theirs4())["state"],
        "established",
        "a policy change does not reset the session"
    );
    assert!(sluice.events().contains("resend its routes"));
    assert!(
        bird.log().contains("route refresh")
            || bird.log().contains("ROUTE-REFRESH")
            || bird.log().contains("Got ROUTE-REFRESH"),
        "BIRD saw no route refresh"
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn ibgp_neighbour_with_full_table_gets_learned_routes_with_next_hop_self() {
    must_be_root();
    let lab = Lab::new("ibgpfull");
    let r = lab.node("r");
    let up = &BIRD_A;
    let node = wire(&lab, &r, up);
    let mut bird = peer(
        &node,
        up,
        &[Announce::new("100.64.0.0/16").as_path(&[65100])],
        false,
    );
    let inside = lan_router(&lab, &r);
    let sluice = Sluice::start(
        &r,
        &config(
            &[up],
            "neighbors:\n  - { address: 10.0.0.2, asn: 64500, export: full-table }\n",
        ),
    );
    sluice.wait_established("10.0.0.2", UP);
    let learned = inside.wait_route(ip("10.0.0.1"), "100.64.0.0/16", UP);
    assert_eq!(
        learned.next_hop,
        Some(ip("10.0.0.1")),
        "next-hop-self: {learned:?}"
    );
    assert_eq!(
        learned.as_path,
        [65001, 65100],
        "iBGP keeps the path: {learned:?}"
    );
    assert_eq!(
        learned.local_pref,
        Some(200),
        "the uplink's local-pref travels inside the AS: {learned:?}"
    );
    inside.wait_route(ip("10.0.0.1"), "198.51.100.0/24", ROUTE);
    // A withdrawal upstream reaches the neighbour.
    bird.withdraw("100.64.0.0/16");
    inside.wait_no_route("100.64.0.0/16", ROUTE);
}
