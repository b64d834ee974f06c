//! Netlink framing, sans-IO: `struct nlmsghdr` messages, `struct nlattr`
//! attributes and the kernel's acks/errors (with extended-ack messages).
//!
//! References: netlink(7), rtnetlink(7), include/uapi/linux/netlink.h and
//! rtnetlink.h. Everything is host byte order except where an attribute
//! says otherwise (addresses are network order, as in the kernel).
//!
//! Writing: [`MessageWriter`] appends one message to a `Vec<u8>` and fixes
//! its length on [`MessageWriter::finish`]; several messages in one buffer
//! make one `sendmsg` batch. Reading: [`messages`] walks a received
//! datagram, [`attributes`] walks the attributes after a fixed header.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

// ===== message types and flags (netlink.h, rtnetlink.h) =====

pub(crate) const NLMSG_HDRLEN: usize = 16;
pub(crate) const NLA_HDRLEN: usize = 4;

pub(crate) const NLMSG_NOOP: u16 = 1;
pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;
pub(crate) const NLMSG_OVERRUN: u16 = 4;

pub(crate) const NLM_F_REQUEST: u16 = 0x01;
pub(crate) const NLM_F_ACK: u16 = 0x04;
pub(crate) const NLM_F_DUMP_INTR: u16 = 0x10;
pub(crate) const NLM_F_DUMP: u16 = 0x300;
pub(crate) const NLM_F_REPLACE: u16 = 0x100;
pub(crate) const NLM_F_EXCL: u16 = 0x200;
pub(crate) const NLM_F_CREATE: u16 = 0x400;
/// In an NLMSG_ERROR: the echoed request was cut to its header.
const NLM_F_CAPPED: u16 = 0x100;
/// In an NLMSG_ERROR: extended-ack TLVs follow the echoed request.
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;

pub(crate) const RTM_NEWLINK: u16 = 16;
pub(crate) const RTM_DELLINK: u16 = 17;
pub(crate) const RTM_GETLINK: u16 = 18;
pub(crate) const RTM_NEWADDR: u16 = 20;
pub(crate) const RTM_DELADDR: u16 = 21;
pub(crate) const RTM_GETADDR: u16 = 22;
pub(crate) const RTM_NEWROUTE: u16 = 24;
pub(crate) const RTM_DELROUTE: u16 = 25;
pub(crate) const RTM_GETROUTE: u16 = 26;
pub(crate) const RTM_NEWNEIGH: u16 = 28;
pub(crate) const RTM_DELNEIGH: u16 = 29;
pub(crate) const RTM_GETNEIGH: u16 = 30;
pub(crate) const RTM_NEWNEXTHOP: u16 = 104;
pub(crate) const RTM_DELNEXTHOP: u16 = 105;
pub(crate) const RTM_GETNEXTHOP: u16 = 106;

pub(crate) const AF_UNSPEC: u8 = 0;
pub(crate) const AF_INET: u8 = 2;
pub(crate) const AF_INET6: u8 = 10;

/// Attribute type bits that are flags, not part of the type.
const NLA_TYPE_MASK: u16 = 0x3fff;

// ===== errors =====

/// A message or attribute the codec could not make sense of.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than the structure named needs.
    #[error("truncated {what}: need {need} bytes, have {have}")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Bytes it needs.
        need: usize,
        /// Bytes there were.
        have: usize,
    },
    /// A value that cannot be right (a length, an address size, ...).
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// The field being read.
        what: &'static str,
        /// What was wrong with it.
        detail: String,
    },
}

impl From<DecodeError> for io::Error {
    fn from(e: DecodeError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

/// An error the kernel answered a request with: the errno and, when the
/// kernel gave one, its extended-ack message (e.g. "Nexthop device is not
/// up"). Carried inside an [`io::Error`] whose kind matches the errno; get
/// it back with [`kernel_errno`] or `get_ref()?.downcast_ref()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError {
    /// Positive errno, e.g. `libc::ENOENT`.
    pub errno: i32,
    /// The kernel's extended-ack text, if any.
    pub message: Option<String>,
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", io::Error::from_raw_os_error(self.errno))?;
        if let Some(msg) = &self.message {
            write!(f, ": {msg}")?;
        }
        Ok(())
    }
}

