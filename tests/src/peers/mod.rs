//! Real BGP peers for interop tests: BIRD 2, GoBGP and FRR bgpd, each run
//! inside a [`Node`] of a test lab from a config generated out of one
//! [`PeerSpec`], and driven and inspected through one [`Peer`] API.
//!
//! ```no_run
//! use std::net::Ipv4Addr;
//! use std::time::Duration;
//! use sluice_e2e::peers::{Announce, Kind, NeighborSpec, Peer, PeerSpec};
//! use sluice_e2e::sluice_testns::Lab;
//!
//! let lab = Lab::new("doc");
//! let (a, b) = (lab.node("a"), lab.node("b"));
//! lab.link(&a, "eth1", &b, "eth1");
//! a.addr("eth1", "203.0.113.1/30");
//! b.addr("eth1", "203.0.113.2/30");
//! let (ip_a, ip_b) = (Ipv4Addr::new(203, 0, 113, 1), Ipv4Addr::new(203, 0, 113, 2));
//! let _bird = Peer::start(&a, PeerSpec::new(Kind::Bird, 65001, ip_a)
//!     .neighbor(NeighborSpec::new(ip_b.into(), 65002))
//!     .announce(Announce::new("198.51.100.0/24").med(10)));
//! let gobgp = Peer::start(&b, PeerSpec::new(Kind::Gobgp, 65002, ip_b)
//!     .neighbor(NeighborSpec::new(ip_a.into(), 65001)));
//! gobgp.wait_established(ip_a.into(), Duration::from_secs(10));
//! let route = gobgp.wait_route(ip_a.into(), "198.51.100.0/24", Duration::from_secs(10));
//! assert_eq!((route.as_path, route.med), (vec![65001], Some(10)));
//! ```
//!
//! Conventions every backend follows, so that tests read the same whatever
//! the implementation:
//! - A neighbor's address family decides what its session carries: an IPv4
//!   neighbor gets IPv4 unicast, an IPv6 neighbor IPv6 unicast (one session
//!   per family, as at most edges).
//! - Timers are short so tests stay fast: connect retry 1 s (GoBGP: 5 s,
//!   its minimum), hold time from [`NeighborSpec::hold_time`] (9 s by
//!   default), keepalive a third of it.
//! - [`Announce::as_path`] is the path as originated; on eBGP the daemon
//!   prepends its own ASN as usual, so the receiver sees `[asn, as_path..]`.
//! - Communities are written and reported as `"65001:7"` (standard) or
//!   `"65001:1:2"` (large), well-known ones numerically (`"65535:65281"`).
//! - Daemons install nothing in the kernel; BGP is all they do.
//! - Only one BGP daemon per node: they all listen on port 179.
//!
//! Each peer keeps its config, control socket and pid file in its own
//! temporary directory, so any number run at once. The daemon's stdout and
//! stderr go to the lab's log (printed by the lab when a test fails), with
//! protocol tracing on; [`Peer::log`] returns it.

mod bird;
mod frr;
mod gobgp;
mod spec;

use spec::normalize_community;
pub use spec::{Announce, Kind, NeighborSpec, PeerSpec, Route, SessionState};

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use sluice_testns::{CommandError, KEEP_LOGS_ENV, Node, ProcessHandle};
use tempfile::TempDir;

