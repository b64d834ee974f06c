//! Proves the real-BGP-peer layer (`sluice_e2e::peers`) by peering BIRD,
//! GoBGP and FRR with each other: sessions come up, routes cross with the
//! expected attributes and go away when withdrawn, TCP-MD5 works, and a
//! wrong ASN fails the session with an OPEN error each daemon reports.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::{Value, json};
use sluice_e2e::peers::{Announce, Kind, NeighborSpec, Peer, PeerSpec, SessionState};
use sluice_testns::{Lab, Node, leftovers, must_be_root, wait_until};

const UP: Duration = Duration::from_secs(15);
const ROUTE: Duration = Duration::from_secs(10);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Adds an IPv6 address without duplicate address detection, which would
/// otherwise keep it unusable (and the daemons unable to bind) for ~2 s.
fn addr6(node: &Node<'_>, ifname: &str, cidr: &str) {
    node.ip(["addr", "add", cidr, "dev", ifname, "nodad"]);
}

fn spec(kind: Kind, asn: u32, router_id: &str) -> PeerSpec {
    PeerSpec::new(kind, asn, router_id.parse().unwrap())
}

#[test]
#[ignore = "needs root: network namespaces"]
fn bird_and_gobgp_exchange_ipv4_and_ipv6_routes() {
    must_be_root();
    let lab = Lab::new("bird-gobgp");
    let prefix = lab.prefix().to_owned();
    bird_and_gobgp_exchange(&lab);
    // Peers stopped and their namespaces gone: nothing may be left.
    drop(lab);
    assert_eq!(leftovers(&prefix), Vec::<String>::new());
}

