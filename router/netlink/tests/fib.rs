//! Nexthop objects and routes in the kernel FIB, in throwaway namespaces:
//!
//! ```text
//!   u1 eth0 ──veth── eth1  r  eth2 ──veth── eth0 u2
//!   10.1.0.2/24  10.1.0.1/24  10.2.0.1/24  10.2.0.2/24
//!   fd01::2/64    fd01::1/64   fd02::1/64   fd02::2/64
//! ```
//!
//! `r` holds nexthops 1 (u1) and 2 (u2), 11 and 12 (the same over IPv6),
//! groups 100 = {1, 2} and 106 = {11, 12}, and Sluice's routes.
//!
//! Needs root: run via scripts/test.sh as root, or
//! `cargo test -p sluice-netlink -- --include-ignored`.

mod common;

use std::io;
use std::net::IpAddr;
use std::time::Duration;

use common::{ifindex_of, in_ns, require_root};
use sluice_netlink::{
    Netlink, NexthopKind, ROUTE_PROTOCOL, Route, RouteChange, RouteTarget, kernel_errno,
};
use sluice_testns::{Lab, Node};

struct Topology<'lab> {
    r: Node<'lab>,
    u2: Node<'lab>,
    eth1: u32,
    eth2: u32,
}

fn topology(lab: &Lab) -> Topology<'_> {
    let r = lab.node("r");
    let (u1, u2) = (lab.node("u1"), lab.node("u2"));
    for (n, peer) in [(1, &u1), (2, &u2)] {
        let ifname = format!("eth{n}");
        lab.link(&r, &ifname, peer, "eth0");
        r.addr(&ifname, &format!("10.{n}.0.1/24"));
        peer.addr("eth0", &format!("10.{n}.0.2/24"));
        r.ip([
            "addr",
            "add",
            &format!("fd0{n}::1/64"),
            "dev",
            &ifname,
            "nodad",
        ]);
        peer.ip([
            "addr",
            "add",
            &format!("fd0{n}::2/64"),
            "dev",
            "eth0",
            "nodad",
        ]);
    }
    Topology {
        eth1: ifindex_of(&r, "eth1"),
        eth2: ifindex_of(&r, "eth2"),
        r,
        u2,
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn set(prefix: IpAddr, len: u8, target: RouteTarget) -> RouteChange {
    RouteChange::Set(Route {
        prefix: (prefix, len),
        target,
    })
}

/// 100.a.b.0/24 for i = a·256 + b.
fn v4_prefix(i: usize) -> IpAddr {
    IpAddr::from([100, (i >> 8) as u8, i as u8, 0])
}

fn nexthops(nl: &mut Netlink, t: &Topology<'_>) {
    nl.set_nexthop(1, ip("10.1.0.2"), t.eth1).unwrap();
    nl.set_nexthop(2, ip("10.2.0.2"), t.eth2).unwrap();
    nl.set_nexthop(11, ip("fd01::2"), t.eth1).unwrap();
    nl.set_nexthop(12, ip("fd02::2"), t.eth2).unwrap();
    nl.set_nexthop_group(100, &[(1, 1), (2, 1)]).unwrap();
    nl.set_nexthop_group(106, &[(11, 1), (12, 3)]).unwrap();
}

/// Routes in `ip route show` output: a route via a group continues on
/// indented `nexthop` lines.
fn lines(out: &str) -> usize {
    out.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with(char::is_whitespace))
        .count()
}

/// `ip route get` for `dst`, e.g. "... via 10.1.0.2 dev eth1 ...".
fn route_get(r: &Node<'_>, dst: &str) -> String {
    r.ip(["route", "get", dst])
}

