//! FRR as a test peer: bgpd alone, without zebra or watchfrr,
//! `/usr/lib/frr/bgpd -Z -S -P 0 -f DIR/bgpd.conf -i DIR/bgpd.pid
//! --vty_socket DIR`, queried with `vtysh --vty_socket DIR -d bgpd -c ..`.
//!
//! - `-Z` (no zebra): bgpd keeps its routes to itself, which is all a test
//!   peer needs, and one daemon per peer is simpler to run and to stop.
//!   Without zebra nothing can vouch for a `network` prefix, hence `no bgp
//!   network import-check`.
//! - `-S` skips the switch to user `frr`, so bgpd runs as root and writes
//!   its files in the peer's directory (`-u root -g root` is not needed).
//! - `-P 0` closes the TCP vty port (2605), which would otherwise clash
//!   between two bgpd in one namespace; `--vty_socket` and `-i` keep the
//!   vty socket and pid file out of /var/run/frr.
//!
//! Each announced prefix is a `network` statement with its own route-map
//! setting the attributes; changes are made live through vtysh.

use std::fmt::Write as _;
use std::net::IpAddr;

use serde_json::Value;

use super::{
    Announce, Backend, NeighborSpec, Peer, Route, SessionState, ident, normalize_community,
    path_arg, write_file,
};

pub(super) struct Frr;

const BGPD: &str = "/usr/lib/frr/bgpd";
const CONF: &str = "bgpd.conf";
const PID: &str = "bgpd.pid";

fn family(v6: bool) -> &'static str {
    if v6 { "ipv6" } else { "ipv4" }
}

fn route_map(prefix: &str) -> String {
    format!("ANNOUNCE_{}", ident(prefix))
}

/// `vtysh` talking to this peer's bgpd only, running each of `commands`.
fn vtysh<'a>(peer: &Peer<'_>, commands: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let dir = peer.dir().to_string_lossy().into_owned();
    let mut args = ["vtysh", "--vty_socket", &dir, "-d", "bgpd"]
        .map(str::to_owned)
        .to_vec();
    for c in commands {
        args.extend(["-c".to_owned(), c.to_owned()]);
    }
    args
}

impl Backend for Frr {
    fn prepare(&self, peer: &Peer<'_>) -> Vec<String> {
        write_file(&peer.dir().join(CONF), &config(peer));
        let dir = peer.dir().to_string_lossy().into_owned();
        let args = [
            BGPD,
            "-Z",
            "-S",
            "-P",
            "0",
            "-f",
            &path_arg(peer.dir(), CONF),
            "-i",
            &path_arg(peer.dir(), PID),
            "--vty_socket",
            &dir,
        ];
        args.map(str::to_owned).to_vec()
    }

    fn ready(&self, peer: &Peer<'_>) -> bool {
        peer.try_cli("show bgp summary json").is_ok()
    }

    fn cli_args(&self, peer: &Peer<'_>, command: &str) -> Vec<String> {
        vtysh(peer, [command])
    }

    fn session_state(&self, peer: &Peer<'_>, neighbor: IpAddr) -> SessionState {
        match neighbor_json(peer, neighbor) {
            Ok(json) => match json["bgpState"].as_str() {
                Some(state) => SessionState::parse(state),
                None => SessionState::Other(json.to_string()),
            },
            Err(e) => SessionState::Other(e),
        }
    }

    fn last_error(&self, peer: &Peer<'_>, neighbor: IpAddr) -> String {
        let json = neighbor_json(peer, neighbor).unwrap_or_else(|e| panic!("{e}"));
        let fields = [
            "lastResetDueTo",
            "lastNotificationReason",
            "lastErrorCodeSubcode",
        ];
        let parts: Vec<String> = fields
            .iter()
            .filter_map(|f| Some(format!("{f}: {}", json.get(f)?.as_str()?)))
            .collect();
        parts.join(", ")
    }

    fn routes(&self, peer: &Peer<'_>, neighbor: Option<IpAddr>) -> Vec<Route> {
        let families = match neighbor {
            Some(n) => vec![n.is_ipv6()],
            None => vec![false, true],
        };
        let mut routes = Vec::new();
        for v6 in families {
            let out = peer.cli(&format!("show bgp {} unicast json detail", family(v6)));
            routes.extend(
                parse_routes(&out)
                    .into_iter()
                    .filter(|r| neighbor.is_none_or(|n| r.peer == Some(n))),
            );
        }
        routes
    }

