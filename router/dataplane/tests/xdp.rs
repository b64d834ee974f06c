//! The XDP program on crafted frames through `BPF_PROG_TEST_RUN`: forwarding
//! (MAC rewrite, TTL / hop limit, checksum), every punt and drop rule of
//! ebpf/sluice.c with its verdict counter, DIR-24-8 lookups and ECMP.
//! Needs root (CAP_BPF): run it via scripts/test.sh as root.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use sluice_dataplane::layout::{
    self, FIB4_TBL8_FLAG, FIB4_TBL8_GROUPS, FIB4_TBL8_WORDS, FIB4_TOP_WORDS, NextHop, NhGroup,
    Verdict,
};

mod common;
use common::*;

// ---- forwarding ------------------------------------------------------------------

#[test]
#[ignore = "needs root: BPF"]
fn ipv4_with_a_route_is_redirected_with_rewritten_macs_and_ttl() {
    let mut f = Fixture::new();
    f.route4([10, 0, 0, 0], 8, 1);
    let frame = V4::udp([192, 0, 2, 1], [10, 1, 2, 3]).frame(1000, 53);
    let out = f.expect(&frame, Verdict::Forwarded);
    check_forwarded_v4(&frame, &out.frame, 14, 1);
    let stats = f.dp.nh_stats(1).unwrap();
    assert_eq!((stats.packets, stats.bytes), (1, frame.len() as u64));
    assert_eq!(f.dp.nh_stats(2).unwrap().packets, 0);

    // TCP and ICMP are forwarded too; Ethernet padding after the packet is
    // allowed and kept.
    let mut tcp = V4::udp([192, 0, 2, 1], [10, 1, 2, 3]);
    tcp.proto = TCP;
    let frame = ether(
        ROUTER_MAC,
        None,
        ETH_IP,
        &tcp.packet(&l4_ports(4000, 443, 20)),
    );
    let out = f.expect(&frame, Verdict::Forwarded);
    check_forwarded_v4(&frame, &out.frame, 14, 1);
    let mut icmp = V4::udp([192, 0, 2, 1], [10, 1, 2, 3]);
    icmp.proto = 1;
    let mut frame = ether(ROUTER_MAC, None, ETH_IP, &icmp.packet(&[8, 0, 0, 0]));
    frame.resize(60, 0);
    let out = f.expect(&frame, Verdict::Forwarded);
    check_forwarded_v4(&frame, &out.frame, 14, 1);
}

#[test]
#[ignore = "needs root: BPF"]
fn ipv4_incremental_checksum_equals_recomputed_at_the_edges() {
    let mut f = Fixture::new();
    f.route4([10, 0, 0, 0], 8, 1);
    let base = V4::udp([192, 0, 2, 1], [10, 1, 2, 3]);
    // Choose the identification field so that the original checksum takes
    // each edge value (0x0000, 0xfeff -> 0x0000 after the update, ...).
    let targets = [
        0x0000u16, 0x0001, 0x00fe, 0x00ff, 0x0100, 0x7fff, 0xfe00, 0xfeff, 0xff00, 0xfffe, 0xbeef,
    ];
    let mut cases = 0;
    for ttl in [2u8, 3, 64, 128, 255] {
        for &target in &targets {
            let mut h = V4 { ttl, id: 0, ..base }.packet(&l4_ports(5, 6, 8))[..20].to_vec();
            // checksum = !(S + id)  =>  id = !target - S (one's complement)
            let s = !ip_checksum(&h);
            let want = !target;
            let id = ones_sum(&[want.to_be_bytes(), (!s).to_be_bytes()].concat());
            h[4..6].copy_from_slice(&id.to_be_bytes());
            let c = ip_checksum(&h);
            if c != target {
                continue; // not reachable from scratch (e.g. 0xffff)
            }
            let frame = V4 { ttl, id, ..base }.frame(5, 6);
            assert_eq!(&frame[24..26], &target.to_be_bytes());
            let out = f.expect(&frame, Verdict::Forwarded);
            check_forwarded_v4(&frame, &out.frame, 14, 1);
            cases += 1;
        }
    }
    assert!(cases >= 40, "only {cases} edge cases were reachable");
}