#[test]
#[ignore = "needs root: network namespaces"]
fn nexthops_groups_and_many_routes() {
    require_root();
    let lab = Lab::new("nl-fib");
    let t = topology(&lab);
    let mut nl = in_ns(&t.r, || Netlink::new().unwrap());
    nexthops(&mut nl, &t);

    let shown = t.r.ip(["nexthop", "show"]);
    assert!(
        shown.contains("id 100 group 1/2"),
        "ip nexthop show:\n{shown}"
    );
    assert!(shown.contains("id 106 group 11/12,3"), "weight 3:\n{shown}");
    assert!(shown.contains("id 1 via 10.1.0.2 dev eth1"), "{shown}");
    let ours = nl.own_nexthops().unwrap();
    assert_eq!(ours.len(), 6, "{ours:?}");
    let g = ours.iter().find(|n| n.id == 106).unwrap();
    assert_eq!(g.kind, NexthopKind::Group(vec![(11, 1), (12, 3)]));
    // Weights above 256 use weight_high (Linux 6.12).
    nl.set_nexthop_group(107, &[(1, 300), (2, 65535)]).unwrap();
    let g = nl.nexthop(107).unwrap().unwrap();
    assert_eq!(g.kind, NexthopKind::Group(vec![(1, 300), (2, 65535)]));
    assert!(nl.delete_nexthop(107).unwrap());

    // 10k IPv4 routes, 100 IPv6 routes, a blackhole.
    let mut changes: Vec<RouteChange> = (0..10_000)
        .map(|i| set(v4_prefix(i), 24, RouteTarget::Nexthop(100)))
        .collect();
    changes.extend((0..100u16).map(|i| {
        let p = IpAddr::from([0x2001, 0xdb8, i, 0, 0, 0, 0, 0]);
        set(p, 48, RouteTarget::Nexthop(106))
    }));
    changes.push(set(ip("198.51.100.0"), 24, RouteTarget::Blackhole));
    let failed = nl.apply_routes(&changes).unwrap();
    assert!(failed.is_empty(), "{failed:?}");

    let proto = ROUTE_PROTOCOL.to_string();
    let v4 = t.r.ip(["route", "show", "proto", &proto]);
    assert_eq!(lines(&v4), 10_001);
    assert!(v4.contains("100.0.0.0/24 nhid 100"), "{}", &v4[..200]);
    assert!(v4.contains("blackhole 198.51.100.0/24"));
    assert_eq!(
        lines(&t.r.ip(["-6", "route", "show", "proto", &proto])),
        100
    );
    let mut own = nl.own_routes().unwrap();
    assert_eq!(own.len(), changes.len());
    assert_eq!(nl.count_own_routes().unwrap(), changes.len());
    let mut want: Vec<Route> = changes
        .iter()
        .map(|c| match c {
            RouteChange::Set(r) => *r,
            _ => unreachable!(),
        })
        .collect();
    own.sort_by_key(|r| (r.prefix.0, r.prefix.1));
    want.sort_by_key(|r| (r.prefix.0, r.prefix.1));
    assert_eq!(own, want);

    // Setting again is a replace, not an error.
    assert!(nl.apply_routes(&changes[..10]).unwrap().is_empty());
    // Adding again is an error (EEXIST), in both families; a new prefix is
    // added.
    let fresh = Route {
        prefix: (ip("203.0.113.0"), 24),
        target: RouteTarget::Nexthop(100),
    };
    let adds: Vec<RouteChange> = [changes[0], changes[10_000], RouteChange::Set(fresh)]
        .iter()
        .map(|c| match c {
            RouteChange::Set(r) => RouteChange::Add(*r),
            _ => unreachable!(),
        })
        .collect();
    let failed = nl.apply_routes(&adds).unwrap();
    let refused: Vec<(RouteChange, Option<i32>)> = failed
        .iter()
        .map(|(c, e)| (*c, sluice_netlink::kernel_errno(e)))
        .collect();
    assert_eq!(
        refused,
        [(adds[0], Some(libc::EEXIST)), (adds[1], Some(libc::EEXIST))]
    );
    assert!(
        nl.apply_routes(&[RouteChange::Delete(fresh.prefix)])
            .unwrap()
            .is_empty()
    );

    // Deleting half of the IPv4 routes.
    let deletes: Vec<_> = (0..5_000)
        .map(|i| RouteChange::Delete((v4_prefix(i), 24)))
        .collect();
    assert!(nl.apply_routes(&deletes).unwrap().is_empty());
    assert_eq!(lines(&t.r.ip(["route", "show", "proto", &proto])), 5_001);
    assert_eq!(nl.count_own_routes().unwrap(), 5_101);
}

#[test]
#[ignore = "needs root: network namespaces"]
fn replacing_group_members_moves_the_routes() {
    require_root();
    let lab = Lab::new("nl-group");
    let t = topology(&lab);
    let mut nl = in_ns(&t.r, || Netlink::new().unwrap());
    nexthops(&mut nl, &t);
    let routes = [
        set(ip("100.64.0.0"), 16, RouteTarget::Nexthop(100)),
        set(ip("2001:db8::"), 32, RouteTarget::Nexthop(106)),
    ];
    assert!(nl.apply_routes(&routes).unwrap().is_empty());

    nl.set_nexthop_group(100, &[(2, 1)]).unwrap();
    nl.set_nexthop_group(106, &[(12, 1)]).unwrap();
    let got = route_get(&t.r, "100.64.1.1");
    assert!(got.contains("via 10.2.0.2 dev eth2"), "{got}");
    let got = route_get(&t.r, "2001:db8::1");
    assert!(got.contains("via fd02::2 dev eth2"), "{got}");

    nl.set_nexthop_group(100, &[(1, 1)]).unwrap();
    nl.set_nexthop_group(106, &[(11, 1)]).unwrap();
    let got = route_get(&t.r, "100.64.1.1");
    assert!(got.contains("via 10.1.0.2 dev eth1"), "{got}");
    let got = route_get(&t.r, "2001:db8::1");
    assert!(got.contains("via fd01::2 dev eth1"), "{got}");

    // A member nexthop's gateway replaced in place moves them too.
    nl.set_nexthop(1, ip("10.2.0.2"), t.eth2).unwrap();
    let got = route_get(&t.r, "100.64.1.1");
    assert!(got.contains("via 10.2.0.2 dev eth2"), "{got}");

    // Deleting a nexthop: the kernel drops it from its group.
    assert!(nl.delete_nexthop(12).unwrap());
    assert!(!nl.delete_nexthop(12).unwrap(), "already gone");
    let g = nl.nexthop(106).unwrap().unwrap();
    assert_eq!(g.kind, NexthopKind::Group(vec![(11, 1)]));
}

