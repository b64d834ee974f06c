//! Neighbours (ARP and NDP entries): `struct ndmsg` and its NDA_*
//! attributes, rtnetlink(7); managed entries (`NTF_EXT_MANAGED` in
//! NDA_FLAGS_EXT, Linux 5.16). Sans-IO.

use std::net::IpAddr;

use crate::codec::{
    self, AF_INET, AF_INET6, AF_UNSPEC, DecodeError, MessageWriter, NLM_F_ACK, NLM_F_CREATE,
    NLM_F_DUMP, NLM_F_REPLACE, NLM_F_REQUEST, RTM_DELNEIGH, RTM_GETNEIGH, RTM_NEWNEIGH, attributes,
    family_of, split_header,
};

const NDMSG_LEN: usize = 12;

const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;
const NDA_FLAGS_EXT: u16 = 15;

/// `NUD_NONE`: no state yet.
pub const NUD_NONE: u16 = 0x00;
/// `NUD_INCOMPLETE`: resolution in progress.
pub const NUD_INCOMPLETE: u16 = 0x01;
/// `NUD_REACHABLE`: confirmed recently.
pub const NUD_REACHABLE: u16 = 0x02;
/// `NUD_STALE`: known but unconfirmed; still used for sending.
pub const NUD_STALE: u16 = 0x04;
/// `NUD_DELAY`: stale and in use, probing soon.
pub const NUD_DELAY: u16 = 0x08;
/// `NUD_PROBE`: being probed; the address is still used.
pub const NUD_PROBE: u16 = 0x10;
/// `NUD_FAILED`: resolution failed.
pub const NUD_FAILED: u16 = 0x20;
/// `NUD_NOARP`: needs no resolution (e.g. point-to-point, multicast).
pub const NUD_NOARP: u16 = 0x40;
/// `NUD_PERMANENT`: configured by an administrator.
pub const NUD_PERMANENT: u16 = 0x80;

/// States in which the kernel itself sends to the entry's MAC.
const NUD_VALID: u16 =
    NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP;

/// `NTF_EXT_MANAGED` (NDA_FLAGS_EXT): the kernel keeps the entry resolved.
const NTF_EXT_MANAGED: u32 = 1 << 0;

/// A neighbour (ARP or NDP) entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    /// Interface the entry belongs to.
    pub ifindex: u32,
    /// The neighbour's IP address.
    pub addr: IpAddr,
    /// Its link-layer address once known (NDA_LLADDR, 6 bytes).
    pub mac: Option<[u8; 6]>,
    /// `NUD_*` state bits (`ndm_state`).
    pub state: u16,
    /// `NTF_*` flags (`ndm_flags`), e.g. `NTF_ROUTER` 0x80.
    pub flags: u8,
    /// Whether the entry is managed (`NTF_EXT_MANAGED`): the kernel keeps
    /// resolving it without traffic.
    pub managed: bool,
}

impl Neighbour {
    /// Whether frames can be sent to this neighbour now: a MAC is known
    /// and the state is one the kernel itself sends in (REACHABLE, STALE,
    /// DELAY, PROBE, PERMANENT, NOARP). INCOMPLETE, FAILED and NONE are not.
    pub fn is_usable(&self) -> bool {
        self.mac.is_some() && self.state & NUD_VALID != 0
    }

    /// Whether the state is administratively fixed (PERMANENT or NOARP);
    /// such entries are left alone by the managed-neighbour calls.
    pub fn is_static(&self) -> bool {
        self.state & (NUD_PERMANENT | NUD_NOARP) != 0
    }
}

fn ndmsg(family: u8, ifindex: u32, state: u16) -> [u8; NDMSG_LEN] {
    let mut h = [0u8; NDMSG_LEN];
    h[0] = family;
    h[4..8].copy_from_slice(&ifindex.to_ne_bytes());
    h[8..10].copy_from_slice(&state.to_ne_bytes());
    h
}

/// RTM_GETNEIGH dump of IPv4 and IPv6 entries.
pub(crate) fn encode_dump(buf: &mut Vec<u8>, seq: u32) {
    MessageWriter::new(buf, RTM_GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP, seq)
        .bytes(&ndmsg(AF_UNSPEC, 0, 0))
        .finish();
}

