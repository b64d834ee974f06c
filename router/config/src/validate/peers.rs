//! BGP sessions: uplinks (the access points) and internal neighbours.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;

use super::identity::asn_is_reserved;
use super::*;
use crate::at::{At, Pos};

pub(super) fn check(config: &Config, out: &mut Vec<Finding>) {
    let own: Vec<IpAddr> = config
        .interfaces
        .iter()
        .flat_map(|i| i.addresses.iter().map(|a| a.addr()))
        .collect();
    let all_subnets: Vec<IpNet> = config
        .interfaces
        .iter()
        .flat_map(|i| i.addresses.iter().map(|a| a.subnet()))
        .collect();
    let mut peer_addresses: HashMap<IpAddr, Pos> = HashMap::new();
    let mut session = |address: &At<IpAddr>, asn: &At<u32>, out: &mut Vec<Finding>| {
        if asn_is_reserved(asn.value) {
            out.push(ASN_RESERVED.at(asn.pos, format!("AS{} is reserved", asn.value)));
        }
        if own.contains(&address.value) {
            out.push(PEER_IS_LOCAL.at(
                address.pos,
                format!("{} is an address of this router", address.value),
            ));
        }
        if let Some(first) = peer_addresses.insert(address.value, address.pos) {
            out.push(DUPLICATE_ADDRESS.at(
                address.pos,
                format!(
                    "peer {} is already configured at line {}",
                    address.value, first.line
                ),
            ));
        }
    };

    let mut by_interface: HashMap<&str, &At<String>> = HashMap::new();
    for uplink in &config.uplinks {
        let name = uplink.name.as_str();
        let iface = config.interface(&uplink.interface);
        if iface.is_none() {
            let known: Vec<&str> = config.interfaces.iter().map(|i| i.name.as_str()).collect();
            out.push(
                UPLINK_UNKNOWN_INTERFACE
                    .at(uplink.interface.pos, format!("uplink `{name}` uses interface `{}`, which `interfaces` does not declare", uplink.interface.value))
                    .help(format!("declared interfaces: {}", if known.is_empty() { "none".to_string() } else { known.join(", ") }))
                    .uplink(name),
            );
        }
        if let Some(other) = by_interface.insert(uplink.interface.as_str(), &uplink.name) {
            out.push(
                UPLINK_SHARED_INTERFACE
                    .at(uplink.interface.pos, format!("uplinks `{}` and `{name}` both use interface `{}`", other.value, uplink.interface.value))
                    .help("each access point should have its own interface; waive this rule with a reason if it is intended")
                    .uplink(name),
            );
        }
        if uplink.weight.value == 0 {
            out.push(
                UPLINK_WEIGHT
                    .at(uplink.weight.pos, format!("uplink `{name}` has weight 0"))
                    .help("to take it out of service, drain it")
                    .uplink(name),
            );
        }
        match &uplink.max_prefix {
            Some(max) if max.limit == 0 => out.push(
                MAX_PREFIX_ZERO
                    .at(max.pos, format!("uplink `{name}` allows 0 prefixes"))
                    .uplink(name),
            ),
            Some(_) => {}
            None => out.push(
                MAX_PREFIX_MISSING
                    .at(
                        uplink.name.pos,
                        format!("uplink `{name}` has no `max_prefix`"),
                    )
                    .help(MAX_PREFIX_HELP)
                    .uplink(name),
            ),
        }
        let subnets: Vec<IpNet> = iface
            .map(|i| i.addresses.iter().map(|a| a.subnet()).collect())
            .unwrap_or_default();
        for peer in &uplink.peer.0 {
            session(&peer.address, &peer.asn, out);
            let ebgp = peer.asn.value != config.router.asn.value;
            if ebgp
                && peer.multihop.is_none()
                && iface.is_some()
                && !subnets.iter().any(|n| n.contains(&peer.address.value))
            {
                out.push(
                    PEER_OUTSIDE_SUBNET
                        .at(
                            peer.address.pos,
                            format!(
                                "peer {} of uplink `{name}` is outside the subnets of {} ({})",
                                peer.address.value,
                                uplink.interface.value,
                                list(&subnets)
                            ),
                        )
                        .help(
                            "set `multihop: N` on the peer if it is reached through another router",
                        )
                        .uplink(name),
                );
            }
            if ebgp && uplink.import.is_none() {
                out.push(
                    EBGP_NO_IMPORT
                        .at(uplink.name.pos, format!("uplink `{name}` has no `import`: RFC 8212 accepts nothing from an eBGP peer without a policy"))
                        .help("add `import: full-table`, `import: default-only` or the name of a route policy")
                        .uplink(name),
                );
            }
        }
    }

    for n in &config.neighbors {
        session(&n.address, &n.asn, out);
        match &n.max_prefix {
            Some(max) if max.limit == 0 => out.push(MAX_PREFIX_ZERO.at(
                max.pos,
                format!("neighbour {} allows 0 prefixes", n.address.value),
            )),
            Some(_) => {}
            None => out.push(
                MAX_PREFIX_MISSING
                    .at(
                        n.address.pos,
                        format!("neighbour {} has no `max_prefix`", n.address.value),
                    )
                    .help(MAX_PREFIX_HELP),
            ),
        }
        let ebgp = n.asn.value != config.router.asn.value;
        if ebgp && n.multihop.is_none() && !all_subnets.iter().any(|s| s.contains(&n.address.value))
        {
            out.push(
                PEER_OUTSIDE_SUBNET
                    .at(
                        n.address.pos,
                        format!(
                            "eBGP neighbour {} is on none of the interfaces' subnets ({})",
                            n.address.value,
                            list(&all_subnets)
                        ),
                    )
                    .help("set `multihop: N` if it is reached through another router"),
            );
        }
        if ebgp && n.import.is_none() {
            out.push(
                EBGP_NO_IMPORT
                    .at(
                        n.address.pos,
                        format!(
                            "eBGP neighbour {} has no `import`: RFC 8212 accepts nothing from it",
                            n.address.value
                        ),
                    )
                    .help("add `import:` with a route policy (or full-table)"),
            );
        }
    }

    for route in &config.static_routes {
        if !all_subnets.iter().any(|s| s.contains(&route.via.value)) {
            out.push(
                STATIC_NEXTHOP_OFFLINK
                    .at(
                        route.via.pos,
                        format!(
                            "next hop {} of {} is on none of the interfaces' subnets",
                            route.via.value, route.prefix.value
                        ),
                    )
                    .help("a static route's next hop must be directly connected"),
            );
        }
    }
}

const MAX_PREFIX_HELP: &str = "set `max_prefix: N` (or `{ limit: N, action: warn }`) a little above what the peer should send: a full table ~1,200,000, a default 2, an internal neighbour what it originates";

fn list(nets: &[IpNet]) -> String {
    if nets.is_empty() {
        return "it has no addresses".into();
    }
    nets.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