#[test]
#[ignore = "needs root: network namespaces"]
fn errors_are_per_change_and_the_rest_applies() {
    require_root();
    let lab = Lab::new("nl-errors");
    let t = topology(&lab);
    let mut nl = in_ns(&t.r, || Netlink::new().unwrap());
    nexthops(&mut nl, &t);

    // A nexthop on a missing interface: an error, with the kernel's words.
    let e = nl.set_nexthop(5, ip("10.1.0.2"), 999).unwrap_err();
    assert_eq!(kernel_errno(&e), Some(libc::EINVAL), "{e}");
    assert!(e.to_string().contains("Invalid device index"), "{e}");
    // Weight 0 is refused before it reaches the kernel.
    let e = nl.set_nexthop_group(7, &[(1, 0)]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);

    let good1 = set(ip("100.65.0.0"), 16, RouteTarget::Nexthop(100));
    let missing_nh = set(ip("100.66.0.0"), 16, RouteTarget::Nexthop(999));
    let host_bits = set(ip("100.67.0.1"), 16, RouteTarget::Nexthop(100));
    let v6_via_v4 = set(ip("2001:db8:1::"), 48, RouteTarget::Nexthop(1));
    let not_there = RouteChange::Delete((ip("100.68.0.0"), 16));
    let good2 = set(ip("100.69.0.0"), 16, RouteTarget::Blackhole);
    let batch = [good1, missing_nh, host_bits, v6_via_v4, not_there, good2];
    let failed = nl.apply_routes(&batch).unwrap();
    let refused: Vec<RouteChange> = failed.iter().map(|(c, _)| *c).collect();
    assert_eq!(
        refused,
        [missing_nh, host_bits, v6_via_v4, not_there],
        "{failed:?}"
    );
    for (change, e) in &failed {
        eprintln!("{change:?}: {e}");
    }
    assert_eq!(kernel_errno(&failed[3].1), Some(libc::ESRCH));
    let own = nl.own_routes().unwrap();
    assert!(own.contains(&Route {
        prefix: (ip("100.65.0.0"), 16),
        target: RouteTarget::Nexthop(100)
    }));
    assert!(own.contains(&Route {
        prefix: (ip("100.69.0.0"), 16),
        target: RouteTarget::Blackhole
    }));
    assert_eq!(own.len(), 2, "{own:?}");
}

