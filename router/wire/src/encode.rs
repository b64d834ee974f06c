//! Writing messages. UPDATEs are packed: as many prefixes per message as
//! fit the size agreed with the peer.

use crate::iana::{self, SAFI_UNICAST, attr, msg};
use crate::nlri::{self, Afi, Prefix};
use crate::open::Open;

fn with_header(kind: u8, body: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend(iana::MARKER);
    out.extend([0, 0, kind]);
    body(&mut out);
    let len = out.len() as u16;
    out[16..18].copy_from_slice(&len.to_be_bytes());
    out
}

pub fn keepalive() -> Vec<u8> {
    with_header(msg::KEEPALIVE, |_| {})
}

pub fn open(open: &Open) -> Vec<u8> {
    with_header(msg::OPEN, |out| open.encode_body(out))
}

pub fn notification(code: u8, subcode: u8, data: &[u8]) -> Vec<u8> {
    with_header(msg::NOTIFICATION, |out| {
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
    let mut data = vec![end as u8];
    data.extend(&message.as_bytes()[..end]);
    notification(iana::err::CEASE, subcode, &data)
}

pub fn route_refresh(afi: Afi) -> Vec<u8> {
    with_header(msg::ROUTE_REFRESH, |out| {
        out.extend(afi.code().to_be_bytes());
        out.extend([0, SAFI_UNICAST]);
    })
}

/// Appends one path attribute, using the extended length form when needed.
pub fn attribute(out: &mut Vec<u8>, flags: u8, code: u8, value: &[u8]) {
    if value.len() > 255 {
        out.extend([flags | attr::FLAG_EXTENDED, code]);
        out.extend((value.len() as u16).to_be_bytes());
    } else {
        out.extend([flags & !attr::FLAG_EXTENDED, code, value.len() as u8]);
    }
    out.extend(value);
}

/// An UPDATE from already encoded fields.
pub fn update(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    with_header(msg::UPDATE, |out| {
        out.extend((withdrawn.len() as u16).to_be_bytes());
        out.extend(withdrawn);
        out.extend((attrs.len() as u16).to_be_bytes());
        out.extend(attrs);
        out.extend(nlri);
    })
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

/// UPDATEs announcing `prefixes` with `attrs` (every attribute but
/// MP_REACH_NLRI, which is added here for IPv6 with `next_hop`).
pub fn announce(
    afi: Afi,
    attrs: &[u8],
    next_hop: &[u8],
    prefixes: &[Prefix],
    max_len: usize,
) -> Vec<Vec<u8>> {
    // Header, two length fields, attributes, and for IPv6 the MP_REACH header.
    let fixed = iana::HEADER_LEN
        + 4
        + attrs.len()
        + if afi == Afi::Ipv6 {
            4 + 5 + next_hop.len()
        } else {
            0
        };
    let mut out = Vec::new();
    for chunk in chunks(prefixes, max_len.saturating_sub(fixed)) {
        out.push(match afi {
            Afi::Ipv4 => update(&[], attrs, &chunk),
            Afi::Ipv6 => {
                let mut value = afi.code().to_be_bytes().to_vec();
                value.push(SAFI_UNICAST);
                value.push(next_hop.len() as u8);
                value.extend(next_hop);
                value.push(0);
                value.extend(&chunk);
                let mut all = attrs.to_vec();
                attribute(&mut all, attr::FLAG_OPTIONAL, attr::MP_REACH, &value);
                update(&[], &all, &[])
            }
        });
    }
    out
}

/// UPDATEs withdrawing `prefixes`.
pub fn withdraw(afi: Afi, prefixes: &[Prefix], max_len: usize) -> Vec<Vec<u8>> {
    let fixed = iana::HEADER_LEN + 4 + if afi == Afi::Ipv6 { 4 + 3 } else { 0 };
    chunks(prefixes, max_len.saturating_sub(fixed))
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
        let need = 1 + usize::from(p.prefix_len()).div_ceil(8);
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
