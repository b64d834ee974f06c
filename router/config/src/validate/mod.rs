//! The static validator: every check that needs no simulation.
//!
//! Each rule has a stable ID (usable in `validate.waive`), a severity and a
//! one-line summary, listed in [`RULES`]. [`check`] runs them all, then
//! applies the config's waivers. It is pure: `sluice validate` and
//! `sluice run`/`reload` call it on the same typed config.

mod identity;
mod maintenance;
mod peers;
mod policy;
mod rpki;

use crate::diag::{Finding, Severity};
use crate::model::{Config, Waiver};

/// A validation rule's identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
}

impl Rule {
    /// A finding of this rule at `pos`.
    pub fn at(&self, pos: crate::Pos, message: impl Into<String>) -> Finding {
        Finding::new(self.id, self.severity, pos, message)
    }
}

/// Declares rules (`NAME = "ID", Severity, "summary";`) and `RULES`,
/// every one of them in order; the what-if evaluator declares its own
/// with it too.
#[macro_export]
macro_rules! rules {
    ($($name:ident = $id:literal, $sev:ident, $summary:literal;)*) => {
        $(pub const $name: $crate::validate::Rule = $crate::validate::Rule {
            id: $id,
            severity: $crate::Severity::$sev,
            summary: $summary,
        };)*
        /// Every rule, in the order of the documentation.
        pub const RULES: &[$crate::validate::Rule] = &[$($name),*];
    };
}

rules! {
    ROUTER_ID = "ROUTER-ID", Error, "router.id must be a unicast IPv4 address other than 0.0.0.0 and loopback";
    ASN_RESERVED = "ASN-RESERVED", Error, "an ASN is reserved (0, 23456 AS_TRANS, 65535, 4294967295) and cannot be used";
    ECMP_RANGE = "ECMP-RANGE", Error, "router.ecmp must be between 1 (off) and 64";
    DUPLICATE_NAME = "DUPLICATE-NAME", Error, "two interfaces or two uplinks have the same name";
    DUPLICATE_ADDRESS = "DUPLICATE-ADDRESS", Error, "an address is configured twice (interfaces, peers, neighbours)";
    INTERFACE_OVERLAP = "INTERFACE-OVERLAP", Error, "two interface subnets overlap";
    UPLINK_UNKNOWN_INTERFACE = "UPLINK-UNKNOWN-INTERFACE", Error, "an uplink names an interface that `interfaces` does not declare";
    UPLINK_SHARED_INTERFACE = "UPLINK-SHARED-INTERFACE", Error, "two uplinks use one interface, so one failure takes both: no redundancy";
    UPLINK_WEIGHT = "UPLINK-WEIGHT", Error, "an uplink's weight is 0 (drain it instead)";
    PEER_OUTSIDE_SUBNET = "PEER-OUTSIDE-SUBNET", Error, "an eBGP peer is not on a subnet of its interface and does not set `multihop`";
    PEER_IS_LOCAL = "PEER-IS-LOCAL", Error, "a peer's address is one of this router's own addresses";
    EBGP_NO_IMPORT = "EBGP-NO-IMPORT", Error, "an eBGP session has no import policy; RFC 8212 would accept nothing";
    MAX_PREFIX_ZERO = "MAX-PREFIX-ZERO", Error, "max_prefix is 0, so the first route would tear the session down";
    MAX_PREFIX_MISSING = "MAX-PREFIX-MISSING", Warning, "a session has no max_prefix: a peer that leaks a full table, or floods, costs memory without limit";
    POLICY_UNKNOWN = "POLICY-UNKNOWN", Error, "an import or export names a policy that `policies.route_policies` does not define";
    POLICY_SHADOWS_BUILTIN = "POLICY-SHADOWS-BUILTIN", Error, "a route policy has the name of a built-in policy";
    POLICY_AS_PATH = "POLICY-AS-PATH", Error, "a route policy's as_path is no regular expression, or one no AS path can match";
    POLICY_RPKI_OFF = "POLICY-RPKI-OFF", Warning, "a route policy matches the RPKI state, but there is no `rpki` section";
    PREFIX_LIST_UNKNOWN = "PREFIX-LIST-UNKNOWN", Error, "a policy matches a prefix list that `policies.prefix_lists` does not define";
    PREFIX_LIST_MALFORMED = "PREFIX-LIST-MALFORMED", Error, "a prefix-list entry is not `PREFIX [ge N] [le M]` with sensible lengths";
    STATIC_NEXTHOP_OFFLINK = "STATIC-NEXTHOP-OFFLINK", Warning, "a static route's next hop is on none of the interfaces' subnets";
    DRAINED_UNKNOWN_UPLINK = "DRAINED-UNKNOWN-UPLINK", Error, "maintenance.drained names an uplink that does not exist";
    MIN_ACTIVE_ABOVE_UPLINKS = "MIN-ACTIVE-ABOVE-UPLINKS", Error, "maintenance.min_active_uplinks is more than the number of uplinks";
    MIN_ACTIVE_VIOLATED = "MIN-ACTIVE-VIOLATED", Error, "maintenance.drained leaves fewer active uplinks than min_active_uplinks";
    RPKI_NO_CACHE = "RPKI-NO-CACHE", Error, "`rpki` is configured with no cache, so no route could ever be validated";
    RPKI_DUPLICATE_CACHE = "RPKI-DUPLICATE-CACHE", Error, "an RTR cache (address and port) is listed twice";
    WAIVER_UNKNOWN_RULE = "WAIVER-UNKNOWN-RULE", Error, "a waiver names a rule that does not exist";
    WAIVER_UNKNOWN_UPLINK = "WAIVER-UNKNOWN-UPLINK", Error, "a waiver names an uplink that does not exist";
    WAIVER_UNUSED = "WAIVER-UNUSED", Warning, "a waiver covers no finding: the difference it excused is gone";
}

