//! Human renderings of daemon answers. Pure functions of the answer and the
//! current time, so they can be golden-tested; `--json` prints the answer itself.

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use sluice_control::{
    CountersView, DrainSource, Event, FibView, Outbound, PathView, PeerView, RouteView, RpkiView,
    Settle, Status, Uplink,
};

/// Left-aligned columns separated by two spaces; the last column is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ", w = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub fn time(unix_secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(unix_secs)).to_string()
}

pub fn duration(secs: u64) -> String {
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}

/// Each uplink with its state, for how long, its share of outbound
/// traffic as a bar, and why; then who drained it and how its probes fare.
pub fn uplinks(uplinks: &[Uplink], now: u64) -> String {
    if uplinks.is_empty() {
        return "no uplinks configured\n".into();
    }
    let rows: Vec<Vec<String>> = uplinks
        .iter()
        .map(|u| {
            vec![
                u.name.clone(),
                u.interface.clone(),
                u.state.to_string(),
                if u.since == 0 {
                    String::new()
                } else {
                    ago(now.saturating_sub(u.since))
                },
                u.outbound.map(|o| share(&o)).unwrap_or_default(),
                u.peers.join(", "),
                u.reason.clone(),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "UPLINK",
            "INTERFACE",
            "STATE",
            "SINCE",
            "OUTBOUND",
            "PEERS",
            "REASON",
        ],
        &rows,
    );
    let width = uplinks
        .iter()
        .map(|u| u.name.chars().count())
        .max()
        .unwrap_or(0);
    for u in uplinks {
        if let Some(d) = &u.drain {
            let _ = writeln!(out, "{:width$}  {}", u.name, drain_source(d));
            for f in &d.forced {
                let _ = writeln!(out, "{:width$}    forced over {f}", "");
            }
        }
        for p in &u.probes {
            let _ = writeln!(
                out,
                "{:width$}  probe {}: {}, {} sent, {} lost ({:.0}% of the last 60){}",
                u.name,
                p.target,
                p.state,
                p.sent,
                p.lost,
                p.recent_loss * 100.0,
                p.rtt_ms
                    .map(|r| format!(", rtt {r:.2} ms"))
                    .unwrap_or_default()
            );
        }
    }
    out
}

/// `██████░░░░  60%  1.2k/s`: an uplink's share of outbound packets.
pub fn share(o: &Outbound) -> String {
    let cells = (o.share * 10.0).round().clamp(0.0, 10.0) as usize;
    format!(
        "{}{} {:>3.0}% {:>6}/s",
        "█".repeat(cells),
        "░".repeat(10 - cells),
        o.share * 100.0,
        rate(o.pps)
    )
}

/// 950, 1.2k, 3.4M.
pub fn rate(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// Where a drain came from and how its traffic left.
pub fn drain_source(d: &DrainSource) -> String {
    let from = match (d.from.as_str(), d.line) {
        ("config", Some(line)) => {
            format!("drained by the config: maintenance.drained, line {line}")
        }
        _ => format!(
            "drained from the CLI by uid {}{}{}",
            d.uid.map_or("?".to_string(), |u| u.to_string()),
            d.at.map(|t| format!(" at {}", time(t))).unwrap_or_default(),
            d.reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
    };
    let settle = match d.settle {
        Settle::Settling { .. } => "traffic still leaving".to_string(),
        Settle::Quiet => "traffic gone".to_string(),
        Settle::TimedOut { pps } => format!("settle ran out at {}/s", rate(pps)),
    };
    format!("{from} ({settle})")
}

/// A short age: 12s, 5m 3s, 3h 2m, 2d 4h.
pub fn ago(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {}s", secs / 60, secs % 60),
        3600..86_400 => format!("{}h {}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d {}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

pub fn status(s: &Status, now: u64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "sluice {}  pid {}  up {} (since {})",
        s.version,
        s.pid,
        duration(s.uptime_secs),
        time(s.started_at)
    );
    let _ = writeln!(out, "config   {}", s.config.path);
    let _ = writeln!(
        out,
        "         sha256 {}, loaded {}",
        s.config.sha256,
        time(s.config.loaded_at)
    );
    if let Some(left) = s.config.confirm_deadline_secs {
        let _ = writeln!(
            out,
            "         unconfirmed: rolls back in {} unless `sluice confirm`",
            duration(left)
        );
    }
    let _ = writeln!(
        out,
        "metrics  {}",
        s.metrics
            .as_deref()
            .map_or("off".to_string(), |m| format!("http://{m}/metrics"))
    );
    let d = &s.dataplane;
    let _ = writeln!(
        out,
        "dataplane xdp {}{}, fib {}, kernel_fib {}",
        d.xdp,
        if d.attached.is_empty() {
            String::new()
        } else {
            format!(" on {}", d.attached.join(", "))
        },
        d.fib,
        d.kernel_fib
    );
    if let Some(reason) = &d.reason {
        let _ = writeln!(out, "         {reason}");
    }
    let _ = writeln!(
        out,
        "         {} routes, {} next-hop groups, {} next hops{}{}",
        d.routes,
        d.groups,
        d.next_hops,
        if d.kernel_fib != "off" {
            format!(
                "; kernel {} routes, {} pending",
                d.kernel_routes, d.kernel_pending
            )
        } else {
            String::new()
        },
        if d.stale > 0 {
            format!("; {} stale from before the restart", d.stale)
        } else {
            String::new()
        }
    );
    if d.waiting > 0 {
        let _ = writeln!(
            out,
            "         {} changed prefixes waiting to be placed",
            d.waiting
        );
    }
    out.push('\n');
    out.push_str(&uplinks(&s.uplinks, now));
    out
}

pub fn fib(f: &FibView) -> String {
    let rows: Vec<Vec<String>> = f
        .entries
        .iter()
        .flat_map(|e| {
            let first = vec![e.prefix.clone(), e.group.to_string(), e.action.clone()];
            if e.next_hops.is_empty() {
                return vec![[first, vec![String::new(); 4]].concat()];
            }
            e.next_hops
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    let lead = if i == 0 {
                        first.clone()
                    } else {
                        vec![String::new(); 3]
                    };
                    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
                    [
                        lead,
                        vec![
                            format!("{} (#{})", opt(&h.address), h.id),
                            opt(&h.interface),
                            h.mac.clone().unwrap_or_else(|| "unresolved".into()),
                            format!("{}/64", h.buckets),
                        ],
                    ]
                    .concat()
                })
                .collect()
        })
        .collect();
    let mut out = table(
        &[
            "PREFIX",
            "GROUP",
            "ACTION",
            "NEXT HOP",
            "INTERFACE",
            "MAC",
            "BUCKETS",
        ],
        &rows,
    );
    let shown = match f.total {
        Some(total) => format!("{} of {total} entries shown", f.entries.len()),
        None => format!("{} entries shown", f.entries.len()),
    };
    out.push_str(&footer(shown, f.next.as_deref()));
    out
}

/// The line under a list: how much it showed, and where the next page starts.
fn footer(shown: String, next: Option<&str>) -> String {
    match next {
        Some(next) => format!("{shown}; next page: `--after {next}`\n"),
        None => format!("{shown}\n"),
    }
}

/// `show rpki`.
pub fn rpki(r: &RpkiView, now_secs: u64) -> String {
    if !r.enabled {
        return "RPKI origin validation is off (no `rpki` section)\n".into();
    }
    let mut out = match &r.source {
        Some(source) => format!(
            "VRPs: {} IPv4, {} IPv6, from {source}\n",
            r.vrps_v4, r.vrps_v6
        ),
        None => "VRPs: none in force; every route is unknown\n".into(),
    };
    let _ = writeln!(
        out,
        "invalid routes: {} ({})\n",
        r.invalid_routes,
        match r.invalid.as_str() {
            "reject" => "kept out of the RIB",
            "deprefer" => "learned with local_pref 0",
            _ => "learned as they are",
        }
    );
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let rows: Vec<Vec<String>> = r
        .caches
        .iter()
        .map(|c| {
            vec![
                c.cache.clone(),
                c.preference.to_string(),
                c.state.clone(),
                c.version.to_string(),
                opt(c.session.map(|s| s.to_string())),
                opt(c.serial.map(|s| s.to_string())),
                format!("{}/{}", c.vrps_v4, c.vrps_v6),
                opt(c.synced_at.map(|t| ago(now_secs.saturating_sub(t)))),
                opt(c.last_error.clone()),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "CACHE",
            "PREF",
            "STATE",
            "RTR",
            "SESSION",
            "SERIAL",
            "VRPS V4/V6",
            "SYNCED",
            "LAST ERROR",
        ],
        &rows,
    ));
    out
}

pub fn counters(c: &CountersView) -> String {
    let rows: Vec<Vec<String>> = c
        .next_hops
        .iter()
        .map(|h| {
            vec![
                h.address.clone(),
                h.uplink.clone().unwrap_or_else(|| "-".into()),
                h.interface.clone().unwrap_or_else(|| "-".into()),
                h.packets.to_string(),
                h.bytes.to_string(),
            ]
        })
        .collect();
    let mut out = table(
        &["NEXT HOP", "UPLINK", "INTERFACE", "PACKETS", "BYTES"],
        &rows,
    );
    out.push('\n');
    let rows: Vec<Vec<String>> = c
        .verdicts
        .iter()
        .map(|v| vec![v.verdict.clone(), v.packets.to_string()])
        .collect();
    out.push_str(&table(&["VERDICT", "PACKETS"], &rows));
    out
}

pub fn events(events: &[Event]) -> String {
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            let t = UNIX_EPOCH + Duration::from_millis(e.at_ms);
            vec![
                humantime::format_rfc3339_millis(t).to_string(),
                e.kind.clone(),
                e.message.clone(),
            ]
        })
        .collect();
    table(&["TIME", "EVENT", "MESSAGE"], &rows)
}

