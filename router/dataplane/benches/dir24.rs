//! DIR-24-8 FIB builder: bulk build of a 1M-prefix table and incremental
//! update rates.
//!
//! `cargo bench -p sluice-dataplane --bench dir24`

use std::collections::HashSet;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice_dataplane::dir24::{DEFAULT_TBL8_GROUPS, Dir24, Prefix};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A length drawn from a full-table-like mix: ≈60 % /24, ≈38 % /8–/23
/// (mostly /16–/23), ≈1 % /25–/32. Per mille.
fn length(rng: &mut Rng) -> u8 {
    const MIX: &[(u8, u8, u64)] = &[
        (24, 24, 600),
        (23, 23, 100),
        (22, 22, 120),
        (21, 21, 40),
        (20, 20, 40),
        (19, 19, 30),
        (18, 18, 15),
        (17, 17, 10),
        (16, 16, 25),
        (8, 15, 10),
        (25, 32, 10),
    ];
    let mut r = rng.below(1000);
    for &(lo, hi, w) in MIX {
        if r < w {
            return lo + rng.below(u64::from(hi - lo) + 1) as u8;
        }
        r -= w;
    }
    unreachable!()
}

/// `n` distinct prefixes with groups 1..=1024. Prefixes longer than /24 are
/// clustered under 2,000 /24s (as in real tables: a few customers' /24s
/// split up), so they fit the default 8,192 tbl8 groups.
fn routes(rng: &mut Rng, n: usize, taken: &mut HashSet<Prefix>) -> Vec<(Prefix, u16)> {
    let split24: Vec<u32> = (0..2000)
        .map(|_| (rng.next() as u32) & 0xffff_ff00)
        .collect();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let len = length(rng);
        let addr = if len > 24 {
            split24[rng.below(split24.len() as u64) as usize] | (rng.next() as u32 & 0xff)
        } else {
            // Mostly unicast space 1.0.0.0–223.255.255.255.
            0x0100_0000 + (rng.next() as u32) % (0xe000_0000 - 0x0100_0000)
        };
        let p = Prefix::new(addr, len).unwrap();
        if taken.insert(p) {
            out.push((p, 1 + rng.below(1024) as u16));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut taken = HashSet::new();
    let table = routes(&mut rng, 1_000_000, &mut taken);
    let churn = routes(&mut rng, 10_000, &mut taken);
    let churn24: Vec<(Prefix, u16)> = churn
        .iter()
        .copied()
        .filter(|(p, _)| p.prefix_len() <= 24)
        .collect();

    let t = Instant::now();
    let mut fib = Dir24::from_routes(DEFAULT_TBL8_GROUPS, table.iter().copied()).unwrap();
    eprintln!(
        "1M-prefix build: {:.1} ms, {} prefixes, {} tbl8 groups in use",
        t.elapsed().as_secs_f64() * 1e3,
        fib.len(),
        fib.tbl8_groups_in_use()
    );
    let t = Instant::now();
    let d = fib.take_dirty();
    eprintln!(
        "take_dirty after the build: {:.2} ms, {} top words, {} tbl8 words",
        t.elapsed().as_secs_f64() * 1e3,
        d.top_word_count(),
        d.tbl8_word_count()
    );

    let mut g = c.benchmark_group("dir24");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(4));

    g.throughput(Throughput::Elements(table.len() as u64));
    g.bench_function("from_routes_1M", |b| {
        b.iter(|| {
            Dir24::from_routes(DEFAULT_TBL8_GROUPS, black_box(&table).iter().copied()).unwrap()
        })
    });

    // A table loading into the daemon's FIB: one prefix at a time, in
    // address order (the placement backlog hands out sorted runs).
    let mut sorted = table.clone();
    sorted.sort_unstable_by_key(|&(p, _)| (p.addr(), p.prefix_len()));
    g.throughput(Throughput::Elements(sorted.len() as u64));
    g.bench_function("insert_1M_one_by_one", |b| {
        b.iter(|| {
            let mut f = Dir24::new(DEFAULT_TBL8_GROUPS);
            for &(p, grp) in black_box(&sorted) {
                f.insert(p, grp).unwrap();
            }
            f
        })
    });

    // The same into the daemon's builder, which writes into the maps
    // through an overlay, written out every chunk of 8,192 as the FIB
    // writer does.
    g.bench_function("insert_1M_one_by_one_live", |b| {
        b.iter(|| {
            let mut f = Dir24::live_in_memory(DEFAULT_TBL8_GROUPS);
            for chunk in black_box(&sorted).chunks(8192) {
                for &(p, grp) in chunk {
                    f.insert(p, grp).unwrap();
                }
                f.take_dirty();
            }
            f
        })
    });

    // The whole table withdrawn from the daemon's builder, in address
    // order and chunks as the writer takes them (the build is not timed).
    g.bench_function("remove_1M_one_by_one_live", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let mut f = Dir24::live_in_memory(DEFAULT_TBL8_GROUPS);
                for &(p, grp) in &sorted {
                    f.insert(p, grp).unwrap();
                }
                f.take_dirty();
                let t = Instant::now();
                for chunk in black_box(&sorted).chunks(8192) {
                    for &(p, _) in chunk {
                        f.remove(p);
                    }
                    f.take_dirty();
                }
                spent += t.elapsed();
                assert!(f.is_empty());
            }
            spent
        })
    });

    // Incremental updates on the full table: insert 10k new prefixes (the
    // same length mix), then remove them again; only one half is timed.
    g.throughput(Throughput::Elements(churn.len() as u64));
    g.bench_function("insert_10k_into_1M", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                for &(p, grp) in &churn {
                    fib.insert(p, grp).unwrap();
                }
                spent += t.elapsed();
                for &(p, _) in &churn {
                    fib.remove(p);
                }
                fib.take_dirty();
            }
            spent
        })
    });
    g.bench_function("remove_10k_from_1M", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                for &(p, grp) in &churn {
                    fib.insert(p, grp).unwrap();
                }
                let t = Instant::now();
                for &(p, _) in &churn {
                    fib.remove(p);
                }
                spent += t.elapsed();
                fib.take_dirty();
            }
            spent
        })
    });
    g.throughput(Throughput::Elements(churn24.len() as u64));
    g.bench_function("insert_remove_le24_pairs", |b| {
        b.iter(|| {
            for &(p, grp) in &churn24 {
                fib.insert(p, grp).unwrap();
                fib.remove(p);
            }
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("take_dirty_after_10k_inserts", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                for &(p, grp) in &churn {
                    fib.insert(p, grp).unwrap();
                }
                let t = Instant::now();
                black_box(fib.take_dirty());
                spent += t.elapsed();
                for &(p, _) in &churn {
                    fib.remove(p);
                }
                fib.take_dirty();
            }
            spent
        })
    });

    let probes: Vec<u32> = (0..1_000_000).map(|_| rng.next() as u32).collect();
    g.throughput(Throughput::Elements(probes.len() as u64));
    g.bench_function("lookup_1M_random", |b| {
        b.iter(|| {
            let mut acc = 0u32;
            for &a in &probes {
                acc = acc.wrapping_add(u32::from(fib.lookup(a)));
            }
            acc
        })
    });
    g.finish();

    for &(p, grp) in &churn {
        fib.insert(p, grp).unwrap();
    }
    let d = fib.take_dirty();
    eprintln!(
        "10k inserts dirty: {} top words in {} ranges, {} tbl8 words in {} ranges",
        d.top_word_count(),
        d.top.len(),
        d.tbl8_word_count(),
        d.tbl8.len()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
