//! A one-second miniature of the pps harness (a 1,000-prefix FIB and as
//! many IPv6 prefixes; Sluice, DXR and IPv4 poptrie modes), so that the harness itself
//! can fail: packets must reach the sink on dst, and the XDP program's
//! `forwarded` verdicts must match what the sink counted (every forwarded
//! frame arrives, nothing else does), for IPv4 and IPv6 frames.
//!
//! Needs root (namespaces, BPF) and two CPUs; skips with a message
//! otherwise.

use std::time::Duration;

use sluice_bench::pps::{Mode, Placement};
use sluice_bench::run::{self, TableSpec};
use sluice_bench::{table, table6};

#[test]
fn the_pps_harness_forwards_through_sluice() {
    if !sluice_testns::is_root() {
        eprintln!(
            "skipped: needs root (network namespaces, BPF); run it via scripts/test.sh as root"
        );
        return;
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        eprintln!("skipped: needs two CPUs (one forwards, one sends), found {cpus}");
        return;
    }
    let routes = table::generate(1000, 3);
    let dsts = table::destinations(&routes, 500, 3);
    let routes6 = table6::generate6(1000, 3);
    let dsts6 = table6::destinations6(&routes6, 500, 0.0, 3);
    let spec = TableSpec {
        label: "mini".into(),
        routes,
        dsts,
        modes: vec![Mode::Sluice, Mode::Dxr, Mode::Pop4],
        cost: false,
        uplink_move: false,
        place: Placement {
            fwd_cpu: 1,
            sender_cpu: 0,
            rt: true,
            warmup: Duration::from_millis(300),
            window: Duration::from_secs(1),
            windows: 1,
        },
        groups: 4,
        spread: "uniform".into(),
        routes6,
        dsts6,
    };
    let run = run::run_table(&spec, &|m| eprintln!("{m}")).expect("the harness runs");
    let rate = run.rate(Mode::Sluice).expect("a Sluice rate");
    eprintln!("{rate:?}");
    assert!(rate.received > 0, "nothing reached dst: {rate:?}");
    let (forwarded, received) = rate.settled.expect("XDP verdicts are read in Sluice mode");
    let (f, r) = (forwarded as f64, received as f64);
    assert!(
        (f - r).abs() <= 0.02 * r + 100.0,
        "forwarded verdicts {forwarded} vs sink count {received} (settled): {rate:?}"
    );
    assert!(
        rate.fwd_busy > 0.0,
        "the forwarding NAPI thread never ran: {rate:?}"
    );
    assert!(rate.offered >= rate.received, "{rate:?}");
    // The DXR FIB forwards the same traffic.
    let dxr = run.rate(Mode::Dxr).expect("a DXR rate");
    let (forwarded, received) = dxr.settled.expect("XDP verdicts in DXR mode");
    assert!(received > 0, "nothing reached dst through DXR: {dxr:?}");
    assert!(
        (forwarded as f64 - received as f64).abs() <= 0.02 * received as f64 + 100.0,
        "DXR: forwarded {forwarded} vs received {received}"
    );
    // And the IPv4 poptrie.
    let pop4 = run.rate(Mode::Pop4).expect("an IPv4 poptrie rate");
    let (forwarded, received) = pop4.settled.expect("XDP verdicts in poptrie mode");
    assert!(
        received > 0,
        "nothing reached dst through the poptrie: {pop4:?}"
    );
    assert!(
        (forwarded as f64 - received as f64).abs() <= 0.02 * received as f64 + 100.0,
        "IPv4 poptrie: forwarded {forwarded} vs received {received}"
    );
    // And IPv6 frames, through the poptrie (DXR is IPv4 only).
    let v6 = run.v6.as_ref().expect("an IPv6 run");
    let rate6 = v6
        .rates
        .iter()
        .find(|(m, _)| *m == Mode::Sluice)
        .and_then(|(_, r)| r.as_ref().ok())
        .expect("an IPv6 Sluice rate");
    let (forwarded, received) = rate6.settled.expect("XDP verdicts for IPv6");
    assert!(received > 0, "no IPv6 frame reached dst: {rate6:?}");
    assert!(
        (forwarded as f64 - received as f64).abs() <= 0.02 * received as f64 + 100.0,
        "IPv6: forwarded {forwarded} vs received {received}"
    );
    assert!(
        v6.rates
            .iter()
            .all(|(m, _)| !matches!(m, Mode::Dxr | Mode::Pop4)),
        "no IPv6 DXR or IPv4-poptrie run"
    );
}