/// RTM_GETNEIGH for one entry (answered with one RTM_NEWNEIGH or ENOENT).
pub(crate) fn encode_get(buf: &mut Vec<u8>, seq: u32, ifindex: u32, addr: IpAddr) {
    MessageWriter::new(buf, RTM_GETNEIGH, NLM_F_REQUEST, seq)
        .bytes(&ndmsg(family_of(addr), ifindex, 0))
        .attr_ip(NDA_DST, addr)
        .finish();
}

/// RTM_NEWNEIGH that creates the entry if missing and makes it managed.
///
/// With `NTF_EXT_MANAGED` the kernel ignores the state and link-layer
/// address of the request (`__neigh_update` keeps the old state, minus
/// PERMANENT, and returns early), so a known MAC survives, and it starts
/// resolution at once. A request state of PERMANENT would be refused, so
/// the state is NONE.
pub(crate) fn encode_add_managed(buf: &mut Vec<u8>, seq: u32, ifindex: u32, addr: IpAddr) {
    MessageWriter::new(
        buf,
        RTM_NEWNEIGH,
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE,
        seq,
    )
    .bytes(&ndmsg(family_of(addr), ifindex, NUD_NONE))
    .attr_ip(NDA_DST, addr)
    .attr_u32(NDA_FLAGS_EXT, NTF_EXT_MANAGED)
    .finish();
}

/// RTM_NEWNEIGH (replace) that turns a managed entry with a known MAC
/// into a plain STALE one with the same MAC: an admin update without the
/// managed flag clears it, and STALE lets the kernel re-verify on use.
pub(crate) fn encode_demote(buf: &mut Vec<u8>, seq: u32, ifindex: u32, addr: IpAddr, mac: [u8; 6]) {
    MessageWriter::new(
        buf,
        RTM_NEWNEIGH,
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_REPLACE,
        seq,
    )
    .bytes(&ndmsg(family_of(addr), ifindex, NUD_STALE))
    .attr_ip(NDA_DST, addr)
    .attr(NDA_LLADDR, &mac)
    .attr_u32(NDA_FLAGS_EXT, 0)
    .finish();
}

/// RTM_DELNEIGH for one entry.
pub(crate) fn encode_delete(buf: &mut Vec<u8>, seq: u32, ifindex: u32, addr: IpAddr) {
    MessageWriter::new(buf, RTM_DELNEIGH, NLM_F_REQUEST | NLM_F_ACK, seq)
        .bytes(&ndmsg(family_of(addr), ifindex, 0))
        .attr_ip(NDA_DST, addr)
        .finish();
}