#[test]
#[ignore = "needs root: BPF"]
fn ipv6_with_a_route_is_redirected_with_hop_limit_decremented() {
    let mut f = Fixture::new();
    f.dp.set_route6(v6("2001:db8::"), 32, 2).unwrap();
    let frame = v6_udp_frame("2001:db8:ffff::1", "2001:db8:1::5", 64, 4242);
    let out = f.expect(&frame, Verdict::Forwarded).frame;
    assert_eq!(&out[0..6], &nh_mac(2));
    assert_eq!(&out[6..12], &EGRESS_MAC);
    assert_eq!(out[14 + 7], 63, "hop limit decremented");
    let mut rest = out.clone();
    rest[14 + 7] = 64;
    assert_eq!(&rest[12..], &frame[12..], "nothing else changed");
    assert_eq!(f.dp.nh_stats(2).unwrap().packets, 1);
    // ICMPv6 echo is forwarded (only ND is punted).
    let echo = ether(
        ROUTER_MAC,
        None,
        ETH_IP6,
        &ipv6_packet(
            v6("2001:db8:ffff::1"),
            v6("2001:db8:1::5"),
            64,
            ICMP6,
            &[128, 0, 0, 0, 0, 1, 0, 1],
        ),
    );
    f.expect(&echo, Verdict::Forwarded);
    // Longest prefix wins.
    f.dp.set_route6(v6("2001:db8:1::"), 48, 3).unwrap();
    assert_eq!(f.forwarded_to(&frame), 3);
    assert_eq!(f.dp.lookup6(v6("2001:db8:1::5")).unwrap(), 3);
    f.dp.remove_route6(v6("2001:db8:1::"), 48).unwrap();
    assert_eq!(f.forwarded_to(&frame), 2);
}

#[test]
#[ignore = "needs root: BPF"]
fn vlan_tagged_frames_are_forwarded_with_the_tag_kept() {
    let mut f = Fixture::new();
    // Configured VLANs whose next hops sit on the same VLAN.
    for (vlan, nh) in [(100, 1u16), (4094, 2)] {
        route_on(&mut f.dp, LO, vlan, 0);
        let hop = NextHop {
            vlan: vlan as u16,
            ..NextHop::resolved(EGRESS_IFINDEX, nh_mac(nh), EGRESS_MAC, MTU)
        };
        f.dp.set_next_hop(nh, &hop).unwrap();
    }
    route_on(&mut f.dp, LO, 7, 0);
    f.route4([10, 0, 0, 0], 8, 1);
    f.dp.set_route6(v6("2001:db8::"), 32, 2).unwrap();
    let p4 = V4::udp([192, 0, 2, 1], [10, 1, 2, 3]).packet(&l4_ports(1, 2, 8));
    let frame = ether(ROUTER_MAC, Some(100), ETH_IP, &p4);
    let out = f.expect(&frame, Verdict::Forwarded);
    assert_eq!(&out.frame[12..16], &[0x81, 0x00, 0x00, 100]);
    check_forwarded_v4(&frame, &out.frame, 18, 1);

    let p6 = ipv6_packet(
        v6("2001:db8:ffff::1"),
        v6("2001:db8:1::5"),
        2,
        UDP,
        &l4_ports(1, 2, 8),
    );
    let frame = ether(ROUTER_MAC, Some(4094), ETH_IP6, &p6);
    let out = f.expect(&frame, Verdict::Forwarded).frame;
    assert_eq!(&out[0..6], &nh_mac(2));
    assert_eq!(&out[12..18], &[0x81, 0x00, 0x0f, 0xfe, 0x86, 0xdd]);
    assert_eq!(out[18 + 7], 1);

    // Tagged control traffic is punted like untagged.
    let frame = ether([0xff; 6], Some(100), ETH_ARP, &[0u8; 28]);
    f.expect(&frame, Verdict::PassArpNd);
    // A tagged frame without a route is punted.
    let p4 = V4::udp([192, 0, 2, 1], [11, 0, 0, 1]).packet(&l4_ports(1, 2, 8));
    f.expect(
        &ether(ROUTER_MAC, Some(7), ETH_IP, &p4),
        Verdict::PassNoRoute,
    );
}

// ---- punts --------------------------------------------------------------------------

#[test]
#[ignore = "needs root: BPF"]
fn no_route_is_punted_and_counted() {
    let mut f = Fixture::new();
    f.route4([10, 0, 0, 0], 8, 1);
    f.dp.set_route6(v6("2001:db8::"), 32, 2).unwrap();
    f.expect(
        &V4::udp([192, 0, 2, 1], [11, 1, 2, 3]).frame(1, 2),
        Verdict::PassNoRoute,
    );
    f.expect(
        &v6_udp_frame("2001:db8::1", "2001:db9::1", 64, 1),
        Verdict::PassNoRoute,
    );
    // A route to a group id with nothing in it: punted, not blackholed.
    f.route4([11, 0, 0, 0], 8, 100);
    f.expect(
        &V4::udp([192, 0, 2, 1], [11, 1, 2, 3]).frame(1, 2),
        Verdict::PassNoNexthop,
    );
    assert_eq!(f.dp.verdict_count(Verdict::PassNoRoute).unwrap(), 2);
}

