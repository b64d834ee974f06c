//! Writes the programmer's changes into the XDP program's maps, and reads
//! them back for `show fib` and `show counters`.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;

use sluice_config::Config;
use sluice_config::model::XdpMode as ConfigMode;
use sluice_dataplane::attach::{Attachment, XdpMode};
use sluice_dataplane::dir24::Dir24;
use sluice_dataplane::layout::{FibMode, IfKey, Iface, NextHop, NhGroup, Verdict};
use sluice_dataplane::loader::Dataplane;
use sluice_dataplane::poptrie::Poptrie;
use sluice_dataplane::settings::IpPrefix;
use sluice_netlink::Link;
use sluice_wire::Prefix;

use super::ports;
use super::program::{Changes, Hop};

/// Where the program is attached.
#[derive(Debug)]
enum Attached {
    /// Detached when dropped (no pinning possible).
    Owned(Attachment),
    /// Through a pinned link: outlives the daemon.
    Pinned { ifname: String, mode: XdpMode },
}

impl Attached {
    fn ifname(&self) -> &str {
        match self {
            Attached::Owned(a) => a.ifname(),
            Attached::Pinned { ifname, .. } => ifname,
        }
    }

    fn describe(&self) -> String {
        let (ifname, mode) = match self {
            Attached::Owned(a) => (a.ifname(), a.mode()),
            Attached::Pinned { ifname, mode } => (ifname.as_str(), *mode),
        };
        let mode = if mode == XdpMode::Skb {
            "generic"
        } else {
            "native"
        };
        format!("{ifname} ({mode})")
    }

    fn generic(&self) -> bool {
        match self {
            Attached::Owned(a) => a.mode() == XdpMode::Skb,
            Attached::Pinned { mode, .. } => *mode == XdpMode::Skb,
        }
    }
}

/// The loaded program, its maps and where it is attached.
pub struct Xdp {
    pub plane: Dataplane,
    attached: Vec<Attached>,
    /// The pin directory, when the maps and links are pinned.
    pub pins: Option<PathBuf>,
    /// The maps held a previous run's state.
    pub adopted: bool,
    /// The mode asked for, for interfaces that appear later.
    mode: XdpMode,
    /// An upgrade from another map layout: the interfaces to attach to
    /// (swapping the previous program out) once the new FIB is ready.
    pending: Vec<String>,
    /// The router's own addresses, as written to the maps.
    own: HashSet<IpAddr>,
    /// The addresses the kernel reports on any interface (loopbacks,
    /// management, VRRP), delivered locally like the configured ones.
    kernel_addrs: HashSet<IpAddr>,
    tx_ports: HashSet<u32>,
    /// The kernel's links, by ifindex: ports and VLAN parents.
    links: HashMap<u32, Link>,
    /// The `ifaces` entries as written.
    ports: HashMap<IfKey, Iface>,
    /// The martian entries as written (port, prefix) → drop.
    martians: HashMap<(IfKey, IpPrefix), bool>,
    /// The address each next-hop id was written for.
    hop_addrs: HashMap<u16, IpAddr>,
    /// Packets counted by next hops since freed, per address: an uplink's
    /// outbound total never falls when a drain frees its next hop.
    pub retired: HashMap<IpAddr, u64>,
    /// Something could not be written (logged once; shown in status).
    pub trouble: Option<String>,
    /// `fib4_codes` words not written, as last reported.
    code_failures: u64,
}

impl std::fmt::Debug for Xdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Xdp")
            .field("attached", &self.attached)
            .field("pins", &self.pins)
            .finish_non_exhaustive()
    }
}

/// Why XDP is off, for `sluice status`.
pub type Reason = String;

fn load_reason(e: &sluice_dataplane::loader::Error) -> String {
    let text = e.to_string();
    if text.contains("Operation not permitted") || text.contains("EPERM") {
        format!("off: no CAP_BPF ({text})")
    } else {
        format!("off: cannot load the XDP program: {text}")
    }
}

