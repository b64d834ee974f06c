//! Long-running processes started inside a namespace, and stopping them:
//! SIGTERM to the whole process group, SIGKILL after a grace period.

use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::cmd::signal_group;

/// How long a process gets between SIGTERM and SIGKILL. Long enough for a
/// daemon to flush and remove its socket, short enough to keep teardown of
/// a misbehaving test quick.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// How long to wait for the kernel to deliver a SIGKILL before giving up
/// on reaping (a process stuck in uninterruptible sleep must not hang Drop).
const KILL_WAIT: Duration = Duration::from_secs(2);

/// What the lab and every handle share about one spawned process.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub(crate) label: String,
    pub(crate) netns: String,
    pub(crate) pid: u32,
    pub(crate) log: PathBuf,
    child: Mutex<Child>,
}

impl Spawned {
    pub(crate) fn new(label: String, netns: String, log: PathBuf, child: Child) -> Spawned {
        Spawned {
            label,
            netns,
            pid: child.id(),
            log,
            child: Mutex::new(child),
        }
    }

    fn child(&self) -> MutexGuard<'_, Child> {
        // A panic while holding the lock cannot leave a Child inconsistent.
        self.child.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The exit status if the leader has exited (and reaps it).
    pub(crate) fn exited(&self) -> Option<ExitStatus> {
        self.child().try_wait().ok().flatten()
    }
}

/// A process started by [`Node::spawn`](crate::Node::spawn). Cheap to clone.
///
/// Dropping the handle does not stop the process (so `let _ = node.spawn(..)`
/// is fine); the [`Lab`](crate::Lab) stops everything when it is dropped.
#[derive(Debug, Clone)]
pub struct ProcessHandle {
    pub(crate) inner: Arc<Spawned>,
}

impl ProcessHandle {
    /// Pid of the process, which is also its process-group id.
    pub fn pid(&self) -> u32 {
        self.inner.pid
    }

    /// The file receiving the process's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.inner.log
    }

    /// Everything the process has written to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read(&self.inner.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|e| format!("<cannot read {}: {e}>", self.inner.log.display()))
    }

    /// Whether the process (the group leader) is still running.
    pub fn is_running(&self) -> bool {
        self.inner.exited().is_none()
    }

    /// The exit status, if the process has exited.
    pub fn try_status(&self) -> Option<ExitStatus> {
        self.inner.exited()
    }

    /// Stops the process group (SIGTERM, then SIGKILL after [`STOP_GRACE`])
    /// and returns the leader's exit status; `None` only if it could not be
    /// reaped even after SIGKILL.
    pub fn stop(&self) -> Option<ExitStatus> {
        stop_all(std::slice::from_ref(&self.inner), STOP_GRACE);
        self.inner.exited()
    }
}

/// Stops all `procs` concurrently, so teardown costs one grace period in
/// total rather than one per process. Never panics.
pub(crate) fn stop_all(procs: &[Arc<Spawned>], grace: Duration) {
    // Only signal groups whose leader is unreaped: once reaped, its pid (and
    // so the group id) may be reused by an unrelated process. Stragglers
    // left in the group are caught by the per-namespace sweep in the lab.
    let mut running: Vec<&Arc<Spawned>> = procs.iter().filter(|p| p.exited().is_none()).collect();
    for p in &running {
        signal_group(p.pid, "TERM");
    }
    wait_until_exited(&mut running, grace);
    for p in &running {
        signal_group(p.pid, "KILL");
    }
    wait_until_exited(&mut running, KILL_WAIT);
}

fn wait_until_exited(procs: &mut Vec<&Arc<Spawned>>, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut pause = Duration::from_millis(1);
    loop {
        procs.retain(|p| p.exited().is_none());
        if procs.is_empty() || Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}
