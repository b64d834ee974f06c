//! Exact cases, the packing contract, and a property test against a naive
//! longest-prefix match.

use super::*;
use crate::dirty::DirtyBits;
use crate::loader::mmap::MappedWords;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;

fn p(s: &str) -> Prefix {
    s.parse().unwrap()
}

fn a(s: &str) -> u32 {
    u32::from(s.parse::<Ipv4Addr>().unwrap())
}

/// Naive longest-prefix match over a model.
fn naive(model: &BTreeMap<Prefix, u16>, addr: u32) -> u16 {
    model
        .iter()
        .filter(|(p, _)| p.contains(addr))
        .max_by_key(|(p, _)| p.prefix_len())
        .map_or(0, |(_, &g)| g)
}

/// Interesting addresses for a model: each prefix's first and last
/// address and their neighbours.
fn probes(model: &BTreeMap<Prefix, u16>, extra: &[u32]) -> Vec<u32> {
    let mut v = extra.to_vec();
    for p in model.keys() {
        let last = p.addr() | !mask(p.prefix_len());
        v.extend([
            p.addr(),
            p.addr().wrapping_sub(1),
            last,
            last.wrapping_add(1),
        ]);
    }
    v
}

fn check_all(fib: &Dir24, model: &BTreeMap<Prefix, u16>, extra: &[u32]) {
    for addr in probes(model, extra) {
        assert_eq!(
            fib.lookup(addr),
            naive(model, addr),
            "lookup {} with {model:?}",
            Ipv4Addr::from(addr)
        );
    }
    assert_eq!(fib.len(), model.len());
    for (&p, &g) in model {
        assert_eq!(fib.get(p), Some(g), "get {p} with {model:?}");
    }
    // The /24 of every probe: installed exactly when the model has it.
    for addr in probes(model, extra) {
        let p = Prefix::new(addr, 24).unwrap();
        assert_eq!(fib.get(p), model.get(&p).copied(), "get {p} with {model:?}");
    }
}

fn apply(shadow_top: &mut [u64], shadow_tbl8: &mut [u64], fib: &mut Dir24) {
    let d = fib.take_dirty();
    for r in d.tbl8 {
        let r = r.start as usize..r.end as usize;
        shadow_tbl8[r.clone()].copy_from_slice(&fib.tbl8_words()[r]);
    }
    for r in d.top {
        let r = r.start as usize..r.end as usize;
        shadow_top[r.clone()].copy_from_slice(&fib.top_words()[r]);
    }
}

#[test]
fn nested_8_24_32_in_every_delete_order() {
    let routes = [
        (p("10.0.0.0/8"), 1),
        (p("10.1.2.0/24"), 2),
        (p("10.1.2.3/32"), 3),
    ];
    let extra = [
        a("10.1.2.3"),
        a("10.1.2.4"),
        a("10.1.3.3"),
        a("10.200.0.1"),
        a("11.0.0.0"),
    ];
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for ins in orders {
        for del in orders {
            let mut fib = Dir24::new(16);
            let mut model = BTreeMap::new();
            for &k in &ins {
                fib.insert(routes[k].0, routes[k].1).unwrap();
                model.insert(routes[k].0, routes[k].1);
                check_all(&fib, &model, &extra);
            }
            assert_eq!(fib.lookup(a("10.1.2.3")), 3);
            assert_eq!(fib.lookup(a("10.1.2.4")), 2);
            assert_eq!(fib.lookup(a("10.1.3.3")), 1);
            assert_eq!(fib.lookup(a("11.0.0.0")), 0);
            for &k in &del {
                assert!(fib.remove(routes[k].0));
                assert!(!fib.remove(routes[k].0));
                model.remove(&routes[k].0);
                check_all(&fib, &model, &extra);
            }
            assert!(fib.is_empty());
            assert_eq!(fib.tbl8_groups_in_use(), 0);
            assert!(fib.top_words().iter().all(|&w| w == 0));
        }
    }
}

