//! What two speakers agree on in their OPENs (RFC 4271 §6.2, RFC 5492).
//! Pure: the session task calls it with both OPENs.

use std::net::Ipv4Addr;
use std::time::Duration;

use sluice_wire::iana::{AFI_IPV4, AFI_IPV6, SAFI_UNICAST, err};
use sluice_wire::open::{Capabilities, GracefulRestart, Open};
use sluice_wire::{Afi, Notify};

/// Our side of a session, from the config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Local {
    pub asn: u32,
    pub router_id: Ipv4Addr,
    /// The ASN the peer must announce.
    pub peer_asn: u32,
    pub hold_time: u16,
    /// Graceful restart: the restart time we ask the peer to wait, and
    /// whether we are coming back from a restart with forwarding kept.
    pub graceful_restart: Option<(u16, bool)>,
}

/// The agreed session parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    pub peer_asn: u32,
    pub peer_router_id: Ipv4Addr,
    /// 0 means no keepalives and no hold timer (RFC 4271 §4.2).
    pub hold_time: u16,
    pub families: Vec<Afi>,
    pub four_octet_as: bool,
    pub route_refresh: bool,
    pub extended_message: bool,
    /// The peer's graceful restart capability, if it sent one.
    pub peer_graceful_restart: Option<GracefulRestart>,
}

impl Negotiated {
    pub fn keepalive_interval(&self) -> Option<Duration> {
        (self.hold_time > 0).then(|| Duration::from_secs(u64::from(self.hold_time / 3).max(1)))
    }
    pub fn hold(&self) -> Option<Duration> {
        (self.hold_time > 0).then(|| Duration::from_secs(u64::from(self.hold_time)))
    }
    pub fn max_message(&self) -> usize {
        if self.extended_message {
            sluice_wire::iana::MAX_EXTENDED_MESSAGE
        } else {
            sluice_wire::iana::MAX_MESSAGE
        }
    }
}

impl Local {
    pub fn open(&self) -> Open {
        Open {
            asn: self.asn,
            hold_time: self.hold_time,
            router_id: self.router_id,
            caps: Capabilities {
                multiprotocol: vec![(AFI_IPV4, SAFI_UNICAST), (AFI_IPV6, SAFI_UNICAST)],
                route_refresh: true,
                enhanced_route_refresh: false,
                extended_message: true,
                four_octet_as: Some(self.asn),
                graceful_restart: self
                    .graceful_restart
                    .map(|(time, restarting)| GracefulRestart {
                        restarting,
                        notification: false,
                        time,
                        families: vec![
                            (AFI_IPV4, SAFI_UNICAST, restarting),
                            (AFI_IPV6, SAFI_UNICAST, restarting),
                        ],
                    }),
                unknown: vec![],
            },
        }
    }

    /// Checks the peer's OPEN against ours; the error is the NOTIFICATION to send.
    pub fn accept(&self, peer: &Open) -> Result<Negotiated, Notify> {
        if peer.asn != self.peer_asn {
            let as2 = u16::try_from(peer.asn).unwrap_or(sluice_wire::iana::AS_TRANS);
            return Err(Notify::new(
                err::OPEN,
                err::OPEN_BAD_PEER_AS,
                as2.to_be_bytes(),
            ));
        }
        if peer.router_id == self.router_id && peer.asn == self.asn {
            return Err(Notify::new(err::OPEN, err::OPEN_BAD_BGP_ID, []));
        }
        let c = &peer.caps;
        // Without the multiprotocol capability a peer speaks IPv4 unicast only (RFC 4760 §8).
        let families = if c.multiprotocol.is_empty() {
            vec![Afi::Ipv4]
        } else {
            [(AFI_IPV4, Afi::Ipv4), (AFI_IPV6, Afi::Ipv6)]
                .into_iter()
                .filter(|(code, _)| c.multiprotocol.contains(&(*code, SAFI_UNICAST)))
                .map(|(_, afi)| afi)
                .collect()
        };
        Ok(Negotiated {
            peer_asn: peer.asn,
            peer_router_id: peer.router_id,
            hold_time: self.hold_time.min(peer.hold_time),
            families,
            four_octet_as: c.four_octet_as.is_some(),
            route_refresh: c.route_refresh || c.enhanced_route_refresh,
            extended_message: c.extended_message,
            peer_graceful_restart: c.graceful_restart.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> Local {
        Local {
            asn: 64500,
            router_id: Ipv4Addr::new(192, 0, 2, 1),
            peer_asn: 65001,
            hold_time: 90,
            graceful_restart: Some((120, false)),
        }
    }

    #[test]
    fn agrees_on_the_smaller_hold_time_and_common_families() {
        let mut peer = Local {
            asn: 65001,
            router_id: Ipv4Addr::new(192, 0, 2, 2),
            peer_asn: 64500,
            hold_time: 9,
            graceful_restart: None,
        }
        .open();
        peer.caps.multiprotocol.retain(|(afi, _)| *afi == AFI_IPV4);
        let n = local().accept(&peer).unwrap();
        assert_eq!(n.hold_time, 9);
        assert_eq!(n.keepalive_interval(), Some(Duration::from_secs(3)));
        assert_eq!(n.families, [Afi::Ipv4]);
        assert!(n.four_octet_as && n.route_refresh && n.extended_message);
        assert_eq!(n.peer_graceful_restart, None);
    }

    #[test]
    fn wrong_asn_is_an_open_error() {
        let peer = Local {
            asn: 65009,
            router_id: Ipv4Addr::new(192, 0, 2, 2),
            peer_asn: 64500,
            hold_time: 90,
            graceful_restart: None,
        }
        .open();
        let e = local().accept(&peer).unwrap_err();
        assert_eq!((e.code, e.subcode), (err::OPEN, err::OPEN_BAD_PEER_AS));
    }
}
