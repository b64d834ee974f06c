//! UPDATE byte vectors, RFC 7606 cases, and round trips.

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::*;
use crate::encode;
use crate::iana::attr::*;
use crate::message::Message;
use crate::nlri::Prefix;

const EBGP_AS4: Ctx = Ctx {
    four_octet_as: true,
    ebgp: true,
};

fn attrs(list: &[(u8, u8, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (flags, code, value) in list {
        encode::attribute(&mut out, *flags, *code, value);
    }
    out
}

const AS_PATH_65001: &[u8] = &[2, 1, 0, 0, 0xfd, 0xe9];

fn good_attrs() -> Vec<(u8, u8, &'static [u8])> {
    vec![
        (FLAG_TRANSITIVE, ORIGIN, &[0]),
        (FLAG_TRANSITIVE, AS_PATH, AS_PATH_65001),
        (FLAG_TRANSITIVE, NEXT_HOP, &[203, 0, 113, 1]),
        (FLAG_OPTIONAL, MED, &[0, 0, 0, 10]),
        (
            FLAG_OPTIONAL | FLAG_TRANSITIVE,
            COMMUNITIES,
            &[0xfb, 0xf4, 0, 100],
        ),
    ]
}

/// Parses an UPDATE with `list` as attributes and one prefix 198.51.100.0/24.
fn parse_with(list: &[(u8, u8, &[u8])]) -> Result<(Vec<Problem>, Verdict), Notify> {
    let msg = encode::update(&[], &attrs(list), &[24, 198, 51, 100]);
    let Message::Update(u) = Message::decode(&msg)? else {
        panic!()
    };
    Attrs::parse(&u, EBGP_AS4).map(|(a, v)| (a.problems, v))
}

fn replace(code: u8, flags: u8, value: &'static [u8]) -> Vec<(u8, u8, &'static [u8])> {
    good_attrs()
        .into_iter()
        .map(|a| if a.1 == code { (flags, code, value) } else { a })
        .collect()
}

#[test]
fn a_whole_update_decodes() {
    let msg = encode::update(&[8, 10], &attrs(&good_attrs()), &[24, 198, 51, 100]);
    let Message::Update(u) = Message::decode(&msg).unwrap() else {
        panic!()
    };
    assert_eq!(
        u.withdrawn().map(|p| p.to_string()).collect::<Vec<_>>(),
        ["10.0.0.0/8"]
    );
    assert_eq!(
        u.announced().map(|p| p.to_string()).collect::<Vec<_>>(),
        ["198.51.100.0/24"]
    );
    let (a, v) = Attrs::parse(&u, EBGP_AS4).unwrap();
    assert_eq!(v, Verdict::Use);
    assert_eq!(a.origin, Some(0));
    assert_eq!(a.next_hop, Some(Ipv4Addr::new(203, 0, 113, 1)));
    assert_eq!(a.med, Some(10));
    assert_eq!(a.communities, Some(&[0xfb, 0xf4, 0, 100][..]));
    assert_eq!(
        as_path_segments(a.as_path.unwrap(), true).collect::<Vec<_>>(),
        [(AS_SEQUENCE, vec![65001])]
    );
    assert_eq!(as_path_len(a.as_path.unwrap()), 1);
    assert!(a.problems.is_empty());
}

#[test]
fn rfc7606_treat_as_withdraw_cases() {
    for (name, list) in [
        ("bad ORIGIN value", replace(ORIGIN, FLAG_TRANSITIVE, &[7])),
        (
            "bad ORIGIN length",
            replace(ORIGIN, FLAG_TRANSITIVE, &[0, 0]),
        ),
        (
            "AS_PATH segment overrun",
            replace(AS_PATH, FLAG_TRANSITIVE, &[2, 3, 0, 0, 0xfd, 0xe9]),
        ),
        (
            "AS_PATH unknown segment type",
            replace(AS_PATH, FLAG_TRANSITIVE, &[9, 1, 0, 0, 0xfd, 0xe9]),
        ),
        (
            "AS_PATH empty segment",
            replace(AS_PATH, FLAG_TRANSITIVE, &[2, 0]),
        ),
        (
            "AS_PATH confed from eBGP",
            replace(AS_PATH, FLAG_TRANSITIVE, &[3, 1, 0, 0, 0xfd, 0xe9]),
        ),
        (
            "NEXT_HOP length",
            replace(NEXT_HOP, FLAG_TRANSITIVE, &[1, 2, 3]),
        ),
        (
            "NEXT_HOP 0.0.0.0",
            replace(NEXT_HOP, FLAG_TRANSITIVE, &[0, 0, 0, 0]),
        ),
        (
            "NEXT_HOP multicast",
            replace(NEXT_HOP, FLAG_TRANSITIVE, &[224, 0, 0, 1]),
        ),
        ("MED length", replace(MED, FLAG_OPTIONAL, &[0, 10])),
        (
            "COMMUNITIES length",
            replace(COMMUNITIES, FLAG_OPTIONAL | FLAG_TRANSITIVE, &[0, 0, 1]),
        ),
        (
            "ORIGIN flagged optional",
            replace(ORIGIN, FLAG_OPTIONAL | FLAG_TRANSITIVE, &[0]),
        ),
        (
            "missing ORIGIN",
            good_attrs().into_iter().filter(|a| a.1 != ORIGIN).collect(),
        ),
        (
            "missing NEXT_HOP",
            good_attrs()
                .into_iter()
                .filter(|a| a.1 != NEXT_HOP)
                .collect(),
        ),
        (
            "unknown well-known",
            [good_attrs(), vec![(FLAG_TRANSITIVE, 99, &[1][..])]].concat(),
        ),
    ] {
        let (problems, verdict) =
            parse_with(&list).unwrap_or_else(|e| panic!("{name}: session reset {e:?}"));
        assert_eq!(verdict, Verdict::TreatAsWithdraw, "{name}");
        assert!(!problems.is_empty(), "{name}");
    }
}

#[test]
fn rfc7606_attribute_discard_cases() {
    let atomic_bad = [
        good_attrs(),
        vec![(FLAG_TRANSITIVE, ATOMIC_AGGREGATE, &[1][..])],
    ]
    .concat();
    let aggregator_bad = [
        good_attrs(),
        vec![(FLAG_OPTIONAL | FLAG_TRANSITIVE, AGGREGATOR, &[1, 2, 3][..])],
    ]
    .concat();
    let duplicate_med = [good_attrs(), vec![(FLAG_OPTIONAL, MED, &[0, 0, 0, 99][..])]].concat();
    for (name, list) in [
        ("ATOMIC_AGGREGATE length", atomic_bad),
        ("AGGREGATOR length", aggregator_bad),
        ("duplicate MED", duplicate_med),
    ] {
        let (problems, verdict) = parse_with(&list).unwrap();
        assert_eq!(verdict, Verdict::Use, "{name}");
        assert!(
            problems.iter().all(|p| p.discarded) && !problems.is_empty(),
            "{name}: {problems:?}"
        );
    }
    // The first MED wins over a repeated one.
    let msg = encode::update(
        &[],
        &attrs(&[good_attrs(), vec![(FLAG_OPTIONAL, MED, &[0, 0, 0, 99][..])]].concat()),
        &[24, 198, 51, 100],
    );
    let Message::Update(u) = Message::decode(&msg).unwrap() else {
        panic!()
    };
    assert_eq!(Attrs::parse(&u, EBGP_AS4).unwrap().0.med, Some(10));
}

#[test]
fn reflection_attributes_from_ebgp_are_discarded() {
    // Malformed ones too: RFC 7606 discards them before looking.
    for (originator, cluster) in [
        (&[10, 0, 0, 7][..], &[10, 0, 0, 1][..]),
        (&[1][..], &[2][..]),
    ] {
        let list = [
            good_attrs(),
            vec![
                (FLAG_OPTIONAL, ORIGINATOR_ID, originator),
                (FLAG_OPTIONAL, CLUSTER_LIST, cluster),
            ],
        ]
        .concat();
        let msg = encode::update(&[], &attrs(&list), &[24, 198, 51, 100]);
        let Message::Update(u) = Message::decode(&msg).unwrap() else {
            panic!()
        };
        let (a, verdict) = Attrs::parse(&u, EBGP_AS4).unwrap();
        assert_eq!((a.originator_id, a.cluster_list), (None, None));
        assert!(a.problems.is_empty(), "{:?}", a.problems);
        assert_eq!(verdict, Verdict::Use);
        let ibgp = Ctx {
            four_octet_as: true,
            ebgp: false,
        };
        let (a, _) = Attrs::parse(&u, ibgp).unwrap();
        if originator.len() == 4 {
            assert_eq!(a.originator_id, Some(Ipv4Addr::new(10, 0, 0, 7)));
            assert_eq!(a.cluster_list, Some(cluster));
        } else {
            assert_eq!(a.problems.len(), 2, "{:?}", a.problems);
        }
    }
}

#[test]
fn local_pref_from_ebgp_is_ignored() {
    let list = [
        good_attrs(),
        vec![(FLAG_TRANSITIVE, LOCAL_PREF, &[0, 0, 1, 0][..])],
    ]
    .concat();
    let msg = encode::update(&[], &attrs(&list), &[24, 198, 51, 100]);
    let Message::Update(u) = Message::decode(&msg).unwrap() else {
        panic!()
    };
    assert_eq!(Attrs::parse(&u, EBGP_AS4).unwrap().0.local_pref, None);
    assert_eq!(
        Attrs::parse(
            &u,
            Ctx {
                four_octet_as: true,
                ebgp: false
            }
        )
        .unwrap()
        .0
        .local_pref,
        Some(256)
    );
}

#[test]
fn attribute_length_overrun_is_treat_as_withdraw() {
    let mut a = attrs(&good_attrs());
    a.extend([FLAG_OPTIONAL | FLAG_TRANSITIVE, COMMUNITIES, 40, 1, 2]);
    let msg = encode::update(&[], &a, &[24, 198, 51, 100]);
    let Message::Update(u) = Message::decode(&msg).unwrap() else {
        panic!()
    };
    assert_eq!(
        Attrs::parse(&u, EBGP_AS4).unwrap().1,
        Verdict::TreatAsWithdraw
    );
}

#[test]
fn session_reset_cases() {
    // Withdrawn length beyond the message.
    let mut msg = encode::update(&[], &attrs(&good_attrs()), &[24, 198, 51, 100]);
    msg[19..21].copy_from_slice(&500u16.to_be_bytes());
    assert_eq!(
        Message::decode(&msg).unwrap_err().subcode,
        err::UPDATE_MALFORMED_ATTR_LIST
    );
    // NLRI with a /33.
    let msg = encode::update(&[], &attrs(&good_attrs()), &[33, 1, 2, 3, 4, 5]);
    assert_eq!(
        Message::decode(&msg).unwrap_err().subcode,
        err::UPDATE_INVALID_NETWORK
    );
    // Two MP_REACH_NLRI.
    let mp: &[u8] = &[
        0, 2, 1, 16, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 32, 0x20, 1, 0xd,
        0xb8,
    ];
    let list = [
        good_attrs(),
        vec![(FLAG_OPTIONAL, MP_REACH, mp), (FLAG_OPTIONAL, MP_REACH, mp)],
    ]
    .concat();
    assert!(parse_with(&list).is_err());
    // Malformed MP_REACH_NLRI.
    let bad_mp: &[u8] = &[0, 2, 1, 16, 0x20, 1];
    assert!(parse_with(&[good_attrs(), vec![(FLAG_OPTIONAL, MP_REACH, bad_mp)]].concat()).is_err());
    // MP_UNREACH_NLRI overrunning the attribute list after a good MP_REACH_NLRI:
    // its withdrawn routes cannot be found, so treat-as-withdraw would leave
    // them in place (found by the netgauze oracle, tests/oracle.rs).
    let mut a = attrs(&[good_attrs(), vec![(FLAG_OPTIONAL, MP_REACH, mp)]].concat());
    a.extend([FLAG_OPTIONAL, MP_UNREACH, 40, 0, 2, 1, 32, 0x20]);
    let msg = encode::update(&[], &a, &[24, 198, 51, 100]);
    let Message::Update(u) = Message::decode(&msg).unwrap() else {
        panic!()
    };
    assert_eq!(
        Attrs::parse(&u, EBGP_AS4).unwrap_err().subcode,
        err::UPDATE_MALFORMED_ATTR_LIST
    );
}

#[test]
fn route_reflector_attributes_are_read_and_checked() {
    let ibgp = Ctx {
        four_octet_as: true,
        ebgp: false,
    };
    let parse = |list: &[(u8, u8, &[u8])]| {
        let msg = encode::update(&[], &attrs(list), &[24, 198, 51, 100]);
        let Message::Update(u) = Message::decode(&msg).unwrap() else {
            panic!()
        };
        Attrs::parse(&u, ibgp)
            .map(|(a, v)| (a.originator_id, a.cluster_list.map(<[u8]>::to_vec), v))
    };
    let list = [
        good_attrs(),
        vec![
            (FLAG_OPTIONAL, ORIGINATOR_ID, &[10, 0, 0, 7][..]),
            (FLAG_OPTIONAL, CLUSTER_LIST, &[10, 0, 0, 1, 10, 0, 0, 2][..]),
        ],
    ]
    .concat();
    assert_eq!(
        parse(&list).unwrap(),
        (
            Some(Ipv4Addr::new(10, 0, 0, 7)),
            Some(vec![10, 0, 0, 1, 10, 0, 0, 2]),
            Verdict::Use
        )
    );
    // RFC 7606 §7.9, §7.10: malformed, the routes are treated as withdrawn.
    for bad in [
        (FLAG_OPTIONAL, ORIGINATOR_ID, &[10, 0, 0][..]),
        (FLAG_OPTIONAL, CLUSTER_LIST, &[10, 0, 0, 1, 10][..]),
        (
            FLAG_OPTIONAL | FLAG_TRANSITIVE,
            ORIGINATOR_ID,
            &[10, 0, 0, 7][..],
        ),
    ] {
        let list = [good_attrs(), vec![bad]].concat();
        assert_eq!(parse(&list).unwrap().2, Verdict::TreatAsWithdraw, "{bad:?}");
    }
}

#[test]
fn unknown_transitive_is_kept_whole() {
    let list = [
        good_attrs(),
        vec![
            (FLAG_OPTIONAL | FLAG_TRANSITIVE, 200, &[9, 9][..]),
            (FLAG_OPTIONAL, 201, &[1][..]),
        ],
    ]
    .concat();
    let msg = encode::update(&[], &attrs(&list), &[24, 198, 51, 100]);
    let Message::Update(u) = Message::decode(&msg).unwrap() else {
        panic!()
    };
    let (a, v) = Attrs::parse(&u, EBGP_AS4).unwrap();
    assert_eq!(v, Verdict::Use);
    assert_eq!(a.unknown_transitive, vec![&[0xc0, 200, 2, 9, 9][..]]);
}

#[test]
fn ipv6_announce_and_withdraw_round_trip() {
    let prefixes: Vec<Prefix> = (0..600u32)
        .map(|i| format!("2001:db8:{:x}::/48", i).parse().unwrap())
        .collect();
    let nh: Vec<u8> = "2001:db8::1"
        .parse::<std::net::Ipv6Addr>()
        .unwrap()
        .octets()
        .to_vec();
    let base = attrs(&good_attrs()[..2]);
    let msgs = encode::announce(Afi::Ipv6, &base, &nh, &prefixes, 4096).unwrap();
    assert!(msgs.len() > 1, "600 /48s do not fit one 4096-octet UPDATE");
    let mut got = Vec::new();
    for m in &msgs {
        assert!(m.len() <= 4096);
        assert_eq!(crate::frame(m, 4096), Ok(Some(m.len())));
        let Message::Update(u) = Message::decode(m).unwrap() else {
            panic!()
        };
        let (a, v) = Attrs::parse(&u, EBGP_AS4).unwrap();
        assert_eq!(v, Verdict::Use);
        let mp = a.mp_reach.unwrap();
        assert_eq!(mp.next_hop, &nh[..]);
        got.extend(Prefixes::new(Afi::Ipv6, mp.nlri));
    }
    assert_eq!(got, prefixes);

    let msgs = encode::withdraw(Afi::Ipv6, &prefixes, 4096);
    let mut gone = Vec::new();
    for m in &msgs {
        let Message::Update(u) = Message::decode(m).unwrap() else {
            panic!()
        };
        let (a, v) = Attrs::parse(&u, EBGP_AS4).unwrap();
        assert_eq!(v, Verdict::Use);
        gone.extend(Prefixes::new(Afi::Ipv6, a.mp_unreach.unwrap().withdrawn));
    }
    assert_eq!(gone, prefixes);
}

#[test]
fn end_of_rib_markers() {
    let m = encode::end_of_rib(Afi::Ipv4);
    let Message::Update(u) = Message::decode(&m).unwrap() else {
        panic!()
    };
    assert!(u.is_end_of_rib_ipv4());
    let m = encode::end_of_rib(Afi::Ipv6);
    let Message::Update(u) = Message::decode(&m).unwrap() else {
        panic!()
    };
    let (a, _) = Attrs::parse(&u, EBGP_AS4).unwrap();
    assert_eq!(
        a.mp_unreach,
        Some(MpUnreach {
            afi: Afi::Ipv6,
            withdrawn: &[]
        })
    );
}

#[test]
fn two_octet_as_path_widens() {
    let v = [2, 2, 0xfd, 0xe9, 0x00, 0x64];
    assert!(check_as_path(&v, 2, true).is_ok());
    assert_eq!(widen_as_path(&v), [2, 2, 0, 0, 0xfd, 0xe9, 0, 0, 0, 0x64]);
}

fn arb_v4() -> impl Strategy<Value = Prefix> {
    (any::<u32>(), 0u8..=32)
        .prop_map(|(a, l)| Prefix::V4(ipnet::Ipv4Net::new(Ipv4Addr::from(a), l).unwrap().trunc()))
}

proptest! {
    /// decode(encode(x)) == x for IPv4 announcements and withdrawals.
    #[test]
    fn ipv4_round_trip(announced in proptest::collection::vec(arb_v4(), 0..400),
                       withdrawn in proptest::collection::vec(arb_v4(), 0..50),
                       med in any::<u32>()) {
        let med_bytes = med.to_be_bytes();
        let list = [good_attrs()[..3].to_vec(), vec![(FLAG_OPTIONAL, MED, &med_bytes[..])]].concat();
        let a = attrs(&list);
        let mut got = Vec::new();
        for m in encode::announce(Afi::Ipv4, &a, &[], &announced, 4096).unwrap() {
            prop_assert!(m.len() <= 4096);
            let Message::Update(u) = Message::decode(&m).unwrap() else { panic!() };
            let (parsed, v) = Attrs::parse(&u, EBGP_AS4).unwrap();
            prop_assert_eq!(v, Verdict::Use);
            prop_assert_eq!(parsed.med, Some(med));
            got.extend(u.announced());
        }
        prop_assert_eq!(&got, &announced);
        let mut gone = Vec::new();
        for m in encode::withdraw(Afi::Ipv4, &withdrawn, 4096) {
            let Message::Update(u) = Message::decode(&m).unwrap() else { panic!() };
            gone.extend(u.withdrawn());
        }
        prop_assert_eq!(&gone, &withdrawn);
    }

    /// No input makes the decoder panic or read out of bounds.
    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..600)) {
        let msg = encode::update(&[], &[], &[]);
        let mut m = msg[..19].to_vec();
        m.extend(&body);
        let len = m.len() as u16;
        m[16..18].copy_from_slice(&len.to_be_bytes());
        if let Ok(Some(n)) = crate::frame(&m, 65535)
            && let Ok(Message::Update(u)) = Message::decode(&m[..n]) {
                let _ = Attrs::parse(&u, EBGP_AS4);
                let _ = u.announced().count();
        }
    }
}

