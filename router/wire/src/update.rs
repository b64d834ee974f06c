//! UPDATE: three borrowed fields, and attribute checks per RFC 7606.
//!
//! [`Update::split`] only finds the withdrawn, attribute and NLRI fields
//! (their lengths wrong means the message cannot be parsed: session reset).
//! [`Attrs::parse`] walks the attributes once and returns, for each known
//! one, its value or a borrowed slice, plus a [`Verdict`]: use the routes,
//! or treat them as withdrawn. Only errors that make the NLRI impossible to
//! find reset the session (RFC 7606 §3, §5.3).

use std::net::Ipv4Addr;

use crate::iana::{SAFI_UNICAST, attr, err};
use crate::message::Notify;
use crate::nlri::{self, Afi, Prefixes};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update<'a> {
    pub withdrawn: &'a [u8],
    pub attrs: &'a [u8],
    pub nlri: &'a [u8],
}

impl<'a> Update<'a> {
    pub fn split(body: &'a [u8]) -> Result<Update<'a>, Notify> {
        let malformed = || Notify::new(err::UPDATE, err::UPDATE_MALFORMED_ATTR_LIST, []);
        let wlen = usize::from(u16::from_be_bytes([
            *body.first().ok_or_else(malformed)?,
            *body.get(1).ok_or_else(malformed)?,
        ]));
        let withdrawn = body.get(2..2 + wlen).ok_or_else(malformed)?;
        let rest = &body[2 + wlen..];
        let alen = usize::from(u16::from_be_bytes([
            *rest.first().ok_or_else(malformed)?,
            *rest.get(1).ok_or_else(malformed)?,
        ]));
        let attrs = rest.get(2..2 + alen).ok_or_else(malformed)?;
        let nlri = &rest[2 + alen..];
        let invalid_net = || Notify::new(err::UPDATE, err::UPDATE_INVALID_NETWORK, []);
        nlri::validate(Afi::Ipv4, withdrawn).ok_or_else(invalid_net)?;
        nlri::validate(Afi::Ipv4, nlri).ok_or_else(invalid_net)?;
        Ok(Update {
            withdrawn,
            attrs,
            nlri,
        })
    }

    /// IPv4 prefixes withdrawn in the classic field.
    pub fn withdrawn(&self) -> Prefixes<'a> {
        Prefixes::new(Afi::Ipv4, self.withdrawn)
    }

    /// IPv4 prefixes announced in the classic field.
    pub fn announced(&self) -> Prefixes<'a> {
        Prefixes::new(Afi::Ipv4, self.nlri)
    }

    /// RFC 4724 §2: an empty UPDATE ends the initial IPv4 unicast table.
    pub fn is_end_of_rib_ipv4(&self) -> bool {
        self.withdrawn.is_empty() && self.attrs.is_empty() && self.nlri.is_empty()
    }
}

/// How the session should treat a received UPDATE's routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Use,
    /// RFC 7606 treat-as-withdraw: every route in the UPDATE is withdrawn.
    TreatAsWithdraw,
}

/// An attribute that was wrong, and what was done about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Problem {
    pub code: u8,
    pub discarded: bool,
    pub why: &'static str,
}

