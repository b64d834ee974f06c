//! The rules of states other than the normal one (and of the drain
//! pre-check), each with a stable ID usable in `validate.waive`, a
//! severity and a summary.

use sluice_config::validate::Rule;

sluice_config::rules! {
    PINNED = "PINNED-TO-INACTIVE", Error, "a static route sends traffic to an uplink that is not active: overridden where an active route covers it, stuck on that uplink where none does";
    UNREACHABLE = "UNREACHABLE-IN-STATE", Error, "a destination served through an active uplink becomes reachable only through non-active uplinks";
    ANNOUNCE_UNEXPORTED = "ANNOUNCE-UNEXPORTED", Error, "an announce prefix is exported to no active uplink any more: inbound traffic has no way in";
    SINGLE_POINT = "SINGLE-POINT-OF-FAILURE", Error, "one uplink's drain or failure leaves no uplink active: every announce and the default toward neighbours are withdrawn";
    BELOW_MIN_ACTIVE = "BELOW-MIN-ACTIVE", Error, "a drain would leave fewer uplinks active than maintenance.min_active_uplinks (it is refused)";
    FLOOR_UNREACHABLE = "FLOOR-UNREACHABLE", Warning, "a single drain or failure leaves fewer active uplinks than min_active_uplinks: such drains are refused, such failures break the floor";
    NEXTHOP_VIA_OTHER = "NEXTHOP-VIA-OTHER-UPLINK", Error, "an uplink's BGP peer or a static route's gateway is reached only through another uplink, so that uplink's failure takes this one down too";
    EXPORT_LEAK = "EXPORT-LEAK", Error, "an uplink's export policy accepts routes learned from peers (a route leak, RFC 7908); the router exports only `announce` to uplinks";
    IMPORT_ALWAYS_LOSES = "IMPORT-ALWAYS-LOSES", Error, "an uplink's import accepts nothing the model offers, so it can never take over";
    UNDRAIN_NOT_RESTORED = "UNDRAIN-NOT-RESTORED", Error, "draining an uplink and undraining it does not give back the FIB of the normal state";
    NO_PROBE = "UPLINK-NO-PROBE", Warning, "an uplink has no health probe: an access point that stops forwarding with its session up goes unnoticed";
    FALLBACK = "FALLBACK-TO-COVERING", Info, "more-specifics fall back to another uplink's covering route (listed, not a problem)";
}

pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}
