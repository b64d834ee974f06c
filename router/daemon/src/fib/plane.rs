//! The data plane itself: the pure [`Programmer`](super::program::Programmer)
//! fed from the RIB and uplink states, and the appliers that write its
//! changes into the XDP maps ([`super::xdp`]) and the kernel.
//!
//! A plane is used by one thread at a time, behind [`super::Fib`]'s lock.
//! XDP writes are synchronous (memory stores through the mmap, or one
//! bpf(2) call per group or next hop), so a route is in the XDP FIB when
//! the call that placed it returns.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use sluice_config::model::{FibMode, KernelFib as KernelFibMode};
use sluice_netlink::{Event as NlEvent, Link, Netlink};

use sluice_config::Config;
use sluice_control::{
    CountersView, DataplaneStatus, FibEntryView, FibHopView, FibView, HopCounters, VerdictCount,
};
use sluice_rib::Rib;
use sluice_wire::Prefix;

use super::Placement;
use super::kernel::{self, GROUP_BASE, KernelFib, KernelPrefix};
use super::placer::{Placer, placements};
use super::program::{self, Changes, GROUP_DISCARD, GROUP_LOCAL, Port};
use super::xdp::Xdp;
use crate::paging::Page;

/// Prefixes placed and written at a time.
const PART: usize = 4096;

/// The data plane as the daemon drives it.
#[derive(Debug)]
pub struct Plane {
    /// The pure half: entries under uplink states, and the programmer.
    placer: Placer,
    xdp: Option<Xdp>,
    kernel: Option<KernelFib>,
    /// `kernel_fib: summary`: only default, static and discard routes.
    kernel_summary: bool,
    /// `fib: kernel`: XDP looks routes up in the kernel FIB.
    fib_kernel: bool,
    /// The config in force (interfaces that appear later need it).
    config: Config,
    /// Set up: later interface events are changes, not the initial dump.
    running: bool,
    /// Started before any configured interface existed: the data plane
    /// starts when one appears (containerlab may wire links after `cmd`).
    waiting: bool,
    /// The dataplane section it was started with (changes need a restart).
    dataplane_text: String,
    /// Netlink for link and neighbour dumps and managed neighbours.
    nl: Option<Netlink>,
    /// Configured interfaces seen, by ifindex.
    ifnames: HashMap<u32, String>,
    /// Next hops the kernel was asked to keep resolved.
    managed: HashMap<IpAddr, u32>,
    status: DataplaneStatus,
}

fn port_of(link: &Link) -> Port {
    Port {
        ifindex: link.ifindex,
        mac: link.mac.unwrap_or_default(),
        mtu: link.mtu,
        up: link.up,
    }
}

