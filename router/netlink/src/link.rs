//! Links (interfaces): `struct ifinfomsg` and its IFLA_* attributes,
//! rtnetlink(7). Sans-IO: requests are encoded into a buffer, replies and
//! events parsed from message payloads.

use crate::codec::{
    self, AF_UNSPEC, DecodeError, MessageWriter, NLM_F_DUMP, NLM_F_REQUEST, RTM_GETLINK,
    attributes, split_header,
};

const IFINFOMSG_LEN: usize = 16;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_LINK: u16 = 5;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_LINKINFO: u16 = 18;
const IFLA_EXT_MASK: u16 = 29;
/// In IFLA_LINKINFO.
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
/// In IFLA_INFO_DATA of kind "vlan" (if_link.h).
const IFLA_VLAN_ID: u16 = 1;
const IFLA_VLAN_PROTOCOL: u16 = 5;
/// RTEXT_FILTER_SKIP_STATS: leave the (large) counters out of dumps.
const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;

/// `IFF_UP`: administratively up (`ip link set X up`).
pub const IFF_UP: u32 = 0x1;
/// `IFF_LOWER_UP`: the driver reports carrier.
pub const IFF_LOWER_UP: u32 = 0x1_0000;
/// RFC 2863 operational state "unknown": the driver does not track it
/// (loopback, some virtual devices).
pub const IF_OPER_UNKNOWN: u8 = 0;
/// RFC 2863 operational state "up".
pub const IF_OPER_UP: u8 = 6;
/// `ETH_P_8021Q`: a [`Vlan::protocol`] of 802.1Q.
pub const ETH_P_8021Q: u16 = 0x8100;
/// `ETH_P_8021AD`: a [`Vlan::protocol`] of 802.1ad (QinQ service tag).
pub const ETH_P_8021AD: u16 = 0x88a8;

/// An interface of the calling thread's network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The kernel's interface index.
    pub ifindex: u32,
    /// Interface name (IFLA_IFNAME).
    pub name: String,
    /// Hardware address when it is a 6-byte (Ethernet) one.
    pub mac: Option<[u8; 6]>,
    /// IFLA_MTU; 0 if the kernel did not say.
    pub mtu: u32,
    /// Whether the link can carry traffic: administratively up (`IFF_UP`)
    /// **and** operationally up, i.e. operstate `UP`, or operstate
    /// `UNKNOWN` with carrier (`IFF_LOWER_UP`) for drivers that do not
    /// track operstate. A veth whose peer is down has no carrier and is
    /// not up; `DORMANT`, `TESTING` and `LOWERLAYERDOWN` are not up.
    pub up: bool,
    /// The raw `IFF_*` flags (`ifi_flags`).
    pub flags: u32,
    /// The raw RFC 2863 operstate (`IF_OPER_*`, IFLA_OPERSTATE).
    pub operstate: u8,
    /// Set for a VLAN device (kind "vlan", e.g. `eth1.100`).
    pub vlan: Option<Vlan>,
}

/// What makes a link a VLAN device: IFLA_LINK and the "vlan" IFLA_LINKINFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Vlan {
    /// The ifindex of the device it is stacked on (IFLA_LINK). If that
    /// device is in another namespace (IFLA_LINK_NETNSID), the index is
    /// that namespace's.
    pub parent: u32,
    /// The VLAN id (12 bits).
    pub id: u16,
    /// The tag's EtherType: [`ETH_P_8021Q`] or [`ETH_P_8021AD`].
    pub protocol: u16,
}

/// The "up" rule documented on [`Link::up`].
pub fn is_up(flags: u32, operstate: u8) -> bool {
    flags & IFF_UP != 0
        && (operstate == IF_OPER_UP || (operstate == IF_OPER_UNKNOWN && flags & IFF_LOWER_UP != 0))
}

/// RTM_GETLINK dump of every link, without statistics.
pub(crate) fn encode_dump(buf: &mut Vec<u8>, seq: u32) {
    MessageWriter::new(buf, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq)
        .bytes(&ifinfomsg(0))
        .attr_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)
        .finish();
}

