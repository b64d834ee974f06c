//! Decodes a byte stream as a cache would send it, PDU by PDU, checks
//! that each encodes to bytes that decode the same, and feeds every PDU
//! to an RTR client that has sent its query: whatever a cache sends, the
//! client answers, applies or refuses it, and never panics; what it holds
//! stays what End of Data applied.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_rpki::client::{Client, Event};
use sluice_rpki::pdu::{Pdu, decode};

fuzz_target!(|data: &[u8]| {
    let mut client = Client::new();
    let _ = client.connected();
    let mut rest = data;
    while let Ok(Some((frame, n))) = decode(rest) {
        assert!(n <= rest.len() && n >= 8);
        // What was read encodes to bytes that read back the same.
        if !matches!(frame.pdu, Pdu::RouterKey { .. }) {
            let again = frame.encode();
            assert_eq!(decode(&again), Ok(Some((frame.clone(), again.len()))));
        }
        rest = &rest[n..];
        match client.handle(frame) {
            Ok(events) => {
                for e in events {
                    if let Event::Update(u) = e {
                        for v in &u.announced {
                            assert!(client.table().contains(v));
                        }
                        for v in &u.withdrawn {
                            assert!(!client.table().contains(v));
                        }
                    }
                }
            }
            Err(fault) => {
                let _ = fault.to_string();
                client.disconnected();
                let _ = client.connected();
            }
        }
    }
});
