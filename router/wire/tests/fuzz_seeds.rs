//! The seed corpus of the `decode` fuzz target (fuzz/seeds/decode): each
//! seed is built here, and this test checks that the committed files are
//! the same bytes and still decode the way their names say.
//!
//! After changing a seed: `SLUICE_WRITE_SEEDS=1 cargo test -p sluice-wire
//! --test fuzz_seeds` rewrites the directory.

use std::path::PathBuf;

use sluice_wire::encode;
use sluice_wire::iana::attr::*;
use sluice_wire::iana::{AFI_IPV4, AFI_IPV6, SAFI_UNICAST};
use sluice_wire::nlri::{Afi, Prefix};
use sluice_wire::open::{Capabilities, GracefulRestart, Open};
use sluice_wire::update::{Attrs, Ctx, Verdict};
use sluice_wire::{Message, frame};

const EBGP_AS4: Ctx = Ctx {
    four_octet_as: true,
    ebgp: true,
};

/// What the first message of a seed does (as seen from an eBGP peer with
/// 4-octet ASNs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// A message other than UPDATE, decoded.
    Decoded,
    Use,
    Withdraw,
    /// Attribute-discard: used, with a discarded attribute.
    Discard,
    Reset,
}

fn attrs(list: &[(u8, u8, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (flags, code, value) in list {
        encode::attribute(&mut out, *flags, *code, value);
    }
    out
}

const AS_PATH_65001: &[u8] = &[2, 1, 0, 0, 0xfd, 0xe9];
const NET: &[u8] = &[24, 198, 51, 100];

fn good() -> Vec<(u8, u8, &'static [u8])> {
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

fn with(code: u8, flags: u8, value: &'static [u8]) -> Vec<u8> {
    let list: Vec<_> = good()
        .into_iter()
        .map(|a| if a.1 == code { (flags, code, value) } else { a })
        .collect();
    encode::update(&[], &attrs(&list), NET)
}

fn without(code: u8) -> Vec<u8> {
    let list: Vec<_> = good().into_iter().filter(|a| a.1 != code).collect();
    encode::update(&[], &attrs(&list), NET)
}

fn plus(extra: &[(u8, u8, &'static [u8])]) -> Vec<u8> {
    encode::update(&[], &attrs(&[good(), extra.to_vec()].concat()), NET)
}

const MP_V6: &[u8] = &[
    0, 2, 1, 16, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 32, 0x20, 1, 0xd, 0xb8,
];

fn prefixes(list: &[&str]) -> Vec<Prefix> {
    list.iter().map(|p| p.parse().unwrap()).collect()
}

fn open_sample() -> Open {
    Open {
        asn: 4_200_000_001,
        hold_time: 90,
        router_id: "192.0.2.1".parse().unwrap(),
        caps: Capabilities {
            multiprotocol: vec![(AFI_IPV4, SAFI_UNICAST), (AFI_IPV6, SAFI_UNICAST)],
            route_refresh: true,
            enhanced_route_refresh: true,
            extended_message: true,
            four_octet_as: Some(4_200_000_001),
            graceful_restart: Some(GracefulRestart {
                restarting: true,
                notification: true,
                time: 120,
                families: vec![
                    (AFI_IPV4, SAFI_UNICAST, true),
                    (AFI_IPV6, SAFI_UNICAST, false),
                ],
            }),
            unknown: vec![],
        },
    }
}

fn seeds() -> Vec<(&'static str, Vec<u8>, Expect)> {
    use Expect::*;
    let full_table_like = {
        let list = prefixes(&[
            "1.0.0.0/24",
            "1.0.4.0/22",
            "8.8.8.0/24",
            "23.0.0.0/12",
            "41.0.0.0/11",
            "103.21.244.0/23",
            "185.0.0.0/16",
            "198.51.100.128/25",
            "203.0.113.7/32",
            "0.0.0.0/0",
        ]);
        let mut nlri = Vec::new();
        for p in &list {
            sluice_wire::nlri::encode(p, &mut nlri);
        }
        let aggregator: &[u8] = &[0, 0, 0xfd, 0xe9, 192, 0, 2, 1];
        let large: &[u8] = &[0, 0, 0xfd, 0xe9, 0, 0, 0, 1, 0, 0, 0, 2];
        let long_path: Vec<u8> = {
            let mut v = vec![2, 70];
            for i in 0..70u32 {
                v.extend((64_512 + i).to_be_bytes());
            }
            v
        };
        let mut a = attrs(&[
            (FLAG_TRANSITIVE, ORIGIN, &[2]),
            (FLAG_TRANSITIVE, NEXT_HOP, &[203, 0, 113, 1]),
            (FLAG_TRANSITIVE, LOCAL_PREF, &[0, 0, 0, 100]),
            (FLAG_TRANSITIVE, ATOMIC_AGGREGATE, &[]),
            (FLAG_OPTIONAL | FLAG_TRANSITIVE, AGGREGATOR, aggregator),
            (FLAG_OPTIONAL | FLAG_TRANSITIVE, LARGE_COMMUNITIES, large),
            (FLAG_OPTIONAL | FLAG_TRANSITIVE, 200, &[1, 2, 3]),
        ]);
        // Over 255 octets: the extended length form.
        encode::attribute(&mut a, FLAG_TRANSITIVE, AS_PATH, &long_path);
        encode::update(&[], &a, &nlri)
    };
    let nh6: Vec<u8> = "2001:db8::1"
        .parse::<std::net::Ipv6Addr>()
        .unwrap()
        .octets()
        .to_vec();
    let nh6_ll: Vec<u8> = [
        nh6.clone(),
        "fe80::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets()
            .to_vec(),
    ]
    .concat();
    let base2 = attrs(&good()[..2]);
    let v6 = prefixes(&[
        "2001:db8::/32",
        "2001:db8:1::/48",
        "2001:db8:2:3::/64",
        "::/0",
    ]);
    let v4 = prefixes(&["192.0.2.0/24", "198.51.100.0/25", "10.0.0.0/8"]);
    let mp_reach_v4 = {
        let mut value = vec![0, 1, 1, 4, 192, 0, 2, 1, 0];
        for p in &v4 {
            sluice_wire::nlri::encode(p, &mut value);
        }
        let mut a = base2.clone();
        encode::attribute(&mut a, FLAG_OPTIONAL, MP_REACH, &value);
        encode::update(&[], &a, &[])
    };
    let two_mp = plus(&[
        (FLAG_OPTIONAL, MP_REACH, MP_V6),
        (FLAG_OPTIONAL, MP_REACH, MP_V6),
    ]);
    let unreach_overrun = {
        let mut a = attrs(&[good(), vec![(FLAG_OPTIONAL, MP_REACH, MP_V6)]].concat());
        a.extend([FLAG_OPTIONAL, MP_UNREACH, 40, 0, 2, 1, 32, 0x20]);
        encode::update(&[], &a, NET)
    };
    let attr_overrun = {
        let mut a = attrs(&good());
        a.extend([FLAG_OPTIONAL | FLAG_TRANSITIVE, COMMUNITIES, 40, 1, 2]);
        encode::update(&[], &a, NET)
    };
    let withdrawn_overrun = {
        let mut m = encode::update(&[], &attrs(&good()), NET);
        m[19..21].copy_from_slice(&500u16.to_be_bytes());
        m
    };
    let two_messages = [encode::keepalive(), plus(&[])].concat();
    let mut minimal_open = Vec::new();
    Open {
        asn: 65001,
        hold_time: 0,
        router_id: "10.0.0.1".parse().unwrap(),
        caps: Capabilities::default(),
    }
    .encode_body(&mut minimal_open);
    minimal_open.truncate(10);
    minimal_open[9] = 0;
    let mut bad_marker = encode::keepalive();
    bad_marker[0] = 0;
    let mut bad_type = encode::keepalive();
    bad_type[18] = 9;

    vec![
        ("keepalive", encode::keepalive(), Decoded),
        ("open", encode::open(&open_sample()), Decoded),
        (
            "open-minimal",
            [&encode::keepalive()[..16], &[0, 29, 1], &minimal_open[..]].concat(),
            Decoded,
        ),
        (
            "notification-shutdown",
            encode::shutdown(2, "maintenance until 18:00"),
            Decoded,
        ),
        (
            "notification-update-error",
            encode::notification(3, 11, &[1, 2, 3]),
            Decoded,
        ),
        (
            "route-refresh-v4",
            encode::route_refresh(Afi::Ipv4),
            Decoded,
        ),
        (
            "route-refresh-v6",
            encode::route_refresh(Afi::Ipv6),
            Decoded,
        ),
        ("two-messages", two_messages, Decoded),
        ("header-bad-marker", bad_marker, Reset),
        ("header-bad-type", bad_type, Reset),
        ("update-v4", plus(&[]), Use),
        (
            "update-v4-withdraw",
            encode::update(&[8, 10, 24, 192, 0, 2], &[], &[]),
            Use,
        ),
        ("update-v4-full-table-like", full_table_like, Use),
        ("update-v4-mp-reach", mp_reach_v4, Use),
        (
            "update-v6",
            encode::announce(Afi::Ipv6, &base2, &nh6, &v6, 4096)
                .unwrap()
                .remove(0),
            Use,
        ),
        (
            "update-v6-link-local",
            encode::announce(Afi::Ipv6, &base2, &nh6_ll, &v6, 4096)
                .unwrap()
                .remove(0),
            Use,
        ),
        (
            "update-v6-withdraw",
            encode::withdraw(Afi::Ipv6, &v6, 4096).remove(0),
            Use,
        ),
        ("end-of-rib-v4", encode::end_of_rib(Afi::Ipv4), Use),
        ("end-of-rib-v6", encode::end_of_rib(Afi::Ipv6), Use),
        (
            "unknown-transitive",
            plus(&[
                (FLAG_OPTIONAL | FLAG_TRANSITIVE, 200, &[9, 9]),
                (FLAG_OPTIONAL, 201, &[1]),
            ]),
            Use,
        ),
        // RFC 7606 treat-as-withdraw (the cases of src/update/tests.rs).
        (
            "rfc7606-origin-value",
            with(ORIGIN, FLAG_TRANSITIVE, &[7]),
            Withdraw,
        ),
        (
            "rfc7606-origin-length",
            with(ORIGIN, FLAG_TRANSITIVE, &[0, 0]),
            Withdraw,
        ),
        (
            "rfc7606-as-path-overrun",
            with(AS_PATH, FLAG_TRANSITIVE, &[2, 3, 0, 0, 0xfd, 0xe9]),
            Withdraw,
        ),
        (
            "rfc7606-as-path-segment-type",
            with(AS_PATH, FLAG_TRANSITIVE, &[9, 1, 0, 0, 0xfd, 0xe9]),
            Withdraw,
        ),
        (
            "rfc7606-as-path-empty-segment",
            with(AS_PATH, FLAG_TRANSITIVE, &[2, 0]),
            Withdraw,
        ),
        (
            "rfc7606-as-path-confed-ebgp",
            with(AS_PATH, FLAG_TRANSITIVE, &[3, 1, 0, 0, 0xfd, 0xe9]),
            Withdraw,
        ),
        (
            "rfc7606-next-hop-length",
            with(NEXT_HOP, FLAG_TRANSITIVE, &[1, 2, 3]),
            Withdraw,
        ),
        (
            "rfc7606-next-hop-zero",
            with(NEXT_HOP, FLAG_TRANSITIVE, &[0, 0, 0, 0]),
            Withdraw,
        ),
        (
            "rfc7606-next-hop-multicast",
            with(NEXT_HOP, FLAG_TRANSITIVE, &[224, 0, 0, 1]),
            Withdraw,
        ),
        (
            "rfc7606-med-length",
            with(MED, FLAG_OPTIONAL, &[0, 10]),
            Withdraw,
        ),
        (
            "rfc7606-communities-length",
            with(COMMUNITIES, FLAG_OPTIONAL | FLAG_TRANSITIVE, &[0, 0, 1]),
            Withdraw,
        ),
        (
            "rfc7606-origin-flags",
            with(ORIGIN, FLAG_OPTIONAL | FLAG_TRANSITIVE, &[0]),
            Withdraw,
        ),
        ("rfc7606-missing-origin", without(ORIGIN), Withdraw),
        ("rfc7606-missing-next-hop", without(NEXT_HOP), Withdraw),
        (
            "rfc7606-unknown-well-known",
            plus(&[(FLAG_TRANSITIVE, 99, &[1])]),
            Withdraw,
        ),
        ("rfc7606-attribute-overrun", attr_overrun, Withdraw),
        // RFC 7606 attribute-discard.
        (
            "rfc7606-atomic-aggregate-length",
            plus(&[(FLAG_TRANSITIVE, ATOMIC_AGGREGATE, &[1])]),
            Discard,
        ),
        (
            "rfc7606-aggregator-length",
            plus(&[(FLAG_OPTIONAL | FLAG_TRANSITIVE, AGGREGATOR, &[1, 2, 3])]),
            Discard,
        ),
        (
            "rfc7606-duplicate-med",
            plus(&[(FLAG_OPTIONAL, MED, &[0, 0, 0, 99])]),
            Discard,
        ),
        // RFC 7606 session reset.
        ("rfc7606-withdrawn-overrun", withdrawn_overrun, Reset),
        (
            "rfc7606-nlri-slash-33",
            encode::update(&[], &attrs(&good()), &[33, 1, 2, 3, 4, 5]),
            Reset,
        ),
        ("rfc7606-two-mp-reach", two_mp, Reset),
        (
            "rfc7606-mp-reach-malformed",
            plus(&[(FLAG_OPTIONAL, MP_REACH, &[0, 2, 1, 16, 0x20, 1])]),
            Reset,
        ),
        ("rfc7606-mp-unreach-overrun", unreach_overrun, Reset),
    ]
}

fn outcome(bytes: &[u8]) -> Expect {
    let n = match frame(bytes, 4096) {
        Ok(Some(n)) => n,
        Ok(None) => panic!("incomplete"),
        Err(_) => return Expect::Reset,
    };
    match Message::decode(&bytes[..n]) {
        Err(_) => Expect::Reset,
        Ok(Message::Update(u)) => match Attrs::parse(&u, EBGP_AS4) {
            Err(_) => Expect::Reset,
            Ok((_, Verdict::TreatAsWithdraw)) => Expect::Withdraw,
            Ok((a, Verdict::Use)) if a.problems.is_empty() => Expect::Use,
            Ok((a, Verdict::Use)) => {
                assert!(a.problems.iter().all(|p| p.discarded));
                Expect::Discard
            }
        },
        Ok(_) => Expect::Decoded,
    }
}

#[test]
fn seed_corpus_is_current() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/decode");
    let write = std::env::var_os("SLUICE_WRITE_SEEDS").is_some();
    let seeds = seeds();
    let mut total = 0;
    for (name, bytes, expect) in &seeds {
        assert_eq!(outcome(bytes), *expect, "{name}");
        let path = dir.join(name);
        if write {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, bytes).unwrap();
        } else {
            let on_disk = std::fs::read(&path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (SLUICE_WRITE_SEEDS=1 writes the seeds)",
                    path.display()
                )
            });
            assert_eq!(&on_disk, bytes, "{name} differs from the committed seed");
        }
        total += bytes.len();
    }
    // No stray files: the directory is exactly these seeds.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), seeds.len(), "stray files in {}", dir.display());
    assert!(total < 200_000);
}
