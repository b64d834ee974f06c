use std::collections::BTreeMap;
use std::net::Ipv6Addr;

use proptest::prelude::*;

use super::*;

fn a(s: &str) -> u128 {
    u128::from(s.parse::<Ipv6Addr>().unwrap())
}

/// Small capacities, so that tests cover reuse and exhaustion quickly.
const SMALL: Capacity = Capacity {
    fans: 64,
    nodes: 1 << 16,
    leaves: 1 << 16,
};

/// Longest match over a plain map: the reference.
fn naive(routes: &BTreeMap<(u128, u8), u16>, addr: u128) -> u16 {
    (0..=128u8)
        .rev()
        .find_map(|len| routes.get(&(addr & mask(len), len)).copied())
        .unwrap_or(0)
}

/// Every address where the answer may change, and its neighbours.
fn probes(routes: &BTreeMap<(u128, u8), u16>) -> Vec<u128> {
    let mut v = vec![0, u128::MAX];
    for &(net, len) in routes.keys() {
        let end = net | !mask(len);
        v.extend([net, end, net.wrapping_sub(1), end.wrapping_add(1)]);
        // Inside, at each stride boundary a node decides on.
        v.extend((0..128).step_by(6).map(|b| net | (1u128 << b) & !mask(len)));
    }
    v
}

fn check(t: &Poptrie, routes: &BTreeMap<(u128, u8), u16>) {
    for addr in probes(routes) {
        assert_eq!(
            t.lookup(addr),
            naive(routes, addr),
            "{}",
            Ipv6Addr::from(addr)
        );
    }
}

fn build(routes: &[(&str, u8, u16)]) -> (Poptrie, BTreeMap<(u128, u8), u16>) {
    let mut t = Poptrie::new(SMALL);
    let mut want = BTreeMap::new();
    for &(net, len, g) in routes {
        t.insert(a(net), len, g).unwrap();
        want.insert((a(net) & mask(len), len), g);
    }
    let d = t.take_dirty();
    assert!(d.full.is_none(), "{:?}", d.full);
    (t, want)
}

#[test]
fn nested_prefixes_at_every_depth() {
    let (t, want) = build(&[
        ("::", 0, 1),
        ("2001:db8::", 32, 2),
        ("2001:db8:1::", 48, 3),
        ("2001:db8:1:2::", 64, 4),
        ("2001:db8:1:2::1", 128, 5),
        ("2001:db8:1:2::2", 127, 6),
        ("2001:db8:8000::", 33, 7),
        ("2001:dc0::", 20, 8),
        ("2001::", 16, 9),
        ("2000::", 3, 10),
    ]);
    assert_eq!(t.lookup(a("2001:db8:1:2::1")), 5);
    assert_eq!(t.lookup(a("2001:db8:1:2::3")), 6);
    assert_eq!(t.lookup(a("2001:db8:1:2::4")), 4);
    assert_eq!(t.lookup(a("2001:db8:1:3::")), 3);
    assert_eq!(t.lookup(a("2001:db8:ffff::")), 7);
    assert_eq!(t.lookup(a("2001:dc0::1")), 8);
    assert_eq!(t.lookup(a("2001:1::")), 8, "inside 2001::/20");
    assert_eq!(t.lookup(a("2001:1000::")), 9);
    assert_eq!(t.lookup(a("3fff::")), 10);
    assert_eq!(t.lookup(a("fe80::")), 1);
    check(&t, &want);
}

#[test]
fn runs_of_one_group_share_a_leaf() {
    // /48s of one group around a /48 of another: the root's other 63
    // positions are leaves, stored as three runs at most.
    let (t, _) = build(&[
        ("2001:db8::", 32, 1),
        ("2001:db8:1::", 48, 2),
        ("2001:db8:2::", 48, 1),
    ]);
    let (fans, nodes, leaves) = t.in_use();
    assert_eq!(fans, 1);
    // Depths 24, 30, 36, 42: one node each.
    assert_eq!(nodes, 4, "four nodes, a run of four");
    // Leaves, a run restarting after each node's one child: 2 + 2 (the
    // /32, 0) + 1 = 5, in a run of 8; the last node, with no child, keeps
    // its three (1, 2, 1) itself.
    assert_eq!(leaves, 8);
}

