//! The data plane's pure half: which entry each prefix gets under the
//! uplink states ([`Local::placement`], the rule of `sluice_rib::fib`),
//! and the [`Programmer`] that turns entries into map changes. [`super::Fib`]
//! adds the I/O (XDP maps, the kernel FIB, netlink); benchmarks and tests
//! drive this directly, through the same path `sluice drain` takes.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use sluice_config::Config;
use sluice_rib::Rib;
use sluice_rib::fib::{Entry, Local};
use sluice_wire::Prefix;

use super::Placement;
use super::program::{Port, Programmer};

/// The entry of each of `prefixes` under uplink states `active`
/// ([`Local::placement`]), for [`Placer::place_entry`], appended to `out`.
pub fn placements(
    local: &Local,
    active: &[bool],
    rib: &Rib,
    prefixes: &[Prefix],
    out: &mut Vec<Placement>,
) {
    out.reserve(prefixes.len());
    out.extend(prefixes.iter().enumerate().map(|(k, p)| {
        rib.prefetch_ahead(prefixes, k);
        let (entry, yielded) = local.placement(rib, p, active);
        (*p, entry, yielded)
    }));
}

#[derive(Debug)]
pub struct Placer {
    pub local: Local,
    pub program: Programmer,
    /// Uplink states (config order) the FIB was last placed for.
    active: Vec<bool>,
    /// Prefixes whose routes yielded to a covering one: only non-active
    /// uplinks offer them (static routes bound to one included) and a
    /// usable path covers them.
    suppressed: rustc_hash::FxHashSet<Prefix>,
    /// Routes that could not be programmed, and the first error (logged).
    failed: u64,
    first_failure: Option<String>,
}

impl Placer {
    pub fn new(config: &Config) -> Placer {
        Placer {
            local: Local::new(config),
            program: Programmer::new(config),
            active: Vec::new(),
            suppressed: Default::default(),
            failed: 0,
            first_failure: None,
        }
    }

    /// Routes that could not be programmed so far, and the first error.
    pub fn failures(&self) -> (u64, Option<&str>) {
        (self.failed, self.first_failure.as_deref())
    }

    /// Whether some prefix yielded to a covering route.
    pub fn suppressing(&self) -> bool {
        !self.suppressed.is_empty()
    }

    pub fn active(&self) -> &[bool] {
        &self.active
    }

    /// Every interface of `config` up, with made-up ifindexes and MACs:
    /// for evaluating placements away from a kernel (the validator's round
    /// trips, benchmarks, tests).
    pub fn all_ports_up(&mut self, config: &Config) {
        for (k, iface) in config.interfaces.iter().enumerate() {
            let n = u32::try_from(k).unwrap_or(0) + 2;
            let port = Port {
                ifindex: n,
                mac: [2, 0, 0, 0, 0, n as u8],
                mtu: 1500,
                up: true,
            };
            self.program.set_port(&iface.name.value, Some(port));
        }
    }

    /// A placer away from a kernel ([`Self::all_ports_up`]) holding every
    /// prefix of `rib` and of the config, placed and cleaned up under
    /// uplink states `active`: where the validator's round trips and the
    /// tests start from.
    pub fn offline(config: &Config, rib: &Rib, active: &[bool]) -> Placer {
        let mut placer = Placer::new(config);
        placer.all_ports_up(config);
        placer.set_active(active);
        let prefixes: Vec<Prefix> = rib
            .iter()
            .map(|(p, _)| p)
            .chain(placer.local.prefixes())
            .collect();
        for p in &prefixes {
            placer.place(rib, p);
        }
        placer.clean_up(rib);
        placer
    }

    /// Places one prefix; true if what the maps hold for it changed.
    pub fn place(&mut self, rib: &Rib, prefix: &Prefix) -> bool {
        let (entry, yielded) = self.local.placement(rib, prefix, &self.active);
        self.place_entry(prefix, entry.as_ref(), yielded)
    }

    /// Programs `prefix` with the entry [`Local::placement`] gave it under
    /// [`Self::active`]; true if what the maps hold for it changed.
    pub fn place_entry(&mut self, prefix: &Prefix, entry: Option<&Entry>, yielded: bool) -> bool {
        if yielded {
            self.suppressed.insert(*prefix);
        } else if !self.suppressed.is_empty() {
            self.suppressed.remove(prefix);
        }
        match self.program.set_route(*prefix, entry) {
            Ok(changed) => changed,
            Err(e) => {
                self.failed += 1;
                if self.failed == 1 {
                    self.first_failure = Some(format!("{prefix}: {e}"));
                    tracing::warn!(%prefix, "data plane: cannot program: {e}");
                }
                false
            }
        }
    }

    /// After `changed` were placed: a covering route among them came or
    /// went, so prefixes that yielded to one may return.
    pub fn covering_changed(&mut self, rib: &Rib, changed: &[Prefix]) {
        if !self.suppressed.is_empty() && changed.iter().any(|p| p.prefix_len() < 24) {
            let again: Vec<Prefix> = self.suppressed.iter().copied().collect();
            for prefix in &again {
                self.place(rib, prefix);
            }
        }
    }

