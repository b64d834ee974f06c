//! Routes: `struct rtmsg` and its RTA_* attributes, rtnetlink(7), for
//! routes through nexthop objects (RTA_NH_ID, Linux 5.3) and blackholes.
//! Sans-IO.
//!
//! Every route Sluice writes is in table main with [`ROUTE_PROTOCOL`] as
//! `rtm_protocol` and [`ROUTE_METRIC`] as priority. Deletes carry the
//! protocol and metric too, and the kernel only deletes a route that
//! matches both (`fib_table_delete`, `ip6_route_del`), so a foreign route
//! for the same prefix is never removed.

use std::net::IpAddr;

use crate::codec::{
    self, AF_INET, AF_INET6, DecodeError, MessageWriter, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP,
    NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST, RTM_DELROUTE, RTM_GETROUTE, RTM_NEWROUTE, attributes,
    family_of, split_header,
};

/// The `rtm_protocol`/`nh_protocol` Sluice marks its routes and nexthop
/// objects with. 201 is free in /etc/iproute2/rt_protos, in
/// rt_protos.d/frr.conf (186–197) and in the kernel's RTPROT_* list;
/// `ip route show proto 201` lists Sluice's routes.
pub const ROUTE_PROTOCOL: u8 = 201;

/// The metric (priority) of Sluice's routes. The kernel keys a route by
/// (table, prefix, tos, metric), and NLM_F_REPLACE replaces whatever has
/// that key whoever installed it; a metric of our own keeps Sluice's routes
/// apart from routes others add without a metric (IPv4 0, IPv6 1024).
/// Like FRR's BGP (metric 20), a static IPv4 route with metric 0 for the
/// same prefix wins over Sluice's.
pub const ROUTE_METRIC: u32 = 20;

/// RT_TABLE_MAIN.
pub const TABLE_MAIN: u8 = 254;

const RTMSG_LEN: usize = 12;

const RTA_DST: u16 = 1;
const RTA_PRIORITY: u16 = 6;
const RTA_TABLE: u16 = 15;
const RTA_NH_ID: u16 = 30;

const RTN_UNICAST: u8 = 1;
const RTN_BLACKHOLE: u8 = 6;
const RT_SCOPE_UNIVERSE: u8 = 0;
/// In a delete: match any scope.
const RT_SCOPE_NOWHERE: u8 = 255;

/// A prefix: address and length. The address must have no bits set past
/// the length (the kernel refuses `10.0.0.1/24` with EINVAL).
pub type Prefix = (IpAddr, u8);

/// One of Sluice's routes in the kernel FIB (table main).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    /// Destination prefix.
    pub prefix: Prefix,
    /// Where matching packets go.
    pub target: RouteTarget,
}

/// What a [`Route`] does with packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteTarget {
    /// Forward through the nexthop object (or group) with this id.
    Nexthop(u32),
    /// Drop (RTN_BLACKHOLE), e.g. the discard route of an announced aggregate.
    Blackhole,
}

/// One change for [`crate::Netlink::apply_routes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteChange {
    /// Create the route or replace Sluice's route for the prefix.
    Set(Route),
    /// Create the route; fails with `EEXIST` when the prefix already has a
    /// route at Sluice's metric, so that the caller learns which writes
    /// added a route without keeping a copy of the kernel's table.
    Add(Route),
    /// Remove Sluice's route for the prefix.
    Delete(Prefix),
}

impl RouteChange {
    /// The prefix the change is about.
    pub fn prefix(&self) -> Prefix {
        match self {
            RouteChange::Set(r) | RouteChange::Add(r) => r.prefix,
            RouteChange::Delete(p) => *p,
        }
    }
}

fn rtmsg(prefix: Prefix, table: u8, protocol: u8, scope: u8, kind: u8) -> [u8; RTMSG_LEN] {
    let mut h = [0u8; RTMSG_LEN];
    h[0] = family_of(prefix.0);
    h[1] = prefix.1;
    h[4] = table;
    h[5] = protocol;
    h[6] = scope;
    h[7] = kind;
    h
}

