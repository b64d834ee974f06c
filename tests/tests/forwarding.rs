//! Real packets through a Sluice router: src — r — two BIRD uplinks — dst.
//!
//! ```text
//!   src 10.0.0.2 ─lan─ r ─eth1─ up-a (AS65001, local-pref 200) ─┐
//!                        └eth2─ up-b (AS65002, local-pref 100) ─┴─ dst 192.0.2.100
//! ```
//!
//! Both uplinks announce 192.0.2.0/24; replies come back through up-b. The
//! counters of the data plane show which uplink carried the traffic.

use std::time::Duration;

use serde_json::Value;
use sluice_e2e::peers::{Announce, Kind, NeighborSpec, Peer, PeerSpec};
use sluice_e2e::sluice::Sluice;
use sluice_testns::{Lab, Node, must_be_root, wait_until};

mod site;
use site::*;

fn forwards_through_the_fib(xdp: &str) {
    must_be_root();
    let lab = Lab::new(&format!("fwd-{xdp}"));
    let site = site(&lab);
    let sluice = up(&site, xdp, "full");
    let status = sluice.json(&["status"]);
    assert_eq!(status["dataplane"]["xdp"], xdp, "{status:#}");

    let entry = wait_resolved(&sluice, DST, "203.0.113.1");
    assert_eq!(entry["prefix"], "192.0.2.0/24", "{entry:#}");
    // The whole FIB as the maps hold it: the learned route, the connected
    // subnets (to the kernel) and the announced aggregate's discard route.
    fib_lists(
        &sluice,
        &["show", "fib", "--maps"],
        &[
            ("192.0.2.0/24", "forward"),
            ("198.51.100.0/24", "discard"),
            ("10.0.0.0/24", "connected"),
            // Both uplink /30s: the arrays hold them as one run of one group.
            ("203.0.113.0/29", "connected"),
        ],
    );
    // Per programmed prefix, each with the group the maps give for it.
    fib_lists(
        &sluice,
        &["show", "fib"],
        &[
            ("192.0.2.0/24", "forward"),
            ("198.51.100.0/24", "discard"),
            ("203.0.113.0/30", "connected"),
            ("203.0.113.4/30", "connected"),
        ],
    );
    // The discard route of the announced aggregate is in the FIB too.
    let discard = sluice.json(&["show", "fib", "198.51.100.7"]);
    assert_eq!(discard["entries"][0]["action"], "discard", "{discard:#}");

    let (a0, b0) = (
        forwarded_to(&sluice, "203.0.113.1"),
        forwarded_to(&sluice, "203.0.113.5"),
    );
    assert_eq!(ping(&site.src, 100), 100);
    let (a1, b1) = (
        forwarded_to(&sluice, "203.0.113.1"),
        forwarded_to(&sluice, "203.0.113.5"),
    );
    assert!(a1 - a0 >= 100, "requests left through iap-a: {a0} → {a1}");
    assert_eq!(b1, b0, "nothing through iap-b");

    // iap-a's link goes down: traffic moves to iap-b at once (no hold timer).
    site.r.ip(["link", "set", "eth1", "down"]);
    wait_until(Duration::from_secs(5), "the FIB moved to iap-b", || {
        let fib = sluice.json(&["show", "fib", DST]);
        fib["entries"][0]["next_hops"][0]["address"] == "203.0.113.5"
    });
    wait_resolved(&sluice, DST, "203.0.113.5");
    assert_eq!(ping(&site.src, 100), 100);
    let (a2, b2) = (
        forwarded_to(&sluice, "203.0.113.1"),
        forwarded_to(&sluice, "203.0.113.5"),
    );
    assert!(b2 - b1 >= 100, "requests left through iap-b: {b1} → {b2}");
    assert_eq!(a2, a1, "nothing more through iap-a");
    assert!(verdict(&sluice, "forwarded") >= 200);
}

#[test]
#[ignore = "needs root: network namespaces and BPF"]
fn native_xdp_forwards_by_the_fib_and_fails_over_on_link_down() {
    forwards_through_the_fib("native");
}

