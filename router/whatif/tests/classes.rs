//! The class reduction is sound: on small random configs, simulating on
//! the destination classes finds what simulating on every prefix of the
//! address space the configs use (each of 20.0.0.0/16's 511 prefixes from
//! /16 to /24, and hosts) finds, rule by rule and state by state.

use std::collections::BTreeSet;

use proptest::prelude::*;
use sluice_config::{Config, Severity, Source, parse};
use sluice_whatif::{Model, simulate};
use sluice_wire::Prefix;

const IMPORTS: &[&str] = &["full-table", "default-only", "pl"];
const ENTRIES: &[&str] = &[
    "20.0.0.0/16 le 20",
    "20.0.128.0/17",
    "20.0.64.0/18 ge 20 le 22",
    "20.0.3.0/24",
    "0.0.0.0/0",
];
const STATICS: &[&str] = &["20.0.0.0/17", "20.0.5.0/24", "20.0.64.0/20", "20.0.0.0/16"];
const VIAS: &[&str] = &["203.0.113.1", "203.0.113.12", "203.0.113.17", "10.0.0.254"];

fn config(imports: &[usize], entries: &[usize], statics: &[(usize, usize)]) -> Config {
    let mut t = String::from(
        "router: { id: 192.0.2.1, asn: 64500 }
interfaces:
  - { name: eth1, addresses: [203.0.113.2/29] }
  - { name: eth2, addresses: [203.0.113.10/29] }
  - { name: eth3, addresses: [203.0.113.18/29] }
  - { name: lan, addresses: [10.0.0.1/24] }
uplinks:
",
    );
    for (i, imp) in imports.iter().enumerate() {
        t += &format!(
            "  - {{ name: u{i}, interface: eth{}, local_pref: {}, peer: {{ address: 203.0.113.{}, asn: {} }}, import: {}, probes: [{{ target: 20.0.1.1 }}] }}\n",
            i + 1,
            100 + 50 * i,
            8 * i + 1,
            65001 + i,
            IMPORTS[*imp]
        );
    }
    t += "announce: [198.51.100.0/24]\nstatic_routes: [";
    for &(p, v) in statics {
        t += &format!("{{ prefix: {}, via: {} }}, ", STATICS[p], VIAS[v]);
    }
    t += "]\npolicies:\n  prefix_lists:\n    list: [";
    for &e in entries {
        t += &format!("\"{}\", ", ENTRIES[e]);
    }
    t += "]\n  route_policies:\n    pl: [{ match: { prefix_list: list }, action: accept }, { action: reject }]\n";
    parse(&Source::new("t.yaml", t)).unwrap()
}

/// (rule, uplink) of every finding that counts.
fn verdicts(config: &Config, model: &Model) -> BTreeSet<(String, String)> {
    simulate(config, model, true)
        .findings
        .into_iter()
        .filter(|f| f.severity >= Severity::Warning)
        .map(|f| (f.rule.to_string(), f.uplink.unwrap_or_default()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(64)
    ))]
    #[test]
    fn classes_find_what_every_prefix_finds(
        imports in proptest::collection::vec(0..IMPORTS.len(), 2..=3),
        entries in proptest::sample::subsequence((0..ENTRIES.len()).collect::<Vec<_>>(), 1..=ENTRIES.len()),
        statics in proptest::collection::vec((0..STATICS.len(), 0..VIAS.len()), 0..3),
    ) {
        let config = config(&imports, &entries, &statics);
        let classes = Model::of_config(&config);
        let mut every: BTreeSet<Prefix> = classes.destinations.iter().copied().collect();
        for len in 16..=24u8 {
            for i in 0..(1u32 << (len - 16)) {
                let addr = std::net::Ipv4Addr::from(0x1400_0000 + (i << (32 - len)));
                every.insert(format!("{addr}/{len}").parse().unwrap());
            }
        }
        for host in ["20.0.1.1", "20.0.200.9", "20.0.64.3"] {
            every.insert(format!("{host}/32").parse().unwrap());
        }
        prop_assert!(every.len() >= 511 + 3);
        let exhaustive = Model::of_config_over(&config, every.into_iter().collect());
        prop_assert_eq!(verdicts(&config, &classes), verdicts(&config, &exhaustive));
    }
}
