//! `xdp-forwarding`: the data-plane benchmarks (see `sluice_bench`).
//!
//! ```text
//! xdp-forwarding [--prefixes N] [--destinations N] [--seconds S] [--windows N] [--warmup S]
//!                [--seed S] [--tables one,full] [--modes sluice,sluice-dxr,sluice-pop4,fib_lookup,kernel]
//!                [--groups N] [--zipf S]
//!                [--fwd-cpu N] [--sender-cpu N] [--no-rt] [--no-lpm] [--json] [--json-file PATH]
//! ```
//!
//! Needs root (network namespaces, BPF). Progress goes to stderr; the
//! table (or with `--json` the JSON) to stdout.

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use sluice_bench::pps::{Mode, Placement};
use sluice_bench::report::{self, Machine, Report};
use sluice_bench::run::{self, TableSpec};
use sluice_bench::{sys, table, table6};

const USAGE: &str =
    "usage: xdp-forwarding [--prefixes N] [--destinations N] [--seconds S] [--warmup S]
                      [--seed S] [--tables one,full] [--modes sluice,sluice-dxr,sluice-pop4,fib_lookup,kernel]
                      [--groups N] [--zipf S] [--prefixes6 N] [--fwd-cpu N] [--sender-cpu N] [--no-rt] [--no-lpm]
                      [--json] [--json-file PATH]";

/// The one route of the single-route case, and where its destinations come from.
const ONE_ROUTE: (u32, u8) = (0xc612_0000, 15); // 198.18.0.0/15

