//! One failing config per rule, and clean ones.

use crate::diag::Source;
use crate::parse;

use super::*;

/// A small clean config that each case below breaks in one place.
const BASE: &str = "\
router: { id: 192.0.2.1, asn: 64500 }
interfaces:
  - { name: eth1, addresses: [203.0.113.2/30] }
  - { name: eth2, addresses: [203.0.113.6/30] }
  - { name: eth3, addresses: [10.0.0.1/24] }
uplinks:
  - name: iap-a
    interface: eth1
    peer: { address: 203.0.113.1, asn: 65001 }
    import: full-table
  - name: iap-b
    interface: eth2
    peer: { address: 203.0.113.5, asn: 65002 }
    import: default-only
";

/// Every finding but MAX-PREFIX-MISSING: BASE leaves `max_prefix` out to
/// stay small, and that rule has cases of its own ([`run_all`]).
fn run(yaml: &str) -> Vec<Finding> {
    run_all(yaml)
        .into_iter()
        .filter(|f| f.rule != MAX_PREFIX_MISSING.id)
        .collect()
}

fn run_all(yaml: &str) -> Vec<Finding> {
    let config = parse(&Source::new("t.yaml", yaml))
        .unwrap_or_else(|f| panic!("does not parse: {f:?}\n{yaml}"));
    check(&config)
}

fn with(replace: &str, by: &str) -> String {
    assert!(BASE.contains(replace), "BASE has no {replace:?}");
    BASE.replacen(replace, by, 1)
}

/// Both uplinks on eth1; iap-b's peer is reached by multihop.
fn shared() -> String {
    with("interface: eth2", "interface: eth1").replace("asn: 65002 }", "asn: 65002, multihop: 2 }")
}

