//! The I/O the lab does, all through commands: `ip` for namespaces and
//! veths, `tc` for loss, util-linux's `nsenter` and `unshare` to enter a
//! node, `kill` for signals. Commands rather than setns(2)/unshare(2)
//! through libc: no `unsafe`, nothing to get wrong about threads and
//! namespaces in a multi-threaded process, and every step can be
//! reproduced by hand from an error message.
//!
//! A node is entered as `nsenter -t HOLDER -m -n`: the holder is a `sleep`
//! started by `unshare --mount --propagation private` inside the node's
//! network namespace, after it mounted the node's private /run, its own
//! /sys (so /sys/class/net shows the node's interfaces, as `ip netns exec`
//! does), the lab's bpffs on /sys/fs/bpf and the node's binds.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::state::LAB_ENV;

/// How long plumbing commands (`ip`, `tc`, `mount`) may take.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(20);
const NETNS_DIR: &str = "/run/netns";

/// Quotes `s` for sh.
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c))
    {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// What a finished command printed, and whether it succeeded.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// stdout and stderr, trimmed, for messages.
    pub fn text(&self) -> String {
        let mut s = self.stdout.trim_end().to_owned();
        if !self.stderr.trim().is_empty() {
            if !s.is_empty() {
                s.push('\n');
            }
            s.push_str(self.stderr.trim_end());
        }
        s
    }
}

/// Runs `cmd` with captured output; `Err` only when it cannot start or
/// outlives `timeout` (then its process group is killed).
pub fn run(mut cmd: Command, timeout: Duration) -> Result<Outcome, String> {
    let shown = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
    let pgid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(out)) => Ok(Outcome {
            ok: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }),
        Ok(Err(e)) => Err(format!("{shown}: {e}")),
        Err(_) => {
            signal(&[format!("-{pgid}")], "KILL");
            Err(format!("{shown} timed out after {timeout:?}"))
        }
    }
}

/// Like [`run`] in a thread, also signalling on the returned channel when
/// the command prints its first line (a readiness line).
pub fn spawn_reader(
    mut cmd: Command,
    timeout: Duration,
) -> (
    std::thread::JoinHandle<Result<Outcome, String>>,
    mpsc::Receiver<()>,
) {
    let (first_tx, first_rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let shown = format!("{cmd:?}");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {shown}: {e}"))?;
        let pgid = child.id();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut text);
            text
        });
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let finished = done.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + timeout;
            while Instant::now() < deadline {
                if finished.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            signal(&[format!("-{pgid}")], "KILL");
        });
        let mut out = String::new();
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            let _ = first_tx.send(());
            out.push_str(&line);
            line.clear();
        }
        let status = child.wait().map_err(|e| format!("{shown}: {e}"));
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let status = status?;
        Ok(Outcome {
            ok: status.success(),
            code: status.code(),
            stdout: out,
            stderr: errors.join().unwrap_or_default(),
        })
    });
    (handle, first_rx)
}

/// Runs a plumbing command that must succeed.
pub fn must<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Result<String, String> {
    let mut cmd = Command::new(program);
    cmd.args(args);
    let line = std::iter::once(program.to_owned())
        .chain(args.iter().map(|a| sh_quote(&a.as_ref().to_string_lossy())))
        .collect::<Vec<_>>()
        .join(" ");
    let out = run(cmd, CMD_TIMEOUT)?;
    if out.ok {
        Ok(out.stdout)
    } else {
        Err(format!("`{line}` failed: {}", out.text()))
    }
}

/// Whether this process runs with effective uid 0.
pub fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        == Some("0")
}

/// Names under /run/netns.
pub fn netns_names() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

pub fn netns_exists(name: &str) -> bool {
    Path::new(NETNS_DIR).join(name).exists()
}

/// Pids of the processes in namespace `ns`.
pub fn netns_pids(ns: &str) -> Vec<u32> {
    let out = must("ip", &["netns", "pids", ns]).unwrap_or_default();
    out.split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Whether `pid` runs (exists and is not a zombie).
pub fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the parenthesised command name.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim().chars().next());
    !matches!(state, Some('Z' | 'X') | None)
}

/// Whether `pid` carries lab `lab`'s tag; a pid from a state file is only
/// ever signalled if it does (it may have been reused since).
pub fn tagged(pid: u32, lab: &str) -> bool {
    let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
        return false;
    };
    let needle = format!("{LAB_ENV}={lab}");
    environ.split(|&b| b == 0).any(|v| v == needle.as_bytes())
}

