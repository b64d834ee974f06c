//! The whole check of a config: the static rules, every simulated state
//! (`sluice_whatif`), and each drain's round trip through the data plane's
//! own programmer (`UNDRAIN-NOT-RESTORED`), with the waivers applied to
//! all. `sluice validate`, `sluice run` and `sluice reload` call it.

use sluice_config::{Config, Finding};
use sluice_whatif::{Model, rules};

use crate::fib::placer;

/// How many prefixes an `UNDRAIN-NOT-RESTORED` finding names.
const EXAMPLES: usize = 5;

/// Every finding on `config` with `model`'s routes (`from_config`: the
/// config's own route model rather than a running daemon's RIB).
pub fn check(config: &Config, model: &Model, from_config: bool) -> Vec<Finding> {
    let mut extra = Vec::new();
    for (u, differ) in placer::round_trips(config, &model.rib) {
        if differ.is_empty() {
            continue;
        }
        let up = &config.uplinks[u];
        let list: Vec<String> = differ
            .iter()
            .take(EXAMPLES)
            .map(ToString::to_string)
            .collect();
        extra.push(
            rules::UNDRAIN_NOT_RESTORED
                .at(
                    up.pos,
                    format!(
                        "draining {} and undraining it leaves {} prefix(es) forwarding otherwise than before: {}",
                        up.name.value,
                        differ.len(),
                        list.join(", ")
                    ),
                )
                .uplink(&up.name),
        );
    }
    sluice_whatif::check(config, model, from_config, extra)
}

/// [`check`] on the config's own route model.
pub fn check_config(config: &Config) -> Vec<Finding> {
    check(config, &Model::of_config(config), true)
}