impl Xdp {
    /// Loads the program with its maps pinned under
    /// `<bpffs>/sluice/<instance>` (adopting what a previous run left), and
    /// attaches it to every configured interface that exists here through
    /// pinned links. Without a bpffs it runs unpinned and says so. Generic
    /// mode is the fallback when a driver has no native XDP; no interface
    /// at all, or no rights, turns XDP off.
    pub fn start(config: &Config, links: &[Link]) -> Result<(Xdp, Option<Reason>), Reason> {
        let dp = &config.dataplane;
        let mode = match dp.xdp {
            ConfigMode::Off => return Err("off: dataplane.xdp is off".into()),
            ConfigMode::Native => XdpMode::Driver,
            ConfigMode::Generic => XdpMode::Skb,
        };
        let mut notes = Vec::new();
        let pin_dir = dp.bpffs.join("sluice").join(&dp.instance);
        let mut upgrading = false;
        let (mut plane, pins, adopted) = match open_pinned(&pin_dir) {
            Ok(Opened::Adopted(plane, adopted)) => (plane, Some(pin_dir), adopted),
            Ok(Opened::Beside(plane)) => {
                notes.push(
                    "upgrading from another map layout: the previous program forwards until \
                     this one's FIB is ready"
                        .into(),
                );
                upgrading = true;
                (plane, Some(pin_dir), false)
            }
            Err(e) => {
                notes.push(format!("not pinned, a restart interrupts forwarding: {e}"));
                let plane = Dataplane::load().map_err(|e| load_reason(&e))?;
                (plane, None, false)
            }
        };
        let links: HashMap<u32, Link> = links.iter().map(|l| (l.ifindex, l.clone())).collect();
        let mut attached: Vec<Attached> = Vec::new();
        let mut pending: Vec<String> = Vec::new();
        for iface in &config.interfaces {
            let name = &iface.name.value;
            let target = match ports::attach_target(name, &links) {
                Ok(target) => target,
                Err(e) => {
                    notes.push(e);
                    continue;
                }
            };
            // VLANs of one parent share its attachment.
            if attached.iter().any(|a| a.ifname() == target) || pending.contains(&target) {
                continue;
            }
            // An upgrade attaches once the new FIB is ready.
            if upgrading {
                pending.push(target);
                continue;
            }
            match attach_falling_back(&mut plane, pins.as_deref(), &target, mode) {
                Ok((a, note)) => {
                    attached.push(a);
                    notes.extend(note);
                }
                Err(e) => notes.push(e),
            }
        }
        if attached.is_empty() && pending.is_empty() {
            return Err(format!(
                "off: no configured interface could be attached ({})",
                notes.join("; ")
            ));
        }
        let fib_mode = match dp.fib {
            sluice_config::model::FibMode::Sluice => FibMode::Sluice,
            sluice_config::model::FibMode::Kernel => FibMode::Kernel,
        };
        if let Err(e) = plane.set_fib_mode(fib_mode) {
            notes.push(format!("fib mode: {e}"));
        }
        // Random per start, kept by adopted maps so flows do not move.
        if let Err(e) = plane.seed_flow_hash() {
            notes.push(format!("flow hash seed: {e}"));
        }
        let mut xdp = Xdp {
            plane,
            attached,
            pins,
            adopted,
            mode,
            pending,
            own: HashSet::new(),
            kernel_addrs: HashSet::new(),
            tx_ports: HashSet::new(),
            links,
            ports: HashMap::new(),
            martians: HashMap::new(),
            hop_addrs: HashMap::new(),
            retired: HashMap::new(),
            trouble: None,
            code_failures: 0,
        };
        if let Err(e) = xdp.local_settings(config) {
            notes.push(e);
        }
        Ok((xdp, (!notes.is_empty()).then(|| notes.join("; "))))
    }

    /// What the program needs from the config besides routes: the
    /// router's own addresses, the ports it routes on with their checks,
    /// and the prefixes those checks use. New entries are written before
    /// old ones are removed.
    fn local_settings(&mut self, config: &Config) -> Result<(), String> {
        self.own_addresses(config);
        for (addr, len) in ports::source_prefixes(config) {
            self.plane
                .add_source_prefix(addr, len)
                .map_err(|e| format!("anti-spoofing: {e}"))?;
        }
        self.write_ports(config)
    }