fn bird_and_gobgp_exchange(lab: &Lab) {
    let (a, b) = (lab.node("bird"), lab.node("gobgp"));
    lab.link(&a, "eth1", &b, "eth1");
    a.addr("eth1", "203.0.113.1/30");
    b.addr("eth1", "203.0.113.2/30");
    addr6(&a, "eth1", "2001:db8:1::1/64");
    addr6(&b, "eth1", "2001:db8:1::2/64");

    let mut bird = Peer::start(
        &a,
        spec(Kind::Bird, 65001, "203.0.113.1")
            .neighbor(NeighborSpec::new(ip("203.0.113.2"), 65002))
            .neighbor(NeighborSpec::new(ip("2001:db8:1::2"), 65002))
            .announce(
                Announce::new("198.51.100.0/24")
                    .med(10)
                    .community("65001:100"),
            )
            .announce("2001:db8:100::/48"),
    );
    let mut gobgp = Peer::start(
        &b,
        spec(Kind::Gobgp, 65002, "203.0.113.2")
            .neighbor(NeighborSpec::new(ip("203.0.113.1"), 65001))
            .neighbor(NeighborSpec::new(ip("2001:db8:1::1"), 65001))
            .announce(
                Announce::new("192.0.2.0/24")
                    .as_path(&[65010])
                    .community("65002:7"),
            )
            .announce(Announce::new("2001:db8:200::/48").community("65002:1:2")),
    );
    for (peer, neighbors) in [
        (&bird, ["203.0.113.2", "2001:db8:1::2"]),
        (&gobgp, ["203.0.113.1", "2001:db8:1::1"]),
    ] {
        for n in neighbors {
            peer.wait_established(ip(n), UP);
        }
    }

    let r = gobgp.wait_route(ip("203.0.113.1"), "198.51.100.0/24", ROUTE);
    assert_eq!(r.next_hop, Some(ip("203.0.113.1")), "{r:?}");
    assert_eq!(r.as_path, [65001], "{r:?}");
    assert_eq!(
        (r.med, r.communities.as_slice()),
        (Some(10), &["65001:100".to_owned()][..])
    );
    let r = gobgp.wait_route(ip("2001:db8:1::1"), "2001:db8:100::/48", ROUTE);
    assert_eq!(
        (r.next_hop, r.as_path.as_slice()),
        (Some(ip("2001:db8:1::1")), &[65001][..])
    );

    let r = bird.wait_route(ip("203.0.113.2"), "192.0.2.0/24", ROUTE);
    assert_eq!(r.next_hop, Some(ip("203.0.113.2")), "{r:?}");
    assert_eq!(r.as_path, [65002, 65010], "{r:?}");
    assert_eq!(r.communities, ["65002:7"], "{r:?}");
    let r = bird.wait_route(ip("2001:db8:1::2"), "2001:db8:200::/48", ROUTE);
    assert_eq!(
        (r.next_hop, r.as_path.as_slice()),
        (Some(ip("2001:db8:1::2")), &[65002][..])
    );
    assert_eq!(r.communities, ["65002:1:2"], "{r:?}");
    // Each family stays on its own session.
    let v4_only = bird.received_routes(Some(ip("203.0.113.2")));
    assert!(
        v4_only.iter().all(|r| !r.prefix.contains(':')),
        "{v4_only:#?}"
    );

    // Changes at run time: new attributes replace the old, withdrawals go.
    gobgp.announce(Announce::new("192.0.2.0/24").med(20));
    bird.wait_routes(None, ROUTE, "192.0.2.0/24 with MED 20", |rs| {
        rs.iter()
            .any(|r| r.prefix == "192.0.2.0/24" && r.med == Some(20) && r.as_path == [65002])
    });
    bird.withdraw("198.51.100.0/24");
    gobgp.wait_no_route("198.51.100.0/24", ROUTE);
    gobgp.withdraw("2001:db8:200::/48");
    bird.wait_no_route("2001:db8:200::/48", ROUTE);
    bird.announce(Announce::new("198.51.100.128/25").as_path(&[65020, 65030]));
    let r = gobgp.wait_route(ip("203.0.113.1"), "198.51.100.128/25", ROUTE);
    assert_eq!(r.as_path, [65001, 65020, 65030], "{r:?}");
    // The reconfiguration BIRD went through did not reset any session.
    assert_eq!(
        gobgp.session_state(ip("203.0.113.1")),
        SessionState::Established
    );
    assert_eq!(
        gobgp.received_routes(None).len(),
        2,
        "{:#?}",
        gobgp.received_routes(None)
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn frr_and_bird_peer_with_tcp_md5() {
    must_be_root();
    let lab = Lab::new("frr-md5");
    let (a, f, g) = (lab.node("bird"), lab.node("frr"), lab.node("gobgp"));
    lab.link(&a, "eth1", &f, "eth1");
    lab.link(&a, "eth2", &g, "eth1");
    a.addr("eth1", "203.0.113.1/30");
    f.addr("eth1", "203.0.113.2/30");
    addr6(&a, "eth1", "2001:db8:1::1/64");
    addr6(&f, "eth1", "2001:db8:1::2/64");
    a.addr("eth2", "203.0.113.5/30");
    g.addr("eth1", "203.0.113.6/30");

    let secret = "sluice-md5-secret";
    let bird = Peer::start(
        &a,
        spec(Kind::Bird, 65001, "203.0.113.1")
            .neighbor(NeighborSpec::new(ip("203.0.113.2"), 65003).md5(secret))
            .neighbor(NeighborSpec::new(ip("2001:db8:1::2"), 65003).md5(secret))
            .neighbor(NeighborSpec::new(ip("203.0.113.6"), 65002).md5(secret))
            .announce("198.51.100.0/24"),
    );
    let mut frr = Peer::start(
        &f,
        spec(Kind::Frr, 65003, "203.0.113.2")
            .neighbor(NeighborSpec::new(ip("203.0.113.1"), 65001).md5(secret))
            .neighbor(NeighborSpec::new(ip("2001:db8:1::1"), 65001).md5(secret))
            .announce(Announce::new("192.0.2.0/24").med(5).community("65003:1"))
            .announce("2001:db8:300::/48"),
    );
    // The control: the same session, but GoBGP signs with another key.
    let gobgp = Peer::start(
        &g,
        spec(Kind::Gobgp, 65002, "203.0.113.6")
            .neighbor(NeighborSpec::new(ip("203.0.113.5"), 65001).md5("not-the-secret")),
    );

    frr.wait_established(ip("203.0.113.1"), UP);
    bird.wait_established(ip("203.0.113.2"), UP);
    let r = bird.wait_route(ip("203.0.113.2"), "192.0.2.0/24", ROUTE);
    assert_eq!(r.next_hop, Some(ip("203.0.113.2")), "{r:?}");
    assert_eq!(r.as_path, [65003], "{r:?}");
    assert_eq!(
        (r.med, r.communities.as_slice()),
        (Some(5), &["65003:1".to_owned()][..])
    );
    let r = frr.wait_route(ip("203.0.113.1"), "198.51.100.0/24", ROUTE);
    assert_eq!(
        (r.next_hop, r.as_path.as_slice()),
        (Some(ip("203.0.113.1")), &[65001][..])
    );

    // IPv6 from a bgpd without zebra.
    frr.wait_established(ip("2001:db8:1::1"), UP);
    let r = bird.wait_route(ip("2001:db8:1::2"), "2001:db8:300::/48", ROUTE);
    assert_eq!(
        (r.next_hop, r.as_path.as_slice()),
        (Some(ip("2001:db8:1::2")), &[65003][..])
    );

    frr.announce(Announce::new("192.0.2.128/25").as_path(&[65030]).med(7));
    let r = bird.wait_route(ip("203.0.113.2"), "192.0.2.128/25", ROUTE);
    assert_eq!(
        (r.as_path.as_slice(), r.med),
        (&[65003, 65030][..], Some(7))
    );
    frr.withdraw("192.0.2.0/24");
    bird.wait_no_route("192.0.2.0/24", ROUTE);

    // By now GoBGP has had several seconds of 1 s connect retries.
    assert_ne!(
        gobgp.session_state(ip("203.0.113.5")),
        SessionState::Established
    );
    assert_ne!(
        bird.session_state(ip("203.0.113.6")),
        SessionState::Established
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn a_wrong_peer_asn_fails_with_an_open_error() {
    must_be_root();
    let lab = Lab::new("bad-asn");
    let (a, f, g) = (lab.node("bird"), lab.node("frr"), lab.node("gobgp"));
    lab.link(&a, "eth1", &f, "eth1");
    lab.link(&a, "eth2", &g, "eth1");
    a.addr("eth1", "203.0.113.1/30");
    f.addr("eth1", "203.0.113.2/30");
    a.addr("eth2", "203.0.113.5/30");
    g.addr("eth1", "203.0.113.6/30");

    // BIRD expects the wrong ASN from FRR, GoBGP the wrong one from BIRD.
    let bird = Peer::start(
        &a,
        spec(Kind::Bird, 65001, "203.0.113.1")
            .neighbor(NeighborSpec::new(ip("203.0.113.2"), 65099))
            .neighbor(NeighborSpec::new(ip("203.0.113.6"), 65002)),
    );
    let frr = Peer::start(
        &f,
        spec(Kind::Frr, 65003, "203.0.113.2").neighbor(NeighborSpec::new(ip("203.0.113.1"), 65001)),
    );
    let gobgp = Peer::start(
        &g,
        spec(Kind::Gobgp, 65002, "203.0.113.6")
            .neighbor(NeighborSpec::new(ip("203.0.113.5"), 65098)),
    );

    // BIRD rejects FRR's OPEN and says so; FRR records the NOTIFICATION.
    wait_until(UP, "BIRD to reject FRR's ASN", || {
        bird.last_error(ip("203.0.113.2")).contains("Bad peer AS")
    });
    wait_until(UP, "FRR to get BIRD's Bad Peer AS", || {
        frr.last_error(ip("203.0.113.1")).contains("Bad Peer AS")
    });
    assert!(
        frr.log()
            .contains("received from neighbor 203.0.113.1 2/2 (OPEN Message Error/Bad Peer AS)"),
        "{}",
        frr.log()
    );
    // GoBGP rejects BIRD's OPEN; BIRD logs the NOTIFICATION it received.
    wait_until(UP, "BIRD to get GoBGP's Bad Peer AS", || {
        bird.last_error(ip("203.0.113.6"))
            .contains("Received: Bad peer AS")
    });
    let gobgp_error = gobgp.last_error(ip("203.0.113.5"));
    assert!(
        gobgp_error.contains("sent notification") && gobgp_error.contains("as number mismatch"),
        "{gobgp_error}"
    );
    let bird_log = bird.log();
    assert!(
        bird_log.contains("Sending NOTIFICATION(code=2.2)"),
        "{bird_log}"
    );
    assert!(bird_log.contains("Received: Bad peer AS"), "{bird_log}");

    for (peer, n) in [
        (&bird, "203.0.113.2"),
        (&frr, "203.0.113.1"),
        (&gobgp, "203.0.113.5"),
    ] {
        assert_ne!(
            peer.session_state(ip(n)),
            SessionState::Established,
            "{:?}",
            peer.kind()
        );
    }
}

#[test]
#[ignore = "needs root: network namespaces"]
fn peers_survive_kill_restart_and_stop() {
    must_be_root();
    let lab = Lab::new("lifecycle");
    let (a, b) = (lab.node("bird"), lab.node("gobgp"));
    lab.link(&a, "eth1", &b, "eth1");
    a.addr("eth1", "203.0.113.1/30");
    b.addr("eth1", "203.0.113.2/30");
    let mut bird = Peer::start(
        &a,
        spec(Kind::Bird, 65001, "203.0.113.1")
            .neighbor(NeighborSpec::new(ip("203.0.113.2"), 65002)),
    );
    let mut gobgp = Peer::start(
        &b,
        spec(Kind::Gobgp, 65002, "203.0.113.2")
            .neighbor(NeighborSpec::new(ip("203.0.113.1"), 65001))
            .announce("192.0.2.0/24"),
    );
    bird.wait_route(ip("203.0.113.2"), "192.0.2.0/24", UP);

    // A crash: the kernel closes the socket, BIRD drops the routes at once.
    gobgp.kill();
    assert!(!gobgp.is_running());
    bird.wait_no_route("192.0.2.0/24", ROUTE);
    // An announcement made while down is in the restarted daemon too.
    gobgp.announce("192.0.2.128/25");
    gobgp.restart();
    bird.wait_route(ip("203.0.113.2"), "192.0.2.0/24", UP);
    bird.wait_route(ip("203.0.113.2"), "192.0.2.128/25", ROUTE);
    assert!(gobgp.log().contains("=== run 2"), "{}", gobgp.log());

    // A graceful stop sends a Cease, which GoBGP reports.
    bird.stop();
    wait_until(ROUTE, "GoBGP to see BIRD's Cease", || {
        gobgp.last_error(ip("203.0.113.1")).contains("cease")
    });
    assert_ne!(
        gobgp.session_state(ip("203.0.113.1")),
        SessionState::Established
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn session_options_reach_every_daemon() {
    must_be_root();
    let lab = Lab::new("options");
    let (a, f, g) = (lab.node("bird"), lab.node("frr"), lab.node("gobgp"));
    lab.link(&a, "eth1", &f, "eth1");
    lab.link(&a, "eth2", &g, "eth1");
    a.addr("eth1", "203.0.113.1/30");
    f.addr("eth1", "203.0.113.2/30");
    a.addr("eth2", "203.0.113.5/30");
    g.addr("eth1", "203.0.113.6/30");
    // Every option at once; BIRD waits, the others connect.
    let options = |n: &str, local: &str| {
        NeighborSpec::new(ip(n), 0)
            .local(ip(local))
            .multihop(2)
            .graceful_restart()
            .hold_time(6)
    };
    let bird = Peer::start(
        &a,
        spec(Kind::Bird, 65001, "203.0.113.1")
            .neighbor(NeighborSpec {
                asn: 65003,
                ..options("203.0.113.2", "203.0.113.1").passive()
            })
            .neighbor(NeighborSpec {
                asn: 65002,
                ..options("203.0.113.6", "203.0.113.5").passive()
            }),
    );
    let frr = Peer::start(
        &f,
        spec(Kind::Frr, 65003, "203.0.113.2").neighbor(NeighborSpec {
            asn: 65001,
            ..options("203.0.113.1", "203.0.113.2")
        }),
    );
    let gobgp = Peer::start(
        &g,
        spec(Kind::Gobgp, 65002, "203.0.113.6").neighbor(NeighborSpec {
            asn: 65001,
            ..options("203.0.113.5", "203.0.113.6")
        }),
    );
    frr.wait_established(ip("203.0.113.1"), UP);
    gobgp.wait_established(ip("203.0.113.5"), UP);

    // BIRD, passive, only accepted connections; the others made them.
    let bird_log = bird.log();
    for n in ["n_203_0_113_2", "n_203_0_113_6"] {
        assert!(
            bird_log.contains(&format!("{n}: Incoming connection")),
            "{bird_log}"
        );
        assert!(
            !bird_log.contains(&format!("{n}: Connecting to")),
            "{bird_log}"
        );
        let out = bird.cli(&format!("show protocols all {n}"));
        // "Hold timer: 4.9/6": the 6 s hold time was agreed.
        for want in ["external multihop", "Graceful restart", "/6\n"] {
            assert!(out.contains(want), "{want:?} in {out}");
        }
    }
    let out = bird.cli("show protocols all n_203_0_113_2");
    assert!(out.contains("Source address:   203.0.113.1"), "{out}");

    let frr_view: Value =
        serde_json::from_str(&frr.cli("show bgp neighbors 203.0.113.1 json")).unwrap();
    let n = &frr_view["203.0.113.1"];
    assert_eq!(
        n["neighborCapabilities"]["gracefulRestart"], "advertisedAndReceived",
        "{n:#}"
    );
    assert_eq!(n["bgpTimerHoldTimeMsecs"], 6000, "{n:#}");
    assert_eq!(n["externalBgpNbrMaxHopsAway"], 2, "{n:#}");
    assert_eq!(
        (&n["hostLocal"], &n["portForeign"]),
        (&json!("203.0.113.2"), &json!(179))
    );

    let gobgp_view: Value = serde_json::from_str(&gobgp.cli("neighbor 203.0.113.5 -j")).unwrap();
    let gr = &gobgp_view["afi_safis"][0]["mp_graceful_restart"]["state"];
    assert_eq!(
        (&gr["advertised"], &gr["received"]),
        (&json!(true), &json!(true)),
        "{gobgp_view:#}"
    );
    assert_eq!(
        gobgp_view["timers"]["state"]["negotiated_hold_time"], 6,
        "{gobgp_view:#}"
    );
    assert_eq!(
        gobgp_view["ebgp_multihop"]["multihop_ttl"], 2,
        "{gobgp_view:#}"
    );
    assert_eq!(
        gobgp_view["transport"]["local_address"], "203.0.113.6",
        "{gobgp_view:#}"
    );
}
