//! The control API between `sluice` client commands and `sluice run`.
//!
//! Framing: the client connects to the daemon's Unix socket, writes one
//! [`Request`] as a JSON line, reads one [`Response`] as a JSON line, and
//! closes. Messages only; the socket code lives with the daemon and the CLI.

mod access;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use access::Access;

/// The most entries one answer to a list request carries, whatever
/// `limit` asks: an answer is built on the route owner, so its size bounds
/// how long BGP waits. More come page by page (`after`).
pub const MAX_LIMIT: usize = 10_000;

/// `limit` as the daemon applies it: at least one entry, at most [`MAX_LIMIT`].
pub fn capped(limit: usize) -> usize {
    limit.clamp(1, MAX_LIMIT)
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    Status,
    ShowUplinks,
    /// The newest `limit` events.
    ShowEvents {
        #[serde(default = "default_limit")]
        limit: usize,
    },
    ShowPeers,
    /// Paths of one prefix (exact, else the longest covering one), or of
    /// all in prefix order: `limit` of them after `after`.
    ShowRoutes {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<String>,
        #[serde(default = "default_limit")]
        limit: usize,
        /// The page after this prefix (the previous answer's `next`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
        /// Only paths that match every filter given (and the prefixes
        /// that have one).
        #[serde(default, skip_serializing_if = "RouteFilters::is_empty")]
        filters: RouteFilters,
    },
    /// Re-read the config file; with `confirm_within_ms`, roll back unless
    /// `Confirm` arrives in time.
    Reload {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        confirm_within_ms: Option<u64>,
        /// Apply a config an unconfirmed reload rolled back before.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        force: bool,
    },
    Confirm,
    /// What the data plane holds, read back from its maps: the entry for
    /// one address or prefix (longest match), or all in prefix order:
    /// `limit` of them after `after`.
    ShowFib {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<String>,
        #[serde(default = "default_limit")]
        limit: usize,
        /// The page after this prefix (the previous answer's `next`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
        /// Every entry as the IPv4 arrays resolve it (runs of one group as
        /// the fewest prefixes) rather than per programmed prefix.
        #[serde(default)]
        maps: bool,
    },
    /// Forwarding counters per next hop and per verdict.
    ShowCounters,
    /// RPKI: the caches, their sessions and VRPs, and what validation did.
    ShowRpki,
    /// Take uplinks out of service (`sluice drain`): those named, or every
    /// one with `all` (whole-router maintenance). A pre-check on the routes
    /// held now refuses a drain that would misroute traffic unless `force`.
    Drain {
        #[serde(default)]
        uplinks: Vec<String>,
        #[serde(default)]
        all: bool,
        /// Only report what would happen.
        #[serde(default)]
        dry_run: bool,
        #[serde(default)]
        force: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Lift a run-time drain (`sluice undrain`).
    Undrain {
        uplink: String,
    },
    /// Every route the daemon holds, with each path's uplink, uncapped:
    /// answered not with one JSON line but with the lines of a RIB dump
    /// (see `sluice_whatif::dump`), up to the end of the connection. The
    /// daemon writes it a part of the table at a time, so it is no
    /// snapshot: a route that changes meanwhile may show either way.
    DumpRib,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Response {
    Status(Status),
    Uplinks {
        uplinks: Vec<Uplink>,
    },
    Events {
        events: Vec<Event>,
    },
    Peers {
        peers: Vec<PeerView>,
    },
    Routes {
        routes: Vec<RouteView>,
        total: usize,
        /// More follow: ask again with `after` set to this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    Reloaded(Reloaded),
    Fib(FibView),
    Counters(CountersView),
    Rpki(RpkiView),
    Confirmed {
        message: String,
    },
    /// The daemon would not do it; nothing changed. `findings` is the
    /// validator's JSON, `rendered` its human form.
    Refused {
        message: String,
        #[serde(default)]
        rendered: String,
        #[serde(default)]
        findings: serde_json::Value,
    },
    /// The request itself was not understood.
    Error {
        message: String,
    },
    /// The daemon serves as many control connections as it takes; try
    /// again shortly.
    Busy {
        message: String,
    },
    /// The request names what does not exist (exit status 2, bad usage).
    Usage {
        message: String,
    },
    /// A drain's plan, and whether it was carried out.
    Drain(Box<DrainReport>),
    /// An undrain was carried out (or there was nothing to undo).
    Undrained {
        message: String,
    },
}

/// What `sluice drain` found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainReport {
    /// The uplinks asked for.
    pub uplinks: Vec<String>,
    /// Of those, already drained: nothing to do for them.
    pub already: Vec<String>,
    pub dry_run: bool,
    /// Whether the drain was carried out.
    pub applied: bool,
    /// Refused over error-level findings (it was not forced).
    pub refused: bool,
    pub message: String,
    pub findings: Vec<PlanFinding>,
    /// The findings as the validator renders them, with their config lines.
    #[serde(default)]
    pub rendered: String,
    /// Destinations whose next hops change.
    pub moved: usize,
    /// More-specifics that fall back to another uplink's covering route
    /// (the first of them; `fallback_count` in all).
    pub fallbacks: Vec<FallbackView>,
    pub fallback_count: usize,
    /// Uplinks active afterwards.
    pub active_after: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanFinding {
    pub rule: String,
    pub severity: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FallbackView {
    pub prefix: String,
    /// The covering route it follows.
    pub to: String,
    /// The uplinks that route leaves through.
    pub via: Vec<String>,
}

fn default_limit() -> usize {
    1000
}

/// A BGP session, for `sluice show peers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerView {
    pub name: String,
    pub address: String,
    pub asn: u32,
    /// uplink, ibgp or ebgp.
    pub kind: String,
    pub state: String,
    /// Unix time of the last state change.
    pub since: u64,
    /// Prefixes announced by the peer since the session came up.
    pub received: u64,
    /// Prefixes kept after import policy.
    pub accepted: u64,
    pub advertised: u64,
    /// Prefixes not exported to the peer because their attributes do not
    /// fit its maximum message size.
    #[serde(default)]
    pub too_big: u64,
    pub last_error: Option<String>,
    pub families: Vec<String>,
    /// The session's `max_prefix` limit, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_prefix: Option<u64>,
}

/// A prefix and every path to it, for `sluice show routes`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteView {
    pub prefix: String,
    /// Why the best path won.
    pub reason: String,
    pub paths: Vec<PathView>,
}

/// `show routes` filters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteFilters {
    /// The session's name (an uplink or a neighbour's address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// `65001:7`, a well-known name, `65001:1:2` (large) or
    /// `target:65001:10` (extended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community: Option<String>,
    /// A regular expression over the AS path written as `65001 65002`
    /// (AS_SETs as `{1,2}`); `_` matches a boundary, as in FRR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_path: Option<String>,
    /// `valid`, `invalid`, `not-found` or `unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpki: Option<String>,
}

impl RouteFilters {
    pub fn is_empty(&self) -> bool {
        *self == RouteFilters::default()
    }
}

/// An attribute Sluice does not interpret, as received.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnknownAttribute {
    pub code: u8,
    pub flags: u8,
    pub length: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathView {
    pub peer: String,
    pub next_hop: String,
    pub as_path: Vec<u32>,
    pub origin: String,
    /// As best-path selection uses it: a missing MED counts as 0.
    pub med: Option<u32>,
    /// As best-path selection uses it: the session's `local_pref`, or 100.
    pub local_pref: Option<u32>,
    pub communities: Vec<String>,
    #[serde(default)]
    pub large_communities: Vec<String>,
    #[serde(default)]
    pub extended_communities: Vec<String>,
    /// `AS65001 192.0.2.1`.
    #[serde(default)]
    pub aggregator: Option<String>,
    #[serde(default)]
    pub atomic_aggregate: bool,
    #[serde(default)]
    pub originator_id: Option<String>,
    #[serde(default)]
    pub cluster_list: Vec<String>,
    /// Optional transitive attributes passed on as received.
    #[serde(default)]
    pub unknown_attributes: Vec<UnknownAttribute>,
    pub best: bool,
    /// Shares traffic with the best path (ECMP).
    pub multipath: bool,
    /// Kept from before the peer's graceful restart.
    pub stale: bool,
    /// Route origin validation: `valid`, `invalid`, `not-found`, or
    /// `unknown` while no cache has answered; absent without `rpki`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpki: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub version: String,
    pub pid: u32,
    /// Unix time in seconds.
    pub started_at: u64,
    pub uptime_secs: u64,
    pub config: ConfigInfo,
    /// Address the metrics endpoint listens on, if any.
    pub metrics: Option<String>,
    pub uplinks: Vec<Uplink>,
    #[serde(default)]
    pub dataplane: Box<DataplaneStatus>,
}

/// Which forwarding mode is in force, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataplaneStatus {
    /// `native`, `generic` or `off`.
    pub xdp: String,
    /// `sluice` (own maps) or `kernel` (`bpf_fib_lookup`).
    pub fib: String,
    /// `full`, `summary` or `off`.
    pub kernel_fib: String,
    /// Why the mode differs from the config, or other trouble.
    pub reason: Option<String>,
    /// The pin directory, when XDP is on.
    pub pins: Option<String>,
    /// Interfaces the program is attached to, with the mode of each.
    pub attached: Vec<String>,
    /// Prefixes programmed into XDP, next-hop groups and next hops in use.
    pub routes: usize,
    pub groups: usize,
    pub next_hops: usize,
    /// Kernel routes installed and waiting to be written.
    pub kernel_routes: usize,
    pub kernel_pending: usize,
    /// Changed prefixes the data plane has yet to take (placed in chunks
    /// after learning; while a table loads with `kernel_fib: full`, at the
    /// kernel's pace).
    #[serde(default)]
    pub waiting: usize,
    /// Prefixes kept from before a restart until End-of-RIB or the timer.
    pub stale: usize,
    /// Routes the data plane could not program since the start (tbl8
    /// groups or next-hop ids exhausted), and the first error.
    #[serde(default)]
    pub program_failures: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program_error: Option<String>,
}

