//! The forwarding site of the end-to-end tests: src — r — two BIRD
//! uplinks — dst, a Sluice config for r, and what the tests read back.
//!
//! ```text
//!   src 10.0.0.2 ─lan─ r ─eth1─ up-a (AS65001, local-pref 200) ─┐
//!                        └eth2─ up-b (AS65002, local-pref 100) ─┴─ dst 192.0.2.100
//! ```
#![allow(dead_code)]

use std::net::IpAddr;
use std::time::Duration;

use serde_json::Value;
use sluice_e2e::peers::{Announce, Kind, NeighborSpec, Peer, PeerSpec};
use sluice_e2e::sluice::Sluice;
use sluice_testns::{Lab, Node, wait_until};

pub const UP: Duration = Duration::from_secs(30);
pub const DST: &str = "192.0.2.100";

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Redirected frames need NAPI on the receiving veth (docs/xdp.md).
pub fn gro(node: &Node<'_>, ifname: &str) {
    node.run(["ethtool", "-K", ifname, "gro", "on"]);
}

pub struct Site<'lab> {
    pub r: Node<'lab>,
    pub src: Node<'lab>,
    pub _peers: Vec<Peer<'lab>>,
    /// up-a, up-b.
    pub ups: Vec<Node<'lab>>,
}

pub fn site<'lab>(lab: &'lab Lab) -> Site<'lab> {
    site_with(lab, "192.0.2.0/24")
}

/// The site, with up-b announcing `b_announces` (up-a: 192.0.2.0/24).
pub fn site_with<'lab>(lab: &'lab Lab, b_announces: &str) -> Site<'lab> {
    site_on(lab, lab.node("r"), b_announces)
}

/// The site around router node `r`, which may already run Sluice.
pub fn site_on<'lab>(lab: &'lab Lab, r: Node<'lab>, b_announces: &str) -> Site<'lab> {
    build(lab, r, b_announces, None)
}

/// The site with r's uplink interfaces at ifindexes `base` + 1 and + 2, as
/// on a busy host or a containerlab machine.
pub fn site_indexed(lab: &Lab, base: u32) -> Site<'_> {
    build(lab, lab.node("r"), "192.0.2.0/24", Some(base))
}

fn build<'lab>(lab: &'lab Lab, r: Node<'lab>, b_announces: &str, index: Option<u32>) -> Site<'lab> {
    let src = lab.node("src");
    let dst = lab.node("dst");
    lab.link(&src, "eth1", &r, "lan");
    src.addr("eth1", "10.0.0.2/24");
    r.addr("lan", "10.0.0.1/24");
    src.ip(["route", "add", "default", "via", "10.0.0.1"]);
    gro(&src, "eth1");
    dst.addr("lo", &format!("{DST}/32"));
    let mut peers = Vec::new();
    let mut ups = Vec::new();
    for (name, ifname, asn, n) in [("up-a", "eth1", 65001, 1u8), ("up-b", "eth2", 65002, 2)] {
        let up = lab.node(name);
        match index {
            Some(base) => {
                let index = (base + u32::from(n)).to_string();
                let out = std::process::Command::new("ip")
                    .args(["link", "add", ifname, "netns", r.name(), "index", &index])
                    .args(["type", "veth", "peer", "name", "eth1", "netns", up.name()])
                    .output()
                    .expect("run ip");
                assert!(out.status.success(), "veth at index {index}: {out:?}");
                r.ip(["link", "set", ifname, "up"]);
                up.ip(["link", "set", "eth1", "up"]);
            }
            None => lab.link(&r, ifname, &up, "eth1"),
        }
        let (theirs, ours) = (4 * n - 3, 4 * n - 2);
        r.addr(ifname, &format!("203.0.113.{ours}/30"));
        up.addr("eth1", &format!("203.0.113.{theirs}/30"));
        gro(&up, "eth1");
        lab.link(&up, "eth2", &dst, &format!("eth{n}"));
        up.addr("eth2", &format!("10.{n}.0.1/30"));
        dst.addr(&format!("eth{n}"), &format!("10.{n}.0.2/30"));
        gro(&dst, &format!("eth{n}"));
        up.run(["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        up.ip([
            "route",
            "add",
            "192.0.2.0/24",
            "via",
            &format!("10.{n}.0.2"),
        ]);
        up.ip([
            "route",
            "add",
            "10.0.0.0/24",
            "via",
            &format!("203.0.113.{ours}"),
        ]);
        let spec = PeerSpec::new(
            Kind::Bird,
            asn,
            ip(&format!("203.0.113.{theirs}"))
                .to_string()
                .parse()
                .unwrap(),
        )
        .neighbor(NeighborSpec::new(ip(&format!("203.0.113.{ours}")), 64500).graceful_restart())
        .announce(Announce::new(if n == 1 {
            "192.0.2.0/24"
        } else {
            b_announces
        }));
        peers.push(Peer::start(&up, spec));
        ups.push(up);
    }
    // Replies go back through up-b, whichever way the requests came.
    dst.ip(["route", "add", "10.0.0.0/24", "via", "10.2.0.1"]);
    // Packets XDP punts (an unresolved next hop, the LAN's own subnet)
    // are forwarded by the kernel.
    r.run(["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    Site {
        r,
        src,
        _peers: peers,
        ups,
    }
}

pub fn config(xdp: &str, kernel_fib: &str) -> String {
    config_with(xdp, kernel_fib, "")
}

pub fn config_with(xdp: &str, kernel_fib: &str, dataplane: &str) -> String {
    format!(
        "router: {{ id: 192.0.2.1, asn: 64500 }}
interfaces:
  - {{ name: eth1, addresses: [203.0.113.2/30] }}
  - {{ name: eth2, addresses: [203.0.113.6/30] }}
  - {{ name: lan, addresses: [10.0.0.1/24] }}
uplinks:
  - {{ name: iap-a, interface: eth1, peer: {{ address: 203.0.113.1, asn: 65001 }}, import: full-table, local_pref: 200 }}
  - {{ name: iap-b, interface: eth2, peer: {{ address: 203.0.113.5, asn: 65002 }}, import: full-table }}
announce: [198.51.100.0/24]
policies: {{ bogons: [] }}
dataplane: {{ xdp: {xdp}, kernel_fib: {kernel_fib}{dataplane} }}
"
    )
}

pub fn up<'lab>(site: &Site<'lab>, xdp: &str, kernel_fib: &str) -> Sluice<'lab> {
    up_with(site, &config(xdp, kernel_fib))
}