/// What the parser must know about the session.
#[derive(Clone, Copy, Debug)]
pub struct Ctx {
    /// Both sides announced 4-octet ASNs (RFC 6793): AS_PATH carries 4-octet ASNs.
    pub four_octet_as: bool,
    /// The peer is external: LOCAL_PREF from it is discarded, confederation segments refused.
    pub ebgp: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MpReach<'a> {
    pub afi: Afi,
    pub next_hop: &'a [u8],
    pub nlri: &'a [u8],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MpUnreach<'a> {
    pub afi: Afi,
    pub withdrawn: &'a [u8],
}

/// AS_PATH segment types.
pub const AS_SET: u8 = 1;
pub const AS_SEQUENCE: u8 = 2;
pub const AS_CONFED_SEQUENCE: u8 = 3;
pub const AS_CONFED_SET: u8 = 4;

/// The attributes of an UPDATE, borrowed from it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attrs<'a> {
    pub origin: Option<u8>,
    /// Segments as received; 2-octet ASNs when `Ctx::four_octet_as` is false.
    pub as_path: Option<&'a [u8]>,
    pub next_hop: Option<Ipv4Addr>,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    pub atomic_aggregate: bool,
    pub aggregator: Option<&'a [u8]>,
    pub communities: Option<&'a [u8]>,
    pub large_communities: Option<&'a [u8]>,
    /// RFC 4456: set by a route reflector (shown, never passed on).
    pub originator_id: Option<Ipv4Addr>,
    pub cluster_list: Option<&'a [u8]>,
    pub mp_reach: Option<MpReach<'a>>,
    pub mp_unreach: Option<MpUnreach<'a>>,
    /// Unrecognised optional transitive attributes, whole (flags, type, length, value),
    /// to pass on with the Partial bit set.
    pub unknown_transitive: Vec<&'a [u8]>,
    pub problems: Vec<Problem>,
    /// Path attributes in the UPDATE (each type at most once).
    pub count: usize,
}

/// The action RFC 7606 §7 prescribes for an error in each attribute.
fn on_error(code: u8) -> Option<bool> {
    // Some(true): attribute-discard; Some(false): treat-as-withdraw; None: session reset.
    match code {
        attr::ATOMIC_AGGREGATE | attr::AGGREGATOR | attr::AS4_PATH | attr::AS4_AGGREGATOR => {
            Some(true)
        }
        attr::MP_REACH | attr::MP_UNREACH => None,
        _ => Some(false),
    }
}

/// The flags (optional, transitive) each known attribute must carry.
fn expected_flags(code: u8) -> Option<u8> {
    use attr::*;
    Some(match code {
        ORIGIN | AS_PATH | NEXT_HOP | LOCAL_PREF | ATOMIC_AGGREGATE => FLAG_TRANSITIVE,
        MED | MP_REACH | MP_UNREACH | ORIGINATOR_ID | CLUSTER_LIST => FLAG_OPTIONAL,
        AGGREGATOR | COMMUNITIES | AS4_PATH | AS4_AGGREGATOR | LARGE_COMMUNITIES => {
            FLAG_OPTIONAL | FLAG_TRANSITIVE
        }
        _ => return None,
    })
}

