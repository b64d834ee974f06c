//! Pinned maps survive the process that made them: open, write, drop
//! everything, open again from the pins and read the values back; refusals
//! (not a bpffs, pins of another layout); the clean stop. Each test mounts
//! its own bpffs. Needs root (BPF, mount).

use std::net::IpAddr;

use sluice_dataplane::dir24::{DEFAULT_TBL8_GROUPS, Dir24, Prefix};
use sluice_dataplane::layout::{
    FibMode, GROUP_DISCARD, IF_F_ANTISPOOF, IF_F_MARTIAN, IfKey, NextHop, NhGroup, Verdict, map,
};
use sluice_dataplane::loader::{Dataplane, Error};
use sluice_dataplane::pin::unpin_all;
use sluice_dataplane::settings::IpPrefix;

mod common;
use common::bpffs::Bpffs;
use common::*;

fn pfx(s: &str) -> Prefix {
    s.parse().unwrap()
}

#[test]
#[ignore = "needs root: BPF and mount"]
fn map_contents_survive_a_reopen_from_the_pins() {
    require_root();
    let fs = Bpffs::mount("reopen");
    let dir = fs.path().join("sluice/edge1"); // created by open
    let nh = NextHop::resolved(1, [2, 0, 0, 0, 0, 7], [2, 0, 0, 0, 0, 1], 1500);
    let group = NhGroup::with_members(&[(7, 1)]).unwrap();
    let frame = V4::udp([192, 0, 2, 1], [10, 9, 9, 9]).frame(1, 2);
    {
        let (mut dp, adopted) = Dataplane::open(&dir).expect("first open");
        assert!(!adopted.any(), "{adopted:?}");
        assert_eq!(adopted.created, map::ALL.to_vec());
        dp.add_tx_port(1).unwrap();
        dp.set_next_hop(7, &nh).unwrap();
        dp.set_group(3, &group).unwrap();
        let mut fib = Dir24::new(DEFAULT_TBL8_GROUPS);
        fib.insert(pfx("10.0.0.0/8"), 3).unwrap();
        fib.insert(pfx("10.1.2.128/25"), GROUP_DISCARD).unwrap();
        let dirty = fib.take_dirty();
        dp.write_fib4_dirty(&fib, &dirty).unwrap();
        dp.set_route6(v6("2001:db8::"), 32, 3).unwrap();
        dp.add_own_address(IpAddr::V4([10, 0, 0, 1].into()))
            .unwrap();
        dp.add_source_prefix([192, 0, 2, 0].into(), 24).unwrap();
        route_on(&mut dp, 5, 0, IF_F_ANTISPOOF);
        dp.set_fib_mode(FibMode::Kernel).unwrap();
        dp.set_fib_mode(FibMode::Sluice).unwrap();
        route_on(&mut dp, 9, 100, IF_F_ANTISPOOF | IF_F_MARTIAN);
        dp.set_hash_seed(0x1234_5678).unwrap();
        route_on(&mut dp, LO, 0, 0);
        assert_eq!(
            dp.test_run(&frame).unwrap().action,
            Verdict::Forwarded.action()
        );
        // Everything (maps, program, mappings) is dropped here.
    }
    for name in map::ALL {
        assert!(dir.join(name).exists(), "pin {name}");
    }

    let (dp, adopted) = Dataplane::open(&dir).expect("second open");
    assert!(adopted.any() && adopted.all(), "{adopted:?}");
    assert_eq!(adopted.reused, map::ALL.to_vec());
    assert_eq!(dp.next_hop(7).unwrap(), nh);
    assert_eq!(dp.group(3).unwrap(), group);
    assert_eq!(dp.lookup4([10, 9, 9, 9].into()), 3);
    assert_eq!(dp.lookup4([10, 1, 2, 200].into()), GROUP_DISCARD);
    assert_eq!(dp.lookup4([11, 0, 0, 1].into()), 0);
    assert_eq!(dp.lookup6(v6("2001:db8:5::1")).unwrap(), 3);
    assert_eq!(
        dp.source_prefixes().unwrap(),
        vec![IpPrefix::new([192, 0, 2, 0].into(), 24).unwrap()]
    );
    let flags = |ifindex, vlan| {
        dp.interface(IfKey { ifindex, vlan })
            .unwrap()
            .map(|i| i.flags)
    };
    assert_eq!(flags(5, 0), Some(IF_F_ANTISPOOF));
    assert_eq!(flags(9, 100), Some(IF_F_ANTISPOOF | IF_F_MARTIAN));
    assert_eq!(flags(9, 0), None);
    // The flow hash seed survives: adopted flows keep their next hops.
    assert_eq!(dp.hash_seed().unwrap(), 0x1234_5678);
    assert_eq!(dp.fib_mode().unwrap(), FibMode::Sluice);
    // What `sluice show fib` reads: the effective IPv4 FIB (the /8 around
    // the discarded /25 is 17 prefixes), the trie, next hops and groups.
    let fib4 = dp.fib4_entries();
    assert!(
        fib4.contains(&(pfx("10.1.2.128/25"), GROUP_DISCARD)),
        "{fib4:?}"
    );
    assert!(fib4.contains(&(pfx("10.128.0.0/9"), 3)), "{fib4:?}");
    assert_eq!(fib4.iter().filter(|(_, g)| *g == 3).count(), 17, "{fib4:?}");
    assert_eq!(fib4.len(), 18);
    assert_eq!(dp.fib6_entries().unwrap(), vec![(v6("2001:db8::"), 32, 3)]);
    // A page from the end of another, read in place: the same cut.
    let at = fib4
        .iter()
        .position(|(p, _)| *p == pfx("10.1.2.128/25"))
        .unwrap();
    let page = dp.fib4_page(u64::from(u32::from_be_bytes([10, 1, 2, 128])), 2);
    assert_eq!(page, fib4[at..at + 2]);
    assert_eq!(dp.route6(v6("2001:db8::"), 32).unwrap(), 3);
    assert_eq!(dp.route6(v6("2001:db8:1::"), 48).unwrap(), 3, "covered");
    assert_eq!(dp.route6(v6("2001:db9::"), 32).unwrap(), 0);
    assert_eq!(dp.next_hops().unwrap(), vec![(7, nh)]);
    assert_eq!(dp.groups().unwrap(), vec![(3, group)]);
    // Counters too; and the new program uses the adopted maps.
    assert_eq!(dp.verdict_count(Verdict::Forwarded).unwrap(), 1);
    assert_eq!(dp.nh_stats(7).unwrap().packets, 1);
    let to_us = V4::udp([192, 0, 2, 1], [10, 0, 0, 1]).frame(1, 179);
    assert_eq!(
        dp.test_run(&to_us).unwrap().action,
        Verdict::PassLocal.action()
    );
    assert_eq!(
        dp.test_run(&frame).unwrap().action,
        Verdict::Forwarded.action()
    );
    assert_eq!(dp.verdict_count(Verdict::Forwarded).unwrap(), 2);

    // The clean stop removes the pins; a new open starts empty.
    let removed = dp.detach_and_unpin(&dir).unwrap();
    assert_eq!(removed.len(), map::ALL.len(), "{removed:?}");
    assert!(!dir.exists());
    let (dp, adopted) = Dataplane::open(&dir).unwrap();
    assert!(!adopted.any());
    assert_eq!(dp.lookup4([10, 9, 9, 9].into()), 0);
    assert_eq!(dp.next_hop(7).unwrap(), NextHop::default());
    drop(dp);
    unpin_all(&dir).unwrap();
    assert!(unpin_all(&dir).unwrap().is_empty(), "idempotent");
}

