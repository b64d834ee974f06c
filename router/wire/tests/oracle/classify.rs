//! Mutated messages: what netgauze's first error implies under RFC 7606,
//! and whether sluice did at least that.

use super::*;

#[derive(Clone, Debug)]
pub(crate) enum Mutation {
    Flip(Index, u8),
    Set(Index, u8),
    Bump(Index, i8),
    Insert(Index, u8),
    Remove(Index),
    Truncate(Index),
}

pub(crate) fn mutation() -> impl Strategy<Value = Mutation> {
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

pub(crate) fn mutate(mut m: Vec<u8>, muts: &[Mutation], fix_len: bool) -> Vec<u8> {
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

pub(crate) fn base_message() -> impl Strategy<Value = Vec<u8>> {
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

pub(crate) fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (
        base_message(),
        prop::collection::vec(mutation(), 1..=4),
        prop::bool::weighted(0.7),
    )
        .prop_map(|(m, muts, fix)| mutate(m, &muts, fix))
}

/// What sluice made of a message.
#[derive(Debug)]
pub(crate) enum Ours<'a> {
    /// `frame` wants more bytes: nothing was delivered.
    Incomplete,
    Reset(Notify),
    Withdraw,
    Use(Update<'a>),
    /// Any other message type, decoded.
    Other,
}

pub(crate) fn sluice_outcome(buf: &[u8], ctx: Ctx) -> Ours<'_> {
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
pub(crate) enum Class {
    Accepted,
    Reset(&'static str),
    Withdraw(&'static str),
    Unconstrained(&'static str),
}

/// Whether the path attribute list frames (RFC 4271 §4.3): every
/// attribute's length stays inside it. On overrun, the code of the
/// attribute that overruns. Independent of both decoders.
pub(crate) fn attribute_list_overrun(update_body: &[u8]) -> Option<u8> {
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
pub(crate) fn attribute_list_range(m: &[u8]) -> Option<std::ops::Range<usize>> {
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
pub(crate) fn first_occurrence_parses(buf: &[u8], code: u8) -> bool {
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
pub(crate) fn attribute_code_at(buf: &[u8], at: usize) -> Option<u8> {
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
pub(crate) fn failing_code(buf: &[u8], e: &PathAttributeParsingError) -> Option<u8> {
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

pub(crate) fn classify(
    buf: &[u8],
    r: &Result<BgpMessage, BgpMessageParsingError>,
    ctx: Ctx,
) -> Class {
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

pub(crate) fn classify_update(buf: &[u8], e: &BgpUpdateMessageParsingError, ctx: Ctx) -> Class {
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
pub(crate) fn ignores_family(buf: &[u8], ctx: Ctx) -> bool {
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
pub(crate) fn check_mutated(buf: &[u8], ctx: Ctx) -> Result<(Class, String), TestCaseError> {
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