/// How long a freshly started daemon may take to answer on its control socket.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// What each implementation does differently; the rest of [`Peer`] is shared.
trait Backend {
    /// Writes the config files into the peer's directory and returns the
    /// daemon's command line.
    fn prepare(&self, peer: &Peer<'_>) -> Vec<String>;
    /// Whether the control socket answers yet.
    fn ready(&self, peer: &Peer<'_>) -> bool;
    /// Runs once the daemon is ready (GoBGP's routes are not in its config).
    fn started(&self, _peer: &Peer<'_>) {}
    /// The control program and the arguments running `command` with it.
    fn cli_args(&self, peer: &Peer<'_>, command: &str) -> Vec<String>;
    fn session_state(&self, peer: &Peer<'_>, neighbor: IpAddr) -> SessionState;
    fn last_error(&self, peer: &Peer<'_>, neighbor: IpAddr) -> String;
    fn routes(&self, peer: &Peer<'_>, neighbor: Option<IpAddr>) -> Vec<Route>;
    /// Brings the running daemon in line with `peer.spec.announce` after
    /// `changed` was added, changed or (if absent there) withdrawn.
    fn update_announcement(&self, peer: &Peer<'_>, changed: &str);
}

fn backend(kind: Kind) -> &'static dyn Backend {
    match kind {
        Kind::Bird => &bird::Bird,
        Kind::Gobgp => &gobgp::Gobgp,
        Kind::Frr => &frr::Frr,
    }
}

/// A running (or stopped) BGP daemon in a lab node. Dropping it stops the
/// daemon and removes its directory (kept when `SLUICE_TESTNS_KEEP_LOGS`
/// is set, like the lab's logs).
#[derive(Debug)]
pub struct Peer<'lab> {
    node: Node<'lab>,
    spec: PeerSpec,
    dir: Option<TempDir>,
    /// Every run so far, oldest first; the last is the current one.
    runs: Vec<ProcessHandle>,
}

impl<'lab> Peer<'lab> {
    /// Writes the config for `spec`, starts the daemon in `node` and waits
    /// until its control socket answers. Panics (with the daemon's log) if
    /// it exits or does not answer within 10 s.
    pub fn start(node: &Node<'lab>, spec: PeerSpec) -> Peer<'lab> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("sluice-peer-{}-", node.label()))
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a directory for a BGP peer: {e}"));
        let mut peer = Peer {
            node: node.clone(),
            spec,
            dir: Some(dir),
            runs: Vec::new(),
        };
        peer.launch();
        peer
    }

    pub fn kind(&self) -> Kind {
        self.spec.kind
    }

    pub fn spec(&self) -> &PeerSpec {
        &self.spec
    }

    /// Change the spec for the next [`Peer::restart`] (say, a new ASN or
    /// neighbor; not the kind).
    pub fn spec_mut(&mut self) -> &mut PeerSpec {
        &mut self.spec
    }

    pub fn node(&self) -> &Node<'lab> {
        &self.node
    }

    /// The peer's directory: config, control socket, pid file.
    pub fn dir(&self) -> &Path {
        self.dir
            .as_ref()
            .map_or(Path::new("/nonexistent"), |d| d.path())
    }

    pub fn is_running(&self) -> bool {
        self.runs.last().is_some_and(ProcessHandle::is_running)
    }

    /// Runs one command on the control socket (`birdc`, `gobgp` or `vtysh
    /// -c`) and returns its output, e.g. `peer.cli("show protocols all")`.
    pub fn cli(&self, command: &str) -> String {
        self.try_cli(command).unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_cli(&self, command: &str) -> Result<String, CommandError> {
        self.node
            .try_run(backend(self.kind()).cli_args(self, command))
    }

    pub fn session_state(&self, neighbor: IpAddr) -> SessionState {
        backend(self.kind()).session_state(self, neighbor)
    }

    /// The daemon's own account of why the session last failed (the last
    /// NOTIFICATION sent or received, or a socket error); empty if none.
    pub fn last_error(&self, neighbor: IpAddr) -> String {
        backend(self.kind()).last_error(self, neighbor)
    }

    /// Waits until the session with `neighbor` is Established.
    #[track_caller]
    pub fn wait_established(&self, neighbor: IpAddr, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let state = self.session_state(neighbor);
            if state == SessionState::Established {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{:?} peer in {}: session with {neighbor} not Established after {timeout:?} \
                 (state {state}, last error {:?})",
                self.kind(),
                self.node.label(),
                self.last_error(neighbor),
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Routes received from `neighbor`, or from every neighbor with `None`
    /// (locally originated routes are never included).
    pub fn received_routes(&self, neighbor: Option<IpAddr>) -> Vec<Route> {
        backend(self.kind()).routes(self, neighbor)
    }

    /// Polls [`Peer::received_routes`] until `condition` holds and returns
    /// those routes; panics naming `what` and showing the last routes.
    #[track_caller]
    pub fn wait_routes(
        &self,
        neighbor: Option<IpAddr>,
        timeout: Duration,
        what: &str,
        mut condition: impl FnMut(&[Route]) -> bool,
    ) -> Vec<Route> {
        let deadline = Instant::now() + timeout;
        loop {
            let routes = self.received_routes(neighbor);
            if condition(&routes) {
                return routes;
            }
            assert!(
                Instant::now() < deadline,
                "{:?} peer in {}: timed out after {timeout:?} waiting for {what}; routes: {routes:#?}",
                self.kind(),
                self.node.label(),
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits for `prefix` from `neighbor` and returns it.
    #[track_caller]
    pub fn wait_route(&self, neighbor: IpAddr, prefix: &str, timeout: Duration) -> Route {
        let what = format!("{prefix} from {neighbor}");
        let routes = self.wait_routes(Some(neighbor), timeout, &what, |rs| {
            rs.iter().any(|r| r.prefix == prefix)
        });
        routes.into_iter().find(|r| r.prefix == prefix).unwrap()
    }

    /// Waits until no route for `prefix` is left from any neighbor.
    #[track_caller]
    pub fn wait_no_route(&self, prefix: &str, timeout: Duration) {
        let what = format!("{prefix} to be withdrawn");
        self.wait_routes(None, timeout, &what, |rs| {
            rs.iter().all(|r| r.prefix != prefix)
        });
    }

    /// Originates `route` now (replacing an earlier announcement of the
    /// same prefix); it is also part of the spec for later restarts.
    pub fn announce(&mut self, route: impl Into<Announce>) {
        let route = route.into();
        let prefix = route.prefix.clone();
        self.spec.announce.retain(|a| a.prefix != prefix);
        self.spec.announce.push(route);
        if self.is_running() {
            backend(self.kind()).update_announcement(self, &prefix);
        }
    }

    /// Stops originating `prefix`.
    pub fn withdraw(&mut self, prefix: &str) {
        let before = self.spec.announce.len();
        self.spec.announce.retain(|a| a.prefix != prefix);
        assert!(
            self.spec.announce.len() < before,
            "withdraw {prefix}: it was never announced"
        );
        if self.is_running() {
            backend(self.kind()).update_announcement(self, prefix);
        }
    }

    /// The daemon's output over all its runs, each run headed by a line.
    pub fn log(&self) -> String {
        let mut log = String::new();
        for (n, run) in self.runs.iter().enumerate() {
            log.push_str(&format!("=== run {} (pid {}) ===\n", n + 1, run.pid()));
            log.push_str(&run.log());
        }
        log
    }

    /// Stops the daemon gracefully (SIGTERM; it may send a Cease first).
    pub fn stop(&mut self) {
        if let Some(run) = self.runs.last() {
            run.stop();
        }
    }

    /// SIGKILLs the daemon, as a crash would: no NOTIFICATION, no cleanup.
    pub fn kill(&mut self) {
        let Some(run) = self.runs.last() else { return };
        if run.is_running() {
            let group = format!("-{}", run.pid());
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &group])
                .status();
        }
        // stop() only reaps here, and SIGKILLs again if the first was lost.
        run.stop();
    }

    /// Stops the daemon if it runs and starts it again from the current
    /// spec (announcements made since start included).
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    fn launch(&mut self) {
        let be = backend(self.kind());
        let args = be.prepare(self);
        self.runs.push(self.node.spawn(&args));
        let deadline = Instant::now() + READY_TIMEOUT;
        while !be.ready(self) {
            assert!(
                self.is_running(),
                "`{}` in {} exited: {:?}\n{}",
                args.join(" "),
                self.node.name(),
                self.runs.last().and_then(ProcessHandle::try_status),
                self.log()
            );
            assert!(
                Instant::now() < deadline,
                "`{}` in {} did not answer on its control socket within {READY_TIMEOUT:?}\n{}",
                args.join(" "),
                self.node.name(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        be.started(self);
    }
}

impl Drop for Peer<'_> {
    fn drop(&mut self) {
        self.stop();
        if let Some(dir) = self.dir.take()
            && std::env::var_os(KEEP_LOGS_ENV).is_some_and(|v| !v.is_empty())
        {
            eprintln!(
                "sluice-e2e: kept BGP peer directory {}",
                dir.keep().display()
            );
        }
    }
}

/// Writes a generated config file, panicking with the path on failure.
fn write_file(path: &Path, contents: &str) {
    std::fs::write(path, contents)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// A symbol-safe name for an address or prefix: `203_0_113_1`, `2001_db8__1`.
fn ident(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// `dir/file` as a command-line argument.
fn path_arg(dir: &Path, file: &str) -> String {
    dir.join(file).to_string_lossy().into_owned()
}
