//! The three receivers: config, command line, readiness and the count of
//! routes from the feeder in their RIB.
//!
//! Each waits passively for the feeder on TCP 179 (so the session starts
//! when the orchestrator says, not after some retry timer), accepts IPv4
//! and IPv6 unicast on the one IPv4 session, imports everything and
//! exports nothing to peers; what it does with the data plane is the
//! run's [`Mode`]. Their control sockets are unix
//! sockets in a directory of the host's filesystem, so the CLIs run from
//! outside the namespace.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use serde_json::Value;

use crate::lab::{
    FEEDER_ASN, FEEDER_V4, FEEDER2_V4, RECEIVER_ASN, RECEIVER_V4, RECEIVER_V6, RECEIVER2_V4,
    RECEIVER2_V6,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sluice,
    Bird,
    Gobgp,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Sluice, Kind::Bird, Kind::Gobgp];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Sluice => "sluice",
            Kind::Bird => "bird",
            Kind::Gobgp => "gobgp",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// What the receiver does with the routes beyond its RIB: the data-plane
/// mode of a run. BIRD has no XDP; in `Full` it runs `protocol kernel`
/// (export all), in the other modes it only builds its tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `dataplane: { xdp: off, kernel_fib: off }`: the RIB only.
    Off,
    /// XDP FIB on, kernel FIB off.
    Xdp,
    /// The defaults: XDP native and the kernel FIB full.
    Full,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Off, Mode::Xdp, Mode::Full];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Xdp => "xdp",
            Mode::Full => "full",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.name() == s)
    }
}

/// One receiver instance: its kind, its directory and how to run its tools.
#[derive(Debug)]
pub struct Receiver {
    pub kind: Kind,
    pub mode: Mode,
    pub dir: PathBuf,
    pub sluice: PathBuf,
    /// Validate against the StayRTR on the namespace's loopback.
    pub rpki: bool,
}

impl Receiver {
    /// Writes the config; returns the daemon's command line.
    pub fn prepare(&self) -> Vec<String> {
        let d = |f: &str| self.dir.join(f).to_string_lossy().into_owned();
        match self.kind {
            Kind::Sluice => {
                write(
                    &self.dir.join("sluice.yaml"),
                    &sluice_config(self.mode, &self.dir, self.rpki),
                );
                let state = self.dir.join("state");
                std::fs::create_dir_all(&state).expect("state dir");
                vec![
                    self.sluice.to_string_lossy().into_owned(),
                    "run".into(),
                    "-c".into(),
                    d("sluice.yaml"),
                    "--socket".into(),
                    d("sluice.sock"),
                    "--state-dir".into(),
                    d("state"),
                    "--metrics".into(),
                    "off".into(),
                ]
            }
            Kind::Bird => {
                write(
                    &self.dir.join("bird.conf"),
                    &bird_config(self.mode, self.rpki),
                );
                ["bird", "-f", "-c", &d("bird.conf"), "-s", &d("bird.ctl")]
                    .map(str::to_owned)
                    .to_vec()
            }
            Kind::Gobgp => {
                write(&self.dir.join("gobgpd.toml"), &gobgp_config());
                let api = format!("unix://{}", d("gobgp.sock"));
                [
                    "gobgpd",
                    "-f",
                    &d("gobgpd.toml"),
                    "-t",
                    "toml",
                    "--api-hosts",
                    &api,
                    "--pprof-disable",
                    "--log-plain",
                    "--log-level",
                    "info",
                ]
                .map(str::to_owned)
                .to_vec()
            }
        }
    }

    /// Whether the daemon answers on its control socket.
    pub fn ready(&self) -> bool {
        match self.kind {
            Kind::Sluice => self.cli(&["show", "peers", "--json"]).is_ok(),
            Kind::Bird => self
                .cli(&["show", "status"])
                .is_ok_and(|o| o.contains("Daemon is up")),
            Kind::Gobgp => self.cli(&["global"]).is_ok(),
        }
    }

    /// Whether [`Receiver::count`] is work for the receiver beyond reading
    /// counters: GoBGP walks its Adj-RIB-In (0.1 s at a full table).
    pub fn count_is_costly(&self) -> bool {
        self.kind == Kind::Gobgp
    }

    /// Whether [`Receiver::fib_count`] is costly: the kernel counts its
    /// IPv4 table for `fib_triestat` by walking the whole trie.
    pub fn fib_count_is_costly(&self) -> bool {
        self.mode == Mode::Full
    }