#[test]
#[ignore = "needs root: network namespaces and BPF"]
fn generic_xdp_forwards_the_same_traffic() {
    forwards_through_the_fib("generic");
}

#[test]
#[ignore = "needs root: network namespaces"]
fn kernel_only_mode_forwards_through_the_kernel_fib() {
    must_be_root();
    let lab = Lab::new("fwd-kernel");
    let site = site(&lab);
    let sluice = up(&site, "off", "full");
    let status = sluice.json(&["status"]);
    assert_eq!(status["dataplane"]["xdp"], "off", "{status:#}");
    assert_eq!(status["dataplane"]["kernel_fib"], "full", "{status:#}");
    wait_until(UP, "the kernel has Sluice's route", || {
        site.r
            .ip(["route", "show", "proto", "201"])
            .contains("192.0.2.0/24")
    });
    let routes = site.r.ip(["route", "show", "proto", "201"]);
    assert!(routes.contains("blackhole 198.51.100.0/24"), "{routes}");
    kernel_count_matches(&site, &sluice);
    assert_eq!(ping(&site.src, 50), 50);
    // The kernel forwarded them through iap-a's next hop.
    let get = site.r.ip(["route", "get", DST]);
    assert!(get.contains("via 203.0.113.1"), "{get}");

    site.r.ip(["link", "set", "eth1", "down"]);
    wait_until(
        Duration::from_secs(10),
        "the kernel route moved to iap-b",
        || {
            site.r
                .try_run(["ip", "route", "get", DST])
                .is_ok_and(|out| out.contains("via 203.0.113.5"))
        },
    );
    assert_eq!(ping(&site.src, 50), 50);
    kernel_count_matches(&site, &sluice);
}

/// `sluice status` counts the routes the kernel holds (from the kernel's
/// answers, not from a copy of the table): the count settles on what
/// `ip route` shows.
fn kernel_count_matches(site: &Site<'_>, sluice: &Sluice<'_>) {
    let kernel = || {
        let v4 = site.r.ip(["route", "show", "proto", "201"]);
        let v6 = site.r.ip(["-6", "route", "show", "proto", "201"]);
        v4.lines().chain(v6.lines()).count()
    };
    let deadline = std::time::Instant::now() + UP;
    loop {
        let status = sluice.json(&["status"])["dataplane"].clone();
        let (count, routes) = (kernel(), status["kernel_routes"].clone());
        if status["kernel_pending"] == 0 && routes == count && count > 1 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "status counts {routes} kernel routes, the kernel has {count}: {status:#}\n{}\n{}",
            site.r.ip(["route", "show", "proto", "201"]),
            site.r.ip(["-6", "route", "show", "proto", "201"])
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A bpffs of the test's own, visible inside `ip netns exec` (which hides
/// /sys/fs/bpf); unmounted when dropped.
struct Bpffs(tempfile::TempDir);

impl Bpffs {
    fn mount() -> Bpffs {
        let dir = tempfile::Builder::new()
            .prefix("sluice-bpffs-")
            .tempdir()
            .unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "bpf", "bpf"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "mount -t bpf failed");
        Bpffs(dir)
    }

    /// The `dataplane` keys that pin the maps here, under the lab's own
    /// instance name.
    fn pins(&self, lab: &Lab) -> String {
        format!(
            ", bpffs: {}, instance: {}",
            self.0.path().display(),
            lab.prefix()
        )
    }
}

impl Drop for Bpffs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0.path())
            .status();
    }
}