impl std::error::Error for KernelError {}

impl From<KernelError> for io::Error {
    fn from(e: KernelError) -> io::Error {
        let kind = io::Error::from_raw_os_error(e.errno).kind();
        io::Error::new(kind, e)
    }
}

/// The errno behind `e`, whether it came from a syscall or from a netlink
/// error message ([`KernelError`]).
pub fn kernel_errno(e: &io::Error) -> Option<i32> {
    e.raw_os_error()
        .or_else(|| e.get_ref()?.downcast_ref::<KernelError>().map(|k| k.errno))
}

// ===== writing =====

/// Rounds `n` up to the 4-byte netlink alignment.
pub(crate) const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Appends one netlink message to a buffer. The fixed header (ifinfomsg,
/// rtmsg, ...) goes in with [`MessageWriter::bytes`], then attributes;
/// [`MessageWriter::finish`] writes the total length into the header.
#[derive(Debug)]
pub(crate) struct MessageWriter<'a> {
    buf: &'a mut Vec<u8>,
    start: usize,
}

impl<'a> MessageWriter<'a> {
    pub(crate) fn new(buf: &'a mut Vec<u8>, kind: u16, flags: u16, seq: u32) -> Self {
        let start = buf.len();
        buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_len, set by finish
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: the kernel
        MessageWriter { buf, start }
    }

    /// Raw bytes, padded to 4; used for the fixed family header.
    pub(crate) fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self.pad();
        self
    }

    pub(crate) fn attr(&mut self, kind: u16, payload: &[u8]) -> &mut Self {
        let len = u16::try_from(NLA_HDRLEN + payload.len()).expect("netlink attribute over 64 KiB");
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.pad();
        self
    }

    pub(crate) fn attr_u32(&mut self, kind: u16, value: u32) -> &mut Self {
        self.attr(kind, &value.to_ne_bytes())
    }

    pub(crate) fn attr_u16(&mut self, kind: u16, value: u16) -> &mut Self {
        self.attr(kind, &value.to_ne_bytes())
    }

    /// An address attribute: 4 or 16 bytes in network order.
    pub(crate) fn attr_ip(&mut self, kind: u16, addr: IpAddr) -> &mut Self {
        match addr {
            IpAddr::V4(a) => self.attr(kind, &a.octets()),
            IpAddr::V6(a) => self.attr(kind, &a.octets()),
        }
    }

    pub(crate) fn finish(&mut self) {
        let len = u32::try_from(self.buf.len() - self.start).expect("netlink message over 4 GiB");
        self.buf[self.start..self.start + 4].copy_from_slice(&len.to_ne_bytes());
    }

    fn pad(&mut self) {
        let len = self.buf.len() - self.start;
        self.buf.resize(self.start + align4(len), 0);
    }
}

// ===== reading =====

/// One message of a received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Message<'a> {
    pub(crate) kind: u16,
    pub(crate) flags: u16,
    pub(crate) seq: u32,
    /// What follows the 16-byte header, up to `nlmsg_len`.
    pub(crate) payload: &'a [u8],
}

/// The messages in `buf`, one received datagram. Stops with an error at
/// the first malformed header (the rest cannot be framed).
pub(crate) fn messages(buf: &[u8]) -> impl Iterator<Item = Result<Message<'_>, DecodeError>> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        if rest.len() < NLMSG_HDRLEN {
            let have = rest.len();
            rest = &[];
            return Some(Err(DecodeError::Truncated {
                what: "nlmsghdr",
                need: NLMSG_HDRLEN,
                have,
            }));
        }
        let len = u32_at(rest, 0) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            let have = rest.len();
            rest = &[];
            return Some(Err(DecodeError::Invalid {
                what: "nlmsg_len",
                detail: format!("{len} with {have} bytes left"),
            }));
        }
        let msg = Message {
            kind: u16_at(rest, 4),
            flags: u16_at(rest, 6),
            seq: u32_at(rest, 8),
            payload: &rest[NLMSG_HDRLEN..len],
        };
        rest = &rest[align4(len).min(rest.len())..];
        Some(Ok(msg))
    })
}

