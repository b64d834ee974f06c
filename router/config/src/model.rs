//! The typed config: one struct per section of the config contract
//! (`configs/example.yaml` shows every section). Keys may be added, never renamed.
//!
//! Every struct denies unknown keys, so a misspelt key is an error with a
//! suggestion rather than a silently ignored setting.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::at::At;
use crate::values::{
    Community, CommunityPattern, Duration, ExtCommunity, ExtCommunityPattern, IfAddr,
    LargeCommunity, LargeCommunityPattern, LengthRange, NextHopMatch, PolicyRef, Prefix,
};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub router: At<Router>,
    #[serde(default)]
    pub interfaces: Vec<At<Interface>>,
    #[serde(default)]
    pub uplinks: Vec<At<Uplink>>,
    #[serde(default)]
    pub announce: Vec<At<Prefix>>,
    #[serde(default)]
    pub neighbors: Vec<At<Neighbor>>,
    #[serde(default)]
    pub static_routes: Vec<At<StaticRoute>>,
    #[serde(default)]
    pub policies: Policies,
    #[serde(default)]
    pub maintenance: Maintenance,
    #[serde(default)]
    pub validate: Validate,
    #[serde(default)]
    pub dataplane: Dataplane,
    #[serde(default)]
    pub control: Control,
    /// Route origin validation; absent: off.
    #[serde(default)]
    pub rpki: Option<At<Rpki>>,
}

impl Config {
    pub fn uplink(&self, name: &str) -> Option<&At<Uplink>> {
        self.uplinks.iter().find(|u| *u.name == name)
    }

    pub fn interface(&self, name: &str) -> Option<&At<Interface>> {
        self.interfaces.iter().find(|i| *i.name == name)
    }

    /// Whether `addr` lies on a subnet of interface `iface`, or of any
    /// interface when None.
    pub fn on_link(&self, iface: Option<&str>, addr: IpAddr) -> bool {
        self.interfaces
            .iter()
            .filter(|i| iface.is_none_or(|n| *i.name == n))
            .flat_map(|i| i.addresses.iter())
            .any(|a| a.subnet().contains(&addr))
    }

