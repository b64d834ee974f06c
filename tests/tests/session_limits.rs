//! What a peer can cost Sluice, and what Sluice can send a peer, against
//! a running `sluice run` with real peers: a path whose attributes outgrow
//! a BIRD neighbour's 4096-octet messages on export is withdrawn there,
//! not sent malformed; a neighbour that stops reading is reset after the
//! send hold time (RFC 9687) while the uplink's session carries on.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use sluice_e2e::fakepeer::{FakePeer, attrs, nlri};
use sluice_e2e::peers::{Announce, Kind, NeighborSpec, Peer, PeerSpec};
use sluice_e2e::sluice::Sluice;
use sluice_testns::{Lab, Node, must_be_root, wait_until};
use sluice_wire::iana::attr::{
    AS_PATH, COMMUNITIES, FLAG_OPTIONAL as O, FLAG_TRANSITIVE as T, NEXT_HOP, ORIGIN,
};

mod line;
use line::{INTERNAL, neighbour, nodes, uplink};

const UP: Duration = Duration::from_secs(15);
const ACT: Duration = Duration::from_secs(10);

/// AS_SEQUENCE [65001], 4-octet ASNs.
const AS_PATH_65001: &[u8] = &[2, 1, 0, 0, 0xfd, 0xe9];

/// An UPDATE for `prefix` (a /24) from AS 65001 with `n` communities.
fn update(peer: &FakePeer, prefix: &str, n: u32) {
    let communities: Vec<u8> = (0..n)
        .flat_map(|i| (65001u32 << 16 | i).to_be_bytes())
        .collect();
    let mut list: Vec<(u8, u8, &[u8])> = vec![
        (T, ORIGIN, &[0]),
        (T, AS_PATH, AS_PATH_65001),
        (T, NEXT_HOP, &[203, 0, 113, 1]),
    ];
    if n > 0 {
        list.push((O | T, COMMUNITIES, &communities));
    }
    peer.update(&[], &attrs(&list), &nlri(&[prefix]));
}

/// Small socket buffers between Sluice (`r`) and `n`: a shut window shows
/// after a few kilobytes.
fn small_buffers(r: &Node<'_>, n: &Node<'_>) {
    n.run(["sysctl", "-qw", "net.ipv4.tcp_rmem=4096 4096 4096"]);
    r.run(["sysctl", "-qw", "net.ipv4.tcp_wmem=4096 4096 4096"]);
}

