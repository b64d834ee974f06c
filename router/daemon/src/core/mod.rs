//! The daemon's state owner: the running config, a pending rollback, the
//! event log and uplink states. Requests come in, responses go out; sockets,
//! signals and timers belong to the runtime in `lib.rs`.

mod maintenance;
pub mod rolled_back;
mod rpki;
mod show;

pub use show::DumpState;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use sluice_config::diag::render_human;
use sluice_config::{Finding, LoadError, Loaded, Severity};
use sluice_control::{ConfigInfo, Reloaded, Request, Response, Status, Uplink};

use crate::events::Events;
use crate::metrics::{Metrics, ReloadResult};
use crate::routing::Routing;
use crate::uplinks::drains::{DrainFile, DrainFileError};
use crate::uplinks::{Input, Link, Transition, Uplinks};
use sluice_rib::fib::StaticOutcome;

/// A config that loaded and passed validation.
#[derive(Debug)]
pub struct Checked {
    pub loaded: Loaded,
    pub sha256: String,
    /// Non-blocking findings (warnings, waived errors).
    pub findings: Vec<Finding>,
    /// `control.group` as a gid, looked up on this host.
    pub control_gid: Option<u32>,
}

/// Why a config was not taken: for the operator (`rendered`) and for tools (`findings`).
#[derive(Debug)]
pub struct Refusal {
    pub message: String,
    pub rendered: String,
    pub findings: serde_json::Value,
    /// The file could not be read at all (exit status 2 rather than 1).
    pub unreadable: bool,
}

/// How much of the check refuses a config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strictness {
    /// A reload: an error in any state refuses it, the running config stays.
    EveryState,
    /// The start: only errors of the normal state stop it; those of other
    /// states are reported (a router that reboots must come up).
    NormalState,
}

