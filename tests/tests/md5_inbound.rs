//! TCP-MD5 on inbound connections: the key of every configured peer is on
//! Sluice's listening socket, so a passive session with FRR comes up signed,
//! a connection without the key or with a wrong one never gets through,
//! and a password file that cannot be used stops the start and refuses a
//! reload, naming the file, instead of running unsigned.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use sluice_e2e::peers::{Announce, Kind, NeighborSpec, Peer, PeerSpec};
use sluice_e2e::sluice::Sluice;
use sluice_e2e::{netns, sluice_bin};
use sluice_testns::{Lab, must_be_root, wait_until};

const UP: Duration = Duration::from_secs(20);

fn config(key: &std::path::Path) -> String {
    format!(
        "router: {{ id: 192.0.2.1, asn: 64500 }}
interfaces:
  - {{ name: eth1, addresses: [203.0.113.2/30] }}
uplinks:
  - name: frr
    interface: eth1
    peer: {{ address: 203.0.113.1, asn: 65001, passive: true, password_file: {} }}
    import: full-table
    max_prefix: 100
policies: {{ bogons: [] }}
dataplane: {{ xdp: off, kernel_fib: off }}
maintenance: {{ min_active_uplinks: 0 }}
validate:
  waive:
    - {{ rule: SINGLE-POINT-OF-FAILURE, uplink: frr, reason: \"one access point in this test\" }}
    - {{ rule: UPLINK-NO-PROBE, uplink: frr, reason: \"nothing to probe\" }}
",
        key.display()
    )
}

#[test]
#[ignore = "needs root: network namespaces"]
fn inbound_connections_need_the_peers_key() {
    must_be_root();
    let lab = Lab::new("md5-in");
    let (r, p) = (lab.node("r"), lab.node("p"));
    lab.link(&r, "eth1", &p, "eth1");
    r.addr("eth1", "203.0.113.2/30");
    p.addr("eth1", "203.0.113.1/30");
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("frr.key");
    std::fs::write(&key, "s3cret-key\n").unwrap();
    let cfg = config(&key);
    let sluice = Sluice::start(&r, &cfg);

    // Sluice is passive: only FRR connects, and only a signed SYN gets in.
    let mut frr = Peer::start(
        &p,
        PeerSpec::new(Kind::Frr, 65001, "203.0.113.1".parse().unwrap())
            .neighbor(NeighborSpec::new("203.0.113.2".parse().unwrap(), 64500).md5("s3cret-key"))
            .announce(Announce::new("100.64.0.0/16")),
    );
    sluice.wait_established("203.0.113.1", UP);
    sluice.wait_best("100.64.0.0/16", UP, "FRR's route", |_| true);

    // A connection from the peer's address without a signature: the
    // listening socket drops its SYN.
    let to = SocketAddr::from(([203, 0, 113, 2], 179));
    let unsigned = netns::within(p.name(), move || {
        TcpStream::connect_timeout(&to, Duration::from_secs(3))
    });
    assert!(
        unsigned.is_err(),
        "an unsigned connection was accepted: {unsigned:?}"
    );

    // FRR again, with the wrong key: the session stays down.
    frr.spec_mut().neighbors[0].md5 = Some("wrong-key".into());
    frr.restart();
    wait_until(UP, "the session down after FRR's restart", || {
        sluice.peer("203.0.113.1")["state"] != "established"
    });
    std::thread::sleep(Duration::from_secs(6));
    assert_ne!(
        sluice.peer("203.0.113.1")["state"],
        "established",
        "a wrong key got in: {}",
        sluice.peer("203.0.113.1")
    );

    // A reload naming an empty password file is refused, naming it.
    let empty = dir.path().join("empty.key");
    std::fs::write(&empty, "\n").unwrap();
    std::fs::write(sluice.config_path(), config(&empty)).unwrap();
    let refused = sluice.try_cli(&["reload"]).unwrap_err();
    assert!(
        refused.contains("empty.key") && refused.contains("is empty"),
        "{refused}"
    );
    assert!(sluice.has_event("reload-refused"), "{}", sluice.events());
}

#[test]
#[ignore = "needs root: network namespaces"]
fn a_password_file_that_cannot_be_used_stops_the_start() {
    must_be_root();
    let lab = Lab::new("md5-start");
    let r = lab.node("r");
    let dir = tempfile::tempdir().unwrap();
    for (name, content, why) in [
        ("empty.key", Some("\n"), "is empty"),
        ("missing.key", None, "cannot read"),
        ("long.key", Some(&"k".repeat(81)[..]), "at most 80"),
    ] {
        let key = dir.path().join(name);
        if let Some(c) = content {
            std::fs::write(&key, c).unwrap();
        }
        let cfg = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&cfg, config(&key)).unwrap();
        let bin = sluice_bin();
        let run = r.try_run([
            "timeout".as_ref(),
            "10".as_ref(),
            bin.as_os_str(),
            "run".as_ref(),
            "-c".as_ref(),
            cfg.as_os_str(),
            "--socket".as_ref(),
            dir.path().join(format!("{name}.sock")).as_os_str(),
            "--state-dir".as_ref(),
            dir.path().join(format!("{name}.state")).as_os_str(),
            "--metrics".as_ref(),
            "off".as_ref(),
        ]);
        let err = format!("{:?}", run.expect_err("the daemon must not start"));
        assert!(
            err.contains(name) && err.contains(why) && err.contains("not starting"),
            "{name}: {err}"
        );
    }
}
