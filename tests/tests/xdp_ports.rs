//! What the XDP data plane routes at all, with real frames through a
//! Sluice router (the site of `site/mod.rs`): uplinks at ifindexes in the
//! thousands, addresses added after start delivered rather than routed,
//! frames for another station left alone, martian sources dropped on an
//! uplink that asks for it, VLAN sub-interfaces where the kernel can make
//! them.

use std::time::Duration;

use sluice_testns::{Lab, must_be_root, wait_until};

mod site;
use site::*;

#[test]
#[ignore = "needs root: network namespaces, BIRD and BPF"]
fn uplinks_at_ifindexes_in_the_thousands_forward_in_xdp() {
    must_be_root();
    let lab = Lab::new("ports-index");
    let site = site_indexed(&lab, 4000);
    assert!(
        site.r
            .ip(["-o", "link", "show", "eth1"])
            .starts_with("4001:")
    );
    let sluice = up(&site, "native", "full");
    wait_resolved(&sluice, DST, "203.0.113.1");
    let before = forwarded_to(&sluice, "203.0.113.1");
    assert_eq!(ping(&site.src, 50), 50);
    let after = forwarded_to(&sluice, "203.0.113.1");
    assert!(
        after - before >= 50,
        "requests forwarded in XDP out of ifindex 4001: {before} → {after}"
    );
}

#[test]
#[ignore = "needs root: network namespaces, BIRD and BPF"]
fn addresses_added_after_start_are_delivered_not_routed() {
    must_be_root();
    let lab = Lab::new("ports-local");
    let site = site(&lab);
    let sluice = up(&site, "native", "full");
    wait_resolved(&sluice, DST, "203.0.113.1");
    // Inside 192.0.2.0/24, which is routed to iap-a: were it forwarded,
    // nobody beyond would answer (dst has only .100).
    let vip = "192.0.2.77";
    assert_eq!(ping_to(&site.src, vip, 3), 0, "not ours yet");
    site.r
        .ip(["addr", "add", &format!("{vip}/32"), "dev", "lo"]);
    let local0 = verdict(&sluice, "pass-local");
    wait_until(
        Duration::from_secs(5),
        "the new address is delivered",
        || ping_to(&site.src, vip, 3) == 3,
    );
    assert!(verdict(&sluice, "pass-local") > local0);
    // And it is routed again once it is gone.
    site.r
        .ip(["addr", "del", &format!("{vip}/32"), "dev", "lo"]);
    wait_until(Duration::from_secs(5), "the old address is routed", || {
        ping_to(&site.src, vip, 3) == 0
    });
}

#[test]
#[ignore = "needs root: network namespaces, BIRD and BPF"]
fn frames_for_another_station_are_not_routed() {
    must_be_root();
    let lab = Lab::new("ports-mac");
    let site = site(&lab);
    let sluice = up(&site, "native", "full");
    wait_resolved(&sluice, DST, "203.0.113.1");
    assert_eq!(ping(&site.src, 10), 10);

    // src sends to a MAC that is not r's, as a switch flooding unknown
    // unicast would deliver it: r must not route it (nor the kernel).
    site.src.ip([
        "neigh",
        "replace",
        "10.0.0.1",
        "lladdr",
        "02:00:00:00:00:42",
        "dev",
        "eth1",
        "nud",
        "permanent",
    ]);
    let (fwd0, other0) = (
        forwarded_to(&sluice, "203.0.113.1"),
        verdict(&sluice, "pass-not-for-us"),
    );
    assert_eq!(ping(&site.src, 20), 0);
    assert_eq!(forwarded_to(&sluice, "203.0.113.1"), fwd0, "nothing routed");
    assert!(verdict(&sluice, "pass-not-for-us") >= other0 + 20);

    site.src.ip(["neigh", "del", "10.0.0.1", "dev", "eth1"]);
    assert_eq!(ping(&site.src, 10), 10);
}

#[test]
#[ignore = "needs root: network namespaces, BIRD and BPF"]
fn martian_sources_on_an_uplink_are_dropped() {
    must_be_root();
    let lab = Lab::new("ports-martian");
    let site = site(&lab);
    let config = config("native", "full").replace(
        "asn: 65002 }, import: full-table }",
        "asn: 65002 }, import: full-table, drop_martians: true }",
    );
    assert!(config.contains("drop_martians"), "{config}");
    let sluice = up_with(&site, &config);
    wait_resolved(&sluice, DST, "203.0.113.1");
    // Replies from the internet come back through iap-b: untouched.
    assert_eq!(ping(&site.src, 20), 20);

    // up-b sends from our own announced space toward the LAN.
    let up_b = &site.ups[1];
    up_b.ip(["addr", "add", "198.51.100.5/32", "dev", "lo"]);
    let dropped0 = verdict(&sluice, "drop-martian");
    assert_eq!(ping_from(up_b, "198.51.100.5", "10.0.0.2", 20), 0);
    assert!(verdict(&sluice, "drop-martian") >= dropped0 + 20);
    // Its own subnet is exempt, and the session (to r itself) stays up.
    assert_eq!(ping_from(up_b, "203.0.113.5", "10.0.0.2", 5), 5);
    sluice.wait_established("203.0.113.5", UP);
}

