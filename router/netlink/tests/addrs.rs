//! Addresses and their events against the real kernel, on a veth between
//! throwaway namespaces (this test kernel has no dummy module):
//!
//! ```text
//!   a eth1 ──veth── eth1 b
//! ```
//!
//! Needs root: run via scripts/test.sh as root, or
//! `cargo test -p sluice-netlink -- --include-ignored`.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::{drain, ifindex_of, in_ns, require_root, wait_event};
use sluice_netlink::{Address, Event, EventSocket, Netlink};
use sluice_testns::Lab;

const WAIT: Duration = Duration::from_secs(10);

fn on(ifindex: u32, cidr: &str) -> Address {
    let (addr, len) = cidr.split_once('/').unwrap();
    Address {
        ifindex,
        addr: addr.parse::<IpAddr>().unwrap(),
        prefix_len: len.parse().unwrap(),
    }
}

#[test]
#[ignore = "needs root: network namespaces"]
fn addresses_and_their_events() {
    require_root();
    let lab = Lab::new("nl-addr");
    let (a, b) = (lab.node("a"), lab.node("b"));
    lab.link(&a, "eth1", &b, "eth1");
    let eth1 = ifindex_of(&a, "eth1");
    let lo = ifindex_of(&a, "lo");
    // Subscribe before the dump, as a user following state would.
    let (mut nl, mut events) = in_ns(&a, || {
        (Netlink::new().unwrap(), EventSocket::new().unwrap())
    });

    a.addr("eth1", "10.9.0.1/24");
    a.ip(["addr", "add", "fd09::1/64", "dev", "eth1", "nodad"]);
    // Point-to-point: the kernel's IFA_ADDRESS is the peer, ours IFA_LOCAL.
    a.ip([
        "addr",
        "add",
        "10.9.1.1",
        "peer",
        "10.9.1.2/32",
        "dev",
        "eth1",
    ]);
    a.ip([
        "addr",
        "add",
        "fd09:1::1",
        "peer",
        "fd09:1::2/128",
        "dev",
        "eth1",
        "nodad",
    ]);

    let dumped = nl.addresses().unwrap();
    for want in [
        on(eth1, "10.9.0.1/24"),
        on(eth1, "fd09::1/64"),
        on(eth1, "10.9.1.1/32"),
        on(eth1, "fd09:1::1/128"),
        on(lo, "127.0.0.1/8"),
        on(lo, "::1/128"),
    ] {
        assert!(dumped.contains(&want), "{want:?} not in {dumped:#?}");
    }
    for peer in ["10.9.1.2", "fd09:1::2"] {
        let peer: IpAddr = peer.parse().unwrap();
        assert!(dumped.iter().all(|d| d.addr != peer), "peer {peer} dumped");
    }

    drain(&mut events);
    // IPv6 without DAD, so the address is final at once.
    for (cidr, dad) in [("10.9.2.1/24", None), ("fd09:2::1/64", Some("nodad"))] {
        a.ip(["addr", "add", cidr, "dev", "eth1"].into_iter().chain(dad));
        let want = on(eth1, cidr);
        wait_event(&mut events, WAIT, &format!("Address {cidr}"), |e| {
            *e == Event::Address(want)
        });
    }
    for cidr in ["10.9.2.1/24", "fd09:2::1/64"] {
        a.ip(["addr", "del", cidr, "dev", "eth1"]);
        let want = on(eth1, cidr);
        wait_event(&mut events, WAIT, &format!("AddressGone {cidr}"), |e| {
            *e == Event::AddressGone(want)
        });
    }
    let dumped = nl.addresses().unwrap();
    assert!(dumped.contains(&on(eth1, "10.9.0.1/24")), "{dumped:#?}");
    for cidr in ["10.9.2.1/24", "fd09:2::1/64"] {
        assert!(!dumped.contains(&on(eth1, cidr)), "{cidr} still dumped");
    }

    // Down, the link loses its IPv6 addresses (lib.rs), not its IPv4 ones.
    a.ip(["link", "set", "eth1", "down"]);
    let v6 = on(eth1, "fd09::1/64");
    wait_event(&mut events, WAIT, "AddressGone on link down", |e| {
        *e == Event::AddressGone(v6)
    });
    let dumped = nl.addresses().unwrap();
    assert!(dumped.contains(&on(eth1, "10.9.0.1/24")), "{dumped:#?}");
    assert!(!dumped.contains(&v6), "{dumped:#?}");

    let prefix = lab.prefix().to_owned();
    drop(lab);
    assert_eq!(sluice_testns::leftovers(&prefix), Vec::<String>::new());
}