/// `show fib`: entries as the maps hold them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FibView {
    pub entries: Vec<FibEntryView>,
    /// Programmed prefixes in all; none for `maps`, where counting the
    /// entries would mean reading every word of the arrays.
    #[serde(default)]
    pub total: Option<usize>,
    /// More follow: ask again with `after` set to this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FibEntryView {
    pub prefix: String,
    pub group: u16,
    /// `forward`, `discard`, or `empty` (every bucket empty: punted).
    pub action: String,
    /// The group's next hops with their share of the 64 buckets.
    pub next_hops: Vec<FibHopView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FibHopView {
    pub id: u16,
    pub address: Option<String>,
    pub interface: Option<String>,
    pub mac: Option<String>,
    pub buckets: u32,
}

/// `show rpki`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpkiView {
    /// `rpki` is configured.
    pub enabled: bool,
    /// `reject`, `accept` or `deprefer`.
    pub invalid: String,
    /// VRPs in force (IPv4, IPv6); none while every route is `unknown`.
    pub vrps_v4: usize,
    pub vrps_v6: usize,
    /// The cache they came from.
    pub source: Option<String>,
    /// Invalid uplink routes kept aside (`reject`) or depreferred.
    pub invalid_routes: usize,
    pub caches: Vec<RtrCacheView>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RtrCacheView {
    /// `address:port`.
    pub cache: String,
    pub preference: u8,
    /// `connecting`, `synced`, `waiting` (to retry) or `idle`.
    pub state: String,
    /// The RTR version spoken (1, or 0 with an RFC 6810 cache).
    pub version: u8,
    pub session: Option<u16>,
    pub serial: Option<u32>,
    pub vrps_v4: usize,
    pub vrps_v6: usize,
    /// Unix time of the last End of Data.
    pub synced_at: Option<u64>,
    pub last_error: Option<String>,
}

