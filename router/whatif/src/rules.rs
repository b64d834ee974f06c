//! The rules of states other than the normal one, each with a stable ID
//! (usable in `validate.waive`), a severity and a summary.

use sluice_config::Severity;
use sluice_config::validate::Rule;

macro_rules! rules {
    ($($name:ident = $id:literal, $sev:ident, $summary:literal;)*) => {
        $(pub const $name: Rule = Rule { id: $id, severity: Severity::$sev, summary: $summary };)*
        /// Every rule, in the order of the documentation.
        pub const RULES: &[Rule] = &[$($name),*];
    };
}

rules! {
    PINNED = "PINNED-TO-INACTIVE", Error, "a static route sends traffic to an uplink that is not active: overridden where an active route covers it, stuck on that uplink where none does";
    UNREACHABLE = "UNREACHABLE-IN-STATE", Error, "a destination served through an active uplink becomes reachable only through non-active uplinks";
    ANNOUNCE_UNEXPORTED = "ANNOUNCE-UNEXPORTED", Error, "an announce prefix is exported to no active uplink any more: inbound traffic has no way in";
    BELOW_MIN_ACTIVE = "BELOW-MIN-ACTIVE", Error, "fewer uplinks stay active than maintenance.min_active_uplinks";
    FALLBACK = "FALLBACK-TO-COVERING", Info, "more-specifics fall back to another uplink's covering route (listed, not a problem)";
}

pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}