    /// New uplink states, first step: the groups that use a changed uplink
    /// are rewritten (one write each, however many prefixes use them;
    /// docs/architecture.md, principle 3). False if nothing changed.
    pub fn set_active(&mut self, active: &[bool]) -> bool {
        if self.active == active {
            return false;
        }
        self.active = active.to_vec();
        self.program.set_active(active);
        true
    }

    /// Second step, prefix by prefix: those that only a non-active uplink
    /// offers leave the FIB where a usable path covers them, and those left
    /// earlier come back if that changed (docs/architecture.md, principle 2). Returns
    /// how many were placed again.
    pub fn clean_up(&mut self, rib: &Rib) -> usize {
        let mut again = self.program.fallback_routes();
        again.extend(self.suppressed.iter().copied());
        for prefix in &again {
            self.place(rib, prefix);
        }
        self.program.end_stand_in();
        again.len()
    }

    /// A new config: its local part, its interfaces and uplinks. Returns the
    /// prefixes to place again: the static routes, announces and connected
    /// subnets of both configs, and every learned one when ECMP, weights or
    /// sessions' uplinks changed (they are part of every prefix's ways).
    pub fn reconfigure(&mut self, config: &Config, rib: &Rib, paths_changed: bool) -> Vec<Prefix> {
        let old: Vec<Prefix> = self.local.prefixes().collect();
        let new = Local::new(config);
        let everything = paths_changed || !new.same_paths(&self.local);
        self.local = new;
        self.program.configure(config);
        let mut prefixes: Vec<Prefix> = self.local.prefixes().collect();
        prefixes.extend(old);
        if everything {
            prefixes.extend(rib.iter().map(|(p, _)| p));
        }
        // Placed against no uplink state at all first; the caller then sets
        // the states again, which rewrites every group.
        self.active.clear();
        prefixes
    }
}

/// What the maps give each prefix, cheaply comparable: each prefix's
/// group, and each group's members (next-hop addresses). Group ids may
/// differ between two snapshots that forward alike.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    routes: HashMap<Prefix, u16>,
    groups: HashMap<u16, Vec<IpAddr>>,
}

impl Snapshot {
    pub fn of(p: &Programmer) -> Snapshot {
        let groups = p
            .groups()
            .map(|(id, g)| {
                let mut hops: Vec<IpAddr> = g
                    .members
                    .iter()
                    .filter_map(|(h, _)| p.hop(*h).map(|h| h.addr))
                    .collect();
                hops.sort();
                (id, hops)
            })
            .collect();
        Snapshot {
            routes: p.routes().collect(),
            groups,
        }
    }

    /// What `prefix` forwards through, None when not programmed: a
    /// group's members, or for the reserved discard and connected groups
    /// (which have none) the group itself.
    fn forwards(&self, prefix: &Prefix) -> Option<(Option<u16>, &[IpAddr])> {
        let g = *self.routes.get(prefix)?;
        Some(match self.groups.get(&g) {
            Some(members) => (None, members.as_slice()),
            None => (Some(g), &[]),
        })
    }

    /// The prefixes that forward otherwise in `other`.
    pub fn differ(&self, other: &Snapshot) -> Vec<Prefix> {
        if self == other {
            return Vec::new();
        }
        let keys: BTreeSet<&Prefix> = self.routes.keys().chain(other.routes.keys()).collect();
        keys.into_iter()
            .filter(|p| self.forwards(p) != other.forwards(p))
            .copied()
            .collect()
    }
}

/// Drains each uplink and undrains it again, from every uplink active,
/// through the path `sluice drain` takes, on `rib` with every interface
/// up; returns, per uplink (config index), the prefixes whose entries then
/// differ from before (none, when undrain restores the FIB).
pub fn round_trips(config: &Config, rib: &Rib) -> Vec<(usize, Vec<Prefix>)> {
    let base = vec![true; config.uplinks.len()];
    let mut placer = Placer::offline(config, rib, &base);
    let before = Snapshot::of(&placer.program);
    let mut out = Vec::new();
    for u in 0..base.len() {
        let mut drained = base.clone();
        drained[u] = false;
        placer.set_active(&drained);
        placer.clean_up(rib);
        placer.set_active(&base);
        placer.clean_up(rib);
        let differ = before.differ(&Snapshot::of(&placer.program));
        out.push((u, differ));
    }
    out
}

