//! Decoding a full-table-like stream of UPDATEs: frame + decode +
//! `Attrs::parse` + every prefix, against netgauze-bgp-pkt doing the same
//! messages. Throughput is in prefixes per second.
//!
//! `cargo bench -p sluice-wire --bench decode` (about a minute, most of it
//! building); the last lines print both rates and their ratio.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use netgauze_bgp_pkt::BgpMessage;
use netgauze_bgp_pkt::path_attribute::{MpReach, PathAttributeValue};
use netgauze_bgp_pkt::wire::deserializer::BgpParsingContext;
use netgauze_parse_utils::reader::SliceReader;
use netgauze_parse_utils::traits::ParseFromWithOneInput;
use sluice_wire::encode;
use sluice_wire::iana::attr::*;
use sluice_wire::nlri::{self, Prefixes};
use sluice_wire::update::{Attrs, Ctx, Verdict};
use sluice_wire::{Message, frame};

const UPDATES: usize = 10_000;
const IBGP_AS4: Ctx = Ctx {
    four_octet_as: true,
    ebgp: false,
};

/// xorshift64*: deterministic data without a dependency.
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
    fn pick<T: Copy>(&mut self, weighted: &[(u32, T)]) -> T {
        let total: u32 = weighted.iter().map(|w| w.0).sum();
        let mut x = self.below(u64::from(total)) as u32;
        for (w, v) in weighted {
            if x < *w {
                return *v;
            }
            x -= w;
        }
        unreachable!()
    }
}

/// Roughly the length mix of today's IPv4 table: 60 % /24.
fn v4_prefix(r: &mut Rng) -> IpNet {
    let len = r.pick(&[
        (60, 24u8),
        (9, 23),
        (9, 22),
        (5, 21),
        (5, 20),
        (4, 19),
        (4, 16),
        (4, 18),
    ]);
    let first = 1 + r.below(223) as u32;
    let addr = (first << 24) | (r.next() as u32 & 0x00ff_ffff);
    IpNet::V4(Ipv4Net::new(addr.into(), len).unwrap().trunc())
}

/// And of the IPv6 table: mostly /48, then /32 and /40s–/44s.
fn v6_prefix(r: &mut Rng) -> IpNet {
    let len = r.pick(&[
        (45, 48u8),
        (15, 32),
        (10, 44),
        (10, 40),
        (8, 36),
        (6, 29),
        (6, 64),
    ]);
    let addr = (0x2000u128 << 112) | (u128::from(r.next()) << 48);
    IpNet::V6(Ipv6Net::new(addr.into(), len).unwrap().trunc())
}

/// One UPDATE as a route reflector would send it: ORIGIN, AS_PATH of 1–9
/// 4-octet ASNs, NEXT_HOP, LOCAL_PREF, often MED and COMMUNITIES, sometimes
/// LARGE_COMMUNITIES, AGGREGATOR and ATOMIC_AGGREGATE; 5–20 prefixes, one
/// UPDATE in ten IPv6 in MP_REACH_NLRI.
fn update(r: &mut Rng) -> (Vec<u8>, usize) {
    let mut a = Vec::new();
    encode::attribute(
        &mut a,
        FLAG_TRANSITIVE,
        ORIGIN,
        &[r.pick(&[(85, 0u8), (1, 1), (14, 2)])],
    );
    let hops = 1 + r.pick(&[(10, 0u64), (30, 1), (30, 2), (15, 3), (8, 4), (7, 8)]) as usize;
    let mut path = vec![2, hops as u8];
    for _ in 0..hops {
        let asn = if r.below(5) == 0 {
            4_200_000_000 + r.below(1000) as u32
        } else {
            r.below(64_000) as u32 + 1
        };
        path.extend(asn.to_be_bytes());
    }
    encode::attribute(&mut a, FLAG_TRANSITIVE, AS_PATH, &path);
    let v6 = r.below(10) == 0;
    if !v6 {
        let nh = [192, 0, 2, 1 + r.below(250) as u8];
        encode::attribute(&mut a, FLAG_TRANSITIVE, NEXT_HOP, &nh);
    }
    if r.below(2) == 0 {
        let med = r.below(1000) as u32;
        encode::attribute(&mut a, FLAG_OPTIONAL, MED, &med.to_be_bytes());
    }
    encode::attribute(&mut a, FLAG_TRANSITIVE, LOCAL_PREF, &100u32.to_be_bytes());
    if r.below(20) == 0 {
        encode::attribute(&mut a, FLAG_TRANSITIVE, ATOMIC_AGGREGATE, &[]);
        let mut agg = (r.below(64_000) as u32 + 1).to_be_bytes().to_vec();
        agg.extend([198, 51, 100, 1]);
        encode::attribute(&mut a, FLAG_OPTIONAL | FLAG_TRANSITIVE, AGGREGATOR, &agg);
    }
    let communities = r.pick(&[(30, 0u64), (30, 2), (25, 4), (15, 8)]);
    if communities > 0 {
        let v: Vec<u8> = (0..communities)
            .flat_map(|_| ((65_000u32 << 16) | r.below(1000) as u32).to_be_bytes())
            .collect();
        encode::attribute(&mut a, FLAG_OPTIONAL | FLAG_TRANSITIVE, COMMUNITIES, &v);
    }
    if r.below(5) == 0 {
        let v: Vec<u8> = [4_200_000_001u32, 1, r.below(100) as u32]
            .iter()
            .flat_map(|x| x.to_be_bytes())
            .collect();
        encode::attribute(
            &mut a,
            FLAG_OPTIONAL | FLAG_TRANSITIVE,
            LARGE_COMMUNITIES,
            &v,
        );
    }
    let n = 5 + r.below(16) as usize;
    let mut field = Vec::new();
    if v6 {
        for _ in 0..n {
            nlri::encode(&v6_prefix(r), &mut field);
        }
        let mut mp = vec![0, 2, 1, 16, 0x20, 0x01, 0x0d, 0xb8];
        mp.extend([0; 11]);
        mp.extend([1 + r.below(250) as u8, 0]);
        mp.extend(&field);
        encode::attribute(&mut a, FLAG_OPTIONAL, MP_REACH, &mp);
        (encode::update(&[], &a, &[]), n)
    } else {
        for _ in 0..n {
            nlri::encode(&v4_prefix(r), &mut field);
        }
        (encode::update(&[], &a, &field), n)
    }
}

