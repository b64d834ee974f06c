//! RTR PDUs (RFC 8210 §5, RFC 6810 §5): what a router and a cache send
//! each other, decoded from a byte stream and encoded for it.
//!
//! Every PDU starts with an 8-octet header: version, type, a 16-bit field
//! whose meaning depends on the type (session id, error code, flags) and
//! the length of the whole PDU. [`decode`] never trusts that length beyond
//! what the type allows: a fixed-size PDU must have exactly its size, and
//! variable ones are capped at [`MAX_PDU`], so a hostile cache cannot make
//! the router buffer without bound.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::vrp::Vrp;

/// The header's size.
pub const HEADER: usize = 8;
/// The longest PDU accepted: an Error Report quoting a PDU plus its text,
/// or a Router Key, fit easily.
pub const MAX_PDU: usize = 64 * 1024;
/// The highest protocol version this client speaks (RFC 8210).
pub const VERSION: u8 = 1;

/// PDU type codes.
pub mod kind {
    pub const SERIAL_NOTIFY: u8 = 0;
    pub const SERIAL_QUERY: u8 = 1;
    pub const RESET_QUERY: u8 = 2;
    pub const CACHE_RESPONSE: u8 = 3;
    pub const IPV4_PREFIX: u8 = 4;
    pub const IPV6_PREFIX: u8 = 6;
    pub const END_OF_DATA: u8 = 7;
    pub const CACHE_RESET: u8 = 8;
    pub const ROUTER_KEY: u8 = 9;
    pub const ERROR_REPORT: u8 = 10;
}

/// Error Report codes (RFC 8210 §12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    CorruptData,
    InternalError,
    NoDataAvailable,
    InvalidRequest,
    UnsupportedVersion,
    UnsupportedPduType,
    WithdrawalOfUnknown,
    DuplicateAnnouncement,
    UnexpectedVersion,
    Other(u16),
}

impl ErrorCode {
    pub fn code(self) -> u16 {
        match self {
            ErrorCode::CorruptData => 0,
            ErrorCode::InternalError => 1,
            ErrorCode::NoDataAvailable => 2,
            ErrorCode::InvalidRequest => 3,
            ErrorCode::UnsupportedVersion => 4,
            ErrorCode::UnsupportedPduType => 5,
            ErrorCode::WithdrawalOfUnknown => 6,
            ErrorCode::DuplicateAnnouncement => 7,
            ErrorCode::UnexpectedVersion => 8,
            ErrorCode::Other(c) => c,
        }
    }

    pub fn from_code(c: u16) -> ErrorCode {
        match c {
            0 => ErrorCode::CorruptData,
            1 => ErrorCode::InternalError,
            2 => ErrorCode::NoDataAvailable,
            3 => ErrorCode::InvalidRequest,
            4 => ErrorCode::UnsupportedVersion,
            5 => ErrorCode::UnsupportedPduType,
            6 => ErrorCode::WithdrawalOfUnknown,
            7 => ErrorCode::DuplicateAnnouncement,
            8 => ErrorCode::UnexpectedVersion,
            c => ErrorCode::Other(c),
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            ErrorCode::CorruptData => "corrupt data",
            ErrorCode::InternalError => "internal error",
            ErrorCode::NoDataAvailable => "no data available",
            ErrorCode::InvalidRequest => "invalid request",
            ErrorCode::UnsupportedVersion => "unsupported protocol version",
            ErrorCode::UnsupportedPduType => "unsupported PDU type",
            ErrorCode::WithdrawalOfUnknown => "withdrawal of unknown record",
            ErrorCode::DuplicateAnnouncement => "duplicate announcement received",
            ErrorCode::UnexpectedVersion => "unexpected protocol version",
            ErrorCode::Other(c) => return write!(f, "error code {c}"),
        };
        f.write_str(text)
    }
}

/// The timers a version 1 End of Data carries, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intervals {
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
}

impl Default for Intervals {
    /// RFC 8210 §6's defaults, also what a version 0 session uses.
    fn default() -> Self {
        Intervals {
            refresh: 3600,
            retry: 600,
            expire: 7200,
        }
    }
}

/// One PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pdu {
    SerialNotify {
        session: u16,
        serial: u32,
    },
    SerialQuery {
        session: u16,
        serial: u32,
    },
    ResetQuery,
    CacheResponse {
        session: u16,
    },
    /// An IPv4 or IPv6 Prefix PDU: `announce` false withdraws it.
    Prefix {
        announce: bool,
        vrp: Vrp,
    },
    EndOfData {
        session: u16,
        serial: u32,
        /// Version 1 only.
        intervals: Option<Intervals>,
    },
    CacheReset,
    /// A BGPsec router key: skipped by origin validation, kept only as
    /// its length so the stream stays in step.
    RouterKey {
        len: usize,
    },
    ErrorReport {
        code: ErrorCode,
        /// The erroneous PDU, as sent (may be empty).
        pdu: Vec<u8>,
        text: String,
    },
}