#[test]
#[ignore = "needs root: network namespaces, BPF and a bpffs"]
fn a_daemon_restart_loses_no_packets() {
    must_be_root();
    let bpffs = Bpffs::mount();
    let lab = Lab::new("fwd-restart");
    let site = site(&lab);
    let mut sluice = up_with(&site, &config_with("native", "full", &bpffs.pins(&lab)));
    let status = sluice.json(&["status"]);
    assert!(status["dataplane"]["pins"].is_string(), "{status:#}");
    wait_resolved(&sluice, DST, "203.0.113.1");
    let before = verdict(&sluice, "forwarded");

    // 1000 pings over 5 s; the daemon stops and starts in the middle.
    let pinger = site
        .src
        .spawn(["ping", "-q", "-c", "1000", "-i", "0.005", "-W", "1", DST]);
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        sluice.stop(),
        "sluice did not stop cleanly:\n{}",
        sluice.log()
    );
    std::thread::sleep(Duration::from_millis(1500));
    sluice.restart_stopped();
    // A loaded machine paces ping slower than asked: give it time.
    wait_until(Duration::from_secs(60), "ping done", || {
        !pinger.is_running()
    });
    let out = pinger.log();
    assert!(
        out.contains(" 1000 received"),
        "packets lost across the restart:\n{out}"
    );

    // The new daemon adopted the maps: the counters went on (next-hop ids
    // are new, the verdict counters the same), and the previous run's FIB
    // was replaced once both uplinks sent End-of-RIB.
    let after = verdict(&sluice, "forwarded");
    assert!(after >= before + 1000, "forwarded {before} → {after}");
    eprintln!("{:#}", sluice.json(&["status"])["dataplane"]);
    wait_until(UP, "the previous run's FIB swept", || {
        sluice
            .events()
            .contains("data plane of the previous run taken over")
    });
    assert!(
        sluice
            .events()
            .contains("data plane of the previous run taken over"),
        "{}",
        sluice.events()
    );
}

/// An upgrade to a version whose maps have another layout: the new daemon
/// cannot adopt the pins, so it builds its maps beside them while the old
/// program forwards, and swaps programs on the pinned links once its FIB
/// holds every uplink's table. Not one packet is lost.
#[test]
#[ignore = "needs root: network namespaces, BPF and a bpffs"]
fn an_upgrade_to_another_map_layout_loses_no_packets() {
    must_be_root();
    let bpffs = Bpffs::mount();
    let lab = Lab::new("fwd-upgrade");
    let site = site(&lab);
    let mut sluice = up_with(&site, &config_with("native", "full", &bpffs.pins(&lab)));
    wait_resolved(&sluice, DST, "203.0.113.1");
    let pins = bpffs.0.path().join("sluice").join(lab.prefix());

    let pinger = site
        .src
        .spawn(["ping", "-q", "-c", "1000", "-i", "0.005", "-W", "1", DST]);
    std::thread::sleep(Duration::from_millis(1000));
    assert!(sluice.stop(), "sluice did not stop:\n{}", sluice.log());
    // What an older version would have pinned: a map of another size.
    let verdicts = pins.join("verdicts");
    std::fs::remove_file(&verdicts).unwrap();
    let out = std::process::Command::new("bpftool")
        .args(["map", "create"])
        .arg(&verdicts)
        .args(["type", "array", "key", "4", "value", "4", "entries", "1"])
        .args(["name", "old_layout"])
        .output()
        .expect("run bpftool");
    assert!(out.status.success(), "bpftool map create: {out:?}");
    sluice.restart_stopped();
    let status = sluice.json(&["status"]);
    assert!(
        status["dataplane"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("upgrading")),
        "{status:#}"
    );
    wait_until(UP, "the new program swapped in", || {
        sluice.events().contains("upgrade finished")
    });
    assert!(
        sluice
            .events()
            .contains("replaced the previous one on eth1"),
        "{}",
        sluice.events()
    );
    wait_until(Duration::from_secs(60), "ping done", || {
        !pinger.is_running()
    });
    let out = pinger.log();
    assert!(
        out.contains(" 1000 received"),
        "packets lost across the upgrade:\n{out}"
    );
    // The new program forwards on the new maps, pinned where the old were.
    let before = verdict(&sluice, "forwarded");
    assert_eq!(ping(&site.src, 20), 20);
    assert!(verdict(&sluice, "forwarded") >= before + 20);
    assert!(!pins.join("next").exists());
    let status = sluice.json(&["status"]);
    assert!(
        status["dataplane"]["attached"].to_string().contains("eth1"),
        "{status:#}"
    );
}

/// Packets sent out of `ifname` in `node` so far.
fn tx_packets(node: &Node<'_>, ifname: &str) -> u64 {
    let out = node.run(["ip", "-s", "-j", "link", "show", "dev", ifname]);
    let json: Value = serde_json::from_str(&out).unwrap();
    json[0]["stats64"]["tx"]["packets"].as_u64().unwrap()
}