#[test]
fn removing_the_last_long_prefix_frees_the_fan() {
    let (mut t, _) = build(&[("::", 0, 1), ("2001:db8::", 32, 2)]);
    assert_eq!(t.in_use().0, 1);
    t.remove(a("2001:db8::"), 32);
    let d = t.take_dirty();
    assert!(!d.direct.is_empty());
    assert_eq!(t.in_use(), (0, 0, 0));
    assert_eq!(t.lookup(a("2001:db8::")), 1);
}

#[test]
fn a_default_route_change_reaches_every_chunk_and_slot() {
    let (mut t, mut want) = build(&[("::", 0, 1), ("2001:db8::", 32, 2)]);
    t.insert(0, 0, 3).unwrap();
    want.insert((0, 0), 3);
    t.take_dirty();
    check(&t, &want);
    assert_eq!(t.lookup(a("2001:db9::")), 3);
    assert_eq!(t.lookup(a("2001:db8::")), 2);
}

#[test]
fn replaced_runs_wait_a_batch_before_reuse() {
    let (mut t, _) = build(&[("2001:db8:1::", 48, 1)]);
    let old = t.slot_runs[&slot_of(a("2001:db8:1::"))];
    t.insert(a("2001:db8:2::"), 48, 2).unwrap();
    t.take_dirty();
    let new = t.slot_runs[&slot_of(a("2001:db8:1::"))];
    assert_ne!(old.0.at, new.0.at, "built beside the live subtree");
    t.insert(a("2001:db8:3::"), 48, 3).unwrap();
    t.take_dirty();
    let newer = t.slot_runs[&slot_of(a("2001:db8:1::"))];
    assert_ne!(newer.0.at, new.0.at);
}

#[test]
fn a_full_trie_keeps_the_old_answer_and_says_so() {
    let cap = Capacity {
        fans: 1,
        nodes: 1 << 16,
        leaves: 1 << 16,
    };
    let mut t = Poptrie::new(cap);
    t.insert(a("2001:db8::"), 32, 1).unwrap();
    assert!(t.take_dirty().full.is_none());
    t.insert(a("2a00:1::"), 32, 2).unwrap();
    let d = t.take_dirty();
    assert!(
        matches!(d.full, Some(PoptrieError::Full { what: "fans", .. })),
        "{:?}",
        d.full
    );
    assert_eq!(t.lookup(a("2001:db8::")), 1);
    assert_eq!(t.lookup(a("2a00:1::")), 0, "not placed, not wrong");
}

/// Applies `d` to `live` one word at a time, in the order the loader
/// writes, checking after each store that every probe reads the old answer
/// or the new.
fn apply_checking(live: &mut [Vec<u64>; 4], t: &Poptrie, d: &Dirty6, before: &[(u128, u16)]) {
    let arrays = [
        t.leaf_words(),
        t.node_words(),
        t.fan_words(),
        t.direct_words(),
    ];
    let ranges = [&d.leaves, &d.nodes, &d.fans, &d.direct];
    // live is (direct, fans, nodes, leaves); ranges are leaves first.
    let order = [3, 2, 1, 0];
    for (k, rs) in ranges.iter().enumerate() {
        for r in rs.iter() {
            for w in r.clone() {
                live[order[k]][w as usize] = arrays[k][w as usize];
                for &(addr, old) in before {
                    let now = lookup_in(&live[0], &live[1], &live[2], &live[3], addr);
                    let new = t.lookup(addr);
                    assert!(
                        now == old || now == new,
                        "{} read {now} mid-update (old {old}, new {new})",
                        Ipv6Addr::from(addr)
                    );
                }
            }
        }
    }
}

#[test]
fn a_reader_mid_update_sees_the_old_answer_or_the_new() {
    let (mut t, mut want) = build(&[
        ("::", 0, 1),
        ("2001:db8::", 32, 2),
        ("2001:db8:1::", 48, 3),
        ("2001:db8:4000::", 34, 4),
    ]);
    let mut live = [
        t.direct_words().to_vec(),
        t.fan_words().to_vec(),
        t.node_words().to_vec(),
        t.leaf_words().to_vec(),
    ];
    for (net, len, g) in [
        ("2001:db8:1:1::", 64, 5),
        ("2001:db8::", 20, 6),
        ("2001:db8:1::", 48, 7),
    ] {
        let before: Vec<(u128, u16)> = probes(&want)
            .into_iter()
            .map(|p| (p, t.lookup(p)))
            .collect();
        t.insert(a(net), len, g).unwrap();
        want.insert((a(net) & mask(len), len), g);
        let d = t.take_dirty();
        apply_checking(&mut live, &t, &d, &before);
        check(&t, &want);
    }
    // A removal that frees a fan.
    let before: Vec<(u128, u16)> = probes(&want)
        .into_iter()
        .map(|p| (p, t.lookup(p)))
        .collect();
    for (net, len) in [
        ("2001:db8::", 32),
        ("2001:db8:1::", 48),
        ("2001:db8:4000::", 34),
        ("2001:db8:1:1::", 64),
        ("2001:db8::", 20),
    ] {
        t.remove(a(net), len);
        want.remove(&(a(net) & mask(len), len));
    }
    let d = t.take_dirty();
    apply_checking(&mut live, &t, &d, &before);
    check(&t, &want);
    assert_eq!(live[0], t.direct_words());
}

