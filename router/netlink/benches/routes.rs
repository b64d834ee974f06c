//! Routes per second into the kernel FIB: `Netlink::apply_routes` against
//! `ip -batch` of the same routes, in a throwaway namespace.
//!
//! ```text
//! cargo bench -p sluice-netlink --bench routes                      # 200k routes
//! SLUICE_BENCH_ROUTES=1000000 cargo bench -p sluice-netlink --bench routes
//! ```
//!
//! Every route is an IPv4 /24 through nexthop object 1, protocol 201,
//! metric 20, table main. Steps: add all; dump; set them again unchanged;
//! re-point them to nexthop 2; delete them in ascending order (or
//! descending with SLUICE_BENCH_DELETE_ORDER=reverse); `ip -batch` adds the
//! same routes; `flush_own` removes them (descending). Needs root (network
//! namespaces); prints a skip line otherwise. One measurement per step: a
//! batch of a million routes is its own average, and repeating it would
//! take minutes.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::net::IpAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use sluice_netlink::{Netlink, ROUTE_METRIC, ROUTE_PROTOCOL, Route, RouteChange, RouteTarget};
use sluice_testns::Lab;

const DEFAULT_ROUTES: usize = 200_000;

fn prefix(i: usize) -> IpAddr {
    IpAddr::from([20 + (i >> 16) as u8, (i >> 8) as u8, i as u8, 0])
}