/// The attributes in `buf` as (type without flag bits, payload).
pub(crate) fn attributes(buf: &[u8]) -> impl Iterator<Item = Result<(u16, &[u8]), DecodeError>> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.len() < NLA_HDRLEN {
            // Trailing padding shorter than a header is not an attribute.
            rest = &[];
            return None;
        }
        let len = u16_at(rest, 0) as usize;
        if len < NLA_HDRLEN || len > rest.len() {
            let have = rest.len();
            rest = &[];
            return Some(Err(DecodeError::Invalid {
                what: "nla_len",
                detail: format!("{len} with {have} bytes left"),
            }));
        }
        let kind = u16_at(rest, 2) & NLA_TYPE_MASK;
        let payload = &rest[NLA_HDRLEN..len];
        rest = &rest[align4(len).min(rest.len())..];
        Some(Ok((kind, payload)))
    })
}

/// The fixed header of `what` at the start of `payload`, and the rest.
pub(crate) fn split_header<'a>(
    payload: &'a [u8],
    len: usize,
    what: &'static str,
) -> Result<(&'a [u8], &'a [u8]), DecodeError> {
    if payload.len() < len {
        return Err(DecodeError::Truncated {
            what,
            need: len,
            have: payload.len(),
        });
    }
    Ok((&payload[..len], &payload[align4(len).min(payload.len())..]))
}

/// An NLMSG_ERROR payload: 0 for an ack, else the kernel's error.
pub(crate) fn parse_ack(msg: &Message<'_>) -> Result<Result<(), KernelError>, DecodeError> {
    let p = msg.payload;
    if p.len() < 4 + NLMSG_HDRLEN {
        return Err(DecodeError::Truncated {
            what: "nlmsgerr",
            need: 4 + NLMSG_HDRLEN,
            have: p.len(),
        });
    }
    let error = i32::from_ne_bytes(p[..4].try_into().expect("4 bytes"));
    if error == 0 {
        return Ok(Ok(()));
    }
    let mut message = None;
    if msg.flags & NLM_F_ACK_TLVS != 0 {
        let echoed = if msg.flags & NLM_F_CAPPED != 0 {
            NLMSG_HDRLEN
        } else {
            u32_at(p, 4) as usize
        };
        let tlvs = p.get(4 + align4(echoed)..).unwrap_or_default();
        for attr in attributes(tlvs) {
            let (kind, value) = attr?;
            if kind == NLMSGERR_ATTR_MSG {
                let text = value.split(|&b| b == 0).next().unwrap_or_default();
                message = Some(String::from_utf8_lossy(text).into_owned());
            }
        }
    }
    Ok(Err(KernelError {
        errno: error.saturating_neg(),
        message,
    }))
}

// ===== field helpers =====

pub(crate) fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

pub(crate) fn attr_u32(what: &'static str, value: &[u8]) -> Result<u32, DecodeError> {
    match value.len() {
        4 => Ok(u32_at(value, 0)),
        n => Err(DecodeError::Invalid {
            what,
            detail: format!("{n} bytes, expected 4"),
        }),
    }
}

pub(crate) fn attr_u16(what: &'static str, value: &[u8]) -> Result<u16, DecodeError> {
    match value.len() {
        2 => Ok(u16_at(value, 0)),
        n => Err(DecodeError::Invalid {
            what,
            detail: format!("{n} bytes, expected 2"),
        }),
    }
}

pub(crate) fn attr_u8(what: &'static str, value: &[u8]) -> Result<u8, DecodeError> {
    match value {
        [b] => Ok(*b),
        _ => Err(DecodeError::Invalid {
            what,
            detail: format!("{} bytes, expected 1", value.len()),
        }),
    }
}

/// An address attribute of the given family.
pub(crate) fn attr_ip(what: &'static str, family: u8, value: &[u8]) -> Result<IpAddr, DecodeError> {
    match (family, value.len()) {
        (AF_INET, 4) => Ok(IpAddr::V4(Ipv4Addr::from(
            <[u8; 4]>::try_from(value).expect("4 bytes"),
        ))),
        (AF_INET6, 16) => Ok(IpAddr::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(value).expect("16 bytes"),
        ))),
        (f, n) => Err(DecodeError::Invalid {
            what,
            detail: format!("{n}-byte address for family {f}"),
        }),
    }
}