#[test]
fn default_route() {
    let mut fib = Dir24::new(4);
    fib.insert(p("0.0.0.0/0"), 7).unwrap();
    fib.insert(p("192.0.2.128/25"), 8).unwrap();
    assert_eq!(fib.lookup(0), 7);
    assert_eq!(fib.lookup(u32::MAX), 7);
    assert_eq!(fib.lookup(a("192.0.2.127")), 7);
    assert_eq!(fib.lookup(a("192.0.2.128")), 8);
    // Replacing the default route reaches into the tbl8 group.
    fib.insert(p("0.0.0.0/0"), 9).unwrap();
    assert_eq!(fib.lookup(a("192.0.2.127")), 9);
    assert_eq!(fib.lookup(a("192.0.2.200")), 8);
    assert_eq!(fib.len(), 2);
    assert!(fib.remove(p("0.0.0.0/0")));
    assert_eq!(fib.lookup(0), 0);
    assert_eq!(fib.lookup(a("192.0.2.127")), 0);
    assert_eq!(fib.lookup(a("192.0.2.200")), 8);
}

#[test]
fn siblings_25_26() {
    let mut fib = Dir24::new(4);
    fib.insert(p("192.168.1.0/25"), 1).unwrap();
    fib.insert(p("192.168.1.128/26"), 2).unwrap();
    assert_eq!(fib.tbl8_groups_in_use(), 1);
    let at = |fib: &Dir24, o: u8| fib.lookup(a("192.168.1.0") | u32::from(o));
    assert_eq!(at(&fib, 0), 1);
    assert_eq!(at(&fib, 127), 1);
    assert_eq!(at(&fib, 128), 2);
    assert_eq!(at(&fib, 191), 2);
    assert_eq!(at(&fib, 192), 0);
    assert_eq!(at(&fib, 255), 0);
    // A covering /24 added afterwards fills only the holes.
    fib.insert(p("192.168.1.0/24"), 3).unwrap();
    assert_eq!(at(&fib, 0), 1);
    assert_eq!(at(&fib, 128), 2);
    assert_eq!(at(&fib, 192), 3);
    assert_eq!(fib.lookup(a("192.168.2.0")), 0);
    assert!(fib.remove(p("192.168.1.0/25")));
    assert_eq!(at(&fib, 0), 3);
    assert_eq!(at(&fib, 128), 2);
    assert!(fib.remove(p("192.168.1.128/26")));
    assert_eq!(fib.tbl8_groups_in_use(), 0);
    // Collapsed: the top entry holds the /24's group directly.
    let i = (a("192.168.1.0") >> 8) as usize;
    assert_eq!(get16(&fib.top, i), 3);
}

#[test]
fn tbl8_collapse_and_id_reuse() {
    let mut fib = Dir24::new(4);
    fib.insert(p("10.0.0.0/16"), 5).unwrap();
    fib.insert(p("10.0.1.1/32"), 6).unwrap();
    let i = (a("10.0.1.0") >> 8) as usize;
    assert_eq!(get16(&fib.top, i), TBL8_FLAG);
    assert_eq!(fib.lookup(a("10.0.1.2")), 5);
    assert!(fib.remove(p("10.0.1.1/32")));
    assert_eq!(get16(&fib.top, i), 5);
    assert_eq!(fib.tbl8_groups_in_use(), 0);
    assert_eq!(fib.tbl8_groups_quarantined(), 1);
    // Group 0 is quarantined until the change has been taken.
    fib.insert(p("10.0.2.0/25"), 7).unwrap();
    assert_eq!(get16(&fib.top, i + 1), TBL8_FLAG | 1);
    let dirty = fib.take_dirty();
    // The /16's 256 entries are 64 words; the /32 and /25 changes are
    // inside them.
    let w16 = a("10.0.0.0") >> 8 >> 2;
    assert_eq!(dirty.top, vec![w16..w16 + 64]);
    assert_eq!(dirty.tbl8, vec![0..128]);
    assert_eq!(fib.tbl8_groups_quarantined(), 0);
    fib.insert(p("10.0.3.0/25"), 8).unwrap();
    assert_eq!(get16(&fib.top, i + 2), TBL8_FLAG);
    assert_eq!(fib.lookup(a("10.0.3.1")), 8);
    assert_eq!(fib.lookup(a("10.0.3.129")), 5);
    assert_eq!(fib.lookup(a("10.0.2.1")), 7);
    assert_eq!(fib.lookup(a("10.0.1.1")), 5);
    assert_eq!(fib.tbl8_groups_in_use(), 2);
}

