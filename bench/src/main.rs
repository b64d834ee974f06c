//! `fulltable`: feeds one generated full table to Sluice, BIRD 2 and GoBGP,
//! one at a time, each in its own network namespace, and compares how
//! long each takes from the OPEN exchange to holding every route, and how
//! much memory it needs for them.
//!
//! ```text
//! fulltable [--v4 N] [--v6 M] [--sets K|both] [--only sluice,bird,gobgp]
//!           [--dataplane off|xdp|full|all] [--runs N]
//!           [--seed S] [--timeout SECS] [--poll-ms MS] [--sluice PATH] [--json PATH]
//! fulltable feed --stream FILE --connect ADDR --asn ASN --router-id ID [--flag FILE --then FILE]
//! fulltable stream [--v4 N] [--v6 M] [--sets K] [--seed S] --out FILE
//! fulltable bird [--v4 N] [--sets K] [--seed S] --next-hop ADDR --out FILE
//! ```
//!
//! `feed` is the feeder, which the benchmark starts in the feeder's
//! namespace; `stream` writes the UPDATEs of one table to a file, to run
//! the feeder against a receiver by hand; `bird` writes the IPv4 routes as
//! BIRD static routes (the `full-table` lab topology's access point).
//!
//! Needs root (network namespaces). See docs/benchmarks.md.

mod bird_static;
mod feeder;
mod lab;
mod receivers;
mod report;
mod roas;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::json;

use lab::{FEEDER_ASN, FEEDER_V4, FEEDER_V6, FEEDER2_V4, FEEDER2_V6, Outcome, RunSpec};
use receivers::{Kind, Mode, Receiver};
use report::{MixResult, Runs};

const USAGE: &str = "usage: fulltable [--v4 N] [--v6 M] [--sets K|both] [--only sluice,bird,gobgp]
                 [--dataplane off|xdp|full|all (default off; a comma list too)] [--runs N (default 5)]
                 [--seed S] [--timeout SECS] [--poll-ms MS] [--sluice PATH] [--json PATH]
                 [--rpki VRPS (StayRTR serves about this many; receivers reject invalid routes)]
       fulltable feed --stream FILE --connect ADDR --asn ASN --router-id ID [--flag FILE --then FILE]
       fulltable stream [--v4 N] [--v6 M] [--sets K] [--seed S] --out FILE
           (writes the UPDATE stream to FILE, for running the feeder by hand)
       fulltable bird [--v4 N] [--sets K] [--seed S] --next-hop ADDR --out FILE
           (writes the IPv4 routes as a BIRD `protocol static` to FILE)";

/// The two attribute mixes: few sets (big UPDATEs), and as many as a real
/// full table from one transit has (small UPDATEs, many interned sets).
const MIXES: [usize; 2] = [5_000, 260_000];

#[derive(Debug)]
struct Args {
    v4: usize,
    v6: usize,
    sets: Vec<usize>,
    only: Vec<Kind>,
    modes: Vec<Mode>,
    runs: usize,
    seed: u64,
    timeout: Duration,
    poll: Duration,
    sluice: Option<PathBuf>,
    json: Option<PathBuf>,
    /// `stream` and `bird`: where to write the UPDATEs or the routes.
    out: Option<PathBuf>,
    /// `bird` only: the next hop of every route.
    next_hop: Option<std::net::Ipv4Addr>,
    /// VRPs served to the receivers (0: no RPKI).
    rpki: usize,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.first().is_some_and(|a| a == "feed") {
        parse_feed(&args[1..]).and_then(|a| feeder::run(&a))
    } else if args.first().is_some_and(|a| a == "stream") {
        parse(&args[1..]).and_then(|a| write_stream(&a))
    } else if args.first().is_some_and(|a| a == "bird") {
        parse(&args[1..]).and_then(|a| write_bird(&a))
    } else {
        parse(&args).and_then(|a| bench(&a))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fulltable: {e}");
            ExitCode::from(2)
        }
    }
}

fn value<'a>(it: &mut impl Iterator<Item = &'a String>, flag: &str) -> Result<&'a str, String> {
    it.next()
        .map(String::as_str)
        .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
}