/// A run-time drain is on disk before it acts: a daemon restarted while
/// iap-a is drained comes back drained, and no packet leaves through iap-a
/// across the restart (the pinned FIB forwards meanwhile).
#[test]
#[ignore = "needs root: network namespaces, BPF and a bpffs"]
fn a_restart_while_drained_stays_drained() {
    must_be_root();
    let bpffs = Bpffs::mount();
    let lab = Lab::new("fwd-rdrain");
    let site = site(&lab);
    let mut sluice = up_with(&site, &config_with("native", "full", &bpffs.pins(&lab)));
    sluice.wait_warm(UP);
    let out = sluice.cli(&["drain", "iap-a", "--wait", "--reason", "restart test"]);
    assert!(out.contains("iap-a: drained"), "{out}");
    wait_resolved(&sluice, DST, "203.0.113.5");
    let fib = sluice.json(&["show", "fib", DST]);
    assert_eq!(
        fib["entries"][0]["next_hops"][0]["address"], "203.0.113.5",
        "{fib}"
    );

    let eth1 = tx_packets(&site.r, "eth1");
    let pinger = site
        .src
        .spawn(["ping", "-q", "-c", "600", "-i", "0.005", "-W", "1", DST]);
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        sluice.stop(),
        "sluice did not stop cleanly:\n{}",
        sluice.log()
    );
    std::thread::sleep(Duration::from_millis(1000));
    sluice.restart_stopped();
    // Its first answer: drained, from the CLI, with the reason.
    let a = &sluice.json(&["show", "uplinks"])["uplinks"][0];
    assert_eq!(
        (a["state"].as_str(), a["drain"]["reason"].as_str()),
        (Some("drained"), Some("restart test")),
        "{a}"
    );
    wait_until(Duration::from_secs(60), "ping done", || {
        !pinger.is_running()
    });
    let out = pinger.log();
    assert!(
        out.contains(" 600 received"),
        "packets lost across the restart:\n{out}"
    );
    // BGP keepalives, ARP: a handful. 600 pings through it would show.
    let through_a = tx_packets(&site.r, "eth1") - eth1;
    assert!(
        through_a < 60,
        "{through_a} packets left through the drained iap-a"
    );
    assert!(
        !sluice.events().contains("uplink iap-a is active"),
        "{}",
        sluice.events()
    );
    // The adopted FIB forwards already: no cold start after the restart.
    assert!(!sluice.has_event("cold-start"), "{}", sluice.events());
}

/// The FIB as `show fib` lists it, without group ids (a fresh daemon
/// numbers its groups its own way): prefix, action, next hops.
fn fib_entries(sluice: &Sluice<'_>) -> Vec<String> {
    let fib = sluice.json(&["show", "fib"]);
    let mut out: Vec<String> = fib["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let hops: Vec<&str> = e["next_hops"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|h| h["address"].as_str())
                .collect();
            format!("{} {} {:?}", e["prefix"], e["action"], hops)
        })
        .collect();
    out.sort();
    out
}

/// `drain.shutdown_session`: once drained, the uplink's session closes with
/// an RFC 9003 message and stays closed; undrained, it comes back, and the
/// FIB is what it was before the drain.
#[test]
#[ignore = "needs root: network namespaces and BPF"]
fn a_drain_with_shutdown_session_closes_it_and_undrain_restores_everything() {
    must_be_root();
    let lab = Lab::new("fwd-shut");
    let site = site_with(&lab, "0.0.0.0/0");
    let config = format!(
        "{}maintenance: {{ drain: {{ settle: 2s, shutdown_session: true }} }}\n",
        config("native", "full")
    );
    let sluice = up_with(&site, &config);
    sluice.wait_warm(UP);
    wait_resolved(&sluice, DST, "203.0.113.1");
    let before = fib_entries(&sluice);
    assert!(
        before.iter().any(|e| e.starts_with("\"192.0.2.0/24\"")),
        "{before:?}"
    );

    let out = sluice.cli(&["drain", "iap-a", "--wait"]);
    assert!(out.contains("iap-a: drained"), "{out}");
    wait_until(UP, "iap-a's session held closed", || {
        sluice.peer("203.0.113.1")["state"] == "idle (held: uplink drained)"
    });
    wait_until(UP, "BIRD logs the shutdown message", || {
        site._peers[0]
            .log()
            .contains("Administrative shutdown: \"uplink drained for maintenance\"")
    });
    assert_eq!(ping(&site.src, 50), 50, "through iap-b meanwhile");

    sluice.cli(&["undrain", "iap-a"]);
    sluice.wait_established("203.0.113.1", UP);
    sluice.wait_best("192.0.2.0/24", UP, "192.0.2.0/24 via iap-a again", |b| {
        b["next_hop"] == "203.0.113.1"
    });
    wait_until(UP, "the FIB as before the drain", || {
        fib_entries(&sluice) == before
    });
}