pub fn up_with<'lab>(site: &Site<'lab>, config: &str) -> Sluice<'lab> {
    let sluice = Sluice::start(&site.r, config);
    sluice.wait_established("203.0.113.1", UP);
    sluice.wait_established("203.0.113.5", UP);
    sluice.wait_best("192.0.2.0/24", UP, "192.0.2.0/24 via iap-a", |b| {
        b["next_hop"] == "203.0.113.1"
    });
    sluice
}

/// Pings dst `count` times, quickly; returns how many replies came back.
pub fn ping(src: &Node<'_>, count: u32) -> u32 {
    ping_to(src, DST, count)
}

/// Pings `dst` (IPv4 or IPv6) `count` times, quickly; returns how many
/// replies came back.
pub fn ping_to(src: &Node<'_>, dst: &str, count: u32) -> u32 {
    let family = if dst.contains(':') { "-6" } else { "-4" };
    let count = count.to_string();
    let out = src
        .try_run([
            "ping", family, "-q", "-c", &count, "-i", "0.01", "-W", "1", dst,
        ])
        .unwrap_or_else(|e| e.to_string());
    out.split(',')
        .find_map(|part| part.trim().strip_suffix(" received")?.trim().parse().ok())
        .unwrap_or(0)
}

/// Packets the data plane forwarded to `next_hop`.
pub fn forwarded_to(sluice: &Sluice<'_>, next_hop: &str) -> u64 {
    let c = sluice.json(&["show", "counters"]);
    c["next_hops"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|h| h["address"] == next_hop)
        .map(|h| h["packets"].as_u64().unwrap_or(0))
        .sum()
}

pub fn verdict(sluice: &Sluice<'_>, name: &str) -> u64 {
    let c = sluice.json(&["show", "counters"]);
    c["verdicts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["verdict"] == name)
        .and_then(|v| v["packets"].as_u64())
        .unwrap_or(0)
}

/// Asserts that `sluice ARGS --json` lists each (prefix, action).
pub fn fib_lists(sluice: &Sluice<'_>, args: &[&str], expected: &[(&str, &str)]) {
    let fib = sluice.json(args);
    let listed: Vec<(&str, &str)> = fib["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| Some((e["prefix"].as_str()?, e["action"].as_str()?)))
        .collect();
    for want in expected {
        assert!(listed.contains(want), "{want:?} missing from {listed:?}");
    }
}

/// Waits until `prefix` leaves by `via` with its MAC known, so XDP forwards
/// rather than punts. Waiting for `via`, not any next hop: the other
/// uplink's route may be installed first and replaced a moment later.
pub fn wait_resolved(sluice: &Sluice<'_>, prefix: &str, via: &str) -> Value {
    let mut entry = Value::Null;
    wait_until(
        UP,
        &format!("{prefix} resolved via {via} in the FIB"),
        || {
            let fib = sluice.json(&["show", "fib", prefix]);
            entry = fib["entries"][0].clone();
            entry["next_hops"][0]["address"] == via
                && entry["next_hops"]
                    .as_array()
                    .is_some_and(|h| h.iter().all(|h| h["mac"].is_string()))
        },
    );
    entry
}