impl<'a> Attrs<'a> {
    /// Walks the attributes of `update` once. `Err` is a session reset with
    /// the NOTIFICATION to send; otherwise the verdict says whether the
    /// UPDATE's announcements may be used.
    pub fn parse(update: &Update<'a>, ctx: Ctx) -> Result<(Attrs<'a>, Verdict), Notify> {
        let mut a = Attrs::default();
        let mut verdict = Verdict::Use;
        let mut seen = [0u64; 4];
        let mut rest = update.attrs;
        while !rest.is_empty() {
            let (flags, code) = match rest {
                [f, c, ..] => (*f, *c),
                _ => {
                    a.problems.push(Problem {
                        code: 0,
                        discarded: false,
                        why: "attribute header truncated",
                    });
                    verdict = Verdict::TreatAsWithdraw;
                    break;
                }
            };
            let (hlen, len): (usize, usize) = if flags & attr::FLAG_EXTENDED != 0 {
                match rest.get(2..4) {
                    Some(l) => (4, usize::from(u16::from_be_bytes([l[0], l[1]]))),
                    None => (4, usize::MAX),
                }
            } else {
                (3, rest.get(2).map_or(usize::MAX, |l| usize::from(*l)))
            };
            let Some(whole) = rest.get(..hlen.saturating_add(len)) else {
                // RFC 7606 §4: the length overruns the attribute list. For
                // MP_REACH/MP_UNREACH that means their NLRI cannot be found
                // (§5.3), whether or not an MP_REACH came before: reset.
                if matches!(code, attr::MP_REACH | attr::MP_UNREACH) {
                    return Err(Notify::new(
                        err::UPDATE,
                        err::UPDATE_MALFORMED_ATTR_LIST,
                        [],
                    ));
                }
                a.problems.push(Problem {
                    code,
                    discarded: false,
                    why: "attribute length overruns the attribute list",
                });
                verdict = Verdict::TreatAsWithdraw;
                break;
            };
            rest = &rest[whole.len()..];
            let value = &whole[hlen..];

            // RFC 7606 §3 g: MP_REACH/MP_UNREACH twice resets; other repeats are discarded.
            let (word, bit) = (usize::from(code) / 64, 1u64 << (code % 64));
            if seen[word] & bit != 0 {
                if on_error(code).is_none() {
                    return Err(Notify::new(
                        err::UPDATE,
                        err::UPDATE_MALFORMED_ATTR_LIST,
                        [],
                    ));
                }
                a.problems.push(Problem {
                    code,
                    discarded: true,
                    why: "repeated attribute",
                });
                continue;
            }
            seen[word] |= bit;

            let Some(expected) = expected_flags(code) else {
                if flags & attr::FLAG_OPTIONAL == 0 {
                    a.problems.push(Problem {
                        code,
                        discarded: false,
                        why: "unrecognised well-known attribute",
                    });
                    verdict = Verdict::TreatAsWithdraw;
                } else if flags & attr::FLAG_TRANSITIVE != 0 {
                    a.unknown_transitive.push(whole);
                }
                continue;
            };
            // RFC 7606 §7.5, §7.9, §7.10: LOCAL_PREF, ORIGINATOR_ID and
            // CLUSTER_LIST from an external peer are discarded whatever
            // their form: they mean something only inside the AS.
            if ctx.ebgp
                && matches!(
                    code,
                    attr::LOCAL_PREF | attr::ORIGINATOR_ID | attr::CLUSTER_LIST
                )
            {
                continue;
            }
            let flags_ok = flags & (attr::FLAG_OPTIONAL | attr::FLAG_TRANSITIVE) == expected;
            let result = if flags_ok {
                a.take(code, value, ctx)
            } else {
                Err("wrong attribute flags")
            };
            if let Err(why) = result {
                match on_error(code) {
                    None => return Err(Notify::new(err::UPDATE, err::UPDATE_OPTIONAL_ATTR, whole)),
                    Some(true) => a.problems.push(Problem {
                        code,
                        discarded: true,
                        why,
                    }),
                    Some(false) => {
                        a.problems.push(Problem {
                            code,
                            discarded: false,
                            why,
                        });
                        verdict = Verdict::TreatAsWithdraw;
                    }
                }
            }
        }

        // RFC 7606 §3 d: announcements without the mandatory attributes are withdrawn.
        let announces = !update.nlri.is_empty() || a.mp_reach.is_some_and(|m| !m.nlri.is_empty());
        if announces && verdict == Verdict::Use {
            let missing = if a.origin.is_none() {
                Some(attr::ORIGIN)
            } else if a.as_path.is_none() {
                Some(attr::AS_PATH)
            } else if !update.nlri.is_empty() && a.next_hop.is_none() {
                Some(attr::NEXT_HOP)
            } else {
                None
            };
            if let Some(code) = missing {
                a.problems.push(Problem {
                    code,
                    discarded: false,
                    why: "missing well-known attribute",
                });
                verdict = Verdict::TreatAsWithdraw;
            }
        }
        a.count = seen.iter().map(|w| w.count_ones() as usize).sum();
        Ok((a, verdict))
    }

