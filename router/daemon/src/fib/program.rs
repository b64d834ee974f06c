//! The data-plane programmer, free of I/O: FIB entries, uplink states,
//! interfaces and neighbours in; what the maps must change out.
//!
//! Prefixes point at next-hop groups keyed by their [`Ways`] (which do not
//! depend on uplink states), groups at next hops by address. Both are
//! reference counted, so prefixes with the same ways share one group, and a
//! drain or a link failure rewrites the buckets of the groups that use the
//! uplink — a handful of writes, however many prefixes follow them
//! (docs/architecture.md, principle 3).

use std::collections::{BTreeMap, HashMap, HashSet};

use rustc_hash::{FxHashMap, FxHashSet};
use std::net::IpAddr;

use ipnet::IpNet;
use sluice_config::Config;
use sluice_dataplane::dir24::{self, Dir24};
use sluice_dataplane::layout::FIB6_CAPACITY;
use sluice_dataplane::layout::{NEXTHOPS_MAX, NH_GROUPS_MAX, NhGroup};
use sluice_dataplane::poptrie::{Keep, Poptrie};
use sluice_rib::fib::Entry;
use sluice_rib::page::{Page, smallest_after};
use sluice_rib::ways::{Way, Ways};
use sluice_wire::Prefix;

/// The group id that drops (announced aggregates' discard routes).
pub const GROUP_DISCARD: u16 = (NH_GROUPS_MAX - 1) as u16;

const DEFAULT_V4: &str = "0.0.0.0/0";
const DEFAULT_V6: &str = "::/0";

/// The group id of connected subnets: never written, so its buckets stay
/// empty and the program hands those packets to the kernel, which
/// resolves the host on the link.
pub const GROUP_LOCAL: u16 = GROUP_DISCARD - 1;

/// An interface as the kernel reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Port {
    pub ifindex: u32,
    pub mac: [u8; 6],
    pub mtu: u32,
    pub up: bool,
}

/// A next hop as the maps should hold it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hop {
    pub addr: IpAddr,
    /// The config interface whose subnet holds `addr`.
    pub interface: Option<String>,
    /// That interface, once the kernel reported it.
    pub port: Option<Port>,
    pub mac: Option<[u8; 6]>,
}

/// A next-hop group as the maps should hold it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// The members that forward now, with weights.
    pub members: Vec<(u16, u32)>,
    /// Every next hop of the group's ways (for the kernel, which cannot
    /// hold an empty group).
    pub all: Vec<u16>,
    pub buckets: NhGroup,
}

/// What changed since the last [`Programmer::take`]. Appliers write set
/// entries first (next hops, then groups, then routes) and clear removed
/// ones last, so nothing ever points at an entry not yet written.
#[derive(Debug, Default)]
pub struct Changes {
    pub hops: BTreeMap<u16, Option<Hop>>,
    pub groups: BTreeMap<u16, Option<Group>>,
    /// Route changes in order: the group, [`GROUP_DISCARD`], or removed.
    pub routes: Vec<(Prefix, Option<u16>)>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.hops.is_empty() && self.groups.is_empty() && self.routes.is_empty()
    }
}

#[derive(Debug)]
struct GroupSlot {
    ways: Ways,
    refs: u32,
    /// Next-hop id of each way, in `ways.all()` order.
    hops: Vec<u16>,
    buckets: NhGroup,
    /// The members of the last refresh.
    members: Vec<(u16, u32)>,
    /// No way was usable at the last refresh: the best one forwards
    /// although its uplink is not active.
    fallback: bool,
}

impl GroupSlot {
    /// The group as the maps should hold it.
    fn group(&self) -> Group {
        let mut all = self.hops.clone();
        all.sort_unstable();
        all.dedup();
        Group {
            members: self.members.clone(),
            all,
            buckets: self.buckets,
        }
    }
}

#[derive(Debug)]
struct HopSlot {
    hop: Hop,
    refs: u32,
}

/// Id allocation with a quarantine: an id freed is reused only after the
/// changes that clear it were taken (and so applied).
#[derive(Debug)]
struct Ids {
    next: u32,
    max: u32,
    free: Vec<u16>,
    quarantine: Vec<u16>,
    /// Freed before the last take, for writers that apply changes later.
    older: Vec<u16>,
    reserved: HashSet<u16>,
}

