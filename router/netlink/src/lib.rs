//! rtnetlink for Sluice's data-plane driver: learn links, addresses and
//! neighbours and follow their changes (so the XDP next-hop table gets
//! MACs and a link going down removes its next hops at once), and program
//! the kernel FIB with Sluice's routes through nexthop objects.
//!
//! # Layout
//!
//! A sans-IO core — `codec` (netlink framing, acks, extended-ack
//! errors) and one module per message family (`link`, `addr`, `neigh`,
//! `nexthop`, `route`): pure functions from values to bytes and back,
//! unit-tested with hand-checked byte vectors and dumps captured from a
//! 6.18 kernel (tests/fixtures, refreshed by the ignored test
//! `capture_fixtures`) — and a thin I/O edge: `sys` (the only `unsafe`,
//! libc socket calls), `socket` (request/ack, dump, pipelined batches),
//! [`Netlink`] and [`EventSocket`]. No tokio: [`EventSocket`] is
//! non-blocking and exposes its fd for `AsyncFd`; [`Netlink`] calls block
//! briefly.
//!
//! The messages are hand-rolled rather than taken from
//! netlink-packet-route: its newest release (0.34) has NDA_FLAGS_EXT and
//! RTA_NH_ID but no nexthop objects (RTM_NEWNEXTHOP, `struct nhmsg`,
//! NHA_GROUP), and Sluice needs only a handful of messages.
//!
//! # API
//!
//! - [`Netlink::links`] → [`Link`] (ifindex, name, MAC, MTU, `up`: admin
//!   up **and** operstate UP, or UNKNOWN with carrier — see [`Link::up`];
//!   `vlan`: parent ifindex, id and tag protocol of a VLAN device, [`Vlan`]).
//! - [`Netlink::addresses`] → [`Address`] (ifindex, own address — not
//!   the peer of a point-to-point link — and prefix length), IPv4 and IPv6.
//! - [`Netlink::neighbours`], [`Netlink::neighbour`] → [`Neighbour`]
//!   (`state` = `NUD_*`, [`Neighbour::is_usable`]).
//! - [`Netlink::add_managed_neighbour`] / [`Netlink::remove_managed_neighbour`]:
//!   `NTF_EXT_MANAGED` entries (Linux 5.16) that the kernel keeps resolved
//!   although XDP-forwarded traffic never confirms them.
//! - [`EventSocket`] → [`Event`]: `Link`, `LinkGone`, `Neighbour`,
//!   `NeighbourGone`, `Address`, `AddressGone`, `Overrun` (lost events:
//!   dump again).
//! - [`Netlink::set_nexthop`], [`Netlink::set_nexthop_group`] (weights
//!   1..=65535; the kernel stores weight − 1), [`Netlink::delete_nexthop`],
//!   [`Netlink::own_nexthops`].
//! - [`Netlink::apply_routes`] with [`RouteChange`]s of [`Route`]s
//!   (prefix → [`RouteTarget::Nexthop`] or [`RouteTarget::Blackhole`]),
//!   pipelined; [`Netlink::own_routes`]; [`Netlink::flush_own`].
//!
//! # Ownership
//!
//! Sluice's routes and nexthop objects carry [`ROUTE_PROTOCOL`] (201) and
//! its routes [`ROUTE_METRIC`] (20), in table main. Sluice never changes or
//! deletes a route or nexthop object of another protocol: deletes match
//! protocol and metric in the kernel, nexthop writes and deletes check the
//! owner first, dumps are filtered to our protocol.
//!
//! # Namespaces
//!
//! A netlink socket belongs to the network namespace of the thread that
//! created it, for its whole life. To act in another namespace, create the
//! [`Netlink`] or [`EventSocket`] on a thread that has entered it
//! (setns(2)); the value can then be used from any thread.
//!
//! # Kernel behaviour worth knowing
//!
//! - Deleting a nexthop object deletes every route using it.
//! - A link going down — admin down **or carrier loss** — deletes the
//!   nexthop objects on it: they leave their groups, a group left empty is
//!   deleted, and routes via a deleted object go with it. After
//!   [`Event::Link`] with `up` again, set the nexthops (and re-apply the
//!   routes that used a deleted one) again. Deleting a link also deletes
//!   its neighbours.
//! - A link going down keeps its IPv4 addresses but loses its IPv6 ones,
//!   configured ones included (unless sysctl `keep_addr_on_down`); when it
//!   comes up the kernel restores only its own (link-local, SLAAC).
//! - Deleting many IPv4 routes in ascending prefix order costs the kernel
//!   about 6× the CPU of descending order at 1M routes (fib_trie);
//!   [`Netlink::flush_own`] deletes in descending order.
//! - A gateway nexthop needs its gateway reachable through its interface
//!   (a connected route) when it is created.
//! - IPv6 routes via nexthop objects need IPv6 (or group-of-IPv6) nexthops.

mod addr;
mod codec;
mod events;
mod handle;
mod link;
mod neigh;
mod nexthop;
mod route;
mod socket;
mod sys;

pub use addr::Address;
pub use codec::{DecodeError, KernelError, kernel_errno};
pub use events::{Event, EventSocket};
pub use handle::{Flushed, Netlink, RawDump};
pub use link::{
    ETH_P_8021AD, ETH_P_8021Q, IF_OPER_UNKNOWN, IF_OPER_UP, IFF_LOWER_UP, IFF_UP, Link, Vlan, is_up,
};
pub use neigh::{
    NUD_DELAY, NUD_FAILED, NUD_INCOMPLETE, NUD_NOARP, NUD_NONE, NUD_PERMANENT, NUD_PROBE,
    NUD_REACHABLE, NUD_STALE, Neighbour,
};
pub use nexthop::{Nexthop, NexthopKind};
pub use route::{
    Prefix, ROUTE_METRIC, ROUTE_PROTOCOL, Route, RouteChange, RouteTarget, TABLE_MAIN,
};