/// (rule, config, line the finding must point at)
fn cases() -> Vec<(&'static str, String, u32)> {
    vec![
        ("ROUTER-ID", with("id: 192.0.2.1", "id: 0.0.0.0"), 1),
        ("ASN-RESERVED", with("asn: 64500", "asn: 23456"), 1),
        ("ASN-RESERVED", with("asn: 65002", "asn: 65535"), 13),
        (
            "ECMP-RANGE",
            with("asn: 64500 }", "asn: 64500, ecmp: 0 }"),
            1,
        ),
        (
            "DUPLICATE-NAME",
            with(
                "[10.0.0.1/24] }\n",
                "[10.0.0.1/24] }\n  - { name: eth3, addresses: [10.0.1.1/24] }\n",
            ),
            6,
        ),
        ("DUPLICATE-NAME", with("name: iap-b", "name: iap-a"), 11),
        (
            "DUPLICATE-ADDRESS",
            with("[10.0.0.1/24]", "[10.0.0.1/24, 10.0.0.1/25]"),
            5,
        ),
        (
            "DUPLICATE-ADDRESS",
            format!(
                "{BASE}neighbors:\n  - {{ address: 10.0.0.2, asn: 64500 }}\n  - {{ address: 10.0.0.2, asn: 64500 }}\n"
            ),
            17,
        ),
        (
            "INTERFACE-OVERLAP",
            with("[10.0.0.1/24]", "[203.0.113.3/29]"),
            5,
        ),
        (
            "UPLINK-UNKNOWN-INTERFACE",
            with("interface: eth2", "interface: eth9"),
            12,
        ),
        ("UPLINK-SHARED-INTERFACE", shared(), 12),
        (
            "UPLINK-WEIGHT",
            with(
                "import: default-only",
                "import: default-only\n    weight: 0",
            ),
            15,
        ),
        (
            "PEER-OUTSIDE-SUBNET",
            with("address: 203.0.113.5", "address: 203.0.113.9"),
            13,
        ),
        (
            "PEER-OUTSIDE-SUBNET",
            format!(
                "{BASE}neighbors:\n  - {{ address: 192.168.9.9, asn: 65100, import: full-table }}\n"
            ),
            16,
        ),
        (
            "PEER-IS-LOCAL",
            with("address: 203.0.113.5", "address: 203.0.113.6"),
            13,
        ),
        ("EBGP-NO-IMPORT", with("    import: default-only\n", ""), 11),
        (
            "EBGP-NO-IMPORT",
            format!("{BASE}neighbors:\n  - {{ address: 10.0.0.9, asn: 65100 }}\n"),
            16,
        ),
        (
            "MAX-PREFIX-ZERO",
            with(
                "import: default-only",
                "import: default-only\n    max_prefix: 0",
            ),
            15,
        ),
        (
            "MAX-PREFIX-MISSING",
            with(
                "import: default-only",
                "import: default-only\n    max_prefix: 2",
            ),
            7,
        ),
        (
            "MAX-PREFIX-MISSING",
            format!(
                "{}neighbors:\n  - {{ address: 10.0.0.2, asn: 64500 }}\n",
                with(
                    "import: full-table",
                    "import: full-table\n    max_prefix: 1200000"
                )
                .replace(
                    "import: default-only",
                    "import: default-only\n    max_prefix: 2"
                )
            ),
            18,
        ),
        (
            "POLICY-UNKNOWN",
            with("import: default-only", "import: from-transit"),
            14,
        ),
        (
            "POLICY-SHADOWS-BUILTIN",
            format!("{BASE}policies:\n  route_policies:\n    full-table: [{{ action: accept }}]\n"),
            17,
        ),
        (
            "PREFIX-LIST-UNKNOWN",
            format!(
                "{BASE}policies:\n  route_policies:\n    p:\n      - {{ match: {{ prefix_list: nope }}, action: accept }}\n"
            ),
            18,
        ),
        (
            "POLICY-AS-PATH",
            format!(
                "{BASE}policies:\n  route_policies:\n    p:\n      - {{ match: {{ any: [{{ as_path: \"_3356(\" }}] }}, action: accept }}\n"
            ),
            18,
        ),
        (
            "POLICY-AS-PATH",
            format!(
                "{BASE}policies:\n  route_policies:\n    p:\n      - {{ match: {{ as_path: \"^AS65001\" }}, action: accept }}\n"
            ),
            18,
        ),
        (
            "POLICY-AS-PATH",
            format!(
                "{BASE}policies:\n  route_policies:\n    p:\n      - {{ match: {{ as_path: \"_[a-z]+_\" }}, action: accept }}\n"
            ),
            18,
        ),
        (
            "POLICY-RPKI-OFF",
            format!(
                "{BASE}policies:\n  route_policies:\n    p:\n      - {{ match: {{ rpki: invalid }}, action: reject }}\n"
            ),
            18,
        ),
        (
            "PREFIX-LIST-MALFORMED",
            format!("{BASE}policies:\n  prefix_lists:\n    ours: [\"198.51.100.0/24 le 20\"]\n"),
            17,
        ),
        (
            "STATIC-NEXTHOP-OFFLINK",
            format!("{BASE}static_routes:\n  - {{ prefix: 172.16.0.0/12, via: 192.168.1.1 }}\n"),
            16,
        ),
        (
            "DRAINED-UNKNOWN-UPLINK",
            format!("{BASE}maintenance:\n  drained: [iap-x]\n"),
            16,
        ),
        (
            "MIN-ACTIVE-ABOVE-UPLINKS",
            format!("{BASE}maintenance:\n  min_active_uplinks: 3\n"),
            16,
        ),
        (
            "MIN-ACTIVE-VIOLATED",
            format!("{BASE}maintenance:\n  drained: [iap-a, iap-b]\n"),
            16,
        ),
        ("RPKI-NO-CACHE", format!("{BASE}rpki:\n  caches: []\n"), 16),
        (
            "RPKI-DUPLICATE-CACHE",
            format!(
                "{BASE}rpki:\n  caches:\n    - {{ address: 127.0.0.1, port: 8282 }}\n    - {{ address: 127.0.0.1, port: 8282, preference: 2 }}\n"
            ),
            18,
        ),
        (
            "WAIVER-UNKNOWN-RULE",
            format!("{BASE}validate:\n  waive: [{{ rule: NO-SUCH-RULE, reason: x }}]\n"),
            16,
        ),
        (
            "WAIVER-UNKNOWN-UPLINK",
            format!(
                "{BASE}validate:\n  waive: [{{ rule: UPLINK-WEIGHT, uplink: iap-z, reason: x }}]\n"
            ),
            16,
        ),
        (
            "WAIVER-UNUSED",
            format!(
                "{BASE}validate:\n  waive: [{{ rule: UPLINK-WEIGHT, uplink: iap-a, reason: x }}]\n"
            ),
            16,
        ),
    ]
}

