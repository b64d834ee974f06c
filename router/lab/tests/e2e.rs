//! End-to-end: the shipped dual-iap topology brought up through the lab
//! module (what `sluice lab up` runs), with real BIRD and FRR peering with
//! Sluice, traffic across it, faults, and a `down` that leaves nothing.
//! Needs root; also runs bad topologies through `up` to check that a
//! failed `up` names file, line and node and removes what it built.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;

use common::{can_run, repo, sluice_dir};
use sluice_lab::state::{lab_dir, netns_prefix};
use sluice_lab::{LabError, Options, Running, TrafficSpec, sys};

fn options(tag: &str) -> Options {
    Options {
        name: Some(format!("{tag}{}", std::process::id())),
        timeout: Duration::from_secs(45),
        bin_dirs: vec![sluice_dir()],
    }
}

/// What is left of lab `lab`: namespaces, tagged processes, its mount, its directory.
fn leftovers(lab: &str) -> Vec<String> {
    let mut left: Vec<String> = sys::netns_names()
        .into_iter()
        .filter(|n| n.starts_with(&netns_prefix(lab)))
        .map(|n| format!("netns {n}"))
        .collect();
    left.extend(
        sys::tagged_pids(lab)
            .into_iter()
            .map(|p| format!("pid {p}: {}", sys::cmdline(p))),
    );
    if sys::is_mounted(&lab_dir(lab).join("bpf")) {
        left.push("bpffs mount".into());
    }
    if lab_dir(lab).exists() {
        left.push(format!("{}", lab_dir(lab).display()));
    }
    left
}

fn tx_packets(lab: &str, node: &str, dev: &str) -> u64 {
    let ns = sluice_lab::state::netns_name(lab, node);
    let out = sys::must("ip", &["-n", &ns, "-s", "-j", "link", "show", "dev", dev]).unwrap();
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    json[0]["stats64"]["tx"]["packets"].as_u64().unwrap()
}

fn stream(lab: &str, rate: u32, ms: u64) -> sluice_lab::TrafficReport {
    let spec = TrafficSpec {
        from: "host1".into(),
        to: "inet".into(),
        rate,
        duration: Duration::from_millis(ms),
        dst: None,
        port: 5201,
    };
    sluice_lab::traffic(lab, &spec).unwrap()
}

#[test]
#[ignore = "needs root: network namespaces, BIRD and FRR"]
fn dual_iap_up_traffic_faults_down() {
    if !can_run(common::ROUTERS) {
        return;
    }
    let started = Instant::now();
    let topo = repo().join("topologies/dual-iap/dual-iap.clab.yml");
    let running = Running::up(&topo, &options("e2e")).unwrap_or_else(|e| panic!("{e}"));
    let lab = running.name().to_owned();
    eprintln!("up in {:?}", started.elapsed());

    // Every ready check (each BGP session) passed; Sluice agrees.
    let status = sluice_lab::status(&lab).unwrap();
    for n in &status.nodes {
        assert_ne!(
            n.ready,
            Some(false),
            "{} not ready:\n{}",
            n.name,
            status.render()
        );
    }
    let r1 = status.nodes.iter().find(|n| n.name == "r1").unwrap();
    let states: Vec<&str> = r1.sessions.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(
        states,
        ["established", "established"],
        "{}",
        status.render()
    );

    // Inside a node: its own interfaces in /sys, the lab's bpffs for pins.
    let state = sluice_lab::state::State::load(&lab_dir(&lab)).unwrap();
    let r1_state = state.node("r1").unwrap();
    let mut cmd = sys::in_node(r1_state.holder.unwrap(), &state.path_env, &lab, &[]);
    cmd.args([
        "sh",
        "-c",
        "stat -f -c %T /sys/fs/bpf; ls /sys/class/net; ls /run/sluice",
    ]);
    let out = sys::run(cmd, Duration::from_secs(10)).unwrap();
    assert!(out.ok, "{out:?}");
    for want in ["bpf_fs", "eth1", "eth3", "sluice.sock"] {
        assert!(
            out.stdout.split_whitespace().any(|w| w == want),
            "{want}: {out:?}"
        );
    }

    // Packets cross Sluice.
    let r = stream(&lab, 500, 1000);
    assert!(r.received > 0 && r.sent == 500, "{r:?}");

    // With iap-a's link down, traffic still arrives, and through iap-b.
    sluice_lab::link(&lab, "r1:eth1", false).unwrap();
    let before = tx_packets(&lab, "r1", "eth2");
    let r = stream(&lab, 500, 1000);
    let through_b = tx_packets(&lab, "r1", "eth2") - before;
    assert!(r.received > 0, "{r:?}");
    assert!(
        through_b >= r.received,
        "only {through_b} packets left by eth2 for {r:?}"
    );
    sluice_lab::link(&lab, "r1:eth1", true).unwrap();

    // Random loss drops some and passes some.
    sluice_lab::loss(&lab, "r1:eth2", 50.0).unwrap();
    sluice_lab::link(&lab, "r1:eth1", false).unwrap();
    let r = stream(&lab, 1000, 1000);
    assert!(r.lost > 200 && r.received > 200, "{r:?}");
    sluice_lab::loss(&lab, "r1:eth2", 0.0).unwrap();

    // A killed node shows as not running.
    assert!(sluice_lab::kill(&lab, "iap-b").unwrap() > 0);
    let status = sluice_lab::status(&lab).unwrap();
    let iap_b = status.nodes.iter().find(|n| n.name == "iap-b").unwrap();
    assert!(
        !iap_b.running && iap_b.processes.is_empty(),
        "{}",
        status.render()
    );

    running.down().unwrap();
    assert_eq!(leftovers(&lab), Vec::<String>::new());
    eprintln!("whole test in {:?}", started.elapsed());
}