/// `show counters`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountersView {
    pub next_hops: Vec<HopCounters>,
    /// Every verdict: `forwarded`, `pass-*` (to the kernel, by reason), `drop-*`.
    pub verdicts: Vec<VerdictCount>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HopCounters {
    pub id: u16,
    pub address: String,
    pub uplink: Option<String>,
    pub interface: Option<String>,
    pub packets: u64,
    pub bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictCount {
    pub verdict: String,
    pub packets: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigInfo {
    pub path: String,
    /// SHA-256 of the file as loaded, hex.
    pub sha256: String,
    pub loaded_at: u64,
    /// Seconds left before an unconfirmed reload rolls back.
    pub confirm_deadline_secs: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Uplink {
    pub name: String,
    pub interface: String,
    pub state: UplinkState,
    /// Why it is in that state, for a person.
    pub reason: String,
    /// "203.0.113.1 AS65001" for each configured peer.
    pub peers: Vec<String>,
    /// Unix time (seconds) it entered its state.
    #[serde(default)]
    pub since: u64,
    /// Who drained it and how the traffic left, while it is drained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain: Option<DrainSource>,
    /// Outbound traffic through it, from the data plane's counters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound: Option<Outbound>,
    /// Its health probes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<ProbeView>,
}

/// Where a drain comes from (docs/architecture.md, principle 2: a config drain lasts until the
/// config changes, a CLI drain until `sluice undrain`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainSource {
    /// `config` (`maintenance.drained`) or `cli` (`sluice drain`).
    pub from: String,
    /// The `maintenance.drained` entry's line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// CLI: the client's uid (the control socket's peer credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// CLI: Unix time (seconds) of the drain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Pre-check findings the drain was forced over.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forced: Vec<String>,
    pub settle: Settle,
}

/// How outbound traffic left a drained uplink.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Settle {
    /// Watching the outbound counters fall, since this Unix time (ms).
    Settling { since_ms: u64 },
    /// They stopped rising (or there was no traffic to move).
    Quiet,
    /// `maintenance.drain.settle` ran out with this many packets a second
    /// still leaving.
    TimedOut { pps: u64 },
}

/// An uplink's outbound traffic over the last counter sample.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outbound {
    /// Packets forwarded through its next hops since they were programmed.
    pub packets: u64,
    /// Packets a second.
    pub pps: u64,
    /// Its part of all uplinks' outbound packets a second, 0 to 1.
    pub share: f64,
    /// Packets a second the interface receives (inbound is shown during a
    /// drain, not waited on: it follows the upstreams' choices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound_pps: Option<u64>,
}