impl Plane {
    /// Sets up the data plane the config asks for, falling back as far as
    /// needed (native → generic → off) and saying why in the status.
    pub fn start(config: &Config) -> Plane {
        let dp = &config.dataplane;
        let mut status = DataplaneStatus {
            xdp: "off".into(),
            fib: format!("{:?}", dp.fib).to_lowercase(),
            kernel_fib: "off".into(),
            ..Default::default()
        };
        let mut fib = Plane {
            placer: Placer::new(config),
            xdp: None,
            kernel: None,
            kernel_summary: dp.kernel_fib == KernelFibMode::Summary && dp.fib != FibMode::Kernel,
            fib_kernel: dp.fib == FibMode::Kernel,
            config: config.clone(),
            running: false,
            waiting: false,
            dataplane_text: format!("{dp:?}"),
            nl: None,
            ifnames: HashMap::new(),
            managed: HashMap::new(),
            status: status.clone(),
        };
        let links = match Netlink::new().and_then(|mut nl| Ok((nl.links()?, nl))) {
            Ok((links, nl)) => {
                fib.nl = Some(nl);
                links
            }
            Err(e) => {
                status.reason = Some(format!("off: netlink: {e}"));
                fib.status = status;
                return fib;
            }
        };
        // A daemon whose interfaces are not here (a test, a config checked
        // on the wrong host) must not touch this namespace's forwarding.
        if !links.iter().any(|l| fib.configured(&l.name)) {
            status.reason = Some(
                "off: none of the configured interfaces exists in this network namespace (yet)"
                    .into(),
            );
            fib.status = status;
            fib.waiting = true;
            return fib;
        }
        let mut notes = Vec::new();
        match Xdp::start(config, &links) {
            Ok((mut xdp, note)) => {
                status.xdp = xdp.mode().into();
                status.attached = xdp.attached();
                status.pins = xdp.pins.as_ref().map(|p| p.display().to_string());
                notes.extend(note);
                // The IPv4 FIB is built in the maps themselves, not in a
                // copy of them.
                fib.placer.program.fib4 = xdp.plane.live_fib4(xdp.adopted);
                // IPv6's builder, with what the maps held, becomes the
                // programmer's record of IPv6 routes.
                fib.placer.program.fib6 = xdp.plane.take_fib6();
                if xdp.adopted {
                    fib.adopt(&xdp);
                }
                fib.xdp = Some(xdp);
            }
            Err(reason) => notes.push(reason),
        }
        let wants_kernel = dp.kernel_fib != KernelFibMode::Off || dp.fib == FibMode::Kernel;
        if wants_kernel {
            match KernelFib::start() {
                Ok((kernel, ids)) => {
                    status.kernel_fib = if fib.kernel_summary {
                        "summary"
                    } else {
                        "full"
                    }
                    .into();
                    fib.placer.program.adopt(
                        [],
                        ids.iter()
                            .filter(|&&i| i > GROUP_BASE)
                            .map(|&i| (i - GROUP_BASE) as u16),
                        ids.iter()
                            .filter(|&&i| i <= u32::from(u16::MAX))
                            .map(|&i| i as u16),
                    );
                    fib.kernel = Some(kernel);
                }
                Err(e) => notes.push(format!("kernel FIB off: {e}")),
            }
        }
        if fib.xdp.is_none() && fib.kernel.is_some() {
            notes.push("forwarding on the kernel FIB alone".into());
        }
        if fib.kernel_forwards()
            && let Some(k) = fib.kernel.as_ref()
        {
            k.track_written();
        }
        status.reason = (!notes.is_empty()).then(|| notes.join("; "));
        fib.status = status;
        for link in &links {
            fib.link(link);
        }
        fib.reload_neighbours();
        fib.reload_addresses();
        fib.install_local(&Rib::default());
        fib.running = true;
        fib
    }

    /// Takes over the FIB a previous run left in the pinned maps: it keeps
    /// forwarding until the new RIB replaces it (see [`Self::sweep_stale`]).
    fn adopt(&mut self, xdp: &Xdp) {
        let plane = &xdp.plane;
        let routes = xdp.entries();
        // Every id the old state uses or points at stays reserved.
        let live_groups = plane.groups().unwrap_or_default();
        let mut groups: HashSet<u16> = live_groups.iter().map(|(id, _)| *id).collect();
        groups.extend(
            routes
                .iter()
                .map(|(_, g)| *g)
                .filter(|g| *g != GROUP_DISCARD && *g != GROUP_LOCAL),
        );
        let mut hops: HashSet<u16> = plane
            .next_hops()
            .unwrap_or_default()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        hops.extend(
            live_groups
                .iter()
                .flat_map(|(_, g)| g.buckets)
                .filter(|h| *h != 0),
        );
        tracing::info!(
            routes = routes.len(),
            groups = groups.len(),
            next_hops = hops.len(),
            "data plane: adopted the pinned FIB of the previous run"
        );
        self.placer.program.adopt(routes, groups, hops);
    }

    /// Whether any data plane takes routes: XDP maps or the kernel FIB.
    pub fn programs(&self) -> bool {
        self.xdp.is_some() || self.kernel.is_some()
    }

    /// Whether the config names interface `name`.
    fn configured(&self, name: &str) -> bool {
        self.config.interfaces.iter().any(|i| i.name.value == name)
    }