#[test]
fn base_is_clean() {
    assert_eq!(run(BASE), vec![]);
}

#[test]
fn example_configs_are_clean() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let findings = run(&text);
            assert!(
                findings.iter().all(|f| !f.is_blocking()),
                "{}: {findings:#?}",
                path.display()
            );
            seen += 1;
        }
    }
    assert!(seen > 0, "no configs in {dir}");
}

#[test]
fn each_rule_fires_where_it_should() {
    for (rule, yaml, line) in cases() {
        let findings = if rule == MAX_PREFIX_MISSING.id {
            run_all(&yaml)
        } else {
            run(&yaml)
        };
        let hit = findings.iter().find(|f| f.rule == rule);
        let hit = hit.unwrap_or_else(|| panic!("{rule} did not fire; got {findings:#?}\n{yaml}"));
        assert_eq!(
            hit.pos.line, line,
            "{rule} points at the wrong line: {hit:#?}\n{yaml}"
        );
        assert!(hit.pos.column > 0, "{rule} has no column");
        let others: Vec<_> = findings
            .iter()
            .filter(|f| f.rule != rule)
            .map(|f| f.rule)
            .collect();
        assert!(
            others.is_empty(),
            "{rule}: unexpected other findings {others:?}\n{yaml}"
        );
    }
}

#[test]
fn every_rule_has_a_case() {
    let covered: Vec<&str> = cases().into_iter().map(|c| c.0).collect();
    for rule in RULES {
        assert!(
            covered.contains(&rule.id),
            "rule {} has no failing config in cases()",
            rule.id
        );
    }
}

#[test]
fn a_waiver_turns_an_error_into_a_waived_finding() {
    let yaml = format!(
        "{}validate:\n  waive:\n    - {{ rule: UPLINK-SHARED-INTERFACE, uplink: iap-b, reason: \"IXP LAN\" }}\n",
        shared()
    );
    let findings = run(&yaml);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0].rule, "UPLINK-SHARED-INTERFACE");
    assert_eq!(findings[0].waived.as_deref(), Some("IXP LAN"));
    assert!(!findings[0].is_blocking());
}

#[test]
fn a_waiver_for_another_uplink_does_not_cover() {
    let yaml = format!(
        "{}validate:\n  waive:\n    - {{ rule: UPLINK-SHARED-INTERFACE, uplink: iap-a, reason: x }}\n",
        shared()
    );
    let rules: Vec<_> = run(&yaml)
        .into_iter()
        .map(|f| (f.rule, f.waived.is_some()))
        .collect();
    assert_eq!(
        rules,
        vec![("UPLINK-SHARED-INTERFACE", false), ("WAIVER-UNUSED", false)]
    );
}

#[test]
fn dual_stack_peers_are_checked_each() {
    let yaml = with(
        "    peer: { address: 203.0.113.5, asn: 65002 }\n",
        "    peer:\n      - { address: 203.0.113.5, asn: 65002 }\n      - { address: 2001:db8::9, asn: 65002 }\n",
    );
    let findings = run(&yaml);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(
        (findings[0].rule, findings[0].pos.line),
        ("PEER-OUTSIDE-SUBNET", 15)
    );
}
