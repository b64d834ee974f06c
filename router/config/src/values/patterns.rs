//! Values of route-policy matches and sets: community patterns with
//! wildcards, extended communities, AS-path length ranges, next-hop
//! networks.

use super::*;

/// One part of a community pattern: a number or `*`.
fn part<T: FromStr>(s: &str, p: &str, max: &str) -> Result<Option<T>, String> {
    if p == "*" {
        return Ok(None);
    }
    p.parse()
        .map(Some)
        .map_err(|_| format!("`{s}`: `{p}` is not `*` or a number from 0 to {max}"))
}

/// A standard community or a pattern of them: `64500:100`, `64500:*`,
/// `*:100`, or a well-known name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CommunityPattern {
    pub asn: Option<u16>,
    pub value: Option<u16>,
}

impl CommunityPattern {
    pub fn matches(&self, c: u32) -> bool {
        self.asn.is_none_or(|a| u32::from(a) == c >> 16)
            && self.value.is_none_or(|v| u32::from(v) == c & 0xFFFF)
    }
}

impl FromStr for CommunityPattern {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if !s.contains('*') {
            let c: Community = s.parse()?;
            return Ok(CommunityPattern {
                asn: Some((c.0 >> 16) as u16),
                value: Some((c.0 & 0xFFFF) as u16),
            });
        }
        let (a, b) = s.split_once(':').ok_or_else(|| {
            format!("`{s}` is not a community pattern; expected 64500:*, *:100 or 64500:100")
        })?;
        Ok(CommunityPattern {
            asn: part(s, a, "65535")?,
            value: part(s, b, "65535")?,
        })
    }
}

impl fmt::Display for CommunityPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.asn, self.value) {
            (Some(a), Some(v)) => Community(u32::from(a) << 16 | u32::from(v)).fmt(f),
            (a, v) => {
                let p = |x: Option<u16>| x.map_or("*".to_string(), |n| n.to_string());
                write!(f, "{}:{}", p(a), p(v))
            }
        }
    }
}
string_value!(
    CommunityPattern,
    "a community like 64500:100, or a pattern like 64500:*"
);

/// A large community or a pattern of them: `64500:1:2`, `64500:*:*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LargeCommunityPattern(pub [Option<u32>; 3]);

impl LargeCommunityPattern {
    pub fn matches(&self, c: (u32, u32, u32)) -> bool {
        let [a, b, d] = self.0;
        a.is_none_or(|x| x == c.0) && b.is_none_or(|x| x == c.1) && d.is_none_or(|x| x == c.2)
    }
}

impl FromStr for LargeCommunityPattern {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let [a, b, c] = parts[..] else {
            return Err(format!(
                "`{s}` is not a large community pattern; expected three parts like 64500:1:2 or 64500:*:*"
            ));
        };
        let max = "4294967295";
        Ok(LargeCommunityPattern([
            part(s, a, max)?,
            part(s, b, max)?,
            part(s, c, max)?,
        ]))
    }
}

impl fmt::Display for LargeCommunityPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = |x: Option<u32>| x.map_or("*".to_string(), |n| n.to_string());
        write!(f, "{}:{}:{}", p(self.0[0]), p(self.0[1]), p(self.0[2]))
    }
}
string_value!(
    LargeCommunityPattern,
    "a large community like 64500:1:2, or a pattern like 64500:*:*"
);

/// An extended community (RFC 4360) in the form operators write:
/// `target:ASN:N` or `origin:ASN:N` (2- or 4-octet ASN), or with an IPv4
/// address for the ASN (`target:192.0.2.1:7`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExtCommunity(pub [u8; 8]);

impl ExtCommunity {
    /// `c` as written here, if it is a route target or origin of one of
    /// the three kinds (2- or 4-octet AS, IPv4 address), the transitive
    /// bit of its type aside; `None` for any other extended community.
    pub fn known(mut c: [u8; 8]) -> Option<ExtCommunity> {
        c[0] &= !0x40;
        (matches!(c[1], 0x02 | 0x03) && c[0] <= 0x02).then_some(ExtCommunity(c))
    }
}

impl FromStr for ExtCommunity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!(
                "`{s}` is not an extended community ({why}); expected target:64500:10 or origin:192.0.2.1:7"
            )
        };
        let mut it = s.splitn(3, ':');
        let (Some(kind), Some(admin), Some(n)) = (it.next(), it.next(), it.next()) else {
            return Err(bad("three parts"));
        };
        let sub = match kind {
            "target" => 0x02,
            "origin" => 0x03,
            _ => return Err(bad("target or origin")),
        };
        let mut b = [0u8; 8];
        b[1] = sub;
        if let Ok(ip) = admin.parse::<std::net::Ipv4Addr>() {
            let n: u16 = n
                .parse()
                .map_err(|_| bad("the number after an address is 0 to 65535"))?;
            b[0] = 0x01;
            b[2..6].copy_from_slice(&ip.octets());
            b[6..].copy_from_slice(&n.to_be_bytes());
        } else {
            let asn: u32 = admin
                .parse()
                .map_err(|_| bad("an ASN or an IPv4 address"))?;
            if let Ok(asn) = u16::try_from(asn) {
                let n: u32 = n.parse().map_err(|_| bad("a number"))?;
                b[2..4].copy_from_slice(&asn.to_be_bytes());
                b[4..].copy_from_slice(&n.to_be_bytes());
            } else {
                let n: u16 = n
                    .parse()
                    .map_err(|_| bad("after a 4-octet ASN, 0 to 65535"))?;
                b[0] = 0x02;
                b[2..6].copy_from_slice(&asn.to_be_bytes());
                b[6..].copy_from_slice(&n.to_be_bytes());
            }
        }
        Ok(ExtCommunity(b))
    }
}