impl Ids {
    fn new(max: u32) -> Ids {
        Ids {
            next: 1,
            max,
            free: Vec::new(),
            quarantine: Vec::new(),
            older: Vec::new(),
            reserved: HashSet::new(),
        }
    }

    fn take(&mut self) -> Option<u16> {
        if let Some(id) = self.free.pop() {
            return Some(id);
        }
        while self.next < self.max {
            let id = self.next as u16;
            self.next += 1;
            if !self.reserved.contains(&id) {
                return Some(id);
            }
        }
        None
    }

    fn release(&mut self, id: u16) {
        self.quarantine.push(id);
    }

    /// At a take whose changes are applied before the next one.
    fn settle(&mut self) {
        self.free.append(&mut self.older);
        self.free.append(&mut self.quarantine);
    }

    /// At a take whose changes a late writer applies some time after: ids
    /// freed in earlier rounds become free once that writer is `idle` (has
    /// applied every earlier round); this round's wait.
    fn settle_late(&mut self, idle: bool) {
        if idle {
            self.free.append(&mut self.older);
        }
        self.older.append(&mut self.quarantine);
    }
}

/// An IPv4 prefix as the DIR-24-8 keys it.
/// An IPv4 prefix from its (address, length) number.
fn unnumber(k: u64) -> Prefix {
    Prefix::V4(ipnet::Ipv4Net::new_assert(
        std::net::Ipv4Addr::from((k >> 8) as u32),
        (k & 0xff) as u8,
    ))
}

/// An IPv6 prefix of the poptrie's as a [`Prefix`].
fn net6(addr: u128, len: u8) -> Prefix {
    Prefix::V6(ipnet::Ipv6Net::new_assert(addr.into(), len))
}

fn key4(net: &ipnet::Ipv4Net) -> dir24::Prefix {
    dir24::Prefix::from_ipv4(net.network(), net.prefix_len()).expect("an Ipv4Net is at most /32")
}

/// Why a route could not be programmed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProgramError {
    #[error("no next-hop group id left ({0} in use)")]
    NoGroup(usize),
    #[error("no next-hop id left ({0} in use)")]
    NoHop(usize),
    #[error("IPv4 FIB: {0}")]
    Fib4(String),
}

/// The programmer's state: what the maps hold, by meaning.
#[derive(Debug)]
pub struct Programmer {
    groups: FxHashMap<u16, GroupSlot>,
    by_ways: FxHashMap<Ways, u16>,
    /// The group [`Self::acquire`] gave last: a loading table's prefixes
    /// mostly share their ways with the one before, and comparing them
    /// costs less than hashing them.
    last: Option<(Ways, u16)>,
    hops: FxHashMap<u16, HopSlot>,
    by_addr: HashMap<IpAddr, u16>,
    group_ids: Ids,
    hop_ids: Ids,
    /// Uplink `i` (config order) is active.
    active: Vec<bool>,
    /// Interface name of uplink `i`.
    uplink_ifaces: Vec<String>,
    subnets: Vec<(IpNet, String)>,
    ports: HashMap<String, Port>,
    neighbours: HashMap<IpAddr, [u8; 6]>,
    /// Adopted from a previous run, not yet replaced (see [`Self::adopt`]).
    stale: FxHashSet<Prefix>,
    /// Between new uplink states and the end of their per-prefix clean-up:
    /// groups with no usable way forward through the default route.
    stand_in: bool,
    /// The IPv4 FIB in the program's layout; appliers write its dirty words.
    /// Its prefixes are the programmer's record of IPv4 routes (DIR-24-8
    /// keeps them to rebuild entries on removal; a second map of a million
    /// prefixes only cost memory and time).
    pub fib4: Dir24,
    /// The same for IPv6: the poptrie's prefixes are the record, and
    /// appliers write what its `take_dirty` returns.
    pub fib6: Poptrie,
    changes: Changes,
    /// An emptied route list handed back ([`Self::recycle`]): a chunk's
    /// list grew to a megabyte from nothing each time.
    spare_routes: Vec<(Prefix, Option<u16>)>,
}

