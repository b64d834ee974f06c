//! OPEN and its capabilities (RFC 5492).

use std::net::Ipv4Addr;

use crate::iana::{AS_TRANS, cap, err};
use crate::message::Notify;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Open {
    /// The speaker's ASN: the 4-octet capability's if present, else the 2-octet field.
    pub asn: u32,
    pub hold_time: u16,
    pub router_id: Ipv4Addr,
    pub caps: Capabilities,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// (AFI, SAFI) pairs (RFC 4760).
    pub multiprotocol: Vec<(u16, u8)>,
    pub route_refresh: bool,
    pub enhanced_route_refresh: bool,
    pub extended_message: bool,
    pub four_octet_as: Option<u32>,
    pub graceful_restart: Option<GracefulRestart>,
    /// Capabilities we do not implement, kept for `show peers`.
    pub unknown: Vec<u8>,
}

/// RFC 4724 §3, with the N bit of RFC 8538.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GracefulRestart {
    /// R: the sender has restarted and its forwarding state may be stale.
    pub restarting: bool,
    /// N: the sender supports graceful restart for NOTIFICATIONs too.
    pub notification: bool,
    /// Seconds the peer should keep our routes after the session drops.
    pub time: u16,
    /// (AFI, SAFI, forwarding state preserved).
    pub families: Vec<(u16, u8, bool)>,
}

impl Open {
    pub fn decode(body: &[u8]) -> Result<Open, Notify> {
        let bad_len = || Notify::new(err::HEADER, err::HEADER_BAD_LENGTH, []);
        if body.len() < 10 {
            return Err(bad_len());
        }
        if body[0] != 4 {
            return Err(Notify::new(
                err::OPEN,
                err::OPEN_UNSUPPORTED_VERSION,
                4u16.to_be_bytes(),
            ));
        }
        let as2 = u16::from_be_bytes([body[1], body[2]]);
        let hold_time = u16::from_be_bytes([body[3], body[4]]);
        let router_id = Ipv4Addr::new(body[5], body[6], body[7], body[8]);
        let params_len = usize::from(body[9]);
        // The parameters must fill the rest of the message exactly: octets
        // past them would be ignored, capabilities and all.
        let params = body
            .get(10..)
            .filter(|p| p.len() == params_len)
            .ok_or_else(|| Notify::new(err::OPEN, 0, []))?;
        if hold_time == 1 || hold_time == 2 {
            return Err(Notify::new(err::OPEN, err::OPEN_UNACCEPTABLE_HOLD, []));
        }
        if router_id.is_unspecified() {
            return Err(Notify::new(err::OPEN, err::OPEN_BAD_BGP_ID, []));
        }
        let caps = parse_params(params)?;
        let asn = caps.four_octet_as.unwrap_or(u32::from(as2));
        Ok(Open {
            asn,
            hold_time,
            router_id,
            caps,
        })
    }

    /// The body of this OPEN (without the header).
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        out.push(4);
        let as2 = u16::try_from(self.asn).unwrap_or(AS_TRANS);
        out.extend(as2.to_be_bytes());
        out.extend(self.hold_time.to_be_bytes());
        out.extend(self.router_id.octets());
        let mut caps = Vec::new();
        let c = &self.caps;
        // Our capabilities are a handful of small values (two families at
        // most): every length fits its octet by construction.
        let fits = |n: usize| u8::try_from(n).expect("OPEN capabilities fit one octet");
        let mut one = |code: u8, value: &[u8]| {
            caps.extend([code, fits(value.len())]);
            caps.extend(value);
        };
        for (afi, safi) in &c.multiprotocol {
            let mut v = afi.to_be_bytes().to_vec();
            v.extend([0, *safi]);
            one(cap::MULTIPROTOCOL, &v);
        }
        if c.route_refresh {
            one(cap::ROUTE_REFRESH, &[]);
        }
        if c.enhanced_route_refresh {
            one(cap::ENHANCED_ROUTE_REFRESH, &[]);
        }
        if c.extended_message {
            one(cap::EXTENDED_MESSAGE, &[]);
        }
        if let Some(gr) = &c.graceful_restart {
            let flags = (u16::from(gr.restarting) << 15)
                | (u16::from(gr.notification) << 14)
                | (gr.time & 0x0fff);
            let mut v = flags.to_be_bytes().to_vec();
            for (afi, safi, fwd) in &gr.families {
                v.extend(afi.to_be_bytes());
                v.extend([*safi, if *fwd { 0x80 } else { 0 }]);
            }
            one(cap::GRACEFUL_RESTART, &v);
        }
        if let Some(asn) = c.four_octet_as {
            one(cap::FOUR_OCTET_AS, &asn.to_be_bytes());
        }
        // One optional parameter of type 2 holding every capability.
        out.extend([fits(caps.len() + 2), 2, fits(caps.len())]);
        out.extend(caps);
    }
}

