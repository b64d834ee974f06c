use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

fn p(s: &str) -> Prefix {
    s.parse().unwrap()
}

fn a(s: &str) -> u32 {
    u32::from(s.parse::<std::net::Ipv4Addr>().unwrap())
}

/// Longest match over a plain map: the reference.
fn naive(routes: &BTreeMap<Prefix, u16>, addr: u32) -> u16 {
    (0..=32u8)
        .rev()
        .find_map(|len| routes.get(&Prefix::new(addr, len).unwrap()).copied())
        .unwrap_or(0)
}

/// Every address where the answer may change, and its neighbours.
fn probes(routes: &BTreeMap<Prefix, u16>) -> Vec<u32> {
    let mut v = vec![0, u32::MAX];
    for q in routes.keys() {
        let size = 1u64 << (32 - q.prefix_len());
        let end = (u64::from(q.addr()) + size - 1) as u32;
        v.extend([q.addr(), end, q.addr().wrapping_sub(1), end.wrapping_add(1)]);
    }
    v
}

/// The layout invariants the program relies on.
fn check_layout(d: &Dxr) {
    for (c, &e) in d.direct().iter().enumerate() {
        if e & DIRECT_FLAG != 0 {
            continue;
        }
        let (base, count) = (e as u32 as usize, (e >> 32) as usize & 0xffff);
        assert!(count >= 2, "chunk {c}: a run of {count}");
        let run = &d.ranges()[base..base + count];
        assert_eq!(run[0] >> 16, 0, "chunk {c} starts at 0");
        for w in run.windows(2) {
            assert!(w[0] >> 16 < w[1] >> 16, "chunk {c}: sorted");
            assert_ne!(w[0] as u16, w[1] as u16, "chunk {c}: merged");
        }
    }
}

#[test]
fn ranges_follow_nested_prefixes() {
    let mut d = Dxr::new(1 << 16);
    d.replace(p("10.0.0.0/8"), 1).unwrap();
    d.replace(p("10.0.0.0/24"), 2).unwrap();
    d.replace(p("10.0.0.128/25"), 3).unwrap();
    d.replace(p("10.0.0.200/32"), 1).unwrap();
    d.replace(p("10.0.1.0/24"), 1).unwrap(); // same as the background: merged
    assert_eq!(d.lookup(a("10.0.0.1")), 2);
    assert_eq!(d.lookup(a("10.0.0.128")), 3);
    assert_eq!(d.lookup(a("10.0.0.200")), 1);
    assert_eq!(d.lookup(a("10.0.0.201")), 3);
    assert_eq!(d.lookup(a("10.0.1.7")), 1);
    assert_eq!(d.lookup(a("10.200.0.1")), 1);
    assert_eq!(d.lookup(a("11.0.0.1")), 0);
    // 10.0.0.0/18's chunk: 2 | 3 | 1 | 3 | 1 — five ranges.
    let e = d.direct()[(a("10.0.0.0") >> 14) as usize];
    assert_eq!((e >> 32) & 0xffff, 5);
    check_layout(&d);
    // A chunk whose long prefixes all agree with the cover goes direct.
    d.take(p("10.0.0.0/24")).unwrap();
    d.take(p("10.0.0.128/25")).unwrap();
    d.take(p("10.0.0.200/32")).unwrap();
    let e = d.direct()[(a("10.0.0.0") >> 14) as usize];
    assert_eq!(e, DIRECT_FLAG | 1);
    assert_eq!(d.len(), 2);
}

#[test]
fn a_default_route_reaches_every_chunk() {
    let mut d = Dxr::new(1 << 16);
    d.replace(p("192.0.2.0/24"), 2).unwrap();
    d.replace(p("0.0.0.0/0"), 1).unwrap();
    assert_eq!(d.lookup(0), 1);
    assert_eq!(d.lookup(u32::MAX), 1);
    assert_eq!(d.lookup(a("192.0.2.9")), 2);
    assert_eq!(d.lookup(a("192.0.3.9")), 1);
    assert_eq!(d.take_dirty().chunks.len(), DIRECT_ENTRIES);
    d.replace(p("0.0.0.0/0"), 3).unwrap();
    assert_eq!(d.lookup(a("192.0.3.9")), 3);
    assert_eq!(d.lookup(a("192.0.2.9")), 2);
    check_layout(&d);
}

#[test]
fn replaced_runs_wait_a_batch_before_reuse() {
    let mut d = Dxr::new(1 << 14);
    d.replace(p("10.0.0.0/24"), 1).unwrap();
    let first = d.take_dirty();
    assert_eq!(first.chunks, vec![a("10.0.0.0") >> 14]);
    d.replace(p("10.0.0.0/24"), 2).unwrap();
    let second = d.take_dirty();
    assert_ne!(first.runs[0].0, second.runs[0].0, "not the run in use");
    assert_eq!(d.ranges_in_use(), 2);
}

#[test]
fn a_full_range_table_is_an_error_not_a_wrong_answer() {
    // 2^14 entries hold 16,384 two-range chunks' worth at most... here
    // a run of 2 per chunk: 8,192 runs fit, the next fails.
    let mut d = Dxr::new(1 << 14);
    let mut n = 0u32;
    let err = loop {
        let q = Prefix::new(n << 14, 24).unwrap();
        match d.replace(q, 1) {
            Ok(_) => n += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(n, 8192);
    assert!(matches!(err, DxrError::Full { .. }), "{err}");
    // What was built still answers right.
    assert_eq!(d.lookup(5 << 14), 1);
    assert_eq!(d.lookup((5 << 14) + 256), 0);
}

/// Prefixes crowded into a few /16s, so chunks hold many ranges, plus
/// short ones that cover many chunks.
fn prefix() -> impl Strategy<Value = Prefix> {
    prop_oneof![
        (0u32..4, any::<u16>(), 17u8..=32).prop_map(|(hi, lo, len)| {
            Prefix::new(0x0a00_0000 | hi << 16 | u32::from(lo), len).unwrap()
        }),
        // (Up to 256 chunks each: a /0 rebuilds all 262,144, see
        // `a_default_route_reaches_every_chunk`.)
        (any::<u32>(), 10u8..=18).prop_map(|(addr, len)| Prefix::new(addr, len).unwrap()),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Set(Prefix, u16),
    Remove(Prefix),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (prefix(), 1u16..5).prop_map(|(p, g)| Op::Set(p, g)),
        1 => prefix().prop_map(Op::Remove),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any sequence of changes answers like a longest match, and a build
    /// from the final table answers the same.
    #[test]
    fn every_answer_is_the_longest_match(ops in prop::collection::vec(op(), 1..120)) {
        let mut d = Dxr::new(1 << 18);
        let mut routes = BTreeMap::new();
        for op in &ops {
            match *op {
                Op::Set(p, g) => {
                    prop_assert_eq!(d.replace(p, g).unwrap(), routes.insert(p, g));
                }
                Op::Remove(p) => {
                    prop_assert_eq!(d.take(p).unwrap(), routes.remove(&p));
                }
            }
            if routes.len() % 7 == 0 {
                d.take_dirty();
            }
        }
        prop_assert_eq!(d.len(), routes.len());
        check_layout(&d);
        let built = Dxr::from_routes(1 << 18, routes.iter().map(|(p, g)| (*p, *g))).unwrap();
        check_layout(&built);
        for addr in probes(&routes) {
            let want = naive(&routes, addr);
            prop_assert_eq!(d.lookup(addr), want, "{:#x}", addr);
            prop_assert_eq!(built.lookup(addr), want, "built {:#x}", addr);
        }
    }
}
