//! Uplink states (docs/architecture.md, principle 2): the drain and probe state
//! machine, free of I/O. Inputs come in ([`Input`]: what is observed of
//! links and sessions, drains and undrains, probe results, outbound
//! counter samples, the clock); the states and their changes come out,
//! with a reason and a since-time each. Replayable in tests.
//!
//! ```text
//!            drain (config or CLI)                 counters stop rising
//!   active ───────────────────────► draining ─────────────────────────► drained
//!     ▲  │ probes fail                  (or settle runs out)              │
//!     │  ▼ (fail_after)                                                   │ undrain
//!   degraded ◄─┘ recover_after of answers                                 ▼
//!   down: interface down or missing, or no BGP session          active / down / degraded
//! ```
//!
//! A drain wins over everything else; then a link or session down; then
//! failed probes, unless `maintenance.min_active_uplinks` keeps the uplink
//! active (the highest `local_pref` first, then config order).

pub mod drains;
pub mod health;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sluice_config::Config;
use sluice_control::{DrainSource, Outbound, Settle, Uplink, UplinkState};

pub use drains::{CliDrain, Drains};
use health::Health;

/// What the data plane sees of an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Link {
    Up,
    Down,
    Missing,
}

/// One input to the machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Input {
    /// What is seen of uplink `uplink` now: its interface, and whether a
    /// BGP session is established (None: not known, no sessions run).
    Observe {
        uplink: usize,
        link: Link,
        session: Option<bool>,
    },
    Drain {
        uplink: usize,
        drain: CliDrain,
    },
    Undrain {
        uplink: usize,
    },
    /// Probe `probe` of `uplink` answered after `rtt_us`, or was lost.
    Probe {
        uplink: usize,
        probe: usize,
        rtt_us: Option<u32>,
    },
    /// Packets forwarded so far through the uplink's next hops, and
    /// received so far on its interface (if known).
    Sample {
        uplink: usize,
        packets: u64,
        #[serde(default)]
        rx: Option<u64>,
    },
    /// Time passed (settle deadlines).
    Tick,
}

/// A state change, for the event log, the logs and the metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub uplink: usize,
    pub name: String,
    pub from: UplinkState,
    pub to: UplinkState,
    pub reason: String,
}

/// Why an undrain was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum UndrainError {
    #[error(
        "uplink {name} is held drained by maintenance.drained (line {line}); remove it there and reload"
    )]
    HeldByConfig { name: String, line: u32 },
}

/// Counter samples closer together than this do not decide settling.
const MIN_SAMPLE_GAP_MS: u64 = 200;

#[derive(Clone, Debug)]
struct Tracked {
    name: String,
    interface: String,
    peers: Vec<String>,
    local_pref: u32,
    /// `maintenance.drained` line.
    config_drain: Option<u32>,
    cli_drain: Option<CliDrain>,
    link: Link,
    session: Option<bool>,
    probes: Vec<Health>,
    /// How traffic is leaving, while a drain is asked for.
    settle: Option<Settle>,
    /// The last counter sample (packets, at).
    sample: Option<(u64, u64)>,
    pps: u64,
    /// Received on the interface at the last sample, and the rate.
    rx: Option<u64>,
    rx_pps: Option<u64>,
    /// The `min_active_uplinks` floor keeps it active although its probes fail.
    kept: bool,
    state: UplinkState,
    reason: String,
    since_ms: u64,
}

impl Tracked {
    fn drained(&self) -> bool {
        self.config_drain.is_some() || self.cli_drain.is_some()
    }

    /// Every probe failed (an uplink without probes never is degraded).
    fn probes_failed(&self) -> bool {
        !self.probes.is_empty() && self.probes.iter().all(Health::failed)
    }

    /// Up as far as link and session go.
    fn reachable(&self) -> bool {
        self.link == Link::Up && self.session != Some(false)
    }
}

/// The state of every uplink, config order.
#[derive(Clone, Debug)]
pub struct Uplinks {
    tracked: Vec<Tracked>,
    /// Drains of uplinks the config no longer has: kept, in case the
    /// uplink comes back (a rename in progress), and persisted.
    orphans: Drains,
    min_active: usize,
    settle_ms: u64,
}

