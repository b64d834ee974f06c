//! Human renderings of daemon answers. Pure functions of the answer and the
//! current time, so they can be golden-tested; `--json` prints the answer itself.

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use sluice_control::{Event, PeerView, RouteView, Status, Uplink};

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
    out.push('\n');
    out.push_str(&uplinks(&s.uplinks));
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
        };
        let expected = "\
sluice 0.1.0  pid 42  up 1h 2m 3s (since 1970-01-01T00:00:00Z)
config   /etc/sluice.yaml
         sha256 abababababababababababababababababababababababababababababababab, loaded 1970-01-01T00:01:00Z
         unconfirmed: rolls back in 1m 30s unless `sluice confirm`
metrics  http://127.0.0.1:9179/metrics

UPLINK  INTERFACE  STATE    PEERS                REASON
iap-a   eth1       active   203.0.113.1 AS65001  interface eth1 is up
iap-b   eth2       drained                       held drained
";
        assert_eq!(status(&s), expected);
    }
}