#[test]
#[ignore = "needs root: network namespaces"]
fn flush_removes_only_our_routes_and_nexthops() {
    require_root();
    let lab = Lab::new("nl-flush");
    let t = topology(&lab);
    let mut nl = in_ns(&t.r, || Netlink::new().unwrap());
    nexthops(&mut nl, &t);
    let changes: Vec<_> = (0..1_000)
        .map(|i| set(v4_prefix(i), 24, RouteTarget::Nexthop(100)))
        .chain([set(ip("2001:db8::"), 32, RouteTarget::Nexthop(106))])
        .collect();
    assert!(nl.apply_routes(&changes).unwrap().is_empty());

    // Someone else's: a static route, one for a prefix we also route
    // (another metric, so both exist), and a nexthop object of theirs.
    t.r.ip([
        "route",
        "add",
        "192.0.2.0/24",
        "via",
        "10.1.0.2",
        "proto",
        "static",
    ]);
    t.r.ip([
        "route",
        "add",
        "100.0.0.0/24",
        "via",
        "10.2.0.2",
        "proto",
        "static",
    ]);
    t.r.ip([
        "-6",
        "route",
        "add",
        "2001:db8::/32",
        "via",
        "fd02::2",
        "proto",
        "static",
    ]);
    t.r.ip([
        "nexthop", "add", "id", "500", "via", "10.1.0.2", "dev", "eth1",
    ]);
    let e = nl.delete_nexthop(500).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
    let e = nl.set_nexthop(500, ip("10.2.0.2"), t.eth2).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists, "{e}");
    // Deleting our route for a prefix they also have leaves theirs.
    let ours_only = RouteChange::Delete((ip("100.0.0.0"), 24));
    assert!(nl.apply_routes(&[ours_only]).unwrap().is_empty());
    let kept = t.r.ip(["route", "show", "100.0.0.0/24"]);
    assert!(
        kept.contains("via 10.2.0.2") && kept.contains("proto static"),
        "{kept}"
    );

    let flushed = nl.flush_own().unwrap();
    assert_eq!(
        (flushed.routes, flushed.nexthops),
        (1_000, 6),
        "{flushed:?}"
    );
    assert!(nl.own_routes().unwrap().is_empty());
    assert!(nl.own_nexthops().unwrap().is_empty());
    let proto = ROUTE_PROTOCOL.to_string();
    assert_eq!(lines(&t.r.ip(["route", "show", "proto", &proto])), 0);
    let statics = t.r.ip(["route", "show", "proto", "static"]);
    assert_eq!(lines(&statics), 2, "{statics}");
    let statics6 = t.r.ip(["-6", "route", "show", "proto", "static"]);
    assert_eq!(lines(&statics6), 1, "{statics6}");
    assert!(t.r.ip(["nexthop", "show"]).contains("id 500"));
    assert_eq!(nl.flush_own().unwrap(), Default::default(), "idempotent");
}

/// Every change of a big batch failing must not overflow the receive
/// buffer: the batch is cut into rounds sized for that worst case, so
/// each error comes back, none is lost to ENOBUFS.
#[test]
#[ignore = "needs root: network namespaces"]
fn a_batch_where_everything_fails_reports_every_error() {
    require_root();
    let lab = Lab::new("nl-allfail");
    let t = topology(&lab);
    let mut nl = in_ns(&t.r, || Netlink::new().unwrap());
    let n = 50_000;
    let changes: Vec<_> = (0..n)
        .map(|i| set(v4_prefix(i), 24, RouteTarget::Nexthop(4242)))
        .collect();
    let failed = nl.apply_routes(&changes).unwrap();
    assert_eq!(failed.len(), n);
    assert!(failed.iter().zip(&changes).all(|((c, _), want)| c == want));
    assert!(
        failed[n - 1]
            .1
            .to_string()
            .contains("Nexthop id does not exist")
    );
    // The socket is still in step: the next request gets its own answer.
    assert!(nl.own_routes().unwrap().is_empty());
    nexthops(&mut nl, &t);
    assert_eq!(nl.own_nexthops().unwrap().len(), 6);
}

/// What the kernel does to nexthop objects when a link goes down: it
/// deletes those on the link (admin down or carrier loss), drops them from
/// their groups, and deletes a group left empty together with its routes.
/// The daemon has to put them back when the link comes up.
#[test]
#[ignore = "needs root: network namespaces"]
fn link_down_deletes_the_links_nexthops() {
    require_root();
    let lab = Lab::new("nl-linkdown");
    let t = topology(&lab);
    let mut nl = in_ns(&t.r, || Netlink::new().unwrap());
    nexthops(&mut nl, &t);
    let routes = [
        set(ip("100.64.0.0"), 16, RouteTarget::Nexthop(100)),
        set(ip("100.65.0.0"), 16, RouteTarget::Nexthop(1)),
    ];
    assert!(nl.apply_routes(&routes).unwrap().is_empty());

    t.r.ip(["link", "set", "eth1", "down"]);
    let ids: Vec<u32> = nl.own_nexthops().unwrap().iter().map(|n| n.id).collect();
    assert!(!ids.contains(&1) && !ids.contains(&11), "{ids:?}");
    let g = nl.nexthop(100).unwrap().unwrap();
    assert_eq!(g.kind, NexthopKind::Group(vec![(2, 1)]));
    let own = nl.own_routes().unwrap();
    assert_eq!(
        own,
        [Route {
            prefix: (ip("100.64.0.0"), 16),
            target: RouteTarget::Nexthop(100)
        }]
    );

    // Carrier loss on eth2 (its peer goes down) empties group 100, which
    // goes, and its route with it.
    t.u2.ip(["link", "set", "eth0", "down"]);
    sluice_testns::wait_until(Duration::from_secs(10), "group 100 to go", || {
        nl.nexthop(100).unwrap().is_none()
    });
    assert!(nl.own_routes().unwrap().is_empty());
    let left: Vec<u32> = nl.own_nexthops().unwrap().iter().map(|n| n.id).collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn reserved_protocols_are_refused() {
    for protocol in 0..=4 {
        let e = Netlink::with_protocol(protocol).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
