use super::*;

fn vrp(p: &str, max_len: u8, asn: u32) -> Vrp {
    Vrp {
        prefix: p.parse().unwrap(),
        max_len,
        asn,
    }
}

fn f(pdu: Pdu) -> Frame {
    Frame::new(1, pdu)
}

fn announce(v: Vrp) -> Frame {
    f(Pdu::Prefix {
        announce: true,
        vrp: v,
    })
}

fn withdraw(v: Vrp) -> Frame {
    f(Pdu::Prefix {
        announce: false,
        vrp: v,
    })
}

fn eod(session: u16, serial: u32) -> Frame {
    f(Pdu::EndOfData {
        session,
        serial,
        intervals: Some(Intervals {
            refresh: 60,
            retry: 10,
            expire: 300,
        }),
    })
}

/// Feeds frames, collecting events; panics on a fault.
fn run(c: &mut Client, frames: impl IntoIterator<Item = Frame>) -> Vec<Event> {
    frames
        .into_iter()
        .flat_map(|fr| c.handle(fr).expect("no fault"))
        .collect()
}

fn synced(c: &mut Client, vrps: &[Vrp]) {
    assert_eq!(c.connected(), f(Pdu::ResetQuery));
    let mut frames = vec![f(Pdu::CacheResponse { session: 42 })];
    frames.extend(vrps.iter().copied().map(announce));
    frames.push(eod(42, 1));
    run(c, frames);
}

#[test]
fn reset_then_deltas() {
    let (a, b, c2) = (
        vrp("192.0.2.0/24", 24, 1),
        vrp("198.51.100.0/24", 24, 2),
        vrp("2001:db8::/32", 48, 3),
    );
    let mut c = Client::new();
    assert_eq!(c.connected(), f(Pdu::ResetQuery));
    assert!(
        run(
            &mut c,
            [
                f(Pdu::CacheResponse { session: 42 }),
                announce(a),
                announce(b)
            ]
        )
        .is_empty()
    );
    assert!(c.table().is_empty(), "nothing applies before End of Data");
    let events = run(&mut c, [eod(42, 1)]);
    assert_eq!(
        events,
        vec![Event::Update(Update {
            announced: vec![a, b],
            withdrawn: vec![],
            reset: true
        })]
    );
    assert_eq!(c.table().len(), 2);
    assert_eq!(c.intervals().refresh, 60);
    // A notify asks for the delta; the delta applies at its end.
    let events = run(
        &mut c,
        [f(Pdu::SerialNotify {
            session: 42,
            serial: 2,
        })],
    );
    assert_eq!(
        events,
        vec![Event::Send(f(Pdu::SerialQuery {
            session: 42,
            serial: 1
        }))]
    );
    let events = run(
        &mut c,
        [
            f(Pdu::CacheResponse { session: 42 }),
            withdraw(a),
            announce(c2),
            eod(42, 2),
        ],
    );
    assert_eq!(
        events,
        vec![Event::Update(Update {
            announced: vec![c2],
            withdrawn: vec![a],
            reset: false
        })]
    );
    assert_eq!(c.serial(), Some(2));
    assert!(!c.table().contains(&a) && c.table().contains(&c2));
    // A notify while a query is out asks nothing more.
    assert_eq!(
        c.refresh(),
        Some(f(Pdu::SerialQuery {
            session: 42,
            serial: 2
        }))
    );
    assert!(
        run(
            &mut c,
            [f(Pdu::SerialNotify {
                session: 42,
                serial: 3
            })]
        )
        .is_empty()
    );
}

#[test]
fn a_reconnect_asks_for_the_delta_and_a_cache_reset_for_everything() {
    let (a, b) = (vrp("192.0.2.0/24", 24, 1), vrp("198.51.100.0/24", 24, 2));
    let mut c = Client::new();
    synced(&mut c, &[a]);
    c.disconnected();
    assert_eq!(
        c.connected(),
        f(Pdu::SerialQuery {
            session: 42,
            serial: 1
        })
    );
    // The cache has no delta that old.
    let events = run(&mut c, [f(Pdu::CacheReset)]);
    assert_eq!(events, vec![Event::Send(f(Pdu::ResetQuery))]);
    let events = run(
        &mut c,
        [
            f(Pdu::CacheResponse { session: 42 }),
            announce(b),
            eod(42, 9),
        ],
    );
    assert_eq!(
        events,
        vec![Event::Update(Update {
            announced: vec![b],
            withdrawn: vec![a],
            reset: true
        })],
        "the difference to what was held"
    );
}

/// A cache that restarted refuses the old session id and closes (StayRTR
/// sends Corrupt Data first): the next connection asks for everything,
/// and the answer replaces what was held.
#[test]
fn a_serial_query_left_unanswered_is_followed_by_a_reset_query() {
    let (a, b) = (vrp("192.0.2.0/24", 24, 1), vrp("198.51.100.0/24", 24, 2));
    let mut c = Client::new();
    synced(&mut c, &[a]);
    c.disconnected();
    let serial = f(Pdu::SerialQuery {
        session: 42,
        serial: 1,
    });
    assert_eq!(c.connected(), serial);
    let refused = c.handle(f(Pdu::ErrorReport {
        code: ErrorCode::CorruptData,
        pdu: serial.encode(),
        text: "Session ID mismatch".into(),
    }));
    assert!(refused.is_err());
    c.disconnected();
    assert!(c.table().contains(&a), "kept until replaced");
    assert_eq!(c.connected(), f(Pdu::ResetQuery));
    let events = run(
        &mut c,
        [f(Pdu::CacheResponse { session: 7 }), announce(b), eod(7, 0)],
    );
    assert_eq!(
        events,
        vec![Event::Update(Update {
            announced: vec![b],
            withdrawn: vec![a],
            reset: true
        })]
    );
    // Closed without a word after the Serial Query: the same.
    c.disconnected();
    c.connected();
    c.disconnected();
    assert_eq!(c.connected(), f(Pdu::ResetQuery));
}