    /// The uplink (config index) a next hop belongs to: the one whose peer
    /// has that address, else the one whose interface subnet holds it.
    /// A static route through it follows that uplink's state, exactly as
    /// routes learned from its session do (docs/architecture.md, principle 2).
    pub fn uplink_of_next_hop(&self, next_hop: IpAddr) -> Option<usize> {
        self.uplinks
            .iter()
            .position(|u| u.peer.0.iter().any(|p| p.address.value == next_hop))
            .or_else(|| {
                self.uplinks.iter().position(|u| {
                    self.interface(&u.interface)
                        .is_some_and(|i| i.addresses.iter().any(|a| a.subnet().contains(&next_hop)))
                })
            })
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Router {
    pub id: At<Ipv4Addr>,
    pub asn: At<u32>,
    /// Maximum equal-cost uplinks; 1 turns ECMP off.
    #[serde(default = "one")]
    pub ecmp: At<u32>,
    /// How long a session may send nothing because the peer reads nothing
    /// before it is reset (RFC 9687). Unset: 8 minutes; never below twice
    /// the session's hold time.
    pub send_hold_time: Option<At<Duration>>,
    /// Received paths with more ASNs than this (every segment counted)
    /// are treated as withdrawn (RFC 7606), the session kept.
    #[serde(default = "max_as_path_length")]
    pub max_as_path_length: At<u32>,
    /// Received UPDATEs with more path attributes than this: the same.
    #[serde(default = "max_path_attributes")]
    pub max_path_attributes: At<u32>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    pub name: At<String>,
    #[serde(default)]
    pub addresses: Vec<At<IfAddr>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Uplink {
    pub name: At<String>,
    pub interface: At<String>,
    /// One peer, or a list of them for a dual-stack uplink.
    pub peer: At<Peers>,
    /// Required by RFC 8212 for eBGP; missing means the validator refuses the config.
    pub import: Option<At<PolicyRef>>,
    pub export: Option<At<PolicyRef>>,
    pub local_pref: Option<At<u32>>,
    /// Share of outbound flows among equal-cost uplinks.
    #[serde(default = "one")]
    pub weight: At<u32>,
    pub max_prefix: Option<At<MaxPrefix>>,
    #[serde(default)]
    pub probes: Vec<At<Probe>>,
    /// Drop packets arriving on this uplink whose source is in the site's
    /// own `announce` prefixes or in the bogon list (BCP 84 ingress
    /// filtering, in the XDP data plane); the uplink's own subnet is
    /// exempt. Off unless set.
    pub drop_martians: Option<At<bool>>,
}

/// `peer:` holds one map or a list of maps.
#[derive(Clone, Debug, Default)]
pub struct Peers(pub Vec<At<Peer>>);

impl<'de> Deserialize<'de> for Peers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Peers;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a peer map `{ address: …, asn: … }` or a list of them")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Peers, A::Error> {
                let peer = Peer::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Peers(vec![At::unplaced(peer)]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Peers, A::Error> {
                Vec::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Peers)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    pub address: At<IpAddr>,
    pub asn: At<u32>,
    /// eBGP multihop: the TTL of our packets; the peer may sit outside the interface's subnet.
    pub multihop: Option<At<u8>>,
    /// GTSM (RFC 5082): accept only packets that arrive with TTL 255.
    #[serde(default)]
    pub ttl_security: bool,
    /// TCP-MD5 (RFC 2385) key, read from this file so that the config in git holds no secret.
    pub password_file: Option<At<PathBuf>>,
    /// Wait for the peer to connect; never open the connection ourselves.
    #[serde(default)]
    pub passive: bool,
}

/// `max_prefix:` is a number or `{ limit, action, restart_after }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MaxPrefix {
    pub limit: u64,
    pub action: MaxPrefixAction,
    pub restart_after: Duration,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MaxPrefixAction {
    Warn,
    #[default]
    Restart,
}

/// The map form, through the derive; the scalar form is handled by hand below.
#[derive(Deserialize)]
#[serde(remote = "MaxPrefix", deny_unknown_fields)]
struct MaxPrefixMap {
    limit: u64,
    #[serde(default)]
    action: MaxPrefixAction,
    #[serde(default = "five_minutes")]
    restart_after: Duration,
}

impl<'de> Deserialize<'de> for MaxPrefix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MaxPrefix;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of prefixes or `{ limit: N, action: warn | restart, restart_after: 5m }`")
            }
            fn visit_u64<E: de::Error>(self, limit: u64) -> Result<MaxPrefix, E> {
                Ok(MaxPrefix {
                    limit,
                    action: MaxPrefixAction::default(),
                    restart_after: five_minutes(),
                })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<MaxPrefix, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("max_prefix cannot be negative ({v})")))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<MaxPrefix, A::Error> {
                MaxPrefixMap::deserialize(de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    pub target: At<IpAddr>,
    #[serde(default = "one_second")]
    pub interval: Duration,
    #[serde(default = "three")]
    pub fail_after: u32,
    #[serde(default = "thirty_seconds")]
    pub recover_after: Duration,
}

/// An internal or downstream BGP peer; iBGP when its ASN is the router's.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Neighbor {
    pub address: At<IpAddr>,
    pub asn: At<u32>,
    pub import: Option<At<PolicyRef>>,
    pub export: Option<At<PolicyRef>>,
    pub multihop: Option<At<u8>>,
    pub password_file: Option<At<PathBuf>>,
    #[serde(default)]
    pub passive: bool,
    pub description: Option<String>,
    /// Same as an uplink's: what the neighbour may send before the session
    /// is reset (or, with `action: warn`, logged).
    pub max_prefix: Option<At<MaxPrefix>>,
    /// Unknown optional transitive attributes of learned routes are not
    /// passed on to this neighbour (RFC 4271 would pass them, marked
    /// partial; a malformed or hostile one would then travel on).
    #[serde(default = "yes")]
    pub strip_unknown_attributes: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticRoute {
    pub prefix: At<Prefix>,
    pub via: At<IpAddr>,
}

/// Serialize gives the meaning (values without positions): what a reload
/// compares, so that a comment or a moved line changes nothing.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Policies {
    /// Entries like `"198.51.100.0/24 le 24"`, parsed by the validator so that
    /// a malformed one is a finding with a rule ID, not a load failure.
    #[serde(default)]
    pub prefix_lists: BTreeMap<String, At<Vec<At<String>>>>,
    #[serde(default)]
    pub route_policies: BTreeMap<String, At<Vec<At<Term>>>>,
    /// Prefixes refused from uplinks. Unset: the built-in list of
    /// special-purpose space plus IPv4 longer than /24 and IPv6 longer than
    /// /48; a list replaces all of that; `[]` turns the filter off.
    pub bogons: Option<Vec<At<Prefix>>>,
}

/// One term of a route policy: terms are tried in order, the first whose
/// `match` holds applies its `set` and its `action`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Term {
    #[serde(default, rename = "match")]
    pub matches: Match,
    pub action: At<Action>,
    #[serde(default)]
    pub set: Set,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    pub prefix_list: Option<At<String>>,
    /// Any of these communities (patterns: `64500:*`).
    #[serde(default)]
    pub communities: Vec<At<CommunityPattern>>,
    #[serde(default)]
    pub large_communities: Vec<At<LargeCommunityPattern>>,
    /// Any of these (patterns: `target:64500:*`).
    #[serde(default)]
    pub extended_communities: Vec<At<ExtCommunityPattern>>,
    /// A regular expression over the AS path as FRR writes it
    /// (`65001 65002 {7,8}`); `_` is a boundary.
    pub as_path: Option<At<String>>,
    /// Any of these origin ASes (RFC 6811's: the last of the path).
    #[serde(default)]
    pub origin_as: Vec<At<u32>>,
    pub as_path_length: Option<At<LengthRange>>,
    /// Any of these next hops (an address, or a network holding it).
    #[serde(default)]
    pub next_hop: Vec<At<NextHopMatch>>,
    /// The route's origin validation state (with an `rpki` section; a
    /// VRP change re-decides the routes it covers).
    pub rpki: Option<At<RpkiState>>,
    /// Every one of these matches too.
    #[serde(default)]
    pub all: Vec<At<Match>>,
    /// At least one of these matches too.
    #[serde(default)]
    pub any: Vec<At<Match>>,
}