    /// Own addresses: the config's and every address the kernel reports.
    fn own_addresses(&mut self, config: &Config) {
        let own: HashSet<IpAddr> = config
            .interfaces
            .iter()
            .flat_map(|i| i.addresses.iter().map(|a| a.addr()))
            .chain(self.kernel_addrs.iter().copied())
            .collect();
        let mut written = own.clone();
        let mut trouble = Vec::new();
        for a in own.difference(&self.own) {
            if let Err(e) = self.plane.add_own_address(*a) {
                // Not written: packets to it would be routed, not
                // delivered. Left out of `own`, so the next change retries.
                written.remove(a);
                trouble.push(format!("own address {a}: {e}"));
            }
        }
        for a in self.own.difference(&own) {
            if let Err(e) = self.plane.remove_own_address(*a) {
                trouble.push(format!("own address {a}: {e}"));
            }
        }
        self.own = written;
        for t in trouble {
            self.note(t);
        }
    }

    /// An address appeared on (`present`) or left an interface of this
    /// namespace.
    pub fn kernel_address(&mut self, addr: IpAddr, present: bool, config: &Config) {
        let changed = if present {
            self.kernel_addrs.insert(addr)
        } else {
            self.kernel_addrs.remove(&addr)
        };
        if changed {
            self.own_addresses(config);
        }
    }

    /// Every address of this namespace, after a dump (events may have been
    /// lost).
    pub fn kernel_addresses(&mut self, addrs: HashSet<IpAddr>, config: &Config) {
        self.kernel_addrs = addrs;
        self.own_addresses(config);
    }

    /// The `ifaces` and martian entries the config and the links ask for.
    fn write_ports(&mut self, config: &Config) -> Result<(), String> {
        let mut ports = HashMap::new();
        let mut martians = HashMap::new();
        let mut trouble = Vec::new();
        for i in &config.interfaces {
            let port = match ports::resolve(&i.name.value, &self.links) {
                Ok(Some(p)) => p,
                Ok(None) => continue,
                Err(e) => {
                    trouble.push(e);
                    continue;
                }
            };
            let flags = ports::flags(config, i);
            let iface = Iface {
                flags,
                ..port.iface
            };
            ports.insert(port.key, iface);
            if flags & sluice_dataplane::layout::IF_F_MARTIAN != 0 {
                for (prefix, drop) in ports::martians(config, i) {
                    martians.insert((port.key, prefix), drop);
                }
            }
        }
        // Martian entries before the flag that makes them checked, and
        // removed after it is gone.
        for (&(key, prefix), &drop) in &martians {
            if self.martians.get(&(key, prefix)) != Some(&drop)
                && let Err(e) = self.plane.set_martian(key, prefix, drop)
            {
                trouble.push(format!("martian {prefix}: {e}"));
            }
        }
        for (key, iface) in &ports {
            if self.ports.get(key) != Some(iface)
                && let Err(e) = self.plane.set_interface(*key, iface)
            {
                trouble.push(format!("port {}/{}: {e}", key.ifindex, key.vlan));
            }
        }
        for key in self.ports.keys().filter(|k| !ports.contains_key(k)) {
            if let Err(e) = self.plane.remove_interface(*key) {
                trouble.push(format!("port {}/{}: {e}", key.ifindex, key.vlan));
            }
        }
        for (key, prefix) in self.martians.keys().filter(|k| !martians.contains_key(k)) {
            if let Err(e) = self.plane.remove_martian(*key, *prefix) {
                trouble.push(format!("martian {prefix}: {e}"));
            }
        }
        self.ports = ports;
        self.martians = martians;
        if trouble.is_empty() {
            Ok(())
        } else {
            Err(trouble.join("; "))
        }
    }

    /// A new config: own addresses, ports, checks.
    pub fn reconfigure(&mut self, config: &Config) {
        if let Err(e) = self.local_settings(config) {
            self.note(e);
        }
    }

    /// The kernel reported a link (new, changed, or in a dump): follow
    /// its MAC and VLAN in the ports.
    pub fn link(&mut self, link: &Link, config: &Config) {
        let old = self.links.insert(link.ifindex, link.clone());
        if old.is_none_or(|o| o.mac != link.mac || o.vlan != link.vlan || o.name != link.name)
            && let Err(e) = self.write_ports(config)
        {
            self.note(e);
        }
    }

    /// A link was deleted.
    pub fn link_gone(&mut self, ifindex: u32, config: &Config) {
        if self.links.remove(&ifindex).is_some() {
            self.tx_ports.remove(&ifindex);
            if let Err(e) = self.write_ports(config) {
                self.note(e);
            }
        }
    }

