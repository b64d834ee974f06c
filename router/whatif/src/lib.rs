//! What-if evaluation: the FIB and the exports in uplink states nobody
//! has entered yet, computed by the same pure functions the daemon
//! programs from (the data plane's placement, `sluice_rib::fib`,
//! `sluice_rib::export`; docs/architecture.md, principle 1).
//!
//! - [`eval`]: where a destination's traffic goes under some states;
//! - [`compare`] sets one state against another; [`drain`] makes that the
//!   pre-check of `sluice drain`, on the routes a daemon holds;
//! - [`model`]: the config's own route model (destination classes and
//!   what each uplink offers), or a daemon's routes ([`dump`]);
//! - [`simulate`]: every uplink drained, failed or degraded, and the
//!   properties checked in each; [`check`] adds the static rules and
//!   applies the waivers to all; [`diff`] compares two versions.
//!
//! Each property is a rule with a stable ID ([`rules::RULES`]), listed by
//! `sluice validate --list-rules` and waivable like the static rules.

pub mod compare;
pub mod diff;
pub mod drain;
pub mod dump;
pub mod eval;
pub mod model;
pub mod rules;
pub mod simulate;

pub use compare::{Comparison, compare};
pub use drain::{DrainPlan, drain_plan};
pub use eval::{Evaluator, Fate};
pub use model::Model;
pub use simulate::{Simulation, simulate};

#[cfg(test)]
mod tests;

use sluice_config::{Config, Finding};

/// How many counterexamples a finding lists.
const EXAMPLES: usize = 5;

/// The first few of `items` (`total` in all), as a finding lists them:
/// "a, b, c, d, e and 7 more".
pub fn examples(items: impl IntoIterator<Item = String>, total: usize) -> String {
    let shown: Vec<String> = items.into_iter().take(EXAMPLES).collect();
    let more = total.saturating_sub(shown.len());
    let list = shown.join(", ");
    if more > 0 {
        format!("{list} and {more} more")
    } else {
        list
    }
}

/// `f` over `items` on as many threads as there are cores: evaluating is
/// read-only, and a big route model is most of the validator's time.
pub(crate) fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads <= 1 || items.len() < 4096 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let parts: Vec<_> = items
            .chunks(chunk)
            .map(|c| s.spawn(|| c.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|h| h.join().expect("the evaluation does not panic"))
            .collect()
    })
}

/// Every rule's findings on `config`: the static rules', each simulated
/// state's on `model` (`from_config`: the model is the config's own, not a
/// running daemon's routes), and `extra` (findings of checks that need
/// the data plane's programmer: `UNDRAIN-NOT-RESTORED`), with the
/// config's waivers applied, in file order.
pub fn check(
    config: &Config,
    model: &Model,
    from_config: bool,
    extra: Vec<Finding>,
) -> Vec<Finding> {
    let mut findings = unwaived(config, model, from_config);
    findings.extend(extra);
    waive(config, &mut findings);
    findings
}

/// [`check`] before the waivers: the static rules' findings and the
/// simulated states'.
pub fn unwaived(config: &Config, model: &Model, from_config: bool) -> Vec<Finding> {
    let mut findings = sluice_config::validate::check_unwaived(config);
    findings.extend(simulate(config, model, from_config).findings);
    findings
}

/// Applies the config's waivers to the findings of every rule (reporting
/// waivers that name no rule or cover nothing), in file order.
pub fn waive(config: &Config, findings: &mut Vec<Finding>) {
    sluice_config::validate::apply_waivers(config, findings, |id| rules::rule(id).is_some());
    findings.sort_by_key(|f| (f.pos.line, f.pos.column));
}
