//! Discard routes and BCP 38 anti-spoofing through `BPF_PROG_TEST_RUN`.
//! The frames arrive on the loopback device (ifindex 1), which the tests
//! flag or not. Needs root (CAP_BPF).

use std::net::IpAddr;

use sluice_dataplane::layout::{GROUP_DISCARD, IF_F_ANTISPOOF, IfKey, Iface, Verdict};
use sluice_dataplane::settings::IpPrefix;

mod common;
use common::*;

#[test]
#[ignore = "needs root: BPF"]
fn discard_routes_drop_and_count() {
    let mut f = Fixture::new();
    f.route4([198, 51, 100, 0], 24, GROUP_DISCARD);
    f.route4([198, 51, 100, 128], 25, 1);
    f.dp.set_route6(v6("2001:db8::"), 32, GROUP_DISCARD)
        .unwrap();
    f.dp.set_route6(v6("2001:db8:1::"), 48, 2).unwrap();

    // Unused parts of the aggregate: dropped, not punted or forwarded.
    f.expect(
        &V4::udp([192, 0, 2, 1], [198, 51, 100, 7]).frame(1, 2),
        Verdict::DropDiscard,
    );
    f.expect(
        &v6_udp_frame("2001:db8:ffff::1", "2001:db8:5::1", 64, 1),
        Verdict::DropDiscard,
    );
    // A more specific route inside it still forwards.
    assert_eq!(
        f.forwarded_to(&V4::udp([192, 0, 2, 1], [198, 51, 100, 200]).frame(1, 2)),
        1
    );
    assert_eq!(
        f.forwarded_to(&v6_udp_frame("2001:db8:ffff::1", "2001:db8:1::5", 64, 1)),
        2
    );
    // The punts before the lookup still apply: our own address in the
    // aggregate, TTL 1.
    f.dp.add_own_address(IpAddr::V4([198, 51, 100, 1].into()))
        .unwrap();
    f.expect(
        &V4::udp([192, 0, 2, 1], [198, 51, 100, 1]).frame(1, 179),
        Verdict::PassLocal,
    );
    let ttl1 = V4 {
        ttl: 1,
        ..V4::udp([192, 0, 2, 1], [198, 51, 100, 7])
    };
    f.expect(&ttl1.frame(1, 2), Verdict::PassTtl);
    // The builder reads the id back.
    assert_eq!(f.dp.lookup4([198, 51, 100, 7].into()), GROUP_DISCARD);
    assert_eq!(f.dp.lookup6(v6("2001:db8:5::1")).unwrap(), GROUP_DISCARD);
}

/// Fixture with routes everywhere and the site's space 192.0.2.0/24,
/// 203.0.113.0/25 and 2001:db8:100::/48.
fn antispoof_fixture() -> Fixture {
    let mut f = Fixture::new();
    f.route4([0, 0, 0, 0], 0, 1);
    f.dp.set_route6(v6("::"), 0, 1).unwrap();
    f.dp.add_source_prefix([192, 0, 2, 0].into(), 24).unwrap();
    f.dp.add_source_prefix([203, 0, 113, 77].into(), 25)
        .unwrap(); // host bits
    f.dp.add_source_prefix(IpAddr::V6(v6("2001:db8:100::")), 48)
        .unwrap();
    f
}

