//! The BGP decision process (RFC 4271 §9.1.2) and the multipath rule.
//!
//! Pure comparisons of two candidate paths; which paths are candidates
//! (uplink states, policy) is decided by the caller.

use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr};

use serde::Serialize;

use crate::attrs::DecisionKey;

/// What the decision process knows of the peer a path came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    pub name: String,
    pub address: IpAddr,
    pub asn: u32,
    pub router_id: Ipv4Addr,
    pub ebgp: bool,
    /// The uplink this session belongs to, if it is one.
    pub uplink: Option<usize>,
}

/// The step of the decision process that separated the winner from the runner-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// The only candidate.
    Only,
    /// Paths through an active uplink beat those through a drained, degraded or down one.
    UplinkState,
    LocalPref,
    AsPathLength,
    Origin,
    Med,
    EbgpOverIbgp,
    RouterId,
    PeerAddress,
}

impl Reason {
    pub fn describe(self) -> &'static str {
        match self {
            Reason::Only => "only path",
            Reason::UplinkState => "uplink state",
            Reason::LocalPref => "higher local-pref",
            Reason::AsPathLength => "shorter AS path",
            Reason::Origin => "lower origin",
            Reason::Med => "lower MED",
            Reason::EbgpOverIbgp => "eBGP over iBGP",
            Reason::RouterId => "lower router id",
            Reason::PeerAddress => "lower peer address",
        }
    }
}

/// A path under comparison.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    pub peer: &'a PeerInfo,
    pub key: &'a DecisionKey,
    /// Whether its uplink (if any) is active.
    pub usable: bool,
}

pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// `Less` when `a` is better than `b`, with the deciding step.
pub fn compare(a: &Candidate<'_>, b: &Candidate<'_>) -> (Ordering, Reason) {
    let (ka, kb) = (a.key, b.key);
    let steps: [(Ordering, Reason); 5] = [
        (b.usable.cmp(&a.usable), Reason::UplinkState),
        (kb.local_pref.cmp(&ka.local_pref), Reason::LocalPref),
        (ka.as_path_len.cmp(&kb.as_path_len), Reason::AsPathLength),
        (ka.origin.cmp(&kb.origin), Reason::Origin),
        (med(ka, kb), Reason::Med),
    ];
    for (ord, reason) in steps {
        if ord != Ordering::Equal {
            return (ord, reason);
        }
    }
    let tail = [
        (b.peer.ebgp.cmp(&a.peer.ebgp), Reason::EbgpOverIbgp),
        (a.peer.router_id.cmp(&b.peer.router_id), Reason::RouterId),
        (a.peer.address.cmp(&b.peer.address), Reason::PeerAddress),
    ];
    for (ord, reason) in tail {
        if ord != Ordering::Equal {
            return (ord, reason);
        }
    }
    (Ordering::Equal, Reason::PeerAddress)
}

/// MED is compared only between paths from the same neighbouring AS; a missing MED is 0.
fn med(a: &DecisionKey, b: &DecisionKey) -> Ordering {
    if a.neighbor_as == b.neighbor_as {
        a.med.cmp(&b.med)
    } else {
        Ordering::Equal
    }
}

/// Whether `other` may share traffic with the best path `best`: equal up to
/// and including MED, both external, both usable. AS paths need only equal
/// length, so different upstreams can share (the "AS-path relax" of FRR and
/// BIRD's `merge paths`).
pub fn multipath(best: &Candidate<'_>, other: &Candidate<'_>) -> bool {
    let (ord, reason) = compare(best, other);
    let equal_enough =
        ord == Ordering::Equal || matches!(reason, Reason::RouterId | Reason::PeerAddress);
    equal_enough && best.peer.ebgp && other.peer.ebgp && best.usable && other.usable
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::PathAttrs;
    use sluice_wire::update::AS_SEQUENCE;

    fn peer(n: u8, ebgp: bool) -> PeerInfo {
        PeerInfo {
            name: format!("p{n}"),
            address: IpAddr::from([203, 0, 113, n]),
            asn: 65000 + u32::from(n),
            router_id: Ipv4Addr::new(10, 0, 0, n),
            ebgp,
            uplink: Some(usize::from(n)),
        }
    }

    fn attrs(asns: &[u32], lp: Option<u32>, med: Option<u32>, origin: u8) -> PathAttrs {
        let mut as_path = vec![AS_SEQUENCE, asns.len() as u8];
        for a in asns {
            as_path.extend(a.to_be_bytes());
        }
        PathAttrs {
            as_path,
            local_pref: lp,
            med,
            origin,
            ..Default::default()
        }
    }

    fn cmp(a: (&PeerInfo, &PathAttrs), b: (&PeerInfo, &PathAttrs)) -> (Ordering, Reason) {
        let (ka, kb) = (a.1.decision_key(), b.1.decision_key());
        compare(
            &Candidate {
                peer: a.0,
                key: &ka,
                usable: true,
            },
            &Candidate {
                peer: b.0,
                key: &kb,
                usable: true,
            },
        )
    }

    #[test]
    fn each_step_in_order() {
        let (p1, p2) = (peer(1, true), peer(2, true));
        let base = attrs(&[65001, 1], None, None, 0);
        assert_eq!(
            cmp(
                (&p1, &attrs(&[65001, 1, 2], Some(200), None, 0)),
                (&p2, &base)
            ),
            (Ordering::Less, Reason::LocalPref)
        );
        assert_eq!(
            cmp((&p1, &attrs(&[65001], None, None, 2)), (&p2, &base)),
            (Ordering::Less, Reason::AsPathLength)
        );
        assert_eq!(
            cmp((&p1, &attrs(&[65001, 1], None, None, 1)), (&p2, &base)),
            (Ordering::Greater, Reason::Origin)
        );
        assert_eq!(
            cmp(
                (&p1, &attrs(&[65001, 1], None, Some(5), 0)),
                (&p2, &attrs(&[65001, 1], None, Some(10), 0))
            ),
            (Ordering::Less, Reason::Med)
        );
        // MED is ignored between different neighbouring ASes.
        assert_eq!(
            cmp(
                (&p1, &attrs(&[65001, 1], None, Some(50), 0)),
                (&p2, &attrs(&[65002, 1], None, Some(10), 0))
            ),
            (Ordering::Less, Reason::RouterId)
        );
        let ibgp = peer(3, false);
        assert_eq!(
            cmp((&ibgp, &base), (&p2, &base)),
            (Ordering::Greater, Reason::EbgpOverIbgp)
        );
    }

    #[test]
    fn usable_paths_win_and_multipath_needs_equal_attributes() {
        let (p1, p2) = (peer(1, true), peer(2, true));
        let a = attrs(&[65001, 1], None, None, 0).decision_key();
        let b = attrs(&[65002, 7], None, None, 0).decision_key();
        let far = attrs(&[65002, 7, 8, 9], None, None, 0).decision_key();
        let longer = attrs(&[65002, 7, 8], None, None, 0).decision_key();
        let c = |peer, key, usable| Candidate { peer, key, usable };
        assert_eq!(
            compare(&c(&p2, &far, true), &c(&p1, &a, false)),
            (Ordering::Less, Reason::UplinkState)
        );
        assert!(
            multipath(&c(&p1, &a, true), &c(&p2, &b, true)),
            "different upstreams, equal length: relaxed multipath"
        );
        assert!(!multipath(&c(&p1, &a, true), &c(&p2, &longer, true)));
    }
}
