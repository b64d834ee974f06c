//! Echo requests as whole Ethernet frames, and echo replies as raw sockets
//! deliver them (ICMP: with the IPv4 header; ICMPv6: without). Pure byte
//! work (RFC 792, RFC 4443, RFC 1071 checksums).

use std::net::{IpAddr, Ipv4Addr};

/// Bytes of echo payload after the ICMP header.
pub const PAYLOAD: usize = 56;

const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ICMP_ECHO: u8 = 8;
const ICMP_ECHO_REPLY: u8 = 0;
const ICMP6_ECHO: u8 = 128;
const ICMP6_ECHO_REPLY: u8 = 129;

/// One echo request, addressed at layer 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Echo {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src: IpAddr,
    pub dst: IpAddr,
    pub id: u16,
    pub seq: u16,
}

/// The Ethernet frame of `echo`; None if the addresses' families differ.
pub fn frame(echo: &Echo) -> Option<Vec<u8>> {
    let mut icmp = vec![0u8; 8 + PAYLOAD];
    icmp[4..6].copy_from_slice(&echo.id.to_be_bytes());
    icmp[6..8].copy_from_slice(&echo.seq.to_be_bytes());
    for (i, b) in icmp[8..].iter_mut().enumerate() {
        *b = i as u8;
    }
    let mut out = Vec::with_capacity(14 + 40 + icmp.len());
    out.extend_from_slice(&echo.dst_mac);
    out.extend_from_slice(&echo.src_mac);
    match (echo.src, echo.dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            icmp[0] = ICMP_ECHO;
            let sum = checksum(&[&icmp]);
            icmp[2..4].copy_from_slice(&sum.to_be_bytes());
            out.extend_from_slice(&ETH_P_IP.to_be_bytes());
            out.extend_from_slice(&ipv4_header(src, dst, icmp.len()));
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            icmp[0] = ICMP6_ECHO;
            let len = (icmp.len() as u32).to_be_bytes();
            let sum = checksum(&[&src.octets(), &dst.octets(), &len, &[0, 0, 0, 58], &icmp]);
            icmp[2..4].copy_from_slice(&sum.to_be_bytes());
            out.extend_from_slice(&ETH_P_IPV6.to_be_bytes());
            out.extend_from_slice(&[0x60, 0, 0, 0]);
            out.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
            out.extend_from_slice(&[58, 64]);
            out.extend_from_slice(&src.octets());
            out.extend_from_slice(&dst.octets());
        }
        _ => return None,
    }
    out.extend_from_slice(&icmp);
    Some(out)
}

fn ipv4_header(src: Ipv4Addr, dst: Ipv4Addr, payload: usize) -> [u8; 20] {
    let mut h = [0u8; 20];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&((20 + payload) as u16).to_be_bytes());
    h[8] = 64; // TTL
    h[9] = 1; // ICMP
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let sum = checksum(&[&h]);
    h[10..12].copy_from_slice(&sum.to_be_bytes());
    h
}

/// The Internet checksum over the concatenation of `parts` (each of even
/// length but the last).
pub fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for part in parts {
        let mut chunks = part.chunks_exact(2);
        for c in &mut chunks {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u32::from(*last) << 8;
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo reply's (id, seq), from what a raw ICMP socket delivers: the
/// IPv4 packet, header included.
pub fn reply_v4(packet: &[u8]) -> Option<(Ipv4Addr, u16, u16)> {
    let ihl = usize::from(packet.first()? & 0x0f) * 4;
    if packet.get(9) != Some(&1) || ihl < 20 {
        return None;
    }
    let src = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
    let icmp = packet.get(ihl..)?;
    (icmp.len() >= 8 && icmp[0] == ICMP_ECHO_REPLY).then(|| {
        (
            src,
            u16::from_be_bytes([icmp[4], icmp[5]]),
            u16::from_be_bytes([icmp[6], icmp[7]]),
        )
    })
}

/// An echo reply's (id, seq), from what a raw ICMPv6 socket delivers: the
/// ICMPv6 message alone.
pub fn reply_v6(icmp: &[u8]) -> Option<(u16, u16)> {
    (icmp.len() >= 8 && icmp[0] == ICMP6_ECHO_REPLY).then(|| {
        (
            u16::from_be_bytes([icmp[4], icmp[5]]),
            u16::from_be_bytes([icmp[6], icmp[7]]),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo(src: &str, dst: &str) -> Echo {
        Echo {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            id: 0x1234,
            seq: 7,
        }
    }

    #[test]
    fn ipv4_echo_checksums_verify() {
        let f = frame(&echo("203.0.113.2", "198.18.0.53")).unwrap();
        assert_eq!(f.len(), 14 + 20 + 8 + PAYLOAD);
        assert_eq!(&f[12..14], &[0x08, 0x00]);
        let ip = &f[14..34];
        assert_eq!(checksum(&[ip]), 0, "IPv4 header checksum");
        assert_eq!(checksum(&[&f[34..]]), 0, "ICMP checksum");
        assert_eq!(&ip[16..20], &[198, 18, 0, 53]);
        // As a reply comes back: type 0, same id and sequence.
        let mut reply = f[14..].to_vec();
        reply[20] = 0;
        assert_eq!(
            reply_v4(&reply),
            Some((Ipv4Addr::new(203, 0, 113, 2), 0x1234, 7))
        );
        assert_eq!(reply_v4(&f[14..]), None, "a request is no reply");
    }

    #[test]
    fn ipv6_echo_checksum_covers_the_pseudo_header() {
        let e = echo("2001:db8::2", "2001:db8:1::53");
        let f = frame(&e).unwrap();
        assert_eq!(&f[12..14], &[0x86, 0xdd]);
        let icmp = &f[54..];
        let (IpAddr::V6(s), IpAddr::V6(d)) = (e.src, e.dst) else {
            unreachable!()
        };
        let len = (icmp.len() as u32).to_be_bytes();
        assert_eq!(
            checksum(&[&s.octets(), &d.octets(), &len, &[0, 0, 0, 58], icmp]),
            0
        );
        let mut reply = icmp.to_vec();
        reply[0] = 129;
        assert_eq!(reply_v6(&reply), Some((0x1234, 7)));
        assert!(frame(&echo("203.0.113.2", "2001:db8::1")).is_none());
    }
}
