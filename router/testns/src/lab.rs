//! A lab: a set of network namespaces, the veth links between them and the
//! processes running in them, all torn down when the lab is dropped.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tempfile::TempDir;

use crate::cmd::{self, CommandError, RUN_TIMEOUT, display_args, host_ip};
use crate::process::{ProcessHandle, STOP_GRACE, Spawned, stop_all};
use crate::{KEEP_LOGS_ENV, LAB_ENV, is_root, netns_names, netns_pids};

/// Per-process lab counter; with the pid it makes lab prefixes unique
/// across parallel tests in one test binary.
static NEXT_LAB: AtomicU32 = AtomicU32::new(0);

/// Lines of each process log printed when a lab is dropped during a panic.
const LOG_TAIL_LINES: usize = 60;

/// A set of network namespaces and the processes in them.
///
/// Every namespace is named `sl<pid>x<n>-<tag>-<node>`; the part before the
/// node name is [`Lab::prefix`]. The pid keeps a crashed run's leftovers
/// apart from the next run, the counter keeps parallel tests apart.
///
/// Dropping the lab (normally or while a test panics) stops every spawned
/// process group, kills whatever else is still inside its namespaces and
/// deletes the namespaces, which also removes their veths. It never panics.
#[derive(Debug)]
pub struct Lab {
    prefix: String,
    /// `None` only once Drop has decided whether to keep the directory.
    logs: Option<TempDir>,
    namespaces: Mutex<Vec<String>>,
    procs: Mutex<Vec<Arc<Spawned>>>,
    next_log: AtomicU32,
}

impl Lab {
    /// Starts an empty lab. `tag` (say, the test's name) goes into the
    /// namespace names so a leftover can be traced to its test; it is
    /// lowercased, non-alphanumerics become `-`, and it is cut to 12 chars.
    ///
    /// Panics if the log directory cannot be created.
    pub fn new(tag: &str) -> Lab {
        let mut tag: String = tag
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .take(12)
            .collect();
        if tag.is_empty() {
            tag.push_str("lab");
        }
        // A crashed earlier run with the same pid could have left namespaces
        // with this very prefix; skip such prefixes instead of colliding.
        let existing = netns_names();
        let prefix = loop {
            let n = NEXT_LAB.fetch_add(1, Ordering::Relaxed);
            let prefix = format!("sl{}x{n}-{tag}-", std::process::id());
            if !existing.iter().any(|ns| ns.starts_with(&prefix)) {
                break prefix;
            }
        };
        let logs = tempfile::Builder::new()
            .prefix(&format!("sluice-{prefix}"))
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a log directory for lab {prefix}: {e}"));
        Lab {
            prefix,
            logs: Some(logs),
            namespaces: Mutex::new(Vec::new()),
            procs: Mutex::new(Vec::new()),
            next_log: AtomicU32::new(0),
        }
    }

    /// The prefix shared by this lab's namespace names; pass it to
    /// [`leftovers`](crate::leftovers) after dropping the lab.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Directory holding the logs of spawned processes. Removed on drop
    /// unless `SLUICE_TESTNS_KEEP_LOGS` is set.
    pub fn log_dir(&self) -> &Path {
        self.logs
            .as_ref()
            .map_or(Path::new("/nonexistent"), |d| d.path())
    }

    /// Creates namespace `<prefix><name>` with `lo` up. `name` is short
    /// (at most 24 of `[A-Za-z0-9_-]`) and unique within the lab.
    ///
    /// Panics if the namespace cannot be created (e.g. without root).
    pub fn node(&self, name: &str) -> Node<'_> {
        let valid = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        assert!(
            valid && (1..=24).contains(&name.len()),
            "node name {name:?} must be 1-24 characters of [A-Za-z0-9_-]"
        );
        let ns = format!("{}{name}", self.prefix);
        {
            let mut namespaces = lock(&self.namespaces);
            assert!(
                !namespaces.contains(&ns),
                "lab {} already has a node {name:?}",
                self.prefix
            );
            if let Err(e) = host_ip(&["netns", "add", &ns]) {
                let hint = if is_root() {
                    ""
                } else {
                    "\n(not running as root: call must_be_root() first)"
                };
                panic!("cannot create network namespace: {e}{hint}");
            }
            // Recorded before anything else can fail, so Drop deletes it.
            namespaces.push(ns.clone());
        }
        let node = Node {
            lab: self,
            label: name.to_owned(),
            ns,
        };
        node.ip(["link", "set", "lo", "up"]);
        node
    }

    /// Connects `a` and `b` with a veth pair named `a_if` in `a` and `b_if`
    /// in `b` (at most 15 characters each) and brings both ends up. The
    /// pair is created directly inside the namespaces, so names such as
    /// `eth1` never clash with the host's interfaces.
    pub fn link(&self, a: &Node<'_>, a_if: &str, b: &Node<'_>, b_if: &str) {
        assert!(
            std::ptr::eq(a.lab, self) && std::ptr::eq(b.lab, self),
            "link: both nodes must belong to lab {}",
            self.prefix
        );
        let args = [
            "link", "add", a_if, "netns", &a.ns, "type", "veth", "peer", "name", b_if, "netns",
            &b.ns,
        ];
        if let Err(e) = host_ip(&args) {
            panic!("cannot link {}:{a_if} to {}:{b_if}: {e}", a.label, b.label);
        }
        a.ip(["link", "set", a_if, "up"]);
        b.ip(["link", "set", b_if, "up"]);
    }

    fn teardown(&mut self, panicking: bool) {
        let mut problems = Vec::new();
        let procs = std::mem::take(&mut *lock(&self.procs));
        stop_all(&procs, STOP_GRACE);
        for p in procs.iter().filter(|p| p.exited().is_none()) {
            problems.push(format!("{} (pid {}) survived SIGKILL", p.label, p.pid));
        }
        for ns in std::mem::take(&mut *lock(&self.namespaces)) {
            // Anything a spawned process started outside its process group,
            // and anything started some other way, is still in there.
            if let Err(e) = sweep(&ns) {
                problems.push(e);
            }
            if let Err(e) = host_ip(&["netns", "del", &ns]) {
                problems.push(e.to_string());
            }
        }
        let keep = std::env::var_os(KEEP_LOGS_ENV).is_some_and(|v| !v.is_empty());
        if panicking {
            // The test is failing: what its processes said is usually why.
            for p in &procs {
                let log = ProcessHandle { inner: p.clone() }.log();
                let lines: Vec<&str> = log.lines().collect();
                let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
                let tail = if tail.trim().is_empty() {
                    "<empty>".to_owned()
                } else {
                    tail
                };
                eprintln!(
                    "--- {} (pid {}) in {}, last {LOG_TAIL_LINES} lines of its log ---\n{tail}",
                    p.label, p.pid, p.netns
                );
            }
            if !keep && !procs.is_empty() {
                eprintln!("sluice-testns: set {KEEP_LOGS_ENV}=1 to keep the full logs");
            }
        }
        if let Some(dir) = self.logs.take()
            && keep
        {
            let dir = dir.keep();
            eprintln!(
                "sluice-testns: kept logs of lab {} in {}",
                self.prefix,
                dir.display()
            );
        }
        for problem in problems {
            eprintln!("sluice-testns: teardown of lab {}: {problem}", self.prefix);
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        // A panic escaping Drop while a test is already unwinding would abort
        // the whole test binary and lose every other test's result.
        if catch_unwind(AssertUnwindSafe(|| self.teardown(panicking))).is_err() {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "sluice-testns: teardown of lab {} panicked; check leftovers()",
                self.prefix
            );
        }
    }
}