/// An RTM_NEWNEIGH/RTM_DELNEIGH payload; `None` for entries that are not
/// IPv4/IPv6 neighbours (bridge FDB entries, entries without NDA_DST).
pub(crate) fn parse(payload: &[u8]) -> Result<Option<Neighbour>, DecodeError> {
    let (h, attrs) = split_header(payload, NDMSG_LEN, "ndmsg")?;
    let family = h[0];
    if family != AF_INET && family != AF_INET6 {
        return Ok(None);
    }
    let mut addr = None;
    let mut mac = None;
    let mut flags_ext = 0;
    for attr in attributes(attrs) {
        let (kind, value) = attr?;
        match kind {
            NDA_DST => addr = Some(codec::attr_ip("NDA_DST", family, value)?),
            NDA_LLADDR => mac = codec::attr_mac(value),
            NDA_FLAGS_EXT => flags_ext = codec::attr_u32("NDA_FLAGS_EXT", value)?,
            _ => {}
        }
    }
    Ok(addr.map(|addr| Neighbour {
        ifindex: codec::u32_at(h, 4),
        addr,
        mac,
        state: codec::u16_at(h, 8),
        flags: h[10],
        managed: flags_ext & NTF_EXT_MANAGED != 0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn add_managed_bytes() {
        let mut buf = Vec::new();
        encode_add_managed(&mut buf, 1, 3, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
        #[rustfmt::skip]
        let want: Vec<u8> = [
            [44u8, 0, 0, 0], [28, 0, 0x05, 0x04], [1, 0, 0, 0], [0, 0, 0, 0],
            [2, 0, 0, 0], [3, 0, 0, 0], [0, 0, 0, 0],    // ndmsg: AF_INET, ifindex 3, NUD_NONE
            [8, 0, 1, 0], [10, 0, 0, 2],                 // NDA_DST
            [8, 0, 15, 0], [1, 0, 0, 0],                 // NDA_FLAGS_EXT = NTF_EXT_MANAGED
        ].concat();
        assert_eq!(buf, want);
    }

    #[test]
    fn demote_bytes() {
        let mut buf = Vec::new();
        let mac = [2, 0, 0, 0, 0, 1];
        encode_demote(&mut buf, 2, 3, IpAddr::V6(Ipv6Addr::LOCALHOST), mac);
        #[rustfmt::skip]
        let want: Vec<u8> = [
            &[68u8, 0, 0, 0, 28, 0, 0x05, 0x01, 2, 0, 0, 0, 0, 0, 0, 0][..],
            &[10, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0],      // AF_INET6, ifindex 3, NUD_STALE
            &[20, 0, 1, 0], &Ipv6Addr::LOCALHOST.octets(),
            &[10, 0, 2, 0, 2, 0, 0, 0, 0, 1, 0, 0],      // NDA_LLADDR, padded
            &[8, 0, 15, 0, 0, 0, 0, 0],                  // NDA_FLAGS_EXT = 0
        ].concat();
        assert_eq!(buf, want);
    }

    #[test]
    fn parses_a_managed_reachable_entry() {
        #[rustfmt::skip]
        let payload: Vec<u8> = [
            &[2u8, 0, 0, 0, 7, 0, 0, 0, 0x02, 0, 0, 1][..], // AF_INET, if 7, REACHABLE, type unicast
            &[8, 0, 1, 0, 192, 0, 2, 1],
            &[10, 0, 2, 0, 0x02, 1, 2, 3, 4, 5, 0, 0],
            &[8, 0, 15, 0, 1, 0, 0, 0],
        ].concat();
        let n = parse(&payload).unwrap().unwrap();
        assert_eq!(
            n,
            Neighbour {
                ifindex: 7,
                addr: "192.0.2.1".parse().unwrap(),
                mac: Some([2, 1, 2, 3, 4, 5]),
                state: NUD_REACHABLE,
                flags: 0,
                managed: true,
            }
        );
        assert!(n.is_usable() && !n.is_static());
    }

    #[test]
    fn incomplete_and_bridge_entries() {
        let incomplete: Vec<u8> = [
            &[10u8, 0, 0, 0, 7, 0, 0, 0, 0x01, 0, 0, 1][..],
            &[20, 0, 1, 0],
            &Ipv6Addr::LOCALHOST.octets(),
        ]
        .concat();
        let n = parse(&incomplete).unwrap().unwrap();
        assert!(!n.is_usable() && n.mac.is_none() && !n.managed);
        let bridge = [7u8, 0, 0, 0, 7, 0, 0, 0, 0x80, 0, 0, 0];
        assert_eq!(parse(&bridge), Ok(None));
        let bad_dst = [
            &[2u8, 0, 0, 0, 7, 0, 0, 0, 2, 0, 0, 1][..],
            &[6, 0, 1, 0, 1, 2, 0, 0],
        ]
        .concat();
        assert!(parse(&bad_dst).is_err());
    }

    #[test]
    fn parses_a_captured_dump() {
        let dump = include_bytes!("../tests/fixtures/neigh_dump.bin");
        let neighbours: Vec<Neighbour> = codec::messages(dump)
            .map(|m| m.unwrap())
            .filter(|m| m.kind == RTM_NEWNEIGH)
            .filter_map(|m| parse(m.payload).unwrap())
            .collect();
        assert!(
            neighbours
                .iter()
                .any(|n| n.managed && n.addr == "10.9.0.2".parse::<IpAddr>().unwrap()),
            "{neighbours:?}"
        );
    }
}