fn all_ok(failed: &[(RouteChange, std::io::Error)]) {
    assert!(
        failed.is_empty(),
        "{} changes failed, first {:?}",
        failed.len(),
        failed.first()
    );
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// (wall, CPU) time of one step. CPU time is the robust figure on a
/// shared machine: the kernel does the work inside our `sendmsg` (or in
/// the `ip` child), so it is this thread's or the children's user + system
/// time, from /proc in clock ticks.
type Timing = (Duration, Duration);

fn report(what: &str, n: usize, (wall, cpu): Timing) {
    println!(
        "{what:<28} {n:>8} routes: wall {:>7.3} s = {:>9.0}/s, cpu {:>7.3} s = {:>9.0}/s",
        wall.as_secs_f64(),
        rate(n, wall),
        cpu.as_secs_f64(),
        rate(n, cpu)
    );
}

/// utime + stime (fields 14, 15) or cutime + cstime (16, 17) of a stat file.
fn stat_cpu(path: &str, children: bool) -> Duration {
    let stat = std::fs::read_to_string(path).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<u64> = after_comm
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|f| f.parse().unwrap())
        .collect();
    let ticks = if children {
        fields[2] + fields[3]
    } else {
        fields[0] + fields[1]
    };
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

fn time_self<T>(f: impl FnOnce() -> T) -> (T, Timing) {
    let (wall, cpu) = (Instant::now(), stat_cpu("/proc/thread-self/stat", false));
    let out = f();
    let cpu = stat_cpu("/proc/thread-self/stat", false) - cpu;
    (out, (wall.elapsed(), cpu))
}

fn time_children<T>(f: impl FnOnce() -> T) -> (T, Timing) {
    let (wall, cpu) = (Instant::now(), stat_cpu("/proc/self/stat", true));
    let out = f();
    let cpu = stat_cpu("/proc/self/stat", true) - cpu;
    (out, (wall.elapsed(), cpu))
}

fn main() {
    if !sluice_testns::is_root() {
        println!("routes bench skipped: needs root (network namespaces)");
        return;
    }
    let n: usize = std::env::var("SLUICE_BENCH_ROUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_ROUTES);
    assert!(n <= 200 << 16, "at most {} routes", 200 << 16);

    let lab = Lab::new("nl-bench");
    let (r, u) = (lab.node("r"), lab.node("u"));
    lab.link(&r, "eth1", &u, "eth0");
    r.addr("eth1", "10.1.0.1/24");
    u.addr("eth0", "10.1.0.2/24");
    let eth1 = common::ifindex_of(&r, "eth1");
    let mut nl = common::in_ns(&r, || Netlink::new().unwrap());
    nl.set_nexthop(1, "10.1.0.2".parse().unwrap(), eth1)
        .unwrap();
    nl.set_nexthop(2, "10.1.0.3".parse().unwrap(), eth1)
        .unwrap();

    let sets: Vec<RouteChange> = (0..n)
        .map(|i| {
            RouteChange::Set(Route {
                prefix: (prefix(i), 24),
                target: RouteTarget::Nexthop(1),
            })
        })
        .collect();
    let mut deletes: Vec<RouteChange> = (0..n)
        .map(|i| RouteChange::Delete((prefix(i), 24)))
        .collect();
    // SLUICE_BENCH_DELETE_ORDER=reverse deletes the last-added route first.
    if std::env::var("SLUICE_BENCH_DELETE_ORDER").as_deref() == Ok("reverse") {
        deletes.reverse();
    }

    // Sluice: add, dump, replace, delete.
    let (failed, add) = time_self(|| nl.apply_routes(&sets).unwrap());
    assert!(
        failed.is_empty(),
        "{} failed, first {:?}",
        failed.len(),
        failed.first()
    );
    let (own, dump) = time_self(|| nl.own_routes().unwrap().len());
    assert_eq!(own, n);
    let (failed, replace) = time_self(|| nl.apply_routes(&sets).unwrap());
    all_ok(&failed);
    let repoint: Vec<RouteChange> = (0..n)
        .map(|i| {
            RouteChange::Set(Route {
                prefix: (prefix(i), 24),
                target: RouteTarget::Nexthop(2),
            })
        })
        .collect();
    let (failed, repointed) = time_self(|| nl.apply_routes(&repoint).unwrap());
    all_ok(&failed);
    let (failed, delete) = time_self(|| nl.apply_routes(&deletes).unwrap());
    all_ok(&failed);
    assert!(nl.own_routes().unwrap().is_empty());

    // ip -batch of the same routes.
    let mut file = tempfile_in_target();
    for i in 0..n {
        writeln!(
            file.1,
            "route add {}/24 nhid 1 proto {ROUTE_PROTOCOL} metric {ROUTE_METRIC}",
            prefix(i)
        )
        .unwrap();
    }
    file.1.flush().unwrap();
    let (status, ip_batch) = time_children(|| {
        Command::new("ip")
            .args(["-n", r.name(), "-batch"])
            .arg(&file.0)
            .status()
            .unwrap()
    });
    assert!(status.success(), "ip -batch failed");
    assert_eq!(nl.own_routes().unwrap().len(), n);
    let (flushed, flush) = time_self(|| nl.flush_own().unwrap());
    assert_eq!(flushed.routes, n);
    let _ = std::fs::remove_file(&file.0);

    println!(
        "kernel FIB, {n} IPv4 /24 routes via nexthop objects, namespace {}",
        r.name()
    );
    report("apply_routes (add)", n, add);
    report("own_routes (dump)", n, dump);
    report("apply_routes (same again)", n, replace);
    report("apply_routes (to nexthop 2)", n, repointed);
    report("apply_routes (delete)", n, delete);
    report("ip -batch (add)", n, ip_batch);
    report("flush_own (dump + delete)", n, flush);
    println!(
        "apply_routes adds {:.1}x as fast as ip -batch (wall), {:.1}x (cpu)",
        ip_batch.0.as_secs_f64() / add.0.as_secs_f64(),
        ip_batch.1.as_secs_f64() / add.1.as_secs_f64().max(0.01)
    );
}

/// A scratch file under the target directory (not /tmp: it may be small).
fn tempfile_in_target() -> (std::path::PathBuf, std::io::BufWriter<std::fs::File>) {
    let dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.to_path_buf()))
        .unwrap_or_else(std::env::temp_dir);
    let path = dir.join(format!("sluice-netlink-bench-{}.batch", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    (path, std::io::BufWriter::new(file))
}