#[test]
#[ignore = "needs root: BPF"]
fn control_and_local_traffic_is_punted() {
    let mut f = Fixture::new();
    f.route4([0, 0, 0, 0], 0, 1);
    f.dp.set_route6(v6("::"), 0, 1).unwrap();

    // Own addresses.
    f.dp.add_own_address(IpAddr::V4([10, 0, 0, 1].into()))
        .unwrap();
    f.dp.add_own_address(IpAddr::V6(v6("2001:db8::1"))).unwrap();
    let to_us4 = V4::udp([192, 0, 2, 1], [10, 0, 0, 1]).frame(1, 179);
    f.expect(&to_us4, Verdict::PassLocal);
    let to_us6 = v6_udp_frame("2001:db8::2", "2001:db8::1", 64, 179);
    f.expect(&to_us6, Verdict::PassLocal);
    f.dp.remove_own_address(IpAddr::V4([10, 0, 0, 1].into()))
        .unwrap();
    f.dp.remove_own_address(IpAddr::V6(v6("2001:db8::1")))
        .unwrap();
    f.expect(&to_us4, Verdict::Forwarded);
    f.expect(&to_us6, Verdict::Forwarded);

    // TTL / hop limit 1 and 0.
    for ttl in [0, 1] {
        let frame = V4 {
            ttl,
            ..V4::udp([192, 0, 2, 1], [10, 1, 2, 3])
        }
        .frame(1, 2);
        f.expect(&frame, Verdict::PassTtl);
        f.expect(
            &v6_udp_frame("2001:db8::2", "2001:db8:5::1", ttl, 1),
            Verdict::PassTtl,
        );
    }

    // IPv4 options (IHL 6, header checksum valid).
    let mut p = V4::udp([192, 0, 2, 1], [10, 1, 2, 3]).packet(&l4_ports(1, 2, 8));
    p.splice(20..20, [1, 1, 1, 0]); // NOP NOP NOP EOL
    p[0] = 0x46;
    let len = p.len() as u16;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    let c = ip_checksum(&p[..24]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    f.expect(&ether(ROUTER_MAC, None, ETH_IP, &p), Verdict::PassOptions);

    // ARP (broadcast and unicast).
    f.expect(
        &ether([0xff; 6], None, ETH_ARP, &[0u8; 28]),
        Verdict::PassArpNd,
    );
    f.expect(
        &ether(ROUTER_MAC, None, ETH_ARP, &[0u8; 28]),
        Verdict::PassArpNd,
    );

    // ND: NS to the solicited-node group, NA / RS / RA / redirect, also to a
    // global unicast address.
    let ns = ipv6_packet(
        v6("fe80::2"),
        v6("ff02::1:ff00:1"),
        255,
        ICMP6,
        &[135, 0, 0, 0, 0, 0, 0, 0],
    );
    f.expect(
        &ether([0x33, 0x33, 0xff, 0, 0, 1], None, ETH_IP6, &ns),
        Verdict::PassArpNd,
    );
    for ty in 133..=137u8 {
        let p = ipv6_packet(
            v6("2001:db8::2"),
            v6("2001:db8:5::1"),
            255,
            ICMP6,
            &[ty, 0, 0, 0, 0, 0, 0, 0],
        );
        f.expect(&ether(ROUTER_MAC, None, ETH_IP6, &p), Verdict::PassArpNd);
    }

    // Link-local source or destination.
    f.expect(
        &V4::udp([169, 254, 1, 1], [10, 1, 2, 3]).frame(1, 2),
        Verdict::PassLinkLocal,
    );
    f.expect(
        &V4::udp([192, 0, 2, 1], [169, 254, 0, 9]).frame(1, 2),
        Verdict::PassLinkLocal,
    );
    f.expect(
        &v6_udp_frame("fe80::2", "2001:db8:5::1", 64, 1),
        Verdict::PassLinkLocal,
    );
    f.expect(
        &v6_udp_frame("2001:db8::2", "fe80::1", 64, 1),
        Verdict::PassLinkLocal,
    );
    // ICMPv6 (not ND) to a link-local address.
    let p = ipv6_packet(
        v6("2001:db8::2"),
        v6("fe80::1"),
        64,
        ICMP6,
        &[128, 0, 0, 0, 0, 1, 0, 1],
    );
    f.expect(
        &ether(ROUTER_MAC, None, ETH_IP6, &p),
        Verdict::PassLinkLocal,
    );

    // IPv6 extension headers: hop-by-hop, routing, fragment, destination
    // options; and a protocol it does not parse.
    for next in [0u8, 43, 44, 60, 47] {
        let p = ipv6_packet(v6("2001:db8::2"), v6("2001:db8:5::1"), 64, next, &[0u8; 16]);
        f.expect(&ether(ROUTER_MAC, None, ETH_IP6, &p), Verdict::PassIpv6Ext);
    }

    // Multicast and broadcast: IP destination, Ethernet destination; loopback.
    f.expect(
        &V4::udp([192, 0, 2, 1], [224, 0, 0, 5]).frame(1, 2),
        Verdict::PassSpecialAddr,
    );
    f.expect(
        &V4::udp([192, 0, 2, 1], [255, 255, 255, 255]).frame(1, 2),
        Verdict::PassSpecialAddr,
    );
    f.expect(
        &V4::udp([127, 0, 0, 1], [10, 1, 2, 3]).frame(1, 2),
        Verdict::PassSpecialAddr,
    );
    f.expect(
        &v6_udp_frame("2001:db8::2", "ff05::2", 64, 1),
        Verdict::PassSpecialAddr,
    );
    f.expect(
        &v6_udp_frame("2001:db8::2", "::1", 64, 1),
        Verdict::PassSpecialAddr,
    );
    let p = V4::udp([192, 0, 2, 1], [10, 1, 2, 3]).packet(&l4_ports(1, 2, 8));
    f.expect(
        &ether([0xff; 6], None, ETH_IP, &p),
        Verdict::PassSpecialAddr,
    );

    // Not IP: LLDP, MPLS; stacked tags (QinQ).
    f.expect(
        &ether(ROUTER_MAC, None, 0x88cc, &[0u8; 46]),
        Verdict::PassNotIp,
    );
    f.expect(
        &ether(ROUTER_MAC, None, 0x8847, &[0u8; 46]),
        Verdict::PassNotIp,
    );
    f.expect(
        &ether(ROUTER_MAC, None, 0x88a8, &[0u8; 46]),
        Verdict::PassNotIp,
    );
    let inner = ether(ROUTER_MAC, Some(5), ETH_IP, &p);
    f.expect(
        &ether(ROUTER_MAC, Some(6), ETH_VLAN, &inner[14..]),
        Verdict::PassNotIp,
    );
}

#[test]
#[ignore = "needs root: BPF"]
fn next_hop_problems_are_punted_before_the_frame_is_touched() {
    let mut f = Fixture::new();
    f.route4([10, 0, 0, 0], 8, 1);
    f.dp.set_route6(v6("2001:db8::"), 32, 1).unwrap();
    let mut nh = f.dp.next_hop(1).unwrap();

    // MTU: the IP packet (not the frame) is compared with the next hop's MTU.
    let mtu = 1500usize;
    let at_mtu = V4::udp([192, 0, 2, 1], [10, 1, 2, 3]).packet(&l4_ports(1, 2, mtu - 20));
    let frame = ether(ROUTER_MAC, None, ETH_IP, &at_mtu);
    f.expect(&frame, Verdict::Forwarded);
    let over = V4::udp([192, 0, 2, 1], [10, 1, 2, 3]).packet(&l4_ports(1, 2, mtu - 19));
    f.expect(&ether(ROUTER_MAC, None, ETH_IP, &over), Verdict::PassMtu);
    let p = ipv6_packet(
        v6("2001:db8::2"),
        v6("2001:db8:5::1"),
        64,
        UDP,
        &l4_ports(1, 2, mtu - 40),
    );
    f.expect(&ether(ROUTER_MAC, None, ETH_IP6, &p), Verdict::Forwarded);
    let p = ipv6_packet(
        v6("2001:db8::2"),
        v6("2001:db8:5::1"),
        64,
        UDP,
        &l4_ports(1, 2, mtu - 39),
    );
    f.expect(&ether(ROUTER_MAC, None, ETH_IP6, &p), Verdict::PassMtu);
    // A smaller egress MTU (a tunnel, say).
    nh.mtu = 1400;
    f.dp.set_next_hop(1, &nh).unwrap();
    f.expect(&frame, Verdict::PassMtu);
    nh.mtu = MTU;

    // MAC unknown.
    let small = V4::udp([192, 0, 2, 1], [10, 1, 2, 3]).frame(1, 2);
    f.dp.set_next_hop(
        1,
        &NextHop {
            flags: NextHop::VALID,
            ..nh
        },
    )
    .unwrap();
    f.expect(&small, Verdict::PassNoMac);
    f.expect(
        &v6_udp_frame("2001:db8::2", "2001:db8:5::1", 64, 1),
        Verdict::PassNoMac,
    );
    // Next hop not valid, or an empty group.
    f.dp.set_next_hop(1, &NextHop { flags: 0, ..nh }).unwrap();
    f.expect(&small, Verdict::PassNoNexthop);
    f.dp.set_next_hop(1, &nh).unwrap();
    f.expect(&small, Verdict::Forwarded);
    f.dp.set_group(1, &NhGroup::default()).unwrap();
    f.expect(&small, Verdict::PassNoNexthop);
    f.dp.set_group(1, &NhGroup::with_members(&[(1, 1)]).unwrap())
        .unwrap();

    // Egress port missing from tx_ports.
    f.dp.remove_tx_port(EGRESS_IFINDEX).unwrap();
    f.expect(&small, Verdict::PassNoTxPort);
    f.dp.add_tx_port(EGRESS_IFINDEX).unwrap();
    f.expect(&small, Verdict::Forwarded);
}

// ---- malformed ----------------------------------------------------------------------

#[test]
#[ignore = "needs root: BPF"]
fn malformed_frames_are_dropped_and_counted() {
    let mut f = Fixture::new();
    f.route4([0, 0, 0, 0], 0, 1);
    f.dp.set_route6(v6("::"), 0, 1).unwrap();
    let good = V4::udp([192, 0, 2, 1], [10, 1, 2, 3]).packet(&l4_ports(1, 2, 8));
    let drop = Verdict::DropMalformed;

    // Shorter than an Ethernet header: BPF_PROG_TEST_RUN itself refuses
    // frames under 14 bytes, so the shortest frame the program can see is a
    // bare header; with a tag announced but cut off, it is malformed.
    assert!(f.dp.test_run(&[0u8; 13]).is_err());
    f.expect(&ether(ROUTER_MAC, None, ETH_VLAN, &[0x00]), drop);
    f.expect(&ether(ROUTER_MAC, None, ETH_VLAN, &[]), drop);

    // Short IP headers.
    f.expect(&ether(ROUTER_MAC, None, ETH_IP, &[]), drop);
    f.expect(&ether(ROUTER_MAC, None, ETH_IP, &good[..19]), drop);
    route_on(&mut f.dp, LO, 3, 0);
    f.expect(&ether(ROUTER_MAC, Some(3), ETH_IP, &good[..10]), drop);
    let p6 = ipv6_packet(v6("2001:db8::2"), v6("2001:db8:5::1"), 64, UDP, &[0u8; 8]);
    f.expect(&ether(ROUTER_MAC, None, ETH_IP6, &p6[..39]), drop);

    let fix = |mut p: Vec<u8>| {
        let c = ip_checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        ether(ROUTER_MAC, None, ETH_IP, &p)
    };
    // Bad IHL (< 5), wrong version.
    for first in [0x44u8, 0x40, 0x55, 0x65] {
        let mut p = good.clone();
        p[0] = first;
        f.expect(&fix(p), drop);
    }
    // IHL larger than the packet / the frame.
    let mut p = good.clone();
    p[0] = 0x4f;
    f.expect(&fix(p), drop);
    // Total length beyond the frame, or below the header length.
    for tot in [good.len() as u16 + 1, 1500, 19, 0] {
        let mut p = good.clone();
        p[2..4].copy_from_slice(&tot.to_be_bytes());
        f.expect(&fix(p), drop);
    }
    // IPv6: payload length beyond the frame, wrong version.
    let mut p = p6.clone();
    p[4..6].copy_from_slice(&9u16.to_be_bytes());
    f.expect(&ether(ROUTER_MAC, None, ETH_IP6, &p), drop);
    let mut p = p6.clone();
    p[0] = 0x40;
    f.expect(&ether(ROUTER_MAC, None, ETH_IP6, &p), drop);

    // A wrong IPv4 header checksum is dropped under its own counter.
    let mut p = good.clone();
    p[10] ^= 0x01;
    f.expect(
        &ether(ROUTER_MAC, None, ETH_IP, &p),
        Verdict::DropBadChecksum,
    );

    // The good packet itself passes all of this.
    f.expect(&ether(ROUTER_MAC, None, ETH_IP, &good), Verdict::Forwarded);
    f.expect(&ether(ROUTER_MAC, None, ETH_IP6, &p6), Verdict::Forwarded);
}

// ---- DIR-24-8 -----------------------------------------------------------------------

#[test]
#[ignore = "needs root: BPF"]
fn dir24_8_lookups_of_8_24_25_and_32_routes() {
    let mut f = Fixture::new();
    f.route4([10, 0, 0, 0], 8, 1);
    f.route4([10, 1, 2, 0], 24, 2);
    f.route4([10, 1, 2, 128], 25, 3);
    f.route4([10, 1, 2, 200], 32, 4);
    f.route4([10, 1, 3, 7], 32, 4); // a /32 right under the /8
    for (dst, group) in [
        ([10, 9, 9, 9], 1),
        ([10, 0, 0, 0], 1),
        ([10, 255, 255, 254], 1),
        ([10, 1, 2, 5], 2),
        ([10, 1, 2, 127], 2),
        ([10, 1, 2, 128], 3),
        ([10, 1, 2, 199], 3),
        ([10, 1, 2, 200], 4),
        ([10, 1, 2, 201], 3),
        ([10, 1, 2, 255], 3),
        ([10, 1, 3, 7], 4),
        ([10, 1, 3, 8], 1),
        ([10, 1, 1, 200], 1),
    ] {
        assert_eq!(f.dp.lookup4(dst.into()), group, "lookup4 {dst:?}");
        let frame = V4::udp([192, 0, 2, 1], dst).frame(1, 2);
        assert_eq!(f.forwarded_to(&frame), group, "forwarded {dst:?}");
    }
    for dst in [[11, 0, 0, 1], [9, 255, 255, 255]] {
        assert_eq!(f.dp.lookup4(dst.into()), 0);
        f.expect(
            &V4::udp([192, 0, 2, 1], dst).frame(1, 2),
            Verdict::PassNoRoute,
        );
    }
    // The live top-level entry for 10.1.2.0/24 points at a tbl8 group, and
    // the live arrays agree with the builder and with layout.rs' lookup.
    let index = 0x0a0102usize;
    let word = f.dp.fib4_top_word(index / 4).unwrap();
    assert_ne!((word >> (16 * (index % 4))) as u16 & FIB4_TBL8_FLAG, 0);
    for a in [0x0a01_0205u32, 0x0a01_02c8, 0x0a01_0307, 0x0b00_0001] {
        let addr = Ipv4Addr::from(a);
        let want = f.fib.lookup(a);
        assert_eq!(f.dp.lookup4(addr), want);
        assert_eq!(
            layout::fib4_lookup(f.fib.top_words(), f.fib.tbl8_words(), addr),
            want
        );
    }
    // Writing an unchanged table changes nothing.
    let sync =
        f.dp.sync_fib4(f.fib.top_words(), f.fib.tbl8_words())
            .unwrap();
    assert_eq!((sync.top_words, sync.tbl8_words), (0, 0));

    // Removing the /25 uncovers the /24; removing the /24 the /8.
    f.unroute4([10, 1, 2, 128], 25);
    let frame = V4::udp([192, 0, 2, 1], [10, 1, 2, 130]).frame(1, 2);
    assert_eq!(f.forwarded_to(&frame), 2);
    f.unroute4([10, 1, 2, 0], 24);
    assert_eq!(f.forwarded_to(&frame), 1);
    let frame = V4::udp([192, 0, 2, 1], [10, 1, 2, 200]).frame(1, 2);
    assert_eq!(f.forwarded_to(&frame), 4);
}

#[test]
#[ignore = "needs root: BPF"]
fn dir24_8_codes_name_palette_slots_and_fall_back_to_the_top_level() {
    // 20 groups on 20 /24s: 14 get palette slots, the rest are read from
    // the top level; the program forwards all of them the same.
    let mut f = Fixture::new();
    let hop = |g: u16| (g % 4) + 1;
    let set_groups = |f: &mut Fixture, groups: std::ops::RangeInclusive<u16>| {
        for g in groups {
            f.dp.set_group(g, &NhGroup::with_members(&[(hop(g), 1)]).unwrap())
                .unwrap();
        }
    };
    let check = |f: &Fixture, groups: std::ops::RangeInclusive<u16>| {
        let codes = f.dp.fib4_codes_words();
        let (mut coded, mut top) = (0, 0);
        for g in groups {
            let dst = [10, 0, g as u8, 1];
            assert_eq!(f.dp.lookup4(dst.into()), g, "lookup4 {dst:?}");
            let frame = V4::udp([192, 0, 2, 1], dst).frame(1, 2);
            assert_eq!(f.forwarded_to(&frame), hop(g), "group {g}");
            let index = 0x0a0000 | usize::from(g);
            match layout::fib4_code(&codes, index) {
                layout::FIB4_CODE_TOP => top += 1,
                _ => coded += 1,
            }
        }
        (coded, top)
    };
    set_groups(&mut f, 6..=45);
    for g in 6..=25u16 {
        f.route4([10, 0, g as u8, 0], 24, g);
    }
    assert_eq!(check(&f, 6..=25), (14, 6));
    // Ten groups leave. The first new one finds no slot and has the codes
    // scanned at its batch's end; the freed slots are given out a batch
    // later (each route here is a batch), so the second new one waits too,
    // until the third and fourth rewrite the top word the four share.
    for g in 6..=15u16 {
        f.unroute4([10, 0, g as u8, 0], 24);
    }
    // Groups 20..25 had the codes scanned just now; the next scan may come
    // a second later.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    for g in 36..=45u16 {
        f.route4([10, 0, g as u8, 0], 24, g);
    }
    assert_eq!(check(&f, 36..=45), (10, 0));
    assert_eq!(check(&f, 16..=25), (4, 6));
    f.expect(
        &V4::udp([192, 0, 2, 1], [10, 0, 6, 1]).frame(1, 2),
        Verdict::PassNoRoute,
    );
}

