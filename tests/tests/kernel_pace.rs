//! A table reaches the kernel FIB through a bounded queue: while the kernel
//! writes (slower than Sluice learns and places, by several times in a
//! release build), the changes it has yet to take never exceed
//! `PENDING_MAX` (80,000); the rest wait in the route owner's backlog,
//! packed, instead of a second time in the writer's queue.
//!
//! The daemon runs on one CPU with its kernel writer at idle priority, so
//! that the writer is the slower side in a debug build too: it runs only
//! while the route owner waits.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use sluice_e2e::fakepeer::{self, FakePeer, attrs, nlri};
use sluice_e2e::sluice::Sluice;
use sluice_testns::{Lab, must_be_root};
use sluice_wire::iana::attr::{AS_PATH, FLAG_TRANSITIVE as T, NEXT_HOP, ORIGIN};

const UP: Duration = Duration::from_secs(15);

/// The daemon's bound on the kernel writer's queue.
const PENDING_MAX: u64 = 80_000;

/// Prefixes sent: several times the bound, so that an unbounded queue
/// shows.
const ROUTES: u32 = 200_000;

#[test]
#[ignore = "needs root: network namespaces"]
fn the_kernel_fib_takes_a_table_through_a_bounded_queue() {
    must_be_root();
    let lab = Lab::new("kpace");
    let (r, p) = (lab.node("r"), lab.node("p"));
    lab.link(&r, "eth1", &p, "eth1");
    r.addr("eth1", "203.0.113.2/30");
    p.addr("eth1", "203.0.113.1/30");
    let sluice = Sluice::start_with(
        &r,
        "router: { id: 192.0.2.1, asn: 64500 }
interfaces:
  - { name: eth1, addresses: [203.0.113.2/30] }
uplinks:
  - { name: iap-a, interface: eth1, peer: { address: 203.0.113.1, asn: 65001, passive: true }, import: full-table, max_prefix: 1000000 }
policies: { bogons: [] }
dataplane: { xdp: off, kernel_fib: full }
",
        &["taskset", "1"],
        None,
    );
    writer_at_idle_priority(&sluice);
    let peer = FakePeer::connect(
        p.name(),
        SocketAddr::from(([203, 0, 113, 2], 179)),
        &fakepeer::open(65001, Ipv4Addr::new(203, 0, 113, 1), 30),
        UP,
    );
    sluice.wait_established("203.0.113.1", UP);

    // 200,000 /24s from 1.0.0.0 up, 900 to an UPDATE, sent at once.
    let attrs = attrs(&[
        (T, ORIGIN, &[0]),
        (T, AS_PATH, &[2, 1, 0, 0, 0xfd, 0xe9]),
        (T, NEXT_HOP, &[203, 0, 113, 1]),
    ]);
    let prefixes: Vec<String> = (0..ROUTES)
        .map(|i| format!("{}/24", Ipv4Addr::from((1 << 24) + (i << 8))))
        .collect();
    let mut stream = Vec::new();
    for chunk in prefixes.chunks(900) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        stream.extend(sluice_wire::encode::update(&[], &attrs, &nlri(&refs)));
    }
    peer.send(&stream).expect("the table");

    // Watch the writer's queue until the kernel holds the table.
    let (mut most, mut seen_loading) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let dp = sluice.json(&["status"])["dataplane"].clone();
        let pending = dp["kernel_pending"].as_u64().expect("kernel_pending");
        let routes = dp["kernel_routes"].as_u64().expect("kernel_routes");
        most = most.max(pending);
        if pending > 0 {
            seen_loading += 1;
        }
        if pending == 0 && routes >= u64::from(ROUTES) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the kernel never got the table: {dp:#}"
        );
        std::thread::sleep(Duration::from_millis(30));
    }
    assert!(seen_loading >= 3, "the load was too quick to watch");
    assert!(
        most <= PENDING_MAX,
        "{most} changes queued for the kernel at once"
    );
    // The kernel has every one of them, by Sluice's protocol.
    let kernel = r.run(["sh", "-c", "ip -4 route show proto 201 | grep -c ' via '"]);
    let count: u64 = kernel.trim().parse().expect("a count");
    assert!(count >= u64::from(ROUTES), "the kernel has {count} routes");
    let last = r.ip(["route", "get", "4.13.63.1"]);
    assert!(last.contains("via 203.0.113.1"), "{last}");
}

/// Puts the daemon's kernel FIB writer (its thread `kernel-fib`) at
/// SCHED_IDLE.
fn writer_at_idle_priority(sluice: &Sluice<'_>) {
    // `ip netns exec` and `taskset` exec the daemon: the pid is its own.
    let pid = sluice.pid();
    let tid = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|tid| {
            std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"))
                .is_ok_and(|c| c.trim() == "kernel-fib")
        })
        .expect("the kernel FIB writer's thread");
    let ok = std::process::Command::new("chrt")
        .args(["--idle", "-p", "0", &tid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "chrt --idle on thread {tid}");
}
