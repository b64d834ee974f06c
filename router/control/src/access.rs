//! Which requests read and which change: the daemon lets the control
//! socket's group read, and only root or its own user change.

use crate::Request;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Shows state; changes nothing.
    Read,
    /// Changes what the router does (config, uplink states).
    Change,
}

impl Request {
    /// Spelt out per variant, no wildcard: a new request must be classed
    /// before it compiles.
    pub fn access(&self) -> Access {
        match self {
            Request::Status
            | Request::ShowUplinks
            | Request::ShowEvents { .. }
            | Request::ShowPeers
            | Request::ShowRoutes { .. }
            | Request::ShowFib { .. }
            | Request::ShowCounters
            | Request::ShowRpki
            | Request::DumpRib => Access::Read,
            // A dry-run drain changes nothing, but its pre-check walks the
            // whole RIB on the route owner: not for every reader.
            Request::Reload { .. }
            | Request::Confirm
            | Request::Drain { .. }
            | Request::Undrain { .. } => Access::Change,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant, by its wire name: a variant missing here fails the
    /// count below.
    fn every_request() -> Vec<(&'static str, Request)> {
        let wire = |json: &str| serde_json::from_str::<Request>(json).unwrap();
        vec![
            ("status", wire(r#"{"cmd":"status"}"#)),
            ("show-uplinks", wire(r#"{"cmd":"show-uplinks"}"#)),
            ("show-events", wire(r#"{"cmd":"show-events"}"#)),
            ("show-peers", wire(r#"{"cmd":"show-peers"}"#)),
            ("show-routes", wire(r#"{"cmd":"show-routes"}"#)),
            ("show-fib", wire(r#"{"cmd":"show-fib"}"#)),
            ("show-counters", wire(r#"{"cmd":"show-counters"}"#)),
            ("show-rpki", wire(r#"{"cmd":"show-rpki"}"#)),
            ("dump-rib", wire(r#"{"cmd":"dump-rib"}"#)),
            ("reload", wire(r#"{"cmd":"reload"}"#)),
            ("confirm", wire(r#"{"cmd":"confirm"}"#)),
            ("drain", wire(r#"{"cmd":"drain","uplinks":["a"]}"#)),
            (
                "drain --dry-run",
                wire(r#"{"cmd":"drain","uplinks":["a"],"dry_run":true}"#),
            ),
            ("undrain", wire(r#"{"cmd":"undrain","uplink":"a"}"#)),
        ]
    }

    #[test]
    fn every_request_is_classed() {
        let classed: Vec<(&str, Access)> = every_request()
            .into_iter()
            .map(|(name, r)| (name, r.access()))
            .collect();
        assert_eq!(
            classed,
            [
                ("status", Access::Read),
                ("show-uplinks", Access::Read),
                ("show-events", Access::Read),
                ("show-peers", Access::Read),
                ("show-routes", Access::Read),
                ("show-fib", Access::Read),
                ("show-counters", Access::Read),
                ("show-rpki", Access::Read),
                ("dump-rib", Access::Read),
                ("reload", Access::Change),
                ("confirm", Access::Change),
                ("drain", Access::Change),
                ("drain --dry-run", Access::Change),
                ("undrain", Access::Change),
            ]
        );
    }

    /// The list above names every variant: serde's own list of them
    /// (what an unknown `cmd` error enumerates) has no other.
    #[test]
    fn the_list_names_every_variant() {
        let err = serde_json::from_str::<Request>(r#"{"cmd":"no-such"}"#)
            .unwrap_err()
            .to_string();
        let named: std::collections::HashSet<&str> = every_request()
            .iter()
            .map(|(n, _)| n.split(' ').next().unwrap())
            .collect();
        let known: Vec<&str> = err
            .split('`')
            .skip(3)
            .step_by(2)
            .filter(|w| !w.is_empty())
            .collect();
        assert!(!known.is_empty(), "{err}");
        for variant in known {
            assert!(named.contains(variant), "{variant} is not classed: {err}");
        }
    }
}