#[test]
#[ignore = "needs root: BPF"]
fn spoofed_sources_are_dropped_only_on_flagged_interfaces() {
    let mut f = antispoof_fixture();
    let spoofed4 = V4::udp([10, 9, 9, 9], [8, 8, 8, 8]).frame(1, 2);
    let spoofed6 = v6_udp_frame("2001:db8:200::1", "2001:4860::8888", 64, 1);
    let good4 = V4::udp([192, 0, 2, 55], [8, 8, 8, 8]).frame(1, 2);
    let good4b = V4::udp([203, 0, 113, 100], [8, 8, 8, 8]).frame(1, 2);
    let outside4b = V4::udp([203, 0, 113, 128], [8, 8, 8, 8]).frame(1, 2);
    let good6 = v6_udp_frame("2001:db8:100:5::1", "2001:4860::8888", 64, 1);

    // Unflagged: everything is forwarded.
    assert_eq!(
        f.dp.interface(IfKey::untagged(LO)).unwrap().unwrap().flags,
        0
    );
    for frame in [&spoofed4, &spoofed6, &good4, &outside4b, &good6] {
        f.expect(frame, Verdict::Forwarded);
    }

    route_on(&mut f.dp, LO, 0, IF_F_ANTISPOOF);
    f.expect(&spoofed4, Verdict::DropSpoofed);
    f.expect(&spoofed6, Verdict::DropSpoofed);
    f.expect(&outside4b, Verdict::DropSpoofed);
    f.expect(&good4, Verdict::Forwarded);
    f.expect(&good4b, Verdict::Forwarded);
    f.expect(&good6, Verdict::Forwarded);

    // Spoofed packets to the router itself, with options, or to multicast
    // are dropped too: the check precedes the punts.
    f.dp.add_own_address(IpAddr::V4([192, 0, 2, 254].into()))
        .unwrap();
    f.expect(
        &V4::udp([10, 9, 9, 9], [192, 0, 2, 254]).frame(1, 179),
        Verdict::DropSpoofed,
    );
    f.expect(
        &V4::udp([192, 0, 2, 9], [192, 0, 2, 254]).frame(1, 179),
        Verdict::PassLocal,
    );
    f.expect(
        &V4::udp([10, 9, 9, 9], [224, 0, 0, 5]).frame(1, 2),
        Verdict::DropSpoofed,
    );
    let mut p = V4::udp([10, 9, 9, 9], [8, 8, 8, 8]).packet(&l4_ports(1, 2, 8));
    p.splice(20..20, [1, 1, 1, 0]);
    p[0] = 0x46;
    let len = p.len() as u16;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    let c = ip_checksum(&p[..24]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    f.expect(&ether(ROUTER_MAC, None, ETH_IP, &p), Verdict::DropSpoofed);

    // Removing a prefix makes its sources spoofed; clearing the flag
    // forwards them again.
    f.dp.remove_source_prefix([192, 0, 2, 0].into(), 24)
        .unwrap();
    f.dp.remove_source_prefix([192, 0, 2, 0].into(), 24)
        .unwrap(); // idempotent
    f.expect(&good4, Verdict::DropSpoofed);
    // Another interface's flag does not check this one's packets.
    route_on(&mut f.dp, 7, 0, IF_F_ANTISPOOF);
    route_on(&mut f.dp, LO, 0, 0);
    f.expect(&good4, Verdict::Forwarded);
    // The FIB mode and the seed leave the flags alone.
    route_on(&mut f.dp, LO, 0, IF_F_ANTISPOOF);
    f.dp.set_fib_mode(sluice_dataplane::layout::FibMode::Kernel)
        .unwrap();
    f.dp.set_fib_mode(sluice_dataplane::layout::FibMode::Sluice)
        .unwrap();
    f.dp.seed_flow_hash().unwrap();
    f.expect(&spoofed4, Verdict::DropSpoofed);
    route_on(&mut f.dp, LO, 0, 0);
    f.expect(&good4, Verdict::Forwarded);
    f.expect(&spoofed6, Verdict::Forwarded);

    assert_eq!(
        f.dp.source_prefixes().unwrap(),
        vec![
            IpPrefix::new([203, 0, 113, 0].into(), 25).unwrap(),
            IpPrefix::new(IpAddr::V6(v6("2001:db8:100::")), 48).unwrap(),
        ]
    );
    let lo = Iface {
        flags: 0x80,
        ifindex: LO,
        mac: ROUTER_MAC,
    };
    assert!(f.dp.set_interface(IfKey::untagged(LO), &lo).is_err());
    assert!(
        f.dp.set_interface(
            IfKey {
                ifindex: LO,
                vlan: 4096
            },
            &Iface::default()
        )
        .is_err()
    );
    assert!(f.dp.add_source_prefix([10, 0, 0, 0].into(), 33).is_err());
}

#[test]
#[ignore = "needs root: BPF"]
fn control_traffic_reaches_the_kernel_on_flagged_interfaces() {
    let mut f = antispoof_fixture();
    route_on(&mut f.dp, LO, 0, IF_F_ANTISPOOF);

    // ARP, whatever it says.
    f.expect(
        &ether([0xff; 6], None, ETH_ARP, &[0u8; 28]),
        Verdict::PassArpNd,
    );
    // ND from a global source outside the site, DAD from ::.
    let na = ipv6_packet(
        v6("2001:db8:999::1"),
        v6("2001:db8:100::1"),
        255,
        ICMP6,
        &[136, 0, 0, 0, 0, 0, 0, 0],
    );
    f.expect(&ether(ROUTER_MAC, None, ETH_IP6, &na), Verdict::PassArpNd);
    let dad = ipv6_packet(
        v6("::"),
        v6("ff02::1:ff00:1"),
        255,
        ICMP6,
        &[135, 0, 0, 0, 0, 0, 0, 0],
    );
    f.expect(
        &ether([0x33, 0x33, 0xff, 0, 0, 1], None, ETH_IP6, &dad),
        Verdict::PassArpNd,
    );
    // DHCP discover from 0.0.0.0 to the broadcast address; link-local
    // sources; an MLD report from :: to a group.
    f.expect(
        &ether(
            [0xff; 6],
            None,
            ETH_IP,
            &V4::udp([0, 0, 0, 0], [255, 255, 255, 255]).packet(&l4_ports(68, 67, 8)),
        ),
        Verdict::PassSpecialAddr,
    );
    f.expect(
        &V4::udp([169, 254, 3, 3], [192, 0, 2, 1]).frame(1, 2),
        Verdict::PassLinkLocal,
    );
    f.expect(
        &v6_udp_frame("fe80::1", "2001:db8:100::1", 64, 1),
        Verdict::PassLinkLocal,
    );
    f.expect(
        &v6_udp_frame("fe80::1", "ff02::16", 1, 1),
        Verdict::PassSpecialAddr,
    );
    let mld = ipv6_packet(v6("::"), v6("ff02::16"), 1, UDP, &l4_ports(1, 2, 8));
    f.expect(
        &ether([0x33, 0x33, 0, 0, 0, 0x16], None, ETH_IP6, &mld),
        Verdict::PassSpecialAddr,
    );
    // But a non-ND ICMPv6 from outside is spoofed.
    let echo = ipv6_packet(
        v6("2001:db8:999::1"),
        v6("2001:db8:100::1"),
        64,
        ICMP6,
        &[128, 0, 0, 0, 0, 1, 0, 1],
    );
    f.expect(
        &ether(ROUTER_MAC, None, ETH_IP6, &echo),
        Verdict::DropSpoofed,
    );
}

/// Many IPv6 routes in one batch: each is in the trie afterwards, longest
/// match works across them, and a bad entry costs only itself.
#[test]
#[ignore = "needs root: BPF"]
fn ipv6_routes_written_in_one_batch() {
    require_root();
    let mut dp = sluice_dataplane::loader::Dataplane::load().expect("load the XDP program");
    let mut routes: Vec<(std::net::Ipv6Addr, u8, u16)> = (0..3000u32)
        .map(|i| (v6(&format!("2001:db8:{:x}::", i)), 48, 1 + (i % 100) as u16))
        .collect();
    routes.push((v6("2001:db8::"), 32, 200));
    // Group 0 is not a group: refused alone.
    routes.push((v6("2001:db9::"), 32, 0));
    let failed = dp.set_routes6(&routes);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, routes.len() - 1);
    for (i, &(addr, _, group)) in routes.iter().enumerate().take(3000) {
        let mut host = addr.octets();
        host[15] = 1;
        assert_eq!(dp.lookup6(host.into()).unwrap(), group, "route {i}");
    }
    // Inside the /32 but outside every /48.
    assert_eq!(dp.lookup6(v6("2001:db8:ffff::1")).unwrap(), 200);
    assert_eq!(dp.lookup6(v6("2001:db9::1")).unwrap(), 0);
}
