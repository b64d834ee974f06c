//! Scalar value types of the config, each parsed from its YAML string form.
//!
//! They parse with `FromStr`, so the same code serves YAML, the CLI and tests,
//! and their error text says what a correct value looks like.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration as StdDuration;

use ipnet::IpNet;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Implements `Deserialize` (from a YAML string) and `Serialize` (to its
/// `Display` form) for a type with `FromStr<Err = String>`.
macro_rules! string_value {
    ($ty:ty, $expecting:literal) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, s: &str) -> Result<$ty, E> {
                        s.parse().map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

/// A route prefix: a network address with no host bits set (`198.51.100.0/24`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix(pub IpNet);

impl FromStr for Prefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let net: IpNet = s.parse().map_err(|_| {
            format!("`{s}` is not a prefix; expected one like 198.51.100.0/24 or 2001:db8::/32")
        })?;
        if net.trunc() != net {
            return Err(format!(
                "`{s}` has host bits set; the prefix is {}",
                net.trunc()
            ));
        }
        Ok(Prefix(net))
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
string_value!(Prefix, "a prefix like 198.51.100.0/24");

/// An interface address with its subnet length (`203.0.113.2/30`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IfAddr(pub IpNet);

impl IfAddr {
    pub fn addr(&self) -> IpAddr {
        self.0.addr()
    }
    pub fn subnet(&self) -> IpNet {
        self.0.trunc()
    }
}

impl FromStr for IfAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.parse().map(IfAddr).map_err(|_| {
            format!(
                "`{s}` is not an interface address; expected address/length like 203.0.113.2/30"
            )
        })
    }
}

impl fmt::Display for IfAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
string_value!(IfAddr, "an interface address like 203.0.113.2/30");

/// A duration written with units: `500ms`, `30s`, `5m`, `1h30m`, `2d`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub StdDuration);

impl Duration {
    pub const fn secs(s: u64) -> Self {
        Duration(StdDuration::from_secs(s))
    }
}