    /// Checks one attribute and stores it.
    fn take(&mut self, code: u8, v: &'a [u8], ctx: Ctx) -> Result<(), &'static str> {
        let u32_of = |v: &[u8]| {
            <[u8; 4]>::try_from(v)
                .map(u32::from_be_bytes)
                .map_err(|_| "length is not 4")
        };
        match code {
            attr::ORIGIN => match v {
                [o @ 0..=2] => self.origin = Some(*o),
                [_] => return Err("ORIGIN is not IGP, EGP or INCOMPLETE"),
                _ => return Err("ORIGIN length is not 1"),
            },
            attr::AS_PATH => {
                check_as_path(v, if ctx.four_octet_as { 4 } else { 2 }, ctx.ebgp)?;
                self.as_path = Some(v);
            }
            attr::NEXT_HOP => {
                let nh = Ipv4Addr::from(u32_of(v)?);
                if nh.is_unspecified() || nh.is_multicast() || nh.is_broadcast() || nh.is_loopback()
                {
                    return Err("NEXT_HOP is not a unicast address");
                }
                self.next_hop = Some(nh);
            }
            attr::MED => self.med = Some(u32_of(v)?),
            attr::LOCAL_PREF => {
                let lp = u32_of(v)?;
                // RFC 4271 §5.1.5: ignored when received from an external peer.
                if !ctx.ebgp {
                    self.local_pref = Some(lp);
                }
            }
            attr::ATOMIC_AGGREGATE => {
                if !v.is_empty() {
                    return Err("ATOMIC_AGGREGATE is not empty");
                }
                self.atomic_aggregate = true;
            }
            attr::AGGREGATOR => {
                let want = if ctx.four_octet_as { 8 } else { 6 };
                if v.len() != want {
                    return Err("AGGREGATOR has the wrong length");
                }
                self.aggregator = Some(v);
            }
            attr::COMMUNITIES => {
                if v.is_empty() || !v.len().is_multiple_of(4) {
                    return Err("COMMUNITIES length is not a multiple of 4");
                }
                self.communities = Some(v);
            }
            attr::LARGE_COMMUNITIES => {
                if v.is_empty() || !v.len().is_multiple_of(12) {
                    return Err("LARGE_COMMUNITIES length is not a multiple of 12");
                }
                self.large_communities = Some(v);
            }
            attr::ORIGINATOR_ID => {
                let b: [u8; 4] = v.try_into().map_err(|_| "ORIGINATOR_ID is not 4 octets")?;
                self.originator_id = Some(Ipv4Addr::from(b));
            }
            attr::CLUSTER_LIST => {
                if v.is_empty() || !v.len().is_multiple_of(4) {
                    return Err("CLUSTER_LIST length is not a multiple of 4");
                }
                self.cluster_list = Some(v);
            }
            attr::MP_REACH | attr::MP_UNREACH if !carried_family(v) => {
                // A family we do not carry (and did not negotiate): ignore
                // it, as BIRD and FRR do, rather than reset the session.
                self.problems.push(Problem {
                    code,
                    discarded: true,
                    why: "multiprotocol attribute for a family not carried; ignored",
                });
            }
            attr::MP_REACH => self.mp_reach = Some(parse_mp_reach(v)?),
            attr::MP_UNREACH => {
                let [a0, a1, safi, withdrawn @ ..] = v else {
                    return Err("MP_UNREACH_NLRI too short");
                };
                let afi = Afi::from_code(u16::from_be_bytes([*a0, *a1]))
                    .ok_or("MP_UNREACH_NLRI for an unknown AFI")?;
                if *safi != SAFI_UNICAST {
                    return Err("MP_UNREACH_NLRI for a SAFI other than unicast");
                }
                nlri::validate(afi, withdrawn)
                    .ok_or("MP_UNREACH_NLRI withdrawn routes are malformed")?;
                self.mp_unreach = Some(MpUnreach { afi, withdrawn });
            }
            // AS4_PATH / AS4_AGGREGATOR (RFC 6793): only meaningful from 2-octet
            // speakers; accepted as opaque transitive data.
            _ => {}
        }
        Ok(())
    }
}

/// Whether an MP_REACH/MP_UNREACH value is for IPv4 or IPv6 unicast (a
/// value too short to say counts as carried, so that it is checked).
fn carried_family(v: &[u8]) -> bool {
    match v {
        [a0, a1, safi, ..] => {
            Afi::from_code(u16::from_be_bytes([*a0, *a1])).is_some() && *safi == SAFI_UNICAST
        }
        _ => true,
    }
}

fn parse_mp_reach(v: &[u8]) -> Result<MpReach<'_>, &'static str> {
    let [a0, a1, safi, nh_len, rest @ ..] = v else {
        return Err("MP_REACH_NLRI too short");
    };
    let afi =
        Afi::from_code(u16::from_be_bytes([*a0, *a1])).ok_or("MP_REACH_NLRI for an unknown AFI")?;
    if *safi != SAFI_UNICAST {
        return Err("MP_REACH_NLRI for a SAFI other than unicast");
    }
    let nh_len = usize::from(*nh_len);
    let next_hop = rest
        .get(..nh_len)
        .ok_or("MP_REACH_NLRI next hop overruns the attribute")?;
    // One reserved octet (RFC 4760 §3) follows the next hop.
    let nlri = rest.get(nh_len + 1..).ok_or("MP_REACH_NLRI truncated")?;
    let nh_ok = match afi {
        Afi::Ipv4 => nh_len == 4,
        Afi::Ipv6 => nh_len == 16 || nh_len == 32,
    };
    if !nh_ok {
        return Err("MP_REACH_NLRI next hop length does not fit the AFI");
    }
    nlri::validate(afi, nlri).ok_or("MP_REACH_NLRI NLRI is malformed")?;
    Ok(MpReach {
        afi,
        next_hop,
        nlri,
    })
}

/// RFC 4271 §4.3 and RFC 7606 §7.2: segments of a known type, non-empty,
/// that exactly fill the attribute; no confederation segments from eBGP.
fn check_as_path(mut v: &[u8], width: usize, ebgp: bool) -> Result<(), &'static str> {
    while let [kind, count, rest @ ..] = v {
        if !(AS_SET..=AS_CONFED_SET).contains(kind) {
            return Err("AS_PATH segment of unknown type");
        }
        if ebgp && matches!(*kind, AS_CONFED_SEQUENCE | AS_CONFED_SET) {
            return Err("AS_PATH confederation segment from an external peer");
        }
        if *count == 0 {
            return Err("AS_PATH segment is empty");
        }
        v = rest
            .get(usize::from(*count) * width..)
            .ok_or("AS_PATH segment overruns the attribute")?;
    }
    if v.is_empty() {
        Ok(())
    } else {
        Err("AS_PATH ends inside a segment header")
    }
}

