//! Prefixes in NLRI encoding: a length octet, then just enough octets.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::iana::{AFI_IPV4, AFI_IPV6};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Afi {
    Ipv4,
    Ipv6,
}

impl Afi {
    pub fn from_code(code: u16) -> Option<Afi> {
        match code {
            AFI_IPV4 => Some(Afi::Ipv4),
            AFI_IPV6 => Some(Afi::Ipv6),
            _ => None,
        }
    }
    pub fn code(self) -> u16 {
        match self {
            Afi::Ipv4 => AFI_IPV4,
            Afi::Ipv6 => AFI_IPV6,
        }
    }
    fn max_len(self) -> u8 {
        match self {
            Afi::Ipv4 => 32,
            Afi::Ipv6 => 128,
        }
    }
}

/// A route's destination. Host bits are always zero.
pub type Prefix = IpNet;

/// Iterates over the prefixes of an NLRI field. Check the field with
/// [`validate`] first; the iterator stops at the first malformed entry.
#[derive(Clone, Debug)]
pub struct Prefixes<'a> {
    afi: Afi,
    rest: &'a [u8],
}

impl<'a> Prefixes<'a> {
    pub fn new(afi: Afi, field: &'a [u8]) -> Prefixes<'a> {
        Prefixes { afi, rest: field }
    }
}

impl Iterator for Prefixes<'_> {
    type Item = Prefix;

    fn next(&mut self) -> Option<Prefix> {
        let (&len, rest) = self.rest.split_first()?;
        if len > self.afi.max_len() {
            self.rest = &[];
            return None;
        }
        let n = usize::from(len).div_ceil(8);
        let Some(bytes) = rest.get(..n) else {
            self.rest = &[];
            return None;
        };
        self.rest = &rest[n..];
        Some(match self.afi {
            Afi::Ipv4 => {
                let mut a = [0u8; 4];
                a[..n].copy_from_slice(bytes);
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                let addr = Ipv4Addr::from(u32::from_be_bytes(a) & mask);
                IpNet::V4(Ipv4Net::new_assert(addr, len))
            }
            Afi::Ipv6 => {
                let mut a = [0u8; 16];
                a[..n].copy_from_slice(bytes);
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                let addr = Ipv6Addr::from(u128::from_be_bytes(a) & mask);
                IpNet::V6(Ipv6Net::new_assert(addr, len))
            }
        })
    }
}

/// Whether `field` is a well-formed sequence of prefixes of `afi`, and how many.
pub fn validate(afi: Afi, mut field: &[u8]) -> Option<usize> {
    let mut count = 0;
    while let Some((&len, rest)) = field.split_first() {
        if len > afi.max_len() {
            return None;
        }
        field = rest.get(usize::from(len).div_ceil(8)..)?;
        count += 1;
    }
    Some(count)
}

/// Appends `prefix` in NLRI encoding.
pub fn encode(prefix: &Prefix, out: &mut Vec<u8>) {
    let len = prefix.prefix_len();
    out.push(len);
    let n = usize::from(len).div_ceil(8);
    match prefix {
        IpNet::V4(p) => out.extend_from_slice(&p.network().octets()[..n]),
        IpNet::V6(p) => out.extend_from_slice(&p.network().octets()[..n]),
    }
}

pub fn afi_of(prefix: &Prefix) -> Afi {
    match prefix {
        IpNet::V4(_) => Afi::Ipv4,
        IpNet::V6(_) => Afi::Ipv6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_and_encode() {
        let field = [24, 198, 51, 100, 0, 32, 10, 0, 0, 1, 17, 10, 1, 0xff];
        assert_eq!(validate(Afi::Ipv4, &field), Some(4));
        let got: Vec<String> = Prefixes::new(Afi::Ipv4, &field)
            .map(|p| p.to_string())
            .collect();
        // Trailing bits beyond the length are ignored (masked).
        assert_eq!(
            got,
            [
                "198.51.100.0/24",
                "0.0.0.0/0",
                "10.0.0.1/32",
                "10.1.128.0/17"
            ]
        );
        let mut out = Vec::new();
        for p in Prefixes::new(Afi::Ipv4, &field) {
            encode(&p, &mut out);
        }
        assert_eq!(out, [24, 198, 51, 100, 0, 32, 10, 0, 0, 1, 17, 10, 1, 0x80]);
    }

    #[test]
    fn malformed_fields() {
        assert_eq!(validate(Afi::Ipv4, &[33, 1, 2, 3, 4, 5]), None);
        assert_eq!(validate(Afi::Ipv4, &[24, 1, 2]), None);
        assert_eq!(validate(Afi::Ipv6, &[129]), None);
        assert_eq!(
            validate(Afi::Ipv6, &[64, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1]),
            Some(1)
        );
    }
}
