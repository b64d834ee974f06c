//! One measurement: a lab of two namespaces (feeder, receiver) joined by a
//! veth, the receiver started and idle, then the feeder, then polling the
//! receiver's count every 100 ms until it holds the whole table.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use sluice_testns::{Lab, ProcessHandle};

use crate::receivers::{Kind, Mode, Receiver};

pub const FEEDER_ASN: u32 = 65001;
pub const RECEIVER_ASN: u32 = 64500;
pub const FEEDER_V4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
pub const RECEIVER_V4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
pub const FEEDER_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
pub const RECEIVER_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
/// The second feeder (the churn phase) on a link of its own.
pub const FEEDER2_V4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);
pub const RECEIVER2_V4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 6);
pub const FEEDER2_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 1);
pub const RECEIVER2_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 2);

/// The longest the adaptive poll interval grows to.
const MAX_POLL: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct RunSpec<'a> {
    pub kind: Kind,
    pub mode: Mode,
    pub stream: &'a Path,
    /// The same table from the second feeder (its own next hops).
    pub stream2: &'a Path,
    /// The first feeder's withdrawal of the whole table.
    pub withdraw: &'a Path,
    pub total: u64,
    /// Routes that must be in the receiver's RIB at the end, with their AS paths.
    pub samples: &'a [(ipnet::IpNet, Vec<u32>)],
    pub timeout: Duration,
    /// How often the receiver's count is read.
    pub poll: Duration,
    pub sluice: &'a Path,
    pub exe: &'a Path,
    /// RPKI: the ROA file StayRTR serves and its VRP count.
    pub rpki: Option<(&'a Path, usize)>,
}

/// What one receiver did with one table.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub kind: Kind,
    pub mode: Mode,
    pub finished: bool,
    /// OPEN exchange to the first poll that saw the whole table (or to the timeout).
    pub seconds: f64,
    /// The poll before that one: the table was completed in between.
    pub seconds_before: f64,
    pub count: u64,
    pub total: u64,
    /// VmRSS once started and idle, before the session.
    pub baseline_kb: u64,
    pub peak_kb: u64,
    pub final_kb: u64,
    /// User + system CPU time of the receiver during the load.
    pub cpu_seconds: f64,
    /// OPEN exchange to the data plane holding every route (the XDP maps
    /// in `Mode::Xdp`, the kernel table in `Mode::Full`), if measured.
    pub fib_seconds: Option<f64>,
    /// Of the peak RSS: mmapped BPF maps (the XDP FIB), at the end.
    pub maps_kb: u64,
    /// After the load, a second session sends the same table with a lower
    /// router id (every best path moves): its OPEN exchange to the
    /// receiver counting both tables, and the peak RSS then.
    pub churn_seconds: Option<f64>,
    pub churn_peak_kb: u64,
    /// The second session closed: to the receiver counting one table.
    pub down_seconds: Option<f64>,
    /// The first feeder withdraws its whole table: from its first
    /// withdrawal to the receiver counting none, and to the data plane
    /// holding none.
    pub withdraw_seconds: Option<f64>,
    pub fib_withdraw_seconds: Option<f64>,
    /// OPEN exchange to the feeder having handed everything to the kernel.
    pub feeder_done: Option<f64>,
    /// (seconds since OPEN, count), about one a second.
    pub samples: Vec<(f64, u64)>,
    /// Count queries made, and how long they took.
    pub polls: u32,
    pub mean_poll: Duration,
    pub slowest_poll: Duration,
    pub error: Option<String>,
}

impl Outcome {
    /// Peak RSS above the idle daemon, per route in the table.
    pub fn bytes_per_route(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        (self.peak_kb.saturating_sub(self.baseline_kb) * 1024) as f64 / self.count as f64
    }