#[test]
#[ignore = "needs root: network namespaces"]
fn a_path_too_big_for_a_neighbour_is_withdrawn_there_not_sent_malformed() {
    must_be_root();
    let lab = Lab::new("too-big");
    let (r, p, n) = nodes(&lab, INTERNAL);
    let sluice = Sluice::start(
        &r,
        "router: { id: 192.0.2.1, asn: 64500 }
interfaces:
  - { name: eth1, addresses: [203.0.113.2/30] }
  - { name: eth2, addresses: [10.0.0.1/30] }
uplinks:
  - { name: iap-a, interface: eth1, peer: { address: 203.0.113.1, asn: 65001, passive: true }, import: full-table, max_prefix: 100 }
neighbors:
  - { address: 10.0.0.2, asn: 64500, export: full-table, max_prefix: 100 }
policies: { bogons: [] }
dataplane: { xdp: off, kernel_fib: off }
",
    );
    // BIRD does not enable extended messages by default: 4096 octets.
    let bird = Peer::start(
        &n,
        PeerSpec::new(Kind::Bird, 64500, Ipv4Addr::new(10, 0, 0, 2))
            .neighbor(NeighborSpec::new("10.0.0.1".parse().unwrap(), 64500)),
    );
    let peer = uplink(&p);
    sluice.wait_established("203.0.113.1", UP);
    sluice.wait_established("10.0.0.2", UP);
    let from = "10.0.0.1".parse().unwrap();

    update(&peer, "198.51.100.0/24", 0);
    bird.wait_route(from, "198.51.100.0/24", ACT);

    // 1011 communities: the UPDATE received is 4095 octets; toward BIRD,
    // with LOCAL_PREF added, it would be 4102.
    update(&peer, "198.51.101.0/24", 1011);
    wait_until(ACT, "Sluice to hold 198.51.101.0/24", || {
        !sluice.paths("198.51.101.0/24").is_empty()
    });
    wait_until(ACT, "show peers: too_big 1 toward BIRD", || {
        sluice.peer("10.0.0.2")["too_big"] == 1
    });
    // A later change reaches BIRD: everything before it was handled.
    update(&peer, "198.51.102.0/24", 0);
    bird.wait_route(from, "198.51.102.0/24", ACT);
    let routes = bird.received_routes(Some(from));
    assert!(
        !routes.iter().any(|r| r.prefix == "198.51.101.0/24"),
        "BIRD must not have the oversized path: {routes:?}"
    );

    // Smaller now: it goes out; bigger again: it is withdrawn there.
    update(&peer, "198.51.101.0/24", 10);
    let route = bird.wait_route(from, "198.51.101.0/24", ACT);
    assert_eq!(route.communities.len(), 10, "{route:?}");
    assert_eq!(sluice.peer("10.0.0.2")["too_big"], 0);
    update(&peer, "198.51.101.0/24", 1011);
    bird.wait_no_route("198.51.101.0/24", ACT);
    assert_eq!(sluice.peer("10.0.0.2")["too_big"], 1);

    // BIRD never saw a malformed message: the session never went down.
    let p = sluice.peer("10.0.0.2");
    assert_eq!(p["state"], "established", "{p}");
    assert!(p["last_error"].is_null(), "{p}");
    assert!(
        bird.log().matches("Established").count() <= 1 && !bird.log().contains("Error:"),
        "BIRD's log:\n{}",
        bird.log()
    );
    assert!(
        sluice.log().contains("not exported"),
        "Sluice logs the first oversized path"
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn a_neighbour_that_stops_reading_is_reset_after_the_send_hold_time() {
    must_be_root();
    let lab = Lab::new("send-hold");
    let (r, u, n) = nodes(&lab, INTERNAL);
    small_buffers(&r, &n);
    // 2000 routes, each with its own MED: one UPDATE each toward the neighbour.
    let mut spec = PeerSpec::new(Kind::Bird, 65001, Ipv4Addr::new(203, 0, 113, 1))
        .neighbor(NeighborSpec::new("203.0.113.2".parse().unwrap(), 64500));
    for i in 0..2000u32 {
        spec =
            spec.announce(Announce::new(&format!("100.{}.{}.0/24", 64 + i / 256, i % 256)).med(i));
    }
    let bird = Peer::start(&u, spec);
    let sluice = Sluice::start(
        &r,
        "router: { id: 192.0.2.1, asn: 64500, send_hold_time: 5s }
interfaces:
  - { name: eth1, addresses: [203.0.113.2/30] }
  - { name: eth2, addresses: [10.0.0.1/30] }
uplinks:
  - { name: iap-a, interface: eth1, peer: { address: 203.0.113.1, asn: 65001 }, import: full-table, max_prefix: 5000 }
neighbors:
  - { address: 10.0.0.2, asn: 64500, export: full-table, passive: true, max_prefix: 100 }
policies: { bogons: [] }
dataplane: { xdp: off, kernel_fib: off }
",
    );
    sluice.wait_established("203.0.113.1", UP);
    wait_until(UP, "Sluice to hold BIRD's 2000 routes", || {
        sluice.peer("203.0.113.1")["accepted"] == 2000
    });
    let uplink_since = sluice.peer("203.0.113.1")["since"].clone();

    // Hold time 3 s: the send hold time is max(5 s, 2 x 3 s) = 6 s.
    let deaf = neighbour(&n, 3);
    deaf.stop_reading();
    let stopped = Instant::now();
    let mut last = serde_json::Value::Null;
    wait_until(Duration::from_secs(30), "the deaf neighbour reset", || {
        last = sluice.peer("10.0.0.2");
        last["state"] != "established"
            && last["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("send hold timer expired"))
    });
    let after = stopped.elapsed();
    assert!(
        after >= Duration::from_secs(5),
        "reset after {after:?}, before the send hold time: {last}"
    );
    eprintln!("reset after {after:?}: {last}");

    // The uplink's session carried on throughout, keepalives on time.
    let up = sluice.peer("203.0.113.1");
    assert_eq!(up["state"], "established", "{up}");
    assert_eq!(
        up["since"], uplink_since,
        "the uplink session flapped: {up}"
    );
    bird.wait_established("203.0.113.2".parse().unwrap(), ACT);
    assert_eq!(up["accepted"], 2000);
}

#[test]
#[ignore = "needs root: network namespaces"]
fn paths_over_the_limits_are_treated_as_withdrawn_and_max_prefix_resets() {
    must_be_root();
    let lab = Lab::new("limits");
    let (r, p) = (lab.node("r"), lab.node("p"));
    lab.link(&r, "eth1", &p, "eth1");
    r.addr("eth1", "203.0.113.2/30");
    p.addr("eth1", "203.0.113.1/30");
    let sluice = Sluice::start(
        &r,
        "router: { id: 192.0.2.1, asn: 64500, max_as_path_length: 20, max_path_attributes: 8 }
interfaces:
  - { name: eth1, addresses: [203.0.113.2/30] }
uplinks:
  - { name: iap-a, interface: eth1, peer: { address: 203.0.113.1, asn: 65001, passive: true }, import: full-table, max_prefix: { limit: 10, action: restart, restart_after: 1m } }
policies: { bogons: [] }
dataplane: { xdp: off, kernel_fib: off }
",
    );
    let peer = uplink(&p);
    sluice.wait_established("203.0.113.1", UP);
    let path = |n: u8| -> Vec<u8> {
        let mut v = vec![2, n];
        v.extend((0..u32::from(n)).flat_map(|_| 65001u32.to_be_bytes()));
        v
    };
    let send = |prefix: &str, as_path: &[u8], extra: u8| {
        let mut list: Vec<(u8, u8, &[u8])> = vec![
            (T, ORIGIN, &[0]),
            (T, AS_PATH, as_path),
            (T, NEXT_HOP, &[203, 0, 113, 1]),
        ];
        for code in 0..extra {
            list.push((O | T, 200 + code, &[1]));
        }
        peer.update(&[], &attrs(&list), &nlri(&[prefix]));
    };
    send("198.51.100.0/24", &path(20), 0);
    wait_until(ACT, "a 20-ASN path accepted", || {
        !sluice.paths("198.51.100.0/24").is_empty()
    });
    // One more ASN: treated as withdrawn, the session kept.
    send("198.51.100.0/24", &path(21), 0);
    wait_until(ACT, "a 21-ASN path treated as withdrawn", || {
        sluice.paths("198.51.100.0/24").is_empty()
    });
    // 8 attributes are fine, 9 are not.
    send("198.51.101.0/24", &path(1), 5);
    wait_until(ACT, "8 attributes accepted", || {
        !sluice.paths("198.51.101.0/24").is_empty()
    });
    send("198.51.101.0/24", &path(1), 6);
    wait_until(ACT, "9 attributes treated as withdrawn", || {
        sluice.paths("198.51.101.0/24").is_empty()
    });
    assert!(peer.ended().is_none() && peer.notifications().is_empty());
    assert!(
        sluice
            .log()
            .contains("routes treated as withdrawn: AS_PATH of 21 ASNs, more than 20")
    );

    // Max-prefix: 30 UPDATEs in one write; the reset comes at the 11th,
    // with Cease / maximum number of prefixes reached (RFC 4486).
    let mut burst = Vec::new();
    for k in 0..30 {
        let prefix = format!("100.64.{k}.0/24");
        burst.extend(sluice_wire::encode::update(
            &[],
            &attrs(&[
                (T, ORIGIN, &[0]),
                (T, AS_PATH, &path(1)),
                (T, NEXT_HOP, &[203, 0, 113, 1]),
            ]),
            &nlri(&[&prefix]),
        ));
    }
    peer.send(&burst).unwrap();
    let n = peer.wait_notification(ACT);
    assert_eq!((n.code, n.subcode), (6, 1), "{n:?}");
    wait_until(ACT, "show peers: the session down", || {
        sluice.peer("203.0.113.1")["state"] != "established"
    });
}

#[test]
#[ignore = "needs root: network namespaces"]
fn no_withdrawal_is_lost_while_a_neighbours_queue_is_full() {
    must_be_root();
    let lab = Lab::new("owed");
    let (r, p, n) = nodes(&lab, INTERNAL);
    small_buffers(&r, &n);
    let sluice = Sluice::start(
        &r,
        "router: { id: 192.0.2.1, asn: 64500, send_hold_time: 120s }
interfaces:
  - { name: eth1, addresses: [203.0.113.2/30] }
  - { name: eth2, addresses: [10.0.0.1/30] }
uplinks:
  - { name: iap-a, interface: eth1, peer: { address: 203.0.113.1, asn: 65001, passive: true }, import: full-table, max_prefix: 1000 }
neighbors:
  - { address: 10.0.0.2, asn: 64500, export: full-table, passive: true, max_prefix: 100 }
policies: { bogons: [] }
dataplane: { xdp: off, kernel_fib: off }
",
    );
    let up = uplink(&p);
    let neighbour = neighbour(&n, 30);
    sluice.wait_established("203.0.113.1", UP);
    sluice.wait_established("10.0.0.2", UP);
    neighbour.stop_reading();

    // 400 announcements and then 200 withdrawals, one UPDATE each, paced
    // so that each is its own change toward the neighbour: far more than
    // its queue and socket buffers hold while it reads nothing.
    let prefix = |i: u32| format!("100.{}.{}.0/24", 64 + i / 256, i % 256);
    for i in 0..400 {
        update(&up, &prefix(i), 0);
        std::thread::sleep(Duration::from_millis(2));
    }
    for i in 0..200 {
        up.update(&nlri(&[&prefix(i)]), &[], &[]);
        std::thread::sleep(Duration::from_millis(2));
    }
    wait_until(ACT, "Sluice to hold the 200 routes left", || {
        sluice.peer("203.0.113.1")["accepted"] == 200
    });
    assert_eq!(sluice.peer("10.0.0.2")["state"], "established");

    // The queue did fill: what the neighbour is owed waited.
    assert!(
        sluice.log().contains("session queue full"),
        "the test did not fill the queue"
    );
    neighbour.resume_reading();
    // The iBGP default route (an uplink is active) and the 200 left.
    let want: std::collections::BTreeSet<sluice_wire::Prefix> = (200..400)
        .map(|i| prefix(i).parse().unwrap())
        .chain(["0.0.0.0/0".parse().unwrap()])
        .collect();
    let mut held = Default::default();
    let converged = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until(
            Duration::from_secs(15),
            "the neighbour to hold exactly what Sluice has",
            || {
                held = neighbour.ipv4_routes();
                held == want
            },
        )
    }));
    let stale: Vec<_> = held.difference(&want).collect();
    let missing: Vec<_> = want.difference(&held).collect();
    assert!(
        converged.is_ok(),
        "{} withdrawn routes still held by the neighbour ({:?}...), {} missing ({:?}...); {} messages received; Sluice: {}",
        stale.len(),
        stale.first(),
        missing.len(),
        missing.first(),
        neighbour.messages().len(),
        sluice.peer("10.0.0.2")
    );
    assert!(neighbour.ended().is_none());
}