    fn update_announcement(&self, peer: &Peer<'_>, changed: &str) {
        let router = format!("router bgp {}", peer.spec.asn);
        let af = format!("address-family {} unicast", family(changed.contains(':')));
        let rm = route_map(changed);
        let mut commands = vec!["configure terminal".to_owned()];
        match peer.spec.announce.iter().find(|a| a.prefix == changed) {
            Some(a) => {
                // Rebuilt from scratch so attributes dropped since are gone;
                // re-entering `network` makes bgpd apply it again now.
                commands.push(format!("no route-map {rm}"));
                commands.extend(route_map_config(a).lines().map(str::to_owned));
                commands.extend([router, af, format!("network {changed} route-map {rm}")]);
            }
            None => {
                commands.extend([router, af, format!("no network {changed}")]);
                commands.extend(["end".to_owned(), "configure terminal".to_owned()]);
                commands.push(format!("no route-map {rm}"));
            }
        }
        peer.node
            .run(vtysh(peer, commands.iter().map(String::as_str)));
    }
}

fn neighbor_json(peer: &Peer<'_>, neighbor: IpAddr) -> Result<Value, String> {
    let out = peer
        .try_cli(&format!("show bgp neighbors {neighbor} json"))
        .map_err(|e| e.to_string())?;
    let json: Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))?;
    match json.get(neighbor.to_string()) {
        Some(n) => Ok(n.clone()),
        None => Err(format!("bgpd does not know neighbor {neighbor}: {out}")),
    }
}

fn config(peer: &Peer<'_>) -> String {
    let spec = &peer.spec;
    let mut c = String::new();
    let _ = writeln!(c, "! Generated by sluice-e2e (tests/src/peers/frr.rs).");
    let _ = writeln!(c, "frr defaults traditional");
    let _ = writeln!(c, "hostname {}", peer.node.label());
    // stdout goes to the lab's log, printed when a test fails.
    let _ = writeln!(c, "log stdout debugging");
    let _ = writeln!(c, "log timestamp precision 3");
    let _ = writeln!(c, "debug bgp neighbor-events");
    let _ = writeln!(c, "debug bgp updates");
    // Route-map changes take effect at once rather than after 5 s.
    let _ = writeln!(c, "bgp route-map delay-timer 0");
    for a in &spec.announce {
        c.push_str(&route_map_config(a));
    }
    let _ = writeln!(c, "router bgp {}", spec.asn);
    let _ = writeln!(c, " bgp router-id {}", spec.router_id);
    // A test peer sends and accepts everything: no policy needed (RFC 8212).
    let _ = writeln!(c, " no bgp ebgp-requires-policy");
    let _ = writeln!(c, " no bgp network import-check");
    // Families are activated per neighbor, by its address family.
    let _ = writeln!(c, " no bgp default ipv4-unicast");
    for n in &spec.neighbors {
        neighbor(&mut c, n);
    }
    for v6 in [false, true] {
        let _ = writeln!(c, " address-family {} unicast", family(v6));
        for a in spec.announce.iter().filter(|a| a.is_ipv6() == v6) {
            let _ = writeln!(
                c,
                "  network {} route-map {}",
                a.prefix,
                route_map(&a.prefix)
            );
        }
        for n in spec.neighbors.iter().filter(|n| n.address.is_ipv6() == v6) {
            let _ = writeln!(c, "  neighbor {} activate", n.address);
        }
        let _ = writeln!(c, " exit-address-family");
    }
    c
}

fn neighbor(c: &mut String, n: &NeighborSpec) {
    let a = n.address;
    let _ = writeln!(c, " neighbor {a} remote-as {}", n.asn);
    let _ = writeln!(c, " neighbor {a} timers {} {}", n.keepalive(), n.hold_time);
    let _ = writeln!(c, " neighbor {a} timers connect 1");
    if let Some(password) = &n.md5 {
        assert!(
            !password.contains(char::is_whitespace),
            "MD5 password with a space"
        );
        let _ = writeln!(c, " neighbor {a} password {password}");
    }
    if n.passive {
        let _ = writeln!(c, " neighbor {a} passive");
    }
    if let Some(ttl) = n.multihop {
        let _ = writeln!(c, " neighbor {a} ebgp-multihop {ttl}");
    }
    if let Some(local) = n.local {
        let _ = writeln!(c, " neighbor {a} update-source {local}");
    }
    if n.graceful_restart {
        let _ = writeln!(c, " neighbor {a} graceful-restart");
    }
}

