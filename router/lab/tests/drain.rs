//! End-to-end: taking an access point out of service, through the lab on
//! the shipped topologies, with BIRD and FRR as the upstreams and
//! sequence-numbered traffic across Sluice while it happens.
//!
//! - a planned drain at 10k packets/s loses no more than a run without one,
//!   leaves nothing on the drained uplink, and the upstream (BIRD,
//!   configured as operators do) gives our prefix local-pref 0;
//! - the incident: a static route through the access point's gateway is
//!   refused naming its line, and a forced drain moves its traffic too;
//! - an access point that stops forwarding while its BGP session stays up
//!   is left within `interval × fail_after` plus a second, and taken back
//!   after `recover_after`;
//! - `drain --all` on one router of an ha-pair moves the LAN's traffic to
//!   the other without loss.
//!
//! Needs root; the tests run one at a time (they measure loss).

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

mod common;
use common::{can_run, repo, sluice_dir};
use sluice_lab::state::{State, lab_dir};
use sluice_lab::{Options, Running, TrafficReport, TrafficSpec, sys};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}

/// A running copy of a shipped topology.
struct Site {
    running: Option<Running>,
    lab: String,
    _dir: tempfile::TempDir,
}

impl Site {
    /// Copies `topologies/<name>`, lets `edit` change r1's config, brings it up.
    fn up(name: &str, tag: &str, edit: impl Fn(String) -> String) -> Site {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&repo().join("topologies").join(name), dir.path());
        let r1 = dir.path().join("r1/sluice.yml");
        let config = std::fs::read_to_string(&r1).unwrap();
        std::fs::write(&r1, edit(config)).unwrap();
        let opts = Options {
            name: Some(format!("{tag}{}", std::process::id())),
            timeout: Duration::from_secs(60),
            bin_dirs: vec![sluice_dir()],
        };
        let file = dir.path().join(format!("{name}.clab.yml"));
        let running = Running::up(&file, &opts).unwrap_or_else(|e| panic!("{e}"));
        let lab = running.name().to_owned();
        let site = Site {
            running: Some(running),
            lab,
            _dir: dir,
        };
        // The cold start is over (the FIB holds the tables) before anything is measured.
        site.wait("r1's cold start to end", Duration::from_secs(30), || {
            site.sluice("r1", &["show", "events"])
                .stdout
                .contains("cold-start")
        });
        site
    }

    /// Waits until `node`'s Sluice has a best path to `prefix` (FRR sends
    /// its default-originate a moment after its table).
    fn wait_route(&self, node: &str, prefix: &str) {
        self.wait(
            &format!("{node} learning {prefix}"),
            Duration::from_secs(20),
            || self.json(node, &["show", "routes", prefix])["routes"][0]["prefix"] == prefix,
        );
    }

    fn run(&self, node: &str, argv: &[&str]) -> sys::Outcome {
        let state = State::load(&lab_dir(&self.lab)).unwrap();
        let holder = state.node(node).unwrap().holder.unwrap();
        let mut cmd = sys::in_node(holder, &state.path_env, &self.lab, &[]);
        cmd.args(argv);
        sys::run(cmd, Duration::from_secs(120)).unwrap()
    }

    fn sluice(&self, node: &str, args: &[&str]) -> sys::Outcome {
        let mut argv = vec!["sluice"];
        argv.extend(args);
        self.run(node, &argv)
    }

    fn json(&self, node: &str, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.sluice(node, &a);
        assert!(out.ok, "sluice {a:?} in {node}: {}", out.text());
        serde_json::from_str(&out.stdout).unwrap()
    }

    fn uplink(&self, node: &str, name: &str) -> Value {
        let all = self.json(node, &["show", "uplinks"]);
        all["uplinks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no uplink {name}: {all}"))
    }

    /// Packets forwarded through `uplink`'s next hops so far.
    fn outbound(&self, node: &str, uplink: &str) -> u64 {
        self.uplink(node, uplink)["outbound"]["packets"]
            .as_u64()
            .unwrap_or(0)
    }

    fn wait(&self, what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while !cond() {
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stream(&self, from: &str, rate: u32, ms: u64, dst: Option<&str>) -> TrafficReport {
        stream(&self.lab, from, rate, ms, dst)
    }

    /// What BIRD in `node` holds for `prefix`, all attributes.
    fn birdc_route(&self, node: &str, prefix: &str) -> String {
        let out = self.run(
            node,
            &[
                "birdc",
                "-s",
                "/run/bird.ctl",
                "show",
                "route",
                prefix,
                "all",
            ],
        );
        out.stdout
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            let _ = r.down();
        }
    }
}

