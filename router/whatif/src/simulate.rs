//! The validator's simulation: the normal state (every uplink active; a
//! drain the config holds is one of the others), then for each uplink the
//! state with it drained, failed or degraded, evaluated on a route model
//! (or a running daemon's routes) by the data plane's own placement and
//! the daemon's exports; each property a rule of [`crate::rules`].
//!
//! Drained, failed and degraded take the uplink out alike (docs/architecture.md,
//! principle 2: no traffic to an uplink that is not active while an active
//! one offers a path): its routes can no longer win, its announcements no
//! longer count. A failed uplink's routes are gone where a drained one's
//! stay as a last resort, which changes where stranded traffic goes, not
//! whether it is stranded, so each uplink's three states are evaluated
//! once and reported together.
//!
//! Evaluation is incremental: destinations are placed once in the normal
//! state, and a state re-places only those whose traffic left through the
//! uplink it takes out (a destination served through another active
//! uplink keeps its way out when one uplink goes).

use std::collections::BTreeSet;

use sluice_config::values::PolicyRef;
use sluice_config::{Config, Finding, Pos};
use sluice_rib::attrs::{IGP, PathAttrs};
use sluice_rib::fib::Local;
use sluice_rib::policy::{Policies, Source};
use sluice_wire::Prefix;

use crate::compare::{exported_to, follows_pinned, full_table_stands_in};
use crate::eval::{Evaluator, Fate};
use crate::model::Model;
use crate::rules;
use crate::{examples, par_map};

/// One simulated state and what changed in it.
#[derive(Clone, Debug)]
pub struct StateView {
    /// "normal", or "iap-a drained, failed or degraded".
    pub label: String,
    /// The uplink it takes out.
    pub uplink: Option<String>,
    /// Destinations whose fate differs from the normal state's (all of
    /// them for the normal state itself).
    pub fates: Vec<(Prefix, Fate)>,
    /// Each announce prefix and the uplinks it is exported to.
    pub exports: Vec<(Prefix, Vec<String>)>,
}

#[derive(Clone, Debug, Default)]
pub struct Simulation {
    pub findings: Vec<Finding>,
    pub states: Vec<StateView>,
}

/// Every state of `config` on `model`.
pub fn simulate(config: &Config, model: &Model, from_config: bool) -> Simulation {
    let local = Local::new(config);
    let eval = Evaluator::cached(config, &local, &model.rib);
    let policies = Policies::new(config);
    let names: Vec<String> = config
        .uplinks
        .iter()
        .map(|u| u.name.value.clone())
        .collect();
    // The normal state has every uplink active: a drain the config holds
    // is one of the simulated states (and the floor's static rule).
    let base = vec![true; names.len()];
    let dests = &model.destinations;
    let normal: Vec<Fate> = par_map(dests, |d| eval.fate(d, &base));
    let exports = |active: &[bool]| -> Vec<(Prefix, Vec<String>)> {
        config
            .announce
            .iter()
            .map(|a| {
                let to = exported_to(config, &policies, &a.value.0, active);
                (
                    a.value.0,
                    to.into_iter().map(|i| names[i].clone()).collect(),
                )
            })
            .collect()
    };
    let mut out = Simulation::default();
    out.states.push(StateView {
        label: "normal".into(),
        uplink: None,
        fates: dests.iter().copied().zip(normal.iter().cloned()).collect(),
        exports: exports(&base),
    });
    let mut floor = Vec::new();
    for (u, name) in names.iter().enumerate() {
        let mut after = base.clone();
        after[u] = false;
        let when = format!("when {name} is drained, fails or is degraded");
        // The destinations whose traffic left through this uplink: only
        // they can go elsewhere (or stay, on an uplink that is now out).
        let indexes: Vec<usize> = (0..dests.len())
            .filter(|&i| normal[i].through(name))
            .collect();
        let touched: Vec<(usize, Fate)> = par_map(&indexes, |&i| (i, eval.fate(&dests[i], &after)));
        let changed: Vec<(usize, Fate)> = touched
            .iter()
            .filter(|(i, f)| *f != normal[*i])
            .cloned()
            .collect();
        let state_exports = exports(&after);
        let none_active = after.iter().all(|a| !a);
        let uplink = &config.uplinks[u];
        if none_active {
            out.findings.push(
                rules::SINGLE_POINT
                    .at(
                        uplink.pos,
                        format!(
                            "{when}, no uplink is active: every announce is withdrawn from the upstreams{}, and every destination is left to non-active uplinks",
                            if config.neighbors.is_empty() { "" } else { " and the default from the neighbours" }
                        ),
                    )
                    .help("a site with one active uplink has no redundancy; waive this with a reason if that is intended")
                    .uplink(name)
                    .state(&when),
            );
        } else {
            statics(config, &eval, u, &after, &when, &mut out.findings);
            stranded(
                config,
                dests,
                &normal,
                &touched,
                u,
                &after,
                &when,
                &mut out.findings,
            );
            for (i, a) in config.announce.iter().enumerate() {
                let before = &out.states[0].exports[i].1;
                if !before.is_empty() && state_exports[i].1.is_empty() {
                    out.findings.push(
                        rules::ANNOUNCE_UNEXPORTED
                            .at(
                                a.pos,
                                format!(
                                    "{when}, {} is exported to no active uplink (now to {}): no traffic can come in for it",
                                    a.value,
                                    before.join(", ")
                                ),
                            )
                            .help("another uplink's export policy (and address family) must pass it")
                            .uplink(name)
                            .state(&when),
                    );
                }
            }
            fallbacks(
                dests,
                &normal,
                &changed,
                uplink.pos,
                name,
                &when,
                &mut out.findings,
            );
        }
        if after.iter().filter(|a| **a).count()
            < config.maintenance.min_active_uplinks.value as usize
        {
            floor.push(name.clone());
        }
        out.states.push(StateView {
            label: format!("{name} drained, failed or degraded"),
            uplink: Some(name.clone()),
            fates: changed.into_iter().map(|(i, f)| (dests[i], f)).collect(),
            exports: state_exports,
        });
    }
    if !floor.is_empty() {
        let m = &config.maintenance.min_active_uplinks;
        out.findings.push(
            rules::FLOOR_UNREACHABLE
                .at(
                    m.pos,
                    format!(
                        "draining or losing {} leaves fewer active uplinks than min_active_uplinks {}: those drains are refused, and such a failure breaks the floor",
                        floor.join(" or "),
                        m.value
                    ),
                )
                .help("add an uplink or lower maintenance.min_active_uplinks"),
        );
    }
    reached_through_others(config, &eval, &base, &mut out.findings);
    leaks(config, &policies, dests, &mut out.findings);
    for (u, up) in config.uplinks.iter().enumerate() {
        if from_config
            && let Some(import) = &up.import
            && !model.rib.iter().any(|(_, paths)| {
                paths
                    .iter()
                    .any(|p| model.rib.peer(p.peer).uplink == Some(u))
            })
        {
            out.findings.push(
                rules::IMPORT_ALWAYS_LOSES
                    .at(
                        import.pos,
                        format!(
                            "uplink {}'s import accepts none of the destinations: it can never carry traffic, not even when every other uplink is out",
                            up.name.value
                        ),
                    )
                    .uplink(&up.name),
            );
        }
        if up.probes.is_empty() {
            out.findings.push(
                rules::NO_PROBE
                    .at(
                        up.pos,
                        format!(
                            "uplink {} has no probe: an access point that stops forwarding while its BGP session stays up would keep traffic",
                            up.name.value
                        ),
                    )
                    .help("add `probes: [{ target: ADDRESS }]` with an address beyond the access point")
                    .uplink(&up.name),
            );
        }
    }
    out
}

