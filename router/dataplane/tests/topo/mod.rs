//! The three-namespace line topology of the forwarding tests, and pings.
#![allow(dead_code)]

use std::net::IpAddr;

use sluice_dataplane::dir24::{DEFAULT_TBL8_GROUPS, Dir24, Prefix};
use sluice_dataplane::layout::{NextHop, NhGroup};
use sluice_dataplane::loader::Dataplane;
use sluice_testns::{Lab, Node};

pub fn require_root() {
    if !sluice_testns::is_root() {
        panic!(
            "this test needs root (network namespaces, BPF); run it as root via scripts/test.sh"
        );
    }
}

// ---- the topology --------------------------------------------------------------

pub const SRC4: &str = "10.1.0.1";
pub const DST4: &str = "10.2.0.1";
pub const SRC6: &str = "fd01::1";
pub const DST6: &str = "fd02::1";
/// `r`'s own addresses: packets to them go to its kernel.
pub const ROUTER_ADDRS: [&str; 4] = ["10.1.0.254", "10.2.0.254", "fd01::254", "fd02::254"];

/// Next hop and group towards `dst` (via r:eth2) and towards `src` (via
/// r:eth1).
pub const NH_TO_DST: u16 = 1;
pub const NH_TO_SRC: u16 = 2;
pub const GROUP_TO_DST: u16 = 1;
pub const GROUP_TO_SRC: u16 = 2;
pub const MTU: u16 = 1500;

pub struct Topology<'lab> {
    pub src: Node<'lab>,
    pub r: Node<'lab>,
    pub dst: Node<'lab>,
}

impl<'lab> Topology<'lab> {
    pub fn new(lab: &'lab Lab) -> Self {
        let (src, r, dst) = (lab.node("src"), lab.node("r"), lab.node("dst"));
        lab.link(&src, "eth0", &r, "eth1");
        lab.link(&r, "eth2", &dst, "eth0");

        // Kernel forwarding off in r, explicitly: a new namespace inherits
        // the IPv4 settings of the initial one.
        r.run(["sysctl", "-qw", "net.ipv4.ip_forward=0"]);
        r.run(["sysctl", "-qw", "net.ipv6.conf.all.forwarding=0"]);

        src.addr("eth0", "10.1.0.1/24");
        r.addr("eth1", "10.1.0.254/24");
        r.addr("eth2", "10.2.0.254/24");
        dst.addr("eth0", "10.2.0.1/24");
        for (node, ifname, cidr) in [
            (&src, "eth0", "fd01::1/64"),
            (&r, "eth1", "fd01::254/64"),
            (&r, "eth2", "fd02::254/64"),
            (&dst, "eth0", "fd02::1/64"),
        ] {
            node.ip(["-6", "addr", "add", cidr, "dev", ifname, "nodad"]);
        }
        src.ip(["route", "add", "default", "via", "10.1.0.254"]);
        dst.ip(["route", "add", "default", "via", "10.2.0.254"]);
        src.ip(["-6", "route", "add", "default", "via", "fd01::254"]);
        dst.ip(["-6", "route", "add", "default", "via", "fd02::254"]);

        // The receivers of redirected frames need NAPI: GRO on.
        for node in [&src, &dst] {
            node.run(["ethtool", "-K", "eth0", "gro", "on"]);
        }
        Self { src, r, dst }
    }
}

/// The MAC address of `ifname` in `node`.
pub fn mac(node: &Node<'_>, ifname: &str) -> [u8; 6] {
    let out = node.ip(["-o", "link", "show", "dev", ifname]);
    let text = out
        .split("link/ether ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no link/ether in {out:?}"));
    let bytes: Vec<u8> = text
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).unwrap_or_else(|e| panic!("MAC {text:?}: {e}")))
        .collect();
    bytes
        .try_into()
        .unwrap_or_else(|_| panic!("MAC {text:?} is not 6 bytes"))
}

