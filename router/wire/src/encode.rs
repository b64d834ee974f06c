//! Writing messages. UPDATEs are packed: as many prefixes per message as
//! fit the size agreed with the peer.
//!
//! Every length field is written through a checked conversion: what does
//! not fit its field, or the peer's maximum message size, is an error
//! ([`TooLong`]) for the caller to handle (the export side withdraws such
//! a route toward that peer), never a silently wrong length.

use std::fmt;

use crate::iana::{self, SAFI_UNICAST, attr, msg};
use crate::nlri::{self, Afi, Prefix};
use crate::open::Open;

/// Something to send did not fit its length field or the message size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TooLong {
    /// An attribute value longer than a 2-octet length can say.
    Attribute { code: u8, len: usize },
    /// A message longer than the peer's maximum (or than 65535 octets).
    Message { len: usize, max: usize },
}

impl fmt::Display for TooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TooLong::Attribute { code, len } => {
                write!(f, "attribute {code} is {len} octets, more than 65535")
            }
            TooLong::Message { len, max } => {
                write!(
                    f,
                    "a {len}-octet message exceeds the peer's maximum of {max}"
                )
            }
        }
    }
}

impl std::error::Error for TooLong {}

fn with_header(kind: u8, body: impl FnOnce(&mut Vec<u8>)) -> Result<Vec<u8>, TooLong> {
    let mut out = Vec::with_capacity(64);
    out.extend(iana::MARKER);
    out.extend([0, 0, kind]);
    body(&mut out);
    let too_long = TooLong::Message {
        len: out.len(),
        max: iana::MAX_EXTENDED_MESSAGE,
    };
    let len = u16::try_from(out.len()).map_err(|_| too_long)?;
    out[16..18].copy_from_slice(&len.to_be_bytes());
    Ok(out)
}

/// [`with_header`] for messages whose size is bounded by construction.
fn small(kind: u8, body: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    with_header(kind, body).expect("a message of bounded size fits its length field")
}

pub fn keepalive() -> Vec<u8> {
    small(msg::KEEPALIVE, |_| {})
}

pub fn open(open: &Open) -> Vec<u8> {
    small(msg::OPEN, |out| open.encode_body(out))
}

/// A NOTIFICATION; data beyond what a 4096-octet message holds is cut
/// (it is diagnostic only).
pub fn notification(code: u8, subcode: u8, data: &[u8]) -> Vec<u8> {
    let data = &data[..data.len().min(iana::MAX_MESSAGE - iana::HEADER_LEN - 2)];
    small(msg::NOTIFICATION, |out| {
        out.extend([code, subcode]);
        out.extend(data);
    })
}

/// Cease with an operator's message (RFC 9003): at most 255 octets of
/// UTF-8, cut at a character boundary.
pub fn shutdown(subcode: u8, message: &str) -> Vec<u8> {
    let mut end = message.len().min(255);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let mut data = vec![u8::try_from(end).expect("cut to 255 above")];
    data.extend(&message.as_bytes()[..end]);
    notification(iana::err::CEASE, subcode, &data)
}

pub fn route_refresh(afi: Afi) -> Vec<u8> {
    small(msg::ROUTE_REFRESH, |out| {
        out.extend(afi.code().to_be_bytes());
        out.extend([0, SAFI_UNICAST]);
    })
}

/// Appends one path attribute, using the extended length form when
/// needed; a value longer than 65535 octets is an error.
pub fn try_attribute(out: &mut Vec<u8>, flags: u8, code: u8, value: &[u8]) -> Result<(), TooLong> {
    if let Ok(len) = u8::try_from(value.len()) {
        out.extend([flags & !attr::FLAG_EXTENDED, code, len]);
    } else {
        let len = u16::try_from(value.len()).map_err(|_| TooLong::Attribute {
            code,
            len: value.len(),
        })?;
        out.extend([flags | attr::FLAG_EXTENDED, code]);
        out.extend(len.to_be_bytes());
    }
    out.extend(value);
    Ok(())
}

/// [`try_attribute`] for values known to fit (tests build malformed
/// UPDATEs with it); panics on a value longer than 65535 octets.
pub fn attribute(out: &mut Vec<u8>, flags: u8, code: u8, value: &[u8]) {
    try_attribute(out, flags, code, value).expect("attribute value of at most 65535 octets");
}