#[test]
fn exhaustion_changes_nothing() {
    let mut fib = Dir24::new(2);
    fib.insert(p("0.0.0.0/0"), 1).unwrap();
    fib.insert(p("10.0.0.1/32"), 2).unwrap();
    fib.insert(p("10.0.1.1/32"), 3).unwrap();
    let before = fib.clone();
    let err = fib.insert(p("10.0.2.1/32"), 4).unwrap_err();
    assert_eq!(
        err,
        Dir24Error::Tbl8Exhausted {
            capacity: 2,
            quarantined: 0
        }
    );
    assert_eq!(fib.top_words(), before.top_words());
    assert_eq!(fib.tbl8_words(), before.tbl8_words());
    assert_eq!(fib.top_depth, before.top_depth);
    assert_eq!(fib.tbl8_depth, before.tbl8_depth);
    assert_eq!(fib.len(), 3);
    assert_eq!(fib.get(p("10.0.2.1/32")), None);
    assert_eq!(fib.lookup(a("10.0.2.1")), 1);
    assert_eq!(fib.take_dirty(), before.clone().take_dirty());
    // Longer prefixes under /24s that already have a group still fit.
    fib.insert(p("10.0.0.128/25"), 5).unwrap();
    assert_eq!(fib.lookup(a("10.0.0.200")), 5);
    // Freed-but-quarantined groups are reported.
    assert!(fib.remove(p("10.0.1.1/32")));
    let err = fib.insert(p("10.0.2.1/32"), 4).unwrap_err();
    assert_eq!(
        err,
        Dir24Error::Tbl8Exhausted {
            capacity: 2,
            quarantined: 1
        }
    );
    fib.take_dirty();
    fib.insert(p("10.0.2.1/32"), 4).unwrap();
    assert_eq!(fib.lookup(a("10.0.2.1")), 4);
}

#[test]
fn bad_input() {
    let mut fib = Dir24::new(1);
    assert_eq!(fib.insert(p("10.0.0.0/8"), 0), Err(Dir24Error::BadGroup(0)));
    assert_eq!(
        fib.insert(p("10.0.0.0/8"), 0x8000),
        Err(Dir24Error::BadGroup(0x8000))
    );
    assert_eq!(Prefix::new(0, 33), Err(Dir24Error::BadLength(33)));
    assert!("10.0.0.0/x".parse::<Prefix>().is_err());
    assert!(fib.is_empty());
    assert!(fib.take_dirty().is_empty());
    // Host bits are cleared.
    assert_eq!(p("10.1.2.3/8"), p("10.0.0.0/8"));
    assert_eq!(p("10.1.2.3").to_string(), "10.1.2.3/32");
    fib.insert(p("10.0.0.0/8"), MAX_NEXT_HOP_GROUP).unwrap();
    assert_eq!(fib.lookup(a("10.9.9.9")), 0x7fff);
    assert!(!fib.remove(p("10.0.0.0/9")));
}

#[test]
fn packing_matches_documented_layout() {
    let mut fib = Dir24::new(4);
    // 1.2.3.0/24: top index 0x010203 → word 0x4080, slot 3 (bits 48..63).
    fib.insert(p("1.2.3.0/24"), 0x1234).unwrap();
    assert_eq!(fib.top_words()[0x4080], 0x1234_0000_0000_0000);
    // 1.2.0.0/24: index 0x010200 → same word, slot 0 (bits 0..15).
    fib.insert(p("1.2.0.0/24"), 0x0042).unwrap();
    assert_eq!(fib.top_words()[0x4080], 0x1234_0000_0000_0042);
    // 1.2.0.0/22 covers all four slots but only fills 1 and 2: 0 and 3
    // belong to longer prefixes.
    fib.insert(p("1.2.0.0/22"), 0x0007).unwrap();
    assert_eq!(fib.top_words()[0x4080], 0x1234_0007_0007_0042);
    // A /32 moves index 0x010203 into tbl8 group 0: 0x8000 in slot 3.
    fib.insert(p("1.2.3.7/32"), 0x0abc).unwrap();
    assert_eq!(fib.top_words()[0x4080], 0x8000_0007_0007_0042);
    // Group 0 entry 7 is word 1 slot 3; entries 4..=6 inherit 0x1234.
    assert_eq!(fib.tbl8_words()[1], 0x0abc_1234_1234_1234);
    assert_eq!(fib.tbl8_words()[0], 0x1234_1234_1234_1234);
    assert_eq!(fib.tbl8_words()[63], 0x1234_1234_1234_1234);
    // A second group (id 1) for 255.255.255.0/24: top index 0xffffff,
    // word 0x3fffff slot 3; its entry 0x80..=0xff is tbl8 words 64+32..64+64.
    fib.insert(p("255.255.255.128/25"), 0x7fff).unwrap();
    assert_eq!(fib.top_words()[0x3f_ffff], 0x8001_0000_0000_0000);
    assert_eq!(fib.tbl8_words()[64 + 31], 0);
    assert_eq!(fib.tbl8_words()[64 + 32], 0x7fff_7fff_7fff_7fff);
    assert_eq!(fib.tbl8_words()[127], 0x7fff_7fff_7fff_7fff);
    // The reference lookup reads those words.
    assert_eq!(fib.lookup(a("1.2.3.7")), 0x0abc);
    assert_eq!(fib.lookup(a("1.2.3.8")), 0x1234);
    assert_eq!(fib.lookup(a("1.2.1.8")), 0x0007);
    assert_eq!(fib.lookup(a("1.2.0.8")), 0x0042);
    assert_eq!(fib.lookup(a("255.255.255.255")), 0x7fff);
    assert_eq!(fib.lookup(a("255.255.255.127")), 0);
    // And the dirty set names exactly the words written.
    let d = fib.take_dirty();
    assert_eq!(d.top, vec![0x4080..0x4081, 0x3f_ffff..0x40_0000]);
    // A newly allocated group is written whole.
    assert_eq!(d.tbl8, vec![0..128]);
    // Later changes only touch the words they change.
    fib.insert(p("1.2.3.9/32"), 0x0def).unwrap();
    fib.insert(p("255.255.255.0/26"), 0x0003).unwrap();
    let d = fib.take_dirty();
    assert!(d.top.is_empty());
    assert_eq!(d.tbl8, vec![2..3, 64..80]);
    assert_eq!(fib.tbl8_words()[2], 0x1234_1234_0def_1234);
    assert!(fib.take_dirty().is_empty());
}

