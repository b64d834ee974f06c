//! One set of uplink states against another, on the same routes: where
//! each destination's traffic goes in both ([`crate::eval`], the data
//! plane's own placement), and which
//! `announce` prefixes stay exported, through the daemon's export function
//! ([`export::export`]). Nothing here decides forwarding or exports
//! itself (docs/architecture.md, principle 1).

use std::collections::BTreeSet;

use sluice_config::Config;
use sluice_config::values::PolicyRef;
use sluice_rib::attrs::{IGP, PathAttrs};
use sluice_rib::export::{self, Conditions, Target};
use sluice_rib::fib::Local;
use sluice_rib::policy::{Policies, Source};
use sluice_rib::{PeerInfo, Rib};
use sluice_wire::Prefix;

use crate::eval::{Evaluator, Fate};

/// A more-specific whose traffic falls back to a covering route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fallback {
    pub prefix: Prefix,
    pub to: Prefix,
    /// The uplinks the covering route leaves through.
    pub via: Vec<String>,
}

/// A destination served before whose traffic is left to non-active
/// uplinks (or to nothing) after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stranded {
    pub prefix: Prefix,
    pub after: Fate,
}

/// What changes from `before` to `after`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Destinations whose next hops change.
    pub moved: usize,
    pub fallbacks: Vec<Fallback>,
    pub stranded: Vec<Stranded>,
    /// `announce[i]` is exported to an active uplink before, to none after.
    pub unexported: Vec<usize>,
}

/// Compares the states `before` and `after` (uplink `i` active, config
/// order) over the destinations they can change: every prefix with a path
/// through an uplink that changes or that is not active before (a prefix
/// left to a covering route may come back when that route goes), every
/// static route and every announced aggregate.
pub fn compare(config: &Config, rib: &Rib, before: &[bool], after: &[bool]) -> Comparison {
    // Only an uplink active in both states changes nothing.
    let active = |states: &[bool], u: usize| states.get(u).copied().unwrap_or(false);
    let touched = |u: usize| !(active(before, u) && active(after, u));
    let mut candidates: Vec<Prefix> = rib
        .iter()
        .filter(|(_, paths)| {
            paths
                .iter()
                .any(|p| rib.peer(p.peer).uplink.is_some_and(touched))
        })
        .map(|(p, _)| p)
        .collect();
    candidates.extend(config.static_routes.iter().map(|s| s.prefix.value.0));
    candidates.extend(config.announce.iter().map(|a| a.value.0));
    candidates.sort();
    candidates.dedup();
    compare_at(config, rib, before, after, &candidates)
}

/// [`compare`] over the given destinations.
pub fn compare_at(
    config: &Config,
    rib: &Rib,
    before: &[bool],
    after: &[bool],
    destinations: &[Prefix],
) -> Comparison {
    let local = Local::new(config);
    let eval = Evaluator::live(config, &local, rib);
    let mut out = Comparison::default();
    for prefix in destinations {
        let old = eval.fate(prefix, before);
        if !old.served(config, before) {
            continue;
        }
        let new = eval.fate(prefix, after);
        if old.next_hops() != new.next_hops() {
            out.moved += 1;
        }
        if !new.served(config, after) && !full_table_stands_in(config, prefix, &old, after) {
            out.stranded.push(Stranded {
                prefix: *prefix,
                after: new,
            });
        } else if let (Fate::Own(_), Fate::Covered { by, .. }) = (&old, &new) {
            out.fallbacks.push(Fallback {
                prefix: *prefix,
                to: *by,
                via: new.uplinks(),
            });
        }
    }
    let policies = Policies::new(config);
    for (i, a) in config.announce.iter().enumerate() {
        let exported =
            |active: &[bool]| !exported_to(config, &policies, &a.value.0, active).is_empty();
        if exported(before) && !exported(after) && !partner_announces(rib, &a.value.0) {
            out.unexported.push(i);
        }
    }
    out
}

/// Whether an iBGP neighbour (a partner edge router of the site) announces
/// `prefix` too: inbound traffic then still finds a way in through it.
fn partner_announces(rib: &Rib, prefix: &Prefix) -> bool {
    rib.paths(prefix)
        .iter()
        .any(|p| is_partner(rib.peer(p.peer)))
}

/// Whether `peer` is an iBGP neighbour that is no uplink: a partner edge
/// router of the site.
pub(crate) fn is_partner(peer: &PeerInfo) -> bool {
    peer.uplink.is_none() && !peer.ebgp
}

/// Whether traffic to `dest`, going `fate`, follows one of the `pinned`
/// static routes (to its own prefix, or falling to one): that route's
/// finding (PINNED-TO-INACTIVE) covers it, not a stranded destination's.
pub(crate) fn follows_pinned(dest: &Prefix, fate: &Fate, pinned: &BTreeSet<Prefix>) -> bool {
    pinned.contains(dest) || matches!(fate, Fate::Covered { by, .. } if pinned.contains(by))
}

/// Whether a destination the default route served (its own default, or
/// one that only a default covers) is as well served by an active uplink
/// that takes the full table of its family: a default's destinations are
/// what no more-specific covers, and what a full table lacks is
/// unallocated space.
pub fn full_table_stands_in(config: &Config, dest: &Prefix, was: &Fate, active: &[bool]) -> bool {
    let by_default = match was {
        Fate::Own(_) => dest.prefix_len() == 0,
        Fate::Covered { by, .. } => by.prefix_len() == 0,
        _ => false,
    };
    by_default
        && config.uplinks.iter().enumerate().any(|(i, u)| {
            active.get(i).copied().unwrap_or(false)
                && u.import
                    .as_ref()
                    .is_some_and(|p| p.value == PolicyRef::FullTable)
                && u.peer
                    .0
                    .iter()
                    .any(|peer| peer.address.value.is_ipv4() == dest.addr().is_ipv4())
        })
}

/// The active uplinks (config order) `prefix`, one of this router's own,
/// is exported to under uplink states `active`: through each uplink's
/// export policy, to a peer of its address family.
pub fn exported_to(
    config: &Config,
    policies: &Policies,
    prefix: &Prefix,
    active: &[bool],
) -> Vec<usize> {
    let asn = config.router.asn.value;
    let v4 = matches!(prefix, Prefix::V4(_));
    config
        .uplinks
        .iter()
        .enumerate()
        .filter(|(i, _)| active.get(*i).copied().unwrap_or(false))
        .filter(|(i, u)| {
            let policy = u
                .export
                .as_ref()
                .map_or(PolicyRef::Announce, |p| p.value.clone());
            u.peer.0.iter().any(|peer| {
                peer.address.value.is_ipv4() == v4
                    && export::export(
                        policies,
                        config,
                        Target {
                            ebgp: peer.asn.value != asn,
                            uplink: Some(*i),
                            policy: &policy,
                        },
                        prefix,
                        PathAttrs {
                            origin: IGP,
                            ..Default::default()
                        },
                        Source::Local,
                        Conditions {
                            active,
                            cold: false,
                        },
                    )
                    .is_some()
            })
        })
        .map(|(i, _)| i)
        .collect()
}