    /// Whether an upgrade waits for the new FIB ([`Self::finish_upgrade`]).
    pub fn upgrading(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The new FIB is ready: swap the previous version's program out on
    /// every pinned link (atomically) and make the new maps' pins the
    /// ones a next start adopts.
    pub fn finish_upgrade(&mut self) {
        let Some(dir) = self.pins.clone() else { return };
        let targets = std::mem::take(&mut self.pending);
        let names: Vec<&str> = targets.iter().map(String::as_str).collect();
        match self.plane.finish_upgrade(&dir, &names, self.mode) {
            Ok(done) => {
                tracing::info!(
                    interfaces = done.len(),
                    "data plane: upgrade finished, the new program forwards"
                );
                self.attached = done
                    .into_iter()
                    .map(|a| Attached::Pinned {
                        ifname: a.ifname,
                        mode: self.mode,
                    })
                    .collect();
            }
            Err(e) => {
                self.note(format!("finishing the upgrade: {e}"));
                for t in &targets {
                    match attach_falling_back(&mut self.plane, Some(&dir), t, self.mode) {
                        Ok((a, _)) => self.attached.push(a),
                        Err(e) => self.note(e),
                    }
                }
            }
        }
    }

    /// An interface of the config appeared (again, maybe with a new
    /// ifindex): attach to it (or to its VLAN parent) with the same
    /// native → generic fallback as at start, and write its port.
    pub fn interface_appeared(&mut self, ifname: &str, config: &Config) {
        let target = match ports::attach_target(ifname, &self.links) {
            Ok(target) => target,
            Err(e) => return self.note(e),
        };
        if self.upgrading() {
            if !self.pending.contains(&target) {
                self.pending.push(target);
            }
            return;
        }
        match attach_falling_back(&mut self.plane, self.pins.as_deref(), &target, self.mode) {
            Ok((a, note)) => {
                self.attached.retain(|x| x.ifname() != target);
                self.attached.push(a);
                if let Some(n) = note {
                    tracing::info!("data plane: {n}");
                }
            }
            Err(e) => self.note(e),
        }
        self.tx_ports.clear();
        if let Err(e) = self.write_ports(config) {
            self.note(e);
        }
    }

    /// Whether the program is attached to `ifname` (or to its VLAN parent).
    pub fn is_attached(&self, ifname: &str) -> bool {
        let target =
            ports::attach_target(ifname, &self.links).unwrap_or_else(|_| ifname.to_owned());
        self.attached.iter().any(|a| a.ifname() == target) || self.pending.contains(&target)
    }

    /// Interfaces attached, with their modes.
    pub fn attached(&self) -> Vec<String> {
        self.attached.iter().map(Attached::describe).collect()
    }

    /// The mode most interfaces run in.
    pub fn mode(&self) -> &'static str {
        if self.attached.is_empty() && self.mode == XdpMode::Driver {
            "native"
        } else if self.attached.iter().all(Attached::generic) {
            "generic"
        } else {
            "native"
        }
    }

    fn next_hop(&mut self, hop: &Hop) -> NextHop {
        let Some(port) = hop.port else {
            return NextHop::default();
        };
        // Behind a VLAN device: out through its parent, tagged.
        let (ifindex, vlan) = ports::egress(&self.links, port.ifindex);
        if self.tx_ports.insert(ifindex)
            && let Err(e) = self.plane.add_tx_port(ifindex)
        {
            self.tx_ports.remove(&ifindex);
            self.note(format!("egress port {ifindex}: {e}"));
        }
        let mtu = port.mtu.min(u32::from(u16::MAX)) as u16;
        match hop.mac {
            Some(mac) => NextHop {
                vlan,
                ..NextHop::resolved(ifindex, mac, port.mac, mtu)
            },
            // Valid but unresolved: the program punts, the kernel resolves.
            None => NextHop {
                ifindex,
                smac: port.mac,
                mtu,
                flags: NextHop::VALID,
                vlan,
                ..NextHop::default()
            },
        }
    }

    fn note(&mut self, what: String) {
        if self.trouble.is_none() {
            tracing::warn!("data plane: {what}");
        }
        self.trouble = Some(what);
    }

