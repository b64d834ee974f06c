//! Interface addresses: `struct ifaddrmsg` and its IFA_* attributes,
//! rtnetlink(7). Sans-IO.

use std::net::IpAddr;

use crate::codec::{
    self, AF_INET, AF_INET6, AF_UNSPEC, DecodeError, MessageWriter, NLM_F_DUMP, NLM_F_REQUEST,
    RTM_GETADDR, attributes, split_header,
};

const IFADDRMSG_LEN: usize = 8;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;

/// An address configured on an interface of the namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Address {
    /// Interface the address is on.
    pub ifindex: u32,
    /// The interface's own address (not the peer of a point-to-point link).
    pub addr: IpAddr,
    /// Prefix length (`ifa_prefixlen`): `addr/prefix_len` is the connected
    /// subnet, or the peer's prefix on a point-to-point link.
    pub prefix_len: u8,
}

/// RTM_GETADDR dump of IPv4 and IPv6 addresses. Strict checking wants
/// every `ifaddrmsg` field zero (an index would filter; we want all).
pub(crate) fn encode_dump(buf: &mut Vec<u8>, seq: u32) {
    let mut h = [0u8; IFADDRMSG_LEN];
    h[0] = AF_UNSPEC;
    MessageWriter::new(buf, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq)
        .bytes(&h)
        .finish();
}

