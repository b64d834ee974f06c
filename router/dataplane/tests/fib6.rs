//! The program's IPv6 FIB (the poptrie arrays, router/dataplane/src/poptrie.rs)
//! against a plain longest match, through `BPF_PROG_TEST_RUN`: a table of
//! a few thousand prefixes at every length, written at once and then
//! changed, and the kernel's LPM trie (the DXR build's `FIB_MODE_TRIE6`)
//! answering the same frames the same way.

use std::collections::BTreeMap;
use std::net::Ipv6Addr;

use sluice_dataplane::layout::{FibMode, Verdict};

mod common;
use common::*;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn addr(&mut self) -> u128 {
        u128::from(self.next()) << 64 | u128::from(self.next())
    }
}

const fn mask(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    }
}

type Table = BTreeMap<(u128, u8), u16>;

fn naive(t: &Table, addr: u128) -> u16 {
    (0..=128u8)
        .rev()
        .find_map(|l| t.get(&(addr & mask(l), l)).copied())
        .unwrap_or(0)
}

/// `n` prefixes under four /16s, lengths from /12 to /128 weighted to the
/// /29../48 of a real table, groups 1..=4.
fn table(rng: &mut Rng, n: usize) -> Table {
    let tops = [0x2001u128, 0x2a00, 0x2a01, 0x2600];
    let lens = [
        12u8, 19, 24, 29, 32, 32, 36, 40, 44, 48, 48, 48, 56, 64, 127, 128,
    ];
    let mut t = Table::new();
    while t.len() < n {
        let top = tops[(rng.next() % 4) as usize] << 112;
        let len = lens[(rng.next() % lens.len() as u64) as usize];
        let addr = (top | rng.addr() >> 16) & mask(len);
        t.insert((addr, len), (rng.next() % 4) as u16 + 1);
    }
    t
}

/// Addresses to ask: inside, at and around each prefix's ends.
fn probes(rng: &mut Rng, t: &Table) -> Vec<u128> {
    let mut v = Vec::new();
    for &(net, len) in t.keys() {
        let end = net | !mask(len);
        v.extend([
            net,
            end,
            end.wrapping_add(1),
            net | (rng.addr() & !mask(len)),
        ]);
    }
    v
}

fn frame(dst: u128) -> Vec<u8> {
    let dst = Ipv6Addr::from(dst).to_string();
    v6_udp_frame("2001:db8:ffff::1", &dst, 64, 7)
}

/// Every probe through the maps (read back) and a sample through the
/// program.
fn check(f: &Fixture, t: &Table, probes: &[u128]) {
    for (i, &addr) in probes.iter().enumerate() {
        let want = naive(t, addr);
        let a = Ipv6Addr::from(addr);
        assert_eq!(f.dp.lookup6(a).unwrap(), want, "{a} in the maps");
        if i % 7 != 0 || a.segments()[0] & 0xff00 == 0xff00 {
            continue; // multicast is never routed
        }
        if want == 0 {
            f.expect(&frame(addr), Verdict::PassNoRoute);
        } else {
            assert_eq!(f.forwarded_to(&frame(addr)), want, "{a} forwarded");
        }
    }
}

/// The FIB the maps hold, as the read-back walk gives it.
fn read_back(f: &Fixture) -> Table {
    f.dp.fib6_entries()
        .unwrap()
        .into_iter()
        .map(|(a, l, g)| ((u128::from(a), l), g))
        .collect()
}

fn routes(t: &Table) -> Vec<(Ipv6Addr, u8, u16)> {
    t.iter()
        .map(|(&(a, l), &g)| (Ipv6Addr::from(a), l, g))
        .collect()
}

#[test]
#[ignore = "needs root: BPF"]
fn the_ipv6_fib_answers_like_a_longest_match() {
    let mut f = Fixture::new();
    let mut rng = Rng(0x5eed_0006);
    let mut t = table(&mut rng, 3000);
    let failed = f.dp.set_routes6(&routes(&t));
    assert!(failed.is_empty(), "{failed:?}");
    let p = probes(&mut rng, &t);
    check(&f, &t, &p);

    // Changes one by one: a default route, groups moved, prefixes removed
    // (some of which empty a /16 or a /22), host routes added.
    f.dp.set_route6(Ipv6Addr::UNSPECIFIED, 0, 3).unwrap();
    t.insert((0, 0), 3);
    let keys: Vec<(u128, u8)> = t.keys().copied().collect();
    for (i, &(net, len)) in keys.iter().enumerate().skip(1) {
        match i % 5 {
            0 => {
                f.dp.remove_route6(Ipv6Addr::from(net), len).unwrap();
                t.remove(&(net, len));
            }
            1 => {
                f.dp.set_route6(Ipv6Addr::from(net), len, 4).unwrap();
                t.insert((net, len), 4);
            }
            _ => {}
        }
        if i % 97 == 0 {
            let host = net | (rng.addr() & !mask(len));
            f.dp.set_route6(Ipv6Addr::from(host), 128, 2).unwrap();
            t.insert((host, 128), 2);
        }
    }
    check(&f, &t, &p);

    // What the maps read back is the same FIB.
    let back = read_back(&f);
    for &addr in &p {
        assert_eq!(
            naive(&back, addr),
            naive(&t, addr),
            "{}",
            Ipv6Addr::from(addr)
        );
    }

    // Everything removed: no route anywhere, nothing in use.
    for (a, l, _) in routes(&t) {
        f.dp.remove_route6(a, l).unwrap();
    }
    check(&f, &Table::new(), &p);
    assert!(f.dp.fib6_entries().unwrap().is_empty());
}

