//! Differential tests: sluice-wire against netgauze-bgp-pkt, an independent
//! BGP-4 decoder, used as an oracle.
//!
//! netgauze is configured for 4-octet ASNs, no add-path and no multiple
//! labels; it is strict about path attributes (the first malformed one is an
//! error, so we see every malformation) and lenient about non-unicast
//! prefixes and capability errors (see [`ng_ctx`]).
//!
//! # Well-formed messages
//!
//! UPDATEs (IPv4 NLRI and withdrawals, MP_REACH/MP_UNREACH for IPv4 and
//! IPv6, ORIGIN, AS_PATH of 4-octet ASNs, NEXT_HOP, MED, LOCAL_PREF,
//! ATOMIC_AGGREGATE, AGGREGATOR, COMMUNITIES, LARGE_COMMUNITIES, in any
//! order, with or without the extended-length flag), OPENs and
//! NOTIFICATIONs are generated, encoded here (not with `sluice_wire::encode`,
//! except for OPEN), and decoded by both. Both must accept, and the
//! prefixes, withdrawn prefixes and attribute values must be equal to each
//! other and to what was generated.
//!
//! # Mutated messages: the comparison rule
//!
//! Well-formed messages get 1–4 byte mutations (flip a bit, set, bump by ±2,
//! insert, remove, truncate), with the header length fixed up or not. Then:
//!
//! 1. Neither decoder panics (every prefix iterator is drained, and
//!    `Attrs::parse` runs with both `Ctx` variants).
//! 2. netgauze's *first* error is mapped to the action RFC 7606 prescribes
//!    for it ([`classify`]), a lower bound on how severe our answer must be:
//!    - **Reset** (header errors, OPEN errors, malformed withdrawn routes or
//!      NLRI field, Total Path Attribute Length overrun, any error in
//!      MP_REACH_NLRI/MP_UNREACH_NLRI, RFC 7606 §3 a/b/g, §5.3): we must
//!      reset (or still be waiting for the rest of the message).
//!    - **Withdraw** (ORIGIN, AS_PATH, NEXT_HOP, MED, LOCAL_PREF,
//!      COMMUNITIES, LARGE_COMMUNITIES malformed or with wrong
//!      optional/transitive flags, an attribute overrunning the attribute
//!      list; RFC 7606 §3 c, §4, §7): we must not *use* the NLRI, i.e.
//!      treat-as-withdraw or reset. This is the "do not silently accept"
//!      check.
//!    - **Unconstrained**: errors where RFC 7606 asks for no more than
//!      attribute-discard (ATOMIC_AGGREGATE, AGGREGATOR, AS4_*), or where
//!      netgauze is stricter than the RFCs or checks what sluice rightly
//!      does not: a repeated attribute (§3 g discards all but the first
//!      unread; netgauze validates each), the Partial bit (§3 c names only
//!      Optional and Transitive), a non-zero BGP Identifier that is not a
//!      unicast address (RFC 6286), ROUTE-REFRESH for an unknown AFI/SAFI
//!      or subtype (ignored, RFC 2918 §4, RFC 7313 §5), NOTIFICATION codes
//!      it does not know, multicast prefixes (RFC 4271 §6.3: ignored),
//!      confederation segments from an internal peer (netgauze has none),
//!      and the content of attributes sluice does not implement (extended
//!      communities, ORIGINATOR_ID, CLUSTER_LIST, ...) as long as they frame.
//!      Each case is named, with its reason, in [`classify`].
//! 3. Where netgauze accepts an UPDATE and we *use* it, both must agree on
//!    the prefixes and every attribute both implement (the first of repeated
//!    attributes, RFC 7606 §3 g).
//!
//! Disagreements the other way (we reset or withdraw, netgauze accepts) are
//! expected and legitimate: treat-as-withdraw for what netgauze does not
//! check (NEXT_HOP 0.0.0.0, loopback or multicast, missing well-known
//! attributes, empty COMMUNITIES, confederation segments from eBGP, an
//! unrecognised well-known attribute), resets for MP_REACH/MP_UNREACH of
//! AFI/SAFIs sluice does not carry or with next hops of other lengths,
//! repeated MP_REACH/MP_UNREACH (netgauze does not check repeats), UPDATEs
//! over 4096 octets (netgauze does not check the maximum), and OPENs whose
//! capabilities overrun their parameter (netgauze is told to record
//! capability errors). `mutation_statistics` prints how often each happens.
//!
//! The rule found two decoder bugs, kept as regressions here
//! ([`known_cases`]) and in the unit tests: an MP_UNREACH_NLRI overrunning
//! the attribute list after an MP_REACH_NLRI was treated as withdraw (its
//! withdrawals lost) instead of resetting, and an OPEN whose Optional
//! Parameters Length stopped short of the message was accepted with the
//! rest ignored.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use netgauze_bgp_pkt::BgpMessage;
use netgauze_bgp_pkt::capabilities::BgpCapability;
use netgauze_bgp_pkt::iana::PathAttributeType;
use netgauze_bgp_pkt::path_attribute::{
    Aggregator, AsPath, InvalidPathAttribute, MpReach, MpUnreach, PathAttribute, PathAttributeValue,
};
use netgauze_bgp_pkt::update::BgpUpdateMessage;
use netgauze_bgp_pkt::wire::deserializer::path_attribute::{
    AsPathParsingError, PathAttributeParsingError,
};
use netgauze_bgp_pkt::wire::deserializer::update::BgpUpdateMessageParsingError;
use netgauze_bgp_pkt::wire::deserializer::{BgpMessageParsingError, BgpParsingContext};
use netgauze_parse_utils::WritablePdu;
use netgauze_parse_utils::error::ParseError;
use netgauze_parse_utils::reader::SliceReader;
use netgauze_parse_utils::traits::ParseFromWithOneInput;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use sluice_wire::iana::{attr, msg};
use sluice_wire::nlri::{Afi, Prefixes};
use sluice_wire::open::{Capabilities, GracefulRestart, Open};
use sluice_wire::update::{Attrs, Ctx, Update, Verdict, as_path_segments};
use sluice_wire::{Message, Notify, frame};

const IBGP: Ctx = Ctx {
    four_octet_as: true,
    ebgp: false,
};
const EBGP: Ctx = Ctx {
    four_octet_as: true,
    ebgp: true,
};

// ---------------------------------------------------------------------------
// netgauze

/// 4-octet ASNs, no multiple labels, no add-path. Non-unicast prefixes are
/// recorded instead of failing (RFC 4271 §6.3: a semantically incorrect
/// prefix is ignored, it is not a malformed message), and so are capability
/// errors (RFC 5492: unknown or unsupported capabilities are not an error).
/// Malformed path attributes fail, so the first one is reported.
fn ng_ctx() -> BgpParsingContext {
    BgpParsingContext::new(
        true,
        HashMap::new(),
        HashMap::new(),
        false,
        false,
        false,
        true,
    )
}

fn ng_parse(
    buf: &[u8],
) -> (
    Result<BgpMessage, BgpMessageParsingError>,
    BgpParsingContext,
) {
    let mut ctx = ng_ctx();
    let mut cur = SliceReader::new(buf);
    let r = BgpMessage::parse(&mut cur, &mut ctx);
    (r, ctx)
}

// ---------------------------------------------------------------------------
// Encoding, independent of sluice_wire::encode.

fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend(((19 + body.len()) as u16).to_be_bytes());
    m.push(kind);
    m.extend(body);
    m
}

fn put_attr(out: &mut Vec<u8>, flags: u8, code: u8, value: &[u8], extended: bool) {
    if extended || value.len() > 255 {
        out.extend([flags | attr::FLAG_EXTENDED, code]);
        out.extend((value.len() as u16).to_be_bytes());
    } else {
        out.extend([flags, code, value.len() as u8]);
    }
    out.extend(value);
}

fn put_prefix(out: &mut Vec<u8>, p: &IpNet) {
    let len = p.prefix_len();
    let n = usize::from(len).div_ceil(8);
    out.push(len);
    match p {
        IpNet::V4(p) => out.extend(&p.network().octets()[..n]),
        IpNet::V6(p) => out.extend(&p.network().octets()[..n]),
    }
}

fn prefixes_field(list: &[IpNet]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in list {
        put_prefix(&mut out, p);
    }
    out
}

// ---------------------------------------------------------------------------
// Generated UPDATEs

#[derive(Clone, Debug)]
struct MpReachSpec {
    afi: Afi,
    next_hop: Vec<u8>,
    nlri: Vec<IpNet>,
}

#[derive(Clone, Debug)]
struct UpdateSpec {
    withdrawn: Vec<IpNet>,
    announced: Vec<IpNet>,
    /// Without path attributes (only possible when nothing is announced).
    bare: bool,
    origin: u8,
    as_path: Vec<(u8, Vec<u32>)>,
    next_hop: Ipv4Addr,
    med: Option<u32>,
    local_pref: Option<u32>,
    atomic_aggregate: bool,
    aggregator: Option<(u32, Ipv4Addr)>,
    communities: Option<Vec<u32>>,
    large_communities: Option<Vec<[u32; 3]>>,
    mp_reach: Option<MpReachSpec>,
    mp_unreach: Option<(Afi, Vec<IpNet>)>,
    /// Which attributes use the extended length form (bit per position).
    extended: u16,
    /// Attribute order (RFC 4271 only says "SHOULD" be ascending).
    order: Vec<usize>,
}

fn v4_prefix() -> impl Strategy<Value = IpNet> {
    // First octet 1..=223 keeps netgauze's unicast check happy; lengths
    // weighted like a real table, but every length occurs.
    let len = prop_oneof![6 => Just(24u8), 2 => 16u8..=23, 1 => 25u8..=32, 1 => 0u8..=15];
    (1u8..=223, any::<[u8; 3]>(), len).prop_map(|(a, r, len)| {
        IpNet::V4(
            Ipv4Net::new(Ipv4Addr::new(a, r[0], r[1], r[2]), len)
                .unwrap()
                .trunc(),
        )
    })
}

fn v6_prefix() -> impl Strategy<Value = IpNet> {
    let len = prop_oneof![3 => Just(48u8), 2 => 29u8..=64, 1 => 0u8..=128];
    (any::<u128>(), len).prop_map(|(a, len)| {
        // Not ff00::/8 (multicast).
        let a = if a >> 120 == 0xff { a & !(1 << 127) } else { a };
        IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), len).unwrap().trunc())
    })
}

fn unicast_v4() -> impl Strategy<Value = Ipv4Addr> {
    (1u8..=223, any::<[u8; 3]>()).prop_map(|(a, r)| {
        let a = if a == 127 { 128 } else { a };
        Ipv4Addr::new(a, r[0], r[1], r[2])
    })
}

fn mp_reach() -> impl Strategy<Value = MpReachSpec> {
    prop_oneof![
        (unicast_v4(), prop::collection::vec(v4_prefix(), 0..20)).prop_map(|(nh, nlri)| {
            MpReachSpec {
                afi: Afi::Ipv4,
                next_hop: nh.octets().to_vec(),
                nlri,
            }
        }),
        (
            any::<[u8; 16]>(),
            prop::option::of(any::<[u8; 16]>()),
            prop::collection::vec(v6_prefix(), 0..20)
        )
            .prop_map(|(g, ll, nlri)| {
                let mut next_hop = g.to_vec();
                if let Some(ll) = ll {
                    next_hop.extend(ll);
                }
                MpReachSpec {
                    afi: Afi::Ipv6,
                    next_hop,
                    nlri,
                }
            }),
    ]
}

fn mp_unreach() -> impl Strategy<Value = (Afi, Vec<IpNet>)> {
    prop_oneof![
        prop::collection::vec(v4_prefix(), 0..20).prop_map(|l| (Afi::Ipv4, l)),
        prop::collection::vec(v6_prefix(), 0..20).prop_map(|l| (Afi::Ipv6, l)),
    ]
}

fn as_path() -> impl Strategy<Value = Vec<(u8, Vec<u32>)>> {
    // AS_SET and AS_SEQUENCE only: netgauze has no confederation segments.
    prop::collection::vec(
        (
            prop_oneof![1 => Just(1u8), 3 => Just(2u8)],
            prop::collection::vec(any::<u32>(), 1..=12),
        ),
        0..=4,
    )
}

prop_compose! {
    fn attrs_part()(
        origin in 0u8..=2,
        as_path in as_path(),
        next_hop in unicast_v4(),
        med in prop::option::of(any::<u32>()),
        local_pref in prop::option::of(any::<u32>()),
        atomic_aggregate in any::<bool>(),
        aggregator in prop::option::of((any::<u32>(), any::<[u8; 4]>().prop_map(Ipv4Addr::from))),
        communities in prop::option::of(prop::collection::vec(any::<u32>(), 1..12)),
        large_communities in prop::option::of(prop::collection::vec(any::<[u32; 3]>(), 1..6)),
        extended in any::<u16>(),
    ) -> (u8, Vec<(u8, Vec<u32>)>, Ipv4Addr, Option<u32>, Option<u32>, bool,
          Option<(u32, Ipv4Addr)>, Option<Vec<u32>>, Option<Vec<[u32; 3]>>, u16) {
        (origin, as_path, next_hop, med, local_pref, atomic_aggregate, aggregator,
         communities, large_communities, extended)
    }
}

fn update_spec() -> impl Strategy<Value = UpdateSpec> {
    (
        prop::collection::vec(v4_prefix(), 0..20),
        prop::collection::vec(v4_prefix(), 0..30),
        prop::bool::weighted(0.1),
        attrs_part(),
        prop::option::of(mp_reach()),
        prop::option::of(mp_unreach()),
        Just((0..12).collect::<Vec<usize>>()).prop_shuffle(),
    )
        .prop_map(
            |(withdrawn, announced, bare, a, mp_reach, mp_unreach, order)| {
                let (origin, as_path, next_hop, med, local_pref, atomic, aggregator, c, lc, ext) =
                    a;
                UpdateSpec {
                    withdrawn,
                    announced: if bare { vec![] } else { announced },
                    bare,
                    origin,
                    as_path,
                    next_hop,
                    med,
                    local_pref,
                    atomic_aggregate: atomic,
                    aggregator,
                    communities: c,
                    large_communities: lc,
                    mp_reach: if bare { None } else { mp_reach },
                    mp_unreach,
                    extended: ext,
                    order,
                }
            },
        )
}