fn number<T: std::str::FromStr>(s: &str, flag: &str) -> Result<T, String> {
    s.replace(['_', ','], "")
        .parse()
        .map_err(|_| format!("{flag}: not a number: {s}"))
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        v4: 1_000_000,
        v6: 200_000,
        sets: MIXES.to_vec(),
        only: Kind::ALL.to_vec(),
        modes: vec![Mode::Off],
        runs: 5,
        seed: 1,
        timeout: Duration::from_secs(180),
        poll: Duration::from_millis(100),
        sluice: None,
        json: None,
        out: None,
        next_hop: None,
        rpki: 0,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let v = value(&mut it, flag);
        match flag.as_str() {
            "--v4" => a.v4 = number(v?, flag)?,
            "--v6" => a.v6 = number(v?, flag)?,
            "--sets" => {
                a.sets = match v? {
                    "both" => MIXES.to_vec(),
                    k => vec![number(k, flag)?],
                }
            }
            "--only" => {
                a.only = v?
                    .split(',')
                    .map(|s| {
                        Kind::parse(s.trim())
                            .ok_or_else(|| format!("--only: unknown receiver {s:?}"))
                    })
                    .collect::<Result<_, _>>()?
            }
            "--dataplane" => {
                a.modes = match v? {
                    "all" => Mode::ALL.to_vec(),
                    list => list
                        .split(',')
                        .map(|s| {
                            Mode::parse(s.trim()).ok_or_else(|| {
                                format!("--dataplane: {s:?} is not off, xdp, full or all")
                            })
                        })
                        .collect::<Result<_, _>>()?,
                }
            }
            "--runs" => a.runs = number(v?, flag)?,
            "--seed" => a.seed = number(v?, flag)?,
            "--timeout" => a.timeout = Duration::from_secs(number(v?, flag)?),
            "--poll-ms" => a.poll = Duration::from_millis(number(v?, flag)?),
            "--sluice" => a.sluice = Some(v?.into()),
            "--json" => a.json = Some(v?.into()),
            "--out" => a.out = Some(v?.into()),
            "--next-hop" => a.next_hop = Some(number(v?, flag)?),
            "--rpki" => a.rpki = number(v?, flag)?,
            "-h" | "--help" => return Err(USAGE.into()),
            _ => return Err(format!("unknown argument {flag}\n{USAGE}")),
        }
    }
    if a.runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    if a.sets.contains(&0) {
        return Err("--sets must be at least 1".into());
    }
    Ok(a)
}

fn parse_feed(args: &[String]) -> Result<feeder::FeedArgs, String> {
    let (mut stream, mut connect, mut asn, mut router_id) = (None, None, None, None);
    let (mut flag_file, mut then) = (None, None);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let v = value(&mut it, flag)?;
        match flag.as_str() {
            "--stream" => stream = Some(PathBuf::from(v)),
            "--connect" => connect = Some(number(v, flag)?),
            "--asn" => asn = Some(number(v, flag)?),
            "--router-id" => router_id = Some(number(v, flag)?),
            "--flag" => flag_file = Some(PathBuf::from(v)),
            "--then" => then = Some(PathBuf::from(v)),
            _ => return Err(format!("feed: unknown argument {flag}\n{USAGE}")),
        }
    }
    let missing = |f: &str| format!("feed: {f} is required\n{USAGE}");
    Ok(feeder::FeedArgs {
        stream: stream.ok_or_else(|| missing("--stream"))?,
        connect: connect.ok_or_else(|| missing("--connect"))?,
        asn: asn.ok_or_else(|| missing("--asn"))?,
        router_id: router_id.ok_or_else(|| missing("--router-id"))?,
        then: flag_file.zip(then),
    })
}