#[derive(Debug)]
struct Args {
    prefixes: usize,
    destinations: usize,
    seed: u64,
    one: bool,
    full: bool,
    modes: Vec<Mode>,
    place: Placement,
    lpm: bool,
    /// Next-hop groups the routes are spread over.
    groups: u16,
    /// IPv6 prefixes loaded beside the full table (0: none).
    prefixes6: usize,
    /// Zipf exponent of a second run of the full table (0: none).
    zipf: f64,
    json: bool,
    json_file: Option<std::path::PathBuf>,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        prefixes: 1_000_000,
        destinations: 100_000,
        seed: 1,
        one: true,
        full: true,
        modes: Mode::ALL.to_vec(),
        place: Placement {
            fwd_cpu: 1,
            sender_cpu: 0,
            rt: true,
            warmup: Duration::from_secs(1),
            window: Duration::from_secs(5),
            windows: 3,
        },
        lpm: true,
        groups: 4,
        prefixes6: 220_000,
        zipf: 1.0,
        json: false,
        json_file: None,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .map(String::as_str)
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        let num = |v: &str| {
            v.replace('_', "")
                .parse::<f64>()
                .map_err(|_| format!("{flag}: {v:?} is not a number"))
        };
        match flag.as_str() {
            "--prefixes" => a.prefixes = num(value()?)? as usize,
            "--destinations" => a.destinations = num(value()?)? as usize,
            "--seconds" => a.place.window = Duration::from_secs_f64(num(value()?)?),
            "--windows" => a.place.windows = (num(value()?)? as usize).max(1),
            "--warmup" => a.place.warmup = Duration::from_secs_f64(num(value()?)?),
            "--seed" => a.seed = num(value()?)? as u64,
            "--fwd-cpu" => a.place.fwd_cpu = num(value()?)? as usize,
            "--sender-cpu" => a.place.sender_cpu = num(value()?)? as usize,
            "--no-rt" => a.place.rt = false,
            "--no-lpm" => a.lpm = false,
            "--groups" => a.groups = (num(value()?)? as u16).max(1),
            "--prefixes6" => a.prefixes6 = num(value()?)? as usize,
            "--zipf" => a.zipf = num(value()?)?.max(0.0),
            "--json" => a.json = true,
            "--json-file" => a.json_file = Some(value()?.into()),
            "--tables" => {
                let v = value()?;
                a.one = v.split(',').any(|t| t == "one");
                a.full = v.split(',').any(|t| t == "full");
                if !a.one && !a.full {
                    return Err(format!("--tables: {v:?} names neither one nor full"));
                }
            }
            "--modes" => {
                a.modes = value()?
                    .split(',')
                    .map(|m| {
                        Mode::ALL
                            .into_iter()
                            .find(|x| x.name() == m)
                            .ok_or_else(|| format!("--modes: unknown mode {m:?}"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if a.place.fwd_cpu == a.place.sender_cpu {
        return Err("--fwd-cpu and --sender-cpu must differ".into());
    }
    Ok(a)
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let args = match parse(&argv[1..]) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("xdp-forwarding: {e}");
            return ExitCode::from(2);
        }
    };
    if !sluice_testns::is_root() {
        eprintln!("xdp-forwarding: needs root (network namespaces, BPF)");
        return ExitCode::from(2);
    }
    // Interrupted, the labs cannot unwind: delete their namespaces (and so
    // their veths and NAPI threads) here; BPF objects go with the process.
    match sys::block_termination_signals() {
        Ok(signals) => {
            std::thread::spawn(move || {
                let sig = sys::wait_for_signal(&signals);
                eprintln!("xdp-forwarding: signal {sig}, removing the lab namespaces");
                remove_lab_namespaces();
                std::process::exit(128 + sig);
            });
        }
        Err(e) => eprintln!("xdp-forwarding: cannot catch signals ({e}); Ctrl-C leaves namespaces"),
    }
    match bench(&args, argv.join(" ")) {
        Ok(r) => {
            if let Some(path) = &args.json_file {
                let text = serde_json::to_string_pretty(&r.json()).unwrap();
                if let Err(e) = std::fs::write(path, text + "\n") {
                    eprintln!("xdp-forwarding: writing {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            if args.json {
                println!("{}", serde_json::to_string_pretty(&r.json()).unwrap());
            } else {
                print!("{}", r.human());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xdp-forwarding: {e}");
            ExitCode::FAILURE
        }
    }
}

fn bench(args: &Args, command: String) -> Result<Report, String> {
    let started = Instant::now();
    let log = |m: &str| eprintln!("[{:6.1} s] {m}", started.elapsed().as_secs_f64());
    let mut report = Report {
        machine: Machine::probe(),
        command,
        place: args.place,
        tables: Vec::new(),
        lpm_load: None,
    };
    if args.one {
        let routes = vec![ONE_ROUTE];
        let dsts = table::destinations(&routes, args.destinations, args.seed);
        report.tables.push(run::run_table(
            &TableSpec {
                label: "1 route".into(),
                routes,
                dsts,
                modes: args.modes.clone(),
                cost: true,
                uplink_move: false,
                place: args.place,
                groups: args.groups,
                spread: "uniform".into(),
                routes6: Vec::new(),
                dsts6: Vec::new(),
            },
            &log,
        )?);
    }
    if args.full {
        log(&format!("generating {} prefixes", args.prefixes));
        let routes = table::generate(args.prefixes, args.seed);
        let mix: Vec<String> = table::length_mix(&routes)
            .iter()
            .map(|(l, n)| format!("/{l}:{n}"))
            .collect();
        log(&format!("length mix {}", mix.join(" ")));
        let dsts = table::destinations(&routes, args.destinations, args.seed);
        if args.lpm {
            log("LPM_TRIE batch load");
            report.lpm_load = Some((routes.len(), run::lpm_trie_load(&routes)));
        }
        let zipf = (args.zipf > 0.0)
            .then(|| table::zipf_destinations(&routes, args.destinations, args.zipf, args.seed));
        let label = format!("{} prefixes", human_count(routes.len()));
        let routes6 = table6::generate6(args.prefixes6, args.seed);
        let dsts6 = table6::destinations6(&routes6, args.destinations, 0.0, args.seed);
        let zipf6 = (args.zipf > 0.0)
            .then(|| table6::destinations6(&routes6, args.destinations, args.zipf, args.seed));
        let full = TableSpec {
            label: label.clone(),
            routes,
            dsts,
            modes: args.modes.clone(),
            cost: true,
            uplink_move: true,
            place: args.place,
            groups: args.groups,
            spread: "uniform".into(),
            routes6,
            dsts6,
        };
        report.tables.push(run::run_table(&full, &log)?);
        if let (Some(dsts), Some(dsts6)) = (zipf, zipf6) {
            let spec = TableSpec {
                label: format!("{label}, Zipf {}", args.zipf),
                dsts,
                dsts6,
                uplink_move: false,
                spread: format!("Zipf, exponent {}", args.zipf),
                ..full
            };
            report.tables.push(run::run_table(&spec, &log)?);
        }
    }
    report.machine.load_end = report::loadavg();
    Ok(report)
}

/// Deletes this process's lab namespaces (`sl<pid>x*`, see sluice-testns),
/// killing whatever runs in them, and their files in the temp directory.
fn remove_lab_namespaces() {
    let prefix = format!("sl{}x", std::process::id());
    let ip = |args: &[&str]| {
        Command::new("ip")
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    for ns in ip(&["netns", "list"])
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|ns| ns.starts_with(&prefix))
    {
        for pid in ip(&["netns", "pids", ns]).split_whitespace() {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
        ip(&["netns", "del", ns]);
    }
    // The labs' log directories and route files.
    let tmp = std::env::temp_dir();
    let ours = format!("sluice-{prefix}");
    for entry in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().starts_with(&ours) {
            let path = entry.path();
            let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
        }
    }
}

fn human_count(n: usize) -> String {
    if n >= 1_000_000 && n.is_multiple_of(100_000) {
        format!("{}M", n as f64 / 1e6)
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}
