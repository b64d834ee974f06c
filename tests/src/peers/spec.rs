//! The plain data of the peers layer: what a peer should be ([`PeerSpec`],
//! [`NeighborSpec`], [`Announce`]) and what it reports ([`Route`],
//! [`SessionState`]), with the normalisation shared by the backends.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// Which implementation runs a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// BIRD 2 (`/usr/sbin/bird`, queried with `birdc`).
    Bird,
    /// GoBGP (`gobgpd`, queried with `gobgp`).
    Gobgp,
    /// FRR's bgpd alone, without zebra (queried with `vtysh`).
    Frr,
}

/// What a peer is: its implementation, identity, neighbors and the routes
/// it originates. Built with the `PeerSpec::new(..).neighbor(..)` chain.
#[derive(Debug, Clone)]
pub struct PeerSpec {
    pub kind: Kind,
    pub asn: u32,
    pub router_id: Ipv4Addr,
    pub neighbors: Vec<NeighborSpec>,
    /// Routes originated, IPv4 and IPv6 alike; kept current by
    /// [`Peer::announce`](super::Peer::announce) and
    /// [`Peer::withdraw`](super::Peer::withdraw).
    pub announce: Vec<Announce>,
    /// BIRD only: top-level configuration added before the sessions, such
    /// as a `roa4 table` and the `protocol rpki` that fills it.
    pub bird_config: Option<String>,
}

impl PeerSpec {
    pub fn new(kind: Kind, asn: u32, router_id: Ipv4Addr) -> PeerSpec {
        PeerSpec {
            kind,
            asn,
            router_id,
            neighbors: Vec::new(),
            announce: Vec::new(),
            bird_config: None,
        }
    }

    pub fn bird_config(mut self, config: &str) -> PeerSpec {
        assert_eq!(self.kind, Kind::Bird, "configuration in BIRD's language");
        self.bird_config = Some(config.to_owned());
        self
    }

    pub fn neighbor(mut self, neighbor: NeighborSpec) -> PeerSpec {
        self.neighbors.push(neighbor);
        self
    }

    pub fn announce(mut self, route: impl Into<Announce>) -> PeerSpec {
        self.announce.push(route.into());
        self
    }
}

/// One configured BGP neighbor.
#[derive(Debug, Clone)]
pub struct NeighborSpec {
    pub address: IpAddr,
    pub asn: u32,
    /// Source address of the session (BIRD `local`, FRR `update-source`).
    pub local: Option<IpAddr>,
    /// TCP-MD5 (RFC 2385) password.
    pub md5: Option<String>,
    /// Wait for the neighbor to connect; never connect out.
    pub passive: bool,
    /// Act as a graceful-restart (RFC 4724) restarting speaker. When false
    /// each daemon keeps its default (BIRD and FRR: helper; GoBGP: off).
    pub graceful_restart: bool,
    /// eBGP multihop with this TTL.
    pub multihop: Option<u8>,
    /// Proposed hold time in seconds; keepalive is a third of it.
    pub hold_time: u16,
    /// GTSM (RFC 5082): send with TTL 255, accept only TTL 255 (BIRD only).
    pub ttl_security: bool,
    /// The body of an import filter in BIRD's filter language (BIRD only;
    /// otherwise everything is imported).
    pub import_filter: Option<String>,
}

impl NeighborSpec {
    pub fn new(address: IpAddr, asn: u32) -> NeighborSpec {
        NeighborSpec {
            address,
            asn,
            local: None,
            md5: None,
            ttl_security: false,
            passive: false,
            graceful_restart: false,
            multihop: None,
            hold_time: 9,
            import_filter: None,
        }
    }

    /// Imports through `filter` (BIRD's filter language, the statements
    /// between the braces).
    pub fn import_filter(mut self, filter: &str) -> NeighborSpec {
        self.import_filter = Some(filter.to_owned());
        self
    }

    pub fn local(mut self, address: IpAddr) -> NeighborSpec {
        self.local = Some(address);
        self
    }

    pub fn md5(mut self, password: &str) -> NeighborSpec {
        self.md5 = Some(password.to_owned());
        self
    }

    pub fn ttl_security(mut self) -> NeighborSpec {
        self.ttl_security = true;
        self
    }

    pub fn passive(mut self) -> NeighborSpec {
        self.passive = true;
        self
    }

    pub fn graceful_restart(mut self) -> NeighborSpec {
        self.graceful_restart = true;
        self
    }

    pub fn multihop(mut self, ttl: u8) -> NeighborSpec {
        self.multihop = Some(ttl);
        self
    }

    pub fn hold_time(mut self, seconds: u16) -> NeighborSpec {
        self.hold_time = seconds;
        self
    }

    /// Keepalive interval derived from the hold time, never 0.
    pub(super) fn keepalive(&self) -> u16 {
        (self.hold_time / 3).max(1)
    }
}

