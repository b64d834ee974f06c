//! Who the router is and what it owns: router id, ASNs, ECMP width,
//! interface names, addresses and subnets.

use std::collections::HashMap;
use std::net::IpAddr;

use super::*;
use crate::at::Pos;

/// ASNs no speaker may use: 0 (RFC 7607), AS_TRANS (RFC 6793), 65535 and
/// 4294967295 (RFC 7300).
pub(super) fn asn_is_reserved(asn: u32) -> bool {
    matches!(asn, 0 | 23456 | 65535 | u32::MAX)
}

pub(super) fn check(config: &Config, out: &mut Vec<Finding>) {
    let router = &config.router;
    let id = router.id.value;
    if id.is_unspecified() || id.is_broadcast() || id.is_multicast() || id.is_loopback() {
        out.push(
            ROUTER_ID
                .at(
                    router.id.pos,
                    format!("router id {id} cannot identify a BGP speaker"),
                )
                .help(
                    "use one of the router's own unicast IPv4 addresses, e.g. a loopback address",
                ),
        );
    }
    if asn_is_reserved(router.asn.value) {
        out.push(ASN_RESERVED.at(
            router.asn.pos,
            format!("AS{} is reserved", router.asn.value),
        ));
    }
    let ecmp = router.ecmp.value;
    if !(1..=64).contains(&ecmp) {
        out.push(
            ECMP_RANGE
                .at(
                    router.ecmp.pos,
                    format!("ecmp {ecmp} is out of range 1..=64"),
                )
                .help("1 turns ECMP off"),
        );
    }

    duplicate_names(
        config
            .interfaces
            .iter()
            .map(|i| (i.name.value.as_str(), i.name.pos)),
        "interface",
        out,
    );
    duplicate_names(
        config
            .uplinks
            .iter()
            .map(|u| (u.name.value.as_str(), u.name.pos)),
        "uplink",
        out,
    );

    // Our own addresses, and subnets that must not overlap.
    let mut seen: HashMap<IpAddr, Pos> = HashMap::new();
    let addresses: Vec<_> = config
        .interfaces
        .iter()
        .flat_map(|i| i.addresses.iter().map(move |a| (i.name.value.as_str(), a)))
        .collect();
    for (iface, addr) in &addresses {
        if let Some(first) = seen.insert(addr.addr(), addr.pos) {
            out.push(DUPLICATE_ADDRESS.at(
                addr.pos,
                format!(
                    "address {} on {iface} is already configured at line {}",
                    addr.addr(),
                    first.line
                ),
            ));
        }
    }
    for (i, (iface_a, a)) in addresses.iter().enumerate() {
        for (iface_b, b) in &addresses[..i] {
            let (na, nb) = (a.subnet(), b.subnet());
            if a.addr() != b.addr() && (na.contains(&nb) || nb.contains(&na)) {
                out.push(INTERFACE_OVERLAP.at(
                    a.pos,
                    format!(
                        "subnet {na} of {iface_a} overlaps {nb} of {iface_b} (line {})",
                        b.pos.line
                    ),
                ));
            }
        }
    }
}

/// One finding per repeated name, pointing at the repeat.
fn duplicate_names<'a>(
    names: impl Iterator<Item = (&'a str, Pos)>,
    what: &str,
    out: &mut Vec<Finding>,
) {
    let mut seen: HashMap<&str, Pos> = HashMap::new();
    for (name, pos) in names {
        if let Some(first) = seen.insert(name, pos) {
            out.push(DUPLICATE_NAME.at(
                pos,
                format!("{what} `{name}` is already defined at line {}", first.line),
            ));
        }
    }
}
