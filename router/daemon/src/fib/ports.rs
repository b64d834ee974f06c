//! The ports the XDP program routes on, worked out from the config and the
//! kernel's links (pure: the driver in `xdp.rs` writes the result).
//!
//! Each configured interface is one `ifaces` entry: its own ifindex,
//! untagged, or — for a VLAN sub-interface such as `eth1.100` — its
//! parent's ifindex with the VLAN id, since a VLAN device is never a
//! redirect target and the program runs on the parent. The entry carries
//! the interface's MAC (other unicast frames are not routed) and its
//! checks: BCP 38 on internal interfaces, martian sources on uplinks that
//! ask for it.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use sluice_config::Config;
use sluice_config::model::Interface;
use sluice_dataplane::layout::{IF_F_ANTISPOOF, IF_F_MARTIAN, IfKey, Iface};
use sluice_dataplane::settings::IpPrefix;
use sluice_netlink::Link;

/// 802.1Q, the only tag the program reads.
const ETH_P_8021Q: u16 = 0x8100;

/// Where a configured interface's frames arrive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    /// The interface the program attaches to (a VLAN's parent).
    pub attach: String,
    /// The `ifaces` key: the parent's ifindex and the VLAN id, or the
    /// interface's own ifindex untagged.
    pub key: IfKey,
    /// The entry, flags included.
    pub iface: Iface,
}

/// The interface the program attaches to for configured interface `name`:
/// its VLAN parent, or itself (also when it is not here yet).
pub fn attach_target(name: &str, links: &HashMap<u32, Link>) -> Result<String, String> {
    Ok(resolve(name, links)?.map_or_else(|| name.to_owned(), |port| port.attach))
}

/// Resolves configured interface `name` against the kernel's links;
/// `Err` says why it cannot be routed on (an 802.1ad VLAN, a parent not
/// in this namespace), `Ok(None)` that it is not here (yet).
pub fn resolve(name: &str, links: &HashMap<u32, Link>) -> Result<Option<Port>, String> {
    let Some(link) = links.values().find(|l| l.name == name) else {
        return Ok(None);
    };
    let iface = Iface {
        flags: 0,
        ifindex: link.ifindex,
        mac: link.mac.unwrap_or_default(),
    };
    let Some(vlan) = link.vlan else {
        return Ok(Some(Port {
            attach: name.to_owned(),
            key: IfKey::untagged(link.ifindex),
            iface,
        }));
    };
    if vlan.protocol != ETH_P_8021Q {
        return Err(format!(
            "{name}: VLAN protocol {:#06x} (only 802.1Q tags are routed in XDP)",
            vlan.protocol
        ));
    }
    let parent = links
        .get(&vlan.parent)
        .ok_or_else(|| format!("{name}: its parent (ifindex {}) is not here", vlan.parent))?;
    Ok(Some(Port {
        attach: parent.name.clone(),
        key: IfKey {
            ifindex: parent.ifindex,
            vlan: vlan.id.into(),
        },
        iface,
    }))
}

/// Where a next hop on interface `ifindex` leaves: (egress ifindex, VLAN
/// id) — a VLAN device's frames go out through its parent, tagged.
pub fn egress(links: &HashMap<u32, Link>, ifindex: u32) -> (u32, u16) {
    match links.get(&ifindex).and_then(|l| l.vlan) {
        Some(v) if v.protocol == ETH_P_8021Q => (v.parent, v.id),
        _ => (ifindex, 0),
    }
}

fn uplink_names(config: &Config) -> HashSet<&str> {
    config
        .uplinks
        .iter()
        .map(|u| u.interface.value.as_str())
        .collect()
}

/// Whether an iBGP peer of the same AS sits on `i`: that peer may be the
/// other edge router of the site, forwarding internet traffic (the ha-pair
/// topology), so BCP 38 does not apply there.
fn ibgp_on(config: &Config, i: &Interface) -> bool {
    config.neighbors.iter().any(|n| {
        n.asn.value == config.router.asn.value
            && i.addresses
                .iter()
                .any(|a| a.subnet().contains(&n.address.value))
    })
}

/// The `IF_F_*` flags of configured interface `i`.
pub fn flags(config: &Config, i: &Interface) -> u32 {
    let name = i.name.value.as_str();
    let mut flags = 0;
    let uplinks = uplink_names(config);
    if config.dataplane.anti_spoofing && !uplinks.contains(name) && !ibgp_on(config, i) {
        flags |= IF_F_ANTISPOOF;
    }
    let martians = config
        .uplinks
        .iter()
        .any(|u| u.interface.value == name && u.drop_martians.as_ref().is_some_and(|d| d.value));
    if martians {
        flags |= IF_F_MARTIAN;
    }
    flags
}

/// BCP 38 on internal interfaces (those no uplink uses): sources must lie
/// in the site's own space — the announced prefixes, the internal
/// interfaces' subnets and the static routes toward internal next hops.
pub fn source_prefixes(config: &Config) -> Vec<(IpAddr, u8)> {
    let uplinks = uplink_names(config);
    let internal: Vec<_> = config
        .interfaces
        .iter()
        .filter(|i| !uplinks.contains(i.name.value.as_str()))
        .collect();
    let mut sources: Vec<(IpAddr, u8)> = config
        .announce
        .iter()
        .map(|a| (a.value.0.network(), a.value.0.prefix_len()))
        .collect();
    for i in &internal {
        for a in &i.addresses {
            let net = a.subnet();
            sources.push((net.network(), net.prefix_len()));
        }
    }
    for s in &config.static_routes {
        let internal_hop = internal.iter().any(|i| {
            i.addresses
                .iter()
                .any(|a| a.subnet().contains(&s.via.value))
        });
        if internal_hop {
            sources.push((s.prefix.value.0.network(), s.prefix.value.0.prefix_len()));
        }
    }
    sources
}