/// A route a peer originates, with the attributes it sets on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    /// Canonical prefix, e.g. `198.51.100.0/24` or `2001:db8:1::/48`.
    pub prefix: String,
    /// The path as originated, before the daemon's own ASN (see module doc).
    pub as_path: Vec<u32>,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    /// `"a:b"` or `"a:b:c"` (large), numeric only.
    pub communities: Vec<String>,
    /// `"target:a:b"` or `"origin:a:b"` (RFC 4360, two-octet AS); BIRD only.
    pub ext_communities: Vec<String>,
}

impl Announce {
    pub fn new(prefix: &str) -> Announce {
        assert!(
            prefix.contains('/'),
            "announce {prefix:?}: a prefix needs a length, e.g. 192.0.2.0/24"
        );
        Announce {
            prefix: prefix.to_owned(),
            as_path: Vec::new(),
            med: None,
            local_pref: None,
            communities: Vec::new(),
            ext_communities: Vec::new(),
        }
    }

    pub fn as_path(mut self, path: &[u32]) -> Announce {
        self.as_path = path.to_vec();
        self
    }

    pub fn med(mut self, med: u32) -> Announce {
        self.med = Some(med);
        self
    }

    pub fn local_pref(mut self, local_pref: u32) -> Announce {
        self.local_pref = Some(local_pref);
        self
    }

    pub fn community(mut self, community: &str) -> Announce {
        let parts: Vec<&str> = community.split(':').collect();
        assert!(
            (2..=3).contains(&parts.len()) && parts.iter().all(|p| p.parse::<u32>().is_ok()),
            "community {community:?} must be numeric a:b or a:b:c"
        );
        self.communities.push(community.to_owned());
        self
    }

    pub fn ext_community(mut self, community: &str) -> Announce {
        let parts: Vec<&str> = community.split(':').collect();
        assert!(
            parts.len() == 3
                && ["target", "origin"].contains(&parts[0])
                && parts[1..].iter().all(|p| p.parse::<u32>().is_ok()),
            "extended community {community:?} must be target:a:b or origin:a:b"
        );
        self.ext_communities.push(community.to_owned());
        self
    }

    pub(super) fn is_ipv6(&self) -> bool {
        self.prefix.contains(':')
    }

    /// (standard, large) communities, as `[a, b]` and `[a, b, c]` strings.
    pub(super) fn split_communities(&self) -> (Vec<&str>, Vec<&str>) {
        self.communities
            .iter()
            .map(String::as_str)
            .partition(|c| c.matches(':').count() == 1)
    }
}

impl From<&str> for Announce {
    fn from(prefix: &str) -> Announce {
        Announce::new(prefix)
    }
}

/// A route as a peer received it, normalised across implementations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub prefix: String,
    /// The neighbor it came from.
    pub peer: Option<IpAddr>,
    /// The global next hop (an IPv6 link-local one is left out).
    pub next_hop: Option<IpAddr>,
    pub as_path: Vec<u32>,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    pub communities: Vec<String>,
    /// `target:65001:10`, `origin:64500:1` (BIRD only).
    pub ext_communities: Vec<String>,
}

/// BGP session state (RFC 4271 section 8), as each daemon reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
    /// Anything else the daemon said (say, BIRD's `Close` or `Down`), or
    /// why it could not be asked.
    Other(String),
}

impl SessionState {
    /// Parses a state name in any of the daemons' spellings.
    pub(super) fn parse(s: &str) -> SessionState {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['_', ' '], "")
            .as_str()
        {
            "idle" => SessionState::Idle,
            "connect" => SessionState::Connect,
            "active" => SessionState::Active,
            "opensent" => SessionState::OpenSent,
            "openconfirm" => SessionState::OpenConfirm,
            "established" | "establ" => SessionState::Established,
            _ => SessionState::Other(s.trim().to_owned()),
        }
    }
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionState::Other(s) => write!(f, "other: {s}"),
            state => fmt::Debug::fmt(state, f),
        }
    }
}

/// Numeric form of a well-known community name as FRR and GoBGP print it.
fn well_known_community(name: &str) -> Option<&'static str> {
    Some(match name {
        "gracefulShutdown" | "graceful-shutdown" => "65535:0",
        "acceptOwn" | "accept-own" => "65535:1",
        "llgrStale" | "llgr-stale" => "65535:6",
        "noLlgr" | "no-llgr" => "65535:7",
        "blackhole" => "65535:666",
        "noExport" | "no-export" => "65535:65281",
        "noAdvertise" | "no-advertise" => "65535:65282",
        "localAs" | "no-export-subconfed" => "65535:65283",
        "noPeer" | "no-peer" => "65535:65284",
        _ => return None,
    })
}

/// A community as printed by a daemon, in this module's `a:b` form.
pub(super) fn normalize_community(c: &str) -> String {
    well_known_community(c).map_or_else(|| c.to_owned(), str::to_owned)
}
