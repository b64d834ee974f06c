//! The state machine replayed: inputs in, states and changes out.

use super::*;
use sluice_config::{Source, parse};

const CONFIG: &str = "\
router: { id: 192.0.2.1, asn: 64500 }
interfaces: [{ name: eth1 }, { name: eth2 }, { name: eth3 }]
uplinks:
  - { name: a, interface: eth1, peer: { address: 203.0.113.1, asn: 65001, multihop: 2 }, import: full-table, local_pref: 100,
      probes: [{ target: 198.18.0.53, fail_after: 3, recover_after: 10s }] }
  - { name: b, interface: eth2, peer: { address: 203.0.113.5, asn: 65002, multihop: 2 }, import: full-table, local_pref: 200,
      probes: [{ target: 198.18.0.54, fail_after: 3, recover_after: 10s }] }
  - { name: c, interface: eth3, peer: { address: 203.0.113.9, asn: 65003, multihop: 2 }, import: full-table }
maintenance: { drained: [c], drain: { settle: 5s } }
";

fn config(text: &str) -> Config {
    parse(&Source::new("t.yaml", text)).unwrap()
}

fn states(u: &Uplinks) -> Vec<UplinkState> {
    u.views().iter().map(|v| v.state).collect()
}

/// Every uplink's link up and session established at `now`.
fn all_up(u: &mut Uplinks, now: u64) -> Vec<Transition> {
    (0..3)
        .flat_map(|i| {
            u.apply(
                Input::Observe {
                    uplink: i,
                    link: Link::Up,
                    session: Some(true),
                },
                now,
            )
        })
        .collect()
}

fn drain(uid: u32) -> CliDrain {
    CliDrain {
        uid,
        at_ms: 1000,
        reason: Some("fibre work".into()),
        forced: vec![],
    }
}

#[test]
fn drain_wins_over_link_and_link_decides_the_rest() {
    let mut u = Uplinks::new(&config(CONFIG), Drains::new(), 0);
    u.apply(
        Input::Observe {
            uplink: 0,
            link: Link::Up,
            session: None,
        },
        0,
    );
    u.apply(
        Input::Observe {
            uplink: 1,
            link: Link::Down,
            session: None,
        },
        0,
    );
    assert_eq!(
        states(&u),
        [UplinkState::Active, UplinkState::Down, UplinkState::Drained]
    );
    let v = u.views();
    assert_eq!(v[2].reason, "held drained by maintenance.drained (line 9)");
    assert_eq!(v[1].reason, "interface eth2 is down");
    assert_eq!(v[0].peers, ["203.0.113.1 AS65001"]);
    assert_eq!(v[2].drain.as_ref().unwrap().from, "config");
    u.apply(
        Input::Observe {
            uplink: 0,
            link: Link::Up,
            session: Some(false),
        },
        0,
    );
    assert_eq!(states(&u)[0], UplinkState::Down);
    assert_eq!(
        u.views()[0].reason,
        "interface eth1 is up, no BGP session is established"
    );
    assert_eq!(
        u.check_undrain(2),
        Err(UndrainError::HeldByConfig {
            name: "c".into(),
            line: 9
        })
    );
}

#[test]
fn a_cli_drain_settles_when_the_counters_stop_rising() {
    let mut u = Uplinks::new(&config(CONFIG), Drains::new(), 0);
    all_up(&mut u, 0);
    u.apply(
        Input::Sample {
            uplink: 0,
            packets: 100,
            rx: None,
        },
        0,
    );
    u.apply(
        Input::Sample {
            uplink: 0,
            packets: 1100,
            rx: None,
        },
        1000,
    );
    assert_eq!(u.views()[0].outbound.unwrap().pps, 1000);
    let t = u.apply(
        Input::Drain {
            uplink: 0,
            drain: drain(1000),
        },
        1500,
    );
    assert_eq!(t.len(), 1);
    assert_eq!(
        (t[0].from, t[0].to),
        (UplinkState::Active, UplinkState::Draining)
    );
    assert!(u.settling());
    assert_eq!(u.active(), [false, true, false]);
    // Still rising (in flight when the groups were rewritten), then flat.
    u.apply(
        Input::Sample {
            uplink: 0,
            packets: 1150,
            rx: None,
        },
        1600,
    );
    assert_eq!(states(&u)[0], UplinkState::Draining);
    let t = u.apply(
        Input::Sample {
            uplink: 0,
            packets: 1150,
            rx: None,
        },
        1900,
    );
    assert_eq!(t[0].to, UplinkState::Drained, "{t:?}");
    let v = &u.views()[0];
    let d = v.drain.as_ref().unwrap();
    assert_eq!(
        (d.from.as_str(), d.uid, d.reason.as_deref(), d.settle),
        ("cli", Some(1000), Some("fibre work"), Settle::Quiet)
    );
    assert_eq!(v.since, 1);
    assert_eq!(u.cli_drains().keys().collect::<Vec<_>>(), ["a"]);

    u.apply(Input::Undrain { uplink: 0 }, 3000);
    assert_eq!(states(&u)[0], UplinkState::Active);
    assert!(u.views()[0].drain.is_none());
}

