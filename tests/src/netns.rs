//! Sockets inside a test's network namespace, for test peers written in
//! Rust: a socket belongs to the namespace of the thread that created it,
//! so a short-lived thread enters the namespace, creates it, and returns it.
#![allow(unsafe_code)]

use std::fs::File;
use std::os::fd::AsRawFd;

/// Runs `f` on a thread that has joined the network namespace `name`
/// (as made by `ip netns add`), and returns what it returns.
pub fn within<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{name}");
    std::thread::spawn(move || {
        let ns = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // SAFETY: setns(2) on a descriptor we own; it changes only this thread's namespace.
        let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns({path}): {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .expect("the thread in the namespace panicked")
}