/// Appends the message for `change`. `ack` asks for an ack on success
/// (errors are always answered).
pub(crate) fn encode_change(
    buf: &mut Vec<u8>,
    seq: u32,
    protocol: u8,
    change: &RouteChange,
    ack: bool,
) {
    let ack = if ack { NLM_F_ACK } else { 0 };
    match change {
        RouteChange::Set(route) | RouteChange::Add(route) => {
            let (kind, nh_id) = match route.target {
                RouteTarget::Nexthop(id) => (RTN_UNICAST, Some(id)),
                RouteTarget::Blackhole => (RTN_BLACKHOLE, None),
            };
            let how = match change {
                RouteChange::Add(_) => NLM_F_EXCL,
                _ => NLM_F_REPLACE,
            };
            let flags = NLM_F_REQUEST | NLM_F_CREATE | how | ack;
            let mut w = MessageWriter::new(buf, RTM_NEWROUTE, flags, seq);
            w.bytes(&rtmsg(
                route.prefix,
                TABLE_MAIN,
                protocol,
                RT_SCOPE_UNIVERSE,
                kind,
            ));
            dst_and_metric(&mut w, route.prefix, ROUTE_METRIC);
            if let Some(id) = nh_id {
                w.attr_u32(RTA_NH_ID, id);
            }
            w.finish();
        }
        RouteChange::Delete(prefix) => {
            encode_delete(buf, seq, protocol, *prefix, ROUTE_METRIC, ack != 0);
        }
    }
}

/// RTM_DELROUTE of the route of `protocol` with this prefix and metric in
/// table main, whatever its type.
pub(crate) fn encode_delete(
    buf: &mut Vec<u8>,
    seq: u32,
    protocol: u8,
    prefix: Prefix,
    metric: u32,
    ack: bool,
) {
    let flags = NLM_F_REQUEST | if ack { NLM_F_ACK } else { 0 };
    let mut w = MessageWriter::new(buf, RTM_DELROUTE, flags, seq);
    w.bytes(&rtmsg(prefix, TABLE_MAIN, protocol, RT_SCOPE_NOWHERE, 0));
    dst_and_metric(&mut w, prefix, metric);
    w.finish();
}

fn dst_and_metric(w: &mut MessageWriter<'_>, prefix: Prefix, metric: u32) {
    if prefix.1 > 0 {
        w.attr_ip(RTA_DST, prefix.0);
    }
    w.attr_u32(RTA_PRIORITY, metric);
}

/// RTM_GETROUTE dump of table main for one family, filtered by the kernel
/// to `protocol` (strict dump checking, Linux 4.20).
pub(crate) fn encode_dump(buf: &mut Vec<u8>, seq: u32, family: u8, protocol: u8) {
    let mut h = [0u8; RTMSG_LEN];
    h[0] = family;
    h[4] = TABLE_MAIN;
    h[5] = protocol;
    MessageWriter::new(buf, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq)
        .bytes(&h)
        .finish();
}

/// A route as dumped: enough to report it and to delete it exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DumpedRoute {
    pub(crate) prefix: Prefix,
    pub(crate) table: u32,
    pub(crate) protocol: u8,
    pub(crate) kind: u8,
    pub(crate) metric: u32,
    pub(crate) nh_id: Option<u32>,
}

impl DumpedRoute {
    /// The public form, for unicast-via-nexthop and blackhole routes.
    pub(crate) fn route(&self) -> Option<Route> {
        let target = match (self.kind, self.nh_id) {
            (RTN_UNICAST, Some(id)) => RouteTarget::Nexthop(id),
            (RTN_BLACKHOLE, _) => RouteTarget::Blackhole,
            _ => return None,
        };
        Some(Route {
            prefix: self.prefix,
            target,
        })
    }
}