#[test]
fn dirty_ranges_merge_and_split() {
    let mut bits = DirtyBits::new(1 << 14);
    bits.mark_range(3, 200);
    bits.mark(200);
    bits.mark(202);
    bits.mark_range(4095, 8193);
    bits.mark(0);
    assert_eq!(bits.take(), vec![0..1, 3..201, 202..203, 4095..8193]);
    assert_eq!(bits.take(), vec![]);
    bits.mark_range(0, 1 << 14);
    assert_eq!(bits.take(), vec![0..1 << 14]);
}

#[test]
fn from_routes_matches_inserts() {
    let routes = [
        (p("0.0.0.0/0"), 1),
        (p("10.0.0.0/8"), 2),
        (p("10.1.0.0/16"), 3),
        (p("10.1.2.0/24"), 4),
        (p("10.1.2.0/25"), 5),
        (p("10.1.2.64/26"), 6),
        (p("10.1.2.77/32"), 7),
        (p("10.1.3.77/32"), 8),
        (p("10.1.3.77/32"), 9), // the last one wins
        (p("10.1.0.0/16"), 10),
    ];
    let bulk = Dir24::from_routes(8, routes).unwrap();
    // In the same order, inserts allocate the same group ids.
    let mut fwd = Dir24::new(8);
    for (pr, g) in routes {
        fwd.insert(pr, g).unwrap();
    }
    assert_eq!(bulk.len(), 8);
    assert_eq!(bulk.top_words(), fwd.top_words());
    assert_eq!(bulk.tbl8_words(), fwd.tbl8_words());
    assert_eq!(bulk.tbl8_groups_in_use(), 2);
    // In reverse order (duplicates fixed up) only the ids differ.
    let mut rev = Dir24::new(8);
    for (pr, g) in routes.iter().rev().skip(2) {
        rev.insert(*pr, *g).unwrap();
    }
    rev.insert(p("10.1.3.77/32"), 9).unwrap();
    rev.insert(p("10.1.0.0/16"), 10).unwrap();
    assert_eq!(bulk.top_depth, rev.top_depth);
    let model: BTreeMap<Prefix, u16> = routes.iter().copied().collect();
    check_all(&bulk, &model, &[]);
    check_all(&rev, &model, &[]);
    let mut bulk = bulk;
    let d = bulk.take_dirty();
    assert_eq!(d.top, vec![0..TOP_WORDS as u32]);
    assert_eq!(d.tbl8, vec![0..128]);
    // Deleting from a bulk-built FIB restores covering routes.
    assert!(bulk.remove(p("10.1.0.0/16")));
    assert_eq!(bulk.lookup(a("10.1.9.9")), 2);
    assert!(bulk.remove(p("10.1.2.0/25")));
    assert_eq!(bulk.lookup(a("10.1.2.1")), 4);
    assert_eq!(bulk.lookup(a("10.1.2.77")), 7);
    assert_eq!(
        Dir24::from_routes(1, routes).unwrap_err(),
        Dir24Error::Tbl8Exhausted {
            capacity: 1,
            quarantined: 0
        }
    );
    assert_eq!(
        Dir24::from_routes(8, [(p("1.0.0.0/8"), 0)]).unwrap_err(),
        Dir24Error::BadGroup(0)
    );
}