    /// Follows the kernel's view of one interface.
    fn link(&mut self, link: &Link) -> bool {
        if self.running
            && let Some(x) = self.xdp.as_mut()
        {
            x.link(link, &self.config);
        }
        if !self.configured(&link.name) {
            return false;
        }
        self.ifnames.insert(link.ifindex, link.name.clone());
        let old = self.placer.program.port(&link.name);
        // A new interface, or one deleted and made again: attach to it.
        let appeared = old.is_none_or(|p| p.ifindex != link.ifindex);
        // The kernel deletes nexthop objects, and the routes using them,
        // when their link goes down or away: either way, the kernel is
        // resent everything once the groups follow.
        let flapped = appeared || old.is_some_and(|p| p.up != link.up);
        self.placer
            .program
            .set_port(&link.name, Some(port_of(link)));
        // Attach when it carries no program yet, or was made again (a new
        // ifindex). An interface made while the program loaded is attached
        // by name at start but missing from the start's dump: its event
        // must not attach it twice.
        if self.running
            && let Some(x) = self.xdp.as_mut()
            && (!x.is_attached(&link.name) || (appeared && old.is_some()))
        {
            x.interface_appeared(&link.name, &self.config);
            self.status.attached = x.attached();
        }
        self.flush();
        if flapped && self.running {
            self.kernel_repair();
        }
        true
    }

    /// Every address of this namespace into the own-address maps: the
    /// router delivers whatever the kernel owns, not only what the config
    /// names (loopbacks, management, VRRP addresses).
    fn reload_addresses(&mut self) {
        let Some(nl) = self.nl.as_mut() else { return };
        let addrs = match nl.addresses() {
            Ok(a) => a.into_iter().map(|a| a.addr).collect(),
            Err(e) => {
                tracing::warn!("data plane: reading the addresses: {e}");
                return;
            }
        };
        if let Some(x) = self.xdp.as_mut() {
            x.kernel_addresses(addrs, &self.config);
        }
    }

    fn reload_neighbours(&mut self) {
        let Some(nl) = self.nl.as_mut() else { return };
        let Ok(neighbours) = nl.neighbours() else {
            return;
        };
        // What the dump no longer shows is gone (events may have been lost).
        let dumped: HashSet<IpAddr> = neighbours.iter().map(|n| n.addr).collect();
        let gone: Vec<IpAddr> = self
            .placer
            .program
            .neighbours()
            .filter(|a| !dumped.contains(a))
            .collect();
        for addr in gone {
            self.placer.program.set_neighbour(addr, None);
        }
        for n in neighbours {
            if self.ifnames.contains_key(&n.ifindex) {
                let mac = n.mac.filter(|_| n.is_usable());
                self.placer.program.set_neighbour(n.addr, mac);
            }
        }
        self.flush();
    }

    /// Whether this data plane waits for a configured interface to appear
    /// and `event` is one: then start it anew ([`Plane::start`]).
    pub fn should_start(&self, event: &NlEvent) -> bool {
        self.waiting && matches!(event, NlEvent::Link(l) if self.configured(&l.name))
    }

    /// A netlink event; true if an interface changed (uplink states may
    /// follow).
    pub fn netlink_event(&mut self, event: NlEvent) -> bool {
        match event {
            NlEvent::Link(link) => self.link(&link),
            NlEvent::LinkGone(ifindex) => {
                if let Some(x) = self.xdp.as_mut() {
                    x.link_gone(ifindex, &self.config);
                }
                match self.ifnames.remove(&ifindex) {
                    Some(name) => {
                        self.set_port(&name, None);
                        true
                    }
                    None => false,
                }
            }
            NlEvent::Neighbour(n) => {
                if self.ifnames.contains_key(&n.ifindex) {
                    let mac = n.mac.filter(|_| n.is_usable());
                    self.set_neighbour(n.addr, mac);
                }
                false
            }
            NlEvent::NeighbourGone { ifindex, addr } => {
                if self.ifnames.contains_key(&ifindex) {
                    self.set_neighbour(addr, None);
                }
                false
            }
            NlEvent::Address(a) => {
                if let Some(x) = self.xdp.as_mut() {
                    x.kernel_address(a.addr, true, &self.config);
                }
                false
            }
            NlEvent::AddressGone(a) => {
                if let Some(x) = self.xdp.as_mut() {
                    x.kernel_address(a.addr, false, &self.config);
                }
                false
            }
            NlEvent::Overrun => {
                self.reload_addresses();
                let Some(links) = self.nl.as_mut().and_then(|nl| nl.links().ok()) else {
                    return false;
                };
                let gone: Vec<u32> = self
                    .ifnames
                    .keys()
                    .filter(|i| !links.iter().any(|l| l.ifindex == **i))
                    .copied()
                    .collect();
                for ifindex in gone {
                    if let Some(name) = self.ifnames.remove(&ifindex) {
                        self.set_port(&name, None);
                    }
                }
                for link in &links {
                    self.link(link);
                }
                self.reload_neighbours();
                true
            }
        }
    }