/// A 6-byte hardware address; `None` for other lengths (tunnels, none).
pub(crate) fn attr_mac(value: &[u8]) -> Option<[u8; 6]> {
    value.try_into().ok()
}

pub(crate) fn family_of(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_pads_attributes_and_sets_the_length() {
        let mut buf = Vec::new();
        let mut w = MessageWriter::new(&mut buf, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 7);
        w.bytes(&[1, 2, 3]).attr(3, b"lo\0").attr_u32(29, 8);
        w.finish();
        #[rustfmt::skip]
        let want: Vec<u8> = [
            [36u8, 0, 0, 0], [18, 0, 0x01, 0x03], [7, 0, 0, 0], [0, 0, 0, 0], // nlmsghdr
            [1, 2, 3, 0],                                                   // header, padded
            [7, 0, 3, 0], [b'l', b'o', 0, 0],                               // IFLA_IFNAME
            [8, 0, 29, 0], [8, 0, 0, 0],                                    // IFLA_EXT_MASK
        ].concat();
        assert_eq!(buf, want);
    }

    #[test]
    fn messages_and_attributes_walk_a_buffer() {
        let mut buf = Vec::new();
        MessageWriter::new(&mut buf, 16, 0x02, 1)
            .attr(3, b"eth0\0")
            .finish();
        MessageWriter::new(&mut buf, NLMSG_DONE, 0x02, 1)
            .bytes(&0i32.to_ne_bytes())
            .finish();
        let msgs: Vec<_> = messages(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!((msgs[0].kind, msgs[0].seq), (16, 1));
        let attrs: Vec<_> = attributes(msgs[0].payload)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(attrs, vec![(3, &b"eth0\0"[..])]);
        assert_eq!(msgs[1].kind, NLMSG_DONE);
    }

    #[test]
    fn a_bad_length_stops_the_walk() {
        let buf = [200u8, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let got: Vec<_> = messages(&buf).collect();
        assert!(matches!(got.as_slice(), [Err(DecodeError::Invalid { .. })]));
        let attrs: Vec<_> = attributes(&[2, 0, 1, 0]).collect();
        assert!(matches!(
            attrs.as_slice(),
            [Err(DecodeError::Invalid { .. })]
        ));
    }

    #[test]
    fn an_error_with_extended_ack_carries_the_message() {
        // Captured shape: NLMSG_ERROR, flags CAPPED|ACK_TLVS, error -ENODEV,
        // the echoed request header (capped), then NLMSGERR_ATTR_MSG.
        #[rustfmt::skip]
        let buf: Vec<u8> = [
            &[56u8, 0, 0, 0, 2, 0, 0x00, 0x03, 9, 0, 0, 0, 0, 0, 0, 0][..],
            &(-19i32).to_ne_bytes(),
            &[60, 0, 0, 0, 104, 0, 5, 5, 9, 0, 0, 0, 0, 0, 0, 0],
            &[19, 0, 1, 0], b"Invalid device\0\0", // nla_len 19, one byte of padding
        ].concat();
        let msg = messages(&buf).next().unwrap().unwrap();
        assert_eq!(msg.seq, 9);
        let err = parse_ack(&msg).unwrap().unwrap_err();
        assert_eq!(err.errno, libc::ENODEV);
        assert_eq!(err.message.as_deref(), Some("Invalid device"));
        let io: io::Error = err.into();
        assert_eq!(kernel_errno(&io), Some(libc::ENODEV));
        assert!(io.to_string().contains("Invalid device"), "{io}");
    }

    #[test]
    fn an_ack_is_error_zero() {
        let mut buf = Vec::new();
        MessageWriter::new(&mut buf, NLMSG_ERROR, NLM_F_CAPPED, 3)
            .bytes(&0i32.to_ne_bytes())
            .bytes(&[0; 16])
            .finish();
        let msg = messages(&buf).next().unwrap().unwrap();
        assert_eq!(parse_ack(&msg), Ok(Ok(())));
    }
}