#[test]
fn entries_read_back_the_effective_fib() {
    let (t, want) = build(&[
        ("::", 0, 1),
        ("2001:db8::", 32, 2),
        ("2001:db8:1::", 48, 3),
        ("2001:db8:1::1", 128, 2),
    ]);
    let back = entries_in(
        t.direct_words(),
        t.fan_words(),
        t.node_words(),
        t.leaf_words(),
    );
    // Disjoint, ordered, and resolving as the FIB does.
    for w in back.windows(2) {
        assert!(w[0].0 | !mask(w[0].1) < w[1].0, "{w:?}");
    }
    let mut again = BTreeMap::new();
    for &(n, l, g) in &back {
        again.insert((n, l), g);
    }
    for addr in probes(&want) {
        assert_eq!(
            naive(&again, addr),
            naive(&want, addr),
            "{}",
            Ipv6Addr::from(addr)
        );
    }
    assert!(back.contains(&(a("2001:db8:1::1"), 128, 2)));
    assert!(back.contains(&(0, 3, 1)), "::/3 comes back whole");
}

#[test]
fn adopting_live_arrays_keeps_them_and_builds_beside_them() {
    let (t, mut want) = build(&[
        ("::", 0, 1),
        ("2001:db8::", 32, 2),
        ("2001:db8:1::", 48, 3),
        ("2a00::", 12, 4),
        ("2a00:1::", 32, 5),
    ]);
    let live = [
        t.direct_words().to_vec(),
        t.fan_words().to_vec(),
        t.node_words().to_vec(),
        t.leaf_words().to_vec(),
    ];
    let mut u = Poptrie::adopt(SMALL, Keep::Whole, &live[0], &live[1], &live[2], &live[3]).unwrap();
    check(&u, &want);
    assert_eq!(u.in_use(), t.in_use());
    assert!(
        u.take_dirty().is_empty(),
        "nothing to write: the maps are it"
    );
    // Changes build beside what the previous run left.
    let mut live = live;
    let before: Vec<(u128, u16)> = probes(&want)
        .into_iter()
        .map(|p| (p, u.lookup(p)))
        .collect();
    u.insert(a("2001:db8:1:1::"), 64, 6).unwrap();
    want.insert((a("2001:db8:1:1::"), 64), 6);
    u.insert(a("2a00:1::"), 32, 7).unwrap();
    want.insert((a("2a00:1::"), 32), 7);
    let d = u.take_dirty();
    apply_checking(&mut live, &u, &d, &before);
    check(&u, &want);
}

#[test]
fn adopting_arrays_this_builder_did_not_write_is_refused() {
    let (t, _) = build(&[("2001:db8::", 32, 2)]);
    let mut fans = t.fan_words().to_vec();
    let direct = t.direct_words().to_vec();
    // Two chunks on one fan.
    let mut d2 = direct.clone();
    d2[0x2a00 / 2] = d2[0x2001 / 2] >> 32 | d2[0x2a00 / 2] & !0xffff_ffff;
    let e = Poptrie::adopt(
        SMALL,
        Keep::Whole,
        &d2,
        &fans,
        t.node_words(),
        t.leaf_words(),
    );
    assert!(matches!(e, Err(PoptrieError::Foreign(_))), "{e:?}");
    // A slot pointing past the nodes.
    fans.iter_mut()
        .for_each(|w| *w = 0xffff_fff0 | *w & !0xffff_ffff);
    let e = Poptrie::adopt(
        SMALL,
        Keep::Whole,
        &direct,
        &fans,
        t.node_words(),
        t.leaf_words(),
    );
    assert!(matches!(e, Err(PoptrieError::Foreign(_))), "{e:?}");
}

#[derive(Debug, Clone)]
enum Op {
    Set(u128, u8, u16),
    Remove(usize),
    Flush,
}

