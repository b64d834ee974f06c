//! Helpers shared by the root-only tests: the root check, entering a
//! test namespace on a dedicated thread, waiting for events.
#![allow(dead_code)] // each test binary uses a different subset

use std::fs::File;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use sluice_netlink::{Event, EventSocket};
use sluice_testns::Node;

/// Fails the test unless it runs as root. The tests are `#[ignore]`d with
/// the reason, so a plain `cargo test` lists them as skipped; this makes
/// `--include-ignored` without root fail loudly instead of passing.
pub fn require_root() {
    if !sluice_testns::is_root() {
        panic!("this test needs root (network namespaces); run it as root via scripts/test.sh");
    }
}

/// Runs `f` on a new thread inside `node`'s network namespace and returns
/// its result. Netlink sockets created in `f` stay in that namespace, so
/// they can be returned and used from the test thread.
pub fn in_ns<T: Send>(node: &Node<'_>, f: impl FnOnce() -> T + Send) -> T {
    let path = format!("/run/netns/{}", node.name());
    let ns = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                setns_net(&ns).unwrap_or_else(|e| panic!("setns({path}): {e}"));
                f()
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

#[allow(unsafe_code)]
fn setns_net(ns: &File) -> std::io::Result<()> {
    // SAFETY: setns(2) on a descriptor that stays open for the call; it
    // changes only the calling thread's network namespace.
    let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Reads events until one satisfies `want` (returned) or `timeout` passes
/// (panic naming `what` and the events seen).
pub fn wait_event(
    events: &mut EventSocket,
    timeout: Duration,
    what: &str,
    mut want: impl FnMut(&Event) -> bool,
) -> Event {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        match events.try_recv_events() {
            Ok(batch) => {
                for e in batch {
                    if want(&e) {
                        return e;
                    }
                    seen.push(e);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("reading events: {e}"),
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}; saw {seen:#?}"
        );
    }
}

/// Discards every queued event.
pub fn drain(events: &mut EventSocket) {
    while events.try_recv_events().is_ok() {}
}

/// The MAC of `ifname` in `node`, from `ip -br link`.
pub fn mac_of(node: &Node<'_>, ifname: &str) -> [u8; 6] {
    let out = node.ip(["-br", "link", "show", "dev", ifname]);
    let text = out
        .split_whitespace()
        .nth(2)
        .expect("ip -br link: MAC column");
    parse_mac(text)
}

pub fn parse_mac(text: &str) -> [u8; 6] {
    let bytes: Vec<u8> = text
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).expect("hex byte"))
        .collect();
    bytes.try_into().expect("6 bytes")
}

/// The ifindex of `ifname` in `node`.
pub fn ifindex_of(node: &Node<'_>, ifname: &str) -> u32 {
    let out = node.ip(["-o", "link", "show", "dev", ifname]);
    out.split(':')
        .next()
        .unwrap()
        .trim()
        .parse()
        .expect("ifindex")
}