    /// Routes from the feeder in the receiver's RIB (both families).
    pub fn count(&self) -> Result<u64, String> {
        match self.kind {
            Kind::Sluice => {
                let out = self.cli(&["show", "peers", "--json"])?;
                let v: Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))?;
                Ok(sum_field(&v, "accepted"))
            }
            Kind::Bird => {
                // Both feeders' sessions: feed and feed2.
                let out = self.cli(&["show", "protocols", "all", "\"feed*\""])?;
                // One `Routes: N imported, ...` line per channel.
                Ok(out
                    .lines()
                    .filter_map(|l| l.trim().strip_prefix("Routes:"))
                    .filter_map(|r| r.split_whitespace().next()?.parse::<u64>().ok())
                    .sum())
            }
            Kind::Gobgp => {
                // The list form: `neighbor ADDR` also computes the
                // Adj-RIB-Out, seconds of work at a full table.
                let out = self.cli(&["neighbor", "-j"])?;
                let v: Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))?;
                Ok(v.as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| sum_field(&p["afi_safis"], "accepted"))
                    .sum())
            }
        }
    }

    /// VRPs the receiver holds (both families).
    pub fn vrps(&self) -> Result<u64, String> {
        match self.kind {
            Kind::Sluice => {
                let out = self.cli(&["show", "rpki", "--json"])?;
                let v: Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))?;
                Ok(v["vrps_v4"].as_u64().unwrap_or(0) + v["vrps_v6"].as_u64().unwrap_or(0))
            }
            Kind::Bird => {
                let mut n = 0;
                for table in ["r4", "r6"] {
                    // `N of N routes for N networks in table r4`
                    let out = self.cli(&["show", "route", "table", table, "count"])?;
                    n += out
                        .lines()
                        .find_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
                        .unwrap_or(0);
                }
                Ok(n)
            }
            Kind::Gobgp => Err("no RPKI with GoBGP here".into()),
        }
    }

    /// Routes in the data plane this run measures, if it has one: Sluice's
    /// XDP maps (`Mode::Xdp`), or the kernel table of the receiver's
    /// namespace (`Mode::Full`; Sluice and BIRD alike, counted by the
    /// kernel). Includes what was there before the session (connected
    /// and local routes): subtract the idle count.
    pub fn fib_count(&self, pid: u32) -> Option<Result<u64, String>> {
        match (self.kind, self.mode) {
            (_, Mode::Off) | (Kind::Gobgp, _) | (Kind::Bird, Mode::Xdp) => None,
            (Kind::Sluice, Mode::Xdp) => Some(self.cli(&["status", "--json"]).and_then(|out| {
                let v: Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))?;
                v["dataplane"]["routes"]
                    .as_u64()
                    .ok_or_else(|| format!("no dataplane.routes in {out}"))
            })),
            (_, Mode::Full) => Some(kernel_routes(pid)),
        }
    }

    /// The AS path of the feeder's route to `prefix` in the RIB, if any.
    pub fn as_path(&self, prefix: &IpNet) -> Result<Option<Vec<u32>>, String> {
        let p = prefix.to_string();
        let numbers = |v: &Value| -> Vec<u32> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n.as_u64().map(|n| n as u32))
                .collect()
        };
        match self.kind {
            Kind::Sluice => {
                let out = self.cli(&["show", "routes", &p, "--json"])?;
                let v: Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))?;
                let route = v["routes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|r| r["prefix"] == p.as_str());
                Ok(route.map(|r| numbers(&r["paths"][0]["as_path"])))
            }
            Kind::Bird => {
                let out = self.cli(&["show", "route", &p, "all"])?;
                if !out.lines().any(|l| l.starts_with(&p)) {
                    return Ok(None);
                }
                Ok(out
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("BGP.as_path:"))
                    .map(|path| {
                        path.split_whitespace()
                            .filter_map(|n| n.parse().ok())
                            .collect()
                    }))
            }
            Kind::Gobgp => {
                let family = if prefix.addr().is_ipv4() {
                    "ipv4"
                } else {
                    "ipv6"
                };
                let out = self.cli(&["global", "rib", "-a", family, &p, "-j"])?;
                let v: Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))?;
                let Some(path) = v[p.as_str()].get(0) else {
                    return Ok(None);
                };
                let attrs = path["attrs"].as_array().cloned().unwrap_or_default();
                Ok(attrs
                    .iter()
                    .find(|a| a["type"] == 2)
                    .map(|a| numbers(&a["as_paths"][0]["asns"])))
            }
        }
    }

    /// Runs the receiver's CLI with `args`; its stdout, or why it failed.
    pub fn cli(&self, args: &[&str]) -> Result<String, String> {
        let d = |f: &str| self.dir.join(f).to_string_lossy().into_owned();
        let mut cmd = match self.kind {
            Kind::Sluice => {
                let mut c = Command::new(&self.sluice);
                c.args(args).args(["--socket", &d("sluice.sock")]);
                c
            }
            Kind::Bird => {
                let mut c = Command::new("birdc");
                c.args(["-s", &d("bird.ctl")]).args(args);
                c
            }
            Kind::Gobgp => {
                let mut c = Command::new("gobgp");
                c.args(["--target", &format!("unix://{}", d("gobgp.sock"))])
                    .args(args);
                c
            }
        };
        run_with_timeout(&mut cmd, Duration::from_secs(20))
    }

    /// The daemon's version, for the report.
    pub fn version(&self) -> String {
        let (prog, flag) = match self.kind {
            Kind::Sluice => (self.sluice.to_string_lossy().into_owned(), "--version"),
            Kind::Bird => ("bird".to_owned(), "--version"),
            Kind::Gobgp => ("gobgpd".to_owned(), "--version"),
        };
        let out = Command::new(&prog).arg(flag).output();
        out.map(|o| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            text.lines().next().unwrap_or_default().trim().to_owned()
        })
        .unwrap_or_else(|e| format!("unknown ({e})"))
    }
}