    /// Writes `changes` in an order that never lets an entry point at one
    /// not yet written: next hops, groups, routes, then what was freed.
    pub fn apply(&mut self, changes: &Changes, fib4: &mut Dir24, fib6: &mut Poptrie) {
        for (&id, hop) in &changes.hops {
            if let Some(hop) = hop {
                self.hop_addrs.insert(id, hop.addr);
                let nh = self.next_hop(hop);
                if let Err(e) = self.plane.set_next_hop(id, &nh) {
                    self.note(format!("next hop {id}: {e}"));
                }
            }
        }
        for (&id, group) in &changes.groups {
            if let Some(g) = group
                && let Err(e) = self.plane.set_group(id, &g.buckets)
            {
                self.note(format!("group {id}: {e}"));
            }
        }
        let dirty = fib4.take_dirty();
        if !dirty.is_empty()
            && let Err(e) = self.plane.write_fib4_dirty(fib4, &dirty)
        {
            self.note(format!("IPv4 FIB: {e}"));
        }
        let failures = self.plane.fib4_code_failures();
        if failures > self.code_failures {
            self.code_failures = failures;
            self.note(format!(
                "IPv4 FIB: {failures} words of fib4_codes could not be written"
            ));
        }
        // IPv6: the slots the batch touched, rebuilt and written once.
        let dirty = fib6.take_dirty();
        if !dirty.is_empty()
            && let Err(e) = self.plane.write_fib6_dirty(fib6, &dirty)
        {
            // Full arrays: the routes whose slots kept their old entries.
            for (prefix, group) in &changes.routes {
                if let Prefix::V6(net) = prefix
                    && let Some(g) = group
                    && self.plane.lookup6(net.network()).ok() != Some(*g)
                {
                    self.note(format!("IPv6 route {net}: {e}"));
                }
            }
        }
        for (&id, group) in &changes.groups {
            if group.is_none() {
                let _ = self.plane.set_group(id, &NhGroup::default());
            }
        }
        for (&id, hop) in &changes.hops {
            if hop.is_none() {
                let _ = self.plane.set_next_hop(id, &NextHop::default());
                if let (Some(addr), Ok(stats)) =
                    (self.hop_addrs.remove(&id), self.plane.nh_stats(id))
                {
                    *self.retired.entry(addr).or_default() += stats.packets;
                }
                let _ = self.plane.reset_nh_stats(id);
            }
        }
    }

    /// The daemon stops. With `keep` and pins, the program stays attached
    /// and keeps forwarding on the last FIB; otherwise it is detached (and
    /// its pins removed).
    pub fn stop(self, keep: bool) {
        match (&self.pins, keep) {
            (Some(_), true) => {}
            (Some(dir), false) => {
                let dir = dir.clone();
                if let Err(e) = self.plane.detach_and_unpin(&dir) {
                    tracing::warn!("data plane: removing pins: {e}");
                }
            }
            (None, _) => {
                for a in self.attached {
                    if let Attached::Owned(a) = a {
                        let _ = a.detach();
                    }
                }
            }
        }
    }

    /// The group the maps give for `addr`.
    pub fn lookup(&self, addr: IpAddr) -> u16 {
        match addr {
            IpAddr::V4(a) => self.plane.lookup4(a),
            IpAddr::V6(a) => self.plane.lookup6(a).unwrap_or(0),
        }
    }

