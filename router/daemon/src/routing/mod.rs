//! The route owner: sessions' events in, the RIB updated, exports out.
//!
//! One task owns this (the daemon core); session tasks parse UPDATEs and
//! send [`Event`]s, this module applies import policy, keeps the RIB,
//! selects best paths and sends each peer the difference between what it
//! should have and what it was sent (its Adj-RIB-Out).

mod backlog;
pub use backlog::CHUNK as BACKLOG_CHUNK;
mod export;
pub mod filter;
pub mod peers;
pub mod rpki;
pub mod show;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sluice_bgp::negotiate::Negotiated;
use sluice_bgp::session::{self, Command, Event, Handle};
use sluice_config::Config;
use sluice_config::model::MaxPrefixAction;
use sluice_control::PeerView;
use sluice_rib::attrs::PathAttrs;
use sluice_rib::policy::Policies;
use sluice_rib::{PeerId, PeerInfo, Rib};
use sluice_wire::update::{Attrs, Ctx};
use sluice_wire::{Afi, Message, Prefix};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::events::Events;
pub use export::AdjOut;
use peers::{Configured, Role};

/// A cold start ends for an uplink without End-of-RIB once it has sent no
/// routes for this long.
const QUIET: Duration = Duration::from_secs(5);

/// Incoming connections are routed to peer tasks by address through this.
pub type Directory = Arc<RwLock<HashMap<IpAddr, mpsc::Sender<TcpStream>>>>;

/// A session's life as the route owner sees it.
impl Peer {
    /// RFC 4271 §6.3 and RFC 7606 §7.2: routes whose next hop cannot be
    /// used, or (from an external peer) whose AS path does not start with
    /// the peer's AS, are ignored. Logged once per session.
    fn plausible(&mut self, a: &PathAttrs, peer_asn: u32, config: &Config) -> bool {
        let why = if self.conf.ebgp() && a.neighbor_as() != Some(peer_asn) {
            Some(format!(
                "AS path {:?} does not start with the peer's AS{peer_asn}",
                a.asns()
            ))
        } else {
            match a.next_hop {
                None => Some("no next hop".to_string()),
                Some(nh) if own_addresses(config).any(|o| o == nh) => {
                    Some(format!("next hop {nh} is this router"))
                }
                Some(nh) if self.single_hop() && !on_link(config, self.conf.role, nh) => Some(
                    format!("next hop {nh} is not on a connected subnet of a single-hop session"),
                ),
                Some(_) => None,
            }
        };
        if let Some(why) = &why
            && !self.warned_implausible
        {
            self.warned_implausible = true;
            tracing::warn!(peer = %self.conf.name, %why, "ignoring routes (RFC 4271 §6.3)");
        }
        why.is_none()
    }

    fn single_hop(&self) -> bool {
        self.conf.ebgp() && self.conf.settings.ttl == 1 || self.conf.settings.min_ttl == Some(255)
    }
}

/// What a config section says, without where it says it: values only (no
/// line numbers), so that a reload whose only change is a comment, a blank
/// line or the order of keys changes nothing.
fn meaning(section: &impl serde::Serialize) -> String {
    serde_json::to_string(section).unwrap_or_default()
}

fn own_addresses(config: &Config) -> impl Iterator<Item = IpAddr> + '_ {
    config
        .interfaces
        .iter()
        .flat_map(|i| i.addresses.iter().map(|a| a.addr()))
}

/// Whether `nh` lies on a subnet of the session's interface (uplinks) or of
/// any interface (neighbours); IPv6 link-local next hops are on-link by definition.
fn on_link(config: &Config, role: Role, nh: IpAddr) -> bool {
    if let IpAddr::V6(v6) = nh
        && v6.is_unicast_link_local()
    {
        return true;
    }
    let iface = match role {
        Role::Uplink(u) => config.uplinks.get(u).map(|u| u.interface.value.as_str()),
        Role::Neighbor(_) => None,
    };
    config.on_link(iface, nh)
}