fn ifinfomsg(ifindex: u32) -> [u8; IFINFOMSG_LEN] {
    let mut h = [0u8; IFINFOMSG_LEN];
    h[0] = AF_UNSPEC;
    h[4..8].copy_from_slice(&ifindex.to_ne_bytes());
    h
}

/// The interface index of an RTM_NEWLINK/RTM_DELLINK payload.
pub(crate) fn parse_ifindex(payload: &[u8]) -> Result<u32, DecodeError> {
    let (h, _) = split_header(payload, IFINFOMSG_LEN, "ifinfomsg")?;
    Ok(codec::u32_at(h, 4))
}

/// An RTM_NEWLINK payload (dump reply or event).
pub(crate) fn parse(payload: &[u8]) -> Result<Link, DecodeError> {
    let (h, attrs) = split_header(payload, IFINFOMSG_LEN, "ifinfomsg")?;
    let ifindex = codec::u32_at(h, 4);
    let flags = codec::u32_at(h, 8);
    let mut link = Link {
        ifindex,
        name: String::new(),
        mac: None,
        mtu: 0,
        up: false,
        flags,
        operstate: IF_OPER_UNKNOWN,
        vlan: None,
    };
    let mut parent = None;
    let mut info = None;
    for attr in attributes(attrs) {
        let (kind, value) = attr?;
        match kind {
            IFLA_ADDRESS => link.mac = codec::attr_mac(value),
            IFLA_IFNAME => {
                let name = value.split(|&b| b == 0).next().unwrap_or_default();
                link.name = String::from_utf8_lossy(name).into_owned();
            }
            IFLA_MTU => link.mtu = codec::attr_u32("IFLA_MTU", value)?,
            IFLA_OPERSTATE => link.operstate = codec::attr_u8("IFLA_OPERSTATE", value)?,
            IFLA_LINK => parent = Some(codec::attr_u32("IFLA_LINK", value)?),
            IFLA_LINKINFO => info = Some(value),
            _ => {}
        }
    }
    link.up = is_up(flags, link.operstate);
    // A vlan always has its parent; other kinds (veth, macvlan...) may
    // carry IFLA_LINK too but are not VLANs.
    if let (Some(parent), Some(info)) = (parent, info) {
        link.vlan = parse_vlan(parent, info)?;
    }
    Ok(link)
}

