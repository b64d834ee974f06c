//! Which frames the program routes at all, through `BPF_PROG_TEST_RUN`:
//! only those of a port it has an `ifaces` entry for (an interface, or one
//! VLAN of it) and addressed to that port's MAC; VLAN tags pushed, popped
//! or rewritten for the next hop; martian sources dropped on uplinks after
//! local delivery; the flow hash seeded. Needs root (CAP_BPF).

use std::net::IpAddr;

use sluice_dataplane::layout::{IF_F_MARTIAN, IfKey, NextHop, NhGroup, Verdict};
use sluice_dataplane::settings::IpPrefix;

mod common;
use common::*;

fn prefix(s: &str) -> IpPrefix {
    let (a, l) = s.split_once('/').unwrap();
    IpPrefix::new(a.parse().unwrap(), l.parse().unwrap()).unwrap()
}

#[test]
#[ignore = "needs root: BPF"]
fn frames_for_other_stations_and_unknown_ports_are_not_routed() {
    let mut f = Fixture::new();
    f.route4([198, 51, 100, 0], 24, 1);
    let packet = V4::udp([192, 0, 2, 1], [198, 51, 100, 7]).packet(&l4_ports(1, 2, 8));
    let ours = ether(ROUTER_MAC, None, ETH_IP, &packet);
    f.forwarded_to(&ours);

    // Unknown unicast flooded to us, or seen in promiscuous mode.
    let other = [0x02, 0, 0, 0, 0, 0x42];
    f.expect(&ether(other, None, ETH_IP, &packet), Verdict::PassNotForUs);
    let mut near = ROUTER_MAC;
    near[5] ^= 0x80; // differs in the last two bytes only
    f.expect(&ether(near, None, ETH_IP, &packet), Verdict::PassNotForUs);
    let v6 = v6_udp_frame("2001:db8::1", "2001:db8:1::1", 64, 1);
    let mut v6_other = v6.clone();
    v6_other[0..6].copy_from_slice(&other);
    f.expect(&v6_other, Verdict::PassNotForUs);
    // Broadcast stays the kernel's, as before.
    f.expect(
        &ether([0xff; 6], None, ETH_IP, &packet),
        Verdict::PassSpecialAddr,
    );

    // A VLAN nobody configured, and a port without an entry.
    f.expect(
        &ether(ROUTER_MAC, Some(100), ETH_IP, &packet),
        Verdict::PassNotRouted,
    );
    f.dp.remove_interface(IfKey::untagged(LO)).unwrap();
    f.expect(&ours, Verdict::PassNotRouted);
    // ARP is the kernel's whatever the port.
    f.expect(
        &ether([0xff; 6], Some(7), ETH_ARP, &[0; 28]),
        Verdict::PassArpNd,
    );
}

/// The L3 offset and VLAN id (None: untagged) of a frame.
fn tag_of(frame: &[u8]) -> (usize, Option<u16>) {
    if u16::from_be_bytes([frame[12], frame[13]]) == ETH_VLAN {
        (
            18,
            Some(u16::from_be_bytes([frame[14], frame[15]]) & 0x0fff),
        )
    } else {
        (14, None)
    }
}

