//! A reload compares what the config means, not its text: comments, blank
//! lines, key order and flow or block style restart nothing and ask no
//! peer to resend its routes. A peer written here counts the ROUTE-REFRESH
//! messages Sluice sends it; a real change of the import policy sends one,
//! which shows the count can move.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use sluice_e2e::fakepeer::{self, FakePeer};
use sluice_e2e::sluice::Sluice;
use sluice_testns::{Lab, must_be_root, wait_until};
use sluice_wire::Message;

const UP: Duration = Duration::from_secs(15);

const CONFIG: &str = "\
router: { id: 192.0.2.1, asn: 64500 }
interfaces:
  - { name: eth1, addresses: [203.0.113.2/30] }
uplinks:
  - name: iap-a
    interface: eth1
    peer: { address: 203.0.113.1, asn: 65001, passive: true }
    import: from-transit
    max_prefix: 100
policies:
  bogons: []
  prefix_lists:
    any: [\"0.0.0.0/0 le 32\"]
  route_policies:
    from-transit:
      - { match: { prefix_list: any }, action: accept, set: { local_pref: 120 } }
      - { action: reject }
dataplane: { xdp: off, kernel_fib: off }
maintenance: { min_active_uplinks: 0 }
validate:
  waive:
    - { rule: SINGLE-POINT-OF-FAILURE, uplink: iap-a, reason: \"one access point in this test\" }
    - { rule: UPLINK-NO-PROBE, uplink: iap-a, reason: \"nothing to probe\" }
";

/// The same meaning: comments and blank lines everywhere, keys in another
/// order, block style where CONFIG has flow style and the other way round.
const SAME: &str = "\
# A comment on top.

policies:
  route_policies:
    # The import policy of the transit.
    from-transit:
      - action: accept
        set: { local_pref: 120 }
        match:
          prefix_list: any

      - { action: reject }
  prefix_lists: { any: [\"0.0.0.0/0 le 32\"] }
  bogons: []
dataplane: { kernel_fib: off, xdp: off }

uplinks:
  - { max_prefix: 100, import: from-transit, peer: { passive: true, asn: 65001, address: 203.0.113.1 }, interface: eth1, name: iap-a }
interfaces:
  - name: eth1   # the access point
    addresses: [203.0.113.2/30]
router:
  asn: 64500
  id: 192.0.2.1
validate:
  waive:
    # Reasons and rules as before, keys in another order.
    - { uplink: iap-a, rule: SINGLE-POINT-OF-FAILURE, reason: \"one access point in this test\" }
    - { reason: \"nothing to probe\", uplink: iap-a, rule: UPLINK-NO-PROBE }
maintenance:
  min_active_uplinks: 0
";

fn route_refreshes(peer: &FakePeer) -> usize {
    peer.messages()
        .iter()
        .filter(|m| matches!(Message::decode(m), Ok(Message::RouteRefresh { .. })))
        .count()
}

#[test]
#[ignore = "needs root: network namespaces"]
fn a_reload_that_changes_only_text_restarts_nothing_and_refreshes_nothing() {
    must_be_root();
    let lab = Lab::new("reload-meaning");
    let (r, p) = (lab.node("r"), lab.node("p"));
    lab.link(&r, "eth1", &p, "eth1");
    r.addr("eth1", "203.0.113.2/30");
    p.addr("eth1", "203.0.113.1/30");
    let sluice = Sluice::start(&r, CONFIG);
    let mut open = fakepeer::open(65001, Ipv4Addr::new(203, 0, 113, 1), 30);
    open.caps.route_refresh = true;
    let peer = FakePeer::connect(
        p.name(),
        SocketAddr::from(([203, 0, 113, 2], 179)),
        &open,
        UP,
    );
    sluice.wait_established("203.0.113.1", UP);
    let since = sluice.peer("203.0.113.1")["since"].clone();

    sluice.reload(SAME);
    // Give a refresh, were one sent, time to arrive.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        route_refreshes(&peer),
        0,
        "no ROUTE-REFRESH for a text-only change"
    );
    assert!(
        peer.ended().is_none(),
        "the session was reset: {:?}",
        peer.ended()
    );
    sluice.assert_session_kept("203.0.113.1", &since);
    assert!(!sluice.has_event("session-removed"), "{}", sluice.events());
    assert!(
        sluice.has_event("reload"),
        "the reload was applied: {}",
        sluice.events()
    );

    // A real change of the import policy: the peer is asked once per
    // family (IPv4 and IPv6 unicast).
    sluice.reload(&SAME.replace("local_pref: 120", "local_pref: 130"));
    let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until(
            UP,
            "a ROUTE-REFRESH per family after the policy changed",
            || route_refreshes(&peer) == 2,
        )
    }));
    assert!(
        ok.is_ok(),
        "no ROUTE-REFRESH: events {}\npeer {}",
        sluice.events(),
        sluice.json(&["show", "peers"])
    );
    assert!(peer.ended().is_none());
}
