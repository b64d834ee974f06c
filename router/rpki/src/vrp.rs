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
/// inline (16 bytes) so that a validation costs one cache miss, not two.
#[derive(Debug, Clone)]
enum Grants {
    One((u8, u32)),
    Many(Box<[(u8, u32)]>),
}

impl Grants {
    fn as_slice(&self) -> &[(u8, u32)] {
        match self {
            Grants::One(g) => std::slice::from_ref(g),
            Grants::Many(v) => v,
        }
    }

    /// Adds `g`; false if it is there.
    fn add(&mut self, g: (u8, u32)) -> bool {
        if self.as_slice().contains(&g) {
            return false;
        }
        let mut all = self.as_slice().to_vec();
        all.push(g);
        *self = Grants::Many(all.into_boxed_slice());
        true
    }

    /// Removes `g`: `None` if it was not there, else whether none is left.
    fn take(&mut self, g: (u8, u32)) -> Option<bool> {
        match self {
            Grants::One(x) => (*x == g).then_some(true),
            Grants::Many(v) => {
                let i = v.iter().position(|x| *x == g)?;
                let mut rest = v.to_vec();
                rest.swap_remove(i);
                *self = match rest[..] {
                    [last] => Grants::One(last),
                    _ => Grants::Many(rest.into_boxed_slice()),
                };
                Some(false)
            }
        }
    }
}

/// The key of a prefix in one family's map, from (network bits aligned
/// to the top of a u128, length): IPv4 as one `u64`, IPv6 as a pair.
trait FamilyKey: Copy + Eq + std::hash::Hash {
    fn pack(bits: u128, len: u8) -> Self;
    fn unpack(self) -> IpNet;
}

impl FamilyKey for u64 {
    fn pack(bits: u128, len: u8) -> u64 {
        (((bits >> 96) as u64) << 8) | u64::from(len)
    }
    fn unpack(self) -> IpNet {
        let addr = IpAddr::from(((self >> 8) as u32).to_be_bytes());
        IpNet::new(addr, self as u8).expect("stored lengths are valid")
    }
}

impl FamilyKey for (u128, u8) {
    fn pack(bits: u128, len: u8) -> (u128, u8) {
        (bits, len)
    }
    fn unpack(self) -> IpNet {
        IpNet::new(IpAddr::from(self.0.to_be_bytes()), self.1).expect("stored lengths are valid")
    }
}

/// The VRPs of one address family, by prefix.
#[derive(Debug, Clone)]
struct Family<K> {
    by_prefix: FxHashMap<K, Grants>,
    /// VRPs per prefix length: validation probes the lengths in use.
    per_len: Vec<u32>,
}

impl<K: FamilyKey> Family<K> {
    fn new(bits: usize) -> Family<K> {
        Family {
            by_prefix: FxHashMap::default(),
            per_len: vec![0; bits + 1],
        }
    }

    fn count(&self) -> usize {
        self.per_len.iter().map(|&c| c as usize).sum()
    }

    fn insert(&mut self, (bits, len): (u128, u8), g: (u8, u32)) -> bool {
        let k = K::pack(bits, len);
        let added = match self.by_prefix.get_mut(&k) {
            Some(grants) => grants.add(g),
            None => {
                self.by_prefix.insert(k, Grants::One(g));
                true
            }
        };
        if added {
            self.per_len[usize::from(len)] += 1;
        }
        added
    }

    fn remove(&mut self, (bits, len): (u128, u8), g: (u8, u32)) -> bool {
        let k = K::pack(bits, len);
        let Some(grants) = self.by_prefix.get_mut(&k) else {
            return false;
        };
        match grants.take(g) {
            None => return false,
            Some(true) => {
                self.by_prefix.remove(&k);
            }
            Some(false) => {}
        }
        self.per_len[usize::from(len)] -= 1;
        true
    }

