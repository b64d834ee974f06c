//! What route origin validation costs the route owner (issue goals: 500k
//! VRPs loaded and a 1M-route RIB validated in under a second; a delta of
//! 1,000 VRPs re-evaluated in under 10 ms):
//!
//! - the VRP table alone: inserting 500k VRPs, validating 1M routes;
//! - `Routing::rpki_update` with the first set (every route validated, the
//!   invalid ones taken out of the RIB) and with a delta of 1,000 VRPs
//!   (500 withdrawn, 500 announced; the routes they cover re-decided),
//!   and with 1,000 shorter VRPs (/16 to /24) announced, then withdrawn.
//!
//! The RIB: 800k IPv4 /24s and 200k IPv6 /48s from one uplink, origins
//! spread over 50k ASNs. The VRPs: 400k IPv4 and 100k IPv6, covering
//! about half the routes, 1% of those with another origin (invalid).
//!
//! `cargo bench -p sluice-daemon --bench rpki` prints the median of 5.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use sluice_config::{Config, Source, parse};
use sluice_daemon::routing::{Directory, Routing};
use sluice_rib::{PathAttrs, PeerInfo};
use sluice_rpki::{Vrp, VrpTable};
use sluice_wire::update::AS_SEQUENCE;

const V4: u32 = 800_000;
const V6: u32 = 200_000;

const CONFIG: &str = "\
router: { id: 192.0.2.1, asn: 64500 }
interfaces:
  - { name: eth1, addresses: [203.0.113.2/30] }
rpki:
  caches: [{ address: 127.0.0.1, port: 8282 }]
  invalid: reject
dataplane: { xdp: off, kernel_fib: off }
";

fn v4(i: u32) -> IpNet {
    IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0x1000_0000 + (i << 8)), 24).unwrap())
}

fn v6(i: u32) -> IpNet {
    let a = (0x2a00_u128 << 112) | (u128::from(i) << 80);
    IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), 48).unwrap())
}

fn origin(i: u32) -> u32 {
    1000 + (i.wrapping_mul(7919) % 50_000)
}

/// Every route: (prefix, origin AS).
fn routes() -> Vec<(IpNet, u32)> {
    (0..V4)
        .map(|i| (v4(i), origin(i)))
        .chain((0..V6).map(|i| (v6(i), origin(V4 + i))))
        .collect()
}

/// VRPs for every other route (IPv4) and every other route (IPv6), one
/// in a hundred naming another origin.
fn vrps() -> Vec<Vrp> {
    let asn = |i: u32| {
        if i.is_multiple_of(200) {
            origin(i) + 1
        } else {
            origin(i)
        }
    };
    let v4 = (0..V4).step_by(2).map(|i| Vrp {
        prefix: v4(i),
        max_len: 24,
        asn: asn(i),
    });
    let v6 = (0..V6).step_by(2).map(|i| Vrp {
        prefix: v6(i),
        max_len: 48,
        asn: asn(V4 + i),
    });
    v4.chain(v6).collect()
}

fn attrs(origin: u32) -> PathAttrs {
    let mut as_path = vec![AS_SEQUENCE, 2];
    as_path.extend(65001u32.to_be_bytes());
    as_path.extend(origin.to_be_bytes());
    PathAttrs {
        as_path,
        next_hop: Some(IpAddr::from([203, 0, 113, 1])),
        ..Default::default()
    }
}

/// A route owner with no session (none is started without a runtime) and
/// the routes in its RIB as if from uplink 0.
fn routing(config: &Config, routes: &[(IpNet, u32)]) -> Routing {
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    let mut r = Routing::new(config, tx, Directory::default(), false);
    let peer = r.rib.add_peer(PeerInfo {
        name: "iap-a".into(),
        address: IpAddr::from([203, 0, 113, 1]),
        asn: 65001,
        router_id: Ipv4Addr::new(203, 0, 113, 1),
        ebgp: true,
        uplink: Some(0),
    });
    for &(prefix, o) in routes {
        r.rib.announce_attrs(peer, prefix, attrs(o));
    }
    r
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let config: Config = parse(&Source::new("bench.yaml", CONFIG)).unwrap();
    let routes = routes();
    let all = vrps();
    println!(
        "{} routes, {} VRPs; median of 5 (`cargo bench -p sluice-daemon --bench rpki`):",
        routes.len(),
        all.len()
    );

    let load = median(
        (0..5)
            .map(|_| {
                let t = Instant::now();
                let mut table = VrpTable::default();
                for v in &all {
                    table.insert(*v);
                }
                black_box(&table);
                t.elapsed()
            })
            .collect(),
    );
    let mut table = VrpTable::default();
    for v in &all {
        table.insert(*v);
    }
    let validate = median(
        (0..5)
            .map(|_| {
                let t = Instant::now();
                let invalid = routes
                    .iter()
                    .filter(|(p, o)| table.validate(p, Some(*o)) == sluice_rpki::Validity::Invalid)
                    .count();
                black_box(invalid);
                t.elapsed()
            })
            .collect(),
    );
    println!("  VRP table: insert 500k {load:>10.2?}; validate 1M routes {validate:>10.2?}");

    let active = [true];
    let (mut first, mut delta, mut mixed, mut held, mut flipped) =
        (Vec::new(), Vec::new(), Vec::new(), 0, 0);
    // A delta of 1,000 VRPs /16 to /24 long, announced then withdrawn:
    // each covers up to 256 of the RIB's /24s.
    let shorter: Vec<Vrp> = (0..1000u32)
        .map(|i| {
            let len = 16 + (i % 9) as u8;
            let at = Ipv4Addr::from(0x1000_0000 + i * 0x3_0000);
            Vrp {
                prefix: IpNet::V4(Ipv4Net::new(at, len).unwrap().trunc()),
                max_len: 24,
                asn: 7,
            }
        })
        .collect();
    // The delta: half its VRPs withdrawn, half new ones naming another
    // origin for routes no VRP covered.
    let gone: Vec<Vrp> = all
        .iter()
        .step_by(all.len() / 500)
        .take(500)
        .copied()
        .collect();
    let new: Vec<Vrp> = (1..V4)
        .step_by(2)
        .step_by((V4 / 2 / 500) as usize)
        .take(500)
        .map(|i| Vrp {
            prefix: v4(i),
            max_len: 24,
            asn: origin(i) + 1,
        })
        .collect();
    for _ in 0..5 {
        let mut r = routing(&config, &routes);
        let t = Instant::now();
        r.rpki_update(&all, &[], None, &config, &active);
        first.push(t.elapsed());
        held = r.rpki.as_ref().map_or(0, |r| r.acted_on());
        let t = Instant::now();
        r.rpki_update(&new, &gone, None, &config, &active);
        delta.push(t.elapsed());
        let before = r.rpki.as_ref().map_or(0, |r| r.acted_on());
        let t = Instant::now();
        r.rpki_update(&shorter, &[], None, &config, &active);
        flipped = r.rpki.as_ref().map_or(0, |r| r.acted_on()) - before;
        r.rpki_update(&[], &shorter, None, &config, &active);
        mixed.push(t.elapsed() / 2);
        black_box(&r);
    }
    println!(
        "  rpki_update, first set (1M routes validated, {held} invalid rejected): {:>10.2?}",
        median(first)
    );
    println!(
        "  rpki_update, delta of 1,000 VRPs (500 withdrawn, 500 new):       {:>10.2?}",
        median(delta)
    );
    println!(
        "  rpki_update, delta of 1,000 VRPs /16 to /24 (each way; {flipped} routes turn invalid and back): {:>10.2?}",
        median(mixed)
    );
}
