//! Kernel FIB mode (`bpf_fib_lookup`) and anti-spoofing per real ingress
//! interface, through `BPF_PROG_TEST_RUN` with `ctx_in.ingress_ifindex`
//! naming a veth of a router namespace:
//!
//! ```text
//!   src eth0 ──veth── eth1  r  eth2 ──veth── eth0 dst
//!                 10.1.0.254/24  10.2.0.254/24
//!                 fd01::254/64   fd02::254/64
//! ```
//!
//! The test run happens on a thread inside `r` (so the DEVMAP and the
//! ingress ifindex resolve there); `bpf_fib_lookup` then consults `r`'s
//! routes and neighbours, set up below with `ip`.
//! Needs root (network namespaces, BPF).

use sluice_dataplane::attach::in_netns;
use sluice_dataplane::layout::{FibMode, IF_F_ANTISPOOF, Verdict, XdpAction};
use sluice_dataplane::loader::Dataplane;
use sluice_testns::{Lab, Node};

mod common;
use common::*;

/// The gateway's MAC (a permanent neighbour entry in r).
const GW_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x02, 0x01];

fn require_root() {
    if !sluice_testns::is_root() {
        panic!("this test needs root (network namespaces, BPF); run it as root");
    }
}

fn ifindex(node: &Node<'_>, ifname: &str) -> u32 {
    let out = node.ip(["-o", "link", "show", "dev", ifname]);
    out.split(':').next().unwrap().trim().parse().unwrap()
}

fn mac(node: &Node<'_>, ifname: &str) -> [u8; 6] {
    let out = node.ip(["-o", "link", "show", "dev", ifname]);
    let text = out.split("link/ether ").nth(1).unwrap();
    let text = text.split_whitespace().next().unwrap();
    let v: Vec<u8> = text
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect();
    v.try_into().unwrap()
}

struct Env<'lab> {
    r: Node<'lab>,
    eth1: u32,
    eth2: u32,
    eth2_mac: [u8; 6],
}

