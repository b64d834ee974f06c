//! `sluice drain` and `sluice undrain`: ask the daemon, print its plan,
//! and with `--wait` watch the uplink's outbound counters fall until the
//! daemon calls it drained.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use sluice_control::{DrainReport, Request, Response, Settle, Uplink, UplinkState};

use crate::{client, output};

/// How often `--wait` looks.
const POLL: Duration = Duration::from_millis(500);

/// The plan and the outcome, for a person.
pub fn report(r: &DrainReport) -> String {
    let mut out = String::new();
    out.push_str(&r.rendered);
    if r.moved > 0 || r.applied || r.dry_run {
        let _ = writeln!(
            out,
            "{} destination(s) change next hop; {} more-specific(s) fall back to a covering route; {} uplink(s) stay active",
            r.moved, r.fallback_count, r.active_after
        );
    }
    if !r.fallbacks.is_empty() {
        let rows: Vec<Vec<String>> = r
            .fallbacks
            .iter()
            .map(|f| vec![f.prefix.clone(), f.to.clone(), f.via.join(", ")])
            .collect();
        out.push_str(&output::table(&["PREFIX", "FOLLOWS", "VIA"], &rows));
        if r.fallback_count > r.fallbacks.len() {
            let _ = writeln!(out, "… and {} more", r.fallback_count - r.fallbacks.len());
        }
    }
    let _ = writeln!(out, "{}", r.message);
    out
}

/// Exit status of a drain's answer: 1 when refused (or a dry run that
/// would be), else 0.
pub fn status(r: &DrainReport) -> u8 {
    u8::from(r.refused)
}

/// `--wait`: prints the drained uplinks' outbound traffic as it falls
/// until none of them is draining. Returns 0, or 1 when the settle time
/// ran out with packets still leaving.
pub fn wait(socket: &Path, names: &[String]) -> u8 {
    loop {
        let uplinks = match client::call(socket, &Request::ShowUplinks) {
            Ok(Response::Uplinks { uplinks }) => uplinks,
            Ok(other) => {
                eprintln!("sluice: unexpected answer while waiting: {other:?}");
                return 1;
            }
            Err(client::Unreachable(why)) => {
                eprintln!("sluice: {why}");
                return 3;
            }
        };
        let ours: Vec<&Uplink> = uplinks.iter().filter(|u| names.contains(&u.name)).collect();
        for u in &ours {
            println!("{}", progress(u));
        }
        if ours.iter().all(|u| u.state != UplinkState::Draining) {
            let mut code = 0;
            for u in &ours {
                match u.drain.as_ref().map(|d| d.settle) {
                    Some(Settle::TimedOut { pps }) if u.outbound.is_some() => {
                        println!(
                            "{}: drained, but the settle time ran out with {} packets/s still leaving",
                            u.name,
                            output::rate(pps)
                        );
                        code = 1;
                    }
                    _ => println!("{}: {}", u.name, drained_line(u)),
                }
            }
            return code;
        }
        std::thread::sleep(POLL);
    }
}

fn drained_line(u: &Uplink) -> String {
    match (u.state, u.outbound) {
        (UplinkState::Drained, Some(_)) => "drained: its outbound traffic has stopped".into(),
        (UplinkState::Drained, None) => {
            "drained (no data-plane counters to watch: the settle time passed)".into()
        }
        (state, _) => format!("{state}: {}", u.reason),
    }
}

/// `iap-a  draining  ██░░░░░░░░  20%   1.2k/s out, 3.4k/s in`
fn progress(u: &Uplink) -> String {
    let traffic = match u.outbound {
        Some(o) => format!(
            "{} out{}",
            output::share(&o),
            o.inbound_pps
                .map(|i| format!(", {}/s in", output::rate(i)))
                .unwrap_or_default()
        ),
        None => "no data-plane counters".into(),
    };
    format!("{}  {}  {traffic}", u.name, u.state)
}

/// The drain request as the command line gives it.
pub fn request(
    uplink: Option<String>,
    all: bool,
    dry_run: bool,
    force: bool,
    reason: Option<String>,
) -> Request {
    Request::Drain {
        uplinks: uplink.into_iter().collect(),
        all,
        dry_run,
        force,
        reason,
    }
}