/// A PDU with the version it was sent with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub version: u8,
    pub pdu: Pdu,
}

/// Why bytes are not a PDU. Each maps to the Error Report the receiver
/// owes the sender ([`DecodeError::code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("PDU type {kind}, version {version}: length {len} (expected {expected})")]
    Length {
        version: u8,
        kind: u8,
        len: usize,
        expected: String,
    },
    #[error("PDU type {0} is not one this version knows")]
    UnknownType(u8),
    #[error("protocol version {0} is not 0 or 1")]
    UnsupportedVersion(u8),
    #[error("{0}")]
    Corrupt(String),
}

impl DecodeError {
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::UnknownType(_) => ErrorCode::UnsupportedPduType,
            DecodeError::UnsupportedVersion(_) => ErrorCode::UnsupportedVersion,
            DecodeError::Length { .. } | DecodeError::Corrupt(_) => ErrorCode::CorruptData,
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The first PDU of `buf`: `Ok(None)` while it is incomplete, else the
/// frame and the octets it took.
pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, DecodeError> {
    if buf.len() < HEADER {
        return Ok(None);
    }
    let (version, kind) = (buf[0], buf[1]);
    let field = u16_at(buf, 2);
    let len = u32_at(buf, 4) as usize;
    if version > VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let expected = match (kind, version) {
        (kind::SERIAL_NOTIFY | kind::SERIAL_QUERY, _) => Some(12),
        (kind::RESET_QUERY | kind::CACHE_RESPONSE | kind::CACHE_RESET, _) => Some(8),
        (kind::IPV4_PREFIX, _) => Some(20),
        (kind::IPV6_PREFIX, _) => Some(32),
        (kind::END_OF_DATA, 0) => Some(12),
        (kind::END_OF_DATA, _) => Some(24),
        (kind::ROUTER_KEY, 1..) => None,
        (kind::ERROR_REPORT, _) => None,
        (kind, _) => return Err(DecodeError::UnknownType(kind)),
    };
    let bad_len = |expected: String| DecodeError::Length {
        version,
        kind,
        len,
        expected,
    };
    match expected {
        Some(e) if len != e => return Err(bad_len(e.to_string())),
        None if !(HEADER..=MAX_PDU).contains(&len) => {
            return Err(bad_len(format!("{HEADER} to {MAX_PDU}")));
        }
        _ => {}
    }
    if buf.len() < len {
        return Ok(None);
    }
    let b = &buf[..len];
    let pdu = match kind {
        kind::SERIAL_NOTIFY => Pdu::SerialNotify {
            session: field,
            serial: u32_at(b, 8),
        },
        kind::SERIAL_QUERY => Pdu::SerialQuery {
            session: field,
            serial: u32_at(b, 8),
        },
        kind::RESET_QUERY => Pdu::ResetQuery,
        kind::CACHE_RESPONSE => Pdu::CacheResponse { session: field },
        kind::IPV4_PREFIX | kind::IPV6_PREFIX => prefix(b)?,
        kind::END_OF_DATA => Pdu::EndOfData {
            session: field,
            serial: u32_at(b, 8),
            intervals: (version >= 1).then(|| Intervals {
                refresh: u32_at(b, 12),
                retry: u32_at(b, 16),
                expire: u32_at(b, 20),
            }),
        },
        kind::CACHE_RESET => Pdu::CacheReset,
        kind::ROUTER_KEY => {
            // SKI (20) and ASN (4) at least, then the key.
            if len < HEADER + 24 {
                return Err(bad_len(format!("at least {}", HEADER + 24)));
            }
            Pdu::RouterKey { len }
        }
        _ => error_report(field, b).map_err(bad_len)?,
    };
    Ok(Some((Frame { version, pdu }, len)))
}

fn prefix(b: &[u8]) -> Result<Pdu, DecodeError> {
    let (flags, len, max_len) = (b[8], b[9], b[10]);
    let v6 = b[1] == kind::IPV6_PREFIX;
    let (bits, asn_at) = if v6 { (128, 28) } else { (32, 16) };
    if len > bits || max_len > bits || max_len < len {
        return Err(DecodeError::Corrupt(format!(
            "prefix length {len}, max length {max_len}: not within 0..={bits} in order"
        )));
    }
    let prefix = if v6 {
        let mut a = [0u8; 16];
        a.copy_from_slice(&b[12..28]);
        IpNet::V6(
            Ipv6Net::new(Ipv6Addr::from(a), len)
                .expect("length checked")
                .trunc(),
        )
    } else {
        let a = Ipv4Addr::from(u32_at(b, 12));
        IpNet::V4(Ipv4Net::new(a, len).expect("length checked").trunc())
    };
    Ok(Pdu::Prefix {
        announce: flags & 1 == 1,
        vrp: Vrp {
            prefix,
            max_len,
            asn: u32_at(b, asn_at),
        },
    })
}

/// The body of an Error Report: the PDU it quotes and its text, each
/// with a length that must fit what is left.
fn error_report(code: u16, b: &[u8]) -> Result<Pdu, String> {
    let mut at = HEADER;
    let mut field = |what: &str| -> Result<&[u8], String> {
        let n = b
            .get(at..at + 4)
            .map(|l| u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize)
            .ok_or_else(|| format!("at least {} (the {what} length)", at + 4))?;
        let start = at + 4;
        let end = start
            .checked_add(n)
            .filter(|&e| e <= b.len())
            .ok_or_else(|| format!("at least {} (the {what})", start.saturating_add(n)))?;
        at = end;
        Ok(&b[start..end])
    };
    let pdu = field("quoted PDU")?.to_vec();
    let text = String::from_utf8_lossy(field("error text")?).into_owned();
    if at != b.len() {
        return Err(format!("{at} (the parts' lengths)"));
    }
    Ok(Pdu::ErrorReport {
        code: ErrorCode::from_code(code),
        pdu,
        text,
    })
}

impl Frame {
    pub fn new(version: u8, pdu: Pdu) -> Frame {
        Frame { version, pdu }
    }

