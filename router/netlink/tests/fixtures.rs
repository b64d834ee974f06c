//! Captures the kernel dumps that the codec's unit tests parse
//! (tests/fixtures/*.bin). Run as root with SLUICE_NETLINK_CAPTURE=1 to
//! rewrite them:
//!
//! ```text
//! SLUICE_NETLINK_CAPTURE=1 cargo test -p sluice-netlink --test fixtures -- --include-ignored
//! ```
//!
//! Without the variable it builds the same state and only checks that the
//! public API reads it back.

mod common;

use std::path::Path;

use common::{ifindex_of, in_ns, require_root};
use sluice_netlink::{Netlink, RawDump, Route, RouteChange, RouteTarget};
use sluice_testns::Lab;

#[test]
#[ignore = "needs root: network namespaces"]
fn capture_fixtures() {
    require_root();
    let lab = Lab::new("nl-fixtures");
    let (a, b) = (lab.node("a"), lab.node("b"));
    lab.link(&a, "eth1", &b, "eth1");
    a.addr("eth1", "10.9.0.1/24");
    b.addr("eth1", "10.9.0.2/24");
    let eth1 = ifindex_of(&a, "eth1");
    let mut nl = in_ns(&a, || Netlink::new().unwrap());

    nl.add_managed_neighbour(eth1, "10.9.0.2".parse().unwrap())
        .unwrap();
    nl.set_nexthop(1, "10.9.0.2".parse().unwrap(), eth1)
        .unwrap();
    nl.set_nexthop(2, "10.9.0.3".parse().unwrap(), eth1)
        .unwrap();
    nl.set_nexthop_group(100, &[(1, 1), (2, 2)]).unwrap();
    let routes = [
        Route {
            prefix: ("198.51.100.0".parse().unwrap(), 24),
            target: RouteTarget::Nexthop(100),
        },
        Route {
            prefix: ("203.0.113.0".parse().unwrap(), 24),
            target: RouteTarget::Blackhole,
        },
    ];
    let changes: Vec<_> = routes.iter().copied().map(RouteChange::Set).collect();
    assert!(nl.apply_routes(&changes).unwrap().is_empty());
    assert_eq!(nl.own_routes().unwrap(), routes);

    let dumps = [
        ("link_dump.bin", RawDump::Links),
        ("neigh_dump.bin", RawDump::Neighbours),
        ("nexthop_dump.bin", RawDump::Nexthops),
        ("route_dump.bin", RawDump::Routes4),
    ];
    let write = std::env::var_os("SLUICE_NETLINK_CAPTURE").is_some_and(|v| !v.is_empty());
    for (file, what) in dumps {
        let bytes = nl.raw_dump(what).unwrap();
        assert!(!bytes.is_empty(), "{file}: empty dump");
        if write {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(file);
            std::fs::write(&path, &bytes).unwrap();
            eprintln!("wrote {} ({} bytes)", path.display(), bytes.len());
        }
    }
}