impl Uplinks {
    /// The uplinks of `config`, with the run-time drains read from disk:
    /// drained ones start drained (nothing to settle), never briefly active.
    pub fn new(config: &Config, drains: Drains, now_ms: u64) -> Uplinks {
        let mut u = Uplinks {
            tracked: Vec::new(),
            orphans: drains,
            min_active: 0,
            settle_ms: 0,
        };
        u.configure(config, now_ms);
        for t in &mut u.tracked {
            if t.drained() {
                t.settle = Some(Settle::Quiet);
            }
        }
        u.derive(now_ms);
        u
    }

    /// Follows a new config; uplinks keep their drains, probe records and
    /// observations by name. Returns the state changes.
    pub fn reconfigure(&mut self, config: &Config, now_ms: u64) -> Vec<Transition> {
        self.configure(config, now_ms);
        self.derive(now_ms)
    }

    fn configure(&mut self, config: &Config, now_ms: u64) {
        let mut old: BTreeMap<String, Tracked> = std::mem::take(&mut self.tracked)
            .into_iter()
            .map(|t| (t.name.clone(), t))
            .collect();
        for u in &config.uplinks {
            let name = u.name.value.clone();
            let config_drain = config
                .maintenance
                .drained
                .iter()
                .find(|d| d.value == name)
                .map(|d| d.pos.line);
            let mut t = old.remove(&name).unwrap_or_else(|| Tracked {
                name: name.clone(),
                interface: String::new(),
                peers: Vec::new(),
                local_pref: 0,
                config_drain: None,
                cli_drain: self.orphans.remove(&name),
                link: Link::Missing,
                session: None,
                probes: Vec::new(),
                settle: None,
                sample: None,
                pps: 0,
                rx: None,
                rx_pps: None,
                kept: false,
                state: UplinkState::Down,
                reason: "not observed yet".into(),
                since_ms: now_ms,
            });
            t.interface = u.interface.value.clone();
            t.peers = u
                .peer
                .0
                .iter()
                .map(|p| format!("{} AS{}", p.address.value, p.asn.value))
                .collect();
            t.local_pref = u
                .local_pref
                .as_ref()
                .map_or(sluice_rib::decision::DEFAULT_LOCAL_PREF, |l| l.value);
            t.config_drain = config_drain;
            let mut probes = std::mem::take(&mut t.probes);
            t.probes = u
                .probes
                .iter()
                .map(|p| match probes.iter().position(|h| h.same(p)) {
                    Some(i) => probes.swap_remove(i),
                    None => Health::new(p),
                })
                .collect();
            self.tracked.push(t);
        }
        for (name, t) in old {
            if let Some(d) = t.cli_drain {
                self.orphans.insert(name, d);
            }
        }
        self.min_active = config.maintenance.min_active_uplinks.value as usize;
        self.settle_ms =
            u64::try_from(config.maintenance.drain.settle.0.as_millis()).unwrap_or(u64::MAX);
    }

    /// Applies one input; returns the state changes it caused.
    pub fn apply(&mut self, input: Input, now_ms: u64) -> Vec<Transition> {
        match input {
            Input::Observe {
                uplink,
                link,
                session,
            } => {
                if let Some(t) = self.tracked.get_mut(uplink) {
                    t.link = link;
                    t.session = session;
                }
            }
            Input::Drain { uplink, drain } => {
                if let Some(t) = self.tracked.get_mut(uplink) {
                    t.cli_drain = Some(drain);
                }
            }
            Input::Undrain { uplink } => {
                if let Some(t) = self.tracked.get_mut(uplink) {
                    t.cli_drain = None;
                }
            }
            Input::Probe {
                uplink,
                probe,
                rtt_us,
            } => {
                if let Some(h) = self
                    .tracked
                    .get_mut(uplink)
                    .and_then(|t| t.probes.get_mut(probe))
                {
                    h.record(rtt_us, now_ms);
                }
            }
            Input::Sample {
                uplink,
                packets,
                rx,
            } => self.sample(uplink, packets, rx, now_ms),
            Input::Tick => {}
        }
        self.derive(now_ms)
    }