#[test]
#[ignore = "needs root: network namespaces"]
fn a_flooding_peer_does_not_make_another_session_late() {
    must_be_root();
    let lab = Lab::new("flood");
    let (r, p, b) = nodes(&lab, ("203.0.113.6/30", "203.0.113.5/30"));
    // BIRD with a 3 s hold time: one late KEEPALIVE from Sluice and it
    // drops the session.
    let bird = Peer::start(
        &b,
        PeerSpec::new(Kind::Bird, 65002, Ipv4Addr::new(203, 0, 113, 5))
            .neighbor(NeighborSpec::new("203.0.113.6".parse().unwrap(), 64500).hold_time(3)),
    );
    let sluice = Sluice::start(
        &r,
        "router: { id: 192.0.2.1, asn: 64500 }
interfaces:
  - { name: eth1, addresses: [203.0.113.2/30] }
  - { name: eth2, addresses: [203.0.113.6/30] }
uplinks:
  - { name: iap-a, interface: eth1, peer: { address: 203.0.113.1, asn: 65001, passive: true }, import: full-table, max_prefix: 100000 }
  - { name: iap-b, interface: eth2, peer: { address: 203.0.113.5, asn: 65002 }, import: full-table, max_prefix: 100 }
policies: { bogons: [] }
",
    );
    let flood = uplink(&p);
    sluice.wait_established("203.0.113.5", UP);
    bird.wait_established("203.0.113.6".parse().unwrap(), UP);
    let since = sluice.peer("203.0.113.5")["since"].clone();

    // 50,000 prefixes announced, each with its own MED (one UPDATE each),
    // then withdrawn, again and again for 10 s, as fast as Sluice takes them.
    let prefixes: Vec<String> = (0..50_000u32)
        .map(|i| format!("100.{}.{}.0/24", i / 256, i % 256))
        .collect();
    let mut announce = Vec::new();
    let mut withdraw = Vec::new();
    for (i, p) in prefixes.iter().enumerate() {
        let med = (i as u32).to_be_bytes();
        announce.extend(sluice_wire::encode::update(
            &[],
            &attrs(&[
                (T, ORIGIN, &[0]),
                (T, AS_PATH, AS_PATH_65001),
                (T, NEXT_HOP, &[203, 0, 113, 1]),
                (O, sluice_wire::iana::attr::MED, &med),
            ]),
            &nlri(&[p]),
        ));
    }
    for chunk in prefixes.chunks(500) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        withdraw.extend(sluice_wire::encode::update(&nlri(&refs), &[], &[]));
    }
    let started = Instant::now();
    let mut rounds = 0;
    while started.elapsed() < Duration::from_secs(10) {
        flood.send(&announce).expect("flood");
        flood.send(&withdraw).expect("flood");
        rounds += 1;
    }
    eprintln!("{rounds} rounds of 50,000 announcements and withdrawals in 10 s");
    assert!(rounds >= 2, "the flood was too slow to mean anything");

    // BIRD never missed a KEEPALIVE: its session never dropped.
    assert_eq!(
        bird.session_state("203.0.113.6".parse().unwrap()),
        sluice_e2e::peers::SessionState::Established
    );
    let p = sluice.peer("203.0.113.5");
    assert_eq!(
        (&p["state"], &p["since"]),
        (&"established".into(), &since),
        "{p}"
    );
    assert!(
        !bird.log().contains("Hold timer expired"),
        "BIRD's log:\n{}",
        bird.log()
    );
    assert!(flood.ended().is_none(), "the flooding session was reset");
}
