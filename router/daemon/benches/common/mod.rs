//! The site the daemon's benchmarks run on: two uplinks, iap-a preferred,
//! and the routes they send.

use std::net::{IpAddr, Ipv4Addr};

use sluice_rib::{PathAttrs, PeerInfo, Rib};
use sluice_wire::update::AS_SEQUENCE;

pub const CONFIG: &str = "\
router: { id: 192.0.2.1, asn: 64500, ecmp: 1 }
interfaces:
  - { name: eth1, addresses: [203.0.113.2/30] }
  - { name: eth2, addresses: [203.0.113.6/30] }
uplinks:
  - { name: iap-a, interface: eth1, local_pref: 200, peer: { address: 203.0.113.1, asn: 65001 }, import: full-table }
  - { name: iap-b, interface: eth2, peer: { address: 203.0.113.5, asn: 65002 }, import: full-table }
";

/// What one uplink sends.
#[derive(Clone, Copy, Debug)]
pub struct Sends {
    /// The table: `prefixes` /24s from 20.0.0.0.
    pub table: bool,
    pub default: bool,
}

/// The routes of both uplinks (iap-a, iap-b). Each uplink's paths share
/// one attribute set, with communities `ASN:c` for each `c`.
pub fn rib(prefixes: u32, sends: [Sends; 2], communities: &[u32]) -> Rib {
    let mut rib = Rib::default();
    let uplinks = [([203, 0, 113, 1], 65001u32), ([203, 0, 113, 5], 65002)];
    for (i, ((addr, asn), what)) in uplinks.into_iter().zip(sends).enumerate() {
        let peer = rib.add_peer(PeerInfo {
            name: format!("iap-{i}"),
            address: IpAddr::from(addr),
            asn,
            router_id: Ipv4Addr::from(addr),
            ebgp: true,
            uplink: Some(i),
        });
        let mut as_path = vec![AS_SEQUENCE, 1];
        as_path.extend(asn.to_be_bytes());
        let attrs = rib.attrs.intern(PathAttrs {
            as_path,
            local_pref: Some(if i == 0 { 200 } else { 100 }),
            next_hop: Some(IpAddr::from(addr)),
            communities: communities.iter().map(|c| (asn << 16) | c).collect(),
            ..Default::default()
        });
        if what.default {
            rib.attrs.retain(attrs);
            rib.announce(peer, "0.0.0.0/0".parse().unwrap(), attrs);
        }
        for k in 0..if what.table { prefixes } else { 0 } {
            let net = Ipv4Addr::from(0x1400_0000 + (k << 8));
            rib.attrs.retain(attrs);
            rib.announce(peer, format!("{net}/24").parse().unwrap(), attrs);
        }
        rib.attrs.release(attrs);
    }
    rib
}