impl fmt::Display for ExtCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        let kind = if b[1] == 0x02 { "target" } else { "origin" };
        let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        match b[0] {
            0x01 => write!(
                f,
                "{kind}:{}:{}",
                std::net::Ipv4Addr::from(u32_at(2)),
                u16_at(6)
            ),
            0x02 => write!(f, "{kind}:{}:{}", u32_at(2), u16_at(6)),
            _ => write!(f, "{kind}:{}:{}", u16_at(2), u32_at(4)),
        }
    }
}
string_value!(ExtCommunity, "an extended community like target:64500:10");

/// An extended community or a pattern of them: `target:64500:10`,
/// `target:64500:*`, `origin:*:7`. Route targets and origins only, the
/// kinds [`ExtCommunity`] writes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExtCommunityPattern {
    /// `target` or `origin`.
    pub kind: String,
    pub admin: Option<String>,
    pub value: Option<String>,
}

impl ExtCommunityPattern {
    /// Whether the 8 octets of an extended community match.
    pub fn matches(&self, c: [u8; 8]) -> bool {
        let Some(c) = ExtCommunity::known(c) else {
            return false;
        };
        let text = c.to_string();
        let mut parts = text.splitn(3, ':');
        let part = |want: &Option<String>, got: Option<&str>| {
            want.as_deref().is_none_or(|w| Some(w) == got)
        };
        parts.next() == Some(self.kind.as_str())
            && part(&self.admin, parts.next())
            && part(&self.value, parts.next())
    }
}

impl FromStr for ExtCommunityPattern {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if !s.contains('*') {
            // Checked (and written back the way it will be compared).
            let e: ExtCommunity = s.parse()?;
            let text = e.to_string();
            let mut p = text.splitn(3, ':').map(str::to_owned);
            return Ok(ExtCommunityPattern {
                kind: p.next().unwrap_or_default(),
                admin: p.next(),
                value: p.next(),
            });
        }
        let bad = || {
            format!(
                "`{s}` is not an extended community pattern; expected target:64500:* or origin:*:7"
            )
        };
        let mut it = s.splitn(3, ':');
        let (Some(kind), Some(admin), Some(value)) = (it.next(), it.next(), it.next()) else {
            return Err(bad());
        };
        if !["target", "origin"].contains(&kind) {
            return Err(bad());
        }
        let part = |p: &str, ok: bool| -> Result<Option<String>, String> {
            match p {
                "*" => Ok(None),
                _ if ok => Ok(Some(p.to_owned())),
                _ => Err(bad()),
            }
        };
        let admin_ok = admin.parse::<u32>().is_ok() || admin.parse::<std::net::Ipv4Addr>().is_ok();
        Ok(ExtCommunityPattern {
            kind: kind.to_owned(),
            admin: part(admin, admin_ok)?,
            value: part(value, value.parse::<u32>().is_ok())?,
        })
    }
}

impl fmt::Display for ExtCommunityPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = |x: &Option<String>| x.clone().unwrap_or_else(|| "*".into());
        write!(f, "{}:{}:{}", self.kind, p(&self.admin), p(&self.value))
    }
}
string_value!(
    ExtCommunityPattern,
    "an extended community like target:64500:10, or a pattern like target:64500:*"
);

/// An inclusive range of AS-path lengths: `3` (exactly), `2-4`, `6-` (at
/// least) or `-2` (at most). Lengths count as best-path selection does
/// (an AS_SET counts one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LengthRange {
    pub min: u32,
    pub max: u32,
}

impl LengthRange {
    pub fn contains(&self, n: u32) -> bool {
        (self.min..=self.max).contains(&n)
    }
}

impl FromStr for LengthRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a length range; expected 3, 2-4, 6- or -2");
        let n = |p: &str, default: u32| {
            if p.is_empty() {
                Ok(default)
            } else {
                p.trim().parse::<u32>().map_err(|_| bad())
            }
        };
        let (min, max) = match s.split_once('-') {
            Some((a, b)) if !(a.is_empty() && b.is_empty()) => (n(a, 0)?, n(b, u32::MAX)?),
            Some(_) => return Err(bad()),
            None => {
                let v = n(s, 0)?;
                (v, v)
            }
        };
        if min > max {
            return Err(format!("`{s}`: the range is empty ({min} > {max})"));
        }
        Ok(LengthRange { min, max })
    }
}