impl FromStr for Duration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{s}` is not a duration; expected a number with a unit, like 500ms, 30s, 5m, 1h30m"
            )
        };
        let mut rest = s.trim();
        if rest.is_empty() {
            return Err(bad());
        }
        let mut total = StdDuration::ZERO;
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
            if digits == 0 {
                return Err(bad());
            }
            let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit = match &rest[..unit_len] {
                "ms" => StdDuration::from_millis(n),
                "s" => StdDuration::from_secs(n),
                "m" => StdDuration::from_secs(n.saturating_mul(60)),
                "h" => StdDuration::from_secs(n.saturating_mul(3600)),
                "d" => StdDuration::from_secs(n.saturating_mul(86400)),
                _ => return Err(bad()),
            };
            total = total.saturating_add(unit);
            rest = &rest[unit_len..];
        }
        Ok(Duration(total))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if !ms.is_multiple_of(1000) {
            return write!(f, "{ms}ms");
        }
        let mut s = self.0.as_secs();
        if s == 0 {
            return f.write_str("0s");
        }
        for (unit, len) in [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)] {
            if s >= len {
                write!(f, "{}{unit}", s / len)?;
                s %= len;
            }
        }
        Ok(())
    }
}
string_value!(Duration, "a duration like 30s or 5m");

/// A standard community (RFC 1997): `ASN:VALUE`, or a well-known name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Community(pub u32);

impl Community {
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xFFFF_0000);
    const NAMES: [(&'static str, u32); 5] = [
        ("graceful-shutdown", 0xFFFF_0000),
        ("blackhole", 0xFFFF_029A),
        ("no-export", 0xFFFF_FF01),
        ("no-advertise", 0xFFFF_FF02),
        ("no-export-subconfed", 0xFFFF_FF03),
    ];
}

impl FromStr for Community {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some((_, v)) = Self::NAMES.iter().find(|(n, _)| *n == s) {
            return Ok(Community(*v));
        }
        let (a, b) = s.split_once(':').ok_or_else(|| {
            format!("`{s}` is not a community; expected ASN:VALUE like 64500:100, or no-export, graceful-shutdown…")
        })?;
        let part = |p: &str| {
            p.parse::<u16>()
                .map_err(|_| format!("`{s}`: `{p}` is not a number from 0 to 65535"))
        };
        Ok(Community(u32::from(part(a)?) << 16 | u32::from(part(b)?)))
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Self::NAMES.iter().find(|(_, v)| *v == self.0) {
            Some((name, _)) => f.write_str(name),
            None => write!(f, "{}:{}", self.0 >> 16, self.0 & 0xFFFF),
        }
    }
}
string_value!(Community, "a community like 64500:100");

/// A large community (RFC 8092): `GLOBAL:LOCAL1:LOCAL2`, each a 32-bit number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LargeCommunity(pub u32, pub u32, pub u32);

impl FromStr for LargeCommunity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let bad =
            || format!("`{s}` is not a large community; expected three numbers like 64500:1:2");
        if parts.len() != 3 {
            return Err(bad());
        }
        let n = |p: &str| p.parse::<u32>().map_err(|_| bad());
        Ok(LargeCommunity(n(parts[0])?, n(parts[1])?, n(parts[2])?))
    }
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.0, self.1, self.2)
    }
}
string_value!(LargeCommunity, "a large community like 64500:1:2");

/// What an `import:` or `export:` key names: a built-in policy or a
/// `policies.route_policies` entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PolicyRef {
    /// Accept every route (import from a transit) or the whole table (export to a neighbour).
    FullTable,
    /// Only the default route.
    DefaultOnly,
    /// Only what this router originates (`announce`): the default for exports.
    Announce,
    Named(String),
}

impl PolicyRef {
    pub const BUILTIN: [&'static str; 3] = ["full-table", "default-only", "announce"];

    pub fn name(&self) -> &str {
        match self {
            PolicyRef::FullTable => "full-table",
            PolicyRef::DefaultOnly => "default-only",
            PolicyRef::Announce => "announce",
            PolicyRef::Named(n) => n,
        }
    }
}

impl FromStr for PolicyRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "full-table" => PolicyRef::FullTable,
            "default-only" => PolicyRef::DefaultOnly,
            "announce" => PolicyRef::Announce,
            "" => return Err("a policy name cannot be empty".into()),
            _ => PolicyRef::Named(s.to_string()),
        })
    }
}

impl fmt::Display for PolicyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
string_value!(
    PolicyRef,
    "a policy name: full-table, default-only, announce or a route_policies entry"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        for (text, secs_ms) in [
            ("500ms", 500),
            ("30s", 30_000),
            ("5m", 300_000),
            ("1h30m", 5_400_000),
            ("2d", 172_800_000),
        ] {
            let d: Duration = text.parse().unwrap();
            assert_eq!(d.0.as_millis(), secs_ms, "{text}");
            assert_eq!(d.to_string(), text);
        }
        for bad in ["", "30", "s", "5 m", "1x", "-3s", "1.5s"] {
            assert!(bad.parse::<Duration>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn prefixes_reject_host_bits() {
        assert_eq!(
            "198.51.100.0/24".parse::<Prefix>().unwrap().to_string(),
            "198.51.100.0/24"
        );
        assert!("2001:db8::/32".parse::<Prefix>().is_ok());
        let err = "198.51.100.7/24".parse::<Prefix>().unwrap_err();
        assert!(err.contains("198.51.100.0/24"), "{err}");
        assert!("198.51.100.0".parse::<Prefix>().is_err());
    }

    #[test]
    fn communities() {
        assert_eq!(
            "64500:100".parse::<Community>().unwrap(),
            Community(64500 << 16 | 100)
        );
        assert_eq!(
            "graceful-shutdown".parse::<Community>().unwrap(),
            Community::GRACEFUL_SHUTDOWN
        );
        assert_eq!(
            Community::GRACEFUL_SHUTDOWN.to_string(),
            "graceful-shutdown"
        );
        assert!("70000:1".parse::<Community>().is_err());
        assert_eq!(
            "1:2:3".parse::<LargeCommunity>().unwrap(),
            LargeCommunity(1, 2, 3)
        );
        assert!("1:2".parse::<LargeCommunity>().is_err());
    }
}

mod patterns;
pub use patterns::{
    CommunityPattern, ExtCommunity, ExtCommunityPattern, LargeCommunityPattern, LengthRange,
    NextHopMatch,
};

/// The longest AS-path pattern taken.
pub const MAX_AS_PATH_PATTERN: usize = 1024;

/// An AS-path regular expression as FRR's `as-path access-list` takes it,
/// over the path written `65001 65002 {7,8}`: `_` stands for a boundary
/// (the start, the end, a space, a brace or a comma).
pub fn as_path_regex(pattern: &str) -> Result<regex::Regex, String> {
    if pattern.len() > MAX_AS_PATH_PATTERN {
        return Err(format!(
            "an AS-path pattern of at most {MAX_AS_PATH_PATTERN} characters"
        ));
    }
    let translated = pattern.replace('_', "(?:^|$|[ ,{}])");
    regex::Regex::new(&translated).map_err(|e| format!("`{pattern}` is no regular expression: {e}"))
}
