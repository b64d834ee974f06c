//! [`Netlink`]: the request handle. Each method encodes with the sans-IO
//! modules and runs one exchange on the request socket.

use std::io;
use std::net::IpAddr;

use crate::addr::{self, Address};
use crate::codec::{
    AF_INET, AF_INET6, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWNEIGH, RTM_NEWNEXTHOP, RTM_NEWROUTE,
    kernel_errno,
};
use crate::link::{self, Link};
use crate::neigh::{self, Neighbour};
use crate::nexthop::{self, Nexthop};
use crate::route::{self, DumpedRoute, Route, RouteChange};
use crate::socket::Socket;

/// What [`Netlink::flush_own`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flushed {
    /// Routes removed.
    pub routes: usize,
    /// Nexthop objects removed (groups and single ones).
    pub nexthops: usize,
}

/// Which raw dump [`Netlink::raw_dump`] takes.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawDump {
    /// RTM_GETLINK.
    Links,
    /// RTM_GETNEIGH.
    Neighbours,
    /// RTM_GETNEXTHOP.
    Nexthops,
    /// RTM_GETROUTE of table main, IPv4, every protocol.
    Routes4,
}

/// A NETLINK_ROUTE request handle in the network namespace of the thread
/// that created it (a netlink socket stays in the namespace it was created
/// in, whichever thread uses it later).
///
/// Calls block until the kernel answered; the kernel answers at once, so
/// in async code call them from a blocking task.
#[derive(Debug)]
pub struct Netlink {
    sock: Socket,
    protocol: u8,
}

impl Netlink {
    /// Opens a handle whose routes and nexthops carry
    /// [`ROUTE_PROTOCOL`](crate::ROUTE_PROTOCOL).
    pub fn new() -> io::Result<Netlink> {
        Netlink::with_protocol(crate::ROUTE_PROTOCOL)
    }

