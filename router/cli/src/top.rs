//! `sluice top`: a live view of the uplinks, made for watching a drain.
//!
//! [`render`] draws one [`Snapshot`] (pure: the golden tests below feed it
//! a fixed daemon answer); [`run`] asks the daemon for uplinks, sessions
//! and events every second and redraws until `q`, Esc or Ctrl-C.

use std::path::Path;
use std::time::{Duration, Instant};

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table};
use sluice_control::{Event, PeerView, Request, Response, Uplink, UplinkState};

use crate::client;
use crate::output::{ago, rate};

/// What one refresh got from the daemon.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub uplinks: Vec<Uplink>,
    pub peers: Vec<PeerView>,
    pub events: Vec<Event>,
    /// Unix seconds of the refresh (ages are relative to it).
    pub now: u64,
    /// Why the last refresh failed, if it did (the previous data stays).
    pub error: Option<String>,
}

fn state_style(s: UplinkState) -> Style {
    let color = match s {
        UplinkState::Active => Color::Green,
        UplinkState::Draining => Color::Yellow,
        UplinkState::Drained => Color::Blue,
        UplinkState::Degraded => Color::Magenta,
        UplinkState::Down => Color::Red,
    };
    Style::default().fg(color).add_modifier(Modifier::BOLD)
}

/// A 20-cell bar of `share` (0 to 1).
fn bar(share: f64) -> String {
    let cells = (share * 20.0).round().clamp(0.0, 20.0) as usize;
    format!("{}{}", "█".repeat(cells), "░".repeat(20 - cells))
}