    pub fn to_json(&self) -> Value {
        json!({
            "receiver": self.kind.name(),
            "dataplane": self.mode.name(),
            "finished": self.finished,
            "seconds": round3(self.seconds),
            "seconds_previous_poll": round3(self.seconds_before),
            "count": self.count,
            "total": self.total,
            "baseline_rss_kib": self.baseline_kb,
            "peak_rss_kib": self.peak_kb,
            "final_rss_kib": self.final_kb,
            "bytes_per_route": self.bytes_per_route().round(),
            "cpu_seconds": round3(self.cpu_seconds),
            "fib_seconds": self.fib_seconds.map(round3),
            "bpf_maps_rss_kib": self.maps_kb,
            "churn_seconds": self.churn_seconds.map(round3),
            "churn_peak_rss_kib": self.churn_peak_kb,
            "peer_down_seconds": self.down_seconds.map(round3),
            "withdraw_seconds": self.withdraw_seconds.map(round3),
            "fib_withdraw_seconds": self.fib_withdraw_seconds.map(round3),
            "feeder_sent_seconds": self.feeder_done.map(round3),
            "polls": self.polls,
            "mean_poll_ms": round3(self.mean_poll.as_secs_f64() * 1e3),
            "slowest_poll_ms": round3(self.slowest_poll.as_secs_f64() * 1e3),
            "samples": self.samples.iter().map(|(t, c)| json!([round3(*t), c])).collect::<Vec<_>>(),
            "error": self.error,
        })
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub fn measure(spec: &RunSpec<'_>) -> Outcome {
    let lab = Lab::new("fulltable");
    let prefix = lab.prefix().to_owned();
    let outcome = measure_in(&lab, spec);
    drop(lab);
    let left = sluice_testns::leftovers(&prefix);
    if !left.is_empty() {
        eprintln!("warning: lab {prefix} left behind: {left:?}");
    }
    outcome
}

fn measure_in(lab: &Lab, spec: &RunSpec<'_>) -> Outcome {
    let mut out = Outcome {
        kind: spec.kind,
        mode: spec.mode,
        finished: false,
        seconds: 0.0,
        seconds_before: 0.0,
        count: 0,
        total: spec.total,
        baseline_kb: 0,
        peak_kb: 0,
        final_kb: 0,
        cpu_seconds: 0.0,
        fib_seconds: None,
        maps_kb: 0,
        churn_seconds: None,
        churn_peak_kb: 0,
        down_seconds: None,
        withdraw_seconds: None,
        fib_withdraw_seconds: None,
        feeder_done: None,
        samples: Vec::new(),
        polls: 0,
        mean_poll: Duration::ZERO,
        slowest_poll: Duration::ZERO,
        error: None,
    };
    let feed = lab.node("feed");
    let feed2 = lab.node("feed2");
    let recv = lab.node("recv");
    lab.link(&feed, "eth1", &recv, "eth1");
    lab.link(&feed2, "eth1", &recv, "eth2");
    feed2.addr("eth1", &format!("{FEEDER2_V4}/30"));
    recv.addr("eth2", &format!("{RECEIVER2_V4}/30"));
    for (node, ifname, addr) in [(&feed2, "eth1", FEEDER2_V6), (&recv, "eth2", RECEIVER2_V6)] {
        node.ip(["addr", "add", &format!("{addr}/64"), "dev", ifname, "nodad"]);
    }
    feed.addr("eth1", &format!("{FEEDER_V4}/30"));
    recv.addr("eth1", &format!("{RECEIVER_V4}/30"));
    // nodad: usable at once, so BIRD sees the IPv6 next hop on-link.
    feed.ip([
        "addr",
        "add",
        &format!("{FEEDER_V6}/64"),
        "dev",
        "eth1",
        "nodad",
    ]);
    recv.ip([
        "addr",
        "add",
        &format!("{RECEIVER_V6}/64"),
        "dev",
        "eth1",
        "nodad",
    ]);

    let dir = lab.log_dir().join(spec.kind.name());
    std::fs::create_dir_all(&dir).expect("receiver dir");
    let _bpffs = (spec.kind == Kind::Sluice && spec.mode != Mode::Off)
        .then(|| Bpffs::mount(&dir.join("bpffs")));
    let receiver = Receiver {
        kind: spec.kind,
        mode: spec.mode,
        dir: dir.clone(),
        sluice: spec.sluice.to_path_buf(),
        rpki: spec.rpki.is_some(),
    };
    // The cache first, so the receiver finds it at once.
    let _cache = spec
        .rpki
        .map(|(roas, _)| recv.spawn(crate::roas::stayrtr(roas)));
    let daemon = recv.spawn(receiver.prepare());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !receiver.ready() {
        if !daemon.is_running() || Instant::now() > deadline {
            out.error = Some(format!("receiver did not start:\n{}", tail(&daemon.log())));
            return out;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Every VRP in the receiver before the session: the load is measured
    // with validation on from its first route.
    if let Some((_, vrps)) = spec.rpki {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            match receiver.vrps() {
                Ok(n) if n >= vrps as u64 => break,
                _ if Instant::now() > deadline || !daemon.is_running() => {
                    out.error = Some(format!(
                        "the receiver never held the {vrps} VRPs ({:?}):\n{}",
                        receiver.vrps(),
                        tail(&daemon.log())
                    ));
                    return out;
                }
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }
    let pid = daemon.pid();
    std::thread::sleep(Duration::from_millis(300));
    out.baseline_kb = status_kb(pid, "VmRSS:").unwrap_or(0);
    // Connected and local routes are there before the session.
    let fib_idle = receiver.fib_count(pid).map(|c| c.unwrap_or(0));
    let cpu_before = cpu_seconds(pid).unwrap_or(0.0);

    let feeder = feed.spawn([
        spec.exe.to_string_lossy().as_ref(),
        "feed",
        "--stream",
        spec.stream.to_string_lossy().as_ref(),
        "--connect",
        &RECEIVER_V4.to_string(),
        "--asn",
        &FEEDER_ASN.to_string(),
        "--router-id",
        &FEEDER_V4.to_string(),
        "--flag",
        dir.join("withdraw.flag").to_string_lossy().as_ref(),
        "--then",
        spec.withdraw.to_string_lossy().as_ref(),
    ]);
    // The feeder reads the stream file first; then the handshake.
    let deadline = Instant::now() + Duration::from_secs(60);
    let open_ns = loop {
        if let Some(t) = milestone(&feeder, "established") {
            break t;
        }
        if !feeder.is_running() || Instant::now() > deadline {
            out.error = Some(format!(
                "no session: feeder says:\n{}\nreceiver says:\n{}",
                tail(&feeder.log()),
                tail(&daemon.log())
            ));
            return out;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let since_open = |ns: u128| ns.saturating_sub(open_ns) as f64 / 1e9;

    // A poll must not become the receiver's main work: where counting is
    // work of its own (GoBGP walks its whole Adj-RIB-In to count), the
    // next poll waits ten times as long as the last one took (at most
    // MAX_POLL). Elsewhere a slow answer is a busy receiver, not a costly
    // count, and backing off would only round its time up.
    let costly = receiver.count_is_costly();
    let mut query_total = Duration::ZERO;
    let mut last_sample = -1.0;
    let mut last_report = Instant::now();
    loop {
        let asked = Instant::now();
        let count = receiver.count();
        let took = asked.elapsed();
        out.polls += 1;
        query_total += took;
        out.slowest_poll = out.slowest_poll.max(took);
        let next_poll = asked + poll_interval(spec.poll, took, costly);
        let t = since_open(now_ns());
        match count {
            Ok(c) => {
                out.count = c;
                if t - last_sample >= 1.0 || c >= spec.total {
                    out.samples.push((t, c));
                    last_sample = t;
                }
                if c >= spec.total {
                    out.finished = true;
                    out.seconds = t;
                    break;
                }
                out.seconds_before = t;
            }
            Err(e) if !daemon.is_running() => {
                out.error = Some(format!("receiver exited: {e}\n{}", tail(&daemon.log())));
                out.seconds = t;
                break;
            }
            // Busy daemons may miss a poll; the next one counts.
            Err(_) => {}
        }
        if !feeder.is_running() && out.error.is_none() {
            out.error = Some(format!("feeder stopped:\n{}", tail(&feeder.log())));
        }
        if t > spec.timeout.as_secs_f64() {
            out.seconds = t;
            break;
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            eprintln!("    {:>6.1} s: {} of {} routes", t, out.count, spec.total);
            last_report = Instant::now();
        }
        std::thread::sleep(next_poll.saturating_duration_since(Instant::now()));
    }
    if out.finished
        && let Some(idle) = fib_idle
    {
        out.fib_seconds = fib_complete(&receiver, pid, idle, spec, &since_open, &mut out);
    }
    out.cpu_seconds = cpu_seconds(pid).unwrap_or(0.0) - cpu_before;
    out.mean_poll = query_total / out.polls.max(1);
    out.feeder_done = milestone(&feeder, "sent").map(since_open);
    // Let any work after the last route (export sync, GC) show in the peak.
    std::thread::sleep(Duration::from_secs(2));
    out.peak_kb = status_kb(pid, "VmHWM:").unwrap_or(0);
    out.maps_kb = crate::receivers::bpf_maps_kb(pid);
    out.final_kb = status_kb(pid, "VmRSS:").unwrap_or(0);
    if out.finished {
        // The count must settle at the table size, not beyond it.
        match receiver.count() {
            Ok(c) if c == spec.total => {}
            Ok(c) => out.error = Some(format!("count settled at {c}, table has {}", spec.total)),
            Err(e) => out.error = Some(e),
        }
        for (prefix, path) in spec.samples {
            match receiver.as_path(prefix) {
                Ok(Some(got)) if got == *path => {}
                Ok(got) => {
                    out.error = Some(format!("{prefix}: AS path {got:?}, sent {path:?}"));
                }
                Err(e) => out.error = Some(format!("{prefix}: {e}")),
            }
        }
    }
    if out.finished && out.error.is_none() {
        let after = After {
            lab_feed2: &feed2,
            receiver: &receiver,
            pid,
            fib_idle,
            dir: &dir,
            feeder: &feeder,
            since_open: &since_open,
        };
        after.run(spec, &mut out);
    }
    if !daemon.is_running() {
        out.error
            .get_or_insert_with(|| format!("receiver exited:\n{}", tail(&daemon.log())));
    }
    out
}

/// The phases after the load: churn, a session lost, the withdrawal.
struct After<'a, 'lab> {
    lab_feed2: &'a sluice_testns::Node<'lab>,
    receiver: &'a Receiver,
    pid: u32,
    fib_idle: Option<u64>,
    dir: &'a Path,
    feeder: &'a ProcessHandle,
    since_open: &'a dyn Fn(u128) -> f64,
}

impl After<'_, '_> {
    fn run(&self, spec: &RunSpec<'_>, out: &mut Outcome) {
        let total = spec.total;
        // Churn: the same table from a second session whose router id is
        // lower, so that its paths win every tie.
        let feeder2 = self.lab_feed2.spawn([
            spec.exe.to_string_lossy().as_ref(),
            "feed",
            "--stream",
            spec.stream2.to_string_lossy().as_ref(),
            "--connect",
            &RECEIVER2_V4.to_string(),
            "--asn",
            &FEEDER_ASN.to_string(),
            "--router-id",
            "10.0.0.1",
        ]);
        let deadline = Instant::now() + Duration::from_secs(60);
        let open2 = loop {
            if let Some(t) = milestone(&feeder2, "established") {
                break t;
            }
            if !feeder2.is_running() || Instant::now() > deadline {
                out.error = Some(format!("second session: {}", tail(&feeder2.log())));
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let Some(done) = self.poll(spec, |c| c >= 2 * total, "both tables", out) else {
            return;
        };
        out.churn_seconds = Some((done.saturating_sub(open2)) as f64 / 1e9);
        std::thread::sleep(Duration::from_secs(1));
        out.churn_peak_kb = status_kb(self.pid, "VmHWM:").unwrap_or(0);
        self.settle(spec);

        // The second session goes away: its table leaves.
        let lost = now_ns();
        feeder2.stop();
        let Some(done) = self.poll(spec, |c| c <= total, "one table again", out) else {
            return;
        };
        out.down_seconds = Some(done.saturating_sub(lost) as f64 / 1e9);
        self.settle(spec);

        // The first feeder withdraws everything.
        let _ = std::fs::write(self.dir.join("withdraw.flag"), b"");
        let Some(done) = self.poll(spec, |c| c == 0, "no route", out) else {
            return;
        };
        let Some(started) = milestone(self.feeder, "withdrawing") else {
            out.error = Some("the feeder did not start withdrawing".into());
            return;
        };
        out.withdraw_seconds = Some((self.since_open)(done) - (self.since_open)(started));
        if let Some(idle) = self.fib_idle {
            let deadline = Instant::now() + spec.timeout;
            let mut last = None;
            loop {
                match self.receiver.fib_count(self.pid) {
                    // The kernel adds a few routes of its own as links
                    // settle (IPv6 link-local and multicast): not ours.
                    Some(Ok(c)) if c <= idle + 16 => {
                        out.fib_withdraw_seconds =
                            Some((self.since_open)(now_ns()) - (self.since_open)(started));
                        break;
                    }
                    Some(Ok(c)) => last = Some(c),
                    _ => {}
                }
                if Instant::now() > deadline {
                    out.error = Some(format!(
                        "the data plane kept {last:?} routes after the withdrawal (idle {idle})"
                    ));
                    break;
                }
                std::thread::sleep(spec.poll);
            }
        }
    }

    /// Each phase starts with the receiver idle: Sluice's data plane has
    /// taken the previous phase's changes (nothing waits to be placed or
    /// written to the kernel), so that a row counts the work of its own
    /// event only. BIRD has no such queue.
    fn settle(&self, spec: &RunSpec<'_>) {
        if self.receiver.kind != Kind::Sluice {
            return;
        }
        let deadline = Instant::now() + spec.timeout;
        while Instant::now() < deadline {
            let idle = self.receiver.cli(&["status", "--json"]).is_ok_and(|out| {
                let v: Value = serde_json::from_str(&out).unwrap_or_default();
                let dp = &v["dataplane"];
                dp["waiting"] == 0 && dp["kernel_pending"] == 0
            });
            if idle {
                return;
            }
            std::thread::sleep(spec.poll);
        }
    }

    /// Polls the RIB count until `done`; the time it held, or None with
    /// an error in `out`.
    fn poll(
        &self,
        spec: &RunSpec<'_>,
        done: impl Fn(u64) -> bool,
        what: &str,
        out: &mut Outcome,
    ) -> Option<u128> {
        let deadline = Instant::now() + spec.timeout;
        let mut last = None;
        loop {
            let asked = Instant::now();
            match self.receiver.count() {
                Ok(c) if done(c) => return Some(now_ns()),
                Ok(c) => last = Some(c),
                Err(_) => {}
            }
            if Instant::now() > deadline {
                let peers = match self.receiver.kind {
                    Kind::Sluice => self.receiver.cli(&["show", "peers"]).unwrap_or_default(),
                    _ => String::new(),
                };
                out.error = Some(format!("waiting for {what}: count {last:?}\n{peers}"));
                return None;
            }
            pause(spec.poll, asked, self.receiver.count_is_costly());
        }
    }
}

/// A bpffs of the run's own for the data plane's pins: `ip netns exec`
/// hides /sys/fs/bpf, and no run may meet another's maps. Unmounted when
/// dropped, after the daemon (declared before it).
struct Bpffs(PathBuf);

impl Bpffs {
    fn mount(dir: &Path) -> Bpffs {
        std::fs::create_dir_all(dir).expect("bpffs dir");
        let ok = std::process::Command::new("mount")
            .args(["-t", "bpf", "bpf"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "mount -t bpf {} failed", dir.display());
        Bpffs(dir.to_path_buf())
    }
}

impl Drop for Bpffs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Polls the receiver's data plane until it holds the whole table: the
/// time since OPEN, or None (and an error in `out`) at the timeout.
fn fib_complete(
    receiver: &Receiver,
    pid: u32,
    idle: u64,
    spec: &RunSpec<'_>,
    since_open: &dyn Fn(u128) -> f64,
    out: &mut Outcome,
) -> Option<f64> {
    let mut last = 0;
    loop {
        let asked = Instant::now();
        let t = since_open(now_ns());
        match receiver.fib_count(pid) {
            Some(Ok(c)) if c.saturating_sub(idle) >= spec.total => return Some(t),
            Some(Ok(c)) => last = c.saturating_sub(idle),
            Some(Err(e)) => out.error = Some(format!("data plane count: {e}")),
            None => return None,
        }
        if t > spec.timeout.as_secs_f64() {
            out.error = Some(format!(
                "data plane holds {last} of {} routes after {t:.0} s",
                spec.total
            ));
            return None;
        }
        pause(spec.poll, asked, receiver.fib_count_is_costly());
    }
}

/// From one poll to the next: `poll`, or for a `costly` count at least ten
/// times what asking took (up to [`MAX_POLL`]), so that polling does not
/// become the receiver's main work.
fn poll_interval(poll: Duration, took: Duration, costly: bool) -> Duration {
    if !costly {
        return poll;
    }
    poll.max((took * 10).min(MAX_POLL))
}

/// Sleeps until the next poll of something asked at `asked`.
fn pause(poll: Duration, asked: Instant, costly: bool) {
    let took = asked.elapsed();
    std::thread::sleep(poll_interval(poll, took, costly).saturating_sub(took));
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// The `unix_ns=` of the feeder's line starting with `word`.
fn milestone(feeder: &ProcessHandle, word: &str) -> Option<u128> {
    feeder
        .log()
        .lines()
        .filter(|l| l.starts_with(word))
        .find_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("unix_ns="))
                .and_then(|n| n.parse().ok())
        })
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// A `kB` field of /proc/PID/status.
pub fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// utime + stime of every thread, from /proc/PID/stat (USER_HZ is 100).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after it do not.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// `target/` of this build: the bench binary lives in `target/<profile>/`.
pub fn target_dir(exe: &Path) -> PathBuf {
    exe.parent()
        .and_then(Path::parent)
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
}