/// One health probe of an uplink.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeView {
    pub target: String,
    /// `ok`, `failing` (losing, not yet `fail_after`), `failed`, or
    /// `recovering` (answering, not yet for `recover_after`).
    pub state: String,
    pub sent: u64,
    pub lost: u64,
    /// Loss over the last 60 probes, 0 to 1.
    pub recent_loss: f64,
    /// Round-trip time of the last answer, milliseconds.
    pub rtt_ms: Option<f64>,
}

/// docs/architecture.md, principle 2: the states an uplink can be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UplinkState {
    Active,
    Draining,
    Drained,
    /// Data-plane probes through it fail.
    Degraded,
    Down,
}

impl UplinkState {
    pub const ALL: [UplinkState; 5] = [
        UplinkState::Active,
        UplinkState::Draining,
        UplinkState::Drained,
        UplinkState::Degraded,
        UplinkState::Down,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UplinkState::Active => "active",
            UplinkState::Draining => "draining",
            UplinkState::Drained => "drained",
            UplinkState::Degraded => "degraded",
            UplinkState::Down => "down",
        }
    }
}

impl fmt::Display for UplinkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Unix time in milliseconds.
    pub at_ms: u64,
    pub kind: String,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reloaded {
    /// False when the file had not changed.
    pub changed: bool,
    pub sha256: String,
    /// Warnings and waived findings of the new config, rendered.
    #[serde(default)]
    pub notes: String,
    pub confirm_deadline_secs: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_json_lines() {
        let r = Request::Reload {
            confirm_within_ms: Some(300_000),
            force: false,
        };
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(text, r#"{"cmd":"reload","confirm_within_ms":300000}"#);
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), r);
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"cmd":"reload"}"#).unwrap(),
            Request::Reload {
                confirm_within_ms: None,
                force: false
            }
        );
        assert_eq!(
            serde_json::to_string(&Request::ShowUplinks).unwrap(),
            r#"{"cmd":"show-uplinks"}"#
        );
    }

    #[test]
    fn responses_round_trip() {
        let r = Response::Refused {
            message: "no".into(),
            rendered: "x".into(),
            findings: serde_json::json!([1]),
        };
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.starts_with(r#"{"result":"refused""#), "{text}");
        assert_eq!(serde_json::from_str::<Response>(&text).unwrap(), r);
    }
}
