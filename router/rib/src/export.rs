//! What a peer is sent of a route: its export policy, and the rewriting
//! every eBGP or iBGP export gets, drain attributes included (RFC 4271
//! §5.1, RFC 8326). Pure, so that the daemon's route owner and the what-if
//! evaluator decide exports with the same function (docs/architecture.md, principle 1).

use sluice_config::Config;
use sluice_config::values::{Community, PolicyRef};
use sluice_wire::Prefix;

use crate::attrs::PathAttrs;
use crate::decision::DEFAULT_LOCAL_PREF;
use crate::policy::{Policies, Source};

/// The session a route is exported to.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub ebgp: bool,
    /// `uplinks[i]` of the config, for an uplink's session.
    pub uplink: Option<usize>,
    /// The export policy in force.
    pub policy: &'a PolicyRef,
}

/// The moment's conditions that change exports.
#[derive(Clone, Copy, Debug)]
pub struct Conditions<'a> {
    /// Whether uplink `i` (config order) is active.
    pub active: &'a [bool],
    /// Cold start: the FIB is not programmed yet, so announcements are
    /// prepended and attract no traffic this router cannot forward.
    pub cold: bool,
}

/// The attributes `prefix` is exported with to `to`, or None if its policy
/// refuses it. The next hop is the caller's (the session's own address).
pub fn export(
    policies: &Policies,
    config: &Config,
    to: Target<'_>,
    prefix: &Prefix,
    mut a: PathAttrs,
    source: Source,
    now: Conditions<'_>,
) -> Option<PathAttrs> {
    if to.ebgp {
        // MED and LOCAL_PREF do not leave the AS (RFC 4271 §5.1.4, 5.1.5).
        a.med = None;
        a.local_pref = None;
    }
    if !policies.export(to.policy, source, prefix, &mut a) {
        return None;
    }
    let drain = &config.maintenance.drain;
    let gshut = |a: &mut PathAttrs| {
        if drain.graceful_shutdown {
            a.communities.push(Community::GRACEFUL_SHUTDOWN.0);
            a.communities.sort_unstable();
            a.communities.dedup();
        }
    };
    if to.ebgp {
        a.local_pref = None;
        let mut prepend = 1;
        if let Some(u) = to.uplink
            && !now.active.get(u).copied().unwrap_or(false)
        {
            // A drained or failed uplink keeps announcing, made unattractive (RFC 8326).
            prepend += usize::from(drain.prepend);
            gshut(&mut a);
        } else if now.cold && to.uplink.is_some() {
            prepend += usize::from(drain.prepend);
        }
        a.prepend(config.router.asn.value, prepend);
    } else if !config.uplinks.is_empty() && !now.active.iter().any(|a| *a) {
        // Whole-router maintenance (or no way out at all): a partner edge
        // router should take the traffic (RFC 8326 §4: local-pref 0).
        gshut(&mut a);
        a.local_pref = Some(0);
    } else {
        a.local_pref = Some(a.local_pref.unwrap_or(DEFAULT_LOCAL_PREF));
    }
    Some(a)
}

/// Whether a route with these attributes asks to be avoided (RFC 8326 §4):
/// the receiver gives it local-pref 0.
pub fn is_graceful_shutdown(a: &PathAttrs) -> bool {
    a.communities.contains(&Community::GRACEFUL_SHUTDOWN.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_config::{Source as Text, parse};

    fn config() -> Config {
        parse(&Text::new(
            "t.yaml",
            "router: { id: 192.0.2.1, asn: 64500 }
interfaces: [{ name: eth1, addresses: [203.0.113.2/30] }]
uplinks:
  - { name: a, interface: eth1, peer: { address: 203.0.113.1, asn: 65001 }, import: full-table }
announce: [198.51.100.0/24]
maintenance: { drain: { prepend: 2 } }
",
        ))
        .unwrap()
    }

    #[test]
    fn drained_uplinks_and_partners_get_graceful_shutdown() {
        let config = config();
        let policies = Policies::new(&config);
        let prefix: Prefix = "198.51.100.0/24".parse().unwrap();
        let uplink = Target {
            ebgp: true,
            uplink: Some(0),
            policy: &PolicyRef::Announce,
        };
        let out = |to, active: &[bool], cold| {
            export(
                &policies,
                &config,
                to,
                &prefix,
                PathAttrs::default(),
                Source::Local,
                Conditions { active, cold },
            )
            .unwrap()
        };
        let normal = out(uplink, &[true], false);
        assert_eq!(normal.asns(), [64500]);
        assert!(!is_graceful_shutdown(&normal));
        let drained = out(uplink, &[false], false);
        assert_eq!(drained.asns(), [64500; 3]);
        assert!(is_graceful_shutdown(&drained));
        let cold = out(uplink, &[true], true);
        assert_eq!(cold.asns(), [64500; 3]);
        assert!(!is_graceful_shutdown(&cold));

        let partner = Target {
            ebgp: false,
            uplink: None,
            policy: &PolicyRef::FullTable,
        };
        let normal = out(partner, &[true], false);
        assert_eq!(normal.local_pref, Some(DEFAULT_LOCAL_PREF));
        let all_drained = out(partner, &[false], false);
        assert_eq!(all_drained.local_pref, Some(0));
        assert!(is_graceful_shutdown(&all_drained));
    }
}
