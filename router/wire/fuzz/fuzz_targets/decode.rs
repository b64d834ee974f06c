//! Frames a byte stream with `sluice_wire::frame`, decodes every message,
//! runs `Attrs::parse` on UPDATEs with every `Ctx`, and walks every prefix
//! and AS_PATH, checking the decoder's own invariants on the way.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_wire::nlri::{self, Afi, Prefixes};
use sluice_wire::update::{
    Attrs, Ctx, Update, Verdict, as_path_len, as_path_segments, widen_as_path,
};
use sluice_wire::{Message, frame};

/// Every prefix of a field that `nlri::validate` accepts, with host bits zero.
fn walk(afi: Afi, field: &[u8]) -> usize {
    let mut n = 0;
    for p in Prefixes::new(afi, field) {
        assert_eq!(p, p.trunc(), "host bits set");
        assert_eq!(nlri::afi_of(&p), afi);
        n += 1;
    }
    n
}

fn update(u: &Update<'_>) {
    // split() validated both classic fields: the iterators see all of them.
    assert_eq!(
        nlri::validate(Afi::Ipv4, u.withdrawn),
        Some(walk(Afi::Ipv4, u.withdrawn))
    );
    assert_eq!(
        nlri::validate(Afi::Ipv4, u.nlri),
        Some(walk(Afi::Ipv4, u.nlri))
    );
    let _ = u.is_end_of_rib_ipv4();
    for four_octet_as in [true, false] {
        for ebgp in [true, false] {
            let ctx = Ctx {
                four_octet_as,
                ebgp,
            };
            let Ok((a, verdict)) = Attrs::parse(u, ctx) else {
                continue;
            };
            // Any problem that is not an attribute-discard withdraws the routes.
            if a.problems.iter().any(|p| !p.discarded) {
                assert_eq!(verdict, Verdict::TreatAsWithdraw, "{:?}", a.problems);
            }
            if let Some(m) = a.mp_reach {
                assert_eq!(nlri::validate(m.afi, m.nlri), Some(walk(m.afi, m.nlri)));
            }
            if let Some(m) = a.mp_unreach {
                assert_eq!(
                    nlri::validate(m.afi, m.withdrawn),
                    Some(walk(m.afi, m.withdrawn))
                );
            }
            if let Some(path) = a.as_path {
                let _ = as_path_segments(path, four_octet_as).count();
                let _ = as_path_len(path);
                if !four_octet_as {
                    let wide = widen_as_path(path);
                    let _ = as_path_segments(&wide, true).count();
                    let _ = as_path_len(&wide);
                }
            }
            if ebgp {
                assert_eq!(a.local_pref, None);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // The input is a stream of messages, cut at both size limits.
    for max_len in [4096, 65535] {
        let mut rest = data;
        while let Ok(Some(n)) = frame(rest, max_len) {
            let (message, next) = rest.split_at(n);
            match Message::decode(message) {
                Ok(Message::Update(u)) => update(&u),
                Ok(Message::Notification(n)) => {
                    let _ = n.shutdown_message();
                    let _ = n.to_string();
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = e.to_string();
                }
            }
            rest = next;
        }
    }
});