#[derive(Debug)]
struct Peer {
    /// The session task's id, carried by its events.
    id: usize,
    conf: Configured,
    handle: Handle,
    rib_id: Option<PeerId>,
    established: Option<(Negotiated, IpAddr)>,
    since: SystemTime,
    last_error: Option<String>,
    received: u64,
    /// Routes held stale after a graceful-restart-capable peer went away, and until when.
    stale_until: Option<Instant>,
    adj_out: AdjOut,
    /// Max-prefix tripped with action warn: logged once.
    warned_max_prefix: bool,
    /// Max-prefix tripped with action restart: the session is being reset,
    /// and nothing more it sent is learned.
    resetting: bool,
    /// The restart time of the peer's graceful-restart capability.
    gr_time: Option<u16>,
    /// Implausible routes from this session were logged once.
    warned_implausible: bool,
    /// The families the peer sent End-of-RIB for since the session came up.
    end_of_rib: Vec<Afi>,
    /// Closed while its uplink is drained (`drain.shutdown_session`).
    held: bool,
    /// When the session came up or last sent routes (the cold start ends
    /// for a peer that sends no End-of-RIB once it has been quiet a while).
    last_heard: Instant,
}

#[derive(Debug)]
pub struct Routing {
    pub rib: Rib,
    policies: Policies,
    peers: Vec<Peer>,
    events_tx: mpsc::Sender<(usize, Event)>,
    directory: Directory,
    next_id: usize,
    /// Session ids → index in `peers`.
    index: HashMap<usize, usize>,
    /// The meaning of the policies section in force ([`meaning`]), to see
    /// whether a reload changed it.
    policy_text: String,
    /// Started as a graceful restart: kept so that a reload sees the same sessions.
    restarting: bool,
    started: Instant,
    /// The data plane, programmed before any peer hears of a change.
    pub fib: Option<crate::fib::Fib>,
    /// Changes the data plane has yet to take ([`backlog`]).
    backlog: backlog::Backlog,
    /// Prefixes the data plane reported programmed, being advertised (a
    /// buffer kept from one report to the next).
    programmed: Vec<Prefix>,
    /// A chunk taken from the backlog, being placed (kept likewise).
    placing: Vec<Prefix>,
    /// Cold start: until the FIB holds the uplinks' tables, `announce`
    /// goes out prepended so that a booting router attracts no traffic it
    /// cannot forward yet (FRR's update-delay idea). Off from the start
    /// when the data plane adopted a previous run's FIB, which forwards.
    pub cold: bool,
    /// Route origin validation, with `rpki` configured.
    pub rpki: Option<rpki::Rpki>,
}

impl Routing {
    pub fn new(
        config: &Config,
        events_tx: mpsc::Sender<(usize, Event)>,
        directory: Directory,
        restarting: bool,
    ) -> Routing {
        let mut r = Routing {
            rib: Rib::default(),
            policies: Policies::new(config),
            peers: Vec::new(),
            events_tx,
            directory,
            next_id: 0,
            index: HashMap::new(),
            policy_text: meaning(&config.policies),
            restarting,
            started: Instant::now(),
            fib: None,
            backlog: backlog::Backlog::default(),
            programmed: Vec::new(),
            placing: Vec::new(),
            cold: true,
            rpki: config
                .rpki
                .as_ref()
                .map(|r| rpki::Rpki::new(r.invalid.value)),
        };
        for conf in peers::sessions(config, restarting) {
            r.start(conf);
        }
        r
    }

    fn start(&mut self, conf: Configured) {
        let id = self.next_id;
        self.next_id += 1;
        let handle = session::spawn(id, conf.settings.clone(), self.events_tx.clone());
        self.directory
            .write()
            .expect("directory lock")
            .insert(conf.settings.address, handle.incoming.clone());
        self.index.insert(id, self.peers.len());
        self.peers.push(Peer {
            id,
            conf,
            handle,
            rib_id: None,
            established: None,
            since: SystemTime::now(),
            last_error: None,
            received: 0,
            stale_until: None,
            adj_out: AdjOut::default(),
            warned_max_prefix: false,
            resetting: false,
            gr_time: None,
            warned_implausible: false,
            end_of_rib: Vec::new(),
            held: false,
            last_heard: Instant::now(),
        });
    }