#[test]
#[ignore = "needs root: BPF"]
fn dir24_8_codes_agree_with_a_whole_top_level_written_at_once() {
    // Every top word, through every window of fib4_codes: 20 groups (some
    // without a slot) and empty entries; lookups read the codes first.
    let mut f = Fixture::new();
    let mut x = 0x1234_5678u32;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    let top: Vec<u64> = (0..FIB4_TOP_WORDS)
        .map(|_| {
            let v = u64::from(next() % 21);
            if next() % 4 == 0 {
                (0..4).fold(0, |w, k| w | u64::from(next() % 21) << (16 * k))
            } else {
                v * 0x0001_0001_0001_0001
            }
        })
        .collect();
    f.dp.sync_fib4(&top, &[]).unwrap();
    let codes = f.dp.fib4_codes_words();
    for _ in 0..20_000 {
        let addr = Ipv4Addr::from(next());
        let want = layout::fib4_lookup(&top, &[], addr);
        assert_eq!(f.dp.lookup4(addr), want, "{addr}");
        assert_eq!(
            layout::fib4_lookup_coded(&codes, &top, &[], addr),
            want,
            "{addr}"
        );
    }
    let escaped = (0..FIB4_TOP_WORDS * 4)
        .filter(|&i| layout::fib4_code(&codes, i) == layout::FIB4_CODE_TOP)
        .count();
    assert!(
        escaped > 0,
        "groups beyond the palette are read from the top level"
    );
}

