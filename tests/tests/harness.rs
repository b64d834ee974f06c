//! Proves the test harness itself: namespaces and veths really carry
//! traffic, and a lab leaves nothing behind, whether dropped normally or
//! while the test body panics.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::Duration;

use sluice_testns::{Lab, leftovers, must_be_root, wait_until};

#[test]
#[ignore = "needs root: network namespaces"]
fn ping_crosses_a_veth_link() {
    must_be_root();
    let lab = Lab::new("ping");
    let a = lab.node("a");
    let b = lab.node("b");
    assert!(a.name().starts_with(lab.prefix()) && a.name().ends_with("-a"));
    lab.link(&a, "eth1", &b, "eth1");
    a.addr("eth1", "203.0.113.1/30");
    b.addr("eth1", "203.0.113.2/30");

    let out = a.run(["ping", "-c", "1", "-W", "2", "203.0.113.2"]);
    assert!(out.contains("1 received"), "{out}");
    assert!(
        b.ip(["-br", "addr", "show", "eth1"])
            .contains("203.0.113.2/30")
    );

    // A failing command reports where it ran and what it said.
    let err = a
        .try_run(["ping", "-c", "1", "-W", "1", "203.0.113.9"])
        .unwrap_err();
    assert!(err.to_string().contains(a.name()), "{err}");
}

#[test]
#[ignore = "needs root: network namespaces"]
fn labs_running_in_parallel_do_not_collide() {
    must_be_root();
    let (one, two) = (Lab::new("same"), Lab::new("same"));
    let (r1, r2) = (one.node("r1"), two.node("r1"));
    assert_ne!(r1.name(), r2.name());
    // Same interface names in different namespaces are fine too.
    one.link(&r1, "eth1", &one.node("r2"), "eth1");
    two.link(&r2, "eth1", &two.node("r2"), "eth1");
}

#[test]
#[ignore = "needs root: network namespaces"]
fn dropping_a_lab_stops_processes_and_deletes_namespaces() {
    must_be_root();
    let lab = Lab::new("drop");
    let node = lab.node("r1");
    lab.link(&node, "eth1", &lab.node("r2"), "eth1");
    let sleeper = node.spawn(["sleep", "1000"]);
    // Ignores SIGTERM (so teardown must escalate to SIGKILL) and starts a
    // grandchild in a new session (so killing the process group misses it
    // and only the namespace sweep can find it).
    let stubborn = node.spawn([
        "sh",
        "-c",
        "trap '' TERM; setsid sleep 1000 & echo started; wait",
    ]);
    let prefix = lab.prefix().to_owned();
    wait_until(Duration::from_secs(5), "three processes in r1", || {
        leftovers(&prefix)
            .iter()
            .filter(|l| l.contains(node.name()) && l.starts_with("pid"))
            .count()
            == 3
    });
    assert!(sleeper.is_running() && stubborn.is_running());
    assert!(stubborn.log().contains("started"), "{}", stubborn.log());
    let log_dir = lab.log_dir().to_owned();

    drop(lab);
    assert_eq!(leftovers(&prefix), Vec::<String>::new());
    assert!(!sleeper.is_running() && !stubborn.is_running());
    assert!(!Path::new(&format!("/proc/{}", sleeper.pid())).exists());
    assert!(
        !log_dir.exists(),
        "log directory {} kept",
        log_dir.display()
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn a_panicking_test_still_cleans_up() {
    must_be_root();
    let mut prefix = String::new();
    let result = catch_unwind(AssertUnwindSafe(|| {
        let lab = Lab::new("panic");
        prefix = lab.prefix().to_owned();
        let node = lab.node("r1");
        node.spawn(["sleep", "1000"]);
        assert!(!leftovers(&prefix).is_empty());
        panic!("deliberate failure inside the lab");
    }));

    let payload = result.expect_err("the body should have panicked");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"deliberate failure inside the lab")
    );
    assert_eq!(leftovers(&prefix), Vec::<String>::new());
}

#[test]
#[ignore = "needs root: network namespaces"]
fn stop_asks_politely_first() {
    must_be_root();
    let lab = Lab::new("stop");
    let node = lab.node("r1");
    let daemon = node.spawn([
        "sh",
        "-c",
        "trap 'echo got TERM; exit 0' TERM; echo up; sleep 1000 & wait",
    ]);
    wait_until(Duration::from_secs(5), "the shell to start", || {
        daemon.log().contains("up")
    });
    let status = daemon.stop().expect("stopped process is reaped");
    assert!(status.success(), "{status}");
    assert!(daemon.log().contains("got TERM"), "{}", daemon.log());
    // The backgrounded sleep was in the same process group, so it got the
    // SIGTERM too; nothing is left in the namespace once it has exited
    // (which a loaded machine may take a moment to get to).
    let only_netns = vec![format!("netns {}", node.name())];
    wait_until(Duration::from_secs(5), "the sleep to exit", || {
        leftovers(lab.prefix()) == only_netns
    });
}
