//! Prefix-list entries: `PREFIX [ge N] [le M]`, as in FRR and Cisco.
//!
//! Without `ge`/`le` an entry matches the prefix exactly; `le M` also
//! matches more-specifics up to length M; `ge N` those from length N up to
//! the family's maximum, unless `le` bounds them too.

use std::fmt;
use std::str::FromStr;

use ipnet::IpNet;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrefixListEntry {
    pub prefix: IpNet,
    pub min_len: u8,
    pub max_len: u8,
}

impl PrefixListEntry {
    pub fn matches(&self, candidate: &IpNet) -> bool {
        let len = candidate.prefix_len();
        (self.min_len..=self.max_len).contains(&len) && self.prefix.contains(candidate)
    }
}

impl FromStr for PrefixListEntry {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut words = s.split_whitespace();
        let first = words
            .next()
            .ok_or("an empty entry; expected `PREFIX [ge N] [le M]`")?;
        let prefix: IpNet = first
            .parse()
            .map_err(|_| format!("`{first}` is not a prefix; expected one like 198.51.100.0/24"))?;
        if prefix.trunc() != prefix {
            return Err(format!(
                "`{first}` has host bits set; the prefix is {}",
                prefix.trunc()
            ));
        }
        let (mut ge, mut le) = (None, None);
        while let Some(word) = words.next() {
            let slot = match word {
                "ge" => &mut ge,
                "le" => &mut le,
                other => return Err(format!("unexpected `{other}`; expected `ge N` or `le M`")),
            };
            if slot.is_some() {
                return Err(format!("`{word}` appears twice"));
            }
            let n = words
                .next()
                .ok_or_else(|| format!("`{word}` needs a length"))?;
            *slot = Some(
                n.parse::<u8>()
                    .map_err(|_| format!("`{n}` is not a prefix length"))?,
            );
        }
        let (len, max) = (prefix.prefix_len(), prefix.max_prefix_len());
        for (word, value) in [("ge", ge), ("le", le)] {
            match value {
                Some(n) if n > max => {
                    return Err(format!(
                        "`{word} {n}` is longer than {max}, the longest prefix of this family"
                    ));
                }
                Some(n) if n < len => {
                    return Err(format!(
                        "`{word} {n}` is shorter than the prefix itself (/{len})"
                    ));
                }
                _ => {}
            }
        }
        let min_len = ge.unwrap_or(len);
        let max_len = le.unwrap_or(if ge.is_some() { max } else { len });
        if min_len > max_len {
            return Err(format!(
                "`ge {min_len}` is greater than `le {max_len}`: the entry matches nothing"
            ));
        }
        Ok(PrefixListEntry {
            prefix,
            min_len,
            max_len,
        })
    }
}

impl fmt::Display for PrefixListEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.prefix)?;
        let (len, max) = (self.prefix.prefix_len(), self.prefix.max_prefix_len());
        if self.min_len != len {
            write!(f, " ge {}", self.min_len)?;
        }
        if self.max_len != len && !(self.min_len != len && self.max_len == max) {
            write!(f, " le {}", self.max_len)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(s: &str) -> PrefixListEntry {
        s.parse().unwrap()
    }
    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn exact_le_and_ge() {
        let exact = entry("198.51.100.0/24");
        assert!(exact.matches(&net("198.51.100.0/24")));
        assert!(!exact.matches(&net("198.51.100.0/25")));

        let le = entry("198.51.100.0/22 le 24");
        assert!(le.matches(&net("198.51.100.0/22")));
        assert!(le.matches(&net("198.51.101.0/24")));
        assert!(!le.matches(&net("198.51.101.0/25")));
        assert!(!le.matches(&net("198.51.96.0/21")));

        let ge = entry("2001:db8::/32 ge 48");
        assert!(ge.matches(&net("2001:db8:1::/48")));
        assert!(ge.matches(&net("2001:db8:1::1/128")));
        assert!(!ge.matches(&net("2001:db8::/32")));
        assert_eq!(ge.to_string(), "2001:db8::/32 ge 48");
        assert_eq!(le.to_string(), "198.51.100.0/22 le 24");
    }

    #[test]
    fn malformed_entries_say_why() {
        for (text, why) in [
            ("", "empty"),
            ("198.51.100.0/33", "not a prefix"),
            ("198.51.100.1/24", "host bits"),
            ("198.51.100.0/24 le 20", "shorter"),
            ("198.51.100.0/24 le 40", "longer"),
            ("198.51.100.0/24 ge 28 le 26", "greater"),
            ("198.51.100.0/24 lt 26", "unexpected"),
            ("198.51.100.0/24 le", "needs a length"),
            ("198.51.100.0/24 le 25 le 26", "twice"),
        ] {
            let err = text.parse::<PrefixListEntry>().unwrap_err();
            assert!(err.contains(why), "{text:?}: {err}");
        }
    }
}