/// An RTM_NEWADDR/RTM_DELADDR payload; `None` for families other than
/// IPv4/IPv6 (e.g. MCTP) and messages carrying no address.
///
/// The own address is IFA_LOCAL when present, else IFA_ADDRESS. IPv4
/// sends both, IFA_ADDRESS being the peer on point-to-point links; IPv6
/// sends only IFA_ADDRESS unless a peer is set, and then IFA_LOCAL is its
/// own and IFA_ADDRESS the peer. One rule covers both.
pub(crate) fn parse(payload: &[u8]) -> Result<Option<Address>, DecodeError> {
    let (h, attrs) = split_header(payload, IFADDRMSG_LEN, "ifaddrmsg")?;
    let family = h[0];
    if family != AF_INET && family != AF_INET6 {
        return Ok(None);
    }
    let (mut address, mut local) = (None, None);
    for attr in attributes(attrs) {
        let (kind, value) = attr?;
        match kind {
            IFA_ADDRESS => address = Some(codec::attr_ip("IFA_ADDRESS", family, value)?),
            IFA_LOCAL => local = Some(codec::attr_ip("IFA_LOCAL", family, value)?),
            _ => {}
        }
    }
    Ok(local.or(address).map(|addr| Address {
        ifindex: codec::u32_at(h, 4),
        addr,
        prefix_len: h[1],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn ip6(s: &str) -> [u8; 16] {
        s.parse::<std::net::Ipv6Addr>().unwrap().octets()
    }

    #[test]
    fn dump_request_bytes() {
        let mut buf = Vec::new();
        encode_dump(&mut buf, 0x0102_0304);
        #[rustfmt::skip]
        let want: Vec<u8> = [
            [24u8, 0, 0, 0], [22, 0, 0x01, 0x03], [4, 3, 2, 1], [0, 0, 0, 0],
            [0, 0, 0, 0], [0, 0, 0, 0], // ifaddrmsg: AF_UNSPEC, all zero
        ].concat();
        assert_eq!(buf, want);
    }

    /// `ip addr add 10.9.0.1/24 dev eth1` (ifindex 5) as the kernel
    /// announces it: IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_FLAGS,
    /// IFA_CACHEINFO.
    #[test]
    fn parses_ipv4() {
        #[rustfmt::skip]
        let payload: Vec<u8> = [
            &[2u8, 24, 0x80, 0, 5, 0, 0, 0][..],      // AF_INET, /24, PERMANENT, universe
            &[8, 0, 1, 0, 10, 9, 0, 1],               // IFA_ADDRESS
            &[8, 0, 2, 0, 10, 9, 0, 1],               // IFA_LOCAL
            &[9, 0, 3, 0], b"eth1\0", &[0, 0, 0],     // IFA_LABEL
            &[8, 0, 8, 0, 0x80, 0, 0, 0],             // IFA_FLAGS
            &[20, 0, 6, 0], &[0xff; 8], &[0; 8],      // IFA_CACHEINFO
        ].concat();
        assert_eq!(
            parse(&payload),
            Ok(Some(Address {
                ifindex: 5,
                addr: ip("10.9.0.1"),
                prefix_len: 24,
            }))
        );
    }

    /// `ip addr add 10.0.0.1 peer 10.0.0.2/32`: IFA_ADDRESS is the peer,
    /// IFA_LOCAL ours, whichever comes first; without IFA_LOCAL,
    /// IFA_ADDRESS is ours.
    #[test]
    fn ipv4_prefers_local_over_the_peer() {
        let h = [2u8, 32, 0x80, 0, 5, 0, 0, 0];
        let address = [8u8, 0, 1, 0, 10, 0, 0, 2];
        let local = [8u8, 0, 2, 0, 10, 0, 0, 1];
        for payload in [
            [&h[..], &address, &local].concat(),
            [&h[..], &local, &address].concat(),
        ] {
            let a = parse(&payload).unwrap().unwrap();
            assert_eq!((a.addr, a.prefix_len), (ip("10.0.0.1"), 32));
        }
        let only_address = [&h[..], &address].concat();
        assert_eq!(parse(&only_address).unwrap().unwrap().addr, ip("10.0.0.2"));
    }

    /// `ip addr add fd09::1/64 dev eth1 nodad` (ifindex 5): only
    /// IFA_ADDRESS; with a peer, IFA_LOCAL is ours and IFA_ADDRESS the peer.
    #[test]
    fn parses_ipv6() {
        #[rustfmt::skip]
        let payload: Vec<u8> = [
            &[10u8, 64, 0x82, 0, 5, 0, 0, 0][..],     // AF_INET6, /64, NODAD|PERMANENT
            &[20, 0, 1, 0], &ip6("fd09::1"),          // IFA_ADDRESS
            &[20, 0, 6, 0], &[0xff; 8], &[0; 8],      // IFA_CACHEINFO
            &[8, 0, 8, 0, 0x82, 0, 0, 0],             // IFA_FLAGS
        ].concat();
        assert_eq!(
            parse(&payload),
            Ok(Some(Address {
                ifindex: 5,
                addr: ip("fd09::1"),
                prefix_len: 64,
            }))
        );
        #[rustfmt::skip]
        let peer: Vec<u8> = [
            &[10u8, 128, 0x80, 0, 5, 0, 0, 0][..],
            &[20, 0, 2, 0], &ip6("fd00::1"),          // IFA_LOCAL
            &[20, 0, 1, 0], &ip6("fd00::2"),          // IFA_ADDRESS: the peer
        ].concat();
        assert_eq!(parse(&peer).unwrap().unwrap().addr, ip("fd00::1"));
    }

    #[test]
    fn other_families_bad_lengths_and_truncation() {
        let mctp = [45u8, 0, 0, 0, 5, 0, 0, 0, 5, 0, 2, 0, 8, 0, 0, 0];
        assert_eq!(parse(&mctp), Ok(None));
        let no_address = [2u8, 24, 0, 0, 5, 0, 0, 0];
        assert_eq!(parse(&no_address), Ok(None));
        // A 16-byte address in an IPv4 message.
        let wrong = [&[2u8, 24, 0, 0, 5, 0, 0, 0][..], &[20, 0, 2, 0], &[0; 16]].concat();
        assert!(matches!(
            parse(&wrong),
            Err(DecodeError::Invalid {
                what: "IFA_LOCAL",
                ..
            })
        ));
        assert!(matches!(
            parse(&[2, 24, 0, 0]),
            Err(DecodeError::Truncated {
                what: "ifaddrmsg",
                ..
            })
        ));
    }
}
