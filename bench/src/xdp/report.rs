//! The machine the figures come from, and the figures: a human table and
//! JSON.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use crate::cost::Cost;
use crate::pps::{Mode, Placement, Rate};
use crate::run::TableRun;

const MIB: f64 = 1024.0 * 1024.0;

/// Where the figures were measured.
#[derive(Debug, Clone)]
pub struct Machine {
    pub cpu: String,
    pub nproc: usize,
    pub kernel: String,
    pub load_start: String,
    pub load_end: String,
}

impl Machine {
    pub fn probe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
            .unwrap_or_else(|| "unknown".into());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        Self {
            cpu,
            nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
            kernel,
            load_start: loadavg(),
            load_end: String::new(),
        }
    }
}

/// The 1, 5 and 15 minute load averages.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Everything one invocation measured.
#[derive(Debug)]
pub struct Report {
    pub machine: Machine,
    pub command: String,
    pub place: Placement,
    pub tables: Vec<TableRun>,
    /// `BPF_MAP_UPDATE_BATCH` into an `LPM_TRIE` of the full table.
    pub lpm_load: Option<(usize, Result<Duration, String>)>,
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// The header of a table of sluice, fib_lookup and kernel, with ratios.
fn three_modes_header(s: &mut String, title: &str) {
    let _ = writeln!(
        s,
        "{title:<34} {:>11} {:>11} {:>11} {:>14} {:>12}",
        "sluice", "fib_lookup", "kernel", "sluice/fib_lk", "sluice/kern"
    );
}

/// One row of that table: `mpps` of each mode.
fn three_modes_row(s: &mut String, label: &str, mpps: impl Fn(Mode) -> Option<f64>) {
    let _ = writeln!(
        s,
        "{label:<34} {:>11} {:>11} {:>11} {:>14} {:>12}",
        cell(mpps(Mode::Sluice), ""),
        cell(mpps(Mode::FibLookup), ""),
        cell(mpps(Mode::Kernel), ""),
        cell(ratio(mpps(Mode::Sluice), mpps(Mode::FibLookup)), "×"),
        cell(ratio(mpps(Mode::Sluice), mpps(Mode::Kernel)), "×"),
    );
}

fn rate_of(rates: &[(Mode, Result<Rate, String>)], mode: Mode) -> Option<&Rate> {
    rates
        .iter()
        .find(|(m, _)| *m == mode)
        .and_then(|(_, r)| r.as_ref().ok())
}

fn cell(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.2}{unit}"))
}

