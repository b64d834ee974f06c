//! Sluice's node in a line between two fake peers, for the tests that
//! drive it with hand-made UPDATEs:
//!
//! ```text
//!   n (eth2's far end) ─eth2─ r ─eth1─ p 203.0.113.1 (uplink, AS 65001)
//! ```

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use sluice_e2e::fakepeer::{self, FakePeer};
use sluice_testns::{Lab, Node};

/// How long a fake peer's session may take to come up.
const UP: Duration = Duration::from_secs(15);

/// eth2 toward an internal neighbour: Sluice's address, the neighbour's.
pub const INTERNAL: (&str, &str) = ("10.0.0.1/30", "10.0.0.2/30");

/// Sluice's node `r` with a peer on eth1 (203.0.113.1/30, Sluice .2) and
/// another on eth2 with `eth2`'s addresses (Sluice's, the peer's).
pub fn nodes<'l>(lab: &'l Lab, eth2: (&str, &str)) -> (Node<'l>, Node<'l>, Node<'l>) {
    let (r, p, n) = (lab.node("r"), lab.node("p"), lab.node("n"));
    lab.link(&r, "eth1", &p, "eth1");
    lab.link(&r, "eth2", &n, "eth1");
    r.addr("eth1", "203.0.113.2/30");
    p.addr("eth1", "203.0.113.1/30");
    r.addr("eth2", eth2.0);
    n.addr("eth1", eth2.1);
    (r, p, n)
}

/// The fake uplink on `p`: AS 65001, hold time 30 s.
pub fn uplink(p: &Node<'_>) -> FakePeer {
    FakePeer::connect(
        p.name(),
        SocketAddr::from(([203, 0, 113, 2], 179)),
        &fakepeer::open(65001, Ipv4Addr::new(203, 0, 113, 1), 30),
        UP,
    )
}

/// A fake iBGP neighbour on `n` (INTERNAL) with this hold time.
pub fn neighbour(n: &Node<'_>, hold: u16) -> FakePeer {
    FakePeer::connect(
        n.name(),
        SocketAddr::from(([10, 0, 0, 1], 179)),
        &fakepeer::open(64500, Ipv4Addr::new(10, 0, 0, 2), hold),
        UP,
    )
}