    fn install_local(&mut self, rib: &Rib) {
        let prefixes: Vec<Prefix> = self.placer.local.prefixes().collect();
        self.update(rib, &prefixes);
    }

    /// Re-evaluates `prefixes` from the RIB and programs the difference.
    /// Returns the prefixes neighbours may hear of now: all of them, unless
    /// the kernel FIB is what forwards, whose changed routes are reported
    /// once written ([`super::Fib::take_programmed`]).
    pub fn update(&mut self, rib: &Rib, prefixes: &[Prefix]) -> Vec<Prefix> {
        // No data plane, nothing to place: the programmer's per-prefix
        // state would only double the RIB. A data plane that starts later
        // is programmed with the whole RIB (`Routing::restart_fib`).
        if !self.programs() {
            return prefixes.to_vec();
        }
        let mut now = Vec::new();
        let mut placed = Vec::new();
        // In parts: a placement (an entry) is a hundred bytes or so.
        for part in prefixes.chunks(PART) {
            placements(
                &self.placer.local,
                self.placer.active(),
                rib,
                part,
                &mut placed,
            );
            self.program(&placed, Some(&mut now));
            placed.clear();
        }
        self.placer.covering_changed(rib, prefixes);
        self.flush();
        now
    }

    /// Programs placements (made from the RIB under [`Self::active`]) and
    /// writes them; with `now`, adds the prefixes neighbours may hear of
    /// now, as [`Self::update`] returns them. Without, the caller takes
    /// them all: it hands over only while the kernel FIB is not the one
    /// forwarding ([`super::Fib::update`]).
    pub fn program(&mut self, placements: &[Placement], mut now: Option<&mut Vec<Prefix>>) {
        for (prefix, entry, yielded) in placements {
            let changed = self.placer.place_entry(prefix, entry.as_ref(), *yielded);
            if let Some(now) = now.as_deref_mut()
                && (!self.kernel_forwards()
                    || !changed
                    || !self.kernel_route(prefix, self.placer.program.route(prefix)))
            {
                now.push(*prefix);
            }
        }
        self.flush();
    }

    /// New uplink states. First the groups that use a changed uplink are
    /// rewritten and written (one write each, however many prefixes use
    /// them); then, prefix by prefix, those that only a non-active uplink
    /// offers leave the FIB where a usable path covers them, and those left
    /// earlier come back if that changed (docs/architecture.md, principles 2 and 3).
    pub fn set_active(&mut self, rib: &Rib, active: &[bool]) {
        if !self.placer.set_active(active) {
            return;
        }
        self.flush();
        self.placer.clean_up(rib);
        self.flush();
    }

    fn set_port(&mut self, name: &str, port: Option<Port>) {
        self.placer.program.set_port(name, port);
        self.flush();
    }

    fn set_neighbour(&mut self, addr: IpAddr, mac: Option<[u8; 6]>) {
        self.placer.program.set_neighbour(addr, mac);
        self.flush();
    }

    /// A new config: static routes and announces may have changed.
    pub fn reconfigure(&mut self, config: &Config, rib: &Rib, paths_changed: bool) {
        if format!("{:?}", config.dataplane) != self.dataplane_text {
            tracing::warn!(
                "the dataplane section changed: it takes effect when the daemon restarts"
            );
        }
        self.config = config.clone();
        if let Some(x) = self.xdp.as_mut() {
            x.reconfigure(config);
        }
        let active = self.placer.active().to_vec();
        let prefixes = self.placer.reconfigure(config, rib, paths_changed);
        self.update(rib, &prefixes);
        // A config change may leave the FIB on other uplinks' paths.
        self.set_active(rib, &active);
        // Interfaces the new config names: their ports.
        let links = self.nl.as_mut().and_then(|nl| nl.links().ok());
        for link in links.unwrap_or_default() {
            self.link(&link);
        }
    }

