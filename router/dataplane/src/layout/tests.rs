use super::*;

#[test]
fn every_verdict_is_explained_to_operators() {
    let doc = include_str!("../../../../docs/troubleshooting.md");
    for v in Verdict::ALL {
        let shown = format!("`{}`", v.name().replace('_', "-"));
        assert!(
            doc.contains(&shown),
            "docs/troubleshooting.md lacks {shown}"
        );
    }
}

#[test]
fn verdicts_are_dense_and_fit_the_map() {
    // The names and values are checked against ebpf/sluice.h in
    // tests/layout.rs.
    assert!(Verdict::ALL.len() as u32 <= VERDICTS_MAX);
    for (i, v) in Verdict::ALL.iter().enumerate() {
        assert_eq!(*v as usize, i);
    }
}

/// `#define NAME value` of the header, value as written.
fn header_define(name: &str) -> String {
    include_str!("../../../../ebpf/sluice.h")
        .lines()
        .find_map(|l| {
            let rest = l
                .strip_prefix("#define ")?
                .trim_start()
                .strip_prefix(name)?;
            rest.starts_with([' ', '\t']).then(|| {
                rest.split("/*")
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            })
        })
        .unwrap_or_else(|| panic!("{name} is not defined in sluice.h"))
}

#[test]
fn constants_mirror_the_header() {
    for (name, ours) in [
        ("FIB4_TBL8_GROUPS", FIB4_TBL8_GROUPS as u64),
        ("FIB4_ENTRIES_PER_WORD", FIB4_ENTRIES_PER_WORD as u64),
        ("FIB4_TBL8_FLAG", u64::from(FIB4_TBL8_FLAG)),
        ("FIB4_VALUE_MASK", u64::from(FIB4_VALUE_MASK)),
        ("FIB4_CODES_PER_WORD", FIB4_CODES_PER_WORD as u64),
        ("FIB4_PALETTE_SLOTS", FIB4_PALETTE_SLOTS as u64),
        ("FIB4_CODE_TOP", u64::from(FIB4_CODE_TOP)),
        ("FIB6_TRIE_ENTRIES", u64::from(FIB6_TRIE_ENTRIES)),
        ("FIB6_FANS", u64::from(FIB6_CAPACITY.fans)),
        ("FIB6_FAN_ENTRIES", crate::poptrie::FAN_ENTRIES as u64),
        ("FIB6_INDEX", u64::from(crate::poptrie::INDEX_FLAG)),
        ("FIB6_ROOT_DEPTH", u64::from(crate::poptrie::ROOT_DEPTH)),
        ("FIB6_LEVELS", u64::from(crate::poptrie::MAX_LEVELS)),
        ("FIB6_INLINE", crate::poptrie::INLINE >> 32),
        ("NH_BUCKETS", NH_BUCKETS as u64),
        ("NH_GROUPS_MAX", u64::from(NH_GROUPS_MAX)),
        ("NEXTHOPS_MAX", u64::from(NEXTHOPS_MAX)),
        ("NH_F_VALID", u64::from(NextHop::VALID)),
        ("NH_F_MAC_KNOWN", u64::from(NextHop::MAC_KNOWN)),
        ("TX_PORTS_MAX", u64::from(TX_PORTS_MAX)),
        ("OWN_ADDRS_MAX", u64::from(OWN_ADDRS_MAX)),
        ("VERDICTS_MAX", u64::from(VERDICTS_MAX)),
        ("GROUP_DISCARD", u64::from(GROUP_DISCARD)),
        ("IF_F_ANTISPOOF", u64::from(IF_F_ANTISPOOF)),
        ("IF_F_MARTIAN", u64::from(IF_F_MARTIAN)),
        ("IFACES_MAX", u64::from(IFACES_MAX)),
        ("MARTIANS_MAX", u64::from(MARTIANS_MAX)),
        ("SRC_PREFIXES_MAX", u64::from(SRC_PREFIXES_MAX)),
        ("FIB_MODE_SLUICE", FibMode::Sluice as u64),
        ("FIB_MODE_KERNEL", FibMode::Kernel as u64),
        ("FIB_MODE_DXR", FibMode::Dxr as u64),
        ("FIB_MODE_TRIE6", FibMode::Trie6 as u64),
        ("FIB_MODE_POP4", FibMode::Pop4 as u64),
        ("POP4_SHIFT", u64::from(crate::poptrie4::SHIFT) - 64),
        ("POP4_FANS", u64::from(crate::poptrie4::CAPACITY.fans)),
        ("POP4_LEVELS", u64::from(crate::poptrie4::LEVELS)),
        ("STOP_PARSE", Stage::Parse as u64),
        ("STOP_LOOKUP", Stage::Lookup as u64),
        ("STOP_NEXTHOP", Stage::NextHop as u64),
        ("STOP_REWRITE", Stage::Rewrite as u64),
        ("DXR_DIRECT_BITS", u64::from(crate::dxr::DIRECT_BITS)),
        ("DXR_CHUNK_MASK", u64::from(crate::dxr::CHUNK - 1)),
    ] {
        let text = header_define(name);
        let digits = text.trim_end_matches('u');
        let value = match digits.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => digits.parse(),
        }
        .unwrap_or_else(|_| panic!("{name}: cannot parse {text:?}"));
        assert_eq!(value, ours, "{name}");
    }
    assert_eq!(header_define("FIB4_TOP_ENTRIES"), "(1u << 24)");
    assert_eq!(FIB4_TOP_ENTRIES, 1 << 24);
    assert_eq!(header_define("FIB6_DIRECT_ENTRIES"), "(1u << 16)");
    assert_eq!(header_define("FIB6_NODES"), "(1u << 21)");
    assert_eq!(header_define("FIB6_LEAVES"), "(1u << 22)");
    assert_eq!(FIB6_NODES, 1 << 21);
    assert_eq!(header_define("POP4_NODES"), "(1u << 20)");
    assert_eq!(header_define("POP4_LEAVES"), "(1u << 23)");
    assert_eq!(crate::poptrie4::CAPACITY.nodes, 1 << 20);
    assert_eq!(crate::poptrie4::CAPACITY.leaves, 1 << 23);
}