#[test]
#[ignore = "needs root: BPF"]
fn vlan_tags_follow_the_next_hop() {
    let mut f = Fixture::new();
    route_on(&mut f.dp, LO, 100, 0);
    // Next hop 6 leaves tagged 200, next hop 7 tagged 100; both on the
    // parent (EGRESS_IFINDEX), as VLAN devices are not redirect targets.
    for (id, vlan) in [(6u16, 200u16), (7, 100)] {
        let nh = NextHop {
            vlan,
            ..NextHop::resolved(EGRESS_IFINDEX, nh_mac(id), EGRESS_MAC, MTU)
        };
        f.dp.set_next_hop(id, &nh).unwrap();
        f.dp.set_group(id, &NhGroup::with_members(&[(id, 1)]).unwrap())
            .unwrap();
    }
    f.route4([198, 51, 100, 0], 24, 1); // untagged next hop
    f.route4([198, 51, 101, 0], 24, 6); // VLAN 200
    f.route4([198, 51, 102, 0], 24, 7); // VLAN 100
    f.dp.set_route6("2001:db8:6::".parse().unwrap(), 48, 6)
        .unwrap();

    // (destination, tag in, next hop, tag out)
    type Case = ([u8; 4], Option<u16>, u16, Option<u16>);
    let cases: [Case; 6] = [
        ([198, 51, 100, 1], None, 1, None),      // untagged → untagged
        ([198, 51, 101, 1], None, 6, Some(200)), // push
        ([198, 51, 100, 1], Some(100), 1, None), // pop
        ([198, 51, 101, 1], Some(100), 6, Some(200)), // rewrite
        ([198, 51, 102, 1], Some(100), 7, Some(100)), // kept
        ([198, 51, 102, 1], None, 7, Some(100)), // push
    ];
    for (dst, in_tag, nh, out_tag) in cases {
        let packet = V4::udp([192, 0, 2, 1], dst).packet(&l4_ports(1, 2, 8));
        let input = ether(ROUTER_MAC, in_tag, ETH_IP, &packet);
        let out = f.expect(&input, Verdict::Forwarded).frame;
        let (l3, tag) = tag_of(&out);
        assert_eq!(tag, out_tag, "{dst:?} tagged {in_tag:?}");
        assert_eq!(&out[0..6], &nh_mac(nh));
        assert_eq!(&out[6..12], &EGRESS_MAC);
        assert_eq!(u16::from_be_bytes([out[l3 - 2], out[l3 - 1]]), ETH_IP);
        let oh = &out[l3..l3 + 20];
        assert_eq!(oh[8], 63, "TTL decremented");
        assert_eq!(u16::from_be_bytes([oh[10], oh[11]]), ip_checksum(oh));
        assert_eq!(&out[l3 + 20..], &packet[20..], "payload intact");
    }
    // A tag's priority bits are kept when only the VLAN id changes.
    let packet = V4::udp([192, 0, 2, 1], [198, 51, 101, 1]).packet(&l4_ports(1, 2, 8));
    let mut input = ether(ROUTER_MAC, Some(100), ETH_IP, &packet);
    input[14] |= 0xa0; // PCP 5
    let out = f.expect(&input, Verdict::Forwarded).frame;
    assert_eq!(u16::from_be_bytes([out[14], out[15]]), 0xa000 | 200);

    // IPv6, pushed.
    let input = v6_udp_frame("2001:db8::1", "2001:db8:6::1", 64, 9);
    let out = f.expect(&input, Verdict::Forwarded).frame;
    assert_eq!(tag_of(&out), (18, Some(200)));
    assert_eq!(out.len(), input.len() + 4);
    assert_eq!(out[18 + 7], 63, "hop limit decremented");
    assert_eq!(
        &out[18 + 8..],
        &input[14 + 8..],
        "addresses and payload intact"
    );
}