fn setup(lab: &Lab) -> Env<'_> {
    let (src, r, dst) = (lab.node("src"), lab.node("r"), lab.node("dst"));
    lab.link(&src, "eth0", &r, "eth1");
    lab.link(&r, "eth2", &dst, "eth0");
    // bpf_fib_lookup refuses to route for an ingress device without
    // forwarding.
    r.run(["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    r.run(["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
    r.addr("eth1", "10.1.0.254/24");
    r.addr("eth2", "10.2.0.254/24");
    for (ifname, cidr) in [("eth1", "fd01::254/64"), ("eth2", "fd02::254/64")] {
        r.ip(["-6", "addr", "add", cidr, "dev", ifname, "nodad"]);
    }
    let gw_mac = "02:00:00:00:02:01";
    r.ip([
        "neigh",
        "add",
        "10.2.0.1",
        "lladdr",
        gw_mac,
        "dev",
        "eth2",
        "nud",
        "permanent",
    ]);
    r.ip([
        "-6",
        "neigh",
        "add",
        "fd02::1",
        "lladdr",
        gw_mac,
        "dev",
        "eth2",
        "nud",
        "permanent",
    ]);
    r.ip(["route", "add", "10.20.0.0/16", "via", "10.2.0.1"]);
    r.ip(["-6", "route", "add", "fd20::/32", "via", "fd02::1"]);
    // A gateway without a neighbour entry.
    r.ip(["route", "add", "10.30.0.0/16", "via", "10.2.0.9"]);
    r.ip(["-6", "route", "add", "fd30::/32", "via", "fd02::9"]);
    r.ip(["route", "add", "blackhole", "10.40.0.0/16"]);
    r.ip(["route", "add", "unreachable", "10.41.0.0/16"]);
    r.ip(["route", "add", "prohibit", "10.42.0.0/16"]);
    r.ip(["-6", "route", "add", "blackhole", "fd40::/32"]);
    r.ip([
        "route",
        "add",
        "10.50.0.0/16",
        "via",
        "10.2.0.1",
        "mtu",
        "lock",
        "1300",
    ]);
    Env {
        eth1: ifindex(&r, "eth1"),
        eth2: ifindex(&r, "eth2"),
        eth2_mac: mac(&r, "eth2"),
        r,
    }
}

/// Runs `frame` as arriving on `ifindex`, checks that exactly `verdict`
/// moved by one and the action; returns the output frame.
fn expect(dp: &Dataplane, frame: &[u8], ifindex: u32, verdict: Verdict) -> Vec<u8> {
    let count = |v| dp.verdict_count(v).unwrap();
    let before: Vec<u64> = Verdict::ALL.iter().map(|&v| count(v)).collect();
    let out = dp.test_run_from(frame, ifindex).expect("BPF_PROG_TEST_RUN");
    let moved: Vec<(Verdict, u64)> = Verdict::ALL
        .iter()
        .zip(&before)
        .filter(|&(&v, &b)| count(v) != b)
        .map(|(&v, &b)| (v, count(v) - b))
        .collect();
    assert_eq!(moved, vec![(verdict, 1)], "verdicts that moved");
    assert_eq!(out.action, verdict.action(), "action for {verdict}");
    if out.action != XdpAction::Redirect {
        assert_eq!(out.frame, frame, "a {verdict} frame must not be modified");
    }
    out.frame
}

#[test]
#[ignore = "needs root: network namespaces and BPF"]
fn kernel_fib_mode_forwards_and_punts_by_the_kernels_answer() {
    require_root();
    let lab = Lab::new("kfib");
    let env = setup(&lab);
    let Env {
        eth1,
        eth2,
        eth2_mac,
        ..
    } = env;
    in_netns(env.r.name(), || {
        let mut dp = Dataplane::load().expect("load");
        dp.add_tx_port(eth2).unwrap();
        route_on(&mut dp, eth1, 0, 0);
        assert_eq!(dp.fib_mode().unwrap(), FibMode::Sluice);

        let frame = V4::udp([10, 1, 0, 1], [10, 20, 3, 4]).frame(1000, 53);
        let frame6 = v6_udp_frame("fd01::1", "fd20::5", 64, 4242);
        // Sluice mode, no routes in its maps: punted.
        expect(&dp, &frame, eth1, Verdict::PassNoRoute);

        dp.set_fib_mode(FibMode::Kernel).unwrap();
        assert_eq!(dp.fib_mode().unwrap(), FibMode::Kernel);
        // Success: MACs from the kernel's answer, TTL - 1, checksum.
        let out = expect(&dp, &frame, eth1, Verdict::Forwarded);
        assert_eq!(&out[0..6], &GW_MAC, "destination MAC: the gateway");
        assert_eq!(&out[6..12], &eth2_mac, "source MAC: r's eth2");
        let (ih, oh) = (&frame[14..34], &out[14..34]);
        assert_eq!(oh[8], ih[8] - 1, "TTL decremented");
        assert_eq!(
            u16::from_be_bytes([oh[10], oh[11]]),
            ip_checksum(oh),
            "checksum == recomputed from scratch"
        );
        assert_eq!(ones_sum(oh), 0xffff);
        for i in (0..20).filter(|i| ![8, 10, 11].contains(i)) {
            assert_eq!(oh[i], ih[i], "header byte {i}");
        }
        assert_eq!(&out[34..], &frame[34..], "payload unchanged");

        let out = expect(&dp, &frame6, eth1, Verdict::Forwarded);
        assert_eq!(&out[0..6], &GW_MAC);
        assert_eq!(&out[6..12], &eth2_mac);
        assert_eq!(out[14 + 7], 63, "hop limit decremented");
        assert_eq!(&out[12..21], &frame6[12..21]);
        assert_eq!(&out[22..], &frame6[22..]);

        // No neighbour entry for the gateway: the kernel resolves it.
        let no_neigh = V4::udp([10, 1, 0, 1], [10, 30, 0, 1]).frame(1, 2);
        expect(&dp, &no_neigh, eth1, Verdict::PassNoMac);
        expect(
            &dp,
            &v6_udp_frame("fd01::1", "fd30::1", 64, 1),
            eth1,
            Verdict::PassNoMac,
        );
        // No route at all.
        let no_route = V4::udp([10, 1, 0, 1], [11, 0, 0, 1]).frame(1, 2);
        expect(&dp, &no_route, eth1, Verdict::PassNoRoute);
        expect(
            &dp,
            &v6_udp_frame("fd01::1", "fd99::1", 64, 1),
            eth1,
            Verdict::PassNoRoute,
        );
        // Blackhole / unreachable / prohibit routes: the kernel decides.
        for dst in [[10, 40, 0, 1], [10, 41, 0, 1], [10, 42, 0, 1]] {
            let f = V4::udp([10, 1, 0, 1], dst).frame(1, 2);
            expect(&dp, &f, eth1, Verdict::PassUnreachable);
        }
        expect(
            &dp,
            &v6_udp_frame("fd01::1", "fd40::1", 64, 1),
            eth1,
            Verdict::PassUnreachable,
        );
        // The route's MTU (1300): at it forwarded, above it punted.
        let at = V4::udp([10, 1, 0, 1], [10, 50, 0, 1]).packet(&l4_ports(1, 2, 1280));
        expect(
            &dp,
            &ether(ROUTER_MAC, None, ETH_IP, &at),
            eth1,
            Verdict::Forwarded,
        );
        let over = V4::udp([10, 1, 0, 1], [10, 50, 0, 1]).packet(&l4_ports(1, 2, 1281));
        expect(
            &dp,
            &ether(ROUTER_MAC, None, ETH_IP, &over),
            eth1,
            Verdict::PassMtu,
        );
        // The punts before the lookup apply in kernel mode too.
        dp.add_own_address([10, 20, 3, 4].into()).unwrap();
        expect(&dp, &frame, eth1, Verdict::PassLocal);
        dp.remove_own_address([10, 20, 3, 4].into()).unwrap();
        let ttl1 = V4 {
            ttl: 1,
            ..V4::udp([10, 1, 0, 1], [10, 20, 3, 4])
        };
        expect(&dp, &ttl1.frame(1, 2), eth1, Verdict::PassTtl);
        // Egress port not in tx_ports.
        dp.remove_tx_port(eth2).unwrap();
        expect(&dp, &frame, eth1, Verdict::PassNoTxPort);
        dp.add_tx_port(eth2).unwrap();
        // Forwarding off on the ingress interface.
        env.r
            .run(["sysctl", "-qw", "net.ipv4.conf.eth1.forwarding=0"]);
        expect(&dp, &frame, eth1, Verdict::PassFwdDisabled);
        env.r
            .run(["sysctl", "-qw", "net.ipv4.conf.eth1.forwarding=1"]);
        expect(&dp, &frame, eth1, Verdict::Forwarded);
        // Back to Sluice's maps.
        dp.set_fib_mode(FibMode::Sluice).unwrap();
        expect(&dp, &frame, eth1, Verdict::PassNoRoute);
    })
    .expect("enter r's namespace");
}

#[test]
#[ignore = "needs root: network namespaces and BPF"]
fn antispoof_applies_per_ingress_interface_in_both_modes() {
    require_root();
    let lab = Lab::new("kfib-spoof");
    let env = setup(&lab);
    let (eth1, eth2) = (env.eth1, env.eth2);
    in_netns(env.r.name(), || {
        let mut dp = Dataplane::load().expect("load");
        dp.add_tx_port(eth2).unwrap();
        dp.add_source_prefix([10, 1, 0, 0].into(), 16).unwrap();
        dp.add_source_prefix("fd01::".parse().unwrap(), 16).unwrap();
        route_on(&mut dp, eth1, 0, IF_F_ANTISPOOF);
        route_on(&mut dp, eth2, 0, 0);

        let spoofed = V4::udp([192, 0, 2, 66], [10, 20, 3, 4]).frame(1, 2);
        let spoofed6 = v6_udp_frame("2001:db8::66", "fd20::5", 64, 1);
        let good = V4::udp([10, 1, 0, 1], [10, 20, 3, 4]).frame(1, 2);
        for mode in [FibMode::Kernel, FibMode::Sluice] {
            dp.set_fib_mode(mode).unwrap();
            let fwd = match mode {
                FibMode::Kernel => Verdict::Forwarded,
                FibMode::Sluice | FibMode::Dxr | FibMode::Trie6 | FibMode::Pop4 => {
                    Verdict::PassNoRoute
                }
            };
            // Flagged eth1 drops; unflagged eth2 lets the same packet on.
            expect(&dp, &spoofed, eth1, Verdict::DropSpoofed);
            expect(&dp, &spoofed6, eth1, Verdict::DropSpoofed);
            expect(&dp, &spoofed, eth2, fwd);
            expect(&dp, &spoofed6, eth2, fwd);
            expect(&dp, &good, eth1, fwd);
        }
    })
    .expect("enter r's namespace");
}