impl Programmer {
    pub fn new(config: &Config) -> Programmer {
        let mut p = Programmer {
            groups: FxHashMap::default(),
            by_ways: FxHashMap::default(),
            last: None,
            hops: FxHashMap::default(),
            by_addr: HashMap::new(),
            // Ids below the reserved ones; 0 means "none" in the maps.
            group_ids: Ids::new(u32::from(GROUP_LOCAL)),
            hop_ids: Ids::new(NEXTHOPS_MAX),
            active: Vec::new(),
            uplink_ifaces: Vec::new(),
            subnets: Vec::new(),
            ports: HashMap::new(),
            neighbours: HashMap::new(),
            stale: FxHashSet::default(),
            stand_in: false,
            fib4: Dir24::default(),
            fib6: Poptrie::keeping(FIB6_CAPACITY, Keep::Fresh),
            changes: Changes::default(),
            spare_routes: Vec::new(),
        };
        p.configure(config);
        p
    }

    /// Follows a new config's interfaces and uplinks (routes come separately).
    pub fn configure(&mut self, config: &Config) {
        self.uplink_ifaces = config
            .uplinks
            .iter()
            .map(|u| u.interface.value.clone())
            .collect();
        self.subnets = config
            .interfaces
            .iter()
            .flat_map(|i| {
                i.addresses
                    .iter()
                    .map(|a| (a.subnet(), i.name.value.clone()))
            })
            .collect();
        self.active.resize(config.uplinks.len(), false);
        let ids: Vec<u16> = self.hops.keys().copied().collect();
        for id in ids {
            self.refresh_hop(id);
        }
        self.refresh_groups();
    }

    /// Takes over what a previous run left in the maps (docs/architecture.md,
    /// principle 4): its routes keep forwarding through its groups and next
    /// hops, whose ids are not reused, until [`Self::sweep_stale`]. A new
    /// entry for a prefix replaces the stale one.
    pub fn adopt(
        &mut self,
        routes: impl IntoIterator<Item = (Prefix, u16)>,
        groups: impl IntoIterator<Item = u16>,
        hops: impl IntoIterator<Item = u16>,
    ) {
        self.group_ids.reserved.extend(groups);
        self.hop_ids.reserved.extend(hops);
        for (prefix, group) in routes {
            // A poptrie handed over with the maps (`Dataplane::take_fib6`)
            // holds their routes already; adoption comes before anything
            // of this run is placed, so those are the previous run's.
            if let Prefix::V6(net) = prefix
                && self.fib6.get(u128::from(net.network()), net.prefix_len()) == Some(group)
            {
                self.stale.insert(prefix);
                continue;
            }
            if self.route(&prefix).is_some() {
                continue;
            }
            if self.write_route(prefix, Some(group)).is_ok() {
                self.stale.insert(prefix);
            }
        }
        // The maps hold the same routes, but the builder may number its
        // tbl8 groups differently: the next write compares every word and
        // rewrites those that differ (tbl8 first, then the top level).
        self.fib4.mark_all_dirty();
    }

    /// Prefixes still forwarding on what a previous run left.
    pub fn stale_count(&self) -> usize {
        self.stale.len()
    }

    /// Whether anything of a previous run awaits [`Self::sweep_stale`].
    pub fn adopting(&self) -> bool {
        !self.stale.is_empty()
            || !self.group_ids.reserved.is_empty()
            || !self.hop_ids.reserved.is_empty()
    }

    /// Removes what a previous run left and the new RIB did not take over,
    /// and frees the ids it used.
    pub fn sweep_stale(&mut self) {
        for prefix in std::mem::take(&mut self.stale) {
            let _ = self.write_route(prefix, None);
            self.changes.routes.push((prefix, None));
        }
        for id in std::mem::take(&mut self.group_ids.reserved) {
            self.changes.groups.insert(id, None);
        }
        for id in std::mem::take(&mut self.hop_ids.reserved) {
            self.changes.hops.insert(id, None);
        }
    }

    /// The group `prefix` uses, if programmed (not what a previous run left).
    pub fn route(&self, prefix: &Prefix) -> Option<u16> {
        if !self.stale.is_empty() && self.stale.contains(prefix) {
            return None;
        }
        match prefix {
            Prefix::V4(net) => self.fib4.get(key4(net)),
            Prefix::V6(net) => self.fib6.get(u128::from(net.network()), net.prefix_len()),
        }
    }

    pub fn route_count(&self) -> usize {
        self.fib4.len() + self.fib6.len() - self.stale.len()
    }

