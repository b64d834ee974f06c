//! Golden frames of `sluice top` from a fixed daemon answer. To accept a
//! changed frame: `SLUICE_UPDATE_GOLDEN=1 cargo test -p sluice top`, then
//! review the diff of router/cli/tests/golden/.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use sluice_control::{Outbound, ProbeView};

use super::*;

const NOW: u64 = 1_765_000_000; // 2025-12-06 05:46:40 UTC

fn uplink(name: &str, state: UplinkState, share: f64, pps: u64, reason: &str) -> Uplink {
    Uplink {
        name: name.into(),
        interface: "eth1".into(),
        state,
        reason: reason.into(),
        peers: vec![],
        since: NOW - 75,
        drain: None,
        outbound: Some(Outbound {
            packets: 0,
            pps,
            share,
            inbound_pps: Some(pps / 2),
        }),
        probes: vec![ProbeView {
            target: "198.18.0.53".into(),
            state: "ok".into(),
            sent: 60,
            lost: 0,
            recent_loss: 0.0,
            rtt_ms: Some(0.4),
        }],
    }
}

fn peer(name: &str, address: &str, state: &str) -> PeerView {
    PeerView {
        name: name.into(),
        address: address.into(),
        asn: 65001,
        kind: "uplink".into(),
        state: state.into(),
        since: NOW - 3700,
        received: 1_000_000,
        accepted: 999_000,
        advertised: 1,
        too_big: 0,
        last_error: None,
        families: vec!["ipv4unicast".into()],
        max_prefix: Some(1_200_000),
    }
}

/// A drain under way: iap-a still carries 30 %.
fn draining() -> Snapshot {
    Snapshot {
        uplinks: vec![
            uplink(
                "iap-a",
                UplinkState::Draining,
                0.3,
                3000,
                "drained by uid 0: fibre work",
            ),
            uplink(
                "iap-b",
                UplinkState::Active,
                0.7,
                7000,
                "interface eth2 is up",
            ),
        ],
        peers: vec![
            peer("iap-a", "203.0.113.1", "established"),
            peer("iap-b", "203.0.113.5", "established"),
        ],
        events: vec![
            Event {
                at_ms: (NOW - 80) * 1000,
                kind: "drain".into(),
                message: "iap-a drained from the CLI by uid 0: fibre work".into(),
            },
            Event {
                at_ms: (NOW - 79) * 1000,
                kind: "uplink".into(),
                message: "iap-a: active -> draining".into(),
            },
        ],
        now: NOW,
        error: None,
    }
}

/// The frame as text, one line per row, trailing blanks trimmed.
fn frame(snap: &Snapshot) -> (String, Terminal<TestBackend>) {
    let mut terminal = Terminal::new(TestBackend::new(110, 20)).unwrap();
    terminal
        .draw(|f| render(f, snap, "/run/sluice/sluice.sock"))
        .unwrap();
    let buffer = terminal.backend().buffer().clone();
    let area = buffer.area;
    let mut text = String::new();
    for y in 0..area.height {
        let line: String = (0..area.width)
            .map(|x| buffer[(x, y)].symbol().to_string())
            .collect();
        text.push_str(line.trim_end());
        text.push('\n');
    }
    (text, terminal)
}

fn golden(name: &str, text: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("SLUICE_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, text).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (SLUICE_UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(text, want, "frame differs from {}", path.display());
}

#[test]
fn a_drain_under_way() {
    let (text, terminal) = frame(&draining());
    golden("top_draining.txt", &text);
    // The state is coloured: draining yellow, active green.
    let buffer = terminal.backend().buffer();
    let cell = |needle: &str| {
        let (y, line) = text
            .lines()
            .enumerate()
            .find(|(_, l)| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} not on screen"));
        let x = line[..line.find(needle).unwrap()].chars().count() as u16;
        buffer[(x, y as u16)].fg
    };
    assert_eq!(cell("draining"), Color::Yellow);
    assert_eq!(cell("active"), Color::Green);
}

#[test]
fn drained_and_a_session_down() {
    let mut snap = draining();
    snap.uplinks[0].state = UplinkState::Drained;
    snap.uplinks[0].outbound.as_mut().unwrap().share = 0.0;
    snap.uplinks[0].outbound.as_mut().unwrap().pps = 0;
    snap.uplinks[1].outbound.as_mut().unwrap().share = 1.0;
    snap.peers[0].state = "idle (held: uplink drained)".into();
    snap.error = Some("cannot reach the sluice daemon".into());
    let (text, _) = frame(&snap);
    golden("top_drained.txt", &text);
    assert!(text.contains("░░░░░░░░░░░░░░░░░░░░   0%"), "{text}");
    assert!(text.contains("████████████████████ 100%"), "{text}");
}