    fn sample(&mut self, uplink: usize, packets: u64, rx: Option<u64>, now_ms: u64) {
        let Some(t) = self.tracked.get_mut(uplink) else {
            return;
        };
        if let Some((last, at)) = t.sample {
            let gap = now_ms.saturating_sub(at);
            if gap < MIN_SAMPLE_GAP_MS {
                return;
            }
            t.pps = packets.saturating_sub(last) * 1000 / gap;
            t.rx_pps = match (rx, t.rx) {
                (Some(now), Some(before)) => Some(now.saturating_sub(before) * 1000 / gap),
                _ => None,
            };
            // Counters that stopped rising: the traffic has left.
            if packets <= last
                && let Some(Settle::Settling { since_ms }) = t.settle
                && at >= since_ms
            {
                t.settle = Some(Settle::Quiet);
            }
        }
        t.sample = Some((packets, now_ms));
        t.rx = rx;
    }

    /// Whether a drain waits for its traffic to leave (the runtime samples
    /// the counters more often then).
    pub fn settling(&self) -> bool {
        self.tracked
            .iter()
            .any(|t| matches!(t.settle, Some(Settle::Settling { .. })))
    }

    /// Refuses to lift a drain the config holds.
    pub fn check_undrain(&self, uplink: usize) -> Result<(), UndrainError> {
        match self.tracked.get(uplink) {
            Some(Tracked {
                config_drain: Some(line),
                name,
                ..
            }) => Err(UndrainError::HeldByConfig {
                name: name.clone(),
                line: *line,
            }),
            _ => Ok(()),
        }
    }

    /// Recomputes every state; returns what changed.
    fn derive(&mut self, now_ms: u64) -> Vec<Transition> {
        // Drains start settling from the state they found; lifted ones stop.
        for t in &mut self.tracked {
            match (t.drained(), t.settle) {
                (true, None) => {
                    t.settle = Some(if t.state == UplinkState::Active {
                        Settle::Settling { since_ms: now_ms }
                    } else {
                        // It carried no traffic: nothing to wait for.
                        Settle::Quiet
                    });
                }
                (true, Some(Settle::Settling { since_ms }))
                    if now_ms.saturating_sub(since_ms) >= self.settle_ms =>
                {
                    t.settle = Some(Settle::TimedOut { pps: t.pps });
                }
                (false, Some(_)) => t.settle = None,
                _ => {}
            }
        }
        self.apply_floor();
        let mut out = Vec::new();
        for (i, t) in self.tracked.iter_mut().enumerate() {
            let (state, reason) = judge(t, self.min_active);
            if state != t.state {
                out.push(Transition {
                    uplink: i,
                    name: t.name.clone(),
                    from: t.state,
                    to: state,
                    reason: reason.clone(),
                });
                t.state = state;
                t.since_ms = now_ms;
            }
            t.reason = reason;
        }
        out
    }

    /// `min_active_uplinks` is a floor for automatic drains too: of the
    /// uplinks whose probes all fail, as many as the floor needs stay
    /// active, the highest `local_pref` first, then config order.
    fn apply_floor(&mut self) {
        let available = self
            .tracked
            .iter()
            .filter(|t| !t.drained() && t.reachable())
            .count();
        let mut failing: Vec<usize> = (0..self.tracked.len())
            .filter(|&i| {
                let t = &self.tracked[i];
                !t.drained() && t.reachable() && t.probes_failed()
            })
            .collect();
        let healthy = available - failing.len();
        let keep = self.min_active.saturating_sub(healthy).min(failing.len());
        failing.sort_by_key(|&i| (std::cmp::Reverse(self.tracked[i].local_pref), i));
        for t in &mut self.tracked {
            t.kept = false;
        }
        for &i in &failing[..keep] {
            self.tracked[i].kept = true;
        }
    }

    /// Whether uplink `i` (config order) is active.
    pub fn active(&self) -> Vec<bool> {
        self.tracked
            .iter()
            .map(|t| t.state == UplinkState::Active)
            .collect()
    }

    pub fn state(&self, i: usize) -> Option<UplinkState> {
        self.tracked.get(i).map(|t| t.state)
    }

    /// Uplinks drained and settled: with `drain.shutdown_session`, their
    /// sessions close (RFC 9003) and stay closed until undrained.
    pub fn settled(&self) -> Vec<bool> {
        self.tracked
            .iter()
            .map(|t| t.state == UplinkState::Drained)
            .collect()
    }