#[test]
#[ignore = "needs root: network namespaces, BPF and a bpffs"]
fn a_clean_stop_without_keep_on_exit_removes_everything_sluice_installed() {
    must_be_root();
    let bpffs = Bpffs::mount();
    let lab = Lab::new("fwd-clean");
    let site = site(&lab);
    // A route of someone else's, which Sluice must leave alone.
    site.r.ip([
        "route",
        "add",
        "172.31.0.0/16",
        "via",
        "10.0.0.2",
        "proto",
        "static",
    ]);
    let extra = format!("{}, keep_on_exit: false", bpffs.pins(&lab));
    let mut sluice = up_with(&site, &config_with("native", "full", &extra));
    let pins = bpffs.0.path().join("sluice").join(lab.prefix());
    wait_until(UP, "Sluice's kernel routes", || {
        site.r
            .ip(["route", "show", "proto", "201"])
            .contains("192.0.2.0/24")
    });
    assert!(pins.join("fib4_top").exists(), "{}", pins.display());
    assert!(site.r.ip(["link", "show", "eth1"]).contains("xdp"));

    assert!(
        sluice.stop(),
        "sluice did not stop cleanly:\n{}",
        sluice.log()
    );
    assert_eq!(site.r.ip(["route", "show", "proto", "201"]).trim(), "");
    assert_eq!(site.r.ip(["nexthop", "show", "protocol", "201"]).trim(), "");
    for ifname in ["eth1", "eth2", "lan"] {
        let link = site.r.ip(["link", "show", ifname]);
        assert!(!link.contains("prog/xdp"), "{ifname} still has XDP: {link}");
    }
    assert!(
        !pins.join("fib4_top").exists(),
        "pins left in {}",
        pins.display()
    );
    assert!(
        site.r
            .ip(["route", "show", "proto", "static"])
            .contains("172.31.0.0/16"),
        "someone else's route was removed"
    );
}