/// An RTM_NEWROUTE payload; `None` for families other than IPv4/IPv6.
pub(crate) fn parse(payload: &[u8]) -> Result<Option<DumpedRoute>, DecodeError> {
    let (h, attrs) = split_header(payload, RTMSG_LEN, "rtmsg")?;
    let family = h[0];
    if family != AF_INET && family != AF_INET6 {
        return Ok(None);
    }
    let unspecified = if family == AF_INET {
        IpAddr::from([0u8; 4])
    } else {
        IpAddr::from([0u8; 16])
    };
    let mut route = DumpedRoute {
        prefix: (unspecified, h[1]),
        table: u32::from(h[4]),
        protocol: h[5],
        kind: h[7],
        metric: 0,
        nh_id: None,
    };
    for attr in attributes(attrs) {
        let (kind, value) = attr?;
        match kind {
            RTA_DST => route.prefix.0 = codec::attr_ip("RTA_DST", family, value)?,
            RTA_PRIORITY => route.metric = codec::attr_u32("RTA_PRIORITY", value)?,
            RTA_TABLE => route.table = codec::attr_u32("RTA_TABLE", value)?,
            RTA_NH_ID => route.nh_id = Some(codec::attr_u32("RTA_NH_ID", value)?),
            _ => {}
        }
    }
    Ok(Some(route))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str, len: u8) -> Prefix {
        (s.parse().unwrap(), len)
    }

    #[test]
    fn set_via_nexthop_bytes() {
        let mut buf = Vec::new();
        let route = Route {
            prefix: v4("198.51.100.0", 24),
            target: RouteTarget::Nexthop(100),
        };
        encode_change(&mut buf, 9, 201, &RouteChange::Set(route), false);
        #[rustfmt::skip]
        let want: Vec<u8> = [
            [52u8, 0, 0, 0], [24, 0, 0x01, 0x05], [9, 0, 0, 0], [0, 0, 0, 0],
            [2, 24, 0, 0], [254, 201, 0, 1], [0, 0, 0, 0], // rtmsg: main, proto 201, universe, unicast
            [8, 0, 1, 0], [198, 51, 100, 0],               // RTA_DST
            [8, 0, 6, 0], [20, 0, 0, 0],                   // RTA_PRIORITY
            [8, 0, 30, 0], [100, 0, 0, 0],                 // RTA_NH_ID
        ].concat();
        assert_eq!(buf, want);
        let parsed = parse(&buf[16..]).unwrap().unwrap();
        assert_eq!(parsed.route(), Some(route));
        assert_eq!(parsed.metric, ROUTE_METRIC);
    }

    #[test]
    fn add_asks_for_exclusive_create() {
        let route = Route {
            prefix: v4("198.51.100.0", 24),
            target: RouteTarget::Nexthop(100),
        };
        let flags = |change| {
            let mut buf = Vec::new();
            encode_change(&mut buf, 9, 201, &change, false);
            u16::from_ne_bytes([buf[6], buf[7]])
        };
        assert_eq!(flags(RouteChange::Add(route)), 0x601);
        assert_eq!(flags(RouteChange::Set(route)), 0x501);
    }

    #[test]
    fn blackhole_default_v6_with_ack() {
        let mut buf = Vec::new();
        let route = Route {
            prefix: ("::".parse().unwrap(), 0),
            target: RouteTarget::Blackhole,
        };
        encode_change(&mut buf, 1, 201, &RouteChange::Set(route), true);
        #[rustfmt::skip]
        let want: Vec<u8> = [
            [36u8, 0, 0, 0], [24, 0, 0x05, 0x05], [1, 0, 0, 0], [0, 0, 0, 0],
            [10, 0, 0, 0], [254, 201, 0, 6], [0, 0, 0, 0], // no RTA_DST for /0
            [8, 0, 6, 0], [20, 0, 0, 0],
        ].concat();
        assert_eq!(buf, want);
        assert_eq!(parse(&buf[16..]).unwrap().unwrap().route(), Some(route));
    }

    #[test]
    fn delete_matches_protocol_and_metric_any_type() {
        let mut buf = Vec::new();
        let prefix: Prefix = ("2001:db8::".parse().unwrap(), 32);
        encode_change(&mut buf, 2, 201, &RouteChange::Delete(prefix), false);
        #[rustfmt::skip]
        let want: Vec<u8> = [
            &[56u8, 0, 0, 0, 25, 0, 0x01, 0x00, 2, 0, 0, 0, 0, 0, 0, 0][..],
            &[10, 32, 0, 0, 254, 201, 255, 0, 0, 0, 0, 0],
            &[20, 0, 1, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            &[8, 0, 6, 0, 20, 0, 0, 0],
        ].concat();
        assert_eq!(buf, want);
    }

    #[test]
    fn dump_request_bytes() {
        let mut buf = Vec::new();
        encode_dump(&mut buf, 3, AF_INET6, 201);
        #[rustfmt::skip]
        let want: Vec<u8> = [
            &[28u8, 0, 0, 0, 26, 0, 0x01, 0x03, 3, 0, 0, 0, 0, 0, 0, 0][..],
            &[10, 0, 0, 0, 254, 201, 0, 0, 0, 0, 0, 0],
        ].concat();
        assert_eq!(buf, want);
    }

    #[test]
    fn parses_a_captured_dump() {
        let dump = include_bytes!("../tests/fixtures/route_dump.bin");
        let routes: Vec<DumpedRoute> = codec::messages(dump)
            .map(|m| m.unwrap())
            .filter(|m| m.kind == RTM_NEWROUTE)
            .filter_map(|m| parse(m.payload).unwrap())
            .collect();
        // The fixture holds a Sluice route via nexthop, a blackhole and a
        // connected route of the kernel.
        assert!(routes.iter().any(|r| r.protocol == ROUTE_PROTOCOL
            && matches!(
                r.route(),
                Some(Route {
                    target: RouteTarget::Nexthop(_),
                    ..
                })
            )));
        assert!(routes.iter().any(|r| matches!(
            r.route(),
            Some(Route {
                target: RouteTarget::Blackhole,
                ..
            })
        )));
        assert!(
            routes
                .iter()
                .any(|r| r.protocol == 2 && r.route().is_none())
        );
    }
}