#[test]
#[ignore = "needs root: BPF and mount"]
fn a_directory_outside_a_bpffs_is_refused_with_a_hint() {
    require_root();
    let dir = std::env::temp_dir().join(format!("sluice-not-bpffs-{}/edge1", std::process::id()));
    let err = Dataplane::open(&dir).expect_err("tmp is not a bpffs");
    assert!(matches!(err, Error::NotBpffs { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("not on a bpffs"), "{text}");
    assert!(text.contains("mount -t bpf bpf /run/sluice/bpf"), "{text}");
    assert!(text.contains("dataplane.bpffs"), "{text}");
    assert!(!dir.exists(), "nothing created");
}

#[test]
#[ignore = "needs root: BPF and mount"]
fn pins_of_another_layout_are_refused_naming_the_map() {
    require_root();
    let fs = Bpffs::mount("layout");
    let (a, b) = (fs.path().join("a"), fs.path().join("b"));
    drop(Dataplane::open(&a).unwrap());
    // b gets a "nexthops" that is really a HASH of another shape.
    std::fs::create_dir(&b).unwrap();
    std::fs::rename(a.join(map::OWN4), b.join(map::NEXTHOPS)).unwrap();
    let err = Dataplane::open(&b).expect_err("wrong map under nexthops");
    match &err {
        Error::PinnedLayout { map: m, .. } => assert_eq!(*m, map::NEXTHOPS),
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("pinned map nexthops"), "{text}");
    assert!(text.contains("type 1, this program needs 2"), "{text}");
    // Nothing was pinned next to it.
    let names: Vec<_> = std::fs::read_dir(&b).unwrap().collect();
    assert_eq!(names.len(), 1);

    // Pins of a layout that lacked a map (an upgrade that adds one): the
    // program would read that map empty beside the adopted FIB.
    std::fs::remove_file(a.join(map::FIB4_CODES)).unwrap();
    std::fs::remove_file(a.join(map::OWN4)).ok();
    let err = Dataplane::open(&a).expect_err("a map of the layout is not pinned");
    match &err {
        Error::PinnedLayout { map: m, .. } => assert_eq!(*m, map::FIB4_CODES),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("another layout"), "{err}");
    assert!(!a.join(map::FIB4_CODES).exists(), "nothing pinned");
}
