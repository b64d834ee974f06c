//! A loading table goes to the data plane's writer thread in chunks: the
//! route owner computes each prefix's entry and hands the chunk over; the
//! writer programs the XDP maps. What the writer programmed must forward,
//! and reach neighbours only from there (suppress until programmed), in
//! the order it came: a table, then its withdrawal.
//!
//! ```text
//!   n 10.0.0.2 (neighbour) ─eth2─ r ─eth1─ p 203.0.113.1 (uplink: the table)
//! ```

use std::net::Ipv4Addr;
use std::time::Duration;

use sluice_e2e::fakepeer::{attrs, nlri};
use sluice_e2e::sluice::Sluice;
use sluice_testns::{Lab, must_be_root, wait_until};
use sluice_wire::Prefix;
use sluice_wire::iana::attr::{AS_PATH, FLAG_TRANSITIVE as T, NEXT_HOP, ORIGIN};

mod line;
use line::{INTERNAL, neighbour, nodes, uplink};

const UP: Duration = Duration::from_secs(15);
const LOAD: Duration = Duration::from_secs(60);

/// /24s sent: a few chunks of the backlog (8192), each handed over whole.
const ROUTES: u32 = 30_000;

/// The i-th /24 of the table, from 1.0.0.0 up.
fn prefix(i: u32) -> Ipv4Addr {
    Ipv4Addr::from((1 << 24) + (i << 8))
}

/// The table as UPDATEs of 900 prefixes: announced, or withdrawn.
fn table(withdraw: bool) -> Vec<u8> {
    let attrs = attrs(&[
        (T, ORIGIN, &[0]),
        (T, AS_PATH, &[2, 1, 0, 0, 0xfd, 0xe9]),
        (T, NEXT_HOP, &[203, 0, 113, 1]),
    ]);
    let prefixes: Vec<String> = (0..ROUTES).map(|i| format!("{}/24", prefix(i))).collect();
    let mut stream = Vec::new();
    for chunk in prefixes.chunks(900) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        stream.extend(if withdraw {
            sluice_wire::encode::update(&nlri(&refs), &[], &[])
        } else {
            sluice_wire::encode::update(&[], &attrs, &nlri(&refs))
        });
    }
    stream
}

#[test]
#[ignore = "needs root: network namespaces and XDP"]
fn a_table_the_writer_programs_forwards_and_reaches_neighbours() {
    must_be_root();
    let lab = Lab::new("fibw");
    let (r, p, n) = nodes(&lab, INTERNAL);
    n.ip(["route", "add", "default", "via", "10.0.0.1"]);
    p.ip(["route", "add", "10.0.0.0/30", "via", "203.0.113.2"]);
    // The far end of the table's last /24.
    let last = prefix(ROUTES - 1);
    let host = Ipv4Addr::from(u32::from(last) + 1);
    p.addr("lo", &format!("{host}/32"));
    // The replies to n are not XDP's: they are delivered on a connected
    // subnet, which the kernel forwards.
    r.run(["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    // Frames redirected into a veth need NAPI on its far end (docs/xdp.md).
    p.run(["ethtool", "-K", "eth1", "gro", "on"]);

    let sluice = Sluice::start(
        &r,
        "router: { id: 192.0.2.1, asn: 64500 }
interfaces:
  - { name: eth1, addresses: [203.0.113.2/30] }
  - { name: eth2, addresses: [10.0.0.1/30] }
uplinks:
  - { name: iap-a, interface: eth1, peer: { address: 203.0.113.1, asn: 65001, passive: true }, import: full-table, max_prefix: 1000000 }
neighbors:
  - { address: 10.0.0.2, asn: 64500, export: full-table, passive: true, max_prefix: 10 }
policies: { bogons: [] }
dataplane: { xdp: native, kernel_fib: off }
",
    );
    let status = sluice.json(&["status"]);
    assert_eq!(status["dataplane"]["xdp"], "native", "{status:#}");
    let uplink = uplink(&p);
    let neighbour = neighbour(&n, 30);
    sluice.wait_established("203.0.113.1", UP);
    sluice.wait_established("10.0.0.2", UP);

    uplink.send(&table(false)).expect("the table");
    let held = || {
        let routes = neighbour.ipv4_routes();
        (0..ROUTES)
            .filter(|&i| routes.contains(&Prefix::new(prefix(i).into(), 24).expect("a /24")))
            .count()
    };
    wait_until(LOAD, "the neighbour to hold the whole table", || {
        held() == ROUTES as usize
    });
    let dp = sluice.json(&["status"])["dataplane"].clone();
    assert!(
        dp["routes"].as_u64().unwrap_or(0) >= u64::from(ROUTES),
        "{dp:#}"
    );
    assert_eq!(dp["waiting"], 0, "{dp:#}");
    let mut fib = serde_json::Value::Null;
    wait_until(UP, "the last prefix via p, its MAC known", || {
        fib = sluice.json(&["show", "fib", &host.to_string()]);
        fib["entries"][0]["next_hops"][0]["mac"].is_string()
    });
    let entry = &fib["entries"][0];
    assert_eq!(entry["prefix"], format!("{last}/24"), "{fib:#}");
    assert_eq!(entry["next_hops"][0]["address"], "203.0.113.1", "{fib:#}");

    // A packet to the last prefix goes through the maps the writer filled.
    let out = n.run(["ping", "-c", "3", "-i", "0.2", "-W", "2", &host.to_string()]);
    assert!(out.contains(" 0% packet loss"), "{out}");
    let forwarded = sluice.json(&["show", "counters"])["next_hops"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|h| h["address"] == "203.0.113.1")
        .filter_map(|h| h["packets"].as_u64())
        .sum::<u64>();
    assert!(forwarded >= 3, "XDP forwarded {forwarded} packets to p");

    // The withdrawal takes the same way: out of the maps, then to the
    // neighbour.
    uplink.send(&table(true)).expect("the withdrawal");
    wait_until(LOAD, "the neighbour to hold none of it", || held() == 0);
    let fib = sluice.json(&["show", "fib", &host.to_string()]);
    assert!(
        fib["entries"]
            .as_array()
            .is_none_or(|e| e.iter().all(|e| e["prefix"] != format!("{last}/24"))),
        "{fib:#}"
    );
    let dp = sluice.json(&["status"])["dataplane"].clone();
    assert!(
        dp["routes"].as_u64().unwrap_or(u64::MAX) < u64::from(ROUTES),
        "{dp:#}"
    );
}