    fn flush(&mut self) {
        // With a kernel FIB, ids are reused only once the kernel has caught
        // up with the changes that freed them.
        let changes = match self.kernel.as_ref() {
            Some(k) => self.placer.program.take_late(k.idle()),
            None => self.placer.program.take(),
        };
        if !changes.is_empty() {
            self.write(&changes);
        }
        self.placer.program.recycle(changes);
    }

    /// Writes `changes` into the XDP maps and hands them to the kernel FIB.
    fn write(&mut self, changes: &Changes) {
        match self.xdp.as_mut() {
            Some(x) => {
                let program = &mut self.placer.program;
                x.apply(changes, &mut program.fib4, &mut program.fib6);
            }
            None => {
                // No maps to write: only the route record counts.
                self.placer.program.fib4.take_dirty();
                self.placer.program.fib6.take_dirty();
            }
        }
        self.manage_neighbours(changes);
        if self.kernel.is_some() {
            let routes: Vec<(Prefix, Option<u16>)> = changes
                .routes
                .iter()
                .filter(|(p, g)| self.kernel_route(p, *g))
                .copied()
                .collect();
            self.kernel_push(
                changes.hops.keys().copied(),
                changes.groups.iter().map(|(id, g)| (*id, g.as_ref())),
                routes,
            );
        }
    }

    /// Asks the kernel to keep new next hops resolved: XDP-forwarded
    /// traffic never confirms a neighbour entry (docs/xdp.md).
    fn manage_neighbours(&mut self, changes: &Changes) {
        let Some(nl) = self.nl.as_mut() else { return };
        for h in changes.hops.values().flatten() {
            if let Some(p) = h.port
                && self.managed.get(&h.addr) != Some(&p.ifindex)
            {
                if let Err(e) = nl.add_managed_neighbour(p.ifindex, h.addr) {
                    tracing::debug!(next_hop = %h.addr, "managed neighbour: {e}");
                }
                self.managed.insert(h.addr, p.ifindex);
            }
        }
        // Next hops gone: the kernel may forget their neighbours again.
        if changes.hops.values().any(Option::is_none) {
            let live: HashSet<IpAddr> = self.placer.program.hops().map(|(_, h)| h.addr).collect();
            self.managed.retain(|addr, ifindex| {
                let keep = live.contains(addr);
                if !keep {
                    let _ = nl.remove_managed_neighbour(*ifindex, *addr);
                }
                keep
            });
        }
    }

    /// Whether the kernel gets this route: not connected subnets (it has
    /// its own), and in summary mode only default, static and discard routes.
    fn kernel_route(&self, prefix: &Prefix, group: Option<u16>) -> bool {
        group != Some(GROUP_LOCAL)
            && (!self.kernel_summary || prefix.prefix_len() == 0 || self.placer.local.has(prefix))
    }