/// Loads and validates `path` (the static rules and every simulated
/// state, [`crate::validate`]): what `sluice run` does at start and on
/// every reload.
pub fn check_file(path: &Path, strictness: Strictness) -> Result<Checked, Refusal> {
    let loaded = match sluice_config::load(path) {
        Ok(l) => l,
        Err(LoadError::Unreadable { path, error }) => {
            let message = format!("cannot read {}: {error}", path.display());
            return Err(Refusal {
                rendered: format!("error: {message}\n"),
                message,
                findings: serde_json::json!([]),
                unreadable: true,
            });
        }
        Err(LoadError::Invalid { file, finding }) => {
            let findings = vec![*finding];
            return Err(Refusal {
                message: format!("{} is not a valid config", file.path.display()),
                rendered: render_human(&file, &findings),
                findings: serde_json::to_value(&findings).unwrap_or_default(),
                unreadable: true,
            });
        }
    };
    // A group of this host: not a rule of the validator, which may run elsewhere.
    let control_gid = match &loaded.config.control.group {
        Some(g) => match crate::control::access::resolve_group(g) {
            Ok(gid) => Some(gid),
            Err(finding) => {
                let findings = vec![*finding];
                return Err(Refusal {
                    message: format!("{} is not a valid config", loaded.source.path.display()),
                    rendered: render_human(&loaded.source, &findings),
                    findings: serde_json::to_value(&findings).unwrap_or_default(),
                    unreadable: false,
                });
            }
        },
        None => None,
    };
    let findings = crate::validate::check_config(&loaded.config);
    let refuses = |f: &&Finding| {
        f.is_blocking()
            && (strictness == Strictness::EveryState
                || sluice_whatif::rules::rule(f.rule).is_none())
    };
    let blocking = findings.iter().filter(refuses).count();
    if blocking > 0 {
        return Err(Refusal {
            message: format!("{} has {blocking} error(s)", loaded.source.path.display()),
            rendered: render_human(&loaded.source, &findings),
            findings: serde_json::to_value(&findings).unwrap_or_default(),
            unreadable: false,
        });
    }
    let sha256 = hex(&Sha256::digest(loaded.source.text.as_bytes()));
    Ok(Checked {
        loaded,
        sha256,
        findings,
        control_gid,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[derive(Debug)]
struct Active {
    checked: Checked,
    loaded_at: SystemTime,
}

#[derive(Debug)]
struct Rollback {
    previous: Active,
    deadline: Instant,
}

#[derive(Debug)]
pub struct Core {
    path: PathBuf,
    active: Active,
    rollback: Option<Rollback>,
    pub events: Events,
    metrics: Metrics,
    started: SystemTime,
    metrics_addr: Option<String>,
    link: fn(&str) -> Link,
    /// The drain and probe state machine.
    uplinks: Uplinks,
    /// Where run-time drains persist (none in tests of config handling).
    drain_file: Option<DrainFile>,
    /// Configs rolled back before, by content.
    rolled_back: Option<rolled_back::Memory>,
    /// BGP: absent in tests that exercise only config handling.
    pub routing: Option<Routing>,
    /// Which uplinks were active at the last refresh.
    active_uplinks: Vec<bool>,
    /// What each static route (prefix, next hop) did at the last look.
    static_outcomes: HashMap<(sluice_wire::Prefix, std::net::IpAddr), StaticOutcome>,
    /// The data plane failed to program a route, and the event says so.
    warned_program_failure: bool,
    /// The BGP listening sockets: a reload sets its peers' keys on them.
    pub listeners: Option<crate::listeners::Listeners>,
    /// The RTR task, with `rpki` configured.
    rpki: rpki::RpkiTask,
}

impl Core {
    pub fn new(
        path: PathBuf,
        checked: Checked,
        metrics: Metrics,
        metrics_addr: Option<String>,
        link: fn(&str) -> Link,
    ) -> Core {
        let now = SystemTime::now();
        let uplinks = Uplinks::new(&checked.loaded.config, Default::default(), unix_ms(now));
        Core {
            path,
            active: Active {
                checked,
                loaded_at: now,
            },
            rollback: None,
            events: Events::default(),
            metrics,
            started: now,
            metrics_addr,
            link,
            uplinks,
            drain_file: None,
            rolled_back: None,
            warned_program_failure: false,
            listeners: None,
            routing: None,
            active_uplinks: Vec::new(),
            static_outcomes: HashMap::new(),
            rpki: rpki::RpkiTask::default(),
        }
    }

    /// The state directory: run-time drains persist there, and those it
    /// holds are in force from the start (a restarted daemon comes back
    /// drained, never briefly active; an unreadable file is an error,
    /// never "all active"); so do configs a reload rolled back.
    pub fn with_state_dir(mut self, dir: &Path) -> Result<Core, DrainFileError> {
        self.rolled_back = Some(rolled_back::Memory::new(dir));
        let file = DrainFile::new(dir);
        let drains = file.load()?;
        self.uplinks = Uplinks::new(self.config(), drains, unix_ms(SystemTime::now()));
        for name in self.uplinks.orphans() {
            self.events.warn(
                "drain",
                format!("run-time drain of `{name}` kept: the config has no such uplink"),
            );
        }
        self.drain_file = Some(file);
        Ok(self)
    }

    /// At start, errors found only in states other than the normal one
    /// do not stop the router; they are logged, and a reload of this
    /// config would be refused.
    pub fn report_other_states(&mut self) {
        let blocking: Vec<String> = self
            .active
            .checked
            .findings
            .iter()
            .filter(|f| f.is_blocking())
            .map(|f| format!("{} (line {}): {}", f.rule, f.pos.line, f.message))
            .collect();
        for f in blocking {
            self.events.warn(
                "config-states",
                format!("started, but the config is wrong in another state: {f}"),
            );
        }
    }

    pub fn config(&self) -> &sluice_config::Config {
        &self.active.checked.loaded.config
    }

    /// Which uplinks are active, in config order.
    pub fn active(&self) -> Vec<bool> {
        self.uplinks.active()
    }

    /// A session event: routes into the RIB, and uplink states re-read
    /// since a session coming or going can change them.
    /// Routes are the hot path (a full table is ~100k UPDATEs): they use the
    /// uplink states of the last refresh, and only a session coming or going
    /// re-reads them.
    pub fn session_event(&mut self, id: usize, event: sluice_bgp::session::Event) {
        use sluice_bgp::session::Event;
        let state_change = matches!(event, Event::Up { .. } | Event::Down { .. });
        if let Some(r) = self.routing.as_mut() {
            r.handle(
                id,
                event,
                &self.active.checked.loaded.config,
                &self.active_uplinks,
                &mut self.events,
            );
        }
        if state_change {
            self.refresh();
        }
    }

    /// Link and neighbour changes: the data plane follows at once (a next
    /// hop on a link gone down leaves its groups), then uplink states.
    pub fn netlink_events(&mut self, events: Vec<sluice_netlink::Event>) {
        let mut links = false;
        let start = self
            .fib()
            .is_some_and(|f| events.iter().any(|e| f.should_start(e)));
        if start && let Some(r) = self.routing.as_mut() {
            r.restart_fib(&self.active.checked.loaded.config, &self.active_uplinks);
            let described = r.fib.as_ref().map(crate::fib::Fib::describe);
            self.events
                .record("dataplane", described.unwrap_or_default());
            links = true;
        } else if let Some(fib) = self.routing.as_mut().and_then(|r| r.fib.as_mut()) {
            for e in events {
                links |= fib.netlink_event(e);
            }
        }
        if links {
            self.refresh();
        }
    }

    /// The kernel FIB wrote routes: neighbours may now hear of them.
    /// Peers whose session queue was full get what they are owed, if it
    /// has room now.
    pub fn send_owed(&mut self) {
        if let Some(r) = self.routing.as_mut() {
            r.send_owed(&self.active.checked.loaded.config, &self.active_uplinks);
        }
    }

    /// Whether route changes wait for the data plane.
    pub fn has_backlog(&self) -> bool {
        self.routing.as_ref().is_some_and(|r| r.has_backlog())
    }

    /// Whether the data plane takes route changes that wait now (see
    /// `Routing::can_place`).
    pub fn can_place(&self) -> bool {
        self.routing.as_ref().is_some_and(|r| r.can_place())
    }

    /// Wakes when the data plane programmed prefixes that wait to be
    /// advertised ([`crate::fib::Fib::take_programmed`]).
    pub fn programmed_signal(&self) -> Option<crate::fib::Signal> {
        self.fib().and_then(crate::fib::Fib::programmed_signal)
    }

    /// Wakes when the data plane made room for more route changes.
    pub fn room_signal(&self) -> Option<crate::fib::Signal> {
        self.fib().and_then(crate::fib::Fib::room_signal)
    }

    /// The session queue is empty: the data plane takes up to `max` of the
    /// route changes that waited for it (see `routing::backlog`).
    pub fn place_backlog(&mut self, max: usize) {
        if let Some(r) = self.routing.as_mut()
            && r.has_backlog()
        {
            r.place_backlog(
                max,
                &self.active.checked.loaded.config,
                &self.active_uplinks,
            );
        }
    }

    /// On the way out: the data plane takes every change that waited.
    pub fn place_all_backlog(&mut self) {
        if let Some(r) = self.routing.as_mut() {
            r.place_all_backlog(&self.active.checked.loaded.config, &self.active_uplinks);
        }
    }

    pub fn programmed(&mut self) {
        if let Some(r) = self.routing.as_mut() {
            r.programmed(&self.active.checked.loaded.config, &self.active_uplinks);
        }
    }

    pub fn handle(&mut self, request: Request, now: Instant) -> Response {
        self.handle_from(request, now, None)
    }

    /// A request from a client whose uid the control socket's peer
    /// credentials gave (run-time drains record it).
    pub fn handle_from(&mut self, request: Request, now: Instant, uid: Option<u32>) -> Response {
        match request {
            Request::Status => Response::Status(self.status(now)),
            Request::ShowUplinks => Response::Uplinks {
                uplinks: self.uplinks(),
            },
            Request::ShowEvents { limit } => Response::Events {
                events: self.events.newest(sluice_control::capped(limit)),
            },
            Request::ShowPeers => Response::Peers {
                peers: self
                    .routing
                    .as_ref()
                    .map(|r| r.peer_views())
                    .unwrap_or_default(),
            },
            Request::ShowRoutes {
                prefix,
                limit,
                after,
                filters,
            } => self.show_routes(prefix.as_deref(), after.as_deref(), limit, &filters),
            Request::Reload {
                confirm_within_ms,
                force,
            } => self.reload(confirm_within_ms.map(Duration::from_millis), force, now),
            Request::Confirm => self.confirm(),
            Request::ShowFib {
                prefix,
                limit,
                maps,
                after,
            } => self.show_fib(prefix.as_deref(), after.as_deref(), limit, maps),
            Request::ShowCounters => {
                Response::Counters(self.fib().map(|f| f.counters()).unwrap_or_default())
            }
            Request::ShowRpki => self.show_rpki(),
            Request::Drain {
                uplinks,
                all,
                dry_run,
                force,
                reason,
            } => self.drain(maintenance::DrainAsk {
                names: uplinks,
                all,
                dry_run,
                force,
                reason,
                uid: uid.unwrap_or(u32::MAX),
            }),
            Request::Undrain { uplink } => self.undrain(&uplink),
            // The control socket asks for it part by part (`dump_part`).
            Request::DumpRib => Response::Error {
                message: "a RIB dump is streamed by the control socket".into(),
            },
        }
    }

    fn fib(&self) -> Option<&crate::fib::Fib> {
        self.routing.as_ref()?.fib.as_ref()
    }

    /// When an unconfirmed reload rolls back, if one is pending.
    pub fn rollback_deadline(&self) -> Option<Instant> {
        self.rollback.as_ref().map(|r| r.deadline)
    }

    fn uplinks(&self) -> Vec<Uplink> {
        self.uplinks.views()
    }

    /// Re-reads observations (links, sessions, outbound counters) into the
    /// uplink states; a change of state re-evaluates the FIB and what every
    /// peer is sent. Updates the metrics.
    pub fn refresh(&mut self) {
        let now = unix_ms(SystemTime::now());
        let mut changes = Vec::new();
        for (i, u) in self.active.checked.loaded.config.uplinks.iter().enumerate() {
            let input = Input::Observe {
                uplink: i,
                link: (self.link)(&u.interface),
                session: self.routing.as_ref().map(|r| r.uplink_up(i)),
            };
            changes.extend(self.uplinks.apply(input, now));
        }
        changes.extend(self.sample(now));
        changes.extend(self.uplinks.apply(Input::Tick, now));
        self.follow(changes);
        let active = self.uplinks.active();
        if let Some(r) = self.routing.as_mut() {
            r.expire_stale(
                &self.active.checked.loaded.config,
                &active,
                &mut self.events,
            );
        }
        self.metrics.set_uplinks(&self.uplinks.views());
        self.metrics.set_min_active_uplinks(
            self.active
                .checked
                .loaded
                .config
                .maintenance
                .min_active_uplinks
                .value,
        );
        if let Some(r) = self.routing.as_ref() {
            self.metrics.set_peers(&r.peer_views());
        }
        self.metrics.set_rpki(&self.rpki_view());
        if let Some(f) = self.fib() {
            let status = f.status();
            self.metrics.set_dataplane(&f.counters(), &status);
            if status.program_failures > 0 && !self.warned_program_failure {
                self.warned_program_failure = true;
                self.events.warn(
                    "dataplane",
                    format!(
                        "cannot program {} route(s) into the data plane; first: {}",
                        status.program_failures,
                        status.program_error.as_deref().unwrap_or("?")
                    ),
                );
            }
        }
    }

    /// Whether a drain waits for its traffic to leave: the runtime then
    /// samples the counters more often ([`Self::settle_tick`]).
    pub fn settling(&self) -> bool {
        self.uplinks.settling()
    }

    /// A counter sample while a drain settles.
    pub fn settle_tick(&mut self) {
        let now = unix_ms(SystemTime::now());
        let mut changes = self.sample(now);
        changes.extend(self.uplinks.apply(Input::Tick, now));
        self.follow(changes);
    }

    /// Feeds each uplink's outbound packets (the sum over its next hops)
    /// to the state machine.
    fn sample(&mut self, now: u64) -> Vec<Transition> {
        let config = &self.active.checked.loaded.config;
        let Some(packets) = self.fib().and_then(|f| f.outbound(config)) else {
            return Vec::new(); // no XDP: nothing counts
        };
        let rx: Vec<Option<u64>> = config
            .uplinks
            .iter()
            .map(|u| crate::links::rx_packets(&u.interface))
            .collect();
        let mut changes = Vec::new();
        for (uplink, (packets, rx)) in packets.into_iter().zip(rx).enumerate() {
            let input = Input::Sample {
                uplink,
                packets,
                rx,
            };
            changes.extend(self.uplinks.apply(input, now));
        }
        changes
    }

    fn dataplane_status(&self) -> sluice_control::DataplaneStatus {
        let mut status =
            self.fib()
                .map(|f| f.status())
                .unwrap_or_else(|| sluice_control::DataplaneStatus {
                    xdp: "off".into(),
                    reason: Some("off: not started".into()),
                    ..Default::default()
                });
        status.waiting = self.routing.as_ref().map_or(0, |r| r.backlog_len());
        status
    }

    fn status(&self, now: Instant) -> Status {
        Status {
            version: env!("CARGO_PKG_VERSION").to_string(),
            pid: std::process::id(),
            started_at: unix_secs(self.started),
            uptime_secs: SystemTime::now()
                .duration_since(self.started)
                .map_or(0, |d| d.as_secs()),
            config: ConfigInfo {
                path: self.path.display().to_string(),
                sha256: self.active.checked.sha256.clone(),
                loaded_at: unix_secs(self.active.loaded_at),
                confirm_deadline_secs: self
                    .rollback_deadline()
                    .map(|d| d.saturating_duration_since(now).as_secs()),
            },
            metrics: self.metrics_addr.clone(),
            uplinks: self.uplinks(),
            dataplane: Box::new(self.dataplane_status()),
        }
    }

    fn reload(&mut self, confirm_within: Option<Duration>, force: bool, now: Instant) -> Response {
        let checked = match check_file(&self.path, Strictness::EveryState) {
            Ok(c) => c,
            Err(refusal) => {
                self.metrics.reload(ReloadResult::Refused);
                self.events.warn(
                    "reload-refused",
                    format!("{}; the running config stays", refusal.message),
                );
                return Response::Refused {
                    message: format!("{}; the running config stays", refusal.message),
                    rendered: refusal.rendered,
                    findings: refusal.findings,
                };
            }
        };
        let changed = checked.sha256 != self.active.checked.sha256;
        if let Some(memory) = &self.rolled_back
            && changed
            && let Some(r) = memory.find(&checked.sha256)
        {
            if !force {
                let message = format!(
                    "this config (sha256 {}) was rolled back at {} when a --confirm-within reload was not confirmed; `sluice reload --force` applies it anyway; the running config stays",
                    &checked.sha256[..12],
                    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(r.at_ms))
                );
                self.metrics.reload(ReloadResult::Refused);
                self.events.warn("reload-refused", message.clone());
                return refused(message);
            }
            let _ = memory.forget(&checked.sha256);
        }
        // TCP-MD5 keys and GTSM go on the listening sockets before the
        // config is taken: a password file that cannot be used refuses it.
        if changed
            && let Some(l) = self.listeners.as_mut()
            && let Err(e) = l.secure(&checked.loaded.config)
        {
            let _ = l.secure(&self.active.checked.loaded.config);
            let message = format!("{e}; the running config stays");
            self.metrics.reload(ReloadResult::Refused);
            self.events.warn("reload-refused", message.clone());
            return refused(message);
        }
        let notes = render_notes(&checked);
        let sha256 = checked.sha256.clone();
        if changed || confirm_within.is_some() {
            // The socket and the metrics endpoint are set up at the start.
            let control = |c: &sluice_config::model::Control| {
                let group = c.group.as_ref().map(|g| g.value.clone());
                (c.socket.clone(), c.metrics, c.state_dir.clone(), group)
            };
            let control_changed =
                control(&checked.loaded.config.control) != control(&self.config().control);
            let previous = std::mem::replace(
                &mut self.active,
                Active {
                    checked,
                    loaded_at: SystemTime::now(),
                },
            );
            if let Some(within) = confirm_within {
                // A second confirm-within reload keeps the oldest confirmed config as the target.
                let previous = self.rollback.take().map_or(previous, |r| r.previous);
                self.rollback = Some(Rollback {
                    previous,
                    deadline: now + within,
                });
            } else {
                self.rollback = None;
            }
            self.metrics.reload(ReloadResult::Applied);
            let confirm = confirm_within
                .map(|d| {
                    format!(
                        "; roll back unless confirmed within {}",
                        humantime::format_duration(d)
                    )
                })
                .unwrap_or_default();
            self.events.record(
                "reload",
                format!(
                    "config {} loaded (sha256 {}){confirm}",
                    self.path.display(),
                    &sha256[..12]
                ),
            );
            if control_changed {
                self.events.warn(
                    "reload",
                    "the control section changed: it takes effect when the daemon restarts".into(),
                );
            }
            self.reconfigure();
        }
        Response::Reloaded(Reloaded {
            changed,
            sha256,
            notes,
            confirm_deadline_secs: self
                .rollback_deadline()
                .map(|d| d.saturating_duration_since(now).as_secs()),
        })
    }

    fn confirm(&mut self) -> Response {
        let message = match self.rollback.take() {
            Some(_) => {
                self.events.record(
                    "confirm",
                    format!(
                        "config sha256 {} confirmed",
                        &self.active.checked.sha256[..12]
                    ),
                );
                "reload confirmed; it stays".to_string()
            }
            None => "no reload is waiting for confirmation".to_string(),
        };
        Response::Confirmed { message }
    }

    /// The confirm deadline passed: return to the config before the reload.
    pub fn roll_back(&mut self) {
        if let Some(r) = self.rollback.take() {
            let dropped = std::mem::replace(&mut self.active, r.previous);
            if let Some(memory) = &self.rolled_back
                && let Err(e) = memory.remember(&dropped.checked.sha256, unix_ms(SystemTime::now()))
            {
                self.events.warn(
                    "rollback",
                    format!("cannot remember the rolled-back config: {e}"),
                );
            }
            self.metrics.reload(ReloadResult::RolledBack);
            self.events.warn(
                "rollback",
                format!(
                    "reload (sha256 {}) was not confirmed in time; back to sha256 {}",
                    &dropped.checked.sha256[..12],
                    &self.active.checked.sha256[..12]
                ),
            );
            if let Some(l) = self.listeners.as_mut()
                && let Err(e) = l.secure(&self.active.checked.loaded.config)
            {
                self.events
                    .warn("rollback", format!("BGP listening sockets: {e}"));
            }
            self.reconfigure();
        }
    }
}

impl Core {
    /// A new config is in force: sessions, policies and uplink states
    /// follow it.
    fn reconfigure(&mut self) {
        if let Some(r) = self.routing.as_mut() {
            r.reconfigure(&self.active.checked.loaded.config, &mut self.events);
        }
        self.follow_rpki_config();
        let now = unix_ms(SystemTime::now());
        let changes = self
            .uplinks
            .reconfigure(&self.active.checked.loaded.config, now);
        self.follow(changes);
        self.refresh();
        let active = self.active();
        if let Some(r) = self.routing.as_mut() {
            r.resync(&self.active.checked.loaded.config, &active);
        }
        self.report_statics();
    }
}

fn parse_prefix(s: &str) -> Result<sluice_wire::Prefix, String> {
    if let Ok(p) = s.parse::<sluice_wire::Prefix>() {
        return Ok(p.trunc());
    }
    s.parse::<std::net::IpAddr>()
        .map(sluice_wire::Prefix::from)
        .map_err(|_| format!("`{s}` is not a prefix or an address"))
}

/// A refusal for a reason other than a config's findings (none to show).
fn refused(message: String) -> Response {
    Response::Refused {
        message,
        rendered: String::new(),
        findings: serde_json::json!([]),
    }
}

/// Warnings and waived errors of an accepted config, for the operator.
fn render_notes(checked: &Checked) -> String {
    let notes: Vec<Finding> = checked
        .findings
        .iter()
        .filter(|f| f.severity != Severity::Error || f.waived.is_some())
        .cloned()
        .collect();
    render_human(&checked.loaded.source, &notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_control::UplinkState;

    /// One uplink: a single point of failure, waived as an operator would.
    const GOOD: &str = "router: { id: 192.0.2.1, asn: 64500 }\ninterfaces: [{ name: eth1, addresses: [203.0.113.2/30] }]\nuplinks:\n  - { name: a, interface: eth1, peer: { address: 203.0.113.1, asn: 65001 }, import: full-table }\nvalidate: { waive: [{ rule: SINGLE-POINT-OF-FAILURE, reason: one uplink }] }\n";

    fn core(dir: &Path) -> Core {
        let path = dir.join("c.yaml");
        std::fs::write(&path, GOOD).unwrap();
        let mut core = Core::new(
            path.clone(),
            check_file(&path, Strictness::NormalState).unwrap(),
            Metrics::new(0),
            None,
            |_| Link::Up,
        );
        core.refresh();
        core
    }

    fn sha(core: &mut Core) -> String {
        match core.handle(Request::Status, Instant::now()) {
            Response::Status(s) => s.config.sha256,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_bad_reload_keeps_the_running_config() {
        let dir = tempfile::tempdir().unwrap();
        let mut core = core(dir.path());
        let before = sha(&mut core);
        std::fs::write(
            dir.path().join("c.yaml"),
            GOOD.replace("eth1, peer", "eth9, peer"),
        )
        .unwrap();
        match core.handle(
            Request::Reload {
                confirm_within_ms: None,
                force: false,
            },
            Instant::now(),
        ) {
            Response::Refused {
                rendered, findings, ..
            } => {
                assert!(rendered.contains("UPLINK-UNKNOWN-INTERFACE"), "{rendered}");
                let error = findings
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|f| f["rule"] == "UPLINK-UNKNOWN-INTERFACE")
                    .unwrap();
                assert_eq!(error["line"], 4);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(sha(&mut core), before);
    }

    #[test]
    fn control_group_must_name_a_group_of_this_host() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(
            &path,
            format!("{GOOD}control: {{ group: no-such-group }}\n"),
        )
        .unwrap();
        let refusal = check_file(&path, Strictness::NormalState).unwrap_err();
        assert!(
            refusal
                .rendered
                .contains("no unix group `no-such-group` on this host")
                && refusal.rendered.contains("c.yaml:6:"),
            "{}",
            refusal.rendered
        );
        assert_eq!(refusal.findings[0]["line"], 6);
        std::fs::write(&path, format!("{GOOD}control: {{ group: root }}\n")).unwrap();
        let checked = check_file(&path, Strictness::NormalState).unwrap();
        assert_eq!(checked.control_gid, Some(0));
    }

    #[test]
    fn an_unchanged_file_is_not_reapplied() {
        let dir = tempfile::tempdir().unwrap();
        let mut core = core(dir.path());
        let r = core.handle(
            Request::Reload {
                confirm_within_ms: None,
                force: false,
            },
            Instant::now(),
        );
        assert!(
            matches!(r, Response::Reloaded(Reloaded { changed: false, .. })),
            "{r:?}"
        );
    }

    #[test]
    fn unconfirmed_reload_rolls_back_and_confirmed_one_stays() {
        let dir = tempfile::tempdir().unwrap();
        let mut core = core(dir.path());
        let original = sha(&mut core);
        std::fs::write(
            dir.path().join("c.yaml"),
            format!("{GOOD}maintenance: {{ drained: [a], min_active_uplinks: 0 }}\n"),
        )
        .unwrap();
        let now = Instant::now();
        let r = core.handle(
            Request::Reload {
                confirm_within_ms: Some(60_000),
                force: false,
            },
            now,
        );
        assert!(
            matches!(
                r,
                Response::Reloaded(Reloaded {
                    changed: true,
                    confirm_deadline_secs: Some(60),
                    ..
                })
            ),
            "{r:?}"
        );
        // Out of the FIB at once; drained once its traffic has left.
        assert_eq!(core.uplinks()[0].state, UplinkState::Draining);
        assert_eq!(core.active(), [false]);
        assert_eq!(
            core.rollback_deadline(),
            Some(now + Duration::from_secs(60))
        );
        core.roll_back();
        assert_eq!(sha(&mut core), original);
        assert_eq!(core.uplinks()[0].state, UplinkState::Active);

        core.handle(
            Request::Reload {
                confirm_within_ms: Some(60_000),
                force: false,
            },
            now,
        );
        let r = core.handle(Request::Confirm, now);
        assert_eq!(
            r,
            Response::Confirmed {
                message: "reload confirmed; it stays".into()
            }
        );
        assert_eq!(core.rollback_deadline(), None);
        core.roll_back();
        assert_eq!(core.uplinks()[0].state, UplinkState::Draining);
        let kinds: Vec<String> = core.events.all().into_iter().map(|e| e.kind).collect();
        assert!(kinds.contains(&"rollback".to_string()), "{kinds:?}");
    }
}