fn stream(lab: &str, from: &str, rate: u32, ms: u64, dst: Option<&str>) -> TrafficReport {
    let spec = TrafficSpec {
        from: from.into(),
        to: "inet".into(),
        rate,
        duration: Duration::from_millis(ms),
        dst: dst.map(|d| d.parse().unwrap()),
        port: 5201,
    };
    sluice_lab::traffic(lab, &spec).unwrap()
}

/// Runs a stream in the background.
fn background(
    lab: &str,
    from: &str,
    rate: u32,
    ms: u64,
    dst: Option<&str>,
) -> std::thread::JoinHandle<TrafficReport> {
    let (lab, from, dst) = (lab.to_owned(), from.to_owned(), dst.map(str::to_owned));
    std::thread::spawn(move || stream(&lab, &from, rate, ms, dst.as_deref()))
}

#[test]
#[ignore = "needs root: network namespaces, BIRD and FRR"]
fn a_planned_drain_under_traffic_loses_nothing_and_the_upstream_sees_it() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !can_run(common::ROUTERS) {
        return;
    }
    let site = Site::up("dual-iap", "drn", |c| c);
    site.wait_route("r1", "0.0.0.0/0");
    // The same stream without a drain: what this machine loses anyway.
    let baseline = site.stream("host1", 10_000, 3000, None);
    eprintln!("baseline: {baseline:?}");

    let traffic = background(&site.lab, "host1", 10_000, 9000, None);
    // Where the stream's at_ms start, against the event log's times.
    eprintln!(
        "stream started at {}",
        humantime::format_rfc3339_millis(SystemTime::now())
    );
    std::thread::sleep(Duration::from_secs(2));
    let out = site.sluice(
        "r1",
        &["drain", "iap-a", "--wait", "--reason", "fibre work"],
    );
    assert!(out.ok, "{}", out.text());
    assert!(out.stdout.contains("iap-a  draining"), "{}", out.text());
    assert!(
        out.stdout
            .contains("iap-a: drained: its outbound traffic has stopped"),
        "{}",
        out.text()
    );
    let a = site.uplink("r1", "iap-a");
    assert_eq!(a["state"], "drained", "{a}");
    assert_eq!(
        (a["drain"]["from"].as_str(), a["drain"]["reason"].as_str()),
        (Some("cli"), Some("fibre work"))
    );
    assert_eq!(a["drain"]["settle"]["state"], "quiet", "{a}");
    // Nothing more leaves through the drained access point.
    let before = site.outbound("r1", "iap-a");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        site.outbound("r1", "iap-a"),
        before,
        "packets left through the drained iap-a"
    );
    assert!(
        site.uplink("r1", "iap-b")["outbound"]["share"]
            .as_f64()
            .unwrap()
            > 0.99
    );

    // Inbound: the upstream gives our prefix local-pref 0 (RFC 8326), prepended.
    let route = site.birdc_route("iap-a", "198.51.100.0/24");
    assert!(
        route.contains("BGP.local_pref: 0") && route.contains("(65535,0)"),
        "{route}"
    );
    assert!(
        route.contains("BGP.as_path: 64500 64500 64500 64500"),
        "{route}"
    );

    // The floor: draining the other one too is refused.
    let out = site.sluice("r1", &["drain", "iap-b"]);
    assert_eq!(out.code, Some(1), "{}", out.text());
    assert!(out.text().contains("BELOW-MIN-ACTIVE"), "{}", out.text());

    let out = site.sluice("r1", &["undrain", "iap-a"]);
    assert!(
        out.ok && out.stdout.contains("it is active"),
        "{}",
        out.text()
    );
    let r = traffic.join().unwrap();
    eprintln!("with drain and undrain: {r:?}");
    assert!(r.sent >= 85_000, "{r:?}");
    // On a loss, r1's event log says what it was doing then.
    let events = || site.sluice("r1", &["show", "events"]).text();
    assert!(
        r.lost <= baseline.lost,
        "lost {} across drain and undrain, {} without: {:?}\n{}",
        r.lost,
        baseline.lost,
        r.lost_spans,
        events()
    );
    // The upstream sees what it saw before the drain: no tag, no prepend.
    site.wait("iap-a's preference back", Duration::from_secs(10), || {
        let route = site.birdc_route("iap-a", "198.51.100.0/24");
        route.contains("BGP.local_pref: 100")
            && route.contains("BGP.as_path: 64500\n")
            && !route.contains("(65535,0)")
    });
    // Undrained, traffic takes iap-a again.
    let before = site.outbound("r1", "iap-a");
    let r = site.stream("host1", 1000, 1000, None);
    assert!(site.outbound("r1", "iap-a") >= before + r.received, "{r:?}");
}