impl UpdateSpec {
    fn attributes(&self) -> Vec<(u8, u8, Vec<u8>)> {
        use attr::*;
        let mut list: Vec<Option<(u8, u8, Vec<u8>)>> = vec![None; 12];
        if let Some((afi, w)) = &self.mp_unreach {
            let mut v = afi.code().to_be_bytes().to_vec();
            v.push(1);
            v.extend(prefixes_field(w));
            list[11] = Some((FLAG_OPTIONAL, MP_UNREACH, v));
        }
        if self.bare {
            return list.into_iter().flatten().collect();
        }
        list[0] = Some((FLAG_TRANSITIVE, ORIGIN, vec![self.origin]));
        let mut path = Vec::new();
        for (kind, asns) in &self.as_path {
            path.extend([*kind, asns.len() as u8]);
            for a in asns {
                path.extend(a.to_be_bytes());
            }
        }
        list[1] = Some((FLAG_TRANSITIVE, AS_PATH, path));
        list[2] = Some((FLAG_TRANSITIVE, NEXT_HOP, self.next_hop.octets().to_vec()));
        list[3] = self
            .med
            .map(|m| (FLAG_OPTIONAL, MED, m.to_be_bytes().to_vec()));
        list[4] = self
            .local_pref
            .map(|m| (FLAG_TRANSITIVE, LOCAL_PREF, m.to_be_bytes().to_vec()));
        list[5] = self
            .atomic_aggregate
            .then(|| (FLAG_TRANSITIVE, ATOMIC_AGGREGATE, vec![]));
        list[6] = self.aggregator.map(|(asn, ip)| {
            let mut v = asn.to_be_bytes().to_vec();
            v.extend(ip.octets());
            (FLAG_OPTIONAL | FLAG_TRANSITIVE, AGGREGATOR, v)
        });
        list[7] = self.communities.as_ref().map(|c| {
            let v = c.iter().flat_map(|c| c.to_be_bytes()).collect();
            (FLAG_OPTIONAL | FLAG_TRANSITIVE, COMMUNITIES, v)
        });
        list[8] = self.large_communities.as_ref().map(|c| {
            let v = c.iter().flatten().flat_map(|c| c.to_be_bytes()).collect();
            (FLAG_OPTIONAL | FLAG_TRANSITIVE, LARGE_COMMUNITIES, v)
        });
        list[9] = self.mp_reach.as_ref().map(|m| {
            let mut v = m.afi.code().to_be_bytes().to_vec();
            v.extend([1, m.next_hop.len() as u8]);
            v.extend(&m.next_hop);
            v.push(0);
            v.extend(prefixes_field(&m.nlri));
            (FLAG_OPTIONAL, MP_REACH, v)
        });
        self.order.iter().filter_map(|i| list[*i].clone()).collect()
    }

    fn encode(&self) -> Vec<u8> {
        let mut attrs = Vec::new();
        for (i, (flags, code, value)) in self.attributes().iter().enumerate() {
            put_attr(
                &mut attrs,
                *flags,
                *code,
                value,
                self.extended & (1 << i) != 0,
            );
        }
        let withdrawn = prefixes_field(&self.withdrawn);
        let mut body = (withdrawn.len() as u16).to_be_bytes().to_vec();
        body.extend(withdrawn);
        body.extend((attrs.len() as u16).to_be_bytes());
        body.extend(attrs);
        body.extend(prefixes_field(&self.announced));
        message(msg::UPDATE, &body)
    }

    /// What both decoders should report.
    fn view(&self) -> View {
        let some = |b: bool| (!self.bare && b).then_some(());
        View {
            withdrawn: self.withdrawn.clone(),
            announced: self.announced.clone(),
            origin: some(true).map(|_| self.origin),
            as_path: some(true).map(|_| self.as_path.clone()),
            next_hop: some(true).map(|_| self.next_hop),
            med: self.med.filter(|_| !self.bare),
            local_pref: self.local_pref.filter(|_| !self.bare),
            atomic_aggregate: !self.bare && self.atomic_aggregate,
            aggregator: self.aggregator.filter(|_| !self.bare),
            communities: self.communities.clone().filter(|_| !self.bare),
            large_communities: self.large_communities.clone().filter(|_| !self.bare),
            mp_reach: self
                .mp_reach
                .as_ref()
                .map(|m| (m.afi.code(), m.next_hop.clone(), m.nlri.clone())),
            mp_unreach: self
                .mp_unreach
                .as_ref()
                .map(|(afi, w)| (afi.code(), w.clone())),
        }
    }
}

/// An UPDATE as both decoders see it, in plain values.
#[derive(Clone, Debug, PartialEq, Eq)]
struct View {
    withdrawn: Vec<IpNet>,
    announced: Vec<IpNet>,
    origin: Option<u8>,
    as_path: Option<Vec<(u8, Vec<u32>)>>,
    next_hop: Option<Ipv4Addr>,
    med: Option<u32>,
    local_pref: Option<u32>,
    atomic_aggregate: bool,
    aggregator: Option<(u32, Ipv4Addr)>,
    communities: Option<Vec<u32>>,
    large_communities: Option<Vec<[u32; 3]>>,
    /// (AFI, next hop octets, prefixes)
    mp_reach: Option<(u16, Vec<u8>, Vec<IpNet>)>,
    mp_unreach: Option<(u16, Vec<IpNet>)>,
}

impl View {
    /// Prefix lists as multisets: netgauze reports non-unicast prefixes apart.
    fn sorted(mut self) -> View {
        self.withdrawn.sort();
        self.announced.sort();
        self
    }
}