#[derive(Debug, Clone)]
enum Op {
    Insert(Prefix, u16),
    Remove(Prefix),
    RemoveExisting(usize),
    TakeDirty,
}

/// Prefixes clustered around a few bases so that they nest and collide.
fn prefix_strategy() -> impl Strategy<Value = Prefix> {
    let base = prop_oneof![
        Just(0x0a01_0200u32),
        Just(0x0a01_0300),
        Just(0x0a00_0000),
        Just(0xc0a8_0000),
        Just(0xffff_ff00),
        Just(0),
        any::<u32>(),
    ];
    let len = prop_oneof![
        1 => prop_oneof![1 => Just(0u8), 3 => 4u8..8],
        20 => 8u8..=24,
        24 => 25u8..=32,
    ];
    (base, 0u32..1024, len).prop_map(|(b, off, len)| Prefix::new(b ^ off, len).unwrap())
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (prefix_strategy(), 1u16..=6).prop_map(|(p, g)| Op::Insert(p, g)),
        1 => prefix_strategy().prop_map(Op::Remove),
        4 => any::<usize>().prop_map(Op::RemoveExisting),
        1 => Just(Op::TakeDirty),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn matches_naive_lpm(
        ops in prop::collection::vec(op_strategy(), 1..80),
        extra in prop::collection::vec(any::<u32>(), 16),
    ) {
        const CAP: u32 = 6;
        let mut fib = Dir24::new(CAP);
        let mut model: BTreeMap<Prefix, u16> = BTreeMap::new();
        let mut shadow_top = vec![0u64; TOP_WORDS];
        let mut shadow_tbl8 = vec![0u64; CAP as usize * TBL8_GROUP_WORDS];
        for op in ops {
            match op {
                Op::Insert(pr, g) => match fib.insert(pr, g) {
                    Ok(()) => {
                        model.insert(pr, g);
                    }
                    Err(e) => {
                        let exhausted = matches!(e, Dir24Error::Tbl8Exhausted { .. });
                        prop_assert!(exhausted, "{}", e);
                        prop_assert!(pr.prefix_len() > 24);
                        prop_assert_eq!(
                            fib.tbl8_groups_in_use() + fib.tbl8_groups_quarantined(),
                            CAP
                        );
                    }
                },
                Op::Remove(pr) => {
                    prop_assert_eq!(fib.remove(pr), model.remove(&pr).is_some());
                }
                Op::RemoveExisting(k) => {
                    if !model.is_empty() {
                        let pr = *model.keys().nth(k % model.len()).unwrap();
                        model.remove(&pr);
                        prop_assert!(fib.remove(pr));
                    }
                }
                Op::TakeDirty => apply(&mut shadow_top, &mut shadow_tbl8, &mut fib),
            }
            check_all(&fib, &model, &extra);
            let extended: std::collections::BTreeSet<u32> = model
                .keys()
                .filter(|p| p.prefix_len() > 24)
                .map(|p| p.addr() >> 8)
                .collect();
            prop_assert_eq!(fib.tbl8_groups_in_use() as usize, extended.len());
        }
        // The words named dirty are all that a loader needs to write.
        apply(&mut shadow_top, &mut shadow_tbl8, &mut fib);
        prop_assert!(shadow_top == fib.top_words());
        for addr in probes(&model, &extra) {
            prop_assert_eq!(lookup_in(&shadow_top, &shadow_tbl8, addr), naive(&model, addr));
        }
        // A bulk build of the final set agrees entry for entry.
        let bulk = Dir24::from_routes(CAP, model.iter().map(|(&p, &g)| (p, g))).unwrap();
        prop_assert!(bulk.top_depth == fib.top_depth);
        // Both list what was installed, the /24s found in the words.
        let want: Vec<(Prefix, u16)> = model.iter().map(|(&p, &g)| (p, g)).collect();
        for f in [&fib, &bulk] {
            let mut all: Vec<(Prefix, u16)> = f.iter().collect();
            all.sort();
            prop_assert_eq!(&all, &want);
        }
        for addr in probes(&model, &extra) {
            prop_assert_eq!(bulk.lookup(addr), fib.lookup(addr));
        }
    }
}

