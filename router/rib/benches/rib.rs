//! The RIB's hot paths: inserting a full table's worth of routes (interning
//! their attributes) and best-path selection over prefixes with several paths.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sluice_rib::{PathAttrs, PeerId, PeerInfo, Rib};
use sluice_wire::Prefix;
use sluice_wire::update::AS_SEQUENCE;

const PREFIXES: u32 = 100_000;
const SETS: u32 = 5_000;

fn peer(n: u8) -> PeerInfo {
    PeerInfo {
        name: format!("p{n}"),
        address: IpAddr::from([203, 0, 113, n]),
        asn: 65000 + u32::from(n),
        router_id: Ipv4Addr::new(10, 0, 0, n),
        ebgp: true,
        uplink: Some(usize::from(n)),
    }
}

fn attrs(peer: u8, set: u32) -> PathAttrs {
    let path = [65000 + u32::from(peer), 3356, 1000 + set % 4000, 2000 + set];
    let len = 2 + (set % 3) as usize;
    let mut as_path = vec![AS_SEQUENCE, len as u8];
    for a in &path[..len] {
        as_path.extend(a.to_be_bytes());
    }
    PathAttrs {
        as_path,
        next_hop: Some(IpAddr::from([203, 0, 113, peer])),
        med: Some(set % 7),
        ..Default::default()
    }
}

fn prefix(i: u32) -> Prefix {
    // Spread over the space as /24s.
    Prefix::V4(
        ipnet::Ipv4Net::new(
            Ipv4Addr::from((i.wrapping_mul(2_654_435_761) & 0x00ff_ffff) << 8),
            24,
        )
        .unwrap(),
    )
}

/// A RIB with `peers` full feeds of the same `prefixes`, over `sets`
/// attribute sets each.
fn filled(peers: u8, prefixes: u32, sets: u32) -> Rib {
    let mut rib = Rib::default();
    for n in 1..=peers {
        let id = rib.add_peer(peer(n));
        for i in 0..prefixes {
            rib.announce_attrs(id, prefix(i), attrs(n, i % sets));
        }
    }
    rib
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("rib");
    g.sample_size(10);
    g.throughput(Throughput::Elements(u64::from(PREFIXES)));
    g.bench_function("announce 100k routes, 5k attribute sets", |b| {
        b.iter(|| black_box(filled(1, PREFIXES, SETS)));
    });
    let rib = filled(3, PREFIXES, SETS);
    let prefixes: Vec<Prefix> = (0..PREFIXES).map(prefix).collect();
    g.bench_function("select best of 3 paths, 100k prefixes", |b| {
        b.iter(|| {
            let mut n = 0;
            for p in &prefixes {
                n += rib.select(p, |_| true, 4).map_or(0, |s| s.multipath.len());
            }
            black_box(n)
        });
    });
    g.finish();

    // A session going down: the second of two full feeds leaves, and
    // every prefix falls back to the first's path. Table-sized, so that
    // what misses the cache at a full table misses here too.
    let mut g = c.benchmark_group("rib full table");
    g.sample_size(10);
    g.throughput(Throughput::Elements(u64::from(TABLE)));
    g.bench_function("flush the second of two 1M-route peers, 260k sets", |b| {
        b.iter_batched(
            || filled(2, TABLE, 260_000),
            |mut rib| black_box(rib.flush_peer(PeerId(1)).len()),
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

/// Prefixes of a full table.
const TABLE: u32 = 1_000_000;

criterion_group!(benches, bench);
criterion_main!(benches);