#[cfg(test)]
mod agrees;

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use sluice_config::{Source, parse};
    use sluice_rib::{PathAttrs, PeerInfo};
    use sluice_wire::update::AS_SEQUENCE;

    use super::*;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5));

    /// iap-a sends 100 /24s, iap-b a default only.
    fn site() -> (Placer, Rib) {
        let config = parse(&Source::new(
            "t.yaml",
            "router: { id: 192.0.2.1, asn: 64500 }
interfaces:
  - { name: eth1, addresses: [203.0.113.2/30] }
  - { name: eth2, addresses: [203.0.113.6/30] }
uplinks:
  - { name: iap-a, interface: eth1, local_pref: 200, peer: { address: 203.0.113.1, asn: 65001 }, import: full-table }
  - { name: iap-b, interface: eth2, peer: { address: 203.0.113.5, asn: 65002 }, import: default-only }
",
        ))
        .unwrap();
        let mut rib = Rib::default();
        for (i, (addr, asn)) in [(A, 65001u32), (B, 65002)].into_iter().enumerate() {
            let peer = rib.add_peer(PeerInfo {
                name: format!("p{i}"),
                address: addr,
                asn,
                router_id: Ipv4Addr::new(10, 0, 0, i as u8 + 1),
                ebgp: true,
                uplink: Some(i),
            });
            let mut as_path = vec![AS_SEQUENCE, 1];
            as_path.extend(asn.to_be_bytes());
            let attrs = PathAttrs {
                as_path,
                next_hop: Some(addr),
                ..Default::default()
            };
            let prefixes: Vec<String> = if i == 0 {
                (0..100).map(|k| format!("20.0.{k}.0/24")).collect()
            } else {
                vec!["0.0.0.0/0".into()]
            };
            for p in prefixes {
                rib.announce_attrs(peer, p.parse().unwrap(), attrs.clone());
            }
        }
        let mut placer = Placer::offline(&config, &rib, &[true, true]);
        placer.program.take();
        (placer, rib)
    }

    /// More /25s in distinct /24s than the DIR-24-8 has tbl8 groups: the
    /// rest cannot be programmed, and that is counted with the first error
    /// (the daemon's metric and event read it), not lost.
    #[test]
    fn routes_that_cannot_be_programmed_are_counted() {
        let (mut placer, mut rib) = site();
        assert_eq!(placer.failures(), (0, None));
        let peer = rib.peers().next().map(|(id, _)| id).unwrap();
        let groups = sluice_dataplane::dir24::DEFAULT_TBL8_GROUPS;
        let extra = 5;
        for k in 0..groups + extra {
            let prefix: Prefix = format!("30.{}.{}.0/25", k / 256, k % 256).parse().unwrap();
            rib.announce_attrs(
                peer,
                prefix,
                PathAttrs {
                    next_hop: Some(A),
                    ..Default::default()
                },
            );
            placer.place(&rib, &prefix);
        }
        let (n, first) = placer.failures();
        let programmed = placer
            .program
            .routes()
            .filter(|(p, _)| p.prefix_len() == 25)
            .count() as u64;
        assert!(n >= u64::from(extra), "{n} failures");
        assert_eq!(
            n + programmed,
            u64::from(groups + extra),
            "each /25 either programmed or counted"
        );
        let first = first.unwrap();
        assert!(first.contains("tbl8"), "{first}");
    }

    fn member(placer: &Placer, addr: [u8; 4]) -> Option<IpAddr> {
        let group = placer.program.fib4.lookup(u32::from(Ipv4Addr::from(addr)));
        let (_, g) = placer.program.groups().find(|(id, _)| *id == group)?;
        let first = *g.buckets.buckets.first()?;
        assert!(g.buckets.buckets.iter().all(|&b| b == first), "{g:?}");
        placer.program.hop(first).map(|h| h.addr)
    }

    /// A prefix only the drained uplink offers leaves it in the same one
    /// write as the rest: its group stands in with the default route's
    /// members until the clean-up hands it to its covering route.
    #[test]
    fn prefixes_only_the_drained_uplink_offers_leave_it_in_one_write() {
        let (mut placer, rib) = site();
        assert_eq!(member(&placer, [20, 0, 7, 1]), Some(A));
        placer.set_active(&[false, true]);
        let c = placer.program.take();
        assert!(c.routes.is_empty(), "no prefix touched yet: {c:?}");
        assert_eq!(c.groups.len(), 1, "one group rewritten: {c:?}");
        assert_eq!(member(&placer, [20, 0, 7, 1]), Some(B));

        assert_eq!(placer.clean_up(&rib), 100);
        let c = placer.program.take();
        assert_eq!(c.routes.len(), 100, "the /24s leave the FIB");
        assert!(c.routes.iter().all(|(_, g)| g.is_none()));
        assert_eq!(
            member(&placer, [20, 0, 7, 1]),
            Some(B),
            "through the default"
        );

        // Undrained: back on iap-a.
        placer.set_active(&[true, true]);
        placer.clean_up(&rib);
        placer.program.take();
        assert_eq!(member(&placer, [20, 0, 7, 1]), Some(A));

        // Both drained: no usable default, so the best way stays (a
        // drained uplink beats no way out), as the FIB function has it.
        placer.set_active(&[false, false]);
        placer.clean_up(&rib);
        assert_eq!(member(&placer, [20, 0, 7, 1]), Some(A));
        assert_eq!(member(&placer, [9, 9, 9, 9]), Some(B));
    }
}
