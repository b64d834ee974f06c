//! The XDP program forwarding real packets between network namespaces:
//!
//! ```text
//!   src eth0 ──veth── eth1  r  eth2 ──veth── eth0 dst
//!   10.1.0.1/24    10.1.0.254/24  10.2.0.254/24    10.2.0.1/24
//!   fd01::1/64     fd01::254/64   fd02::254/64     fd02::1/64
//! ```
//!
//! `r` has kernel forwarding off (IPv4 and IPv6), so a ping from `src` that
//! `dst` answers was carried both ways by the XDP program on `r`'s eth1 and
//! eth2. Removing the route from the program's FIB punts the packets to
//! `r`'s kernel, which does not forward them, and the pings fail.
//!
//! The veth peers that receive redirected frames (`src:eth0`, `dst:eth0`)
//! have GRO on: a veth only takes `XDP_REDIRECT`ed frames when its peer runs
//! NAPI, which needs an XDP program or GRO there (see docs/xdp.md).
//!
//! Needs root (network namespaces, BPF): run it via scripts/test.sh as root.

use std::net::IpAddr;

use sluice_dataplane::attach::{Attachment, XdpMode, in_netns};
use sluice_dataplane::dir24::{DEFAULT_TBL8_GROUPS, Dir24, Prefix};
use sluice_dataplane::layout::{NextHop, NhGroup, NhStats, Verdict};
use sluice_dataplane::loader::Dataplane;
use sluice_testns::Lab;

mod topo;
use topo::*;

// ---- the router ------------------------------------------------------------------

/// The program loaded and attached in `r`, with its FIB; detaches when
/// dropped. Declare it after the [`Lab`] so it is dropped first.
struct Router {
    dp: Dataplane,
    fib: Dir24,
    eth1: Attachment,
    eth2: Attachment,
}

/// The counters a test looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counters {
    forwarded: u64,
    no_route: u64,
    to_dst: NhStats,
    to_src: NhStats,
}

impl Router {
    /// Loads the program in `r`'s namespace, attaches it to eth1 and eth2 in
    /// `mode`, and writes own addresses, next hops, groups, egress ports
    /// and routes to both sides (IPv4 and IPv6).
    fn start(topo: &Topology<'_>, mode: XdpMode) -> Self {
        let r = &topo.r;
        let nh_to_dst = (mac(&topo.dst, "eth0"), mac(r, "eth2"));
        let nh_to_src = (mac(&topo.src, "eth0"), mac(r, "eth1"));
        let mut router = in_netns(r.name(), || {
            let mut dp = Dataplane::load().expect("load the XDP program");
            let eth1 = dp.attach("eth1", mode).expect("attach to r:eth1");
            let eth2 = dp.attach("eth2", mode).expect("attach to r:eth2");
            // DEVMAP entries name ifindexes of the writer's namespace.
            for (port, name) in [(&eth1, "eth1"), (&eth2, "eth2")] {
                dp.add_tx_port(port.ifindex()).expect("add egress port");
                route_on_port(&mut dp, port.ifindex(), name);
            }
            Router {
                dp,
                fib: Dir24::new(DEFAULT_TBL8_GROUPS),
                eth1,
                eth2,
            }
        })
        .expect("enter r's namespace");

        let dp = &mut router.dp;
        for addr in ROUTER_ADDRS {
            dp.add_own_address(addr.parse().unwrap()).unwrap();
        }
        let (eth1, eth2) = (router.eth1.ifindex(), router.eth2.ifindex());
        dp.set_next_hop(
            NH_TO_DST,
            &NextHop::resolved(eth2, nh_to_dst.0, nh_to_dst.1, MTU),
        )
        .unwrap();
        dp.set_next_hop(
            NH_TO_SRC,
            &NextHop::resolved(eth1, nh_to_src.0, nh_to_src.1, MTU),
        )
        .unwrap();
        for (group, nh) in [(GROUP_TO_DST, NH_TO_DST), (GROUP_TO_SRC, NH_TO_SRC)] {
            dp.set_group(group, &NhGroup::with_members(&[(nh, 1)]).unwrap())
                .unwrap();
        }
        router.route("10.2.0.0/24", GROUP_TO_DST);
        router.route("10.1.0.0/24", GROUP_TO_SRC);
        router.route("fd02::/64", GROUP_TO_DST);
        router.route("fd01::/64", GROUP_TO_SRC);
        router
    }

    fn parse(prefix: &str) -> (IpAddr, u8) {
        let (addr, len) = prefix.split_once('/').unwrap();
        (addr.parse().unwrap(), len.parse().unwrap())
    }

    /// Routes `prefix` to `group`: IPv4 through the DIR-24-8 builder and
    /// the words it changed, IPv6 into the trie.
    fn route(&mut self, prefix: &str, group: u16) {
        match Self::parse(prefix) {
            (IpAddr::V4(addr), len) => {
                let prefix = Prefix::from_ipv4(addr, len).unwrap();
                self.fib.insert(prefix, group).unwrap();
                self.write_fib4();
            }
            (IpAddr::V6(addr), len) => self.dp.set_route6(addr, len, group).unwrap(),
        }
    }

    fn unroute(&mut self, prefix: &str) {
        match Self::parse(prefix) {
            (IpAddr::V4(addr), len) => {
                assert!(self.fib.remove(Prefix::from_ipv4(addr, len).unwrap()));
                self.write_fib4();
            }
            (IpAddr::V6(addr), len) => self.dp.remove_route6(addr, len).unwrap(),
        }
    }

