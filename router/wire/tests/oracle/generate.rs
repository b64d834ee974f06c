//! Message builders and proptest strategies for well-formed UPDATEs.

use super::*;

pub(crate) fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend(((19 + body.len()) as u16).to_be_bytes());
    m.push(kind);
    m.extend(body);
    m
}

pub(crate) fn put_attr(out: &mut Vec<u8>, flags: u8, code: u8, value: &[u8], extended: bool) {
    if extended || value.len() > 255 {
        out.extend([flags | attr::FLAG_EXTENDED, code]);
        out.extend((value.len() as u16).to_be_bytes());
    } else {
        out.extend([flags, code, value.len() as u8]);
    }
    out.extend(value);
}

pub(crate) fn put_prefix(out: &mut Vec<u8>, p: &IpNet) {
    let len = p.prefix_len();
    let n = usize::from(len).div_ceil(8);
    out.push(len);
    match p {
        IpNet::V4(p) => out.extend(&p.network().octets()[..n]),
        IpNet::V6(p) => out.extend(&p.network().octets()[..n]),
    }
}

pub(crate) fn prefixes_field(list: &[IpNet]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in list {
        put_prefix(&mut out, p);
    }
    out
}

// ---------------------------------------------------------------------------
// Generated UPDATEs

#[derive(Clone, Debug)]
pub(crate) struct MpReachSpec {
    pub(crate) afi: Afi,
    pub(crate) next_hop: Vec<u8>,
    pub(crate) nlri: Vec<IpNet>,
}

#[derive(Clone, Debug)]
pub(crate) struct UpdateSpec {
    pub(crate) withdrawn: Vec<IpNet>,
    pub(crate) announced: Vec<IpNet>,
    /// Without path attributes (only possible when nothing is announced).
    pub(crate) bare: bool,
    pub(crate) origin: u8,
    pub(crate) as_path: Vec<(u8, Vec<u32>)>,
    pub(crate) next_hop: Ipv4Addr,
    pub(crate) med: Option<u32>,
    pub(crate) local_pref: Option<u32>,
    pub(crate) atomic_aggregate: bool,
    pub(crate) aggregator: Option<(u32, Ipv4Addr)>,
    pub(crate) communities: Option<Vec<u32>>,
    pub(crate) large_communities: Option<Vec<[u32; 3]>>,
    pub(crate) mp_reach: Option<MpReachSpec>,
    pub(crate) mp_unreach: Option<(Afi, Vec<IpNet>)>,
    /// Which attributes use the extended length form (bit per position).
    pub(crate) extended: u16,
    /// Attribute order (RFC 4271 only says "SHOULD" be ascending).
    pub(crate) order: Vec<usize>,
}

pub(crate) fn v4_prefix() -> impl Strategy<Value = IpNet> {
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

pub(crate) fn v6_prefix() -> impl Strategy<Value = IpNet> {
    let len = prop_oneof![3 => Just(48u8), 2 => 29u8..=64, 1 => 0u8..=128];
    (any::<u128>(), len).prop_map(|(a, len)| {
        // Not ff00::/8 (multicast).
        let a = if a >> 120 == 0xff { a & !(1 << 127) } else { a };
        IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), len).unwrap().trunc())
    })
}

pub(crate) fn unicast_v4() -> impl Strategy<Value = Ipv4Addr> {
    (1u8..=223, any::<[u8; 3]>()).prop_map(|(a, r)| {
        let a = if a == 127 { 128 } else { a };
        Ipv4Addr::new(a, r[0], r[1], r[2])
    })
}

pub(crate) fn mp_reach() -> impl Strategy<Value = MpReachSpec> {
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

pub(crate) fn mp_unreach() -> impl Strategy<Value = (Afi, Vec<IpNet>)> {
    prop_oneof![
        prop::collection::vec(v4_prefix(), 0..20).prop_map(|l| (Afi::Ipv4, l)),
        prop::collection::vec(v6_prefix(), 0..20).prop_map(|l| (Afi::Ipv6, l)),
    ]
}

pub(crate) fn as_path() -> impl Strategy<Value = Vec<(u8, Vec<u32>)>> {
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
    pub(crate) fn attrs_part()(
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

pub(crate) fn update_spec() -> impl Strategy<Value = UpdateSpec> {
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
    pub(crate) fn attributes(&self) -> Vec<(u8, u8, Vec<u8>)> {
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

    pub(crate) fn encode(&self) -> Vec<u8> {
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
    pub(crate) fn view(&self) -> View {
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
