//! What the list requests cost the route owner with a million prefixes:
//! the answer to each is built there, and BGP waits meanwhile.
//!
//! - `show routes` pages (the default 1,000 and the cap of 10,000; the
//!   first page and one deep into the table), against what one request
//!   cost before paging (every prefix collected and sorted);
//! - `show routes PREFIX` for an address no route covers but the default
//!   (the longest match, one lookup per prefix length);
//! - `show fib` pages over the programmed prefixes;
//! - the RIB dump, per part (the longest turn) and in all.
//!
//! `cargo bench -p sluice-daemon --bench control [-- PREFIXES]` prints the
//! median of five runs of each.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use sluice_config::{Config, Source, parse};
use sluice_daemon::fib::placer::Placer;
use sluice_daemon::routing::show::{Query, route_views};
use sluice_rib::Rib;
use sluice_wire::Prefix;

mod common;
use common::{CONFIG, Sends};

/// Both uplinks send `prefixes` /24s and a default.
fn rib(prefixes: u32) -> Rib {
    let both = Sends {
        table: true,
        default: true,
    };
    common::rib(prefixes, [both; 2], &[100, 200])
}

fn median(mut f: impl FnMut() -> Duration) -> Duration {
    let mut v: Vec<Duration> = (0..5).map(|_| f()).collect();
    v.sort();
    v[2]
}

fn timed<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let t = Instant::now();
    let out = f();
    (t.elapsed(), out)
}

fn main() {
    let prefixes = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let config: Config = parse(&Source::new("bench.yaml", CONFIG)).unwrap();
    let active = [true, true];
    let rib = rib(prefixes);
    println!(
        "{} prefixes, 2 paths each; median of 5 (`cargo bench -p sluice-daemon --bench control`):",
        rib.prefixes()
    );

    let deep: Prefix = format!("{}/24", Ipv4Addr::from(0x1400_0000 + ((prefixes / 2) << 8)))
        .parse()
        .unwrap();
    for (limit, after, what) in [
        (1_000, None, "first page of 1,000 (the default)"),
        (10_000, None, "first page of 10,000 (the cap)"),
        (10_000, Some(deep), "a page of 10,000 half way"),
    ] {
        let t = median(|| {
            let (t, (routes, next)) = timed(|| {
                route_views(
                    &rib,
                    &config,
                    &active,
                    None,
                    Query {
                        after,
                        limit,
                        ..Query::default()
                    },
                )
            });
            assert_eq!(routes.len(), limit);
            assert!(next.is_some());
            t
        });
        let select = median(|| timed(|| rib.page(after.as_ref(), limit)).0);
        println!("  show routes, {what}: {t:.2?} (finding the page {select:.2?})");
    }
    let unpaged = median(|| {
        timed(|| {
            let mut all: Vec<Prefix> = rib.iter().map(|(p, _)| p).collect();
            all.sort();
            all.truncate(1_000);
            all
        })
        .0
    });
    println!("  before paging, any request of the table (collect and sort all): {unpaged:.2?}");
    let addr: Prefix = "198.51.100.7/32".parse().unwrap();
    let t = median(|| {
        let (t, (routes, _)) = timed(|| {
            route_views(
                &rib,
                &config,
                &active,
                None,
                Query {
                    prefix: Some(addr),
                    limit: 1,
                    ..Query::default()
                },
            )
        });
        assert_eq!(routes[0].prefix, "0.0.0.0/0");
        t
    });
    println!("  show routes 198.51.100.7 (longest match: the default): {t:.2?}");

    let mut placer = Placer::new(&config);
    placer.all_ports_up(&config);
    placer.set_active(&active);
    for (p, _) in rib.iter() {
        placer.place(&rib, &p);
    }
    placer.program.take();
    let t = median(|| {
        let (t, page) = timed(|| placer.program.page(None, 10_000));
        assert!(page.more);
        t
    });
    println!("  show fib, finding a page of 10,000 programmed prefixes: {t:.2?}");

    let name = |u: usize| config.uplinks.get(u).map(|x| x.name.value.clone());
    let (mut longest, mut all, mut lines) = (Duration::ZERO, Duration::ZERO, 0);
    let (t, (mut dumper, _)) = timed(|| sluice_whatif::dump::Dumper::new(&rib, name));
    all += t;
    loop {
        let (t, part) = timed(|| dumper.next_part(&rib));
        longest = longest.max(t);
        all += t;
        let Some(part) = part else { break };
        lines += part.len();
    }
    println!(
        "  RIB dump: {lines} lines in {} parts, {all:.2?} in all, the longest part {longest:.2?}",
        rib.parts()
    );
}
