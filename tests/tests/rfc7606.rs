//! RFC 7606 (revised error handling for BGP UPDATE messages) against a
//! running `sluice run`: a BGP peer written here, in Rust, sends malformed
//! UPDATEs byte by byte, and the test checks both what Sluice did with the
//! routes (`sluice show routes`, `show peers`) and what it sent back.
//!
//! Treat-as-withdraw and attribute-discard must keep the session up: after
//! each such UPDATE the peer announces a fresh "marker" prefix, and once
//! the marker shows in the RIB the UPDATE before it has been handled (one
//! TCP stream, handled in order) without a reset. Errors that make the
//! NLRI impossible to find must reset the session with a NOTIFICATION.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use serde_json::Value;
use sluice_e2e::fakepeer::{self, FakePeer, attrs, mp_reach, nlri};
use sluice_e2e::sluice::Sluice;
use sluice_testns::{Lab, Node, must_be_root, wait_until};
use sluice_wire::iana::attr::{
    AGGREGATOR, AS_PATH, ATOMIC_AGGREGATE, COMMUNITIES, FLAG_OPTIONAL as O, FLAG_TRANSITIVE as T,
    LOCAL_PREF, MED, MP_UNREACH, NEXT_HOP, ORIGIN,
};
use sluice_wire::iana::{AFI_IPV6, err};

/// How long Sluice may take to act on one message.
const ACT: Duration = Duration::from_secs(5);
const UP: Duration = Duration::from_secs(10);

const CONFIG_V4: &str = "\
router: { id: 192.0.2.1, asn: 64500 }
interfaces:
  - { name: eth1, addresses: [203.0.113.2/30] }
uplinks:
  - name: iap-a
    interface: eth1
    peer: { address: 203.0.113.1, asn: 65001, passive: true }
    import: full-table
policies: { bogons: [] }
";

const CONFIG_V6: &str = "\
router: { id: 192.0.2.1, asn: 64500 }
interfaces:
  - { name: eth1, addresses: ['2001:db8:1::2/64'] }
uplinks:
  - name: iap-a
    interface: eth1
    peer: { address: '2001:db8:1::1', asn: 65001, passive: true }
    import: full-table
policies: { bogons: [] }
";

/// AS_SEQUENCE [65001], 4-octet ASNs.
const AS_PATH_65001: &[u8] = &[2, 1, 0, 0, 0xfd, 0xe9];
const IGP: &[u8] = &[0];
const NH_V4: &[u8] = &[203, 0, 113, 1];
const ROUTE_V4: &str = "198.51.100.0/24";
const ROUTE_V6: &str = "2001:db8:100::/48";

fn med(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}

/// Sluice and the fake peer of one lab, with the checks every case uses.
struct Session<'a> {
    sluice: &'a Sluice<'a>,
    peer: &'a FakePeer,
    /// The peer's address, as `show peers` names the session.
    address: &'a str,
    /// Marker prefixes announced so far.
    markers: u32,
    v6: bool,
}