    /// Opens a handle that marks (and only touches) routes and nexthops of
    /// `protocol`. Numbers up to 4 (RTPROT_STATIC) are refused: 0 would
    /// match every route in deletes and dumps, and 1–4 are the kernel's
    /// and the administrator's.
    pub fn with_protocol(protocol: u8) -> io::Result<Netlink> {
        if protocol <= 4 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("route protocol {protocol} is reserved; use one above 4"),
            ));
        }
        Ok(Netlink {
            sock: Socket::open()?,
            protocol,
        })
    }

    /// The protocol number this handle writes and owns.
    pub fn protocol(&self) -> u8 {
        self.protocol
    }

    // ===== links, addresses and neighbours =====

    /// Every link of the namespace.
    pub fn links(&mut self) -> io::Result<Vec<Link>> {
        self.sock.dump(link::encode_dump, |m| {
            (m.kind == RTM_NEWLINK)
                .then(|| link::parse(m.payload))
                .transpose()
        })
    }

    /// Every IPv4 and IPv6 address of the namespace's interfaces
    /// (including tentative IPv6 ones still in DAD).
    pub fn addresses(&mut self) -> io::Result<Vec<Address>> {
        self.sock.dump(addr::encode_dump, |m| {
            if m.kind != RTM_NEWADDR {
                return Ok(None);
            }
            addr::parse(m.payload)
        })
    }

    /// Every IPv4 and IPv6 neighbour entry.
    pub fn neighbours(&mut self) -> io::Result<Vec<Neighbour>> {
        self.sock.dump(neigh::encode_dump, |m| {
            if m.kind != RTM_NEWNEIGH {
                return Ok(None);
            }
            neigh::parse(m.payload)
        })
    }

    /// The entry for `addr` on `ifindex`, if there is one.
    pub fn neighbour(&mut self, ifindex: u32, addr: IpAddr) -> io::Result<Option<Neighbour>> {
        match self.sock.get(|b, s| neigh::encode_get(b, s, ifindex, addr)) {
            Ok(Some((RTM_NEWNEIGH, payload))) => Ok(neigh::parse(&payload)?),
            Ok(_) => Ok(None),
            Err(e) if kernel_errno(&e) == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Makes `addr` on `ifindex` a managed neighbour (`NTF_EXT_MANAGED`,
    /// Linux 5.16): the kernel resolves it now and keeps it resolved
    /// without traffic confirming it, which XDP-forwarded traffic never
    /// does. Creates the entry if missing; an existing entry keeps its MAC
    /// and state. A PERMANENT or NOARP entry (set by an administrator) is
    /// left as it is: it needs no resolution, and making it managed would
    /// drop its permanence.
    pub fn add_managed_neighbour(&mut self, ifindex: u32, addr: IpAddr) -> io::Result<()> {
        if let Some(n) = self.neighbour(ifindex, addr)?
            && (n.is_static() || n.managed)
        {
            return Ok(());
        }
        self.sock
            .request(|b, s| neigh::encode_add_managed(b, s, ifindex, addr))
    }

    /// Undoes [`Netlink::add_managed_neighbour`]: a managed entry with a
    /// MAC becomes a plain STALE entry with that MAC (the kernel reverifies
    /// it when used, or ages it out); one without a MAC is deleted.
    /// Entries that are not managed, and missing ones, are left alone.
    pub fn remove_managed_neighbour(&mut self, ifindex: u32, addr: IpAddr) -> io::Result<()> {
        let Some(n) = self.neighbour(ifindex, addr)? else {
            return Ok(());
        };
        if !n.managed {
            return Ok(());
        }
        match n.mac {
            Some(mac) => self
                .sock
                .request(|b, s| neigh::encode_demote(b, s, ifindex, addr, mac)),
            None => self
                .sock
                .request(|b, s| neigh::encode_delete(b, s, ifindex, addr)),
        }
    }

    // ===== nexthop objects =====

    /// Creates or replaces nexthop `id`: `gateway` through `ifindex`. The
    /// kernel checks that the gateway is reachable on that interface. A
    /// gateway nexthop cannot replace a group or the other way round
    /// (EINVAL). Fails with `AlreadyExists` if `id` belongs to another
    /// protocol.
    pub fn set_nexthop(&mut self, id: u32, gateway: IpAddr, ifindex: u32) -> io::Result<()> {
        self.check_nexthop_owner(id)?;
        let protocol = self.protocol;
        self.sock.request(|b, s| {
            nexthop::encode_set_gateway(b, s, protocol, id, gateway, ifindex);
        })
    }

    /// Creates or replaces multipath group `id` with `members` as (member
    /// id, weight). Weights are 1..=65535 (above 256 needs Linux 6.12);
    /// flows split in proportion. Replacing the members moves every route
    /// using the group at once. Fails with `AlreadyExists` if `id` belongs
    /// to another protocol.
    pub fn set_nexthop_group(&mut self, id: u32, members: &[(u32, u16)]) -> io::Result<()> {
        let mut msg = Vec::new();
        nexthop::encode_set_group(&mut msg, 0, self.protocol, id, members)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.check_nexthop_owner(id)?;
        let protocol = self.protocol;
        self.sock.request(|b, s| {
            nexthop::encode_set_group(b, s, protocol, id, members).expect("checked above");
        })
    }

    /// Deletes nexthop `id` if it is ours; `Ok(false)` if there is none.
    /// The kernel also removes it from groups and deletes every route that
    /// uses it. Fails with `PermissionDenied` for another protocol's object.
    pub fn delete_nexthop(&mut self, id: u32) -> io::Result<bool> {
        match self.nexthop(id)? {
            None => Ok(false),
            Some(nh) if nh.protocol != self.protocol => {
                Err(foreign(io::ErrorKind::PermissionDenied, id, nh.protocol))
            }
            Some(_) => match self.sock.request(|b, s| nexthop::encode_delete(b, s, id)) {
                Ok(()) => Ok(true),
                Err(e) if kernel_errno(&e) == Some(libc::ENOENT) => Ok(false),
                Err(e) => Err(e),
            },
        }
    }

    /// Nexthop `id`, whoever owns it.
    pub fn nexthop(&mut self, id: u32) -> io::Result<Option<Nexthop>> {
        match self.sock.get(|b, s| nexthop::encode_get(b, s, id)) {
            Ok(Some((RTM_NEWNEXTHOP, payload))) => Ok(Some(nexthop::parse(&payload)?)),
            Ok(_) => Ok(None),
            Err(e) if kernel_errno(&e) == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every nexthop object of our protocol.
    pub fn own_nexthops(&mut self) -> io::Result<Vec<Nexthop>> {
        let protocol = self.protocol;
        let mut all = self.all_nexthops()?;
        all.retain(|n| n.protocol == protocol);
        Ok(all)
    }

    fn all_nexthops(&mut self) -> io::Result<Vec<Nexthop>> {
        self.sock.dump(nexthop::encode_dump, |m| {
            (m.kind == RTM_NEWNEXTHOP)
                .then(|| nexthop::parse(m.payload))
                .transpose()
        })
    }

    fn check_nexthop_owner(&mut self, id: u32) -> io::Result<()> {
        match self.nexthop(id)? {
            Some(nh) if nh.protocol != self.protocol => {
                Err(foreign(io::ErrorKind::AlreadyExists, id, nh.protocol))
            }
            _ => Ok(()),
        }
    }

    // ===== routes =====

    /// Applies `changes` in order, pipelined: many messages per `sendmsg`,
    /// one ack per round of up to a few thousand, errors matched to their
    /// change by sequence number. A refused change does not stop the
    /// others. Returns the refused changes with the kernel's error, e.g.
    /// EINVAL "Nexthop id does not exist", EINVAL "Invalid prefix for given
    /// prefix length", EINVAL "IPv6 routes can not use an IPv4 nexthop",
    /// or ESRCH for deleting a route that is not there.
    ///
    /// Order matters to the kernel's cost: deleting 1M IPv4 routes in
    /// ascending prefix order took 27 s of CPU on 6.18, in descending order
    /// 4.4 s (adding is fast either way). Sort big withdrawals descending. `Err` only if the socket itself failed; changes
    /// before the failing round are applied.
    pub fn apply_routes(
        &mut self,
        changes: &[RouteChange],
    ) -> io::Result<Vec<(RouteChange, io::Error)>> {
        let protocol = self.protocol;
        let mut failed = Vec::new();
        self.sock.batch(
            changes.len(),
            |buf, i, seq, ack| route::encode_change(buf, seq, protocol, &changes[i], ack),
            |i, e| failed.push((changes[i], e)),
        )?;
        Ok(failed)
    }

    /// Our routes in table main, IPv4 then IPv6. Routes of our protocol
    /// that are neither via a nexthop object nor blackholes (someone else
    /// using the number) are left out here but removed by `flush_own`.
    pub fn own_routes(&mut self) -> io::Result<Vec<Route>> {
        Ok(self
            .dump_own_routes()?
            .iter()
            .filter_map(DumpedRoute::route)
            .collect())
    }

    /// How many routes of ours table main holds, IPv4 and IPv6: a dump
    /// that keeps none of them (a vector of `()` counts without
    /// allocating).
    pub fn count_own_routes(&mut self) -> io::Result<usize> {
        Ok(self.dump_own(|_| ())?.len())
    }

    fn dump_own_routes(&mut self) -> io::Result<Vec<DumpedRoute>> {
        self.dump_own(|r| r)
    }

    /// Our routes in table main, IPv4 then IPv6, each as `keep` makes it.
    fn dump_own<T>(&mut self, mut keep: impl FnMut(DumpedRoute) -> T) -> io::Result<Vec<T>> {
        let protocol = self.protocol;
        let mut out = Vec::new();
        for family in [AF_INET, AF_INET6] {
            out.extend(self.sock.dump(
                |b, s| route::encode_dump(b, s, family, protocol),
                |m| {
                    if m.kind != RTM_NEWROUTE {
                        return Ok(None);
                    }
                    // The kernel filters already; this guards older kernels.
                    Ok(route::parse(m.payload)?
                        .filter(|r| {
                            r.protocol == protocol && r.table == u32::from(route::TABLE_MAIN)
                        })
                        .map(&mut keep))
                },
            )?);
        }
        Ok(out)
    }

    /// Removes every route (table main) and nexthop object of our
    /// protocol, and nothing else: routes first, then groups, then single
    /// nexthops. Routes of other protocols that use one of our nexthop
    /// objects go with it (the kernel's rule).
    pub fn flush_own(&mut self) -> io::Result<Flushed> {
        let mut routes = self.dump_own_routes()?;
        // Dumps come in ascending prefix order; the IPv4 trie removes routes
        // far faster in descending order (see `apply_routes`).
        routes.reverse();
        let protocol = self.protocol;
        let mut errors = Vec::new();
        self.sock.batch(
            routes.len(),
            |buf, i, seq, ack| {
                let r = &routes[i];
                route::encode_delete(buf, seq, protocol, r.prefix, r.metric, ack);
            },
            |i, e| {
                // Gone meanwhile is fine.
                if kernel_errno(&e) != Some(libc::ESRCH) {
                    errors.push(format!(
                        "{:?}/{}: {e}",
                        routes[i].prefix.0, routes[i].prefix.1
                    ));
                }
            },
        )?;
        let mut nexthops = self.own_nexthops()?;
        nexthops.sort_by_key(|n| !matches!(n.kind, nexthop::NexthopKind::Group(_)));
        let mut removed = 0;
        for nh in &nexthops {
            match self
                .sock
                .request(|b, s| nexthop::encode_delete(b, s, nh.id))
            {
                Ok(()) => removed += 1,
                Err(e) if kernel_errno(&e) == Some(libc::ENOENT) => {}
                Err(e) => errors.push(format!("nexthop {}: {e}", nh.id)),
            }
        }
        if !errors.is_empty() {
            return Err(io::Error::other(format!(
                "flush left {} objects: {}",
                errors.len(),
                errors.join("; ")
            )));
        }
        Ok(Flushed {
            routes: routes.len(),
            nexthops: removed,
        })
    }

    /// The raw bytes of a dump (every datagram concatenated), for
    /// diagnostics and test fixtures.
    #[doc(hidden)]
    pub fn raw_dump(&mut self, what: RawDump) -> io::Result<Vec<u8>> {
        let encode = |b: &mut Vec<u8>, s: u32| match what {
            RawDump::Links => link::encode_dump(b, s),
            RawDump::Neighbours => neigh::encode_dump(b, s),
            RawDump::Nexthops => nexthop::encode_dump(b, s),
            RawDump::Routes4 => route::encode_dump(b, s, AF_INET, 0),
        };
        let messages = self.sock.dump(encode, |m| Ok(Some(raw_message(m))))?;
        Ok(messages.concat())
    }
}

/// A parsed message back in wire form (header and payload, padded).
fn raw_message(m: &crate::codec::Message<'_>) -> Vec<u8> {
    let mut buf = Vec::new();
    crate::codec::MessageWriter::new(&mut buf, m.kind, m.flags, 0)
        .bytes(m.payload)
        .finish();
    buf
}

fn foreign(kind: io::ErrorKind, id: u32, protocol: u8) -> io::Error {
    io::Error::new(
        kind,
        format!("nexthop {id} belongs to protocol {protocol}, not ours"),
    )
}
