//! `sluice run` driven over its control socket: status, reloads good and
//! bad (by command and by SIGHUP), a second daemon on the same socket, the
//! metrics endpoint, and a clean stop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");

/// A daemon in a temp dir, killed on drop if the test fails before stopping it.
struct Daemon {
    child: Child,
    dir: tempfile::TempDir,
}

impl Daemon {
    fn start(config: &str) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c.yaml"), config).unwrap();
        let child = Daemon::spawn(dir.path());
        let d = Daemon { child, dir };
        d.wait_answering();
        d
    }

    fn spawn(dir: &Path) -> Child {
        run_in(dir, &["--metrics", "127.0.0.1:0", "--log-format", "json"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn wait_answering(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.client(&["status"]).status.code() != Some(0) {
            assert!(
                Instant::now() < deadline,
                "daemon did not answer within 10 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops it (SIGTERM) and starts it again on the same directory.
    fn restart(&mut self) {
        self.signal("TERM");
        assert!(self.child.wait().unwrap().success());
        self.child = Daemon::spawn(self.dir.path());
        self.wait_answering();
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn client(&self, args: &[&str]) -> Output {
        let sock = self.path("s.sock");
        Command::new(SLUICE)
            .args(args)
            .args(["--socket", sock.to_str().unwrap()])
            .output()
            .unwrap()
    }

    fn status(&self) -> serde_json::Value {
        let o = self.client(&["status", "--json"]);
        assert_eq!(o.status.code(), Some(0));
        serde_json::from_slice(&o.stdout).unwrap()
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args(["-s", sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -s {sig}");
    }

    /// [`Self::stop`], handing its directory to the caller.
    fn stop_keeping_dir(mut self) -> (Option<i32>, tempfile::TempDir) {
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        let (code, _) = self.stop();
        (code, dir)
    }

    fn stop(mut self) -> (Option<i32>, String) {
        self.signal("TERM");
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = self.child.wait().unwrap();
        (status.code(), err)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sluice run` on `dir`'s c.yaml with the socket and state there, plus `extra` flags.
fn run_in(dir: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(SLUICE);
    c.args([
        "run",
        "-c",
        "c.yaml",
        "--socket",
        "s.sock",
        "--state-dir",
        "state",
    ])
    .args(extra)
    .current_dir(dir);
    c
}

/// The example config, with the data plane off: these daemons run in the
/// caller's network namespace and must keep their hands off its
/// interfaces and routes.
fn example() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/example.yaml"),
    )
    .unwrap()
    .replace("  xdp: native", "  xdp: off")
    .replace("  kernel_fib: full", "  kernel_fib: off")
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn http_get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn daemon_serves_status_reloads_and_stops_cleanly() {
    let d = Daemon::start(&example());
    let status = d.status();
    let first_sha = status["config"]["sha256"].as_str().unwrap().to_string();
    assert_eq!(status["uplinks"][0]["name"], "iap-a");
    assert_eq!(status["uplinks"].as_array().unwrap().len(), 2);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(d.path("s.sock")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o660);
    assert!(d.path("state").is_dir());

    // Human status names the config and its hash.
    let o = d.client(&["status"]);
    let human = String::from_utf8_lossy(&o.stdout);
    assert!(
        human.contains(&first_sha) && human.contains("c.yaml"),
        "{human}"
    );

    // A second daemon on the same socket is refused; the first keeps serving.
    let o = run_in(d.dir.path(), &["--metrics", "off"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already serving"));
    assert_eq!(d.status()["config"]["sha256"], first_sha);

    // A bad config is refused with its findings; the running one stays.
    std::fs::write(
        d.path("c.yaml"),
        example().replace("interface: eth2", "interface: eth9"),
    )
    .unwrap();
    let o = d.client(&["reload"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("UPLINK-UNKNOWN-INTERFACE") && err.contains("c.yaml:24:16"),
        "{err}"
    );
    let o = d.client(&["reload", "--json"]);
    let refused: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(refused["result"], "refused");
    let error = refused["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["severity"] == "error")
        .unwrap();
    assert_eq!(error["line"], 24, "{refused}");
    assert_eq!(d.status()["config"]["sha256"], first_sha);

    // A good change is applied.
    std::fs::write(
        d.path("c.yaml"),
        example().replace("drained: []", "drained: [iap-b]"),
    )
    .unwrap();
    let o = d.client(&["reload"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let status = d.status();
    let second_sha = status["config"]["sha256"].as_str().unwrap().to_string();
    assert_ne!(second_sha, first_sha);
    assert_eq!(status["uplinks"][1]["state"], "drained");

    // SIGHUP reloads too, and refuses a broken file the same way.
    std::fs::write(d.path("c.yaml"), "router: [").unwrap();
    d.signal("HUP");
    wait_for("refused SIGHUP reload in events", || {
        String::from_utf8_lossy(&d.client(&["show", "events"]).stdout).contains("reload-refused")
    });
    assert_eq!(d.status()["config"]["sha256"], second_sha);
    std::fs::write(d.path("c.yaml"), example()).unwrap();
    d.signal("HUP");
    wait_for("SIGHUP reload", || {
        d.status()["config"]["sha256"] == first_sha
    });

    // Metrics: build info, per-uplink state, reload outcomes.
    let addr = d.status()["metrics"].as_str().unwrap().to_string();
    let body = http_get(&addr, "/metrics");
    assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
    assert!(body.contains("sluice_build_info{version=\""), "{body}");
    assert!(
        body.contains("sluice_uplink_state{uplink=\"iap-b\",state=\"drained\"} 0"),
        "{body}"
    );
    assert!(
        body.contains("sluice_config_reloads_total{result=\"refused\"} 3"),
        "{body}"
    );
    assert!(
        body.contains("sluice_config_reloads_total{result=\"applied\"} 2"),
        "{body}"
    );
    assert!(http_get(&addr, "/nope").starts_with("HTTP/1.1 404"));

    let sock = d.path("s.sock");
    let (code, log) = d.stop();
    assert_eq!(code, Some(0), "{log}");
    assert!(!sock.exists(), "socket removed on stop");
    let stop = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "stop");
    assert!(stop.is_some(), "JSON log has the stop event: {log}");
}

#[test]
fn unconfirmed_reload_rolls_back() {
    let d = Daemon::start(&example());
    let first = d.status()["config"]["sha256"].clone();
    std::fs::write(
        d.path("c.yaml"),
        example().replace("drained: []", "drained: [iap-a]"),
    )
    .unwrap();
    let o = d.client(&["reload", "--confirm-within", "5s"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("rolls back in 5s"));
    assert_ne!(d.status()["config"]["sha256"], first);
    wait_for("rollback", || d.status()["config"]["sha256"] == first);
    let events = String::from_utf8_lossy(&d.client(&["show", "events"]).stdout).into_owned();
    assert!(events.contains("rollback"), "{events}");

    // The same content again is remembered: refused, unless --force.
    let o = d.client(&["reload"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("was rolled back at") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(d.status()["config"]["sha256"], first);
    let o = d.client(&["reload", "--force"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_ne!(d.status()["config"]["sha256"], first);

    // Rolled back again; a start with that content needs --force too.
    std::fs::write(d.path("c.yaml"), example()).unwrap();
    assert_eq!(d.client(&["reload"]).status.code(), Some(0));
    std::fs::write(
        d.path("c.yaml"),
        example().replace("drained: []", "drained: [iap-a]"),
    )
    .unwrap();
    d.client(&["reload", "--confirm-within", "1s"]);
    wait_for("second rollback", || {
        d.status()["config"]["sha256"] == first
    });
    let (code, dir) = d.stop_keeping_dir();
    assert_eq!(code, Some(0));
    let o = run_in(dir.path(), &["--metrics", "off"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("was rolled back") && err.contains("sluice run --force"),
        "{err}"
    );
}

#[test]
fn a_stale_socket_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("s.sock");
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    std::fs::write(dir.path().join("c.yaml"), example()).unwrap();
    let mut child = run_in(dir.path(), &["--metrics", "off"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("daemon on the stale path", || {
        Command::new(SLUICE)
            .args(["status", "--socket", sock.to_str().unwrap()])
            .output()
            .unwrap()
            .status
            .success()
    });
    child.kill().unwrap();
    child.wait().unwrap();
}

/// `sluice drain` and `undrain` against a daemon whose uplinks have no
/// sessions (no root, no interfaces): usage errors, the pre-check naming
/// the static route's line, --dry-run, --force, the state file across a
/// restart, a config-held drain, a torn state file.
#[test]
fn drains_are_checked_recorded_and_survive_a_restart() {
    // Line 37: a static route through iap-a's upstream router.
    let config = example().replace(
        "  - { prefix: 172.16.0.0/12, via: 10.0.0.254 }\n",
        "  - { prefix: 172.16.0.0/12, via: 10.0.0.254 }\n  - { prefix: 198.18.0.0/24, via: 203.0.113.1 }\n",
    );
    assert_eq!(
        config.lines().nth(36),
        Some("  - { prefix: 198.18.0.0/24, via: 203.0.113.1 }")
    );
    let d = Daemon::start(&config);
    let text = |o: &Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };

    let o = d.client(&["drain", "iap-x"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("no uplink is named `iap-x`; uplinks: iap-a, iap-b"),
        "{}",
        text(&o)
    );

    let o = d.client(&["drain", "iap-a"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("error[PINNED-TO-INACTIVE]") && text(&o).contains("c.yaml:37"),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("refused"), "{}", text(&o));
    let o = d.client(&["drain", "iap-a", "--dry-run"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("dry run") && text(&o).contains("nothing changed"));
    assert_ne!(d.status()["uplinks"][0]["state"], "drained");
    assert!(!d.path("state/drains.json").exists());

    let o = d.client(&[
        "drain",
        "iap-a",
        "--force",
        "--reason",
        "fibre work",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (r["result"].as_str(), r["applied"].as_bool()),
        (Some("drain"), Some(true)),
        "{r}"
    );
    let uid = unsafe_free_uid();
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path("state/drains.json")).unwrap())
            .unwrap();
    assert_eq!(file["drains"]["iap-a"]["uid"], uid, "{file}");
    assert_eq!(file["drains"]["iap-a"]["reason"], "fibre work");
    assert!(
        file["drains"]["iap-a"]["forced"][0]
            .as_str()
            .unwrap()
            .starts_with("PINNED-TO-INACTIVE")
    );
    let up = &d.status()["uplinks"][0];
    assert_eq!(up["state"], "drained", "{up}");
    assert_eq!(
        (up["drain"]["from"].as_str(), up["drain"]["uid"].as_u64()),
        (Some("cli"), Some(uid))
    );

    // Idempotent.
    let o = d.client(&["drain", "iap-a"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("already drained"), "{}", text(&o));

    // A restart comes back drained: its first answer says so.
    let mut d = d;
    d.restart();
    assert_eq!(d.status()["uplinks"][0]["state"], "drained");

    let o = d.client(&["undrain", "iap-a"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("uplink iap-a undrained"), "{}", text(&o));
    let file = std::fs::read_to_string(d.path("state/drains.json")).unwrap();
    assert!(!file.contains("iap-a"), "{file}");
    let o = d.client(&["undrain", "iap-a"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        text(&o).contains("not drained: nothing to do"),
        "{}",
        text(&o)
    );

    // A drain the config holds cannot be undone from the CLI. (The static
    // route through iap-a's gateway needs a waiver for any reload now.)
    std::fs::write(
        d.path("c.yaml"),
        format!(
            "{}validate:\n  waive: [{{ rule: PINNED-TO-INACTIVE, uplink: iap-a, reason: test }}]\n",
            config.replace("drained: []", "drained: [iap-b]")
        ),
    )
    .unwrap();
    assert_eq!(d.client(&["reload"]).status.code(), Some(0));
    let o = d.client(&["undrain", "iap-b"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("iap-b is held drained by maintenance.drained (line 46)"),
        "{}",
        text(&o)
    );

    // A torn state file stops the start, never "all active".
    d.signal("TERM");
    assert!(d.child.wait().unwrap().success());
    std::fs::write(d.path("state/drains.json"), "{\"version\": 1, \"drai").unwrap();
    let o = run_in(d.dir.path(), &["--metrics", "off"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("drains.json are unreadable"), "{err}");
}

/// The uid this test runs as, from /proc (no libc call needed).
fn unsafe_free_uid() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|u| u.parse().ok())
        .unwrap()
}

/// kill -9 at any moment of a drain or an undrain leaves a state file the
/// next start reads (the old one or the new one, never a torn one).
#[test]
fn kill_9_during_drains_leaves_a_consistent_state_file() {
    let mut d = Daemon::start(&example());
    for round in 0..8u64 {
        let verb = if round % 2 == 0 { "drain" } else { "undrain" };
        let mut args = vec![verb, "iap-a"];
        if verb == "drain" {
            args.push("--force");
        }
        let sock = d.path("s.sock");
        let mut client = Command::new(SLUICE)
            .args(&args)
            .args(["--socket", sock.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(500 * round));
        d.signal("KILL");
        d.child.wait().unwrap();
        let _ = client.wait();
        if let Ok(text) = std::fs::read_to_string(d.path("state/drains.json")) {
            let v: serde_json::Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("round {round}: torn state file ({e}): {text:?}"));
            assert_eq!(v["version"], 1);
        }
        // The next start reads it.
        d.child = Daemon::spawn(d.dir.path());
        d.wait_answering();
        let drained = d.status()["uplinks"][0]["state"] == "drained";
        let on_disk = std::fs::read_to_string(d.path("state/drains.json"))
            .is_ok_and(|t| t.contains("\"iap-a\""));
        assert_eq!(
            drained, on_disk,
            "round {round}: the state follows the file"
        );
    }
}

/// `show rib --dump` streams the daemon's routes, and `validate
/// --with-rib` takes them from its socket.
#[test]
fn the_rib_dump_streams_from_the_socket() {
    let d = Daemon::start(&example());
    let o = d.client(&["show", "rib", "--dump"]);
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.starts_with("{\"sluice_rib_dump\":1,\"peers\":["),
        "{text}"
    );
    let o = d.client(&["show", "rib"]);
    assert_eq!(o.status.code(), Some(2));
    let sock = d.path("s.sock");
    let o = Command::new(SLUICE)
        .args(["validate", "--with-rib", sock.to_str().unwrap()])
        .arg(d.path("c.yaml"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    // No session is up here: no learned routes, nothing unreachable.
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("c.yaml: ok"), "{out}");
    let (code, _) = d.stop();
    assert_eq!(code, Some(0));
}

/// The name of the group with gid `gid`, from /etc/group.
fn group_name(gid: u32) -> Option<String> {
    std::fs::read_to_string("/etc/group")
        .ok()?
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.get(2) == Some(&gid.to_string().as_str()))
        .map(|f| f[0].to_string())
}

/// With `control.group`, its members read through the socket and may not
/// change anything; the refusal is logged with their uid. Others cannot
/// connect at all. Runs the client as uid 65534 with setpriv, so as root.
#[test]
fn the_control_group_reads_and_only_root_changes() {
    if unsafe_free_uid() != 0 {
        eprintln!("skipped: needs root, to run the client as another uid");
        return;
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skipped: no setpriv");
        return;
    }
    let Some(group) = group_name(65534) else {
        eprintln!("skipped: no group with gid 65534 in /etc/group");
        return;
    };
    let config = example().replace(
        "  state_dir: /var/lib/sluice\n",
        &format!("  state_dir: /var/lib/sluice\n  group: {group}\n"),
    );
    assert!(config.contains("  group: "));
    let d = Daemon::start(&config);
    let sock = d.path("s.sock");
    let meta = std::fs::metadata(&sock).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::gid(&meta), 65534);
    // The temp dir is root's (0700): let others through to the socket.
    std::fs::set_permissions(
        d.dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o711),
    )
    .unwrap();
    let as_uid = |gid: &str, args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid", "65534", "--regid", gid, "--clear-groups", SLUICE])
            .args(args)
            .args(["--socket", sock.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let text = |o: &Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };

    // In the group: reads.
    for read in [&["show", "peers"][..], &["status"], &["show", "routes"]] {
        let o = as_uid("65534", read);
        assert_eq!(o.status.code(), Some(0), "{read:?}: {}", text(&o));
    }
    let o = as_uid("65534", &["show", "peers"]);
    assert!(text(&o).contains("iap-a"), "{}", text(&o));

    // …and may not change anything.
    for change in [
        &["drain", "iap-a", "--force"][..],
        &["reload"],
        &["undrain", "iap-a"],
    ] {
        let o = as_uid("65534", change);
        assert_eq!(o.status.code(), Some(1), "{change:?}: {}", text(&o));
        assert!(
            text(&o).contains("refused")
                && text(&o).contains("changes the router: only root or the daemon's user (uid 0)"),
            "{change:?}: {}",
            text(&o)
        );
    }
    assert_ne!(d.status()["uplinks"][0]["state"], "drained");
    assert!(!d.path("state/drains.json").exists());

    // Not in the group: the socket's mode keeps it out.
    let o = as_uid("65533", &["status"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("Permission denied"), "{}", text(&o));

    // Root still changes things.
    assert_eq!(
        d.client(&["drain", "iap-a", "--force"]).status.code(),
        Some(0)
    );

    let (code, log) = d.stop();
    assert_eq!(code, Some(0), "{log}");
    let refusals: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("control request refused"))
        })
        .collect();
    assert_eq!(refusals.len(), 3, "{log}");
    assert!(refusals.iter().all(|r| r["uid"] == 65534), "{refusals:?}");
    assert!(
        refusals[0]["message"]
            .as_str()
            .unwrap()
            .contains("`drain` changes the router"),
        "{refusals:?}"
    );
}
