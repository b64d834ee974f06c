//! Uplink states from the config and what is observed of each uplink.
//!
//! Pure: the observations come in as a function, so the validator and tests
//! can evaluate any state without touching interfaces. Later sources of
//! state (BGP sessions, probes, run-time drains) join here.

use sluice_config::Config;
use sluice_control::{Uplink, UplinkState};

/// What the data plane sees of an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    Up,
    Down,
    Missing,
}

/// The state of every uplink, in config order. `session_up(i)` says whether
/// uplink `i` has an established BGP session (`None`: not known, e.g. when
/// no sessions run).
pub fn uplink_states(
    config: &Config,
    link: impl Fn(&str) -> Link,
    session_up: impl Fn(usize) -> Option<bool>,
) -> Vec<Uplink> {
    config
        .uplinks
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let iface = u.interface.as_str();
            let held = config
                .maintenance
                .drained
                .iter()
                .find(|d| d.as_str() == u.name.as_str());
            let (state, reason) = match (held, link(iface)) {
                (Some(d), _) => (
                    UplinkState::Drained,
                    format!("held drained by maintenance.drained (line {})", d.pos.line),
                ),
                (None, Link::Missing) => (
                    UplinkState::Down,
                    format!("interface {iface} does not exist"),
                ),
                (None, Link::Down) => (UplinkState::Down, format!("interface {iface} is down")),
                (None, Link::Up) if session_up(i) == Some(false) => (
                    UplinkState::Down,
                    format!("interface {iface} is up, no BGP session is established"),
                ),
                (None, Link::Up) => (UplinkState::Active, format!("interface {iface} is up")),
            };
            Uplink {
                name: u.name.value.clone(),
                interface: iface.to_string(),
                state,
                reason,
                peers: u
                    .peer
                    .0
                    .iter()
                    .map(|p| format!("{} AS{}", p.address.value, p.asn.value))
                    .collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_config::{Source, parse};

    const CONFIG: &str = "\
router: { id: 192.0.2.1, asn: 64500 }
interfaces: [{ name: eth1 }, { name: eth2 }, { name: eth3 }]
uplinks:
  - { name: a, interface: eth1, peer: { address: 203.0.113.1, asn: 65001, multihop: 2 }, import: full-table }
  - { name: b, interface: eth2, peer: { address: 203.0.113.5, asn: 65002, multihop: 2 }, import: full-table }
  - { name: c, interface: eth3, peer: { address: 203.0.113.9, asn: 65003, multihop: 2 }, import: full-table }
maintenance: { drained: [c] }
";

    #[test]
    fn drain_wins_over_link_and_link_decides_the_rest() {
        let config = parse(&Source::new("t.yaml", CONFIG)).unwrap();
        let states = uplink_states(
            &config,
            |i| match i {
                "eth1" => Link::Up,
                "eth2" => Link::Down,
                _ => Link::Missing,
            },
            |_| None,
        );
        let got: Vec<_> = states.iter().map(|u| (u.name.as_str(), u.state)).collect();
        assert_eq!(
            got,
            [
                ("a", UplinkState::Active),
                ("b", UplinkState::Down),
                ("c", UplinkState::Drained)
            ]
        );
        assert_eq!(
            states[2].reason,
            "held drained by maintenance.drained (line 7)"
        );
        assert_eq!(states[0].peers, ["203.0.113.1 AS65001"]);
        let no_session = uplink_states(&config, |_| Link::Up, |i| Some(i != 0));
        assert_eq!(no_session[0].state, UplinkState::Down);
        assert_eq!(
            no_session[0].reason,
            "interface eth1 is up, no BGP session is established"
        );
        assert_eq!(no_session[1].state, UplinkState::Active);
    }
}
