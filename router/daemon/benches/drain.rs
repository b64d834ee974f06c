//! What a drain costs with a million prefixes, through the daemon's own
//! path (`Placer`, what `Fib::set_active` drives; the pre-check of
//! `sluice_whatif`): the pre-check, then the first step (the groups that
//! use the drained uplink rewritten: from then on the data plane no longer
//! selects it), then the per-prefix clean-up. Two sites:
//!
//! - both uplinks send the full table: the drain is group writes only;
//! - iap-a sends the full table, iap-b only a default: every prefix falls
//!   back to the default, and the clean-up removes them one by one.
//!
//! `cargo bench -p sluice-daemon --bench drain [-- PREFIXES]` prints the
//! median of five drain/undrain cycles. Writing a group into the XDP maps
//! is one bpf(2) call on top (measured by `scripts/bench.sh xdp`).

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use sluice_config::{Config, Source, parse};
use sluice_daemon::fib::placer::Placer;
use sluice_rib::{PathAttrs, PeerInfo, Rib};
use sluice_wire::update::AS_SEQUENCE;

const CONFIG: &str = "\
router: { id: 192.0.2.1, asn: 64500, ecmp: 1 }
interfaces:
  - { name: eth1, addresses: [203.0.113.2/30] }
  - { name: eth2, addresses: [203.0.113.6/30] }
uplinks:
  - { name: iap-a, interface: eth1, local_pref: 200, peer: { address: 203.0.113.1, asn: 65001 }, import: full-table }
  - { name: iap-b, interface: eth2, peer: { address: 203.0.113.5, asn: 65002 }, import: full-table }
";

fn rib(prefixes: u32, b_full: bool) -> Rib {
    let mut rib = Rib::default();
    for (i, (addr, asn)) in [([203, 0, 113, 1], 65001u32), ([203, 0, 113, 5], 65002)]
        .into_iter()
        .enumerate()
    {
        let peer = rib.add_peer(PeerInfo {
            name: format!("iap-{i}"),
            address: IpAddr::from(addr),
            asn,
            router_id: Ipv4Addr::from(addr),
            ebgp: true,
            uplink: Some(i),
        });
        let mut as_path = vec![AS_SEQUENCE, 1];
        as_path.extend(asn.to_be_bytes());
        let attrs = rib.attrs.intern(PathAttrs {
            as_path,
            local_pref: Some(if i == 0 { 200 } else { 100 }),
            next_hop: Some(IpAddr::from(addr)),
            ..Default::default()
        });
        let full = i == 0 || b_full;
        if !full {
            rib.attrs.retain(attrs);
            rib.announce(peer, "0.0.0.0/0".parse().unwrap(), attrs);
        }
        for k in 0..if full { prefixes } else { 0 } {
            let net = Ipv4Addr::from(0x1400_0000 + (k << 8));
            rib.attrs.retain(attrs);
            rib.announce(peer, format!("{net}/24").parse().unwrap(), attrs);
        }
        rib.attrs.release(attrs);
    }
    rib
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn site(config: &Config, prefixes: u32, b_full: bool) {
    let rib = rib(prefixes, b_full);
    let mut placer = Placer::new(config);
    placer.all_ports_up(config);
    placer.set_active(&[true, true]);
    let all: Vec<_> = rib.iter().map(|(p, _)| p).collect();
    let t = Instant::now();
    for p in &all {
        placer.place(&rib, p);
    }
    placer.program.take();
    let load = t.elapsed();
    let (mut check, mut first, mut clean, mut back) = (vec![], vec![], vec![], vec![]);
    let mut cleaned = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let plan = sluice_whatif::drain_plan(config, &rib, &[true, true], &[0], false);
        check.push(t.elapsed());
        assert!(!plan.blocked(), "{:?}", plan.findings);

        let t = Instant::now();
        placer.set_active(&[false, true]);
        let groups = placer.program.take().groups.len();
        first.push(t.elapsed());
        assert!(groups >= 1, "the drain rewrote no group");

        let t = Instant::now();
        cleaned = placer.clean_up(&rib);
        placer.program.take();
        placer.program.fib4.take_dirty();
        clean.push(t.elapsed());

        let t = Instant::now();
        placer.set_active(&[true, true]);
        placer.program.take();
        placer.clean_up(&rib);
        placer.program.take();
        placer.program.fib4.take_dirty();
        back.push(t.elapsed());
    }
    println!(
        "{} ({} prefixes placed in {:.2?}):\n  pre-check {:.2?}; group rewrite {:.2?} (the uplink is out of the data plane); \
         clean-up {:.2?} ({cleaned} prefixes placed again); undrain {:.2?}",
        if b_full {
            "both uplinks send the full table"
        } else {
            "iap-a sends the full table, iap-b a default"
        },
        all.len(),
        load,
        median(check),
        median(first),
        median(clean),
        median(back),
    );
}

fn main() {
    let prefixes = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let config = parse(&Source::new("bench.yaml", CONFIG)).unwrap();
    println!("drain of iap-a, median of 5 cycles (`cargo bench -p sluice-daemon --bench drain`):");
    site(&config, prefixes, true);
    let b_default = CONFIG.replace(
        "asn: 65002 }, import: full-table",
        "asn: 65002 }, import: default-only",
    );
    let config = parse(&Source::new("bench.yaml", b_default)).unwrap();
    site(&config, prefixes, false);
}