pub fn peers(peers: &[PeerView], now: u64) -> String {
    if peers.is_empty() {
        return "no BGP sessions configured\n".into();
    }
    let rows: Vec<Vec<String>> = peers
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.address.clone(),
                format!("AS{}", p.asn),
                p.kind.clone(),
                p.state.clone(),
                duration(now.saturating_sub(p.since)),
                format!("{}/{}/{}", p.received, p.accepted, p.advertised),
                p.last_error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &[
            "PEER",
            "ADDRESS",
            "ASN",
            "KIND",
            "STATE",
            "FOR",
            "RCVD/ACCEPTED/SENT",
            "LAST ERROR",
        ],
        &rows,
    )
}

pub fn routes(routes: &[RouteView], total: usize, next: Option<&str>) -> String {
    let mut out = String::new();
    for r in routes {
        let _ = writeln!(out, "{}  ({})", r.prefix, r.reason);
        let rows: Vec<Vec<String>> = r
            .paths
            .iter()
            .map(|p| {
                let mark = match (p.best, p.multipath) {
                    (true, _) => "*>",
                    (false, true) => "*=",
                    _ => " ",
                };
                let path = p
                    .as_path
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(" ");
                let opt = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
                vec![
                    format!("  {mark}"),
                    p.peer.clone(),
                    p.next_hop.clone(),
                    opt(p.local_pref),
                    opt(p.med),
                    format!(
                        "{} {}",
                        if path.is_empty() { "(local)" } else { &path },
                        p.origin
                    ),
                    format!(
                        "{}{}",
                        p.communities
                            .iter()
                            .chain(&p.large_communities)
                            .chain(&p.extended_communities)
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(" "),
                        if p.stale { " (stale)" } else { "" }
                    ),
                ]
                .into_iter()
                .chain(p.rpki.clone())
                .collect()
            })
            .collect();
        let mut header = vec![
            "",
            "PEER",
            "NEXT HOP",
            "LPREF",
            "MED",
            "AS PATH",
            "COMMUNITIES",
        ];
        if r.paths.iter().any(|p| p.rpki.is_some()) {
            header.push("RPKI");
        }
        out.push_str(&table(&header, &rows));
        for p in &r.paths {
            let more = more_attributes(p);
            if !more.is_empty() {
                let _ = writeln!(
                    out,
                    "    {} via {}: {}",
                    p.peer,
                    p.next_hop,
                    more.join("; ")
                );
            }
        }
    }
    let shown = format!("{} of {total} prefixes shown", routes.len());
    out.push_str(&footer(shown, next));
    out
}

