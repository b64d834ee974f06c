//! Validated ROA payloads and route origin validation (RFC 6811).
//!
//! A VRP says: AS `asn` may originate `prefix` and its more-specifics up to
//! `max_len`. A route is *valid* if some VRP covering it matches its
//! origin AS and length, *invalid* if VRPs cover it but none matches, and
//! *not found* if none covers it.
//!
//! The table keeps VRPs by prefix (one hash map per family) and remembers
//! which prefix lengths are in use, so validating a route probes only those
//! lengths at or above its own: a few hash lookups, with no trie to keep
//! balanced as deltas come and go.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use rustc_hash::FxHashMap;
use smallvec::SmallVec;

/// One validated ROA payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Vrp {
    pub prefix: IpNet,
    pub max_len: u8,
    pub asn: u32,
}

impl fmt::Display for Vrp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} max {} AS{}", self.prefix, self.max_len, self.asn)
    }
}

/// A route's origin validation state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Validity {
    Valid,
    Invalid,
    NotFound,
    /// No cache has delivered a complete set yet (or the last one went
    /// stale): nothing is known.
    Unknown,
}

impl Validity {
    pub fn as_str(self) -> &'static str {
        match self {
            Validity::Valid => "valid",
            Validity::Invalid => "invalid",
            Validity::NotFound => "not-found",
            Validity::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Validity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Validity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "valid" => Ok(Validity::Valid),
            "invalid" => Ok(Validity::Invalid),
            "not-found" => Ok(Validity::NotFound),
            "unknown" => Ok(Validity::Unknown),
            _ => Err(format!(
                "{s:?} is not an RPKI state (valid, invalid, not-found, unknown)"
            )),
        }
    }
}

/// (max length, ASN) of the VRPs of one prefix: nearly always one, kept
/// inline so that a validation costs one cache miss, not two.
type Grants = SmallVec<[(u8, u32); 1]>;

/// The VRPs of one address family, by (network bits, length).
#[derive(Debug, Clone, Default)]
struct Family {
    by_prefix: FxHashMap<(u128, u8), Grants>,
    /// VRPs per prefix length: validation probes the lengths in use.
    per_len: Vec<u32>,
}

impl Family {
    fn new(bits: usize) -> Family {
        Family {
            by_prefix: FxHashMap::default(),
            per_len: vec![0; bits + 1],
        }
    }
}

/// The current set of VRPs.
#[derive(Debug, Clone)]
pub struct VrpTable {
    v4: Family,
    v6: Family,
    len: usize,
}

impl Default for VrpTable {
    fn default() -> Self {
        VrpTable {
            v4: Family::new(32),
            v6: Family::new(128),
            len: 0,
        }
    }
}

fn family_vrps(f: &Family, v4: bool) -> impl Iterator<Item = Vrp> + '_ {
    f.by_prefix.iter().flat_map(move |(&(bits, len), grants)| {
        let addr = if v4 {
            IpAddr::from(((bits >> 96) as u32).to_be_bytes())
        } else {
            IpAddr::from(bits.to_be_bytes())
        };
        let prefix = IpNet::new(addr, len).expect("stored lengths are valid");
        grants.iter().map(move |&(max_len, asn)| Vrp {
            prefix,
            max_len,
            asn,
        })
    })
}

/// A prefix as (network bits aligned to the top of a u128, length).
fn key(prefix: &IpNet) -> (u128, u8) {
    match prefix {
        IpNet::V4(p) => (u128::from(u32::from(p.network())) << 96, p.prefix_len()),
        IpNet::V6(p) => (u128::from(p.network()), p.prefix_len()),
    }
}

fn mask(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    }
}

impl VrpTable {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// (IPv4, IPv6) VRP counts.
    pub fn counts(&self) -> (usize, usize) {
        let n = |f: &Family| f.per_len.iter().map(|&c| c as usize).sum();
        (n(&self.v4), n(&self.v6))
    }

    fn family(&mut self, prefix: &IpNet) -> &mut Family {
        match prefix {
            IpNet::V4(_) => &mut self.v4,
            IpNet::V6(_) => &mut self.v6,
        }
    }

    /// Adds `vrp`; false if it was there already.
    pub fn insert(&mut self, vrp: Vrp) -> bool {
        let k = key(&vrp.prefix);
        let f = self.family(&vrp.prefix);
        let grants = f.by_prefix.entry(k).or_default();
        if grants.contains(&(vrp.max_len, vrp.asn)) {
            return false;
        }
        grants.push((vrp.max_len, vrp.asn));
        f.per_len[usize::from(k.1)] += 1;
        self.len += 1;
        true
    }

    /// Removes `vrp`; false if it was not there.
    pub fn remove(&mut self, vrp: &Vrp) -> bool {
        let k = key(&vrp.prefix);
        let f = self.family(&vrp.prefix);
        let Some(grants) = f.by_prefix.get_mut(&k) else {
            return false;
        };
        let Some(i) = grants.iter().position(|g| *g == (vrp.max_len, vrp.asn)) else {
            return false;
        };
        grants.swap_remove(i);
        if grants.is_empty() {
            f.by_prefix.remove(&k);
        }
        f.per_len[usize::from(k.1)] -= 1;
        self.len -= 1;
        true
    }

    pub fn contains(&self, vrp: &Vrp) -> bool {
        let k = key(&vrp.prefix);
        let f = match vrp.prefix {
            IpNet::V4(_) => &self.v4,
            IpNet::V6(_) => &self.v6,
        };
        f.by_prefix
            .get(&k)
            .is_some_and(|g| g.contains(&(vrp.max_len, vrp.asn)))
    }

