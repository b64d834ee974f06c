//! Link, neighbour and address change events: a non-blocking socket
//! subscribed to RTNLGRP_LINK, RTNLGRP_NEIGH (IPv4 and IPv6 neighbours
//! share it) and RTNLGRP_IPV4_IFADDR/RTNLGRP_IPV6_IFADDR (one group per
//! family), and the sans-IO translation of its messages into [`Event`]s.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use crate::addr::{self, Address};
use crate::codec::{
    DecodeError, Message, RTM_DELADDR, RTM_DELLINK, RTM_DELNEIGH, RTM_NEWADDR, RTM_NEWLINK,
    RTM_NEWNEIGH, messages,
};
use crate::link::{self, Link};
use crate::neigh::{self, Neighbour};
use crate::socket;

const RTNLGRP_LINK: libc::c_int = 1;
const RTNLGRP_NEIGH: libc::c_int = 3;
const RTNLGRP_IPV4_IFADDR: libc::c_int = 5;
const RTNLGRP_IPV6_IFADDR: libc::c_int = 9;

/// Datagrams read per [`EventSocket::try_recv_events`] call, so one call
/// cannot run for ever under an event storm.
const MAX_DATAGRAMS_PER_CALL: usize = 256;

/// A change the kernel announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A link appeared or changed (state, MTU, MAC, name...): its new state.
    Link(Link),
    /// A link was deleted (or moved to another namespace).
    LinkGone(u32),
    /// A neighbour entry appeared or changed; includes transitions to
    /// FAILED or INCOMPLETE, see [`Neighbour::is_usable`].
    Neighbour(Neighbour),
    /// A neighbour entry was deleted (garbage-collected, flushed, or its
    /// link went away).
    NeighbourGone {
        /// Interface of the entry.
        ifindex: u32,
        /// Its IP address.
        addr: IpAddr,
    },
    /// An address was added or changed (IPv6 announces it again when its
    /// flags or lifetimes change, e.g. at the end of DAD).
    Address(Address),
    /// An address was deleted: also when its link went away, every IPv6
    /// address of a link going down (unless `keep_addr_on_down`), and the
    /// secondaries of a deleted primary IPv4 address (unless promoted).
    AddressGone(Address),
    /// The socket's receive queue overflowed and events were lost: re-read
    /// the full state with [`crate::Netlink::links`],
    /// [`crate::Netlink::neighbours`] and [`crate::Netlink::addresses`].
    Overrun,
}

/// The event a multicast message means, if any.
pub(crate) fn parse_event(msg: &Message<'_>) -> Result<Option<Event>, DecodeError> {
    Ok(match msg.kind {
        RTM_NEWLINK => Some(Event::Link(link::parse(msg.payload)?)),
        RTM_DELLINK => Some(Event::LinkGone(link::parse_ifindex(msg.payload)?)),
        RTM_NEWNEIGH => neigh::parse(msg.payload)?.map(Event::Neighbour),
        RTM_DELNEIGH => neigh::parse(msg.payload)?.map(|n| Event::NeighbourGone {
            ifindex: n.ifindex,
            addr: n.addr,
        }),
        RTM_NEWADDR => addr::parse(msg.payload)?.map(Event::Address),
        RTM_DELADDR => addr::parse(msg.payload)?.map(Event::AddressGone),
        _ => None,
    })
}

/// A subscription to link, neighbour and address events of the network
/// namespace the socket was created in.
///
/// Non-blocking. To follow state without gaps, create the subscription
/// first, then dump (`links()`, `neighbours()`, `addresses()`), then apply
/// events; an event may repeat what the dump already showed.
///
/// With tokio, wrap it in `AsyncFd` and call [`EventSocket::try_recv_events`]
/// inside `try_io`: it returns `WouldBlock` when nothing was queued, which
/// clears the readiness.
#[derive(Debug)]
pub struct EventSocket {
    fd: OwnedFd,
    rx: Vec<u8>,
}