fn prefix() -> impl Strategy<Value = (u128, u8)> {
    // Clustered under a few /16s so slots and nodes are shared, with
    // lengths across every level.
    let len = prop_oneof![0..=24u8, 25..=64u8, 65..=128u8, Just(48u8), Just(32u8)];
    (0..4u128, any::<u128>(), len).prop_map(|(chunk, bits, len)| {
        let top = [0x2001u128, 0x2a00, 0x2a01, 0xfc00][chunk as usize] << 112;
        let addr = top | bits >> 16;
        (addr & mask(len), len)
    })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (prefix(), 1..5u16).prop_map(|((a, l), g)| Op::Set(a, l, g)),
        2 => any::<usize>().prop_map(Op::Remove),
        1 => Just(Op::Flush),
    ]
}

proptest! {
    // Each case adopts the arrays (a walk of all 65,536 chunks): fewer cases.
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn every_answer_is_the_longest_match(ops in prop::collection::vec(op(), 1..150)) {
        let mut t = Poptrie::new(SMALL);
        let mut want: BTreeMap<(u128, u8), u16> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Set(a, l, g) => {
                    t.insert(a, l, g).unwrap();
                    want.insert((a, l), g);
                }
                Op::Remove(i) if !want.is_empty() => {
                    let k = *want.keys().nth(i % want.len()).unwrap();
                    prop_assert_eq!(t.remove(k.0, k.1), want.remove(&k));
                }
                Op::Remove(_) => {}
                Op::Flush => {
                    prop_assert!(t.take_dirty().full.is_none());
                    check(&t, &want);
                }
            }
        }
        prop_assert!(t.take_dirty().full.is_none());
        check(&t, &want);
        // What the arrays read back resolves the same.
        let back = entries_in(t.direct_words(), t.fan_words(), t.node_words(), t.leaf_words());
        let again: BTreeMap<(u128, u8), u16> = back.iter().map(|&(n, l, g)| ((n, l), g)).collect();
        for addr in probes(&want) {
            prop_assert_eq!(naive(&again, addr), naive(&want, addr));
        }
        // And a builder adopting them answers the same.
        let u = Poptrie::adopt(SMALL, Keep::Whole, t.direct_words(), t.fan_words(), t.node_words(), t.leaf_words()).unwrap();
        check(&u, &want);
    }
}

/// What a loader holds after copying each batch: (direct, fans, nodes, leaves).
struct Image([Vec<u64>; 4]);

impl Image {
    fn new(cap: Capacity) -> Image {
        let fresh = Poptrie::new(cap);
        Image([
            fresh.direct_words().to_vec(),
            fresh.fan_words().to_vec(),
            fresh.node_words().to_vec(),
            fresh.leaf_words().to_vec(),
        ])
    }

    /// Copies batch `d` of `t`: nodes from what the batch hands over when
    /// `t` keeps only fresh ones, the rest from `t`'s copies.
    fn copy(&mut self, t: &Poptrie, d: &Dirty6, keep: Keep) {
        let Image([direct, fans, nodes, leaves]) = self;
        for (mine, ranges, theirs) in [
            (direct, &d.direct, t.direct_words()),
            (fans, &d.fans, t.fan_words()),
            (leaves, &d.leaves, t.leaf_words()),
        ] {
            for r in ranges {
                let r = r.start as usize..r.end as usize;
                mine[r.clone()].copy_from_slice(&theirs[r]);
            }
        }
        for r in &d.nodes {
            let r = r.start as usize..r.end as usize;
            for (w, i) in nodes[r.clone()].iter_mut().zip(r) {
                *w = match keep {
                    Keep::Whole => t.node_words()[i],
                    Keep::Fresh => d.fresh_nodes.word(i),
                };
            }
        }
    }