#[test]
#[ignore = "needs root: BPF"]
fn martian_sources_are_dropped_on_uplinks_after_local_delivery() {
    let mut f = Fixture::new();
    f.route4([8, 8, 8, 0], 24, 1);
    f.dp.set_route6("2001:4860::".parse().unwrap(), 32, 1)
        .unwrap();
    f.dp.add_own_address(IpAddr::V4([100, 64, 0, 2].into()))
        .unwrap();
    let port = IfKey::untagged(LO);
    for (p, drop) in [
        ("10.0.0.0/8", true),
        ("10.0.0.0/30", false),   // the uplink's subnet
        ("203.0.113.0/24", true), // our own announced space
        ("fc00::/7", true),
    ] {
        f.dp.set_martian(port, prefix(p), drop).unwrap();
    }
    let from = |src: [u8; 4]| V4::udp(src, [8, 8, 8, 8]).frame(1, 2);

    // Not an uplink (no IF_F_MARTIAN): nothing checked.
    f.forwarded_to(&from([10, 9, 9, 9]));
    route_on(&mut f.dp, LO, 0, IF_F_MARTIAN);
    f.expect(&from([10, 9, 9, 9]), Verdict::DropMartian);
    f.expect(&from([203, 0, 113, 5]), Verdict::DropMartian);
    f.expect(
        &v6_udp_frame("fd00::1", "2001:4860::8888", 64, 1),
        Verdict::DropMartian,
    );
    f.forwarded_to(&from([10, 0, 0, 1])); // exempt: the link's subnet
    f.forwarded_to(&from([192, 0, 2, 1]));
    f.forwarded_to(&v6_udp_frame("2001:db8::1", "2001:4860::8888", 64, 1));
    // The router's own traffic is delivered before the check.
    f.expect(
        &V4::udp([10, 9, 9, 9], [100, 64, 0, 2]).frame(1, 179),
        Verdict::PassLocal,
    );
    // Another port's entries do not apply here.
    f.dp.set_martian(IfKey::untagged(9), prefix("192.0.2.0/24"), true)
        .unwrap();
    f.forwarded_to(&from([192, 0, 2, 1]));

    assert_eq!(f.dp.martians().unwrap().len(), 5);
    f.dp.remove_martian(port, prefix("10.0.0.0/8")).unwrap();
    f.dp.remove_martian(port, prefix("10.0.0.0/8")).unwrap(); // idempotent
    f.forwarded_to(&from([10, 9, 9, 9]));
}

#[test]
#[ignore = "needs root: BPF"]
fn the_flow_hash_seed_moves_flows() {
    let mut f = Fixture::new();
    f.route4([198, 51, 100, 0], 24, 5); // {1, 2}
    let flows: Vec<Vec<u8>> = (0..64)
        .map(|i| V4::udp([192, 0, 2, i], [198, 51, 100, 7]).frame(1000 + u16::from(i), 53))
        .collect();
    let choices = |f: &Fixture| -> Vec<u16> { flows.iter().map(|fr| f.forwarded_to(fr)).collect() };
    f.dp.set_hash_seed(1).unwrap();
    let a = choices(&f);
    assert_eq!(choices(&f), a, "a flow sticks to its next hop");
    f.dp.set_hash_seed(0xdead_beef).unwrap();
    let b = choices(&f);
    assert_ne!(a, b, "another seed places flows differently");
    // seed_flow_hash keeps a seed that is set, and sets one that is not.
    assert_eq!(f.dp.seed_flow_hash().unwrap(), 0xdead_beef);
    f.dp.set_hash_seed(0).unwrap();
    assert_ne!(f.dp.seed_flow_hash().unwrap(), 0);
}

/// The program's DXR lookup (FIB_MODE_DXR) gives what the builder says,
/// built at once and after changes written as the update protocol asks.
#[test]
#[ignore = "needs root: BPF"]
fn the_dxr_fib_answers_like_its_builder() {
    use sluice_dataplane::dir24::Prefix;
    use sluice_dataplane::dxr::{DEFAULT_RANGES, Dxr};
    use sluice_dataplane::layout::FibMode;

    // The production build has no DXR maps and refuses the mode.
    let mut plain = Fixture::new();
    assert!(plain.dp.set_fib_mode(FibMode::Dxr).is_err());
    assert!(plain.dp.sync_dxr(&Dxr::default()).is_err());

    let mut f = Fixture::new_dxr();
    let p = |s: &str| s.parse::<Prefix>().unwrap();
    let routes = [
        ("0.0.0.0/0", 4),
        ("10.0.0.0/8", 1),
        ("10.0.0.0/24", 2),
        ("10.0.0.128/25", 3),
        ("10.0.0.200/32", 1),
        ("198.51.100.0/22", 2),
    ];
    let mut dxr = Dxr::from_routes(DEFAULT_RANGES, routes.iter().map(|&(s, g)| (p(s), g))).unwrap();
    f.dp.sync_dxr(&dxr).unwrap();
    f.dp.set_fib_mode(FibMode::Dxr).unwrap();
    let check = |f: &Fixture, dxr: &Dxr| {
        probe_ipv4_fib(f, |a| dxr.lookup(a), |a| f.dp.lookup_dxr(a));
    };
    check(&f, &dxr);
    // Changes: a run rewritten, a chunk made direct, the default moved.
    dxr.replace(p("10.0.0.128/25"), 4).unwrap();
    dxr.take(p("198.51.100.0/22")).unwrap();
    dxr.replace(p("0.0.0.0/0"), 3).unwrap();
    let dirty = dxr.take_dirty();
    f.dp.write_dxr_dirty(&dxr, &dirty).unwrap();
    check(&f, &dxr);
    // DIR-24-8 is what FIB_MODE_SLUICE reads: empty here.
    f.dp.set_fib_mode(FibMode::Sluice).unwrap();
    f.expect(
        &V4::udp([192, 0, 2, 1], [10, 0, 0, 1]).frame(1, 2),
        Verdict::PassNoRoute,
    );
}

