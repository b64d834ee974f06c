//! Change review: two versions of a config, each simulated in every state
//! on the same destinations, and what differs — where traffic goes, what
//! is exported where, which findings appear or go. What an operator reads
//! on a pull request (`sluice validate --diff REV FILE`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sluice_config::{Config, Finding};
use sluice_wire::Prefix;

use crate::eval::Fate;
use crate::model::Model;
use crate::simulate::{StateView, simulate};

#[derive(Clone, Debug, Default, Serialize)]
pub struct Diff {
    pub states: Vec<StateDiff>,
    /// Findings of the new version the old one did not have.
    pub appeared: Vec<Finding>,
    /// Findings of the old version the new one no longer has.
    pub gone: Vec<Finding>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct StateDiff {
    /// "normal", "iap-a drained, failed or degraded"; the state exists in
    /// one version only when an uplink was added or removed.
    pub state: String,
    pub only_in: Option<&'static str>,
    /// Destinations whose traffic goes elsewhere: (prefix, before, after).
    pub moved: Vec<(String, String, String)>,
    /// Announce prefixes exported to other uplinks: (prefix, before, after).
    pub exports: Vec<(String, String, String)>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.appeared.is_empty()
            && self.gone.is_empty()
            && self
                .states
                .iter()
                .all(|s| s.only_in.is_none() && s.moved.is_empty() && s.exports.is_empty())
    }
}

/// Compares `old` with `new`, given each one's findings (from the whole
/// check), over the destinations of both.
pub fn diff(
    old: &Config,
    new: &Config,
    old_findings: &[Finding],
    new_findings: &[Finding],
) -> Diff {
    let a = Model::of_config(old);
    let b = Model::of_config(new);
    let union: Vec<Prefix> = a
        .destinations
        .iter()
        .chain(&b.destinations)
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let a = Model::of_config_over(old, union.clone());
    let b = Model::of_config_over(new, union);
    let sa = states(&simulate(old, &a, true).states);
    let sb = states(&simulate(new, &b, true).states);
    // The normal state first, then the others by name.
    let mut labels: Vec<&String> = sa
        .keys()
        .chain(sb.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    labels.sort_by_key(|l| (l.as_str() != "normal", l.to_string()));
    let mut out = Diff::default();
    for label in labels {
        let mut d = StateDiff {
            state: label.clone(),
            ..Default::default()
        };
        match (sa.get(label), sb.get(label)) {
            (Some(x), Some(y)) => {
                for (p, fx) in &x.0 {
                    let fy = y.0.get(p);
                    if fy.map(Fate::describe) != Some(fx.describe()) {
                        d.moved.push((
                            p.to_string(),
                            fx.describe(),
                            fy.map_or("no route".into(), Fate::describe),
                        ));
                    }
                }
                for (p, ex) in &x.1 {
                    let ey = y.1.get(p).cloned().unwrap_or_default();
                    if *ex != ey {
                        d.exports.push((p.to_string(), list(ex), list(&ey)));
                    }
                }
                for (p, ey) in &y.1 {
                    if !x.1.contains_key(p) {
                        d.exports.push((p.to_string(), "-".into(), list(ey)));
                    }
                }
            }
            (Some(_), None) => d.only_in = Some("old"),
            (None, Some(_)) => d.only_in = Some("new"),
            (None, None) => unreachable!("a label of one of them"),
        }
        if d.only_in.is_some() || !d.moved.is_empty() || !d.exports.is_empty() {
            out.states.push(d);
        }
    }
    // Lines move between versions: findings are told apart by rule and message.
    let key = |f: &Finding| (f.rule, f.message.clone(), f.waived.is_some());
    let ka: BTreeSet<_> = old_findings.iter().map(key).collect();
    let kb: BTreeSet<_> = new_findings.iter().map(key).collect();
    out.appeared = new_findings
        .iter()
        .filter(|f| !ka.contains(&key(f)))
        .cloned()
        .collect();
    out.gone = old_findings
        .iter()
        .filter(|f| !kb.contains(&key(f)))
        .cloned()
        .collect();
    out
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "nowhere".into()
    } else {
        v.join(", ")
    }
}

type Full = (BTreeMap<Prefix, Fate>, BTreeMap<Prefix, Vec<String>>);

/// Each state's whole fates (the normal ones, then each state's changes)
/// and exports, by label.
fn states(views: &[StateView]) -> BTreeMap<String, Full> {
    let normal: BTreeMap<Prefix, Fate> = views
        .first()
        .map(|v| v.fates.iter().cloned().collect())
        .unwrap_or_default();
    views
        .iter()
        .map(|v| {
            let mut fates = normal.clone();
            fates.extend(v.fates.iter().cloned());
            (
                v.label.clone(),
                (fates, v.exports.iter().cloned().collect()),
            )
        })
        .collect()
}

/// The human report.
pub fn render(d: &Diff) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for s in &d.states {
        let _ = writeln!(out, "{}:", s.state);
        if let Some(v) = s.only_in {
            let _ = writeln!(out, "  only in the {v} version");
        }
        for (p, a, b) in &s.moved {
            let _ = writeln!(out, "  {p}: {a} → {b}");
        }
        for (p, a, b) in &s.exports {
            let _ = writeln!(out, "  {p} exported to {a} → {b}");
        }
    }
    for f in &d.appeared {
        let _ = writeln!(
            out,
            "+ {}[{}] line {}: {}",
            f.severity.as_str(),
            f.rule,
            f.pos.line,
            f.message
        );
    }
    for f in &d.gone {
        let _ = writeln!(out, "- {}[{}]: {}", f.severity.as_str(), f.rule, f.message);
    }
    if d.is_empty() {
        out.push_str("no change in any state\n");
    }
    out
}