/// Rules a waiver may not silence: those about waivers themselves.
const NOT_WAIVABLE: &[&str] = &[
    "WAIVER-UNKNOWN-RULE",
    "WAIVER-UNKNOWN-UPLINK",
    "WAIVER-UNUSED",
];

pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// Runs every rule on `config`, applies its waivers, and returns the
/// findings ordered by position in the file.
pub fn check(config: &Config) -> Vec<Finding> {
    let mut findings = check_unwaived(config);
    apply_waivers(config, &mut findings, |_| false);
    findings.sort_by_key(|f| (f.pos.line, f.pos.column));
    findings
}

/// Every static rule's findings, before waivers: a checker that adds its
/// own rules (the what-if evaluator's) then applies the waivers to all.
pub fn check_unwaived(config: &Config) -> Vec<Finding> {
    let mut findings = Vec::new();
    identity::check(config, &mut findings);
    peers::check(config, &mut findings);
    policy::check(config, &mut findings);
    maintenance::check(config, &mut findings);
    rpki::check(config, &mut findings);
    findings
}

/// Applies the config's waivers to `findings`, reporting waivers that
/// name no rule (of this crate, or one `known_elsewhere` knows) or no
/// uplink, and those that cover nothing.
pub fn apply_waivers(
    config: &Config,
    findings: &mut Vec<Finding>,
    known_elsewhere: impl Fn(&str) -> bool,
) {
    let mut extra = Vec::new();
    for waiver in &config.validate.waive {
        let rule_id = waiver.rule.as_str();
        if (rule(rule_id).is_none() && !known_elsewhere(rule_id)) || NOT_WAIVABLE.contains(&rule_id)
        {
            extra.push(
                WAIVER_UNKNOWN_RULE
                    .at(
                        waiver.rule.pos,
                        format!("no rule `{rule_id}` can be waived"),
                    )
                    .help("`sluice validate --list-rules` lists the rules"),
            );
            continue;
        }
        if let Some(uplink) = &waiver.uplink
            && config.uplink(uplink).is_none()
        {
            extra.push(
                WAIVER_UNKNOWN_UPLINK
                    .at(uplink.pos, format!("no uplink is named `{}`", uplink.value)),
            );
            continue;
        }
        if !waive_with(waiver, findings) {
            let about = waiver
                .uplink
                .as_ref()
                .map(|u| format!(" for uplink `{}`", u.value))
                .unwrap_or_default();
            extra.push(
                WAIVER_UNUSED
                    .at(
                        waiver.pos,
                        format!("the waiver of {rule_id}{about} covers no finding"),
                    )
                    .help("remove it"),
            );
        }
    }
    findings.extend(extra);
}

/// Marks the findings `waiver` covers as waived; false if it covers none.
fn waive_with(waiver: &Waiver, findings: &mut [Finding]) -> bool {
    let mut used = false;
    for f in findings
        .iter_mut()
        .filter(|f| f.rule == waiver.rule.value && f.waived.is_none())
    {
        let uplink_matches = match (&waiver.uplink, &f.uplink) {
            (None, _) => true,
            (Some(w), Some(u)) => w.value == *u,
            (Some(_), None) => false,
        };
        if uplink_matches {
            f.waived = Some(waiver.reason.value.clone());
            used = true;
        }
    }
    used
}

/// Applies the config's waivers to findings of another checker (the
/// what-if evaluator's): marks what they cover, reports nothing itself.
pub fn waive(config: &Config, findings: &mut [Finding]) {
    for waiver in &config.validate.waive {
        waive_with(waiver, findings);
    }
}

#[cfg(test)]
pub(crate) mod tests;