/// SIGKILLs everything inside `ns` until nothing is left.
fn sweep(ns: &str) -> Result<(), String> {
    for _ in 0..50 {
        let pids = netns_pids(ns);
        if pids.is_empty() {
            return Ok(());
        }
        cmd::signal_pids(&pids, "KILL");
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("processes still in {ns}: {:?}", netns_pids(ns)))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Poisoning only means another test thread panicked; the data is fine.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One network namespace of a [`Lab`]; cheap to clone, cannot outlive it.
#[derive(Clone)]
pub struct Node<'lab> {
    lab: &'lab Lab,
    label: String,
    ns: String,
}

impl fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node").field("name", &self.ns).finish()
    }
}

impl Node<'_> {
    /// The real namespace name, as `ip netns` and `ip -n` know it.
    pub fn name(&self) -> &str {
        &self.ns
    }

    /// The short name given to [`Lab::node`].
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Runs a command in the namespace and returns its stdout. Panics with
    /// the command, exit status, stderr and stdout if it fails or takes
    /// longer than [`RUN_TIMEOUT`]. Use [`Node::spawn`] for anything that
    /// keeps running (or backgrounds children holding stdout open).
    pub fn run<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.try_run(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Node::run`] for commands that are expected to fail sometimes.
    pub fn try_run<I, S>(&self, args: I) -> Result<String, CommandError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let command = display_args(&args);
        cmd::run_captured(self.command(&args), &self.ns, command, RUN_TIMEOUT)
    }

    /// `ip <args>` in the namespace, e.g. `node.ip(["route", "show"])`.
    pub fn ip<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let ip = [OsString::from("ip")];
        self.run(
            ip.into_iter()
                .chain(args.into_iter().map(|a| a.as_ref().to_owned())),
        )
    }

    /// Adds `cidr` (e.g. `203.0.113.2/30`) to `ifname` and brings it up.
    pub fn addr(&self, ifname: &str, cidr: &str) {
        self.ip(["addr", "add", cidr, "dev", ifname]);
        self.ip(["link", "set", ifname, "up"]);
    }

    /// Starts a long-running process in the namespace, in its own process
    /// group, with stdin from /dev/null and stdout and stderr appended to
    /// one log file under [`Lab::log_dir`]. To set environment variables,
    /// start it through env(1): `["env", "RUST_LOG=debug", "prog", ..]`.
    ///
    /// Returns once the process is started, not once it is ready; a program
    /// that cannot be executed shows up as an exit with its error in the log.
    pub fn spawn<I, S>(&self, args: I) -> ProcessHandle
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        assert!(!args.is_empty(), "spawn needs a program to run");
        let program = Path::new(&args[0]).file_name().map_or_else(
            || "proc".to_owned(),
            |p| {
                p.to_string_lossy()
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric())
                    .collect()
            },
        );
        let n = self.lab.next_log.fetch_add(1, Ordering::Relaxed);
        let label = format!("{}/{program}#{n}", self.label);
        let log = self
            .lab
            .log_dir()
            .join(format!("{}-{n}-{program}.log", self.label));
        let out = File::create(&log)
            .unwrap_or_else(|e| panic!("cannot create log file {}: {e}", log.display()));
        let err = out
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot duplicate log file handle: {e}"));
        let mut cmd = self.command(&args);
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot start `{}` in {}: {e}", display_args(&args), self.ns)
        });
        let inner = Arc::new(Spawned::new(label, self.ns.clone(), log, child));
        lock(&self.lab.procs).push(inner.clone());
        ProcessHandle { inner }
    }

    /// `ip netns exec <ns> <args>`, tagged with the lab prefix so that
    /// [`leftovers`](crate::leftovers) finds the process (and its children)
    /// even if it escaped the namespace's deletion.
    fn command(&self, args: &[OsString]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns])
            .args(args)
            .env(LAB_ENV, &self.lab.prefix);
        cmd
    }
}