#[test]
fn next_hop_bytes_round_trip_in_c_order() {
    let nh = NextHop {
        ifindex: 0x0102_0304,
        dmac: [1, 2, 3, 4, 5, 6],
        smac: [7, 8, 9, 10, 11, 12],
        mtu: 1500,
        flags: NextHop::VALID,
        vlan: 100,
        pad: 0,
    };
    let b = nh.to_bytes();
    assert_eq!(&b[4..10], &[1, 2, 3, 4, 5, 6]);
    assert_eq!(&b[10..16], &[7, 8, 9, 10, 11, 12]);
    assert_eq!(NextHop::from_bytes(&b), nh);
    // Field offsets as in the C struct.
    assert_eq!(std::mem::offset_of!(NextHop, dmac), 4);
    assert_eq!(std::mem::offset_of!(NextHop, smac), 10);
    assert_eq!(std::mem::offset_of!(NextHop, mtu), 16);
    assert_eq!(std::mem::offset_of!(NextHop, flags), 18);
    assert_eq!(std::mem::offset_of!(NextHop, vlan), 20);
}

#[test]
fn iface_and_key_bytes_round_trip_in_c_order() {
    let i = Iface {
        flags: IF_F_MARTIAN,
        ifindex: 4000,
        mac: [2, 0, 0, 0, 0, 7],
    };
    let b = i.to_bytes();
    assert_eq!(&b[8..14], &[2, 0, 0, 0, 0, 7]);
    assert_eq!(Iface::from_bytes(&b), i);
    let k = IfKey {
        ifindex: 4000,
        vlan: 100,
    };
    assert_eq!(&k.to_bytes()[..4], &4000u32.to_ne_bytes());
    assert_eq!(IfKey::from_bytes(k.to_bytes()), k);
}

#[test]
fn fib4_packing() {
    let mut words = vec![0u64; 4];
    fib4_set(&mut words, 0, 0x1111);
    fib4_set(&mut words, 3, 0x8004);
    fib4_set(&mut words, 5, 7);
    assert_eq!(words[0], 0x8004_0000_0000_1111);
    assert_eq!(words[1], 7 << 16);
    assert_eq!(fib4_get(&words, 3), 0x8004);
    fib4_set(&mut words, 3, 9);
    assert_eq!(words[0], 0x0009_0000_0000_1111);
}

fn shares(g: &NhGroup) -> std::collections::BTreeMap<u16, usize> {
    let mut m = std::collections::BTreeMap::new();
    for &b in &g.buckets {
        *m.entry(b).or_default() += 1;
    }
    m
}

#[test]
fn group_shares_follow_weights() {
    let g = NhGroup::with_members(&[(1, 1), (2, 1)]).unwrap();
    assert_eq!(shares(&g), [(1, 32), (2, 32)].into());
    // Interleaved, so that neighbouring hashes spread.
    assert_ne!(g.buckets[0], g.buckets[1]);
    let g = NhGroup::with_members(&[(1, 1), (2, 2), (3, 0)]).unwrap();
    assert_eq!(shares(&g), [(1, 21), (2, 43)].into());
    let g = NhGroup::with_members(&[(4, 1), (5, 1), (6, 1)]).unwrap();
    assert_eq!(shares(&g).values().sum::<usize>(), 64);
    assert!(shares(&g).values().all(|&n| n == 21 || n == 22));
    assert_eq!(NhGroup::with_members(&[]).unwrap(), NhGroup::default());
    assert_eq!(
        NhGroup::with_members(&[(0, 1)]),
        Err(LayoutError::NextHopZero)
    );
    assert_eq!(
        NhGroup::with_members(&[(1, 1), (1, 2)]),
        Err(LayoutError::DuplicateMember(1))
    );
}

#[test]
fn group_change_moves_only_the_changed_members_buckets() {
    let mut g = NhGroup::with_members(&[(1, 1), (2, 1), (3, 1), (4, 1)]).unwrap();
    let before = g;
    // Member 3 leaves: only its 16 buckets move, spread over 1, 2 and 4.
    let changed = g.set_members(&[(1, 1), (2, 1), (4, 1)]).unwrap();
    assert_eq!(changed, 16);
    for (a, b) in before.buckets.iter().zip(g.buckets.iter()) {
        if *a != 3 {
            assert_eq!(a, b, "a bucket of a staying member moved");
        }
    }
    assert!(!g.buckets.contains(&3));
    // It comes back: it takes 16 buckets, each from a member above quota.
    let changed = g.set_members(&[(1, 1), (2, 1), (3, 1), (4, 1)]).unwrap();
    assert_eq!(changed, 16);
    assert_eq!(shares(&g), [(1, 16), (2, 16), (3, 16), (4, 16)].into());
    // Unchanged membership changes nothing.
    assert_eq!(g.set_members(&[(1, 1), (2, 1), (3, 1), (4, 1)]).unwrap(), 0);
    // Everyone leaves: empty group.
    assert_eq!(g.set_members(&[]).unwrap(), 64);
    assert_eq!(g, NhGroup::default());
}