    /// Queues the current state of these next hops, groups and routes for
    /// the kernel.
    fn kernel_push<'g>(
        &self,
        hops: impl IntoIterator<Item = u16>,
        groups: impl IntoIterator<Item = (u16, Option<&'g program::Group>)>,
        routes: Vec<(Prefix, Option<u16>)>,
    ) {
        let Some(kernel) = self.kernel.as_ref() else {
            return;
        };
        let usable = |id: u16| {
            self.placer
                .program
                .hop(id)
                .and_then(|h| h.port.filter(|p| p.up).map(|p| (h.addr, p.ifindex)))
        };
        let hops: Vec<(u32, Option<(IpAddr, u32)>)> = hops
            .into_iter()
            .map(|id| (u32::from(id), usable(id)))
            .collect();
        let groups: Vec<(u32, Option<kernel::Members>)> = groups
            .into_iter()
            .map(|(id, group)| {
                let members = group.map(|g| {
                    let pick = |list: &[(u16, u32)]| -> Vec<(u32, u16)> {
                        list.iter()
                            .filter(|(h, _)| usable(*h).is_some())
                            .map(|&(h, w)| (u32::from(h), w.clamp(1, 255) as u16))
                            .collect()
                    };
                    let now = pick(&g.members);
                    if now.is_empty() {
                        let all: Vec<(u16, u32)> = g.all.iter().map(|&h| (h, 1)).collect();
                        pick(&all)
                    } else {
                        now
                    }
                });
                (GROUP_BASE + u32::from(id), members)
            })
            .collect();
        let routes: Vec<(KernelPrefix, Option<kernel::Target>)> = routes
            .into_iter()
            .map(|(p, g)| {
                let target = g.map(|g| match g {
                    GROUP_DISCARD => kernel::Target::Discard,
                    g => kernel::Target::Group(g),
                });
                ((p.addr(), p.prefix_len()), target)
            })
            .collect();
        kernel.push(hops, groups, routes);
    }

    /// Re-sends everything to the kernel: it deletes nexthop objects (and
    /// the routes using them) when their interface goes down.
    fn kernel_repair(&self) {
        let Some(kernel) = self.kernel.as_ref() else {
            return;
        };
        kernel.recount();
        let hops: Vec<u16> = self.placer.program.hops().map(|(id, _)| id).collect();
        let groups: Vec<(u16, program::Group)> = self.placer.program.groups().collect();
        let routes: Vec<(Prefix, Option<u16>)> = self
            .placer
            .program
            .routes()
            .filter(|(p, g)| self.kernel_route(p, Some(*g)))
            .map(|(p, g)| (p, Some(g)))
            .collect();
        self.kernel_push(hops, groups.iter().map(|(id, g)| (*id, Some(g))), routes);
    }

    /// Interface `name` as the kernel last reported it.
    pub fn port(&self, name: &str) -> Option<Port> {
        self.placer.program.port(name)
    }

    /// The MAC of neighbour `addr`, if resolved.
    pub fn neighbour(&self, addr: &IpAddr) -> Option<[u8; 6]> {
        self.placer.program.neighbour(addr)
    }

    /// Prefixes kept from a previous run that the RIB has not replaced.
    pub fn stale(&self) -> usize {
        self.placer.program.stale_count() + self.kernel.as_ref().map_or(0, |k| k.status().stale)
    }

    /// Whether the kernel FIB is what forwards (no XDP, or XDP in
    /// `bpf_fib_lookup` mode): routes are then advertised only once
    /// written there.
    pub fn kernel_forwards(&self) -> bool {
        self.kernel.is_some() && (self.xdp.is_none() || self.fib_kernel)
    }

    /// The kernel FIB's queue, for the route owner to pace itself by and
    /// to learn what was written; and whether it paces a loading table
    /// (`kernel_fib: full`: while it writes a table, the changes it has yet
    /// to take stay at most [`kernel::PENDING_MAX`]).
    pub fn kernel_handle(&self) -> Option<(kernel::Handle, bool)> {
        let k = self.kernel.as_ref()?;
        Some((k.handle(), !self.kernel_summary))
    }

    /// Whether some prefix yielded to a covering route (only non-active
    /// uplinks offer it).
    pub fn suppressing(&self) -> bool {
        self.placer.suppressing()
    }

    /// Uplink states (config order) the FIB is placed for.
    pub fn active(&self) -> &[bool] {
        self.placer.active()
    }

    /// Whether a previous run's state awaits [`Self::sweep_stale`].
    pub fn adopting(&self) -> bool {
        self.placer.program.adopting()
            || self.kernel.as_ref().is_some_and(|k| k.status().stale > 0)
            || self.xdp.as_ref().is_some_and(Xdp::upgrading)
    }