impl fmt::Display for LengthRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.min, self.max) {
            (a, b) if a == b => write!(f, "{a}"),
            (a, u32::MAX) => write!(f, "{a}-"),
            (a, b) => write!(f, "{a}-{b}"),
        }
    }
}

impl<'de> Deserialize<'de> for LengthRange {
    /// A number, or a range as a string.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LengthRange;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an AS-path length like 3, or a range like \"2-4\", \"6-\" or \"-2\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LengthRange, E> {
                let v = u32::try_from(v).map_err(|_| E::custom("too long an AS path"))?;
                Ok(LengthRange { min: v, max: v })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LengthRange, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom("a length cannot be negative"))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<LengthRange, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for LengthRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A next hop to match: an address, or a network holding it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NextHopMatch(pub IpNet);

impl FromStr for NextHopMatch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Ok(a) = s.parse::<IpAddr>() {
            return Ok(NextHopMatch(IpNet::from(a)));
        }
        let p: Prefix = s.parse()?;
        Ok(NextHopMatch(p.0))
    }
}

impl fmt::Display for NextHopMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.prefix_len() == self.0.max_prefix_len() {
            self.0.addr().fmt(f)
        } else {
            self.0.fmt(f)
        }
    }
}
string_value!(
    NextHopMatch,
    "a next hop like 203.0.113.1, or a prefix holding it"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn community_patterns() {
        let p: CommunityPattern = "65001:*".parse().unwrap();
        assert!(p.matches(65001 << 16 | 7) && !p.matches(65002 << 16 | 7));
        let p: CommunityPattern = "*:100".parse().unwrap();
        assert!(p.matches(1 << 16 | 100) && !p.matches(1 << 16 | 101));
        let p: CommunityPattern = "no-export".parse().unwrap();
        assert!(p.matches(0xFFFF_FF01));
        assert_eq!(p.to_string(), "no-export");
        assert!("65001:x".parse::<CommunityPattern>().is_err());
        assert!("70000:*".parse::<CommunityPattern>().is_err());
        let l: LargeCommunityPattern = "65001:*:2".parse().unwrap();
        assert!(l.matches((65001, 9, 2)) && !l.matches((65001, 9, 3)));
        assert_eq!(l.to_string(), "65001:*:2");
        assert!("1:2".parse::<LargeCommunityPattern>().is_err());
    }

    #[test]
    fn extended_communities_round_trip() {
        for s in ["target:65001:10", "origin:192.0.2.1:7", "target:200000:1"] {
            let e: ExtCommunity = s.parse().unwrap();
            assert_eq!(e.to_string(), s);
        }
        let e: ExtCommunity = "target:65001:10".parse().unwrap();
        assert_eq!(e.0, [0, 2, 0xfd, 0xe9, 0, 0, 0, 10]);
        for bad in [
            "rt:1:2",
            "target:1",
            "target:x:1",
            "target:200000:70000",
            "origin:192.0.2.1:70000",
        ] {
            assert!(bad.parse::<ExtCommunity>().is_err(), "{bad}");
        }
    }

    #[test]
    fn extended_community_patterns() {
        let rt = |s: &str| s.parse::<ExtCommunity>().unwrap().0;
        let p: ExtCommunityPattern = "target:65001:*".parse().unwrap();
        assert!(p.matches(rt("target:65001:10")) && !p.matches(rt("origin:65001:10")));
        assert!(!p.matches(rt("target:65002:10")));
        let mut non_transitive = rt("target:65001:7");
        non_transitive[0] |= 0x40;
        assert!(p.matches(non_transitive));
        let p: ExtCommunityPattern = "origin:*:7".parse().unwrap();
        assert!(p.matches(rt("origin:192.0.2.1:7")) && p.matches(rt("origin:200000:7")));
        let exact: ExtCommunityPattern = "target:65001:10".parse().unwrap();
        assert!(exact.matches(rt("target:65001:10")) && !exact.matches(rt("target:65001:11")));
        assert_eq!(exact.to_string(), "target:65001:10");
        assert!(
            !exact.matches([0x03, 0x0c, 0, 0, 0, 0, 0, 1]),
            "other kinds never match"
        );
        for bad in ["rt:*:1", "target:x:*", "target:*:y", "target:*"] {
            assert!(bad.parse::<ExtCommunityPattern>().is_err(), "{bad}");
        }
    }

    #[test]
    fn length_ranges() {
        let r = |s: &str| s.parse::<LengthRange>().map(|r| (r.min, r.max));
        assert_eq!(r("3"), Ok((3, 3)));
        assert_eq!(r("2-4"), Ok((2, 4)));
        assert_eq!(r("6-"), Ok((6, u32::MAX)));
        assert_eq!(r("-2"), Ok((0, 2)));
        assert!(r("-").is_err() && r("4-2").is_err() && r("a").is_err());
        assert_eq!("6-".parse::<LengthRange>().unwrap().to_string(), "6-");
        let n: NextHopMatch = "203.0.113.1".parse().unwrap();
        assert_eq!(n.0.prefix_len(), 32);
        assert!(
            "203.0.113.1/24".parse::<NextHopMatch>().is_err(),
            "host bits"
        );
    }
}