#[test]
#[ignore = "needs root: BPF"]
fn the_lpm_trie_it_replaced_answers_the_same() {
    let mut f = Fixture::new_dxr();
    let mut rng = Rng(0x5eed_0066);
    let t = table(&mut rng, 2000);
    let r = routes(&t);
    assert!(f.dp.set_routes6(&r).is_empty());
    f.dp.set_routes6_trie(&r).unwrap();
    // The production build has no trie and refuses the mode.
    assert!(Fixture::new().dp.set_fib_mode(FibMode::Trie6).is_err());
    for (i, addr) in probes(&mut rng, &t).into_iter().enumerate() {
        if i % 5 != 0 || addr >> 120 == 0xff {
            continue;
        }
        let mut got = Vec::new();
        for mode in [FibMode::Sluice, FibMode::Trie6] {
            f.dp.set_fib_mode(mode).unwrap();
            let out = f.run(&frame(addr));
            got.push(out.frame[0..6].to_vec());
        }
        assert_eq!(got[0], got[1], "{}", Ipv6Addr::from(addr));
        let want = naive(&t, addr);
        if want != 0 {
            assert_eq!(got[0], nh_mac(want), "{}", Ipv6Addr::from(addr));
        }
    }
}

/// The measuring build's stop points end a routed frame after each stage
/// (what the benchmark times by difference), without counting a verdict;
/// the daemon's build has none.
#[test]
#[ignore = "needs root: BPF"]
fn stop_points_end_the_measuring_build_early() {
    use sluice_dataplane::layout::{Stage, XdpAction};

    assert!(Fixture::new().dp.set_stop(Some(Stage::Lookup)).is_err());
    let mut f = Fixture::new_dxr();
    f.route4([10, 0, 0, 0], 8, 1);
    f.dp.set_route6(v6("2001:db8::"), 32, 2).unwrap();
    let frames = [
        V4::udp([192, 0, 2, 1], [10, 1, 2, 3]).frame(1, 2),
        v6_udp_frame("2001:db8:ffff::1", "2001:db8::5", 64, 7),
    ];
    for frame in &frames {
        for stage in Stage::ALL {
            f.dp.set_stop(Some(stage)).unwrap();
            let before = f.counts();
            let out = f.run(frame);
            assert_eq!(out.action, XdpAction::Drop, "{stage:?}");
            assert_eq!(f.counts(), before, "{stage:?}: no verdict counted");
            // Up to the rewrite, the frame is untouched; after it, the TTL
            // (or hop limit) is one less.
            let ttl_at = if frame[12..14] == [0x08, 0x00] {
                22
            } else {
                21
            };
            let lowered = out.frame[ttl_at] + 1 == frame[ttl_at];
            assert_eq!(lowered, stage == Stage::Rewrite, "{stage:?}");
        }
        f.dp.set_stop(None).unwrap();
        assert!(f.forwarded_to(frame) > 0);
    }
}

/// A caller that takes the builder (`take_fib6`, as the daemon's
/// programmer does) and writes its changes itself gets the same FIB, and
/// the maps read back without the builder.
#[test]
#[ignore = "needs root: BPF"]
fn a_builder_taken_out_writes_the_same_fib() {
    let mut f = Fixture::new();
    let mut rng = Rng(0x0005_eed6);
    let t = table(&mut rng, 3000);
    let p = probes(&mut rng, &t);
    let mut trie = f.dp.take_fib6();
    for (&(a, l), &g) in &t {
        trie.insert(a, l, g).unwrap();
    }
    let dirty = trie.take_dirty();
    assert!(f.dp.write_fib6_dirty(&trie, &dirty).unwrap() > 0);
    check(&f, &t, &p);
    let back = read_back(&f);
    for &addr in p.iter().step_by(5) {
        assert_eq!(naive(&back, addr), naive(&t, addr));
    }
    // Half withdrawn, in one batch.
    let mut left = t.clone();
    for (i, (&(a, l), _)) in t.iter().enumerate() {
        if i % 2 == 0 {
            trie.remove(a, l);
            left.remove(&(a, l));
        }
    }
    let dirty = trie.take_dirty();
    f.dp.write_fib6_dirty(&trie, &dirty).unwrap();
    check(&f, &left, &p);
}