/// Every live pid tagged with lab `lab`.
pub fn tagged_pids(lab: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = std::process::id();
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| p != me && tagged(p, lab) && alive(p))
        .collect()
}

/// The command line of `pid`, for status.
pub fn cmdline(pid: u32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let words: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    words.join(" ")
}

/// Sends `sig` to each target (a pid, or `-pgid`); errors ignored.
pub fn signal(targets: &[String], sig: &str) {
    if targets.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .args(["-s", sig, "--"])
        .args(targets)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// SIGTERM to `pids` (and their groups), SIGKILL to what is left after
/// `grace`; returns the pids that survived even that.
pub fn stop(pids: &[u32], grace: Duration) -> Vec<u32> {
    let targets = |pids: &[u32]| -> Vec<String> {
        pids.iter()
            .flat_map(|p| [p.to_string(), format!("-{p}")])
            .collect()
    };
    let mut left: Vec<u32> = pids.iter().copied().filter(|&p| alive(p)).collect();
    signal(&targets(&left), "TERM");
    let deadline = Instant::now() + grace;
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        left.retain(|&p| alive(p));
    }
    signal(&targets(&left), "KILL");
    let deadline = Instant::now() + Duration::from_secs(2);
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        left.retain(|&p| alive(p));
    }
    left
}

/// A command run inside a node: its namespaces, the lab's PATH and tag,
/// the node's env.
pub fn in_node(holder: u32, path: &str, lab: &str, env: &[(String, String)]) -> Command {
    let mut cmd = Command::new("nsenter");
    cmd.args(["-t", &holder.to_string(), "-m", "-n", "--"])
        .current_dir("/")
        .env("PATH", path)
        .env(LAB_ENV, lab);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Starts a node's holder: `script` runs in a new private mount namespace
/// inside network namespace `netns`, prints `ready` when its mounts are
/// done and then execs a sleep. Returns its pid once `ready` was read, or
/// what it printed when it failed.
pub fn spawn_holder(netns: &str, lab: &str, script: &str, log: &Path) -> Result<u32, String> {
    let err = File::options()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
    let mut cmd = Command::new("nsenter");
    cmd.arg(format!("--net=/run/netns/{netns}"))
        .args(["--", "unshare", "--mount", "--propagation", "private", "--"])
        .args(["sh", "-c", script])
        .current_dir("/")
        .env(LAB_ENV, lab)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(err)
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start nsenter/unshare: {e}"))?;
    let pid = child.id();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(CMD_TIMEOUT).unwrap_or_default();
    if line.trim() == "ready" {
        // The holder outlives a CLI run (init adopts it); in a long-lived
        // caller such as a test, reap it when `down` ends it.
        std::thread::spawn(move || {
            let mut child = child;
            let _ = child.wait();
        });
        return Ok(pid);
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(log).unwrap_or_default();
    Err(format!(
        "setting up the node's mounts failed:\n{}",
        tail(&log, 20)
    ))
}

/// Starts `command` (a shell command) in a node as a process-group leader
/// with stdout and stderr appended to `log`; returns its pid.
pub fn spawn_in_node(mut cmd: Command, command: &str, log: &Path) -> Result<u32, String> {
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    // A simple command replaces the shell, so its pid is the daemon's.
    let simple = !command.contains(|c: char| ";&|<>()$`\n\"'*?".contains(c));
    let line = if simple && !command.trim_start().starts_with("exec ") {
        format!("exec {command}")
    } else {
        command.to_owned()
    };
    cmd.args(["sh", "-c", &line])
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start `{command}`: {e}"))?;
    let pid = child.id();
    // Reap it in the background while we live, so that `alive` sees an
    // early exit instead of a zombie's pid.
    std::thread::spawn(move || {
        let mut child = child;
        let _ = child.wait();
    });
    Ok(pid)
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// First-level directories of the host's /run with mode and owner, to
/// recreate (empty) in a node's private /run so that daemons find
/// `/run/frr` owned by frr, and so on.
pub fn run_skeleton() -> Vec<(String, u32, u32, u32)> {
    let Ok(dir) = std::fs::read_dir("/run") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if meta.is_dir() && name != "netns" {
            out.push((name, meta.mode() & 0o7777, meta.uid(), meta.gid()));
        }
    }
    out.sort();
    out
}

/// Whether `path` is a mount point (listed in /proc/self/mounts).
pub fn is_mounted(path: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let want = path.to_string_lossy();
    mounts
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(want.as_ref()))
}