    fn grants(&self, bits: u128, len: u8) -> Option<&[(u8, u32)]> {
        self.by_prefix
            .get(&K::pack(bits, len))
            .map(Grants::as_slice)
    }

    fn iter(&self) -> impl Iterator<Item = Vrp> + '_ {
        self.by_prefix.iter().flat_map(|(k, grants)| {
            let prefix = k.unpack();
            grants.as_slice().iter().map(move |&(max_len, asn)| Vrp {
                prefix,
                max_len,
                asn,
            })
        })
    }

    fn validate(&self, bits: u128, len: u8, origin: Option<u32>) -> Validity {
        let mut covered = false;
        for l in 0..=len {
            if self.per_len[usize::from(l)] == 0 {
                continue;
            }
            let Some(grants) = self.grants(bits & mask(l), l) else {
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
}

/// The current set of VRPs.
#[derive(Debug, Clone)]
pub struct VrpTable {
    v4: Family<u64>,
    v6: Family<(u128, u8)>,
}

impl Default for VrpTable {
    fn default() -> Self {
        VrpTable {
            v4: Family::new(32),
            v6: Family::new(128),
        }
    }
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
        self.v4.count() + self.v6.count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// (IPv4, IPv6) VRP counts.
    pub fn counts(&self) -> (usize, usize) {
        (self.v4.count(), self.v6.count())
    }

    /// Adds `vrp`; false if it was there already.
    pub fn insert(&mut self, vrp: Vrp) -> bool {
        let g = (vrp.max_len, vrp.asn);
        match vrp.prefix {
            IpNet::V4(_) => self.v4.insert(key(&vrp.prefix), g),
            IpNet::V6(_) => self.v6.insert(key(&vrp.prefix), g),
        }
    }

    /// Removes `vrp`; false if it was not there.
    pub fn remove(&mut self, vrp: &Vrp) -> bool {
        let g = (vrp.max_len, vrp.asn);
        match vrp.prefix {
            IpNet::V4(_) => self.v4.remove(key(&vrp.prefix), g),
            IpNet::V6(_) => self.v6.remove(key(&vrp.prefix), g),
        }
    }

    pub fn contains(&self, vrp: &Vrp) -> bool {
        let (bits, len) = key(&vrp.prefix);
        let grants = match vrp.prefix {
            IpNet::V4(_) => self.v4.grants(bits, len),
            IpNet::V6(_) => self.v6.grants(bits, len),
        };
        grants.is_some_and(|g| g.contains(&(vrp.max_len, vrp.asn)))
    }

    /// Every VRP, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = Vrp> + '_ {
        self.v4.iter().chain(self.v6.iter())
    }

    /// RFC 6811 origin validation of a route for `prefix` whose origin AS
    /// is `origin` (`None` when the AS path ends in an AS_SET or is empty:
    /// such a route matches no VRP).
    pub fn validate(&self, prefix: &IpNet, origin: Option<u32>) -> Validity {
        let (bits, len) = key(prefix);
        match prefix {
            IpNet::V4(_) => self.v4.validate(bits, len, origin),
            IpNet::V6(_) => self.v6.validate(bits, len, origin),
        }
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
    fn several_vrps_of_one_prefix_come_and_go_singly() {
        let mut t = VrpTable::default();
        let v = |asn| vrp("192.0.2.0/24", 24, asn);
        for asn in 1..=3 {
            assert!(t.insert(v(asn)));
        }
        assert!(!t.insert(v(2)));
        assert!(t.remove(&v(1)) && t.remove(&v(3)));
        assert!(t.contains(&v(2)) && !t.contains(&v(1)));
        assert_eq!(t.validate(&net("192.0.2.0/24"), Some(2)), Validity::Valid);
        assert!(t.remove(&v(2)) && t.is_empty());
        assert!(!t.remove(&v(2)));
        assert_eq!(std::mem::size_of::<Grants>(), 16, "a grant inline");
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
    }
}