fn bench(a: &Args) -> Result<(), String> {
    if !sluice_testns::is_root() {
        return Err("needs root (network namespaces); try scripts/bench.sh as root".into());
    }
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let target = lab::target_dir(&exe);
    let sluice = a
        .sluice
        .clone()
        .unwrap_or_else(|| exe.with_file_name("sluice"));
    if a.only.contains(&Kind::Sluice) && !sluice.exists() {
        return Err(format!(
            "{} is missing: build it with `cargo build --release -p sluice` (scripts/bench.sh does)",
            sluice.display()
        ));
    }
    for (kind, prog) in [(Kind::Bird, "bird"), (Kind::Gobgp, "gobgpd")] {
        if a.only.contains(&kind) && which(prog).is_none() {
            return Err(format!(
                "{prog} is not installed (scripts/setup.sh installs it)"
            ));
        }
    }
    if a.rpki > 0 {
        if which("stayrtr").is_none() {
            return Err("--rpki: stayrtr is not installed (scripts/setup.sh installs it)".into());
        }
        if a.only.contains(&Kind::Gobgp) {
            return Err("--rpki: GoBGP is not set up for RPKI here; use --only sluice,bird".into());
        }
    }
    let work = tempfile::Builder::new()
        .prefix(&format!("sluice-fulltable-{}-", std::process::id()))
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    let mut results = Vec::new();
    for &sets in &a.sets {
        let started = Instant::now();
        let spec = table::Spec {
            v4: a.v4,
            v6: a.v6,
            sets,
            seed: a.seed,
            feeder_asn: FEEDER_ASN,
        };
        let t = table::generate(&spec);
        let rpki = (a.rpki > 0)
            .then(|| {
                let path = work.path().join(format!("roas-{sets}.json"));
                roas::write(&t, a.rpki, &path)
                    .map(|r| (path, r))
                    .map_err(|e| format!("roas: {e}"))
            })
            .transpose()?;
        let stream = table::encode(&t, FEEDER_V4, FEEDER_V6);
        let write = |name: String, bytes: &[u8]| -> Result<PathBuf, String> {
            let path = work.path().join(name);
            std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(path)
        };
        let path = write(format!("updates-{sets}.bin"), &stream.bytes)?;
        let path2 = write(
            format!("updates2-{sets}.bin"),
            &table::encode(&t, FEEDER2_V4, FEEDER2_V6).bytes,
        )?;
        let withdraw = write(format!("withdraw-{sets}.bin"), &table::encode_withdraw(&t))?;
        drop(t);
        eprintln!(
            "mix {sets} sets: {} IPv4 + {} IPv6 prefixes, {} sets used, {} UPDATEs ({:.1} prefixes each), {:.1} MB; generated in {:.1} s",
            a.v4,
            a.v6,
            stream.sets_used,
            stream.updates,
            stream.prefixes as f64 / stream.updates.max(1) as f64,
            stream.bytes.len() as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );
        if let Some((_, r)) = &rpki {
            eprintln!(
                "  RPKI: {} VRPs, {} routes of each session invalid",
                r.vrps, r.invalid
            );
        }
        let invalid = rpki.as_ref().map_or(0, |(_, r)| r.invalid);
        let mut mix = MixResult {
            name: format!(
                "{}{}",
                mix_name(sets),
                if rpki.is_some() { "+r" } else { "" }
            ),
            sets,
            sets_used: stream.sets_used,
            updates: stream.updates,
            bytes: stream.bytes.len(),
            prefixes: stream.prefixes,
            results: Vec::new(),
        };
        let samples = stream.samples.clone();
        drop(stream);
        for (&mode, &kind) in a
            .modes
            .iter()
            .flat_map(|m| a.only.iter().map(move |k| (m, k)))
        {
            let mut runs = Runs {
                kind,
                mode,
                runs: Vec::new(),
            };
            for run in 1..=a.runs {
                eprintln!(
                    "  {} (data plane {}), run {run} of {} ...",
                    kind.name(),
                    mode.name(),
                    a.runs
                );
                let o = lab::measure(&RunSpec {
                    kind,
                    mode,
                    stream: &path,
                    stream2: &path2,
                    withdraw: &withdraw,
                    total: (mix.prefixes - invalid) as u64,
                    rpki: rpki.as_ref().map(|(p, r)| (p.as_path(), r.vrps)),
                    samples: &samples,
                    timeout: a.timeout,
                    poll: a.poll,
                    sluice: &sluice,
                    exe: &exe,
                });
                eprintln!("  {}", progress(&o));
                runs.runs.push(o);
            }
            mix.results.push(runs);
        }
        for p in [&path, &path2, &withdraw] {
            let _ = std::fs::remove_file(p);
        }
        if let Some((p, _)) = &rpki {
            let _ = std::fs::remove_file(p);
        }
        results.push(mix);
    }
    print!("{}", report::render(&results, a.poll, a.runs));
    if a.rpki > 0 {
        println!(
            "+r: RPKI on: StayRTR in each receiver's namespace serves VRPs for the table, 1% of them naming another origin; \
             those routes are rejected (Sluice: rpki.invalid: reject; BIRD: protocol rpki, roa_check in the import filter) \
             and the RIB counts exclude them. The VRPs are loaded before the session opens."
        );
    }
    let json_path = a
        .json
        .clone()
        .unwrap_or_else(|| target.join("bench").join("fulltable.json"));
    if let Some(dir) = json_path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let doc = to_json(a, &results, &sluice);
    let text = serde_json::to_string_pretty(&doc).expect("json");
    std::fs::write(&json_path, text + "\n").map_err(|e| format!("{}: {e}", json_path.display()))?;
    eprintln!("wrote {}", json_path.display());
    Ok(())
}

