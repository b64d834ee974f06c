//! An UPDATE as both decoders see it, and the check that they agree.

use super::*;

/// An UPDATE as both decoders see it, in plain values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct View {
    pub(crate) withdrawn: Vec<IpNet>,
    pub(crate) announced: Vec<IpNet>,
    pub(crate) origin: Option<u8>,
    pub(crate) as_path: Option<Vec<(u8, Vec<u32>)>>,
    pub(crate) next_hop: Option<Ipv4Addr>,
    pub(crate) med: Option<u32>,
    pub(crate) local_pref: Option<u32>,
    pub(crate) atomic_aggregate: bool,
    pub(crate) aggregator: Option<(u32, Ipv4Addr)>,
    pub(crate) communities: Option<Vec<u32>>,
    pub(crate) large_communities: Option<Vec<[u32; 3]>>,
    /// (AFI, next hop octets, prefixes)
    pub(crate) mp_reach: Option<(u16, Vec<u8>, Vec<IpNet>)>,
    pub(crate) mp_unreach: Option<(u16, Vec<IpNet>)>,
}

impl View {
    /// Prefix lists as multisets: netgauze reports non-unicast prefixes apart.
    pub(crate) fn sorted(mut self) -> View {
        self.withdrawn.sort();
        self.announced.sort();
        self
    }
}

pub(crate) fn u32s(v: &[u8]) -> Vec<u32> {
    v.chunks(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

pub(crate) fn sluice_view(u: &Update<'_>, a: &Attrs<'_>) -> View {
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
pub(crate) fn v4(n: Ipv4Net) -> IpNet {
    IpNet::V4(n.trunc())
}
pub(crate) fn v6(n: Ipv6Net) -> IpNet {
    IpNet::V6(n.trunc())
}

pub(crate) fn ip_octets(a: &IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// `None` where netgauze decoded an MP_REACH/MP_UNREACH for a family sluice
/// does not carry.
pub(crate) fn netgauze_view(u: &BgpUpdateMessage, ctx: &BgpParsingContext) -> Option<View> {
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

pub(crate) fn check_update(spec: &UpdateSpec) -> Result<(), TestCaseError> {
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