/// Pings `dst` from node `node` with source address `src`.
fn ping_from(node: &sluice_testns::Node<'_>, src: &str, dst: &str, count: u32) -> u32 {
    let count = count.to_string();
    let out = node
        .try_run([
            "ping", "-4", "-q", "-c", &count, "-i", "0.01", "-W", "1", "-I", src, dst,
        ])
        .unwrap_or_else(|e| e.to_string());
    out.split(',')
        .find_map(|part| part.trim().strip_suffix(" received")?.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
#[ignore = "needs root: network namespaces, BIRD and BPF"]
fn vlan_sub_interfaces_are_routed_on_their_parent() {
    must_be_root();
    let lab = Lab::new("ports-vlan");
    let site = site(&lab);
    let made = site.r.try_run([
        "ip", "link", "add", "link", "lan", "name", "lan.100", "type", "vlan", "id", "100",
    ]);
    if let Err(e) = made {
        println!(
            "SKIPPED: this kernel cannot make VLAN devices ({e}); the program's tag handling \
             is tested with BPF_PROG_TEST_RUN (router/dataplane/tests/ports.rs) and the \
             decoding of VLAN links in router/netlink"
        );
        return;
    }
    // The LAN moves onto VLAN 100 on both sides.
    site.r.ip(["addr", "del", "10.0.0.1/24", "dev", "lan"]);
    site.r.ip(["addr", "add", "10.0.0.1/24", "dev", "lan.100"]);
    site.r.ip(["link", "set", "lan.100", "up"]);
    site.src.ip(["addr", "del", "10.0.0.2/24", "dev", "eth1"]);
    site.src.ip([
        "link", "add", "link", "eth1", "name", "eth1.100", "type", "vlan", "id", "100",
    ]);
    site.src
        .ip(["addr", "add", "10.0.0.2/24", "dev", "eth1.100"]);
    site.src.ip(["link", "set", "eth1.100", "up"]);
    site.src.ip(["route", "add", "default", "via", "10.0.0.1"]);
    let config = config("native", "full").replace("name: lan,", "name: lan.100,");
    assert!(config.contains("lan.100"), "{config}");
    let sluice = up_with(&site, &config);
    let status = sluice.json(&["status"]);
    let attached = status["dataplane"]["attached"].to_string();
    assert!(
        attached.contains("\"lan ("),
        "attached to the parent: {status:#}"
    );
    wait_resolved(&sluice, DST, "203.0.113.1");
    let before = forwarded_to(&sluice, "203.0.113.1");
    assert_eq!(ping(&site.src, 20), 20);
    assert!(forwarded_to(&sluice, "203.0.113.1") >= before + 20);
}

/// The capabilities the systemd unit (packaging/sluice.service) gives the
/// daemon, and nothing else: not root, yet it attaches XDP, programs the
/// kernel FIB, binds port 179 and forwards.
const UNIT_CAPS: &str = "net_admin,bpf,perfmon,net_raw,net_bind_service";

#[test]
#[ignore = "needs root: network namespaces, BIRD and BPF"]
fn the_daemon_forwards_with_the_units_capabilities_only() {
    must_be_root();
    let unit = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/sluice.service"),
    )
    .unwrap();
    let listed: Vec<String> = UNIT_CAPS
        .split(',')
        .map(|c| format!("CAP_{}", c.to_uppercase()))
        .collect();
    let ambient = unit
        .lines()
        .find_map(|l| l.strip_prefix("AmbientCapabilities="))
        .expect("AmbientCapabilities in the unit");
    assert_eq!(
        ambient.split_whitespace().collect::<Vec<_>>(),
        listed,
        "the test runs with what the unit grants"
    );
    let lab = Lab::new("ports-caps");
    let site = site(&lab);
    let caps = UNIT_CAPS
        .split(',')
        .map(|c| format!("+{c}"))
        .collect::<Vec<_>>()
        .join(",");
    let (inh, amb, bound) = (
        format!("--inh-caps=-all,{caps}"),
        format!("--ambient-caps=-all,{caps}"),
        format!("--bounding-set=-all,{caps}"),
    );
    let nobody = 65534;
    let wrapper = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        inh.as_str(),
        amb.as_str(),
        bound.as_str(),
        "--",
    ];
    let sluice = sluice_e2e::sluice::Sluice::start_with(
        &site.r,
        &config("native", "full"),
        &wrapper,
        Some(nobody),
    );
    sluice.wait_established("203.0.113.1", UP);
    let status = sluice.json(&["status"]);
    assert_eq!(status["dataplane"]["xdp"], "native", "{status:#}");
    wait_resolved(&sluice, DST, "203.0.113.1");
    let before = forwarded_to(&sluice, "203.0.113.1");
    assert_eq!(ping(&site.src, 20), 20);
    assert!(forwarded_to(&sluice, "203.0.113.1") >= before + 20);
    // And it really is not root.
    let ps = std::process::Command::new("ps")
        .args(["-eo", "uid=,args="])
        .output()
        .unwrap();
    let ps = String::from_utf8_lossy(&ps.stdout);
    let daemon = ps
        .lines()
        .find(|l| l.contains(" run -c ") && l.contains(&sluice.config_path().display().to_string()))
        .unwrap_or_else(|| panic!("the daemon in ps:\n{ps}"));
    assert!(daemon.trim_start().starts_with("65534 "), "{daemon}");
}
