//! Writes the programmer's changes into the XDP program's maps, and reads
//! them back for `show fib` and `show counters`.

use std::collections::HashSet;
use std::net::IpAddr;

use sluice_config::Config;
use sluice_config::model::XdpMode as ConfigMode;
use sluice_dataplane::attach::{Attachment, XdpMode};
use sluice_dataplane::dir24::Dir24;
use sluice_dataplane::layout::{NextHop, NhGroup, TX_PORTS_MAX, Verdict};
use sluice_dataplane::loader::Dataplane;
use sluice_wire::Prefix;

use super::program::{Changes, Hop};

/// The loaded program, its maps and where it is attached.
pub struct Xdp {
    pub plane: Dataplane,
    attached: Vec<Attachment>,
    tx_ports: HashSet<u32>,
    /// Something could not be written (logged once; shown in status).
    pub trouble: Option<String>,
}

impl std::fmt::Debug for Xdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Xdp")
            .field("attached", &self.attached)
            .finish_non_exhaustive()
    }
}

/// Why XDP is off, for `sluice status`.
pub type Reason = String;

impl Xdp {
    /// Loads the program and attaches it to every configured interface
    /// that exists here. Generic mode is the fallback when a driver has no
    /// native XDP; no interface at all, or no rights, turns XDP off.
    pub fn start(config: &Config) -> Result<(Xdp, Option<Reason>), Reason> {
        let mode = match config.dataplane.xdp {
            ConfigMode::Off => return Err("off: dataplane.xdp is off".into()),
            ConfigMode::Native => XdpMode::Driver,
            ConfigMode::Generic => XdpMode::Skb,
        };
        let mut plane = Dataplane::load().map_err(|e| {
            let text = e.to_string();
            if text.contains("Operation not permitted") || text.contains("EPERM") {
                format!("off: no CAP_BPF ({text})")
            } else {
                format!("off: cannot load the XDP program: {text}")
            }
        })?;
        let mut attached = Vec::new();
        let mut notes = Vec::new();
        for iface in &config.interfaces {
            let name = &iface.name.value;
            match plane.attach(name, mode) {
                Ok(a) => attached.push(a),
                Err(e) if mode == XdpMode::Driver => match plane.attach(name, XdpMode::Skb) {
                    Ok(a) => {
                        notes.push(format!("{name}: generic, driver has no native XDP ({e})"));
                        attached.push(a);
                    }
                    Err(e) => notes.push(format!("{name}: not attached: {e}")),
                },
                Err(e) => notes.push(format!("{name}: not attached: {e}")),
            }
        }
        if attached.is_empty() {
            return Err(format!(
                "off: no configured interface could be attached ({})",
                notes.join("; ")
            ));
        }
        for iface in &config.interfaces {
            for a in &iface.addresses {
                let _ = plane.add_own_address(a.addr());
            }
        }
        let xdp = Xdp {
            plane,
            attached,
            tx_ports: HashSet::new(),
            trouble: None,
        };
        Ok((xdp, (!notes.is_empty()).then(|| notes.join("; "))))
    }

    /// Interfaces attached, with their modes.
    pub fn attached(&self) -> Vec<String> {
        self.attached
            .iter()
            .map(|a| {
                let mode = if a.mode() == XdpMode::Skb {
                    "generic"
                } else {
                    "native"
                };
                format!("{} ({mode})", a.ifname())
            })
            .collect()
    }

    /// The mode most interfaces run in.
    pub fn mode(&self) -> &'static str {
        if self.attached.iter().all(|a| a.mode() == XdpMode::Skb) {
            "generic"
        } else {
            "native"
        }
    }

    fn next_hop(&mut self, hop: &Hop) -> NextHop {
        let Some(port) = hop.port else {
            return NextHop::default();
        };
        if port.ifindex < TX_PORTS_MAX
            && self.tx_ports.insert(port.ifindex)
            && let Err(e) = self.plane.add_tx_port(port.ifindex)
        {
            self.tx_ports.remove(&port.ifindex);
            self.note(format!("egress port {}: {e}", port.ifindex));
        }
        let mtu = port.mtu.min(u32::from(u16::MAX)) as u16;
        match hop.mac {
            Some(mac) => NextHop::resolved(port.ifindex, mac, port.mac, mtu),
            // Valid but unresolved: the program punts, the kernel resolves.
            None => NextHop {
                ifindex: port.ifindex,
                smac: port.mac,
                mtu,
                flags: NextHop::VALID,
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
    pub fn apply(&mut self, changes: &Changes, fib4: &mut Dir24) {
        for (&id, hop) in &changes.hops {
            if let Some(hop) = hop {
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
        for (prefix, group) in &changes.routes {
            let Prefix::V6(net) = prefix else { continue };
            let r = match group {
                Some(g) => self.plane.set_route6(net.network(), net.prefix_len(), *g),
                None => self.plane.remove_route6(net.network(), net.prefix_len()),
            };
            if let Err(e) = r {
                self.note(format!("IPv6 route {prefix}: {e}"));
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
            }
        }
    }

    /// The daemon stops. With `keep` the program stays attached and keeps
    /// forwarding (once its link and maps are pinned); without, it is
    /// detached and its pins removed.
    pub fn stop(self, keep: bool) {
        if !keep {
            for a in self.attached {
                let _ = a.detach();
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

    /// Every verdict counter.
    pub fn verdicts(&self) -> Vec<(Verdict, u64)> {
        self.plane.verdict_counts().unwrap_or_default()
    }
}
