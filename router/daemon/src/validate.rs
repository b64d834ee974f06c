//! The whole check of a config: the static rules, every simulated state
//! (`sluice_whatif`), and each drain's round trip through the data plane's
//! own programmer (`UNDRAIN-NOT-RESTORED`), with the waivers applied to
//! all. `sluice validate`, `sluice run` and `sluice reload` call it.

use sluice_config::{Config, Finding};
use sluice_whatif::{Model, rules};

use crate::fib::placer;

/// Every finding on `config` with `model`'s routes (`from_config`: the
/// config's own route model rather than a running daemon's RIB).
pub fn check(config: &Config, model: &Model, from_config: bool) -> Vec<Finding> {
    // The round trips and the simulation read the same routes: side by side.
    let (trips, mut findings) = std::thread::scope(|s| {
        let trips = s.spawn(|| placer::round_trips(config, &model.rib));
        let findings = sluice_whatif::unwaived(config, model, from_config);
        (
            trips.join().expect("the round trips do not panic"),
            findings,
        )
    });
    for (u, differ) in trips {
        if differ.is_empty() {
            continue;
        }
        let up = &config.uplinks[u];
        let list = sluice_whatif::examples(differ.iter().map(ToString::to_string), differ.len());
        findings.push(
            rules::UNDRAIN_NOT_RESTORED
                .at(
                    up.pos,
                    format!(
                        "draining {} and undraining it leaves {} prefix(es) forwarding otherwise than before: {list}",
                        up.name.value,
                        differ.len(),
                    ),
                )
                .uplink(&up.name),
        );
    }
    sluice_whatif::waive(config, &mut findings);
    findings
}

/// [`check`] on the config's own route model.
pub fn check_config(config: &Config) -> Vec<Finding> {
    check(config, &Model::of_config(config), true)
}