/// The route-map a `network` statement applies to set `a`'s attributes.
fn route_map_config(a: &Announce) -> String {
    let mut c = format!("route-map {} permit 10\n", route_map(&a.prefix));
    if let Some(med) = a.med {
        let _ = writeln!(c, " set metric {med}");
    }
    if let Some(lp) = a.local_pref {
        let _ = writeln!(c, " set local-preference {lp}");
    }
    assert!(
        a.ext_communities.is_empty(),
        "extended communities: BIRD only"
    );
    let (standard, large) = a.split_communities();
    if !standard.is_empty() {
        let _ = writeln!(c, " set community {}", standard.join(" "));
    }
    if !large.is_empty() {
        let _ = writeln!(c, " set large-community {}", large.join(" "));
    }
    if !a.as_path.is_empty() {
        let path: Vec<String> = a.as_path.iter().map(u32::to_string).collect();
        let _ = writeln!(c, " set as-path prepend {}", path.join(" "));
    }
    let _ = writeln!(c, "exit");
    c
}

/// Parses `show bgp <afi> unicast json detail`: `routes` maps each prefix
/// to a list whose first element describes the prefix and whose others
/// are its paths. Keeps received paths (a peer with a real address).
fn parse_routes(out: &str) -> Vec<Route> {
    let json: Value = serde_json::from_str(out).unwrap_or_default();
    let Some(table) = json["routes"].as_object() else {
        return Vec::new();
    };
    let mut routes = Vec::new();
    for (prefix, paths) in table {
        for path in paths.as_array().into_iter().flatten() {
            let peer: Option<IpAddr> = path["peer"]["peerId"].as_str().and_then(|p| p.parse().ok());
            let Some(peer) = peer.filter(|p| !p.is_unspecified()) else {
                continue;
            };
            let number = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
            let segments = path["aspath"]["segments"].as_array().into_iter().flatten();
            let as_path = segments
                .flat_map(|s| {
                    s["list"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(number)
                })
                .collect();
            let next_hop = path["nexthops"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|n| n["scope"].as_str() != Some("link-local"))
                .find_map(|n| n["ip"].as_str()?.parse().ok());
            let communities = ["community", "largeCommunity"]
                .iter()
                .flat_map(|k| path[k]["list"].as_array().into_iter().flatten())
                .filter_map(|c| Some(normalize_community(c.as_str()?)))
                .collect();
            routes.push(Route {
                prefix: prefix.clone(),
                peer: Some(peer),
                next_hop,
                as_path,
                med: number(&path["metric"]),
                local_pref: number(&path["locPrf"]),
                communities,
                ext_communities: Vec::new(),
            });
        }
    }
    routes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_json_detail() {
        let out = r#"{"routerId":"198.51.100.2","routes":{
            "192.0.2.128/25":[{"prefix":"192.0.2.128/25"},{"aspath":{"string":"Local","segments":[],"length":0},"metric":0,"nexthops":[{"ip":"0.0.0.0"}],"peer":{"peerId":"0.0.0.0"}}],
            "198.51.100.0/24":[{"prefix":"198.51.100.0/24"},{"aspath":{"segments":[{"type":"as-sequence","list":[65001,65010]}]},"locPrf":150,"community":{"list":["65001:5","noExport"]},"largeCommunity":{"list":["65001:1:2"]},"nexthops":[{"ip":"198.51.100.1","afi":"ipv4"}],"peer":{"peerId":"198.51.100.1"}}]}}"#;
        let routes = parse_routes(out);
        assert_eq!(routes.len(), 1, "{routes:#?}");
        let r = &routes[0];
        assert_eq!(r.prefix, "198.51.100.0/24");
        assert_eq!(r.as_path, [65001, 65010]);
        assert_eq!((r.med, r.local_pref), (None, Some(150)));
        assert_eq!(r.communities, ["65001:5", "65535:65281", "65001:1:2"]);
        assert_eq!(r.next_hop, Some("198.51.100.1".parse().unwrap()));
    }
}
