use proptest::prelude::*;

use super::*;

fn vrp(p: &str, max_len: u8, asn: u32) -> Vrp {
    Vrp {
        prefix: p.parse().unwrap(),
        max_len,
        asn,
    }
}

fn samples() -> Vec<Frame> {
    let intervals = Intervals {
        refresh: 60,
        retry: 30,
        expire: 600,
    };
    let mut all = Vec::new();
    for version in [0, 1] {
        all.extend(
            [
                Pdu::SerialNotify {
                    session: 7,
                    serial: 9,
                },
                Pdu::SerialQuery {
                    session: 7,
                    serial: u32::MAX,
                },
                Pdu::ResetQuery,
                Pdu::CacheResponse { session: 65535 },
                Pdu::Prefix {
                    announce: true,
                    vrp: vrp("192.0.2.0/24", 24, 65001),
                },
                Pdu::Prefix {
                    announce: false,
                    vrp: vrp("0.0.0.0/0", 32, 0),
                },
                Pdu::Prefix {
                    announce: true,
                    vrp: vrp("2001:db8::/32", 48, 4_200_000_000),
                },
                Pdu::EndOfData {
                    session: 7,
                    serial: 10,
                    intervals: (version == 1).then_some(intervals),
                },
                Pdu::CacheReset,
                Pdu::ErrorReport {
                    code: ErrorCode::NoDataAvailable,
                    pdu: vec![1, 2, 3],
                    text: "not yet".into(),
                },
            ]
            .into_iter()
            .map(|pdu| Frame::new(version, pdu)),
        );
    }
    all.push(Frame::new(1, Pdu::RouterKey { len: 8 + 24 + 91 }));
    all
}

#[test]
fn every_pdu_decodes_to_what_was_encoded() {
    for frame in samples() {
        let bytes = frame.encode();
        assert_eq!(
            decode(&bytes),
            Ok(Some((frame.clone(), bytes.len()))),
            "{frame:?}"
        );
        // Any strict prefix is incomplete, never an error.
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut]), Ok(None), "{frame:?} cut at {cut}");
        }
    }
}

#[test]
fn a_stream_decodes_pdu_by_pdu() {
    let frames = samples();
    let stream: Vec<u8> = frames.iter().flat_map(Frame::encode).collect();
    let mut at = 0;
    let mut got = Vec::new();
    while let Some((f, n)) = decode(&stream[at..]).unwrap() {
        got.push(f);
        at += n;
    }
    assert_eq!(at, stream.len());
    assert_eq!(got, frames);
}

#[test]
fn rfc_wire_layout_of_an_ipv4_prefix() {
    let bytes = Frame::new(
        1,
        Pdu::Prefix {
            announce: true,
            vrp: vrp("10.1.0.0/16", 24, 65001),
        },
    )
    .encode();
    assert_eq!(
        bytes,
        [
            1, 4, 0, 0, 0, 0, 0, 20, 1, 16, 24, 0, 10, 1, 0, 0, 0, 0, 0xfd, 0xe9
        ]
    );
}

#[test]
fn lengths_and_values_are_checked() {
    let mut reset = Frame::new(1, Pdu::ResetQuery).encode();
    reset[7] = 9;
    assert!(matches!(
        decode(&reset),
        Err(DecodeError::Length { len: 9, .. })
    ));
    // A length no PDU may have is refused before waiting for its bytes.
    let mut report = Frame::new(
        1,
        Pdu::ErrorReport {
            code: ErrorCode::InternalError,
            pdu: vec![],
            text: String::new(),
        },
    )
    .encode();
    report[4..8].copy_from_slice(&(MAX_PDU as u32 + 1).to_be_bytes());
    assert!(matches!(
        decode(&report[..8]),
        Err(DecodeError::Length { .. })
    ));
    // Parts longer than the PDU.
    let mut report = Frame::new(
        1,
        Pdu::ErrorReport {
            code: ErrorCode::InternalError,
            pdu: vec![0; 4],
            text: "x".into(),
        },
    )
    .encode();
    report[11] = 200;
    assert!(matches!(decode(&report), Err(DecodeError::Length { .. })));
    let mut v4 = Frame::new(
        1,
        Pdu::Prefix {
            announce: true,
            vrp: vrp("10.0.0.0/8", 24, 1),
        },
    )
    .encode();
    v4[10] = 7; // max length below the length
    assert!(matches!(decode(&v4), Err(DecodeError::Corrupt(_))));
    v4[9] = 33;
    v4[10] = 33;
    assert!(matches!(decode(&v4), Err(DecodeError::Corrupt(_))));
    assert_eq!(
        decode(&[2, 2, 0, 0, 0, 0, 0, 8]),
        Err(DecodeError::UnsupportedVersion(2))
    );
    assert_eq!(
        decode(&[1, 5, 0, 0, 0, 0, 0, 8]),
        Err(DecodeError::UnknownType(5))
    );
    // Router keys exist from version 1 on.
    let key = Frame::new(1, Pdu::RouterKey { len: 40 }).encode();
    let mut v0 = key.clone();
    v0[0] = 0;
    assert_eq!(decode(&v0), Err(DecodeError::UnknownType(kind::ROUTER_KEY)));
    assert_eq!(
        DecodeError::UnknownType(5).code(),
        ErrorCode::UnsupportedPduType
    );
}

#[test]
fn host_bits_of_a_prefix_are_cleared() {
    let mut bytes = Frame::new(
        0,
        Pdu::Prefix {
            announce: true,
            vrp: vrp("10.0.0.0/8", 8, 1),
        },
    )
    .encode();
    bytes[13] = 99;
    let (f, _) = decode(&bytes).unwrap().unwrap();
    assert_eq!(
        f.pdu,
        Pdu::Prefix {
            announce: true,
            vrp: vrp("10.0.0.0/8", 8, 1)
        }
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// Whatever a cache sends, decoding ends in a PDU, a wait or an error,
    /// and never reads past what it claims to have taken.
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        if let Ok(Some((frame, n))) = decode(&bytes) {
            prop_assert!(n <= bytes.len());
            if !matches!(frame.pdu, Pdu::RouterKey { .. } | Pdu::ErrorReport { .. }) {
                // Fixed-size PDUs encode back to the length they came with.
                prop_assert_eq!(frame.encode().len(), n);
            }
        }
    }

    /// A valid header over random bodies, the likelier way to reach the
    /// type-specific code.
    #[test]
    fn decode_survives_any_body(
        version in 0u8..2,
        kind in 0u8..12,
        field in any::<u16>(),
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = vec![version, kind];
        bytes.extend_from_slice(&field.to_be_bytes());
        bytes.extend_from_slice(&((body.len() + 8) as u32).to_be_bytes());
        bytes.extend_from_slice(&body);
        let _ = decode(&bytes);
    }

    #[test]
    fn prefixes_round_trip(a in any::<u32>(), len in 0u8..=32, extra in 0u8..=32, asn in any::<u32>(), announce in any::<bool>()) {
        let max_len = len.saturating_add(extra).min(32);
        let prefix = IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), len).unwrap().trunc());
        let frame = Frame::new(1, Pdu::Prefix { announce, vrp: Vrp { prefix, max_len, asn } });
        let bytes = frame.encode();
        prop_assert_eq!(decode(&bytes), Ok(Some((frame, bytes.len()))));
    }
}