#[test]
#[ignore = "needs root: network namespaces, BIRD and FRR"]
fn the_incident_is_refused_naming_the_static_route_and_a_forced_drain_moves_it() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !can_run(common::ROUTERS) {
        return;
    }
    let static_route =
        "  - { prefix: 12.0.0.0/8, via: 203.0.113.1 }   # through iap-a's upstream router";
    let line = std::cell::Cell::new(0);
    let site = Site::up("dual-iap", "inc", |c| {
        let c = format!("{c}static_routes:\n{static_route}\n");
        line.set(c.lines().position(|l| l == static_route).unwrap() + 1);
        c
    });
    let line = line.get();
    site.wait_route("r1", "0.0.0.0/0");
    site.wait("12.0.0.0/8 through iap-a", Duration::from_secs(10), || {
        let fib = site.json("r1", &["show", "fib", "12.0.0.1"]);
        fib["entries"][0]["prefix"] == "12.0.0.0/8"
            && fib["entries"][0]["next_hops"][0]["address"] == "203.0.113.1"
    });

    let out = site.sluice("r1", &["drain", "iap-a"]);
    assert_eq!(out.code, Some(1), "{}", out.text());
    assert!(
        out.text().contains("error[PINNED-TO-INACTIVE]"),
        "{}",
        out.text()
    );
    assert!(
        out.text()
            .contains(&format!("/etc/sluice/sluice.yml:{line}:")),
        "{}",
        out.text()
    );
    assert!(out.text().contains("refused"), "{}", out.text());
    let out = site.sluice("r1", &["drain", "iap-a", "--dry-run"]);
    assert_eq!(out.code, Some(1), "{}", out.text());
    assert!(
        out.stdout.contains("12.0.0.0/8   0.0.0.0/0  iap-b"),
        "{}",
        out.text()
    );
    assert!(out.stdout.contains("nothing changed"), "{}", out.text());
    assert_eq!(site.uplink("r1", "iap-a")["state"], "active");

    let out = site.sluice("r1", &["drain", "iap-a", "--force", "--wait"]);
    assert!(out.ok, "{}", out.text());
    let events = site.sluice("r1", &["show", "events"]).stdout;
    assert!(
        events.contains(&format!(
            "static route 12.0.0.0/8 via 203.0.113.1 (line {line}) is bound to uplink iap-a"
        )),
        "{events}"
    );
    let forced = &site.uplink("r1", "iap-a")["drain"]["forced"][0];
    assert!(
        forced.as_str().unwrap().starts_with("PINNED-TO-INACTIVE"),
        "{forced}"
    );
    let fib = site.json("r1", &["show", "fib", "12.0.0.1"]);
    assert_eq!(fib["entries"][0]["prefix"], "0.0.0.0/0", "{fib}");
    assert_eq!(
        fib["entries"][0]["next_hops"][0]["address"], "203.0.113.5",
        "{fib}"
    );

    // Zero packets leave through iap-a; all arrive, through iap-b's default.
    let (a, b) = (site.outbound("r1", "iap-a"), site.outbound("r1", "iap-b"));
    let r = site.stream("host1", 1000, 2000, Some("12.0.0.1"));
    assert_eq!((r.sent, r.lost), (2000, 0), "{r:?}");
    assert_eq!(site.outbound("r1", "iap-a"), a);
    assert!(site.outbound("r1", "iap-b") >= b + 2000);
}