impl Session<'_> {
    /// Why the test failed, with everything needed to see why.
    fn context(&self) -> String {
        format!(
            "peer received {} messages, NOTIFICATIONs {:?}, connection {:?}\n\
             show peers: {}\nsluice log (tail):\n{}",
            self.peer.messages().len(),
            self.peer.notifications(),
            self.peer.ended(),
            self.sluice.json(&["show", "peers"]),
            tail(&self.sluice.log(), 40),
        )
    }

    /// Waits for `cond`, failing at once (with the reason) if the session resets.
    fn wait(&self, what: &str, mut cond: impl FnMut() -> bool) {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_until(ACT, what, || {
                if let Some(end) = self.peer.ended() {
                    panic!("the session was reset while waiting for {what}: {end}");
                }
                cond()
            });
        }));
        if let Err(e) = outcome {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            panic!("{msg}\n{}", self.context());
        }
    }

    fn paths(&self, prefix: &str) -> Vec<Value> {
        self.sluice.paths(prefix)
    }

    /// Waits until `prefix` has one path, from the peer, for which `cond` holds.
    fn wait_route(&self, prefix: &str, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
        let mut last = Vec::new();
        self.wait(&format!("{prefix}: {what}"), || {
            last = self.paths(prefix);
            last.len() == 1 && last[0]["peer"] == "iap-a" && cond(&last[0])
        });
        last.remove(0)
    }

    fn wait_gone(&self, prefix: &str, why: &str) {
        self.wait(&format!("{prefix} withdrawn ({why})"), || {
            self.paths(prefix).is_empty()
        });
    }

    /// Announces a fresh marker prefix with good attributes and waits for
    /// it: everything sent before has been handled, and the session is up.
    fn settle(&mut self, after: &str) {
        self.markers += 1;
        let n = self.markers;
        let prefix = if self.v6 {
            format!("2001:db8:f{n:03x}::/48")
        } else {
            format!("100.64.{n}.0/24")
        };
        if self.v6 {
            self.update_v6(&[(T, ORIGIN, IGP), (T, AS_PATH, AS_PATH_65001)], &[&prefix]);
        } else {
            self.peer.update(
                &[],
                &attrs(&[
                    (T, ORIGIN, IGP),
                    (T, AS_PATH, AS_PATH_65001),
                    (T, NEXT_HOP, NH_V4),
                ]),
                &nlri(&[&prefix]),
            );
        }
        self.wait(&format!("marker {prefix} after {after}"), || {
            !self.paths(&prefix).is_empty()
        });
        let p = self.sluice.peer(self.address);
        assert_eq!(
            p["state"],
            "established",
            "after {after}: {p}\n{}",
            self.context()
        );
        assert!(
            self.peer.notifications().is_empty() && self.peer.ended().is_none(),
            "after {after}: Sluice must not reset the session\n{}",
            self.context()
        );
    }

    /// An IPv4 UPDATE for [`ROUTE_V4`] with these attributes.
    fn update_v4(&self, list: &[(u8, u8, &[u8])]) {
        self.peer.update(&[], &attrs(list), &nlri(&[ROUTE_V4]));
    }

    /// An UPDATE with `list` and an MP_REACH_NLRI for `prefixes` via 2001:db8:1::1.
    fn update_v6(&self, list: &[(u8, u8, &[u8])], prefixes: &[&str]) {
        let nh: Ipv6Addr = "2001:db8:1::1".parse().unwrap();
        let mut a = attrs(list);
        a.extend(mp_reach(AFI_IPV6, &nh.octets(), &nlri(prefixes)));
        self.peer.update(&[], &a, &[]);
    }

    /// The good announcement of [`ROUTE_V4`], with this MED; waits for it.
    fn announce_good_v4(&self, m: u32) {
        let m4 = med(m);
        self.update_v4(&[
            (T, ORIGIN, IGP),
            (T, AS_PATH, AS_PATH_65001),
            (T, NEXT_HOP, NH_V4),
            (O, MED, &m4),
        ]);
        self.wait_route(ROUTE_V4, &format!("announced with MED {m}"), |p| {
            p["med"] == m
        });
    }

    /// Waits for the reset: returns the NOTIFICATION the peer received,
    /// after checking that the connection closed and that `show peers`
    /// has the session down, with a `last_error` containing `reason`.
    fn wait_reset(&self, what: &str, reason: &str) -> fakepeer::Notification {
        let n = self.peer.wait_notification(ACT);
        wait_until(
            ACT,
            "the connection to close after the NOTIFICATION",
            || self.peer.ended().is_some(),
        );
        let mut last = Value::Null;
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_until(ACT, "show peers: the session down", || {
                last = self.sluice.peer(self.address);
                last["state"] != "established"
                    && last["last_error"]
                        .as_str()
                        .is_some_and(|e| e.contains(reason))
            });
        }));
        assert!(
            ok.is_ok(),
            "{what}: expected last_error with {reason:?}, NOTIFICATION {n:?}\n{}",
            self.context()
        );
        eprintln!("{what}: NOTIFICATION {n:?}; show peers: {last}");
        n
    }
}

