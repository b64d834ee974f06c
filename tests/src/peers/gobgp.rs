//! GoBGP as a test peer: `gobgpd -f DIR/gobgpd.toml -t toml --api-hosts
//! unix://DIR/gobgp.sock --pprof-disable --log-plain`, queried with `gobgp
//! --target unix://DIR/gobgp.sock ... -j`.
//!
//! The gRPC API listens on a unix socket in the peer's directory rather
//! than a TCP port, so instances never collide and no port is allocated;
//! pprof (localhost:6060 by default) is off for the same reason.
//!
//! gobgpd's config file has no place for originated routes, so they are
//! added through the API once the daemon answers, and again after every
//! restart.
//!
//! Timing: gobgpd 3.x raises any connect retry below 5 s to 5 s, and after
//! a session drops it stays Idle for a hard-coded 5 s, closing incoming
//! connections meanwhile. So a GoBGP peer is slow to connect out and slow
//! to come back; where a test needs speed, let the other side connect.

use std::fmt::Write as _;
use std::net::IpAddr;

use serde_json::Value;

use super::{Announce, Backend, NeighborSpec, Peer, Route, SessionState, path_arg, write_file};

pub(super) struct Gobgp;

const CONF: &str = "gobgpd.toml";
const SOCK: &str = "gobgp.sock";

fn target(peer: &Peer<'_>) -> String {
    format!("unix://{}", path_arg(peer.dir(), SOCK))
}

fn family(v6: bool) -> &'static str {
    if v6 { "ipv6" } else { "ipv4" }
}

impl Backend for Gobgp {
    fn prepare(&self, peer: &Peer<'_>) -> Vec<String> {
        write_file(&peer.dir().join(CONF), &config(peer));
        // A killed gobgpd leaves its socket behind, and would not bind again.
        let _ = std::fs::remove_file(peer.dir().join(SOCK));
        let args = [
            "gobgpd",
            "-f",
            &path_arg(peer.dir(), CONF),
            "-t",
            "toml",
            "--api-hosts",
            &target(peer),
            "--pprof-disable",
            "--log-plain",
        ];
        args.map(str::to_owned).to_vec()
    }

    fn ready(&self, peer: &Peer<'_>) -> bool {
        peer.try_cli("global").is_ok()
    }

    fn started(&self, peer: &Peer<'_>) {
        for a in &peer.spec.announce {
            add(peer, a);
        }
    }

    fn cli_args(&self, peer: &Peer<'_>, command: &str) -> Vec<String> {
        let mut args = vec!["gobgp".to_owned(), "--target".to_owned(), target(peer)];
        args.extend(command.split_whitespace().map(str::to_owned));
        args
    }

    fn session_state(&self, peer: &Peer<'_>, neighbor: IpAddr) -> SessionState {
        let out = match peer.try_cli(&format!("neighbor {neighbor} -j")) {
            Ok(out) => out,
            Err(e) => return SessionState::Other(e.to_string()),
        };
        let json: Value = serde_json::from_str(&out).unwrap_or_default();
        // The API's enum: 0 unknown, then RFC 4271's states in order.
        match &json["state"]["session_state"] {
            Value::Number(n) => match n.as_u64() {
                Some(1) => SessionState::Idle,
                Some(2) => SessionState::Connect,
                Some(3) => SessionState::Active,
                Some(4) => SessionState::OpenSent,
                Some(5) => SessionState::OpenConfirm,
                Some(6) => SessionState::Established,
                _ => SessionState::Other(n.to_string()),
            },
            Value::String(s) => SessionState::parse(s),
            _ => SessionState::Other(out),
        }
    }

    /// gobgp keeps no last error for a neighbor, so this is the last log
    /// line about it that reports a NOTIFICATION, a reset or a warning.
    fn last_error(&self, peer: &Peer<'_>, neighbor: IpAddr) -> String {
        let key = format!("Key={neighbor} ");
        let log = peer.runs.last().map(|r| r.log()).unwrap_or_default();
        let line = log.lines().rev().find(|l| {
            l.contains(&key)
                && (l.contains("otification") || l.contains("Reason=") || !l.contains("level=info"))
        });
        // Drop the time="..." part, which only gets in the way of matching.
        line.map(|l| l.split_once("\" ").map_or(l, |(_, rest)| rest).to_owned())
            .unwrap_or_default()
    }

