//! The daemon's side of the data plane: the pure [`program::Programmer`]
//! fed from the RIB and uplink states, and the appliers that write its
//! changes into the XDP maps ([`xdp`]) and the kernel.
//!
//! Everything runs in the route owner's task and XDP writes are
//! synchronous (memory stores through the mmap, or one bpf(2) call per
//! group or next hop), so a route is in the XDP FIB before it is
//! advertised to anyone (suppress until programmed).

pub mod program;
pub mod xdp;

use std::net::IpAddr;

use sluice_config::Config;
use sluice_control::{
    CountersView, DataplaneStatus, FibEntryView, FibHopView, FibView, HopCounters, VerdictCount,
};
use sluice_rib::Rib;
use sluice_rib::fib::Local;
use sluice_wire::Prefix;

use program::{GROUP_DISCARD, Port, Programmer};
use xdp::Xdp;

/// The data plane as the daemon drives it.
#[derive(Debug)]
pub struct Fib {
    local: Local,
    program: Programmer,
    xdp: Option<Xdp>,
    status: DataplaneStatus,
    /// Uplink names, for counters.
    uplinks: Vec<String>,
    failed: usize,
}

impl Fib {
    /// Sets up the data plane the config asks for, falling back as far as
    /// needed (native → generic → off) and saying why in the status.
    pub fn start(config: &Config) -> Fib {
        let dp = &config.dataplane;
        let mut status = DataplaneStatus {
            xdp: "off".into(),
            fib: format!("{:?}", dp.fib).to_lowercase(),
            kernel_fib: format!("{:?}", dp.kernel_fib).to_lowercase(),
            ..Default::default()
        };
        let xdp = match Xdp::start(config) {
            Ok((xdp, note)) => {
                status.xdp = xdp.mode().into();
                status.attached = xdp.attached();
                status.reason = note;
                Some(xdp)
            }
            Err(reason) => {
                tracing::warn!("data plane: XDP {reason}");
                status.reason = Some(reason);
                None
            }
        };
        let mut fib = Fib {
            local: Local::new(config),
            program: Programmer::new(config),
            xdp,
            status,
            uplinks: config
                .uplinks
                .iter()
                .map(|u| u.name.value.clone())
                .collect(),
            failed: 0,
        };
        fib.install_local(&Rib::default());
        fib
    }

    fn install_local(&mut self, rib: &Rib) {
        let prefixes: Vec<Prefix> = self.local.prefixes().collect();
        self.update(rib, &prefixes);
    }

    /// Re-evaluates `prefixes` from the RIB and programs the difference.
    pub fn update(&mut self, rib: &Rib, prefixes: &[Prefix]) {
        for prefix in prefixes {
            let entry = self.local.entry(rib, prefix);
            if let Err(e) = self.program.set_route(*prefix, entry.as_ref()) {
                self.failed += 1;
                if self.failed == 1 {
                    tracing::warn!(%prefix, "data plane: cannot program: {e}");
                }
            }
        }
        self.flush();
    }

    /// New uplink states: the groups that use a changed uplink are rewritten.
    pub fn set_active(&mut self, active: &[bool]) {
        self.program.set_active(active);
        self.flush();
    }

    pub fn set_port(&mut self, name: &str, port: Option<Port>) {
        self.program.set_port(name, port);
        self.flush();
    }

    pub fn set_neighbour(&mut self, addr: IpAddr, mac: Option<[u8; 6]>) {
        self.program.set_neighbour(addr, mac);
        self.flush();
    }

    /// A new config: static routes and announces may have changed.
    pub fn reconfigure(&mut self, config: &Config, rib: &Rib) {
        let old: Vec<Prefix> = self.local.prefixes().collect();
        self.local = Local::new(config);
        self.uplinks = config
            .uplinks
            .iter()
            .map(|u| u.name.value.clone())
            .collect();
        self.program.configure(config);
        let mut prefixes: Vec<Prefix> = self.local.prefixes().collect();
        prefixes.extend(old);
        self.update(rib, &prefixes);
    }

    fn flush(&mut self) {
        let changes = self.program.take();
        if changes.is_empty() && changes.routes.is_empty() {
            // IPv4 words may still be dirty from a failed write: they go with the next change.
            return;
        }
        if let Some(x) = self.xdp.as_mut() {
            x.apply(&changes, &mut self.program.fib4);
        } else {
            self.program.fib4.take_dirty();
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
        s.routes = self.program.route_count();
        s.groups = self.program.group_count();
        s.next_hops = self.program.hop_count();
        if let Some(t) = self.xdp.as_ref().and_then(|x| x.trouble.clone()) {
            s.reason = Some(t);
        }
        s
    }

    /// `show fib`: the entry for one address or prefix, or all up to `limit`.
    pub fn show(&self, filter: Option<&Prefix>, limit: usize) -> FibView {
        let Some(xdp) = self.xdp.as_ref() else {
            return FibView::default();
        };
        let mut routes: Vec<(Prefix, u16)> = match filter {
            Some(p) => vec![(*p, xdp.lookup(p.addr()))],
            None => {
                let mut all: Vec<Prefix> = self.program.routes().map(|(p, _)| *p).collect();
                all.sort();
                all.into_iter()
                    .take(limit)
                    .map(|p| (p, xdp.lookup(p.addr())))
                    .collect()
            }
        };
        routes.retain(|(_, g)| *g != 0);
        let entries = routes
            .into_iter()
            .map(|(prefix, group)| self.entry_view(xdp, prefix, group))
            .collect();
        FibView {
            entries,
            total: self.program.route_count(),
        }
    }

    fn entry_view(&self, xdp: &Xdp, prefix: Prefix, group: u16) -> FibEntryView {
        if group == GROUP_DISCARD {
            return FibEntryView {
                prefix: prefix.to_string(),
                group,
                action: "discard".into(),
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
                let hop = self.program.hop(id);
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

    /// `show counters`.
    pub fn counters(&self) -> CountersView {
        let Some(xdp) = self.xdp.as_ref() else {
            return CountersView::default();
        };
        let mut next_hops: Vec<HopCounters> = self
            .program
            .hops()
            .map(|(id, hop)| {
                let s = xdp.plane.nh_stats(id).unwrap_or_default();
                HopCounters {
                    id,
                    address: hop.addr.to_string(),
                    uplink: self.program.uplink_of(hop).map(|u| self.uplinks[u].clone()),
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