    /// Removes what a previous run left and nothing replaced; finishes an
    /// upgrade from another map layout, and then says so (for the event
    /// log).
    pub fn sweep_stale(&mut self) -> Option<String> {
        self.placer.program.sweep_stale();
        self.flush();
        let mut upgraded = None;
        if let Some(x) = self.xdp.as_mut()
            && x.upgrading()
        {
            x.finish_upgrade();
            self.status.attached = x.attached();
            upgraded = Some(format!(
                "upgrade finished: this version's program replaced the previous one on {} ({})",
                self.status.attached.join(", "),
                x.trouble.as_deref().unwrap_or("no trouble")
            ));
        }
        if let Some(k) = self.kernel.as_ref() {
            k.sweep_stale();
        }
        upgraded
    }

    /// The daemon stops: with `keep`, forwarding goes on as programmed;
    /// without, everything Sluice installed is removed.
    pub fn stop(mut self, keep: bool) {
        if let Some(k) = self.kernel.take() {
            k.stop(!keep);
        }
        if let Some(x) = self.xdp.take() {
            x.stop(keep);
        }
    }

    /// One line for the event log.
    pub fn describe(&self) -> String {
        let s = self.status();
        format!(
            "data plane: xdp {}{}, fib {}, kernel_fib {}{}",
            s.xdp,
            if s.attached.is_empty() {
                String::new()
            } else {
                format!(" on {}", s.attached.join(", "))
            },
            s.fib,
            s.kernel_fib,
            s.reason.map(|r| format!(" ({r})")).unwrap_or_default()
        )
    }

    pub fn status(&self) -> DataplaneStatus {
        let mut s = self.status.clone();
        s.routes = self.placer.program.route_count();
        s.groups = self.placer.program.group_count();
        s.next_hops = self.placer.program.hop_count();
        if let Some(t) = self.xdp.as_ref().and_then(|x| x.trouble.clone()) {
            s.reason = Some(t);
        }
        s.stale = self.placer.program.stale_count();
        let (failures, first) = self.placer.failures();
        s.program_failures = failures;
        s.program_error = first.map(str::to_owned);
        if let Some(k) = self.kernel.as_ref() {
            let ks = k.status();
            s.kernel_routes = ks.installed;
            s.kernel_pending = ks.pending;
            s.stale += ks.stale;
            if let Some(e) = ks.last_error {
                let note = format!("kernel FIB: {} errors, last: {e}", ks.errors);
                s.reason = Some(match s.reason {
                    Some(r) => format!("{r}; {note}"),
                    None => note,
                });
            }
        }
        s
    }

    /// `show fib`: the entry for one address or prefix, or a page (`limit`
    /// after `after`) of the programmed prefixes — each with the group the
    /// maps give for an address of it that no longer programmed prefix
    /// takes — or, with `maps`, of the entries as the maps hold them (IPv4
    /// as the DIR-24-8 arrays resolve it: runs of one group as the fewest
    /// prefixes).
    pub fn show(
        &self,
        filter: Option<&Prefix>,
        after: Option<Prefix>,
        limit: usize,
        maps: bool,
    ) -> FibView {
        let Some(xdp) = self.xdp.as_ref() else {
            return FibView::default();
        };
        let program = &self.placer.program;
        let (page, total) = match filter {
            // The group comes from the maps; the prefix it was written for
            // from the programmer (the DIR-24-8 arrays do not keep it).
            Some(p) => (
                Page {
                    items: vec![(self.covering(p).unwrap_or(*p), xdp.lookup(p.addr()))],
                    more: false,
                },
                Some(1),
            ),
            None if maps => (
                xdp.entries_page(after, limit, program.prefixes6(), &program.fib6),
                None,
            ),
            None => {
                let prefixes = program.page(after, sluice_control::capped(limit));
                let items = prefixes
                    .items
                    .iter()
                    .map(|&p| {
                        let probe = [p.network(), p.broadcast()]
                            .into_iter()
                            .find(|a| self.covering(&Prefix::from(*a)) == Some(p));
                        let group = match probe {
                            Some(a) => xdp.lookup(a),
                            None => program.route(&p).unwrap_or(0),
                        };
                        (p, group)
                    })
                    .collect();
                let page = Page {
                    items,
                    more: prefixes.more,
                };
                (page, Some(program.route_count()))
            }
        };
        let next = page
            .items
            .last()
            .filter(|_| page.more)
            .map(|(p, _)| p.to_string());
        let entries = page
            .items
            .into_iter()
            .filter(|(_, g)| *g != 0)
            .map(|(prefix, group)| self.entry_view(xdp, prefix, group))
            .collect();
        FibView {
            entries,
            total,
            next,
        }
    }

