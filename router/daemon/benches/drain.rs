//! What a drain costs with a million prefixes, through the daemon's own
//! path (`Placer`, what `Fib::set_active` drives; the pre-check of
//! `sluice_whatif`): the pre-check, then the first step (the groups that
//! use the drained uplink rewritten: from then on the data plane no longer
//! selects it), then the per-prefix clean-up. Two sites:
//!
//! - both uplinks send the full table: the drain is group writes only;
//! - iap-a sends the full table, iap-b only a default: every prefix falls
//!   back to the default, and the clean-up removes them one by one.
//!
//! `cargo bench -p sluice-daemon --bench drain [-- PREFIXES]` prints the
//! median of five drain/undrain cycles. Writing a group into the XDP maps
//! is one bpf(2) call on top (measured by `scripts/bench.sh xdp`).

use std::time::{Duration, Instant};

use sluice_config::{Config, Source, parse};
use sluice_daemon::fib::placer::Placer;
use sluice_rib::Rib;

mod common;
use common::{CONFIG, Sends};

/// iap-a sends `prefixes` /24s; iap-b the same (`b_full`) or a default.
fn rib(prefixes: u32, b_full: bool) -> Rib {
    let table = Sends {
        table: true,
        default: false,
    };
    let b = Sends {
        table: b_full,
        default: !b_full,
    };
    common::rib(prefixes, [table, b], &[])
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn site(config: &Config, prefixes: u32, b_full: bool) {
    let rib = rib(prefixes, b_full);
    let mut placer = Placer::new(config);
    placer.all_ports_up(config);
    placer.set_active(&[true, true]);
    let all: Vec<_> = rib.iter().map(|(p, _)| p).collect();
    let t = Instant::now();
    for p in &all {
        placer.place(&rib, p);
    }
    placer.program.take();
    let load = t.elapsed();
    let (mut check, mut first, mut clean, mut back) = (vec![], vec![], vec![], vec![]);
    let mut cleaned = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let plan = sluice_whatif::drain_plan(config, &rib, &[true, true], &[0], false);
        check.push(t.elapsed());
        assert!(!plan.blocked(), "{:?}", plan.findings);

        let t = Instant::now();
        placer.set_active(&[false, true]);
        let groups = placer.program.take().groups.len();
        first.push(t.elapsed());
        assert!(groups >= 1, "the drain rewrote no group");

        let t = Instant::now();
        cleaned = placer.clean_up(&rib);
        placer.program.take();
        placer.program.fib4.take_dirty();
        clean.push(t.elapsed());

        let t = Instant::now();
        placer.set_active(&[true, true]);
        placer.program.take();
        placer.clean_up(&rib);
        placer.program.take();
        placer.program.fib4.take_dirty();
        back.push(t.elapsed());
    }
    println!(
        "{} ({} prefixes placed in {:.2?}):\n  pre-check {:.2?}; group rewrite {:.2?} (the uplink is out of the data plane); \
         clean-up {:.2?} ({cleaned} prefixes placed again); undrain {:.2?}",
        if b_full {
            "both uplinks send the full table"
        } else {
            "iap-a sends the full table, iap-b a default"
        },
        all.len(),
        load,
        median(check),
        median(first),
        median(clean),
        median(back),
    );
}

fn main() {
    let prefixes = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let config = parse(&Source::new("bench.yaml", CONFIG)).unwrap();
    println!("drain of iap-a, median of 5 cycles (`cargo bench -p sluice-daemon --bench drain`):");
    site(&config, prefixes, true);
    let b_default = CONFIG.replace(
        "asn: 65002 }, import: full-table",
        "asn: 65002 }, import: default-only",
    );
    let config = parse(&Source::new("bench.yaml", b_default)).unwrap();
    site(&config, prefixes, false);
}
