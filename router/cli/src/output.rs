//! Human renderings of daemon answers. Pure functions of the answer and the
//! current time, so they can be golden-tested; `--json` prints the answer itself.

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use sluice_control::{CountersView, Event, FibView, PeerView, RouteView, Status, Uplink};

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

pub fn uplinks(uplinks: &[Uplink]) -> String {
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
                u.peers.join(", "),
                u.reason.clone(),
            ]
        })
        .collect();
    table(&["UPLINK", "INTERFACE", "STATE", "PEERS", "REASON"], &rows)
}

pub fn status(s: &Status) -> String {
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
    out.push('\n');
    out.push_str(&uplinks(&s.uplinks));
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
    let _ = writeln!(out, "{} of {} entries shown", f.entries.len(), f.total);
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

pub fn routes(routes: &[RouteView], total: usize) -> String {
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
                        p.communities.join(" "),
                        if p.stale { " (stale)" } else { "" }
                    ),
                ]
            })
            .collect();
        out.push_str(&table(
            &[
                "",
                "PEER",
                "NEXT HOP",
                "LPREF",
                "MED",
                "AS PATH",
                "COMMUNITIES",
            ],
            &rows,
        ));
    }
    let _ = writeln!(out, "{} of {total} prefixes shown", routes.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_control::{ConfigInfo, UplinkState};

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
                },
                Uplink {
                    name: "iap-b".into(),
                    interface: "eth2".into(),
                    state: UplinkState::Drained,
                    reason: "held drained".into(),
                    peers: vec![],
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

UPLINK  INTERFACE  STATE    PEERS                REASON
iap-a   eth1       active   203.0.113.1 AS65001  interface eth1 is up
iap-b   eth2       drained                       held drained
";
        assert_eq!(status(&s), expected);
    }
}