#[test]
#[ignore = "needs root: network namespaces, BIRD and FRR"]
fn an_access_point_that_stops_forwarding_is_left_within_the_probe_window() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !can_run(common::ROUTERS) {
        return;
    }
    // 200 ms × 3 losses: traffic moves within 0.6 s plus a second.
    let probe = "probes: [{ target: 11.1.0.1, interval: 200ms, fail_after: 3, recover_after: 2s }]";
    let site = Site::up("dual-iap", "deg", |c| {
        // The shipped probes, made fast.
        assert!(c.contains("probes: [{ target: 11.1.0.1 }]"), "{c}");
        c.replace("probes: [{ target: 11.1.0.1 }]", probe)
    });
    site.wait_route("r1", "0.0.0.0/0");
    site.wait("iap-a's probe answered", Duration::from_secs(10), || {
        site.uplink("r1", "iap-a")["probes"][0]["state"] == "ok"
    });
    let traffic = background(&site.lab, "host1", 5000, 9000, None);
    std::thread::sleep(Duration::from_secs(2));
    // iap-a stops forwarding toward the internet; its session stays up.
    sluice_lab::loss(&site.lab, "iap-a:eth2", 100.0).unwrap();
    site.wait("iap-a degraded", Duration::from_secs(3), || {
        site.uplink("r1", "iap-a")["state"] == "degraded"
    });
    std::thread::sleep(Duration::from_secs(1));
    sluice_lab::loss(&site.lab, "iap-a:eth2", 0.0).unwrap();
    let healed = Instant::now();
    site.wait("iap-a active again", Duration::from_secs(8), || {
        site.uplink("r1", "iap-a")["state"] == "active"
    });
    assert!(
        healed.elapsed() >= Duration::from_millis(1900),
        "back before recover_after"
    );
    let r = traffic.join().unwrap();
    eprintln!("{r:?}");
    let (first, last) = (r.lost_spans.first().unwrap(), r.lost_spans.last().unwrap());
    assert!(
        last.to_ms - first.from_ms <= 1600,
        "loss outside the detection window: {:?}",
        r.lost_spans
    );
    // The BGP session never went down.
    let peers = site.json("r1", &["show", "peers"]);
    assert!(
        peers["peers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["state"] == "established"),
        "{peers}"
    );
    let events = site.sluice("r1", &["show", "events"]).stdout;
    assert!(!events.contains("session-down"), "{events}");
    assert!(
        events.contains("uplink iap-a is degraded: probes to 11.1.0.1 fail"),
        "{events}"
    );
}

#[test]
#[ignore = "needs root: network namespaces, BIRD and FRR"]
fn drain_all_moves_the_lan_to_the_partner_router_without_loss() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !can_run(common::ROUTERS) {
        return;
    }
    let site = Site::up("ha-pair", "hap", |c| c);
    site.wait("r2's cold start to end", Duration::from_secs(30), || {
        site.sluice("r2", &["show", "events"])
            .stdout
            .contains("cold-start")
    });
    let baseline = site.stream("host1", 5000, 2000, None);
    let traffic = background(&site.lab, "host1", 5000, 6000, None);
    std::thread::sleep(Duration::from_secs(2));
    let out = site.sluice("r1", &["drain", "--all", "--wait"]);
    assert!(out.ok, "{}", out.text());
    // r1's LAN traffic now goes to r2.
    let counters = site.json("r1", &["show", "counters"]);
    let to_r2 = counters["next_hops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["address"] == "10.255.0.2")
        .and_then(|h| h["packets"].as_u64());
    assert!(to_r2.is_some_and(|p| p > 1000), "{counters}");
    // r2 hears that r1 is out: our routes come tagged, at local-pref 0.
    let routes = site.json("r2", &["show", "routes", "198.51.100.0/24"]);
    let from_r1 = routes["routes"][0]["paths"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["next_hop"] == "10.255.0.1")
        .cloned();
    let from_r1 = from_r1.unwrap_or_else(|| panic!("{routes}"));
    assert_eq!(from_r1["local_pref"], 0, "{from_r1}");
    let r = traffic.join().unwrap();
    eprintln!("baseline {baseline:?}\nwith drain --all {r:?}");
    assert!(r.lost <= baseline.lost, "{:?}", r.lost_spans);
}