#[test]
#[ignore = "needs root: BPF"]
fn dir24_8_words_written_by_hand_per_the_layout() {
    // Independent of the builder: 192.168.1.0/24 -> group 3 in the top
    // level; 192.168.2.0/24 through the last tbl8 group, .77/32 -> group 4,
    // the rest of the /24 -> group 2.
    let mut f = Fixture::new();
    let put_top = |f: &mut Fixture, index: usize, value: u16| {
        let word = index / 4;
        let old = f.dp.fib4_top_word(word).unwrap();
        let shift = 16 * (index % 4);
        let new = (old & !(0xffff << shift)) | (u64::from(value) << shift);
        f.dp.write_fib4_top(word, &[new]).unwrap();
    };
    put_top(&mut f, 0xc0a801, 3);
    let g = FIB4_TBL8_GROUPS - 1;
    let mut group = vec![0u64; 64];
    for b in 0..256 {
        layout::fib4_set(&mut group, b, if b == 77 { 4 } else { 2 });
    }
    f.dp.write_fib4_tbl8(g * 64, &group).unwrap();
    put_top(&mut f, 0xc0a802, FIB4_TBL8_FLAG | g as u16);
    for (dst, group) in [
        ([192, 168, 1, 1], 3),
        ([192, 168, 1, 255], 3),
        ([192, 168, 2, 77], 4),
        ([192, 168, 2, 76], 2),
        ([192, 168, 2, 78], 2),
    ] {
        let frame = V4::udp([192, 0, 2, 1], dst).frame(1, 2);
        assert_eq!(f.forwarded_to(&frame), group, "{dst:?}");
    }
    f.expect(
        &V4::udp([192, 0, 2, 1], [192, 168, 3, 1]).frame(1, 2),
        Verdict::PassNoRoute,
    );
    // A top entry naming a tbl8 group beyond the map: no route.
    put_top(&mut f, 0xc0a803, FIB4_TBL8_FLAG | 0x7fff);
    f.expect(
        &V4::udp([192, 0, 2, 1], [192, 168, 3, 1]).frame(1, 2),
        Verdict::PassNoRoute,
    );
}