/// Martian sources for an uplink interface that drops them: the site's
/// announced prefixes and the bogons imports refuse (`policies.bogons`,
/// or the built-in list) are `true` (drop); the uplink's own subnets are
/// `false` (exempt: the upstream's router and the link itself may sit in
/// bogon space, and the longest match wins).
pub fn martians(config: &Config, uplink: &Interface) -> Vec<(IpPrefix, bool)> {
    let mut drop: Vec<ipnet::IpNet> = config.announce.iter().map(|a| a.value.0).collect();
    match &config.policies.bogons {
        Some(list) => drop.extend(list.iter().map(|b| b.value.0)),
        None => drop.extend(
            sluice_rib::policy::BOGONS
                .iter()
                .filter_map(|b| b.parse::<ipnet::IpNet>().ok()),
        ),
    }
    let exempt = uplink.addresses.iter().map(|a| a.subnet());
    let mut out: Vec<(IpPrefix, bool)> = Vec::new();
    for (net, is_drop) in drop
        .into_iter()
        .map(|n| (n, true))
        .chain(exempt.map(|n| (n, false)))
    {
        if let Ok(p) = IpPrefix::new(net.network(), net.prefix_len()) {
            // An exemption replaces a drop entry of the same prefix.
            out.retain(|(q, _)| *q != p);
            out.push((p, is_drop));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_netlink::Vlan;

    fn link(ifindex: u32, name: &str, vlan: Option<Vlan>) -> Link {
        Link {
            ifindex,
            name: name.into(),
            mac: Some([2, 0, 0, 0, 0, ifindex as u8]),
            mtu: 1500,
            up: true,
            flags: 0,
            operstate: 6,
            vlan,
        }
    }

    fn links(all: Vec<Link>) -> HashMap<u32, Link> {
        all.into_iter().map(|l| (l.ifindex, l)).collect()
    }

    #[test]
    fn a_vlan_sub_interface_is_its_parents_port_with_the_tag() {
        let vlan = Vlan {
            parent: 4000,
            id: 100,
            protocol: ETH_P_8021Q,
        };
        let all = links(vec![
            link(4000, "eth1", None),
            link(4001, "eth1.100", Some(vlan)),
        ]);
        let port = resolve("eth1.100", &all).unwrap().unwrap();
        assert_eq!(port.attach, "eth1");
        assert_eq!(
            port.key,
            IfKey {
                ifindex: 4000,
                vlan: 100
            }
        );
        assert_eq!(port.iface.ifindex, 4001);
        assert_eq!(port.iface.mac, [2, 0, 0, 0, 0, 4001u32 as u8]);
        let plain = resolve("eth1", &all).unwrap().unwrap();
        assert_eq!(plain.key, IfKey::untagged(4000));
        assert_eq!(resolve("eth9", &all), Ok(None));
        assert_eq!(egress(&all, 4001), (4000, 100));
        assert_eq!(egress(&all, 4000), (4000, 0));

        // 802.1ad is not read by the program; a lost parent is said.
        let qinq = Vlan {
            protocol: 0x88a8,
            ..vlan
        };
        let all = links(vec![
            link(4000, "eth1", None),
            link(7, "eth1.7", Some(qinq)),
        ]);
        assert!(resolve("eth1.7", &all).unwrap_err().contains("0x88a8"));
        let orphan = links(vec![link(7, "eth1.7", Some(vlan))]);
        assert!(resolve("eth1.7", &orphan).unwrap_err().contains("parent"));
    }

    fn config(yaml: &str) -> Config {
        sluice_config::parse(&sluice_config::Source::new("t.yaml", yaml)).expect("config parses")
    }

    const BASE: &str = "
router: { id: 192.0.2.1, asn: 64500 }
interfaces:
  - { name: up0, addresses: [10.0.0.2/30, 2001:db8:ff::2/64] }
  - { name: lan0, addresses: [198.51.100.1/24] }
uplinks:
  - name: isp
    interface: up0
    peer: { address: 10.0.0.1, asn: 64501 }
    DROP
announce: [203.0.113.0/24]
";

    #[test]
    fn martian_checks_follow_the_uplinks_setting() {
        let on = config(&BASE.replace("DROP", "drop_martians: true"));
        let off = config(&BASE.replace("DROP", ""));
        let up0 = &on.interfaces[0];
        let lan0 = &on.interfaces[1];
        assert_eq!(flags(&on, up0), IF_F_MARTIAN);
        assert_eq!(flags(&off, &off.interfaces[0]), 0);
        assert_eq!(flags(&on, lan0) & IF_F_MARTIAN, 0);

        let m = martians(&on, up0);
        let has = |p: &str, drop: bool| {
            let net: ipnet::IpNet = p.parse().unwrap();
            m.contains(&(
                IpPrefix::new(net.network(), net.prefix_len()).unwrap(),
                drop,
            ))
        };
        assert!(has("203.0.113.0/24", true), "announced space: {m:?}");
        assert!(has("10.0.0.0/8", true), "built-in bogon");
        assert!(has("fc00::/7", true));
        assert!(has("10.0.0.0/30", false), "the uplink's subnet is exempt");
        assert!(has("2001:db8:ff::/64", false));

        // A custom bogon list replaces the built-in one.
        let custom = config(&BASE.replace("DROP", "drop_martians: true").replace(
            "announce:",
            "policies: { bogons: [192.0.2.0/24] }\nannounce:",
        ));
        let m = martians(&custom, &custom.interfaces[0]);
        assert_eq!(m.iter().filter(|(_, d)| *d).count(), 2, "{m:?}");
    }
}
