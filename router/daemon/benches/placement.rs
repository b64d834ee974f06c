//! What computing a loading table's entries costs the route owner: the
//! entry of each of a million prefixes (`placer::placements`, what
//! `Fib::update` runs before handing a chunk to the writer), in chunks of
//! the backlog's size, in address order as the backlog gives them.
//!
//! `cargo bench -p sluice-daemon --bench placement [-- PREFIXES]` prints
//! the median of five passes, in ns per prefix.

use std::time::Instant;

use sluice_config::{Source, parse};
use sluice_daemon::fib::placer::placements;
use sluice_rib::fib::Local;

mod common;
use common::{CONFIG, Sends};

fn main() {
    let prefixes: u32 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let config = parse(&Source::new("bench.yaml", CONFIG)).expect("bench config");
    let sends = Sends {
        table: true,
        default: false,
    };
    let none = Sends {
        table: false,
        default: true,
    };
    let rib = common::rib(prefixes, [sends, none], &[]);
    let mut all: Vec<_> = rib.iter().map(|(p, _)| p).collect();
    all.sort();
    let local = Local::new(&config);
    let active = [true, true];
    let mut out = Vec::new();
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        for chunk in all.chunks(8192) {
            out.clear();
            placements(&local, &active, &rib, chunk, &mut out);
        }
        times.push(t.elapsed().as_nanos() as f64 / all.len() as f64);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "placements: {} prefixes, {:.0} ns a prefix (median of 5; {:.0}-{:.0})",
        all.len(),
        times[2],
        times[0],
        times[4]
    );
}