    /// The PDU's octets.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        let header = |out: &mut Vec<u8>, kind: u8, field: u16| {
            out.extend_from_slice(&[self.version, kind]);
            out.extend_from_slice(&field.to_be_bytes());
            out.extend_from_slice(&[0; 4]);
        };
        match &self.pdu {
            Pdu::SerialNotify { session, serial } | Pdu::SerialQuery { session, serial } => {
                let k = if matches!(self.pdu, Pdu::SerialNotify { .. }) {
                    kind::SERIAL_NOTIFY
                } else {
                    kind::SERIAL_QUERY
                };
                header(&mut out, k, *session);
                out.extend_from_slice(&serial.to_be_bytes());
            }
            Pdu::ResetQuery => header(&mut out, kind::RESET_QUERY, 0),
            Pdu::CacheResponse { session } => header(&mut out, kind::CACHE_RESPONSE, *session),
            Pdu::Prefix { announce, vrp } => {
                let k = match vrp.prefix {
                    IpNet::V4(_) => kind::IPV4_PREFIX,
                    IpNet::V6(_) => kind::IPV6_PREFIX,
                };
                header(&mut out, k, 0);
                out.extend_from_slice(&[
                    u8::from(*announce),
                    vrp.prefix.prefix_len(),
                    vrp.max_len,
                    0,
                ]);
                match vrp.prefix {
                    IpNet::V4(p) => out.extend_from_slice(&p.network().octets()),
                    IpNet::V6(p) => out.extend_from_slice(&p.network().octets()),
                }
                out.extend_from_slice(&vrp.asn.to_be_bytes());
            }
            Pdu::EndOfData {
                session,
                serial,
                intervals,
            } => {
                header(&mut out, kind::END_OF_DATA, *session);
                out.extend_from_slice(&serial.to_be_bytes());
                if self.version >= 1 {
                    let i = intervals.unwrap_or_default();
                    for v in [i.refresh, i.retry, i.expire] {
                        out.extend_from_slice(&v.to_be_bytes());
                    }
                }
            }
            Pdu::CacheReset => header(&mut out, kind::CACHE_RESET, 0),
            Pdu::RouterKey { len } => {
                header(&mut out, kind::ROUTER_KEY, 0);
                out.resize((*len).max(HEADER + 24), 0);
            }
            Pdu::ErrorReport { code, pdu, text } => {
                header(&mut out, kind::ERROR_REPORT, code.code());
                let pdu = &pdu[..pdu.len().min(MAX_PDU / 2)];
                let text = &text.as_bytes()[..text.len().min(MAX_PDU / 4)];
                for part in [pdu, text] {
                    let n = u32::try_from(part.len()).expect("capped above");
                    out.extend_from_slice(&n.to_be_bytes());
                    out.extend_from_slice(part);
                }
            }
        }
        let len = u32::try_from(out.len()).expect("PDUs are small");
        out[4..8].copy_from_slice(&len.to_be_bytes());
        out
    }
}

#[cfg(test)]
mod tests;