    /// A page of [`Self::entries`]: at most `limit` after `after`. IPv4
    /// comes from the arrays, read from where the page starts until it is
    /// full; IPv6 looked up at each of `prefixes6` (what was written to
    /// the FIB) in `fib6`, the builder of the maps, which pages in prefix
    /// order without walking all 65,536 chunks for each page.
    pub fn entries_page(
        &self,
        after: Option<Prefix>,
        limit: usize,
        prefixes6: impl Iterator<Item = Prefix>,
        fib6: &Poptrie,
    ) -> crate::paging::Page<(Prefix, u16)> {
        let from = match after {
            None => Some(0),
            Some(Prefix::V4(p)) => Some(u64::from(u32::from(p.broadcast())) + 1),
            Some(Prefix::V6(_)) => None,
        };
        let mut items: Vec<(Prefix, u16)> = from
            .map(|from| self.plane.fib4_page(from, limit + 1))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(p, g)| Some((v4(p)?, g)))
            .collect();
        let mut more = items.len() > limit;
        if !more {
            let after6 = after.filter(|a| a.addr().is_ipv6());
            let v6 = crate::paging::smallest_after(prefixes6, after6, limit - items.len());
            more = v6.more;
            items.extend(v6.items.into_iter().filter_map(|p| match p {
                Prefix::V6(net) => {
                    let g = fib6.longest_match(u128::from(net.network()), net.prefix_len());
                    (g != 0).then_some((p, g))
                }
                Prefix::V4(_) => None,
            }));
        }
        items.truncate(limit);
        crate::paging::Page { items, more }
    }

    /// Every route the maps hold: IPv4 read from the arrays, then IPv6.
    pub fn entries(&self) -> Vec<(Prefix, u16)> {
        let mut out: Vec<(Prefix, u16)> = self
            .plane
            .fib4_entries()
            .into_iter()
            .filter_map(|(p, g)| Some((v4(p)?, g)))
            .collect();
        for (addr, len, g) in self.plane.fib6_entries().unwrap_or_default() {
            if let Ok(net) = ipnet::Ipv6Net::new(addr, len) {
                out.push((Prefix::V6(net), g));
            }
        }
        out
    }

    /// Every verdict counter.
    pub fn verdicts(&self) -> Vec<(Verdict, u64)> {
        self.plane.verdict_counts().unwrap_or_default()
    }
}

/// Attaches to `ifname` in `mode`: through a link pinned in `pins`, which
/// outlives the daemon, or else one that detaches when dropped.
fn attach(
    plane: &mut Dataplane,
    pins: Option<&std::path::Path>,
    ifname: &str,
    mode: XdpMode,
) -> Result<Attached, sluice_dataplane::loader::Error> {
    match pins {
        // A kept link keeps the mode it was made with, which is the
        // configured one unless native was refused then.
        Some(dir) => plane
            .attach_pinned(ifname, mode, dir)
            .map(|a| Attached::Pinned {
                ifname: a.ifname,
                mode,
            }),
        None => plane.attach(ifname, mode).map(Attached::Owned),
    }
}

/// [`attach`] in `mode`, or generic when native is refused (a driver
/// without native XDP); the second value says so.
fn attach_falling_back(
    plane: &mut Dataplane,
    pins: Option<&std::path::Path>,
    ifname: &str,
    mode: XdpMode,
) -> Result<(Attached, Option<String>), String> {
    match attach(plane, pins, ifname, mode) {
        Ok(a) => Ok((a, None)),
        Err(e) if mode == XdpMode::Driver => match attach(plane, pins, ifname, XdpMode::Skb) {
            Ok(a) => Ok((
                a,
                Some(format!("{ifname}: generic, driver has no native XDP ({e})")),
            )),
            Err(e) => Err(format!("{ifname}: not attached: {e}")),
        },
        Err(e) => Err(format!("{ifname}: not attached: {e}")),
    }
}

/// What [`open_pinned`] found.
enum Opened {
    /// Pins of this layout (or none): adopted; whether any was there.
    Adopted(Dataplane, bool),
    /// Pins of another layout with a program forwarding through them:
    /// loaded beside them, to swap in later.
    Beside(Dataplane),
}

/// Opens the pinned data plane: adopts pins of this layout; builds beside
/// another layout's pins while links of it forward; replaces another
/// layout's pins that nothing forwards through.
fn open_pinned(dir: &std::path::Path) -> Result<Opened, sluice_dataplane::loader::Error> {
    use sluice_dataplane::loader::Error;
    use sluice_dataplane::pin;
    match Dataplane::open(dir) {
        Ok((plane, adopted)) => Ok(Opened::Adopted(plane, adopted.any())),
        Err(Error::PinnedLayout { .. }) if pin::has_links(dir) => {
            Dataplane::open_beside(dir).map(Opened::Beside)
        }
        Err(Error::PinnedLayout { .. }) => {
            pin::unpin_all(dir)?;
            let (plane, _) = Dataplane::open(dir)?;
            Ok(Opened::Adopted(plane, false))
        }
        Err(e) => Err(e),
    }
}

/// A DIR-24-8 prefix as the RIB's.
fn v4(p: sluice_dataplane::dir24::Prefix) -> Option<Prefix> {
    ipnet::Ipv4Net::new(p.network(), p.prefix_len())
        .ok()
        .map(Prefix::V4)
}
