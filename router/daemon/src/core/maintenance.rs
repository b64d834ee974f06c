//! Drains, undrains and what follows a change of uplink state: the FIB
//! and the exports re-evaluated, static routes that are overridden named,
//! sessions held closed after a drain with `drain.shutdown_session`.
//!
//! A drain is checked first on the routes held now (`sluice_whatif`,
//! the same evaluator the validator uses), written to the state file,
//! and only then acted on.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::SystemTime;

use sluice_config::diag::render_human;
use sluice_config::{Finding, Severity};
use sluice_control::{DrainReport, FallbackView, PlanFinding, Response, UplinkState};
use sluice_rib::fib::{StaticOutcome, View};
use sluice_wire::Prefix;

use super::{Core, refused, unix_ms};
use crate::uplinks::{CliDrain, Input, Transition};

/// How many fallbacks a drain report lists.
const FALLBACKS_LISTED: usize = 20;

/// `sluice drain` as asked.
#[derive(Debug)]
pub struct DrainAsk {
    pub names: Vec<String>,
    pub all: bool,
    pub dry_run: bool,
    pub force: bool,
    pub reason: Option<String>,
    /// The client's uid (`u32::MAX` when the socket did not say).
    pub uid: u32,
}

impl Core {
    /// Uplink names to config indexes, or the usage error naming the
    /// uplinks there are.
    fn resolve(&self, names: &[String]) -> Result<Vec<usize>, String> {
        let config = self.config();
        let known = || {
            config
                .uplinks
                .iter()
                .map(|u| u.name.value.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        names
            .iter()
            .map(|n| {
                config
                    .uplinks
                    .iter()
                    .position(|u| u.name.value == *n)
                    .ok_or_else(|| format!("no uplink is named `{n}`; uplinks: {}", known()))
            })
            .collect()
    }

    pub(super) fn drain(&mut self, ask: DrainAsk) -> Response {
        let config = self.config().clone();
        let names: Vec<String> = if ask.all {
            config
                .uplinks
                .iter()
                .map(|u| u.name.value.clone())
                .collect()
        } else {
            ask.names.clone()
        };
        if names.is_empty() {
            return Response::Usage {
                message: "name the uplinks to drain, or --all".into(),
            };
        }
        let indexes = match self.resolve(&names) {
            Ok(i) => i,
            Err(message) => return Response::Usage { message },
        };
        let drains = self.uplinks.cli_drains();
        let held = |i: usize| {
            drains.contains_key(&config.uplinks[i].name.value)
                || config
                    .maintenance
                    .drained
                    .iter()
                    .any(|d| d.value == config.uplinks[i].name.value)
        };
        let (already, todo): (Vec<usize>, Vec<usize>) = indexes.iter().partition(|&&i| held(i));
        let mut report = DrainReport {
            uplinks: names,
            already: already
                .iter()
                .map(|&i| config.uplinks[i].name.value.clone())
                .collect(),
            dry_run: ask.dry_run,
            ..Default::default()
        };
        let before = self.active();
        if todo.is_empty() {
            report.active_after = before.iter().filter(|a| **a).count();
            report.message = format!(
                "{} already drained: nothing to do",
                report.already.join(", ")
            );
            return Response::Drain(Box::new(report));
        }
        let empty = sluice_rib::Rib::default();
        let rib = self.routing.as_ref().map_or(&empty, |r| &r.rib);
        let mut plan = sluice_whatif::drain_plan(&config, rib, &before, &todo, ask.all);
        sluice_config::validate::waive(&config, &mut plan.findings);
        let blocked = plan.blocked();
        let doing: Vec<&str> = todo
            .iter()
            .map(|&i| config.uplinks[i].name.value.as_str())
            .collect();
        report.findings = plan.findings.iter().map(plan_finding).collect();
        // The fallbacks are listed as a table; the rendering keeps the rest.
        let shown: Vec<Finding> = plan
            .findings
            .iter()
            .filter(|f| f.severity != Severity::Info)
            .cloned()
            .collect();
        report.rendered = render_human(&self.active.checked.loaded.source, &shown);
        report.moved = plan.comparison.moved;
        report.fallback_count = plan.comparison.fallbacks.len();
        report.fallbacks = plan
            .comparison
            .fallbacks
            .iter()
            .take(FALLBACKS_LISTED)
            .map(|f| FallbackView {
                prefix: f.prefix.to_string(),
                to: f.to.to_string(),
                via: f.via.clone(),
            })
            .collect();
        report.active_after = plan.active_after;
        report.refused = blocked && !ask.force;
        if ask.dry_run {
            report.message = format!(
                "dry run: draining {} {}; nothing changed",
                doing.join(", "),
                if report.refused {
                    "would be refused (--force overrides)"
                } else {
                    "would proceed"
                }
            );
            return Response::Drain(Box::new(report));
        }
        if report.refused {
            report.message = format!(
                "draining {} refused: {} finding(s) above; nothing changed (--force overrides, --dry-run shows the plan)",
                doing.join(", "),
                plan.findings.iter().filter(|f| f.is_blocking()).count()
            );
            self.events.warn("drain-refused", report.message.clone());
            return Response::Drain(Box::new(report));
        }
        let forced: Vec<String> = plan
            .findings
            .iter()
            .filter(|f| f.is_blocking())
            .map(|f| format!("{}: {}", f.rule, f.message))
            .collect();
        let now = unix_ms(SystemTime::now());
        let drain = CliDrain {
            uid: ask.uid,
            at_ms: now,
            reason: ask.reason.clone(),
            forced: forced.clone(),
        };
        // Written before it is acted on: a restart finds it drained.
        let mut persisted = drains.clone();
        for &i in &todo {
            persisted.insert(config.uplinks[i].name.value.clone(), drain.clone());
        }
        if let Err(e) = self.save_drains(&persisted) {
            report.refused = true;
            report.message = format!("cannot record the drain ({e}); nothing changed");
            self.events.warn("drain-refused", report.message.clone());
            return Response::Drain(Box::new(report));
        }
        let mut changes = Vec::new();
        for &i in &todo {
            changes.extend(self.uplinks.apply(
                Input::Drain {
                    uplink: i,
                    drain: drain.clone(),
                },
                now,
            ));
        }
        report.applied = true;
        report.message = format!(
            "draining {}: {} destination(s) move, {} fall back to a covering route",
            doing.join(", "),
            report.moved,
            report.fallback_count
        );
        self.events.record(
            "drain",
            format!(
                "uplink(s) {} drained by uid {}{}: {} destination(s) move, {} fall back to a covering route",
                doing.join(", "),
                ask.uid,
                ask.reason
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default(),
                report.moved,
                report.fallback_count
            ),
        );
        for f in &forced {
            self.events.warn("drain-forced", format!("forced over {f}"));
        }
        self.follow(changes);
        Response::Drain(Box::new(report))
    }

    pub(super) fn undrain(&mut self, name: &str) -> Response {
        let i = match self.resolve(&[name.to_string()]) {
            Ok(i) => i[0],
            Err(message) => return Response::Usage { message },
        };
        if let Err(e) = self.uplinks.check_undrain(i) {
            return refused(e.to_string());
        }
        let mut drains = self.uplinks.cli_drains();
        if drains.remove(name).is_none() {
            return Response::Undrained {
                message: format!("uplink {name} is not drained: nothing to do"),
            };
        }
        if let Err(e) = self.save_drains(&drains) {
            return refused(format!(
                "cannot record the undrain ({e}); {name} stays drained"
            ));
        }
        let changes = self
            .uplinks
            .apply(Input::Undrain { uplink: i }, unix_ms(SystemTime::now()));
        self.events
            .record("undrain", format!("uplink {name} undrained"));
        self.follow(changes);
        let state = self.uplinks.state(i).unwrap_or(UplinkState::Down);
        Response::Undrained {
            message: format!("uplink {name} undrained: it is {state}"),
        }
    }

    /// Every configured probe as it can be sent now: the uplink's
    /// interface, its address of the target's family, the MAC of the
    /// uplink's peer of that family (its next hop).
    pub fn probe_specs(&self) -> Vec<crate::probe::Spec> {
        let config = self.config();
        let fib = self.routing.as_ref().and_then(|r| r.fib.as_ref());
        let mut specs = Vec::new();
        for (i, u) in config.uplinks.iter().enumerate() {
            for (k, p) in u.probes.iter().enumerate() {
                let target = p.target.value;
                let family = |a: &std::net::IpAddr| a.is_ipv4() == target.is_ipv4();
                let src = config
                    .interface(&u.interface)
                    .and_then(|iface| iface.addresses.iter().map(|a| a.addr()).find(family));
                let next_hop = u.peer.0.iter().map(|p| p.address.value).find(family);
                specs.push(crate::probe::Spec {
                    uplink: i,
                    probe: k,
                    target,
                    interval: p.interval.0,
                    port: fib
                        .and_then(|f| f.port(&u.interface))
                        .map(|p| (p.ifindex, p.mac)),
                    src,
                    dst_mac: fib.zip(next_hop).and_then(|(f, nh)| f.neighbour(&nh)),
                });
            }
        }
        specs
    }

    /// A probe's outcome, into the state machine.
    pub fn probe_outcome(&mut self, o: crate::probe::Outcome) {
        let input = Input::Probe {
            uplink: o.uplink,
            probe: o.probe,
            rtt_us: o.rtt_us,
        };
        let changes = self.uplinks.apply(input, unix_ms(SystemTime::now()));
        self.follow(changes);
    }

    fn save_drains(&self, drains: &crate::uplinks::Drains) -> std::io::Result<()> {
        match &self.drain_file {
            Some(f) => f.save(drains),
            None => Ok(()),
        }
    }

    /// What follows state changes: the log, then (when which uplinks are
    /// active changed) the FIB's group writes and the exports, the static
    /// routes overridden, and sessions held closed or reopened.
    pub(super) fn follow(&mut self, changes: Vec<Transition>) {
        if changes.is_empty() {
            return;
        }
        for t in &changes {
            let message = format!("uplink {} is {}: {}", t.name, t.to, t.reason);
            if matches!(t.to, UplinkState::Down | UplinkState::Degraded) {
                self.events.warn("uplink-state", message);
            } else {
                self.events.record("uplink-state", message);
            }
        }
        self.metrics.uplink_changes(&changes);
        let active = self.uplinks.active();
        if active != self.active_uplinks {
            self.active_uplinks.clone_from(&active);
            if let Some(r) = self.routing.as_mut() {
                r.resync(&self.active.checked.loaded.config, &active);
            }
            self.report_statics();
        }
        let config = &self.active.checked.loaded.config;
        if let Some(r) = self.routing.as_mut() {
            let hold: Vec<bool> = if config.maintenance.drain.shutdown_session {
                self.uplinks.settled()
            } else {
                vec![false; config.uplinks.len()]
            };
            r.hold_uplink_sessions(&hold, &mut self.events);
        }
    }

    /// Logs each static route whose outcome changed: one bound to an
    /// uplink that is not active is overridden (docs/architecture.md, principle 2),
    /// and the config line that says otherwise is named.
    pub(super) fn report_statics(&mut self) {
        let config = &self.active.checked.loaded.config;
        let uplinks = self.uplinks.views();
        let active = self.uplinks.active();
        let empty = sluice_rib::Rib::default();
        let rib = self.routing.as_ref().map_or(&empty, |r| &r.rib);
        let view = View {
            config,
            active: &active,
        };
        let outcomes: HashMap<(Prefix, IpAddr), StaticOutcome> = config
            .static_routes
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let key = (s.prefix.value.0, s.via.value);
                (key, sluice_rib::fib::static_outcome(rib, &view, i))
            })
            .collect();
        for s in &config.static_routes {
            let key = (s.prefix.value.0, s.via.value);
            let outcome = &outcomes[&key];
            let before = self
                .static_outcomes
                .get(&key)
                .copied()
                .unwrap_or(StaticOutcome::Forwards);
            if *outcome == before {
                continue;
            }
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
                    format!(
                        "{route} {bound}: overridden, its traffic follows the learned route to {}",
                        s.prefix.value
                    ),
                ),
                StaticOutcome::FollowsCovering(q) => self.events.warn(
                    "static-override",
                    format!("{route} {bound}: overridden, its traffic follows {q}"),
                ),
                StaticOutcome::Keeps => self.events.warn(
                    "static-override",
                    format!(
                        "{route} {bound}, but no active uplink covers {}: it keeps forwarding there",
                        s.prefix.value
                    ),
                ),
            }
        }
        self.static_outcomes = outcomes;
    }
}

fn plan_finding(f: &Finding) -> PlanFinding {
    PlanFinding {
        rule: f.rule.to_string(),
        severity: match (f.severity, &f.waived) {
            (s, Some(_)) => format!("waived {}", s.as_str()),
            (Severity::Error, None) => "error".into(),
            (s, None) => s.as_str().into(),
        },
        message: f.message.clone(),
        line: f.pos.is_known().then_some(f.pos.line),
        help: f.help.clone(),
    }
}