/// Routes in the kernel tables of `pid`'s network namespace: the IPv4
/// main table's prefixes (`fib_triestat`) and the IPv6 route entries
/// (`rt6_stats`, hex), read without a dump of a million routes.
fn kernel_routes(pid: u32) -> Result<u64, String> {
    let read = |f: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/net/{f}")).map_err(|e| format!("{f}: {e}"))
    };
    let trie = read("fib_triestat")?;
    let main = trie
        .split("\nMain:")
        .nth(1)
        .ok_or("fib_triestat: no Main table")?;
    let v4: u64 = main
        .lines()
        .find_map(|l| l.trim().strip_prefix("Prefixes:"))
        .and_then(|n| n.trim().parse().ok())
        .ok_or("fib_triestat: no Prefixes line")?;
    let rt6 = read("rt6_stats")?;
    let v6 = rt6
        .split_whitespace()
        .nth(3)
        .and_then(|n| u64::from_str_radix(n, 16).ok())
        .ok_or_else(|| format!("rt6_stats: {rt6}"))?;
    Ok(v4 + v6)
}

/// Resident memory of `pid`'s BPF map mappings (mmapped arrays: the XDP
/// FIB's words), which VmRSS includes.
pub fn bpf_maps_kb(pid: u32) -> u64 {
    let Ok(smaps) = std::fs::read_to_string(format!("/proc/{pid}/smaps")) else {
        return 0;
    };
    let mut total = 0;
    let mut in_map = false;
    for line in smaps.lines() {
        if let Some(rss) = line.strip_prefix("Rss:") {
            if in_map {
                total += rss
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        } else if line.contains('-') && line.split_whitespace().nth(1).is_some_and(|p| p.len() == 4)
        {
            // A mapping's header line: `start-end perms offset dev inode path`.
            in_map = line.contains("bpf-map");
        }
    }
    total
}

/// The sum of every `key` field anywhere in `v`.
fn sum_field(v: &Value, key: &str) -> u64 {
    match v {
        Value::Object(map) => map
            .iter()
            .map(|(k, x)| {
                if k == key {
                    x.as_u64()
                        .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
                        .unwrap_or(0)
                } else {
                    sum_field(x, key)
                }
            })
            .sum(),
        Value::Array(items) => items.iter().map(|x| sum_field(x, key)).sum(),
        _ => 0,
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// One uplink, the feeder, passive, full table in, nothing out. The bogon
/// list is emptied so that Sluice filters no more than the others do (the
/// generated table avoids special-purpose space anyway). The data plane's
/// pins go to a bpffs mounted in the receiver's directory, so a run never
/// meets another run's maps.
fn sluice_config(mode: Mode, dir: &Path, rpki: bool) -> String {
    let dataplane = match mode {
        Mode::Off => "{ xdp: off, kernel_fib: off }".to_owned(),
        Mode::Xdp | Mode::Full => format!(
            "{{ xdp: native, kernel_fib: {}, bpffs: {}, keep_on_exit: false }}",
            if mode == Mode::Full { "full" } else { "off" },
            dir.join("bpffs").display()
        ),
    };
    format!(
        "# Generated by bench/src/receivers.rs.
dataplane: {dataplane}
router: {{ id: 192.0.2.1, asn: {RECEIVER_ASN} }}
interfaces:
  - {{ name: eth1, addresses: [{RECEIVER_V4}/30, {RECEIVER_V6}/64] }}
  - {{ name: eth2, addresses: [{RECEIVER2_V4}/30, {RECEIVER2_V6}/64] }}
uplinks:
  - name: feed
    interface: eth1
    peer: {{ address: {FEEDER_V4}, asn: {FEEDER_ASN}, passive: true }}
    import: full-table
  - name: feed2
    interface: eth2
    peer: {{ address: {FEEDER2_V4}, asn: {FEEDER_ASN}, passive: true }}
    import: full-table
policies: {{ bogons: [] }}
{}",
        if rpki {
            format!(
                "rpki: {{ caches: [{{ address: 127.0.0.1, port: {} }}], invalid: reject }}\n",
                crate::roas::PORT
            )
        } else {
            String::new()
        }
    )
}

/// BIRD only builds its tables, except in `Mode::Full`, where `protocol
/// kernel` exports every best route to the namespace's kernel table, as
/// Sluice's `kernel_fib: full` does. `protocol device` is needed for the
/// interface (and so the next hops) to be known.
fn bird_config(mode: Mode, rpki: bool) -> String {
    let mut c = String::new();
    let _ = writeln!(c, "# Generated by bench/src/receivers.rs.");
    let _ = writeln!(c, "log stderr all;");
    let _ = writeln!(c, "router id 192.0.2.1;");
    let _ = writeln!(c, "protocol device {{}}");
    // With RPKI: ROA tables from the cache, invalid routes rejected on import.
    let (import4, import6) = if rpki {
        let _ = writeln!(c, "roa4 table r4;");
        let _ = writeln!(c, "roa6 table r6;");
        let _ = writeln!(
            c,
            "protocol rpki {{ roa4 {{ table r4; }}; roa6 {{ table r6; }}; remote 127.0.0.1 port {}; retry keep 1; }}",
            crate::roas::PORT
        );
        let check = |t: &str| {
            format!(
                "import filter {{ if roa_check({t}, net, bgp_path.last) = ROA_INVALID then reject; accept; }};"
            )
        };
        (check("r4"), check("r6"))
    } else {
        ("import all;".to_owned(), "import all;".to_owned())
    };
    for (name, local, neighbor) in [
        ("feed", RECEIVER_V4, FEEDER_V4),
        ("feed2", RECEIVER2_V4, FEEDER2_V4),
    ] {
        let _ = writeln!(c, "protocol bgp {name} {{");
        let _ = writeln!(c, "  local {local} as {RECEIVER_ASN};");
        let _ = writeln!(c, "  neighbor {neighbor} as {FEEDER_ASN};");
        let _ = writeln!(c, "  passive on;");
        let _ = writeln!(c, "  ipv4 {{ {import4} export none; }};");
        let _ = writeln!(c, "  ipv6 {{ {import6} export none; }};");
        let _ = writeln!(c, "}}");
    }
    if mode == Mode::Full {
        for family in ["ipv4", "ipv6"] {
            let _ = writeln!(c, "protocol kernel {{ {family} {{ export all; }}; }}");
        }
    }
    c
}

/// No zebra; accept everything into the global RIB, export nothing.
fn gobgp_config() -> String {
    let mut c = String::new();
    let _ = writeln!(c, "# Generated by bench/src/receivers.rs.");
    let _ = writeln!(c, "[global.config]");
    let _ = writeln!(c, "  as = {RECEIVER_ASN}");
    let _ = writeln!(c, "  router-id = \"192.0.2.1\"");
    let _ = writeln!(c, "[global.apply-policy.config]");
    let _ = writeln!(c, "  default-import-policy = \"accept-route\"");
    let _ = writeln!(c, "  default-export-policy = \"reject-route\"");
    for neighbor in [FEEDER_V4, FEEDER2_V4] {
        let _ = writeln!(c, "\n[[neighbors]]");
        let _ = writeln!(c, "  [neighbors.config]");
        let _ = writeln!(c, "    neighbor-address = \"{neighbor}\"");
        let _ = writeln!(c, "    peer-as = {FEEDER_ASN}");
        let _ = writeln!(c, "  [neighbors.transport.config]");
        let _ = writeln!(c, "    passive-mode = true");
        for family in ["ipv4-unicast", "ipv6-unicast"] {
            let _ = writeln!(c, "  [[neighbors.afi-safis]]");
            let _ = writeln!(c, "    [neighbors.afi-safis.config]");
            let _ = writeln!(c, "      afi-safi-name = \"{family}\"");
        }
    }
    c
}

/// Runs `cmd` with captured output; fails on a non-zero exit or after `limit`.
fn run_with_timeout(cmd: &mut Command, limit: Duration) -> Result<String, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    let deadline = Instant::now() + limit;
    // The outputs are small (a screenful at most), so they fit the pipes
    // and waiting before reading cannot deadlock.
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{cmd:?} timed out after {limit:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => return Err(format!("waiting for {cmd:?}: {e}")),
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("reading {cmd:?}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{cmd:?}: {}: {}{}",
            out.status,
            stdout.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