/// The program's IPv4 poptrie lookup (FIB_MODE_POP4) gives what the
/// builder says, at every node depth, and again after changes.
#[test]
#[ignore = "needs root: BPF"]
fn the_ipv4_poptrie_answers_like_its_builder() {
    use sluice_dataplane::dir24::Prefix;
    use sluice_dataplane::layout::FibMode;
    use sluice_dataplane::poptrie4::Poptrie4;

    let mut plain = Fixture::new();
    assert!(plain.dp.set_fib_mode(FibMode::Pop4).is_err());
    assert!(plain.dp.sync_pop4(&Poptrie4::default()).is_err());

    let mut f = Fixture::new_dxr();
    let p = |s: &str| s.parse::<Prefix>().unwrap();
    let routes = [
        ("0.0.0.0/0", 4),
        ("10.0.0.0/8", 1),
        ("10.0.0.0/24", 2),
        ("10.0.0.128/25", 3),
        ("10.0.0.200/32", 1),
        ("10.0.0.203/32", 4),
        ("10.0.3.0/24", 3),
        ("198.51.100.0/22", 2),
    ];
    let mut fib = Poptrie4::from_routes(routes.iter().map(|&(s, g)| (p(s), g))).unwrap();
    f.dp.sync_pop4(&fib).unwrap();
    f.dp.set_fib_mode(FibMode::Pop4).unwrap();
    let check = |f: &Fixture, fib: &Poptrie4| {
        probe_ipv4_fib(
            f,
            |a| {
                let want = fib.longest_match(a);
                assert_eq!(fib.lookup(a), want, "{a:#x} in the builder");
                want
            },
            |a| f.dp.lookup_pop4(a),
        );
    };
    check(&f, &fib);
    fib.insert(p("10.0.0.128/25"), 4);
    fib.remove(p("198.51.100.0/22"));
    fib.insert(p("0.0.0.0/0"), 3);
    fib.take_dirty();
    f.dp.sync_pop4(&fib).unwrap();
    check(&f, &fib);
}

/// Probes a measuring-build IPv4 FIB around the test tables' prefixes:
/// the maps (`live`) and the program agree with what `want` says.
fn probe_ipv4_fib(
    f: &Fixture,
    want: impl Fn(u32) -> u16,
    live: impl Fn(std::net::Ipv4Addr) -> u16,
) {
    for addr in [
        "10.0.0.1",
        "10.0.0.127",
        "10.0.0.128",
        "10.0.0.199",
        "10.0.0.200",
        "10.0.0.201",
        "10.0.0.203",
        "10.0.1.1",
        "10.0.3.7",
        "10.63.255.255",
        "198.51.103.255",
        "198.51.104.0",
        "8.8.8.8",
    ] {
        let a: std::net::Ipv4Addr = addr.parse().unwrap();
        let want = want(u32::from(a));
        assert_eq!(live(a), want, "{addr} in the maps");
        let frame = V4::udp([192, 0, 2, 1], a.octets()).frame(1, 2);
        if want == 0 {
            f.expect(&frame, Verdict::PassNoRoute);
        } else {
            assert_eq!(f.forwarded_to(&frame), want, "{addr} forwarded");
        }
    }
}