#[test]
fn the_settle_time_runs_out_with_the_rate_still_leaving() {
    let mut u = Uplinks::new(&config(CONFIG), Drains::new(), 0);
    all_up(&mut u, 0);
    u.apply(
        Input::Drain {
            uplink: 1,
            drain: drain(0),
        },
        0,
    );
    for s in 0..=5 {
        u.apply(
            Input::Sample {
                uplink: 1,
                packets: 500 * s,
                rx: None,
            },
            1000 * s,
        );
    }
    assert_eq!(states(&u)[1], UplinkState::Drained);
    assert_eq!(
        u.views()[1].drain.as_ref().unwrap().settle,
        Settle::TimedOut { pps: 500 }
    );
    assert!(
        u.views()[1]
            .reason
            .ends_with("the settle time ran out with 500 packets/s still leaving")
    );
}

#[test]
fn persisted_drains_start_drained_and_survive_a_reload_that_drops_the_uplink() {
    let mut drains = Drains::new();
    drains.insert("a".into(), drain(7));
    let mut u = Uplinks::new(&config(CONFIG), drains, 0);
    assert_eq!(states(&u)[0], UplinkState::Drained, "never briefly active");
    let t = all_up(&mut u, 10);
    assert!(t.iter().all(|t| t.uplink == 1), "{t:?}");

    let without_a = CONFIG.replace(
        "  - { name: a, interface: eth1, peer: { address: 203.0.113.1, asn: 65001, multihop: 2 }, import: full-table, local_pref: 100,\n      probes: [{ target: 198.18.0.53, fail_after: 3, recover_after: 10s }] }\n",
        "",
    );
    u.reconfigure(&config(&without_a), 20);
    assert_eq!(u.orphans().collect::<Vec<_>>(), ["a"]);
    assert_eq!(u.cli_drains()["a"].uid, 7);
    u.reconfigure(&config(CONFIG), 30);
    assert_eq!(states(&u)[0], UplinkState::Drained, "back, still drained");
}

#[test]
fn failed_probes_degrade_down_to_the_floor_keeping_the_preferred_uplink() {
    let text = CONFIG.replace("drained: [c]", "drained: [c], min_active_uplinks: 1");
    let mut u = Uplinks::new(&config(&text), Drains::new(), 0);
    all_up(&mut u, 0);
    let lose = |u: &mut Uplinks, uplink, now| {
        u.apply(
            Input::Probe {
                uplink,
                probe: 0,
                rtt_us: None,
            },
            now,
        )
    };
    for s in 1..=3 {
        lose(&mut u, 0, s * 1000);
    }
    assert_eq!(states(&u)[0], UplinkState::Degraded);
    assert_eq!(u.views()[0].probes[0].state, "failed");
    // b fails too: the floor (1) keeps b, the higher local_pref, active.
    for s in 1..=3 {
        lose(&mut u, 1, s * 1000);
    }
    assert_eq!(
        states(&u),
        [
            UplinkState::Degraded,
            UplinkState::Active,
            UplinkState::Drained
        ]
    );
    assert!(
        u.views()[1]
            .reason
            .contains("kept active: min_active_uplinks is 1")
    );
    // a answers again for recover_after: active; b no longer needs keeping.
    for s in 4..=14 {
        u.apply(
            Input::Probe {
                uplink: 0,
                probe: 0,
                rtt_us: Some(700),
            },
            s * 1000,
        );
    }
    assert_eq!(
        states(&u),
        [
            UplinkState::Active,
            UplinkState::Degraded,
            UplinkState::Drained
        ]
    );
}

#[test]
fn an_uplink_that_carried_no_traffic_is_drained_at_once() {
    let mut u = Uplinks::new(&config(CONFIG), Drains::new(), 0);
    u.apply(
        Input::Observe {
            uplink: 0,
            link: Link::Down,
            session: None,
        },
        0,
    );
    let t = u.apply(
        Input::Drain {
            uplink: 0,
            drain: drain(0),
        },
        10,
    );
    assert_eq!(
        (t[0].from, t[0].to),
        (UplinkState::Down, UplinkState::Drained)
    );
}