impl EventSocket {
    /// Subscribes to RTNLGRP_LINK, RTNLGRP_NEIGH, RTNLGRP_IPV4_IFADDR and
    /// RTNLGRP_IPV6_IFADDR in the calling thread's network namespace. The
    /// receive buffer is raised to 8 MiB (16 MiB accounted) where the
    /// caller may.
    pub fn new() -> io::Result<EventSocket> {
        let groups = [
            RTNLGRP_LINK,
            RTNLGRP_NEIGH,
            RTNLGRP_IPV4_IFADDR,
            RTNLGRP_IPV6_IFADDR,
        ];
        Ok(EventSocket {
            fd: socket::event_socket(&groups)?,
            rx: vec![0; socket::EVENT_RX_BUF],
        })
    }

    /// Reads the queued events without waiting: `Ok` with at least one
    /// event, or `Err` of kind `WouldBlock` if nothing was queued. A lost
    /// batch of events (ENOBUFS) shows up as [`Event::Overrun`]. Messages
    /// that do not parse are an `InvalidData` error (the rest of that
    /// datagram is lost; later calls continue).
    pub fn try_recv_events(&mut self) -> io::Result<Vec<Event>> {
        let mut events = Vec::new();
        for _ in 0..MAX_DATAGRAMS_PER_CALL {
            let n = match socket::try_recv(&self.fd, &mut self.rx) {
                Ok(Some(n)) => n,
                Ok(None) => break,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    events.push(Event::Overrun);
                    continue;
                }
                Err(e) => return Err(e),
            };
            for msg in messages(&self.rx[..n]) {
                events.extend(parse_event(&msg?)?);
            }
        }
        if events.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(events)
    }
}

impl AsFd for EventSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for EventSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::MessageWriter;

    fn one(kind: u16, payload: &[u8]) -> Option<Event> {
        let mut buf = Vec::new();
        MessageWriter::new(&mut buf, kind, 0, 0)
            .bytes(payload)
            .finish();
        let msg = messages(&buf).next().unwrap().unwrap();
        parse_event(&msg).unwrap()
    }

    #[test]
    fn link_gone_and_neighbour_gone() {
        let ifinfomsg = [0u8, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(one(RTM_DELLINK, &ifinfomsg), Some(Event::LinkGone(9)));
        let ndmsg = [
            &[2u8, 0, 0, 0, 4, 0, 0, 0, 0x20, 0, 0, 1][..],
            &[8, 0, 1, 0, 10, 0, 0, 1],
        ]
        .concat();
        assert_eq!(
            one(RTM_DELNEIGH, &ndmsg),
            Some(Event::NeighbourGone {
                ifindex: 4,
                addr: "10.0.0.1".parse().unwrap()
            })
        );
        assert!(matches!(one(RTM_NEWNEIGH, &ndmsg), Some(Event::Neighbour(n)) if n.ifindex == 4));
        assert_eq!(one(24, &[0; 12]), None, "routes are not subscribed events");
    }

    #[test]
    fn address_and_address_gone() {
        let v4 = [
            &[2u8, 24, 0x80, 0, 5, 0, 0, 0][..],
            &[8, 0, 1, 0, 10, 9, 0, 1],
            &[8, 0, 2, 0, 10, 9, 0, 1],
        ]
        .concat();
        let a = Address {
            ifindex: 5,
            addr: "10.9.0.1".parse().unwrap(),
            prefix_len: 24,
        };
        assert_eq!(one(RTM_NEWADDR, &v4), Some(Event::Address(a)));
        assert_eq!(one(RTM_DELADDR, &v4), Some(Event::AddressGone(a)));
        let v6 = [
            &[10u8, 64, 0x82, 0, 5, 0, 0, 0][..],
            &[20, 0, 1, 0],
            &"fd09::1".parse::<std::net::Ipv6Addr>().unwrap().octets(),
        ]
        .concat();
        assert_eq!(
            one(RTM_DELADDR, &v6),
            Some(Event::AddressGone(Address {
                ifindex: 5,
                addr: "fd09::1".parse().unwrap(),
                prefix_len: 64,
            }))
        );
        let mctp = [45u8, 0, 0, 0, 5, 0, 0, 0];
        assert_eq!(one(RTM_NEWADDR, &mctp), None, "only IPv4 and IPv6");
    }
}