/// `ip -d link show` of `ifname` in `node`: shows `xdp` (native) or
/// `xdpgeneric` while a program is attached.
pub fn link_details(node: &Node<'_>, ifname: &str) -> String {
    node.ip(["-d", "link", "show", "dev", ifname])
}

// ---- pings ---------------------------------------------------------------------

/// Pings `to` from `from` `count` times, 50 ms apart; the number of replies.
pub fn ping(from: &Node<'_>, to: &str, count: u32) -> u32 {
    let count = count.to_string();
    let args = ["ping", "-n", "-c", &count, "-i", "0.05", "-W", "2", to];
    let out = match from.try_run(args) {
        Ok(out) => out,
        // ping exits 1 when replies are missing; its summary is still there.
        Err(e) if e.status.is_some() => e.stdout,
        Err(e) => panic!("{e}"),
    };
    received(&out).unwrap_or_else(|| panic!("no ping summary in:\n{out}"))
}

/// The `N received` of ping's summary line.
pub fn received(out: &str) -> Option<u32> {
    let line = out.lines().find(|l| l.contains("packets transmitted"))?;
    let field = line
        .split(',')
        .find(|f| f.trim_end().ends_with("received"))?;
    field.split_whitespace().next()?.parse().ok()
}

// ---- the maps ------------------------------------------------------------------

/// Writes `r`'s own addresses, the next hops and groups towards src (via
/// `eth1`) and dst (via `eth2`), and routes to both sides (IPv4 and IPv6)
/// into `dp`; returns the IPv4 FIB builder that holds the routes.
pub fn program_routes(topo: &Topology<'_>, dp: &mut Dataplane, eth1: u32, eth2: u32) -> Dir24 {
    let r = &topo.r;
    for addr in ROUTER_ADDRS {
        dp.add_own_address(addr.parse().unwrap()).unwrap();
    }
    let to_dst = NextHop::resolved(eth2, mac(&topo.dst, "eth0"), mac(r, "eth2"), MTU);
    let to_src = NextHop::resolved(eth1, mac(&topo.src, "eth0"), mac(r, "eth1"), MTU);
    dp.set_next_hop(NH_TO_DST, &to_dst).unwrap();
    dp.set_next_hop(NH_TO_SRC, &to_src).unwrap();
    for (group, nh) in [(GROUP_TO_DST, NH_TO_DST), (GROUP_TO_SRC, NH_TO_SRC)] {
        dp.set_group(group, &NhGroup::with_members(&[(nh, 1)]).unwrap())
            .unwrap();
    }
    let mut fib = Dir24::new(DEFAULT_TBL8_GROUPS);
    for (prefix, group) in [
        ("10.2.0.0/24", GROUP_TO_DST),
        ("10.1.0.0/24", GROUP_TO_SRC),
        ("fd02::/64", GROUP_TO_DST),
        ("fd01::/64", GROUP_TO_SRC),
    ] {
        let (addr, len) = prefix.split_once('/').unwrap();
        let len: u8 = len.parse().unwrap();
        match addr.parse::<IpAddr>().unwrap() {
            IpAddr::V4(a) => fib
                .insert(Prefix::from_ipv4(a, len).unwrap(), group)
                .unwrap(),
            IpAddr::V6(a) => dp.set_route6(a, len, group).unwrap(),
        }
    }
    let dirty = fib.take_dirty();
    dp.write_fib4_dirty(&fib, &dirty).unwrap();
    fib
}

/// Lets the program route frames arriving on interface `ifname` (index
/// `ifindex`, in the calling thread's namespace) for its own MAC.
pub fn route_on_port(dp: &mut sluice_dataplane::loader::Dataplane, ifindex: u32, ifname: &str) {
    let mac = sluice_dataplane::attach::mac(ifname).expect("interface MAC");
    dp.set_interface(
        sluice_dataplane::layout::IfKey::untagged(ifindex),
        &sluice_dataplane::layout::Iface {
            flags: 0,
            ifindex,
            mac,
        },
    )
    .expect("set interface");
}
