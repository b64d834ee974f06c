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
const IFLA_OPERSTATE: u16 = 16;
const IFLA_EXT_MASK: u16 = 29;
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
    };
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
            _ => {}
        }
    }
    link.up = is_up(flags, link.operstate);
    Ok(link)
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
            }
        );
        assert_eq!(parse_ifindex(&payload).unwrap(), 5);
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
    /// parses and `lo` is there with its loopback shape.
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
    }
}