    /// Every VRP, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = Vrp> + '_ {
        family_vrps(&self.v4, true).chain(family_vrps(&self.v6, false))
    }

    /// RFC 6811 origin validation of a route for `prefix` whose origin AS
    /// is `origin` (`None` when the AS path ends in an AS_SET or is empty:
    /// such a route matches no VRP).
    pub fn validate(&self, prefix: &IpNet, origin: Option<u32>) -> Validity {
        let (bits, len) = key(prefix);
        let f = match prefix {
            IpNet::V4(_) => &self.v4,
            IpNet::V6(_) => &self.v6,
        };
        let mut covered = false;
        for l in 0..=len {
            if f.per_len[usize::from(l)] == 0 {
                continue;
            }
            let Some(grants) = f.by_prefix.get(&(bits & mask(l), l)) else {
                continue;
            };
            covered = true;
            if let Some(o) = origin
                && grants
                    .iter()
                    .any(|&(max, asn)| asn == o && asn != 0 && len <= max)
            {
                return Validity::Valid;
            }
        }
        if covered {
            Validity::Invalid
        } else {
            Validity::NotFound
        }
    }

    /// Whether a route for `prefix` may change state when `vrp` comes or
    /// goes: the VRP covers it.
    pub fn affects(vrp: &Vrp, prefix: &IpNet) -> bool {
        vrp.prefix.contains(prefix) && prefix.addr().is_ipv4() == vrp.prefix.addr().is_ipv4()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vrp(p: &str, max_len: u8, asn: u32) -> Vrp {
        Vrp {
            prefix: p.parse().unwrap(),
            max_len,
            asn,
        }
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn rfc6811_states() {
        let mut t = VrpTable::default();
        assert!(t.insert(vrp("20.1.0.0/16", 24, 65001)));
        assert!(
            !t.insert(vrp("20.1.0.0/16", 24, 65001)),
            "a duplicate is refused"
        );
        assert!(t.insert(vrp("2001:db8::/32", 48, 65002)));
        assert_eq!(t.len(), 2);
        assert_eq!(t.counts(), (1, 1));
        let v = |p: &str, o| t.validate(&net(p), o);
        assert_eq!(v("20.1.2.0/24", Some(65001)), Validity::Valid);
        assert_eq!(v("20.1.0.0/16", Some(65001)), Validity::Valid);
        assert_eq!(
            v("20.1.2.0/24", Some(65009)),
            Validity::Invalid,
            "wrong origin"
        );
        assert_eq!(
            v("20.1.2.128/25", Some(65001)),
            Validity::Invalid,
            "beyond maxLength"
        );
        assert_eq!(v("20.1.2.0/24", None), Validity::Invalid, "AS_SET origin");
        assert_eq!(
            v("20.0.0.0/8", Some(65001)),
            Validity::NotFound,
            "less specific"
        );
        assert_eq!(v("21.0.0.0/24", Some(65001)), Validity::NotFound);
        assert_eq!(v("2001:db8:1::/48", Some(65002)), Validity::Valid);
        assert_eq!(v("2001:db8:1::/49", Some(65002)), Validity::Invalid);
        assert_eq!(v("2001:db9::/32", Some(65002)), Validity::NotFound);
    }

    #[test]
    fn any_matching_vrp_makes_it_valid_and_as0_never_does() {
        let mut t = VrpTable::default();
        t.insert(vrp("10.0.0.0/8", 8, 0));
        assert_eq!(t.validate(&net("10.0.0.0/8"), Some(0)), Validity::Invalid);
        t.insert(vrp("10.0.0.0/16", 24, 65001));
        assert_eq!(
            t.validate(&net("10.0.1.0/24"), Some(65001)),
            Validity::Valid
        );
        assert_eq!(
            t.validate(&net("10.1.0.0/16"), Some(65001)),
            Validity::Invalid
        );
    }

    #[test]
    fn removal_restores_the_state_before() {
        let mut t = VrpTable::default();
        let a = vrp("192.0.2.0/24", 24, 65001);
        let b = vrp("192.0.2.0/24", 24, 65002);
        t.insert(a);
        t.insert(b);
        assert!(t.remove(&a));
        assert!(!t.remove(&a), "already gone");
        assert_eq!(
            t.validate(&net("192.0.2.0/24"), Some(65001)),
            Validity::Invalid
        );
        assert!(t.remove(&b));
        assert_eq!(
            t.validate(&net("192.0.2.0/24"), Some(65001)),
            Validity::NotFound
        );
        assert!(t.is_empty());
        assert_eq!(t.counts(), (0, 0));
    }

    #[test]
    fn iter_gives_back_what_went_in() {
        let mut t = VrpTable::default();
        let all = [
            vrp("0.0.0.0/0", 8, 1),
            vrp("203.0.113.0/24", 24, 2),
            vrp("203.0.113.0/24", 25, 3),
            vrp("::/0", 16, 4),
            vrp("2001:db8:ffff::/48", 64, 5),
        ];
        for v in all {
            t.insert(v);
        }
        let mut got: Vec<Vrp> = t.iter().collect();
        got.sort();
        let mut want = all.to_vec();
        want.sort();
        assert_eq!(got, want);
        assert!(t.contains(&all[2]));
        assert!(VrpTable::affects(&all[1], &net("203.0.113.128/25")));
        assert!(!VrpTable::affects(&all[1], &net("203.0.112.0/23")));
        assert!(!VrpTable::affects(&all[0], &net("::/0")));
    }
}
