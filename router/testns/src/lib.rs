//! Test support for end-to-end tests: throwaway network namespaces joined
//! by veth pairs, with processes running inside them, built from real
//! kernel objects through iproute2 and torn down even when a test panics.
//!
//! ```no_run
//! use sluice_testns::{Lab, must_be_root};
//!
//! must_be_root();
//! let lab = Lab::new("ping");
//! let (a, b) = (lab.node("a"), lab.node("b"));
//! lab.link(&a, "eth1", &b, "eth1");
//! a.addr("eth1", "203.0.113.1/30");
//! b.addr("eth1", "203.0.113.2/30");
//! a.run(["ping", "-c", "1", "-W", "2", "203.0.113.2"]);
//! let prefix = lab.prefix().to_owned();
//! drop(lab);
//! assert_eq!(sluice_testns::leftovers(&prefix), Vec::<String>::new());
//! ```
//!
//! Tests using this need root. By convention they are marked
//! `#[ignore = "needs root: …"]`, run with `--include-ignored` by
//! scripts/test.sh, and call [`must_be_root`] first so that running them
//! without root fails loudly instead of passing.
//!
//! Everything shells out to `ip` (and `kill`) rather than making syscalls,
//! which keeps the crate free of `unsafe` and makes every step reproducible
//! by hand from the error messages.

mod cmd;
mod lab;
mod process;

use std::collections::HashSet;
use std::time::{Duration, Instant};

pub use cmd::{CommandError, RUN_TIMEOUT};
pub use lab::{Lab, Node};
pub use process::{ProcessHandle, STOP_GRACE};

/// Environment variable set on every process started in a lab, holding the
/// lab's prefix. Inherited by children, it lets [`leftovers`] find
/// processes that outlived their (deleted) namespace.
pub const LAB_ENV: &str = "SLUICE_TESTNS_LAB";

/// When set to a non-empty value, a dropped lab keeps its log directory and
/// prints where it is.
pub const KEEP_LOGS_ENV: &str = "SLUICE_TESTNS_KEEP_LOGS";

/// Where iproute2 keeps named network namespaces.
const NETNS_DIR: &str = "/run/netns";

/// Whether this process runs with effective uid 0.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| effective_uid(&s) == Some(0))
}

/// Fails the calling test unless it runs as root. Call it first in every
/// test that needs network namespaces.
#[track_caller]
pub fn must_be_root() {
    assert!(
        is_root(),
        "this test needs root (network namespaces); run it as root via scripts/test.sh"
    );
}

/// `Uid:` in /proc/<pid>/status lists real, effective, saved and fs uids.
fn effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Everything a lab with names starting with `prefix` left behind: one
/// line per namespace, per process inside one, and per process carrying
/// the [`LAB_ENV`] tag of a matching lab. Empty means clean.
///
/// Pass [`Lab::prefix`] to check one lab. Reading other processes'
/// environments needs root; without it tagged processes are not found.
pub fn leftovers(prefix: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    for ns in netns_names().into_iter().filter(|n| n.starts_with(prefix)) {
        found.push(format!("netns {ns}"));
        for pid in netns_pids(&ns) {
            found.push(format!("pid {pid} in netns {ns}: {}", cmdline(&pid)));
            seen.insert(pid);
        }
    }
    let me = std::process::id().to_string();
    for (pid, lab) in tagged_processes() {
        if lab.starts_with(prefix) && pid != me && !seen.contains(&pid) {
            found.push(format!("pid {pid} from lab {lab}: {}", cmdline(&pid)));
        }
    }
    found
}

/// Polls `condition` until it holds; panics naming `what` after `timeout`.
#[track_caller]
pub fn wait_until(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Names under /run/netns; empty if the directory does not exist yet.
pub(crate) fn netns_names() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect()
}

/// Pids of the processes in namespace `ns`; empty if it does not exist.
pub(crate) fn netns_pids(ns: &str) -> Vec<String> {
    let out = cmd::host_ip(&["netns", "pids", ns]).unwrap_or_default();
    out.split_whitespace().map(str::to_owned).collect()
}

/// (pid, lab prefix) of every process carrying [`LAB_ENV`].
fn tagged_processes() -> Vec<(String, String)> {
    let Ok(proc_dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let needle = format!("{LAB_ENV}=");
    let mut tagged = Vec::new();
    for entry in proc_dir.flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        // Processes vanish mid-scan and zombies have no environment; both
        // just read as "untagged".
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let lab = environ
            .split(|&b| b == 0)
            .find_map(|var| var.strip_prefix(needle.as_bytes()));
        if let Some(lab) = lab {
            tagged.push((pid, String::from_utf8_lossy(lab).into_owned()));
        }
    }
    tagged
}

fn cmdline(pid: &str) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let words: Vec<_> = raw.split(|&b| b == 0).filter(|w| !w.is_empty()).collect();
    let words: Vec<_> = words.iter().map(|w| String::from_utf8_lossy(w)).collect();
    if words.is_empty() {
        "<exited>".to_owned()
    } else {
        words.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_uid_is_the_second_field() {
        let status = "Name:\tx\nUid:\t1000\t0\t1000\t1000\nGid:\t0\t0\t0\t0\n";
        assert_eq!(effective_uid(status), Some(0));
        assert_eq!(effective_uid("Name:\tx\n"), None);
    }

    #[test]
    fn labs_get_distinct_prefixes() {
        let (a, b) = (Lab::new("Same Tag!"), Lab::new("Same Tag!"));
        assert_ne!(a.prefix(), b.prefix());
        let pid = std::process::id();
        assert!(
            a.prefix().starts_with(&format!("sl{pid}x")),
            "{}",
            a.prefix()
        );
        assert!(a.prefix().ends_with("-same-tag--"), "{}", a.prefix());
    }

    #[test]
    fn wait_until_returns_once_the_condition_holds() {
        let mut calls = 0;
        wait_until(Duration::from_secs(1), "three calls", || {
            calls += 1;
            calls == 3
        });
        assert_eq!(calls, 3);
    }
}