/// Static routes bound to uplink `u`: the config pins traffic the router
/// will not send there (or, with nothing covering, keeps sending there).
fn statics<E: sluice_rib::fib::Entries>(
    config: &Config,
    eval: &Evaluator<'_, E>,
    u: usize,
    after: &[bool],
    when: &str,
    out: &mut Vec<Finding>,
) {
    let name = &config.uplinks[u].name.value;
    for s in &config.static_routes {
        if config.uplink_of_next_hop(s.via.value) != Some(u) {
            continue;
        }
        let what = match eval.fate(&s.prefix.value.0, after) {
            Fate::Own(hops) if hops.iter().any(|h| h.address == s.via.value) => format!(
                "no active uplink covers {}, so it keeps traffic on {name}",
                s.prefix.value
            ),
            Fate::Own(_) => format!(
                "it is overridden: its traffic follows the learned route to {}",
                s.prefix.value
            ),
            fate @ Fate::Covered { .. } => {
                format!("it is overridden: its traffic goes {}", fate.describe())
            }
            other => format!("its traffic is {}", other.describe()),
        };
        out.push(
            rules::PINNED
                .at(
                    s.pos,
                    format!(
                        "{when}: static route {} via {} is bound to {name}; {what}",
                        s.prefix.value, s.via.value
                    ),
                )
                .help(format!(
                    "point it at a next hop that follows no single uplink, or waive this for {name} with the reason"
                ))
                .uplink(name)
                .state(when),
        );
    }
}