fn parse_params(mut params: &[u8]) -> Result<Capabilities, Notify> {
    let malformed = || Notify::new(err::OPEN, 0, []);
    let mut caps = Capabilities::default();
    while let [kind, len, rest @ ..] = params {
        let value = rest.get(..usize::from(*len)).ok_or_else(malformed)?;
        params = &rest[usize::from(*len)..];
        if *kind != 2 {
            return Err(Notify::new(err::OPEN, err::OPEN_UNSUPPORTED_OPTIONAL, []));
        }
        let mut v = value;
        while let [code, clen, rest @ ..] = v {
            let data = rest.get(..usize::from(*clen)).ok_or_else(malformed)?;
            v = &rest[usize::from(*clen)..];
            match (*code, data) {
                (cap::MULTIPROTOCOL, [a, b, _, safi]) => caps
                    .multiprotocol
                    .push((u16::from_be_bytes([*a, *b]), *safi)),
                (cap::ROUTE_REFRESH, []) => caps.route_refresh = true,
                (cap::ENHANCED_ROUTE_REFRESH, []) => caps.enhanced_route_refresh = true,
                (cap::EXTENDED_MESSAGE, []) => caps.extended_message = true,
                (cap::FOUR_OCTET_AS, [a, b, c, d]) => {
                    caps.four_octet_as = Some(u32::from_be_bytes([*a, *b, *c, *d]))
                }
                (cap::GRACEFUL_RESTART, [f0, f1, families @ ..])
                    if families.len().is_multiple_of(4) =>
                {
                    let flags = u16::from_be_bytes([*f0, *f1]);
                    caps.graceful_restart = Some(GracefulRestart {
                        restarting: flags & 0x8000 != 0,
                        notification: flags & 0x4000 != 0,
                        time: flags & 0x0fff,
                        families: families
                            .chunks(4)
                            .map(|c| (u16::from_be_bytes([c[0], c[1]]), c[2], c[3] & 0x80 != 0))
                            .collect(),
                    });
                }
                (code, _) => caps.unknown.push(code),
            }
        }
        if !v.is_empty() {
            return Err(malformed());
        }
    }
    if !params.is_empty() {
        return Err(malformed());
    }
    Ok(caps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iana::{AFI_IPV4, AFI_IPV6, SAFI_UNICAST};

    fn sample() -> Open {
        Open {
            asn: 4_200_000_001,
            hold_time: 90,
            router_id: Ipv4Addr::new(192, 0, 2, 1),
            caps: Capabilities {
                multiprotocol: vec![(AFI_IPV4, SAFI_UNICAST), (AFI_IPV6, SAFI_UNICAST)],
                route_refresh: true,
                enhanced_route_refresh: false,
                extended_message: true,
                four_octet_as: Some(4_200_000_001),
                graceful_restart: Some(GracefulRestart {
                    restarting: true,
                    notification: false,
                    time: 120,
                    families: vec![(AFI_IPV4, SAFI_UNICAST, true)],
                }),
                unknown: vec![],
            },
        }
    }

    #[test]
    fn round_trip_with_as_trans() {
        let open = sample();
        let mut body = Vec::new();
        open.encode_body(&mut body);
        assert_eq!(
            &body[1..3],
            &AS_TRANS.to_be_bytes(),
            "4-octet ASN shows as AS_TRANS"
        );
        assert_eq!(Open::decode(&body), Ok(open));
    }

    #[test]
    fn errors() {
        let mut body = Vec::new();
        sample().encode_body(&mut body);
        let mut v3 = body.clone();
        v3[0] = 3;
        assert_eq!(
            Open::decode(&v3).unwrap_err().subcode,
            err::OPEN_UNSUPPORTED_VERSION
        );
        let mut hold = body.clone();
        hold[3..5].copy_from_slice(&2u16.to_be_bytes());
        assert_eq!(
            Open::decode(&hold).unwrap_err().subcode,
            err::OPEN_UNACCEPTABLE_HOLD
        );
        let mut id = body.clone();
        id[5..9].fill(0);
        assert_eq!(Open::decode(&id).unwrap_err().subcode, err::OPEN_BAD_BGP_ID);
        let mut short = body.clone();
        short[9] += 5;
        assert!(Open::decode(&short).is_err());
        // Optional Parameters Length shorter than what follows: the rest
        // would be ignored (found by the netgauze oracle, tests/oracle.rs).
        let mut long = body.clone();
        long[9] -= 1;
        assert!(Open::decode(&long).is_err());
        let mut none = body.clone();
        none[9] = 0;
        assert!(Open::decode(&none).is_err());
    }
}