impl Report {
    pub fn human(&self) -> String {
        let m = &self.machine;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "machine: {} × {} vCPU, Linux {}",
            m.cpu, m.nproc, m.kernel
        );
        let _ = writeln!(
            s,
            "load average: {} at start, {} at end",
            m.load_start, m.load_end
        );
        let _ = writeln!(s, "command: {}", self.command);
        let p = &self.place;
        let _ = writeln!(
            s,
            "\nForwarding, 64-byte UDP frames, src → fwd → dst over veth; forwarding on CPU {}, \
             sender and sinks on CPU {}{}; median of {} {:.0} s windows after {:.0} s warm-up.\n\
             Mpps per forwarding core = rate at the sink / share of the window the forwarding \
             NAPI thread was on its CPU.\n",
            p.fwd_cpu,
            p.sender_cpu,
            if p.rt { ", SCHED_FIFO" } else { "" },
            p.windows,
            p.window.as_secs_f64(),
            p.warmup.as_secs_f64()
        );
        let _ = writeln!(
            s,
            "{:<34} {:>11} {:>11} {:>11} {:>11} {:>11} {:>14} {:>12} {:>11} {:>11}",
            "Mpps per forwarding core",
            "sluice",
            "sluice-dxr",
            "sluice-pop4",
            "fib_lookup",
            "kernel",
            "sluice/fib_lk",
            "sluice/kern",
            "dxr/sluice",
            "pop4/sluice"
        );
        for t in &self.tables {
            let pc = |mode| t.rate(mode).map(|r| r.per_core_mpps());
            let fib = match t.rates.iter().find(|(m, _)| *m == Mode::FibLookup) {
                Some((_, Err(e))) if e.starts_with("pending") => "pending".to_owned(),
                _ => cell(pc(Mode::FibLookup), ""),
            };
            let label = format!("{} ({} dst)", t.label, t.destinations);
            let _ = writeln!(
                s,
                "{label:<34} {:>11} {:>11} {:>11} {fib:>11} {:>11} {:>14} {:>12} {:>11} {:>11}",
                cell(pc(Mode::Sluice), ""),
                cell(pc(Mode::Dxr), ""),
                cell(pc(Mode::Pop4), ""),
                cell(pc(Mode::Kernel), ""),
                cell(ratio(pc(Mode::Sluice), pc(Mode::FibLookup)), "×"),
                cell(ratio(pc(Mode::Sluice), pc(Mode::Kernel)), "×"),
                cell(ratio(pc(Mode::Dxr), pc(Mode::Sluice)), "×"),
                cell(ratio(pc(Mode::Pop4), pc(Mode::Sluice)), "×"),
            );
        }
        if self.tables.iter().any(|t| !t.whole_cpu.is_empty()) {
            let _ = writeln!(
                s,
                "\nSecond accounting: the receiving veths' NAPI threads on the forwarding CPU too, and all of that CPU's busy time counted (/proc/stat)."
            );
            three_modes_header(&mut s, "Mpps per forwarding CPU");
            for t in &self.tables {
                let label = format!("{} ({} dst)", t.label, t.destinations);
                three_modes_row(&mut s, &label, |mode| {
                    rate_of(&t.whole_cpu, mode).map(Rate::per_cpu_mpps)
                });
            }
            for t in &self.tables {
                for (mode, r) in &t.whole_cpu {
                    let line = match r {
                        Ok(r) => format!(
                            "{:.2} Mpps, forwarding CPU {:.0}% busy, per CPU {:.2}",
                            r.mpps(),
                            r.cpu_busy * 100.0,
                            r.per_cpu_mpps()
                        ),
                        Err(e) => e.clone(),
                    };
                    let _ = writeln!(s, "  {:<22} {:<10} {line}", t.label, mode.name());
                }
            }
        }
        if self
            .tables
            .iter()
            .any(|t| t.v6.as_ref().is_some_and(|v6| !v6.rates.is_empty()))
        {
            let _ = writeln!(
                s,
                "\nIPv6 frames (the IPv6 table beside each IPv4 one, IPv6 on in fwd), both accountings:"
            );
            three_modes_header(&mut s, "Mpps per forwarding core / CPU");
            for t in &self.tables {
                let Some(v6) = t.v6.as_ref().filter(|v6| !v6.rates.is_empty()) else {
                    continue;
                };
                for (what, rates, per) in [
                    ("core", &v6.rates, Rate::per_core_mpps as fn(&Rate) -> f64),
                    ("CPU", &v6.whole_cpu, Rate::per_cpu_mpps),
                ] {
                    let label = format!("{} prefixes, per {what}", v6.prefixes);
                    three_modes_row(&mut s, &label, |mode| rate_of(rates, mode).map(per));
                }
                let _ = writeln!(
                    s,
                    "  ({} destinations {}; kernel FIB loaded in {})",
                    v6.destinations,
                    t.spread,
                    v6.kernel_load
                        .map_or("—".into(), |d| format!("{:.1} s", d.as_secs_f64()))
                );
                for (mode, r) in v6.rates.iter().chain(&v6.whole_cpu) {
                    if let Err(e) = r {
                        let _ = writeln!(s, "  {} failed: {e}", mode.name());
                    }
                }
            }
        }
        let _ = writeln!(
            s,
            "\nraw: rate at the sink (offered by the sender), forwarding thread busy, forwarding CPU stolen by the hypervisor, XDP forwarded verdicts / sink count"
        );
        let rows = self.tables.iter().flat_map(|t| {
            let v4 = t.rates.iter().map(move |r| (t.label.clone(), r));
            let v6 = t.v6.iter().flat_map(move |v6| {
                v6.rates
                    .iter()
                    .map(move |r| (format!("{}, IPv6", t.label), r))
            });
            v4.chain(v6)
        });
        for (label, (mode, r)) in rows {
            let line = match r {
                Ok(r) => format!(
                    "{:.2} Mpps ({:.2} offered), {:.0}% busy, {:.0}% stolen, per core {:.2} = {:.0} ns/packet (windows {:.2}–{:.2}){}",
                    r.mpps(),
                    r.offered_mpps(),
                    r.fwd_busy * 100.0,
                    r.fwd_steal * 100.0,
                    r.per_core_mpps(),
                    1e3 / r.per_core_mpps(),
                    r.spread.0,
                    r.spread.1,
                    r.forwarded.map_or(String::new(), |f| format!(
                        ", forwarded/received {:.3}",
                        f as f64 / r.received.max(1) as f64
                    ))
                ),
                Err(e) => e.clone(),
            };
            let _ = writeln!(s, "  {label:<28} {:<10} {line}", mode.name());
        }
        for t in &self.tables {
            let full = t
                .costs
                .iter()
                .find(|(m, _)| *m == Mode::Sluice)
                .map(|(_, c)| c);
            if let Some(line) = split_line(&t.stages, full) {
                let _ = writeln!(s, "\nPer stage, sluice, {}, IPv4: {line}", t.label);
            }
            if let Some(v6) = &t.v6
                && let Some(line) = split_line(&v6.stages, v6.cost.as_ref())
            {
                let _ = writeln!(s, "Per stage, sluice, {}, IPv6: {line}", t.label);
            }
        }
        for t in &self.tables {
            for (mode, c) in &t.costs {
                let _ = writeln!(
                    s,
                    "\nBPF_PROG_TEST_RUN cost, {}, {} ({} destinations), ns/packet:",
                    mode.name(),
                    t.label,
                    t.destinations
                );
                match c {
                    Ok(c) => {
                        let _ = writeln!(
                            s,
                            "  cold (fresh frame, new destination every run): {:.0} net ({:.0} measured, floor {:.0})\n  warm (200 runs per frame):                     {:.0} net ({:.0} measured, floor {:.0})\n  {} of {} cold runs not redirected",
                            c.cold_net(),
                            c.cold_ns,
                            c.cold_floor_ns,
                            c.warm_net(),
                            c.warm_ns,
                            c.warm_floor_ns,
                            c.not_redirected,
                            c.calls
                        );
                    }
                    Err(e) => {
                        let _ = writeln!(s, "  failed: {e}");
                    }
                }
            }
        }
        for t in &self.tables {
            let Some(v6) = &t.v6 else { continue };
            let _ = writeln!(
                s,
                "\nIPv6 beside {}: {} prefixes, {} destinations {}",
                t.label, v6.prefixes, v6.destinations, t.spread
            );
            let _ = writeln!(
                s,
                "  FIB (poptrie) built and written in {:.2} s, {:.1} MiB of arrays in use ({:.0} MiB capacity); \
                 the kernel LPM_TRIE written in {:.2} s (BPF_MAP_UPDATE_BATCH)",
                v6.load.as_secs_f64(),
                v6.bytes.0 as f64 / MIB,
                v6.bytes.1 as f64 / MIB,
                v6.trie_load.as_secs_f64()
            );
            let mix: Vec<String> = v6.mix.iter().map(|(l, n)| format!("/{l}:{n}")).collect();
            let _ = writeln!(s, "  length mix {}", mix.join(" "));
            for (what, cost) in [("sluice", &v6.cost), ("LPM_TRIE", &v6.trie_cost)] {
                match cost {
                    Some(Ok(c)) => {
                        let _ = writeln!(
                            s,
                            "  BPF_PROG_TEST_RUN, {what}, ns/packet: cold {:.0} net ({:.0} measured, floor {:.0}), warm {:.0} net; {} of {} cold runs not redirected",
                            c.cold_net(),
                            c.cold_ns,
                            c.cold_floor_ns,
                            c.warm_net(),
                            c.not_redirected,
                            c.calls
                        );
                    }
                    Some(Err(e)) => {
                        let _ = writeln!(s, "  {what} test-run cost failed: {e}");
                    }
                    None => {}
                }
            }
            if let (Some(Ok(p)), Some(Ok(t))) = (&v6.cost, &v6.trie_cost) {
                let _ = writeln!(
                    s,
                    "  LPM_TRIE / sluice, cold: {:.2}×, warm: {:.2}×",
                    t.cold_net() / p.cold_net(),
                    t.warm_net() / p.warm_net()
                );
            }
        }
        for t in self.tables.iter().filter(|t| t.prefixes > 1) {
            let share = |lo: u8, hi: u8| {
                let n: usize = t
                    .mix
                    .iter()
                    .filter(|(l, _)| (lo..=hi).contains(l))
                    .map(|m| m.1)
                    .sum();
                100.0 * n as f64 / t.prefixes as f64
            };
            let _ = writeln!(
                s,
                "\ntable {}: /24 {:.1}%, /16–/23 {:.1}%, /8–/15 {:.1}%, /25–/32 {:.2}%",
                t.label,
                share(24, 24),
                share(16, 23),
                share(8, 15),
                share(25, 32)
            );
        }
        let _ = writeln!(s, "\nFIB load:");
        for t in &self.tables {
            let _ = writeln!(
                s,
                "  {:<22} Sluice DIR-24-8 {:.3} s (build {:.3} s + write through mmap {:.3} s); kernel ip -batch {}",
                t.label,
                (t.fib_build + t.fib_write).as_secs_f64(),
                t.fib_build.as_secs_f64(),
                t.fib_write.as_secs_f64(),
                t.kernel_load
                    .map_or("not loaded (no mode needs it)".into(), |d| format!(
                        "{:.1} s",
                        d.as_secs_f64()
                    ))
            );
            let _ = writeln!(
                s,
                "  {:<22} Sluice DXR {:.3} s (build {:.3} s + write {:.3} s), {} range entries ({:.1} MiB of the 8 MiB table; direct table 2 MiB); routes over {} groups, destinations {}",
                "",
                (t.dxr_build + t.dxr_write).as_secs_f64(),
                t.dxr_build.as_secs_f64(),
                t.dxr_write.as_secs_f64(),
                t.dxr_ranges,
                f64::from(t.dxr_ranges) * 4.0 / (1 << 20) as f64,
                t.groups,
                t.spread
            );
            let _ = writeln!(
                s,
                "  {:<22} Sluice IPv4 poptrie {:.3} s (build {:.3} s + write {:.3} s), {:.1} MiB of its arrays in use",
                "",
                (t.pop4_build + t.pop4_write).as_secs_f64(),
                t.pop4_build.as_secs_f64(),
                t.pop4_write.as_secs_f64(),
                t.pop4_bytes as f64 / (1 << 20) as f64,
            );
        }
        if let Some((n, r)) = &self.lpm_load {
            let line = match r {
                Ok(d) => format!("{:.2} s", d.as_secs_f64()),
                Err(e) => format!("failed: {e}"),
            };
            let _ = writeln!(
                s,
                "  {n} prefixes into an LPM_TRIE with BPF_MAP_UPDATE_BATCH: {line}"
            );
        }
        for t in &self.tables {
            if let Some(mv) = &t.uplink_move {
                let _ = writeln!(
                    s,
                    "\nUplink move, {} (every prefix's group — {} of them — has its 64 buckets rewritten A → B under load):",
                    t.label, t.groups
                );
                match mv {
                    Ok(m) => {
                        let _ = writeln!(
                            s,
                            "  the writes: {:.1} µs under load (idle: median {:.1} µs of 101)\n  second before: A {} B {}; second after (from 20 ms on): A {} B {}\n  then {} test packets, idle: A {} B {}",
                            m.write_us,
                            m.write_us_idle_median,
                            m.before_a,
                            m.before_b,
                            m.after_a,
                            m.after_b,
                            crate::pps::PROBES,
                            m.probe_a,
                            m.probe_b
                        );
                    }
                    Err(e) => {
                        let _ = writeln!(s, "  failed: {e}");
                    }
                }
            }
        }
        s
    }

    pub fn json(&self) -> Value {
        let m = &self.machine;
        let tables: Vec<Value> = self
            .tables
            .iter()
            .map(|t| {
                let rates: serde_json::Map<String, Value> = t
                    .rates
                    .iter()
                    .map(|(mode, r)| {
                        let v = match r {
                            Ok(r) => json!({
                                "mpps_per_core": r.per_core_mpps(),
                                "fwd_ns_per_packet": 1e3 / r.per_core_mpps(),
                                "mpps": r.mpps(),
                                "offered_mpps": r.offered_mpps(),
                                "fwd_cpu_busy": r.fwd_busy,
                                "fwd_cpu_steal": r.fwd_steal,
                                "mpps_per_core_min": r.spread.0,
                                "mpps_per_core_max": r.spread.1,
                                "seconds": r.seconds,
                                "received": r.received,
                                "offered": r.offered,
                                "xdp_forwarded": r.forwarded,
                            }),
                            Err(e) => json!({ "error": e }),
                        };
                        (mode.name().to_owned(), v)
                    })
                    .collect();
                let pc = |mode| t.rate(mode).map(|r| r.per_core_mpps());
                json!({
                    "label": t.label,
                    "prefixes": t.prefixes,
                    "length_mix": t.mix.iter().map(|(l, n)| (format!("/{l}"), json!(n))).collect::<serde_json::Map<_, _>>(),
                    "destinations": t.destinations,
                    "rates": rates,
                    "ratio_sluice_fib_lookup": ratio(pc(Mode::Sluice), pc(Mode::FibLookup)),
                    "ratio_sluice_kernel": ratio(pc(Mode::Sluice), pc(Mode::Kernel)),
                    "ratio_dxr_sluice": ratio(pc(Mode::Dxr), pc(Mode::Sluice)),
                    "ratio_pop4_sluice": ratio(pc(Mode::Pop4), pc(Mode::Sluice)),
                    "pop4_bytes_in_use": t.pop4_bytes,
                    "stop_after_ns": stages_json(&t.stages),
                    "per_cpu_mpps_whole": t.whole_cpu.iter().map(|(m, r)| (m.name().to_string(), r.as_ref().map_or(Value::Null, |r| json!(r.per_cpu_mpps())))).collect::<serde_json::Map<_, _>>(),
                    "v6": t.v6.as_ref().map(|v6| json!({
                        "prefixes": v6.prefixes,
                        "load_s": v6.load.as_secs_f64(),
                        "bytes_in_use": v6.bytes.0,
                        "bytes_capacity": v6.bytes.1,
                        "trie_load_s": v6.trie_load.as_secs_f64(),
                        "destinations": v6.destinations,
                        "test_run_ns": v6.cost.as_ref().map(cost_json),
                        "trie_test_run_ns": v6.trie_cost.as_ref().map(cost_json),
                        "stop_after_ns": stages_json(&v6.stages),
                        "kernel_load_s": v6.kernel_load.map(|d| d.as_secs_f64()),
                        "mpps_per_core": v6.rates.iter().map(|(m, r)| (m.name().to_string(), r.as_ref().map_or(Value::Null, |r| json!(r.per_core_mpps())))).collect::<serde_json::Map<_, _>>(),
                        "per_cpu_mpps_whole": v6.whole_cpu.iter().map(|(m, r)| (m.name().to_string(), r.as_ref().map_or(Value::Null, |r| json!(r.per_cpu_mpps())))).collect::<serde_json::Map<_, _>>(),
                    })),
                    "groups": t.groups,
                    "destination_spread": t.spread,
                    "dxr_range_entries": t.dxr_ranges,
                    "fib_load_s": {
                        "sluice_build": t.fib_build.as_secs_f64(),
                        "sluice_write": t.fib_write.as_secs_f64(),
                        "dxr_build": t.dxr_build.as_secs_f64(),
                        "dxr_write": t.dxr_write.as_secs_f64(),
                        "pop4_build": t.pop4_build.as_secs_f64(),
                        "pop4_write": t.pop4_write.as_secs_f64(),
                        "kernel_ip_batch": t.kernel_load.map(|d| d.as_secs_f64()),
                    },
                    "test_run_ns": t.costs.iter().map(|(mode, c)| (mode.name().to_owned(), match c {
                        Ok(c) => json!({
                            "cold_net": c.cold_net(), "cold": c.cold_ns, "cold_floor": c.cold_floor_ns,
                            "warm_net": c.warm_net(), "warm": c.warm_ns, "warm_floor": c.warm_floor_ns,
                            "not_redirected": c.not_redirected, "calls": c.calls,
                        }),
                        Err(e) => json!({ "error": e }),
                    })).collect::<serde_json::Map<_, _>>(),
                    "uplink_move": t.uplink_move.as_ref().map(|r| match r {
                        Ok(m) => json!({
                            "write_us": m.write_us,
                            "write_us_idle_median": m.write_us_idle_median,
                            "before": { "a": m.before_a, "b": m.before_b },
                            "after": { "a": m.after_a, "b": m.after_b },
                            "probes": { "sent": crate::pps::PROBES, "a": m.probe_a, "b": m.probe_b },
                        }),
                        Err(e) => json!({ "error": e }),
                    }),
                })
            })
            .collect();
        json!({
            "machine": {
                "cpu": m.cpu, "nproc": m.nproc, "kernel": m.kernel,
                "loadavg_start": m.load_start, "loadavg_end": m.load_end,
            },
            "command": self.command,
            "placement": {
                "fwd_cpu": self.place.fwd_cpu, "sender_cpu": self.place.sender_cpu,
                "sched_fifo": self.place.rt,
                "window_s": self.place.window.as_secs_f64(), "windows": self.place.windows, "warmup_s": self.place.warmup.as_secs_f64(),
            },
            "tables": tables,
            "lpm_trie_batch_load": self.lpm_load.as_ref().map(|(n, r)| match r {
                Ok(d) => json!({ "prefixes": n, "seconds": d.as_secs_f64() }),
                Err(e) => json!({ "prefixes": n, "error": e }),
            }),
        })
    }
}