    fn lookup(&self, addr: u128) -> u16 {
        let [direct, fans, nodes, leaves] = &self.0;
        lookup_in(direct, fans, nodes, leaves, addr)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// A builder that keeps only fresh nodes publishes what one that keeps
    /// them all does, batch by batch, and so does one adopting its maps.
    #[test]
    fn keeping_only_fresh_nodes_publishes_the_same(ops in prop::collection::vec(op(), 1..120)) {
        let mut whole = Poptrie::new(SMALL);
        let mut fresh = Poptrie::keeping(SMALL, Keep::Fresh);
        let (mut a, mut b) = (Image::new(SMALL), Image::new(SMALL));
        let mut want: BTreeMap<(u128, u8), u16> = BTreeMap::new();
        let flush = |whole: &mut Poptrie, fresh: &mut Poptrie, a: &mut Image, b: &mut Image| {
            let (dw, df) = (whole.take_dirty(), fresh.take_dirty());
            assert_eq!((&dw.nodes, &dw.leaves, &dw.fans, &dw.direct), (&df.nodes, &df.leaves, &df.fans, &df.direct));
            assert_eq!(dw.fresh_nodes, FreshNodes::default());
            a.copy(whole, &dw, Keep::Whole);
            b.copy(fresh, &df, Keep::Fresh);
        };
        for op in ops {
            match op {
                Op::Set(x, l, g) => {
                    whole.insert(x, l, g).unwrap();
                    fresh.insert(x, l, g).unwrap();
                    want.insert((x, l), g);
                }
                Op::Remove(i) if !want.is_empty() => {
                    let k = *want.keys().nth(i % want.len()).unwrap();
                    whole.remove(k.0, k.1);
                    fresh.remove(k.0, k.1);
                    want.remove(&k);
                }
                Op::Remove(_) => {}
                Op::Flush => flush(&mut whole, &mut fresh, &mut a, &mut b),
            }
        }
        flush(&mut whole, &mut fresh, &mut a, &mut b);
        prop_assert!(a.0 == b.0, "the two images differ");
        for addr in probes(&want) {
            prop_assert_eq!(b.lookup(addr), naive(&want, addr));
        }
        // Adopted with only fresh nodes kept, changes land beside the old.
        let [direct, fans, nodes, leaves] = &b.0;
        let mut u = Poptrie::adopt(SMALL, Keep::Fresh, direct, fans, nodes, leaves).unwrap();
        prop_assert_eq!(u.node_words_in_use(), whole.node_words_in_use());
        u.insert(0x2001u128 << 112, 48, 9).unwrap();
        want.insert((0x2001u128 << 112, 48), 9);
        let d = u.take_dirty();
        b.copy(&u, &d, Keep::Fresh);
        for addr in probes(&want) {
            prop_assert_eq!(b.lookup(addr), naive(&want, addr));
        }
    }
}

#[test]
#[should_panic(expected = "Keep::Fresh")]
fn a_fresh_only_builder_has_no_nodes_to_read() {
    let t = Poptrie::keeping(SMALL, Keep::Fresh);
    t.lookup(0);
}

/// Build time of a table shaped like the benchmark's (run with
/// `cargo test --release -p sluice-dataplane -- --ignored build_time`).
#[test]
#[ignore = "a timing, not a check"]
fn build_time() {
    let mut x = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let lens = [48u8, 48, 48, 48, 32, 44, 40, 36, 29, 47, 46, 33, 34, 42, 45];
    let mut routes = Vec::new();
    while routes.len() < 220_000 {
        let top = [0x2001u128, 0x2400, 0x2600, 0x2800, 0x2a00][(next() % 5) as usize] << 112;
        let len = lens[(next() % lens.len() as u64) as usize];
        let a = (top | (u128::from(next()) << 64 | u128::from(next())) >> 12) & mask(len);
        routes.push((a, len, (next() % 4) as u16 + 1));
    }
    let mut t = Poptrie::default();
    let start = std::time::Instant::now();
    for &(a, l, g) in &routes {
        t.insert(a, l, g).unwrap();
    }
    let inserted = start.elapsed();
    let d = t.take_dirty();
    let built = start.elapsed();
    eprintln!(
        "insert {:?}, take_dirty {:?}, {} words dirty, in use {:?}",
        inserted,
        built - inserted,
        d.word_count(),
        t.in_use()
    );
    // Every route to another group, in address order, in the placer's
    // chunks (a session that carried the best paths went down).
    let mut sorted = routes.clone();
    sorted.sort_unstable();
    let start = std::time::Instant::now();
    for batch in sorted.chunks(8192) {
        for &(a, l, g) in batch {
            t.insert(a, l, g % 4 + 1).unwrap();
        }
        t.take_dirty();
    }
    eprintln!("regrouped in chunks of 8192: {:?}", start.elapsed());
    // Withdrawn in batches of 1,000, as a session's UPDATEs arrive.
    let start = std::time::Instant::now();
    for batch in routes.chunks(1000) {
        for &(a, l, _) in batch {
            t.remove(a, l);
        }
        t.take_dirty();
    }
    eprintln!(
        "withdrawn in batches of 1000: {:?}, in use {:?}",
        start.elapsed(),
        t.in_use()
    );
}
