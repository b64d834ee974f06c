//! Running short commands with a deadline and turning failures into
//! messages a test log can be debugged from.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a command started with [`Node::run`](crate::Node::run) may take.
/// Generous, because it only exists so a wedged command fails the test
/// instead of hanging CI forever.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// A command that could not be started, exited unsuccessfully or timed out.
#[derive(Debug)]
pub struct CommandError {
    /// The command line (quoted for reading, not pasting), where it ran (a
    /// namespace name or `host`) and why it failed: an exit status, a
    /// timeout or a spawn error.
    pub summary: String,
    pub stdout: String,
    pub stderr: String,
    /// `None` when it never ran to completion.
    pub status: Option<ExitStatus>,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary)?;
        for (name, text) in [("stderr", &self.stderr), ("stdout", &self.stdout)] {
            if !text.trim().is_empty() {
                write!(f, "\n--- {name} ---\n{}", text.trim_end())?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for CommandError {}

/// Renders arguments for messages; quotes only what would be ambiguous.
pub(crate) fn display_args<S: AsRef<OsStr>>(args: &[S]) -> String {
    let words: Vec<String> = args
        .iter()
        .map(|a| {
            let s = a.as_ref().to_string_lossy();
            if s.is_empty() || s.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'') {
                format!("{s:?}")
            } else {
                s.into_owned()
            }
        })
        .collect();
    words.join(" ")
}

/// Runs `cmd` to completion with captured output; fails on a non-zero exit
/// or when `timeout` passes (then the whole process group is killed).
pub(crate) fn run_captured(
    mut cmd: Command,
    place: &str,
    command: String,
    timeout: Duration,
) -> Result<String, CommandError> {
    let fail = |reason: String, output: Option<&Output>| CommandError {
        summary: format!("`{command}` in {place}: {reason}"),
        stdout: output.map_or_else(String::new, |o| lossy(&o.stdout)),
        stderr: output.map_or_else(String::new, |o| lossy(&o.stderr)),
        status: output.map(|o| o.status),
    };
    // Own process group, so a timeout can take down anything it forked.
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let child = cmd
        .spawn()
        .map_err(|e| fail(format!("cannot start: {e}"), None))?;
    let pgid = child.id();
    // std has no wait-with-timeout; a thread owns the child and the pipes
    // (reading both pipes there also avoids a full-pipe deadlock).
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = match rx.recv_timeout(timeout) {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => return Err(fail(format!("cannot collect output: {e}"), None)),
        Err(_) => {
            signal_group(pgid, "KILL");
            let partial = rx
                .recv_timeout(Duration::from_secs(5))
                .ok()
                .and_then(Result::ok);
            let mut err = fail(format!("timed out after {timeout:?}"), partial.as_ref());
            err.status = None;
            return Err(err);
        }
    };
    if output.status.success() {
        Ok(lossy(&output.stdout))
    } else {
        Err(fail(output.status.to_string(), Some(&output)))
    }
}

/// Sends `signal` to every process in group `pgid`. Shells out to kill(1)
/// because the workspace forbids `unsafe` and std only has SIGKILL-one-pid.
/// Failures (typically "no such process") are deliberately ignored: callers
/// use this in teardown where the target may already be gone.
pub(crate) fn signal_group(pgid: u32, signal: &str) {
    signal_pids(&[format!("-{pgid}")], signal);
}

/// Sends `signal` to each pid (or `-pgid`) in `targets`; errors ignored.
pub(crate) fn signal_pids(targets: &[String], signal: &str) {
    if targets.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg("-s")
        .arg(signal)
        .arg("--")
        .args(targets)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Runs an `ip` command in the host namespace; used for lab plumbing.
pub(crate) fn host_ip<S: AsRef<OsStr>>(args: &[S]) -> Result<String, CommandError> {
    let mut cmd = Command::new("ip");
    cmd.args(args);
    let command = format!("ip {}", display_args(args));
    run_captured(cmd, "host", command, RUN_TIMEOUT)
}

pub(crate) fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_carry_status_and_stderr() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo oops >&2; exit 3"]);
        let err = run_captured(cmd, "host", "sh".into(), RUN_TIMEOUT).unwrap_err();
        assert_eq!(err.status.and_then(|s| s.code()), Some(3));
        let text = err.to_string();
        assert!(text.contains("exit status: 3"), "{text}");
        assert!(text.contains("--- stderr ---\noops"), "{text}");
        assert!(text.contains("--- stdout ---\nout"), "{text}");
    }

    #[test]
    fn timeouts_kill_the_group() {
        let mut cmd = Command::new("sh");
        // The grandchild holds the pipes open: only a group kill ends it.
        cmd.args(["-c", "sleep 30 & sleep 30"]);
        let started = std::time::Instant::now();
        let err = run_captured(cmd, "host", "sh".into(), Duration::from_millis(200)).unwrap_err();
        assert!(err.summary.ends_with("timed out after 200ms"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn args_are_quoted_only_when_needed() {
        assert_eq!(display_args(&["ip", "a b", ""]), r#"ip "a b" """#);
    }
}