/// A test-run cost as JSON.
fn cost_json(c: &Result<Cost, String>) -> serde_json::Value {
    match c {
        Ok(c) => {
            json!({ "cold_net": c.cold_net(), "warm_net": c.warm_net(), "not_redirected": c.not_redirected })
        }
        Err(e) => json!({ "error": e }),
    }
}

/// Each stage's share of the cold cost: the program stopped after stage k
/// minus stopped after stage k - 1 (the first net of the floor; the last
/// stage is the full run minus the rewrite stop). Warm runs are left out:
/// 200 runs of one frame differ by less than their noise.
fn split_line(stages: &crate::run::Stages, full: Option<&Result<Cost, String>>) -> Option<String> {
    let Some(Ok(full)) = full else { return None };
    let mut parts = Vec::new();
    let mut cold = 0.0;
    for (stage, c) in stages {
        let c = c.as_ref().ok()?;
        parts.push(format!("{} {:.0}", stage.name(), c.cold_net() - cold));
        cold = c.cold_net();
    }
    if parts.is_empty() {
        return None;
    }
    parts.push(format!(
        "MACs, counters and redirect {:.0}",
        full.cold_net() - cold
    ));
    Some(format!(
        "cold ns, net of the floor: {} (whole: {:.0})",
        parts.join(", "),
        full.cold_net()
    ))
}

/// The test-run cost stopped after each stage, as JSON.
fn stages_json(stages: &crate::run::Stages) -> serde_json::Value {
    stages
        .iter()
        .map(|(stage, c)| (format!("{stage:?}").to_lowercase(), cost_json(c)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}
