//! `sluice run` inside a network namespace: uplink states follow the real
//! links of the interfaces the config names. No BGP peer answers here, so
//! the uplinks are down either way; the reason says which layer. No BGP peer answers here, so
//! the uplinks are down either way; the reason says which layer.

use std::time::Duration;

use sluice_e2e::sluice_bin;
use sluice_testns::{Lab, must_be_root, wait_until};

const CONFIG: &str = "\
router: { id: 192.0.2.1, asn: 64500 }
interfaces:
  - { name: eth1, addresses: [203.0.113.2/30] }
  - { name: eth2, addresses: [203.0.113.6/30] }
uplinks:
  - { name: iap-a, interface: eth1, peer: { address: 203.0.113.1, asn: 65001 }, import: full-table }
  - { name: iap-b, interface: eth2, peer: { address: 203.0.113.5, asn: 65002 }, import: default-only }
";

#[test]
#[ignore = "needs root: network namespaces"]
fn uplink_state_follows_the_link() {
    must_be_root();
    let lab = Lab::new("uplink");
    let router = lab.node("r");
    let world = lab.node("w");
    lab.link(&router, "eth1", &world, "iap-a");
    lab.link(&router, "eth2", &world, "iap-b");
    router.addr("eth1", "203.0.113.2/30");
    router.addr("eth2", "203.0.113.6/30");

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("edge.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    let sock = dir.path().join("sluice.sock");
    let bin = sluice_bin();
    let daemon = router.spawn([
        bin.to_str().unwrap(),
        "run",
        "-c",
        config.to_str().unwrap(),
        "--socket",
        sock.to_str().unwrap(),
        "--state-dir",
        dir.path().join("state").to_str().unwrap(),
        "--metrics",
        "127.0.0.1:9179",
    ]);
    let states = || {
        let out = std::process::Command::new(&bin)
            .args([
                "show",
                "uplinks",
                "--json",
                "--socket",
                sock.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        if !out.status.success() {
            return vec![];
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["uplinks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| {
                format!(
                    "{}: {}",
                    u["state"].as_str().unwrap(),
                    u["reason"].as_str().unwrap()
                )
            })
            .collect::<Vec<_>>()
    };
    let up = |i: &str| format!("down: interface {i} is up, no BGP session is established");
    wait_until(Duration::from_secs(10), "both links up", || {
        states() == [up("eth1"), up("eth2")]
    });

    world.ip(["link", "set", "iap-b", "down"]);
    let eth2_down = "down: interface eth2 is down".to_string();
    wait_until(Duration::from_secs(5), "eth2 down", || {
        states() == [up("eth1"), eth2_down.clone()]
    });

    // The metrics endpoint listens inside the router's namespace.
    let metrics = router.run(["curl", "-fsS", "http://127.0.0.1:9179/metrics"]);
    assert!(
        metrics.contains("sluice_uplink_state{uplink=\"iap-b\",state=\"down\"} 1"),
        "{metrics}"
    );

    world.ip(["link", "set", "iap-b", "up"]);
    wait_until(Duration::from_secs(5), "eth2 back", || {
        states() == [up("eth1"), up("eth2")]
    });
    let status = daemon.stop();
    assert!(
        status.is_some_and(|s| s.success()),
        "daemon exit {status:?}: {}",
        daemon.log()
    );
    assert!(!sock.exists(), "socket removed");
}
