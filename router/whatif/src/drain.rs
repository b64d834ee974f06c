//! The drain pre-check: what draining some uplinks would do to the routes
//! the router holds now, and what in the config says otherwise. `sluice
//! drain` refuses on an error-level finding unless `--force`d, and prints
//! the plan with `--dry-run`.

use std::collections::BTreeSet;

use sluice_config::{Config, Finding, Pos};
use sluice_rib::Rib;
use sluice_rib::fib::{self, StaticOutcome, View};

use crate::compare::{Comparison, compare, follows_pinned, is_partner};
use crate::eval::Fate;
use crate::{examples, rules};

/// What a drain would do.
#[derive(Clone, Debug, Default)]
pub struct DrainPlan {
    pub findings: Vec<Finding>,
    pub comparison: Comparison,
    /// Uplinks active after the drain.
    pub active_after: usize,
}

impl DrainPlan {
    /// An error-level finding: the drain is refused unless forced.
    pub fn blocked(&self) -> bool {
        self.findings.iter().any(Finding::is_blocking)
    }
}

/// The plan for draining uplinks `drain` (config indexes) when `before`
/// says which are active now. `whole_router` (`drain --all`): the
/// `min_active_uplinks` floor is passed when an iBGP neighbour offers
/// routes, since a partner edge router takes over.
pub fn drain_plan(
    config: &Config,
    rib: &Rib,
    before: &[bool],
    drain: &[usize],
    whole_router: bool,
) -> DrainPlan {
    let mut after = before.to_vec();
    for &u in drain {
        if let Some(a) = after.get_mut(u) {
            *a = false;
        }
    }
    let names: Vec<&str> = drain
        .iter()
        .filter_map(|&u| config.uplinks.get(u))
        .map(|u| u.name.as_str())
        .collect();
    let doing = format!("draining {}", names.join(", "));
    // Findings about the drain as a whole point at the first uplink.
    let first = drain.first().and_then(|&u| config.uplinks.get(u));
    let comparison = compare(config, rib, before, &after);
    let mut findings = Vec::new();
    let view = View {
        config,
        active: &after,
    };

    // Static routes through a drained uplink's gateway.
    let mut pinned = BTreeSet::new();
    for (i, s) in config.static_routes.iter().enumerate() {
        let Some(u) = config.uplink_of_next_hop(s.via.value) else {
            continue;
        };
        if !drain.contains(&u) {
            continue;
        }
        pinned.insert(s.prefix.value.0);
        let name = config.uplinks[u].name.as_str();
        let what = match fib::static_outcome(rib, &view, i) {
            StaticOutcome::Forwards => continue,
            StaticOutcome::FollowsLearned => {
                format!(
                    "it is overridden and its traffic follows the learned route to {}",
                    s.prefix.value
                )
            }
            StaticOutcome::FollowsCovering(q) => {
                format!("it is overridden and its traffic follows {q}")
            }
            StaticOutcome::Keeps => format!(
                "no active uplink covers {}, so it keeps traffic on {name}",
                s.prefix.value
            ),
        };
        findings.push(
            rules::PINNED
                .at(
                    s.pos,
                    format!(
                        "static route {} via {} is bound to uplink {name}: {doing}, {what}",
                        s.prefix.value, s.via.value
                    ),
                )
                .help(format!(
                    "point it at a next hop that follows no single uplink, or remove it while {name} is in maintenance"
                ))
                .uplink(name),
        );
    }

    let stranded: Vec<_> = comparison
        .stranded
        .iter()
        .filter(|s| !follows_pinned(&s.prefix, &s.after, &pinned))
        .collect();
    if let (false, Some(uplink)) = (stranded.is_empty(), first) {
        let list = examples(
            stranded
                .iter()
                .map(|s| format!("{} ({})", s.prefix, describe(&s.after))),
            stranded.len(),
        );
        findings.push(
            rules::UNREACHABLE
                .at(
                    uplink.pos,
                    format!(
                        "{doing} leaves {} destination(s) served now reachable only through non-active uplinks: {list}",
                        stranded.len(),
                    ),
                )
                .help("another active uplink must offer these destinations (or a route covering them)")
                .uplink(&uplink.name),
        );
    }

    for &i in &comparison.unexported {
        let a = &config.announce[i];
        findings.push(
            rules::ANNOUNCE_UNEXPORTED
                .at(
                    a.pos,
                    format!(
                        "{doing}: {} is exported to no active uplink any more, so no traffic can come in for it",
                        a.value
                    ),
                )
                .help("check the other uplinks' export policies and address families"),
        );
    }

    let active_after = after.iter().filter(|a| **a).count();
    let active_before = before.iter().filter(|a| **a).count();
    let min = config.maintenance.min_active_uplinks.value as usize;
    let partner = whole_router && partner_offers_routes(rib);
    // Only a drain that takes active uplinks away can break the floor.
    if active_after < min && active_after < active_before && !partner {
        let pos = match config.maintenance.min_active_uplinks.pos {
            p if p.is_known() => p,
            _ => first.map_or(Pos::UNKNOWN, |u| u.pos),
        };
        findings.push(
            rules::BELOW_MIN_ACTIVE
                .at(
                    pos,
                    format!(
                        "{doing} leaves {active_after} active uplink(s), below min_active_uplinks {min}"
                    ),
                )
                .help(if whole_router {
                    "`drain --all` passes the floor only when an iBGP neighbour offers routes (a partner edge router takes over)"
                } else {
                    "undrain another uplink first, or lower maintenance.min_active_uplinks"
                }),
        );
    }

    if !comparison.fallbacks.is_empty() {
        let n = comparison.fallbacks.len();
        let list = examples(
            comparison
                .fallbacks
                .iter()
                .map(|f| format!("{} → {} ({})", f.prefix, f.to, f.via.join(", "))),
            n,
        );
        findings.push(rules::FALLBACK.at(
            first.map_or(Pos::UNKNOWN, |u| u.pos),
            format!(
                "{doing}: {n} more-specific(s) fall back to another uplink's covering route: {list}"
            ),
        ));
    }
    findings.sort_by_key(|f| (f.pos.line, f.pos.column));
    DrainPlan {
        findings,
        comparison,
        active_after,
    }
}

/// Whether an iBGP neighbour (a partner edge router) offers routes.
fn partner_offers_routes(rib: &Rib) -> bool {
    rib.peers()
        .any(|(id, peer)| is_partner(peer) && rib.count(id) > 0)
}

/// Where a stranded destination's traffic would go, in a few words.
pub fn describe(fate: &Fate) -> String {
    match fate {
        Fate::Own(_) | Fate::Covered { .. } => format!("still {}", fate.describe()),
        _ => fate.describe(),
    }
}