fn u32s(v: &[u8]) -> Vec<u32> {
    v.chunks(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn sluice_view(u: &Update<'_>, a: &Attrs<'_>) -> View {
    View {
        withdrawn: u.withdrawn().collect(),
        announced: u.announced().collect(),
        origin: a.origin,
        as_path: a.as_path.map(|p| as_path_segments(p, true).collect()),
        next_hop: a.next_hop,
        med: a.med,
        local_pref: a.local_pref,
        atomic_aggregate: a.atomic_aggregate,
        aggregator: a.aggregator.map(|v| {
            (
                u32::from_be_bytes([v[0], v[1], v[2], v[3]]),
                Ipv4Addr::new(v[4], v[5], v[6], v[7]),
            )
        }),
        communities: a.communities.map(u32s),
        large_communities: a
            .large_communities
            .map(|v| u32s(v).chunks(3).map(|c| [c[0], c[1], c[2]]).collect()),
        mp_reach: a.mp_reach.map(|m| {
            (
                m.afi.code(),
                m.next_hop.to_vec(),
                Prefixes::new(m.afi, m.nlri).collect(),
            )
        }),
        mp_unreach: a
            .mp_unreach
            .map(|m| (m.afi.code(), Prefixes::new(m.afi, m.withdrawn).collect())),
    }
}

/// netgauze keeps host bits past the prefix length; sluice masks them.
fn v4(n: Ipv4Net) -> IpNet {
    IpNet::V4(n.trunc())
}
fn v6(n: Ipv6Net) -> IpNet {
    IpNet::V6(n.trunc())
}

fn ip_octets(a: &IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// `None` where netgauze decoded an MP_REACH/MP_UNREACH for a family sluice
/// does not carry.
fn netgauze_view(u: &BgpUpdateMessage, ctx: &BgpParsingContext) -> Option<View> {
    let errs = ctx.parsing_errors();
    let mut view = View {
        withdrawn: u
            .withdraw_routes()
            .iter()
            .map(|p| v4(p.network().address()))
            .chain(errs.non_unicast_withdraw_nlri().iter().map(|p| v4(*p)))
            .collect(),
        announced: u
            .nlri()
            .iter()
            .map(|p| v4(p.network().address()))
            .chain(errs.non_unicast_update_nlri().iter().map(|p| v4(*p)))
            .collect(),
        origin: None,
        as_path: None,
        next_hop: None,
        med: None,
        local_pref: None,
        atomic_aggregate: false,
        aggregator: None,
        communities: None,
        large_communities: None,
        mp_reach: None,
        mp_unreach: None,
    };
    // RFC 7606 §3 g: only the first of repeated attributes counts.
    let mut seen = [false; 256];
    for pa in u.path_attributes() {
        let code = match pa.path_attribute_type() {
            Ok(t) => t as u8,
            Err(c) => c,
        };
        if std::mem::replace(&mut seen[usize::from(code)], true) {
            continue;
        }
        match pa.value() {
            PathAttributeValue::Origin(o) => view.origin = Some(*o as u8),
            PathAttributeValue::AsPath(AsPath::As4PathSegments(s)) => {
                view.as_path = Some(
                    s.iter()
                        .map(|s| (s.segment_type() as u8, s.as_numbers().to_vec()))
                        .collect(),
                )
            }
            PathAttributeValue::AsPath(AsPath::As2PathSegments(_)) => {
                panic!("netgauze configured for 4-octet ASNs")
            }
            PathAttributeValue::NextHop(n) => view.next_hop = Some(n.next_hop()),
            PathAttributeValue::MultiExitDiscriminator(m) => view.med = Some(m.metric()),
            PathAttributeValue::LocalPreference(l) => view.local_pref = Some(l.metric()),
            PathAttributeValue::AtomicAggregate(_) => view.atomic_aggregate = true,
            PathAttributeValue::Aggregator(Aggregator::As4Aggregator(a)) => {
                view.aggregator = Some((*a.asn(), a.origin()))
            }
            PathAttributeValue::Aggregator(Aggregator::As2Aggregator(_)) => {
                panic!("netgauze configured for 4-octet ASNs")
            }
            PathAttributeValue::Communities(c) => {
                view.communities = Some(c.communities().iter().map(|c| c.value()).collect())
            }
            PathAttributeValue::LargeCommunities(c) => {
                view.large_communities = Some(
                    c.communities()
                        .iter()
                        .map(|c| [c.global_admin(), c.local_data1(), c.local_data2()])
                        .collect(),
                )
            }
            PathAttributeValue::MpReach(MpReach::Ipv4Unicast {
                next_hop,
                next_hop_local,
                nlri,
            }) => {
                let mut nh = ip_octets(next_hop);
                nh.extend(next_hop_local.iter().flat_map(|l| l.octets()));
                let nlri = nlri.iter().map(|p| v4(p.network().address())).collect();
                view.mp_reach = Some((1, nh, nlri));
            }
            PathAttributeValue::MpReach(MpReach::Ipv6Unicast {
                next_hop_global,
                next_hop_local,
                nlri,
            }) => {
                let mut nh = next_hop_global.octets().to_vec();
                nh.extend(next_hop_local.iter().flat_map(|l| l.octets()));
                let nlri = nlri.iter().map(|p| v6(p.network().address())).collect();
                view.mp_reach = Some((2, nh, nlri));
            }
            PathAttributeValue::MpUnreach(MpUnreach::Ipv4Unicast { nlri }) => {
                let w = nlri.iter().map(|p| v4(p.network().address())).collect();
                view.mp_unreach = Some((1, w));
            }
            PathAttributeValue::MpUnreach(MpUnreach::Ipv6Unicast { nlri }) => {
                let w = nlri.iter().map(|p| v6(p.network().address())).collect();
                view.mp_unreach = Some((2, w));
            }
            PathAttributeValue::MpReach(_) | PathAttributeValue::MpUnreach(_) => return None,
            _ => {}
        }
    }
    Some(view)
}

// ---------------------------------------------------------------------------
// (a) Well-formed messages: both accept, and agree.

fn check_update(spec: &UpdateSpec) -> Result<(), TestCaseError> {
    let bytes = spec.encode();
    prop_assume!(bytes.len() <= 4096);
    prop_assert_eq!(frame(&bytes, 4096), Ok(Some(bytes.len())));
    let Ok(Message::Update(u)) = Message::decode(&bytes) else {
        return Err(TestCaseError::fail("sluice did not decode an UPDATE"));
    };
    let (a, verdict) = Attrs::parse(&u, IBGP).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(verdict, Verdict::Use, "problems: {:?}", a.problems);
    prop_assert!(a.problems.is_empty(), "{:?}", a.problems);
    let ours = sluice_view(&u, &a);

    let (ng, ctx) = ng_parse(&bytes);
    let ng = match ng {
        Ok(BgpMessage::Update(ng)) => ng,
        other => return Err(TestCaseError::fail(format!("netgauze: {other:?}"))),
    };
    prop_assert_eq!(ctx.parsing_errors(), &Default::default());
    let theirs = netgauze_view(&ng, &ctx).expect("unicast families only");

    prop_assert_eq!(&ours, &theirs, "sluice vs netgauze");
    prop_assert_eq!(&ours, &spec.view(), "sluice vs generated");

    // eBGP: the same, except that LOCAL_PREF is ignored (RFC 4271 §5.1.5).
    let (a, verdict) = Attrs::parse(&u, EBGP).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(verdict, Verdict::Use);
    prop_assert_eq!(a.local_pref, None);
    Ok(())
}

fn open_spec() -> impl Strategy<Value = Open> {
    let families = prop::sample::subsequence(vec![(1u16, 1u8), (2, 1), (1, 2), (2, 2)], 0..=4);
    let gr = prop::option::of(
        (
            any::<bool>(),
            any::<bool>(),
            0u16..4096,
            prop::sample::subsequence(vec![(1u16, 1u8), (2, 1)], 0..=2),
            any::<[bool; 2]>(),
        )
            .prop_map(
                |(restarting, notification, time, fams, fwd)| GracefulRestart {
                    restarting,
                    notification,
                    time,
                    families: fams
                        .into_iter()
                        .zip(fwd)
                        .map(|((a, s), f)| (a, s, f))
                        .collect(),
                },
            ),
    );
    (
        any::<u32>(),
        any::<bool>(),
        prop_oneof![Just(0u16), 3u16..],
        unicast_v4(),
        families,
        any::<[bool; 3]>(),
        gr,
    )
        .prop_map(|(asn, four, hold_time, router_id, mp, flags, gr)| {
            // Without the 4-octet capability the ASN must fit 2 octets.
            let asn = if four { asn } else { asn & 0xffff };
            Open {
                asn,
                hold_time,
                router_id,
                caps: Capabilities {
                    multiprotocol: mp,
                    route_refresh: flags[0],
                    enhanced_route_refresh: flags[1],
                    extended_message: flags[2],
                    four_octet_as: four.then_some(asn),
                    graceful_restart: gr,
                    unknown: vec![],
                },
            }
        })
}

fn check_open(open: &Open) -> Result<(), TestCaseError> {
    let bytes = sluice_wire::encode::open(open);
    prop_assert_eq!(frame(&bytes, 4096), Ok(Some(bytes.len())));
    let ours = match Message::decode(&bytes) {
        Ok(Message::Open(o)) => o,
        other => return Err(TestCaseError::fail(format!("sluice: {other:?}"))),
    };
    prop_assert_eq!(&ours, open);
    let ng = match ng_parse(&bytes).0 {
        Ok(BgpMessage::Open(o)) => o,
        other => return Err(TestCaseError::fail(format!("netgauze: {other:?}"))),
    };
    prop_assert_eq!(ng.version(), 4);
    prop_assert_eq!(ng.my_asn4(), ours.asn);
    prop_assert_eq!(ng.hold_time(), ours.hold_time);
    prop_assert_eq!(ng.bgp_id(), ours.router_id);
    let mut theirs = Capabilities::default();
    for c in ng.capabilities() {
        match c {
            BgpCapability::MultiProtocolExtensions(m) => {
                let t = m.address_type();
                theirs.multiprotocol.push((
                    t.address_family().into(),
                    t.subsequent_address_family().into(),
                ));
            }
            BgpCapability::RouteRefresh => theirs.route_refresh = true,
            BgpCapability::EnhancedRouteRefresh => theirs.enhanced_route_refresh = true,
            BgpCapability::ExtendedMessage => theirs.extended_message = true,
            BgpCapability::FourOctetAs(a) => theirs.four_octet_as = Some(a.asn4()),
            BgpCapability::GracefulRestartCapability(g) => {
                theirs.graceful_restart = Some(GracefulRestart {
                    restarting: g.restart(),
                    notification: g.graceful_notification(),
                    time: g.time(),
                    families: g
                        .address_families()
                        .iter()
                        .map(|f| {
                            let t = f.address_type();
                            (
                                t.address_family().into(),
                                t.subsequent_address_family().into(),
                                f.forwarding_state(),
                            )
                        })
                        .collect(),
                })
            }
            other => return Err(TestCaseError::fail(format!("unexpected {other:?}"))),
        }
    }
    prop_assert_eq!(&theirs, &ours.caps);
    Ok(())
}

/// (code, subcode) pairs netgauze knows. sluice accepts any: a NOTIFICATION
/// is never answered (RFC 4271 §6.4 has no error for it).
fn known_error() -> impl Strategy<Value = (u8, u8)> {
    prop_oneof![
        (0u8..=3).prop_map(|s| (1, s)),
        prop::sample::select(vec![0u8, 1, 2, 3, 4, 6, 7, 11]).prop_map(|s| (2, s)),
        prop::sample::select(vec![0u8, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11]).prop_map(|s| (3, s)),
        Just((4, 0)),
        (0u8..=3).prop_map(|s| (5, s)),
        (1u8..=9).prop_map(|s| (6, s)),
        Just((7, 1)),
    ]
}

fn check_notification(code: u8, subcode: u8, data: &[u8]) -> Result<(), TestCaseError> {
    let mut body = vec![code, subcode];
    body.extend(data);
    let bytes = message(msg::NOTIFICATION, &body);
    prop_assert_eq!(frame(&bytes, 4096), Ok(Some(bytes.len())));
    let ours = match Message::decode(&bytes) {
        Ok(Message::Notification(n)) => n,
        other => return Err(TestCaseError::fail(format!("sluice: {other:?}"))),
    };
    prop_assert_eq!((ours.code, ours.subcode, ours.data), (code, subcode, data));
    let ng = match ng_parse(&bytes).0 {
        Ok(BgpMessage::Notification(n)) => n,
        other => return Err(TestCaseError::fail(format!("netgauze: {other:?}"))),
    };
    // netgauze's model is per-error enums: write it back to compare.
    let mut again = Vec::new();
    ng.write(&mut again)
        .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
    prop_assert_eq!(again, body);
    Ok(())
}

proptest! {
    #![proptest_config(Config { cases: 512, ..Config::default() })]

    #[test]
    fn well_formed_updates_agree(spec in update_spec()) {
        check_update(&spec)?;
    }

    #[test]
    fn well_formed_opens_agree(open in open_spec()) {
        check_open(&open)?;
    }

    #[test]
    fn well_formed_notifications_agree(
        (code, subcode) in known_error(),
        data in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        check_notification(code, subcode, &data)?;
    }

    #[test]
    fn shutdown_messages_agree(text in "\\PC{0,60}") {
        let mut data = vec![text.len() as u8];
        data.extend(text.as_bytes());
        check_notification(6, 2, &data)?;
        let bytes = sluice_wire::encode::shutdown(2, &text);
        let Ok(Message::Notification(n)) = Message::decode(&bytes) else {
            return Err(TestCaseError::fail("not a NOTIFICATION"));
        };
        prop_assert_eq!(n.shutdown_message(), (!text.is_empty()).then_some(text.as_str()));
    }
}

// ---------------------------------------------------------------------------
// (b) Mutated messages

#[derive(Clone, Debug)]
enum Mutation {
    Flip(Index, u8),
    Set(Index, u8),
    Bump(Index, i8),
    Insert(Index, u8),
    Remove(Index),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop_oneof![
        any::<u8>(),
        prop::sample::select(vec![
            0u8, 1, 2, 3, 4, 12, 14, 15, 16, 32, 33, 0x40, 0x50, 0x80, 0x90, 0xc0, 0xff
        ]),
    ];
    prop_oneof![
        4 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        4 => (any::<Index>(), interesting.clone()).prop_map(|(i, v)| Mutation::Set(i, v)),
        3 => (any::<Index>(), prop_oneof![-2i8..=-1, 1i8..=2]).prop_map(|(i, d)| Mutation::Bump(i, d)),
        1 => (any::<Index>(), interesting).prop_map(|(i, v)| Mutation::Insert(i, v)),
        1 => any::<Index>().prop_map(Mutation::Remove),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(mut m: Vec<u8>, muts: &[Mutation], fix_len: bool) -> Vec<u8> {
    for mu in muts {
        // The marker is left alone: corrupting it is a trivial header error.
        if m.len() <= 16 {
            break;
        }
        let body = m.len() - 16;
        match mu {
            Mutation::Flip(i, b) => m[16 + i.index(body)] ^= 1 << b,
            Mutation::Set(i, v) => m[16 + i.index(body)] = *v,
            Mutation::Bump(i, d) => {
                let p = 16 + i.index(body);
                m[p] = m[p].wrapping_add_signed(*d);
            }
            Mutation::Insert(i, v) => m.insert(16 + i.index(body + 1), *v),
            Mutation::Remove(i) => {
                m.remove(16 + i.index(body));
            }
            Mutation::Truncate(i) => m.truncate(16 + i.index(body)),
        }
    }
    if fix_len && m.len() >= 18 {
        let len = (m.len() as u16).to_be_bytes();
        m[16..18].copy_from_slice(&len);
    }
    m
}

fn base_message() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => update_spec().prop_map(|s| s.encode()).prop_filter("fits", |m| m.len() <= 4096),
        2 => open_spec().prop_map(|o| sluice_wire::encode::open(&o)),
        1 => (known_error(), prop::collection::vec(any::<u8>(), 0..20)).prop_map(|((c, s), d)| {
            let mut body = vec![c, s];
            body.extend(d);
            message(msg::NOTIFICATION, &body)
        }),
        1 => Just(message(msg::KEEPALIVE, &[])),
        1 => Just(message(msg::ROUTE_REFRESH, &[0, 2, 0, 1])),
    ]
}

fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (
        base_message(),
        prop::collection::vec(mutation(), 1..=4),
        prop::bool::weighted(0.7),
    )
        .prop_map(|(m, muts, fix)| mutate(m, &muts, fix))
}

/// What sluice made of a message.
#[derive(Debug)]
enum Ours<'a> {
    /// `frame` wants more bytes: nothing was delivered.
    Incomplete,
    Reset(Notify),
    Withdraw,
    Use(Update<'a>),
    /// Any other message type, decoded.
    Other,
}

fn sluice_outcome(buf: &[u8], ctx: Ctx) -> Ours<'_> {
    let n = match frame(buf, 4096) {
        Err(e) => return Ours::Reset(e),
        Ok(None) => return Ours::Incomplete,
        Ok(Some(n)) => n,
    };
    let u = match Message::decode(&buf[..n]) {
        Err(e) => return Ours::Reset(e),
        Ok(Message::Update(u)) => u,
        Ok(_) => return Ours::Other,
    };
    // Drain every iterator, with both contexts: no panics anywhere.
    let _ = (u.withdrawn().count(), u.announced().count());
    for c in [IBGP, EBGP] {
        if let Ok((a, _)) = Attrs::parse(&u, c) {
            if let Some(m) = a.mp_reach {
                let _ = Prefixes::new(m.afi, m.nlri).count();
            }
            if let Some(m) = a.mp_unreach {
                let _ = Prefixes::new(m.afi, m.withdrawn).count();
            }
            if let Some(p) = a.as_path {
                let _ = as_path_segments(p, true).count();
            }
        }
    }
    match Attrs::parse(&u, ctx) {
        Err(e) => Ours::Reset(e),
        Ok((_, Verdict::TreatAsWithdraw)) => Ours::Withdraw,
        Ok((_, Verdict::Use)) => Ours::Use(u),
    }
}

/// The least RFC 7606 requires, given netgauze's first error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Accepted,
    Reset(&'static str),
    Withdraw(&'static str),
    Unconstrained(&'static str),
}

/// Whether the path attribute list frames (RFC 4271 §4.3): every
/// attribute's length stays inside it. On overrun, the code of the
/// attribute that overruns. Independent of both decoders.
fn attribute_list_overrun(update_body: &[u8]) -> Option<u8> {
    let wlen = usize::from(u16::from_be_bytes([update_body[0], update_body[1]]));
    let rest = &update_body[2 + wlen..];
    let alen = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
    let mut list = &rest[2..2 + alen];
    while !list.is_empty() {
        let (hlen, len) = match list {
            [f, _, a, b, ..] if f & 0x10 != 0 => (4, usize::from(u16::from_be_bytes([*a, *b]))),
            [f, _, l, ..] if f & 0x10 == 0 => (3, usize::from(*l)),
            [_, c, ..] => return Some(*c),
            _ => return Some(0),
        };
        if list.len() < hlen + len {
            return Some(list[1]);
        }
        list = &list[hlen + len..];
    }
    None
}

/// Where the path attribute list of an UPDATE lies, if it fits the message.
fn attribute_list_range(m: &[u8]) -> Option<std::ops::Range<usize>> {
    let len = usize::from(u16::from_be_bytes([m[16], m[17]])).min(m.len());
    let wlen = usize::from(u16::from_be_bytes([*m.get(19)?, *m.get(20)?]));
    let at = 21 + wlen;
    let alen = usize::from(u16::from_be_bytes([*m.get(at)?, *m.get(at + 1)?]));
    (at + 2 + alen <= len).then_some(at + 2..at + 2 + alen)
}

/// Whether the first attribute with type `code` in the UPDATE's attribute
/// list decodes on its own with netgauze. When netgauze fails on an
/// attribute whose first occurrence is fine, the failing one is a repeat,
/// which RFC 7606 §3 g discards without looking at it.
fn first_occurrence_parses(buf: &[u8], code: u8) -> bool {
    let Some(range) = attribute_list_range(buf) else {
        return false;
    };
    let mut list = &buf[range];
    while let [f, c, ..] = list {
        let (hlen, len) = match list {
            [_, _, a, b, ..] if f & 0x10 != 0 => (4, usize::from(u16::from_be_bytes([*a, *b]))),
            [_, _, l, ..] if f & 0x10 == 0 => (3, usize::from(*l)),
            _ => return false,
        };
        let whole = &list[..(hlen + len).min(list.len())];
        if *c == code {
            let mut cur = SliceReader::new(whole);
            return PathAttribute::parse(&mut cur, &mut ng_ctx()).is_ok() && cur.is_empty();
        }
        list = &list[whole.len()..];
    }
    false
}

/// The type code of the attribute that spans absolute offset `at` (the end
/// included) of the message.
fn attribute_code_at(buf: &[u8], at: usize) -> Option<u8> {
    let range = attribute_list_range(buf)?;
    let mut pos = range.start;
    while pos + 2 <= range.end {
        let (f, c) = (buf[pos], buf[pos + 1]);
        let (hlen, len) = if f & 0x10 != 0 {
            (
                4,
                usize::from(u16::from_be_bytes([*buf.get(pos + 2)?, *buf.get(pos + 3)?])),
            )
        } else {
            (3, usize::from(*buf.get(pos + 2)?))
        };
        let end = (pos + hlen + len).min(range.end);
        if (pos..=end).contains(&at) {
            return Some(c);
        }
        pos = end;
    }
    None
}

/// The type code of the attribute a path attribute error is about.
fn failing_code(buf: &[u8], e: &PathAttributeParsingError) -> Option<u8> {
    use PathAttributeParsingError as P;
    use PathAttributeType as T;
    Some(match e {
        P::OriginError(_) => T::Origin as u8,
        // AS_PATH and AS4_PATH share netgauze's error type.
        P::AsPathError(e) => {
            let at = match e {
                AsPathParsingError::Parse(p) => p.offset(),
                AsPathParsingError::ZeroSegmentLength { offset }
                | AsPathParsingError::InvalidAsPathLength { offset, .. }
                | AsPathParsingError::UndefinedAsPathSegmentType { offset, .. } => *offset,
            };
            attribute_code_at(buf, at).unwrap_or(T::AsPath as u8)
        }
        P::NextHopError(_) => T::NextHop as u8,
        P::MultiExitDiscriminatorError(_) => T::MultiExitDiscriminator as u8,
        P::LocalPreferenceError(_) => T::LocalPreference as u8,
        P::AtomicAggregateError(_) => T::AtomicAggregate as u8,
        P::AggregatorError(_) => T::Aggregator as u8,
        P::CommunitiesError(_) => T::Communities as u8,
        P::LargeCommunitiesError(_) => T::LargeCommunities as u8,
        P::InvalidPathAttribute { value: Ok(t), .. } => *t as u8,
        P::InvalidPathAttribute { value: Err(c), .. } => *c,
        _ => return None,
    })
}

fn classify(buf: &[u8], r: &Result<BgpMessage, BgpMessageParsingError>, ctx: Ctx) -> Class {
    use BgpMessageParsingError as E;
    let e = match r {
        Ok(_) => return Class::Accepted,
        Err(e) => e,
    };
    match e {
        E::Parse(_)
        | E::ConnectionNotSynchronized { .. }
        | E::UndefinedBgpMessageType { .. }
        | E::BadMessageLength { .. } => Class::Reset("message header"),
        // Trailing octets inside a message (an OPEN whose optional
        // parameters stop short of its length, a KEEPALIVE with a body).
        E::UnparseableBytes { .. } => Class::Reset("octets past the end of the message's fields"),
        E::BgpOpenMessageParsingError(e) => {
            use netgauze_bgp_pkt::wire::deserializer::open::BgpOpenMessageParsingError as O;
            match e {
                // RFC 6286 §2.1 only asks for a non-zero BGP Identifier;
                // netgauze still applies RFC 4271's "valid unicast host address".
                O::InvalidBgpId { bgp_id, .. } if !bgp_id.is_unspecified() => {
                    Class::Unconstrained("BGP identifier non-zero but not unicast (RFC 6286)")
                }
                _ => Class::Reset("OPEN"),
            }
        }
        // A NOTIFICATION ends the session whatever it says; netgauze refuses
        // codes and subcodes it does not know, sluice reports them.
        E::BgpNotificationMessageParsingError(_) => {
            Class::Unconstrained("NOTIFICATION with an unknown code or subcode")
        }
        E::BgpRouteRefreshMessageParsingError(e) => {
            use netgauze_bgp_pkt::wire::deserializer::route_refresh::BgpRouteRefreshMessageParsingError as R;
            match e {
                R::Parse(_) => Class::Reset("ROUTE-REFRESH length"),
                // RFC 2918 §4 and RFC 7313 §5: a ROUTE-REFRESH for an
                // AFI/SAFI not negotiated, or with an unknown subtype, is
                // ignored (sluice decodes it; the session drops it).
                _ => Class::Unconstrained("ROUTE-REFRESH to ignore (RFC 2918 §4, RFC 7313 §5)"),
            }
        }
        E::BgpUpdateMessageParsingError(e) => classify_update(buf, e, ctx),
    }
}

fn classify_update(buf: &[u8], e: &BgpUpdateMessageParsingError, ctx: Ctx) -> Class {
    use BgpUpdateMessageParsingError as U;
    use PathAttributeParsingError as P;
    let attrs = attribute_list_range(buf);
    // Inclusive end: reading an attribute's type code when only its flags
    // octet is left fails at the end of the list.
    let in_attrs = |e: &ParseError| {
        attrs
            .as_ref()
            .is_some_and(|r| (r.start..=r.end).contains(&e.offset()))
    };
    let overrun = || {
        let body_end = usize::from(u16::from_be_bytes([buf[16], buf[17]])).min(buf.len());
        attribute_list_overrun(&buf[19..body_end])
    };
    let mp = |code: u8| code == attr::MP_REACH || code == attr::MP_UNREACH;
    match e {
        // RFC 7606 §4: fewer octets than an attribute header left in the list.
        U::Parse(p) if in_attrs(p) => Class::Withdraw("attribute header truncated"),
        // Withdrawn Routes Length or Total Path Attribute Length overrun.
        U::Parse(_) => Class::Reset("UPDATE field lengths"),
        // RFC 7606 §5.3: withdrawn routes or NLRI field syntactically wrong.
        U::Ipv4PrefixError(_) => Class::Reset("withdrawn routes or NLRI field"),
        U::InvalidIpv4UnicastNetwork { .. } => unreachable!("non-unicast prefixes are recorded"),
        U::PathAttributeError(pe)
            if failing_code(buf, pe).is_some_and(|c| !mp(c) && first_occurrence_parses(buf, c)) =>
        {
            Class::Unconstrained("repeated attribute (RFC 7606 §3 g: discarded unread)")
        }
        U::PathAttributeError(pe @ P::AsPathError(_))
            if failing_code(buf, pe) == Some(attr::AS4_PATH) =>
        {
            Class::Unconstrained("attribute-discard (ATOMIC_AGGREGATE, AGGREGATOR, AS4_*)")
        }
        U::PathAttributeError(pe) => match pe {
            P::Parse(_) => Class::Withdraw("attribute header truncated"),
            P::OriginError(_) => Class::Withdraw("ORIGIN"),
            // netgauze has no confederation segments (RFC 5065); sluice
            // accepts them from internal peers.
            P::AsPathError(AsPathParsingError::UndefinedAsPathSegmentType {
                code: 3 | 4, ..
            }) if !ctx.ebgp => Class::Unconstrained("confederation segment from an internal peer"),
            P::AsPathError(_) => Class::Withdraw("AS_PATH"),
            P::NextHopError(_) => Class::Withdraw("NEXT_HOP"),
            P::MultiExitDiscriminatorError(_) => Class::Withdraw("MULTI_EXIT_DISC"),
            // RFC 7606 §7.5: from an external peer LOCAL_PREF is discarded, whatever its form.
            P::LocalPreferenceError(_) if ctx.ebgp => {
                Class::Unconstrained("LOCAL_PREF from an external peer (attribute-discard)")
            }
            P::LocalPreferenceError(_) => Class::Withdraw("LOCAL_PREF"),
            P::CommunitiesError(_) => Class::Withdraw("COMMUNITIES"),
            P::LargeCommunitiesError(_) => Class::Withdraw("LARGE_COMMUNITIES"),
            // RFC 7606 §7.6, 7.7, RFC 6793 §6: attribute-discard, the
            // routes are used.
            P::AtomicAggregateError(_) | P::AggregatorError(_) => {
                Class::Unconstrained("attribute-discard (ATOMIC_AGGREGATE, AGGREGATOR, AS4_*)")
            }
            P::MpReachErrorError(_) | P::MpUnreachErrorError(_) => {
                // A multicast prefix is semantically, not syntactically,
                // wrong (RFC 4271 §6.3: ignore it); netgauze refuses it
                // inside MP_REACH/MP_UNREACH whatever its context says.
                if format!("{pe:?}").contains("InvalidUnicastNetwork") {
                    Class::Unconstrained("non-unicast prefix in MP_REACH/MP_UNREACH")
                } else if ignores_family(buf, ctx) {
                    // An AFI/SAFI other than IPv4/IPv6 unicast is one Sluice
                    // never negotiates; like BIRD and FRR it ignores the
                    // attribute, where netgauze parses (and rejects) it.
                    Class::Unconstrained("multiprotocol attribute for a family not carried")
                } else {
                    Class::Reset("MP_REACH_NLRI / MP_UNREACH_NLRI")
                }
            }
            P::InvalidPathAttribute {
                invalid_attribute,
                value,
                ..
            } => {
                // RFC 7606 §3 c only speaks of the Optional and Transitive bits.
                if matches!(
                    invalid_attribute,
                    InvalidPathAttribute::InvalidPartialFlagValue(_)
                ) {
                    return Class::Unconstrained("Partial bit (RFC 7606 §3 c checks O and T only)");
                }
                use PathAttributeType as T;
                match value {
                    Ok(T::MpReachNlri | T::MpUnreachNlri) => Class::Reset("MP_* flags"),
                    Ok(T::LocalPreference) if ctx.ebgp => {
                        Class::Unconstrained("LOCAL_PREF from an external peer (attribute-discard)")
                    }
                    Ok(
                        T::Origin
                        | T::AsPath
                        | T::NextHop
                        | T::MultiExitDiscriminator
                        | T::LocalPreference
                        | T::Communities
                        | T::LargeCommunities,
                    ) => Class::Withdraw("attribute flags"),
                    Ok(T::AtomicAggregate | T::Aggregator | T::As4Path | T::As4Aggregator) => {
                        Class::Unconstrained(
                            "attribute-discard (ATOMIC_AGGREGATE, AGGREGATOR, AS4_*)",
                        )
                    }
                    _ => Class::Unconstrained("flags of an attribute sluice does not implement"),
                }
            }
            // Attributes sluice does not implement (extended communities,
            // ORIGINATOR_ID, CLUSTER_LIST, OTC, AIGP, BGP-LS, Prefix-SID) and
            // unknown ones: only their framing matters to us.
            _ => match overrun() {
                Some(code) if mp(code) => Class::Reset("MP_* overruns the attribute list"),
                Some(_) => Class::Withdraw("attribute overruns the attribute list"),
                None => Class::Unconstrained("content of an attribute sluice does not implement"),
            },
        },
    }
}

/// Whether sluice ignored a multiprotocol attribute of `buf` as being for a
/// family it does not carry.
fn ignores_family(buf: &[u8], ctx: Ctx) -> bool {
    let Ok(Some(n)) = sluice_wire::frame(buf, 65535) else {
        return false;
    };
    let Ok(Message::Update(u)) = Message::decode(&buf[..n]) else {
        return false;
    };
    Attrs::parse(&u, ctx).is_ok_and(|(a, _)| {
        a.problems
            .iter()
            .any(|p| p.why.contains("family not carried"))
    })
}

/// The comparison rule; returns (netgauze class, sluice outcome) for statistics.
fn check_mutated(buf: &[u8], ctx: Ctx) -> Result<(Class, String), TestCaseError> {
    let (ng, ng_ctx) = ng_parse(buf);
    let class = classify(buf, &ng, ctx);
    let ours = sluice_outcome(buf, ctx);
    let ok = match (&class, &ours) {
        (Class::Reset(_), Ours::Reset(_) | Ours::Incomplete) => true,
        (Class::Reset(_), _) => false,
        (Class::Withdraw(_), Ours::Reset(_) | Ours::Incomplete | Ours::Withdraw) => true,
        (Class::Withdraw(_), _) => false,
        (Class::Accepted, Ours::Use(u)) => {
            if let Ok(BgpMessage::Update(ng)) = &ng {
                // Compared as seen from an internal peer: from an external
                // one LOCAL_PREF is ignored (RFC 4271 §5.1.5), and a message
                // netgauze accepts has no confederation segments, so the
                // verdict is the same.
                let (a, verdict) = Attrs::parse(u, IBGP).expect("used from eBGP");
                prop_assert_eq!(verdict, Verdict::Use);
                if let Some(theirs) = netgauze_view(ng, &ng_ctx) {
                    prop_assert_eq!(
                        sluice_view(u, &a).sorted(),
                        theirs.sorted(),
                        "both accept, but disagree on {:02x?}",
                        buf
                    );
                }
            }
            true
        }
        _ => true,
    };
    prop_assert!(
        ok,
        "netgauze says {:?} ({:?}), but sluice: {:?}\nmessage: {:02x?}",
        class,
        ng.as_ref().err(),
        ours,
        buf
    );
    let ours = match ours {
        Ours::Incomplete => "incomplete".to_string(),
        Ours::Reset(n) => format!("reset {}/{}", n.code, n.subcode),
        Ours::Withdraw => "treat-as-withdraw".into(),
        Ours::Use(_) => "use".into(),
        Ours::Other => "accepted (not UPDATE)".into(),
    };
    Ok((class, ours))
}

proptest! {
    #![proptest_config(Config { cases: 2048, ..Config::default() })]

    #[test]
    fn mutated_messages_follow_rfc7606(m in mutated(), ebgp in any::<bool>()) {
        check_mutated(&m, if ebgp { EBGP } else { IBGP })?;
    }
}

/// Runs a fixed-seed batch of mutations and prints how netgauze's verdicts
/// and sluice's outcomes line up (`cargo test -p sluice-wire --test oracle
/// -- --nocapture mutation_statistics`).
#[test]
fn mutation_statistics() {
    let mut runner = TestRunner::deterministic();
    let strategy = mutated();
    let mut table: std::collections::BTreeMap<(String, String), usize> = Default::default();
    // ORACLE_MUTATIONS=200000 for a longer soak.
    let n: usize = std::env::var("ORACLE_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    for i in 0..n {
        let m = strategy.new_tree(&mut runner).unwrap().current();
        let ctx = if i % 2 == 0 { EBGP } else { IBGP };
        let (class, ours) = check_mutated(&m, ctx).unwrap_or_else(|e| panic!("{e}"));
        let class = match class {
            Class::Accepted => "netgauze accepts".to_string(),
            Class::Reset(w) => format!("reset: {w}"),
            Class::Withdraw(w) => format!("withdraw: {w}"),
            Class::Unconstrained(w) => format!("unconstrained: {w}"),
        };
        // ORACLE_SHOW="netgauze accepts|reset 2/0" prints a few examples of a cell.
        let key = format!("{class}|{ours}");
        let count = table.entry((class, ours)).or_default();
        *count += 1;
        if *count <= 3 && std::env::var("ORACLE_SHOW").is_ok_and(|s| s == key) {
            println!("{key}: {m:02x?}");
        }
    }
    println!(
        "{:<70} {:<24} {:>6}",
        "netgauze (RFC 7606 lower bound)", "sluice", "count"
    );
    for ((class, ours), n) in table {
        println!("{class:<70} {ours:<24} {n:>6}");
    }
}

/// Hand-written cases where the rule above found, or could find, a real
/// difference; kept as regressions.
#[test]
fn known_cases() {
    // MP_REACH_NLRI for IPv6, then an MP_UNREACH_NLRI whose length overruns
    // the attribute list: its withdrawn routes cannot be found, so the
    // session must be reset (RFC 7606 §5.3), not the UPDATE treated as
    // withdraw (which would leave the routes it withdraws in place).
    let spec = MpReachSpec {
        afi: Afi::Ipv6,
        next_hop: vec![0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        nlri: vec!["2001:db8:1::/48".parse().unwrap()],
    };
    let mut reach = vec![0, 2, 1, 16];
    reach.extend(&spec.next_hop);
    reach.push(0);
    reach.extend(prefixes_field(&spec.nlri));
    let mut attrs = Vec::new();
    put_attr(&mut attrs, 0x40, attr::ORIGIN, &[0], false);
    put_attr(
        &mut attrs,
        0x40,
        attr::AS_PATH,
        &[2, 1, 0, 0, 0xfd, 0xe9],
        false,
    );
    put_attr(&mut attrs, 0x80, attr::MP_REACH, &reach, false);
    attrs.extend([0x80, attr::MP_UNREACH, 40, 0, 2, 1, 32, 0x20]);
    let mut body = vec![0, 0];
    body.extend((attrs.len() as u16).to_be_bytes());
    body.extend(&attrs);
    let m = message(msg::UPDATE, &body);
    for ctx in [IBGP, EBGP] {
        check_mutated(&m, ctx).unwrap();
        assert!(matches!(sluice_outcome(&m, ctx), Ours::Reset(_)));
    }
}