fn probes(u: &Uplink) -> String {
    if u.probes.is_empty() {
        return "-".into();
    }
    u.probes
        .iter()
        .map(|p| {
            let rtt = p.rtt_ms.map_or("-".into(), |r| format!("{r:.1}ms"));
            format!("{:.0}% {rtt}", p.recent_loss * 100.0)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Draws `snap` on the whole frame.
pub fn render(frame: &mut Frame<'_>, snap: &Snapshot, socket: &str) {
    let [head, uplinks, peers, events] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(snap.uplinks.len() as u16 + 3),
        Constraint::Length(snap.peers.len() as u16 + 3),
        Constraint::Min(3),
    ])
    .areas(frame.area());

    let mut title = vec![
        Span::styled("sluice top", Style::default().add_modifier(Modifier::BOLD)),
        Span::raw(format!("  {socket}  {}", hms(snap.now))),
        Span::raw("  (q quits)"),
    ];
    if let Some(e) = &snap.error {
        title.push(Span::styled(
            format!("  {e}"),
            Style::default().fg(Color::Red),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(title)), head);

    let rows = snap.uplinks.iter().map(|u| {
        let since = ago(snap.now.saturating_sub(u.since));
        let (share, out, inb) = match &u.outbound {
            Some(o) => (
                format!("{} {:>3.0}%", bar(o.share), o.share * 100.0),
                format!("{}/s", rate(o.pps)),
                o.inbound_pps
                    .map_or("-".into(), |p| format!("{}/s", rate(p))),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        Row::new(vec![
            Cell::from(u.name.clone()),
            Cell::from(u.state.as_str()).style(state_style(u.state)),
            Cell::from(since),
            Cell::from(share),
            Cell::from(out),
            Cell::from(inb),
            Cell::from(probes(u)),
            Cell::from(u.reason.clone()),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(8),
            Constraint::Length(9),
            Constraint::Length(7),
            Constraint::Length(25),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(14),
            Constraint::Min(10),
        ],
    )
    .header(
        Row::new([
            "UPLINK",
            "STATE",
            "SINCE",
            "OUTBOUND SHARE",
            "OUT",
            "IN",
            "PROBES",
            "REASON",
        ])
        .style(Style::default().add_modifier(Modifier::BOLD)),
    )
    .block(Block::bordered().title(" uplinks "));
    frame.render_widget(table, uplinks);

    let rows = snap.peers.iter().map(|p| {
        let up = p.state == "established";
        Row::new(vec![
            Cell::from(p.name.clone()),
            Cell::from(p.address.clone()),
            Cell::from(p.state.clone()).style(Style::default().fg(if up {
                Color::Green
            } else {
                Color::Red
            })),
            Cell::from(ago(snap.now.saturating_sub(p.since))),
            Cell::from(p.received.to_string()),
            Cell::from(p.accepted.to_string()),
            Cell::from(p.advertised.to_string()),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(10),
            Constraint::Length(26),
            Constraint::Length(14),
            Constraint::Length(8),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(10),
        ],
    )
    .header(
        Row::new([
            "PEER",
            "ADDRESS",
            "STATE",
            "SINCE",
            "RECEIVED",
            "ACCEPTED",
            "ADVERTISED",
        ])
        .style(Style::default().add_modifier(Modifier::BOLD)),
    )
    .block(Block::bordered().title(" sessions "));
    frame.render_widget(table, peers);

    // The latest events that fit, newest last.
    let room = events.height.saturating_sub(2) as usize;
    let lines: Vec<Line<'_>> = snap
        .events
        .iter()
        .skip(snap.events.len().saturating_sub(room))
        .map(|e| {
            Line::from(vec![
                Span::raw(format!("{} ", hms(e.at_ms / 1000))),
                Span::styled(format!("{:<12}", e.kind), Style::default().fg(Color::Cyan)),
                Span::raw(e.message.clone()),
            ])
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" events ")),
        events,
    );
}

/// HH:MM:SS (UTC) of a unix time.
fn hms(unix: u64) -> String {
    let s = unix % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
}

/// One refresh: uplinks, sessions and the latest events.
fn refresh(socket: &Path, snap: &mut Snapshot) {
    snap.now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    snap.error = None;
    for request in [
        Request::ShowUplinks,
        Request::ShowPeers,
        Request::ShowEvents { limit: 50 },
    ] {
        match client::call(socket, &request) {
            Ok(Response::Uplinks { uplinks }) => snap.uplinks = uplinks,
            Ok(Response::Peers { peers }) => snap.peers = peers,
            Ok(Response::Events { events }) => snap.events = events,
            Ok(other) => snap.error = Some(format!("unexpected answer: {other:?}")),
            Err(client::Unreachable(why)) => snap.error = Some(why),
        }
    }
}

/// Runs the view until the user quits; the exit status.
pub fn run(socket: &Path, every: Duration) -> u8 {
    use ratatui::crossterm::event::{self, Event as Key, KeyCode, KeyModifiers};
    let mut snap = Snapshot::default();
    refresh(socket, &mut snap);
    if snap.uplinks.is_empty()
        && let Some(why) = &snap.error
    {
        eprintln!("sluice: {why}");
        return 3;
    }
    let mut terminal = ratatui::init();
    let label = socket.display().to_string();
    let mut next = Instant::now();
    let code = loop {
        if Instant::now() >= next {
            refresh(socket, &mut snap);
            next = Instant::now() + every;
        }
        if let Err(e) = terminal.draw(|f| render(f, &snap, &label)) {
            eprintln!("sluice: drawing: {e}");
            break 1;
        }
        let wait = next.saturating_duration_since(Instant::now());
        match event::poll(wait) {
            Ok(true) => {
                if let Ok(Key::Key(k)) = event::read() {
                    let ctrl_c =
                        k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
                    if matches!(k.code, KeyCode::Char('q') | KeyCode::Esc) || ctrl_c {
                        break 0;
                    }
                }
            }
            Ok(false) => {}
            Err(e) => {
                eprintln!("sluice: reading keys: {e}");
                break 1;
            }
        }
    };
    ratatui::restore();
    code
}

#[cfg(test)]
mod tests;