fn tail(s: &str, lines: usize) -> String {
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `r` (Sluice) and `p` (the fake peer) joined by one link.
fn two_nodes(lab: &Lab) -> (Node<'_>, Node<'_>) {
    let (r, p) = (lab.node("r"), lab.node("p"));
    lab.link(&r, "eth1", &p, "eth1");
    (r, p)
}

#[test]
#[ignore = "needs root: network namespaces"]
fn malformed_ipv4_updates_are_handled_per_rfc7606() {
    must_be_root();
    let lab = Lab::new("rfc7606-v4");
    let (r, p) = two_nodes(&lab);
    r.addr("eth1", "203.0.113.2/30");
    p.addr("eth1", "203.0.113.1/30");
    let sluice = Sluice::start(&r, CONFIG_V4);
    let peer = FakePeer::connect(
        p.name(),
        SocketAddr::from(([203, 0, 113, 2], 179)),
        &fakepeer::open(65001, Ipv4Addr::new(203, 0, 113, 1), 30),
        UP,
    );
    assert_eq!(peer.their_open.asn, 64500, "{:?}", peer.their_open);
    sluice.wait_established("203.0.113.1", UP);
    let mut s = Session {
        sluice: &sluice,
        peer: &peer,
        address: "203.0.113.1",
        markers: 0,
        v6: false,
    };

    // 1. A good UPDATE: the route is in the RIB as sent.
    s.announce_good_v4(10);
    let path = s.wait_route(ROUTE_V4, "as sent", |_| true);
    assert_eq!(path["next_hop"], "203.0.113.1", "{path}");
    assert_eq!(path["as_path"], serde_json::json!([65001]), "{path}");
    assert_eq!(path["origin"], "igp", "{path}");
    s.settle("a good UPDATE");

    // 2. ORIGIN 7 (§7.1): treat-as-withdraw.
    s.update_v4(&[
        (T, ORIGIN, &[7]),
        (T, AS_PATH, AS_PATH_65001),
        (T, NEXT_HOP, NH_V4),
    ]);
    s.wait_gone(ROUTE_V4, "bad ORIGIN value");
    s.settle("a bad ORIGIN value");

    // 3. AS_PATH whose segment claims 3 ASNs but holds 1 (§7.2): treat-as-withdraw.
    s.announce_good_v4(10);
    s.update_v4(&[
        (T, ORIGIN, IGP),
        (T, AS_PATH, &[2, 3, 0, 0, 0xfd, 0xe9]),
        (T, NEXT_HOP, NH_V4),
    ]);
    s.wait_gone(ROUTE_V4, "AS_PATH segment overrun");
    s.settle("a malformed AS_PATH");

    // 4a. MED of length 2 (§7.4): treat-as-withdraw.
    s.announce_good_v4(10);
    s.update_v4(&[
        (T, ORIGIN, IGP),
        (T, AS_PATH, AS_PATH_65001),
        (T, NEXT_HOP, NH_V4),
        (O, MED, &[0, 10]),
    ]);
    s.wait_gone(ROUTE_V4, "MED of length 2");
    s.settle("a MED of length 2");
    // 4b. ATOMIC_AGGREGATE of length 1 (§7.6): attribute-discard, the route is used.
    s.update_v4(&[
        (T, ORIGIN, IGP),
        (T, AS_PATH, AS_PATH_65001),
        (T, NEXT_HOP, NH_V4),
        (O, MED, &med(20)),
        (T, ATOMIC_AGGREGATE, &[1]),
    ]);
    s.wait_route(
        ROUTE_V4,
        "accepted despite ATOMIC_AGGREGATE of length 1",
        |p| p["med"] == 20,
    );
    s.settle("an ATOMIC_AGGREGATE of length 1");

    // 5. Two MEDs (§3 g): the repeat is discarded, the first one counts.
    s.update_v4(&[
        (T, ORIGIN, IGP),
        (T, AS_PATH, AS_PATH_65001),
        (T, NEXT_HOP, NH_V4),
        (O, MED, &med(30)),
        (O, MED, &med(99)),
    ]);
    let path = s.wait_route(ROUTE_V4, "replaced (two MEDs)", |p| p["med"] != 20);
    assert_eq!(path["med"], 30, "the first MED wins: {path}");
    s.settle("two MEDs");

    // 6. NEXT_HOP 0.0.0.0, then a multicast one (§7.3): treat-as-withdraw.
    for (nh, name) in [
        (&[0u8, 0, 0, 0], "NEXT_HOP 0.0.0.0"),
        (&[224, 0, 0, 1], "NEXT_HOP 224.0.0.1"),
    ] {
        s.announce_good_v4(10);
        s.update_v4(&[
            (T, ORIGIN, IGP),
            (T, AS_PATH, AS_PATH_65001),
            (T, NEXT_HOP, nh),
        ]);
        s.wait_gone(ROUTE_V4, name);
        s.settle(name);
    }

    // 7. No ORIGIN (§3 d): treat-as-withdraw.
    s.announce_good_v4(10);
    s.update_v4(&[(T, AS_PATH, AS_PATH_65001), (T, NEXT_HOP, NH_V4)]);
    s.wait_gone(ROUTE_V4, "missing ORIGIN");
    s.settle("a missing ORIGIN");

    // 8. Unknown optional attributes, transitive and not: the route is used.
    s.update_v4(&[
        (T, ORIGIN, IGP),
        (T, AS_PATH, AS_PATH_65001),
        (T, NEXT_HOP, NH_V4),
        (O, MED, &med(40)),
        (O | T, 200, &[9, 9, 9]),
        (O, 201, &[1]),
    ]);
    s.wait_route(ROUTE_V4, "accepted with unknown optional attributes", |p| {
        p["med"] == 40
    });
    s.settle("unknown optional attributes");

    // 8b. More of the same kind, each leaving the session up:
    //     MED flagged transitive: attribute flags conflict (§3 c), treat-as-withdraw;
    s.announce_good_v4(10);
    s.update_v4(&[
        (T, ORIGIN, IGP),
        (T, AS_PATH, AS_PATH_65001),
        (T, NEXT_HOP, NH_V4),
        (O | T, MED, &med(50)),
    ]);
    s.wait_gone(ROUTE_V4, "MED flagged transitive");
    s.settle("a MED flagged transitive");
    //     an attribute whose length runs past the attribute list (§4), treat-as-withdraw;
    s.announce_good_v4(10);
    let mut overrun = attrs(&[
        (T, ORIGIN, IGP),
        (T, AS_PATH, AS_PATH_65001),
        (T, NEXT_HOP, NH_V4),
    ]);
    overrun.extend([O | T, COMMUNITIES, 40, 0xfd, 0xe9]);
    peer.update(&[], &overrun, &nlri(&[ROUTE_V4]));
    s.wait_gone(ROUTE_V4, "COMMUNITIES overrunning the attribute list");
    s.settle("an attribute overrunning the attribute list");
    //     AGGREGATOR of the wrong length (§7.7), attribute-discard.
    s.update_v4(&[
        (T, ORIGIN, IGP),
        (T, AS_PATH, AS_PATH_65001),
        (T, NEXT_HOP, NH_V4),
        (O, MED, &med(60)),
        (O | T, AGGREGATOR, &[1, 2, 3]),
    ]);
    s.wait_route(ROUTE_V4, "accepted without its AGGREGATOR", |p| {
        p["med"] == 60
    });
    s.settle("an AGGREGATOR of length 3");

    //     LOCAL_PREF from this external peer, malformed (§7.5): discarded, the route is used.
    s.update_v4(&[
        (T, ORIGIN, IGP),
        (T, AS_PATH, AS_PATH_65001),
        (T, NEXT_HOP, NH_V4),
        (O, MED, &med(70)),
        (T, LOCAL_PREF, &[0, 100]),
    ]);
    s.wait_route(ROUTE_V4, "accepted without its malformed LOCAL_PREF", |p| {
        p["med"] == 70
    });
    s.settle("a LOCAL_PREF of length 2 from an eBGP peer");

    // 8c. Semantically wrong routes are ignored without a reset (RFC 4271
    //     §6.3, RFC 7606 §7.2): a next hop that is Sluice itself, one off
    //     the link of this single-hop session, a path that does not start
    //     with the peer's AS, an empty path from an external peer.
    let wrong_first_as: &[u8] = &[2, 1, 0, 0, 0xfe, 0x4b];
    for (what, nh, path) in [
        (
            "next hop is Sluice itself",
            &[203u8, 0, 113, 2][..],
            AS_PATH_65001,
        ),
        ("next hop off the link", &[192, 0, 2, 99][..], AS_PATH_65001),
        ("path starts with AS65099", NH_V4, wrong_first_as),
        ("empty path from eBGP", NH_V4, &[][..]),
    ] {
        s.announce_good_v4(10);
        s.update_v4(&[
            (T, ORIGIN, IGP),
            (T, AS_PATH, path),
            (T, NEXT_HOP, nh),
            (O, MED, &med(80)),
        ]);
        s.wait_gone(ROUTE_V4, what);
        s.settle(what);
    }

    // Every one of those problems was logged as such.
    let log = sluice.log();
    assert!(log.contains("RFC 7606"), "{}", tail(&log, 40));

    // 9. Withdrawn Routes Length beyond the end of the message: the
    //    attributes and NLRI cannot be found, so treat-as-withdraw is
    //    impossible (RFC 7606 §4) and the session resets with UPDATE error
    //    / malformed attribute list (RFC 4271 §6.3).
    let mut bad = sluice_wire::encode::update(
        &[],
        &attrs(&[
            (T, ORIGIN, IGP),
            (T, AS_PATH, AS_PATH_65001),
            (T, NEXT_HOP, NH_V4),
        ]),
        &nlri(&[ROUTE_V4]),
    );
    bad[19..21].copy_from_slice(&500u16.to_be_bytes());
    peer.send(&bad).expect("send the broken UPDATE");
    let n = s.wait_reset(
        "withdrawn length overrun",
        "UPDATE error / malformed attribute list",
    );
    assert_eq!(
        (n.code, n.subcode),
        (err::UPDATE, err::UPDATE_MALFORMED_ATTR_LIST),
        "{n:?}\n{}",
        s.context()
    );
    // A reset without graceful restart takes the peer's routes away.
    wait_until(ACT, "the peer's routes flushed", || {
        sluice.paths(ROUTE_V4).is_empty() && sluice.paths("100.64.1.0/24").is_empty()
    });
}

#[test]
#[ignore = "needs root: network namespaces"]
fn mp_reach_nlri_is_used_withdrawn_or_resets_per_rfc7606() {
    must_be_root();
    let lab = Lab::new("rfc7606-v6");
    let (r, p) = two_nodes(&lab);
    // No duplicate address detection: the addresses are usable at once.
    r.ip(["addr", "add", "2001:db8:1::2/64", "dev", "eth1", "nodad"]);
    p.ip(["addr", "add", "2001:db8:1::1/64", "dev", "eth1", "nodad"]);
    let sluice = Sluice::start(&r, CONFIG_V6);
    let to: SocketAddr = "[2001:db8:1::2]:179".parse().unwrap();
    let peer = FakePeer::connect(
        p.name(),
        to,
        &fakepeer::open(65001, Ipv4Addr::new(203, 0, 113, 1), 30),
        UP,
    );
    let address = "2001:db8:1::1";
    sluice.wait_established(address, UP);
    let mut s = Session {
        sluice: &sluice,
        peer: &peer,
        address,
        markers: 0,
        v6: true,
    };

    // A good MP_REACH_NLRI (RFC 4760): the route, via the next hop it carries.
    let good: &[(u8, u8, &[u8])] = &[(T, ORIGIN, IGP), (T, AS_PATH, AS_PATH_65001)];
    s.update_v6(good, &[ROUTE_V6]);
    let path = s.wait_route(ROUTE_V6, "announced", |_| true);
    assert_eq!(path["next_hop"], "2001:db8:1::1", "{path}");
    assert_eq!(path["as_path"], serde_json::json!([65001]), "{path}");
    s.settle("a good MP_REACH_NLRI");

    // Treat-as-withdraw covers the NLRI of MP_REACH_NLRI too (RFC 7606 §2).
    s.update_v6(
        &[(T, ORIGIN, &[7]), (T, AS_PATH, AS_PATH_65001)],
        &[ROUTE_V6],
    );
    s.wait_gone(ROUTE_V6, "bad ORIGIN with MP_REACH_NLRI");
    s.settle("a bad ORIGIN with MP_REACH_NLRI");

    // An MP_REACH_NLRI whose NLRI is cut short (a /48 with 2 of its 6
    // octets): the prefixes cannot be found, so the session resets
    // (RFC 7606 §5.3), with UPDATE error / optional attribute error
    // (RFC 4760 §7) carrying the attribute (RFC 4271 §6.3).
    s.update_v6(good, &[ROUTE_V6]);
    s.wait_route(ROUTE_V6, "announced again", |_| true);
    let nh: Ipv6Addr = "2001:db8:1::1".parse().unwrap();
    let broken = mp_reach(AFI_IPV6, &nh.octets(), &[48, 0x20, 0x01]);
    let mut a = attrs(good);
    a.extend(&broken);
    peer.update(&[], &a, &[]);
    let n = s.wait_reset("malformed MP_REACH_NLRI", "UPDATE error");
    assert_eq!(n.code, err::UPDATE, "{n:?}\n{}", s.context());
    assert_eq!(n.subcode, err::UPDATE_OPTIONAL_ATTR, "{n:?}");
    assert_eq!(n.data, broken, "the data is the attribute in error");
    wait_until(ACT, "the peer's routes flushed", || {
        sluice.paths(ROUTE_V6).is_empty()
    });
}

/// One UPDATE per connection that cannot be parsed far enough to find its
/// routes: each must reset the session with a NOTIFICATION (RFC 7606 §4,
/// §5.3) and take the peer's routes away; the peer then connects again.
#[test]
#[ignore = "needs root: network namespaces"]
fn unparseable_updates_reset_the_session() {
    must_be_root();
    let lab = Lab::new("rfc7606-reset");
    let (r, p) = two_nodes(&lab);
    r.addr("eth1", "203.0.113.2/30");
    p.addr("eth1", "203.0.113.1/30");
    let sluice = Sluice::start(&r, CONFIG_V4);
    let address = "203.0.113.1";

    let good = attrs(&[
        (T, ORIGIN, IGP),
        (T, AS_PATH, AS_PATH_65001),
        (T, NEXT_HOP, NH_V4),
    ]);
    let nh6 = "2001:db8:1::1".parse::<Ipv6Addr>().unwrap().octets();
    let mp_good = mp_reach(AFI_IPV6, &nh6, &nlri(&[ROUTE_V6]));
    let update = sluice_wire::encode::update;

    let mut attr_len_overrun = update(&[], &good, &nlri(&[ROUTE_V4]));
    attr_len_overrun[21..23].copy_from_slice(&500u16.to_be_bytes());
    let with = |extra: &[u8]| [&good[..], extra].concat();
    let two_mp_reach = with(&[&mp_good[..], &mp_good[..]].concat());
    let mp_nh_len = with(&mp_reach(AFI_IPV6, &nh6[..5], &nlri(&[ROUTE_V6])));
    let mp_unreach_overrun =
        with(&[&mp_good[..], &[O, MP_UNREACH, 40, 0, 2, 1, 32, 0x20]].concat());

    // (what, message, subcode if the RFCs name one, in last_error).
    let cases: Vec<(&str, Vec<u8>, Option<u8>, &str)> = vec![
        // RFC 4271 §6.3: a length past the message: Malformed Attribute List.
        (
            "Total Path Attribute Length beyond the message",
            attr_len_overrun,
            Some(err::UPDATE_MALFORMED_ATTR_LIST),
            "malformed attribute list",
        ),
        // RFC 4271 §6.3: Invalid Network Field; RFC 7606 §5.3: session reset.
        (
            "an NLRI prefix of length 33",
            update(&[], &good, &[33, 198, 51, 100, 0, 0]),
            Some(err::UPDATE_INVALID_NETWORK),
            "invalid network field",
        ),
        // RFC 7606 §5.3: the Withdrawn Routes field too.
        (
            "a withdrawn /24 with 2 of its 3 octets",
            update(&[24, 198, 51], &[], &[]),
            None,
            "UPDATE error",
        ),
        // RFC 7606 §3 g: MP_REACH_NLRI twice: Malformed Attribute List.
        (
            "two MP_REACH_NLRI",
            update(&[], &two_mp_reach, &[]),
            Some(err::UPDATE_MALFORMED_ATTR_LIST),
            "malformed attribute list",
        ),
        // RFC 7606 §7.11: the NLRI cannot be located after a next hop
        // whose length does not fit the AFI.
        (
            "MP_REACH_NLRI with a 5-octet IPv6 next hop",
            update(&[], &mp_nh_len, &[]),
            None,
            "UPDATE error",
        ),
        // RFC 7606 §4 with §5.3: the withdrawn routes of an MP_UNREACH_NLRI
        // running past the attribute list cannot be found.
        (
            "MP_UNREACH_NLRI overrunning the attribute list",
            update(&[], &mp_unreach_overrun, &[]),
            None,
            "UPDATE error",
        ),
    ];

    for (what, message, subcode, reason) in cases {
        let peer = FakePeer::connect(
            p.name(),
            SocketAddr::from(([203, 0, 113, 2], 179)),
            &fakepeer::open(65001, Ipv4Addr::new(203, 0, 113, 1), 30),
            UP,
        );
        sluice.wait_established(address, UP);
        let s = Session {
            sluice: &sluice,
            peer: &peer,
            address,
            markers: 0,
            v6: false,
        };
        s.announce_good_v4(10);
        peer.send(&message).expect("send the broken UPDATE");
        let n = s.wait_reset(what, reason);
        assert_eq!(n.code, err::UPDATE, "{what}: {n:?}");
        if let Some(sub) = subcode {
            assert_eq!(n.subcode, sub, "{what}: {n:?}");
        }
        wait_until(ACT, "the peer's routes flushed", || {
            sluice.paths(ROUTE_V4).is_empty()
        });
    }
}