/// The attributes of a path that the table has no column for, in BIRD's
/// words where it has some (`show route all`).
fn more_attributes(p: &PathView) -> Vec<String> {
    let mut more = Vec::new();
    if let Some(a) = &p.aggregator {
        more.push(format!("aggregator {a}"));
    }
    if p.atomic_aggregate {
        more.push("atomic-aggregate".into());
    }
    if let Some(o) = &p.originator_id {
        more.push(format!("originator {o}"));
    }
    if !p.cluster_list.is_empty() {
        more.push(format!("cluster list {}", p.cluster_list.join(" ")));
    }
    for u in &p.unknown_attributes {
        more.push(format!(
            "attribute {} (flags {:#04x}, {} octets)",
            u.code, u.flags, u.length
        ));
    }
    more
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_control::{ConfigInfo, ProbeView, UnknownAttribute, UplinkState};

    #[test]
    fn every_attribute_has_a_place_in_the_human_output() {
        let plain = PathView {
            peer: "iap-a".into(),
            next_hop: "203.0.113.1".into(),
            as_path: vec![65001],
            origin: "igp".into(),
            med: Some(0),
            local_pref: Some(100),
            communities: vec!["65001:1".into()],
            large_communities: vec!["65001:1:2".into()],
            extended_communities: vec!["target:65001:10".into()],
            aggregator: None,
            atomic_aggregate: false,
            originator_id: None,
            cluster_list: vec![],
            unknown_attributes: vec![],
            best: true,
            multipath: false,
            stale: false,
            rpki: Some("valid".into()),
        };
        let reflected = PathView {
            peer: "rr1".into(),
            next_hop: "10.0.0.9".into(),
            best: false,
            aggregator: Some("AS65001 192.0.2.1".into()),
            atomic_aggregate: true,
            originator_id: Some("10.0.0.7".into()),
            cluster_list: vec!["10.0.0.1".into(), "10.0.0.2".into()],
            unknown_attributes: vec![UnknownAttribute {
                code: 99,
                flags: 0xc0,
                length: 4,
            }],
            ..plain.clone()
        };
        let view = RouteView {
            prefix: "20.1.0.0/24".into(),
            reason: "local-pref".into(),
            paths: vec![plain, reflected],
        };
        let out = routes(&[view], 1, None);
        for want in [
            "65001:1 65001:1:2 target:65001:10",
            "valid",
            "    rr1 via 10.0.0.9: aggregator AS65001 192.0.2.1; atomic-aggregate; \
             originator 10.0.0.7; cluster list 10.0.0.1 10.0.0.2; \
             attribute 99 (flags 0xc0, 4 octets)\n",
        ] {
            assert!(out.contains(want), "{want:?} missing from\n{out}");
        }
        assert!(
            !out.contains("iap-a via"),
            "a plain path has no extra line:\n{out}"
        );
    }

    #[test]
    fn a_page_says_where_the_next_starts() {
        assert_eq!(
            routes(&[], 5, Some("10.0.0.0/24")),
            "0 of 5 prefixes shown; next page: `--after 10.0.0.0/24`\n"
        );
        assert_eq!(routes(&[], 0, None), "0 of 0 prefixes shown\n");
        let maps = FibView {
            entries: vec![],
            total: None,
            next: Some("2001:db8::/32".into()),
        };
        assert!(
            fib(&maps).ends_with("0 entries shown; next page: `--after 2001:db8::/32`\n"),
            "{}",
            fib(&maps)
        );
    }

    #[test]
    fn status_golden() {
        let s = Status {
            version: "0.1.0".into(),
            pid: 42,
            started_at: 0,
            uptime_secs: 3723,
            config: ConfigInfo {
                path: "/etc/sluice.yaml".into(),
                sha256: "ab".repeat(32),
                loaded_at: 60,
                confirm_deadline_secs: Some(90),
            },
            metrics: Some("127.0.0.1:9179".into()),
            uplinks: vec![
                Uplink {
                    name: "iap-a".into(),
                    interface: "eth1".into(),
                    state: UplinkState::Active,
                    reason: "interface eth1 is up".into(),
                    peers: vec!["203.0.113.1 AS65001".into()],
                    since: 3000,
                    drain: None,
                    outbound: Some(Outbound {
                        packets: 9_000_000,
                        pps: 12_345,
                        share: 1.0,
                        inbound_pps: Some(800),
                    }),
                    probes: vec![ProbeView {
                        target: "198.18.0.53".into(),
                        state: "ok".into(),
                        sent: 120,
                        lost: 1,
                        recent_loss: 1.0 / 60.0,
                        rtt_ms: Some(0.412),
                    }],
                },
                Uplink {
                    name: "iap-b".into(),
                    interface: "eth2".into(),
                    state: UplinkState::Drained,
                    reason: "drained by uid 1000: fibre work".into(),
                    peers: vec![],
                    since: 3600,
                    drain: Some(DrainSource {
                        from: "cli".into(),
                        line: None,
                        uid: Some(1000),
                        at: Some(3590),
                        reason: Some("fibre work".into()),
                        forced: vec!["PINNED-TO-INACTIVE: static route …".into()],
                        settle: Settle::Quiet,
                    }),
                    outbound: Some(Outbound {
                        packets: 500,
                        pps: 0,
                        share: 0.0,
                        inbound_pps: None,
                    }),
                    probes: vec![],
                },
                Uplink {
                    name: "iap-c".into(),
                    interface: "eth3".into(),
                    state: UplinkState::Drained,
                    reason: "held drained by maintenance.drained (line 9)".into(),
                    peers: vec![],
                    since: 0,
                    drain: Some(DrainSource {
                        from: "config".into(),
                        line: Some(9),
                        uid: None,
                        at: None,
                        reason: None,
                        forced: vec![],
                        settle: Settle::TimedOut { pps: 1500 },
                    }),
                    outbound: None,
                    probes: vec![],
                },
            ],
            dataplane: Box::new(sluice_control::DataplaneStatus {
                xdp: "generic".into(),
                fib: "sluice".into(),
                kernel_fib: "full".into(),
                reason: Some("eth2: generic, driver has no native XDP".into()),
                attached: vec!["eth1 (generic)".into(), "eth2 (generic)".into()],
                routes: 1000,
                groups: 2,
                next_hops: 2,
                kernel_routes: 900,
                kernel_pending: 100,
                waiting: 5000,
                ..Default::default()
            }),
        };
        let expected = "\
sluice 0.1.0  pid 42  up 1h 2m 3s (since 1970-01-01T00:00:00Z)
config   /etc/sluice.yaml
         sha256 abababababababababababababababababababababababababababababababab, loaded 1970-01-01T00:01:00Z
         unconfirmed: rolls back in 1m 30s unless `sluice confirm`
metrics  http://127.0.0.1:9179/metrics
dataplane xdp generic on eth1 (generic), eth2 (generic), fib sluice, kernel_fib full
         eth2: generic, driver has no native XDP
         1000 routes, 2 next-hop groups, 2 next hops; kernel 900 routes, 100 pending
         5000 changed prefixes waiting to be placed

UPLINK  INTERFACE  STATE    SINCE   OUTBOUND                  PEERS                REASON
iap-a   eth1       active   10m 3s  ██████████ 100%  12.3k/s  203.0.113.1 AS65001  interface eth1 is up
iap-b   eth2       drained  3s      ░░░░░░░░░░   0%      0/s                       drained by uid 1000: fibre work
iap-c   eth3       drained                                                         held drained by maintenance.drained (line 9)
iap-a  probe 198.18.0.53: ok, 120 sent, 1 lost (2% of the last 60), rtt 0.41 ms
iap-b  drained from the CLI by uid 1000 at 1970-01-01T00:59:50Z: fibre work (traffic gone)
         forced over PINNED-TO-INACTIVE: static route …
iap-c  drained by the config: maintenance.drained, line 9 (settle ran out at 1.5k/s)
";
        assert_eq!(status(&s, 3603), expected);
    }
}
