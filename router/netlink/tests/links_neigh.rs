//! Links, neighbours and their events against the real kernel, in
//! throwaway namespaces joined by a veth pair:
//!
//! ```text
//!   a eth1 ──veth── eth1 b
//!   10.9.0.1/24     10.9.0.2/24
//!   fd09::1/64      fd09::2/64
//! ```
//!
//! Needs root: run via scripts/test.sh as root, or
//! `cargo test -p sluice-netlink -- --include-ignored`.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::{drain, ifindex_of, in_ns, mac_of, require_root, wait_event};
use sluice_netlink::{Event, EventSocket, NUD_PERMANENT, Netlink};
use sluice_testns::{Lab, Node, wait_until};

const WAIT: Duration = Duration::from_secs(10);

fn pair(lab: &Lab) -> (Node<'_>, Node<'_>) {
    let (a, b) = (lab.node("a"), lab.node("b"));
    lab.link(&a, "eth1", &b, "eth1");
    for (node, v4, v6) in [
        (&a, "10.9.0.1/24", "fd09::1/64"),
        (&b, "10.9.0.2/24", "fd09::2/64"),
    ] {
        node.addr("eth1", v4);
        node.ip(["addr", "add", v6, "dev", "eth1", "nodad"]);
    }
    (a, b)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
#[ignore = "needs root: network namespaces"]
fn links_and_their_events() {
    require_root();
    let lab = Lab::new("nl-links");
    let (a, b) = pair(&lab);
    let (mut nl, mut events) = in_ns(&a, || {
        (Netlink::new().unwrap(), EventSocket::new().unwrap())
    });
    let eth1 = ifindex_of(&a, "eth1");

    // The veth is up once its operstate follows the peer (linkwatch).
    wait_until(WAIT, "a:eth1 up", || {
        nl.links().unwrap().iter().any(|l| l.name == "eth1" && l.up)
    });
    let links = nl.links().unwrap();
    let link = links.iter().find(|l| l.name == "eth1").unwrap();
    assert_eq!(link.ifindex, eth1);
    assert_eq!(link.mac, Some(mac_of(&a, "eth1")));
    assert_eq!(link.mtu, 1500);
    assert_eq!(link.vlan, None, "a veth has IFLA_LINK but is no VLAN");
    let lo = links.iter().find(|l| l.name == "lo").unwrap();
    assert!(lo.up, "lo is operstate UNKNOWN with carrier: {lo:?}");

    drain(&mut events);
    a.ip(["link", "set", "eth1", "mtu", "1400"]);
    wait_event(
        &mut events,
        WAIT,
        "mtu 1400",
        |e| matches!(e, Event::Link(l) if l.ifindex == eth1 && l.mtu == 1400),
    );

    a.ip(["link", "set", "eth1", "down"]);
    wait_event(
        &mut events,
        WAIT,
        "eth1 down",
        |e| matches!(e, Event::Link(l) if l.ifindex == eth1 && !l.up),
    );
    a.ip(["link", "set", "eth1", "up"]);
    wait_event(
        &mut events,
        WAIT,
        "eth1 up",
        |e| matches!(e, Event::Link(l) if l.ifindex == eth1 && l.up),
    );

    // The peer going down takes the carrier: admin up, but not up.
    b.ip(["link", "set", "eth1", "down"]);
    let Event::Link(l) = wait_event(
        &mut events,
        WAIT,
        "carrier loss",
        |e| matches!(e, Event::Link(l) if l.ifindex == eth1 && !l.up),
    ) else {
        unreachable!()
    };
    assert_ne!(l.flags & sluice_netlink::IFF_UP, 0, "still admin up: {l:?}");
    b.ip(["link", "set", "eth1", "up"]);
    wait_event(
        &mut events,
        WAIT,
        "carrier back",
        |e| matches!(e, Event::Link(l) if l.ifindex == eth1 && l.up),
    );

    a.ip(["link", "del", "eth1"]);
    wait_event(&mut events, WAIT, "LinkGone", |e| {
        *e == Event::LinkGone(eth1)
    });
    assert!(nl.links().unwrap().iter().all(|l| l.ifindex != eth1));
}

#[test]
#[ignore = "needs root: network namespaces"]
fn neighbours_learned_by_ping() {
    require_root();
    let lab = Lab::new("nl-neigh");
    let (a, b) = pair(&lab);
    let (mut nl, mut events) = in_ns(&a, || {
        (Netlink::new().unwrap(), EventSocket::new().unwrap())
    });
    let eth1 = ifindex_of(&a, "eth1");
    let b_mac = mac_of(&b, "eth1");

    for addr in [ip("10.9.0.2"), ip("fd09::2")] {
        a.run(["ping", "-c", "1", "-W", "2", &addr.to_string()]);
        let n = nl
            .neighbours()
            .unwrap()
            .into_iter()
            .find(|n| n.addr == addr)
            .unwrap_or_else(|| panic!("{addr} not in the neighbour dump"));
        assert_eq!((n.ifindex, n.mac), (eth1, Some(b_mac)), "{n:?}");
        assert!(n.is_usable() && !n.managed, "{n:?}");
        wait_event(
            &mut events,
            WAIT,
            "the neighbour event",
            |e| matches!(e, Event::Neighbour(n) if n.addr == addr && n.mac == Some(b_mac)),
        );
    }

    a.ip(["neigh", "del", "10.9.0.2", "dev", "eth1"]);
    wait_event(&mut events, WAIT, "NeighbourGone", |e| {
        *e == Event::NeighbourGone {
            ifindex: eth1,
            addr: ip("10.9.0.2"),
        }
    });
    assert_eq!(nl.neighbour(eth1, ip("10.9.0.2")).unwrap(), None);
}

#[test]
#[ignore = "needs root: network namespaces"]
fn managed_neighbours_resolve_without_traffic() {
    require_root();
    let lab = Lab::new("nl-managed");
    let (a, b) = pair(&lab);
    let mut nl = in_ns(&a, || Netlink::new().unwrap());
    let eth1 = ifindex_of(&a, "eth1");
    let b_mac = mac_of(&b, "eth1");
    let v4 = ip("10.9.0.2");

    // Nothing sent to b: the kernel resolves the managed entry by itself.
    assert_eq!(nl.neighbour(eth1, v4).unwrap(), None);
    nl.add_managed_neighbour(eth1, v4).unwrap();
    let shown = a.ip(["-d", "neigh", "show", "10.9.0.2", "dev", "eth1"]);
    assert!(shown.contains("managed"), "ip -d neigh: {shown}");
    wait_until(WAIT, "the managed entry to resolve", || {
        nl.neighbour(eth1, v4)
            .unwrap()
            .is_some_and(|n| n.is_usable() && n.mac == Some(b_mac))
    });
    assert!(nl.neighbour(eth1, v4).unwrap().unwrap().managed);
    nl.add_managed_neighbour(eth1, v4).unwrap(); // idempotent

    // An entry that exists already keeps its MAC and becomes managed.
    let v6 = ip("fd09::2");
    a.run(["ping", "-c", "1", "-W", "2", "fd09::2"]);
    let before = nl.neighbour(eth1, v6).unwrap().expect("learned by ping");
    assert!(!before.managed && before.mac == Some(b_mac));
    nl.add_managed_neighbour(eth1, v6).unwrap();
    let after = nl.neighbour(eth1, v6).unwrap().unwrap();
    assert!(after.managed && after.mac == Some(b_mac), "{after:?}");

    // Removing keeps the MAC in a plain entry.
    nl.remove_managed_neighbour(eth1, v6).unwrap();
    let plain = nl.neighbour(eth1, v6).unwrap().unwrap();
    assert!(!plain.managed && plain.mac == Some(b_mac), "{plain:?}");
    let shown = a.ip(["-d", "neigh", "show", "fd09::2", "dev", "eth1"]);
    assert!(!shown.contains("managed"), "ip -d neigh: {shown}");

    // A permanent entry set by an administrator is left alone.
    a.ip([
        "neigh",
        "add",
        "10.9.0.77",
        "lladdr",
        "02:00:00:00:00:77",
        "dev",
        "eth1",
        "nud",
        "permanent",
    ]);
    nl.add_managed_neighbour(eth1, ip("10.9.0.77")).unwrap();
    let perm = nl.neighbour(eth1, ip("10.9.0.77")).unwrap().unwrap();
    assert!(perm.state & NUD_PERMANENT != 0 && !perm.managed, "{perm:?}");
    nl.remove_managed_neighbour(eth1, ip("10.9.0.77")).unwrap();
    assert!(nl.neighbour(eth1, ip("10.9.0.77")).unwrap().is_some());

    // A managed entry that cannot resolve (nobody there) has no MAC and
    // is deleted on removal.
    let nobody = ip("10.9.0.99");
    nl.add_managed_neighbour(eth1, nobody).unwrap();
    assert!(nl.neighbour(eth1, nobody).unwrap().unwrap().managed);
    nl.remove_managed_neighbour(eth1, nobody).unwrap();
    assert_eq!(nl.neighbour(eth1, nobody).unwrap(), None);

    let prefix = lab.prefix().to_owned();
    drop(lab);
    assert_eq!(sluice_testns::leftovers(&prefix), Vec::<String>::new());
}

/// More events than the socket buffer holds: the loss is reported as
/// `Event::Overrun` (so the daemon re-dumps), and the socket keeps working.
#[test]
#[ignore = "needs root: network namespaces"]
fn an_event_flood_reports_overrun() {
    require_root();
    let lab = Lab::new("nl-overrun");
    let (a, _b) = pair(&lab);
    let mut events = in_ns(&a, || EventSocket::new().unwrap());
    // 40k permanent entries, ~1 KiB of receive buffer each as events:
    // more than the 16 MiB the socket may queue.
    let batch = (0..40_000u32)
        .map(|i| {
            let [_, _, hi, lo] = i.to_be_bytes();
            format!("neigh add 10.{}.{hi}.{lo} lladdr 02:00:00:00:{hi:02x}:{lo:02x} dev eth1 nud permanent\n", 100 + (i >> 16))
        })
        .collect::<String>();
    let file = lab.log_dir().join("neigh.batch");
    std::fs::write(&file, batch).unwrap();
    a.ip(["-batch", file.to_str().unwrap()]);
    let mut overrun = false;
    let mut count = 0;
    while let Ok(batch) = events.try_recv_events() {
        overrun |= batch.contains(&Event::Overrun);
        count += batch.len();
    }
    assert!(overrun, "no Overrun after {count} events");
    a.ip(["link", "set", "eth1", "mtu", "1300"]);
    wait_event(
        &mut events,
        WAIT,
        "an event after the overrun",
        |e| matches!(e, Event::Link(l) if l.mtu == 1300),
    );
}
