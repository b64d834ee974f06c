//! Kernel nexthop objects (Linux 5.3): `struct nhmsg`, NHA_* attributes
//! and `struct nexthop_grp`, include/uapi/linux/nexthop.h. Sans-IO.
//!
//! Group weights: `struct nexthop_grp` stores weight − 1 (a weight of 1 is
//! byte 0). Linux 6.12 added `weight_high`, the upper 8 bits of weight − 1,
//! in what was a reserved byte; weights above 256 need it, older kernels
//! refuse them (EINVAL, reserved field not zero).

use std::net::IpAddr;

use crate::codec::{
    self, AF_UNSPEC, DecodeError, MessageWriter, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP,
    NLM_F_REPLACE, NLM_F_REQUEST, RTM_DELNEXTHOP, RTM_GETNEXTHOP, RTM_NEWNEXTHOP, attributes,
    family_of, split_header,
};

const NHMSG_LEN: usize = 8;
const NEXTHOP_GRP_LEN: usize = 8;

const NHA_ID: u16 = 1;
const NHA_GROUP: u16 = 2;
const NHA_GROUP_TYPE: u16 = 3;
const NHA_BLACKHOLE: u16 = 4;
const NHA_OIF: u16 = 5;
const NHA_GATEWAY: u16 = 6;
/// NEXTHOP_GRP_TYPE_MPATH: hash-threshold multipath.
const NEXTHOP_GRP_TYPE_MPATH: u16 = 0;

/// A nexthop object as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nexthop {
    /// The object's id (NHA_ID).
    pub id: u32,
    /// `nh_protocol`: who installed it.
    pub protocol: u8,
    /// `RTNH_F_*` flags, e.g. `RTNH_F_DEAD` (1) or `RTNH_F_LINKDOWN` (16).
    pub flags: u32,
    /// What it forwards to.
    pub kind: NexthopKind,
}

/// What a [`Nexthop`] forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NexthopKind {
    /// A gateway reached through an interface.
    Gateway {
        /// The next router's address.
        gateway: IpAddr,
        /// Outgoing interface.
        ifindex: u32,
    },
    /// Directly through an interface, without a gateway.
    Device {
        /// Outgoing interface.
        ifindex: u32,
    },
    /// A multipath group: (member id, weight ≥ 1).
    Group(Vec<(u32, u16)>),
    /// Drops everything.
    Blackhole,
}

fn nhmsg(family: u8, protocol: u8) -> [u8; NHMSG_LEN] {
    let mut h = [0u8; NHMSG_LEN];
    h[0] = family;
    h[2] = protocol;
    h
}

const SET_FLAGS: u16 = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;

/// RTM_NEWNEXTHOP (create or replace) for a gateway nexthop.
pub(crate) fn encode_set_gateway(
    buf: &mut Vec<u8>,
    seq: u32,
    protocol: u8,
    id: u32,
    gateway: IpAddr,
    ifindex: u32,
) {
    MessageWriter::new(buf, RTM_NEWNEXTHOP, SET_FLAGS, seq)
        .bytes(&nhmsg(family_of(gateway), protocol))
        .attr_u32(NHA_ID, id)
        .attr_u32(NHA_OIF, ifindex)
        .attr_ip(NHA_GATEWAY, gateway)
        .finish();
}

/// The `struct nexthop_grp` bytes of a member, or `None` for weight 0.
fn group_entry(id: u32, weight: u16) -> Option<[u8; NEXTHOP_GRP_LEN]> {
    let stored = weight.checked_sub(1)?;
    let mut e = [0u8; NEXTHOP_GRP_LEN];
    e[..4].copy_from_slice(&id.to_ne_bytes());
    e[4] = (stored & 0xff) as u8; // weight
    e[5] = (stored >> 8) as u8; // weight_high (Linux 6.12)
    Some(e)
}

/// RTM_NEWNEXTHOP (create or replace) for a multipath group. Fails on a
/// weight of 0 or an empty member list, which the kernel would refuse.
pub(crate) fn encode_set_group(
    buf: &mut Vec<u8>,
    seq: u32,
    protocol: u8,
    id: u32,
    members: &[(u32, u16)],
) -> Result<(), String> {
    if members.is_empty() {
        return Err(format!("nexthop group {id}: no members"));
    }
    let mut group = Vec::with_capacity(members.len() * NEXTHOP_GRP_LEN);
    for &(member, weight) in members {
        let entry = group_entry(member, weight)
            .ok_or_else(|| format!("nexthop group {id}: member {member} has weight 0"))?;
        group.extend_from_slice(&entry);
    }
    MessageWriter::new(buf, RTM_NEWNEXTHOP, SET_FLAGS, seq)
        .bytes(&nhmsg(AF_UNSPEC, protocol))
        .attr_u32(NHA_ID, id)
        .attr(NHA_GROUP, &group)
        .attr_u16(NHA_GROUP_TYPE, NEXTHOP_GRP_TYPE_MPATH)
        .finish();
    Ok(())
}