/// An UPDATE from already encoded fields; an error if a field or the whole
/// does not fit its length.
pub fn try_update(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Result<Vec<u8>, TooLong> {
    let field = |f: &[u8]| {
        u16::try_from(f.len()).map_err(|_| TooLong::Message {
            len: iana::HEADER_LEN + 4 + withdrawn.len() + attrs.len() + nlri.len(),
            max: iana::MAX_EXTENDED_MESSAGE,
        })
    };
    let (w, a) = (field(withdrawn)?, field(attrs)?);
    with_header(msg::UPDATE, |out| {
        out.extend(w.to_be_bytes());
        out.extend(withdrawn);
        out.extend(a.to_be_bytes());
        out.extend(attrs);
        out.extend(nlri);
    })
}

/// [`try_update`] for fields known to fit (tests, fixed messages).
pub fn update(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    try_update(withdrawn, attrs, nlri).expect("an UPDATE of at most 65535 octets")
}

/// End-of-RIB marker (RFC 4724 §2).
pub fn end_of_rib(afi: Afi) -> Vec<u8> {
    match afi {
        Afi::Ipv4 => update(&[], &[], &[]),
        Afi::Ipv6 => {
            let mut attrs = Vec::new();
            attribute(
                &mut attrs,
                attr::FLAG_OPTIONAL,
                attr::MP_UNREACH,
                &[0, 2, SAFI_UNICAST],
            );
            update(&[], &attrs, &[])
        }
    }
}

/// Octets of an announcing UPDATE besides its NLRI: header, two length
/// fields, attributes, and for IPv6 the MP_REACH attribute's header
/// (extended length: 4) and fields.
fn announce_overhead(afi: Afi, attrs: &[u8], next_hop: &[u8]) -> usize {
    iana::HEADER_LEN
        + 4
        + attrs.len()
        + if afi == Afi::Ipv6 {
            4 + 5 + next_hop.len()
        } else {
            0
        }
}

fn nlri_len(p: &Prefix) -> usize {
    1 + usize::from(p.prefix_len()).div_ceil(8)
}

/// Whether [`announce`] can send `prefix` with `attrs` in a message of at
/// most `max_len` octets, without building it.
pub fn announce_fits(
    afi: Afi,
    attrs: &[u8],
    next_hop: &[u8],
    prefix: &Prefix,
    max_len: usize,
) -> Result<(), TooLong> {
    let len = announce_overhead(afi, attrs, next_hop) + nlri_len(prefix);
    if len > max_len {
        return Err(TooLong::Message { len, max: max_len });
    }
    Ok(())
}

/// UPDATEs announcing `prefixes` with `attrs` (every attribute but
/// MP_REACH_NLRI, which is added here for IPv6 with `next_hop`), each at
/// most `max_len` octets; an error if the attributes leave no room for a
/// prefix (the caller does not export the route to that peer).
pub fn announce(
    afi: Afi,
    attrs: &[u8],
    next_hop: &[u8],
    prefixes: &[Prefix],
    max_len: usize,
) -> Result<Vec<Vec<u8>>, TooLong> {
    let fixed = announce_overhead(afi, attrs, next_hop);
    let longest = prefixes.iter().map(nlri_len).max().unwrap_or(0);
    if fixed + longest > max_len {
        return Err(TooLong::Message {
            len: fixed + longest,
            max: max_len,
        });
    }
    let nh_len = u8::try_from(next_hop.len()).map_err(|_| TooLong::Attribute {
        code: attr::MP_REACH,
        len: next_hop.len(),
    })?;
    let mut out = Vec::new();
    for chunk in chunks(prefixes, max_len - fixed) {
        let msg = match afi {
            Afi::Ipv4 => try_update(&[], attrs, &chunk)?,
            Afi::Ipv6 => {
                let mut value = afi.code().to_be_bytes().to_vec();
                value.push(SAFI_UNICAST);
                value.push(nh_len);
                value.extend(next_hop);
                value.push(0);
                value.extend(&chunk);
                let mut all = attrs.to_vec();
                try_attribute(&mut all, attr::FLAG_OPTIONAL, attr::MP_REACH, &value)?;
                try_update(&[], &all, &[])?
            }
        };
        debug_assert!(msg.len() <= max_len, "{} > {max_len}", msg.len());
        out.push(msg);
    }
    Ok(out)
}

/// UPDATEs withdrawing `prefixes`, each at most `max_len` (at least 4096)
/// octets.
pub fn withdraw(afi: Afi, prefixes: &[Prefix], max_len: usize) -> Vec<Vec<u8>> {
    let fixed = iana::HEADER_LEN + 4 + if afi == Afi::Ipv6 { 4 + 3 } else { 0 };
    chunks(prefixes, max_len.max(iana::MAX_MESSAGE) - fixed)
        .into_iter()
        .map(|chunk| match afi {
            Afi::Ipv4 => update(&chunk, &[], &[]),
            Afi::Ipv6 => {
                let mut value = vec![0, 2, SAFI_UNICAST];
                value.extend(&chunk);
                let mut attrs = Vec::new();
                attribute(&mut attrs, attr::FLAG_OPTIONAL, attr::MP_UNREACH, &value);
                update(&[], &attrs, &[])
            }
        })
        .collect()
}

/// Encodes prefixes into fields of at most `room` octets each.
fn chunks(prefixes: &[Prefix], room: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for p in prefixes {
        let need = nlri_len(p);
        if cur.len() + need > room && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        nlri::encode(p, &mut cur);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}
