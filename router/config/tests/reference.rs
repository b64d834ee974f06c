//! docs/config.md names every key the config model takes: for each section
//! the loader is asked which keys it allows (through the error an unknown
//! key gets), and each must appear in the reference as `section.key`.

use sluice_config::{Source, parse};

const BASE: &str = "router: { id: 192.0.2.1, asn: 64500 }\n";

/// (how the reference spells the section, a config with an unknown key
/// `zzz` in that section)
fn sections() -> Vec<(&'static str, String)> {
    let uplink = "uplinks:\n  - { name: a, interface: e, peer: { address: 192.0.2.2, asn: 1 }";
    let term = "policies: { route_policies: { p: [ { action: accept";
    vec![
        ("", format!("{BASE}zzz: 1\n")),
        (
            "router.",
            "router: { id: 192.0.2.1, asn: 64500, zzz: 1 }\n".into(),
        ),
        (
            "interfaces[].",
            format!("{BASE}interfaces: [{{ name: e, zzz: 1 }}]\n"),
        ),
        ("uplinks[].", format!("{BASE}{uplink}, zzz: 1 }}\n")),
        (
            "uplinks[].peer.",
            format!(
                "{BASE}uplinks:\n  - {{ name: a, interface: e, peer: {{ address: 192.0.2.2, asn: 1, zzz: 1 }} }}\n"
            ),
        ),
        (
            "uplinks[].max_prefix.",
            format!("{BASE}{uplink}, max_prefix: {{ limit: 5, zzz: 1 }} }}\n"),
        ),
        (
            "uplinks[].probes[].",
            format!("{BASE}{uplink}, probes: [{{ target: 192.0.2.9, zzz: 1 }}] }}\n"),
        ),
        (
            "neighbors[].",
            format!("{BASE}neighbors: [{{ address: 192.0.2.3, asn: 64500, zzz: 1 }}]\n"),
        ),
        (
            "static_routes[].",
            format!("{BASE}static_routes: [{{ prefix: 10.0.0.0/8, via: 192.0.2.4, zzz: 1 }}]\n"),
        ),
        ("policies.", format!("{BASE}policies: {{ zzz: 1 }}\n")),
        (
            "policies.route_policies[].",
            format!("{BASE}{term}, zzz: 1 }} ] }} }}\n"),
        ),
        (
            "policies.route_policies[].match.",
            format!("{BASE}{term}, match: {{ zzz: 1 }} }} ] }} }}\n"),
        ),
        (
            "policies.route_policies[].set.",
            format!("{BASE}{term}, set: {{ zzz: 1 }} }} ] }} }}\n"),
        ),
        ("maintenance.", format!("{BASE}maintenance: {{ zzz: 1 }}\n")),
        (
            "maintenance.drain.",
            format!("{BASE}maintenance: {{ drain: {{ zzz: 1 }} }}\n"),
        ),
        ("validate.", format!("{BASE}validate: {{ zzz: 1 }}\n")),
        (
            "validate.waive[].",
            format!("{BASE}validate: {{ waive: [{{ rule: X, reason: y, zzz: 1 }}] }}\n"),
        ),
        ("dataplane.", format!("{BASE}dataplane: {{ zzz: 1 }}\n")),
        ("control.", format!("{BASE}control: {{ zzz: 1 }}\n")),
        ("rpki.", format!("{BASE}rpki: {{ zzz: 1 }}\n")),
        (
            "rpki.caches[].",
            format!("{BASE}rpki: {{ caches: [{{ address: 127.0.0.1, port: 8282, zzz: 1 }}] }}\n"),
        ),
    ]
}

/// The keys the loader allows where `yaml` has its unknown key.
fn allowed(yaml: &str) -> Vec<String> {
    let finding = parse(&Source::new("t.yaml", yaml)).expect_err("an unknown key is refused");
    assert_eq!(finding.rule, "CONFIG-UNKNOWN-KEY", "{yaml}: {finding:?}");
    let help = finding.help.expect("the allowed keys are listed");
    help.strip_prefix("keys allowed here: ")
        .unwrap_or_else(|| panic!("{help}"))
        .split(", ")
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_reference_names_every_key() {
    let reference = include_str!("../../../docs/config.md");
    let mut missing = Vec::new();
    for (section, yaml) in sections() {
        let keys = allowed(&yaml);
        assert!(!keys.is_empty(), "{section}");
        for key in keys {
            let name = format!("`{section}{key}`");
            if !reference.contains(&name) {
                missing.push(name);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/config.md lacks: {}",
        missing.join(", ")
    );
}

/// Every YAML example of the reference parses (as its section of a config
/// with only `router` besides): no misspelt key, no value of the wrong type.
#[test]
fn the_references_examples_parse() {
    let reference = include_str!("../../../docs/config.md");
    let mut n = 0;
    for block in reference.split("```yaml\n").skip(1) {
        let example = block.split("```").next().unwrap_or_default();
        let yaml = if example.contains("router:") {
            example.to_owned()
        } else {
            format!("{BASE}{example}")
        };
        if let Err(f) = parse(&Source::new("docs/config.md", &yaml)) {
            panic!("example does not parse: {f:?}\n{yaml}");
        }
        n += 1;
    }
    assert!(n >= 10, "{n} examples");
}