#[test]
fn the_discard_group_id_is_accepted() {
    // layout::GROUP_DISCARD (32767) is a valid entry value: the program
    // drops instead of looking up a group.
    let discard = crate::layout::GROUP_DISCARD;
    assert_eq!(discard, MAX_NEXT_HOP_GROUP);
    let mut fib = Dir24::new(4);
    fib.insert(p("198.51.100.0/24"), discard).unwrap();
    fib.insert(p("198.51.100.128/25"), 7).unwrap();
    fib.insert(p("203.0.113.9/32"), discard).unwrap();
    assert_eq!(fib.lookup(a("198.51.100.1")), discard);
    assert_eq!(fib.lookup(a("198.51.100.200")), 7);
    assert_eq!(fib.lookup(a("203.0.113.9")), discard);
    assert_eq!(fib.lookup(a("203.0.113.8")), 0);
    assert_eq!(
        fib.insert(p("10.0.0.0/8"), discard + 1),
        Err(Dir24Error::BadGroup(discard + 1))
    );
    assert!(Dir24::from_routes(4, [(p("10.0.0.0/8"), discard)]).is_ok());
}

/// The entry for `addr` as the XDP program reads it from the maps.
fn map_lookup(top: &MappedWords, tbl8: &MappedWords, addr: u32) -> u16 {
    let entry = |m: &MappedWords, i: usize| {
        let w = m.words().get(i >> 2)?;
        Some((w.load(Relaxed) >> ((i & 3) * 16)) as u16)
    };
    lookup_by(|i| entry(top, i), |i| entry(tbl8, i), addr)
}

fn words(m: &MappedWords) -> Vec<u64> {
    m.words().iter().map(|w| w.load(Relaxed)).collect()
}