/// RTM_DELNEXTHOP by id.
pub(crate) fn encode_delete(buf: &mut Vec<u8>, seq: u32, id: u32) {
    MessageWriter::new(buf, RTM_DELNEXTHOP, NLM_F_REQUEST | NLM_F_ACK, seq)
        .bytes(&nhmsg(AF_UNSPEC, 0))
        .attr_u32(NHA_ID, id)
        .finish();
}

/// RTM_GETNEXTHOP for one object (answered with one RTM_NEWNEXTHOP or ENOENT).
pub(crate) fn encode_get(buf: &mut Vec<u8>, seq: u32, id: u32) {
    MessageWriter::new(buf, RTM_GETNEXTHOP, NLM_F_REQUEST, seq)
        .bytes(&nhmsg(AF_UNSPEC, 0))
        .attr_u32(NHA_ID, id)
        .finish();
}

/// RTM_GETNEXTHOP dump of every object (the kernel has no protocol
/// filter for nexthop dumps; callers filter).
pub(crate) fn encode_dump(buf: &mut Vec<u8>, seq: u32) {
    MessageWriter::new(buf, RTM_GETNEXTHOP, NLM_F_REQUEST | NLM_F_DUMP, seq)
        .bytes(&nhmsg(AF_UNSPEC, 0))
        .finish();
}

/// An RTM_NEWNEXTHOP payload.
pub(crate) fn parse(payload: &[u8]) -> Result<Nexthop, DecodeError> {
    let (h, attrs) = split_header(payload, NHMSG_LEN, "nhmsg")?;
    let family = h[0];
    let mut id = None;
    let mut oif = None;
    let mut gateway = None;
    let mut group = None;
    let mut blackhole = false;
    for attr in attributes(attrs) {
        let (kind, value) = attr?;
        match kind {
            NHA_ID => id = Some(codec::attr_u32("NHA_ID", value)?),
            NHA_OIF => oif = Some(codec::attr_u32("NHA_OIF", value)?),
            NHA_GATEWAY => gateway = Some(codec::attr_ip("NHA_GATEWAY", family, value)?),
            NHA_BLACKHOLE => blackhole = true,
            NHA_GROUP => group = Some(parse_group(value)?),
            _ => {}
        }
    }
    let id = id.ok_or_else(|| DecodeError::Invalid {
        what: "nexthop",
        detail: "no NHA_ID".into(),
    })?;
    let kind = match (group, blackhole, gateway, oif) {
        (Some(members), ..) => NexthopKind::Group(members),
        (None, true, ..) => NexthopKind::Blackhole,
        (None, false, Some(gateway), Some(ifindex)) => NexthopKind::Gateway { gateway, ifindex },
        (None, false, None, Some(ifindex)) => NexthopKind::Device { ifindex },
        _ => {
            return Err(DecodeError::Invalid {
                what: "nexthop",
                detail: format!("id {id}: neither group, blackhole nor interface"),
            });
        }
    };
    Ok(Nexthop {
        id,
        protocol: h[2],
        flags: codec::u32_at(h, 4),
        kind,
    })
}