    /// Every programmed route and its group, in no particular order.
    pub fn routes(&self) -> impl Iterator<Item = (Prefix, u16)> + '_ {
        self.fib4
            .iter()
            .map(|(p, g)| {
                let net = ipnet::Ipv4Net::new_assert(p.network(), p.prefix_len());
                (Prefix::V4(net), g)
            })
            .chain(self.fib6.routes().map(|(a, l, g)| (net6(a, l), g)))
            .filter(|(p, _)| self.stale.is_empty() || !self.stale.contains(p))
    }

    /// The first `limit` programmed prefixes after `after`, in prefix
    /// order; IPv4 compared as (address, length) numbers, the way a page
    /// of a million is found in a few milliseconds.
    pub fn page(&self, after: Option<Prefix>, limit: usize) -> Page<Prefix> {
        let number = |p: dir24::Prefix| u64::from(p.addr()) << 8 | u64::from(p.prefix_len());
        let mut page = match after {
            Some(Prefix::V6(_)) => Page {
                items: Vec::new(),
                more: false,
            },
            _ => {
                let after = after.and_then(|a| match a {
                    Prefix::V4(net) => Some(number(key4(&net))),
                    Prefix::V6(_) => None,
                });
                // /24s come in address order: the page needs no more of
                // them than it holds, plus one to say whether there are more.
                let first24 = after.map_or(0, |k| (k >> 8) as u32);
                let fresh = |k: &u64| self.stale.is_empty() || !self.stale.contains(&unnumber(*k));
                let keys = self.fib4.iter_but_24s().map(|(p, _)| number(p));
                let slash24 = self.fib4.slash24s_from(first24).map(|(p, _)| number(p));
                let slash24 = slash24.filter(|&k| after.is_none_or(|a| k > a) && fresh(&k));
                let keys = keys.filter(fresh).chain(slash24.take(limit + 1));
                let page = smallest_after(keys, after, limit);
                page.map(unnumber)
            }
        };
        if !page.more {
            let after = after.filter(|a| a.addr().is_ipv6());
            let fresh = |p: &Prefix| self.stale.is_empty() || !self.stale.contains(p);
            let v6 = smallest_after(
                self.fib6.routes().map(|(a, l, _)| net6(a, l)).filter(fresh),
                after,
                limit - page.items.len(),
            );
            page.more = v6.more;
            page.items.extend(v6.items);
        }
        page
    }

    /// The IPv6 prefixes in the FIB, in order: ours, and what a previous
    /// run left that is not replaced yet.
    pub fn prefixes6(&self) -> impl Iterator<Item = Prefix> + '_ {
        self.fib6.routes().map(|(a, l, _)| net6(a, l))
    }

    /// Next hop `id`, if in use.
    pub fn hop(&self, id: u16) -> Option<&Hop> {
        self.hops.get(&id).map(|h| &h.hop)
    }

    pub fn hops(&self) -> impl Iterator<Item = (u16, &Hop)> {
        self.hops.iter().map(|(id, h)| (*id, &h.hop))
    }

    /// Neighbours whose MAC is known.
    pub fn neighbours(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.neighbours.keys().copied()
    }

    /// The MAC of neighbour `addr`, if known.
    pub fn neighbour(&self, addr: &IpAddr) -> Option<[u8; 6]> {
        self.neighbours.get(addr).copied()
    }

    /// Interface `name` as last reported.
    pub fn port(&self, name: &str) -> Option<Port> {
        self.ports.get(name).copied()
    }

    /// Every group in use, as the maps should hold it.
    pub fn groups(&self) -> impl Iterator<Item = (u16, Group)> + '_ {
        self.groups.iter().map(|(id, g)| (*id, g.group()))
    }

    pub fn hop_count(&self) -> usize {
        self.hops.len()
    }

    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// The uplink whose interface `hop` leaves through.
    pub fn uplink_of(&self, hop: &Hop) -> Option<usize> {
        let iface = hop.interface.as_deref()?;
        self.uplink_ifaces.iter().position(|u| u == iface)
    }

    /// The uplink whose interface subnet holds `addr`.
    pub fn uplink_of_addr(&self, addr: IpAddr) -> Option<usize> {
        self.uplink_of(&self.hop_for(addr))
    }

    /// Sets uplink states (config order); rewrites the groups that change.
    /// A group left with no usable way forwards through its family's
    /// default route meanwhile, if that has one: the uplink leaves every
    /// group at once (docs/architecture.md, principle 3), and the per-prefix clean-up
    /// then moves each such prefix to its own covering route (or, for one
    /// nothing covers, back to its best way: [`Self::end_stand_in`]).
    pub fn set_active(&mut self, active: &[bool]) {
        if self.active != active {
            self.active = active.to_vec();
            self.stand_in = true;
            self.refresh_groups();
        }
    }

    /// An interface appeared, changed or (None) went away.
    pub fn set_port(&mut self, name: &str, port: Option<Port>) {
        let old = match port {
            Some(p) => self.ports.insert(name.to_string(), p),
            None => self.ports.remove(name),
        };
        if old == port {
            return;
        }
        let ids: Vec<u16> = self
            .hops
            .iter()
            .filter(|(_, h)| h.hop.interface.as_deref() == Some(name))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.refresh_hop(id);
        }
        if old.map(|p| p.up) != port.map(|p| p.up) {
            self.refresh_groups();
        }
    }

    /// A neighbour's MAC became known, changed or (None) was lost.
    pub fn set_neighbour(&mut self, addr: IpAddr, mac: Option<[u8; 6]>) {
        let old = match mac {
            Some(m) => self.neighbours.insert(addr, m),
            None => self.neighbours.remove(&addr),
        };
        if old != mac
            && let Some(&id) = self.by_addr.get(&addr)
        {
            self.refresh_hop(id);
        }
    }

    /// Prefixes whose group forwards on its fallback (no usable way): the
    /// candidates for leaving the FIB to a covering route.
    pub fn fallback_routes(&self) -> Vec<Prefix> {
        // Most state changes leave every group a usable way: then the
        // table need not be walked (80 ms for a full one).
        if !self.groups.values().any(|s| s.fallback) {
            return Vec::new();
        }
        self.routes()
            .filter(|(_, g)| self.groups.get(g).is_some_and(|s| s.fallback))
            .map(|(p, _)| p)
            .collect()
    }

    /// Installs (or with None removes) the entry for `prefix`; true if
    /// what the maps hold for it changed.
    pub fn set_route(
        &mut self,
        prefix: Prefix,
        entry: Option<&Entry>,
    ) -> Result<bool, ProgramError> {
        let new = match entry {
            None => None,
            Some(Entry::Discard) => Some(GROUP_DISCARD),
            Some(Entry::Connected) => Some(GROUP_LOCAL),
            Some(Entry::Forward(ways)) => Some(self.acquire(ways)?),
        };
        // With nothing adopted: one operation on the family's FIB both
        // writes the route and says what it replaced.
        if self.stale.is_empty() {
            let old = match (prefix, new) {
                (Prefix::V4(net), Some(g)) => match self.fib4.replace(key4(&net), g) {
                    Ok(old) => old,
                    Err(e) => {
                        self.release(g);
                        return Err(ProgramError::Fib4(e.to_string()));
                    }
                },
                (Prefix::V4(net), None) => self.fib4.take(key4(&net)),
                // An IPv6 length is at most 128: nothing to refuse here;
                // full arrays show when the applier writes.
                (Prefix::V6(net), Some(g)) => {
                    let addr = u128::from(net.network());
                    self.fib6.insert(addr, net.prefix_len(), g).ok().flatten()
                }
                (Prefix::V6(net), None) => self
                    .fib6
                    .remove(u128::from(net.network()), net.prefix_len()),
            };
            if let Some(id) = old {
                self.release(id);
            }
            if old == new {
                return Ok(false);
            }
            self.changes.routes.push((prefix, new));
            return Ok(true);
        }
        let old = self.route(&prefix);
        if self.stale.remove(&prefix) && new.is_none() {
            let _ = self.write_route(prefix, None);
            self.changes.routes.push((prefix, None));
            return Ok(true);
        }
        if old == new {
            if let Some(id) = new {
                self.release(id);
            }
            return Ok(false);
        }
        if let Err(e) = self.write_route(prefix, new) {
            if let Some(id) = new {
                self.release(id);
            }
            return Err(e);
        }
        if let Some(id) = old {
            self.release(id);
        }
        self.changes.routes.push((prefix, new));
        Ok(true)
    }

    /// Everything that changed since the last call; ids freed by it become
    /// reusable once it is returned (the caller applies it before the next).
    pub fn take(&mut self) -> Changes {
        self.group_ids.settle();
        self.hop_ids.settle();
        self.take_changes()
    }

    /// [`Self::take`] when a writer applies the changes later (the
    /// kernel's): freed ids are reused only once it is `idle` after the
    /// round that freed them, as it may still route through them.
    pub fn take_late(&mut self, idle: bool) -> Changes {
        self.group_ids.settle_late(idle);
        self.hop_ids.settle_late(idle);
        self.take_changes()
    }

    fn take_changes(&mut self) -> Changes {
        let routes = std::mem::take(&mut self.spare_routes);
        std::mem::replace(
            &mut self.changes,
            Changes {
                routes,
                ..Changes::default()
            },
        )
    }

    /// Takes back applied changes, to reuse their route list.
    pub fn recycle(&mut self, mut changes: Changes) {
        changes.routes.clear();
        if changes.routes.capacity() > self.spare_routes.capacity() {
            self.spare_routes = changes.routes;
        }
    }

    fn write_route(&mut self, prefix: Prefix, group: Option<u16>) -> Result<(), ProgramError> {
        let net = match prefix {
            Prefix::V4(net) => net,
            Prefix::V6(net) => {
                let addr = u128::from(net.network());
                match group {
                    // An IPv6 length is at most 128: nothing to refuse here;
                    // full arrays show when the applier writes.
                    Some(g) => drop(self.fib6.insert(addr, net.prefix_len(), g)),
                    None => drop(self.fib6.remove(addr, net.prefix_len())),
                }
                return Ok(());
            }
        };
        let p = key4(&net);
        match group {
            Some(g) => self
                .fib4
                .insert(p, g)
                .map_err(|e| ProgramError::Fib4(e.to_string())),
            None => {
                self.fib4.remove(p);
                Ok(())
            }
        }
    }

    fn acquire(&mut self, ways: &Ways) -> Result<u16, ProgramError> {
        let known = match &self.last {
            Some((last, id)) if last == ways => Some(*id),
            _ => self.by_ways.get(ways).copied(),
        };
        if let Some(id) = known {
            self.groups.get_mut(&id).expect("indexed group").refs += 1;
            if self.last.as_ref().is_none_or(|(_, last)| *last != id) {
                self.last = Some((ways.clone(), id));
            }
            return Ok(id);
        }
        let id = self
            .group_ids
            .take()
            .ok_or(ProgramError::NoGroup(self.groups.len()))?;
        let mut hops = Vec::with_capacity(ways.all().len());
        for w in ways.all() {
            match self.acquire_hop(w.next_hop) {
                Ok(h) => hops.push(h),
                Err(e) => {
                    for h in hops {
                        self.release_hop(h);
                    }
                    self.group_ids.release(id);
                    return Err(e);
                }
            }
        }
        let slot = GroupSlot {
            ways: ways.clone(),
            refs: 1,
            hops,
            buckets: NhGroup::default(),
            members: Vec::new(),
            fallback: false,
        };
        self.by_ways.insert(ways.clone(), id);
        self.last = Some((ways.clone(), id));
        self.groups.insert(id, slot);
        self.refresh_group(id, true);
        Ok(id)
    }

    fn release(&mut self, id: u16) {
        if id == GROUP_DISCARD || id == GROUP_LOCAL {
            return;
        }
        let slot = self.groups.get_mut(&id).expect("a live group");
        slot.refs -= 1;
        if slot.refs > 0 {
            return;
        }
        let slot = self.groups.remove(&id).expect("a live group");
        self.by_ways.remove(&slot.ways);
        if self.last.as_ref().is_some_and(|(_, last)| *last == id) {
            self.last = None;
        }
        for h in slot.hops {
            self.release_hop(h);
        }
        self.group_ids.release(id);
        self.changes.groups.insert(id, None);
    }

    fn acquire_hop(&mut self, addr: IpAddr) -> Result<u16, ProgramError> {
        if let Some(&id) = self.by_addr.get(&addr) {
            self.hops.get_mut(&id).expect("indexed hop").refs += 1;
            return Ok(id);
        }
        let id = self
            .hop_ids
            .take()
            .ok_or(ProgramError::NoHop(self.hops.len()))?;
        let hop = self.hop_for(addr);
        self.by_addr.insert(addr, id);
        self.changes.hops.insert(id, Some(hop.clone()));
        self.hops.insert(id, HopSlot { hop, refs: 1 });
        Ok(id)
    }

    fn release_hop(&mut self, id: u16) {
        let slot = self.hops.get_mut(&id).expect("a live hop");
        slot.refs -= 1;
        if slot.refs == 0 {
            let slot = self.hops.remove(&id).expect("a live hop");
            self.by_addr.remove(&slot.hop.addr);
            self.hop_ids.release(id);
            self.changes.hops.insert(id, None);
        }
    }

    fn hop_for(&self, addr: IpAddr) -> Hop {
        let interface = self
            .subnets
            .iter()
            .find(|(net, _)| net.contains(&addr))
            .map(|(_, name)| name.clone());
        Hop {
            addr,
            port: interface.as_ref().and_then(|i| self.ports.get(i).copied()),
            interface,
            mac: self.neighbours.get(&addr).copied(),
        }
    }

    fn refresh_hop(&mut self, id: u16) {
        let hop = self.hop_for(self.hops[&id].hop.addr);
        let slot = self.hops.get_mut(&id).expect("a live hop");
        if slot.hop != hop {
            slot.hop = hop.clone();
            self.changes.hops.insert(id, Some(hop));
        }
    }

    fn port_up(&self, iface: Option<&str>) -> bool {
        iface.is_some_and(|i| self.ports.get(i).is_some_and(|p| p.up))
    }

    fn refresh_groups(&mut self) {
        // The default routes first: they stand in for groups left with no
        // usable way (see `stand_in`).
        let defaults: Vec<u16> = [DEFAULT_V4, DEFAULT_V6]
            .iter()
            .filter_map(|p| self.route(&p.parse().expect("literal")))
            .filter(|g| self.groups.contains_key(g))
            .collect();
        let ids: Vec<u16> = self.groups.keys().copied().collect();
        for id in defaults.into_iter().chain(ids) {
            self.refresh_group(id, false);
        }
    }

    /// The members of the default route of a family, when it forwards
    /// through a usable way: what a group left with no usable way forwards
    /// through while `stand_in` holds.
    fn stand_in_members(&self, v4: bool) -> Option<Vec<(u16, u32)>> {
        let prefix: Prefix = if v4 { DEFAULT_V4 } else { DEFAULT_V6 }
            .parse()
            .expect("literal");
        let slot = self.groups.get(&self.route(&prefix)?)?;
        (!slot.fallback && !slot.members.is_empty()).then(|| slot.members.clone())
    }

    /// The per-prefix clean-up after new uplink states is done: groups
    /// still without a usable way go back to their best way (a drained
    /// uplink beats no way out), as the FIB function has it.
    pub fn end_stand_in(&mut self) {
        if self.stand_in {
            self.stand_in = false;
            self.refresh_groups();
        }
    }

    /// Recomputes a group's members; records it if its buckets changed (or `force`).
    fn refresh_group(&mut self, id: u16, force: bool) {
        let slot = &self.groups[&id];
        let all = slot.ways.all();
        let hop_of = |w: &Way| {
            let i = all.iter().position(|x| std::ptr::eq(x, w)).unwrap_or(0);
            slot.hops[i]
        };
        let link_up = |w: &Way| self.port_up(self.hops[&hop_of(w)].hop.interface.as_deref());
        // Usable: its uplink (if any) is active and its link is up.
        let ok = |w: &Way| {
            w.uplink
                .is_none_or(|u| self.active.get(u).copied().unwrap_or(false))
                && link_up(w)
        };
        let fallback = !slot.ways.any_usable(ok);
        let v4 = all.first().is_some_and(|w| w.next_hop.is_ipv4());
        let stand_in = if fallback && self.stand_in {
            self.stand_in_members(v4)
        } else {
            None
        };
        let mut members: Vec<(u16, u32)> = if let Some(m) = stand_in {
            m
        } else if fallback {
            // No usable way: the best one whose link is up (a drained
            // uplink beats no way out), else nothing (the kernel decides).
            all.iter()
                .find(|w| link_up(w))
                .map(|w| vec![(hop_of(w), w.weight)])
                .unwrap_or_default()
        } else {
            slot.ways
                .resolve(ok)
                .into_iter()
                .map(|w| (hop_of(w), w.weight))
                .collect()
        };
        // Two paths may share a next hop: it is one member.
        let mut seen = HashSet::new();
        members.retain(|(h, _)| seen.insert(*h));
        let mut buckets = slot.buckets;
        let changed = buckets.set_members(&members).unwrap_or(0) > 0;
        let slot = self.groups.get_mut(&id).expect("a live group");
        slot.buckets = buckets;
        slot.members = members;
        slot.fallback = fallback;
        if changed || force {
            self.changes.groups.insert(id, Some(slot.group()));
        }
    }
}

#[cfg(test)]
mod tests;