/// The ASNs of an AS_PATH, by segment.
pub fn as_path_segments(
    mut v: &[u8],
    four_octet: bool,
) -> impl Iterator<Item = (u8, Vec<u32>)> + '_ {
    let width = if four_octet { 4 } else { 2 };
    std::iter::from_fn(move || {
        let [kind, count, rest @ ..] = v else {
            return None;
        };
        let n = usize::from(*count) * width;
        let body = rest.get(..n)?;
        v = &rest[n..];
        let asns = body
            .chunks(width)
            .map(|c| {
                if width == 4 {
                    u32::from_be_bytes([c[0], c[1], c[2], c[3]])
                } else {
                    u32::from(u16::from_be_bytes([c[0], c[1]]))
                }
            })
            .collect();
        Some((*kind, asns))
    })
}

/// AS_PATH length for the decision process (RFC 4271 §9.1.2.2): an AS_SET
/// counts as one, confederation segments not at all.
pub fn as_path_len(mut v: &[u8]) -> u32 {
    let mut len = 0;
    while let [kind, count, rest @ ..] = v {
        len += match *kind {
            AS_SEQUENCE => u32::from(*count),
            AS_SET => 1,
            _ => 0,
        };
        v = rest.get(usize::from(*count) * 4..).unwrap_or(&[]);
    }
    len
}

/// Every ASN of an AS_PATH, in every kind of segment: what a path costs
/// to keep, as opposed to [`as_path_len`], what it weighs in the decision.
pub fn as_path_asns(mut v: &[u8], four_octet: bool) -> usize {
    let width = if four_octet { 4 } else { 2 };
    let mut n = 0;
    while let [_, count, rest @ ..] = v {
        n += usize::from(*count);
        v = rest.get(usize::from(*count) * width..).unwrap_or(&[]);
    }
    n
}

/// Rewrites a 2-octet AS_PATH with 4-octet ASNs (the form the RIB keeps).
pub fn widen_as_path(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 2);
    for (kind, asns) in as_path_segments(v, false) {
        let count = u8::try_from(asns.len()).expect("a segment holds at most 255 ASNs");
        out.extend([kind, count]);
        for asn in asns {
            out.extend(asn.to_be_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests;