    /// Which drains come from the CLI, for the state file (drains of
    /// uplinks the config no longer has included).
    pub fn cli_drains(&self) -> Drains {
        let mut d = self.orphans.clone();
        for t in &self.tracked {
            if let Some(c) = &t.cli_drain {
                d.insert(t.name.clone(), c.clone());
            }
        }
        d
    }

    /// Drains kept for uplinks the config no longer has.
    pub fn orphans(&self) -> impl Iterator<Item = &String> {
        self.orphans.keys()
    }

    /// Each uplink for `show uplinks`, with its outbound share.
    pub fn views(&self) -> Vec<Uplink> {
        let total: u64 = self.tracked.iter().map(|t| t.pps).sum();
        self.tracked
            .iter()
            .map(|t| Uplink {
                name: t.name.clone(),
                interface: t.interface.clone(),
                state: t.state,
                reason: t.reason.clone(),
                peers: t.peers.clone(),
                since: t.since_ms / 1000,
                drain: t.settle.and_then(|settle| drain_source(t, settle)),
                outbound: t.sample.map(|(packets, _)| Outbound {
                    packets,
                    pps: t.pps,
                    share: if total == 0 {
                        0.0
                    } else {
                        t.pps as f64 / total as f64
                    },
                    inbound_pps: t.rx_pps,
                }),
                probes: t.probes.iter().map(Health::view).collect(),
            })
            .collect()
    }

    /// The probe records of uplink `i`, for the metrics.
    pub fn probes(&self, i: usize) -> &[Health] {
        self.tracked.get(i).map_or(&[], |t| &t.probes)
    }
}

fn drain_source(t: &Tracked, settle: Settle) -> Option<DrainSource> {
    if let Some(line) = t.config_drain {
        return Some(DrainSource {
            from: "config".into(),
            line: Some(line),
            uid: None,
            at: None,
            reason: None,
            forced: Vec::new(),
            settle,
        });
    }
    t.cli_drain.as_ref().map(|c| DrainSource {
        from: "cli".into(),
        line: None,
        uid: Some(c.uid),
        at: Some(c.at_ms / 1000),
        reason: c.reason.clone(),
        forced: c.forced.clone(),
        settle,
    })
}

/// An uplink's state and why.
fn judge(t: &Tracked, min_active: usize) -> (UplinkState, String) {
    let iface = &t.interface;
    if t.drained() {
        let who = match (&t.config_drain, &t.cli_drain) {
            (Some(line), _) => format!("held drained by maintenance.drained (line {line})"),
            (None, Some(c)) => format!(
                "drained by uid {}{}",
                c.uid,
                c.reason
                    .as_ref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
            (None, None) => unreachable!("drained() says one is set"),
        };
        return match t.settle {
            Some(Settle::Settling { .. }) => (
                UplinkState::Draining,
                format!("{who}; waiting for its outbound traffic to stop"),
            ),
            Some(Settle::TimedOut { .. }) if t.sample.is_none() => (
                UplinkState::Drained,
                format!("{who}; the settle time passed (no data-plane counters to watch)"),
            ),
            Some(Settle::TimedOut { pps }) => (
                UplinkState::Drained,
                format!("{who}; the settle time ran out with {pps} packets/s still leaving"),
            ),
            _ => (UplinkState::Drained, who),
        };
    }
    match (t.link, t.session) {
        (Link::Missing, _) => {
            return (
                UplinkState::Down,
                format!("interface {iface} does not exist"),
            );
        }
        (Link::Down, _) => return (UplinkState::Down, format!("interface {iface} is down")),
        (Link::Up, Some(false)) => {
            return (
                UplinkState::Down,
                format!("interface {iface} is up, no BGP session is established"),
            );
        }
        (Link::Up, _) => {}
    }
    if t.probes_failed() {
        let targets = t
            .probes
            .iter()
            .map(|h| h.target.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        if t.kept {
            return (
                UplinkState::Active,
                format!(
                    "probes to {targets} fail, but kept active: min_active_uplinks is {min_active}"
                ),
            );
        }
        return (
            UplinkState::Degraded,
            format!("probes to {targets} fail: the access point does not forward"),
        );
    }
    (UplinkState::Active, format!("interface {iface} is up"))
}

#[cfg(test)]
mod tests;