    /// Closes the sessions of uplinks `hold[i]` with an RFC 9003 message
    /// and keeps them closed; reopens those no longer held.
    pub fn hold_uplink_sessions(&mut self, hold: &[bool], events: &mut Events) {
        for i in 0..self.peers.len() {
            let Role::Uplink(u) = self.peers[i].conf.role else {
                continue;
            };
            let want = hold.get(u).copied().unwrap_or(false);
            let p = &mut self.peers[i];
            if want && !p.held {
                p.held = true;
                p.handle
                    .control(Command::Stop(Some("uplink drained for maintenance".into())));
                events.record(
                    "session-held",
                    format!(
                        "session {} ({}) closed while its uplink is drained (drain.shutdown_session)",
                        p.conf.name, p.conf.settings.address
                    ),
                );
            } else if !want && p.held {
                p.held = false;
                let id = self.next_id;
                self.next_id += 1;
                self.index.remove(&p.id);
                p.id = id;
                p.handle = session::spawn(id, p.conf.settings.clone(), self.events_tx.clone());
                self.directory
                    .write()
                    .expect("directory lock")
                    .insert(p.conf.settings.address, p.handle.incoming.clone());
                self.index.insert(id, i);
                events.record(
                    "session-held",
                    format!(
                        "session {} ({}) reopened",
                        p.conf.name, p.conf.settings.address
                    ),
                );
            }
        }
    }