/// Destinations served in the normal state and left only to non-active
/// uplinks (or to nothing) in this one.
#[allow(clippy::too_many_arguments)]
fn stranded(
    config: &Config,
    dests: &[Prefix],
    normal: &[Fate],
    touched: &[(usize, Fate)],
    u: usize,
    after: &[bool],
    when: &str,
    out: &mut Vec<Finding>,
) {
    let base_active: Vec<bool> = (0..after.len()).map(|i| i == u || after[i]).collect();
    let pinned: BTreeSet<Prefix> = config
        .static_routes
        .iter()
        .filter(|s| config.uplink_of_next_hop(s.via.value) == Some(u))
        .map(|s| s.prefix.value.0)
        .collect();
    let lost: Vec<&(usize, Fate)> = touched
        .iter()
        .filter(|(i, f)| {
            normal[*i].served(config, &base_active)
                && !f.served(config, after)
                && !follows_pinned(&dests[*i], f, &pinned)
                && !full_table_stands_in(config, &dests[*i], &normal[*i], after)
        })
        .collect();
    if lost.is_empty() {
        return;
    }
    let active: Vec<&str> = config
        .uplinks
        .iter()
        .enumerate()
        .filter(|(i, _)| after[*i])
        .map(|(_, x)| x.name.as_str())
        .collect();
    let list = examples(
        lost.iter()
            .map(|(i, f)| format!("{} (would go {})", dests[*i], f.describe())),
        lost.len(),
    );
    let uplink = &config.uplinks[u];
    out.push(
        rules::UNREACHABLE
            .at(
                uplink.pos,
                format!(
                    "{when}, {} destination(s) served now are left only to non-active uplinks: {list}; they should leave through {}",
                    lost.len(),
                    active.join(" or ")
                ),
            )
            .help("another uplink must offer them, or a route covering them (its import policy decides)")
            .uplink(&uplink.name)
            .state(when),
    );
}

/// More-specifics that fall back to another uplink's covering route.
fn fallbacks(
    dests: &[Prefix],
    normal: &[Fate],
    changed: &[(usize, Fate)],
    pos: Pos,
    name: &str,
    when: &str,
    out: &mut Vec<Finding>,
) {
    let list: Vec<String> = changed
        .iter()
        .filter(|(i, f)| matches!(normal[*i], Fate::Own(_)) && matches!(f, Fate::Covered { .. }))
        .map(|(i, f)| {
            format!(
                "{} → {}",
                dests[*i],
                f.describe().trim_start_matches("through ")
            )
        })
        .collect();
    if list.is_empty() {
        return;
    }
    let n = list.len();
    let shown = examples(list, n);
    out.push(
        rules::FALLBACK
            .at(
                pos,
                format!(
                    "{when}, {n} more-specific(s) fall back to another uplink's covering route: {shown}"
                ),
            )
            .uplink(name)
            .state(when),
    );
}

/// Peers (multihop) and static gateways off every connected subnet that
/// are reached through an uplink other than their own.
fn reached_through_others<E: sluice_rib::fib::Entries>(
    config: &Config,
    eval: &Evaluator<'_, E>,
    base: &[bool],
    out: &mut Vec<Finding>,
) {
    for u in &config.uplinks {
        for p in &u.peer.0 {
            let addr = p.address.value;
            if config.on_link(Some(&u.interface), addr) {
                continue;
            }
            let fate = eval.fate(&Prefix::from(addr), base);
            let via = fate.uplinks();
            if !via.is_empty() && !via.contains(&u.name.value) {
                out.push(
                    rules::NEXTHOP_VIA_OTHER
                        .at(
                            p.address.pos,
                            format!(
                                "uplink {}'s peer {addr} is reached {}: when {} goes, {} loses its session too",
                                u.name.value,
                                fate.describe(),
                                via.join(" or "),
                                u.name.value
                            ),
                        )
                        .help("reach a multihop peer through the uplink's own interface (a static route via its gateway there)")
                        .uplink(&u.name),
                );
            }
        }
    }
    for s in &config.static_routes {
        let via = s.via.value;
        if config.on_link(None, via) {
            continue;
        }
        let fate = eval.fate(&Prefix::from(via), base);
        let ups = fate.uplinks();
        if !ups.is_empty() {
            out.push(
                rules::NEXTHOP_VIA_OTHER
                    .at(
                        s.via.pos,
                        format!(
                            "static route {}'s gateway {via} is on no connected subnet and is reached {}: it follows {}'s state only by accident",
                            s.prefix.value,
                            fate.describe(),
                            ups.join(" or ")
                        ),
                    )
                    .help("use a gateway on a connected subnet"),
            );
        }
    }
}

/// Export policies of uplinks that would pass learned routes.
fn leaks(config: &Config, policies: &Policies, dests: &[Prefix], out: &mut Vec<Finding>) {
    for u in &config.uplinks {
        let Some(export) = &u.export else { continue };
        let learned = dests.iter().find(|d| {
            !config.announce.iter().any(|a| a.value.0.contains(*d))
                && policies.export(
                    &export.value,
                    Source::Learned,
                    d,
                    &mut PathAttrs {
                        origin: IGP,
                        ..Default::default()
                    },
                )
        });
        let example = match (&export.value, learned) {
            (_, Some(d)) => d.to_string(),
            (PolicyRef::FullTable, None) => "any learned route".into(),
            _ => continue,
        };
        out.push(
            rules::EXPORT_LEAK
                .at(
                    export.pos,
                    format!(
                        "uplink {}'s export `{}` accepts routes learned from peers ({example}): a route leak (RFC 7908); the router exports only `announce` to uplinks, so the config says something it will not do",
                        u.name.value, export.value
                    ),
                )
                .help("match the site's own prefixes (a prefix list of `announce`) and reject the rest")
                .uplink(&u.name),
        );
    }
}