#[test]
fn malformed_local_pref_from_ebgp_is_discarded_not_withdrawn() {
    // RFC 7606 §7.5: wrong length or wrong flags, from an external peer: attribute-discard.
    for lp in [
        (FLAG_TRANSITIVE, LOCAL_PREF, &[0, 100][..]),
        (
            FLAG_OPTIONAL | FLAG_TRANSITIVE,
            LOCAL_PREF,
            &[0, 0, 0, 100][..],
        ),
    ] {
        let (_, verdict) = parse_with(&[good_attrs(), vec![lp]].concat()).unwrap();
        assert_eq!(verdict, Verdict::Use, "{lp:?}");
    }
    // From an internal peer the same length error withdraws.
    let msg = encode::update(
        &[],
        &attrs(
            &[
                good_attrs(),
                vec![(FLAG_TRANSITIVE, LOCAL_PREF, &[0, 100][..])],
            ]
            .concat(),
        ),
        &[24, 198, 51, 100],
    );
    let Message::Update(u) = Message::decode(&msg).unwrap() else {
        panic!()
    };
    assert_eq!(
        Attrs::parse(
            &u,
            Ctx {
                four_octet_as: true,
                ebgp: false
            }
        )
        .unwrap()
        .1,
        Verdict::TreatAsWithdraw
    );
}

#[test]
fn multiprotocol_attributes_of_other_families_are_ignored() {
    // IPv4 multicast (SAFI 2) and L2VPN (AFI 25): not carried, not a reason to reset.
    for value in [
        &[0, 1, 2, 4, 10, 0, 0, 1, 0, 24, 239, 1, 1][..],
        &[0, 25, 65, 0, 0][..],
    ] {
        let (problems, verdict) =
            parse_with(&[good_attrs(), vec![(FLAG_OPTIONAL, MP_REACH, value)]].concat()).unwrap();
        assert_eq!(verdict, Verdict::Use);
        assert!(
            problems.iter().any(|p| p.discarded && p.code == MP_REACH),
            "{problems:?}"
        );
    }
}

#[test]
fn short_messages_do_not_panic() {
    assert!(Message::decode(&[0xff; 10]).is_err());
    let mut n = crate::iana::MARKER.to_vec();
    n.extend([0, 20, crate::iana::msg::NOTIFICATION, 6]);
    assert!(Message::decode(&n).is_err());
}