    /// The longest programmed prefix covering `p`.
    fn covering(&self, p: &Prefix) -> Option<Prefix> {
        (0..=p.prefix_len()).rev().find_map(|len| {
            let candidate = Prefix::new(p.addr(), len).ok()?.trunc();
            self.placer.program.route(&candidate).map(|_| candidate)
        })
    }

    fn entry_view(&self, xdp: &Xdp, prefix: Prefix, group: u16) -> FibEntryView {
        if group == GROUP_DISCARD || group == GROUP_LOCAL {
            return FibEntryView {
                prefix: prefix.to_string(),
                group,
                action: if group == GROUP_DISCARD {
                    "discard"
                } else {
                    "connected"
                }
                .into(),
                next_hops: vec![],
            };
        }
        let buckets = xdp.plane.group(group).map(|g| g.buckets).unwrap_or([0; 64]);
        let mut counts: Vec<(u16, u32)> = Vec::new();
        for b in buckets.into_iter().filter(|&b| b != 0) {
            match counts.iter_mut().find(|(id, _)| *id == b) {
                Some((_, n)) => *n += 1,
                None => counts.push((b, 1)),
            }
        }
        let next_hops = counts
            .into_iter()
            .map(|(id, n)| {
                let nh = xdp.plane.next_hop(id).ok();
                let hop = self.placer.program.hop(id);
                FibHopView {
                    id,
                    address: hop.map(|h| h.addr.to_string()),
                    interface: hop.and_then(|h| h.interface.clone()),
                    mac: nh
                        .filter(|n| n.flags & sluice_dataplane::layout::NextHop::MAC_KNOWN != 0)
                        .map(|n| mac_text(n.dmac)),
                    buckets: n,
                }
            })
            .collect::<Vec<_>>();
        FibEntryView {
            prefix: prefix.to_string(),
            group,
            action: if next_hops.is_empty() {
                "empty"
            } else {
                "forward"
            }
            .into(),
            next_hops,
        }
    }

    /// Packets forwarded so far through each of `uplinks`' next hops
    /// (config order), those since freed included; None without XDP.
    pub fn outbound(&self, config: &Config) -> Option<Vec<u64>> {
        let xdp = self.xdp.as_ref()?;
        let mut totals = vec![0u64; config.uplinks.len()];
        for (id, hop) in self.placer.program.hops() {
            if let Some(u) = self.placer.program.uplink_of(hop) {
                totals[u] += xdp.plane.nh_stats(id).map_or(0, |s| s.packets);
            }
        }
        for (addr, packets) in &xdp.retired {
            if let Some(u) = self.placer.program.uplink_of_addr(*addr) {
                totals[u] += packets;
            }
        }
        Some(totals)
    }

    /// `show counters`.
    pub fn counters(&self) -> CountersView {
        let Some(xdp) = self.xdp.as_ref() else {
            return CountersView::default();
        };
        let mut next_hops: Vec<HopCounters> = self
            .placer
            .program
            .hops()
            .map(|(id, hop)| {
                let s = xdp.plane.nh_stats(id).unwrap_or_default();
                HopCounters {
                    id,
                    address: hop.addr.to_string(),
                    uplink: self
                        .placer
                        .program
                        .uplink_of(hop)
                        .and_then(|u| self.config.uplinks.get(u))
                        .map(|u| u.name.value.clone()),
                    interface: hop.interface.clone(),
                    packets: s.packets,
                    bytes: s.bytes,
                }
            })
            .collect();
        next_hops.sort_by_key(|h| h.id);
        let verdicts = xdp
            .verdicts()
            .into_iter()
            .map(|(v, packets)| VerdictCount {
                verdict: v.name().replace('_', "-"),
                packets,
            })
            .collect();
        CountersView {
            next_hops,
            verdicts,
        }
    }
}

fn mac_text(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}
