//! The daemon's state owner: the running config, a pending rollback, the
//! event log and uplink states. Requests come in, responses go out; sockets,
//! signals and timers belong to the runtime in `lib.rs`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use sluice_config::diag::render_human;
use sluice_config::{Finding, LoadError, Loaded, Severity};
use sluice_control::{ConfigInfo, Reloaded, Request, Response, Status, Uplink, UplinkState};

use crate::events::Events;
use crate::metrics::{Metrics, ReloadResult};
use crate::routing::Routing;
use crate::uplinks::{Link, uplink_states};
use sluice_rib::fib::StaticOutcome;

/// A config that loaded and passed validation.
#[derive(Debug)]
pub struct Checked {
    pub loaded: Loaded,
    pub sha256: String,
    /// Non-blocking findings (warnings, waived errors).
    pub findings: Vec<Finding>,
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

/// Loads and validates `path`: what `sluice run` does at start and on every reload.
pub fn check_file(path: &Path) -> Result<Checked, Refusal> {
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
    let findings = sluice_config::validate::check(&loaded.config);
    let blocking = findings.iter().filter(|f| f.is_blocking()).count();
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
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
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
    last_states: HashMap<String, UplinkState>,
    /// BGP: absent in tests that exercise only config handling.
    pub routing: Option<Routing>,
    /// Which uplinks were active at the last refresh.
    active_uplinks: Vec<bool>,
    /// What each static route did at the last look (config order).
    static_outcomes: Vec<StaticOutcome>,
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
            last_states: HashMap::new(),
            routing: None,
            active_uplinks: Vec::new(),
            static_outcomes: Vec::new(),
        }
    }

    pub fn config(&self) -> &sluice_config::Config {
        &self.active.checked.loaded.config
    }

    /// Which uplinks are active, in config order.
    pub fn active(&self) -> Vec<bool> {
        self.uplinks()
            .iter()
            .map(|u| u.state == UplinkState::Active)
            .collect()
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
    pub fn programmed(&mut self) {
        if let Some(r) = self.routing.as_mut() {
            r.programmed(&self.active.checked.loaded.config, &self.active_uplinks);
        }
    }

    pub fn handle(&mut self, request: Request, now: Instant) -> Response {
        match request {
            Request::Status => Response::Status(self.status(now)),
            Request::ShowUplinks => Response::Uplinks {
                uplinks: self.uplinks(),
            },
            Request::ShowEvents => Response::Events {
                events: self.events.all(),
            },
            Request::ShowPeers => Response::Peers {
                peers: self
                    .routing
                    .as_ref()
                    .map(|r| r.peer_views())
                    .unwrap_or_default(),
            },
            Request::ShowRoutes { prefix, limit } => {
                let filter = match prefix.as_deref().map(parse_prefix).transpose() {
                    Ok(f) => f,
                    Err(message) => return Response::Error { message },
                };
                let active = self.active();
                match self.routing.as_ref() {
                    Some(r) => Response::Routes {
                        routes: r.route_views(filter.as_ref(), self.config(), &active, limit),
                        total: r.rib.prefixes(),
                    },
                    None => Response::Routes {
                        routes: vec![],
                        total: 0,
                    },
                }
            }
            Request::Reload { confirm_within_ms } => {
                self.reload(confirm_within_ms.map(Duration::from_millis), now)
            }
            Request::Confirm => self.confirm(),
            Request::ShowFib {
                prefix,
                limit,
                maps,
            } => {
                let filter = match prefix.as_deref().map(parse_prefix).transpose() {
                    Ok(f) => f,
                    Err(message) => return Response::Error { message },
                };
                Response::Fib(
                    self.fib()
                        .map(|f| f.show(filter.as_ref(), limit, maps))
                        .unwrap_or_default(),
                )
            }
            Request::ShowCounters => {
                Response::Counters(self.fib().map(|f| f.counters()).unwrap_or_default())
            }
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
        let routing = self.routing.as_ref();
        uplink_states(&self.active.checked.loaded.config, self.link, |i| {
            routing.map(|r| r.uplink_up(i))
        })
    }

    /// Re-reads observations, updates metrics and logs state changes; a
    /// change of uplink state re-evaluates what every peer is sent.
    pub fn refresh(&mut self) {
        let uplinks = self.uplinks();
        let mut changed = false;
        for u in &uplinks {
            if self.last_states.insert(u.name.clone(), u.state) != Some(u.state) {
                self.events.record(
                    "uplink-state",
                    format!("uplink {} is {}: {}", u.name, u.state, u.reason),
                );
                changed = true;
            }
        }
        let active: Vec<bool> = uplinks
            .iter()
            .map(|u| u.state == UplinkState::Active)
            .collect();
        self.active_uplinks.clone_from(&active);
        if let Some(r) = self.routing.as_mut() {
            r.expire_stale(
                &self.active.checked.loaded.config,
                &active,
                &mut self.events,
            );
            if changed {
                r.resync(&self.active.checked.loaded.config, &active);
            }
        }
        if changed {
            self.report_statics(&uplinks);
        }
        self.last_states
            .retain(|name, _| uplinks.iter().any(|u| &u.name == name));
        self.metrics.set_uplinks(&uplinks);
        if let Some(r) = self.routing.as_ref() {
            self.metrics.set_peers(&r.peer_views());
        }
        if let Some(f) = self.fib() {
            self.metrics.set_dataplane(&f.counters(), &f.status());
        }
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
            dataplane: Box::new(self.fib().map(|f| f.status()).unwrap_or_else(|| {
                sluice_control::DataplaneStatus {
                    xdp: "off".into(),
                    reason: Some("off: not started".into()),
                    ..Default::default()
                }
            })),
        }
    }

    fn reload(&mut self, confirm_within: Option<Duration>, now: Instant) -> Response {
        let checked = match check_file(&self.path) {
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
        let notes = render_notes(&checked);
        let changed = checked.sha256 != self.active.checked.sha256;
        let sha256 = checked.sha256.clone();
        if changed || confirm_within.is_some() {
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
            self.metrics.reload(ReloadResult::RolledBack);
            self.events.warn(
                "rollback",
                format!(
                    "reload (sha256 {}) was not confirmed in time; back to sha256 {}",
                    &dropped.checked.sha256[..12],
                    &self.active.checked.sha256[..12]
                ),
            );
            self.reconfigure();
        }
    }
}

impl Core {
    /// A new config is in force: sessions and policies follow it.
    fn reconfigure(&mut self) {
        if let Some(r) = self.routing.as_mut() {
            r.reconfigure(&self.active.checked.loaded.config, &mut self.events);
        }
        self.refresh();
        let active = self.active();
        if let Some(r) = self.routing.as_mut() {
            r.resync(&self.active.checked.loaded.config, &active);
        }
        self.static_outcomes.clear();
        let uplinks = self.uplinks();
        self.report_statics(&uplinks);
    }

    /// Logs each static route whose outcome changed: one bound to an
    /// uplink that is not active is overridden (DESIGN.md, principle 2),
    /// and the config line that says otherwise is named.
    fn report_statics(&mut self, uplinks: &[Uplink]) {
        let config = &self.active.checked.loaded.config;
        let active: Vec<bool> = uplinks
            .iter()
            .map(|u| u.state == UplinkState::Active)
            .collect();
        let empty = sluice_rib::Rib::default();
        let rib = self.routing.as_ref().map_or(&empty, |r| &r.rib);
        let view = sluice_rib::fib::View {
            config,
            active: &active,
        };
        let outcomes: Vec<StaticOutcome> = (0..config.static_routes.len())
            .map(|i| sluice_rib::fib::static_outcome(rib, &view, i))
            .collect();
        for (i, outcome) in outcomes.iter().enumerate() {
            let before = self
                .static_outcomes
                .get(i)
                .copied()
                .unwrap_or(StaticOutcome::Forwards);
            if *outcome == before {
                continue;
            }
            let s = &config.static_routes[i];
            let Some(u) = config.uplink_of_next_hop(s.via.value) else {
                continue;
            };
            let route = format!(
                "static route {} via {} (line {})",
                s.prefix.value, s.via.value, s.pos.line
            );
            let uplink = &uplinks[u];
            let bound = format!(
                "is bound to uplink {}, which is {}",
                uplink.name, uplink.state
            );
            match outcome {
                StaticOutcome::Forwards => self.events.record(
                    "static-override",
                    format!("{route} forwards through uplink {} again", uplink.name),
                ),
                StaticOutcome::FollowsLearned => self.events.warn(
                    "static-override",
                    format!("{route} {bound}: overridden, its traffic follows the learned route to {}", s.prefix.value),
                ),
                StaticOutcome::FollowsCovering(q) => self.events.warn(
                    "static-override",
                    format!("{route} {bound}: overridden, its traffic follows {q}"),
                ),
                StaticOutcome::Keeps => self.events.warn(
                    "static-override",
                    format!("{route} {bound}, but no active uplink covers {}: it keeps forwarding there", s.prefix.value),
                ),
            }
        }
        self.static_outcomes = outcomes;
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

    const GOOD: &str = "router: { id: 192.0.2.1, asn: 64500 }\ninterfaces: [{ name: eth1, addresses: [203.0.113.2/30] }]\nuplinks:\n  - { name: a, interface: eth1, peer: { address: 203.0.113.1, asn: 65001 }, import: full-table }\n";

    fn core(dir: &Path) -> Core {
        let path = dir.join("c.yaml");
        std::fs::write(&path, GOOD).unwrap();
        let mut core = Core::new(
            path.clone(),
            check_file(&path).unwrap(),
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
            },
            Instant::now(),
        ) {
            Response::Refused {
                rendered, findings, ..
            } => {
                assert!(rendered.contains("UPLINK-UNKNOWN-INTERFACE"), "{rendered}");
                assert_eq!(findings[0]["line"], 4);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(sha(&mut core), before);
    }

    #[test]
    fn an_unchanged_file_is_not_reapplied() {
        let dir = tempfile::tempdir().unwrap();
        let mut core = core(dir.path());
        let r = core.handle(
            Request::Reload {
                confirm_within_ms: None,
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
        assert_eq!(core.uplinks()[0].state, UplinkState::Drained);
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
        assert_eq!(core.uplinks()[0].state, UplinkState::Drained);
        let kinds: Vec<String> = core.events.all().into_iter().map(|e| e.kind).collect();
        assert!(kinds.contains(&"rollback".to_string()), "{kinds:?}");
    }
}