/// RFC 6811's states, as a policy matches them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RpkiState {
    Valid,
    Invalid,
    NotFound,
    /// No cache has delivered VRPs (or there is no `rpki` section).
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Accept,
    Reject,
    /// Apply `set` and go on with the following term.
    Next,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Set {
    pub local_pref: Option<u32>,
    pub med: Option<u32>,
    #[serde(default)]
    pub communities: Vec<At<Community>>,
    #[serde(default)]
    pub large_communities: Vec<At<LargeCommunity>>,
    #[serde(default)]
    pub extended_communities: Vec<At<ExtCommunity>>,
    /// Removed (before `communities` are added).
    #[serde(default)]
    pub delete_communities: Vec<At<CommunityPattern>>,
    #[serde(default)]
    pub delete_large_communities: Vec<At<LargeCommunityPattern>>,
    pub prepend: Option<At<u8>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Maintenance {
    /// Uplinks held drained from git.
    #[serde(default)]
    pub drained: Vec<At<String>>,
    /// No drain, manual or automatic, goes below this.
    #[serde(default = "one")]
    pub min_active_uplinks: At<u32>,
    #[serde(default)]
    pub drain: Drain,
}

impl Default for Maintenance {
    fn default() -> Self {
        Maintenance {
            drained: Vec::new(),
            min_active_uplinks: one(),
            drain: Drain::default(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Drain {
    /// Tag exports with GRACEFUL_SHUTDOWN (65535:0, RFC 8326).
    #[serde(default = "yes")]
    pub graceful_shutdown: bool,
    #[serde(default = "three_u8")]
    pub prepend: u8,
    /// How long outbound counters may take to reach ~0 before the uplink counts as drained.
    #[serde(default = "thirty_seconds")]
    pub settle: Duration,
    /// After settling, close the session with an RFC 9003 message.
    #[serde(default)]
    pub shutdown_session: bool,
}

impl Default for Drain {
    fn default() -> Self {
        Drain {
            graceful_shutdown: true,
            prepend: 3,
            settle: thirty_seconds(),
            shutdown_session: false,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Validate {
    #[serde(default)]
    pub waive: Vec<At<Waiver>>,
}

/// An intended difference: findings of `rule` (about `uplink`, if given) are
/// reported as waived instead of counted.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Waiver {
    pub rule: At<String>,
    pub uplink: Option<At<String>>,
    pub reason: At<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Dataplane {
    #[serde(default)]
    pub xdp: XdpMode,
    #[serde(default)]
    pub fib: FibMode,
    #[serde(default)]
    pub kernel_fib: KernelFib,
    /// Names the pin directory `<bpffs>/sluice/<instance>`.
    #[serde(default = "default_instance")]
    pub instance: String,
    #[serde(default = "default_bpffs")]
    pub bpffs: PathBuf,
    /// A stopped daemon leaves XDP and kernel routes forwarding.
    #[serde(default = "yes")]
    pub keep_on_exit: bool,
    /// BCP 38 on internal interfaces: drop packets whose source is not the
    /// site's own space.
    #[serde(default = "yes")]
    pub anti_spoofing: bool,
}

impl Default for Dataplane {
    fn default() -> Self {
        Dataplane {
            xdp: XdpMode::default(),
            fib: FibMode::default(),
            kernel_fib: KernelFib::default(),
            instance: default_instance(),
            bpffs: default_bpffs(),
            keep_on_exit: true,
            anti_spoofing: true,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum XdpMode {
    #[default]
    Native,
    Generic,
    Off,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FibMode {
    /// Sluice's own FIB maps (DIR-24-8 for IPv4).
    #[default]
    Sluice,
    /// `bpf_fib_lookup` on the kernel FIB.
    Kernel,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KernelFib {
    #[default]
    Full,
    Summary,
    Off,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    #[serde(default = "default_socket")]
    pub socket: PathBuf,
    /// Prometheus endpoint; `null` turns it off.
    #[serde(default = "default_metrics")]
    pub metrics: Option<SocketAddr>,
    /// Where run-time drains persist.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// A unix group whose members may read through the control socket
    /// (changes stay with root and the daemon's user); the socket gets it.
    /// Unset: the daemon's own group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<At<String>>,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            socket: default_socket(),
            metrics: default_metrics(),
            state_dir: default_state_dir(),
            group: None,
        }
    }
}

/// RPKI origin validation (RFC 6811) with VRPs from RTR caches (RFC 8210).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rpki {
    /// Tried in preference order (lowest first), as RFC 8210 §10 asks.
    pub caches: Vec<At<RtrCache>>,
    /// What becomes of an uplink's route that RPKI finds invalid.
    #[serde(default)]
    pub invalid: At<InvalidAction>,
    /// VRPs are kept this long once no cache answers; then validation is
    /// off (every route `unknown`) until one does.
    #[serde(default = "one_hour")]
    pub stale_after: Duration,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RtrCache {
    pub address: At<IpAddr>,
    /// IANA's rpki-rtr port.
    #[serde(default = "rtr_port")]
    pub port: At<u16>,
    #[serde(default = "one_u8")]
    pub preference: At<u8>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InvalidAction {
    /// Not learned (kept aside, and learned once a VRP change makes it
    /// valid or not found).
    #[default]
    Reject,
    /// Learned as is; only shown.
    Accept,
    /// Learned with local_pref 0: used only when nothing else covers it.
    Deprefer,
}

impl InvalidAction {
    /// As the config writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            InvalidAction::Reject => "reject",
            InvalidAction::Accept => "accept",
            InvalidAction::Deprefer => "deprefer",
        }
    }
}

pub const DEFAULT_SOCKET: &str = "/run/sluice/sluice.sock";

fn default_socket() -> PathBuf {
    PathBuf::from(DEFAULT_SOCKET)
}
fn default_metrics() -> Option<SocketAddr> {
    Some(SocketAddr::from(([127, 0, 0, 1], 9179)))
}
fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/sluice")
}
fn default_instance() -> String {
    "default".into()
}
fn default_bpffs() -> PathBuf {
    PathBuf::from("/sys/fs/bpf")
}
fn one() -> At<u32> {
    At::unplaced(1)
}
fn three() -> u32 {
    3
}
fn three_u8() -> u8 {
    3
}
fn yes() -> bool {
    true
}
fn one_second() -> Duration {
    Duration::secs(1)
}
fn max_as_path_length() -> At<u32> {
    At::unplaced(255)
}
fn max_path_attributes() -> At<u32> {
    At::unplaced(64)
}
fn thirty_seconds() -> Duration {
    Duration::secs(30)
}
fn one_hour() -> Duration {
    Duration::secs(3600)
}
fn rtr_port() -> At<u16> {
    At::unplaced(323)
}
fn one_u8() -> At<u8> {
    At::unplaced(1)
}
fn five_minutes() -> Duration {
    Duration::secs(300)
}
