//! What the `rtr` fuzz target asserts about a byte stream from a cache,
//! here so that stable builds replay its seeds (`tests/fuzz_seeds.rs`)
//! and the fuzz target (`fuzz/fuzz_targets/rtr.rs`) stays one line.

use crate::client::{Client, Event};
use crate::pdu::{Pdu, decode};

/// Decodes `data` PDU by PDU, checks that each encodes to bytes that
/// decode the same, and feeds every PDU to a client that has sent its
/// query: whatever a cache sends, the client answers, applies or refuses
/// it, and never panics; what it holds stays what End of Data applied.
/// Returns how many PDUs were decoded. Panics where a property fails.
pub fn replay(data: &[u8]) -> usize {
    let mut client = Client::new();
    let _ = client.connected();
    let mut rest = data;
    let mut pdus = 0;
    while let Ok(Some((frame, n))) = decode(rest) {
        assert!(n <= rest.len() && n >= 8);
        pdus += 1;
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
    pdus
}