/// The program's lookup: the codes first, then the words.
fn coded_lookup(codes: &MappedWords, top: &MappedWords, tbl8: &MappedWords, addr: u32) -> u16 {
    use crate::layout::{FIB4_CODE_TOP, fib4_code_position, fib4_palette_position};
    let (word, shift) = fib4_code_position((addr >> 8) as usize);
    let code = ((codes.words()[word].load(Relaxed) >> shift) & 0xf) as u8;
    if code == FIB4_CODE_TOP {
        return map_lookup(top, tbl8, addr);
    }
    let (word, shift) = fib4_palette_position(code.into());
    (codes.words()[word].load(Relaxed) >> shift) as u16
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// A builder over the maps writes into them, at each `take_dirty`,
    /// exactly what a loader copies from an owned builder's dirty words;
    /// a fresh one over another builder's leftovers leaves those
    /// forwarding until its first `take_dirty`, then none of them.
    #[test]
    fn a_live_builder_writes_what_a_loader_would(
        ops in prop::collection::vec(op_strategy(), 1..80),
        extra in prop::collection::vec(any::<u32>(), 16),
        leftovers in prop::collection::vec((0..TOP_WORDS, any::<u64>()), 0..64),
    ) {
        const CAP: u32 = 6;
        let top = Arc::new(MappedWords::anonymous(TOP_WORDS));
        let tbl8 = Arc::new(MappedWords::anonymous(CAP as usize * TBL8_GROUP_WORDS));
        for &(w, v) in &leftovers {
            top.words()[w].store(v, Relaxed);
        }
        let fresh = !leftovers.is_empty();
        // The leftovers' codes, as the builder that left them wrote them.
        let code_words = Arc::new(MappedWords::anonymous(CODE_WORDS));
        let mut codes = Codes::over(Arc::clone(&code_words));
        for &(w, _) in &leftovers {
            codes.store(w, top.words()[w].load(Relaxed));
        }
        let codes = Arc::new(std::sync::Mutex::new(Codes::over(Arc::clone(&code_words))));
        let mut live = Dir24::live(Arc::clone(&top), Arc::clone(&tbl8), codes, fresh);
        let mut owned = Dir24::new(CAP);
        let mut shadow_top = vec![0u64; TOP_WORDS];
        let mut shadow_tbl8 = vec![0u64; CAP as usize * TBL8_GROUP_WORDS];
        let mut model: BTreeMap<Prefix, u16> = BTreeMap::new();
        let mut published = false;
        for op in ops {
            match op {
                Op::Insert(pr, g) => {
                    let r = owned.insert(pr, g);
                    prop_assert_eq!(live.insert(pr, g), r.clone());
                    if r.is_ok() {
                        model.insert(pr, g);
                    }
                }
                Op::Remove(pr) => {
                    prop_assert_eq!(live.remove(pr), owned.remove(pr));
                    model.remove(&pr);
                }
                Op::RemoveExisting(k) => {
                    if !model.is_empty() {
                        let pr = *model.keys().nth(k % model.len()).unwrap();
                        model.remove(&pr);
                        prop_assert!(owned.remove(pr) && live.remove(pr));
                    }
                }
                Op::TakeDirty => {
                    apply(&mut shadow_top, &mut shadow_tbl8, &mut owned);
                    prop_assert!(live.take_dirty().is_empty());
                    published = true;
                    for addr in probes(&model, &extra) {
                        let want = lookup_in(&shadow_top, &shadow_tbl8, addr);
                        prop_assert_eq!(map_lookup(&top, &tbl8, addr), want);
                        prop_assert_eq!(coded_lookup(&code_words, &top, &tbl8, addr), want);
                    }
                }
            }
            for addr in probes(&model, &extra) {
                prop_assert_eq!(live.lookup(addr), owned.lookup(addr));
            }
        }
        if !published {
            // Nothing written yet: the maps hold what they held, and the
            // codes still agree with them.
            let held: std::collections::HashMap<usize, u64> = leftovers.iter().copied().collect();
            for (&w, &v) in &held {
                prop_assert_eq!(top.words()[w].load(Relaxed), v);
                for k in 0..4 {
                    let addr = ((w * 4 + k) as u32) << 8;
                    prop_assert_eq!(
                        coded_lookup(&code_words, &top, &tbl8, addr),
                        map_lookup(&top, &tbl8, addr)
                    );
                }
            }
        }
        apply(&mut shadow_top, &mut shadow_tbl8, &mut owned);
        live.take_dirty();
        prop_assert!(words(&top) == shadow_top);
        prop_assert!(words(&tbl8) == shadow_tbl8);
        for addr in probes(&model, &extra).into_iter().chain(leftovers.iter().map(|&(w, _)| (w as u32) << 10)) {
            prop_assert_eq!(
                coded_lookup(&code_words, &top, &tbl8, addr),
                lookup_in(&shadow_top, &shadow_tbl8, addr)
            );
        }
        // A clone is a snapshot of its own.
        let snapshot = live.clone();
        prop_assert!(!snapshot.is_live());
        prop_assert!(snapshot.top_words() == shadow_top.as_slice());
    }
}

#[test]
fn a_slash_24_is_found_in_the_words_whatever_hides_it() {
    let mut fib = Dir24::new(4);
    let p24 = p("10.1.2.0/24");
    fib.insert(p24, 3).unwrap();
    // Both halves covered by longer prefixes: no entry holds the /24's group.
    fib.insert(p("10.1.2.0/25"), 4).unwrap();
    fib.insert(p("10.1.2.128/25"), 5).unwrap();
    fib.insert(p("10.1.3.0/24"), 6).unwrap();
    fib.insert(p("10.1.0.0/16"), 7).unwrap();
    assert_eq!(fib.get(p24), Some(3));
    assert_eq!(fib.get(p("10.1.4.0/24")), None, "covered by the /16 only");
    let mut all: Vec<(Prefix, u16)> = fib.iter().collect();
    all.sort();
    assert_eq!(
        all,
        [
            (p("10.1.0.0/16"), 7),
            (p24, 3),
            (p("10.1.2.0/25"), 4),
            (p("10.1.2.128/25"), 5),
            (p("10.1.3.0/24"), 6),
        ]
    );
    // Replaced and removed through the words as well.
    assert_eq!(fib.replace(p24, 8).unwrap(), Some(3));
    assert_eq!(fib.take(p24), Some(8));
    assert_eq!(fib.get(p24), None);
    assert_eq!(fib.lookup(0x0a01_02ff), 5);
    assert!(fib.remove(p("10.1.2.128/25")));
    assert_eq!(fib.lookup(0x0a01_02ff), 7, "falls back to the /16");
    assert_eq!(fib.len(), 3);
}