fn parse_group(value: &[u8]) -> Result<Vec<(u32, u16)>, DecodeError> {
    if !value.len().is_multiple_of(NEXTHOP_GRP_LEN) {
        return Err(DecodeError::Invalid {
            what: "NHA_GROUP",
            detail: format!("{} bytes, not a multiple of 8", value.len()),
        });
    }
    Ok(value
        .chunks_exact(NEXTHOP_GRP_LEN)
        .map(|e| {
            let stored = u16::from(e[4]) | u16::from(e[5]) << 8;
            // 65536 (stored 0xffff) does not fit; it is the only weight
            // this loses, and only as a report.
            (codec::u32_at(e, 0), stored.saturating_add(1))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_bytes() {
        let mut buf = Vec::new();
        encode_set_gateway(&mut buf, 5, 201, 10, "192.0.2.1".parse().unwrap(), 4);
        #[rustfmt::skip]
        let want: Vec<u8> = [
            [48u8, 0, 0, 0], [104, 0, 0x05, 0x05], [5, 0, 0, 0], [0, 0, 0, 0],
            [2, 0, 201, 0], [0, 0, 0, 0],               // nhmsg: AF_INET, protocol 201
            [8, 0, 1, 0], [10, 0, 0, 0],                // NHA_ID
            [8, 0, 5, 0], [4, 0, 0, 0],                 // NHA_OIF
            [8, 0, 6, 0], [192, 0, 2, 1],               // NHA_GATEWAY
        ].concat();
        assert_eq!(buf, want);
        assert_eq!(
            parse(&buf[16..]).unwrap(),
            Nexthop {
                id: 10,
                protocol: 201,
                flags: 0,
                kind: NexthopKind::Gateway {
                    gateway: "192.0.2.1".parse().unwrap(),
                    ifindex: 4
                }
            }
        );
    }

    #[test]
    fn group_weights_are_stored_minus_one() {
        let mut buf = Vec::new();
        encode_set_group(&mut buf, 6, 201, 100, &[(10, 1), (11, 3), (12, 300)]).unwrap();
        #[rustfmt::skip]
        let want: Vec<u8> = [
            &[68u8, 0, 0, 0, 104, 0, 0x05, 0x05, 6, 0, 0, 0, 0, 0, 0, 0][..],
            &[0, 0, 201, 0, 0, 0, 0, 0],                 // nhmsg: AF_UNSPEC
            &[8, 0, 1, 0, 100, 0, 0, 0],                 // NHA_ID
            &[28, 0, 2, 0],                              // NHA_GROUP, 3 entries
            &[10, 0, 0, 0, 0, 0, 0, 0],                  //   id 10, weight 1 → 0
            &[11, 0, 0, 0, 2, 0, 0, 0],                  //   id 11, weight 3 → 2
            &[12, 0, 0, 0, 43, 1, 0, 0],                 //   id 12, weight 300 → 299 = 0x12b
            &[6, 0, 3, 0, 0, 0, 0, 0],                   // NHA_GROUP_TYPE mpath, padded
        ].concat();
        assert_eq!(buf, want);
        let nh = parse(&buf[16..]).unwrap();
        assert_eq!(
            nh.kind,
            NexthopKind::Group(vec![(10, 1), (11, 3), (12, 300)])
        );
    }

    #[test]
    fn weight_zero_and_empty_groups_are_refused() {
        let mut buf = Vec::new();
        assert!(encode_set_group(&mut buf, 1, 201, 1, &[(2, 0)]).is_err());
        assert!(encode_set_group(&mut buf, 1, 201, 1, &[]).is_err());
        assert!(buf.is_empty());
    }

    #[test]
    fn delete_and_dump_bytes() {
        let mut buf = Vec::new();
        encode_delete(&mut buf, 1, 7);
        encode_dump(&mut buf, 2);
        #[rustfmt::skip]
        let want: Vec<u8> = [
            &[32u8, 0, 0, 0, 105, 0, 0x05, 0, 1, 0, 0, 0, 0, 0, 0, 0][..],
            &[0; 8], &[8, 0, 1, 0, 7, 0, 0, 0],
            &[24, 0, 0, 0, 106, 0, 0x01, 0x03, 2, 0, 0, 0, 0, 0, 0, 0], &[0; 8],
        ].concat();
        assert_eq!(buf, want);
    }

    #[test]
    fn parses_v6_gateway_and_blackhole() {
        let mut buf = Vec::new();
        let gw: IpAddr = "fe80::1".parse().unwrap();
        encode_set_gateway(&mut buf, 1, 201, 3, gw, 2);
        let nh = parse(&buf[16..]).unwrap();
        assert_eq!(
            nh.kind,
            NexthopKind::Gateway {
                gateway: gw,
                ifindex: 2
            }
        );
        let blackhole = [
            &[0u8, 0, 4, 0, 0, 0, 0, 0][..],
            &[8, 0, 1, 0, 9, 0, 0, 0],
            &[4, 0, 4, 0],
        ]
        .concat();
        assert_eq!(parse(&blackhole).unwrap().kind, NexthopKind::Blackhole);
        let v4_sized_v6 = [
            &[10u8, 0, 4, 0, 0, 0, 0, 0][..],
            &[8, 0, 1, 0, 9, 0, 0, 0],
            &[8, 0, 6, 0, 1, 2, 3, 4],
        ]
        .concat();
        assert!(parse(&v4_sized_v6).is_err());
    }

    #[test]
    fn parses_a_captured_dump() {
        let dump = include_bytes!("../tests/fixtures/nexthop_dump.bin");
        let nexthops: Vec<Nexthop> = codec::messages(dump)
            .map(|m| m.unwrap())
            .filter(|m| m.kind == RTM_NEWNEXTHOP)
            .map(|m| parse(m.payload).unwrap())
            .collect();
        assert!(
            nexthops
                .iter()
                .any(|n| matches!(n.kind, NexthopKind::Gateway { .. }))
        );
        assert!(
            nexthops
                .iter()
                .any(|n| n.kind == NexthopKind::Group(vec![(1, 1), (2, 2)])),
            "{nexthops:?}"
        );
    }
}