    fn routes(&self, peer: &Peer<'_>, neighbor: Option<IpAddr>) -> Vec<Route> {
        let commands: Vec<String> = match neighbor {
            Some(n) => vec![format!("neighbor {n} adj-in -a {} -j", family(n.is_ipv6()))],
            None => [false, true]
                .map(|v6| format!("global rib -a {} -j", family(v6)))
                .to_vec(),
        };
        let mut routes = Vec::new();
        for command in commands {
            // Fails while the session is down: then nothing is received.
            let out = peer.try_cli(&command).unwrap_or_default();
            routes.extend(parse_rib(&out));
        }
        routes
    }

    fn update_announcement(&self, peer: &Peer<'_>, changed: &str) {
        match peer.spec.announce.iter().find(|a| a.prefix == changed) {
            Some(a) => add(peer, a),
            None => {
                let v6 = changed.contains(':');
                peer.cli(&format!("global rib del -a {} {changed}", family(v6)));
            }
        }
    }
}

/// `gobgp global rib add` for `a`; a path already there is replaced.
fn add(peer: &Peer<'_>, a: &Announce) {
    let mut cmd = format!(
        "global rib add -a {} {} origin igp",
        family(a.is_ipv6()),
        a.prefix
    );
    if !a.as_path.is_empty() {
        let path: Vec<String> = a.as_path.iter().map(u32::to_string).collect();
        let _ = write!(cmd, " aspath {}", path.join(","));
    }
    if let Some(med) = a.med {
        let _ = write!(cmd, " med {med}");
    }
    if let Some(lp) = a.local_pref {
        let _ = write!(cmd, " local-pref {lp}");
    }
    assert!(
        a.ext_communities.is_empty(),
        "extended communities: BIRD only"
    );
    let (standard, large) = a.split_communities();
    if !standard.is_empty() {
        let _ = write!(cmd, " community {}", standard.join(","));
    }
    if !large.is_empty() {
        let _ = write!(cmd, " large-community {}", large.join(","));
    }
    peer.cli(&cmd);
}

fn config(peer: &Peer<'_>) -> String {
    let spec = &peer.spec;
    let mut c = String::new();
    let _ = writeln!(c, "# Generated by sluice-e2e (tests/src/peers/gobgp.rs).");
    let _ = writeln!(c, "[global.config]");
    let _ = writeln!(c, "  as = {}", spec.asn);
    let _ = writeln!(c, "  router-id = \"{}\"", spec.router_id);
    for n in &spec.neighbors {
        neighbor(&mut c, n);
    }
    c
}

fn neighbor(c: &mut String, n: &NeighborSpec) {
    let _ = writeln!(c, "\n[[neighbors]]");
    let _ = writeln!(c, "  [neighbors.config]");
    let _ = writeln!(c, "    neighbor-address = \"{}\"", n.address);
    let _ = writeln!(c, "    peer-as = {}", n.asn);
    if let Some(password) = &n.md5 {
        let _ = writeln!(c, "    auth-password = {password:?}");
    }
    let _ = writeln!(c, "  [neighbors.timers.config]");
    let _ = writeln!(c, "    connect-retry = 1");
    let _ = writeln!(c, "    hold-time = {}", n.hold_time);
    let _ = writeln!(c, "    keepalive-interval = {}", n.keepalive());
    // Idle time after `gobgp neighbor X reset` (30 s by default); other
    // drops idle a fixed 5 s.
    let _ = writeln!(c, "    idle-hold-time-after-reset = 1");
    if n.passive || n.local.is_some() {
        let _ = writeln!(c, "  [neighbors.transport.config]");
        if n.passive {
            let _ = writeln!(c, "    passive-mode = true");
        }
        if let Some(local) = n.local {
            let _ = writeln!(c, "    local-address = \"{local}\"");
        }
    }
    if let Some(ttl) = n.multihop {
        let _ = writeln!(c, "  [neighbors.ebgp-multihop.config]");
        let _ = writeln!(c, "    enabled = true");
        let _ = writeln!(c, "    multihop-ttl = {ttl}");
    }
    if n.graceful_restart {
        let _ = writeln!(c, "  [neighbors.graceful-restart.config]");
        let _ = writeln!(c, "    enabled = true");
        let _ = writeln!(c, "    restart-time = 30");
    }
    let _ = writeln!(c, "  [[neighbors.afi-safis]]");
    let _ = writeln!(c, "    [neighbors.afi-safis.config]");
    let _ = writeln!(
        c,
        "      afi-safi-name = \"{}-unicast\"",
        family(n.address.is_ipv6())
    );
    if n.graceful_restart {
        let _ = writeln!(c, "    [neighbors.afi-safis.mp-graceful-restart.config]");
        let _ = writeln!(c, "      enabled = true");
    }
}

