//! Parsing and the checks: each error names the file, line and node.

use super::*;

const GOOD: &str = "name: t
topology:
  nodes:
    r1:
      kind: linux
      image: sluice:dev
      binds: [r1:/etc/sluice, bird.conf:/etc/bird/bird.conf:ro]
      exec:
        - ip addr add 10.0.0.1/24 dev eth1
      env: { RUST_LOG: info, N: 3 }
      labels:
        sluice.run: sluice run -c /etc/sluice/sluice.yml
        sluice.ready: sluice status
    h1:
  links:
    - endpoints: [\"r1:eth1\", \"h1:eth1\"]
";

fn parse_str(text: &str) -> Result<Topology, Invalid> {
    parse(Path::new("/labs/t.clab.yml"), text)
}

fn errors(text: &str) -> Vec<Finding> {
    parse_str(text).expect_err("should not parse").findings
}

#[test]
fn the_good_one_parses_with_positions() {
    let t = parse_str(GOOD).unwrap();
    assert_eq!(t.name, "t");
    assert_eq!(t.nodes.len(), 2);
    let r1 = &t.nodes[0];
    assert_eq!((r1.name.as_str(), r1.pos.line), ("r1", 4));
    assert_eq!(r1.binds[0].host, Path::new("/labs/r1"));
    assert_eq!(r1.binds[0].container, Path::new("/etc/sluice"));
    assert!(r1.binds[1].read_only);
    assert_eq!(
        r1.run.as_ref().unwrap().value,
        "sluice run -c /etc/sluice/sluice.yml"
    );
    assert_eq!(r1.run.as_ref().unwrap().pos.line, 12);
    assert_eq!(
        r1.env,
        [("N".into(), "3".into()), ("RUST_LOG".into(), "info".into())]
    );
    assert_eq!(t.nodes[1].name, "h1");
    assert_eq!(t.links[0].a.to_string(), "r1:eth1");
    assert_eq!(t.interfaces("h1")[0].1.to_string(), "r1:eth1");
}

#[test]
fn yaml_errors_name_the_line() {
    let text = GOOD.replace("    h1:\n", "    h1: [\n");
    let invalid = parse_str(&text).unwrap_err();
    assert_eq!(invalid.findings[0].rule, "LAB-YAML");
    assert!(invalid.findings[0].pos.line >= 14, "{:?}", invalid.findings);
    let shown = invalid.render();
    assert!(shown.contains("--> /labs/t.clab.yml:"), "{shown}");
}

#[test]
fn unknown_node_in_a_link() {
    let f = errors(&GOOD.replace("\"h1:eth1\"]", "\"h2:eth1\"]"));
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].rule, "LAB-LINK-UNKNOWN-NODE");
    assert_eq!(f[0].pos.line, 16);
    assert!(f[0].message.contains("`h2`"), "{}", f[0].message);
}

#[test]
fn duplicate_interface_names_both_lines_and_node() {
    let text = format!("{GOOD}    - endpoints: [\"r1:eth1\", \"h1:eth2\"]\n");
    let f = errors(&text);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!((f[0].rule, f[0].pos.line), ("LAB-DUPLICATE-INTERFACE", 17));
    assert_eq!(
        f[0].message,
        "node `r1`: interface `eth1` is already used by the link on line 16"
    );
    let shown = parse_str(&text).unwrap_err().render();
    assert!(shown.contains("--> /labs/t.clab.yml:17:"), "{shown}");
    assert!(
        shown.contains("17 |     - endpoints: [\"r1:eth1\", \"h1:eth2\"]"),
        "{shown}"
    );
}

#[test]
fn malformed_endpoints_and_names() {
    let f = errors(&GOOD.replace("\"h1:eth1\"]", "\"h1\"]"));
    assert_eq!(f[0].rule, "LAB-LINK-ENDPOINT");
    let f = errors(&GOOD.replace("\"h1:eth1\"]", "\"h1:averyverylonginterface\"]"));
    assert_eq!(f[0].rule, "LAB-INTERFACE-NAME");
    assert!(f[0].message.starts_with("node `h1`"));
    let f = errors(&GOOD.replace("[\"r1:eth1\", \"h1:eth1\"]", "[\"r1:eth1\"]"));
    assert_eq!(f[0].rule, "LAB-LINK-ENDPOINTS");
    let f = errors(&GOOD.replace("name: t", "name: t.x"));
    assert_eq!((f[0].rule, f[0].pos.line), ("LAB-NAME", 1));
    let f = errors(&GOOD.replace("    h1:\n", "    h.1:\n"));
    assert!(
        f.iter()
            .any(|f| f.rule == "LAB-NODE-NAME" && f.pos.line == 14),
        "{f:?}"
    );
}

#[test]
fn bad_binds_and_labels_name_the_node() {
    let f = errors(&GOOD.replace("r1:/etc/sluice", "r1:etc/sluice"));
    assert_eq!((f[0].rule, f[0].pos.line), ("LAB-BIND", 7));
    assert!(f[0].message.starts_with("node `r1`"));
    let f = errors(&GOOD.replace("sluice.ready:", "sluice.redy:"));
    assert_eq!((f[0].rule, f[0].pos.line), ("LAB-LABEL", 13));
}

#[test]
fn missing_name_is_reported() {
    let f = errors(&GOOD.replace("name: t\n", ""));
    assert_eq!(f[0].rule, "LAB-YAML");
    assert!(f[0].message.contains("name"), "{}", f[0].message);
}

#[test]
fn cmd_is_the_run_command_without_a_label() {
    let text = GOOD.replace("    h1:\n", "    h1:\n      cmd: bird -f\n");
    let t = parse_str(&text).unwrap();
    assert_eq!(t.nodes[1].run.as_ref().unwrap().value, "bird -f");
    assert_eq!(t.nodes[1].run.as_ref().unwrap().pos.line, 15);
    // The label wins over `cmd`.
    let text = GOOD.replace("      labels:\n", "      cmd: other\n      labels:\n");
    let t = parse_str(&text).unwrap();
    assert_eq!(
        t.nodes[0].run.as_ref().unwrap().value,
        "sluice run -c /etc/sluice/sluice.yml"
    );
}

#[test]
fn only_linux_nodes_run_without_docker() {
    let f = errors(&GOOD.replace("kind: linux", "kind: nokia_srlinux"));
    assert_eq!((f[0].rule, f[0].pos.line), ("LAB-KIND", 5));
    assert!(
        f[0].message.starts_with("node `r1`: kind `nokia_srlinux`"),
        "{}",
        f[0].message
    );
}