fn write_topology(dir: &Path, nodes: &str) -> PathBuf {
    let path = dir.join("bad.clab.yml");
    let text = format!(
        "name: bad\ntopology:\n  nodes:\n{nodes}  links:\n    - endpoints: [\"a:eth1\", \"b:eth1\"]\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
#[ignore = "needs root: network namespaces"]
fn a_failed_up_names_the_node_and_removes_everything() {
    if !can_run(&[]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The process of node b cannot start.
    let path = write_topology(
        dir.path(),
        "    a:\n      labels: { sluice.run: sleep 30 }\n    b:\n      labels:\n        sluice.run: /nonexistent/daemon --flag\n",
    );
    let opts = options("bad");
    let lab = opts.name.clone().unwrap();
    let err = Running::up(&path, &opts).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, LabError::Failed(_)), "{err:?}");
    assert!(text.contains("LAB-NODE-EXITED"), "{text}");
    assert!(text.contains("node `b`"), "{text}");
    assert!(text.contains("bad.clab.yml:8:"), "{text}");
    assert!(text.contains("/nonexistent/daemon"), "{text}");
    assert_eq!(leftovers(&lab), Vec::<String>::new());

    // An exec command that fails.
    let path = write_topology(
        dir.path(),
        "    a:\n      exec:\n        - ip addr add 10.0.0.1/24 dev eth9\n    b:\n",
    );
    let text = Running::up(&path, &opts).unwrap_err().to_string();
    assert!(
        text.contains("LAB-NODE-EXEC") && text.contains("node `a`"),
        "{text}"
    );
    assert!(text.contains("bad.clab.yml:6:"), "{text}");
    assert_eq!(leftovers(&lab), Vec::<String>::new());

    // Never ready: the timeout names the node and its log.
    let mut opts = opts;
    opts.timeout = Duration::from_secs(1);
    let path = write_topology(
        dir.path(),
        "    a:\n      labels: { sluice.run: \"echo hello from a; sleep 30\", sluice.ready: \"false\" }\n    b:\n",
    );
    let text = Running::up(&path, &opts).unwrap_err().to_string();
    assert!(
        text.contains("LAB-NODE-NOT-READY") && text.contains("node `a`"),
        "{text}"
    );
    assert!(text.contains("hello from a"), "{text}");
    assert_eq!(leftovers(&lab), Vec::<String>::new());
}

#[test]
#[ignore = "needs root: network namespaces"]
fn down_cleans_up_after_a_crashed_up() {
    if !can_run(&[]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // b never becomes ready, so `up` is still waiting when it is killed.
    let path = write_topology(
        dir.path(),
        "    a:\n      labels: { sluice.run: sleep 60 }\n    b:\n      labels: { sluice.run: sleep 60, sluice.ready: \"false\" }\n",
    );
    let lab = format!("crash{}", std::process::id());
    let mut up = std::process::Command::new(sluice_dir().join("sluice"))
        .args(["lab", "up", "--name", &lab, "--timeout", "60s"])
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let state = sluice_lab::state::State::load(&lab_dir(&lab));
        if state.is_ok_and(|s| s.nodes.iter().all(|n| n.run.is_some())) {
            break;
        }
        assert!(Instant::now() < deadline, "up never started its processes");
        std::thread::sleep(Duration::from_millis(50));
    }
    up.kill().unwrap();
    up.wait().unwrap();
    assert!(
        !leftovers(&lab).is_empty(),
        "the crash should leave the lab behind"
    );
    let removed = sluice_lab::down(&lab).unwrap();
    assert_eq!(removed.namespaces.len(), 2, "{removed:?}");
    assert_eq!(leftovers(&lab), Vec::<String>::new());
}