/// Parses `gobgp ... -j` RIB output, `{"prefix": [path, ..], ..}`,
/// keeping received paths (those with a `neighbor-ip`).
fn parse_rib(out: &str) -> Vec<Route> {
    let Ok(Value::Object(rib)) = serde_json::from_str::<Value>(out) else {
        return Vec::new();
    };
    let mut routes = Vec::new();
    for (prefix, paths) in rib {
        for path in paths.as_array().into_iter().flatten() {
            let Some(peer) = path["neighbor-ip"].as_str().and_then(|p| p.parse().ok()) else {
                continue;
            };
            let mut route = Route {
                prefix: prefix.clone(),
                peer: Some(peer),
                next_hop: None,
                as_path: Vec::new(),
                med: None,
                local_pref: None,
                communities: Vec::new(),
                ext_communities: Vec::new(),
            };
            for attr in path["attrs"].as_array().into_iter().flatten() {
                attribute(&mut route, attr);
            }
            routes.push(route);
        }
    }
    routes
}

fn attribute(route: &mut Route, attr: &Value) {
    let number = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
    match attr["type"].as_u64() {
        Some(2) => {
            for segment in attr["as_paths"].as_array().into_iter().flatten() {
                let asns = segment["asns"].as_array().into_iter().flatten();
                route.as_path.extend(asns.filter_map(number));
            }
        }
        // NEXT_HOP, or MP_REACH_NLRI's next hop for IPv6.
        Some(3 | 14) => route.next_hop = attr["nexthop"].as_str().and_then(|a| a.parse().ok()),
        Some(4) => route.med = number(&attr["metric"]),
        Some(5) => route.local_pref = number(&attr["value"]),
        Some(8) => {
            for c in attr["communities"].as_array().into_iter().flatten() {
                if let Some(c) = number(c) {
                    route
                        .communities
                        .push(format!("{}:{}", c >> 16, c & 0xffff));
                }
            }
        }
        Some(32) => {
            for c in attr["value"].as_array().into_iter().flatten() {
                let [a, b, d] =
                    ["ASN", "LocalData1", "LocalData2"].map(|k| number(&c[k]).unwrap_or(0));
                route.communities.push(format!("{a}:{b}:{d}"));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rib_json() {
        let out = r#"{"192.0.2.0/24":[{"nlri":{"prefix":"192.0.2.0/24"},"attrs":[{"type":1,"value":2},{"type":4,"metric":10},{"type":8,"communities":[4259971073]},{"type":3,"nexthop":"0.0.0.0"}]}],
            "198.51.100.0/24":[{"attrs":[{"type":2,"as_paths":[{"segment_type":2,"num":3,"asns":[65001,65010,65020]}]},{"type":3,"nexthop":"203.0.113.1"},{"type":5,"value":200},{"type":32,"value":[{"ASN":65001,"LocalData1":1,"LocalData2":2}]}],"neighbor-ip":"203.0.113.1"}]}"#;
        let routes = parse_rib(out);
        assert_eq!(routes.len(), 1, "the local 192.0.2.0/24 is not received");
        let r = &routes[0];
        assert_eq!(r.as_path, [65001, 65010, 65020]);
        assert_eq!(r.next_hop, Some("203.0.113.1".parse().unwrap()));
        assert_eq!((r.med, r.local_pref), (None, Some(200)));
        assert_eq!(r.communities, ["65001:1:2"]);
        assert!(parse_rib("").is_empty());
    }
}