#[test]
fn a_new_session_id_starts_over() {
    let a = vrp("192.0.2.0/24", 24, 1);
    let mut c = Client::new();
    synced(&mut c, &[a]);
    c.refresh().unwrap();
    let events = run(&mut c, [f(Pdu::CacheResponse { session: 43 })]);
    assert_eq!(events, vec![Event::Send(f(Pdu::ResetQuery))]);
    run(
        &mut c,
        [
            f(Pdu::CacheResponse { session: 43 }),
            announce(a),
            eod(43, 1),
        ],
    );
    assert_eq!(c.session(), Some(43));
    assert!(c.table().contains(&a));
}

#[test]
fn announce_twice_or_withdraw_unknown_ends_the_session_with_an_error_report() {
    let a = vrp("192.0.2.0/24", 24, 1);
    let mut c = Client::new();
    synced(&mut c, &[a]);
    c.refresh().unwrap();
    run(&mut c, [f(Pdu::CacheResponse { session: 42 })]);
    let fault = c.handle(announce(a)).unwrap_err();
    assert_eq!(fault.code, ErrorCode::DuplicateAnnouncement);
    let Some(Frame {
        pdu: Pdu::ErrorReport { code, pdu, .. },
        ..
    }) = &fault.reply
    else {
        panic!("an Error Report is owed: {fault:?}");
    };
    assert_eq!(*code, ErrorCode::DuplicateAnnouncement);
    assert_eq!(*pdu, announce(a).encode(), "it quotes the PDU");
    c.disconnected();
    assert!(c.table().contains(&a), "the last complete data stays");

    c.connected();
    run(&mut c, [f(Pdu::CacheResponse { session: 42 })]);
    let fault = c.handle(withdraw(vrp("10.0.0.0/8", 8, 1))).unwrap_err();
    assert_eq!(fault.code, ErrorCode::WithdrawalOfUnknown);
    // Withdrawn then announced again within one delta: fine, no change.
    c.disconnected();
    c.connected();
    let events = run(
        &mut c,
        [
            f(Pdu::CacheResponse { session: 42 }),
            withdraw(a),
            announce(a),
            eod(42, 3),
        ],
    );
    assert_eq!(events, vec![Event::Update(Update::default())]);
}

#[test]
fn out_of_order_pdus_are_invalid_requests() {
    let mut c = Client::new();
    c.connected();
    let fault = c.handle(announce(vrp("192.0.2.0/24", 24, 1))).unwrap_err();
    assert_eq!(fault.code, ErrorCode::InvalidRequest);
    let mut c = Client::new();
    c.connected();
    assert_eq!(
        c.handle(eod(1, 1)).unwrap_err().code,
        ErrorCode::InvalidRequest
    );
}

#[test]
fn a_version_0_cache_is_followed() {
    let a = vrp("192.0.2.0/24", 24, 1);
    // Answering a version 1 query with version 0 PDUs.
    let mut c = Client::new();
    c.connected();
    let v0 = |pdu| Frame::new(0, pdu);
    c.handle(v0(Pdu::CacheResponse { session: 5 })).unwrap();
    c.handle(v0(Pdu::Prefix {
        announce: true,
        vrp: a,
    }))
    .unwrap();
    c.handle(v0(Pdu::EndOfData {
        session: 5,
        serial: 1,
        intervals: None,
    }))
    .unwrap();
    assert_eq!(c.version(), 0);
    assert_eq!(c.intervals(), Intervals::default());
    // Mixing versions on one connection is an error.
    c.refresh().unwrap();
    let fault = c.handle(f(Pdu::CacheResponse { session: 5 })).unwrap_err();
    assert_eq!(fault.code, ErrorCode::UnexpectedVersion);

    // Refusing version 1 outright: reconnect with 0.
    let mut c = Client::new();
    assert_eq!(c.connected().version, 1);
    let fault = c
        .handle(v0(Pdu::ErrorReport {
            code: ErrorCode::UnsupportedVersion,
            pdu: vec![],
            text: "v0 only".into(),
        }))
        .unwrap_err();
    assert!(fault.downgrade && fault.reply.is_none());
    c.disconnected();
    assert_eq!(c.connected(), Frame::new(0, Pdu::ResetQuery));
}

#[test]
fn no_data_yet_is_a_fault_without_reply() {
    let mut c = Client::new();
    c.connected();
    let fault = c
        .handle(f(Pdu::ErrorReport {
            code: ErrorCode::NoDataAvailable,
            pdu: vec![],
            text: String::new(),
        }))
        .unwrap_err();
    assert_eq!(fault.code, ErrorCode::NoDataAvailable);
    assert!(!fault.downgrade && fault.reply.is_none());
    assert_eq!(c.serial(), None, "nothing applied");
}
