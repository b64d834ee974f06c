//! What the whole check of a config costs (`sluice validate`, and every
//! reload): 8 uplinks, 10,000 static routes, 100,000 prefix-list entries,
//! the config's route model; then the same config on a RIB of a million
//! routes (`--with-rib`). Every state is evaluated: normal, and each
//! uplink drained, failed or degraded, plus each drain's round trip
//! through the data plane's programmer.
//!
//! `cargo bench -p sluice-daemon --bench validate` prints each step's time.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::Instant;

use sluice_config::{Source, parse};
use sluice_rib::{PathAttrs, PeerInfo, Rib};
use sluice_whatif::Model;
use sluice_wire::update::AS_SEQUENCE;

const UPLINKS: usize = 8;
const STATICS: u32 = 10_000;
const ENTRIES: u32 = 100_000;

fn config_text() -> String {
    let mut t = String::from("router: { id: 192.0.2.1, asn: 64500, ecmp: 4 }\ninterfaces:\n");
    for i in 0..UPLINKS {
        let _ = writeln!(
            t,
            "  - {{ name: eth{i}, addresses: [203.0.113.{}/30] }}",
            4 * i + 2
        );
    }
    t += "  - { name: lan, addresses: [10.0.0.1/16] }\nuplinks:\n";
    for i in 0..UPLINKS {
        // Two of them take their customers' prefixes only; the others the table.
        let import = if i >= 6 { "customers" } else { "full-table" };
        let _ = writeln!(
            t,
            "  - {{ name: iap-{i}, interface: eth{i}, local_pref: {}, peer: {{ address: 203.0.113.{}, asn: {} }}, import: {import}, probes: [{{ target: 9.9.9.9 }}] }}",
            100 + 10 * i,
            4 * i + 1,
            65001 + i
        );
    }
    t += "announce: [198.51.100.0/24]\nstatic_routes:\n";
    for k in 0..STATICS {
        // Site-internal routes, toward LAN routers.
        let _ = writeln!(
            t,
            "  - {{ prefix: 172.{}.{}.0/24, via: 10.0.{}.{} }}",
            16 + (k >> 8) % 16,
            k & 0xff,
            1 + (k % 200),
            1 + (k % 250)
        );
    }
    t += "policies:\n  prefix_lists:\n    theirs:\n";
    for k in 0..ENTRIES {
        let _ = writeln!(
            t,
            "      - \"{}.{}.{}.0/24\"",
            20 + (k >> 16),
            (k >> 8) & 0xff,
            k & 0xff
        );
    }
    t += "  route_policies:\n    customers:\n      - { match: { prefix_list: theirs }, action: accept }\n      - { action: reject }\n";
    t += "validate:\n  waive:\n    - { rule: STATIC-NEXTHOP-OFFLINK, reason: bench }\n";
    t
}

/// A million /24s from every full-table uplink.
fn big_rib(config: &sluice_config::Config, prefixes: u32) -> Rib {
    let mut rib = Rib::default();
    for (i, u) in config.uplinks.iter().enumerate().take(6) {
        let peer = &u.peer.0[0];
        let id = rib.add_peer(PeerInfo {
            name: u.name.value.clone(),
            address: peer.address.value,
            asn: peer.asn.value,
            router_id: Ipv4Addr::new(10, 9, 9, i as u8 + 1),
            ebgp: true,
            uplink: Some(i),
        });
        let mut as_path = vec![AS_SEQUENCE, 1];
        as_path.extend(peer.asn.value.to_be_bytes());
        let attrs = rib.attrs.intern(PathAttrs {
            as_path,
            local_pref: u.local_pref.as_ref().map(|l| l.value),
            next_hop: Some(peer.address.value),
            ..Default::default()
        });
        // The best two uplinks carry the whole table, the others a tenth.
        let n = if i >= 4 { prefixes } else { prefixes / 10 };
        for k in 0..n {
            let net = Ipv4Addr::from(0x2d00_0000 + (k << 8));
            rib.attrs.retain(attrs);
            rib.announce(id, format!("{net}/24").parse().unwrap(), attrs);
        }
        rib.attrs.release(attrs);
    }
    rib
}

fn main() {
    let text = config_text();
    let t = Instant::now();
    let config = parse(&Source::new("bench.yaml", text)).unwrap();
    let parsed = t.elapsed();

    let t = Instant::now();
    let model = Model::of_config(&config);
    let modelled = t.elapsed();
    let t = Instant::now();
    let sim = sluice_whatif::simulate(&config, &model, true);
    let simulated = t.elapsed();
    let t = Instant::now();
    let findings = sluice_daemon::validate::check(&config, &model, true);
    let whole = t.elapsed();
    println!(
        "{UPLINKS} uplinks, {STATICS} static routes, {ENTRIES} prefix-list entries \
         (`cargo bench -p sluice-daemon --bench validate`):\n  \
         parse {parsed:.2?}; route model {modelled:.2?} ({} destination classes, {} paths); \
         every state simulated {simulated:.2?} ({} states); \
         the whole check (static rules, states, drain round trips, waivers) {whole:.2?}: \
         {} finding(s), {} error(s)",
        model.destinations.len(),
        model.rib.iter().map(|(_, p)| p.len()).sum::<usize>(),
        sim.states.len(),
        findings.len(),
        findings.iter().filter(|f| f.is_blocking()).count(),
    );

    let prefixes = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let rib = big_rib(&config, prefixes);
    let routes: usize = rib.iter().map(|(_, p)| p.len()).sum();
    let t = Instant::now();
    let model = Model::with_rib(&config, rib);
    let modelled = t.elapsed();
    let t = Instant::now();
    let findings = sluice_daemon::validate::check(&config, &model, false);
    let whole = t.elapsed();
    println!(
        "--with-rib, {prefixes} prefixes ({routes} paths): model {modelled:.2?}, \
         the whole check {whole:.2?}: {} finding(s)",
        findings.len()
    );
}