/// The incident Sluice exists to prevent: the preferred uplink is drained,
/// but a more-specific only it offers, and a static route through its
/// gateway, would keep traffic on it. The FIB leaves both out, so their
/// traffic follows the other uplink's default route.
#[test]
#[ignore = "needs root: network namespaces and BPF"]
fn a_drain_moves_the_drained_uplinks_more_specifics_and_static_routes_to_the_default() {
    must_be_root();
    let lab = Lab::new("fwd-drain");
    let site = site_with(&lab, "0.0.0.0/0");
    // Line 12 of the config: a static route through iap-a's upstream router.
    // A reload runs the simulated states: the static route pinned to
    // iap-a is an error when iap-a is out, so it carries the operator's
    // waiver (line 13).
    let normal = format!(
        "{}static_routes: [{{ prefix: 192.0.2.96/27, via: 203.0.113.1 }}]\nvalidate: {{ waive: [{{ rule: PINNED-TO-INACTIVE, uplink: iap-a, reason: \"fibre work\" }}] }}\n",
        config("native", "full")
    );
    assert_eq!(
        normal.lines().nth(11),
        Some("static_routes: [{ prefix: 192.0.2.96/27, via: 203.0.113.1 }]")
    );
    let sluice = up_with(&site, &normal);
    wait_resolved(&sluice, DST, "203.0.113.1");
    assert_eq!(ping(&site.src, 50), 50);
    let (a0, b0) = (
        forwarded_to(&sluice, "203.0.113.1"),
        forwarded_to(&sluice, "203.0.113.5"),
    );
    assert!(a0 >= 50, "{a0}");

    let fib = sluice.json(&["show", "fib", DST]);
    assert_eq!(fib["entries"][0]["prefix"], "192.0.2.96/27", "{fib}");

    sluice.reload(&format!("{normal}maintenance: {{ drained: [iap-a] }}\n"));
    wait_until(
        Duration::from_secs(10),
        "DST follows iap-b's default",
        || {
            let fib = sluice.json(&["show", "fib", DST]);
            fib["entries"][0]["prefix"] == "0.0.0.0/0"
                && fib["entries"][0]["next_hops"][0]["address"] == "203.0.113.5"
        },
    );
    let events = sluice.json(&["show", "events"]);
    assert!(
        events["events"].as_array().unwrap().iter().any(|e| e["kind"] == "static-override"
            && e["message"]
                .as_str()
                .unwrap()
                .starts_with("static route 192.0.2.96/27 via 203.0.113.1 (line 12) is bound to uplink iap-a, which is draining: overridden, its traffic follows 0.0.0.0/0")),
        "{events}"
    );
    wait_resolved(&sluice, DST, "203.0.113.5");
    assert_eq!(ping(&site.src, 50), 50);
    let (a1, b1) = (
        forwarded_to(&sluice, "203.0.113.1"),
        forwarded_to(&sluice, "203.0.113.5"),
    );
    // iap-a's next hop is unused now, and freed with its counters.
    assert!(
        a1 == a0 || a1 == 0,
        "more through the drained iap-a: {a0} → {a1}"
    );
    assert!(b1 - b0 >= 50, "through iap-b: {b0} → {b1}");

    // Undrained: the more-specific is back, through iap-a.
    sluice.reload(&normal);
    wait_until(Duration::from_secs(10), "DST back on iap-a", || {
        let fib = sluice.json(&["show", "fib", DST]);
        fib["entries"][0]["prefix"] == "192.0.2.96/27"
    });
}