    /// Follows a new config: sessions whose settings changed restart,
    /// removed ones close with "peer de-configured", new ones start, and a
    /// changed import policy asks the peer to send its routes again
    /// (route refresh, RFC 2918) since only post-policy routes are kept.
    pub fn reconfigure(&mut self, config: &Config, events: &mut Events) {
        let mut roles_changed = false;
        let policies_changed = meaning(&config.policies) != self.policy_text;
        self.policy_text = meaning(&config.policies);
        self.policies = Policies::new(config);
        let mut keep = vec![false; self.peers.len()];
        let mut added = Vec::new();
        for conf in peers::sessions(config, self.restarting) {
            let same = self
                .peers
                .iter()
                .position(|p| p.conf.settings.same_session(&conf.settings));
            match same {
                Some(i) if !keep[i] => {
                    let old = &self.peers[i].conf;
                    let refresh = policies_changed
                        || old.import != conf.import
                        || old.local_pref != conf.local_pref
                        || old.role != conf.role;
                    if old.role != conf.role {
                        // Paths keep the uplink they came through by index.
                        roles_changed = true;
                        if let Some(rib_id) = self.peers[i].rib_id {
                            let uplink = match conf.role {
                                Role::Uplink(u) => Some(u),
                                Role::Neighbor(_) => None,
                            };
                            self.rib.set_uplink(rib_id, uplink);
                        }
                    }
                    self.peers[i].conf = conf;
                    keep[i] = true;
                    if refresh
                        && let Some((n, _)) = &self.peers[i].established
                        && n.route_refresh
                    {
                        let msgs = n
                            .families
                            .iter()
                            .map(|f| sluice_wire::encode::route_refresh(*f))
                            .collect();
                        self.peers[i].handle.send(msgs);
                        events.record(
                            "route-refresh",
                            format!(
                                "asked {} to resend its routes: import policy changed",
                                self.peers[i].conf.name
                            ),
                        );
                    }
                }
                _ => added.push(conf),
            }
        }
        let mut touched = Vec::new();
        for i in (0..self.peers.len()).rev() {
            if keep[i] {
                continue;
            }
            let p = self.peers.remove(i);
            events.record(
                "session-removed",
                format!(
                    "session {} ({}) removed from the config",
                    p.conf.name, p.conf.settings.address
                ),
            );
            p.handle
                .control(Command::Stop(Some("peer de-configured".into())));
            self.directory
                .write()
                .expect("directory lock")
                .remove(&p.conf.settings.address);
            if let Some(rib_id) = p.rib_id {
                touched.extend(self.rib.flush_peer(rib_id));
                self.rib.remove_peer(rib_id);
            }
        }
        self.index = self
            .peers
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id, i))
            .collect();
        for conf in added {
            self.start(conf);
        }
        if let Some(fib) = self.fib.as_mut() {
            fib.reconfigure(config, &self.rib, roles_changed);
        }
        let active: Vec<bool> = (0..config.uplinks.len())
            .map(|u| self.uplink_up(u))
            .collect();
        self.propagate(&touched, config, &active);
    }

    /// Whether uplink `i` has an established session. A session whose peer
    /// is restarting gracefully (its routes kept stale) counts: the peer is
    /// expected to keep forwarding meanwhile (RFC 4724).
    pub fn uplink_up(&self, i: usize) -> bool {
        self.peers.iter().any(|p| {
            p.conf.role == Role::Uplink(i) && (p.established.is_some() || p.stale_until.is_some())
        })
    }

    /// Applies one session event; `active` says which uplinks are active.
    pub fn handle(
        &mut self,
        id: usize,
        event: Event,
        config: &Config,
        active: &[bool],
        events: &mut Events,
    ) {
        let Some(&i) = self.index.get(&id) else {
            return;
        };
        match event {
            Event::Up { negotiated, local } => {
                let p = &mut self.peers[i];
                events.record(
                    "session-up",
                    format!(
                        "session {} ({}) established, AS{}",
                        p.conf.name, p.conf.settings.address, negotiated.peer_asn
                    ),
                );
                let info = PeerInfo {
                    name: p.conf.name.clone(),
                    address: p.conf.settings.address,
                    asn: negotiated.peer_asn,
                    router_id: negotiated.peer_router_id,
                    ebgp: p.conf.ebgp(),
                    uplink: match p.conf.role {
                        Role::Uplink(u) => Some(u),
                        Role::Neighbor(_) => None,
                    },
                };
                if p.rib_id.is_none() {
                    p.rib_id = Some(self.rib.add_peer(info));
                }
                p.gr_time = negotiated.peer_graceful_restart.as_ref().map(|g| g.time);
                p.established = Some((negotiated, local));
                p.since = SystemTime::now();
                p.received = 0;
                p.warned_max_prefix = false;
                p.resetting = false;
                p.warned_implausible = false;
                p.end_of_rib.clear();
                p.last_heard = Instant::now();
                p.adj_out = AdjOut::default();
                self.sync_peer(i, config, active, true);
            }
            Event::Routes(batch) => {
                self.peers[i].last_heard = Instant::now();
                let mut touched = Vec::new();
                for routes in batch {
                    // Max-prefix is checked per UPDATE: once it trips,
                    // the rest of the batch is not learned.
                    if self.peers[i].resetting {
                        break;
                    }
                    touched.extend(self.learn(i, routes, config, events));
                }
                self.propagate(&touched, config, active);
            }
            Event::EndOfRib(afi) => {
                let p = &mut self.peers[i];
                tracing::debug!(peer = %p.conf.name, ?afi, "End-of-RIB");
                p.end_of_rib.push(afi);
                if let (Some(rib_id), Some(_)) = (p.rib_id, p.stale_until) {
                    let touched = self.rib.sweep_stale(rib_id);
                    events.record(
                        "end-of-rib",
                        format!(
                            "{} sent End-of-RIB ({afi:?}); {} stale routes removed",
                            self.peers[i].conf.name,
                            touched.len()
                        ),
                    );
                    self.peers[i].stale_until = None;
                    self.propagate(&touched, config, active);
                }
            }
            Event::RouteRefresh(_) => {
                self.peers[i].adj_out = AdjOut::default();
                self.sync_peer(i, config, active, false);
            }
            Event::Down { reason, graceful } => {
                let p = &mut self.peers[i];
                let was_up = p.established.take().is_some();
                p.last_error = Some(reason.clone());
                p.since = SystemTime::now();
                p.adj_out = AdjOut::default();
                if was_up {
                    events.warn(
                        "session-down",
                        format!(
                            "session {} ({}) down: {reason}",
                            p.conf.name, p.conf.settings.address
                        ),
                    );
                }
                // Fast failover: the groups move off the uplink at once
                // (one write each), before its routes are withdrawn one by
                // one. A gracefully restarting peer keeps forwarding.
                let mut active = active.to_vec();
                if let Role::Uplink(u) = self.peers[i].conf.role
                    && was_up
                    && !(graceful && self.peers[i].gr_time.is_some_and(|t| t > 0))
                    && !self.uplink_up(u)
                    && let (Some(a), Some(fib)) = (active.get_mut(u), self.fib.as_mut())
                {
                    *a = false;
                    fib.set_active(&self.rib, &active);
                }
                self.drop_routes(i, graceful, config, &active, events);
            }
        }
    }

    /// A session went away: keep its routes stale (graceful restart) or remove them.
    fn drop_routes(
        &mut self,
        i: usize,
        graceful: bool,
        config: &Config,
        active: &[bool],
        events: &mut Events,
    ) {
        let Some(rib_id) = self.peers[i].rib_id else {
            return;
        };
        self.rpki_forget_peer(rib_id);
        let helper_time = if graceful {
            self.peers[i].gr_time
        } else {
            None
        };
        let touched = match helper_time {
            Some(t) if t > 0 => {
                self.rib.mark_stale(rib_id);
                self.peers[i].stale_until =
                    Some(Instant::now() + Duration::from_secs(u64::from(t)));
                events.record(
                    "graceful-restart",
                    format!(
                        "keeping {} routes of {} as stale for up to {t} s",
                        self.rib.count(rib_id),
                        self.peers[i].conf.name
                    ),
                );
                Vec::new()
            }
            _ => {
                let touched = self.rib.flush_peer(rib_id);
                self.rib.remove_peer(rib_id);
                self.peers[i].rib_id = None;
                self.peers[i].stale_until = None;
                touched
            }
        };
        self.propagate(&touched, config, active);
    }

    /// Ends the cold start once every established uplink sent its whole
    /// table (End-of-RIB in each family) and the FIB holds it, or after the
    /// restart time; then `announce` goes out without the prepend.
    fn end_cold_start(&mut self, config: &Config, active: &[bool], events: &mut Events) {
        if !self.cold {
            return;
        }
        let uplinks: Vec<&Peer> = self
            .peers
            .iter()
            .filter(|p| matches!(p.conf.role, Role::Uplink(_)) && p.established.is_some())
            .collect();
        // Peers that send no End-of-RIB (it is optional without graceful
        // restart) count once they have sent nothing for a while.
        let synced = !uplinks.is_empty()
            && uplinks.iter().all(|p| {
                p.last_heard.elapsed() >= QUIET
                    || p.established
                        .as_ref()
                        .is_some_and(|(n, _)| n.families.iter().all(|f| p.end_of_rib.contains(f)))
            })
            && self.backlog.is_empty()
            && self
                .fib
                .as_ref()
                .is_none_or(|f| f.status().kernel_pending == 0);
        let timed_out =
            self.started.elapsed() > Duration::from_secs(u64::from(peers::RESTART_TIME));
        if synced || timed_out {
            self.cold = false;
            events.record(
                "cold-start",
                format!(
                    "cold start over ({}): announcing without the cold-start prepend",
                    if synced {
                        "the FIB holds every uplink's table"
                    } else {
                        "restart time ran out"
                    }
                ),
            );
            self.resync(config, active);
        }
    }

    /// Stale routes whose restart time ran out.
    pub fn expire_stale(&mut self, config: &Config, active: &[bool], events: &mut Events) {
        self.end_cold_start(config, active, events);
        let now = Instant::now();
        // What a previous run left in the data plane forwards until every
        // uplink has sent its table (End-of-RIB), or for the restart time.
        if let Some(fib) = self.fib.as_mut()
            && fib.adopting()
        {
            // (and the data plane has placed all of it: an upgrade swaps
            // the program in then)
            let synced = self.backlog.is_empty()
                && self
                    .peers
                    .iter()
                    .filter(|p| matches!(p.conf.role, Role::Uplink(_)))
                    .all(|p| {
                        p.established.as_ref().is_some_and(|(n, _)| {
                            n.families.iter().all(|f| p.end_of_rib.contains(f))
                        })
                    });
            let timed_out = now.duration_since(self.started)
                > Duration::from_secs(u64::from(peers::RESTART_TIME));
            if synced || timed_out {
                let n = fib.stale();
                if let Some(upgrade) = fib.sweep_stale() {
                    events.record("dataplane", upgrade);
                }
                events.record(
                    "dataplane",
                    format!(
                        "data plane of the previous run taken over; {n} of its routes not replaced were removed ({})",
                        if synced {
                            "every uplink sent End-of-RIB"
                        } else {
                            "restart time ran out"
                        }
                    ),
                );
            }
        }
        for i in 0..self.peers.len() {
            if self.peers[i].stale_until.is_some_and(|t| t <= now)
                && let Some(rib_id) = self.peers[i].rib_id
            {
                let touched = self.rib.sweep_stale(rib_id);
                events.warn(
                    "graceful-restart",
                    format!(
                        "restart time of {} ran out; {} stale routes removed",
                        self.peers[i].conf.name,
                        touched.len()
                    ),
                );
                self.peers[i].stale_until = None;
                if self.peers[i].established.is_none() {
                    self.rib.remove_peer(rib_id);
                    self.peers[i].rib_id = None;
                }
                self.propagate(&touched, config, active);
            }
        }
    }

    /// Import: the routes of one UPDATE into the RIB. Returns the prefixes touched.
    fn learn(
        &mut self,
        i: usize,
        routes: session::Routes,
        config: &Config,
        events: &mut Events,
    ) -> Vec<Prefix> {
        let p = &mut self.peers[i];
        let (Some(rib_id), Some((negotiated, _))) = (p.rib_id, &p.established) else {
            return Vec::new();
        };
        let four = negotiated.four_octet_as;
        let mut touched = Vec::with_capacity(routes.announce.len() + routes.withdraw.len());
        // A full table's prefixes are each a cache miss in the RIB: the
        // next ones are fetched while one is learned.
        for (k, w) in routes.withdraw.iter().enumerate() {
            self.rib.prefetch_ahead(&routes.withdraw, k);
            if let Some(r) = self.rpki.as_mut() {
                r.forget(&mut self.rib, rib_id, w);
            }
            if self.rib.withdraw(rib_id, w) {
                touched.push(*w);
            }
        }
        if routes.announce.is_empty() {
            return touched;
        }
        p.received += routes.announce.len() as u64;
        let Ok(Message::Update(u)) = Message::decode(&routes.update) else {
            return touched;
        };
        let Ok((attrs, _)) = Attrs::parse(
            &u,
            Ctx {
                four_octet_as: four,
                ebgp: p.conf.ebgp(),
            },
        ) else {
            return touched;
        };
        let (next_hop, link_local) = match routes.afi {
            Some(Afi::Ipv6) => {
                let nh = attrs.mp_reach.map(|m| m.next_hop).unwrap_or(&[]);
                let addr = |b: &[u8]| <[u8; 16]>::try_from(b).ok().map(IpAddr::from);
                (nh.get(..16).and_then(addr), nh.get(16..32).and_then(addr))
            }
            _ => (attrs.next_hop.map(IpAddr::V4), None),
        };
        let mut base = PathAttrs::from_wire(&attrs, four, next_hop, link_local);
        if let Some(lp) = p.conf.local_pref {
            base.local_pref = Some(lp);
        }
        // RFC 8326 §4: a peer draining its side asks us to go elsewhere.
        if sluice_rib::export::is_graceful_shutdown(&base) {
            base.local_pref = Some(0);
        }
        let from_uplink = matches!(p.conf.role, Role::Uplink(_));
        let policy = p.conf.import.clone();
        let ebgp = p.conf.ebgp();
        // Loop detection depends on the attributes only: once per UPDATE.
        let peer_asn = negotiated.peer_asn;
        let looped =
            self.policies.looped(&base) || !self.peers[i].plausible(&base, peer_asn, config);
        let rewrites = Policies::rewrites(policy.as_ref());
        let own_asn = config.router.asn.value;
        // A policy that matches on the RPKI state gets it, and the routes
        // as received are kept to be decided again when VRPs change.
        let by_rpki = self.rpki.is_some() && self.policies.uses_rpki(policy.as_ref());
        let received = (by_rpki && !looped).then(|| self.rib.attrs.intern_ref(&base));
        // The origin AS, for RPKI: the path's last ASN, which import
        // policy leaves alone (it only prepends ours in front).
        let origin = base.origin_as(own_asn);
        // Routes that keep the UPDATE's attributes share one interned set.
        let mut shared = None;
        for (k, prefix) in routes.announce.iter().enumerate() {
            self.rib.prefetch_ahead(&routes.announce, k);
            if let (Some(id), Some(r)) = (received, self.rpki.as_mut()) {
                self.rib.attrs.retain(id);
                r.keep_imported(&mut self.rib, rib_id, *prefix, id);
            }
            let state = self
                .rpki
                .as_ref()
                .filter(|_| by_rpki)
                .map(|r| rpki::policy_state(r.validity(prefix, origin)));
            let accepted = if looped {
                None
            } else if rewrites {
                let mut a = base.clone();
                self.policies
                    .import_validated(policy.as_ref(), ebgp, from_uplink, prefix, &mut a, state)
                    .then(|| self.rib.attrs.intern(a))
            } else if self.policies.import_prefix(
                policy.as_ref(),
                ebgp,
                from_uplink,
                prefix,
                &mut base,
            ) {
                Some(match shared {
                    Some(id) => {
                        self.rib.attrs.retain(id);
                        id
                    }
                    None => *shared.insert(self.rib.attrs.intern_ref(&base)),
                })
            } else {
                None
            };
            // RPKI acts on uplinks' routes the policy accepted.
            let admitted = match accepted {
                Some(id) if from_uplink => self.rpki_admit(rib_id, *prefix, id, origin),
                Some(id) => Some(id),
                None => {
                    if let Some(r) = self.rpki.as_mut() {
                        if looped {
                            r.forget(&mut self.rib, rib_id, prefix);
                        } else {
                            r.forget_held(&mut self.rib, rib_id, prefix);
                        }
                    }
                    None
                }
            };
            match admitted {
                Some(id) => {
                    self.rib.announce(rib_id, *prefix, id);
                    touched.push(*prefix);
                }
                None => {
                    if self.rib.withdraw(rib_id, prefix) {
                        touched.push(*prefix);
                    }
                }
            }
        }
        if let Some(id) = received {
            // The UPDATE's own reference; each route kept took one.
            self.rib.attrs.release(id);
        }
        self.check_max_prefix(i, events);
        touched
    }

    fn check_max_prefix(&mut self, i: usize, events: &mut Events) {
        let p = &mut self.peers[i];
        let (Some(max), Some(rib_id)) = (&p.conf.max_prefix, p.rib_id) else {
            return;
        };
        let count = u64::from(self.rib.count(rib_id));
        if count <= max.limit {
            return;
        }
        match max.action {
            MaxPrefixAction::Warn if !p.warned_max_prefix => {
                p.warned_max_prefix = true;
                events.warn(
                    "max-prefix",
                    format!(
                        "{} sent {count} prefixes, above max_prefix {}",
                        p.conf.name, max.limit
                    ),
                );
            }
            MaxPrefixAction::Warn => {}
            MaxPrefixAction::Restart if p.resetting => {}
            MaxPrefixAction::Restart => {
                p.resetting = true;
                events.warn(
                    "max-prefix",
                    format!(
                        "{} sent {count} prefixes, above max_prefix {}; closing, retry in {}",
                        p.conf.name, max.limit, max.restart_after
                    ),
                );
                p.handle.control(Command::Reset {
                    code: sluice_wire::iana::err::CEASE,
                    subcode: sluice_wire::iana::err::CEASE_MAX_PREFIX,
                    hold_off: max.restart_after.0,
                });
            }
        }
    }

    /// Tells peers about best-path changes of `touched`.
    fn propagate(&mut self, touched: &[Prefix], config: &Config, active: &[bool]) {
        // Into the FIB first: a route is advertised only once it forwards.
        // The data plane takes changes when the session queue is empty
        // (`place_backlog`; see `backlog`).
        if self.fib.as_ref().is_some_and(crate::fib::Fib::programs) {
            if self.backlog.push(touched, Instant::now()) {
                // Overdue: place more than came in, so the backlog shrinks
                // even under a flood; but never a table at once (a session
                // going down touches every prefix it had), which held up
                // every other event for a second.
                let n = (2 * touched.len()).clamp(backlog::CHUNK, backlog::OVERDUE_MAX);
                self.place_backlog(n, config, active);
            }
            return;
        }
        self.advertise(touched, config, active);
    }

    /// Whether route changes wait for the data plane.
    pub fn has_backlog(&self) -> bool {
        !self.backlog.is_empty()
    }

    /// How many changed prefixes wait for the data plane.
    pub fn backlog_len(&self) -> usize {
        self.backlog.len()
    }

    /// Whether the data plane takes backlog now: it has some, and room for
    /// it ([`crate::fib::Fib::room`]: its writer's queue is not full, nor
    /// the kernel FIB a full [`crate::fib::kernel::PENDING_MAX`] behind).
    pub fn can_place(&self) -> bool {
        !self.backlog.is_empty() && self.fib.as_ref().is_none_or(|f| f.room() > 0)
    }

    /// Places up to `max` of the changes that waited, as many as the
    /// data plane has room for ([`crate::fib::Fib::room`]), and tells
    /// neighbours of them once programmed: a chunk is programmed by the
    /// data plane's writer thread, the kernel FIB is written in the
    /// background, and neighbours hear of what is not programmed yet when
    /// it is (see `programmed`).
    pub fn place_backlog(&mut self, max: usize, config: &Config, active: &[bool]) {
        let room = self.fib.as_ref().map_or(usize::MAX, crate::fib::Fib::room);
        self.place_from_backlog(max.min(room), config, active);
    }

    /// Places the whole backlog whatever the kernel FIB's lag (on the way
    /// out: the pinned XDP FIB keeps forwarding on it).
    pub fn place_all_backlog(&mut self, config: &Config, active: &[bool]) {
        self.place_from_backlog(usize::MAX, config, active);
    }

    fn place_from_backlog(&mut self, max: usize, config: &Config, active: &[bool]) {
        if self.backlog.is_empty() || max == 0 {
            return;
        }
        let mut touched = std::mem::take(&mut self.placing);
        self.backlog.take_into(max, Instant::now(), &mut touched);
        match self.fib.as_mut() {
            Some(fib) => {
                let now = fib.update(&self.rib, &touched);
                self.advertise(&now, config, active);
            }
            None => self.advertise(&touched, config, active),
        }
        self.placing = touched;
    }

    /// Starts the data plane anew (a configured interface appeared after
    /// the daemon started) and programs the whole RIB into it.
    pub fn restart_fib(&mut self, config: &Config, active: &[bool]) {
        let mut fib = crate::fib::Fib::start(config);
        let all: Vec<Prefix> = self.rib.iter().map(|(p, _)| p).collect();
        fib.update(&self.rib, &all);
        fib.set_active(&self.rib, active);
        self.fib = Some(fib);
    }

    /// The data plane programmed prefixes it took in the background (the
    /// writer's chunks; the kernel FIB's writes when it is what forwards):
    /// now neighbours may hear of them.
    pub fn programmed(&mut self, config: &Config, active: &[bool]) {
        let Some(fib) = self.fib.as_ref() else { return };
        let mut programmed = std::mem::take(&mut self.programmed);
        fib.take_programmed(&mut programmed);
        if !programmed.is_empty() {
            self.advertise(&programmed, config, active);
        }
        programmed.clear();
        self.programmed = programmed;
    }

    /// Sends neighbours that take learned routes the changes of `touched`.
    fn advertise(&mut self, touched: &[Prefix], config: &Config, active: &[bool]) {
        let receivers: Vec<usize> = (0..self.peers.len())
            .filter(|&i| {
                self.peers[i].established.is_some() && export::gets_learned(&self.peers[i].conf)
            })
            .collect();
        // On the hot path of a full table most sites have no such peer: skip the set.
        if touched.is_empty() || receivers.is_empty() {
            return;
        }
        let set: HashSet<Prefix> = touched.iter().copied().collect();
        for i in receivers {
            self.sync_prefixes(i, &set, config, active);
        }
    }

    /// Re-evaluates what every peer should have: after a reload or an
    /// uplink state change (the default route, drain attributes).
    pub fn resync(&mut self, config: &Config, active: &[bool]) {
        if let Some(fib) = self.fib.as_mut() {
            fib.set_active(&self.rib, active);
        }
        for i in 0..self.peers.len() {
            if self.peers[i].established.is_some() {
                self.sync_peer(i, config, active, false);
            }
        }
    }

    /// Stops every session: with an RFC 9003 message, or silently so peers keep our routes.
    pub fn shutdown(&mut self, message: Option<&str>) {
        for p in &self.peers {
            p.handle.control(Command::Stop(message.map(str::to_string)));
        }
    }

    pub fn peer_views(&self) -> Vec<PeerView> {
        let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        self.peers
            .iter()
            .map(|p| PeerView {
                name: p.conf.name.clone(),
                address: p.conf.settings.address.to_string(),
                asn: p.conf.settings.local.peer_asn,
                kind: match p.conf.role {
                    Role::Uplink(_) => "uplink".into(),
                    Role::Neighbor(_) if p.conf.ebgp() => "ebgp".into(),
                    Role::Neighbor(_) => "ibgp".into(),
                },
                state: if p.established.is_some() {
                    "established".into()
                } else if p.held {
                    "idle (held: uplink drained)".into()
                } else if p.conf.settings.passive {
                    "idle (passive)".into()
                } else {
                    "connect".into()
                },
                since: secs(p.since),
                received: p.received,
                accepted: p.rib_id.map_or(0, |r| u64::from(self.rib.count(r))),
                advertised: p.adj_out.advertised() as u64,
                too_big: p.adj_out.too_big() as u64,
                max_prefix: p.conf.max_prefix.as_ref().map(|m| m.limit),
                last_error: p.last_error.clone(),
                families: p
                    .established
                    .as_ref()
                    .map(|(n, _)| {
                        n.families
                            .iter()
                            .map(|f| format!("{f:?}").to_lowercase())
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect()
    }
}