    fn write_fib4(&mut self) {
        let dirty = self.fib.take_dirty();
        self.dp.write_fib4_dirty(&self.fib, &dirty).unwrap();
    }

    fn counters(&self) -> Counters {
        Counters {
            forwarded: self.dp.verdict_count(Verdict::Forwarded).unwrap(),
            no_route: self.dp.verdict_count(Verdict::PassNoRoute).unwrap(),
            to_dst: self.dp.nh_stats(NH_TO_DST).unwrap(),
            to_src: self.dp.nh_stats(NH_TO_SRC).unwrap(),
        }
    }

    fn verdicts(&self) -> String {
        let counts = self.dp.verdict_counts().unwrap();
        let moved: Vec<String> = counts
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(v, n)| format!("{v}={n}"))
            .collect();
        moved.join(" ")
    }
}

// ---- the scenario ----------------------------------------------------------------

const PINGS: u32 = 20;

/// `PINGS` pings from src to `to` are all answered, and the program
/// forwarded them: both next hops and the `forwarded` verdict count at
/// least `PINGS` each way.
fn pings_are_forwarded(topo: &Topology<'_>, router: &Router, to: &str) {
    let before = router.counters();
    let replies = ping(&topo.src, to, PINGS);
    let after = router.counters();
    let context = format!(
        "ping {to}: before {before:?}, after {after:?}, verdicts: {}",
        router.verdicts()
    );
    assert_eq!(replies, PINGS, "replies; {context}");
    assert!(
        after.forwarded - before.forwarded >= u64::from(2 * PINGS),
        "forwarded verdicts; {context}"
    );
    assert!(
        after.to_dst.packets - before.to_dst.packets >= u64::from(PINGS),
        "packets through the next hop to dst; {context}"
    );
    assert!(
        after.to_src.packets - before.to_src.packets >= u64::from(PINGS),
        "packets through the next hop to src; {context}"
    );
    assert!(after.to_dst.bytes > before.to_dst.bytes, "{context}");
}

/// With the route to `prefix` gone, pings to `to` are punted to r's kernel,
/// which does not forward: none is answered, `pass_no_route` grows, nothing
/// goes through the next hop to dst. Then the route comes back and pings
/// work again.
fn pings_fail_without_route(topo: &Topology<'_>, router: &mut Router, prefix: &str, to: &str) {
    router.unroute(prefix);
    let before = router.counters();
    let replies = ping(&topo.src, to, 5);
    let after = router.counters();
    let context = format!(
        "ping {to} without a route to {prefix}: before {before:?}, after {after:?}, verdicts: {}",
        router.verdicts()
    );
    assert_eq!(replies, 0, "replies; {context}");
    assert!(
        after.no_route - before.no_route >= 5,
        "pass_no_route verdicts; {context}"
    );
    assert_eq!(after.to_dst, before.to_dst, "next hop to dst; {context}");

    router.route(prefix, GROUP_TO_DST);
    assert_eq!(ping(&topo.src, to, 5), 5, "{prefix} routed again");
}

fn forwards(tag: &str, mode: XdpMode, attached: &str) {
    require_root();
    let lab = Lab::new(tag);
    let topo = Topology::new(&lab);
    // After the lab: dropped (detached) before its namespaces go.
    let mut router = Router::start(&topo, mode);
    for ifname in ["eth1", "eth2"] {
        let link = link_details(&topo.r, ifname);
        assert!(
            link.contains(attached),
            "r:{ifname} should show `{attached}`:\n{link}"
        );
    }
    assert_eq!(
        topo.r.run(["sysctl", "-n", "net.ipv4.ip_forward"]).trim(),
        "0"
    );
    assert_eq!(
        topo.r
            .run(["sysctl", "-n", "net.ipv6.conf.all.forwarding"])
            .trim(),
        "0"
    );
    // dst answers from its own address: nothing else on the path.
    assert!(topo.dst.ip(["addr", "show", "dev", "eth0"]).contains(DST4));

    pings_are_forwarded(&topo, &router, DST4);
    pings_are_forwarded(&topo, &router, DST6);
    pings_fail_without_route(&topo, &mut router, "10.2.0.0/24", DST4);
    pings_fail_without_route(&topo, &mut router, "fd02::/64", DST6);

    // The reverse direction works as well: dst pings src.
    let before = router.counters();
    assert_eq!(ping(&topo.dst, SRC4, 5), 5);
    assert_eq!(ping(&topo.dst, SRC6, 5), 5);
    let after = router.counters();
    assert!(after.to_src.packets - before.to_src.packets >= 10);

    // Dropping the router detaches the program.
    drop(router);
    for ifname in ["eth1", "eth2"] {
        let link = link_details(&topo.r, ifname);
        assert!(!link.contains(" xdp"), "r:{ifname} still has XDP:\n{link}");
    }
    let prefix = lab.prefix().to_owned();
    drop(lab);
    assert_eq!(sluice_testns::leftovers(&prefix), Vec::<String>::new());
}

#[test]
#[ignore = "needs root: network namespaces and BPF"]
fn native_xdp_forwards_real_packets() {
    forwards("xdp-native", XdpMode::Driver, " xdp ");
}

#[test]
#[ignore = "needs root: network namespaces and BPF"]
fn generic_xdp_forwards_real_packets() {
    forwards("xdp-generic", XdpMode::Skb, " xdpgeneric ");
}