/// All UPDATEs back to back, as read from a socket, and how many prefixes.
fn stream() -> (Vec<u8>, usize) {
    let mut r = Rng(0x5eed_1e55_ba5e_ba11);
    let mut out = Vec::new();
    let mut prefixes = 0;
    for _ in 0..UPDATES {
        let (m, n) = update(&mut r);
        out.extend(m);
        prefixes += n;
    }
    (out, prefixes)
}

fn sluice(mut buf: &[u8]) -> usize {
    let mut prefixes = 0;
    while let Ok(Some(n)) = frame(buf, 4096) {
        let (m, rest) = buf.split_at(n);
        buf = rest;
        let Ok(Message::Update(u)) = Message::decode(m) else {
            panic!("not an UPDATE")
        };
        let (attrs, verdict) = Attrs::parse(&u, IBGP_AS4).expect("well-formed");
        assert_eq!(verdict, Verdict::Use);
        black_box(&attrs);
        for p in u.announced() {
            black_box(p);
            prefixes += 1;
        }
        if let Some(mp) = attrs.mp_reach {
            for p in Prefixes::new(mp.afi, mp.nlri) {
                black_box(p);
                prefixes += 1;
            }
        }
    }
    prefixes
}

fn netgauze(buf: &[u8]) -> usize {
    // 4-octet ASNs, no add-path, strict.
    let mut ctx = BgpParsingContext::default();
    let mut cur = SliceReader::new(buf);
    let mut prefixes = 0;
    while !cur.is_empty() {
        let Ok(BgpMessage::Update(u)) = BgpMessage::parse(&mut cur, &mut ctx) else {
            panic!("not an UPDATE")
        };
        for p in u.nlri() {
            black_box(p);
            prefixes += 1;
        }
        for a in u.path_attributes() {
            if let PathAttributeValue::MpReach(MpReach::Ipv6Unicast { nlri, .. }) = a.value() {
                for p in nlri.iter() {
                    black_box(p);
                    prefixes += 1;
                }
            }
        }
        black_box(&u);
    }
    prefixes
}

fn benches(c: &mut Criterion, buf: &[u8], prefixes: usize) {
    let mut g = c.benchmark_group("full_table_updates");
    g.throughput(Throughput::Elements(prefixes as u64));
    g.bench_function("sluice", |b| b.iter(|| sluice(black_box(buf))));
    g.bench_function("netgauze", |b| b.iter(|| netgauze(black_box(buf))));
    g.finish();
}

/// Best of a few runs of each, for a side-by-side line.
fn summary(buf: &[u8], prefixes: usize) {
    let best = |f: fn(&[u8]) -> usize| {
        (0..15)
            .map(|_| {
                let t = Instant::now();
                black_box(f(black_box(buf)));
                t.elapsed()
            })
            .min()
            .unwrap_or(Duration::MAX)
    };
    let (s, n) = (best(sluice), best(netgauze));
    let rate = |d: Duration| prefixes as f64 / d.as_secs_f64() / 1e6;
    println!(
        "{UPDATES} UPDATEs, {prefixes} prefixes, {} KiB: sluice {:.1} M prefixes/s ({s:.2?}), \
         netgauze {:.1} M prefixes/s ({n:.2?}), sluice/netgauze {:.1}x",
        buf.len() / 1024,
        rate(s),
        rate(n),
        n.as_secs_f64() / s.as_secs_f64(),
    );
}

fn main() {
    let (buf, prefixes) = stream();
    assert_eq!(sluice(&buf), prefixes);
    assert_eq!(netgauze(&buf), prefixes, "netgauze decodes the same stream");
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    benches(&mut c, &buf, prefixes);
    c.final_summary();
    // Not under `cargo test --benches` (criterion's --test mode) or --list.
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--test" || a == "--list") {
        summary(&buf, prefixes);
    }
}