/// IPv6 through the same kind of site: the trie FIB, ND-resolved next hops.
#[test]
#[ignore = "needs root: network namespaces and BPF"]
fn ipv6_forwards_by_the_fib_and_fails_over_on_link_down() {
    must_be_root();
    let lab = Lab::new("fwd-v6");
    let addr6 = |node: &Node<'_>, ifname: &str, cidr: &str| {
        node.ip(["addr", "add", cidr, "dev", ifname, "nodad"]);
    };
    let dst6 = "2001:db8:ff::100";
    let (r, src, dst) = (lab.node("r"), lab.node("src"), lab.node("dst"));
    lab.link(&src, "eth1", &r, "lan");
    addr6(&src, "eth1", "2001:db8:aa::2/64");
    addr6(&r, "lan", "2001:db8:aa::1/64");
    src.ip(["-6", "route", "add", "default", "via", "2001:db8:aa::1"]);
    gro(&src, "eth1");
    addr6(&dst, "lo", &format!("{dst6}/128"));
    let mut peers = Vec::new();
    for (name, ifname, asn, n) in [("up-a", "eth1", 65001, 1u8), ("up-b", "eth2", 65002, 2)] {
        let up = lab.node(name);
        lab.link(&r, ifname, &up, "eth1");
        addr6(&r, ifname, &format!("2001:db8:{n}::2/64"));
        addr6(&up, "eth1", &format!("2001:db8:{n}::1/64"));
        gro(&up, "eth1");
        lab.link(&up, "eth2", &dst, &format!("eth{n}"));
        addr6(&up, "eth2", &format!("2001:db8:{n}0::1/64"));
        addr6(&dst, &format!("eth{n}"), &format!("2001:db8:{n}0::2/64"));
        gro(&dst, &format!("eth{n}"));
        up.run(["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
        up.ip([
            "-6",
            "route",
            "add",
            "2001:db8:ff::/48",
            "via",
            &format!("2001:db8:{n}0::2"),
        ]);
        up.ip([
            "-6",
            "route",
            "add",
            "2001:db8:aa::/64",
            "via",
            &format!("2001:db8:{n}::2"),
        ]);
        let spec = PeerSpec::new(Kind::Bird, asn, format!("10.9.9.{n}").parse().unwrap())
            .neighbor(NeighborSpec::new(ip(&format!("2001:db8:{n}::2")), 64500))
            .announce(Announce::new("2001:db8:ff::/48"));
        peers.push(Peer::start(&up, spec));
    }
    dst.ip([
        "-6",
        "route",
        "add",
        "2001:db8:aa::/64",
        "via",
        "2001:db8:20::1",
    ]);
    r.run(["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
    let config = "router: { id: 192.0.2.1, asn: 64500 }
interfaces:
  - { name: eth1, addresses: [\"2001:db8:1::2/64\"] }
  - { name: eth2, addresses: [\"2001:db8:2::2/64\"] }
  - { name: lan, addresses: [\"2001:db8:aa::1/64\"] }
uplinks:
  - { name: iap-a, interface: eth1, peer: { address: \"2001:db8:1::1\", asn: 65001 }, import: full-table, local_pref: 200 }
  - { name: iap-b, interface: eth2, peer: { address: \"2001:db8:2::1\", asn: 65002 }, import: full-table }
announce: [\"2001:db8:100::/48\"]
policies: { bogons: [] }
";
    let sluice = Sluice::start(&r, config);
    sluice.wait_established("2001:db8:1::1", UP);
    sluice.wait_established("2001:db8:2::1", UP);
    let entry = wait_resolved(&sluice, dst6, "2001:db8:1::1");
    assert_eq!(entry["prefix"], "2001:db8:ff::/48", "{entry:#}");

    let a0 = forwarded_to(&sluice, "2001:db8:1::1");
    assert_eq!(ping_to(&src, dst6, 100), 100);
    let a1 = forwarded_to(&sluice, "2001:db8:1::1");
    assert!(a1 - a0 >= 100, "requests left through iap-a: {a0} → {a1}");

    r.ip(["link", "set", "eth1", "down"]);
    wait_until(Duration::from_secs(5), "the FIB moved to iap-b", || {
        let fib = sluice.json(&["show", "fib", dst6]);
        fib["entries"][0]["next_hops"][0]["address"] == "2001:db8:2::1"
    });
    wait_resolved(&sluice, dst6, "2001:db8:2::1");
    let b0 = forwarded_to(&sluice, "2001:db8:2::1");
    assert_eq!(ping_to(&src, dst6, 100), 100);
    let b1 = forwarded_to(&sluice, "2001:db8:2::1");
    assert!(b1 - b0 >= 100, "requests left through iap-b: {b0} → {b1}");
    drop(peers);
}

/// containerlab may start Sluice (`cmd`) before it wires the links: the
/// data plane starts when the first configured interface appears.
#[test]
#[ignore = "needs root: network namespaces and BPF"]
fn the_data_plane_starts_when_the_interfaces_appear() {
    must_be_root();
    let lab = Lab::new("fwd-late");
    let r = lab.node("r");
    let sluice = Sluice::start(&r, &config("native", "full"));
    let status = sluice.json(&["status"]);
    assert_eq!(status["dataplane"]["xdp"], "off", "{status:#}");
    assert!(
        status["dataplane"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("none of the configured interfaces")),
        "{status:#}"
    );
    let site = site_on(&lab, r, "192.0.2.0/24");
    // The interfaces appear one after the other: the first starts the data
    // plane, the others are attached as they come.
    wait_until(UP, "XDP attached on every interface", || {
        let status = sluice.json(&["status"]);
        let attached = status["dataplane"]["attached"].to_string();
        status["dataplane"]["xdp"] == "native"
            && ["lan", "eth1", "eth2"].iter().all(|i| attached.contains(i))
    });
    sluice.wait_established("203.0.113.1", UP);
    sluice.wait_established("203.0.113.5", UP);
    wait_resolved(&sluice, DST, "203.0.113.1");
    assert_eq!(ping(&site.src, 50), 50);
    assert!(forwarded_to(&sluice, "203.0.113.1") >= 50);
}