/// The VLAN in IFLA_LINKINFO, if its kind is "vlan". The nested
/// attributes may carry NLA_F_NESTED in their type, which
/// [`attributes`] masks off. Only vlan data is walked: other kinds lay
/// out IFLA_INFO_DATA their own way.
fn parse_vlan(parent: u32, info: &[u8]) -> Result<Option<Vlan>, DecodeError> {
    let mut kind = None;
    let mut data = None;
    for attr in attributes(info) {
        let (t, value) = attr?;
        match t {
            IFLA_INFO_KIND => kind = value.split(|&b| b == 0).next(),
            IFLA_INFO_DATA => data = Some(value),
            _ => {}
        }
    }
    let (Some(b"vlan"), Some(data)) = (kind, data) else {
        return Ok(None);
    };
    let mut id = None;
    // Kernels before 3.10 (no 802.1ad) leave the protocol out.
    let mut protocol = ETH_P_8021Q;
    for attr in attributes(data) {
        let (t, value) = attr?;
        match t {
            IFLA_VLAN_ID => id = Some(codec::attr_u16("IFLA_VLAN_ID", value)?),
            // __be16, unlike the other integers here.
            IFLA_VLAN_PROTOCOL => {
                protocol = u16::from_be(codec::attr_u16("IFLA_VLAN_PROTOCOL", value)?);
            }
            _ => {}
        }
    }
    Ok(id.map(|id| Vlan {
        parent,
        id,
        protocol,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::messages;

    #[test]
    fn dump_request_bytes() {
        let mut buf = Vec::new();
        encode_dump(&mut buf, 0x0102_0304);
        #[rustfmt::skip]
        let want: Vec<u8> = [
            [40u8, 0, 0, 0], [18, 0, 0x01, 0x03], [4, 3, 2, 1], [0, 0, 0, 0],
            [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], // ifinfomsg
            [8, 0, 29, 0], [8, 0, 0, 0],                            // IFLA_EXT_MASK
        ].concat();
        assert_eq!(buf, want);
    }

    /// An RTM_NEWLINK for a veth as 6.18 sends it (attributes we do not
    /// read cut out): eth1, ifindex 5, flags UP|BROADCAST|RUNNING|MULTICAST|
    /// LOWER_UP, mtu 1500, operstate UP.
    #[test]
    fn parses_a_veth() {
        #[rustfmt::skip]
        let payload: Vec<u8> = [
            &[0u8, 0, 1, 0, 5, 0, 0, 0, 0x43, 0x10, 0x01, 0x00, 0, 0, 0, 0][..],
            &[9, 0, 3, 0], b"eth1\0", &[0, 0, 0],
            &[8, 0, 4, 0, 0xdc, 0x05, 0, 0],
            &[5, 0, 16, 0, 6, 0, 0, 0],
            &[10, 0, 1, 0, 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0, 0],
        ].concat();
        let link = parse(&payload).unwrap();
        assert_eq!(
            link,
            Link {
                ifindex: 5,
                name: "eth1".into(),
                mac: Some([0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee]),
                mtu: 1500,
                up: true,
                flags: 0x1_1043,
                operstate: IF_OPER_UP,
                vlan: None,
            }
        );
        assert_eq!(parse_ifindex(&payload).unwrap(), 5);
    }

    /// ifinfomsg of ifindex 12 (UP|BROADCAST|RUNNING|MULTICAST|LOWER_UP),
    /// IFLA_IFNAME "eth1.100", IFLA_LINK 7, then `linkinfo` as is.
    fn stacked_on_7(linkinfo: &[u8]) -> Vec<u8> {
        #[rustfmt::skip]
        let head: Vec<u8> = [
            &[0u8, 0, 1, 0, 12, 0, 0, 0, 0x43, 0x10, 0x01, 0x00, 0, 0, 0, 0][..],
            &[13, 0, 3, 0], b"eth1.100\0", &[0, 0, 0],
            &[8, 0, 5, 0, 7, 0, 0, 0],
        ].concat();
        [&head[..], linkinfo].concat()
    }

    /// `ip link add link eth1 name eth1.100 type vlan id 100` (and
    /// `proto 802.1ad`), with NLA_F_NESTED on both nests: 6.18 leaves it
    /// off, but the flag is valid there and must not hide the type.
    #[test]
    fn parses_a_vlan() {
        for (proto, protocol) in [([0x81, 0x00], ETH_P_8021Q), ([0x88, 0xa8], ETH_P_8021AD)] {
            #[rustfmt::skip]
            let linkinfo: Vec<u8> = [
                &[48u8, 0, 18, 0x80][..],                 // IFLA_LINKINFO | NLA_F_NESTED
                &[9, 0, 1, 0], b"vlan\0", &[0, 0, 0],     // IFLA_INFO_KIND
                &[32, 0, 2, 0x80],                        // IFLA_INFO_DATA | NLA_F_NESTED
                &[6, 0, 5, 0], &proto, &[0, 0],           // IFLA_VLAN_PROTOCOL, big-endian
                &[6, 0, 1, 0, 100, 0, 0, 0],              // IFLA_VLAN_ID
                &[12, 0, 2, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff], // IFLA_VLAN_FLAGS
            ].concat();
            let link = parse(&stacked_on_7(&linkinfo)).unwrap();
            assert_eq!((link.ifindex, link.name.as_str()), (12, "eth1.100"));
            assert_eq!(
                link.vlan,
                Some(Vlan {
                    parent: 7,
                    id: 100,
                    protocol,
                })
            );
        }
    }

    /// A veth names its peer in IFLA_LINK, but is no VLAN; a vlan kind
    /// without IFLA_LINK is not decoded either.
    #[test]
    fn other_kinds_are_not_vlans() {
        #[rustfmt::skip]
        let veth: Vec<u8> = [
            &[24u8, 0, 18, 0][..],
            &[9, 0, 1, 0], b"veth\0", &[0, 0, 0],
            &[8, 0, 2, 0, 1, 0, 0, 0], // IFLA_INFO_DATA: not a nest for vlan, not walked
        ].concat();
        assert_eq!(parse(&stacked_on_7(&veth)).unwrap().vlan, None);
        #[rustfmt::skip]
        let vlan: Vec<u8> = [
            &[28u8, 0, 18, 0][..],
            &[9, 0, 1, 0], b"vlan\0", &[0, 0, 0],
            &[12, 0, 2, 0, 6, 0, 1, 0, 100, 0, 0, 0],     // IFLA_VLAN_ID only
        ].concat();
        let ifinfomsg = [0u8, 0, 1, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let no_parent = [&ifinfomsg[..], &vlan].concat();
        assert_eq!(parse(&no_parent).unwrap().vlan, None);
        let with_parent = parse(&stacked_on_7(&vlan)).unwrap();
        assert_eq!(
            with_parent.vlan,
            Some(Vlan {
                parent: 7,
                id: 100,
                protocol: ETH_P_8021Q
            }),
            "no IFLA_VLAN_PROTOCOL: 802.1Q"
        );
    }

    #[test]
    fn truncated_vlan_data_is_an_error() {
        #[rustfmt::skip]
        let cases: [(Vec<u8>, &str); 3] = [
            // IFLA_VLAN_ID claims 20 bytes, 6 are there.
            ([&[28u8, 0, 18, 0][..], &[9, 0, 1, 0], b"vlan\0", &[0, 0, 0],
              &[12, 0, 2, 0, 20, 0, 1, 0, 100, 0, 0, 0]].concat(), "nla_len"),
            // IFLA_VLAN_ID of one byte.
            ([&[28u8, 0, 18, 0][..], &[9, 0, 1, 0], b"vlan\0", &[0, 0, 0],
              &[12, 0, 2, 0, 5, 0, 1, 0, 100, 0, 0, 0]].concat(), "IFLA_VLAN_ID"),
            // IFLA_INFO_DATA claims 40 bytes, 8 are left in IFLA_LINKINFO.
            ([&[24u8, 0, 18, 0][..], &[9, 0, 1, 0], b"vlan\0", &[0, 0, 0],
              &[40, 0, 2, 0, 6, 0, 1, 0]].concat(), "nla_len"),
        ];
        for (linkinfo, want) in cases {
            // The outer attributes are whole: only the nested ones fail.
            let payload = stacked_on_7(&linkinfo);
            assert!(attributes(&payload[16..]).all(|a| a.is_ok()));
            match parse(&payload) {
                Err(DecodeError::Invalid { what, .. }) => assert_eq!(what, want),
                other => panic!("{linkinfo:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn up_needs_admin_and_oper_state() {
        assert!(is_up(IFF_UP, IF_OPER_UP));
        assert!(is_up(IFF_UP | IFF_LOWER_UP, IF_OPER_UNKNOWN));
        assert!(!is_up(IFF_UP, IF_OPER_UNKNOWN), "unknown without carrier");
        assert!(!is_up(0, IF_OPER_UP), "admin down");
        assert!(!is_up(IFF_UP | IFF_LOWER_UP, 2), "oper down");
        assert!(!is_up(IFF_UP | IFF_LOWER_UP, 5), "dormant");
    }

    #[test]
    fn truncated_header_is_an_error() {
        assert!(matches!(
            parse(&[0; 8]),
            Err(DecodeError::Truncated {
                what: "ifinfomsg",
                ..
            })
        ));
    }

    /// A dump captured from the kernel (see tests/fixtures): every message
    /// parses and `lo` is there with its loopback shape. 6.18 sends
    /// IFLA_LINKINFO before IFLA_LINK; the veth has both and is no VLAN.
    #[test]
    fn parses_a_captured_dump() {
        let dump = include_bytes!("../tests/fixtures/link_dump.bin");
        let links: Vec<Link> = messages(dump)
            .map(|m| m.unwrap())
            .filter(|m| m.kind == codec::RTM_NEWLINK)
            .map(|m| parse(m.payload).unwrap())
            .collect();
        let lo = links.iter().find(|l| l.name == "lo").expect("lo in dump");
        assert_eq!((lo.ifindex, lo.mtu, lo.mac), (1, 65536, Some([0; 6])));
        assert!(
            links
                .iter()
                .any(|l| l.name == "eth1" && l.up && l.mtu == 1500)
        );
        assert!(links.iter().all(|l| l.vlan.is_none()), "{links:?}");
    }
}
