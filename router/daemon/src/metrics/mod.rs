//! The Prometheus endpoint: build info, uplink states, reload outcomes.
//!
//! The registry is built once; the core updates the metric families (they
//! are shared handles) and the HTTP task ([`http`]) only encodes.

mod http;

pub use http::{bind, serve};

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering};

use sluice_control::{CountersView, DataplaneStatus, PeerView, Uplink, UplinkState};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UplinkLabels {
    uplink: String,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UplinkOnly {
    uplink: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProbeLabels {
    uplink: String,
    target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabels {
    peer: String,
    address: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PrefixLabels {
    peer: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabels {
    verdict: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HopLabels {
    next_hop: String,
    uplink: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabels {
    table: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    uplink_state: Family<UplinkLabels, Gauge>,
    reloads: Family<ResultLabels, Counter>,
    session_up: Family<PeerLabels, Gauge>,
    prefixes: Family<PrefixLabels, Gauge>,
    verdicts: Family<VerdictLabels, Counter<u64, AtomicU64>>,
    program_failures: Counter<u64, AtomicU64>,
    hop_packets: Family<HopLabels, Counter<u64, AtomicU64>>,
    hop_bytes: Family<HopLabels, Counter<u64, AtomicU64>>,
    fib_routes: Family<TableLabels, Gauge>,
    state_changes: Family<UplinkLabels, Counter>,
    outbound_pps: Family<UplinkOnly, Gauge>,
    outbound_share: Family<UplinkOnly, Gauge<f64, AtomicU64>>,
    probe_loss: Family<ProbeLabels, Gauge<f64, AtomicU64>>,
    probe_rtt: Family<ProbeLabels, Gauge<f64, AtomicU64>>,
    probe_sent: Family<ProbeLabels, Counter<u64, AtomicU64>>,
    probe_lost: Family<ProbeLabels, Counter<u64, AtomicU64>>,
    uplink_since: Family<UplinkOnly, Gauge>,
    session_since: Family<PeerLabels, Gauge>,
    max_prefix: Family<PeerOnly, Gauge>,
    min_active: Gauge,
    rpki: RpkiMetrics,
}

/// Route origin validation's gauges.
#[derive(Debug, Clone, Default)]
struct RpkiMetrics {
    vrps: Family<FamilyLabels, Gauge>,
    invalid_routes: Gauge,
    cache_up: Family<CacheLabels, Gauge>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FamilyLabels {
    family: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    cache: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerOnly {
    peer: String,
}

/// How a reload ended, for `sluice_config_reloads_total`.
#[derive(Clone, Copy, Debug)]
pub enum ReloadResult {
    Applied,
    Refused,
    RolledBack,
}

impl Metrics {
    pub fn new(started_at_secs: u64) -> Metrics {
        let mut registry = Registry::with_prefix("sluice");
        registry.register(
            "build",
            "Version of the running daemon",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        let start = Gauge::<i64>::default();
        start.set(i64::try_from(started_at_secs).unwrap_or(0));
        registry.register("start_time_seconds", "Unix time the daemon started", start);
        let uplink_state = Family::<UplinkLabels, Gauge>::default();
        registry.register(
            "uplink_state",
            "1 for the state each uplink is in, 0 for the others",
            uplink_state.clone(),
        );
        let reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "config_reloads",
            "Config reloads by result",
            reloads.clone(),
        );
        let session_up = Family::<PeerLabels, Gauge>::default();
        registry.register(
            "bgp_session_up",
            "1 while the BGP session is established",
            session_up.clone(),
        );
        let prefixes = Family::<PrefixLabels, Gauge>::default();
        registry.register(
            "bgp_prefixes",
            "Prefixes per session: received, accepted (after import policy), advertised, too-big (not exported: the attributes do not fit the peer's maximum message size)",
            prefixes.clone(),
        );
        let verdicts = Family::<VerdictLabels, Counter<u64, AtomicU64>>::default();
        registry.register(
            "dataplane_packets",
            "Packets the XDP program handled, by verdict: forwarded, pass-* (to the kernel, by reason), drop-*",
            verdicts.clone(),
        );
        let hop_packets = Family::<HopLabels, Counter<u64, AtomicU64>>::default();
        registry.register(
            "dataplane_nexthop_packets",
            "Packets XDP forwarded to each next hop",
            hop_packets.clone(),
        );
        let hop_bytes = Family::<HopLabels, Counter<u64, AtomicU64>>::default();
        registry.register(
            "dataplane_nexthop_bytes",
            "Bytes (whole frames) XDP forwarded to each next hop",
            hop_bytes.clone(),
        );
        let fib_routes = Family::<TableLabels, Gauge>::default();
        registry.register(
            "dataplane_routes",
            "Routes programmed: xdp, kernel (installed), kernel_pending",
            fib_routes.clone(),
        );
        let state_changes = Family::<UplinkLabels, Counter>::default();
        registry.register(
            "uplink_state_changes",
            "Times each uplink entered each state",
            state_changes.clone(),
        );
        let outbound_pps = Family::<UplinkOnly, Gauge>::default();
        registry.register(
            "uplink_outbound_packets_per_second",
            "Packets a second XDP forwards through each uplink (last counter sample)",
            outbound_pps.clone(),
        );
        let outbound_share = Family::<UplinkOnly, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "uplink_outbound_share",
            "Each uplink's part of all outbound packets a second, 0 to 1",
            outbound_share.clone(),
        );
        let probe_loss = Family::<ProbeLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "probe_recent_loss_ratio",
            "Loss over each probe's last 60 results, 0 to 1",
            probe_loss.clone(),
        );
        let probe_rtt = Family::<ProbeLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "probe_rtt_seconds",
            "Round-trip time of each probe's last answer",
            probe_rtt.clone(),
        );
        let probe_sent = Family::<ProbeLabels, Counter<u64, AtomicU64>>::default();
        registry.register("probe_sent", "Probes sent", probe_sent.clone());
        let probe_lost = Family::<ProbeLabels, Counter<u64, AtomicU64>>::default();
        registry.register("probe_lost", "Probes lost", probe_lost.clone());
        let program_failures = Counter::<u64, AtomicU64>::default();
        let uplink_since = Family::<UplinkOnly, Gauge>::default();
        registry.register(
            "uplink_state_since_seconds",
            "Unix time each uplink entered its state (how long a drain has lasted)",
            uplink_since.clone(),
        );
        let session_since = Family::<PeerLabels, Gauge>::default();
        registry.register(
            "bgp_session_state_since_seconds",
            "Unix time of each session's last state change (changes() counts flaps)",
            session_since.clone(),
        );
        let max_prefix = Family::<PeerOnly, Gauge>::default();
        registry.register(
            "bgp_max_prefix",
            "The max_prefix limit of each session that has one",
            max_prefix.clone(),
        );
        let min_active = Gauge::default();
        registry.register(
            "min_active_uplinks",
            "maintenance.min_active_uplinks: no drain goes below it",
            min_active.clone(),
        );
        registry.register(
            "dataplane_program_failures",
            "Routes the data plane could not program (tbl8 groups or next-hop ids exhausted)",
            program_failures.clone(),
        );
        let rpki = RpkiMetrics::default();
        registry.register(
            "rpki_vrps",
            "VRPs in force, by family (0 while every route is unknown)",
            rpki.vrps.clone(),
        );
        registry.register(
            "rpki_invalid_routes",
            "Invalid uplink routes kept out of the RIB or depreferred",
            rpki.invalid_routes.clone(),
        );
        registry.register(
            "rpki_cache_up",
            "1 while the RTR session with a cache is synced",
            rpki.cache_up.clone(),
        );
        Metrics {
            rpki,
            uplink_since,
            session_since,
            max_prefix,
            min_active,
            program_failures,
            state_changes,
            outbound_pps,
            outbound_share,
            probe_loss,
            probe_rtt,
            probe_sent,
            probe_lost,
            verdicts,
            hop_packets,
            hop_bytes,
            fib_routes,
            registry: Arc::new(registry),
            uplink_state,
            reloads,
            session_up,
            prefixes,
        }
    }

    /// The data plane's counters (absolute values read from its maps).
    pub fn set_dataplane(&self, counters: &CountersView, status: &DataplaneStatus) {
        for v in &counters.verdicts {
            let labels = VerdictLabels {
                verdict: v.verdict.clone(),
            };
            self.verdicts
                .get_or_create(&labels)
                .inner()
                .store(v.packets, Ordering::Relaxed);
        }
        self.hop_packets.clear();
        self.hop_bytes.clear();
        for h in &counters.next_hops {
            let labels = HopLabels {
                next_hop: h.address.clone(),
                uplink: h.uplink.clone().unwrap_or_default(),
            };
            self.hop_packets
                .get_or_create(&labels)
                .inner()
                .store(h.packets, Ordering::Relaxed);
            self.hop_bytes
                .get_or_create(&labels)
                .inner()
                .store(h.bytes, Ordering::Relaxed);
        }
        self.program_failures
            .inner()
            .store(status.program_failures, Ordering::Relaxed);
        for (table, n) in [
            ("xdp", status.routes),
            ("kernel", status.kernel_routes),
            ("kernel_pending", status.kernel_pending),
        ] {
            self.fib_routes
                .get_or_create(&TableLabels { table })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Counts state changes.
    pub fn uplink_changes(&self, changes: &[crate::uplinks::Transition]) {
        for t in changes {
            self.state_changes
                .get_or_create(&UplinkLabels {
                    uplink: t.name.clone(),
                    state: t.to.as_str(),
                })
                .inc();
        }
    }

    pub fn set_uplinks(&self, uplinks: &[Uplink]) {
        self.outbound_pps.clear();
        self.outbound_share.clear();
        self.probe_loss.clear();
        self.probe_rtt.clear();
        self.probe_sent.clear();
        self.probe_lost.clear();
        for u in uplinks {
            let uplink = UplinkOnly {
                uplink: u.name.clone(),
            };
            if let Some(o) = u.outbound {
                self.outbound_pps
                    .get_or_create(&uplink)
                    .set(i64::try_from(o.pps).unwrap_or(i64::MAX));
                self.outbound_share.get_or_create(&uplink).set(o.share);
            }
            for p in &u.probes {
                let labels = ProbeLabels {
                    uplink: u.name.clone(),
                    target: p.target.clone(),
                };
                self.probe_loss.get_or_create(&labels).set(p.recent_loss);
                if let Some(rtt) = p.rtt_ms {
                    self.probe_rtt.get_or_create(&labels).set(rtt / 1000.0);
                }
                self.probe_sent
                    .get_or_create(&labels)
                    .inner()
                    .store(p.sent, Ordering::Relaxed);
                self.probe_lost
                    .get_or_create(&labels)
                    .inner()
                    .store(p.lost, Ordering::Relaxed);
            }
        }
        self.uplink_state.clear();
        self.uplink_since.clear();
        for u in uplinks {
            self.uplink_since
                .get_or_create(&UplinkOnly {
                    uplink: u.name.clone(),
                })
                .set(i64::try_from(u.since).unwrap_or(0));
            for state in UplinkState::ALL {
                let labels = UplinkLabels {
                    uplink: u.name.clone(),
                    state: state.as_str(),
                };
                self.uplink_state
                    .get_or_create(&labels)
                    .set(i64::from(u.state == state));
            }
        }
    }

    /// The config's `maintenance.min_active_uplinks`.
    pub fn set_min_active_uplinks(&self, n: u32) {
        self.min_active.set(i64::from(n));
    }

    pub fn set_peers(&self, peers: &[PeerView]) {
        self.session_up.clear();
        self.session_since.clear();
        self.max_prefix.clear();
        self.prefixes.clear();
        for p in peers {
            let labels = PeerLabels {
                peer: p.name.clone(),
                address: p.address.clone(),
            };
            self.session_since
                .get_or_create(&labels)
                .set(i64::try_from(p.since).unwrap_or(0));
            if let Some(limit) = p.max_prefix {
                self.max_prefix
                    .get_or_create(&PeerOnly {
                        peer: p.name.clone(),
                    })
                    .set(i64::try_from(limit).unwrap_or(i64::MAX));
            }
            self.session_up
                .get_or_create(&labels)
                .set(i64::from(p.state == "established"));
            for (kind, n) in [
                ("received", p.received),
                ("accepted", p.accepted),
                ("advertised", p.advertised),
                ("too-big", p.too_big),
            ] {
                self.prefixes
                    .get_or_create(&PrefixLabels {
                        peer: p.name.clone(),
                        kind,
                    })
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
    }

    pub fn set_rpki(&self, view: &sluice_control::RpkiView) {
        let m = &self.rpki;
        m.vrps.clear();
        m.cache_up.clear();
        if !view.enabled {
            return;
        }
        for (family, n) in [("ipv4", view.vrps_v4), ("ipv6", view.vrps_v6)] {
            m.vrps
                .get_or_create(&FamilyLabels { family })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        m.invalid_routes
            .set(i64::try_from(view.invalid_routes).unwrap_or(i64::MAX));
        for c in &view.caches {
            m.cache_up
                .get_or_create(&CacheLabels {
                    cache: c.cache.clone(),
                })
                .set(i64::from(c.state == "synced"));
        }
    }

    pub fn reload(&self, result: ReloadResult) {
        let result = match result {
            ReloadResult::Applied => "applied",
            ReloadResult::Refused => "refused",
            ReloadResult::RolledBack => "rolled_back",
        };
        self.reloads.get_or_create(&ResultLabels { result }).inc();
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Serves `GET /metrics` until the task is dropped. A deliberately small
/// HTTP/1.0-style responder: one request per connection.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uplink_state_is_a_state_set() {
        let m = Metrics::new(42);
        m.set_uplinks(&[Uplink {
            name: "iap-a".into(),
            interface: "eth1".into(),
            state: UplinkState::Drained,
            reason: String::new(),
            peers: vec![],
            since: 0,
            drain: None,
            outbound: Some(sluice_control::Outbound {
                packets: 10,
                pps: 0,
                share: 0.0,
                inbound_pps: None,
            }),
            probes: vec![sluice_control::ProbeView {
                target: "198.18.0.53".into(),
                state: "failed".into(),
                sent: 10,
                lost: 4,
                recent_loss: 0.4,
                rtt_ms: Some(1.5),
            }],
        }]);
        m.reload(ReloadResult::Refused);
        let text = m.encode();
        assert!(
            text.contains("sluice_uplink_state{uplink=\"iap-a\",state=\"drained\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("sluice_uplink_state{uplink=\"iap-a\",state=\"active\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("sluice_config_reloads_total{result=\"refused\"} 1"),
            "{text}"
        );
        assert!(text.contains("sluice_build_info{version=\""), "{text}");
        for line in [
            "sluice_uplink_outbound_packets_per_second{uplink=\"iap-a\"} 0",
            "sluice_probe_recent_loss_ratio{uplink=\"iap-a\",target=\"198.18.0.53\"} 0.4",
            "sluice_probe_rtt_seconds{uplink=\"iap-a\",target=\"198.18.0.53\"} 0.0015",
            "sluice_probe_lost_total{uplink=\"iap-a\",target=\"198.18.0.53\"} 4",
        ] {
            assert!(text.contains(line), "{line} missing from {text}");
        }
        assert!(text.contains("sluice_start_time_seconds 42"), "{text}");
    }

    /// Every metric the alert rules and the dashboard in deploy/ use is one
    /// the daemon exports.
    #[test]
    fn deploy_uses_only_metrics_the_daemon_exports() {
        // Every family once, so that each is encoded.
        let m = Metrics::new(1);
        m.set_min_active_uplinks(2);
        m.set_uplinks(&[Uplink {
            name: "iap-a".into(),
            interface: "eth1".into(),
            state: UplinkState::Active,
            reason: String::new(),
            peers: vec![],
            since: 7,
            drain: None,
            outbound: Some(sluice_control::Outbound {
                packets: 1,
                pps: 1,
                share: 1.0,
                inbound_pps: None,
            }),
            probes: vec![sluice_control::ProbeView {
                target: "198.18.0.53".into(),
                state: "ok".into(),
                sent: 1,
                lost: 0,
                recent_loss: 0.0,
                rtt_ms: Some(1.0),
            }],
        }]);
        m.uplink_changes(&[crate::uplinks::Transition {
            uplink: 0,
            name: "iap-a".into(),
            from: UplinkState::Down,
            to: UplinkState::Active,
            reason: String::new(),
        }]);
        m.set_peers(&[PeerView {
            name: "iap-a".into(),
            address: "203.0.113.1".into(),
            asn: 65001,
            kind: "uplink".into(),
            state: "established".into(),
            since: 7,
            received: 10,
            accepted: 10,
            advertised: 1,
            too_big: 0,
            last_error: None,
            families: vec![],
            max_prefix: Some(100),
        }]);
        m.set_dataplane(
            &CountersView {
                next_hops: vec![sluice_control::HopCounters {
                    id: 1,
                    address: "203.0.113.1".into(),
                    uplink: Some("iap-a".into()),
                    interface: Some("eth1".into()),
                    packets: 1,
                    bytes: 64,
                }],
                verdicts: vec![sluice_control::VerdictCount {
                    verdict: "drop-spoofed".into(),
                    packets: 1,
                }],
            },
            &DataplaneStatus::default(),
        );
        m.set_rpki(&sluice_control::RpkiView {
            enabled: true,
            vrps_v4: 400_000,
            invalid_routes: 12,
            caches: vec![sluice_control::RtrCacheView {
                cache: "192.0.2.10:8282".into(),
                state: "synced".into(),
                ..Default::default()
            }],
            ..Default::default()
        });
        m.reload(ReloadResult::Applied);
        let text = m.encode();
        for line in [
            "sluice_rpki_vrps{family=\"ipv4\"} 400000",
            "sluice_rpki_invalid_routes 12",
            "sluice_rpki_cache_up{cache=\"192.0.2.10:8282\"} 1",
        ] {
            assert!(text.contains(line), "{line}: {text}");
        }
        assert!(
            text.contains("sluice_bgp_max_prefix{peer=\"iap-a\"} 100"),
            "{text}"
        );
        assert!(
            text.contains("sluice_uplink_state_since_seconds{uplink=\"iap-a\"} 7"),
            "{text}"
        );
        assert!(text.contains("sluice_min_active_uplinks 2"), "{text}");
        let mut names = std::collections::BTreeSet::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("# TYPE ") else {
                continue;
            };
            let mut it = rest.split_whitespace();
            let (Some(name), Some(kind)) = (it.next(), it.next()) else {
                continue;
            };
            names.insert(name.to_owned());
            match kind {
                "counter" => names.insert(format!("{name}_total")),
                "info" => names.insert(format!("{name}_info")),
                _ => false,
            };
        }
        let mut used = std::collections::BTreeSet::new();
        for file in [
            include_str!("../../../../deploy/prometheus/sluice.rules.yml"),
            include_str!("../../../../deploy/grafana/sluice.json"),
        ] {
            let mut rest = file;
            while let Some(i) = rest.find("sluice_") {
                let tail = &rest[i..];
                let end = tail
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(tail.len());
                used.insert(tail[..end].to_owned());
                rest = &tail[end..];
            }
        }
        assert!(used.len() >= 10, "{used:?}");
        let unknown: Vec<_> = used.difference(&names).collect();
        assert!(
            unknown.is_empty(),
            "not exported: {unknown:?}; exported: {names:?}"
        );
    }

    #[test]
    fn dataplane_counters_are_exported_as_read() {
        let m = Metrics::new(0);
        let mut counters = CountersView {
            next_hops: vec![sluice_control::HopCounters {
                id: 3,
                address: "203.0.113.1".into(),
                uplink: Some("iap-a".into()),
                interface: Some("eth1".into()),
                packets: 100,
                bytes: 9800,
            }],
            verdicts: vec![sluice_control::VerdictCount {
                verdict: "pass-no-mac".into(),
                packets: 7,
            }],
        };
        let status = DataplaneStatus {
            routes: 5,
            ..Default::default()
        };
        m.set_dataplane(&counters, &status);
        counters.next_hops[0].packets = 250;
        m.set_dataplane(&counters, &status);
        let text = m.encode();
        for line in [
            "sluice_dataplane_nexthop_packets_total{next_hop=\"203.0.113.1\",uplink=\"iap-a\"} 250",
            "sluice_dataplane_nexthop_bytes_total{next_hop=\"203.0.113.1\",uplink=\"iap-a\"} 9800",
            "sluice_dataplane_packets_total{verdict=\"pass-no-mac\"} 7",
            "sluice_dataplane_routes{table=\"xdp\"} 5",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