/// The `stream` subcommand: the UPDATEs of the first mix, to a file.
fn write_stream(a: &Args) -> Result<(), String> {
    let out = a.out.clone().ok_or("stream: --out FILE is required")?;
    let t = table::generate(&table::Spec {
        v4: a.v4,
        v6: a.v6,
        sets: a.sets[0],
        seed: a.seed,
        feeder_asn: FEEDER_ASN,
    });
    let s = table::encode(&t, FEEDER_V4, FEEDER_V6);
    std::fs::write(&out, &s.bytes).map_err(|e| format!("{}: {e}", out.display()))?;
    eprintln!(
        "{} UPDATEs, {} prefixes, {} attribute sets",
        s.updates, s.prefixes, s.sets_used
    );
    for (prefix, path) in &s.samples {
        eprintln!("  {prefix} {path:?}");
    }
    Ok(())
}

/// The `bird` subcommand: the IPv4 routes of the first mix as BIRD static routes.
fn write_bird(a: &Args) -> Result<(), String> {
    let out = a.out.clone().ok_or("bird: --out FILE is required")?;
    let next_hop = a.next_hop.ok_or("bird: --next-hop ADDR is required")?;
    let t = table::generate(&table::Spec {
        v4: a.v4,
        v6: 0,
        sets: a.sets[0],
        seed: a.seed,
        feeder_asn: FEEDER_ASN,
    });
    let text = bird_static::ipv4(&t, next_hop);
    std::fs::write(&out, text).map_err(|e| format!("{}: {e}", out.display()))?;
    eprintln!(
        "{} IPv4 routes via {next_hop} in {}",
        t.v4.len(),
        out.display()
    );
    Ok(())
}

fn which(prog: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_string_lossy()
        .split(':')
        .map(|d| PathBuf::from(d).join(prog))
        .find(|p| p.exists())
}

fn mix_name(sets: usize) -> String {
    if sets >= 1000 && sets.is_multiple_of(1000) {
        format!("{}k", sets / 1000)
    } else {
        sets.to_string()
    }
}

/// One run, as it finishes.
fn progress(o: &Outcome) -> String {
    format!(
        "{}: {} in {:.2} s ({} of {}){}, peak RSS {:.0} MiB, {:.1} CPU s, {} polls of {:.0} ms (max {:.0}){}",
        o.kind.name(),
        if o.finished { "done" } else { "DID NOT FINISH" },
        o.seconds,
        o.count,
        o.total,
        o.fib_seconds
            .map(|f| format!(", data plane full at {f:.2} s"))
            .unwrap_or_default(),
        o.peak_kb as f64 / 1024.0,
        o.cpu_seconds,
        o.polls,
        o.mean_poll.as_secs_f64() * 1e3,
        o.slowest_poll.as_secs_f64() * 1e3,
        o.error
            .as_ref()
            .map(|e| format!("\n    error: {e}"))
            .unwrap_or_default()
    )
}

fn to_json(a: &Args, results: &[MixResult], sluice: &std::path::Path) -> serde_json::Value {
    let versions: serde_json::Map<String, serde_json::Value> = a
        .only
        .iter()
        .map(|&k| {
            let r = Receiver {
                kind: k,
                mode: Mode::Off,
                dir: PathBuf::new(),
                sluice: sluice.to_path_buf(),
                rpki: false,
            };
            (k.name().to_owned(), json!(r.version()))
        })
        .collect();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |text: &str, key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
    };
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let ws = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(ws)
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    let commit = git(&["rev-parse", "--short", "HEAD"]);
    let dirty = !git(&["status", "--porcelain", "router"]).is_empty();
    json!({
        "date": date,
        "sluice_commit": format!("{commit}{}", if dirty { "+dirty" } else { "" }),
        "machine": {
            "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "cpu_model": field(&cpuinfo, "model name"),
            "mem_total": field(&meminfo, "MemTotal"),
            "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        },
        "versions": versions,
        "params": {
            "v4": a.v4,
            "v6": a.v6,
            "seed": a.seed,
            "runs": a.runs,
            "dataplane": a.modes.iter().map(|m| m.name()).collect::<Vec<_>>(),
            "timeout_seconds": a.timeout.as_secs(),
            "poll_ms": a.poll.as_millis(),
        },
        "notes": {
            "seconds": "feeder's OPEN/KEEPALIVE exchange done to the first 100 ms poll that sees every route",
            "bytes_per_route": "(VmHWM - VmRSS of the idle daemon before the session) / routes",
            "ipv6": "IPv6 prefixes over the same IPv4 session (MP-BGP), global next hop on the shared link",
        },
        "mixes": results.iter().map(|m| json!({
            "sets": m.sets,
            "sets_used": m.sets_used,
            "prefixes": m.prefixes,
            "updates": m.updates,
            "update_bytes": m.bytes,
            "results": m.results.iter().flat_map(|r| r.runs.iter().map(Outcome::to_json)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}
