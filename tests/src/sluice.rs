//! A `sluice run` daemon inside a test node, driven through its CLI.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use sluice_testns::{Node, ProcessHandle, wait_until};
use tempfile::TempDir;

use crate::sluice_bin;

#[derive(Debug)]
pub struct Sluice<'lab> {
    node: Node<'lab>,
    dir: TempDir,
    process: Option<ProcessHandle>,
    /// Run before the daemon's own argv (e.g. setpriv dropping to a user).
    wrapper: Vec<String>,
}

impl<'lab> Sluice<'lab> {
    /// Writes `config` and starts the daemon on `node`; waits until it answers.
    pub fn start(node: &Node<'lab>, config: &str) -> Sluice<'lab> {
        Self::start_with(node, config, &[], None)
    }

    /// [`Self::start`] with `wrapper` before the daemon's argv, and its
    /// directory (config, socket, state) owned by `owner` (uid = gid)
    /// for a daemon that runs as that user.
    pub fn start_with(
        node: &Node<'lab>,
        config: &str,
        wrapper: &[&str],
        owner: Option<u32>,
    ) -> Sluice<'lab> {
        let dir = tempfile::Builder::new()
            .prefix("sluice-e2e-")
            .tempdir()
            .expect("temp dir");
        std::fs::write(dir.path().join("sluice.yaml"), config).expect("write config");
        if let Some(id) = owner {
            for path in [dir.path().to_owned(), dir.path().join("sluice.yaml")] {
                std::os::unix::fs::chown(&path, Some(id), Some(id)).expect("chown");
            }
        }
        let mut s = Sluice {
            node: node.clone(),
            dir,
            process: None,
            wrapper: wrapper.iter().map(|w| (*w).to_owned()).collect(),
        };
        s.run();
        s
    }

    fn run(&mut self) {
        let bin = sluice_bin();
        let p = |name: &str| self.dir.path().join(name).to_string_lossy().into_owned();
        let mut argv: Vec<String> = self.wrapper.clone();
        argv.extend([
            bin.to_string_lossy().into_owned(),
            "run".into(),
            "-c".into(),
            p("sluice.yaml"),
            "--socket".into(),
            p("sluice.sock"),
            "--state-dir".into(),
            p("state"),
            "--metrics".into(),
            "off".into(),
            "--log-level".into(),
            "debug".into(),
        ]);
        let process = self.node.spawn(argv);
        self.process = Some(process);
        wait_until(
            Duration::from_secs(10),
            "sluice answers on its socket",
            || self.try_cli(&["status"]).is_ok(),
        );
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("sluice.yaml")
    }

    /// Runs a client command against this daemon; Err(stderr) if it failed.
    pub fn try_cli(&self, args: &[&str]) -> Result<String, String> {
        let sock = self.dir.path().join("sluice.sock");
        let out = Command::new(sluice_bin())
            .args(args)
            .arg("--socket")
            .arg(&sock)
            .output()
            .expect("sluice runs");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    pub fn cli(&self, args: &[&str]) -> String {
        self.try_cli(args)
            .unwrap_or_else(|e| panic!("sluice {args:?} failed: {e}\nlog:\n{}", self.log()))
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_str(&self.cli(&a)).expect("JSON answer")
    }

    /// `show peers` entry for the session with `address`.
    pub fn peer(&self, address: &str) -> Value {
        let peers = self.json(&["show", "peers"]);
        peers["peers"]
            .as_array()
            .expect("peers")
            .iter()
            .find(|p| p["address"] == address)
            .cloned()
            .unwrap_or_else(|| panic!("no session {address}: {peers}"))
    }

    /// Asserts that the session with `address` is the one established at
    /// `since` (no reset) and that no route refresh was asked of anyone.
    pub fn assert_session_kept(&self, address: &str, since: &Value) {
        let p = self.peer(address);
        assert_eq!(
            (&p["state"], &p["since"]),
            (&"established".into(), since),
            "{p}"
        );
        assert!(!self.has_event("route-refresh"), "{}", self.events());
    }

    pub fn wait_established(&self, address: &str, timeout: Duration) {
        wait_until(timeout, &format!("session {address} established"), || {
            self.peer(address)["state"] == "established"
        });
    }

    /// Paths to `prefix` (exact), empty if none.
    pub fn paths(&self, prefix: &str) -> Vec<Value> {
        let routes = self.json(&["show", "routes", prefix]);
        routes["routes"]
            .as_array()
            .expect("routes")
            .iter()
            .find(|r| r["prefix"] == prefix)
            .map(|r| r["paths"].as_array().expect("paths").clone())
            .unwrap_or_default()
    }

    pub fn best(&self, prefix: &str) -> Option<Value> {
        self.paths(prefix).into_iter().find(|p| p["best"] == true)
    }

    pub fn wait_best(
        &self,
        prefix: &str,
        timeout: Duration,
        what: &str,
        mut cond: impl FnMut(&Value) -> bool,
    ) -> Value {
        let mut last = None;
        wait_until(timeout, what, || {
            last = self.best(prefix);
            last.as_ref().is_some_and(&mut cond)
        });
        last.expect("checked")
    }

    /// Replaces the config file and reloads; panics if refused.
    pub fn reload(&self, config: &str) {
        std::fs::write(self.config_path(), config).expect("write config");
        self.cli(&["reload"]);
    }

    pub fn events(&self) -> String {
        self.cli(&["show", "events"])
    }

    /// Whether an event of `kind` was recorded.
    pub fn has_event(&self, kind: &str) -> bool {
        self.json(&["show", "events"])["events"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["kind"] == kind))
    }

    /// Waits until the cold start is over: the FIB holds the uplinks'
    /// tables and `announce` goes out without the cold-start prepend.
    pub fn wait_warm(&self, timeout: Duration) {
        wait_until(timeout, "the cold start to end", || {
            self.has_event("cold-start")
        });
    }

    pub fn log(&self) -> String {
        self.process
            .as_ref()
            .map(ProcessHandle::log)
            .unwrap_or_default()
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.process.as_ref().expect("the daemon runs").pid()
    }

    /// SIGTERM, waits for the exit; returns whether it exited 0.
    pub fn stop(&mut self) -> bool {
        self.process
            .take()
            .and_then(|p| p.stop())
            .is_some_and(|s| s.success())
    }

    /// Starts again after [`Sluice::stop`], with the same config and state directory.
    pub fn restart_stopped(&mut self) {
        assert!(self.process.is_none(), "still running");
        self.run();
    }

    /// Stops and starts again with the same config and state directory.
    pub fn restart(&mut self) {
        assert!(self.stop(), "sluice did not stop cleanly:\n{}", self.log());
        self.run();
    }
}

impl Drop for Sluice<'_> {
    fn drop(&mut self) {
        if let Some(p) = self.process.take() {
            p.stop();
        }
    }
}