// ---- ECMP ---------------------------------------------------------------------------

#[test]
#[ignore = "needs root: BPF"]
fn ecmp_spreads_flows_evenly_and_keeps_each_flow_on_one_member() {
    let mut f = Fixture::new();
    f.route4([10, 0, 0, 0], 8, 5);
    f.dp.set_route6(v6("2001:db8::"), 32, 5).unwrap();

    let mut per_member: BTreeMap<u16, usize> = BTreeMap::new();
    for i in 0..1000u32 {
        let src = [192, 0, 2 + (i % 7) as u8, (i % 251) as u8];
        let frame = V4::udp(src, [10, 1, 2, 3]).frame(1024 + i as u16, 443);
        *per_member.entry(f.forwarded_to(&frame)).or_default() += 1;
    }
    assert_eq!(per_member.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
    for (member, n) in &per_member {
        assert!(
            (350..=650).contains(n),
            "member {member} got {n} of 1000 flows"
        );
    }

    let mut per_member6: BTreeMap<u16, usize> = BTreeMap::new();
    for i in 0..1000u16 {
        let frame = v6_udp_frame("2001:db8:ffff::1", "2001:db8:1::5", 64, 1024 + i);
        *per_member6.entry(f.forwarded_to(&frame)).or_default() += 1;
    }
    for (member, n) in &per_member6 {
        assert!(
            (350..=650).contains(n),
            "IPv6: member {member} got {n} of 1000 flows"
        );
    }

    // The same 5-tuple always picks the same member, whatever else differs
    // (TTL, identification, length, payload).
    for i in 0..50u16 {
        let flow = V4::udp([198, 51, 100, i as u8], [10, 7, 7, 7]);
        let first = f.forwarded_to(&flow.frame(3000 + i, 80));
        for (ttl, id, len) in [(2u8, 1u16, 8usize), (200, 0xffff, 100), (64, 7, 1000)] {
            let mut l4 = l4_ports(3000 + i, 80, len);
            l4[len - 1] = i as u8;
            let other = V4 { ttl, id, ..flow };
            let frame = ether(ROUTER_MAC, None, ETH_IP, &other.packet(&l4));
            assert_eq!(f.forwarded_to(&frame), first, "flow {i}");
        }
    }

    // Fragments of one datagram (first with ports, later ones with payload
    // where the ports would be) all take the same member.
    let mut members = std::collections::BTreeSet::new();
    for (frag, l4) in [
        (0x2000u16, l4_ports(5555, 80, 16)), // MF, offset 0
        (0x2002, vec![0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0]), // MF, offset 16
        (0x0004, vec![0x12, 0x34, 0x56, 0x78]), // last fragment
    ] {
        let p = V4 {
            frag,
            ..V4::udp([203, 0, 113, 9], [10, 2, 3, 4])
        }
        .packet(&l4);
        members.insert(f.forwarded_to(&ether(ROUTER_MAC, None, ETH_IP, &p)));
    }
    assert_eq!(members.len(), 1, "fragments split over {members:?}");
}

#[test]
#[ignore = "needs root: BPF"]
fn ecmp_member_change_moves_only_its_flows() {
    let mut f = Fixture::new();
    f.route4([10, 0, 0, 0], 8, 6);
    let members = [(1, 1), (2, 1), (3, 1)];
    let mut group = NhGroup::with_members(&members).unwrap();
    f.dp.set_group(6, &group).unwrap();
    let flows: Vec<Vec<u8>> = (0..300u16)
        .map(|i| V4::udp([192, 0, 2, 1], [10, 1, 2, 3]).frame(2000 + i, 443))
        .collect();
    let before: Vec<u16> = flows.iter().map(|fr| f.forwarded_to(fr)).collect();
    // Member 2 leaves.
    group.set_members(&[(1, 1), (3, 1)]).unwrap();
    f.dp.set_group(6, &group).unwrap();
    for (fr, &was) in flows.iter().zip(&before) {
        let now = f.forwarded_to(fr);
        if was == 2 {
            assert_ne!(now, 2);
        } else {
            assert_eq!(now, was, "a flow on a staying member moved");
        }
    }
}

// ---- the layout as loaded ----------------------------------------------------------

#[test]
#[ignore = "needs root: BPF"]
fn next_hops_and_groups_read_back() {
    let mut f = Fixture::new();
    let nh = NextHop::resolved(7, [1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1], 9000);
    f.dp.set_next_hop(65535, &nh).unwrap();
    assert_eq!(f.dp.next_hop(65535).unwrap(), nh);
    assert!(f.dp.set_next_hop(0, &nh).is_err());
    let g = NhGroup::with_members(&[(9, 3), (10, 1)]).unwrap();
    f.dp.set_group(32766, &g).unwrap();
    assert_eq!(f.dp.group(32766).unwrap(), g);
    assert!(f.dp.set_group(0, &g).is_err());
    // The discard group has no buckets.
    assert!(f.dp.set_group(layout::GROUP_DISCARD, &g).is_err());
    assert!(f.dp.add_tx_port(256).is_err());
    assert!(f.dp.write_fib4_top(FIB4_TOP_WORDS, &[1]).is_err());
    assert!(f.dp.write_fib4_tbl8(FIB4_TBL8_WORDS - 1, &[0, 0]).is_err());
}
