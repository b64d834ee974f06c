//! The export encoder never produces a malformed UPDATE: whatever the
//! attributes, they either go out in messages within the peer's maximum
//! size that decode back to what was sent, or the route is not exported.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use sluice_rib::attrs::{PathAttrs, Rare, RareAttrs};
use sluice_wire::encode::{self, TooLong};
use sluice_wire::nlri::Prefixes;
use sluice_wire::update::{Attrs, Ctx, Verdict};
use sluice_wire::{Afi, Message, Prefix, frame};

/// AS_PATH segments with 4-octet ASNs: up to 12 segments of up to 255.
fn arb_as_path() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec((1u8..=2, 1usize..=255, any::<u32>()), 0..12).prop_map(|segs| {
        let mut out = Vec::new();
        for (kind, n, asn) in segs {
            out.extend([kind, u8::try_from(n).unwrap()]);
            for k in 0..n {
                out.extend((asn.wrapping_add(k as u32) | 1).to_be_bytes());
            }
        }
        out
    })
}

/// An unknown optional transitive attribute, whole (flags, type, length).
fn arb_unknown() -> impl Strategy<Value = Vec<u8>> {
    (200u8..=250, 0usize..70_000).prop_map(|(code, len)| {
        let mut raw = Vec::new();
        encode::try_attribute(&mut raw, 0xc0, code, &vec![7; len.min(65_535)]).unwrap();
        raw
    })
}

fn arb_attrs() -> impl Strategy<Value = PathAttrs> {
    (
        arb_as_path(),
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<u32>()),
        proptest::collection::vec(any::<u32>(), 0..20_000),
        proptest::collection::vec(any::<(u32, u32, u32)>(), 0..3_000),
        proptest::collection::vec(arb_unknown(), 0..3),
    )
        .prop_map(
            |(as_path, med, local_pref, mut communities, large, unknown)| {
                communities.sort_unstable();
                communities.dedup();
                PathAttrs {
                    origin: 0,
                    as_path,
                    next_hop: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
                    med,
                    local_pref,
                    communities,
                    rare: Rare::new(RareAttrs {
                        large_communities: large,
                        unknown,
                        ..Default::default()
                    }),
                    ..Default::default()
                }
            },
        )
}

fn arb_prefixes(afi: Afi) -> impl Strategy<Value = Vec<Prefix>> {
    let one = (any::<u128>(), 0u8..=128).prop_map(move |(a, l)| match afi {
        Afi::Ipv4 => Prefix::V4(
            ipnet::Ipv4Net::new(Ipv4Addr::from(a as u32), l % 33)
                .unwrap()
                .trunc(),
        ),
        Afi::Ipv6 => Prefix::V6(ipnet::Ipv6Net::new(Ipv6Addr::from(a), l).unwrap().trunc()),
    });
    proptest::collection::vec(one, 1..300)
}

fn check(a: &PathAttrs, afi: Afi, prefixes: &[Prefix], max: usize) -> Result<(), TestCaseError> {
    let nh6 = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let nh: &[u8] = if afi == Afi::Ipv6 { &nh6 } else { &[] };
    let sent = a
        .encode(true, afi == Afi::Ipv4)
        .and_then(|bytes| encode::announce(afi, &bytes, nh, prefixes, max));
    let msgs = match sent {
        Ok(msgs) => msgs,
        // Not exported: only when it truly does not fit.
        Err(TooLong::Message { len, max: m }) => {
            prop_assert_eq!(m, max);
            prop_assert!(len > max, "refused a {len}-octet message under {max}");
            return Ok(());
        }
        Err(TooLong::Attribute { len, .. }) => {
            prop_assert!(len > 65_535);
            return Ok(());
        }
    };
    let mut got = Vec::new();
    for m in &msgs {
        prop_assert!(m.len() <= max, "{} > {max}", m.len());
        prop_assert_eq!(frame(m, max), Ok(Some(m.len())));
        let Ok(Message::Update(u)) = Message::decode(m) else {
            return Err(TestCaseError::fail("not an UPDATE"));
        };
        let ctx = Ctx {
            four_octet_as: true,
            ebgp: false,
        };
        let (parsed, verdict) =
            Attrs::parse(&u, ctx).map_err(|e| TestCaseError::fail(format!("malformed: {e:?}")))?;
        prop_assert_eq!(verdict, Verdict::Use);
        prop_assert_eq!(parsed.med, a.med);
        match afi {
            Afi::Ipv4 => got.extend(u.announced()),
            Afi::Ipv6 => got.extend(Prefixes::new(Afi::Ipv6, parsed.mp_reach.unwrap().nlri)),
        }
    }
    prop_assert_eq!(got, prefixes.to_vec());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn ipv4_encodes_within_the_limit_or_is_not_exported(
        a in arb_attrs(), prefixes in arb_prefixes(Afi::Ipv4), extended in any::<bool>()
    ) {
        check(&a, Afi::Ipv4, &prefixes, if extended { 65_535 } else { 4096 })?;
    }

    #[test]
    fn ipv6_encodes_within_the_limit_or_is_not_exported(
        a in arb_attrs(), prefixes in arb_prefixes(Afi::Ipv6), extended in any::<bool>()
    ) {
        check(&a, Afi::Ipv6, &prefixes, if extended { 65_535 } else { 4096 })?;
    }
}
